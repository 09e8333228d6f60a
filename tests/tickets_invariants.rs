//! The TiKV invariants, table-driven: one row per invariant firing and not firing, on
//! PdViews built from the PD fixtures (store 5 Disconnected, store 6 Offline).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use operator::subjects::tikv::invariants::{self, Thresholds, ThresholdsError};
use operator::subjects::tikv::model::{Member, NodeState, PdView, RegionHealth, Store, StoreState};
use operator::subjects::tikv::snapshot::{
    update_offline_progress, ContainerFact, ContainerState, LogFact, MetricsSample,
    OfflineProgress, RuntimeEventFact, StatusProbe, StoreMetrics, TikvSnapshot,
};
use operator::tickets::Severity;
use serde_json::Value;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/reference/pd-tikv/fixtures/"
);

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}{name}")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// PD's ByteSize strings (`845.1GiB`).
fn bytes(v: &Value) -> u64 {
    let s = v.as_str().unwrap();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (n, unit) = s.split_at(split);
    let mult: f64 = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024f64.powi(2),
        "GiB" => 1024f64.powi(3),
        "TiB" => 1024f64.powi(4),
        other => panic!("unit {other}"),
    };
    (n.parse::<f64>().unwrap() * mult) as u64
}

fn fixture_pd() -> PdView {
    let stores = fixture("stores.json")["stores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let (m, st) = (&s["store"], &s["status"]);
            let u = |v: &Value| v.as_u64().unwrap_or(0);
            Store {
                id: u(&m["id"]),
                address: m["address"].as_str().unwrap().into(),
                status_address: m["status_address"].as_str().unwrap().into(),
                state: StoreState::from_name(m["state_name"].as_str().unwrap()).unwrap(),
                node_state: match u(&m["node_state"]) {
                    1 => NodeState::Serving,
                    2 => NodeState::Removing,
                    3 => NodeState::Removed,
                    _ => NodeState::Preparing,
                },
                version: m["version"].as_str().unwrap().into(),
                leader_count: u(&st["leader_count"]),
                region_count: u(&st["region_count"]),
                capacity_bytes: bytes(&st["capacity"]),
                available_bytes: bytes(&st["available"]),
                used_bytes: bytes(&st["used_size"]),
                slow_score: st["slow_score"].as_u64(),
                last_heartbeat_unix_nanos: m["last_heartbeat"].as_i64().unwrap(),
                start_unix_secs: m["start_timestamp"].as_i64().unwrap(),
                physically_destroyed: m["physically_destroyed"].as_bool().unwrap_or(false),
                pending_peer_count: u(&st["pending_peer_count"]),
            }
        })
        .collect();
    let health = fixture("health.json");
    let members_json = fixture("members.json");
    let members = members_json["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m["name"].as_str().unwrap().to_string();
            let healthy = health
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["name"] == m["name"])
                .and_then(|h| h["health"].as_bool());
            Member {
                member_id: m["member_id"].as_u64().unwrap(),
                client_urls: vec![format!("http://{name}:2379")],
                peer_urls: vec![format!("http://{name}:2380")],
                name,
                healthy,
            }
        })
        .collect();
    PdView {
        endpoint: "http://pd0:2379".into(),
        cluster_id: 7,
        members,
        leader: Some(members_json["leader"]["name"].as_str().unwrap().into()),
        stores,
        bootstrapped: true,
        max_replicas: 3,
        schedulers: vec![
            "balance-leader-scheduler".into(),
            "balance-region-scheduler".into(),
        ],
        evict_leader_stores: vec![],
        region_health: Some(RegionHealth {
            total: 4,
            ..Default::default()
        }),
        max_store_down_time_secs: 1800,
        low_space_ratio: 0.8,
        hot_regions: vec![],
    }
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_782_898_214)
}

fn container(member: &str, name: &str, component: &str) -> ContainerFact {
    ContainerFact {
        member: member.into(),
        container: name.into(),
        component: component.into(),
        status: ContainerState::Running,
        exit_code: None,
        oom_killed: false,
        finished_at: None,
        disconnected: false,
    }
}

