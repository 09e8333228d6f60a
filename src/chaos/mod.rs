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
//!   that do work. Simulated TiKV/PD targets get disk, CPU and hot-spot faults through the
//!   simulator's admin endpoints ([`sim`]); real targets get them where Docker allows, or
//!   [`ChaosError::Unsupported`] with the reason.

pub mod cli;
pub mod commands;
pub mod model;
pub mod process;
pub mod sim;
pub mod store;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::runtime::labels;
use crate::runtime::{
    ContainerRuntime, ContainerSpec, ContainerStatus, ExecOutput, Mount, ObservedContainer, Owned,
    RuntimeError,
};

pub use model::{Experiment, ExperimentState, Fault, Holder, RevertStep, Target};
pub use store::{ExperimentStore, StoreError};

/// The helper image (busybox + `tc` + `iptables`), built locally by `make images`.
pub const HELPER_IMAGE: &str = "operator-chaos-helper:local";
/// Component label value of helper containers.
pub const HELPER_COMPONENT: &str = "chaos-helper";
/// Label naming the experiment a helper works for.
pub const EXPERIMENT_LABEL: &str = "io.tikv-operator.experiment";
/// Where helpers mount a member's data volume.
const VOLUME_MOUNT: &str = "/chaos-volume";

/// Faults that work without netem, for the [`ChaosError::NetemUnavailable`] message.
const WORKING_NETWORK_FAULTS: &str = "loss (iptables statistic), bandwidth (tc tbf), \
     partition (iptables), disconnect, pause (cgroup freezer), and slow-disk on simulated TiKV";

/// Errors of the chaos toolkit.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// The container runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The experiment store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The fault's parameters are invalid.
    #[error("invalid fault: {0}")]
    InvalidFault(String),
    /// No owned container matches the target.
    #[error("no container of cluster {cluster:?} matches target {target}")]
    TargetNotFound {
        /// The target.
        target: String,
        /// The cluster.
        cluster: String,
    },
    /// A container of that name exists but is not owned by the cluster: never touched.
    #[error("{name:?} exists but is not owned by cluster {cluster:?}; chaos only touches the cluster's own containers")]
    TargetNotOwned {
        /// The name.
        name: String,
        /// The cluster.
        cluster: String,
    },
    /// The target must be running for this fault.
    #[error("{container:?} is {status:?}; the {fault} fault needs it running")]
    TargetNotRunning {
        /// Container.
        container: String,
        /// Its state.
        status: ContainerStatus,
        /// Fault name.
        fault: &'static str,
    },
    /// The target has no address on the cluster network.
    #[error("{container:?} has no address on network {network:?}")]
    NoAddress {
        /// Container.
        container: String,
        /// Network.
        network: String,
    },
    /// The kernel has no netem qdisc, so latency cannot be injected.
    #[error(
        "the netem qdisc is unavailable on this kernel (tc said: {detail}), so latency \
             cannot be injected here; faults that work: {WORKING_NETWORK_FAULTS}"
    )]
    NetemUnavailable {
        /// tc's answer.
        detail: String,
    },
    /// The fault cannot be applied to this kind of target.
    #[error("{fault} is not supported on {target}: {reason}")]
    Unsupported {
        /// Fault name.
        fault: &'static str,
        /// Target.
        target: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// The helper image is missing.
    #[error("chaos helper image {0:?} is not available locally; build it with `make images`")]
    HelperImageMissing(String),
    /// A command in a helper or target failed.
    #[error("`{command}` in {container:?} exited with {exit_code}: {output}")]
    CommandFailed {
        /// Container it ran in.
        container: String,
        /// The command.
        command: String,
        /// Exit code.
        exit_code: i64,
        /// Output.
        output: String,
    },
    /// A simulator admin call failed.
    #[error("simulator call {url} failed: {detail}")]
    Http {
        /// URL.
        url: String,
        /// Error.
        detail: String,
    },
    /// No experiment has that id in this cluster.
    #[error("no chaos experiment {0:?} in this cluster")]
    UnknownExperiment(String),
}

