//! The etcd subject: observe Docker and every member, plan with [`super::plan::plan`],
//! apply one step, and take the monitoring snapshots the invariants read.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

use super::client::{EtcdClient, EtcdClientError};
use super::model::{ClusterView, MemberProbe, Memory, Observed};
use super::plan::{plan, Plan, Step};
use super::snapshot::{EtcdSnapshot, History, MemberSample, MetricsSample};
use super::spec::EtcdClusterSpec;
use super::topology::{Names, CLIENT_PORT};
use crate::runtime::{ContainerRuntime, ContainerStatus, RuntimeEvent};
use crate::subject::{Subject, SubjectError};
use crate::tickets::{EventEvidence, LogEvidence};

/// How long runtime events stay in the snapshot's evidence.
const EVENT_MEMORY: Duration = Duration::from_secs(600);

/// How long a fresh cluster may go without a leader before that is a fault.
const BOOTSTRAP_WINDOW: Duration = Duration::from_secs(60);

/// The etcd subject for one cluster.
pub struct EtcdSubject {
    spec: Mutex<Arc<EtcdClusterSpec>>,
    spec_path: Option<PathBuf>,
    runtime: Arc<dyn ContainerRuntime>,
    client: EtcdClient,
    memory: Mutex<Memory>,
    history: Mutex<History>,
    events: Mutex<VecDeque<RuntimeEvent>>,
    leader_seen: std::sync::atomic::AtomicBool,
}

fn api_err(e: EtcdClientError) -> SubjectError {
    SubjectError::Api {
        api: "etcd",
        message: e.to_string(),
    }
}

