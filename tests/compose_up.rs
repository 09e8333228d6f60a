//! The simulator variant of the compose deployment (`compose/docker-compose.sim.yml`)
//! comes up for real: compose starts the containerised operator (`operator:local`) and
//! Debian's Prometheus (`operator-prometheus:local`); the operator creates PD and TiKV
//! (`tikv-sim:local`) from the mounted cluster file and converges them; Prometheus, with
//! the project's own scrape config, scrapes PD, TiKV and the operator; the operator
//! serves /metrics on the published port; every Grafana panel query returns data from
//! that Prometheus; SIGTERM stops it cleanly and it comes back from its state volume;
//! and its OTLP spans reach a receiver on the host through `host.docker.internal`.
//!
//! It runs as its own compose project with its own cluster name, network and ports (the
//! variables the compose file documents), so a user's `make up` on the same machine is
//! never touched. Teardown is `make down`'s sequence: stop, the `operator-down` one-off,
//! then `down -v`. Needs `make images` and docker-compose; without them it fails under
//! `CI=true` and prints a SKIP line otherwise.

mod manifests_support;
mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use parking_lot::Mutex;
use serde_json::Value;

use manifests_support::{
    dashboard_queries, free_port, metric_names, repo, skip_or_fail, which, EXPORTED_LATER,
};

const TEST: &str = "compose sim variant comes up";

/// The compose command (`docker compose` v2 when present, else `docker-compose`).
fn compose() -> Option<Vec<String>> {
    let v2 = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if v2 {
        return Some(vec!["docker".into(), "compose".into()]);
    }
    which("docker-compose").map(|p| vec![p.to_string_lossy().into_owned()])
}

/// One compose project with its own names, ports and files.
struct Project {
    compose: Vec<String>,
    name: String,
    env: Vec<(String, String)>,
}

impl Project {
    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.compose[0]);
        cmd.args(&self.compose[1..])
            .args(["-p", &self.name, "-f"])
            .arg(repo().join("compose/docker-compose.sim.yml"))
            .args(args)
            .env_remove("ANTHROPIC_API_KEY");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().expect("run compose")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // `make down`: stop, let the operator remove what it created, remove the rest.
        self.run(&["stop"]);
        let down = self.run(&[
            "--profile",
            "tools",
            "run",
            "--rm",
            "operator-down",
            "down",
            "-f",
            &format!("/etc/operator/{}.yaml", self.name),
            "--volumes",
            "--yes",
        ]);
        if !down.status.success() {
            eprintln!(
                "operator down: {}",
                String::from_utf8_lossy(&down.stderr).trim()
            );
        }
        self.run(&["down", "-v", "--remove-orphans"]);
    }
}

fn write_cluster(dir: &Path, name: &str, network: &str) {
    let text = format!(
        "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: {name}\nspec:\n  network: {network}\n  pd:\n    replicas: 1\n    image: tikv-sim:local\n    env:\n      TIKV_SIM_TIME_FACTOR: \"10\"\n  tikv:\n    replicas: 3\n    image: tikv-sim:local\n    env:\n      TIKV_SIM_TIME_FACTOR: \"10\"\n  monitoring:\n    prometheus:\n      enabled: false\n      image: operator-prometheus:local\n    grafana:\n      enabled: false\n      image: grafana/grafana:12.1.0\n  reconcile:\n    interval: 2s\n"
    );
    std::fs::write(dir.join(format!("{name}.yaml")), text).unwrap();
}

