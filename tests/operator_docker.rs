//! End-to-end tests of the `operator` binary against the real Docker engine, with the
//! simulator image (`tikv-sim:local`) standing in for PD and TiKV and Debian's
//! Prometheus (`operator-prometheus:local`). Build the images with `make images`.
//!
//! Every object a test creates carries `io.tikv-operator.test-run=<id>` (through the
//! spec's `metadata.labels`) and is removed when the test ends.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::docker::{docker_or_skip, TestRun};

const SIM: &str = "tikv-sim:local";
const PROM: &str = "operator-prometheus:local";

fn operator() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_operator"));
    c.env("OPERATOR_LOG", "warn");
    c
}

fn require_images() {
    for image in [SIM, PROM] {
        let ok = Command::new("docker")
            .args(["image", "inspect", image])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "image {image} is missing: run `make images` first");
    }
}

struct Cluster {
    name: String,
    run_id: String,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn new(run: &TestRun) -> Self {
        Self {
            name: run.cluster.replace("rt", "e2e"),
            run_id: run.id.clone(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("cluster.yaml")
    }

    fn write(&self, pd: u32, tikv: u32, tikv_image: &str, extra: &str) -> PathBuf {
        let text = format!(
            "apiVersion: tikv-operator.dev/v1alpha1
kind: TikvCluster
metadata:
  name: {name}
  labels:
    io.tikv-operator.test-run: \"{run}\"
spec:
  pd:
    replicas: {pd}
    image: {SIM}
    env:
      TIKV_SIM_TIME_FACTOR: \"20\"
  tikv:
    replicas: {tikv}
    image: {tikv_image}
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
{extra}",
            name = self.name,
            run = self.run_id
        );
        // Replace atomically, as editors do.
        let tmp = self.dir.path().join(".cluster.yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.file()).unwrap();
        self.file()
    }

    fn apply(&self) -> String {
        let out = operator()
            .args(["apply", "--timeout", "3m", "-f"])
            .arg(self.file())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "apply failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn status(&self) -> Value {
        let out = operator()
            .args(["status", "-o", "json", "-f"])
            .arg(self.file())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn diff(&self) -> String {
        let out = operator()
            .args(["diff", "-f"])
            .arg(self.file())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn down(&self) {
        let _ = operator()
            .args(["down", "--volumes", "--yes", "-f"])
            .arg(self.file())
            .output();
    }
}

fn members<'a>(status: &'a Value, role: &str) -> Vec<&'a Value> {
    status["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == role)
        .collect()
}

fn docker_names(prefix: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-a", "--format", "{{.Names}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

fn volume_exists(name: &str) -> bool {
    Command::new("docker")
        .args(["volume", "inspect", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn image_of(container: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.Config.Image}}", container])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_creates_scales_out_scales_in_and_upgrades_a_cluster() {
    let Some(rt) =
        docker_or_skip("the_operator_creates_scales_out_scales_in_and_upgrades_a_cluster").await
    else {
        return;
    };
    require_images();
    let run = TestRun::new(rt).await;
    let c = Cluster::new(&run);
    let foreign = format!("{}-tikv-9", c.name);
    run.create_foreign_container(&foreign).await;

    // Create from nothing.
    c.write(3, 3, SIM, "");
    let out = c.apply();
    assert!(
        out.contains("create pd-0")
            && out.contains("create tikv-2")
            && out.contains("converged in"),
        "{out}"
    );
    let st = c.status();
    let pds = members(&st, "pd");
    assert_eq!(pds.len(), 3);
    assert_eq!(
        pds.iter().filter(|m| m["state"] == "Up|L").count(),
        1,
        "{st}"
    );
    let stores = members(&st, "tikv");
    assert_eq!(stores.len(), 3, "{st}");
    assert!(
        stores
            .iter()
            .all(|m| m["state"] == "Up" && m["container"] == "running"),
        "{st}"
    );
    assert!(c.diff().contains("No changes"), "{}", c.diff());

    // Scale out 3 -> 4.
    c.write(3, 4, SIM, "");
    let out = c.apply();
    assert!(out.contains("create tikv-3"), "{out}");
    wait_for("store 4 Up", Duration::from_secs(30), || {
        members(&c.status(), "tikv")
            .iter()
            .filter(|m| m["state"] == "Up")
            .count()
            == 4
    });

    // Scale in 4 -> 3: delete, Offline, Tombstone, then (and only then) remove.
    c.write(3, 3, SIM, "");
    let out = c.apply();
    let delete = out.find("delete store").expect("store deleted in PD");
    let remove = out
        .find("remove container of tikv-3")
        .expect("container removed");
    assert!(delete < remove, "{out}");
    assert!(out.contains("is Tombstone"), "{out}");
    assert!(
        volume_exists(&format!("{}-tikv-3-data", c.name)),
        "volumePolicy retain keeps the volume"
    );
    assert_eq!(
        members(&c.status(), "tikv")
            .iter()
            .filter(|m| m["container"] == "running")
            .count(),
        3
    );

    // Scale in below max-replicas is refused.
    c.write(3, 2, SIM, "");
    let out = operator()
        .args(["apply", "--timeout", "20s", "-f"])
        .arg(c.file())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("refused") && stderr.contains("fewer than PD's max-replicas 3"),
        "{stderr}"
    );
    assert_eq!(
        members(&c.status(), "tikv")
            .iter()
            .filter(|m| m["state"] == "Up")
            .count(),
        3
    );

    // Rolling upgrade to a new image.
    let v2 = format!("tikv-sim:{}", c.name);
    assert!(Command::new("docker")
        .args(["tag", SIM, &v2])
        .status()
        .unwrap()
        .success());
    c.write(3, 3, &v2, "");
    let out = c.apply();
    let evicts = out.matches("add evict-leader scheduler").count();
    let releases = out.matches("remove evict-leader scheduler").count();
    assert_eq!((evicts, releases), (3, 3), "{out}");
    for i in 0..3 {
        assert_eq!(image_of(&format!("{}-tikv-{i}", c.name)), v2);
    }
    assert!(
        c.diff().contains("No changes"),
        "no evict-leader scheduler left behind: {}",
        c.diff()
    );

    // Scale PD in 3 -> 2: the member leaves through PD's API (leadership moved off it
    // first when it leads), then its container and volume go; the rest keep a leader.
    c.write(2, 3, &v2, "");
    let out = c.apply();
    assert!(
        out.contains("remove PD member pd-2 through PD's API"),
        "{out}"
    );
    let st = c.status();
    let pds = members(&st, "pd");
    assert_eq!(pds.len(), 2, "{st:#}");
    assert_eq!(
        pds.iter()
            .filter(|m| m["state"].as_str().unwrap_or("").ends_with("|L"))
            .count(),
        1,
        "one leader among the remaining members: {st:#}"
    );
    assert!(!docker_names(&c.name).contains(&format!("{}-pd-2", c.name)));
    assert!(!volume_exists(&format!("{}-pd-2-data", c.name)));
    assert!(c.diff().contains("No changes"), "{}", c.diff());

    // The foreign container with our naming scheme was never touched.
    let state = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Status}}", &foreign])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "running");
    c.down();
    assert_eq!(
        docker_names(&c.name),
        vec![foreign.clone()],
        "down removes only what the cluster owns"
    );
    let _ = Command::new("docker").args(["rmi", &v2]).output();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_mid_plan_converges_on_restart_without_duplicates() {
    let Some(rt) =
        docker_or_skip("an_operator_killed_mid_plan_converges_on_restart_without_duplicates").await
    else {
        return;
    };
    require_images();
    let run = TestRun::new(rt).await;
    let c = Cluster::new(&run);
    c.write(3, 3, SIM, "");
    for kill_after in ["create pd-1", "create tikv-1"] {
        let mut child = operator()
            .args(["apply", "-f"])
            .arg(c.file())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let reader = BufReader::new(child.stdout.take().unwrap());
        for line in reader.lines() {
            let line = line.unwrap();
            if line.contains(kill_after) {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
    }
    let out = c.apply();
    assert!(out.contains("converged"), "{out}");
    let names = docker_names(&c.name);
    for m in ["pd-0", "pd-1", "pd-2", "tikv-0", "tikv-1", "tikv-2"] {
        assert_eq!(
            names
                .iter()
                .filter(|n| **n == format!("{}-{m}", c.name))
                .count(),
            1,
            "{names:?}"
        );
    }
    let st = c.status();
    let stores = members(&st, "tikv");
    assert_eq!(
        stores.len(),
        3,
        "exactly three stores, no orphan registrations: {st}"
    );
    assert!(stores.iter().all(|m| m["state"] == "Up"), "{st}");
    c.down();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_controller_follows_spec_edits_and_reports_a_killed_store_without_touching_it() {
    let Some(rt) = docker_or_skip(
        "a_running_controller_follows_spec_edits_and_reports_a_killed_store_without_touching_it",
    )
    .await
    else {
        return;
    };
    require_images();
    let run = TestRun::new(rt).await;
    let c = Cluster::new(&run);
    c.write(1, 3, SIM, "");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let state = c.dir.path().join("state");
    let mut child = operator()
        .args(["run", "--listen", &addr, "--state-dir"])
        .arg(&state)
        .arg("-f")
        .arg(c.file())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = support::process::StopOnDrop(&mut child);
    wait_for("/readyz and convergence", Duration::from_secs(90), || {
        let ready = support::http::get(&addr, "/readyz").is_some_and(|(code, _)| code == 200);
        let converged = support::http::get(&addr, "/api/v1/status")
            .and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
            .is_some_and(|s| s["converged"] == true);
        ready && converged
    });
    assert_eq!(support::http::get(&addr, "/healthz").unwrap().0, 200);

    // Edit the file: the controller scales out on its own.
    c.write(1, 4, SIM, "");
    wait_for(
        "tikv-3 created after the edit",
        Duration::from_secs(60),
        || docker_names(&c.name).contains(&format!("{}-tikv-3", c.name)),
    );

    // Kill a store's container: under the default observe policy it is reported, not restarted.
    let victim = format!("{}-tikv-1", c.name);
    assert!(Command::new("docker")
        .args(["kill", &victim])
        .status()
        .unwrap()
        .success());
    wait_for("the fault to be reported", Duration::from_secs(30), || {
        support::http::get(&addr, "/api/v1/status")
            .and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
            .is_some_and(|s| {
                s["faults"].to_string().contains("tikv-1")
                    && s["faults"].to_string().contains("observe")
            })
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        image_running(&victim).is_some_and(|r| !r),
        "the killed container was left alone"
    );

    let (code, metrics) = support::http::get(&addr, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("operator_reconcile_total{controller=\"tikv\",result=\"success\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "operator_steps_applied_total{controller=\"tikv\",step=\"create-container\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("operator_reconcile_time_seconds_bucket"),
        "{metrics}"
    );
    drop(guard);
    c.down();
}

fn image_running(container: &str) -> Option<bool> {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", container])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim() == "true")
}
