//! Crash trials: the real `operator run` process is SIGKILLed at seeded random points
//! during create, scale-out, scale-in and rolling upgrade of one small simulated cluster
//! (1 PD + 3/4 TiKV on `tikv-sim:local`), restarted, and checked after every trial:
//!
//! - convergence: the controller says converged, Docker holds exactly the wanted
//!   members (right image, running), PD holds exactly the wanted Up stores, and no
//!   evict-leader scheduler is left behind;
//! - no duplicate or orphaned containers: one container per member, named
//!   `<cluster>-<member>`, every owned container wanted by the spec, the foreign
//!   container named like ours untouched;
//! - no store's container removed before PD reported it Tombstone: a watcher thread
//!   samples Docker and then PD every 200 ms for the whole run. Store states only move
//!   Offline → Tombstone, so a container found missing while PD (asked *afterwards*)
//!   still reports its store Offline — or Up for a member the spec no longer wants —
//!   was removed too early;
//! - no acknowledged ticket lost: tickets acknowledged through the API (a deliberately
//!   killed store, then whatever the trials open) are all there, acknowledgement
//!   included, after every restart and in the sled database opened directly at the end;
//! - the store opens: every restarted operator opens the database and serves it.
//!
//! The seed is printed; `CRASH_SEED=<n>` replays it. `CRASH_TRIALS=<n>` (default 10)
//! sets the number of trials: one create, then rounds of scale-out, scale-in, upgrade.
//! `make crash-long` runs 50.

mod support;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::Value;
use support::docker::{docker_or_skip, TestRun};

const SIM: &str = "tikv-sim:local";
const TOKEN: &str = "crash-trials-token";
const CLUSTER_LABEL: &str = "io.tikv-operator.cluster";
const MEMBER_LABEL: &str = "io.tikv-operator.member";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Create,
    ScaleOut,
    ScaleIn,
    Upgrade,
}

impl Phase {
    /// Roughly how many plan steps the phase applies: the kill lands after a uniformly
    /// drawn number of them (or at convergence, when the phase has fewer).
    fn est_steps(self) -> usize {
        match self {
            Phase::Create => 8,
            Phase::ScaleOut => 3,
            Phase::ScaleIn => 3,
            Phase::Upgrade => 9,
        }
    }
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `(member, name, state, image)` of every container carrying the cluster's label.
fn owned_containers(cluster: &str) -> Vec<(String, String, String, String)> {
    docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={CLUSTER_LABEL}={cluster}"),
        "--format",
        &format!("{{{{.Label \"{MEMBER_LABEL}\"}}}}|{{{{.Names}}}}|{{{{.State}}}}|{{{{.Image}}}}"),
    ])
    .lines()
    .filter_map(|l| {
        let mut p = l.split('|').map(str::to_string);
        Some((p.next()?, p.next()?, p.next()?, p.next()?))
    })
    .collect()
}

