//! The TiKV subject: observe PD + Docker, plan with [`super::plan::plan`], apply steps.
//!
//! PD is reached through the [`PdApi`] port so the apply logic can be exercised against
//! any PD (the real one, the simulator, or a test double); the production adapter is
//! the tower-based `PdClient` in [`super::pd`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

use super::model::PdView;
use super::plan::{plan, Memory, Observed, Plan, Step};
use super::topology::{Component, Names, PD_CLIENT_PORT};
use crate::runtime::{labels, ContainerRuntime, ContainerStatus, Owned};
use crate::spec::{ClusterSpec, ValidationContext};
use crate::subject::{Subject, SubjectError};

/// The PD operations the controller needs.
#[async_trait::async_trait]
pub trait PdApi: Send + Sync {
    /// Gathers PD's view of the cluster.
    async fn observe(&self) -> Result<PdView, String>;
    /// `DELETE /pd/api/v1/store/{id}`.
    async fn delete_store(&self, id: u64) -> Result<(), String>;
    /// `POST /pd/api/v1/store/{id}/state?state=Up`.
    async fn set_store_up(&self, id: u64) -> Result<(), String>;
    /// Adds the evict-leader scheduler for a store.
    async fn add_evict_leader(&self, id: u64) -> Result<(), String>;
    /// Removes the evict-leader scheduler for a store (gone already is success).
    async fn remove_evict_leader(&self, id: u64) -> Result<(), String>;
    /// Removes a PD member by name.
    async fn delete_member(&self, name: &str) -> Result<(), String>;
    /// Transfers PD leadership to a member.
    async fn transfer_leader(&self, name: &str) -> Result<(), String>;
}

/// Builds a PD client for a list of endpoints (client URLs).
pub(crate) type PdFactory = Arc<dyn Fn(Vec<String>) -> Arc<dyn PdApi> + Send + Sync>;

/// How long one PD observation may take before the pass treats PD as unreachable.
pub(crate) const PD_OBSERVE_TIMEOUT: Duration = Duration::from_secs(4);

/// A PD client and the endpoints it was built for.
type CachedPd = (Vec<String>, Arc<dyn PdApi>);

/// The TiKV subject for one cluster.
pub struct TikvSubject {
    spec: Mutex<Arc<ClusterSpec>>,
    spec_path: Option<PathBuf>,
    runtime: Arc<dyn ContainerRuntime>,
    pd_factory: PdFactory,
    pd_override: Option<Vec<String>>,
    pd_cache: Mutex<Option<CachedPd>>,
    memory: Mutex<Memory>,
    monitor: super::monitor::MonitorState,
}

impl TikvSubject {
    /// A subject for `spec` (read from `spec_path` when given, for reloads).
    pub fn new(
        spec: ClusterSpec,
        spec_path: Option<PathBuf>,
        runtime: Arc<dyn ContainerRuntime>,
        pd_factory: PdFactory,
    ) -> Self {
        Self {
            spec: Mutex::new(Arc::new(spec)),
            spec_path,
            runtime,
            pd_factory,
            pd_override: None,
            pd_cache: Mutex::new(None),
            memory: Mutex::new(Memory::default()),
            monitor: super::monitor::MonitorState::default(),
        }
    }

    /// Uses these PD endpoints instead of the PD containers' addresses.
    pub(crate) fn with_pd_endpoints(mut self, endpoints: Vec<String>) -> Self {
        self.pd_override = Some(endpoints);
        self
    }

    /// The spec in force.
    pub fn spec(&self) -> Arc<ClusterSpec> {
        self.spec.lock().clone()
    }

    /// Replaces the spec (tests, and the file watcher through [`Subject::reload`]).
    pub fn set_spec(&self, spec: ClusterSpec) {
        *self.spec.lock() = Arc::new(spec);
    }

    /// A PD client for the current PD endpoints (cached while they do not change).
    pub(crate) fn pd(&self, endpoints: Vec<String>) -> Arc<dyn PdApi> {
        let mut cache = self.pd_cache.lock();
        if let Some((eps, client)) = cache.as_ref() {
            if *eps == endpoints {
                return client.clone();
            }
        }
        let client = (self.pd_factory)(endpoints.clone());
        *cache = Some((endpoints, client.clone()));
        client
    }

