//! Building a [`TikvSnapshot`]: the reconcile observation (Docker + PD) plus what the
//! invariants need beyond it — direct probes of every store's status port, Prometheus
//! metrics when a Prometheus runs, the Docker events since the last snapshot, and the
//! last log lines of containers that look unwell.
//!
//! Every source is bounded by a short timeout and is optional: a source that fails is
//! recorded (PD or Prometheus unreachable is itself an invariant), never fatal.
//!
//! # Sources
//!
//! Probes, metrics and log lines come through [`EvidenceSources`]. In production that is
//! [`DockerSources`]: status ports at container IPs, the Prometheus container, `docker
//! logs`. The scored evaluation (`crate::eval`) observes the in-process simulator with
//! its own implementation (loopback status ports, direct `/metrics` scrapes, the nodes'
//! log buffers), so the same snapshot assembly, invariants, tickets and diagnosis run
//! on evidence the simulator really serves, without Docker.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use super::logs::{classify, parse_log, LogEntry};
use super::plan::Observed;
use super::prom::queries::{self, StoreSize};
use super::prom::PromClient;
use super::snapshot::{
    update_offline_progress, ContainerFact, LogFact, MetricsSample, OfflineProgress,
    RuntimeEventFact, StatusProbe, StoreMetrics, TikvSnapshot,
};
use super::topology::{Component, Names, PROMETHEUS_PORT, TIKV_STATUS_PORT};
use crate::http::HttpConfig;
use crate::runtime::{labels, ContainerRuntime, ContainerStatus, RuntimeEvent};
use crate::spec::ClusterSpec;

/// How long a status-port probe may take.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// Log lines fetched from a container that looks unwell.
pub(crate) const LOG_TAIL: usize = 30;

/// State carried between snapshots (Offline-store progress).
#[derive(Default)]
pub struct MonitorState {
    offline: Mutex<Vec<OfflineProgress>>,
    http: Mutex<Option<reqwest::Client>>,
}

impl MonitorState {
    fn http(&self) -> reqwest::Client {
        let mut h = self.http.lock();
        h.get_or_insert_with(|| {
            reqwest::Client::builder()
                .timeout(PROBE_TIMEOUT)
                .no_proxy()
                .build()
                .unwrap_or_default()
        })
        .clone()
    }
}

/// Where a snapshot's probes, metrics and log lines come from (see the module docs).
#[async_trait::async_trait]
pub trait EvidenceSources: Send + Sync {
    /// Probes of every running store's status port.
    async fn probes(&self, observed: &Observed, names: &Names) -> Vec<StatusProbe>;
    /// Per-store metrics, or why there are none (`(None, None)`: no metrics source).
    async fn metrics(&self, observed: &Observed) -> (Option<MetricsSample>, Option<String>);
    /// Notable log lines of members that look unwell.
    async fn logs(
        &self,
        cluster: &str,
        observed: &Observed,
        events: &[RuntimeEvent],
    ) -> Vec<LogFact>;
}

/// The production sources: status ports at container IPs, the Prometheus container,
/// container logs through the runtime.
pub(crate) struct DockerSources<'a> {
    runtime: &'a dyn ContainerRuntime,
    http: reqwest::Client,
}

impl<'a> DockerSources<'a> {
    /// Sources over `runtime`, probing with `state`'s HTTP client.
    pub(crate) fn new(runtime: &'a dyn ContainerRuntime, state: &MonitorState) -> Self {
        Self {
            runtime,
            http: state.http(),
        }
    }
}

#[async_trait::async_trait]
impl EvidenceSources for DockerSources<'_> {
    async fn probes(&self, observed: &Observed, names: &Names) -> Vec<StatusProbe> {
        probe_stores(&self.http, observed, names).await
    }
    async fn metrics(&self, observed: &Observed) -> (Option<MetricsSample>, Option<String>) {
        prometheus_metrics(observed).await
    }
    async fn logs(
        &self,
        cluster: &str,
        observed: &Observed,
        events: &[RuntimeEvent],
    ) -> Vec<LogFact> {
        unwell_logs(self.runtime, cluster, observed, events).await
    }
}

/// Builds a snapshot from an observation and the events since the last snapshot.
pub(crate) async fn build(
    spec: &ClusterSpec,
    observed: &Observed,
    events: &[RuntimeEvent],
    runtime: &dyn ContainerRuntime,
    state: &MonitorState,
) -> TikvSnapshot {
    let sources = DockerSources::new(runtime, state);
    build_with(spec, observed, events, &sources, state).await
}

