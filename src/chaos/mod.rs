//! `operator chaos`: inject faults into a cluster's own containers, and always undo them.
//!
//! Chaos is only useful if it is trusted not to outlive the experiment and not to hit
//! anything but the cluster under test. Hence the shape of this module:
//!
//! - **Owned targets only.** Targets are resolved by member name through
//!   [`ContainerRuntime::list_owned`], never by a name pattern, and every mutating runtime
//!   call re-checks ownership labels. A foreign `demo-tikv-0` is never chosen.
//! - **Write-ahead undo.** Each [`Experiment`] is stored with its concrete
//!   [`RevertStep`]s before the fault is applied (see [`model`]), in a store both the
//!   operator and the CLI can open ([`store`]).
//! - **Reverted on every path:** after its duration ([`Chaos::run_reverter`] in the
//!   operator, or the waiting CLI), on `operator chaos revert [ID|--all]`, and on start-up
//!   ([`Chaos::recover`]: anything past its end, or whose holding process died).
//! - **Helpers, not privileges.** Network faults run `tc`/`iptables` in a short-lived
//!   helper container that joins the target's network namespace
//!   (`network_mode: container:<target>`, `NET_ADMIN`), so the target keeps its own
//!   capabilities. Helpers carry the cluster's ownership labels plus
//!   `component=chaos-helper` and `experiment=<id>`: the planner ignores that component,
//!   `down` removes them with everything else, and a revert sweeps any left behind.
//! - **Honest about the kernel.** Latency needs the `netem` qdisc; where the kernel
//!   lacks it the injection fails with [`ChaosError::NetemUnavailable`] naming the faults
//!   that do work. A disk throttle needs cgroup v1's blkio controller and a data volume
//!   on a block device ([`blkio`]); without them it is refused with what was found. A subject's simulated members (TiKV's
//!   `tikv-sim`) get disk, CPU and hot-spot faults through the simulator's admin
//!   endpoints, which the subject locates ([`SimKnobs`], [`sim`]); real targets get them
//!   where Docker allows, or [`ChaosError::Unsupported`] with the reason.

mod blkio;
pub mod cli;
pub mod commands;
mod error;
mod faults;
mod helpers;
pub mod model;
pub mod process;
mod resolve;
mod revert;
pub mod sim;
pub mod store;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::runtime::labels;
use crate::runtime::{
    ContainerRuntime, ContainerSpec, ContainerStatus, ExecOutput, HostMount, Mount,
    ObservedContainer, Owned, RuntimeError,
};

pub use model::{Experiment, ExperimentState, Fault, Holder, RevertStep, Target};
pub(crate) use sim::SimKnobs;
pub(crate) use store::{ExperimentStore, StoreError};

/// The helper image (busybox + `tc` + `iptables`), built locally by `make images`.
pub const HELPER_IMAGE: &str = "operator-chaos-helper:local";
/// Component label value of helper containers.
pub(crate) const HELPER_COMPONENT: &str = "chaos-helper";
/// Label naming the experiment a helper works for.
pub(crate) const EXPERIMENT_LABEL: &str = "io.tikv-operator.experiment";
/// Where helpers mount a member's data volume.
const VOLUME_MOUNT: &str = "/chaos-volume";
/// The host's cgroup root, which the disk-throttle helper bind-mounts.
const HOST_CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Where that helper sees it.
const HOST_CGROUP_MOUNT: &str = "/host-cgroup";

pub use error::ChaosError;
pub(crate) use resolve::resolve;
use resolve::{is_helper, short_name};

/// What a bulk revert did.
#[derive(Debug, Default)]
pub(crate) struct RevertReport {
    /// Experiments now reverted.
    pub reverted: Vec<Experiment>,
    /// Experiments whose revert failed (still active; retried later).
    pub failed: Vec<(String, ChaosError)>,
}

/// The chaos engine of one cluster.
#[derive(Clone)]
pub struct Chaos {
    runtime: Arc<dyn ContainerRuntime>,
    cluster: String,
    network: String,
    store: ExperimentStore,
    helper_image: String,
    extra_labels: BTreeMap<String, String>,
    sim: sim::SimClient,
    simulator: Option<SimKnobs>,
}

impl std::fmt::Debug for Chaos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chaos")
            .field("cluster", &self.cluster)
            .field("network", &self.network)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn command_text(cmd: &[String]) -> String {
    cmd.join(" ")
}

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(ToString::to_string).collect()
}

impl Chaos {
    /// The engine for `cluster` (whose containers live on `network`), storing
    /// experiments under `<state_dir>/chaos`.
    ///
    /// # Errors
    ///
    /// When the store directory cannot be created.
    pub fn new(
        runtime: Arc<dyn ContainerRuntime>,
        cluster: &str,
        network: &str,
        state_dir: &Path,
    ) -> Result<Self, ChaosError> {
        Ok(Self {
            runtime,
            cluster: cluster.to_string(),
            network: network.to_string(),
            store: ExperimentStore::open(state_dir)?,
            helper_image: HELPER_IMAGE.to_string(),
            extra_labels: BTreeMap::new(),
            sim: sim::SimClient::new(),
            simulator: None,
        })
    }

    /// Where the subject's simulated members take fault knobs (slow disk, disk fill,
    /// CPU, hot range). Without it every target is a real process.
    #[must_use]
    pub fn with_simulator(mut self, knobs: SimKnobs) -> Self {
        self.simulator = Some(knobs);
        self
    }