    fn pd_endpoints(&self, observed: &crate::runtime::Owned) -> Vec<String> {
        if let Some(eps) = &self.pd_override {
            return eps.clone();
        }
        let mut running: Vec<(u32, String)> = observed
            .containers
            .iter()
            .filter(|c| {
                c.label(labels::COMPONENT) == Some(Component::Pd.as_str())
                    && c.status == ContainerStatus::Running
            })
            .filter_map(|c| {
                let ordinal = c.label(labels::ORDINAL)?.parse().ok()?;
                let ip = c.ip.clone()?;
                Some((ordinal, format!("http://{ip}:{PD_CLIENT_PORT}")))
            })
            .collect();
        running.sort();
        running.into_iter().map(|(_, u)| u).collect()
    }

    /// The last observation's PD client, for steps.
    async fn current_pd(&self) -> Result<Arc<dyn PdApi>, SubjectError> {
        let spec = self.spec();
        let owned = self
            .runtime
            .list_owned(spec.name(), &spec.network_name())
            .await?;
        let eps = self.pd_endpoints(&owned);
        if eps.is_empty() {
            return Err(SubjectError::Api {
                api: "pd",
                message: "no running PD member to talk to".into(),
            });
        }
        Ok(self.pd(eps))
    }

    /// Observes and plans (used by `diff` and `status`).
    pub(crate) async fn observe_and_plan(&self) -> Result<(Observed, Plan), SubjectError> {
        let obs = self.observe().await?;
        let p = plan(&self.spec(), &obs, SystemTime::now());
        Ok((obs, p))
    }
}

/// The hash (see [`super::topology::targets_hash`]) of the PD and TiKV targets in the
/// scrape-target files inside the cluster's Prometheus container; `None` when there is
/// no Prometheus container or a file cannot be read (then the planner falls back to the
/// container's creation-time label, at worst rewriting the same files once).
async fn written_targets_hash(
    runtime: &dyn ContainerRuntime,
    spec: &ClusterSpec,
    owned: &Owned,
) -> Option<String> {
    let prom = owned
        .containers
        .iter()
        .find(|c| c.label(labels::COMPONENT) == Some(Component::Prometheus.as_str()))?;
    let topo = super::topology::Topology::new(spec);
    let mut ordinals = Vec::new();
    for file in topo.scrape_targets(&[], &[]) {
        let bytes = runtime
            .download(spec.name(), &prom.name, &file.path)
            .await
            .ok()??;
        ordinals.push(super::topology::ordinals_in_targets_file(&bytes)?);
    }
    let [pd, tikv] = <[Vec<u32>; 2]>::try_from(ordinals).ok()?;
    Some(super::topology::targets_hash(spec.name(), &pd, &tikv))
}

fn pd_err(message: String) -> SubjectError {
    SubjectError::Api { api: "pd", message }
}

#[async_trait::async_trait]
impl Subject for TikvSubject {
    type Observed = Observed;
    type Step = Step;
    type Snapshot = super::snapshot::TikvSnapshot;

