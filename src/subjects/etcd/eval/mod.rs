//! etcd's evaluation harness: each run converges a real etcd cluster on Docker
//! (`operator-etcd:<version>`, `make images-etcd`) from the scenario's shape, lets it
//! settle, injects the faults through the etcd chaos functions, and is observed and
//! diagnosed by the core's runner ([`crate::eval::runner`]) exactly as `operator run`
//! observes it: [`EtcdSubject`]'s snapshot and invariants, the Docker events of the
//! cluster, the reconcile loop converging the spec all along (under the spec's failure
//! policy), and the diagnosis reconciler with etcd's reasoning.
//!
//! # Isolation and cleanup
//!
//! Every run has its own cluster name (`eval-etcd-<pid>-<n>`), so `--jobs N` and
//! leftovers of an earlier run cannot collide. [`EvalHarness::shutdown`] reverts the
//! chaos experiments and removes every container, network and volume labelled with
//! that cluster; if a run ends any other way (a panic, an error before shutdown), the
//! [`Cleanup`] guard does the same from its `Drop`.
//!
//! # Time
//!
//! A real cluster runs in wall time: the time factor is 1, and scenario times (`at`,
//! `duration`) are wall seconds.

pub mod scenario;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scenario::{EtcdFault, EtcdNoise, EtcdScenarios, Scenario, LEADER, MAJORITY};

use super::chaos::{fill_quota, leader, majority, recover_quota};
use super::invariants;
use super::snapshot::EtcdSnapshot;
use super::spec::{self, EtcdClusterSpec};
use super::subject::EtcdSubject;
use super::topology::Names;
use crate::chaos::{Chaos, Fault, Target};
use crate::eval::runner::RunnerConfig;
use crate::eval::score::{Entities, EntityResolver};
use crate::eval::subject::{EvalHarness, Scheduled, TargetResolved};
use crate::eval::EvalError;
use crate::reconcile::deps::Criticality;
use crate::reconcile::{Controller, Metrics};
use crate::runtime::{ContainerRuntime, RuntimeEvent};
use crate::subject::{Subject, SubjectError};
use crate::tickets::monitor::{EventInbox, Monitored};
use crate::tickets::Violation;

/// Clusters started by this process (the `<n>` of `eval-etcd-<pid>-<n>`).
static CLUSTERS: AtomicU64 = AtomicU64::new(0);

/// How long a run's experiments are recorded for when the scenario gives no duration
/// (the run reverts them at its end anyway).
const UNTIL_THE_END: Duration = Duration::from_secs(3600);

/// One thing to do during the fault phase.
#[derive(Debug, Clone)]
pub enum Action {
    /// Inject fault `index` of the scenario.
    Inject(usize, EtcdFault),
    /// Revert fault `index`.
    Revert(usize, EtcdFault),
    /// Planned work: the spec changes and the operator rolls it out.
    Noise(EtcdNoise),
}

/// A real etcd cluster for one run.
pub struct EtcdHarness {
    subject: Arc<EtcdSubject>,
    controller: Controller<EtcdSubject>,
    chaos: Chaos,
    inbox: EventInbox,
    watcher: tokio::task::JoinHandle<()>,
    looping: Option<(
        tokio::task::JoinHandle<()>,
        tokio::sync::watch::Sender<bool>,
    )>,
    /// Experiment ids per scenario fault.
    experiments: BTreeMap<usize, Vec<String>>,
    quota_filled: bool,
    cleanup: Cleanup,
}

/// Removes everything a run's cluster owns (containers, network, volumes, chaos
/// helpers) when dropped while armed: a run that ends by a panic or an early error
/// leaves nothing behind.
pub struct Cleanup {
    cluster: String,
    network: String,
    state_dir: PathBuf,
    armed: bool,
}

