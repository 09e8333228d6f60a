//! Soak: the real `operator run` against a simulated cluster (1 PD + 3 TiKV on
//! `tikv-sim:local`, Prometheus) for `SOAK_SECS` (default 1800), sampling the process's
//! resident memory (`/proc/<pid>/status` VmRSS) and the async runtime's alive tasks
//! (`operator_tokio_alive_tasks` on `/metrics`) every 10 s, and asserting both stay flat:
//! after a warm-up, the last quarter of the run may not sit clearly above the first
//! (RSS: +20% + 8 MiB; tasks: +5, room for in-flight requests and a diagnosis; a leak
//! of one task per pass or per monitor round would add hundreds).
//!
//! Ignored in `make test` (it is long); `make soak` runs it. The figures are printed.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::docker::{docker_or_skip, TestRun};

const SIM: &str = "tikv-sim:local";
const PROM: &str = "operator-prometheus:local";

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn alive_tasks(addr: &str) -> Option<u64> {
    let (_, body) = support::http::get(addr, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix("operator_tokio_alive_tasks "))?
        .trim()
        .parse()
        .ok()
}

fn mean(xs: &[u64]) -> f64 {
    xs.iter().sum::<u64>() as f64 / xs.len().max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run with `make soak` (SOAK_SECS, default 1800)"]
async fn memory_and_task_counts_stay_flat_over_a_soak_on_the_simulator() {
    let Some(rt) =
        docker_or_skip("memory_and_task_counts_stay_flat_over_a_soak_on_the_simulator").await
    else {
        return;
    };
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1800);
    let run = TestRun::new(rt).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    let name = run.cluster.replace("rt", "soak");
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
    replicas: 1
    image: {SIM}
    env:
      TIKV_SIM_TIME_FACTOR: \"10\"
  tikv:
    replicas: 3
    image: {SIM}
    env:
      TIKV_SIM_TIME_FACTOR: \"10\"
  monitoring:
    prometheus:
      image: {PROM}
    grafana:
      enabled: false
      image: grafana/grafana:12.1.0
  reconcile:
    interval: 2s
",
            id = run.id
        ),
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_operator"))
        .env("OPERATOR_LOG", "warn")
        .env_remove("ANTHROPIC_API_KEY")
        .args(["run", "--listen", &addr, "--state-dir"])
        .arg(dir.path().join("state"))
        .arg("-f")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let start = Instant::now();
    while support::http::get(&addr, "/readyz").is_none_or(|(c, _)| c != 200) {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "not ready in 180 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "soak: ready after {:.0} s; sampling for {secs} s",
        start.elapsed().as_secs_f64()
    );
    let warmup = Duration::from_secs(60.min(secs / 5));
    std::thread::sleep(warmup);
    let t0 = Instant::now();
    let mut samples: Vec<(u64, u64, u64)> = Vec::new();
    while t0.elapsed() < Duration::from_secs(secs) {
        assert!(child.try_wait().unwrap().is_none(), "the operator died");
        if let (Some(rss), Some(tasks)) = (rss_kib(pid), alive_tasks(&addr)) {
            samples.push((t0.elapsed().as_secs(), rss, tasks));
            eprintln!(
                "soak: t={:>5}s rss={rss} KiB tasks={tasks}",
                t0.elapsed().as_secs()
            );
        }
        std::thread::sleep(Duration::from_secs(10));
    }
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = child.wait();
    let _ = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["down", "--volumes", "--yes", "-f"])
        .arg(&file)
        .output();
    assert!(samples.len() >= 8, "too few samples: {samples:?}");
    let q = samples.len() / 4;
    let rss: Vec<u64> = samples.iter().map(|s| s.1).collect();
    let tasks: Vec<u64> = samples.iter().map(|s| s.2).collect();
    let (rss_first, rss_last) = (mean(&rss[..q]), mean(&rss[rss.len() - q..]));
    let (t_first, t_last) = (mean(&tasks[..q]), mean(&tasks[tasks.len() - q..]));
    eprintln!(
        "soak: {} samples over {secs} s; RSS first quarter {:.1} MiB, last quarter {:.1} MiB (max {:.1}); tasks first quarter {t_first:.1}, last quarter {t_last:.1} (max {})",
        samples.len(),
        rss_first / 1024.0,
        rss_last / 1024.0,
        *rss.iter().max().unwrap() as f64 / 1024.0,
        tasks.iter().max().unwrap()
    );
    assert!(
        rss_last <= rss_first * 1.2 + 8.0 * 1024.0,
        "RSS grew: {rss_first:.0} KiB -> {rss_last:.0} KiB"
    );
    assert!(
        t_last <= t_first + 5.0,
        "alive tasks grew: {t_first:.1} -> {t_last:.1}"
    );
}