    fn kind(&self) -> &'static str {
        "tikv"
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
        let now = SystemTime::now();
        let owned = self
            .runtime
            .list_owned(spec.name(), &spec.network_name())
            .await?;
        let eps = self.pd_endpoints(&owned);
        let (pd, pd_error) = if eps.is_empty() {
            (None, Some("no running PD member".to_string()))
        } else {
            let client = self.pd(eps);
            match tokio::time::timeout(PD_OBSERVE_TIMEOUT, client.observe()).await {
                Ok(Ok(view)) => (Some(view), None),
                Ok(Err(e)) => (None, Some(e)),
                Err(_) => (
                    None,
                    Some(format!("PD did not answer within {PD_OBSERVE_TIMEOUT:?}")),
                ),
            }
        };
        let mut memory = {
            let mut m = self.memory.lock();
            m.observe(pd.as_ref(), now);
            m.clone()
        };
        if memory.scrape_targets_hash.is_none() {
            // A fresh process does not know what it (or a predecessor) last wrote into
            // Prometheus: read the files back once rather than trusting the container's
            // creation-time label, so `diff` and restarts stay idempotent.
            if let Some(hash) = written_targets_hash(&*self.runtime, &spec, &owned).await {
                self.memory
                    .lock()
                    .scrape_targets_hash
                    .get_or_insert_with(|| hash.clone());
                memory.scrape_targets_hash = Some(hash);
            }
        }
        Ok(Observed {
            at: Some(now),
            owned,
            pd,
            pd_error,
            memory,
        })
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
            Step::CreateContainer { spec: c, .. } => {
                rt.create_and_start(c).await?;
            }
            Step::RecreateContainer { spec: c, .. } => {
                rt.remove(&cluster, &c.name).await?;
                rt.create_and_start(c).await?;
            }
            Step::RestartContainer { member, .. } => {
                rt.restart(&cluster, &names.container(member)).await?
            }
            Step::RemoveContainer { member, .. } => {
                rt.remove(&cluster, &names.container(member)).await?
            }
            Step::RemoveVolume { name, .. } => rt.remove_volume(&cluster, name).await?,
            Step::WriteScrapeTargets { files, .. } => {
                rt.upload(&cluster, &names.container("prometheus"), files)
                    .await?
            }
            Step::DeleteStore { store_id, .. } => self
                .current_pd()
                .await?
                .delete_store(*store_id)
                .await
                .map_err(pd_err)?,
            Step::CancelStoreDelete { store_id, .. } => self
                .current_pd()
                .await?
                .set_store_up(*store_id)
                .await
                .map_err(pd_err)?,
            Step::AddEvictLeader { store_id, .. } => self
                .current_pd()
                .await?
                .add_evict_leader(*store_id)
                .await
                .map_err(pd_err)?,
            Step::RemoveEvictLeader { store_id, .. } => self
                .current_pd()
                .await?
                .remove_evict_leader(*store_id)
                .await
                .map_err(pd_err)?,
            Step::TransferPdLeader { to, .. } => self
                .current_pd()
                .await?
                .transfer_leader(to)
                .await
                .map_err(pd_err)?,
            Step::DeletePdMember { name } => self
                .current_pd()
                .await?
                .delete_member(name)
                .await
                .map_err(pd_err)?,
        }
        self.memory.lock().record(step, SystemTime::now());
        Ok(())
    }

    async fn snapshot(
        &self,
        events: &[crate::runtime::RuntimeEvent],
    ) -> Result<Self::Snapshot, SubjectError> {
        let observed = self.observe().await?;
        let spec = self.spec();
        Ok(super::monitor::build(&spec, &observed, events, &*self.runtime, &self.monitor).await)
    }

    fn evaluate(&self, snapshot: &Self::Snapshot) -> (Vec<crate::tickets::Violation>, Vec<String>) {
        let spec = self.spec();
        // Thresholds were validated when the spec was loaded; an invalid map falls back
        // to the defaults rather than silencing every invariant.
        let thresholds =
            super::invariants::Thresholds::from_spec(&spec.spec.invariants).unwrap_or_default();
        let e = super::invariants::evaluate(snapshot, &thresholds);
        (e.violations, e.holding)
    }

    fn dependencies(
        &self,
        snapshot: &Self::Snapshot,
    ) -> Vec<(
        &'static str,
        crate::reconcile::deps::Criticality,
        Option<String>,
    )> {
        use crate::reconcile::deps::Criticality;
        let mut out = Vec::new();
        match (&snapshot.pd, &snapshot.pd_error) {
            (Some(_), _) => out.push(("pd", Criticality::Critical, None)),
            (None, Some(e)) => out.push(("pd", Criticality::Critical, Some(e.clone()))),
            (None, None) => {}
        }
        match (&snapshot.metrics, &snapshot.prometheus_error) {
            (Some(_), _) => out.push(("prometheus", Criticality::Auxiliary, None)),
            (None, Some(e)) => out.push(("prometheus", Criticality::Auxiliary, Some(e.clone()))),
            (None, None) => {}
        }
        out
    }

    async fn reload(&self) -> Result<bool, SubjectError> {
        let Some(path) = &self.spec_path else {
            return Ok(false);
        };
        let loaded = crate::spec::load_file(path, ValidationContext { new_cluster: false })?;
        let mut cur = self.spec.lock();
        if **cur == loaded.spec {
            return Ok(false);
        }
        if cur.name() != loaded.spec.name() {
            return Err(SubjectError::Api {
                api: "spec",
                message: format!(
                    "metadata.name changed from {:?} to {:?}; a running controller manages one cluster — start another controller for the new name",
                    cur.name(),
                    loaded.spec.name()
                ),
            });
        }
        *cur = Arc::new(loaded.spec);
        Ok(true)
    }
}
