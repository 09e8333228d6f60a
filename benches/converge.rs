//! `cargo bench --bench converge` (needs Docker and `make images`): the operator's own
//! time when converging a 3 PD + 3 TiKV simulated cluster from nothing and on a 3 → 4
//! TiKV scale-out, and the idle controller's CPU and memory at a 5 s resync.
//!
//! "Own time" is wall time minus the time spent inside Docker's mutating API calls
//! (creating and starting containers, networks, volumes) minus the time spent waiting
//! for PD and TiKV themselves (PD electing a leader, stores registering): every pass
//! that ends with "waiting" is followed by a requeue sleep, and those sleeps plus the
//! mutating calls are subtracted. What is left is observation, planning and the loop.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::stream::BoxStream;
use parking_lot::Mutex;

use operator::reconcile::{Controller, Metrics};
use operator::runtime::docker::DockerRuntime;
use operator::runtime::*;
use operator::spec::{parse_str, ValidationContext};
use operator::subjects::tikv::pd_adapter::PdAdapter;
use operator::subjects::tikv::subject::{PdApi, TikvSubject};

/// Accumulates time spent in mutating Docker calls.
struct Timed {
    inner: DockerRuntime,
    mutating: Mutex<Duration>,
}

impl Timed {
    fn add(&self, t: Instant) {
        *self.mutating.lock() += t.elapsed();
    }
}

macro_rules! timed {
    ($self:ident, $e:expr) => {{
        let t = Instant::now();
        let r = $e.await;
        $self.add(t);
        r
    }};
}

#[async_trait::async_trait]
impl ContainerRuntime for Timed {
    async fn list_owned(&self, c: &str, n: &str) -> Result<Owned, RuntimeError> {
        self.inner.list_owned(c, n).await
    }
    async fn create_network(&self, s: &NetworkSpec) -> Result<(), RuntimeError> {
        timed!(self, self.inner.create_network(s))
    }
    async fn remove_network(&self, c: &str, n: &str) -> Result<(), RuntimeError> {
        timed!(self, self.inner.remove_network(c, n))
    }
    async fn create_volume(&self, s: &VolumeSpec) -> Result<(), RuntimeError> {
        timed!(self, self.inner.create_volume(s))
    }
    async fn remove_volume(&self, c: &str, n: &str) -> Result<(), RuntimeError> {
        timed!(self, self.inner.remove_volume(c, n))
    }
    async fn create_and_start(&self, s: &ContainerSpec) -> Result<String, RuntimeError> {
        timed!(self, self.inner.create_and_start(s))
    }
    async fn start(&self, c: &str, n: &str) -> Result<(), RuntimeError> {
        timed!(self, self.inner.start(c, n))
    }
    async fn stop(&self, c: &str, n: &str, g: Duration) -> Result<(), RuntimeError> {
        timed!(self, self.inner.stop(c, n, g))
    }
    async fn restart(&self, c: &str, n: &str) -> Result<(), RuntimeError> {
        timed!(self, self.inner.restart(c, n))
    }
    async fn kill(&self, c: &str, n: &str, s: &str) -> Result<(), RuntimeError> {
        timed!(self, self.inner.kill(c, n, s))
    }
    async fn remove(&self, c: &str, n: &str) -> Result<(), RuntimeError> {
        timed!(self, self.inner.remove(c, n))
    }
    async fn pause(&self, c: &str, n: &str) -> Result<(), RuntimeError> {
        self.inner.pause(c, n).await
    }
    async fn unpause(&self, c: &str, n: &str) -> Result<(), RuntimeError> {
        self.inner.unpause(c, n).await
    }
    async fn connect(&self, c: &str, net: &str, n: &str) -> Result<(), RuntimeError> {
        self.inner.connect(c, net, n).await
    }
    async fn disconnect(&self, c: &str, net: &str, n: &str) -> Result<(), RuntimeError> {
        self.inner.disconnect(c, net, n).await
    }
    async fn download(&self, c: &str, n: &str, p: &str) -> Result<Option<Vec<u8>>, RuntimeError> {
        self.inner.download(c, n, p).await
    }
    async fn upload(&self, c: &str, n: &str, f: &[FileUpload]) -> Result<(), RuntimeError> {
        timed!(self, self.inner.upload(c, n, f))
    }
    async fn exec(&self, c: &str, n: &str, cmd: &[String]) -> Result<ExecOutput, RuntimeError> {
        self.inner.exec(c, n, cmd).await
    }
    async fn logs(
        &self,
        c: &str,
        n: &str,
        s: Option<SystemTime>,
        t: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        self.inner.logs(c, n, s, t).await
    }
    async fn image_exists(&self, i: &str) -> Result<bool, RuntimeError> {
        self.inner.image_exists(i).await
    }
    fn events(&self, c: &str) -> BoxStream<'static, Result<RuntimeEvent, RuntimeError>> {
        self.inner.events(c)
    }
}

fn spec_text(name: &str, tikv: u32) -> String {
    format!(
        "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: {name}\nspec:\n  pd:\n    replicas: 3\n    image: tikv-sim:local\n    env:\n      TIKV_SIM_TIME_FACTOR: \"20\"\n  tikv:\n    replicas: {tikv}\n    image: tikv-sim:local\n    env:\n      TIKV_SIM_TIME_FACTOR: \"20\"\n  monitoring:\n    prometheus:\n      image: operator-prometheus:local\n    grafana:\n      enabled: false\n      image: grafana/grafana:12.1.0\n  reconcile:\n    interval: 5s\n"
    )
}

