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
//! - [`scenario`]: scenario files (`examples/scenarios/*.yaml`): fault, target, expectations.
//! - [`harness`]: the in-process cluster as the monitor sees it; fault injection.
//! - [`runner`]: one run (settle, inject, monitor rounds until detection, diagnose).
//! - [`score`]: root-cause accuracy, recommendation, completeness, percentiles.
//! - [`Report`]: per-scenario and total figures, as Markdown and JSON.

pub mod harness;
pub mod runner;
pub mod scenario;
pub mod score;

use serde::Serialize;

use runner::{RunOutcome, RunnerConfig, Stage};
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

/// The targets of the evaluation (issue #6) with the rules backend.
pub mod targets {
    /// Detection rate.
    pub const DETECTION: f64 = 1.0;
    /// Root-cause accuracy.
    pub const ROOT_CAUSE: f64 = 0.95;
    /// False-positive tickets in the controls.
    pub const FALSE_POSITIVES: usize = 0;
}

/// Figures of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioSummary {
    /// Scenario name.
    pub name: String,
    /// Fault kind.
    pub fault: String,
    /// Runs made.
    pub runs: usize,
    /// Runs that could not complete (harness errors).
    pub errors: usize,
    /// Runs whose expected ticket opened.
    pub detected: usize,
    /// detected / runs.
    pub detection_rate: f64,
    /// Time to detect, p50 (wall seconds).
    pub ttd_p50_secs: Option<f64>,
    /// Time to detect, p99 (wall seconds).
    pub ttd_p99_secs: Option<f64>,
    /// Mean root-cause score over all runs (a missed run scores 0).
    pub root_cause_accuracy: f64,
    /// Share of runs with an acceptable action.
    pub recommendation_rate: f64,
    /// Share of runs with a complete, grounded explanation.
    pub completeness_rate: f64,
    /// Time to diagnose, p50 (wall seconds).
    pub ttdiag_p50_secs: Option<f64>,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Backend used.
    pub backend: String,
    /// Runs per scenario.
    pub runs_per_scenario: usize,
    /// Simulated seconds per wall second.
    pub time_factor: f64,
    /// Per scenario.
    pub scenarios: Vec<ScenarioSummary>,
    /// Control runs made.
    pub control_runs: usize,
    /// Tickets opened in the controls (false positives).
    pub false_positive_tickets: usize,
    /// Every scenario pooled.
    pub total: ScenarioSummary,
    /// Every run, for the JSON report.
    pub runs: Vec<RunOutcome>,
    /// Wall seconds the evaluation took.
    pub wall_secs: f64,
}