fn metrics(instance: &str, store_id: u64) -> StoreMetrics {
    StoreMetrics {
        store_id: Some(store_id),
        instance: instance.into(),
        qps: Some(300.0),
        grpc_p99_seconds: Some(0.01),
        append_p99_seconds: Some(0.002),
        apply_p99_seconds: Some(0.003),
        slow_score: Some(1.0),
        available_bytes: Some(800e9),
        capacity_bytes: Some(1000e9),
        leader_count: Some(2.0),
        region_count: Some(4.0),
        hot_qps_share: None,
        ..StoreMetrics::default()
    }
}

/// The fixture cluster: stores 1, 4, 7 Up on tikv0, tikv1, tikv4; store 5 (tikv2)
/// Disconnected; store 6 (tikv3) Offline; three healthy PD members, pd0 leading.
fn base() -> TikvSnapshot {
    let mut s = TikvSnapshot::empty(now());
    s.pd = Some(fixture_pd());
    s.pd_members_expected = vec!["pd0".into(), "pd1".into(), "pd2".into()];
    for i in 0..3 {
        s.containers
            .push(container(&format!("pd{i}"), &format!("pd{i}"), "pd"));
    }
    for i in 0..5 {
        s.containers
            .push(container(&format!("tikv-{i}"), &format!("tikv{i}"), "tikv"));
    }
    s.metrics = Some(MetricsSample {
        at: now(),
        queries: BTreeMap::from([(
            "grpc_p99_seconds".to_string(),
            "histogram_quantile(0.99, sum(rate(tikv_grpc_msg_duration_seconds_bucket{type!=\"kv_gc\"}[1m])) by (instance, le))".to_string(),
        )]),
        stores: vec![
            metrics("tikv0:20180", 1),
            metrics("tikv1:20180", 4),
            metrics("tikv4:20180", 7),
        ],
    });
    s.probes = [(1, "tikv0:20180"), (4, "tikv1:20180"), (7, "tikv4:20180")]
        .into_iter()
        .map(|(id, a)| StatusProbe {
            store_id: id,
            address: a.into(),
            ok: true,
            error: None,
            latency_ms: 1.5,
        })
        .collect();
    s
}

fn store_mut(s: &mut TikvSnapshot, id: u64) -> &mut Store {
    s.pd.as_mut()
        .unwrap()
        .stores
        .iter_mut()
        .find(|st| st.id == id)
        .unwrap()
}

fn tikv_container<'a>(s: &'a mut TikvSnapshot, member: &str) -> &'a mut ContainerFact {
    s.containers
        .iter_mut()
        .find(|c| c.member == member)
        .unwrap()
}

