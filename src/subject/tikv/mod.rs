//! The TiKV subject: PD + TiKV on Docker.

pub mod model;
pub mod pd;
pub mod invariants;
pub mod snapshot;