/// PD's stores, Tombstone included: `(address, state_name)`.
fn pd_stores(pd: &str) -> Option<Vec<(String, String)>> {
    let (code, body) = support::http::request(pd, "GET", "/pd/api/v1/stores/check", None)?;
    if code != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    Some(
        v["stores"]
            .as_array()?
            .iter()
            .map(|s| {
                (
                    s["store"]["address"].as_str().unwrap_or("").to_string(),
                    s["store"]["state_name"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect(),
    )
}

fn pd_addr(cluster: &str) -> Option<String> {
    let ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &format!("{cluster}-pd-0"),
    ]);
    let ip = ip.trim();
    (!ip.is_empty()).then(|| format!("{ip}:2379"))
}

/// The watcher: samples Docker, then PD, and records every container that is missing
/// while its store is still Offline (or Up and no longer wanted).
fn watch_removals(
    cluster: String,
    wanted: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    violations: Arc<Mutex<Vec<String>>>,
    samples: Arc<AtomicUsize>,
) {
    let mut pd: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        let present: BTreeSet<String> = owned_containers(&cluster)
            .into_iter()
            .map(|c| c.0)
            .collect();
        if pd.is_none() {
            pd = pd_addr(&cluster);
        }
        let Some(addr) = pd.clone() else { continue };
        let Some(stores) = pd_stores(&addr) else {
            pd = None;
            continue;
        };
        samples.fetch_add(1, Ordering::Relaxed);
        let wanted = wanted.load(Ordering::Relaxed);
        for (address, state) in stores {
            let Some(member) = address
                .strip_prefix(&format!("{cluster}-"))
                .and_then(|a| a.split(':').next())
            else {
                continue;
            };
            let Some(ordinal) = member
                .strip_prefix("tikv-")
                .and_then(|o| o.parse::<u32>().ok())
            else {
                continue;
            };
            if state == "Tombstone" || present.contains(member) {
                continue;
            }
            if state == "Offline" || (ordinal >= wanted && state == "Up") {
                violations.lock().unwrap().push(format!(
                    "the container of {member} was gone while PD still reported its store {state}"
                ));
            }
        }
    }
}

struct Trials {
    run_id: String,
    cluster: String,
    dir: tempfile::TempDir,
    addr: String,
    child: Option<Child>,
    steps: Arc<AtomicUsize>,
    log: Arc<Mutex<VecDeque<String>>>,
    wanted: Arc<AtomicU32>,
    violations: Arc<Mutex<Vec<String>>>,
    acked: BTreeSet<u64>,
    foreign: String,
}

impl Trials {
    fn file(&self) -> PathBuf {
        self.dir.path().join("cluster.yaml")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn write(&self, tikv: u32, image: &str) {
        let text = format!(
            "apiVersion: tikv-operator.dev/v1alpha1
kind: TikvCluster
metadata:
  name: {name}
  labels:
    io.tikv-operator.test-run: \"{run}\"
spec:
  pd:
    replicas: 1
    image: {SIM}
    env:
      TIKV_SIM_TIME_FACTOR: \"20\"
  tikv:
    replicas: {tikv}
    image: {image}
    env:
      TIKV_SIM_TIME_FACTOR: \"20\"
  monitoring:
    prometheus:
      enabled: false
      image: operator-prometheus:local
    grafana:
      enabled: false
      image: grafana/grafana:12.1.0
  reconcile:
    interval: 1s
",
            name = self.cluster,
            run = self.run_id
        );
        let tmp = self.dir.path().join(".cluster.yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.file()).unwrap();
    }

    fn start(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_operator"))
            .env("OPERATOR_LOG", "info")
            .env("NO_COLOR", "1")
            .env("OPERATOR_API_TOKEN", TOKEN)
            .env_remove("ANTHROPIC_API_KEY")
            .args(["run", "--listen", &self.addr, "--state-dir"])
            .arg(self.state_dir())
            .arg("-f")
            .arg(self.file())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let steps = self.steps.clone();
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("applying step") {
                    steps.fetch_add(1, Ordering::Relaxed);
                }
                let mut l = log.lock().unwrap();
                if l.len() > 300 {
                    l.pop_front();
                }
                l.push_back(line);
            }
        });
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown path runs, sled is not flushed by a destructor.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            let _ = c.wait();
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn recent_log(&self) -> String {
        let l = self.log.lock().unwrap();
        l.iter()
            .skip(l.len().saturating_sub(40))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn status(&self) -> Option<Value> {
        let (code, body) = support::http::request(&self.addr, "GET", "/api/v1/status", None)?;
        (code == 200).then(|| serde_json::from_str(&body).ok())?
    }

    /// What still differs from "converged on `tikv` stores running `image`", if anything.
    fn mismatch(&self, tikv: u32, image: &str) -> Option<String> {
        let st = self.status()?;
        if st["converged"] != true || st["ok"] != true {
            return Some(format!("controller not converged: {st}"));
        }
        let containers = owned_containers(&self.cluster);
        let mut by_member: BTreeMap<String, Vec<&(String, String, String, String)>> =
            BTreeMap::new();
        for c in &containers {
            by_member.entry(c.0.clone()).or_default().push(c);
        }
        let wanted: BTreeSet<String> = std::iter::once("pd-0".to_string())
            .chain((0..tikv).map(|i| format!("tikv-{i}")))
            .collect();
        let have: BTreeSet<String> = by_member.keys().cloned().collect();
        if have != wanted {
            return Some(format!("owned members {have:?}, wanted {wanted:?}"));
        }
        for (member, cs) in &by_member {
            if cs.len() != 1 || cs[0].1 != format!("{}-{member}", self.cluster) {
                return Some(format!("{member}: containers {cs:?}"));
            }
            if cs[0].2 != "running" {
                return Some(format!("{member} is {}", cs[0].2));
            }
            if member.starts_with("tikv") && cs[0].3 != image {
                return Some(format!("{member} runs {}, wanted {image}", cs[0].3));
            }
        }
        let pd = pd_addr(&self.cluster)?;
        let stores = pd_stores(&pd)?;
        let live: Vec<&(String, String)> = stores.iter().filter(|s| s.1 != "Tombstone").collect();
        let addresses: BTreeSet<String> = live.iter().map(|s| s.0.clone()).collect();
        let wanted_addr: BTreeSet<String> = (0..tikv)
            .map(|i| format!("{}-tikv-{i}:20160", self.cluster))
            .collect();
        if live.len() != tikv as usize || addresses != wanted_addr {
            return Some(format!("PD stores {stores:?}"));
        }
        if live.iter().any(|s| s.1 != "Up") {
            return Some(format!("PD stores not all Up: {stores:?}"));
        }
        let (_, schedulers) = support::http::request(&pd, "GET", "/pd/api/v1/schedulers", None)?;
        if schedulers.contains("evict-leader") {
            return Some(format!("evict-leader scheduler left: {schedulers}"));
        }
        None
    }

    fn wait_converged(&mut self, tikv: u32, image: &str, what: &str) {
        let start = Instant::now();
        let mut last = String::from("no answer yet");
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(code)) = c.try_wait() {
                    panic!(
                        "{what}: the operator exited ({code}); the store did not open?\n{}",
                        self.recent_log()
                    );
                }
            }
            match self.mismatch(tikv, image) {
                None if self.status().is_some() => return,
                None => {}
                Some(m) => last = m,
            }
            assert!(
                start.elapsed() < Duration::from_secs(240),
                "{what}: no convergence within 240 s: {last}\n{}",
                self.recent_log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn tickets(&self) -> Vec<Value> {
        support::http::request(&self.addr, "GET", "/api/v1/tickets", None)
            .filter(|(c, _)| *c == 200)
            .and_then(|(_, b)| serde_json::from_str::<Vec<Value>>(&b).ok())
            .expect("the ticket API answers after a restart (the store opened)")
    }

    /// Acknowledges every ticket not yet acknowledged or resolved; remembers the ids.
    fn ack_open(&mut self) {
        for t in self.tickets() {
            let id = t["id"].as_u64().unwrap();
            let status = t["status"].as_str().unwrap_or_default().to_string();
            if self.acked.contains(&id) || status == "acknowledged" || status == "resolved" {
                continue;
            }
            let path = format!("/api/v1/tickets/{id}/ack");
            if let Some((200, _)) = support::http::request(&self.addr, "POST", &path, Some(TOKEN)) {
                self.acked.insert(id);
            }
        }
    }

    fn check_acked_kept(&self, what: &str) {
        for id in &self.acked {
            let (code, body) =
                support::http::request(&self.addr, "GET", &format!("/api/v1/tickets/{id}"), None)
                    .unwrap_or((0, String::new()));
            assert_eq!(code, 200, "{what}: acknowledged ticket {id} lost: {body}");
            assert!(
                body.to_lowercase().contains("\"acknowledged\""),
                "{what}: ticket {id} lost its acknowledgement: {body}"
            );
        }
    }

    fn check_no_early_removal(&self, what: &str) {
        let v = self.violations.lock().unwrap();
        assert!(
            v.is_empty(),
            "{what}: a store's container was removed before Tombstone: {v:?}\n{}",
            self.recent_log()
        );
    }

    fn check_foreign_untouched(&self) {
        let state = docker(&["inspect", "-f", "{{.State.Status}}", &self.foreign]);
        assert_eq!(state.trim(), "running", "the foreign container was touched");
    }
}

fn trials_wanted() -> usize {
    std::env::var("CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_operator_restarts_into_a_converged_cluster_without_losing_anything() {
    let Some(rt) = docker_or_skip(
        "a_sigkilled_operator_restarts_into_a_converged_cluster_without_losing_anything",
    )
    .await
    else {
        return;
    };
    let ok = Command::new("docker")
        .args(["image", "inspect", SIM])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "image {SIM} is missing: run `make images` first");
    let run = TestRun::new(rt).await;
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let n_trials = trials_wanted();
    eprintln!("crash trials: seed {seed} (CRASH_SEED={seed} replays), {n_trials} trials");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let cluster = run.cluster.replace("rt", "ct");
    let foreign = format!("{cluster}-tikv-7");
    run.create_foreign_container(&foreign).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut t = Trials {
        run_id: run.id.clone(),
        cluster: cluster.clone(),
        dir: tempfile::tempdir().unwrap(),
        addr: format!("127.0.0.1:{port}"),
        child: None,
        steps: Arc::default(),
        log: Arc::default(),
        wanted: Arc::new(AtomicU32::new(3)),
        violations: Arc::default(),
        acked: BTreeSet::new(),
        foreign,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (c, w, s, v, n) = (
            cluster.clone(),
            t.wanted.clone(),
            stop.clone(),
            t.violations.clone(),
            samples.clone(),
        );
        std::thread::spawn(move || watch_removals(c, w, s, v, n))
    };
    let v2 = format!("tikv-sim:{cluster}");
    assert!(Command::new("docker")
        .args(["tag", SIM, &v2])
        .status()
        .unwrap()
        .success());

    let started = Instant::now();
    let mut image = SIM.to_string();
    let mut tikv = 3u32;
    let mut phases = vec![Phase::Create];
    let cycle = [Phase::ScaleOut, Phase::ScaleIn, Phase::Upgrade];
    while phases.len() < n_trials {
        phases.push(cycle[(phases.len() - 1) % cycle.len()]);
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for (i, phase) in phases.iter().copied().enumerate() {
            match phase {
                Phase::Create => {}
                Phase::ScaleOut => tikv = 4,
                Phase::ScaleIn => tikv = 3,
                Phase::Upgrade => image = if image == SIM { v2.clone() } else { SIM.into() },
            }
            t.wanted.store(tikv, Ordering::Relaxed);
            let base = t.steps.load(Ordering::Relaxed);
            t.write(tikv, &image);
            if phase == Phase::Create {
                t.start();
            }
            let k = rng.random_range(1..=phase.est_steps());
            let jitter = Duration::from_millis(rng.random_range(0..400));
            let trial_start = Instant::now();
            loop {
                let done = t.steps.load(Ordering::Relaxed) - base;
                if done >= k {
                    break;
                }
                if done > 0
                    && trial_start.elapsed() > Duration::from_secs(1)
                    && t.status().is_some_and(|s| s["converged"] == true)
                {
                    break;
                }
                assert!(
                    trial_start.elapsed() < Duration::from_secs(120),
                    "trial {i} {phase:?}: no step within 120 s\n{}",
                    t.recent_log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(jitter);
            let done = t.steps.load(Ordering::Relaxed) - base;
            t.kill();
            eprintln!(
                "trial {:>2} {phase:?}: SIGKILL after {done} step(s) (drawn {k}) + {} ms",
                i + 1,
                jitter.as_millis()
            );
            t.start();
            let what = format!("trial {} {phase:?} (seed {seed})", i + 1);
            t.wait_converged(tikv, &image, &what);
            t.check_no_early_removal(&what);
            t.check_acked_kept(&what);
            t.check_foreign_untouched();
            if phase == Phase::Create {
                // A ticket to acknowledge: kill a store (observe policy leaves it alone),
                // wait for its store-down ticket, ack it, start the store again.
                let victim = format!("{cluster}-tikv-2");
                docker(&["kill", &victim]);
                let deadline = Instant::now() + Duration::from_secs(60);
                while !t
                    .tickets()
                    .iter()
                    .any(|x| x["invariant"] == "store-down" && x["target"] == "tikv-2")
                {
                    assert!(Instant::now() < deadline, "no store-down ticket for tikv-2");
                    std::thread::sleep(Duration::from_millis(300));
                }
                t.ack_open();
                assert!(
                    !t.acked.is_empty(),
                    "the store-down ticket was acknowledged"
                );
                docker(&["start", &victim]);
                t.wait_converged(tikv, &image, &what);
            } else {
                t.ack_open();
            }
        }
    }));
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    t.stop();
    if let Err(e) = result {
        let _ = Command::new(env!("CARGO_BIN_EXE_operator"))
            .args(["down", "--volumes", "--yes", "-f"])
            .arg(t.file())
            .output();
        let _ = Command::new("docker").args(["rmi", &v2]).output();
        std::panic::resume_unwind(e);
    }
    // The database opens directly after the last (clean) stop, acknowledgements intact.
    let store = operator::tickets::TicketStore::open(t.state_dir().join("tickets"))
        .expect("the sled store opens");
    for id in &t.acked {
        let tk = store
            .get(*id)
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged ticket {id} lost"));
        let timeline = serde_json::to_string(&tk.timeline).unwrap();
        assert!(
            timeline.to_lowercase().contains("acknowledged"),
            "ticket {id} lost its acknowledgement: {timeline}"
        );
    }
    drop(store);
    eprintln!(
        "crash trials: {} trials, {} acknowledged tickets kept, {} watcher samples, 0 early removals, {:.0} s",
        phases.len(),
        t.acked.len(),
        samples.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    assert!(
        samples.load(Ordering::Relaxed) > 10,
        "the removal watcher saw PD"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["down", "--volumes", "--yes", "-f"])
        .arg(t.file())
        .output()
        .unwrap();
    assert!(out.status.success(), "down failed");
    let _ = Command::new("docker").args(["rmi", &v2]).output();
    assert!(
        owned_containers(&cluster).is_empty(),
        "down removed the cluster"
    );
}
