//! Conformance of the simulator's HTTP responses with the PD/TiKV reference fixtures:
//! field names, JSON types and content types (shapes, not values), and metric families
//! (type and label names).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use operator::sim::cluster::{InProcessCluster, SimClusterConfig};
use operator::sim::wire::TomlValue;
use serde_json::Value;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/reference/pd-tikv/fixtures"
);

/// Fields gogoproto/`omitempty` drops when zero, so a response may lack them.
const OMITEMPTY: &[&str] = &[
    "state",
    "labels",
    "physically_destroyed",
    "node_state",
    "learner_count",
    "witness_count",
    "pending_peer_count",
    "slow_score",
    "network_slow_score",
    "slow_trend",
    "sending_snap_count",
    "receiving_snap_count",
    "is_busy",
    "start_ts",
    "last_heartbeat_ts",
    "uptime",
    "epoch",
    "conf_ver",
    "version",
    "peers",
    "down_peers",
    "pending_peers",
    "down_seconds",
    "is_learner",
    "role",
    "id",
    "store_id",
    "buckets",
    "replication_status",
    "leader_priority",
    "dc_location",
    "etcd_leader",
    "leader",
];

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn id_keyed(o: &serde_json::Map<String, Value>) -> bool {
    !o.is_empty() && o.keys().all(|k| k.parse::<u64>().is_ok())
}

/// Compares `ours` against the fixture's shape; returns human-readable mismatches.
fn compare(path: &str, fixture: &Value, ours: &Value, errs: &mut Vec<String>) {
    match (fixture, ours) {
        (Value::Null, _) => {}
        // Go encodes a nil slice as null.
        (Value::Array(_), Value::Null) => {}
        (Value::Object(f), Value::Object(o)) => {
            if id_keyed(f) || (f.is_empty() && id_keyed(o)) {
                // Maps keyed by store id: compare every value with the fixture's first.
                if let Some(fv) = f.values().next() {
                    for (k, ov) in o {
                        compare(&format!("{path}.{k}"), fv, ov, errs);
                    }
                }
                return;
            }
            for (k, fv) in f {
                match o.get(k) {
                    Some(ov) => compare(&format!("{path}.{k}"), fv, ov, errs),
                    None if OMITEMPTY.contains(&k.as_str()) => {}
                    None => errs.push(format!("{path}.{k}: missing")),
                }
            }
            for k in o.keys() {
                // Documented omitempty fields may appear although this fixture lacks them.
                if !f.contains_key(k) && !OMITEMPTY.contains(&k.as_str()) {
                    errs.push(format!("{path}.{k}: not in the fixture"));
                }
            }
        }
        (Value::Array(f), Value::Array(o)) => {
            if let Some(fv) = union_of(f) {
                let fv = &fv;
                for (i, ov) in o.iter().enumerate() {
                    compare(&format!("{path}[{i}]"), fv, ov, errs);
                }
            }
        }
        (f, o) if kind(f) == kind(o) => {}
        (f, o) => errs.push(format!("{path}: fixture {} but sim {}", kind(f), kind(o))),
    }
}

/// The union shape of an array's elements (objects merged key by key, first value wins).
fn union_of(items: &[Value]) -> Option<Value> {
    let mut acc = items.first()?.clone();
    for it in &items[1..] {
        merge(&mut acc, it);
    }
    Some(acc)
}

fn merge(acc: &mut Value, other: &Value) {
    match (acc, other) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(x) => merge(x, v),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (x @ Value::Null, v) => *x = v.clone(),
        _ => {}
    }
}

fn fixture(name: &str) -> (Value, bool) {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let pretty = text.ends_with('\n')
        && (text.contains("\n  ") || !text.starts_with('{') && !text.starts_with('['));
    (
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}")),
        pretty,
    )
}

async fn fetch(url: &str) -> (String, String, u16) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (ct, r.text().await.unwrap(), status)
}

