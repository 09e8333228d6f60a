//! The in-process simulator seen through the operator's eyes: a [`SimHarness`] owns an
//! [`InProcessCluster`] and produces the same [`TikvSnapshot`] the Docker-backed monitor
//! produces, through [`monitor::build_with`] and an [`EvidenceSources`] implementation
//! that reads what the simulator really serves:
//!
//! - PD's view through the production PD client ([`PdAdapter`]);
//! - status probes: `GET /status` on each running store's loopback status port;
//! - metrics: each store's `/metrics`, scraped directly. Rates and p99s are computed
//!   between two consecutive scrapes the way PromQL's `rate` and `histogram_quantile`
//!   compute them over a window: the reference's `[1m]`, in simulated time, against the
//!   newest scrape at least that old (rates per simulated second, so thresholds written
//!   for a real cluster keep their meaning under a time factor);
//! - log lines: the nodes' own log buffers, parsed by the operator's log parser;
//! - "containers" and runtime events: a stopped node is reported the way Docker reports a
//!   `docker kill`ed container (state exited, exit code 137, `kill` and `die` events),
//!   because the harness is the runtime that killed it. A partition or a disk fault
//!   produces no event, as with Docker.
//!
//! Faults are injected through the simulator's own knobs (kill, partition, `/sim/v1/faults`,
//! `/sim/v1/workload`), never by editing what the operator observes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use crate::eval::EvalError;
use crate::promtext::{self, histogram_quantile, Exposition, Histogram};
use crate::runtime::{
    labels, ContainerStatus, EventAction, ObservedContainer, Owned, RuntimeEvent,
};
use crate::sim::cluster::{InProcessCluster, SimClusterConfig};
use crate::spec::ClusterSpec;
use crate::subjects::tikv::monitor::{
    self, probe_status, EvidenceSources, MonitorState, LOG_TAIL, PROBE_TIMEOUT,
};
use crate::subjects::tikv::pd_adapter::PdAdapter;
use crate::subjects::tikv::plan::{Memory, Observed};
use crate::subjects::tikv::snapshot::{
    LogFact, MetricsSample, StatusProbe, StoreMetrics, TikvSnapshot,
};
use crate::subjects::tikv::subject::{PdApi, PD_OBSERVE_TIMEOUT};
use crate::subjects::tikv::topology::Names;
use crate::tickets::monitor::EventInbox;

/// The rate window of the reference PromQL (`queries::RATE_WINDOW`, `[1m]`).
const RATE_WINDOW_SIM: Duration = Duration::from_secs(60);

/// Exit code of a process killed by SIGKILL (128 + 9), as Docker reports it.
const SIGKILL_EXIT: i64 = 137;

/// How the harness's cluster is shaped.
#[derive(Debug, Clone)]
pub(crate) struct HarnessConfig {
    /// Cluster name (members are named as the operator's topology names them).
    pub name: String,
    /// PD members.
    pub pd: usize,
    /// TiKV stores.
    pub tikv: usize,
    /// Simulated seconds per wall-clock second.
    pub time_factor: f64,
    /// Simulator seed.
    pub seed: u64,
    /// Regions at bootstrap.
    pub initial_regions: u64,
}

/// An in-process cluster plus the state the monitor keeps between snapshots.
pub struct SimHarness {
    cluster: InProcessCluster,
    cfg: HarnessConfig,
    spec: ClusterSpec,
    names: Names,
    pd: PdAdapter,
    http: reqwest::Client,
    inbox: EventInbox,
    oom: Mutex<BTreeMap<String, bool>>,
    known_ids: Mutex<BTreeMap<usize, u64>>,
    stopped: Mutex<BTreeMap<String, SystemTime>>,
    scrapes: Mutex<HashMap<usize, VecDeque<(Instant, Exposition)>>>,
    memory: Mutex<Memory>,
    state: MonitorState,
}

impl std::fmt::Debug for SimHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHarness")
            .field("name", &self.cfg.name)
            .finish()
    }
}

