//! Fault knobs, workload hotspots, pause/partition and the unified log format of the
//! in-process simulator.

use std::time::Duration;

use operator::sim::cluster::{InProcessCluster, SimClusterConfig};
use serde_json::Value;

async fn get_text(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

async fn get_json(url: &str) -> Value {
    serde_json::from_str(&get_text(url).await).unwrap()
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

fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

async fn until<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn unified_line(l: &str) -> bool {
    let re = regex::Regex::new(r"^\[\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{3} [+-]\d{2}:\d{2}\] \[(INFO|WARN|ERROR|DEBUG|FATAL)\] \[[\w.]+:\d+\] \[").unwrap();
    re.is_match(l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_disk_full_disk_and_cpu_saturation_show_in_metrics_pd_and_logs() {
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
    let status = c.tikv_status_urls()[0].clone();
    let id = c.tikv(0).unwrap().store_id();
    assert_eq!(
        reqwest::get(format!("{status}/status"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        ""
    );
    let cfg = get_json(&format!("{status}/config")).await;
    assert_eq!(cfg["raftstore"]["pd-store-heartbeat-tick-interval"], "10s");
    assert_eq!(cfg["raftstore"]["max-peer-down-duration"], "10m");
    assert!(cfg["server"]["advertise-addr"].is_string());

    let before = get_text(&format!("{status}/metrics")).await;
    let cpu_before = metric(
        &before,
        "tikv_thread_cpu_seconds_total{name=\"grpc_server_0\"",
    );
    let body =
        serde_json::json!({"slow_disk_ms": 300, "disk_fill_ratio": 0.95, "cpu_saturation": 0.9});
    assert_eq!(
        send(
            reqwest::Method::PUT,
            &format!("{status}/sim/v1/faults"),
            body
        )
        .await,
        200
    );
    let s = status.clone();
    until(10, "raft slow score up", || {
        let s = s.clone();
        async move {
            metric(
                &get_text(&format!("{s}/metrics")).await,
                "tikv_raftstore_slow_score{type=\"raft\"}",
            ) >= 30.0
        }
    })
    .await;
    let after = get_text(&format!("{status}/metrics")).await;
    assert!(
        metric(
            &after,
            "tikv_thread_cpu_seconds_total{name=\"grpc_server_0\""
        ) > cpu_before
    );
    let cap = metric(&after, "tikv_store_size_bytes{type=\"capacity\"}");
    let avail = metric(&after, "tikv_store_size_bytes{type=\"available\"}");
    assert!(avail <= cap * 0.06, "available {avail} of {cap}");
    let p = pd.clone();
    until(10, "PD sees the full disk and the slow score", || {
        let p = p.clone();
        async move {
            let st = get_json(&format!("{p}/pd/api/v1/store/{id}")).await;
            st["status"]["available"].as_str().is_some_and(|a| {
                a.ends_with("GiB") && a.trim_end_matches("GiB").parse::<f64>().unwrap_or(1e9) < 60.0
            }) && st["status"]["slow_score"].as_u64().unwrap_or(0) >= 30
        }
    })
    .await;
    let n = c.tikv(0).unwrap().clone();
    until(10, "slow write log", || {
        let n = n.clone();
        async move {
            n.log_lines().iter().any(|l| {
                l.contains("async write too slow") && l.contains("[takes=") && l.contains("[WARN]")
            })
        }
    })
    .await;
    assert_eq!(
        send(
            reqwest::Method::DELETE,
            &format!("{status}/sim/v1/faults"),
            Value::Null
        )
        .await,
        200
    );
    let f = get_json(&format!("{status}/sim/v1/faults")).await;
    assert_eq!(f["slow_disk_ms"], 0.0);

    // Logs: every line is unified-format; the expected milestones are there.
    let tikv_logs = c.tikv(0).unwrap().log_lines();
    assert!(
        tikv_logs
            .iter()
            .all(|l| unified_line(l) && l.ends_with(']')),
        "{:?}",
        tikv_logs.iter().find(|l| !unified_line(l))
    );
    assert!(tikv_logs
        .iter()
        .any(|l| l.contains("[\"Welcome to TiKV\"]")));
    let leader_line = c
        .tikv_status_urls()
        .iter()
        .enumerate()
        .flat_map(|(i, _)| c.tikv(i).unwrap().log_lines())
        .find(|l| l.contains("became leader at term"))
        .expect("a became-leader line");
    assert!(regex::Regex::new(r#"\["became leader at term \d+"\] \[term=\d+\] \[raft_id=\d+\] \[region_id=\d+\] \[thread_id=\d+\]$"#).unwrap().is_match(&leader_line), "{leader_line}");
    let pd_logs = c.pd_logs(0);
    assert!(pd_logs.iter().all(|l| unified_line(l)));
    for needle in [
        "[\"Welcome to Placement Driver (PD)\"]",
        "[\"campaign PD leader ok\"]",
        "[\"put store ok\"]",
    ] {
        assert!(
            pd_logs.iter().any(|l| l.contains(needle)),
            "missing {needle}"
        );
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_range_shows_in_the_hotspot_api_and_clears() {
    let c = InProcessCluster::start(SimClusterConfig {
        pd: 1,
        tikv: 3,
        time_factor: 100.0,
        initial_regions: 8,
        ..Default::default()
    })
    .await
    .unwrap();
    c.wait_ready(Duration::from_secs(20)).await.unwrap();
    let pd = c.pd_urls()[0].clone();
    let regions = get_json(&format!("{pd}/pd/api/v1/regions")).await;
    let r = &regions["regions"][3];
    let (start, end, rid) = (
        r["start_key"].as_str().unwrap().to_string(),
        r["end_key"].as_str().unwrap().to_string(),
        r["id"].clone(),
    );
    let body = serde_json::json!({"hot_range": {"start_key": start, "end_key": end, "qps": 5000}});
    assert_eq!(
        send(reqwest::Method::PUT, &format!("{pd}/sim/v1/workload"), body).await,
        200
    );
    let hot = get_json(&format!("{pd}/pd/api/v1/hotspot/regions/write")).await;
    let hot_ids: Vec<Value> = hot["as_leader"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|s| {
            s["statistics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["region_id"].clone())
        })
        .collect();
    assert_eq!(hot_ids, vec![rid], "only the hot region is hot: {hot}");
    let stores = get_json(&format!("{pd}/pd/api/v1/hotspot/stores")).await;
    let max_rate = stores["bytes-write-rate"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(max_rate >= 5000.0 * 1024.0, "{stores}");
    let metrics = get_text(&format!("{pd}/metrics")).await;
    assert!(
        metrics.contains("type=\"hot_write_region_as_leader\"} 1"),
        "pd_hotspot_status"
    );
    assert_eq!(
        send(
            reqwest::Method::DELETE,
            &format!("{pd}/sim/v1/workload"),
            Value::Null
        )
        .await,
        200
    );
    let hot = get_json(&format!("{pd}/pd/api/v1/hotspot/regions/write")).await;
    assert!(hot["as_leader"]
        .as_object()
        .unwrap()
        .values()
        .all(|s| s["statistics"].as_array().unwrap().is_empty()));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_and_paused_stores_go_disconnected_and_come_back() {
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
    let a = c.tikv(0).unwrap().store_id();
    let b = c.tikv(1).unwrap().store_id();
    c.partition_tikv(0);
    c.pause_tikv(1);
    for id in [a, b] {
        let p = pd.clone();
        until(10, "Disconnected", || {
            let p = p.clone();
            async move {
                get_json(&format!("{p}/pd/api/v1/store/{id}")).await["store"]["state_name"]
                    == "Disconnected"
            }
        })
        .await;
    }
    let paused = reqwest::Client::new()
        .get(format!("{}/status", c.tikv_status_urls()[1]))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(paused.is_err(), "a paused TiKV does not answer");
    assert!(c
        .tikv(0)
        .unwrap()
        .log_lines()
        .iter()
        .any(|l| l.contains("[ERROR]") && l.contains("[\"store heartbeat failed\"]")));
    c.heal_tikv(0);
    c.resume_tikv(1);
    for id in [a, b] {
        let p = pd.clone();
        until(10, "Up again", || {
            let p = p.clone();
            async move {
                get_json(&format!("{p}/pd/api/v1/store/{id}")).await["store"]["state_name"] == "Up"
            }
        })
        .await;
    }
    c.shutdown().await;
}