struct Row {
    name: &'static str,
    invariant: &'static str,
    target: &'static str,
    /// Some(severity) = must fire with it; None = must hold (checked and fine).
    fires: Option<Severity>,
    build: fn(&mut TikvSnapshot),
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "the fixture's Disconnected store 5 is down",
            invariant: "store-down",
            target: "tikv-2",
            fires: Some(Severity::Critical),
            build: |_| {},
        },
        Row {
            name: "an Up, probed, running store is not down",
            invariant: "store-down",
            target: "tikv-0",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "an exited container is down",
            invariant: "store-down",
            target: "tikv-0",
            fires: Some(Severity::Critical),
            build: |s| {
                let c = tikv_container(s, "tikv-0");
                c.status = ContainerState::Exited;
                c.exit_code = Some(137);
                c.oom_killed = true;
            },
        },
        Row {
            name: "a failing status probe is down",
            invariant: "store-down",
            target: "tikv-1",
            fires: Some(Severity::Critical),
            build: |s| {
                s.probes[1].ok = false;
                s.probes[1].error = Some("connection refused".into());
            },
        },
        Row {
            name: "a paused container is down",
            invariant: "store-down",
            target: "tikv-4",
            fires: Some(Severity::Critical),
            build: |s| {
                tikv_container(s, "tikv-4").status = ContainerState::Paused;
            },
        },
        Row {
            name: "an unhealthy PD member",
            invariant: "pd-member-unhealthy",
            target: "pd1",
            fires: Some(Severity::Warning),
            build: |s| {
                s.pd.as_mut().unwrap().members[1].healthy = Some(false);
            },
        },
        Row {
            name: "a healthy PD member",
            invariant: "pd-member-unhealthy",
            target: "pd1",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "a wanted PD member missing from the member list",
            invariant: "pd-member-unhealthy",
            target: "pd3",
            fires: Some(Severity::Warning),
            build: |s| {
                s.pd_members_expected.push("pd3".into());
                s.containers.push(container("pd3", "pd3", "pd"));
            },
        },
        Row {
            name: "an exited PD container",
            invariant: "pd-member-unhealthy",
            target: "pd2",
            fires: Some(Severity::Warning),
            build: |s| {
                let c = s.containers.iter_mut().find(|c| c.member == "pd2").unwrap();
                c.status = ContainerState::Exited;
                c.exit_code = Some(1);
            },
        },
        Row {
            name: "PD without a leader",
            invariant: "pd-no-leader",
            target: "pd",
            fires: Some(Severity::Critical),
            build: |s| {
                s.pd.as_mut().unwrap().leader = None;
            },
        },
        Row {
            name: "PD with a leader",
            invariant: "pd-no-leader",
            target: "pd",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "two of three PD members unhealthy",
            invariant: "pd-quorum-lost",
            target: "pd",
            fires: Some(Severity::Critical),
            build: |s| {
                let pd = s.pd.as_mut().unwrap();
                pd.members[1].healthy = Some(false);
                pd.members[2].healthy = Some(false);
            },
        },
        Row {
            name: "PD unreachable and two PD containers exited",
            invariant: "pd-quorum-lost",
            target: "pd",
            fires: Some(Severity::Critical),
            build: |s| {
                s.pd = None;
                s.pd_error = Some("connection refused".into());
                for c in s
                    .containers
                    .iter_mut()
                    .filter(|c| c.component == "pd")
                    .take(2)
                {
                    c.status = ContainerState::Exited;
                }
            },
        },
        Row {
            name: "one of three PD members unhealthy keeps quorum",
            invariant: "pd-quorum-lost",
            target: "pd",
            fires: None,
            build: |s| {
                s.pd.as_mut().unwrap().members[1].healthy = Some(false);
            },
        },
        Row {
            name: "regions missing peers",
            invariant: "regions-miss-peer",
            target: "cluster",
            fires: Some(Severity::Critical),
            build: |s| {
                s.pd.as_mut()
                    .unwrap()
                    .region_health
                    .as_mut()
                    .unwrap()
                    .miss_peer = 2;
            },
        },
        Row {
            name: "no region misses a peer",
            invariant: "regions-miss-peer",
            target: "cluster",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "regions with down peers",
            invariant: "regions-down-peer",
            target: "cluster",
            fires: Some(Severity::Warning),
            build: |s| {
                s.pd.as_mut()
                    .unwrap()
                    .region_health
                    .as_mut()
                    .unwrap()
                    .down_peer = 1;
            },
        },
        Row {
            name: "no down peers",
            invariant: "regions-down-peer",
            target: "cluster",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "regions with pending peers",
            invariant: "regions-pending-peer",
            target: "cluster",
            fires: Some(Severity::Warning),
            build: |s| {
                s.pd.as_mut()
                    .unwrap()
                    .region_health
                    .as_mut()
                    .unwrap()
                    .pending_peer = 1;
            },
        },
        Row {
            name: "no pending peers",
            invariant: "regions-pending-peer",
            target: "cluster",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "regions with offline peers",
            invariant: "regions-offline-peer",
            target: "cluster",
            fires: Some(Severity::Info),
            build: |s| {
                s.pd.as_mut()
                    .unwrap()
                    .region_health
                    .as_mut()
                    .unwrap()
                    .offline_peer = 2;
            },
        },
        Row {
            name: "no offline peers",
            invariant: "regions-offline-peer",
            target: "cluster",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "leaders 50/50/5 across Up stores",
            invariant: "leader-imbalance",
            target: "cluster",
            fires: Some(Severity::Warning),
            build: |s| {
                store_mut(s, 1).leader_count = 50;
                store_mut(s, 4).leader_count = 50;
                store_mut(s, 7).leader_count = 5;
            },
        },
        Row {
            name: "a small cluster's leaders gathered on one store, 18/2/2",
            invariant: "leader-imbalance",
            target: "cluster",
            fires: Some(Severity::Warning),
            build: |s| {
                store_mut(s, 1).leader_count = 18;
                store_mut(s, 4).leader_count = 2;
                store_mut(s, 7).leader_count = 2;
            },
        },
        Row {
            name: "a small cluster's leaders 10/7/5 are within their noise",
            invariant: "leader-imbalance",
            target: "cluster",
            fires: None,
            build: |s| {
                store_mut(s, 1).leader_count = 10;
                store_mut(s, 4).leader_count = 7;
                store_mut(s, 7).leader_count = 5;
            },
        },
        Row {
            name: "the fixture's small leader counts are below the noise floor",
            invariant: "leader-imbalance",
            target: "cluster",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "an evict-leader store is left out of leader balance",
            invariant: "leader-imbalance",
            target: "cluster",
            fires: None,
            build: |s| {
                store_mut(s, 1).leader_count = 50;
                store_mut(s, 4).leader_count = 50;
                store_mut(s, 7).leader_count = 0;
                s.pd.as_mut().unwrap().evict_leader_stores = vec![7];
                s.upgrading_store_ids = vec![7];
            },
        },
        Row {
            name: "regions 100/100/10 across Up stores",
            invariant: "region-imbalance",
            target: "cluster",
            fires: Some(Severity::Warning),
            build: |s| {
                store_mut(s, 1).region_count = 100;
                store_mut(s, 4).region_count = 100;
                store_mut(s, 7).region_count = 10;
            },
        },
        Row {
            name: "regions 100/100/90 are balanced",
            invariant: "region-imbalance",
            target: "cluster",
            fires: None,
            build: |s| {
                store_mut(s, 1).region_count = 100;
                store_mut(s, 4).region_count = 100;
                store_mut(s, 7).region_count = 90;
            },
        },
        Row {
            name: "one store serving 90% of QPS",
            invariant: "hot-store",
            target: "tikv-0",
            fires: Some(Severity::Warning),
            build: |s| {
                let m = s.metrics.as_mut().unwrap();
                m.stores[0].qps = Some(1800.0);
                m.stores[1].qps = Some(100.0);
                m.stores[2].qps = Some(100.0);
            },
        },
        Row {
            name: "evenly spread QPS",
            invariant: "hot-store",
            target: "tikv-0",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "an idle cluster is never hot",
            invariant: "hot-store",
            target: "tikv-0",
            fires: None,
            build: |s| {
                let m = s.metrics.as_mut().unwrap();
                m.stores[0].qps = Some(9.0);
                m.stores[1].qps = Some(0.5);
                m.stores[2].qps = Some(0.5);
            },
        },
        Row {
            name: "12.5% disk available (below 1 - low-space-ratio 0.8)",
            invariant: "disk-pressure",
            target: "tikv-0",
            fires: Some(Severity::Warning),
            build: |s| {
                let st = store_mut(s, 1);
                st.available_bytes = st.capacity_bytes / 8;
            },
        },
        Row {
            name: "1% disk available",
            invariant: "disk-pressure",
            target: "tikv-0",
            fires: Some(Severity::Critical),
            build: |s| {
                let st = store_mut(s, 1);
                st.available_bytes = st.capacity_bytes / 100;
            },
        },
        Row {
            name: "the fixture's 84% available",
            invariant: "disk-pressure",
            target: "tikv-0",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "gRPC p99 of 800 ms",
            invariant: "grpc-p99-high",
            target: "tikv-1",
            fires: Some(Severity::Warning),
            build: |s| {
                s.metrics.as_mut().unwrap().stores[1].grpc_p99_seconds = Some(0.8);
            },
        },
        Row {
            name: "gRPC p99 of 3 s",
            invariant: "grpc-p99-high",
            target: "tikv-1",
            fires: Some(Severity::Critical),
            build: |s| {
                s.metrics.as_mut().unwrap().stores[1].grpc_p99_seconds = Some(3.0);
            },
        },
        Row {
            name: "gRPC p99 of 10 ms",
            invariant: "grpc-p99-high",
            target: "tikv-1",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "raft append p99 of 900 ms",
            invariant: "raft-append-p99-high",
            target: "tikv-4",
            fires: Some(Severity::Warning),
            build: |s| {
                s.metrics.as_mut().unwrap().stores[2].append_p99_seconds = Some(0.9);
            },
        },
        Row {
            name: "raft append p99 of 2 ms",
            invariant: "raft-append-p99-high",
            target: "tikv-4",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "a running store container disconnected from the cluster network",
            invariant: "store-down",
            target: "tikv-1",
            fires: Some(Severity::Critical),
            build: |s| {
                tikv_container(s, "tikv-1").disconnected = true;
            },
        },
        Row {
            name: "raft append p99 of 30 ms against its peers' 2 ms (a disk 20 ms slower)",
            invariant: "store-outlier",
            target: "tikv-4",
            fires: Some(Severity::Warning),
            build: |s| {
                s.metrics.as_mut().unwrap().stores[2].append_p99_seconds = Some(0.03);
            },
        },
        Row {
            name: "raft append p99 of 6 ms against its peers' 2 ms (under the noise floor)",
            invariant: "store-outlier",
            target: "tikv-4",
            fires: None,
            build: |s| {
                s.metrics.as_mut().unwrap().stores[2].append_p99_seconds = Some(0.006);
            },
        },
        Row {
            name: "raft apply p99 of 700 ms",
            invariant: "raft-apply-p99-high",
            target: "tikv-4",
            fires: Some(Severity::Warning),
            build: |s| {
                s.metrics.as_mut().unwrap().stores[2].apply_p99_seconds = Some(0.7);
            },
        },
        Row {
            name: "raft apply p99 of 3 ms",
            invariant: "raft-apply-p99-high",
            target: "tikv-4",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "PD slow score 85",
            invariant: "slow-store",
            target: "tikv-1",
            fires: Some(Severity::Warning),
            build: |s| {
                store_mut(s, 4).slow_score = Some(85);
            },
        },
        Row {
            name: "metric slow score 100",
            invariant: "slow-store",
            target: "tikv-1",
            fires: Some(Severity::Critical),
            build: |s| {
                s.metrics.as_mut().unwrap().stores[1].slow_score = Some(100.0);
            },
        },
        Row {
            name: "slow score 1",
            invariant: "slow-store",
            target: "tikv-1",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "an evict-leader entry with no upgrade running",
            invariant: "evict-leader-leftover",
            target: "tikv-0",
            fires: Some(Severity::Warning),
            build: |s| {
                s.pd.as_mut().unwrap().evict_leader_stores = vec![1];
            },
        },
        Row {
            name: "an evict-leader entry during that store's upgrade",
            invariant: "evict-leader-leftover",
            target: "tikv-0",
            fires: None,
            build: |s| {
                s.pd.as_mut().unwrap().evict_leader_stores = vec![1];
                s.upgrading_store_ids = vec![1];
            },
        },
        Row {
            name: "the fixture's Offline store 6 without progress for 15 minutes",
            invariant: "store-offline-stuck",
            target: "tikv-3",
            fires: Some(Severity::Warning),
            build: |s| {
                s.offline = vec![OfflineProgress {
                    store_id: 6,
                    offline_since: now() - Duration::from_secs(1800),
                    region_count: 2,
                    last_progress_at: now() - Duration::from_secs(900),
                }];
            },
        },
        Row {
            name: "an Offline store that made progress a minute ago",
            invariant: "store-offline-stuck",
            target: "tikv-3",
            fires: None,
            build: |s| {
                s.offline = vec![OfflineProgress {
                    store_id: 6,
                    offline_since: now() - Duration::from_secs(1800),
                    region_count: 2,
                    last_progress_at: now() - Duration::from_secs(60),
                }];
            },
        },
        Row {
            name: "PD unreachable",
            invariant: "pd-unreachable",
            target: "pd",
            fires: Some(Severity::Critical),
            build: |s| {
                s.pd = None;
                s.pd_error =
                    Some("GET http://pd0:2379/pd/api/v1/members: connection refused".into());
            },
        },
        Row {
            name: "PD answering",
            invariant: "pd-unreachable",
            target: "pd",
            fires: None,
            build: |_| {},
        },
        Row {
            name: "Prometheus unreachable",
            invariant: "prometheus-unreachable",
            target: "prometheus",
            fires: Some(Severity::Warning),
            build: |s| {
                s.metrics = None;
                s.prometheus_error = Some("timeout after 5s".into());
            },
        },
        Row {
            name: "Prometheus answering",
            invariant: "prometheus-unreachable",
            target: "prometheus",
            fires: None,
            build: |_| {},
        },
    ]
}