impl EtcdSubject {
    /// A subject for `spec` (re-read from `spec_path` on reload). Must be called inside
    /// a Tokio runtime (the HTTP stack spawns its buffer worker).
    ///
    /// # Errors
    ///
    /// [`SubjectError::Api`] when the HTTP client cannot be built.
    pub fn new(
        spec: EtcdClusterSpec,
        spec_path: Option<PathBuf>,
        runtime: Arc<dyn ContainerRuntime>,
    ) -> Result<Self, SubjectError> {
        Ok(Self {
            spec: Mutex::new(Arc::new(spec)),
            spec_path,
            runtime,
            client: EtcdClient::new().map_err(api_err)?,
            memory: Mutex::new(Memory::default()),
            history: Mutex::new(History::default()),
            events: Mutex::new(VecDeque::new()),
            leader_seen: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The spec in force.
    pub fn spec(&self) -> Arc<EtcdClusterSpec> {
        self.spec.lock().clone()
    }

    /// Replaces the spec (tests).
    pub fn set_spec(&self, spec: EtcdClusterSpec) {
        *self.spec.lock() = Arc::new(spec);
    }

    /// The etcd client.
    pub fn client(&self) -> &EtcdClient {
        &self.client
    }

    /// Observes and plans (`diff`, `status`).
    ///
    /// # Errors
    ///
    /// As [`Subject::observe`].
    pub async fn observe_and_plan(&self) -> Result<(Observed, Plan), SubjectError> {
        let obs = self.observe().await?;
        let p = plan(&self.spec(), &obs, SystemTime::now());
        Ok((obs, p))
    }

    /// Client URLs (by container IP) of running members, by ordinal.
    pub fn endpoints(obs: &Observed) -> BTreeMap<u32, String> {
        obs.containers()
            .into_iter()
            .filter(|(_, c)| c.status == ContainerStatus::Running)
            .filter_map(|(o, c)| Some((o, format!("http://{}:{CLIENT_PORT}", c.ip.clone()?))))
            .collect()
    }

    /// The base URL of a healthy member, the leader preferred.
    pub fn any_endpoint(obs: &Observed, names: &Names) -> Option<String> {
        let eps = Self::endpoints(obs);
        let leader = obs.leader_id().and_then(|id| obs.ordinal_of_id(names, id));
        leader
            .and_then(|l| eps.get(&l).cloned())
            .or_else(|| {
                eps.iter()
                    .find(|(o, _)| obs.healthy(**o))
                    .map(|(_, e)| e.clone())
            })
            .or_else(|| eps.values().next().cloned())
    }

    async fn apply_api(&self, step: &Step) -> Result<(), SubjectError> {
        let spec = self.spec();
        let names = Names::new(spec.name());
        let obs = self.observe().await?;
        let base = Self::any_endpoint(&obs, &names).ok_or_else(|| SubjectError::Api {
            api: "etcd",
            message: "no running member to send the request to".into(),
        })?;
        match step {
            Step::AddMember { peer_url, .. } => {
                self.client
                    .member_add(&base, peer_url)
                    .await
                    .map_err(api_err)?;
            }
            Step::RemoveMember { id, .. } => {
                self.client
                    .member_remove(&base, *id)
                    .await
                    .map_err(api_err)?;
            }
            Step::MoveLeader { to_id, .. } => {
                self.client
                    .move_leader(&base, *to_id)
                    .await
                    .map_err(api_err)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Remembers that the operator itself stops member `ordinal` now.
    /// Records that the operator (re)started member `ordinal` now: its restart budget.
    fn restarted(&self, ordinal: u32) {
        self.memory
            .lock()
            .restarts
            .entry(ordinal)
            .or_default()
            .push(SystemTime::now());
    }

    fn planned_stop(&self, ordinal: u32) {
        self.memory
            .lock()
            .planned_stops
            .insert(ordinal, SystemTime::now());
    }

    async fn member_logs(&self, cluster: &str, container: &str) -> Vec<LogEvidence> {
        let Ok(lines) = self.runtime.logs(cluster, container, None, 40).await else {
            return Vec::new();
        };
        let now = SystemTime::now();
        let notable: Vec<&crate::runtime::LogLine> = lines
            .iter()
            .filter(|l| {
                ["\"warn\"", "\"error\"", "\"fatal\"", "\"panic\""]
                    .iter()
                    .any(|lvl| l.text.contains(lvl))
            })
            .collect();
        notable
            .iter()
            .rev()
            .take(5)
            .rev()
            .map(|l| LogEvidence {
                source: container.to_string(),
                at: now,
                line: l.text.chars().take(400).collect(),
            })
            .collect()
    }
}

/// A runtime event in words (`die exit_code=137`), as evidence.
pub fn event_evidence(e: &RuntimeEvent) -> EventEvidence {
    let mut what = e.raw_action.clone();
    if let Some(c) = e.exit_code {
        what.push_str(&format!(" exit_code={c}"));
    }
    if let Some(s) = &e.signal {
        what.push_str(&format!(" signal={s}"));
    }
    EventEvidence {
        source: e.container.clone(),
        at: e.time,
        what,
    }
}

#[async_trait::async_trait]
impl Subject for EtcdSubject {
    type Observed = Observed;
    type Step = Step;
    type Snapshot = EtcdSnapshot;

    fn kind(&self) -> &'static str {
        super::invariants::SUBJECT
    }

    fn cluster(&self) -> String {
        self.spec().name().to_string()
    }

    fn resync_interval(&self) -> Duration {
        self.spec().spec.reconcile.interval.get()
    }

    fn max_backoff(&self) -> Duration {
        self.spec().spec.reconcile.max_backoff.get()
    }

    fn runtime(&self) -> Arc<dyn ContainerRuntime> {
        self.runtime.clone()
    }

    async fn observe(&self) -> Result<Observed, SubjectError> {
        let spec = self.spec();
        let names = Names::new(spec.name());
        let owned = self
            .runtime
            .list_owned(spec.name(), &spec.network_name())
            .await?;
        let mut obs = Observed {
            at: Some(SystemTime::now()),
            owned,
            memory: self.memory.lock().clone(),
            ..Observed::default()
        };
        let eps = Self::endpoints(&obs);
        let probes = futures::future::join_all(eps.iter().map(|(o, base)| {
            let client = self.client.clone();
            let base = base.clone();
            async move {
                let (status, version) = tokio::join!(client.status(&base), client.version(&base));
                (*o, status, version)
            }
        }))
        .await;
        for (o, r, version) in probes {
            if let Ok(v) = version {
                obs.versions.insert(o, v);
            }
            let probe = match r {
                Ok(s) => MemberProbe {
                    status: Some(s),
                    error: None,
                },
                Err(e) => MemberProbe {
                    status: None,
                    error: Some(e.to_string()),
                },
            };
            obs.probes.insert(o, probe);
        }
        let unreachable: Vec<(u32, String)> = obs
            .containers()
            .into_iter()
            .filter(|(_, c)| c.status == ContainerStatus::Running && c.ip.is_none())
            .map(|(o, c)| (o, c.name.clone()))
            .collect();
        for (o, name) in unreachable {
            obs.probes.insert(
                o,
                MemberProbe {
                    status: None,
                    error: Some(format!(
                        "{name} has no address on network {} (disconnected)",
                        spec.network_name()
                    )),
                },
            );
        }
        match Self::any_endpoint(&obs, &names) {
            None => obs.cluster_error = Some("no member container runs".into()),
            Some(base) => match self.client.member_list(&base).await {
                Ok(list) => {
                    let alarms = self
                        .client
                        .alarms(&base)
                        .await
                        .map(|a| a.alarms)
                        .unwrap_or_default();
                    obs.cluster = Some(ClusterView {
                        members: list.members,
                        alarms,
                    });
                }
                Err(e) => obs.cluster_error = Some(e.to_string()),
            },
        }
        Ok(obs)
    }

    fn plan(&self, observed: &Observed, now: SystemTime) -> Plan {
        plan(&self.spec(), observed, now)
    }

    async fn apply(&self, step: &Step) -> Result<(), SubjectError> {
        let spec = self.spec();
        let cluster = spec.name().to_string();
        let names = Names::new(&cluster);
        let rt = &self.runtime;
        match step {
            Step::CreateNetwork { spec: n, .. } => rt.create_network(n).await?,
            Step::CreateVolume { spec: v, .. } => rt.create_volume(v).await?,
            Step::CreateMember { spec: c, .. } => {
                rt.create_and_start(c).await?;
            }
            Step::RetryJoin {
                spec: c, ordinal, ..
            } => {
                rt.remove(&cluster, &c.name).await?;
                rt.create_and_start(c).await?;
                self.restarted(*ordinal);
            }
            Step::StartMember { ordinal } => {
                rt.start(&cluster, &names.container(*ordinal)).await?;
                self.restarted(*ordinal);
            }
            Step::RecreateMember {
                spec: c, ordinal, ..
            } => {
                self.planned_stop(*ordinal);
                rt.stop(&cluster, &c.name, Duration::from_secs(10)).await?;
                rt.remove(&cluster, &c.name).await?;
                rt.create_and_start(c).await?;
            }
            Step::RemoveContainer { ordinal } => {
                self.planned_stop(*ordinal);
                let name = names.container(*ordinal);
                rt.stop(&cluster, &name, Duration::from_secs(10)).await?;
                rt.remove(&cluster, &name).await?;
            }
            Step::RemoveVolume { name, .. } => rt.remove_volume(&cluster, name).await?,
            Step::AddMember { .. } | Step::RemoveMember { .. } | Step::MoveLeader { .. } => {
                self.apply_api(step).await?
            }
        }
        Ok(())
    }

    async fn snapshot(&self, events: &[RuntimeEvent]) -> Result<EtcdSnapshot, SubjectError> {
        let observed = self.observe().await?;
        let spec = self.spec();
        let names = Names::new(spec.name());
        let now = SystemTime::now();
        let recent: Vec<EventEvidence> = {
            let mut buf = self.events.lock();
            buf.extend(events.iter().cloned());
            while buf
                .front()
                .is_some_and(|e| now.duration_since(e.time).unwrap_or_default() > EVENT_MEMORY)
            {
                buf.pop_front();
            }
            buf.iter().map(event_evidence).collect()
        };
        let eps = Self::endpoints(&observed);
        let scrapes = futures::future::join_all(eps.iter().map(|(o, base)| {
            let client = self.client.clone();
            let base = base.clone();
            async move { (*o, client.metrics(&base).await) }
        }))
        .await;
        let mut metrics = BTreeMap::new();
        let mut metric_errors = BTreeMap::new();
        for (o, r) in scrapes {
            match r {
                Ok(text) => {
                    metrics.insert(o, MetricsSample::parse(&text));
                }
                Err(e) => {
                    metric_errors.insert(o, e.to_string());
                }
            }
        }
        let windows = self.history.lock().record(now, metrics.clone());
        let containers = observed.containers();
        let mut ordinals: Vec<u32> = (0..spec.spec.members).collect();
        ordinals.extend(containers.keys().copied());
        ordinals.sort_unstable();
        ordinals.dedup();
        let mut members = BTreeMap::new();
        let mut logs = Vec::new();
        for o in ordinals {
            let c = containers.get(&o);
            let state = c.map_or("absent", |c| c.status.as_str()).to_string();
            let container = names.container(o);
            let answered = observed.probes.get(&o).is_some_and(|p| p.status.is_some());
            if c.is_some() && !(state == "running" && answered) {
                logs.extend(self.member_logs(spec.name(), &container).await);
            }
            members.insert(
                o,
                MemberSample {
                    container,
                    state,
                    exit_code: c.and_then(|c| c.exit_code),
                    oom_killed: c.is_some_and(|c| c.oom_killed),
                    finished_at: c
                        .and_then(|c| c.finished_at)
                        .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
                    health: None,
                    metrics_error: metric_errors.get(&o).cloned(),
                    metrics: metrics.get(&o).cloned(),
                    window: windows.get(&o).cloned().unwrap_or_default(),
                },
            );
        }
        use std::sync::atomic::Ordering;
        if observed.leader_id().is_some() {
            self.leader_seen.store(true, Ordering::Relaxed);
        }
        let old_enough = containers.values().any(|c| {
            c.started_at
                .is_some_and(|t| now.duration_since(t).unwrap_or_default() > BOOTSTRAP_WINDOW)
        });
        let bootstrapped = self.leader_seen.load(Ordering::Relaxed) || old_enough;
        Ok(EtcdSnapshot {
            bootstrapped,
            at: now,
            cluster: spec.name().to_string(),
            desired_members: spec.spec.members,
            expected_version: spec.spec.version.clone(),
            observed,
            members,
            events: recent,
            logs,
        })
    }

    fn evaluate(&self, snapshot: &EtcdSnapshot) -> (Vec<crate::tickets::Violation>, Vec<String>) {
        let spec = self.spec();
        let e = super::invariants::evaluate(snapshot, &spec.spec.invariants);
        (e.violations, e.holding)
    }

    fn dependencies(
        &self,
        snapshot: &EtcdSnapshot,
    ) -> Vec<(
        &'static str,
        crate::reconcile::deps::Criticality,
        Option<String>,
    )> {
        use crate::reconcile::deps::Criticality;
        vec![(
            "etcd",
            Criticality::Critical,
            snapshot.observed.cluster_error.clone(),
        )]
    }

    async fn reload(&self) -> Result<bool, SubjectError> {
        let Some(path) = &self.spec_path else {
            return Ok(false);
        };
        let loaded = super::spec::load_file(path)?;
        let mut cur = self.spec.lock();
        if **cur == loaded.spec {
            return Ok(false);
        }
        if cur.name() != loaded.spec.name() {
            return Err(SubjectError::Api {
                api: "spec",
                message: format!(
                    "metadata.name changed from {:?} to {:?}; a running controller manages one cluster",
                    cur.name(),
                    loaded.spec.name()
                ),
            });
        }
        *cur = Arc::new(loaded.spec);
        Ok(true)
    }
}