/// The project's Prometheus config with the cluster network renamed.
fn write_prometheus_config(dir: &Path, network: &str) {
    let src = repo().join("manifests/prometheus");
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_file() {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let text = if entry.file_name() == "prometheus.yml" {
            assert!(text.contains("regex: tikv-net"), "scrape config changed");
            text.replace("regex: tikv-net", &format!("regex: {network}"))
        } else {
            text
        };
        std::fs::write(dir.join(entry.file_name()), text).unwrap();
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> Option<Value> {
    client.get(url).send().await.ok()?.json().await.ok()
}

/// `Ok` once the operator's API reports the cluster converged, else why not.
async fn converged(client: reqwest::Client, api: String) -> Result<(), String> {
    let st = get_json(&client, &format!("{api}/api/v1/status"))
        .await
        .ok_or("operator API not answering")?;
    if st["converged"] == true {
        Ok(())
    } else {
        Err(format!("status {st}"))
    }
}

async fn until<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = String::new();
    while Instant::now() < deadline {
        match f().await {
            Ok(()) => return,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("timed out after {secs}s waiting for {what}: {last}");
}

fn images_present() -> bool {
    [
        "operator:local",
        "operator-prometheus:local",
        "tikv-sim:local",
    ]
    .iter()
    .all(|i| {
        Command::new("docker")
            .args(["image", "inspect", i])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_compose_deployment_converges_is_scraped_and_exports_spans() {
    if support::docker::docker_or_skip(TEST).await.is_none() {
        return;
    }
    let Some(compose) = compose() else {
        skip_or_fail(
            TEST,
            "neither `docker compose` nor `docker-compose` is installed",
        );
        return;
    };
    if !images_present() {
        skip_or_fail(TEST, "the local images are missing (run `make images`)");
        return;
    }

    // An OTLP/HTTP receiver on the host, reachable from the operator's container.
    let received: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let sink = received.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().push(body.to_vec());
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let otlp_port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let id = &support::docker::random_id()[..8];
    let name = format!("ctest{id}");
    let network = format!("{name}-net");
    let dir = tempfile::tempdir().unwrap();
    let cluster_dir = dir.path().join("cluster");
    let prom_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&cluster_dir).unwrap();
    std::fs::create_dir_all(&prom_dir).unwrap();
    write_cluster(&cluster_dir, &name, &network);
    write_prometheus_config(&prom_dir, &network);
    let (op_port, prom_port) = (free_port(), free_port());
    let env: Vec<(String, String)> = [
        ("CLUSTER_DIR", cluster_dir.to_string_lossy().into_owned()),
        ("CLUSTER_FILE", format!("{name}.yaml")),
        ("CLUSTER_NAME", name.clone()),
        ("CLUSTER_NETWORK", network.clone()),
        (
            "PROMETHEUS_CONFIG_DIR",
            prom_dir.to_string_lossy().into_owned(),
        ),
        ("OPERATOR_PORT", op_port.to_string()),
        ("PROMETHEUS_PORT", prom_port.to_string()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://host.docker.internal:{otlp_port}"),
        ),
        ("OPERATOR_LOG", "info".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let project = Project {
        compose,
        name: name.clone(),
        env,
    };
    let up = project.run(&["up", "-d"]);
    assert!(
        up.status.success(),
        "compose up failed: {}",
        String::from_utf8_lossy(&up.stderr)
    );

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let api = format!("http://127.0.0.1:{op_port}");
    let logs = || {
        let out = project.run(&["logs", "--tail", "40", "operator"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    // The containerised operator converges the cluster it was given.
    let converge = until(180, "the operator to converge the cluster", || {
        converged(client.clone(), api.clone())
    });
    if tokio::time::timeout(Duration::from_secs(185), converge)
        .await
        .is_err()
    {
        panic!("not converged; operator logs:\n{}", logs());
    }
    let members = Command::new("docker")
        .args([
            "ps",
            "--format",
            "{{.Names}}",
            "--filter",
            &format!("label=io.tikv-operator.cluster={name}"),
        ])
        .output()
        .unwrap();
    let members = String::from_utf8_lossy(&members.stdout).to_string();
    for m in ["pd-0", "tikv-0", "tikv-1", "tikv-2"] {
        assert!(
            members.contains(&format!("{name}-{m}")),
            "{m} not running: {members}"
        );
    }

    // It serves /metrics on the published port.
    let metrics = client
        .get(format!("{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("operator_reconcile_total"),
        "no reconcile metrics:\n{metrics}"
    );

    // Prometheus (compose's, with the project's scrape config) scrapes all of them.
    let prom = format!("http://127.0.0.1:{prom_port}");
    let c = client.clone();
    until(120, "Prometheus to scrape pd, tikv and operator", || {
        let (c, prom) = (c.clone(), prom.clone());
        async move {
            let v = get_json(
                &c,
                &format!("{prom}/api/v1/query?query=sum%20by%20(job)%20(up)"),
            )
            .await
            .ok_or("Prometheus not answering")?;
            let mut up = std::collections::BTreeMap::new();
            for r in v["data"]["result"].as_array().cloned().unwrap_or_default() {
                let job = r["metric"]["job"].as_str().unwrap_or("").to_string();
                let n: f64 = r["value"][1].as_str().unwrap_or("0").parse().unwrap_or(0.0);
                up.insert(job, n);
            }
            let want = [("pd", 1.0), ("tikv", 3.0), ("operator", 1.0)];
            if want.iter().all(|(j, n)| up.get(*j) == Some(n)) {
                Ok(())
            } else {
                Err(format!("up by job: {up:?}"))
            }
        }
    })
    .await;

    // Every dashboard query runs against compose's Prometheus and returns data (panels
    // reading metrics that exist only after a ticket or a diagnosis may be empty).
    let c = client.clone();
    let prom_url = prom.clone();
    until(90, "every dashboard query to return data", || {
        let (c, prom) = (c.clone(), prom_url.clone());
        async move {
            let names = get_json(&c, &format!("{prom}/api/v1/label/__name__/values"))
                .await
                .ok_or("Prometheus not answering")?;
            let exported: std::collections::BTreeSet<String> = names["data"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let mut problems = Vec::new();
            for q in dashboard_queries() {
                let unknown: Vec<String> = metric_names(&q.expr)
                    .into_iter()
                    .filter(|n| !exported.contains(n))
                    .collect();
                if !unknown.is_empty() {
                    if !unknown.iter().all(|n| EXPORTED_LATER.contains(&n.as_str())) {
                        problems.push(format!(
                            "{} {:?}: nobody exports {unknown:?}",
                            q.dashboard, q.title
                        ));
                    }
                    continue;
                }
                let url = reqwest::Url::parse_with_params(
                    &format!("{prom}/api/v1/query"),
                    &[("query", q.expr.as_str())],
                )
                .map_err(|e| e.to_string())?;
                let v: Value = c
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                let data = &v["data"]["result"];
                let has = data.as_array().is_some_and(|a| !a.is_empty())
                    || (v["data"]["resultType"] == "scalar" && !data.is_null());
                if !has {
                    problems.push(format!("{} {:?}: empty: {}", q.dashboard, q.title, q.expr));
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("\n"))
            }
        }
    })
    .await;

    // SIGTERM (`compose stop`) shuts the containerised operator down cleanly, and it
    // comes back from its state volume and reports the cluster converged again.
    let id = String::from_utf8_lossy(&project.run(&["ps", "-q", "operator"]).stdout)
        .trim()
        .to_string();
    assert!(!id.is_empty(), "no operator container");
    let stop = project.run(&["stop", "operator"]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    let exit = Command::new("docker")
        .args(["inspect", "-f", "{{.State.ExitCode}}", &id])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&exit.stdout).trim(),
        "0",
        "the operator did not exit cleanly on SIGTERM; logs:\n{}",
        logs()
    );
    let start = project.run(&["start", "operator"]);
    assert!(
        start.status.success(),
        "{}",
        String::from_utf8_lossy(&start.stderr)
    );
    until(
        120,
        "the restarted operator to report the cluster converged",
        || converged(client.clone(), api.clone()),
    )
    .await;

    // Its spans reach the OTLP receiver on the host.
    let r = received.clone();
    until(60, "OTLP spans from the containerised operator", || {
        let r = r.clone();
        async move {
            let bodies = r.lock();
            let has = |needle: &[u8]| {
                bodies
                    .iter()
                    .any(|b| b.windows(needle.len()).any(|w| w == needle))
            };
            if has(b"reconcile") && has(b"operator") {
                Ok(())
            } else {
                Err(format!(
                    "{} export requests, no reconcile span yet",
                    bodies.len()
                ))
            }
        }
    })
    .await;
    drop(project);
    let left = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=io.tikv-operator.cluster={name}"),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "make down's sequence left containers behind"
    );
}
