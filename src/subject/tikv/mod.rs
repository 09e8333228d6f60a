//! The TiKV subject: PD + TiKV on Docker.

pub mod model;
pub mod pd;
pub mod plan;
pub mod topology;
pub mod subject;
pub mod pd_adapter;
