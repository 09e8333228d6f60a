//! PD wire types against the reference fixtures, conversion into the domain model, and
//! the PD client against a local axum server serving those fixtures.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use operator::http::HttpConfig;
use operator::subjects::tikv::model::{NodeState, StoreState};
use operator::subjects::tikv::pd::convert::store_from_wire;
use operator::subjects::tikv::pd::types::*;
use operator::subjects::tikv::pd::{DeleteStoreOutcome, PdClient, PdError, StoreStateTarget};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/pd-tikv/fixtures"
    ))
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join(name))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Every key PD sent must survive a decode → encode round trip: the types model every
/// field (or keep it in a flattened map), nothing is silently dropped.
fn assert_keys_preserved(original: &Value, reencoded: &Value, path: &str) {
    match (original, reencoded) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let other = b
                    .get(key)
                    .unwrap_or_else(|| panic!("{path}.{key} lost in the round trip"));
                assert_keys_preserved(value, other, &format!("{path}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: array length changed");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_keys_preserved(x, y, &format!("{path}[{i}]"));
            }
        }
        _ => {}
    }
}

fn check<T: DeserializeOwned + Serialize>(name: &str, text: &str) -> T {
    let typed: T = serde_json::from_str(text).unwrap_or_else(|e| {
        panic!(
            "{name} does not decode into {}: {e}",
            std::any::type_name::<T>()
        )
    });
    let original: Value = serde_json::from_str(text).unwrap();
    let reencoded = serde_json::to_value(&typed).unwrap();
    assert_keys_preserved(&original, &reencoded, name);
    typed
}

/// Decodes one fixture file by name into its wire type. Unknown JSON fixtures fail the
/// test so that a new fixture cannot go unchecked.
fn decode_fixture(name: &str, text: &str) {
    match name {
        "stores.json" => drop(check::<StoresInfo>(name, text)),
        n if n.starts_with("store") => drop(check::<StoreInfo>(name, text)),
        "members.json" => drop(check::<MembersInfo>(name, text)),
        "leader.json" => drop(check::<PdMember>(name, text)),
        "health.json" => drop(check::<Vec<MemberHealth>>(name, text)),
        "cluster.json" => drop(check::<ClusterInfo>(name, text)),
        "cluster_status.json" => drop(check::<ClusterStatus>(name, text)),
        "config.json" => drop(check::<PdConfig>(name, text)),
        "config_replicate.json" => drop(check::<ReplicationConfig>(name, text)),
        "config_schedule.json" => drop(check::<ScheduleConfig>(name, text)),
        "region.json" | "region_not_found.json" => drop(check::<RegionInfo>(name, text)),
        n if n.starts_with("regions") || n.starts_with("region_check_") => {
            drop(check::<RegionsInfo>(name, text))
        }
        "hotspot_stores.json" => drop(check::<HotStores>(name, text)),
        n if n.starts_with("hotspot_") => drop(check::<HotRegions>(name, text)),
        "operators.json" => drop(check::<Vec<String>>(name, text)),
        "operators_object.json" => drop(check::<Vec<OperatorObject>>(name, text)),
        "operator_region.json" => drop(check::<String>(name, text)),
        "schedulers.json" => drop(check::<Vec<String>>(name, text)),
        "scheduler_config_evict_leader.json" => drop(check::<EvictLeaderConfig>(name, text)),
        "version.json" => drop(check::<VersionInfo>(name, text)),
        "status.json" => drop(check::<StatusInfo>(name, text)),
        other => panic!("no wire type registered for fixture {other}"),
    }
}

#[test]
fn every_json_fixture_decodes_into_its_wire_type_without_losing_fields() {
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures_dir()).expect("fixtures directory") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        decode_fixture(&name, &std::fs::read_to_string(&path).unwrap());
        seen += 1;
    }
    assert!(seen >= 28, "only {seen} JSON fixtures found");
}

