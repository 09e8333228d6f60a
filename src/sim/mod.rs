//! A PD/TiKV simulator speaking the HTTP interfaces of pd-server and tikv-server v8.5, so
//! the operator can be tested and demoed without the real images.
//!
//! # Why
//!
//! The operator talks to PD's `/pd/api/v1` API, TiKV status ports and Prometheus text. A
//! faithful stand-in lets every reconcile path (store failure, scale-in, leader eviction,
//! PD failover) run in seconds on loopback ports or in cheap containers, with the same
//! JSON shapes, content types, error bodies and log lines the real binaries produce
//! (see `shared/reference/pd-tikv/INTERFACES.md`).
//!
//! # Layout
//!
//! - [`model`]: the cluster state machine the PD leader owns (sans-IO, deterministic
//!   under a seed, incremental indexes so one PD can simulate 1,000 stores and 1,000,000
//!   regions).
//! - [`pd`]: the pd-server process: API, election over the peer URL, proxying, persistence,
//!   internal endpoints for TiKV heartbeats, and the workload knob.
//! - [`tikv`]: the tikv-server process: registration, heartbeats, status port, metrics,
//!   fault knobs.
//! - [`metrics`]: PD metrics and hotspot rendering.
//! - [`cluster`]: [`cluster::InProcessCluster`] for tests.
//! - [`cli`]: command lines of `pd-server` / `tikv-server` / `tikv-sim`.
//! - [`wire`]: Go/Rust scalar spellings, log format, TOML subset.
//!
//! # Knobs
//!
//! - `TIKV_SIM_TIME_FACTOR` (float, default 1): every PD/TiKV interval and threshold is
//!   divided by it (heartbeats, 20 s disconnect, `max-store-down-time`,
//!   `max-peer-down-duration`, snapshot durations). PD elections are not scaled.
//! - `TIKV_SIM_SEED` (u64): seeds the model's random stream.
//! - `TIKV_SIM_INITIAL_REGIONS` (default 24): regions created at bootstrap.
//! - TiKV status port: `PUT/DELETE/GET /sim/v1/faults` (see [`tikv`]).
//! - PD client port: `PUT/DELETE/GET /sim/v1/workload` (see [`pd`]).
//! - Scale mode: `tikv-sim pd ... --sim-stores 1000 --sim-regions 1000000
//!   [--sim-down-stores 1]`.

pub mod cli;
pub mod cluster;
pub mod metrics;
pub mod model;
pub mod pd;
pub mod tikv;
pub mod wire;

/// Errors starting or running simulator processes.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A listen address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(String, String),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Http(String),
    /// Joining an existing PD cluster failed.
    #[error("cannot join the PD cluster through {0}")]
    Join(String),
    /// A command-line or config problem.
    #[error("{0}")]
    Config(String),
    /// Filesystem trouble.
    #[error("io: {0}")]
    Io(String),
    /// Something did not happen in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
}
