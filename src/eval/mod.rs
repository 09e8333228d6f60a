//! `operator eval` and `operator demo --scenario`: fault scenarios run against a
//! subject's cluster through the operator's real observation pipeline (snapshot →
//! invariants → tickets → context → diagnosis), scored.
//!
//! # The core and the subjects
//!
//! This module names no subject. A subject plugs in through two traits:
//! [`scenario::ScenarioSchema`] (its cluster shape, fault and noise kinds, catalog and
//! entities in scenario files) and [`subject::EvalHarness`] (a cluster for one run:
//! start, settle, apply the schedule, the monitor's [`crate::tickets::monitor::Monitored`]
//! contract, entities, shutdown). The registry (`crate::subjects::EVAL`) lists each
//! subject's harness; the CLI picks it from the files' `subject:`. TiKV's harness runs
//! the in-process simulator (seeded, faster than wall time, no Docker); etcd's converges
//! real containers on Docker.
//!
//! # Layout
//!
//! - [`scenario`]: scenario files: the generic parts (faults with `at`/`duration`, noise,
//!   true root causes, `control`, `subject`); the subject reads its own kinds.
//! - [`subject`]: the harness port.
//! - [`runner`]: one run (settle, faults and noise on schedule, the operator's monitor
//!   round and diagnosis loop, score).
//! - [`score`]: ITBench-AA, recall/precision/F1, actions (catalog), Brier, percentiles.
//! - [`report`]: per-scenario and total figures as Markdown, JSON and SVG; `--compare`.
//! - [`memory`]: `--memory`, the suite run a second time remembering the first's tickets.

pub mod memory;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod score;
pub mod subject;

pub use report::{Report, ScenarioSummary};

use std::marker::PhantomData;

use runner::{BackendUnderTest, RunOutcome, RunnerConfig, Stage};
use scenario::{Scenario, ScenarioSchema};
use subject::EvalHarness;

/// Errors of the evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A scenario file is missing or wrong.
    #[error("scenario: {0}")]
    Scenario(String),
    /// The generated cluster spec did not validate.
    #[error("spec: {0}")]
    Spec(String),
    /// The cluster failed to start.
    #[error("cluster: {0}")]
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

/// Progress of an evaluation: each run's scenario name, run number and stage.
pub type Progress<'a> = &'a (dyn for<'s> Fn(&str, usize, Stage<'s>) + Send + Sync);