#[test]
fn stores_fixture_converts_into_the_domain_model() {
    let stores: StoresInfo = serde_json::from_str(&fixture("stores.json")).unwrap();
    assert_eq!(stores.count, 5);
    let model: Vec<_> = stores.stores.iter().map(store_from_wire).collect();
    let by_id = |id| model.iter().find(|s| s.id == id).unwrap();

    let s1 = by_id(1);
    assert_eq!(s1.state, StoreState::Up);
    assert_eq!(s1.node_state, NodeState::Serving);
    assert_eq!(s1.address, "tikv0:20160");
    assert_eq!(s1.status_address, "tikv0:20180");
    assert_eq!(s1.version, "8.5.7");
    assert_eq!(s1.capacity_bytes, 1007 * (1 << 30));
    assert_eq!(s1.available_bytes, (845.1 * GIB).round() as u64);
    assert_eq!(s1.used_bytes, (2.35 * GIB).round() as u64);
    assert_eq!((s1.leader_count, s1.region_count), (2, 4));
    assert_eq!(s1.slow_score, Some(1));
    assert_eq!(s1.last_heartbeat_unix_nanos, 1_782_898_212_774_919_012);
    assert_eq!(s1.start_unix_secs, 1_782_893_643);

    assert_eq!(by_id(5).state, StoreState::Disconnected);
    assert_eq!(by_id(6).state, StoreState::Offline);
    assert_eq!(by_id(6).node_state, NodeState::Removing);
    assert_eq!(by_id(7).pending_peer_count, 1);

    let status = &stores.stores[0].status;
    assert_eq!(
        status.uptime.unwrap().0,
        Duration::new(4569, 774_919_012),
        "1h16m9.774919012s"
    );
}

#[test]
fn schedule_and_replication_configs_yield_the_thresholds_the_operator_uses() {
    let schedule: ScheduleConfig = serde_json::from_str(&fixture("config_schedule.json")).unwrap();
    assert_eq!(schedule.max_store_down_time.0, Duration::from_secs(1800));
    assert_eq!(
        schedule.max_store_preparing_time.0,
        Duration::from_secs(48 * 3600)
    );
    assert_eq!(schedule.low_space_ratio, 0.8);
    assert_eq!(schedule.store_limit["6"].remove_peer, 100_000_000.0);
    assert!(schedule.enable_replace_offline_replica.0);
    assert!(!schedule.halt_scheduling.0);
    assert!(schedule
        .schedulers_v2
        .iter()
        .any(|s| s.kind == "evict-leader" && s.args.as_deref() == Some(&["1".to_owned()][..])));
    let replicate: ReplicationConfig =
        serde_json::from_str(&fixture("config_replicate.json")).unwrap();
    assert_eq!(replicate.max_replicas, 3);
    assert!(replicate.enable_placement_rules.0);
    assert!(!replicate.strictly_match_label.0);
    let full: PdConfig = serde_json::from_str(&fixture("config.json")).unwrap();
    assert_eq!(full.replication, replicate);
    assert_eq!(
        full.schedule.max_store_down_time,
        schedule.max_store_down_time
    );
}

#[test]
fn member_ids_above_two_to_the_63_survive() {
    let members: MembersInfo = serde_json::from_str(&fixture("members.json")).unwrap();
    assert_eq!(members.header.cluster_id, 7_521_893_076_542_318_519);
    assert_eq!(members.members[1].member_id, 13_378_455_632_718_329_863);
    assert_eq!(members.leader.as_ref().unwrap().name, "pd0");
}

#[test]
fn regions_decode_with_learners_down_and_pending_peers() {
    let region: RegionInfo = serde_json::from_str(&fixture("region.json")).unwrap();
    assert_eq!(region.id, 12);
    let learner = region.peers.iter().find(|p| p.is_learner).unwrap();
    assert_eq!((learner.id, learner.store_id, learner.role), (30, 7, 1));
    assert_eq!(region.pending_peers.len(), 1);
    let not_found: RegionInfo = serde_json::from_str(&fixture("region_not_found.json")).unwrap();
    assert!(not_found.is_not_found_placeholder());
    let regions: RegionsInfo = serde_json::from_str(&fixture("regions.json")).unwrap();
    assert_eq!(regions.count, 4);
    let down = &regions.regions[0].down_peers[0];
    assert_eq!((down.peer.store_id, down.down_seconds), (5, 703));
}

