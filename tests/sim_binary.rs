//! The simulator binary as the Docker image runs it: hard-linked as `pd-server` and
//! `tikv-server`, real command lines, exit code 2 on unknown flags, state persisted in
//! `--data-dir` across a killed PD process.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn link(dir: &Path, name: &str) -> std::path::PathBuf {
    let target = dir.join(name);
    let bin = env!("CARGO_BIN_EXE_tikv-sim");
    if std::fs::hard_link(bin, &target).is_err() {
        std::fs::copy(bin, &target).unwrap();
    }
    target
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(url: &str) -> Option<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let s = r.status().as_u16();
        Some((s, r.text().await.ok()?))
    })
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_pd(bin: &Path, data: &Path, cp: u16, pp: u16) -> Killed {
    Killed(
        Command::new(bin)
            .args([
                "--name=pd0".to_string(),
                format!("--data-dir={}", data.display()),
                format!("--client-urls=http://127.0.0.1:{cp}"),
                format!("--peer-urls=http://127.0.0.1:{pp}"),
                format!("--initial-cluster=pd0=http://127.0.0.1:{pp}"),
                "-L".into(),
                "info".into(),
            ])
            .env("TIKV_SIM_TIME_FACTOR", "50")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn the_binary_runs_as_pd_server_and_tikv_server_and_pd_resumes_from_its_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let pd_bin = link(dir.path(), "pd-server");
    let tikv_bin = link(dir.path(), "tikv-server");

    let out = Command::new(&pd_bin)
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(&tikv_bin)
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let (cp, pp) = (free_port(), free_port());
    let pd_data = dir.path().join("pd0");
    let mut pd = start_pd(&pd_bin, &pd_data, cp, pp);
    let pd_url = format!("http://127.0.0.1:{cp}");
    wait_for("pd leader", 20, || {
        get(&format!("{pd_url}/pd/api/v1/leader")).is_some_and(|(s, _)| s == 200)
    });

    let (tp, sp) = (free_port(), free_port());
    let _tikv = Killed(
        Command::new(&tikv_bin)
            .args([
                format!("--addr=127.0.0.1:{tp}"),
                format!("--status-addr=127.0.0.1:{sp}"),
                format!("--data-dir={}", dir.path().join("tikv0").display()),
                format!("--pd-endpoints=127.0.0.1:{cp}"),
                "--labels=zone=z1".into(),
            ])
            .env("TIKV_SIM_TIME_FACTOR", "50")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("store registered", 20, || {
        get(&format!("{pd_url}/pd/api/v1/stores"))
            .is_some_and(|(s, b)| s == 200 && b.contains("\"count\": 1"))
    });
    let (_, stores) = get(&format!("{pd_url}/pd/api/v1/stores")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&stores).unwrap();
    let id = v["stores"][0]["store"]["id"].as_u64().unwrap();
    assert_eq!(v["stores"][0]["store"]["labels"][0]["key"], "zone");
    assert_eq!(
        get(&format!("http://127.0.0.1:{sp}/status")).unwrap(),
        (200, String::new())
    );

    // Kill -9 PD and start it again on the same data dir: the store is still known.
    std::thread::sleep(Duration::from_millis(1200));
    let _ = pd.0.kill();
    let _ = pd.0.wait();
    let _pd2 = start_pd(&pd_bin, &pd_data, cp, pp);
    wait_for("pd back with its stores", 20, || {
        get(&format!("{pd_url}/pd/api/v1/store/{id}"))
            .is_some_and(|(s, b)| s == 200 && b.contains("\"state_name\": \"Up\""))
    });
    let (_, regions) = get(&format!("{pd_url}/pd/api/v1/regions")).unwrap();
    assert!(
        regions.starts_with("{\"count\":24,"),
        "{}",
        &regions[..40.min(regions.len())]
    );
}