async fn check_route(pd: &str, name: &str, route: &str, errs: &mut Vec<String>) -> bool {
    let (fx, pretty) = fixture(name);
    let (ct, body, status) = fetch(&format!("{pd}{route}")).await;
    if status != 200 {
        errs.push(format!("{name} ({route}): HTTP {status}: {body}"));
        return false;
    }
    let want_ct = if pretty {
        "application/json; charset=UTF-8"
    } else {
        "application/octet-stream"
    };
    if ct != want_ct {
        errs.push(format!(
            "{name} ({route}): content type {ct:?}, want {want_ct:?}"
        ));
    }
    if pretty && !body.ends_with('\n') {
        errs.push(format!(
            "{name} ({route}): pretty JSON must end with a newline"
        ));
    }
    if !pretty && body.ends_with('\n') {
        errs.push(format!(
            "{name} ({route}): compact JSON must not end with a newline"
        ));
    }
    let ours: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => {
            errs.push(format!("{name} ({route}): not JSON: {e}"));
            return false;
        }
    };
    let before = errs.len();
    compare(name, &fx, &ours, errs);
    errs.len() == before
}

async fn send(method: reqwest::Method, url: &str, body: Value) -> u16 {
    reqwest::Client::new()
        .request(method, url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn count(url: String) -> u64 {
    let (_, body, _) = fetch(&url).await;
    serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["count"].as_u64())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pd_json_routes_match_the_fixture_shapes_and_content_types() {
    let mut pd_overrides = BTreeMap::new();
    pd_overrides.insert(
        "schedule.max-store-down-time".to_string(),
        TomlValue::Str("1h".into()),
    );
    let mut tikv_overrides = BTreeMap::new();
    tikv_overrides.insert(
        "raftstore.max-peer-down-duration".to_string(),
        TomlValue::Str("30s".into()),
    );
    let mut c = InProcessCluster::start(SimClusterConfig {
        pd: 3,
        tikv: 5,
        time_factor: 20.0,
        seed: 3,
        initial_regions: 12,
        pd_overrides,
        tikv_overrides,
        base_dir: None,
        operator_names: None,
    })
    .await
    .unwrap();
    c.wait_ready(Duration::from_secs(30)).await.unwrap();
    let pd = c.pd_urls()[c.pd_leader().unwrap()].clone();
    let p = pd.clone();
    until("replication", || {
        let p = p.clone();
        async move { count(format!("{p}/pd/api/v1/regions/check/miss-peer")).await == 0 }
    })
    .await;
    // Build a state with down peers, an offline store, an evict-leader scheduler, a hot
    // range and a running operator.
    let dead = c.tikv(4).unwrap().store_id();
    c.kill_tikv(4);
    let p = pd.clone();
    until("down peers", || {
        let p = p.clone();
        async move { count(format!("{p}/pd/api/v1/regions/check/down-peer")).await > 0 }
    })
    .await;
    let evicted = c.tikv(0).unwrap().store_id();
    assert_eq!(
        send(
            reqwest::Method::POST,
            &format!("{pd}/pd/api/v1/schedulers"),
            serde_json::json!({"name":"evict-leader-scheduler","store_id":evicted})
        )
        .await,
        200
    );
    assert_eq!(
        send(
            reqwest::Method::PUT,
            &format!("{pd}/sim/v1/workload"),
            serde_json::json!({"hot_range":{"start_key":"","end_key":"","qps":20000}})
        )
        .await,
        200
    );
    // A region without a peer on the dead store gets an add-peer that cannot finish.
    // PD's checkers run operators of their own on some regions meanwhile and PD refuses
    // a second one, so the candidates are tried again, from a fresh region list, for a
    // few seconds.
    let mut rid = 0;
    for _ in 0..40 {
        let (_, regions, _) = fetch(&format!("{pd}/pd/api/v1/regions")).await;
        let regions: Value = serde_json::from_str(&regions).unwrap();
        let candidates: Vec<u64> = regions["regions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["peers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|p| p["store_id"] != dead)
            })
            .map(|r| r["id"].as_u64().unwrap())
            .collect();
        for cand in candidates {
            // A checker may already run an operator on the region; PD refuses a second one.
            if send(
                reqwest::Method::POST,
                &format!("{pd}/pd/api/v1/operators"),
                serde_json::json!({"name":"add-peer","region_id":cand,"store_id":dead}),
            )
            .await
                == 200
            {
                rid = cand;
                break;
            }
        }
        if rid != 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_ne!(rid, 0, "an add-peer operator was created");
    let offline = c.tikv(3).unwrap().store_id();
    assert_eq!(
        send(
            reqwest::Method::DELETE,
            &format!("{pd}/pd/api/v1/store/{offline}"),
            Value::Null
        )
        .await,
        200
    );

    let some_store = c.tikv(1).unwrap().store_id();
    let routes: Vec<(&str, String)> = vec![
        ("stores.json", "/pd/api/v1/stores".into()),
        ("store.json", format!("/pd/api/v1/store/{some_store}")),
        ("regions.json", "/pd/api/v1/regions".into()),
        ("region.json", format!("/pd/api/v1/region/id/{rid}")),
        (
            "region_not_found.json",
            "/pd/api/v1/region/id/99999999".into(),
        ),
        (
            "regions_key.json",
            "/pd/api/v1/regions/key?key=&limit=3".into(),
        ),
        (
            "regions_store_1.json",
            format!("/pd/api/v1/regions/store/{some_store}"),
        ),
        (
            "region_check_miss_peer.json",
            "/pd/api/v1/regions/check/miss-peer".into(),
        ),
        (
            "region_check_extra_peer.json",
            "/pd/api/v1/regions/check/extra-peer".into(),
        ),
        (
            "region_check_pending_peer.json",
            "/pd/api/v1/regions/check/pending-peer".into(),
        ),
        (
            "region_check_offline_peer.json",
            "/pd/api/v1/regions/check/offline-peer".into(),
        ),
        (
            "region_check_learner_peer.json",
            "/pd/api/v1/regions/check/learner-peer".into(),
        ),
        (
            "region_check_empty_region.json",
            "/pd/api/v1/regions/check/empty-region".into(),
        ),
        ("regions.json", "/pd/api/v1/regions/check/down-peer".into()),
        (
            "hotspot_write.json",
            "/pd/api/v1/hotspot/regions/write".into(),
        ),
        (
            "hotspot_write.json",
            "/pd/api/v1/hotspot/regions/read".into(),
        ),
        ("hotspot_stores.json", "/pd/api/v1/hotspot/stores".into()),
        ("members.json", "/pd/api/v1/members".into()),
        ("leader.json", "/pd/api/v1/leader".into()),
        ("health.json", "/pd/api/v1/health".into()),
        ("cluster.json", "/pd/api/v1/cluster".into()),
        ("cluster_status.json", "/pd/api/v1/cluster/status".into()),
        ("config.json", "/pd/api/v1/config".into()),
        (
            "config_replicate.json",
            "/pd/api/v1/config/replicate".into(),
        ),
        ("config_schedule.json", "/pd/api/v1/config/schedule".into()),
        ("operators.json", "/pd/api/v1/operators".into()),
        (
            "operators_object.json",
            "/pd/api/v1/operators?object".into(),
        ),
        (
            "operator_region.json",
            format!("/pd/api/v1/operators/{rid}"),
        ),
        ("schedulers.json", "/pd/api/v1/schedulers".into()),
        (
            "scheduler_config_evict_leader.json",
            "/pd/api/v1/scheduler-config/evict-leader-scheduler/list".into(),
        ),
        ("version.json", "/pd/api/v1/version".into()),
        ("status.json", "/pd/api/v1/status".into()),
    ];
    let mut errs = Vec::new();
    for (name, route) in &routes {
        check_route(&pd, name, route, &mut errs).await;
    }
    // The same through a follower (proxied).
    let follower = (c.pd_leader().unwrap() + 1) % 3;
    check_route(
        &c.pd_urls()[follower],
        "stores.json",
        "/pd/api/v1/stores",
        &mut errs,
    )
    .await;
    // Non-empty evidence that the interesting shapes were exercised.
    let (_, ops, _) = fetch(&format!("{pd}/pd/api/v1/operators")).await;
    assert!(ops.contains("admin-add-peer"), "{ops}");
    let (_, hot, _) = fetch(&format!("{pd}/pd/api/v1/hotspot/regions/write")).await;
    assert!(
        hot.contains("\"region_id\""),
        "hot statistics present: {hot}"
    );
    assert!(errs.is_empty(), "shape mismatches:\n{}", errs.join("\n"));
    c.shutdown().await;
}

/// Metric families (name -> (type, label names)) of a Prometheus text page.
fn families(text: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let (n, t) = (
                it.next().unwrap().to_string(),
                it.next().unwrap().to_string(),
            );
            out.insert(n, (t, BTreeSet::new()));
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap();
        let mut name = &line[..name_end];
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if out.get(base).is_some_and(|(t, _)| t == "histogram") {
                    name = base;
                }
            }
        }
        let labels: BTreeSet<String> = if line.as_bytes()[name_end] == b'{' {
            let body = &line[name_end + 1..line.rfind('}').unwrap()];
            body.split("\",")
                .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.trim().to_string()))
                .filter(|k| k != "le")
                .collect()
        } else {
            BTreeSet::new()
        };
        if let Some(f) = out.get_mut(name) {
            f.1.extend(labels);
        }
    }
    out
}

