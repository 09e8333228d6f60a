//! Scripted tickets with realistic evidence (node death, disk pressure, hot region, slow
//! disk, network partition, …) for tests, the stand-in server and offline demos
//! (`operator diagnose --demo`). The evidence follows the tickets' `Evidence` shape and
//! PD/TiKV's real metric names and log formats.

use super::model::TicketBrief;
use serde_json::{json, Value};

/// Observation time used by every scenario.
pub const OBSERVED_AT: &str = "2026-11-22T06:10:00Z";

fn store(
    id: u64,
    member: &str,
    state: &str,
    avail_gib: f64,
    cap_gib: f64,
    leaders: u64,
    heartbeat: &str,
) -> Value {
    let gib = 1024.0f64.powi(3);
    let hb = time::OffsetDateTime::parse(heartbeat, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp_nanos() as i64)
        .unwrap_or(0);
    json!({
        "id": id,
        "address": format!("{member}:20160"),
        "status_address": format!("{member}:20180"),
        "state": state,
        "node_state": "Serving",
        "version": "8.5.7",
        "leader_count": leaders,
        "region_count": 30,
        "capacity_bytes": (cap_gib * gib) as u64,
        "available_bytes": (avail_gib * gib) as u64,
        "used_bytes": ((cap_gib - avail_gib) * gib) as u64,
        "slow_score": 1,
        "last_heartbeat_unix_nanos": hb,
        "start_unix_secs": 1_795_300_000,
        "physically_destroyed": false,
        "pending_peer_count": 0
    })
}

fn members() -> Value {
    json!([
        {"name": "pd-0", "member_id": 1, "client_urls": ["http://pd-0:2379"], "peer_urls": ["http://pd-0:2380"], "healthy": true},
        {"name": "pd-1", "member_id": 2, "client_urls": ["http://pd-1:2379"], "peer_urls": ["http://pd-1:2380"], "healthy": true},
        {"name": "pd-2", "member_id": 3, "client_urls": ["http://pd-2:2379"], "peer_urls": ["http://pd-2:2380"], "healthy": true}
    ])
}

fn state(stores: Vec<Value>) -> Value {
    json!({
        "endpoint": "http://pd-0:2379",
        "cluster_id": 7_312_345_678_901_234_567u64,
        "members": members(),
        "leader": "pd-0",
        "stores": stores,
        "bootstrapped": true,
        "max_replicas": 3,
        "schedulers": ["balance-leader-scheduler", "balance-region-scheduler", "balance-hot-region-scheduler"],
        "evict_leader_stores": [],
        "region_health": {"miss_peer": 0, "extra_peer": 0, "down_peer": 0, "pending_peer": 0, "offline_peer": 0, "learner_peer": 0, "total": 90},
        "max_store_down_time_secs": 1800,
        "low_space_ratio": 0.8
    })
}

fn size_metrics(avail: &[(u64, f64)], cap_gib: f64) -> Vec<Value> {
    let gib = 1024.0f64.powi(3);
    let mut v = vec![];
    for (id, a) in avail {
        v.push(json!({"series": format!("tikv_store_size_bytes{{store=\"{id}\",type=\"available\"}}"), "value": (a * gib) as u64, "at": OBSERVED_AT}));
        v.push(json!({"series": format!("tikv_store_size_bytes{{store=\"{id}\",type=\"capacity\"}}"), "value": (cap_gib * gib) as u64, "at": OBSERVED_AT}));
    }
    v
}

fn brief(
    id: u64,
    invariant: &str,
    target: &str,
    severity: &str,
    summary: &str,
    evidence: Value,
) -> TicketBrief {
    TicketBrief {
        id,
        subject: "tikv".into(),
        invariant: invariant.into(),
        target: target.into(),
        severity: severity.into(),
        summary: summary.into(),
        first_seen: "2026-11-22T06:05:00Z".into(),
        last_seen: OBSERVED_AT.into(),
        occurrences: 6,
        evidence,
        timeline: vec![("2026-11-22T06:05:00Z".into(), format!("opened: {summary}"))],
    }
}

