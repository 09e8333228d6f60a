//! Operator: a level-triggered controller that runs a TiKV cluster on Docker.
//!
//! # Layout
//!
//! The crate is a library with two thin binaries (`operator` and `tikv-sim`).
//! Pure logic sits in the middle, I/O at the edges:
//!
//! - [`spec`]: the `ClusterSpec` (what the user wants), defaults and validation with
//!   file:line:column errors.
//! - [`runtime`]: the `ContainerRuntime` port and its Docker (bollard) adapter. Every
//!   mutating call checks ownership labels first.
//! - [`http`]: the tower client stack (timeout, retry with backoff, concurrency limit,
//!   tracing) shared by the PD, Prometheus and model clients.
//! - [`promtext`]: the Prometheus text exposition parser, for any subject's `/metrics`.
//! - [`subject`]: the `Subject` trait (observe, plan, apply, invariants, diagnosis context)
//!   and the TiKV subject behind it.
//! - [`reconcile`]: the generic controller: triggers, queue, backoff, one pass at a time.
//! - [`tickets`]: tickets and their lifecycle, stored in sled.
//! - [`diagnose`]: the diagnosis reconciler and its backends (Claude, OpenAI-compatible, rules).
//! - [`server`]: the controller's HTTP surface (`/metrics`, `/healthz`, `/readyz`, tickets API).
//! - [`telemetry`]: tracing subscriber and OTLP export.
//! - [`chaos`]: fault injection into the cluster's own containers, always reverted.
//! - [`sim`]: a PD/TiKV simulator speaking PD's and TiKV's HTTP interfaces.
//! - [`eval`]: fault scenarios on the in-process simulator, diagnosed and scored.
#![forbid(unsafe_code)]

pub mod chaos;
pub mod cli;
pub mod diagnose;
pub mod eval;
pub mod http;
pub mod promtext;
pub mod reconcile;
pub mod runtime;
pub mod server;
pub mod sim;
pub mod spec;
pub mod subject;
pub mod subjects;
pub mod telemetry;
pub mod tickets;