/// [`build`] with explicit evidence sources.
pub async fn build_with(
    spec: &ClusterSpec,
    observed: &Observed,
    events: &[RuntimeEvent],
    sources: &dyn EvidenceSources,
    state: &MonitorState,
) -> TikvSnapshot {
    let now = SystemTime::now();
    let names = Names::new(spec.name());
    let mut snap = TikvSnapshot::empty(now);
    snap.pd = observed.pd.clone();
    snap.pd_error = observed.pd_error.clone();
    snap.pd_members_expected = (0..spec.spec.pd.replicas)
        .map(|o| Names::member(Component::Pd, Some(o)))
        .collect();
    let relevant = |c: &crate::runtime::ObservedContainer| {
        matches!(c.label(labels::COMPONENT), Some("pd") | Some("tikv"))
    };
    snap.containers = observed
        .owned
        .containers
        .iter()
        .filter(|c| relevant(c))
        .map(ContainerFact::from_observed)
        .collect();
    // Members the spec wants whose container is gone entirely.
    for (component, n) in [
        (Component::Pd, spec.spec.pd.replicas),
        (Component::Tikv, spec.spec.tikv.replicas),
    ] {
        for o in 0..n {
            let member = Names::member(component, Some(o));
            if !snap.containers.iter().any(|c| c.member == member) {
                snap.containers.push(ContainerFact::missing(
                    &member,
                    &names.container(&member),
                    component.as_str(),
                ));
            }
        }
    }
    snap.events = events.iter().map(RuntimeEventFact::from_event).collect();
    snap.upgrading_store_ids = observed.memory.own_evictions.iter().copied().collect();
    if let Some(pd) = &observed.pd {
        let mut offline = state.offline.lock();
        *offline = update_offline_progress(&offline, pd, now);
        snap.offline = offline.clone();
    }

    let (probes, (metrics, prom_error), logs) = tokio::join!(
        sources.probes(observed, &names),
        sources.metrics(observed),
        sources.logs(spec.name(), observed, events),
    );
    snap.probes = probes;
    snap.metrics = metrics;
    snap.prometheus_error = prom_error;
    snap.logs = logs;
    snap
}

async fn probe_stores(
    http: &reqwest::Client,
    observed: &Observed,
    names: &Names,
) -> Vec<StatusProbe> {
    let Some(pd) = &observed.pd else {
        return vec![];
    };
    let mut futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = StatusProbe> + Send>>> =
        Vec::new();
    for c in &observed.owned.containers {
        if c.label(labels::COMPONENT) != Some("tikv") || c.status != ContainerStatus::Running {
            continue;
        }
        let Some(ordinal) = c.label(labels::ORDINAL).and_then(|o| o.parse::<u32>().ok()) else {
            continue;
        };
        let address = names.tikv_address(ordinal);
        let Some(store) = pd.store_by_address(&address) else {
            continue;
        };
        let store_id = store.id;
        let Some(ip) = c.ip.clone() else {
            // Running but without an address on the cluster network (disconnected):
            // nothing on that network can reach it, which is what the probe asks.
            let error = format!(
                "container {} has no address on network {}",
                c.name,
                observed_network(observed)
            );
            futs.push(Box::pin(async move {
                StatusProbe {
                    store_id,
                    address,
                    ok: false,
                    error: Some(error),
                    latency_ms: 0.0,
                }
            }));
            continue;
        };
        let url = format!("http://{ip}:{TIKV_STATUS_PORT}/status");
        futs.push(Box::pin(probe_status(http.clone(), url, store_id, address)));
    }
    futures::future::join_all(futs).await
}

/// One probe of a store's status port (`GET <url>`, 2xx within [`PROBE_TIMEOUT`]).
pub(crate) async fn probe_status(
    http: reqwest::Client,
    url: String,
    store_id: u64,
    address: String,
) -> StatusProbe {
    let t = Instant::now();
    let res = tokio::time::timeout(PROBE_TIMEOUT, http.get(&url).send()).await;
    let (ok, error) = match res {
        Ok(Ok(r)) if r.status().is_success() => (true, None),
        Ok(Ok(r)) => (false, Some(format!("HTTP {}", r.status()))),
        Ok(Err(e)) => (false, Some(e.to_string())),
        Err(_) => (false, Some(format!("no answer within {PROBE_TIMEOUT:?}"))),
    };
    StatusProbe {
        store_id,
        address,
        ok,
        error,
        latency_ms: t.elapsed().as_secs_f64() * 1e3,
    }
}

/// The cluster network's name, as the owned network listing shows it.
fn observed_network(observed: &Observed) -> String {
    observed
        .owned
        .networks
        .first()
        .map(|n| n.name.clone())
        .unwrap_or_else(|| "the cluster network".to_string())
}

