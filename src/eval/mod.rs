//! `operator eval` and `operator demo --scenario`: fault scenarios run against the
//! in-process simulator through the operator's real observation pipeline (snapshot →
//! invariants → tickets → context → diagnosis), scored.
//!
//! # Why in-process
//!
//! A scored evaluation must run each scenario many times. The in-process simulator
//! ([`crate::sim::cluster`]) starts in well under a second, is seeded, and runs simulated
//! time faster than wall time, so ten runs of every scenario take minutes, not hours, and
//! need no Docker. What the operator sees is still what the simulator serves over HTTP
//! (PD API, status ports, `/metrics`, logs): [`harness`] plugs it into the monitor's
//! snapshot builder through the `EvidenceSources` seam, and nothing is scripted.
//!
//! # Layout
//!
//! - [`scenario`]: scenario files (`examples/scenarios/*.yaml`): faults, noise, the
//!   true root causes (format v2; v1 files still load).
//! - [`harness`]: the in-process cluster as the monitor sees it; fault injection.
//! - [`runner`]: one run (settle, faults and noise on schedule, the operator's monitor
//!   round and diagnosis loop, score).
//! - [`score`]: ITBench-AA, recall/precision/F1, actions (catalog), Brier, percentiles.
//! - [`report`]: per-scenario and total figures as Markdown, JSON and SVG; `--compare`.

pub mod harness;
pub mod memory;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod score;

pub use report::{Report, ScenarioSummary};

use runner::{BackendUnderTest, RunOutcome, RunnerConfig, Stage};
use scenario::{ClusterShape, Scenario};

/// Errors of the evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A scenario file is missing or wrong.
    #[error("scenario: {0}")]
    Scenario(String),
    /// The generated cluster spec did not validate.
    #[error("spec: {0}")]
    Spec(String),
    /// The simulator failed to start.
    #[error("simulator: {0}")]
    Sim(String),
    /// The cluster never became healthy before the fault.
    #[error("the cluster did not settle before the fault: {0}")]
    Settle(String),
    /// The fault could not be injected.
    #[error("inject: {0}")]
    Inject(String),
    /// The diagnosis failed.
    #[error("diagnose: {0}")]
    Diagnose(String),
    /// Files or the ticket store.
    #[error("io: {0}")]
    Io(String),
}

/// The targets of the evaluation (issue #13) with the rules backend.
pub mod targets {
    /// Mean ITBench-AA score over the faulted scenarios.
    pub const ITBENCH: f64 = 0.9;
    /// Detection rate.
    pub const DETECTION: f64 = 0.95;
    /// False-positive tickets in the controls.
    pub const FALSE_POSITIVES: usize = 0;
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Runs per scenario.
    pub runs: usize,
    /// Plain no-fault control runs (spread over the scenarios' cluster shapes), besides
    /// the noisy controls of the suite.
    pub controls: usize,
    /// How runs are driven.
    pub runner: RunnerConfig,
    /// The backend under test.
    pub backend: BackendUnderTest,
    /// Its model id, for the report (`rules-v1` for the rules engine).
    pub model: String,
    /// Runs at once, each with its own in-process cluster and ticket store (1 =
    /// sequential). Runs share nothing but the machine's CPU; see BENCHMARKS.md for how
    /// the results were checked against sequential runs.
    pub jobs: usize,
}

/// Runs every scenario `runs` times and `controls` plain control runs, `jobs` at a time
/// (each its own cluster), and scores them; the report lists them in the same order
/// whatever `jobs` is. `progress` receives each run's name and stages.
pub async fn evaluate(
    scenarios: &[Scenario],
    cfg: &EvalConfig,
    progress: &(dyn Fn(&str, usize, Stage<'_>) + Send + Sync),
) -> Report {
    use futures::StreamExt;
    let started = std::time::Instant::now();
    let mut shapes: Vec<ClusterShape> = scenarios.iter().map(|s| s.cluster).collect();
    shapes.sort_by_key(|s| (s.pd, s.tikv));
    shapes.dedup();
    if shapes.is_empty() {
        shapes.push(ClusterShape::default());
    }
    let mut plan: Vec<(Scenario, usize)> = Vec::new();
    for s in scenarios {
        for run in 0..cfg.runs {
            plan.push((s.clone(), run));
        }
    }
    for run in 0..cfg.controls {
        plan.push((Scenario::control(shapes[run % shapes.len()]), run));
    }
    let mut done: Vec<(usize, RunOutcome)> = futures::stream::iter(plan.iter().enumerate())
        .map(|(i, (s, run))| async move {
            let p = |st: Stage<'_>| progress(&s.name, *run, st);
            (
                i,
                runner::run_scenario(s, *run, &cfg.runner, &cfg.backend, &p).await,
            )
        })
        .buffer_unordered(cfg.jobs.max(1))
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    let runs: Vec<RunOutcome> = done.into_iter().map(|(_, r)| r).collect();
    Report::new(
        &cfg.backend.name,
        &cfg.model,
        cfg.runs,
        cfg.runner.time_factor,
        runs,
        started.elapsed().as_secs_f64(),
    )
}