fn spec_for(cfg: &HarnessConfig) -> Result<ClusterSpec, EvalError> {
    let text = format!(
        "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: {}\nspec:\n  pd:\n    replicas: {}\n  tikv:\n    replicas: {}\n",
        cfg.name, cfg.pd, cfg.tikv
    );
    crate::spec::parse_only(&text, "eval").map_err(|e| EvalError::Spec(e.to_string()))
}

fn port_of(url: &str) -> &str {
    url.rsplit(':').next().unwrap_or("")
}

impl SimHarness {
    /// Starts the cluster and waits until PD has a leader and every store registered.
    pub(crate) async fn start(cfg: HarnessConfig) -> Result<Self, EvalError> {
        let spec = spec_for(&cfg)?;
        let cluster = InProcessCluster::start(SimClusterConfig {
            pd: cfg.pd,
            tikv: cfg.tikv,
            time_factor: cfg.time_factor,
            seed: cfg.seed,
            initial_regions: cfg.initial_regions,
            operator_names: Some(cfg.name.clone()),
            ..SimClusterConfig::default()
        })
        .await
        .map_err(|e| EvalError::Sim(e.to_string()))?;
        cluster
            .wait_ready(Duration::from_secs(60))
            .await
            .map_err(|e| EvalError::Sim(e.to_string()))?;
        let pd = PdAdapter::new(cluster.pd_urls());
        let http = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| EvalError::Sim(e.to_string()))?;
        Ok(Self {
            names: Names::new(&cfg.name),
            cluster,
            spec,
            pd,
            http,
            cfg,
            inbox: EventInbox::default(),
            oom: Mutex::default(),
            known_ids: Mutex::default(),
            stopped: Mutex::default(),
            scrapes: Mutex::default(),
            memory: Mutex::default(),
            state: MonitorState::default(),
        })
    }

    /// The cluster, for inspection.
    pub(crate) fn cluster(&self) -> &InProcessCluster {
        &self.cluster
    }

    /// The harness configuration.
    pub(crate) fn config(&self) -> &HarnessConfig {
        &self.cfg
    }

    /// Stops everything.
    pub(crate) async fn shutdown(self) {
        self.cluster.shutdown().await;
    }

    /// Container name of a member (`eval-tikv-1`).
    pub(crate) fn container(&self, member: &str) -> String {
        self.names.container(member)
    }

    /// The status address store `i` advertises to PD.
    pub(crate) fn tikv_status_address(&self, i: usize) -> String {
        let urls = self.cluster.tikv_status_urls();
        format!("{}-tikv-{i}:{}", self.cfg.name, port_of(&urls[i]))
    }

    /// The address store `i` advertises to PD.
    pub(crate) fn tikv_address(&self, i: usize) -> String {
        let addrs = self.cluster.tikv_addrs();
        format!("{}-tikv-{i}:{}", self.cfg.name, port_of(&addrs[i]))
    }

    /// PD's store id of TiKV `i` (from the node, 0 before registration; remembered
    /// while the node is stopped: the id belongs to its volume).
    pub(crate) fn store_id(&self, i: usize) -> Option<u64> {
        let live = self
            .cluster
            .tikv(i)
            .filter(|_| self.cluster.tikv_running(i))
            .map(|n| n.store_id())
            .filter(|id| *id > 0);
        let mut known = self.known_ids.lock();
        match live {
            Some(id) => {
                known.insert(i, id);
                Some(id)
            }
            None => known.get(&i).copied(),
        }
    }

    /// PD's view, through the production PD client.
    pub(crate) async fn pd_view(&self) -> Result<crate::subjects::tikv::model::PdView, String> {
        match tokio::time::timeout(PD_OBSERVE_TIMEOUT, self.pd.observe()).await {
            Ok(r) => r,
            Err(_) => Err(format!("PD did not answer within {PD_OBSERVE_TIMEOUT:?}")),
        }
    }

    fn labels(&self, component: &str, ordinal: usize) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                labels::MANAGED_BY.to_string(),
                labels::MANAGED_BY_VALUE.to_string(),
            ),
            (labels::CLUSTER.to_string(), self.cfg.name.clone()),
            (labels::COMPONENT.to_string(), component.to_string()),
            (labels::MEMBER.to_string(), format!("{component}-{ordinal}")),
            (labels::ORDINAL.to_string(), ordinal.to_string()),
        ])
    }

    fn container_of(&self, component: &str, ordinal: usize, running: bool) -> ObservedContainer {
        let member = format!("{component}-{ordinal}");
        let name = self.container(&member);
        let stopped = self.stopped.lock().get(&name).copied();
        let oom = !running && self.oom.lock().get(&name).copied().unwrap_or(false);
        ObservedContainer {
            id: format!("in-process-{name}"),
            name,
            image: "tikv-sim:in-process".into(),
            labels: self.labels(component, ordinal),
            status: if running {
                ContainerStatus::Running
            } else {
                ContainerStatus::Exited
            },
            exit_code: (!running).then_some(SIGKILL_EXIT),
            oom_killed: oom,
            ip: running.then(|| "127.0.0.1".to_string()),
            networks: vec![],
            started_at: None,
            finished_at: if running { None } else { stopped },
        }
    }

    /// One observation: the members as a runtime would list them, and PD's view.
    pub(crate) async fn observe(&self) -> Observed {
        let now = SystemTime::now();
        let mut containers = Vec::new();
        for i in 0..self.cluster.pd_count() {
            containers.push(self.container_of("pd", i, self.cluster.pd_running(i)));
        }
        for i in 0..self.cluster.tikv_count() {
            containers.push(self.container_of("tikv", i, self.cluster.tikv_running(i)));
        }
        let (pd, pd_error) = match self.pd_view().await {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e)),
        };
        let memory = {
            let mut m = self.memory.lock();
            m.observe(pd.as_ref(), now);
            m.clone()
        };
        Observed {
            at: Some(now),
            owned: Owned {
                containers,
                ..Owned::default()
            },
            pd,
            pd_error,
            memory,
        }
    }

    /// One monitoring snapshot, with the runtime events queued since the previous one.
    pub(crate) async fn snapshot(&self) -> TikvSnapshot {
        let events = self.inbox.take();
        self.snapshot_with(&events).await
    }

    /// One monitoring snapshot over `events` (what the monitor's round calls).
    pub(crate) async fn snapshot_with(&self, events: &[RuntimeEvent]) -> TikvSnapshot {
        let observed = self.observe().await;
        monitor::build_with(&self.spec, &observed, events, self, &self.state).await
    }

    /// The runtime events of the cluster, as the monitor's event watcher receives them.
    pub(crate) fn inbox(&self) -> &EventInbox {
        &self.inbox
    }

    fn event(
        &self,
        component: &str,
        ordinal: usize,
        action: EventAction,
        raw: &str,
        exit_code: Option<i64>,
        signal: Option<&str>,
    ) {
        self.inbox.push(RuntimeEvent {
            container: self.container(&format!("{component}-{ordinal}")),
            action,
            raw_action: raw.into(),
            exit_code,
            signal: signal.map(str::to_string),
            time: SystemTime::now(),
            labels: self.labels(component, ordinal),
        });
    }

    fn record_kill(&self, component: &str, ordinal: usize) {
        let name = self.container(&format!("{component}-{ordinal}"));
        self.stopped.lock().insert(name, SystemTime::now());
        self.event(
            component,
            ordinal,
            EventAction::Kill,
            "kill",
            None,
            Some("9"),
        );
        self.event(
            component,
            ordinal,
            EventAction::Die,
            "die",
            Some(SIGKILL_EXIT),
            None,
        );
    }

    /// The kernel's OOM killer ends TiKV `i`: Docker reports an `oom` event, then `die`
    /// with exit code 137, and the container's state says `OOMKilled`.
    pub(crate) fn oom_kill_tikv(&mut self, i: usize) {
        self.cluster.kill_tikv(i);
        let name = self.container(&format!("tikv-{i}"));
        self.stopped.lock().insert(name.clone(), SystemTime::now());
        self.oom.lock().insert(name, true);
        self.event("tikv", i, EventAction::Oom, "oom", None, None);
        self.event("tikv", i, EventAction::Die, "die", Some(SIGKILL_EXIT), None);
    }

    /// Starts TiKV `i` again on its volume (what the `restart` failure policy or a planned
    /// restart does); Docker reports `start`.
    pub(crate) async fn restart_tikv(&mut self, i: usize) -> Result<(), EvalError> {
        self.cluster
            .restart_tikv(i)
            .await
            .map_err(|e| EvalError::Inject(format!("restart tikv-{i}: {e}")))?;
        let name = self.container(&format!("tikv-{i}"));
        self.stopped.lock().remove(&name);
        self.event("tikv", i, EventAction::Start, "start", None, None);
        Ok(())
    }

    /// A planned stop (`docker stop`: SIGTERM, exit 0).
    pub(crate) fn stop_tikv(&mut self, i: usize) {
        self.cluster.kill_tikv(i);
        let name = self.container(&format!("tikv-{i}"));
        self.stopped.lock().insert(name, SystemTime::now());
        self.event("tikv", i, EventAction::Stop, "stop", None, None);
        self.event("tikv", i, EventAction::Die, "die", Some(0), None);
    }

    /// Records an operator step in the monitor's memory (planned work it did itself).
    pub(crate) fn record_step(&self, step: &crate::subjects::tikv::plan::Step) {
        self.memory.lock().record(step, SystemTime::now());
    }

    /// Kills TiKV `i` (SIGKILL semantics: its sockets close at once).
    pub(crate) fn kill_tikv(&mut self, i: usize) {
        self.cluster.kill_tikv(i);
        self.record_kill("tikv", i);
    }

    /// Kills PD member `i`.
    pub(crate) fn kill_pd(&mut self, i: usize) {
        self.cluster.kill_pd(i);
        self.record_kill("pd", i);
    }

    /// Cuts TiKV `i` off from PD (its heartbeats fail; its process keeps running).
    pub(crate) fn partition_tikv(&self, i: usize) {
        self.cluster.partition_tikv(i);
    }

    /// `PUT /sim/v1/faults` on TiKV `i`'s status port.
    pub(crate) async fn set_faults(
        &self,
        i: usize,
        body: serde_json::Value,
    ) -> Result<(), EvalError> {
        let url = format!("{}/sim/v1/faults", self.cluster.tikv_status_urls()[i]);
        self.put(&url, body).await
    }

    /// Heals TiKV `i`'s partition.
    pub(crate) fn heal_tikv(&self, i: usize) {
        self.cluster.heal_tikv(i);
    }

    /// `DELETE /sim/v1/faults` on TiKV `i`.
    pub(crate) async fn clear_faults(&self, i: usize) -> Result<(), EvalError> {
        let url = format!("{}/sim/v1/faults", self.cluster.tikv_status_urls()[i]);
        self.send(self.http.delete(&url), &url).await
    }

    /// `DELETE /sim/v1/workload` on the PD leader (back to the base workload).
    pub(crate) async fn clear_workload(&self) -> Result<(), EvalError> {
        let leader = self.cluster.pd_leader().unwrap_or(0);
        let url = format!("{}/sim/v1/workload", self.cluster.pd_urls()[leader]);
        self.send(self.http.delete(&url), &url).await
    }

    /// `POST` a PD API path on the leader with a JSON body.
    pub(crate) async fn pd_post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<(), EvalError> {
        let leader = self.cluster.pd_leader().unwrap_or(0);
        let url = format!("{}{path}", self.cluster.pd_urls()[leader]);
        self.send(self.http.post(&url).json(&body), &url).await
    }

    /// `DELETE` a PD API path on the leader.
    pub(crate) async fn pd_delete(&self, path: &str) -> Result<(), EvalError> {
        let leader = self.cluster.pd_leader().unwrap_or(0);
        let url = format!("{}{path}", self.cluster.pd_urls()[leader]);
        self.send(self.http.delete(&url), &url).await
    }

    async fn send(&self, req: reqwest::RequestBuilder, url: &str) -> Result<(), EvalError> {
        let r = req
            .send()
            .await
            .map_err(|e| EvalError::Inject(format!("{url}: {e}")))?;
        if !r.status().is_success() {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            return Err(EvalError::Inject(format!("{url}: HTTP {status}: {body}")));
        }
        Ok(())
    }

    /// A planned scale-out: one more store, started and registered, and the spec says so.
    pub(crate) async fn scale_out(&mut self) -> Result<(), EvalError> {
        let cfg = SimClusterConfig {
            pd: self.cfg.pd,
            tikv: self.cfg.tikv,
            time_factor: self.cfg.time_factor,
            seed: self.cfg.seed,
            initial_regions: self.cfg.initial_regions,
            operator_names: Some(self.cfg.name.clone()),
            ..SimClusterConfig::default()
        };
        self.cluster
            .add_tikv(&cfg)
            .await
            .map_err(|e| EvalError::Inject(format!("scale-out: {e}")))?;
        self.cfg.tikv += 1;
        self.spec = spec_for(&self.cfg)?;
        let i = self.cfg.tikv - 1;
        self.event("tikv", i, EventAction::Create, "create", None, None);
        self.event("tikv", i, EventAction::Start, "start", None, None);
        Ok(())
    }

    /// `PUT /sim/v1/workload` on the PD leader.
    pub(crate) async fn set_workload(&self, body: serde_json::Value) -> Result<(), EvalError> {
        let leader = self.cluster.pd_leader().unwrap_or(0);
        let url = format!("{}/sim/v1/workload", self.cluster.pd_urls()[leader]);
        self.put(&url, body).await
    }

    async fn put(&self, url: &str, body: serde_json::Value) -> Result<(), EvalError> {
        let r = self
            .http
            .put(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| EvalError::Inject(format!("PUT {url}: {e}")))?;
        if !r.status().is_success() {
            return Err(EvalError::Inject(format!("PUT {url}: HTTP {}", r.status())));
        }
        Ok(())
    }

    /// `GET` a PD API path on the leader (JSON).
    pub(crate) async fn pd_get(&self, path: &str) -> Result<serde_json::Value, EvalError> {
        let leader = self.cluster.pd_leader().unwrap_or(0);
        let url = format!("{}{path}", self.cluster.pd_urls()[leader]);
        let r = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| EvalError::Inject(format!("GET {url}: {e}")))?;
        r.json()
            .await
            .map_err(|e| EvalError::Inject(format!("GET {url}: {e}")))
    }

    /// Records a scrape of store `i` and returns the base of the rate window: the newest
    /// earlier scrape at least [`RATE_WINDOW_SIM`] (simulated) old, else the oldest one.
    fn window_base(
        &self,
        i: usize,
        at: Instant,
        exp: &Exposition,
    ) -> Option<(Instant, Exposition)> {
        let window = Duration::from_secs_f64(RATE_WINDOW_SIM.as_secs_f64() / self.cfg.time_factor);
        let mut all = self.scrapes.lock();
        let ring = all.entry(i).or_default();
        // Keep one scrape older than the window (the base) and everything newer.
        while ring.len() >= 2 && at.duration_since(ring[1].0) >= window {
            ring.pop_front();
        }
        let base = ring.front().cloned();
        ring.push_back((at, exp.clone()));
        base
    }
}