#[test]
fn withheld_fixture_shapes_described_by_the_reference_decode() {
    // store_down.json: a stored-Up store whose derived state is Down.
    let down: StoreInfo = serde_json::from_str(
        r#"{"store":{"id":5,"address":"tikv2:20160","version":"8.5.7","status_address":"tikv2:20180",
            "start_timestamp":1782893644,"last_heartbeat":1782897489900348112,"node_state":1,
            "state_name":"Down"},
            "status":{"capacity":"0B","available":"0B","used_size":"0B","leader_count":0,
            "leader_weight":1,"leader_score":0,"leader_size":0,"region_count":2,"region_weight":1,
            "region_score":630.7,"region_size":191,"slow_score":1,"uptime":"1h4m5.900348112s"}}"#,
    )
    .unwrap();
    let model = store_from_wire(&down);
    assert_eq!(model.state, StoreState::Down);
    assert_eq!(model.capacity_bytes, 0);

    // store_tombstone.json: state 2, node_state 3.
    let tomb: StoreInfo = serde_json::from_str(
        r#"{"store":{"id":6,"address":"tikv3:20160","state":2,"version":"8.5.7",
            "node_state":3,"state_name":"Tombstone","last_heartbeat":1782898209555162874},
            "status":{"capacity":"1007GiB","available":"845.6GiB","used_size":"1.824GiB",
            "leader_count":0,"leader_weight":1,"leader_score":0,"leader_size":0,
            "region_count":0,"region_weight":1,"region_score":0,"region_size":0}}"#,
    )
    .unwrap();
    let model = store_from_wire(&tomb);
    assert_eq!(model.state, StoreState::Tombstone);
    assert_eq!(model.node_state, NodeState::Removed);

    // region_check_down_peer.json.
    let checks: RegionsInfo = serde_json::from_str(
        r#"{"count":1,"regions":[{"id":16,"start_key":"","end_key":"","epoch":{"conf_ver":5,"version":5},
            "peers":[{"role_name":"Voter","id":17,"store_id":1},{"role_name":"Voter","id":19,"store_id":5}],
            "leader":{"role_name":"Voter","id":17,"store_id":1},
            "down_peers":[{"peer":{"role_name":"Voter","id":19,"store_id":5},"down_seconds":703}],
            "cpu_usage":0,"written_bytes":0,"read_bytes":0,"written_keys":0,"read_keys":0,
            "approximate_size":95,"approximate_keys":299455}]}"#,
    )
    .unwrap();
    assert_eq!(checks.regions[0].down_peers[0].down_seconds, 703);

    // hotspot_read.json has hotspot_write.json's shape (v8.5.0 without *_cpu too).
    let read: HotRegions = serde_json::from_str(
        r#"{"as_peer":{"1":{"store_bytes":873813.3,"store_keys":1706.7,"store_query":2560,
            "total_flow_bytes":0,"total_flow_keys":0,"total_flow_query":0,"regions_count":0,
            "statistics":[]}},"as_leader":{}}"#,
    )
    .unwrap();
    assert_eq!(read.as_peer["1"].store_cpu, None);
}

#[test]
fn hotspot_and_operator_fixtures_carry_their_figures() {
    let write: HotRegions = serde_json::from_str(&fixture("hotspot_write.json")).unwrap();
    let s1 = &write.as_peer["1"];
    assert_eq!(s1.regions_count, 2);
    assert_eq!(s1.statistics[0].region_id, 12);
    let stores: HotStores = serde_json::from_str(&fixture("hotspot_stores.json")).unwrap();
    assert_eq!(stores.bytes_write_rate["4"], 1_189_120.0);
    let ops: Vec<OperatorObject> = serde_json::from_str(&fixture("operators_object.json")).unwrap();
    assert_eq!(ops[0].timeout.0, Duration::from_secs(17 * 60));
    assert_eq!(ops[0].desc, "replace-rule-offline-peer");
    let evict: EvictLeaderConfig =
        serde_json::from_str(&fixture("scheduler_config_evict_leader.json")).unwrap();
    assert_eq!(evict.store_ids(), vec![1]);
}

// ---------------------------------------------------------------------------------------
// Client against a local server
// ---------------------------------------------------------------------------------------

type Handler = Arc<dyn Fn(&Method, &str, &str) -> (u16, String) + Send + Sync>;

struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