impl Cleanup {
    fn new(cluster: &str, network: &str) -> Result<Self, EvalError> {
        let state_dir = std::env::temp_dir().join(format!("operator-{cluster}"));
        std::fs::create_dir_all(&state_dir)
            .map_err(|e| EvalError::Io(format!("{}: {e}", state_dir.display())))?;
        Ok(Self {
            cluster: cluster.to_string(),
            network: network.to_string(),
            state_dir,
            armed: true,
        })
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.armed {
            let (cluster, network) = (self.cluster.clone(), self.network.clone());
            // A fresh runtime on its own thread: this may run while a Tokio runtime
            // unwinds, where blocking on the current one is not allowed.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(d) = crate::runtime::docker::DockerRuntime::connect().await {
                        let _ = teardown(&d, &cluster, &network).await;
                    }
                });
            })
            .join();
        }
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// Removes every container, network and volume labelled with `cluster`.
async fn teardown(
    rt: &dyn ContainerRuntime,
    cluster: &str,
    network: &str,
) -> Result<(), EvalError> {
    let err = |e: crate::runtime::RuntimeError| EvalError::Io(format!("teardown {cluster}: {e}"));
    let owned = rt.list_owned(cluster, network).await.map_err(err)?;
    for c in &owned.containers {
        rt.remove(cluster, &c.name).await.map_err(err)?;
    }
    for n in &owned.networks {
        rt.remove_network(cluster, &n.name).await.map_err(err)?;
    }
    for v in &owned.volumes {
        rt.remove_volume(cluster, &v.name).await.map_err(err)?;
    }
    Ok(())
}

fn spec_for(name: &str, shape: &scenario::EtcdShape) -> Result<EtcdClusterSpec, EvalError> {
    let quota = shape
        .quota_backend_bytes
        .map(|q| format!("  quotaBackendBytes: {q}\n"))
        .unwrap_or_default();
    spec::parse_str(
        &format!(
            "apiVersion: tikv-operator.dev/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: {name}\nspec:\n  members: {}\n{quota}",
            shape.members
        ),
        "eval",
    )
    .map_err(|e| EvalError::Spec(e.to_string()))
}

fn inject_err(e: impl std::fmt::Display) -> EvalError {
    EvalError::Inject(e.to_string())
}

impl EtcdHarness {
    /// The subject under evaluation.
    pub fn subject(&self) -> &Arc<EtcdSubject> {
        &self.subject
    }