/// Which series of a family count (by their labels).
type LabelFilter = dyn Fn(&[(String, String)]) -> bool;

/// Sum of a histogram family's `_count` samples that pass `keep`.
fn count_sum(exp: &Exposition, family: &str, keep: &LabelFilter) -> f64 {
    exp.family(family)
        .map(|f| {
            f.histograms()
                .iter()
                .filter(|h| keep(&h.labels))
                .filter_map(|h| h.count)
                .sum()
        })
        .unwrap_or(0.0)
}

/// `histogram_quantile(q, sum(rate(family_bucket[window])) by (le))` over the window
/// between two scrapes; `None` when nothing was observed in the window or a counter
/// reset.
fn window_quantile(
    now: &Exposition,
    before: &Exposition,
    family: &str,
    keep: &LabelFilter,
    q: f64,
) -> Option<f64> {
    let merged = |e: &Exposition| {
        e.family(family)
            .map(|f| {
                let hs: Vec<Histogram> = f
                    .histograms()
                    .into_iter()
                    .filter(|h| keep(&h.labels))
                    .collect();
                Histogram::merge(&hs)
            })
            .unwrap_or_default()
    };
    let (m1, m0) = (merged(now), merged(before));
    let buckets: Vec<(f64, f64)> = m1
        .buckets
        .iter()
        .map(|(le, c)| {
            let prev = m0
                .buckets
                .iter()
                .find(|(b, _)| b == le)
                .map(|x| x.1)
                .unwrap_or(0.0);
            (*le, c - prev)
        })
        .collect();
    if buckets.iter().any(|(_, c)| *c < 0.0) || buckets.last().is_none_or(|(_, c)| *c <= 0.0) {
        return None;
    }
    histogram_quantile(q, &buckets).filter(|v| v.is_finite())
}

