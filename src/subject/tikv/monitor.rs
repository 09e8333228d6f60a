//! Building a [`TikvSnapshot`]: the reconcile observation (Docker + PD) plus what the
//! invariants need beyond it — direct probes of every store's status port, Prometheus
//! metrics when a Prometheus runs, the Docker events since the last snapshot, and the
//! last log lines of containers that look unwell.
//!
//! Every source is bounded by a short timeout and is optional: a source that fails is
//! recorded (PD or Prometheus unreachable is itself an invariant), never fatal.

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
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// Log lines fetched from a container that looks unwell.
pub const LOG_TAIL: usize = 30;

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

/// Builds a snapshot from an observation and the events since the last snapshot.
pub async fn build(
    spec: &ClusterSpec,
    observed: &Observed,
    events: &[RuntimeEvent],
    runtime: &dyn ContainerRuntime,
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

    let http = state.http();
    let (probes, (metrics, prom_error), logs) = tokio::join!(
        probe_stores(&http, observed, &names),
        prometheus_metrics(observed),
        unwell_logs(runtime, spec.name(), observed, events),
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
    let mut futs = Vec::new();
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
        let Some(ip) = c.ip.clone() else { continue };
        let http = http.clone();
        let store_id = store.id;
        futs.push(async move {
            let t = Instant::now();
            let url = format!("http://{ip}:{TIKV_STATUS_PORT}/status");
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
        });
    }
    futures::future::join_all(futs).await
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
                _ => {}
            }
        }
    }
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
    (
        Some(MetricsSample {
            at: SystemTime::now(),
            queries: queries_used,
            stores,
        }),
        None,
    )
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
        for entry in parse_log(&text) {
            if let LogEntry::Record(r) = &entry {
                let kind = format!("{:?}", classify(r));
                out.push(LogFact {
                    container: name.clone(),
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
    }
    out
}