/// Store 4 (container `tikv-1`) was killed: Disconnected, die event with exit code 137,
/// heartbeat failures in PD's and a peer's logs. Last heartbeat 5 min before observation.
pub fn node_death() -> TicketBrief {
    let stores = vec![
        store(1, "tikv-0", "Up", 80.0, 100.0, 30, OBSERVED_AT),
        store(
            4,
            "tikv-1",
            "Disconnected",
            81.0,
            100.0,
            0,
            "2026-11-22T06:05:00Z",
        ),
        store(5, "tikv-2", "Up", 79.0, 100.0, 30, OBSERVED_AT),
    ];
    let mut metrics = size_metrics(&[(1, 80.0), (4, 81.0), (5, 79.0)], 100.0);
    metrics.push(json!({"series": "pd_cluster_status{type=\"store_disconnected_count\"}", "value": 1, "at": OBSERVED_AT}));
    brief(
        41,
        "store_down",
        "store/4",
        "critical",
        "store 4 (tikv-1:20160) is Disconnected",
        json!({
            "observed_at": OBSERVED_AT,
            "metrics": metrics,
            "state": state(stores),
            "logs": [
                {"source": "pd-0", "at": "2026-11-22T06:05:21Z", "line": "[2026/11/22 06:05:21.113 +00:00] [WARN] [heartbeat_streams.go:168] [\"send keepalive message fail, store maybe disconnected\"] [target-store-id=4] [error=EOF]"},
                {"source": "tikv-0", "at": "2026-11-22T06:05:03Z", "line": "[2026/11/22 06:05:03.402 +00:00] [ERROR] [raft_client.rs:586] [\"connection aborted\"] [addr=tikv-1:20160] [store_id=4] [thread_id=41]"}
            ],
            "events": [
                {"source": "docker", "at": "2026-11-22T06:04:58Z", "what": "container tikv-1 died (exitCode=137)"}
            ]
        }),
    )
}

/// Like [`node_death`] but the container keeps running and probes fail: a partition.
pub fn network_partition() -> TicketBrief {
    let mut b = node_death();
    b.id = 42;
    b.evidence["events"] = json!([
        {"source": "docker", "at": "2026-11-22T06:10:00Z", "what": "container tikv-1 running (healthy)"}
    ]);
    b.evidence["logs"] = json!([
        {"source": "tikv-0", "at": "2026-11-22T06:05:03Z", "line": "[2026/11/22 06:05:03.402 +00:00] [WARN] [raft_client.rs:931] [\"wait connect timeout\"] [addr=tikv-1:20160] [store_id=4] [thread_id=41]"},
        {"source": "operator", "at": "2026-11-22T06:09:00Z", "line": "probe failed: GET http://tikv-1:20180/status: connect timeout"}
    ]);
    b
}

/// Store 5 (`tikv-2`) at 95 % used while the other stores are at 85–88 %.
pub fn disk_pressure() -> TicketBrief {
    let stores = vec![
        store(1, "tikv-0", "Up", 15.0, 100.0, 30, OBSERVED_AT),
        store(4, "tikv-1", "Up", 12.0, 100.0, 30, OBSERVED_AT),
        store(5, "tikv-2", "Up", 5.0, 100.0, 30, OBSERVED_AT),
    ];
    brief(
        51,
        "disk_pressure",
        "store/5",
        "warning",
        "store 5 available space is 5% of capacity",
        json!({
            "observed_at": OBSERVED_AT,
            "metrics": size_metrics(&[(1, 15.0), (4, 12.0), (5, 5.0)], 100.0),
            "state": state(stores),
            "logs": [],
            "events": []
        }),
    )
}

/// Store 4 serves most of the write QPS, region 12 being the hotspot.
pub fn hot_region() -> TicketBrief {
    let stores = vec![
        store(1, "tikv-0", "Up", 80.0, 100.0, 30, OBSERVED_AT),
        store(4, "tikv-1", "Up", 80.0, 100.0, 30, OBSERVED_AT),
        store(5, "tikv-2", "Up", 80.0, 100.0, 30, OBSERVED_AT),
    ];
    let mut st = state(stores);
    st["hot_regions"] = json!([{"region_id": 12, "store_id": 4, "qps": 4500.0}, {"region_id": 30, "store_id": 4, "qps": 300.0}]);
    brief(
        61,
        "hot_store",
        "store/4",
        "warning",
        "store 4 serves 91% of write QPS",
        json!({
            "observed_at": OBSERVED_AT,
            "metrics": [
                {"series": "pd_hotspot_status{store=\"1\",type=\"total_write_query_as_leader\"}", "value": 200.0, "at": OBSERVED_AT},
                {"series": "pd_hotspot_status{store=\"4\",type=\"total_write_query_as_leader\"}", "value": 5200.0, "at": OBSERVED_AT},
                {"series": "pd_hotspot_status{store=\"5\",type=\"total_write_query_as_leader\"}", "value": 300.0, "at": OBSERVED_AT}
            ],
            "state": st,
            "logs": [],
            "events": []
        }),
    )
}

