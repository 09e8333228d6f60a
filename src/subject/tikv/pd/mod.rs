//! PD HTTP client and PD's wire types.

pub mod types;