#[test]
fn every_invariant_fires_and_holds_as_its_table_row_says() {
    let th = Thresholds::default();
    let mut covered = std::collections::BTreeSet::new();
    for row in rows() {
        let mut s = base();
        (row.build)(&mut s);
        let eval = invariants::evaluate(&s, &th);
        let key = format!("tikv/{}/{}", row.invariant, row.target);
        let found = eval
            .violations
            .iter()
            .find(|v| v.invariant == row.invariant && v.target == row.target);
        match row.fires {
            Some(sev) => {
                let v = found.unwrap_or_else(|| {
                    panic!(
                        "{}: expected {key} to fire; got {:#?}",
                        row.name, eval.violations
                    )
                });
                assert_eq!(v.severity, sev, "{}: {}", row.name, v.summary);
                assert_eq!(v.subject, "tikv");
                assert!(
                    !eval.holding.contains(&key),
                    "{}: both violated and holding",
                    row.name
                );
                assert_eq!(v.evidence.observed_at, now());
                let cited = !v.evidence.metrics.is_empty() || !v.evidence.state.is_null();
                assert!(cited, "{}: evidence cites nothing", row.name);
                covered.insert(row.invariant);
            }
            None => {
                assert!(
                    found.is_none(),
                    "{}: unexpectedly fired: {:?}",
                    row.name,
                    found.map(|v| &v.summary)
                );
                assert!(
                    eval.holding.contains(&key),
                    "{}: {key} not reported holding; holding = {:?}",
                    row.name,
                    eval.holding
                );
            }
        }
    }
    let all: std::collections::BTreeSet<_> = invariants::invariant_names().into_iter().collect();
    assert_eq!(covered, all, "every invariant has a firing row");
}