async fn prometheus_metrics(observed: &Observed) -> (Option<MetricsSample>, Option<String>) {
    let prom = observed
        .owned
        .containers
        .iter()
        .find(|c| c.label(labels::COMPONENT) == Some("prometheus"));
    let Some(prom) = prom else {
        return (None, None);
    };
    let Some(ip) = prom
        .ip
        .clone()
        .filter(|_| prom.status == ContainerStatus::Running)
    else {
        return (
            None,
            Some(format!("Prometheus container {} is not running", prom.name)),
        );
    };
    let config = HttpConfig {
        per_attempt_timeout: Duration::from_millis(1500),
        overall_deadline: Duration::from_secs(2),
        max_retries: 0,
        max_body_bytes: super::prom::MAX_BODY_BYTES,
        ..HttpConfig::default()
    };
    let client = match PromClient::new(&format!("http://{ip}:{PROMETHEUS_PORT}"), config) {
        Ok(c) => c,
        Err(e) => return (None, Some(e.to_string())),
    };
    let wanted: Vec<(&str, String)> = vec![
        ("qps", queries::qps_by_instance()),
        ("grpc_p99", queries::grpc_p99_by_instance()),
        ("append_p99", queries::append_log_p99()),
        ("apply_p99", queries::apply_log_p99()),
        ("slow_score", queries::slow_score()),
        ("available", queries::store_size(StoreSize::Available)),
        ("capacity", queries::store_size(StoreSize::Capacity)),
        ("leaders", queries::leader_count()),
        ("regions", queries::region_count()),
        // The signals store-outlier compares across stores (the eval's harness reads the
        // same families from the simulator's /metrics).
        ("commit_p99", queries::commit_log_p99()),
        (
            "propose_wait_p99",
            queries::histogram_p99_by_instance(
                "tikv_raftstore_request_wait_time_duration_secs",
                "",
            ),
        ),
        (
            "read_pool_wait_p99",
            queries::histogram_p99_by_instance(
                "tikv_yatp_pool_schedule_wait_duration",
                "name=\"unified-read-pool\"",
            ),
        ),
        (
            "max_thread_cpu",
            format!(
                "max(rate(tikv_thread_cpu_seconds_total{{job=\"{}\"}}[{}])) by (instance)",
                queries::TIKV_JOB,
                queries::RATE_WINDOW
            ),
        ),
        (
            "thread_cpu",
            format!(
                "sum(rate(tikv_thread_cpu_seconds_total{{job=\"{}\"}}[{}])) by (instance)",
                queries::TIKV_JOB,
                queries::RATE_WINDOW
            ),
        ),
        (
            "memory",
            format!(
                "process_resident_memory_bytes{{job=\"{}\"}}",
                queries::TIKV_JOB
            ),
        ),
    ];
    let results =
        futures::future::join_all(wanted.iter().map(|(_, q)| client.query(q, None))).await;
    let mut per_instance: BTreeMap<String, StoreMetrics> = BTreeMap::new();
    let mut queries_used = BTreeMap::new();
    for ((key, q), res) in wanted.iter().zip(results) {
        let resp = match res {
            Ok(r) => r,
            Err(e) => return (None, Some(format!("Prometheus query failed: {e}"))),
        };
        queries_used.insert(key.to_string(), q.clone());
        for (instance, v) in resp.result.by_label("instance") {
            let m = per_instance
                .entry(instance.clone())
                .or_insert_with(|| StoreMetrics {
                    instance: instance.clone(),
                    ..StoreMetrics::default()
                });
            let v = Some(v);
            match *key {
                "qps" => m.qps = v,
                "grpc_p99" => m.grpc_p99_seconds = v,
                "append_p99" => m.append_p99_seconds = v,
                "apply_p99" => m.apply_p99_seconds = v,
                "slow_score" => m.slow_score = v,
                "available" => m.available_bytes = v,
                "capacity" => m.capacity_bytes = v,
                "leaders" => m.leader_count = v,
                "regions" => m.region_count = v,
                "commit_p99" => m.commit_p99_seconds = v,
                "propose_wait_p99" => m.propose_wait_p99_seconds = v,
                "read_pool_wait_p99" => m.read_pool_wait_p99_seconds = v,
                "max_thread_cpu" => m.max_thread_cpu = v,
                "thread_cpu" => m.thread_cpu_cores = v,
                "memory" => m.memory_bytes = v,
                _ => {}
            }
        }
    }
    (
        Some(finish_sample(per_instance, queries_used, observed)),
        None,
    )
}

/// Matches per-instance metrics to PD's stores (by status address) and computes each
/// store's share of the cluster's QPS.
pub fn finish_sample(
    per_instance: BTreeMap<String, StoreMetrics>,
    queries: BTreeMap<String, String>,
    observed: &Observed,
) -> MetricsSample {
    let total_qps: f64 = per_instance.values().filter_map(|m| m.qps).sum();
    let pd = observed.pd.as_ref();
    let stores = per_instance
        .into_values()
        .map(|mut m| {
            m.store_id = pd.and_then(|v| {
                v.stores
                    .iter()
                    .find(|s| s.status_address == m.instance)
                    .map(|s| s.id)
            });
            if total_qps > 0.0 {
                m.hot_qps_share = m.qps.map(|q| q / total_qps);
            }
            m
        })
        .collect();
    MetricsSample {
        at: SystemTime::now(),
        queries,
        stores,
    }
}

