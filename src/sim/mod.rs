//! placeholder during construction
pub mod model;
pub mod wire;