#[test]
fn the_fixture_cluster_reports_only_the_disconnected_store() {
    let v = invariants::check(&base(), &Thresholds::default());
    let keys: Vec<String> = v.iter().map(|v| v.dedupe_key()).collect();
    assert_eq!(keys, vec!["tikv/store-down/tikv-2"], "{v:#?}");
    let d = &v[0];
    assert_eq!(
        d.grace,
        Duration::ZERO,
        "PD already waited 20 s before saying Disconnected"
    );
    assert!(
        d.summary.contains("store 5") && d.summary.contains("Disconnected"),
        "{}",
        d.summary
    );
    assert!(
        d.summary.contains("12m"),
        "last heartbeat age cited: {}",
        d.summary
    );
    assert_eq!(d.evidence.state["id"], 5);
}

#[test]
fn an_oom_killed_store_opens_immediately_and_cites_the_event_and_its_logs() {
    let mut s = base();
    let c = tikv_container(&mut s, "tikv-0");
    c.status = ContainerState::Exited;
    c.exit_code = Some(137);
    c.oom_killed = true;
    s.events.push(RuntimeEventFact {
        container: "tikv0".into(),
        member: "tikv-0".into(),
        component: "tikv".into(),
        at: now() - Duration::from_secs(3),
        action: "die".into(),
        exit_code: Some(137),
        oom_killed: true,
        signal: None,
    });
    s.logs.push(LogFact {
        container: "tikv0".into(),
        at: now() - Duration::from_secs(5),
        level: "WARN".into(),
        message: "[store 1] async write too slow".into(),
        kind: Some("slow-write".into()),
    });
    s.logs.push(LogFact {
        container: "tikv1".into(),
        at: now(),
        level: "INFO".into(),
        message: "unrelated".into(),
        kind: None,
    });
    let v = invariants::check(&s, &Thresholds::default());
    let d = v.iter().find(|v| v.target == "tikv-0").unwrap();
    assert_eq!(d.grace, Duration::ZERO);
    assert!(
        d.summary.contains("exit code 137") && d.summary.contains("OOM"),
        "{}",
        d.summary
    );
    assert_eq!(d.evidence.events.len(), 1);
    assert_eq!(
        d.evidence.events[0].what,
        "die exit_code=137 oom_killed=true"
    );
    assert_eq!(d.evidence.logs.len(), 1);
    assert!(d.evidence.logs[0].line.contains("async write too slow"));
}

