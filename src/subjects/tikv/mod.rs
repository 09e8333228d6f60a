//! The TiKV subject: PD + TiKV on Docker.

pub mod actions;
pub mod catalog;
pub mod chaos;
pub mod cli;
pub mod eval;
pub mod hypotheses;
pub mod incidents;
pub mod invariants;
pub mod logs;
pub mod model;
pub mod monitor;
pub mod pd;
pub mod pd_adapter;
pub mod plan;
pub mod prom;
pub mod runbook;
pub mod snapshot;
pub mod status;
pub mod subject;
pub mod tools;
pub mod topology;
pub mod window;
