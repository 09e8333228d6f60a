//! The scored evaluation on the in-process simulator (issues #5 and #6): every scenario
//! in `examples/scenarios/` once, plus one no-fault control, through the real pipeline
//! (snapshot builder → invariants → tickets → context → rules diagnosis).

use std::path::Path;

use operator::eval::runner::RunnerConfig;
use operator::eval::scenario::load_dir;
use operator::eval::{evaluate, EvalConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_backend_detects_and_names_every_injected_fault_with_no_false_positive() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let scenarios = load_dir(&dir).unwrap();
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    for wanted in [
        "node-death",
        "disk-pressure",
        "hot-region",
        "slow-disk",
        "network-partition",
        "pd-leader-loss",
    ] {
        assert!(
            names.contains(&wanted),
            "scenario {wanted} missing: {names:?}"
        );
    }
    let cfg = EvalConfig {
        runs: 1,
        controls: 1,
        runner: RunnerConfig::default(),
    };
    let report = evaluate(&scenarios, &cfg, &|_, _, _| {}).await;
    let md = report.markdown();
    println!("{md}");
    for r in report.runs.iter().filter(|r| !r.control) {
        assert!(
            r.error.is_none(),
            "{} failed to run: {:?}\n{md}",
            r.scenario,
            r.error
        );
        assert!(r.detected, "{} not detected\n{md}", r.scenario);
        let d = r.diagnosis.as_ref().expect("a detected run is diagnosed");
        assert_eq!(
            r.score.root_cause, 1.0,
            "{}: root cause {:?} does not name the fault and target {:?}\n{md}",
            r.scenario, d.root_cause, r.target
        );
        assert_eq!(
            r.score.completeness, 1.0,
            "{}: incomplete or ungrounded: {:?}",
            r.scenario, d.grounding
        );
        assert_eq!(
            r.score.recommendation,
            1.0,
            "{}: action {}",
            r.scenario,
            d.recommended_action.kind.name()
        );
    }
    assert_eq!(report.false_positive_tickets, 0, "{md}");
    assert!(report.meets_targets(), "{md}");
}