/// Converges once, polling like `operator apply` does; returns (wall, docker, waiting).
async fn converge(subject: Arc<TikvSubject>, timed: &Timed) -> (Duration, Duration, Duration) {
    *timed.mutating.lock() = Duration::ZERO;
    let controller = Controller::new(subject, Metrics::new());
    let start = Instant::now();
    let mut waiting = Duration::ZERO;
    loop {
        let action = controller.reconcile_once(&|_| {}).await.expect("pass");
        let st = controller.status();
        if st.converged {
            break;
        }
        // The plan is waiting on PD/TiKV: this sleep is their time, not ours.
        let d = action.requeue_after().min(Duration::from_millis(100));
        let t = Instant::now();
        tokio::time::sleep(d).await;
        waiting += t.elapsed();
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "not converged: {st:?}"
        );
    }
    (start.elapsed(), *timed.mutating.lock(), waiting)
}

fn down(name: &str) {
    let ids = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=io.tikv-operator.cluster={name}"),
        ])
        .output()
        .unwrap();
    for id in String::from_utf8_lossy(&ids.stdout).lines() {
        let _ = Command::new("docker").args(["rm", "-fv", id]).output();
    }
    for kind in ["network", "volume"] {
        let ids = Command::new("docker")
            .args([
                kind,
                "ls",
                "-q",
                "--filter",
                &format!("label=io.tikv-operator.cluster={name}"),
            ])
            .output()
            .unwrap();
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = Command::new("docker").args([kind, "rm", id]).output();
        }
    }
}

fn proc_stat(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|x| x.1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = 100.0;
    let cpu = fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu / ticks, rss_kb)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let trials: usize = std::env::var("CONVERGE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut results: BTreeMap<&str, Vec<(Duration, Duration, Duration)>> = BTreeMap::new();
    for trial in 0..trials {
        let name = format!("bench{trial}");
        down(&name);
        let timed = Arc::new(Timed {
            inner: DockerRuntime::connect().await.expect("docker"),
            mutating: Mutex::new(Duration::ZERO),
        });
        let spec = parse_str(&spec_text(&name, 3), "b.yaml", ValidationContext::default())
            .unwrap()
            .0;
        let rt: Arc<dyn ContainerRuntime> = timed.clone();
        let subject = Arc::new(TikvSubject::new(
            spec,
            None,
            rt,
            Arc::new(|eps| Arc::new(PdAdapter::new(eps)) as Arc<dyn PdApi>),
        ));
        results
            .entry("create 3 PD + 3 TiKV from nothing")
            .or_default()
            .push(converge(subject.clone(), &timed).await);
        // Let the new stores register before scaling.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let spec4 = parse_str(&spec_text(&name, 4), "b.yaml", ValidationContext::default())
            .unwrap()
            .0;
        subject.set_spec(spec4);
        results
            .entry("scale out 3 -> 4 TiKV")
            .or_default()
            .push(converge(subject.clone(), &timed).await);
        down(&name);
    }
    println!(
        "operator's own time (wall - docker mutating calls - waiting on PD/TiKV), {trials} trials:"
    );
    for (label, rs) in &results {
        let mut own: Vec<f64> = rs
            .iter()
            .map(|(w, d, wait)| w.saturating_sub(*d).saturating_sub(*wait).as_secs_f64())
            .collect();
        own.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let wall: f64 = rs.iter().map(|r| r.0.as_secs_f64()).sum::<f64>() / rs.len() as f64;
        let docker: f64 = rs.iter().map(|r| r.1.as_secs_f64()).sum::<f64>() / rs.len() as f64;
        let wait: f64 = rs.iter().map(|r| r.2.as_secs_f64()).sum::<f64>() / rs.len() as f64;
        println!(
            "  {label:<36} own p50 {:.3}s max {:.3}s | mean wall {wall:.2}s, docker {docker:.2}s, waiting {wait:.2}s",
            own[own.len() / 2],
            own[own.len() - 1]
        );
    }

    // Idle controller: a converged cluster, `operator run` at a 5 s resync for 60 s.
    let name = "benchidle";
    down(name);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, spec_text(name, 3)).unwrap();
    let bin = env!("CARGO_BIN_EXE_operator");
    let st = Command::new(bin)
        .args(["apply", "-f"])
        .arg(&file)
        .env("OPERATOR_LOG", "warn")
        .output()
        .unwrap();
    assert!(st.status.success());
    let mut child = Command::new(bin)
        .args(["run", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.path().join("state"))
        .arg("-f")
        .arg(&file)
        .env("OPERATOR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (cpu0, _) = proc_stat(child.id());
    let window = Duration::from_secs(60);
    tokio::time::sleep(window).await;
    let (cpu1, rss_kb) = proc_stat(child.id());
    let _ = child.kill();
    let _ = child.wait();
    down(name);
    println!(
        "idle controller (5 s resync, 3 PD + 3 TiKV + Prometheus): CPU {:.3}% of one core over {}s, RSS {:.1} MiB",
        (cpu1 - cpu0) / window.as_secs_f64() * 100.0,
        window.as_secs(),
        rss_kb as f64 / 1024.0
    );
}
