//! `operator eval` on a real etcd cluster (Debian's etcd-server in `operator-etcd:<version>`,
//! `make images-etcd`) through Docker: the shipped `etcd-kill-member` scenario end to
//! end through the same runner as the TiKV eval (converge 3 members, settle, SIGKILL
//! etcd-1 through the chaos engine, the monitor's round tickets it, the diagnosis
//! reconciler with etcd's reasoning names `process-exit on etcd-1`, scored), and
//! nothing of the run's cluster left behind. Without Docker or the image the test fails
//! under `CI=true` and prints a loud SKIP otherwise.

mod support;

use std::path::Path;
use std::time::Instant;

use operator::eval::runner::{BackendUnderTest, RunnerConfig};
use operator::eval::scenario::parse_all;
use operator::eval::{evaluate, read_dir, EvalConfig};
use operator::runtime::ContainerRuntime;
use operator::subjects::etcd::eval::scenario::EtcdScenarios;
use operator::subjects::etcd::eval::EtcdHarness;
use operator::subjects::etcd::spec;
use support::docker::docker_or_skip;

/// Names of the Docker objects of kind `what` (`ps -a`, `network ls`, `volume ls`)
/// whose name starts with `prefix`.
fn leftovers(what: &[&str], prefix: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(what)
        .args(["--format", "{{.Name}}"])
        .output()
        .expect("docker CLI");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_etcd_member_is_detected_diagnosed_and_scored_and_the_run_leaves_nothing_behind() {
    let test = "eval_etcd_docker";
    let Some(runtime) = docker_or_skip(test).await else {
        return;
    };
    let image = format!("operator-etcd:{}", spec::DEFAULT_VERSION);
    if !runtime.image_exists(&image).await.unwrap_or(false) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: image {image} is missing under CI=true (make images-etcd)"
        );
        eprintln!("\n==========\nSKIP {test}: image {image} is missing (make images-etcd). This test did NOT run.\n==========");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios-etcd");
    let mut scenarios = parse_all::<EtcdScenarios>(&read_dir(&dir).unwrap()).unwrap();
    scenarios.retain(|s| s.name == "etcd-kill-member");
    assert_eq!(
        scenarios.len(),
        1,
        "examples/scenarios-etcd/kill-member.yaml"
    );
    let cfg = EvalConfig {
        runs: 1,
        controls: 0,
        runner: RunnerConfig::default(),
        backend: BackendUnderTest::rules("etcd"),
        model: "rules-v1".into(),
        jobs: 1,
    };
    let started = Instant::now();
    let report = evaluate::<EtcdHarness>(&scenarios, &cfg, &|name, run, stage| {
        eprintln!("[{name} #{run}] {stage:?}");
    })
    .await;
    let md = report.markdown();
    println!("{md}\nwall {:.1} s", started.elapsed().as_secs_f64());
    let prefix = format!("eval-etcd-{}-", std::process::id());
    let left: Vec<String> = [
        &["ps", "-a"][..],
        &["network", "ls"][..],
        &["volume", "ls"][..],
    ]
    .iter()
    .flat_map(|w| leftovers(w, &prefix))
    .collect();
    assert!(left.is_empty(), "the run left {left:?} behind");
    let r = &report.runs[0];
    assert!(r.error.is_none(), "the run failed: {:?}\n{md}", r.error);
    assert!(r.detected, "not detected\n{md}");
    assert!(
        r.tickets
            .iter()
            .any(|t| t.invariant == "member-down" && t.target == "etcd-1"),
        "{:?}",
        r.tickets
    );
    assert_eq!(r.score.itbench, 1.0, "{md}");
    assert_eq!(report.time_factor, 1.0, "a real cluster runs in wall time");
}