fn gauge_sum(exp: &Exposition, name: &str, matchers: &[(&str, &str)]) -> Option<f64> {
    let f = exp.family(name)?;
    let v: Vec<f64> = f
        .select(matchers)
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .collect();
    (!v.is_empty()).then(|| v.iter().sum())
}

fn gauge_max(exp: &Exposition, name: &str) -> Option<f64> {
    exp.family(name)?
        .samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .reduce(f64::max)
}

/// Summed and largest per-thread rate of `tikv_thread_cpu_seconds_total` between two
/// scrapes `wall` seconds apart.
fn thread_cpu_rates(
    now: &Exposition,
    before: &Exposition,
    wall: f64,
) -> (Option<f64>, Option<f64>) {
    let name = "tikv_thread_cpu_seconds_total";
    let per = |e: &Exposition| -> BTreeMap<String, f64> {
        e.family(name)
            .map(|f| {
                f.samples
                    .iter()
                    .filter(|s| s.name == name)
                    .map(|s| {
                        let key = s
                            .labels
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",");
                        (key, s.value)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (a, b) = (per(now), per(before));
    if a.is_empty() {
        return (None, None);
    }
    let rates: Vec<f64> = a
        .iter()
        .filter_map(|(k, v)| b.get(k).map(|p| ((v - p) / wall).max(0.0)))
        .collect();
    if rates.is_empty() {
        return (None, None);
    }
    (
        Some(rates.iter().sum()),
        rates.iter().copied().reduce(f64::max),
    )
}

fn not_gc(labels: &[(String, String)]) -> bool {
    !labels.iter().any(|(k, v)| k == "type" && v == "kv_gc")
}

fn any_labels(_: &[(String, String)]) -> bool {
    true
}

#[async_trait::async_trait]
impl EvidenceSources for SimHarness {
    async fn probes(&self, observed: &Observed, _names: &Names) -> Vec<StatusProbe> {
        let Some(pd) = &observed.pd else {
            return vec![];
        };
        let urls = self.cluster.tikv_status_urls();
        let mut futs = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            if !self.cluster.tikv_running(i) {
                continue;
            }
            let Some(store) = pd.store_by_address(&self.tikv_address(i)) else {
                continue;
            };
            let (store_id, address) = (store.id, self.tikv_status_address(i));
            futs.push(probe_status(
                self.http.clone(),
                format!("{url}/status"),
                store_id,
                address,
            ));
        }
        futures::future::join_all(futs).await
    }

    async fn metrics(&self, observed: &Observed) -> (Option<MetricsSample>, Option<String>) {
        let urls = self.cluster.tikv_status_urls();
        let mut per_instance = BTreeMap::new();
        for (i, url) in urls.iter().enumerate() {
            if !self.cluster.tikv_running(i) {
                self.scrapes.lock().remove(&i);
                continue;
            }
            let url = format!("{url}/metrics");
            let text = match tokio::time::timeout(PROBE_TIMEOUT, self.http.get(&url).send()).await {
                Ok(Ok(r)) if r.status().is_success() => match r.text().await {
                    Ok(t) => t,
                    Err(_) => continue,
                },
                _ => continue,
            };
            let exp = promtext::parse(&text);
            let at = Instant::now();
            let prev = self.window_base(i, at, &exp);
            let instance = self.tikv_status_address(i);
            let mut m = StoreMetrics {
                instance: instance.clone(),
                slow_score: gauge_max(&exp, "tikv_raftstore_slow_score"),
                available_bytes: gauge_sum(&exp, "tikv_store_size_bytes", &[("type", "available")]),
                capacity_bytes: gauge_sum(&exp, "tikv_store_size_bytes", &[("type", "capacity")]),
                leader_count: gauge_sum(&exp, "tikv_raftstore_region_count", &[("type", "leader")]),
                memory_bytes: gauge_sum(&exp, "process_resident_memory_bytes", &[]),
                region_count: gauge_sum(&exp, "tikv_raftstore_region_count", &[("type", "region")]),
                ..StoreMetrics::default()
            };
            if let Some((t0, before)) = &prev {
                let (t0, before) = (*t0, before);
                // Simulated seconds in the window: rates read as on a real cluster.
                let dt = at.duration_since(t0).as_secs_f64() * self.cfg.time_factor;
                let grpc = "tikv_grpc_msg_duration_seconds";
                let d = count_sum(&exp, grpc, &not_gc) - count_sum(before, grpc, &not_gc);
                if dt > 0.0 && d >= 0.0 {
                    m.qps = Some(d / dt);
                }
                m.grpc_p99_seconds = window_quantile(&exp, before, grpc, &not_gc, 0.99);
                m.append_p99_seconds = window_quantile(
                    &exp,
                    before,
                    "tikv_raftstore_append_log_duration_seconds",
                    &any_labels,
                    0.99,
                );
                m.apply_p99_seconds = window_quantile(
                    &exp,
                    before,
                    "tikv_raftstore_apply_log_duration_seconds",
                    &any_labels,
                    0.99,
                );
                m.commit_p99_seconds = window_quantile(
                    &exp,
                    before,
                    "tikv_raftstore_commit_log_duration_seconds",
                    &any_labels,
                    0.99,
                );
                m.propose_wait_p99_seconds = window_quantile(
                    &exp,
                    before,
                    "tikv_raftstore_request_wait_time_duration_secs",
                    &any_labels,
                    0.99,
                );
                m.read_pool_wait_p99_seconds = window_quantile(
                    &exp,
                    before,
                    "tikv_yatp_pool_schedule_wait_duration",
                    &any_labels,
                    0.99,
                );
                // Thread CPU is busy time per wall second in the simulator (CPU is not
                // simulated time), so its rate is taken over the wall window.
                let wall = at.duration_since(t0).as_secs_f64();
                if wall > 0.0 {
                    let (total, max) = thread_cpu_rates(&exp, before, wall);
                    m.thread_cpu_cores = total;
                    m.max_thread_cpu = max;
                }
            }
            per_instance.insert(instance, m);
        }
        if per_instance.is_empty() {
            return (None, None);
        }
        (
            Some(monitor::finish_sample(
                per_instance,
                BTreeMap::new(),
                observed,
            )),
            None,
        )
    }

    async fn logs(
        &self,
        _cluster: &str,
        observed: &Observed,
        events: &[RuntimeEvent],
    ) -> Vec<LogFact> {
        // The shipped monitor's policy (`monitor::unwell_logs`): containers named by a
        // die/oom/kill event since the last snapshot, and containers not running. A store
        // PD reports Disconnected whose container runs is not read: a deployment does not
        // collect its logs either.
        let mut targets: Vec<(String, usize)> = Vec::new();
        for c in &observed.owned.containers {
            let died = events.iter().any(|e| {
                e.container == c.name && matches!(e.raw_action.as_str(), "die" | "oom" | "kill")
            });
            if c.status != ContainerStatus::Running || died {
                if let (Some(comp), Some(o)) = (
                    c.label(labels::COMPONENT),
                    c.label(labels::ORDINAL).and_then(|o| o.parse().ok()),
                ) {
                    targets.push((comp.to_string(), o));
                }
            }
        }
        targets.sort();
        targets.dedup();
        targets.truncate(4);
        let mut out = Vec::new();
        for (component, i) in targets {
            let lines = if component == "pd" {
                self.cluster.pd_logs(i)
            } else {
                self.cluster.tikv_logs(i)
            };
            let skip = lines.len().saturating_sub(LOG_TAIL);
            let text: String = lines.iter().skip(skip).map(|l| format!("{l}\n")).collect();
            let name = self.container(&format!("{component}-{i}"));
            out.extend(monitor::log_facts(&name, &text));
        }
        out
    }
}
