//! Every Grafana panel query returns data against a Prometheus that scrapes what the
//! compose deployment scrapes: PD and TiKV (here the simulator, `tikv-sim`, started as
//! `pd-server` / `tikv-server` processes on loopback ports) and the operator's
//! `/metrics` (here the operator's real metrics registry, `operator::reconcile::Metrics`,
//! served over HTTP and fed with reconcile passes the way the controller feeds it).
//! Debian's `prometheus` binary scrapes them every second with the compose file's job
//! names (`pd`, `tikv`, `operator`); once every target has been scraped three times,
//! every dashboard query is executed.
//!
//! A query must return data when every metric it names is exported by some target. A
//! query naming a metric nobody exports fails the test, except for the metrics that
//! later features add (tickets, time to detect, diagnoses; see [`EXPORTED_LATER`]):
//! those panels may be empty until the feature lands, and are checked like the others
//! as soon as the operator exports them.
//!
//! The simulator is the package's `tikv-sim` binary (`TIKV_SIM_BIN` overrides it). A
//! build where `tikv-sim` is not the simulator yet prints a SKIP line (and fails under
//! `CI=true`); so does a machine without `prometheus`.

mod manifests_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use manifests_support::{
    dashboard_queries, free_port, metric_names, require_tool, skip_or_fail, Killed, Prometheus,
    EXPORTED_LATER,
};
use operator::reconcile::Metrics;

const TEST: &str = "dashboard queries return data";

fn simulator() -> Option<PathBuf> {
    let bin = std::env::var_os("TIKV_SIM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tikv-sim")));
    // The simulator dispatches on argv[0]; as pd-server it prints PD's version banner.
    let dir = tempfile::tempdir().unwrap();
    let pd = link(&bin, dir.path(), "pd-server");
    let out = Command::new(&pd).arg("--version").output().ok()?;
    if String::from_utf8_lossy(&out.stdout).contains("Release Version") {
        Some(bin)
    } else {
        skip_or_fail(
            TEST,
            &format!(
                "{} is not the PD/TiKV simulator yet (no version banner as pd-server)",
                bin.display()
            ),
        );
        None
    }
}

fn link(bin: &Path, dir: &Path, name: &str) -> PathBuf {
    let target = dir.join(name);
    if std::fs::hard_link(bin, &target).is_err() {
        std::fs::copy(bin, &target).unwrap();
    }
    target
}

/// One PD and three TiKV simulator processes on loopback ports.
struct SimCluster {
    _procs: Vec<Killed>,
    _dir: tempfile::TempDir,
    pd_target: String,
    tikv_targets: Vec<String>,
}