async fn serve(handler: Handler) -> Server {
    let hits = Arc::new(AtomicUsize::new(0));
    let state = (handler, hits.clone());
    let router = axum::Router::new()
        .fallback(
            |State((handler, hits)): State<(Handler, Arc<AtomicUsize>)>, req: Request| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                let (status, body) = handler(
                    req.method(),
                    req.uri().path(),
                    req.uri().query().unwrap_or(""),
                );
                let response: Response = (
                    StatusCode::from_u16(status).unwrap(),
                    [(http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response();
                response
            },
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Server { addr, hits }
}

/// A PD serving the fixtures, bootstrapped or not.
fn fixture_pd(bootstrapped: bool) -> Handler {
    Arc::new(move |method, path, _query| {
        let Some(route) = path.strip_prefix("/pd/api/v1/") else {
            return (404, "404 page not found".into());
        };
        let cluster_scoped = route.starts_with("store")
            || route.starts_with("region")
            || route.starts_with("schedulers")
            || route.starts_with("scheduler-config")
            || route.starts_with("hotspot")
            || route.starts_with("operators");
        if !bootstrapped && cluster_scoped {
            return (
                500,
                "\"[PD:cluster:ErrNotBootstrapped]TiKV cluster not bootstrapped, please start TiKV first\"".into(),
            );
        }
        let file = match (method.as_str(), route) {
            ("GET", "members") => "members.json",
            ("GET", "leader") => "leader.json",
            ("GET", "health") => "health.json",
            ("GET", "stores") => "stores.json",
            ("GET", "store/1") => "store.json",
            ("GET", "config/replicate") => "config_replicate.json",
            ("GET", "config/schedule") => "config_schedule.json",
            ("GET", "schedulers") => "schedulers.json",
            ("GET", "scheduler-config/evict-leader-scheduler/list") => {
                "scheduler_config_evict_leader.json"
            }
            ("GET", "regions/count") => return (200, r#"{"count":4,"regions":[]}"#.into()),
            ("GET", "regions/check/down-peer") => {
                return (200, r#"{"count":2,"regions":[]}"#.into())
            }
            ("GET", r) if r.starts_with("regions/check/") => {
                return (
                    200,
                    fixture(&format!(
                        "region_check_{}.json",
                        r["regions/check/".len()..].replace('-', "_")
                    )),
                )
            }
            ("GET", "region/id/12") => "region.json",
            ("GET", r) if r.starts_with("region/id/") => "region_not_found.json",
            ("GET", "version") => "version.json",
            ("GET", "cluster/status") => "cluster_status.json",
            ("GET", "hotspot/stores") => "hotspot_stores.json",
            ("GET", "operators") => "operators_object.json",
            _ => return (404, "404 page not found".into()),
        };
        (200, fixture(file))
    })
}

fn fast() -> HttpConfig {
    HttpConfig {
        per_attempt_timeout: Duration::from_secs(2),
        backoff_min: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        ..HttpConfig::default()
    }
}

fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn the_client_fails_over_from_a_dead_endpoint_and_remembers_the_live_one() {
    let live = serve(fixture_pd(true)).await;
    let dead = dead_endpoint();
    let client = PdClient::new(&[dead.clone(), format!("{}", live.addr)], fast()).unwrap();
    assert_eq!(client.current_endpoint().as_str(), format!("{dead}/"));
    let members = client.members().await.unwrap();
    assert_eq!(members.members.len(), 3);
    assert_eq!(
        client.current_endpoint().as_str(),
        format!("http://{}/", live.addr)
    );
    let before = live.hits.load(Ordering::SeqCst);
    client.version().await.unwrap();
    assert_eq!(live.hits.load(Ordering::SeqCst), before + 1);

    let all_dead = PdClient::new(&[dead_endpoint(), dead_endpoint()], fast()).unwrap();
    let error = all_dead.members().await.unwrap_err();
    match &error {
        PdError::Unreachable { attempts } => assert_eq!(attempts.len(), 2),
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn delete_store_maps_pd_refusals_to_outcomes() {
    let server = serve(Arc::new(|method, path, _| {
        assert_eq!(method, Method::DELETE);
        match path {
            "/pd/api/v1/store/1" => (
                400,
                "\"[PD:core:ErrStoresNotEnough]can not remove store 1 since the number of up stores would be 2 while need 3\"".into(),
            ),
            "/pd/api/v1/store/6" => (410, "\"[PD:core:ErrStoreRemoved]store 6 has been removed\"".into()),
            "/pd/api/v1/store/99" => (404, "\"[PD:core:ErrStoreNotFound]store 99 not found\"".into()),
            "/pd/api/v1/store/7" => (200, "\"The store is set as Offline.\"".into()),
            _ => (400, "\"[PD:core:ErrNoStoreForRegionLeader]no store for leader\"".into()),
        }
    }))
    .await;
    let client = PdClient::new(&[server.addr.to_string()], fast()).unwrap();
    match client.delete_store(1).await.unwrap() {
        DeleteStoreOutcome::StoresNotEnough { message } => {
            assert!(message.contains("would be 2 while need 3"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        client.delete_store(6).await.unwrap(),
        DeleteStoreOutcome::AlreadyTombstone
    );
    assert_eq!(
        client.delete_store(99).await.unwrap(),
        DeleteStoreOutcome::NotFound
    );
    assert_eq!(
        client.delete_store(7).await.unwrap(),
        DeleteStoreOutcome::Offline
    );
    let other = client.delete_store(8).await.unwrap_err();
    assert_eq!(other.status(), Some(400));
    assert_eq!(other.code(), Some("ErrNoStoreForRegionLeader"));
    // 4xx are never retried: one request each.
    assert_eq!(server.hits.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn observe_builds_the_view_from_a_bootstrapped_pd() {
    let server = serve(fixture_pd(true)).await;
    let client = PdClient::new(&[server.addr.to_string()], fast()).unwrap();
    let view = client.observe().await.unwrap();
    assert!(view.bootstrapped);
    assert_eq!(view.cluster_id, 7_521_893_076_542_318_519);
    assert_eq!(view.endpoint, format!("http://{}", server.addr));
    assert_eq!(view.leader.as_deref(), Some("pd0"));
    assert_eq!(view.members.len(), 3);
    assert!(view.members.iter().all(|m| m.healthy == Some(true)));
    assert_eq!(
        view.stores.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![1, 4, 5, 6, 7]
    );
    assert_eq!(view.max_replicas, 3);
    assert_eq!(view.max_store_down_time_secs, 1800);
    assert_eq!(view.low_space_ratio, 0.8);
    assert_eq!(view.evict_leader_stores, vec![1]);
    let sorted: BTreeSet<_> = view.schedulers.iter().cloned().collect();
    assert_eq!(sorted.len(), 6);
    assert_eq!(view.schedulers, sorted.into_iter().collect::<Vec<_>>());
    let health = view.region_health.unwrap();
    assert_eq!(health.miss_peer, 0);
    assert_eq!(health.extra_peer, 1);
    assert_eq!(health.down_peer, 2);
    assert_eq!(health.pending_peer, 1);
    assert_eq!(health.offline_peer, 2);
    assert_eq!(health.learner_peer, 1);
    assert_eq!(health.total, 4);
    assert_eq!(view.up_store_count(), 3);
}

#[tokio::test]
async fn observe_tolerates_a_pd_whose_cluster_is_not_bootstrapped() {
    let server = serve(fixture_pd(false)).await;
    let client = PdClient::new(&[server.addr.to_string()], fast()).unwrap();
    let before = server.hits.load(Ordering::SeqCst);
    let view = client.observe().await.unwrap();
    assert!(!view.bootstrapped);
    assert!(view.stores.is_empty());
    assert!(view.region_health.is_none());
    assert!(view.schedulers.is_empty());
    assert_eq!(view.members.len(), 3);
    assert_eq!(view.max_replicas, 3);
    // Not-bootstrapped 500s are not retried: members, leader, health, stores, 2 configs,
    // schedulers, evict-leader, 6 checks, the count and the two hotspot lists are one
    // request each.
    assert_eq!(server.hits.load(Ordering::SeqCst) - before, 17);
    assert!(view.hot_regions.is_empty());
    assert!(matches!(
        client.stores(false).await,
        Err(PdError::NotBootstrapped)
    ));
}

#[tokio::test]
async fn a_pd_without_a_leader_is_retried_until_the_election_ends() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let server = serve(Arc::new(move |method, path, _| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        if n < 2 {
            return (
                503,
                "[PD:apiutil:ErrRedirectNoLeader]redirect finds no leader\n".into(),
            );
        }
        match (method.as_str(), path) {
            ("POST", "/pd/api/v1/leader/transfer/pd1") => {
                (200, "\"transfer leader to pd1\"".into())
            }
            ("GET", "/pd/api/v1/leader") => (200, fixture("leader.json")),
            _ => (404, String::new()),
        }
    }))
    .await;
    let client = PdClient::new(&[server.addr.to_string()], fast()).unwrap();
    // Even a POST: PD refused it before executing it.
    client.transfer_leader("pd1").await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let stuck = serve(Arc::new(|_, _, _| {
        (
            503,
            "[PD:apiutil:ErrRedirectNoLeader]redirect finds no leader\n".into(),
        )
    }))
    .await;
    let client = PdClient::new(&[stuck.addr.to_string()], fast()).unwrap();
    assert!(matches!(client.leader().await, Err(PdError::NoLeader(_))));
    assert_eq!(
        stuck.hits.load(Ordering::SeqCst),
        4,
        "1 attempt + 3 retries"
    );
}

#[tokio::test]
async fn evict_leader_calls_are_idempotent() {
    let server = serve(Arc::new(|method, path, _| match (method.as_str(), path) {
        ("POST", "/pd/api/v1/schedulers") => (200, "\"The scheduler is created.\"".into()),
        ("DELETE", "/pd/api/v1/schedulers/evict-leader-scheduler-4") => (
            404,
            "\"[PD:scheduler:ErrSchedulerNotFound]scheduler not found\"".into(),
        ),
        ("DELETE", "/pd/api/v1/schedulers/evict-leader-scheduler-1") => {
            (200, "\"The scheduler is removed.\"".into())
        }
        ("GET", "/pd/api/v1/scheduler-config/evict-leader-scheduler/list") => {
            (404, "\"404 page not found\"".into())
        }
        _ => (400, "\"unexpected\"".into()),
    }))
    .await;
    let client = PdClient::new(&[server.addr.to_string()], fast()).unwrap();
    client.add_evict_leader(1).await.unwrap();
    client.remove_evict_leader(1).await.unwrap();
    client.remove_evict_leader(4).await.unwrap();
    assert_eq!(
        client.evict_leader_stores().await.unwrap(),
        Vec::<u64>::new()
    );
}

#[tokio::test]
async fn single_resources_map_absence_to_none() {
    let server = serve(fixture_pd(true)).await;
    let client = PdClient::new(&[server.addr.to_string()], fast()).unwrap();
    assert_eq!(client.store(1).await.unwrap().unwrap().store.id, 1);
    assert!(client.store(42).await.unwrap().is_none());
    assert_eq!(client.region(12).await.unwrap().unwrap().id, 12);
    assert!(client.region(999).await.unwrap().is_none());
    assert_eq!(client.operators().await.unwrap()[0].region_id, 12);
    assert_eq!(
        client.hotspot_stores().await.unwrap().bytes_read_rate.len(),
        4
    );
    assert!(client.cluster_status().await.unwrap().is_bootstrapped());
    let err = client
        .set_store_state(1, StoreStateTarget::Up)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn a_timed_out_get_fails_over_but_a_timed_out_post_is_not_resent() {
    let hanging_hits = Arc::new(AtomicUsize::new(0));
    let h = hanging_hits.clone();
    let router = axum::Router::new().fallback(move || {
        h.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "too late"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let live = serve(Arc::new(|method, path, _| match (method.as_str(), path) {
        ("GET", "/pd/api/v1/version") => (200, fixture("version.json")),
        ("POST", "/pd/api/v1/leader/transfer/pd1") => (200, "\"ok\"".into()),
        _ => (404, String::new()),
    }))
    .await;
    let config = HttpConfig {
        per_attempt_timeout: Duration::from_millis(200),
        ..fast()
    };
    let client = PdClient::new(&[hanging.to_string(), live.addr.to_string()], config).unwrap();

    let error = client.transfer_leader("pd1").await.unwrap_err();
    assert!(
        matches!(error, PdError::Http(ref e) if e.is_timeout()),
        "{error:?}"
    );
    assert_eq!(
        live.hits.load(Ordering::SeqCst),
        0,
        "POST was re-sent elsewhere"
    );
    assert_eq!(hanging_hits.load(Ordering::SeqCst), 1, "POST was retried");

    let version = client.version().await.unwrap();
    assert_eq!(version.version, "v8.5.7");
    assert_eq!(live.hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        client.current_endpoint().as_str(),
        format!("http://{}/", live.addr)
    );
}