#[test]
fn a_planned_upgrade_restart_gets_the_longer_grace() {
    let mut s = base();
    tikv_container(&mut s, "tikv-0").status = ContainerState::Exited;
    s.upgrading_store_ids = vec![1];
    let v = invariants::check(&s, &Thresholds::default());
    let d = v.iter().find(|v| v.target == "tikv-0").unwrap();
    assert_eq!(d.grace, Duration::from_secs(120));
}

#[test]
fn metric_evidence_cites_the_promql_series_and_value() {
    let mut s = base();
    s.metrics.as_mut().unwrap().stores[1].grpc_p99_seconds = Some(0.8);
    let v = invariants::check(&s, &Thresholds::default());
    let d = v.iter().find(|v| v.invariant == "grpc-p99-high").unwrap();
    let m = &d.evidence.metrics[0];
    assert!(
        m.series.starts_with("histogram_quantile(0.99"),
        "{}",
        m.series
    );
    assert!(
        m.series.contains("instance=\"tikv1:20180\""),
        "{}",
        m.series
    );
    assert_eq!(m.value, 0.8);
    assert!(d.summary.contains("800 ms"), "{}", d.summary);
}

#[test]
fn nothing_is_claimed_about_what_the_snapshot_did_not_see() {
    let mut s = TikvSnapshot::empty(now());
    s.pd_error = Some("refused".into());
    let e = invariants::evaluate(&s, &Thresholds::default());
    assert_eq!(e.violations.len(), 1, "{:#?}", e.violations);
    assert_eq!(e.violations[0].invariant, "pd-unreachable");
    assert!(e.holding.is_empty(), "{:?}", e.holding);
}

