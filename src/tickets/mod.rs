//! Tickets: what the controller opens when an invariant is violated, and their lifecycle.
//!
//! This module is generic: it never names a subject. A subject's invariant checks produce
//! [`model::Violation`]s (opaque `subject`, `invariant` and `target` strings plus
//! timestamped evidence); the [`lifecycle`] turns observation rounds into tickets (grace
//! before opening, auto-resolve, reopen window, deduplication), the [`store`] persists
//! them in sled with a flush before anything is reported, [`api`] serves them over HTTP
//! (the database allows one process, so the CLI goes through the controller when it
//! runs), and [`render`] prints them.

pub mod api;
pub mod incidents;
pub mod lifecycle;
pub mod model;
pub mod render;
pub mod store;

pub use model::{
    dedupe_key, EventEvidence, Evidence, Lease, LogEvidence, MetricEvidence, Severity, Status,
    Ticket, TicketEvent, TicketSummary, TimelineEntry, TimelineKind, Violation,
};
pub use store::{StoreError, TicketFilter, TicketStore};
pub mod monitor;
