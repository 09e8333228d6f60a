//! The port a subject implements to be evaluated: a cluster shaped for a scenario,
//! observed through the same [`Monitored`] contract `operator run`'s monitor uses, with
//! the scenario's faults and noise applied on their schedule.
//!
//! # Why a port
//!
//! The run itself (monitor rounds through `tickets::monitor::round_outcome`, the
//! operator's diagnosis reconciler over every ticket, detection and scoring) is the same
//! for every subject; only how a cluster is started, what a fault does and what the
//! entities are called differ. TiKV's harness drives the in-process simulator in
//! simulated time; etcd's converges real containers on Docker in wall time. Both are
//! driven by [`super::runner`], so the eval of either runs what `operator run` runs.

use std::fmt::Debug;
use std::time::Duration;

use super::runner::RunnerConfig;
use super::scenario::{Scenario, ScenarioSchema};
use super::score::{Entities, Entity};
use super::EvalError;
use crate::tickets::monitor::{EventInbox, Monitored};

/// One action of the fault phase, at its time.
#[derive(Debug, Clone)]
pub struct Scheduled<A> {
    /// Offset from the start of the fault phase (scenario time).
    pub at: Duration,
    /// What to do.
    pub action: A,
    /// The index of the scenario fault this action injects, if it injects one (the time
    /// to detect is measured from it).
    pub injects: Option<usize>,
}

/// A symbolic target of the truth resolved at injection (`leader` → `etcd-1`; a hot
/// region named by index → the store that leads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetResolved {
    /// The category of the true cause concerned.
    pub category: String,
    /// The target as the scenario wrote it.
    pub from: String,
    /// The canonical entity it turned out to be.
    pub to: String,
}

/// A subject's evaluation harness: one cluster for one run.
#[async_trait::async_trait]
pub trait EvalHarness: Monitored + Sized + 'static {
    /// The subject's scenario vocabulary.
    type Schema: ScenarioSchema;
    /// One thing to do during the fault phase.
    type Action: Debug + Send + Sync;

    /// The run settings for this subject, from the command line's (a real cluster runs
    /// in wall time: its time factor is 1).
    fn runner_config(base: &RunnerConfig) -> RunnerConfig {
        base.clone()
    }

    /// Starts a cluster shaped for `s`, for its run number `run`.
    ///
    /// # Errors
    ///
    /// The cluster could not be started.
    async fn start(
        s: &Scenario<Self::Schema>,
        run: usize,
        cfg: &RunnerConfig,
    ) -> Result<Self, EvalError>;

    /// Waits until the cluster is healthy and its invariants hold (the monitor's
    /// baselines are warm).
    ///
    /// # Errors
    ///
    /// [`EvalError::Settle`] after `cfg.settle_timeout`.
    async fn settle(&self, cfg: &RunnerConfig) -> Result<(), EvalError>;

    /// The cluster's name (runbooks name it).
    fn cluster(&self) -> String;

    /// The run's entities and their aliases (after [`EvalHarness::settle`]: what the
    /// cluster granted, such as store or member ids, is known then).
    async fn entities(&self) -> Entities;

    /// The runtime events waiting for the next monitor round.
    fn inbox(&self) -> &EventInbox;

    /// The fault phase's actions, sorted by time; `horizon` is where the run ends
    /// (scenario time), for faults that recur until then.
    fn schedule(
        &self,
        s: &Scenario<Self::Schema>,
        horizon: Duration,
    ) -> Vec<Scheduled<Self::Action>>;

    /// Applies one action.
    ///
    /// # Errors
    ///
    /// [`EvalError::Inject`] when the fault cannot be applied (the run fails; it is
    /// never counted as a miss or a pass).
    async fn apply(&mut self, a: &Self::Action) -> Result<Vec<TargetResolved>, EvalError>;

    /// An action in words, for progress output.
    fn describe(a: &Self::Action) -> String;

    /// How long (wall) a run watches for detection after its last fault.
    fn detect_window(&self, cfg: &RunnerConfig) -> Duration;

    /// Scenario time the noise takes beyond its stated durations (planned work that runs
    /// member by member).
    fn noise_span(&self, s: &Scenario<Self::Schema>) -> Duration {
        let _ = s;
        Duration::ZERO
    }

    /// Whether the scenario's faults recur until the run ends (an OOM loop): the run may
    /// end with actions left.
    fn open_ended(s: &Scenario<Self::Schema>) -> bool {
        let _ = s;
        false
    }

    /// Whether a ticket on `ticket` (resolved) for `invariant` detects a true cause on
    /// `truth`: a ticket on its entity; any ticket for a cause on the whole cluster.
    fn ticket_detects(&self, truth: &str, ticket: &Entity, invariant: &str) -> bool {
        let _ = invariant;
        truth == "cluster" || *ticket == Entity::Known(truth.to_string())
    }

    /// The subject's read-only investigation tools on this run's cluster, as a model
    /// backend gets them in `operator run` (`None`: the run offers none; the ticket
    /// memory is offered whatever this returns).
    async fn toolbox(&self) -> Option<std::sync::Arc<dyn crate::diagnose::investigate::Toolbox>> {
        None
    }

    /// Stops the cluster and removes everything the run created.
    async fn shutdown(self);
}
