//! TiKV's evaluation harness: its scenarios (`examples/scenarios/`) run on the
//! in-process simulator ([`crate::sim::cluster`]) through the core's runner
//! ([`crate::eval::runner`]).
//!
//! # Why in-process
//!
//! A scored evaluation must run each scenario many times. The in-process simulator
//! starts in well under a second, is seeded, and runs simulated time faster than wall
//! time, so ten runs of every scenario take minutes, not hours, and need no Docker. What
//! the operator sees is still what the simulator serves over HTTP (PD API, status ports,
//! `/metrics`, logs): [`harness`] plugs it into the monitor's snapshot builder through
//! the `EvidenceSources` seam, and nothing is scripted.
//!
//! - [`scenario`]: the cluster shape, fault and noise kinds, entities and their aliases.
//! - [`harness`]: the in-process cluster as the monitor sees it; the simulator's knobs.
//! - [`run`]: settling, the schedule of the fault phase and what each action does; the
//!   harness behind the core's [`crate::eval::subject::EvalHarness`].

pub mod harness;
pub mod run;
pub mod scenario;