fn compare_metrics(reference: &str, ours: &str, required: &[&str]) -> Vec<String> {
    let r = families(reference);
    let o = families(ours);
    let mut errs = Vec::new();
    for name in required {
        if !o.contains_key(*name) {
            errs.push(format!("{name}: not exported"));
        }
    }
    for (name, (t, labels)) in &o {
        if let Some((rt, rl)) = r.get(name) {
            if rt != t {
                errs.push(format!("{name}: type {t}, reference {rt}"));
            }
            if !labels.is_empty() && !rl.is_empty() && labels != rl {
                errs.push(format!("{name}: labels {labels:?}, reference {rl:?}"));
            }
        }
    }
    errs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tikv_and_pd_metrics_match_the_reference_families() {
    let c = InProcessCluster::start(SimClusterConfig {
        pd: 1,
        tikv: 3,
        time_factor: 100.0,
        initial_regions: 6,
        ..Default::default()
    })
    .await
    .unwrap();
    c.wait_ready(Duration::from_secs(20)).await.unwrap();
    let pd = c.pd_urls()[0].clone();
    assert_eq!(
        send(
            reqwest::Method::PUT,
            &format!("{pd}/sim/v1/workload"),
            serde_json::json!({"hot_range":{"start_key":"","end_key":"","qps":20000,"kind":"both"}})
        )
        .await,
        200
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ct, tikv_text, _) = fetch(&format!("{}/metrics", c.tikv_status_urls()[0])).await;
    assert_eq!(ct, "text/plain; version=0.0.4");
    let reference = std::fs::read_to_string(format!("{FIXTURES}/tikv_metrics.txt")).unwrap();
    let errs = compare_metrics(
        &reference,
        &tikv_text,
        &[
            "tikv_grpc_msg_duration_seconds",
            "tikv_raftstore_append_log_duration_seconds",
            "tikv_raftstore_apply_log_duration_seconds",
            "tikv_raftstore_commit_log_duration_seconds",
            "tikv_store_size_bytes",
            "tikv_raftstore_region_count",
            "tikv_thread_cpu_seconds_total",
            "tikv_raftstore_slow_score",
            "tikv_raftstore_snapshot_total",
            "tikv_raftstore_snapshot_duration_seconds",
            "tikv_pd_heartbeat_message_total",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
        ],
    );
    assert!(errs.is_empty(), "tikv metrics:\n{}", errs.join("\n"));
    let (_, pd_text, _) = fetch(&format!("{pd}/metrics")).await;
    let reference = std::fs::read_to_string(format!("{FIXTURES}/pd_metrics.txt")).unwrap();
    let errs = compare_metrics(
        &reference,
        &pd_text,
        &[
            "pd_cluster_status",
            "pd_regions_status",
            "pd_scheduler_store_status",
            "pd_hotspot_status",
            "pd_cluster_health_status",
            "service_member_role",
        ],
    );
    assert!(errs.is_empty(), "pd metrics:\n{}", errs.join("\n"));
    assert!(pd_text.contains("service_member_role{service=\"PD\"} 1"));
    c.shutdown().await;
}

#[test]
fn the_shape_comparison_catches_renamed_fields_and_type_changes() {
    let f: Value = serde_json::json!({"a": 1, "b": [{"c": "x"}]});
    let mut errs = Vec::new();
    compare(
        "t",
        &f,
        &serde_json::json!({"a": "1", "b": [{"d": "x"}]}),
        &mut errs,
    );
    assert_eq!(errs.len(), 3, "{errs:?}");
}