#[test]
fn thresholds_read_camel_case_keys_and_reject_unknown_ones_by_name() {
    let map: BTreeMap<String, yaml_serde::Value> =
        yaml_serde::from_str("grpcP99Seconds: 1.5\nstoreDownGrace: 1m\ndisabled: [hot-store]\n")
            .unwrap();
    let t = Thresholds::from_spec(&map).unwrap();
    assert_eq!(t.grpc_p99_seconds, 1.5);
    assert_eq!(t.store_down_grace, Duration::from_secs(60));
    assert_eq!(t.slow_score, 80.0, "unset keys keep their defaults");

    let mut s = base();
    let m = s.metrics.as_mut().unwrap();
    m.stores[0].qps = Some(1800.0);
    assert!(invariants::check(&s, &t)
        .iter()
        .all(|v| v.invariant != "hot-store"));

    let bad: BTreeMap<String, yaml_serde::Value> =
        yaml_serde::from_str("grpcP99Secnds: 1.5\n").unwrap();
    let err = Thresholds::from_spec(&bad).unwrap_err();
    assert!(err.to_string().contains("grpcP99Secnds"), "{err}");

    let bad: BTreeMap<String, yaml_serde::Value> =
        yaml_serde::from_str("disabled: [no-such-thing]\n").unwrap();
    let err = Thresholds::from_spec(&bad).unwrap_err();
    assert!(
        matches!(err, ThresholdsError::UnknownInvariant(..)),
        "{err}"
    );
    assert!(err.to_string().contains("no-such-thing"));
    assert!(Thresholds::from_spec(&BTreeMap::new()).unwrap() == Thresholds::default());
}