/// Runs every scenario `runs` times and `controls` plain control runs, `jobs` at a time
/// (each its own cluster), and scores them; the report lists them in the same order
/// whatever `jobs` is. `progress` receives each run's name and stages.
pub async fn evaluate<H: EvalHarness>(
    scenarios: &[Scenario<H::Schema>],
    cfg: &EvalConfig,
    progress: Progress<'_>,
) -> Report {
    use futures::StreamExt;
    let started = std::time::Instant::now();
    let runner_cfg = H::runner_config(&cfg.runner);
    let mut shapes: Vec<<H::Schema as ScenarioSchema>::Shape> =
        scenarios.iter().map(|s| s.cluster.clone()).collect();
    shapes.sort();
    shapes.dedup();
    if shapes.is_empty() {
        shapes.push(Default::default());
    }
    let mut plan: Vec<(Scenario<H::Schema>, usize)> = Vec::new();
    for s in scenarios {
        for run in 0..cfg.runs {
            plan.push((s.clone(), run));
        }
    }
    for run in 0..cfg.controls {
        plan.push((Scenario::control(shapes[run % shapes.len()].clone()), run));
    }
    let runner_cfg = &runner_cfg;
    let mut done: Vec<(usize, RunOutcome)> = futures::stream::iter(plan.into_iter().enumerate())
        .map(|(i, (s, run))| async move {
            let p = |st: Stage<'_>| progress(&s.name, run, st);
            (
                i,
                runner::run_scenario::<H>(&s, run, runner_cfg, &cfg.backend, &p).await,
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
        runner_cfg.time_factor,
        runs,
        started.elapsed().as_secs_f64(),
    )
}

/// One subject's loaded scenarios, behind an object so that the CLI names no subject.
#[async_trait::async_trait]
pub trait Suite: Send + Sync {
    /// The subject (as tickets name it).
    fn subject(&self) -> &'static str;
    /// The scenario names, in file order.
    fn names(&self) -> Vec<String>;
    /// A scenario's description.
    fn description(&self, name: &str) -> Option<String>;
    /// Keeps only the scenarios named.
    fn retain(&mut self, names: &[String]);
    /// The run settings the subject uses given the command line's (a real cluster runs
    /// in wall time).
    fn runner_config(&self, base: &RunnerConfig) -> RunnerConfig;
    /// Runs and scores them all ([`evaluate`]).
    async fn evaluate(&self, cfg: &EvalConfig, progress: Progress<'_>) -> Report;
    /// Runs the scenario `name` once (`operator demo`); also returns the run settings the
    /// subject used.
    async fn run_one(
        &self,
        name: &str,
        cfg: &RunnerConfig,
        backend: &BackendUnderTest,
        progress: &(dyn for<'s> Fn(Stage<'s>) + Send + Sync),
    ) -> Option<(RunOutcome, RunnerConfig)>;
}

/// The scenarios of the subject whose harness is `H`.
pub struct TypedSuite<H: EvalHarness> {
    scenarios: Vec<Scenario<H::Schema>>,
    harness: PhantomData<fn() -> H>,
}

impl<H: EvalHarness> TypedSuite<H> {
    /// The scenarios.
    pub fn scenarios(&self) -> &[Scenario<H::Schema>] {
        &self.scenarios
    }
}

/// Parses `files` (`(origin, text)`) as scenarios of `H`'s subject.
///
/// # Errors
///
/// [`EvalError::Scenario`] with `file:line:column`.
pub fn load_suite<H: EvalHarness>(files: &[(String, String)]) -> Result<Box<dyn Suite>, EvalError> {
    Ok(Box::new(TypedSuite::<H> {
        scenarios: scenario::parse_all::<H::Schema>(files)?,
        harness: PhantomData,
    }))
}

/// Reads every `*.yaml` file of `dir`, sorted by file name, as `(path, text)`.
///
/// # Errors
///
/// [`EvalError::Scenario`] when the directory cannot be read or holds no scenario file.
pub fn read_dir(dir: &std::path::Path) -> Result<Vec<(String, String)>, EvalError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| EvalError::Scenario(format!("{}: {e}", dir.display())))?;
    let mut paths: Vec<_> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(EvalError::Scenario(format!(
            "{}: no scenario files (*.yaml)",
            dir.display()
        )));
    }
    paths
        .into_iter()
        .map(|p| {
            std::fs::read_to_string(&p)
                .map(|t| (p.display().to_string(), t))
                .map_err(|e| EvalError::Scenario(format!("{}: {e}", p.display())))
        })
        .collect()
}

#[async_trait::async_trait]
impl<H: EvalHarness> Suite for TypedSuite<H> {
    fn subject(&self) -> &'static str {
        <H::Schema as ScenarioSchema>::SUBJECT
    }

    fn names(&self) -> Vec<String> {
        self.scenarios.iter().map(|s| s.name.clone()).collect()
    }

    fn description(&self, name: &str) -> Option<String> {
        self.scenarios
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.description.clone())
    }

    fn retain(&mut self, names: &[String]) {
        self.scenarios.retain(|s| names.contains(&s.name));
    }

    fn runner_config(&self, base: &RunnerConfig) -> RunnerConfig {
        H::runner_config(base)
    }

    async fn evaluate(&self, cfg: &EvalConfig, progress: Progress<'_>) -> Report {
        evaluate::<H>(&self.scenarios, cfg, progress).await
    }

    async fn run_one(
        &self,
        name: &str,
        cfg: &RunnerConfig,
        backend: &BackendUnderTest,
        progress: &(dyn for<'s> Fn(Stage<'s>) + Send + Sync),
    ) -> Option<(RunOutcome, RunnerConfig)> {
        let s = self.scenarios.iter().find(|s| s.name == name)?;
        let cfg = H::runner_config(cfg);
        Some((
            runner::run_scenario::<H>(s, 0, &cfg, backend, progress).await,
            cfg,
        ))
    }
}