/// The last lines of containers that died or were killed since the last snapshot, or
/// that are not running: the log lines a diagnosis will want to cite.
async fn unwell_logs(
    runtime: &dyn ContainerRuntime,
    cluster: &str,
    observed: &Observed,
    events: &[RuntimeEvent],
) -> Vec<LogFact> {
    let mut targets: Vec<String> = events
        .iter()
        .filter(|e| matches!(e.raw_action.as_str(), "die" | "oom" | "kill"))
        .map(|e| e.container.clone())
        .collect();
    targets.extend(
        observed
            .owned
            .containers
            .iter()
            .filter(|c| matches!(c.label(labels::COMPONENT), Some("pd") | Some("tikv")))
            .filter(|c| c.status != ContainerStatus::Running)
            .map(|c| c.name.clone()),
    );
    targets.sort();
    targets.dedup();
    targets.truncate(4);
    let mut out = Vec::new();
    for name in targets {
        let Ok(lines) = runtime.logs(cluster, &name, None, LOG_TAIL).await else {
            continue;
        };
        let text: String = lines.iter().map(|l| format!("{}\n", l.text)).collect();
        out.extend(log_facts(&name, &text));
    }
    out
}

/// The records of a log text (unified log format) as [`LogFact`]s of `container`.
pub(crate) fn log_facts(container: &str, text: &str) -> Vec<LogFact> {
    let mut out = Vec::new();
    for entry in parse_log(text) {
        if let LogEntry::Record(r) = &entry {
            let kind = format!("{:?}", classify(r));
            out.push(LogFact {
                container: container.to_string(),
                at: SystemTime::UNIX_EPOCH + Duration::from_millis(r.unix_millis.max(0) as u64),
                level: format!("{:?}", r.level).to_uppercase(),
                message: r.message.to_string(),
                kind: Some(
                    kind.split(['(', ' ', '{'])
                        .next()
                        .unwrap_or("Other")
                        .to_string(),
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ObservedContainer, ObservedNetwork};
    use crate::spec::{parse_str, ValidationContext};
    use crate::subjects::tikv::model::{NodeState, PdView, Store, StoreState};
    use crate::subjects::tikv::plan::Memory;
    use crate::subjects::tikv::topology::Topology;

    #[tokio::test]
    async fn a_running_store_without_an_address_on_the_cluster_network_fails_its_probe() {
        let text = "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: demo\nspec:\n  pd:\n    replicas: 1\n";
        let spec = parse_str(text, "t.yaml", ValidationContext::default())
            .unwrap()
            .0;
        let topo = Topology::new(&spec);
        let c = topo.tikv_container(0, &[0]);
        let mut observed = Observed {
            at: Some(SystemTime::now()),
            owned: Default::default(),
            pd: Some(PdView {
                stores: vec![Store {
                    id: 7,
                    address: "demo-tikv-0:20160".into(),
                    status_address: "demo-tikv-0:20180".into(),
                    state: StoreState::Up,
                    node_state: NodeState::Serving,
                    version: "8.5.7".into(),
                    leader_count: 0,
                    region_count: 0,
                    capacity_bytes: 0,
                    available_bytes: 0,
                    used_bytes: 0,
                    slow_score: None,
                    last_heartbeat_unix_nanos: 0,
                    start_unix_secs: 0,
                    physically_destroyed: false,
                    pending_peer_count: 0,
                }],
                ..PdView::default()
            }),
            pd_error: None,
            memory: Memory::default(),
        };
        observed.owned.networks.push(ObservedNetwork {
            name: "demo-net".into(),
            labels: c.labels.clone(),
        });
        observed.owned.containers.push(ObservedContainer {
            id: c.name.clone(),
            name: c.name.clone(),
            image: c.image.clone(),
            labels: c.labels.clone(),
            status: ContainerStatus::Running,
            exit_code: None,
            oom_killed: false,
            ip: None,
            networks: vec![],
            started_at: None,
            finished_at: None,
        });
        let probes = probe_stores(&reqwest::Client::new(), &observed, topo.names()).await;
        assert_eq!(probes.len(), 1, "{probes:?}");
        assert!(!probes[0].ok);
        assert_eq!(probes[0].store_id, 7);
        assert_eq!(
            probes[0].error.as_deref(),
            Some("container demo-tikv-0 has no address on network demo-net")
        );
    }
}