fn start_sim(bin: &Path) -> SimCluster {
    let dir = tempfile::tempdir().unwrap();
    let pd_bin = link(bin, dir.path(), "pd-server");
    let tikv_bin = link(bin, dir.path(), "tikv-server");
    let (cp, pp) = (free_port(), free_port());
    let spawn = |cmd: &mut Command| {
        Killed(
            cmd.env("TIKV_SIM_TIME_FACTOR", "20")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let mut procs = vec![spawn(Command::new(&pd_bin).args([
        "--name=pd-0".to_string(),
        format!("--data-dir={}", dir.path().join("pd-0").display()),
        format!("--client-urls=http://127.0.0.1:{cp}"),
        format!("--peer-urls=http://127.0.0.1:{pp}"),
        format!("--initial-cluster=pd-0=http://127.0.0.1:{pp}"),
    ]))];
    let mut tikv_targets = Vec::new();
    for i in 0..3 {
        let (port, status) = (free_port(), free_port());
        procs.push(spawn(Command::new(&tikv_bin).args([
            format!("--addr=127.0.0.1:{port}"),
            format!("--status-addr=127.0.0.1:{status}"),
            format!(
                "--data-dir={}",
                dir.path().join(format!("tikv-{i}")).display()
            ),
            format!("--pd-endpoints=127.0.0.1:{cp}"),
        ])));
        tikv_targets.push(format!("127.0.0.1:{status}"));
    }
    SimCluster {
        _procs: procs,
        _dir: dir,
        pd_target: format!("127.0.0.1:{cp}"),
        tikv_targets,
    }
}

/// Serves the operator's metrics registry like `operator run` does (`/metrics`), and
/// feeds it as a controller would: passes of varying length, applied steps, a queue.
async fn start_operator_metrics() -> (
    String,
    tokio::task::JoinHandle<()>,
    tokio::task::JoinHandle<()>,
) {
    let metrics = Metrics::new();
    let served = Arc::clone(&metrics);
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let m = Arc::clone(&served);
            async move { m.render("TikvCluster") }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let feeder = tokio::spawn(async move {
        let steps = [
            "create network",
            "create volume",
            "create pd",
            "create tikv",
        ];
        for n in 0u64.. {
            let seconds = 0.004 * (1 + n % 50) as f64;
            metrics.observe_pass(if n % 17 == 16 { "error" } else { "success" }, seconds);
            metrics.step_applied(steps[(n % 4) as usize]);
            metrics.set_queue_depth(n % 3);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (addr, server, feeder)
}

fn scrape_config(sim: &SimCluster, operator: &str) -> String {
    let list = |v: &[String]| {
        v.iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n\
         \x20 - job_name: pd\n    honor_labels: true\n    static_configs:\n      - targets: [\"{pd}\"]\n\
         \x20 - job_name: tikv\n    honor_labels: true\n    static_configs:\n      - targets: [{tikv}]\n\
         \x20 - job_name: operator\n    static_configs:\n      - targets: [\"{operator}\"]\n",
        pd = sim.pd_target,
        tikv = list(&sim.tikv_targets),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_the_simulator_and_the_operator() {
    let Some(prometheus) = require_tool(
        TEST,
        "prometheus",
        "apt-get install prometheus, or `make deps`",
    ) else {
        return;
    };
    let Some(sim_bin) = simulator() else { return };
    let sim = start_sim(&sim_bin);
    let (operator, server, feeder) = start_operator_metrics().await;
    let prom = Prometheus::start(&prometheus, &scrape_config(&sim, &operator)).await;
    let client = prom.client();

    // Every target up, scraped at least three times (rate() needs two samples).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let up = client.query("count_over_time(up[1m])", None).await.unwrap();
        let counts: Vec<f64> = up.result.vector().iter().map(|s| s.sample.value).collect();
        let down = client
            .query("up == 0", None)
            .await
            .unwrap()
            .result
            .vector()
            .len();
        if counts.len() == 5 && counts.iter().all(|c| *c >= 3.0) && down == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "targets not scraped three times in 20 s: {counts:?}, {down} down"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The diagnosis metrics window (range queries of the reference PromQL per store)
    // reads real series from this Prometheus.
    let now = std::time::SystemTime::now();
    let window =
        operator::subjects::tikv::window::fetch(&client, now - Duration::from_secs(5), now)
            .await
            .unwrap();
    let kinds: BTreeSet<&str> = window
        .iter()
        .filter_map(|(name, _)| name.split('{').next())
        .collect();
    for kind in ["qps", "slow_score", "available_bytes"] {
        assert!(kinds.contains(kind), "window lacks {kind}: {kinds:?}");
    }
    assert!(
        window
            .iter()
            .all(|(name, points)| name.contains("instance=\"") && !points.is_empty()),
        "{window:?}"
    );
    let section = operator::diagnose::context::sections::metrics_window(&window, 16);
    assert!(
        section
            .content
            .lines()
            .all(|l| l.contains(": t") && l.contains('=')),
        "{}",
        section.content
    );

    let exported: BTreeSet<String> = {
        let body = reqwest::get(format!("{}/api/v1/label/__name__/values", prom.url))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        exported.contains("pd_cluster_status") && exported.contains("operator_reconcile_total")
    );

    // PD's view (stores Up, regions) needs a few simulated heartbeats: retry the empty
    // ones until they fill in or time runs out.
    let queries = dashboard_queries();
    let mut pending: Vec<_> = queries.iter().collect();
    let mut problems = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut empty_later = Vec::new();
    loop {
        let mut still = Vec::new();
        problems.clear();
        empty_later.clear();
        for q in pending {
            let names = metric_names(&q.expr);
            let unknown: Vec<&String> = names.iter().filter(|n| !exported.contains(*n)).collect();
            if !unknown.is_empty() {
                if unknown.iter().all(|n| EXPORTED_LATER.contains(&n.as_str())) {
                    empty_later.push(format!("{} {:?}", q.dashboard, q.title));
                } else {
                    problems.push(format!(
                        "{} {:?}: no target exports {unknown:?}",
                        q.dashboard, q.title
                    ));
                }
                continue;
            }
            match client.query(&q.expr, None).await {
                Ok(r) if !r.result.vector().is_empty() || r.result.single_value().is_some() => {}
                Ok(_) => {
                    problems.push(format!(
                        "{} {:?} {}: empty\n  {}",
                        q.dashboard, q.title, q.ref_id, q.expr
                    ));
                    still.push(q);
                }
                Err(e) => problems.push(format!(
                    "{} {:?} {}: {e}\n  {}",
                    q.dashboard, q.title, q.ref_id, q.expr
                )),
            }
        }
        pending = still;
        if pending.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    feeder.abort();
    server.abort();
    eprintln!(
        "{} dashboard queries checked; empty until their feature lands: {empty_later:?}",
        queries.len()
    );
    assert!(
        problems.is_empty(),
        "dashboard queries without data:\n{}",
        problems.join("\n")
    );
}

#[test]
fn metric_names_are_read_from_selectors_not_functions_or_labels() {
    let names = metric_names(
        "histogram_quantile(0.99, sum(rate(tikv_grpc_msg_duration_seconds_bucket{job=\"tikv\",type!=\"kv_gc\"}[1m])) by (instance, le)) * on(instance) group_left() service_member_role{service=\"PD\"}",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "service_member_role",
            "tikv_grpc_msg_duration_seconds_bucket"
        ]
    );
}