/// Store 5 (`tikv-2`) has raft append p99 of 1.8 s against 4–5 ms elsewhere, slow score 92.
pub fn slow_disk() -> TicketBrief {
    let stores = vec![
        store(1, "tikv-0", "Up", 80.0, 100.0, 30, OBSERVED_AT),
        store(4, "tikv-1", "Up", 80.0, 100.0, 30, OBSERVED_AT),
        store(5, "tikv-2", "Up", 80.0, 100.0, 30, OBSERVED_AT),
    ];
    brief(
        71,
        "raft_io_slow",
        "store/5",
        "warning",
        "raft append p99 on store 5 is 1.8s",
        json!({
            "observed_at": OBSERVED_AT,
            "metrics": [
                {"series": "tikv_raftstore_append_log_duration_seconds_p99{instance=\"tikv-0:20180\"}", "value": 0.004, "at": OBSERVED_AT},
                {"series": "tikv_raftstore_append_log_duration_seconds_p99{instance=\"tikv-1:20180\"}", "value": 0.005, "at": OBSERVED_AT},
                {"series": "tikv_raftstore_append_log_duration_seconds_p99{instance=\"tikv-2:20180\"}", "value": 1.8, "at": OBSERVED_AT},
                {"series": "tikv_raftstore_slow_score{instance=\"tikv-0:20180\",type=\"raft\"}", "value": 1.0, "at": OBSERVED_AT},
                {"series": "tikv_raftstore_slow_score{instance=\"tikv-2:20180\",type=\"raft\"}", "value": 92.0, "at": OBSERVED_AT}
            ],
            "state": state(stores),
            "logs": [
                {"source": "tikv-2", "at": "2026-11-22T06:09:41Z", "line": "[2026/11/22 06:09:41.220 +00:00] [WARN] [write.rs:1036] [\"[store 5] async write too slow, write_kv: 0.001s, write_raft: 1.912s, send: 0.000s, callback: 0.000s thread: store_writer_0\"] [thread_id=57]"}
            ],
            "events": []
        }),
    )
}

/// Store 4 is Up with zero leaders and still listed in evict-leader-scheduler.
pub fn evict_leader_left_behind() -> TicketBrief {
    let stores = vec![
        store(1, "tikv-0", "Up", 80.0, 100.0, 45, OBSERVED_AT),
        store(4, "tikv-1", "Up", 80.0, 100.0, 0, OBSERVED_AT),
        store(5, "tikv-2", "Up", 80.0, 100.0, 45, OBSERVED_AT),
    ];
    let mut st = state(stores);
    st["evict_leader_stores"] = json!([4]);
    st["schedulers"] = json!([
        "balance-leader-scheduler",
        "balance-region-scheduler",
        "evict-leader-scheduler"
    ]);
    brief(
        81,
        "evict_leader_left_behind",
        "store/4",
        "warning",
        "store 4 has 0 leaders and an evict-leader entry",
        json!({
            "observed_at": OBSERVED_AT, "metrics": [], "state": st, "logs": [], "events": []
        }),
    )
}

/// Two of three PD members are down: no quorum.
pub fn pd_no_quorum() -> TicketBrief {
    let stores = vec![store(1, "tikv-0", "Up", 80.0, 100.0, 30, OBSERVED_AT)];
    let mut st = state(stores);
    st["members"][1]["healthy"] = json!(false);
    st["members"][2]["healthy"] = json!(false);
    st["leader"] = Value::Null;
    brief(
        91,
        "pd_no_leader",
        "member/pd-1",
        "critical",
        "PD has no leader",
        json!({
            "observed_at": OBSERVED_AT,
            "metrics": [],
            "state": st,
            "logs": [{"source": "pd-0", "at": "2026-11-22T06:08:00Z", "line": "[2026/11/22 06:08:00.001 +00:00] [INFO] [server.go:1700] [\"skip campaigning of pd leader and check later\"]"}],
            "events": [
                {"source": "docker", "at": "2026-11-22T06:07:10Z", "what": "container pd-1 died (exitCode=137)"},
                {"source": "docker", "at": "2026-11-22T06:07:12Z", "what": "container pd-2 died (exitCode=137)"}
            ]
        }),
    )
}