impl Report {
    /// Whether the targets hold: detection 100%, no false positive, root cause ≥ 95%,
    /// and no run failed to complete.
    pub fn meets_targets(&self) -> bool {
        self.total.detection_rate >= targets::DETECTION
            && self.false_positive_tickets == targets::FALSE_POSITIVES
            && self.total.root_cause_accuracy >= targets::ROOT_CAUSE
            && self.total.errors == 0
            && self
                .runs
                .iter()
                .filter(|r| r.control)
                .all(|r| r.error.is_none())
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let pct = |v: f64| format!("{:.0}%", v * 100.0);
        let secs = |v: Option<f64>| v.map(|s| format!("{s:.2}")).unwrap_or_else(|| "–".into());
        let mut s = format!(
            "# Evaluation: {} backend, {} run(s) per scenario, time factor {}\n\n",
            self.backend, self.runs_per_scenario, self.time_factor
        );
        s.push_str("| scenario | fault | runs | detected | TTD p50 (s) | TTD p99 (s) | root cause | action ok | complete | diagnose p50 (s) |\n|---|---|---|---|---|---|---|---|---|---|\n");
        for r in self.scenarios.iter().chain(std::iter::once(&self.total)) {
            s.push_str(&format!(
                "| {} | {} | {}{} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.name,
                r.fault,
                r.runs,
                if r.errors > 0 {
                    format!(" ({} failed)", r.errors)
                } else {
                    String::new()
                },
                pct(r.detection_rate),
                secs(r.ttd_p50_secs),
                secs(r.ttd_p99_secs),
                pct(r.root_cause_accuracy),
                pct(r.recommendation_rate),
                pct(r.completeness_rate),
                secs(r.ttdiag_p50_secs),
            ));
        }
        s.push_str(&format!(
            "\nControls: {} no-fault run(s), {} false-positive ticket(s).\n",
            self.control_runs, self.false_positive_tickets
        ));
        for r in self.runs.iter().filter(|r| r.control) {
            for t in &r.tickets {
                s.push_str(&format!(
                    "- control run {}: {} on {}: {}\n",
                    r.run, t.invariant, t.target, t.summary
                ));
            }
        }
        let failed: Vec<&RunOutcome> = self
            .runs
            .iter()
            .filter(|r| r.error.is_some() || (!r.control && r.score.root_cause < 1.0))
            .collect();
        if !failed.is_empty() {
            s.push_str("\nRuns below full marks:\n");
            for r in failed {
                s.push_str(&format!(
                    "- {} run {}: {}\n",
                    r.scenario,
                    r.run,
                    match (&r.error, &r.diagnosis) {
                        (Some(e), _) => format!("error: {e}"),
                        (None, Some(d)) => format!(
                            "root cause {:?} (score {:.2}), action {}",
                            d.root_cause,
                            r.score.root_cause,
                            d.recommended_action.kind.name()
                        ),
                        (None, None) => format!(
                            "not detected; tickets seen: {}",
                            r.tickets
                                .iter()
                                .map(|t| format!("{} on {}", t.invariant, t.target))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    }
                ));
            }
        }
        s.push_str(&format!(
            "\nTargets (detection 100%, no false positives, root cause ≥ 95%): {}. Wall time {:.0} s.\n",
            if self.meets_targets() { "met" } else { "NOT met" },
            self.wall_secs
        ));
        s
    }
}

fn summarize(name: &str, fault: &str, runs: &[&RunOutcome]) -> ScenarioSummary {
    let n = runs.len();
    let detected = runs.iter().filter(|r| r.detected).count();
    let ttd: Vec<f64> = runs.iter().filter_map(|r| r.time_to_detect_secs).collect();
    let ttdiag: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.time_to_diagnose_secs)
        .collect();
    let mean = |f: &dyn Fn(&RunOutcome) -> f64| {
        if n == 0 {
            0.0
        } else {
            runs.iter().map(|r| f(r)).sum::<f64>() / n as f64
        }
    };
    ScenarioSummary {
        name: name.to_string(),
        fault: fault.to_string(),
        runs: n,
        errors: runs.iter().filter(|r| r.error.is_some()).count(),
        detected,
        detection_rate: if n == 0 {
            0.0
        } else {
            detected as f64 / n as f64
        },
        ttd_p50_secs: score::percentile(&ttd, 50.0),
        ttd_p99_secs: score::percentile(&ttd, 99.0),
        root_cause_accuracy: mean(&|r| r.score.root_cause),
        recommendation_rate: mean(&|r| r.score.recommendation),
        completeness_rate: mean(&|r| r.score.completeness),
        ttdiag_p50_secs: score::percentile(&ttdiag, 50.0),
    }
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Runs per scenario.
    pub runs: usize,
    /// No-fault control runs (spread over the scenarios' cluster shapes).
    pub controls: usize,
    /// How runs are driven.
    pub runner: RunnerConfig,
}

/// Runs every scenario `runs` times and `controls` control runs, sequentially, and
/// scores them. `progress` receives each run's name and stages.
pub async fn evaluate(
    scenarios: &[Scenario],
    cfg: &EvalConfig,
    progress: &(dyn Fn(&str, usize, Stage<'_>) + Send + Sync),
) -> Report {
    let started = std::time::Instant::now();
    let all_causes: Vec<Vec<String>> = scenarios.iter().map(|s| s.expect.cause.clone()).collect();
    let mut runs = Vec::new();
    for s in scenarios {
        for run in 0..cfg.runs {
            let p = |st: Stage<'_>| progress(&s.name, run, st);
            runs.push(runner::run_scenario(s, run, &all_causes, &cfg.runner, &p).await);
        }
    }
    let mut shapes: Vec<ClusterShape> = scenarios.iter().map(|s| s.cluster).collect();
    shapes.sort_by_key(|s| (s.pd, s.tikv));
    shapes.dedup();
    if shapes.is_empty() {
        shapes.push(ClusterShape::default());
    }
    for run in 0..cfg.controls {
        let shape = shapes[run % shapes.len()];
        let p = |st: Stage<'_>| progress("control", run, st);
        runs.push(runner::run_control(shape, run, &cfg.runner, &p).await);
    }
    let scenario_summaries: Vec<ScenarioSummary> = scenarios
        .iter()
        .map(|s| {
            let rs: Vec<&RunOutcome> = runs
                .iter()
                .filter(|r| !r.control && r.scenario == s.name)
                .collect();
            summarize(&s.name, s.fault.kind(), &rs)
        })
        .collect();
    let all: Vec<&RunOutcome> = runs.iter().filter(|r| !r.control).collect();
    let controls: Vec<&RunOutcome> = runs.iter().filter(|r| r.control).collect();
    Report {
        backend: "rules".into(),
        runs_per_scenario: cfg.runs,
        time_factor: cfg.runner.time_factor,
        scenarios: scenario_summaries,
        control_runs: controls.len(),
        false_positive_tickets: controls.iter().map(|r| r.tickets.len()).sum(),
        total: summarize("total", "all", &all),
        runs,
        wall_secs: started.elapsed().as_secs_f64(),
    }
}
