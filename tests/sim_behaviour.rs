//! Behaviour of the in-process simulator at a high time factor: store failure, scale-in,
//! leader eviction, PD failover, restarts. Each test starts its own cluster on loopback.

use std::collections::BTreeMap;
use std::time::Duration;

use operator::sim::cluster::{InProcessCluster, SimClusterConfig};
use operator::sim::wire::TomlValue;
use serde_json::Value;

fn cfg(pd: usize, tikv: usize, tf: f64, regions: u64) -> SimClusterConfig {
    let mut pd_overrides = BTreeMap::new();
    pd_overrides.insert(
        "schedule.max-store-down-time".to_string(),
        TomlValue::Str("2m".into()),
    );
    let mut tikv_overrides = BTreeMap::new();
    tikv_overrides.insert(
        "raftstore.max-peer-down-duration".to_string(),
        TomlValue::Str("30s".into()),
    );
    SimClusterConfig {
        pd,
        tikv,
        time_factor: tf,
        seed: 7,
        initial_regions: regions,
        pd_overrides,
        tikv_overrides,
        base_dir: None,
        operator_names: None,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn get(url: &str) -> (u16, Value) {
    let r = client().get(url).send().await.unwrap();
    let s = r.status().as_u16();
    let t = r.text().await.unwrap();
    (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
}

async fn send(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = client().request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let s = r.status().as_u16();
    let t = r.text().await.unwrap();
    (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
}

/// Polls `f` every 50 ms until it returns true or `secs` pass.
async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if f().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn store(pd: &str, id: u64) -> Value {
    get(&format!("{pd}/pd/api/v1/store/{id}")).await.1
}

async fn check_count(pd: &str, ty: &str) -> u64 {
    get(&format!("{pd}/pd/api/v1/regions/check/{ty}")).await.1["count"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

async fn fully_replicated(pd: &str) -> bool {
    let (s, v) = get(&format!("{pd}/pd/api/v1/regions/check/miss-peer")).await;
    s == 200
        && v["count"] == 0
        && check_count(pd, "pending-peer").await == 0
        && check_count(pd, "extra-peer").await == 0
}

async fn ready(c: &InProcessCluster) -> String {
    c.wait_ready(Duration::from_secs(20)).await.unwrap();
    let pd = c.pd_urls()[c.pd_leader().unwrap()].clone();
    let p = pd.clone();
    eventually(30, "regions fully replicated", || fully_replicated(&p)).await;
    pd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_routes_answer_not_bootstrapped_before_the_first_tikv() {
    let c = InProcessCluster::start(cfg(1, 0, 100.0, 4)).await.unwrap();
    let pd = c.pd_urls()[0].clone();
    let p = pd.clone();
    eventually(10, "pd leader", || {
        let p = p.clone();
        async move { get(&format!("{p}/pd/api/v1/leader")).await.0 == 200 }
    })
    .await;
    let r = client()
        .get(format!("{pd}/pd/api/v1/stores"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 500);
    assert_eq!(
        r.headers()["content-type"],
        "application/json; charset=UTF-8"
    );
    assert_eq!(
        r.text().await.unwrap(),
        "\"[PD:cluster:ErrNotBootstrapped]TiKV cluster not bootstrapped, please start TiKV first\"\n"
    );
    // Config is not a cluster route: it answers and can be changed before bootstrap.
    let (s, v) = send(
        reqwest::Method::POST,
        &format!("{pd}/pd/api/v1/config"),
        Some(serde_json::json!({"schedule.max-store-down-time": "1h", "max-replicas": 5})),
    )
    .await;
    assert_eq!(
        (s, v),
        (200, Value::String("The config is updated.".into()))
    );
    let (_, sched) = get(&format!("{pd}/pd/api/v1/config/schedule")).await;
    assert_eq!(sched["max-store-down-time"], "1h0m0s");
    let (_, repl) = get(&format!("{pd}/pd/api/v1/config/replicate")).await;
    assert_eq!(repl["max-replicas"], 5);
    let (s, v) = send(
        reqwest::Method::POST,
        &format!("{pd}/pd/api/v1/config"),
        Some(serde_json::json!({"no-such-item": 1})),
    )
    .await;
    assert_eq!(
        (s, v),
        (
            400,
            Value::String("config item no-such-item not found".into())
        )
    );
    let (s, v) = get(&format!("{pd}/pd/api/v1/cluster/status")).await;
    assert_eq!(s, 200);
    assert_eq!(v["raft_bootstrap_time"], "0001-01-01T00:00:00Z");
    assert_eq!(v["is_initialized"], false);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_store_becomes_disconnected_then_down_and_its_leaders_move() {
    let mut c = InProcessCluster::start(cfg(1, 3, 100.0, 12)).await.unwrap();
    let pd = ready(&c).await;
    let victim = c.tikv(0).unwrap().store_id();
    c.kill_tikv(0);
    let p = pd.clone();
    eventually(10, "Disconnected", || {
        let p = p.clone();
        async move { store(&p, victim).await["store"]["state_name"] == "Disconnected" }
    })
    .await;
    let p = pd.clone();
    eventually(10, "leaders moved off", || {
        let p = p.clone();
        async move { store(&p, victim).await["status"]["leader_count"] == 0 }
    })
    .await;
    let p = pd.clone();
    eventually(10, "down-peer regions", || {
        let p = p.clone();
        async move { check_count(&p, "down-peer").await > 0 }
    })
    .await;
    let (_, regions) = get(&format!("{pd}/pd/api/v1/regions/check/down-peer")).await;
    let dp = &regions["regions"][0]["down_peers"][0];
    assert_eq!(dp["peer"]["store_id"], victim);
    assert!(
        dp["down_seconds"].as_u64().unwrap() >= 30,
        "down_seconds is in simulated seconds: {dp}"
    );
    let p = pd.clone();
    eventually(10, "Down", || {
        let p = p.clone();
        async move { store(&p, victim).await["store"]["state_name"] == "Down" }
    })
    .await;
    assert!(c.pd_logs(0).iter().any(|l| l.contains(&format!(
        "[\"send keepalive message fail, store maybe disconnected\"] [target-store-id={victim}]"
    ))));
    assert!(c
        .pd_logs(0)
        .iter()
        .any(|l| l.contains("[\"leader changed\"]")));
    let (_, down) = get(&format!("{pd}/pd/api/v1/stores/check?state=down")).await;
    assert_eq!(down["count"], 1);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_is_refused_below_max_replicas_and_an_offline_store_drains_to_tombstone() {
    let config = cfg(1, 3, 100.0, 12);
    let mut c = InProcessCluster::start(config.clone()).await.unwrap();
    let pd = ready(&c).await;
    let victim = c.tikv(0).unwrap().store_id();
    let (s, v) = send(
        reqwest::Method::DELETE,
        &format!("{pd}/pd/api/v1/store/{victim}"),
        None,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        v,
        format!("[PD:core:ErrStoresNotEnough]can not remove store {victim} since the number of up stores would be 2 while need 3")
    );
    let (s, v) = send(
        reqwest::Method::DELETE,
        &format!("{pd}/pd/api/v1/store/999"),
        None,
    )
    .await;
    assert_eq!(
        (s, v),
        (
            404,
            Value::String("[PD:core:ErrStoreNotFound]store 999 not found".into())
        )
    );

    c.add_tikv(&config).await.unwrap();
    c.wait_ready(Duration::from_secs(10)).await.unwrap();
    let (s, v) = send(
        reqwest::Method::DELETE,
        &format!("{pd}/pd/api/v1/store/{victim}"),
        None,
    )
    .await;
    assert_eq!(
        (s, v),
        (200, Value::String("The store is set as Offline.".into()))
    );
    let st = store(&pd, victim).await;
    assert!(
        matches!(
            st["store"]["state_name"].as_str(),
            Some("Offline") | Some("Tombstone")
        ),
        "{st}"
    );
    let p = pd.clone();
    eventually(20, "Tombstone", || {
        let p = p.clone();
        async move { store(&p, victim).await["store"]["state_name"] == "Tombstone" }
    })
    .await;
    let st = store(&pd, victim).await;
    assert_eq!(st["store"]["state"], 2);
    assert_eq!(st["store"]["node_state"], 3);
    assert_eq!(st["status"]["region_count"], 0);
    let (_, stores) = get(&format!("{pd}/pd/api/v1/stores")).await;
    assert!(
        stores["stores"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["store"]["id"] != victim),
        "Tombstone hidden by default"
    );
    let (_, all) = get(&format!("{pd}/pd/api/v1/stores?state=0&state=1&state=2")).await;
    assert_eq!(all["count"], 4);
    let (s, _) = send(
        reqwest::Method::DELETE,
        &format!("{pd}/pd/api/v1/store/{victim}"),
        None,
    )
    .await;
    assert_eq!(s, 410);
    let p = pd.clone();
    eventually(10, "all regions on 3 live stores", || fully_replicated(&p)).await;
    // As the operator does: the Tombstone store's process is gone before its record is
    // removed (a live process would register again under its saved id).
    c.kill_tikv(0);
    let (s, _) = send(
        reqwest::Method::DELETE,
        &format!("{pd}/pd/api/v1/stores/remove-tombstone"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(get(&format!("{pd}/pd/api/v1/store/{victim}")).await.0, 404);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_up_cancels_an_offline() {
    let config = cfg(1, 4, 5.0, 8);
    let c = InProcessCluster::start(config).await.unwrap();
    c.wait_ready(Duration::from_secs(20)).await.unwrap();
    let pd = c.pd_urls()[0].clone();
    let victim = c.tikv(0).unwrap().store_id();
    let (s, _) = send(
        reqwest::Method::POST,
        &format!("{pd}/pd/api/v1/store/{victim}/state?state=Offline"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(store(&pd, victim).await["store"]["state_name"], "Offline");
    let (s, v) = send(
        reqwest::Method::POST,
        &format!("{pd}/pd/api/v1/store/{victim}/state?state=Up"),
        None,
    )
    .await;
    assert_eq!(
        (s, v),
        (200, Value::String("The store's state is updated.".into()))
    );
    let st = store(&pd, victim).await;
    assert_eq!(st["store"]["state_name"], "Up");
    assert!(st["store"].get("state").is_none(), "state 0 is omitted");
    let (s, _) = send(
        reqwest::Method::POST,
        &format!("{pd}/pd/api/v1/store/{victim}/state?state=Bogus"),
        None,
    )
    .await;
    assert_eq!(s, 400);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evict_leader_moves_all_leaders_off_and_removing_it_lets_them_return() {
    let c = InProcessCluster::start(cfg(1, 3, 100.0, 12)).await.unwrap();
    let pd = ready(&c).await;
    let id = c.tikv(1).unwrap().store_id();
    let p = pd.clone();
    eventually(10, "balanced leaders", || {
        let p = p.clone();
        async move {
            store(&p, id).await["status"]["leader_count"]
                .as_u64()
                .unwrap_or(0)
                >= 3
        }
    })
    .await;
    let body = serde_json::json!({"name": "evict-leader-scheduler", "store_id": id});
    let (s, v) = send(
        reqwest::Method::POST,
        &format!("{pd}/pd/api/v1/schedulers"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        (s, v),
        (200, Value::String("The scheduler is created.".into()))
    );
    let (s, v) = send(
        reqwest::Method::POST,
        &format!("{pd}/pd/api/v1/schedulers"),
        Some(body),
    )
    .await;
    assert_eq!(
        (s, v),
        (
            200,
            Value::String("The scheduler has been applied to the store.".into())
        )
    );
    let (_, list) = get(&format!(
        "{pd}/pd/api/v1/scheduler-config/evict-leader-scheduler/list"
    ))
    .await;
    assert!(
        list["store-id-ranges"].get(id.to_string()).is_some(),
        "{list}"
    );
    let p = pd.clone();
    eventually(10, "leaders evicted", || {
        let p = p.clone();
        async move { store(&p, id).await["status"]["leader_count"] == 0 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        store(&pd, id).await["status"]["leader_count"],
        0,
        "kept off"
    );
    let (s, _) = send(
        reqwest::Method::DELETE,
        &format!("{pd}/pd/api/v1/schedulers/evict-leader-scheduler-{id}"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (_, names) = get(&format!("{pd}/pd/api/v1/schedulers")).await;
    assert!(!names
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "evict-leader-scheduler"));
    let p = pd.clone();
    eventually(10, "leaders return", || {
        let p = p.clone();
        async move {
            store(&p, id).await["status"]["leader_count"]
                .as_u64()
                .unwrap_or(0)
                >= 3
        }
    })
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_leader_operator_is_honoured() {
    let c = InProcessCluster::start(cfg(1, 3, 100.0, 6)).await.unwrap();
    let pd = ready(&c).await;
    // Keep balance-leader from undoing the transfer while we look.
    let (s, v) = send(
        reqwest::Method::POST,
        &format!("{pd}/pd/api/v1/schedulers/balance-leader-scheduler"),
        Some(serde_json::json!({"delay": 600})),
    )
    .await;
    assert_eq!(
        (s, v),
        (
            200,
            Value::String("Pause or resume the scheduler successfully.".into())
        )
    );
    // A scheduler or checker may hold an operator on the region already; PD (and so the
    // simulator) refuses a second one until it finishes. Pick the target from the
    // region's current leader each time and retry until PD accepts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (rid, to) = loop {
        let (_, regions) = get(&format!("{pd}/pd/api/v1/regions")).await;
        let region = &regions["regions"][0];
        let rid = region["id"].as_u64().unwrap();
        let leader_store = region["leader"]["store_id"].as_u64().unwrap();
        let to = region["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["store_id"].as_u64().unwrap())
            .find(|s| *s != leader_store)
            .unwrap();
        let (s, v) = send(
            reqwest::Method::POST,
            &format!("{pd}/pd/api/v1/operators"),
            Some(
                serde_json::json!({"name": "transfer-leader", "region_id": rid, "to_store_id": to}),
            ),
        )
        .await;
        if s == 200 {
            assert_eq!(v, Value::String("The operator is created.".into()));
            break (rid, to);
        }
        assert_eq!(
            (s, v),
            (
                500,
                Value::String(
                    "[PD:operator:ErrAddOperator]failed to add operator, maybe already have one"
                        .into()
                )
            ),
            "only a busy region may refuse the operator"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the region stayed busy for 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let p = pd.clone();
    eventually(10, "leader moved", || {
        let p = p.clone();
        async move {
            let (_, r) = get(&format!("{p}/pd/api/v1/region/id/{rid}")).await;
            r["leader"]["store_id"] == to
        }
    })
    .await;
    let (_, status) = get(&format!("{pd}/pd/api/v1/operators/{rid}")).await;
    assert!(
        status.as_str().unwrap().starts_with(
            "status: SUCCESS, operator: admin-transfer-leader {transfer leader: store"
        ),
        "{status}"
    );
    let (s, body) = get(&format!("{pd}/pd/api/v1/region/id/987654")).await;
    assert_eq!(s, 200);
    assert_eq!(body["id"], 0);
    assert_eq!(body["leader"]["role_name"], "");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_tikv_on_the_same_data_dir_keeps_its_store_id() {
    let mut c = InProcessCluster::start(cfg(1, 3, 100.0, 6)).await.unwrap();
    c.wait_ready(Duration::from_secs(20)).await.unwrap();
    let before = c.tikv(2).unwrap().store_id();
    c.restart_tikv(2).await.unwrap();
    c.wait_ready(Duration::from_secs(20)).await.unwrap();
    assert_eq!(c.tikv(2).unwrap().store_id(), before);
    let pd = c.pd_urls()[0].clone();
    let (_, stores) = get(&format!("{pd}/pd/api/v1/stores")).await;
    assert_eq!(stores["count"], 3);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_pd_leader_elects_a_new_leader_that_keeps_the_cluster_state() {
    let mut c = InProcessCluster::start(cfg(3, 3, 50.0, 6)).await.unwrap();
    let pd = ready(&c).await;
    let old = c.pd_leader().unwrap();
    let (_, stores_before) = get(&format!("{pd}/pd/api/v1/stores")).await;
    assert_eq!(stores_before["count"], 3);
    // A follower proxies to the leader and answers the same.
    let follower = (old + 1) % 3;
    let (s, members) = get(&format!("{}/pd/api/v1/members", c.pd_urls()[follower])).await;
    assert_eq!(s, 200);
    assert_eq!(members["members"].as_array().unwrap().len(), 3);
    assert_eq!(members["leader"]["name"], format!("pd{old}"));
    c.kill_pd(old);
    let started = std::time::Instant::now();
    let mut new = None;
    while started.elapsed() < Duration::from_secs(10) {
        if let Some(l) = c.pd_leader() {
            new = Some(l);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let new = new.expect("a new leader within 10 s");
    assert_ne!(new, old);
    let url = c.pd_urls()[new].clone();
    let (s, stores) = get(&format!("{url}/pd/api/v1/stores")).await;
    assert_eq!(s, 200);
    assert_eq!(
        stores["count"], 3,
        "the new leader continues with the same stores"
    );
    let other = (0..3).find(|i| *i != old && *i != new).unwrap();
    let (s, l) = get(&format!("{}/pd/api/v1/leader", c.pd_urls()[other])).await;
    assert_eq!(s, 200);
    assert_eq!(l["name"], format!("pd{new}"));
    let (_, health) = get(&format!("{url}/pd/api/v1/health")).await;
    let unhealthy: Vec<&Value> = health
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["health"] == false)
        .collect();
    assert_eq!(unhealthy.len(), 1);
    assert_eq!(unhealthy[0]["name"], format!("pd{old}"));
    // Stores keep heartbeating through the new leader.
    let u = url.clone();
    eventually(10, "stores Up under the new leader", || {
        let u = u.clone();
        async move {
            let (_, s) = get(&format!("{u}/pd/api/v1/stores")).await;
            s["stores"]
                .as_array()
                .is_some_and(|a| a.iter().all(|x| x["store"]["state_name"] == "Up"))
        }
    })
    .await;
    // Losing a second member leaves no majority: no leader, 503.
    c.kill_pd(new);
    let u = c.pd_urls()[other].clone();
    eventually(10, "no leader", || {
        let u = u.clone();
        async move {
            let r = client()
                .get(format!("{u}/pd/api/v1/stores"))
                .send()
                .await
                .unwrap();
            r.status().as_u16() == 503
                && r.text()
                    .await
                    .unwrap()
                    .starts_with("[PD:apiutil:ErrRedirectNoLeader]redirect finds no leader")
        }
    })
    .await;
    // A follower asked to handle the request itself answers from its replicated state.
    let r = client()
        .get(format!("{}/pd/api/v1/stores", c.pd_urls()[other]))
        .header("PD-Allow-follower-handle", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["count"], 3);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_can_be_transferred_and_a_member_removed() {
    // Time factor 10, not 50: PD's leader lease scales with it, and at 50 (a 60 ms lease)
    // a loaded machine makes leadership flap on its own while the test watches it.
    let c = InProcessCluster::start(cfg(3, 1, 10.0, 4)).await.unwrap();
    c.wait_ready(Duration::from_secs(20)).await.unwrap();
    let old = c.pd_leader().unwrap();
    let target = (old + 1) % 3;
    let url = c.pd_urls()[old].clone();
    let (s, _) = send(
        reqwest::Method::POST,
        &format!("{url}/pd/api/v1/leader/transfer/pd{target}"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let started = std::time::Instant::now();
    while c.pd_leader() != Some(target) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "transfer to pd{target}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let victim = (target + 1) % 3;
    let (s, _) = send(
        reqwest::Method::DELETE,
        &format!("{}/pd/api/v1/members/name/pd{victim}", c.pd_urls()[target]),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (_, m) = get(&format!("{}/pd/api/v1/members", c.pd_urls()[target])).await;
    assert_eq!(m["members"].as_array().unwrap().len(), 2);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_store_is_re_replicated_after_max_store_down_time() {
    let mut c = InProcessCluster::start(cfg(1, 4, 100.0, 8)).await.unwrap();
    let pd = ready(&c).await;
    let victim = c.tikv(3).unwrap().store_id();
    c.kill_tikv(3);
    let p = pd.clone();
    eventually(40, "down store drained by replace-rule-down-peer", || {
        let p = p.clone();
        async move {
            let st = store(&p, victim).await;
            st["store"]["state_name"] == "Down" && st["status"]["region_count"] == 0
        }
    })
    .await;
    let p = pd.clone();
    // Re-replication is paced by region heartbeats; give a loaded machine time, and on
    // failure show what was left so the cause can be read off the report.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(fully_replicated(&p).await && check_count(&p, "down-peer").await == 0) {
        if tokio::time::Instant::now() > deadline {
            let (_, regions) = get(&format!("{p}/pd/api/v1/regions")).await;
            let (_, ops) = get(&format!("{p}/pd/api/v1/operators")).await;
            let (_, stores) = get(&format!("{p}/pd/api/v1/stores")).await;
            for ty in ["miss-peer", "pending-peer", "extra-peer", "down-peer"] {
                eprintln!("{ty}: {}", check_count(&p, ty).await);
            }
            panic!(
                "not healthy again in 30 s:\nregions {regions}\noperators {ops}\nstores {stores}"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pd_member_can_join_through_an_existing_member() {
    use operator::sim::pd::{start_pd, PdConfig};
    let c = InProcessCluster::start(cfg(1, 1, 50.0, 4)).await.unwrap();
    c.wait_ready(Duration::from_secs(20)).await.unwrap();
    let pd0 = c.pd_urls()[0].clone();
    let cl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut jc = PdConfig::new("pd-new");
    jc.client_urls = vec![format!("http://{}", cl.local_addr().unwrap())];
    jc.peer_urls = vec![format!("http://{}", pl.local_addr().unwrap())];
    jc.join = vec![pd0.clone()];
    jc.time_factor = 50.0;
    jc.log = operator::sim::wire::LogSink::Memory(Default::default());
    let cancel = tokio_util::sync::CancellationToken::new();
    let h = start_pd(jc, Some((cl, pl)), cancel.clone()).await.unwrap();
    let p = pd0.clone();
    eventually(10, "two healthy members", || {
        let p = p.clone();
        async move {
            let (_, h) = get(&format!("{p}/pd/api/v1/health")).await;
            h.as_array()
                .is_some_and(|a| a.len() == 2 && a.iter().all(|m| m["health"] == true))
        }
    })
    .await;
    // The new member serves the API by proxying to the leader.
    let url = format!("http://{}", h.client_addr);
    let u = url.clone();
    eventually(10, "proxied stores", || {
        let u = u.clone();
        async move { get(&format!("{u}/pd/api/v1/stores")).await.1["count"] == 1 }
    })
    .await;
    let (s, _) = send(
        reqwest::Method::DELETE,
        &format!("{pd0}/pd/api/v1/members/name/pd-new"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (_, m) = get(&format!("{pd0}/pd/api/v1/members")).await;
    assert_eq!(m["members"].as_array().unwrap().len(), 1);
    cancel.cancel();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_single_pd_resumes_its_cluster_from_the_data_dir() {
    let mut c = InProcessCluster::start(cfg(1, 3, 50.0, 6)).await.unwrap();
    let pd = ready(&c).await;
    let (_, before) = get(&format!("{pd}/pd/api/v1/regions")).await;
    tokio::time::sleep(Duration::from_millis(700)).await; // let the state reach disk
    c.restart_pd(0).await.unwrap();
    c.wait_ready(Duration::from_secs(20)).await.unwrap();
    let (_, after) = get(&format!("{pd}/pd/api/v1/regions")).await;
    assert_eq!(after["count"], before["count"]);
    let p = pd.clone();
    eventually(10, "stores Up after the restart", || {
        let p = p.clone();
        async move {
            let (_, s) = get(&format!("{p}/pd/api/v1/stores")).await;
            s["count"] == 3
                && s["stores"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|x| x["store"]["state_name"] == "Up")
        }
    })
    .await;
    c.shutdown().await;
}
