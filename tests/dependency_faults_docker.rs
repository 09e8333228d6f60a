//! Dependency faults end to end: the real `operator run` process against a simulated
//! cluster (3 PD + 3 TiKV on `tikv-sim:local`, Prometheus) on the real Docker engine,
//! reached through a Unix-socket proxy this test controls, so "the Docker daemon is
//! unreachable" is real for the operator (its connections are cut and new ones are
//! refused) while the engine itself keeps running.
//!
//! In turn: the PD leader is killed, every PD member is stopped, Prometheus is
//! stopped, the daemon becomes unreachable. For each the process stays up (`/healthz` 200), `/readyz` tells the
//! truth with the reason in its body, a ticket says what the operator cannot see, and it
//! recovers on its own when the dependency returns.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::docker::{docker_or_skip, TestRun};

const SIM: &str = "tikv-sim:local";
const PROM: &str = "operator-prometheus:local";

/// A Unix-socket proxy in front of the Docker daemon that can be cut: while cut, open
/// connections are shut down and new ones are closed at once.
struct DockerProxy {
    path: PathBuf,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<UnixStream>>>,
    stop: Arc<AtomicBool>,
}

impl DockerProxy {
    fn start(dir: &Path) -> Self {
        let upstream = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
            .unwrap_or_else(|| "/var/run/docker.sock".into());
        let path = dir.join("docker.sock");
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, o, s) = (cut.clone(), open.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                if c.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let _ = client.set_nonblocking(false);
                let Ok(server) = UnixStream::connect(&upstream) else {
                    continue;
                };
                {
                    let mut o = o.lock().unwrap();
                    o.push(client.try_clone().unwrap());
                    o.push(server.try_clone().unwrap());
                }
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Self {
            path,
            cut,
            open,
            stop,
        }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
        if cut {
            for s in self.open.lock().unwrap().drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

impl Drop for DockerProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.set_cut(true);
    }
}

fn pipe(mut from: UnixStream, mut to: UnixStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Polls `f` until it holds; prints how long that took (the figures in RELIABILITY.md).
fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!("{what}: {:.1} s", start.elapsed().as_secs_f64());
}

/// The operator process, stopped (SIGTERM, then SIGKILL) when dropped.
struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        support::process::stop(&mut self.0, Duration::from_secs(15));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_operator_survives_losing_the_pd_leader_prometheus_and_the_docker_daemon() {
    let Some(rt) = docker_or_skip(
        "the_real_operator_survives_losing_the_pd_leader_prometheus_and_the_docker_daemon",
    )
    .await
    else {
        return;
    };
    for image in [SIM, PROM] {
        assert!(
            !docker(&["image", "inspect", "-f", "{{.Id}}", image]).is_empty(),
            "image {image} is missing: run `make images` first"
        );
    }
    let run = TestRun::new(rt).await;
    let name = run.cluster.replace("rt", "df");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: tikv-operator.dev/v1alpha1
kind: TikvCluster
metadata:
  name: {name}
  labels:
    io.tikv-operator.test-run: \"{id}\"
spec:
  pd:
    replicas: 3
    image: {SIM}
    env:
      TIKV_SIM_TIME_FACTOR: \"20\"
  tikv:
    replicas: 3
    image: {SIM}
    env:
      TIKV_SIM_TIME_FACTOR: \"20\"
  monitoring:
    prometheus:
      image: {PROM}
    grafana:
      enabled: false
      image: grafana/grafana:12.1.0
  reconcile:
    interval: 1s
    maxBackoff: 4s
  invariants:
    pdMemberGrace: 2s
    pdUnreachableGrace: 2s
    prometheusUnreachableGrace: 2s
",
            id = run.id
        ),
    )
    .unwrap();
    let proxy = DockerProxy::start(dir.path());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let op = Operator(
        Command::new(env!("CARGO_BIN_EXE_operator"))
            .env("OPERATOR_LOG", "warn")
            .env("DOCKER_HOST", proxy.host())
            .env_remove("ANTHROPIC_API_KEY")
            .args(["run", "--listen", &addr, "--state-dir"])
            .arg(dir.path().join("state"))
            .arg("-f")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let readyz = || support::http::get(&addr, "/readyz").unwrap_or((0, String::new()));
    let status = || {
        support::http::get(&addr, "/api/v1/status")
            .and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
            .unwrap_or_default()
    };
    let tickets = || {
        support::http::get(&addr, "/api/v1/tickets")
            .and_then(|(_, b)| serde_json::from_str::<Vec<Value>>(&b).ok())
            .unwrap_or_default()
    };
    let ticket = |invariant: &str, states: &[&str]| {
        tickets().iter().any(|t| {
            t["invariant"] == invariant && states.contains(&t["status"].as_str().unwrap_or(""))
        })
    };
    let healthy_and_ready = || {
        let (code, body) = readyz();
        let st = status();
        code == 200
            && !body.contains("degraded")
            && st["converged"] == true
            && st["faults"].as_array().is_some_and(|f| f.is_empty())
    };
    wait_for("the cluster to converge, ready", 180, healthy_and_ready);

    // 1. The PD leader is killed: the client fails over, the controller stays ready,
    //    the dead member is ticketed.
    let pd_ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &format!("{name}-pd-0"),
    ]);
    let leader = support::http::get(&format!("{pd_ip}:2379"), "/pd/api/v1/leader")
        .and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
        .and_then(|v| v["name"].as_str().map(str::to_string))
        .expect("PD names its leader");
    docker(&["kill", &format!("{name}-{leader}")]);
    wait_for("the dead PD leader's ticket", 60, || {
        ticket("pd-member-unhealthy", &["open", "diagnosing", "diagnosed"])
    });
    wait_for("ready with a new PD leader", 60, || readyz().0 == 200);
    assert_eq!(support::http::get(&addr, "/healthz").unwrap().0, 200);
    docker(&["start", &format!("{name}-{leader}")]);
    wait_for("the PD member back, ready", 120, healthy_and_ready);
    wait_for("the dead PD leader's ticket resolved", 90, || {
        ticket("pd-member-unhealthy", &["resolved"])
    });

    // 2. Every PD member stops: not ready, with the reason; pd-unreachable; recovers
    //    once they are started again.
    let pds: Vec<String> = (0..3).map(|i| format!("{name}-pd-{i}")).collect();
    let mut stop = vec!["stop", "-t", "1"];
    stop.extend(pds.iter().map(String::as_str));
    docker(&stop);
    wait_for("not ready: blind to PD", 60, || {
        let (code, body) = readyz();
        code == 503 && body.contains("pd:")
    });
    assert_eq!(support::http::get(&addr, "/healthz").unwrap().0, 200);
    wait_for("the pd-unreachable ticket", 60, || {
        ticket("pd-unreachable", &["open", "diagnosing", "diagnosed"])
    });
    let mut start = vec!["start"];
    start.extend(pds.iter().map(String::as_str));
    docker(&start);
    wait_for("PD back, ready", 120, healthy_and_ready);
    wait_for("the pd-unreachable ticket resolved", 90, || {
        ticket("pd-unreachable", &["resolved"])
    });

    // 3. Prometheus stops: ready but degraded, with the reason; ticketed; recovers.
    docker(&["stop", "-t", "1", &format!("{name}-prometheus")]);
    wait_for("degraded: prometheus", 60, || {
        let (code, body) = readyz();
        code == 200 && body.contains("degraded") && body.contains("prometheus")
    });
    wait_for("the prometheus-unreachable ticket", 60, || {
        ticket(
            "prometheus-unreachable",
            &["open", "diagnosing", "diagnosed"],
        )
    });
    docker(&["start", &format!("{name}-prometheus")]);
    wait_for("prometheus back, not degraded", 120, healthy_and_ready);

    // 4. The Docker daemon becomes unreachable for the operator.
    let errors = || {
        support::http::get(&addr, "/metrics")
            .and_then(|(_, m)| {
                m.lines()
                    .find_map(|l| {
                        l.strip_prefix("operator_reconcile_errors_total{controller=\"tikv\"} ")
                    })
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    proxy.set_cut(true);
    wait_for("not ready: blind to the runtime", 60, || {
        let (code, body) = readyz();
        code == 503 && body.contains("runtime") && body.contains("unreachable")
    });
    assert_eq!(support::http::get(&addr, "/healthz").unwrap().0, 200);
    wait_for("the runtime-unreachable ticket", 60, || {
        ticket("runtime-unreachable", &["open", "diagnosing", "diagnosed"])
    });
    let before = errors();
    std::thread::sleep(Duration::from_secs(12));
    let in_window = errors() - before;
    eprintln!("failed passes in a 12 s window while blind to the runtime: {in_window}");
    assert!(
        (1..=10).contains(&in_window),
        "{in_window} failed passes in 12 s: backoff 500 ms doubling to the 4 s cap"
    );
    proxy.set_cut(false);
    wait_for("ready again once the daemon answers", 90, healthy_and_ready);
    wait_for("the runtime-unreachable ticket resolved", 90, || {
        ticket("runtime-unreachable", &["resolved"])
    });

    drop(op);
    let _ = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["down", "--volumes", "--yes", "-f"])
        .arg(&file)
        .output();
}