    /// Adds labels to every helper container (tests add their test-run label).
    #[must_use]
    pub fn with_helper_labels(mut self, extra: BTreeMap<String, String>) -> Self {
        self.extra_labels = extra;
        self
    }

    /// Experiments of this cluster, oldest first.
    ///
    /// # Errors
    ///
    /// Store failures.
    pub(crate) fn list(&self) -> Result<Vec<Experiment>, ChaosError> {
        let mut all: Vec<Experiment> = self
            .store
            .load()?
            .into_values()
            .filter(|e| e.cluster == self.cluster)
            .collect();
        all.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// One experiment of this cluster.
    ///
    /// # Errors
    ///
    /// [`ChaosError::UnknownExperiment`] or store failures.
    pub(crate) fn get(&self, id: &str) -> Result<Experiment, ChaosError> {
        self.store
            .get(id)?
            .filter(|e| e.cluster == self.cluster)
            .ok_or_else(|| ChaosError::UnknownExperiment(id.to_string()))
    }

    /// Injects `fault` into `target` for `duration`; the operator's reverter (or any
    /// later [`Chaos::recover`]) reverts it when the duration ends.
    ///
    /// # Guarantees
    ///
    /// - Only owned containers are touched (see [`resolve`]).
    /// - The experiment and its revert steps are stored before the fault is applied.
    /// - If applying fails half-way, what was applied is reverted at once, the
    ///   experiment is stored as [`ExperimentState::Failed`], and the error is returned.
    /// - Instantaneous faults with nothing to undo (`restart`, `kill` without
    ///   `restart_on_revert`) are stored as [`ExperimentState::Reverted`] at once.
    ///
    /// # Errors
    ///
    /// Any [`ChaosError`]; see the variants.
    pub async fn inject(
        &self,
        target: &Target,
        fault: Fault,
        duration: Duration,
    ) -> Result<Experiment, ChaosError> {
        self.inject_with(target, fault, duration, None).await
    }

    /// Like [`Chaos::inject`], but this process promises to revert the experiment itself
    /// (the CLI waiting out the duration). If the process dies first, [`Chaos::recover`]
    /// reverts the experiment without waiting for its end.
    ///
    /// # Errors
    ///
    /// As [`Chaos::inject`].
    pub(crate) async fn inject_held(
        &self,
        target: &Target,
        fault: Fault,
        duration: Duration,
    ) -> Result<Experiment, ChaosError> {
        self.inject_with(target, fault, duration, process::current_holder())
            .await
    }

    async fn inject_with(
        &self,
        target: &Target,
        fault: Fault,
        duration: Duration,
        holder: Option<Holder>,
    ) -> Result<Experiment, ChaosError> {
        fault.validate().map_err(ChaosError::InvalidFault)?;
        let owned = self
            .runtime
            .list_owned(&self.cluster, &self.network)
            .await?;
        let now = SystemTime::now();
        let mut exp = Experiment {
            id: model::new_id(now),
            cluster: self.cluster.clone(),
            target: target.clone(),
            containers: vec![],
            fault: fault.clone(),
            started_at: now,
            planned_end: now + duration,
            state: ExperimentState::Active,
            revert_info: vec![],
            holder,
            ended_at: None,
            error: None,
            notes: vec![],
        };
        let result = self.apply(&owned, &mut exp).await;
        let ended = SystemTime::now();
        match result {
            Ok(()) => {
                if exp.revert_info.is_empty() {
                    exp.state = ExperimentState::Reverted;
                    exp.ended_at = Some(ended);
                    exp.notes
                        .push("instantaneous fault: nothing to revert".to_string());
                }
                self.store.put(&exp)?;
                self.sweep_helpers(&exp.id).await;
                tracing::info!(experiment = %exp.id, fault = exp.fault.name(), target = %exp.target, "chaos injected");
                Ok(exp)
            }
            Err(error) => {
                if let Err(revert_error) = self.run_steps(&exp.id, &exp.revert_info).await {
                    tracing::warn!(experiment = %exp.id, error = %revert_error, "undoing a failed injection failed");
                    exp.notes.push(format!(
                        "undoing the partial injection failed: {revert_error}"
                    ));
                }
                self.sweep_helpers(&exp.id).await;
                exp.state = ExperimentState::Failed;
                exp.ended_at = Some(ended);
                exp.error = Some(error.to_string());
                // Refusals before anything was planned (unknown or foreign target)
                // leave no record. The fault is already reported; a store failure here
                // must not hide it.
                let planned = matches!(self.store.get(&exp.id), Ok(Some(_)));
                if let Err(e) = planned.then(|| self.store.put(&exp)).transpose() {
                    tracing::warn!(experiment = %exp.id, error = %e, "could not record a failed injection");
                }
                Err(error)
            }
        }
    }

    /// Stores the undo steps before the action they undo.
    fn record(&self, exp: &mut Experiment, steps: Vec<RevertStep>) -> Result<(), ChaosError> {
        exp.revert_info.extend(steps);
        self.store.put(exp)?;
        Ok(())
    }

    fn require_running(&self, c: &ObservedContainer, fault: &Fault) -> Result<(), ChaosError> {
        if matches!(c.status, ContainerStatus::Running) {
            Ok(())
        } else {
            Err(ChaosError::TargetNotRunning {
                container: c.name.clone(),
                status: c.status,
                fault: fault.name(),
            })
        }
    }
}

#[cfg(test)]
mod tests;
