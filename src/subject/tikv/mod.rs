//! The TiKV subject: PD + TiKV on Docker.

pub mod logs;
pub mod model;
pub mod pd;
pub mod prom;
pub mod promtext;