/// What a bulk revert did.
#[derive(Debug, Default)]
pub struct RevertReport {
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

fn short_name<'a>(cluster: &str, container: &'a str) -> &'a str {
    container
        .strip_prefix(cluster)
        .and_then(|s| s.strip_prefix('-'))
        .unwrap_or(container)
}

fn is_helper(c: &ObservedContainer) -> bool {
    c.label(labels::COMPONENT) == Some(HELPER_COMPONENT)
}

/// Finds the owned container a single-container target names.
///
/// # Guarantees
///
/// Only containers in `owned.containers` (which carry the cluster's ownership labels)
/// can be returned; helpers are never targets. A matching name among
/// `owned.foreign_names` yields [`ChaosError::TargetNotOwned`].
///
/// # Errors
///
/// [`ChaosError::TargetNotFound`], [`ChaosError::TargetNotOwned`], or
/// [`ChaosError::InvalidFault`] for [`Target::Cluster`].
pub fn resolve<'a>(
    owned: &'a Owned,
    cluster: &str,
    target: &Target,
) -> Result<&'a ObservedContainer, ChaosError> {
    let (found, names) = match target {
        Target::Member(m) => (
            owned.containers.iter().find(|c| {
                !is_helper(c) && (c.label(labels::MEMBER) == Some(m.as_str()) || c.name == *m)
            }),
            vec![m.clone(), format!("{cluster}-{m}")],
        ),
        Target::Container(name) => (
            owned
                .containers
                .iter()
                .find(|c| !is_helper(c) && c.name == *name),
            vec![name.clone()],
        ),
        Target::Cluster => {
            return Err(ChaosError::InvalidFault(
                "this fault needs one member or container as its target".into(),
            ))
        }
    };
    if let Some(c) = found {
        return Ok(c);
    }
    if let Some(name) = names.iter().find(|n| owned.foreign_names.contains(n)) {
        return Err(ChaosError::TargetNotOwned {
            name: name.clone(),
            cluster: cluster.to_string(),
        });
    }
    Err(ChaosError::TargetNotFound {
        target: target.to_string(),
        cluster: cluster.to_string(),
    })
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
        })
    }

    /// Uses another helper image.
    #[must_use]
    pub fn with_helper_image(mut self, image: &str) -> Self {
        self.helper_image = image.to_string();
        self
    }

    /// Adds labels to every helper container (tests add their test-run label).
    #[must_use]
    pub fn with_helper_labels(mut self, extra: BTreeMap<String, String>) -> Self {
        self.extra_labels = extra;
        self
    }

    /// The cluster this engine acts on.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Experiments of this cluster, oldest first.
    ///
    /// # Errors
    ///
    /// Store failures.
    pub fn list(&self) -> Result<Vec<Experiment>, ChaosError> {
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
    pub fn get(&self, id: &str) -> Result<Experiment, ChaosError> {
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
    pub async fn inject_held(
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

    async fn apply(&self, owned: &Owned, exp: &mut Experiment) -> Result<(), ChaosError> {
        let fault = exp.fault.clone();
        if let Fault::Partition { a, b } = &fault {
            return self.partition(owned, exp, a, b).await;
        }
        if let Fault::HotRange {
            start_key,
            end_key,
            qps,
        } = &fault
        {
            return self.hot_range(owned, exp, start_key, end_key, *qps).await;
        }
        let target = resolve(owned, &self.cluster, &exp.target)?.clone();
        let name = target.name.clone();
        exp.containers = vec![name.clone()];
        match fault {
            Fault::Kill { restart_on_revert } => {
                // A target already down would be *started* by the revert: refuse.
                self.require_running(&target, &fault)?;
                let steps = if restart_on_revert {
                    vec![RevertStep::Start {
                        container: name.clone(),
                    }]
                } else {
                    vec![]
                };
                self.record(exp, steps)?;
                self.runtime.kill(&self.cluster, &name, "SIGKILL").await?;
            }
            Fault::Stop { grace_secs } => {
                self.require_running(&target, &fault)?;
                self.record(
                    exp,
                    vec![RevertStep::Start {
                        container: name.clone(),
                    }],
                )?;
                self.runtime
                    .stop(&self.cluster, &name, Duration::from_secs(grace_secs))
                    .await?;
            }
            Fault::Pause => {
                self.require_running(&target, &fault)?;
                self.record(
                    exp,
                    vec![RevertStep::Unpause {
                        container: name.clone(),
                    }],
                )?;
                self.runtime.pause(&self.cluster, &name).await?;
            }
            Fault::Restart => {
                self.record(exp, vec![])?;
                self.runtime.restart(&self.cluster, &name).await?;
            }
            Fault::Disconnect => {
                if !target.networks.contains(&self.network) {
                    return Err(ChaosError::NoAddress {
                        container: name,
                        network: self.network.clone(),
                    });
                }
                self.record(
                    exp,
                    vec![RevertStep::Reconnect {
                        container: name.clone(),
                        network: self.network.clone(),
                    }],
                )?;
                self.runtime
                    .disconnect(&self.cluster, &self.network, &name)
                    .await?;
            }
            Fault::Loss { probability } => {
                self.require_running(&target, &fault)?;
                let (apply, undo) = commands::loss_rules(&exp.id, probability);
                self.record(
                    exp,
                    vec![RevertStep::NetnsCommands {
                        container: name.clone(),
                        commands: undo,
                    }],
                )?;
                let helper = self.netns_helper(&exp.id, &name, "i").await?;
                let result = self.exec_all(&helper, &apply).await;
                self.remove_helper(&helper).await;
                result?;
            }
            Fault::Latency {
                delay_ms,
                jitter_ms,
            } => {
                self.require_running(&target, &fault)?;
                self.qdisc(exp, &target, |dev| {
                    commands::netem_add(dev, delay_ms, jitter_ms)
                })
                .await?;
            }
            Fault::Bandwidth {
                ref rate,
                ref burst,
                ref latency,
            } => {
                self.require_running(&target, &fault)?;
                self.qdisc(exp, &target, |dev| {
                    commands::tbf_add(dev, rate, burst, latency)
                })
                .await?;
            }
            Fault::DiskFill { ratio } => {
                if self.simulated_tikv(&target).await {
                    self.sim_knob(exp, &target, "disk_fill_ratio", serde_json::json!(ratio))
                        .await?;
                } else {
                    self.disk_fill(owned, exp, &target, ratio).await?;
                }
            }
            Fault::SlowDisk { delay_ms } => {
                if !self.simulated_tikv(&target).await {
                    return Err(ChaosError::Unsupported {
                        fault: fault.name(),
                        target: name,
                        reason: "slow disk is injected through the TiKV simulator's fault knobs; \
                                 for a real TiKV it would need blkio throttling of the container \
                                 (docker update --device-read-bps/--device-write-bps), which the \
                                 operator's runtime port does not expose"
                            .into(),
                    });
                }
                self.sim_knob(exp, &target, "slow_disk_ms", serde_json::json!(delay_ms))
                    .await?;
            }
            Fault::CpuSaturation { ratio } => {
                self.require_running(&target, &fault)?;
                if self.simulated_tikv(&target).await {
                    self.sim_knob(exp, &target, "cpu_saturation", serde_json::json!(ratio))
                        .await?;
                } else {
                    self.cpu_burn(exp, &target, ratio).await?;
                }
            }
            Fault::Partition { .. } | Fault::HotRange { .. } => unreachable!("handled above"),
        }
        Ok(())
    }

    async fn partition(
        &self,
        owned: &Owned,
        exp: &mut Experiment,
        a: &[Target],
        b: &[Target],
    ) -> Result<(), ChaosError> {
        let side = |targets: &[Target]| -> Result<Vec<(String, String)>, ChaosError> {
            targets
                .iter()
                .map(|t| {
                    let c = resolve(owned, &self.cluster, t)?;
                    self.require_running(c, &exp.fault)?;
                    let ip = c.ip.clone().ok_or_else(|| ChaosError::NoAddress {
                        container: c.name.clone(),
                        network: self.network.clone(),
                    })?;
                    Ok((c.name.clone(), ip))
                })
                .collect()
        };
        let (side_a, side_b) = (side(a)?, side(b)?);
        let mut plans = Vec::new();
        for (mine, theirs) in [(&side_a, &side_b), (&side_b, &side_a)] {
            let peers: Vec<String> = theirs.iter().map(|(_, ip)| ip.clone()).collect();
            for (container, _) in mine {
                let (apply, undo) = commands::partition_rules(&exp.id, &peers);
                plans.push((container.clone(), apply, undo));
            }
        }
        exp.containers = plans.iter().map(|(c, _, _)| c.clone()).collect();
        self.record(
            exp,
            plans
                .iter()
                .map(|(container, _, undo)| RevertStep::NetnsCommands {
                    container: container.clone(),
                    commands: undo.clone(),
                })
                .collect(),
        )?;
        for (container, apply, _) in &plans {
            let helper = self.netns_helper(&exp.id, container, "i").await?;
            let result = self.exec_all(&helper, apply).await;
            self.remove_helper(&helper).await;
            result?;
        }
        Ok(())
    }

    /// Installs a root qdisc built by `build(dev)` on the target's cluster interface.
    async fn qdisc(
        &self,
        exp: &mut Experiment,
        target: &ObservedContainer,
        build: impl FnOnce(&str) -> Vec<String>,
    ) -> Result<(), ChaosError> {
        let helper = self.netns_helper(&exp.id, &target.name, "i").await?;
        let result = async {
            let dev = match &target.ip {
                Some(ip) => {
                    let out = self
                        .exec(&helper, &strings(&["ip", "-o", "-4", "addr", "show"]))
                        .await?;
                    commands::interface_of(&out.output, ip).unwrap_or_else(|| "eth0".into())
                }
                None => "eth0".to_string(),
            };
            self.record(
                exp,
                vec![RevertStep::NetnsCommands {
                    container: target.name.clone(),
                    commands: vec![commands::qdisc_del(&dev)],
                }],
            )?;
            let cmd = build(&dev);
            let out = self.exec(&helper, &cmd).await?;
            if out.exit_code != 0 {
                if cmd.iter().any(|p| p == "netem") && commands::netem_unavailable(&out.output) {
                    // Nothing was installed: drop the undo step.
                    exp.revert_info.clear();
                    return Err(ChaosError::NetemUnavailable {
                        detail: out.output.trim().to_string(),
                    });
                }
                return Err(self.failed(&helper, &cmd, out));
            }
            exp.notes
                .push(format!("qdisc on {dev}: {}", command_text(&cmd)));
            Ok(())
        }
        .await;
        self.remove_helper(&helper).await;
        result
    }

    async fn disk_fill(
        &self,
        owned: &Owned,
        exp: &mut Experiment,
        target: &ObservedContainer,
        ratio: f64,
    ) -> Result<(), ChaosError> {
        let member = target
            .label(labels::MEMBER)
            .unwrap_or_else(|| short_name(&self.cluster, &target.name));
        let volume = format!("{}-{member}-data", self.cluster);
        if !owned.volumes.iter().any(|v| v.name == volume) {
            return Err(ChaosError::Unsupported {
                fault: "disk-fill",
                target: target.name.clone(),
                reason: format!("it has no data volume {volume:?} owned by the cluster"),
            });
        }
        let file = format!(".chaos-fill-{}", exp.id);
        let path = format!("{VOLUME_MOUNT}/{file}");
        let helper = self.volume_helper(&exp.id, &volume, "i").await?;
        let result = async {
            let df = strings(&["df", "-P", "-k", VOLUME_MOUNT]);
            let before = self.exec_ok(&helper, &df).await?;
            let (_, used, avail) = commands::parse_df(&before.output)
                .ok_or_else(|| self.failed(&helper, &df, before.clone()))?;
            let bytes = commands::bytes_to_fill(used, avail, ratio);
            self.record(
                exp,
                vec![RevertStep::RemoveVolumeFile {
                    volume: volume.clone(),
                    file: file.clone(),
                }],
            )?;
            if bytes > 0 {
                let fallocate = vec![
                    "fallocate".into(),
                    "-l".into(),
                    bytes.to_string(),
                    path.clone(),
                ];
                let out = self.exec(&helper, &fallocate).await?;
                if out.exit_code != 0 {
                    // Filesystems without fallocate: write zeros instead.
                    let mib = bytes.div_ceil(1024 * 1024);
                    let dd = vec![
                        "dd".into(),
                        "if=/dev/zero".into(),
                        format!("of={path}"),
                        "bs=1048576".into(),
                        format!("count={mib}"),
                    ];
                    let out = self.exec(&helper, &dd).await?;
                    // dd stops with ENOSPC when the estimate overshoots: that is full.
                    if out.exit_code != 0 && !out.output.contains("No space left") {
                        return Err(self.failed(&helper, &dd, out));
                    }
                }
            }
            let after = self.exec_ok(&helper, &df).await?;
            if let Some((_, used, avail)) = commands::parse_df(&after.output) {
                let achieved = used as f64 / (used + avail).max(1) as f64;
                exp.notes.push(format!(
                    "volume {volume}: wrote {bytes} bytes to {file}; now {:.1}% full",
                    achieved * 100.0
                ));
            }
            Ok(())
        }
        .await;
        self.remove_helper(&helper).await;
        result
    }

    async fn cpu_burn(
        &self,
        exp: &mut Experiment,
        target: &ObservedContainer,
        ratio: f64,
    ) -> Result<(), ChaosError> {
        let unsupported = |why: String| ChaosError::Unsupported {
            fault: "cpu-saturation",
            target: target.name.clone(),
            reason: format!(
                "{why}; CPU stress on a real TiKV runs busy loops through `docker exec sh` in \
                 the target, and stress-ng in a helper is out of reach without a registry"
            ),
        };
        let probe = strings(&[
            "sh",
            "-c",
            "nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo",
        ]);
        let out = match self.runtime.exec(&self.cluster, &target.name, &probe).await {
            Ok(out) if out.exit_code == 0 => out,
            Ok(out) => {
                return Err(unsupported(format!(
                    "the target cannot run sh ({})",
                    out.output.trim()
                )))
            }
            Err(RuntimeError::Api(e)) => {
                return Err(unsupported(format!("the target has no sh ({e})")))
            }
            Err(e) => return Err(e.into()),
        };
        let cpus: u64 = out
            .output
            .trim()
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(1);
        let loops = ((cpus as f64) * ratio).ceil().max(1.0) as u64;
        let pids = format!("/tmp/.chaos-cpu-{}.pids", exp.id);
        self.record(
            exp,
            vec![RevertStep::ExecInTarget {
                container: target.name.clone(),
                command: vec![
                    "sh".into(),
                    "-c".into(),
                    format!("[ -f {pids} ] && kill $(cat {pids}) 2>/dev/null; rm -f {pids}; true"),
                ],
            }],
        )?;
        let script = format!(
            "i=0; : > {pids}; while [ $i -lt {loops} ]; do (while :; do :; done) >/dev/null 2>&1 & \
             echo $! >> {pids}; i=$((i+1)); done"
        );
        let cmd = vec!["sh".into(), "-c".into(), script];
        let out = self.runtime.exec(&self.cluster, &target.name, &cmd).await?;
        if out.exit_code != 0 {
            return Err(self.failed(&target.name, &cmd, out));
        }
        exp.notes.push(format!("{loops} busy loops on {cpus} CPUs"));
        Ok(())
    }

    async fn simulated_tikv(&self, target: &ObservedContainer) -> bool {
        let by_image = target.image.contains("tikv-sim")
            || target
                .label(labels::IMAGE)
                .is_some_and(|i| i.contains("tikv-sim"));
        if by_image {
            return true;
        }
        match &target.ip {
            Some(ip) => self.sim.probe(&sim::faults_url(ip)).await,
            None => false,
        }
    }

    async fn sim_knob(
        &self,
        exp: &mut Experiment,
        target: &ObservedContainer,
        knob: &str,
        value: serde_json::Value,
    ) -> Result<(), ChaosError> {
        let ip = target.ip.clone().ok_or_else(|| ChaosError::NoAddress {
            container: target.name.clone(),
            network: self.network.clone(),
        })?;
        let url = sim::faults_url(&ip);
        let current = self.sim.get(&url).await?;
        let previous = current.get(knob).cloned().unwrap_or(serde_json::json!(0));
        self.record(
            exp,
            vec![RevertStep::HttpPut {
                url: url.clone(),
                body: serde_json::json!({ knob: previous }),
            }],
        )?;
        self.sim
            .put(&url, &serde_json::json!({ knob: value }))
            .await?;
        exp.notes
            .push(format!("simulated TiKV: {knob} = {value} (was {previous})"));
        Ok(())
    }

    async fn hot_range(
        &self,
        owned: &Owned,
        exp: &mut Experiment,
        start_key: &str,
        end_key: &str,
        qps: u64,
    ) -> Result<(), ChaosError> {
        let pd = match &exp.target {
            Target::Cluster => owned
                .containers
                .iter()
                .find(|c| {
                    c.label(labels::COMPONENT) == Some("pd") && c.status == ContainerStatus::Running
                })
                .ok_or_else(|| ChaosError::TargetNotFound {
                    target: "a running PD member".into(),
                    cluster: self.cluster.clone(),
                })?,
            t => resolve(owned, &self.cluster, t)?,
        };
        exp.containers = vec![pd.name.clone()];
        let ip = pd.ip.clone().ok_or_else(|| ChaosError::NoAddress {
            container: pd.name.clone(),
            network: self.network.clone(),
        })?;
        let url = sim::workload_url(&ip);
        let simulated = pd.image.contains("tikv-sim")
            || pd
                .label(labels::IMAGE)
                .is_some_and(|i| i.contains("tikv-sim"))
            || self.sim.probe(&url).await;
        if !simulated {
            return Err(ChaosError::Unsupported {
                fault: "hot-range",
                target: pd.name.clone(),
                reason: "a hot key range is generated by the PD simulator's workload knob; a real \
                         cluster needs a client workload (go-ycsb or similar) aimed at the range"
                    .into(),
            });
        }
        self.record(exp, vec![RevertStep::HttpDelete { url: url.clone() }])?;
        self.sim
            .put(
                &url,
                &serde_json::json!({"hot_range": {"start_key": start_key, "end_key": end_key, "qps": qps}}),
            )
            .await?;
        Ok(())
    }

    // ----- helpers -----

    fn helper_labels(&self, id: &str) -> BTreeMap<String, String> {
        let mut l = self.extra_labels.clone();
        l.extend(labels::ownership(&self.cluster));
        l.insert(labels::COMPONENT.into(), HELPER_COMPONENT.into());
        l.insert(EXPERIMENT_LABEL.into(), id.into());
        l
    }

    async fn start_helper(&self, spec: ContainerSpec) -> Result<String, ChaosError> {
        // A helper left by a crashed run under the same name goes first.
        self.runtime.remove(&self.cluster, &spec.name).await?;
        match self.runtime.create_and_start(&spec).await {
            Ok(_) => Ok(spec.name),
            Err(RuntimeError::ImageMissing(image)) => Err(ChaosError::HelperImageMissing(image)),
            Err(e) => Err(e.into()),
        }
    }

    async fn netns_helper(
        &self,
        id: &str,
        container: &str,
        phase: &str,
    ) -> Result<String, ChaosError> {
        let name = format!(
            "{}-chaos-{id}-{}-{phase}",
            self.cluster,
            short_name(&self.cluster, container)
        );
        self.start_helper(ContainerSpec {
            name,
            image: self.helper_image.clone(),
            labels: self.helper_labels(id),
            cap_add: vec!["NET_ADMIN".into()],
            network_mode: Some(format!("container:{container}")),
            ..Default::default()
        })
        .await
    }

    async fn volume_helper(
        &self,
        id: &str,
        volume: &str,
        phase: &str,
    ) -> Result<String, ChaosError> {
        let name = format!(
            "{}-chaos-{id}-{}-{phase}",
            self.cluster,
            short_name(&self.cluster, volume)
        );
        self.start_helper(ContainerSpec {
            name,
            image: self.helper_image.clone(),
            labels: self.helper_labels(id),
            network_mode: Some("none".into()),
            mounts: vec![Mount {
                volume: volume.to_string(),
                target: VOLUME_MOUNT.into(),
            }],
            ..Default::default()
        })
        .await
    }

    async fn remove_helper(&self, name: &str) {
        if let Err(e) = self.runtime.remove(&self.cluster, name).await {
            tracing::warn!(helper = name, error = %e, "could not remove a chaos helper; `operator down` or the next revert removes it");
        }
    }

    /// Removes every helper of experiment `id` (best effort).
    async fn sweep_helpers(&self, id: &str) {
        let Ok(owned) = self.runtime.list_owned(&self.cluster, &self.network).await else {
            return;
        };
        for c in owned
            .containers
            .iter()
            .filter(|c| is_helper(c) && c.label(EXPERIMENT_LABEL) == Some(id))
        {
            self.remove_helper(&c.name).await;
        }
    }

    async fn exec(&self, container: &str, cmd: &[String]) -> Result<ExecOutput, ChaosError> {
        Ok(self.runtime.exec(&self.cluster, container, cmd).await?)
    }

    fn failed(&self, container: &str, cmd: &[String], out: ExecOutput) -> ChaosError {
        ChaosError::CommandFailed {
            container: container.to_string(),
            command: command_text(cmd),
            exit_code: out.exit_code,
            output: out.output.trim().to_string(),
        }
    }

    async fn exec_ok(&self, container: &str, cmd: &[String]) -> Result<ExecOutput, ChaosError> {
        let out = self.exec(container, cmd).await?;
        if out.exit_code != 0 {
            return Err(self.failed(container, cmd, out));
        }
        Ok(out)
    }

    async fn exec_all(&self, container: &str, cmds: &[Vec<String>]) -> Result<(), ChaosError> {
        for cmd in cmds {
            self.exec_ok(container, cmd).await?;
        }
        Ok(())
    }

    // ----- revert -----

    async fn run_steps(&self, id: &str, steps: &[RevertStep]) -> Result<(), ChaosError> {
        let mut first_error = None;
        for step in steps {
            if let Err(e) = self.run_step(id, step).await {
                tracing::warn!(?step, error = %e, "chaos revert step failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// True when the container exists with its processes (and namespaces) alive.
    async fn has_live_process(&self, name: &str) -> Result<bool, ChaosError> {
        let owned = self
            .runtime
            .list_owned(&self.cluster, &self.network)
            .await?;
        Ok(owned.containers.iter().any(|c| {
            c.name == name
                && matches!(
                    c.status,
                    ContainerStatus::Running
                        | ContainerStatus::Paused
                        | ContainerStatus::Restarting
                )
        }))
    }

    async fn run_step(&self, id: &str, step: &RevertStep) -> Result<(), ChaosError> {
        let gone = |r: Result<(), RuntimeError>| match r {
            Err(RuntimeError::NotFound { .. }) | Ok(()) => Ok(()),
            Err(e) => Err(ChaosError::from(e)),
        };
        match step {
            RevertStep::Unpause { container } => {
                gone(self.runtime.unpause(&self.cluster, container).await)
            }
            RevertStep::Start { container } => {
                gone(self.runtime.start(&self.cluster, container).await)
            }
            RevertStep::Reconnect { container, network } => gone(
                self.runtime
                    .connect(&self.cluster, network, container)
                    .await,
            ),
            RevertStep::NetnsCommands {
                container,
                commands,
            } => {
                // A stopped container has lost its namespace and the fault with it (a
                // paused one keeps it; a paused target fails the exec and is retried).
                if !self.has_live_process(container).await? {
                    return Ok(());
                }
                let helper = self.netns_helper(id, container, "r").await?;
                let result = async {
                    for cmd in commands {
                        let out = self.exec(&helper, cmd).await?;
                        if out.exit_code != 0 && !commands::nothing_to_undo(&out.output) {
                            return Err(self.failed(&helper, cmd, out));
                        }
                    }
                    Ok(())
                }
                .await;
                self.remove_helper(&helper).await;
                result
            }
            RevertStep::RemoveVolumeFile { volume, file } => {
                let owned = self
                    .runtime
                    .list_owned(&self.cluster, &self.network)
                    .await?;
                if !owned.volumes.iter().any(|v| v.name == *volume) {
                    return Ok(());
                }
                let helper = self.volume_helper(id, volume, "r").await?;
                let rm = vec!["rm".into(), "-f".into(), format!("{VOLUME_MOUNT}/{file}")];
                let result = self.exec_ok(&helper, &rm).await.map(|_| ());
                self.remove_helper(&helper).await;
                result
            }
            RevertStep::ExecInTarget { container, command } => {
                if !self.has_live_process(container).await? {
                    return Ok(());
                }
                self.exec_ok(container, command).await.map(|_| ())
            }
            RevertStep::HttpPut { url, body } => self.sim.revert_put(url, body).await,
            RevertStep::HttpDelete { url } => self.sim.revert_delete(url).await,
        }
    }

    /// Reverts experiment `id`. Reverting one that is no longer active returns it
    /// unchanged.
    ///
    /// # Guarantees
    ///
    /// Runs every revert step even when one fails; steps that find nothing to undo
    /// succeed. The experiment becomes [`ExperimentState::Reverted`] only when all
    /// steps succeeded; otherwise it stays active with the error recorded, and the next
    /// revert retries every step. Helpers of the experiment are removed either way.
    ///
    /// # Errors
    ///
    /// [`ChaosError::UnknownExperiment`], store failures, or the first failed step.
    pub async fn revert(&self, id: &str) -> Result<Experiment, ChaosError> {
        let mut exp = self.get(id)?;
        if !exp.is_active() {
            return Ok(exp);
        }
        let result = self.run_steps(&exp.id, &exp.revert_info).await;
        self.sweep_helpers(&exp.id).await;
        // Another process may have finished it meanwhile; keep its record.
        if let Ok(latest) = self.get(id) {
            if !latest.is_active() {
                return Ok(latest);
            }
        }
        match result {
            Ok(()) => {
                exp.state = ExperimentState::Reverted;
                exp.ended_at = Some(SystemTime::now());
                exp.error = None;
                self.store.put(&exp)?;
                tracing::info!(experiment = %exp.id, fault = exp.fault.name(), "chaos reverted");
                Ok(exp)
            }
            Err(e) => {
                exp.error = Some(format!("revert failed: {e}"));
                self.store.put(&exp)?;
                Err(e)
            }
        }
    }

    async fn revert_where(&self, pick: impl Fn(&Experiment) -> bool) -> RevertReport {
        let mut report = RevertReport::default();
        let candidates = match self.list() {
            Ok(all) => all,
            Err(e) => {
                report.failed.push(("*".into(), e));
                return report;
            }
        };
        for exp in candidates.into_iter().filter(|e| e.is_active() && pick(e)) {
            match self.revert(&exp.id).await {
                Ok(done) => report.reverted.push(done),
                Err(e) => report.failed.push((exp.id, e)),
            }
        }
        report
    }

    /// Reverts every active experiment of this cluster.
    pub async fn revert_all(&self) -> RevertReport {
        self.revert_where(|_| true).await
    }

    /// Reverts active experiments whose planned end is at or before `now`.
    pub async fn revert_expired(&self, now: SystemTime) -> RevertReport {
        self.revert_where(|e| e.is_expired(now)).await
    }

    /// Start-up recovery: reverts experiments past their end and those whose holding
    /// process died (a CLI killed while waiting out the duration).
    pub async fn recover(&self, now: SystemTime) -> RevertReport {
        self.revert_where(|e| {
            e.is_expired(now) || e.holder.as_ref().is_some_and(|h| !process::holder_alive(h))
        })
        .await
    }

    /// Reverts experiments as they expire until `shutdown` fires, checking every
    /// `tick`; runs [`Chaos::recover`] first. Failed reverts are logged and retried on
    /// the next tick.
    pub async fn run_reverter(&self, shutdown: CancellationToken, tick: Duration) {
        loop {
            let report = self.recover(SystemTime::now()).await;
            for (id, e) in &report.failed {
                tracing::warn!(experiment = %id, error = %e, "chaos revert failed; retrying");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(tick) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