    /// Converges until the controller reports converged with a leader, or times out.
    async fn converge(&self, timeout: Duration) -> Result<(), EvalError> {
        let started = Instant::now();
        loop {
            let r = self.controller.reconcile_once(&|_| {}).await;
            if r.is_ok() && self.controller.status().converged {
                let obs = self
                    .subject
                    .observe()
                    .await
                    .map_err(|e| EvalError::Sim(e.to_string()))?;
                if obs.leader_id().is_some() {
                    return Ok(());
                }
            }
            if started.elapsed() > timeout {
                return Err(EvalError::Sim(format!(
                    "{} did not converge within {timeout:?}: {r:?} {:?}",
                    self.subject.spec().name(),
                    self.controller.status()
                )));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The member a scenario target names now (`leader` resolved).
    async fn member_now(&self, member: &str) -> Result<String, EvalError> {
        if member != LEADER {
            let o = scenario::ordinal(member)
                .ok_or_else(|| EvalError::Inject(format!("{member:?} names no member")))?;
            return Ok(Names::member(o));
        }
        let obs = self.subject.observe().await.map_err(inject_err)?;
        leader(&obs, &Names::new(self.subject.spec().name())).ok_or_else(|| {
            EvalError::Inject("no member reports a leader: `leader` names nobody".into())
        })
    }

    async fn inject(&mut self, i: usize, f: &EtcdFault) -> Result<Vec<TargetResolved>, EvalError> {
        let mut resolved = Vec::new();
        let mut ids = Vec::new();
        match f {
            EtcdFault::Kill { member } if member == MAJORITY => {
                let obs = self.subject.observe().await.map_err(inject_err)?;
                for v in majority(&obs, &Names::new(self.subject.spec().name())) {
                    let e = self
                        .chaos
                        .inject(
                            &Target::Member(v),
                            Fault::Kill {
                                restart_on_revert: false,
                            },
                            UNTIL_THE_END,
                        )
                        .await
                        .map_err(inject_err)?;
                    ids.push(e.id);
                }
            }
            EtcdFault::DiskFill { ratio, .. } => {
                let obs = self.subject.observe().await.map_err(inject_err)?;
                self.quota_filled = true;
                fill_quota(&self.subject, &obs, *ratio)
                    .await
                    .map_err(inject_err)?;
            }
            EtcdFault::SlowDisk { member, write_iops } => {
                // The core's blkio throttle of the member's data device (`chaos/blkio.rs`):
                // refused with its reason where the host cannot do it (cgroup v2, no block
                // device), and then the run fails with that reason, never scored.
                let victim = self.member_now(member).await?;
                let e = self
                    .chaos
                    .inject(
                        &Target::Member(victim),
                        Fault::DiskThrottle {
                            write_iops: Some(*write_iops),
                            write_bps: None,
                        },
                        UNTIL_THE_END,
                    )
                    .await
                    .map_err(|e| EvalError::Inject(format!("{}: {e}", f.kind())))?;
                ids.push(e.id);
            }
            EtcdFault::Kill { member } | EtcdFault::Disconnect { member } => {
                let victim = self.member_now(member).await?;
                if member == LEADER {
                    let (category, _) =
                        <EtcdScenarios as crate::eval::scenario::ScenarioSchema>::implied_cause(f);
                    resolved.push(TargetResolved {
                        category: category.to_string(),
                        from: LEADER.into(),
                        to: victim.clone(),
                    });
                }
                let fault = match f {
                    EtcdFault::Kill { .. } => Fault::Kill {
                        restart_on_revert: false,
                    },
                    _ => Fault::Disconnect,
                };
                let e = self
                    .chaos
                    .inject(&Target::Member(victim), fault, UNTIL_THE_END)
                    .await
                    .map_err(|e| EvalError::Inject(format!("{}: {e}", f.kind())))?;
                ids.push(e.id);
            }
        }
        self.experiments.insert(i, ids);
        Ok(resolved)
    }

    async fn revert(&mut self, i: usize, f: &EtcdFault) -> Result<(), EvalError> {
        if let EtcdFault::DiskFill { .. } = f {
            let obs = self.subject.observe().await.map_err(inject_err)?;
            recover_quota(&self.subject, &obs)
                .await
                .map_err(inject_err)?;
            self.quota_filled = false;
        }
        for id in self.experiments.remove(&i).unwrap_or_default() {
            self.chaos.revert(&id).await.map_err(inject_err)?;
        }
        Ok(())
    }
}

/// etcd's entities: members by name, container name or member id, and the cluster.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EtcdEntities {
    /// Members.
    pub members: u32,
    /// Member ids (as etcd reports them, decimal) by member name.
    pub ids: BTreeMap<String, u64>,
}

impl EntityResolver for EtcdEntities {
    fn resolve(&self, name: &str) -> Option<String> {
        let n = name.trim();
        if n == "cluster" {
            return Some(n.to_string());
        }
        if let Some(o) = scenario::ordinal(n).filter(|o| *o < self.members) {
            return Some(Names::member(o));
        }
        let id = u64::from_str_radix(n.trim_start_matches("0x"), 16)
            .ok()
            .into_iter()
            .chain(n.parse::<u64>().ok());
        for id in id {
            if let Some((m, _)) = self.ids.iter().find(|(_, v)| **v == id) {
                return Some(m.clone());
            }
        }
        None
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl Monitored for EtcdHarness {
    type Snapshot = EtcdSnapshot;

    fn kind(&self) -> &'static str {
        invariants::SUBJECT
    }

    async fn snapshot(&self, events: &[RuntimeEvent]) -> Result<EtcdSnapshot, SubjectError> {
        Subject::snapshot(&*self.subject, events).await
    }

    fn evaluate(&self, snapshot: &EtcdSnapshot) -> (Vec<Violation>, Vec<String>) {
        Subject::evaluate(&*self.subject, snapshot)
    }

    fn dependencies(
        &self,
        snapshot: &EtcdSnapshot,
    ) -> Vec<(&'static str, Criticality, Option<String>)> {
        Subject::dependencies(&*self.subject, snapshot)
    }
}

#[async_trait::async_trait]
impl EvalHarness for EtcdHarness {
    type Schema = EtcdScenarios;
    type Action = Action;

    fn runner_config(base: &RunnerConfig) -> RunnerConfig {
        RunnerConfig {
            time_factor: 1.0,
            detect_timeout: Duration::from_secs(45),
            control_window: Duration::from_secs(30),
            settle_timeout: Duration::from_secs(120),
            observe_after: Duration::from_secs(15),
            ..base.clone()
        }
    }

    async fn start(s: &Scenario, _run: usize, _cfg: &RunnerConfig) -> Result<Self, EvalError> {
        let name = format!(
            "eval-etcd-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        );
        let spec = spec_for(&name, &s.cluster)?;
        let rt: Arc<dyn ContainerRuntime> = Arc::new(
            crate::runtime::docker::DockerRuntime::connect()
                .await
                .map_err(|e| EvalError::Sim(format!("Docker: {e}")))?,
        );
        let image = spec.image();
        if !rt.image_exists(&image).await.unwrap_or(false) {
            return Err(EvalError::Sim(format!(
                "image {image} is not available locally: build it with `make images-etcd`"
            )));
        }
        let cleanup = Cleanup::new(&name, &spec.network_name())?;
        let subject = Arc::new(
            EtcdSubject::new(spec.clone(), None, rt.clone())
                .map_err(|e| EvalError::Sim(e.to_string()))?,
        );
        let chaos = Chaos::new(rt.clone(), &name, &spec.network_name(), &cleanup.state_dir)
            .map_err(|e| EvalError::Sim(e.to_string()))?;
        let inbox = EventInbox::default();
        let watcher = {
            let (rt, inbox, name) = (rt.clone(), inbox.clone(), name.clone());
            tokio::spawn(async move {
                use futures::StreamExt;
                loop {
                    let mut stream = rt.events(&name);
                    while let Some(Ok(ev)) = stream.next().await {
                        inbox.push(ev);
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        };
        let mut h = Self {
            controller: Controller::new(subject.clone(), Metrics::new()),
            subject,
            chaos,
            inbox,
            watcher,
            looping: None,
            experiments: BTreeMap::new(),
            quota_filled: false,
            cleanup,
        };
        h.converge(Duration::from_secs(90)).await?;
        // From here on the reconcile loop runs beside the monitor, as under `operator
        // run`: it rolls out spec changes and applies the failure policy.
        let (tx, rx) = tokio::sync::watch::channel(false);
        let c = h.controller.clone();
        let task = tokio::spawn(async move {
            let mut rx = rx;
            c.run(async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await
        });
        h.looping = Some((task, tx));
        Ok(h)
    }

    async fn settle(&self, cfg: &RunnerConfig) -> Result<(), EvalError> {
        let deadline = Instant::now() + cfg.settle_timeout;
        let members = self.subject.spec().spec.members;
        let mut clean = 0;
        loop {
            let events = self.inbox.take();
            let snap = Subject::snapshot(&*self.subject, &events)
                .await
                .map_err(|e| EvalError::Settle(e.to_string()))?;
            let (violations, _) = Subject::evaluate(&*self.subject, &snap);
            let answering = snap
                .members
                .values()
                .filter(|m| m.state == "running" && m.metrics.is_some())
                .count() as u32;
            let leader = snap.observed.leader_id().is_some();
            if violations.is_empty() && answering == members && leader && snap.bootstrapped {
                clean += 1;
                if clean >= 2 {
                    return Ok(());
                }
            } else {
                clean = 0;
            }
            if Instant::now() > deadline {
                let v: Vec<String> = violations
                    .iter()
                    .map(|v| format!("{} on {}: {}", v.invariant, v.target, v.summary))
                    .collect();
                let logs: Vec<String> = snap
                    .logs
                    .iter()
                    .rev()
                    .take(2)
                    .map(|l| format!("{}: {}", l.source, l.line))
                    .collect();
                return Err(EvalError::Settle(format!(
                    "{answering} of {members} members answer, leader: {leader}, violations: [{}], last log lines of members that do not answer: [{}]",
                    v.join("; "),
                    logs.join(" | ")
                )));
            }
            tokio::time::sleep(cfg.interval()).await;
        }
    }

    fn cluster(&self) -> String {
        self.subject.spec().name().to_string()
    }

    /// etcd's read-only tools on the run's real members, with the containers read
    /// through the runtime: what `operator run` offers a model.
    async fn toolbox(&self) -> Option<Arc<dyn crate::diagnose::investigate::Toolbox>> {
        let spec = self.subject.spec();
        let tools = crate::subjects::diagnosis(super::invariants::SUBJECT).tools?;
        Some(tools(
            spec.name(),
            &spec.network_name(),
            Some(crate::runtime::readonly::ContainerReader::new(
                crate::subject::Subject::runtime(&*self.subject),
            )),
        ))
    }

    async fn entities(&self) -> Entities {
        let spec = self.subject.spec();
        let names = Names::new(spec.name());
        let mut out = EtcdEntities {
            members: spec.spec.members,
            ids: BTreeMap::new(),
        };
        if let Ok(obs) = self.subject.observe().await {
            for o in 0..spec.spec.members {
                if let Some(m) = obs.member(&names, o) {
                    out.ids.insert(Names::member(o), m.id);
                }
            }
        }
        Entities::new(Arc::new(out))
    }

    fn inbox(&self) -> &EventInbox {
        &self.inbox
    }

    fn schedule(&self, s: &Scenario, _horizon: Duration) -> Vec<Scheduled<Action>> {
        let mut out = Vec::new();
        for (i, f) in s.faults.iter().enumerate() {
            out.push(Scheduled {
                at: f.at.0,
                action: Action::Inject(i, f.what.clone()),
                injects: Some(i),
            });
            if let Some(d) = f.duration {
                out.push(Scheduled {
                    at: f.at.0 + d.0,
                    action: Action::Revert(i, f.what.clone()),
                    injects: None,
                });
            }
        }
        for n in &s.noise {
            out.push(Scheduled {
                at: n.at.0,
                action: Action::Noise(n.what.clone()),
                injects: None,
            });
        }
        out.sort_by_key(|a| a.at);
        out
    }

    async fn apply(&mut self, a: &Action) -> Result<Vec<TargetResolved>, EvalError> {
        match a {
            Action::Inject(i, f) => self.inject(*i, f).await,
            Action::Revert(i, f) => self.revert(*i, f).await.map(|()| vec![]),
            Action::Noise(EtcdNoise::SpecChange {
                quota_backend_bytes,
            }) => {
                let mut spec = (*self.subject.spec()).clone();
                spec.spec.quota_backend_bytes = *quota_backend_bytes;
                self.subject.set_spec(spec);
                self.controller.waker().notify_one();
                Ok(vec![])
            }
        }
    }

    fn describe(a: &Action) -> String {
        match a {
            Action::Inject(_, f) => format!("fault {} on {} injected", f.kind(), f.member()),
            Action::Revert(_, f) => format!("fault {} on {} reverted", f.kind(), f.member()),
            Action::Noise(EtcdNoise::SpecChange {
                quota_backend_bytes,
            }) => format!(
                "planned: spec.quotaBackendBytes → {quota_backend_bytes} (a rolling restart)"
            ),
        }
    }

    fn detect_window(&self, cfg: &RunnerConfig) -> Duration {
        let t = &self.subject.spec().spec.invariants;
        let longest_grace = [
            t.member_down_grace.0,
            t.no_leader_grace.0,
            t.quorum_lost_grace.0,
        ]
        .into_iter()
        .max()
        .unwrap_or_default();
        cfg.detect_timeout
            .max(longest_grace + Duration::from_secs(15))
    }

    fn noise_span(&self, s: &Scenario) -> Duration {
        // A rolling restart: each member stopped, recreated and answering again.
        if s.noise.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_secs(15 * u64::from(s.cluster.members))
        }
    }

    async fn shutdown(mut self) {
        if let Some((task, tx)) = self.looping.take() {
            let _ = tx.send(true);
            let _ = task.await;
        }
        self.watcher.abort();
        if self.quota_filled {
            if let Ok(obs) = self.subject.observe().await {
                let _ = recover_quota(&self.subject, &obs).await;
            }
        }
        let _ = self.chaos.revert_all().await;
        let spec = self.subject.spec();
        if teardown(&*self.subject.runtime(), spec.name(), &spec.network_name())
            .await
            .is_ok()
        {
            self.cleanup.armed = false;
        }
    }
}
