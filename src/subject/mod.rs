//! Subjects: the systems the operator runs.
//!
//! The core (the reconcile loop, tickets, diagnosis, the HTTP surface) is written
//! against the [`Subject`] trait and never names a concrete subject. A subject knows
//! how to observe its cluster, plan the next steps purely from an observation, apply
//! one step, and (for the invariants) what "healthy" means. The TiKV subject lives in
//! [`tikv`]; adding another (etcd, say) means a new folder here and one line of wiring
//! in the binary.

pub mod etcd;
pub mod tikv;

use std::fmt::{Debug, Display};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::reconcile::Plan;
use crate::runtime::{ContainerRuntime, RuntimeError};

/// Errors a subject reports to the core.
#[derive(Debug, thiserror::Error)]
pub enum SubjectError {
    /// The container runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The subject's own API (PD for TiKV) failed.
    #[error("{api}: {message}")]
    Api {
        /// Which API (`pd`).
        api: &'static str,
        /// What failed.
        message: String,
    },
    /// The spec could not be (re)loaded.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
}

/// A system the operator runs. See the module docs.
///
/// # Guarantees expected of implementations
///
/// - [`Subject::plan`] is pure and deterministic: equal observations at equal times
///   give equal plans.
/// - [`Subject::apply`] is idempotent: applying a step twice, or after a crash
///   half-way through it, leads to the same state as applying it once.
/// - Nothing is touched that the cluster does not own (ownership labels).
#[async_trait::async_trait]
pub trait Subject: Send + Sync + 'static {
    /// What one observation holds.
    type Observed: Clone + Debug + Serialize + Send + Sync + 'static;
    /// The typed steps of a plan.
    type Step: Clone + Debug + Display + Serialize + Send + Sync + 'static;
    /// What one monitoring pass sees: the observation plus metrics, probes, recent
    /// runtime events and log lines (the evidence tickets are made of).
    type Snapshot: Debug + Serialize + Send + Sync + 'static;

    /// The subject kind (`tikv`), used in metric labels and tickets.
    fn kind(&self) -> &'static str;
    /// The cluster's name.
    fn cluster(&self) -> String;
    /// How often a pass runs when nothing wakes the loop.
    fn resync_interval(&self) -> Duration;
    /// Cap of the error backoff.
    fn max_backoff(&self) -> Duration;
    /// The container runtime the subject runs on (the core watches its events).
    fn runtime(&self) -> std::sync::Arc<dyn ContainerRuntime>;
    /// Observes the cluster.
    async fn observe(&self) -> Result<Self::Observed, SubjectError>;
    /// Plans the next steps from one observation (pure).
    fn plan(&self, observed: &Self::Observed, now: SystemTime) -> Plan<Self::Step>;
    /// Applies one step.
    async fn apply(&self, step: &Self::Step) -> Result<(), SubjectError>;
    /// Takes a monitoring snapshot; `events` are the runtime events since the last one.
    async fn snapshot(
        &self,
        events: &[crate::runtime::RuntimeEvent],
    ) -> Result<Self::Snapshot, SubjectError>;
    /// Checks the invariants over a snapshot (pure): what is violated, and the dedupe
    /// keys checked and found holding (they auto-resolve tickets).
    fn evaluate(&self, snapshot: &Self::Snapshot) -> (Vec<crate::tickets::Violation>, Vec<String>);
    /// The dependencies a snapshot speaks about, beyond the runtime: `(name,
    /// criticality, error)` with `error = None` when it answered. Dependencies the
    /// snapshot cannot speak about (not deployed) are left out. Their tickets come from
    /// the subject's own invariants. The default is none.
    fn dependencies(
        &self,
        _snapshot: &Self::Snapshot,
    ) -> Vec<(
        &'static str,
        crate::reconcile::deps::Criticality,
        Option<String>,
    )> {
        Vec::new()
    }
    /// Re-reads the spec; `Ok(true)` when it changed. A spec that fails validation is
    /// rejected and the previous one stays in force.
    async fn reload(&self) -> Result<bool, SubjectError>;
}
