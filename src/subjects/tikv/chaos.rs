//! TiKV's knowledge for the core chaos toolkit: where the PD/TiKV simulator
//! (`tikv-sim`, `src/sim`) takes the fault knobs a real process has no equivalent for.
//!
//! A simulated TiKV's status port takes `PUT /sim/v1/faults` (`slow_disk_ms`,
//! `disk_fill_ratio`, `cpu_saturation`) and a simulated PD's client port takes
//! `PUT`/`DELETE /sim/v1/workload` (`hot_range`). Every engine that acts on a TiKV
//! cluster is built with [`SIMULATOR`] (`Chaos::with_simulator`); the core names no
//! port or image of its own.

use super::topology::{PD_CLIENT_PORT, TIKV_STATUS_PORT};
use crate::chaos::SimKnobs;

/// Where the PD/TiKV simulator takes its fault knobs.
pub const SIMULATOR: SimKnobs = SimKnobs {
    image: "tikv-sim",
    faults_port: TIKV_STATUS_PORT,
    workload_component: "pd",
    workload_port: PD_CLIENT_PORT,
};
