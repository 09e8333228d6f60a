//! Shared helpers for integration tests. Each test binary includes this with
//! `mod support;` and uses what it needs, so unused items are expected.
#![allow(dead_code)]

pub mod docker;
pub mod http;
pub mod model;
pub mod process;
