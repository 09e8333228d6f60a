//! The scored evaluation on the in-process simulator (issue #13), smoke subset: the six
//! original scenarios once, one plain control, through the operator's own monitor round
//! and diagnosis loop (rules backend), scored from structured causes only.

use std::path::Path;

use operator::eval::runner::{BackendUnderTest, RunnerConfig};
use operator::eval::scenario::parse_all;
use operator::eval::{evaluate, read_dir, EvalConfig};
use operator::subjects::tikv::eval::harness::SimHarness;
use operator::subjects::tikv::eval::scenario::TikvScenarios;

const SMOKE: [&str; 6] = [
    "node-death",
    "disk-pressure",
    "hot-region",
    "slow-disk",
    "network-partition",
    "pd-leader-loss",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_backend_names_the_root_cause_of_every_smoke_scenario_with_no_false_positive() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let mut scenarios = parse_all::<TikvScenarios>(&read_dir(&dir).unwrap()).unwrap();
    let names: Vec<String> = scenarios.iter().map(|s| s.name.clone()).collect();
    for wanted in SMOKE {
        assert!(
            names.iter().any(|n| n == wanted),
            "scenario {wanted} missing: {names:?}"
        );
    }
    scenarios.retain(|s| SMOKE.contains(&s.name.as_str()));
    let cfg = EvalConfig {
        runs: 1,
        controls: 1,
        // Lean for CI: a shorter watch after every cause was named, and a shorter control.
        runner: RunnerConfig {
            observe_after: std::time::Duration::from_secs(30),
            control_window: std::time::Duration::from_secs(4),
            ..RunnerConfig::default()
        },
        backend: BackendUnderTest::rules("tikv"),
        model: "rules-v1".into(),
        jobs: 1,
    };
    let report = evaluate::<SimHarness>(&scenarios, &cfg, &|_, _, _| {}).await;
    let md = report.markdown();
    println!("{md}");
    for r in &report.runs {
        assert!(
            r.error.is_none(),
            "{} failed to run: {:?}\n{md}",
            r.scenario,
            r.error
        );
        if r.control {
            continue;
        }
        assert!(r.detected, "{} not detected\n{md}", r.scenario);
        assert_eq!(r.score.itbench, 1.0, "{}\n{md}", r.scenario);
    }
    assert_eq!(report.controls.false_positive_tickets, 0, "{md}");
    assert!(report.meets_targets(), "{md}");
}
