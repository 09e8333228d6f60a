//! PD: its HTTP API's wire types ([`types`]), their conversion into the domain model
//! ([`convert`]), and the client ([`client`]).
//!
//! The client is the only way the operator learns what PD thinks (store states, members,
//! region health) and the only way it asks PD to act (offline a store, evict leaders,
//! remove a member). Everything is typed at this edge so the planner and the invariants
//! are pure functions over [`crate::subjects::tikv::model::PdView`].

pub mod client;
pub mod convert;
pub mod types;

pub use client::{
    DeleteStoreOutcome, PdClient, PdError, PdRetryLogic, StoreStateTarget, EVICT_LEADER_SCHEDULER,
};