#[test]
fn offline_progress_moves_only_when_the_region_count_goes_down() {
    let mut pd = fixture_pd();
    let t0 = now();
    let p = update_offline_progress(&[], &pd, t0);
    assert_eq!(p.len(), 1);
    assert_eq!(
        (p[0].store_id, p[0].region_count, p[0].last_progress_at),
        (6, 2, t0)
    );
    let t1 = t0 + Duration::from_secs(60);
    let same = update_offline_progress(&p, &pd, t1);
    assert_eq!(same[0].last_progress_at, t0);
    pd.stores
        .iter_mut()
        .find(|s| s.id == 6)
        .unwrap()
        .region_count = 1;
    let t2 = t0 + Duration::from_secs(120);
    let moved = update_offline_progress(&same, &pd, t2);
    assert_eq!((moved[0].region_count, moved[0].last_progress_at), (1, t2));
    assert_eq!(moved[0].offline_since, t0);
    pd.stores.iter_mut().find(|s| s.id == 6).unwrap().state = StoreState::Tombstone;
    assert!(update_offline_progress(&moved, &pd, t2).is_empty());
}

#[test]
fn a_snapshot_round_trips_through_json() {
    let mut s = base();
    s.offline = update_offline_progress(&[], s.pd.as_ref().unwrap(), now());
    let json = serde_json::to_string(&s).unwrap();
    let back: TikvSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn a_failing_status_probe_opens_after_the_short_store_down_grace() {
    let mut s = base();
    s.probes[1].ok = false;
    s.probes[1].error = Some("connection refused".into());
    let v = invariants::check(&s, &Thresholds::default());
    let d = v
        .iter()
        .find(|v| v.invariant == "store-down" && v.summary.contains("status probe"))
        .unwrap_or_else(|| panic!("{v:#?}"));
    assert_eq!(
        d.grace,
        Duration::from_secs(1),
        "two failed probes a second apart make a partitioned store a ticket"
    );
}

#[test]
fn a_region_count_without_pds_total_is_not_written_as_n_of_zero() {
    let th = Thresholds::default();
    let summary = |total: u64| {
        let mut s = base();
        let rh = s.pd.as_mut().unwrap().region_health.as_mut().unwrap();
        rh.total = total;
        rh.down_peer = 3;
        invariants::evaluate(&s, &th)
            .violations
            .into_iter()
            .find(|v| v.invariant == "regions-down-peer")
            .expect("regions-down-peer fires")
            .summary
    };
    assert!(
        summary(24).starts_with("3 of 24 regions "),
        "{}",
        summary(24)
    );
    // A PD without `/regions/count` leaves the total at 0: the count alone.
    assert!(summary(0).starts_with("3 regions "), "{}", summary(0));
}
