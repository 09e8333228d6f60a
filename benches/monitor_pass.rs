//! `cargo bench --bench monitor_pass`: one monitoring pass (snapshot building with
//! `monitor::build_with` + every invariant) over a cluster of 1,000 stores holding
//! 1,000,000 regions (3 replicas: 3,000 peers and 1,000 leaders per store on average),
//! with a status probe and a metrics row per store and PD's region-health counts.
//! Target (issue #13): < 50 ms. Evidence sources are in memory (the network time of a
//! real deployment is not what this measures: the pass's own cost is).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use operator::runtime::{labels, ContainerStatus, ObservedContainer, RuntimeEvent};
use operator::subjects::tikv::invariants::{evaluate, Thresholds};
use operator::subjects::tikv::model::{Member, NodeState, PdView, RegionHealth, Store, StoreState};
use operator::subjects::tikv::monitor::{build_with, finish_sample, EvidenceSources, MonitorState};
use operator::subjects::tikv::plan::{Memory, Observed};
use operator::subjects::tikv::snapshot::{LogFact, MetricsSample, StatusProbe, StoreMetrics};
use operator::subjects::tikv::topology::Names;

const STORES: usize = 1000;
const REGIONS: u64 = 1_000_000;
const NAME: &str = "scale";

fn spec() -> operator::spec::ClusterSpec {
    let text = format!(
        "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: {NAME}\nspec:\n  pd:\n    replicas: 3\n  tikv:\n    replicas: {STORES}\n"
    );
    operator::spec::parse_only(&text, "bench").expect("spec")
}

fn container(component: &str, ordinal: usize) -> ObservedContainer {
    let member = format!("{component}-{ordinal}");
    let name = format!("{NAME}-{member}");
    ObservedContainer {
        id: name.clone(),
        name,
        image: "tikv-sim:local".into(),
        labels: BTreeMap::from([
            (
                labels::MANAGED_BY.to_string(),
                labels::MANAGED_BY_VALUE.to_string(),
            ),
            (labels::CLUSTER.to_string(), NAME.to_string()),
            (labels::COMPONENT.to_string(), component.to_string()),
            (labels::MEMBER.to_string(), member),
            (labels::ORDINAL.to_string(), ordinal.to_string()),
        ]),
        status: ContainerStatus::Running,
        exit_code: None,
        oom_killed: false,
        ip: Some(format!("10.0.{}.{}", ordinal / 250, ordinal % 250 + 2)),
        networks: vec![],
        started_at: None,
        finished_at: None,
    }
}

fn observed() -> Observed {
    let now = SystemTime::now();
    let hb = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let per_store_peers = REGIONS * 3 / STORES as u64;
    let stores = (0..STORES)
        .map(|i| Store {
            id: 100 + i as u64,
            address: format!("{NAME}-tikv-{i}:20160"),
            status_address: format!("{NAME}-tikv-{i}:20180"),
            state: StoreState::Up,
            node_state: NodeState::Serving,
            version: "8.5.7".into(),
            leader_count: REGIONS / STORES as u64,
            region_count: per_store_peers,
            capacity_bytes: 1 << 40,
            available_bytes: 1 << 39,
            used_bytes: 1 << 39,
            slow_score: Some(1),
            last_heartbeat_unix_nanos: hb,
            start_unix_secs: 0,
            physically_destroyed: false,
            pending_peer_count: 0,
        })
        .collect();
    let members = (0..3)
        .map(|i| Member {
            name: format!("pd-{i}"),
            member_id: i as u64 + 1,
            client_urls: vec![format!("http://{NAME}-pd-{i}:2379")],
            peer_urls: vec![format!("http://{NAME}-pd-{i}:2380")],
            healthy: Some(true),
        })
        .collect();
    let owned = operator::runtime::Owned {
        containers: (0..3)
            .map(|i| container("pd", i))
            .chain((0..STORES).map(|i| container("tikv", i)))
            .collect(),
        ..Default::default()
    };
    Observed {
        at: Some(now),
        owned,
        pd: Some(PdView {
            members,
            leader: Some("pd-0".into()),
            stores,
            bootstrapped: true,
            max_replicas: 3,
            schedulers: vec![
                "balance-leader-scheduler".into(),
                "balance-region-scheduler".into(),
            ],
            region_health: Some(RegionHealth {
                total: REGIONS,
                ..Default::default()
            }),
            low_space_ratio: 0.8,
            ..Default::default()
        }),
        pd_error: None,
        memory: Memory::default(),
    }
}

/// In-memory evidence: every store answers its probe and has a metrics row.
struct Sources;

#[async_trait::async_trait]
impl EvidenceSources for Sources {
    async fn probes(&self, observed: &Observed, _names: &Names) -> Vec<StatusProbe> {
        observed
            .pd
            .as_ref()
            .map(|pd| {
                pd.stores
                    .iter()
                    .map(|s| StatusProbe {
                        store_id: s.id,
                        address: s.status_address.clone(),
                        ok: true,
                        error: None,
                        latency_ms: 1.0,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    async fn metrics(&self, observed: &Observed) -> (Option<MetricsSample>, Option<String>) {
        let per: BTreeMap<String, StoreMetrics> = (0..STORES)
            .map(|i| {
                let instance = format!("{NAME}-tikv-{i}:20180");
                let m = StoreMetrics {
                    instance: instance.clone(),
                    qps: Some(2000.0 + (i % 7) as f64),
                    grpc_p99_seconds: Some(0.004 + (i % 5) as f64 * 1e-4),
                    append_p99_seconds: Some(0.001),
                    apply_p99_seconds: Some(0.001),
                    commit_p99_seconds: Some(0.002),
                    propose_wait_p99_seconds: Some(0.0002),
                    read_pool_wait_p99_seconds: Some(0.0001),
                    max_thread_cpu: Some(0.2),
                    slow_score: Some(1.0),
                    available_bytes: Some((1u64 << 39) as f64),
                    capacity_bytes: Some((1u64 << 40) as f64),
                    leader_count: Some(1000.0),
                    region_count: Some(3000.0),
                    ..StoreMetrics::default()
                };
                (instance, m)
            })
            .collect();
        (Some(finish_sample(per, BTreeMap::new(), observed)), None)
    }
    async fn logs(&self, _c: &str, _o: &Observed, _e: &[RuntimeEvent]) -> Vec<LogFact> {
        vec![]
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let spec = spec();
    let observed = observed();
    let state = MonitorState::default();
    let thresholds = Thresholds::default();
    let iterations: usize = std::env::var("MONITOR_PASS_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut times: Vec<Duration> = Vec::new();
    let mut build_times: Vec<Duration> = Vec::new();
    let mut violations = 0;
    for _ in 0..iterations + 3 {
        let t = Instant::now();
        let snap = build_with(&spec, &observed, &[], &Sources, &state).await;
        build_times.push(t.elapsed());
        let e = evaluate(&snap, &thresholds);
        times.push(t.elapsed());
        violations = e.violations.len();
        std::hint::black_box(&e);
    }
    let mut times = times.split_off(3);
    times.sort();
    let mut build_times = build_times.split_off(3);
    build_times.sort();
    let p = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "monitoring pass, {STORES} stores / {REGIONS} regions: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {iterations} passes ({violations} violations; target < 50 ms)",
        p(0.5).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
    );
    println!(
        "  of which snapshot building: p50 {:.1} ms",
        build_times[build_times.len() / 2].as_secs_f64() * 1e3
    );
}
