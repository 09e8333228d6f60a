//! `operator eval` and `operator demo --scenario NAME`: thin wrappers over
//! [`crate::eval`]. Both run scenario files (`examples/scenarios/`, shipped inside the
//! binary, or `--scenarios DIR`) on the harness of the subject the files name
//! (`subject:`; the first registered subject when they name none), found in the
//! registry (`crate::subjects::EVAL`); this module names no subject. `demo` runs one
//! scenario once with readable progress, `eval` runs them all N times plus controls and
//! writes the reports.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::diagnose::backend::{select_backend, BackendChoice, BackendSettings};
use crate::eval::report::{compare_markdown, svg};
use crate::eval::runner::{BackendUnderTest, RunnerConfig, Stage};
use crate::eval::scenario::peek_subject;
use crate::eval::{EvalConfig, EvalError, Report, Suite};

/// Options shared by `eval` and `demo`.
#[derive(Debug, Args)]
pub struct ScenarioOpts {
    /// Directory of scenario files (`*.yaml`) [default: the scenarios shipped in the
    /// binary, built from examples/scenarios].
    #[arg(long)]
    pub scenarios: Option<PathBuf>,
    /// Simulated seconds per wall-clock second (a simulated subject; a real cluster runs
    /// in wall time).
    #[arg(long, default_value_t = 30.0)]
    pub time_factor: f64,
    /// Base seed of the simulator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl ScenarioOpts {
    fn runner(&self) -> Result<RunnerConfig, CliError> {
        if !(1.0..=200.0).contains(&self.time_factor) {
            return Err(CliError::Input(format!(
                "--time-factor {} is out of range (1..=200)",
                self.time_factor
            )));
        }
        Ok(RunnerConfig {
            time_factor: self.time_factor,
            seed: self.seed,
            ..RunnerConfig::default()
        })
    }

    fn load(&self) -> Result<Box<dyn Suite>, CliError> {
        match &self.scenarios {
            Some(dir) => {
                let files =
                    crate::eval::read_dir(dir).map_err(|e| CliError::Input(e.to_string()))?;
                suite(&files).map_err(|e| CliError::Input(e.to_string()))
            }
            None => {
                let files: Vec<(String, String)> = SHIPPED
                    .iter()
                    .map(|(file, text)| {
                        (
                            format!("examples/scenarios/{file} (shipped)"),
                            text.to_string(),
                        )
                    })
                    .collect();
                if files.is_empty() {
                    return Err(CliError::NoShippedScenarios);
                }
                Ok(suite(&files)?)
            }
        }
    }
}

/// The scenario files of `examples/scenarios/`, embedded at build time (`build.rs`) so
/// that `operator demo` and `operator eval` work from any directory.
const SHIPPED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));

/// The files' subject's suite: every file names the same subject (`subject:`, default
/// the first registered), whose harness loads them.
fn suite(files: &[(String, String)]) -> Result<Box<dyn Suite>, EvalError> {
    let default = crate::subjects::EVAL
        .first()
        .map(|e| e.subject)
        .ok_or_else(|| EvalError::Scenario("no subject has an evaluation harness".into()))?;
    let mut subject: Option<(String, &str)> = None;
    for (origin, text) in files {
        let named = peek_subject(text).unwrap_or_else(|| default.to_string());
        match &subject {
            None => subject = Some((named, origin)),
            Some((first, first_origin)) if *first != named => {
                let line = text
                    .lines()
                    .position(|l| l.trim_start().starts_with("subject:"))
                    .map_or(1, |i| i + 1);
                return Err(EvalError::Scenario(format!(
                    "{origin}:{line}:1: subject {named:?}, but {first_origin} is a {first:?} scenario (one subject per directory)"
                )));
            }
            Some(_) => {}
        }
    }
    let (name, origin) =
        subject.ok_or_else(|| EvalError::Scenario("no scenario files (*.yaml)".into()))?;
    let entry = crate::subjects::eval(&name).ok_or_else(|| {
        EvalError::Scenario(format!(
            "{origin}:1:1: subject {name:?} has no evaluation harness (known: {})",
            crate::subjects::EVAL
                .iter()
                .map(|e| e.subject)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    (entry.load)(files)
}

/// `operator eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Scenario files and simulator settings.
    #[command(flatten)]
    pub opts: ScenarioOpts,
    /// Runs of each scenario.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// No-fault control runs (default: as many as --runs).
    #[arg(long)]
    pub controls: Option<usize>,
    /// Only these scenarios (by name; repeatable).
    #[arg(long = "only")]
    pub only: Vec<String>,
    /// Where the reports go (`eval.md`, `eval.json`).
    #[arg(long, default_value = "target/eval")]
    pub out: PathBuf,
    /// Exit 1 when the targets are not met.
    #[arg(long)]
    pub check: bool,
    /// Runs at once, each with its own in-process cluster (1 = one after another).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// The diagnosis backend under test (same suite, same scoring). A model backend that
    /// fails falls back to the rules engine, as `operator run` does, and the fallback
    /// scores as a miss.
    #[arg(long, value_enum, default_value_t = EvalBackend::Rules)]
    pub backend: EvalBackend,
    /// How the model is called: the same flags as `operator run` (model, server, prompt
    /// budget, answer, temperature, timeout, investigation), so that the eval measures
    /// what `run` does.
    #[command(flatten)]
    pub model: super::backend_args::ModelArgs,
    /// Print two JSON reports side by side (and draw both in one picture) instead of
    /// running anything.
    #[arg(long, num_args = 2, value_names = ["A_JSON", "B_JSON"])]
    pub compare: Vec<PathBuf>,
    /// Run the suite a second time remembering the first run's tickets, each resolved
    /// with its true cause, and report the difference (`memory.md`, `eval-memory.json`).
    #[arg(long)]
    pub memory: bool,
}

/// The backends `operator eval` can score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalBackend {
    /// The offline rules engine.
    Rules,
    /// Claude (Messages API; `ANTHROPIC_API_KEY`).
    Claude,
    /// An OpenAI-compatible server (llama.cpp, Ollama, vLLM).
    Openai,
}

fn backend_under_test(a: &EvalArgs, subject: &str) -> Result<(BackendUnderTest, String), CliError> {
    let mut settings = BackendSettings {
        reasoner: Some((crate::subjects::diagnosis(subject).reasoner)()),
        ..BackendSettings::from_env()
    };
    let (choice, name) = match a.backend {
        EvalBackend::Rules => (BackendChoice::Rules, "rules"),
        EvalBackend::Claude => (BackendChoice::Claude, "claude"),
        EvalBackend::Openai => (BackendChoice::OpenAi, "openai"),
    };
    settings.choice = choice;
    a.model.apply(&mut settings).map_err(CliError::Input)?;
    let model = match a.backend {
        EvalBackend::Rules => "rules-v1".to_string(),
        EvalBackend::Claude => settings.claude.model.clone(),
        EvalBackend::Openai => settings.openai.model.clone(),
    };
    let backend = select_backend(&settings).map_err(|e| CliError::Input(e.to_string()))?;
    Ok((
        BackendUnderTest {
            name: name.to_string(),
            backend,
            // A model investigates with the subject's read-only tools, as in `operator
            // run`; the rules engine reads no tools.
            investigation: match a.backend {
                EvalBackend::Rules => None,
                _ => settings.investigation,
            },
        },
        model,
    ))
}

/// The I/O error on `path`, with the path as its context.
fn io_at(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        context: path.display().to_string(),
        source,
    }
}

fn read_report(p: &std::path::Path) -> Result<Report, CliError> {
    let text =
        std::fs::read_to_string(p).map_err(|e| CliError::Input(format!("{}: {e}", p.display())))?;
    serde_json::from_str(&text).map_err(|e| CliError::Input(format!("{}: {e}", p.display())))
}

/// `operator demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Scenario files and simulator settings.
    #[command(flatten)]
    pub opts: ScenarioOpts,
    /// The scenario to run (a `name` in the scenario files).
    #[arg(long, default_value = "node-death")]
    pub scenario: String,
}

fn describe(stage: &Stage<'_>) -> String {
    match stage {
        Stage::Starting { shape } => format!("starting a cluster ({shape})…"),
        Stage::Healthy { after } => format!("healthy after {:.1} s", after.as_secs_f64()),
        Stage::Applied(what) => what.to_string(),
        Stage::TicketOpened(t) => format!(
            "ticket #{} opened after {:.2} s: {} on {} — {}",
            t.id, t.after_secs, t.invariant, t.target, t.summary
        ),
        Stage::Diagnosed { ticket, cause } => {
            format!("ticket #{ticket} diagnosed: {cause}")
        }
    }
}

/// Runs `operator eval`.
pub async fn eval(a: EvalArgs) -> Result<(), CliError> {
    if !a.compare.is_empty() {
        let (x, y) = (read_report(&a.compare[0])?, read_report(&a.compare[1])?);
        let md = compare_markdown(&x, &y);
        std::fs::create_dir_all(&a.out).map_err(io_at(&a.out))?;
        let picture = svg(&[&x, &y])?;
        let p = a.out.join("compare.svg");
        std::fs::write(&p, picture).map_err(io_at(&p))?;
        println!("{md}");
        eprintln!("picture: {}", p.display());
        return Ok(());
    }
    let mut suite = a.opts.load()?;
    if !a.only.is_empty() {
        let names = suite.names();
        for n in &a.only {
            if !names.contains(n) {
                return Err(CliError::Input(format!("no scenario named {n:?}")));
            }
        }
        suite.retain(&a.only);
    }
    if a.runs == 0 {
        return Err(CliError::Input("--runs must be at least 1".into()));
    }
    let (backend, model) = backend_under_test(&a, suite.subject())?;
    let cfg = EvalConfig {
        runs: a.runs,
        controls: a.controls.unwrap_or(a.runs),
        runner: a.opts.runner()?,
        backend,
        model,
        jobs: a.jobs.max(1),
    };
    eprintln!(
        "evaluating {} {} scenario(s) × {} run(s) + {} plain control(s), {} at a time, {} backend ({}), time factor {}",
        suite.names().len(),
        suite.subject(),
        cfg.runs,
        cfg.controls,
        cfg.jobs,
        cfg.backend.name,
        cfg.model,
        suite.runner_config(&cfg.runner).time_factor
    );
    let report = suite
        .evaluate(&cfg, &|name, run, stage| {
            if matches!(stage, Stage::Healthy { .. } | Stage::Starting { .. }) {
                return;
            }
            eprintln!("[{name} #{run}] {}", describe(&stage));
        })
        .await;
    std::fs::create_dir_all(&a.out).map_err(io_at(&a.out))?;
    let md = report.markdown();
    let json = serde_json::to_string_pretty(&report).map_err(CliError::EncodeJson)?;
    let picture = svg(&[&report])?;
    for (file, text) in [
        ("eval.md", &md),
        ("eval.json", &json),
        ("eval.svg", &picture),
    ] {
        let p = a.out.join(file);
        std::fs::write(&p, text).map_err(io_at(&p))?;
    }
    println!("{md}");
    if a.memory {
        memory_pass(&*suite, &cfg, &report, &a.out).await?;
    }
    eprintln!(
        "reports: {}, {} and {}",
        a.out.join("eval.md").display(),
        a.out.join("eval.json").display(),
        a.out.join("eval.svg").display()
    );
    if a.check && !report.meets_targets() {
        return Err(CliError::TargetsMissed);
    }
    Ok(())
}

/// Runs `operator demo --scenario NAME`.
pub async fn demo(a: DemoArgs) -> Result<(), CliError> {
    let suite = a.opts.load()?;
    let Some(description) = suite.description(&a.scenario) else {
        return Err(CliError::Input(format!(
            "no scenario named {:?} (known: {})",
            a.scenario,
            suite.names().join(", ")
        )));
    };
    let runner = a.opts.runner()?;
    println!("▶ scenario {}: {description}", a.scenario);
    let started = std::time::Instant::now();
    let Some((out, runner)) = suite
        .run_one(
            &a.scenario,
            &runner,
            &BackendUnderTest::rules(suite.subject()),
            &|stage| {
                println!("  • {}", describe(&stage));
            },
        )
        .await
    else {
        return Err(CliError::Input(format!(
            "no scenario named {:?}",
            a.scenario
        )));
    };
    if let Some(e) = &out.error {
        return Err(CliError::RunFailed(e.clone()));
    }
    if out.diagnoses.is_empty() {
        return Err(CliError::NotDetected(runner.detect_timeout));
    }
    let f = runner.time_factor;
    if let Some(t) = out.time_to_detect_secs {
        println!(
            "\n  time to detect:   {t:.2} s wall (≈ {:.0} s simulated at ×{f})",
            t * f
        );
    }
    if let Some(t) = out.time_to_diagnose_secs {
        println!("  time to diagnose: {:.0} ms", t * 1e3);
    }
    println!(
        "  score: ITBench-AA {:.2} (truth: {}; asserted: {})\n",
        out.score.itbench,
        out.truth
            .iter()
            .map(|c| format!("{} on {}", c.category, c.target))
            .collect::<Vec<_>>()
            .join(", "),
        out.score
            .asserted
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for d in &out.diagnoses {
        println!("{}", crate::diagnose::render::render_markdown(d));
    }
    println!(
        "cleaned up (cluster stopped and removed) after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `--memory`: the second pass and the difference (see [`crate::eval::memory`]).
async fn memory_pass(
    suite: &dyn Suite,
    cfg: &EvalConfig,
    first: &Report,
    out: &std::path::Path,
) -> Result<(), CliError> {
    use crate::eval::memory::{difference_markdown, second_pass};
    eprintln!("second pass, remembering the first pass's tickets with their true causes");
    let (second, memory) = second_pass(suite, cfg, first, &|name, run, stage| {
        if !matches!(stage, Stage::Healthy { .. } | Stage::Starting { .. }) {
            eprintln!("[memory {name} #{run}] {}", describe(&stage));
        }
    })
    .await;
    let md = difference_markdown(first, &second, &memory);
    let json = serde_json::to_string_pretty(&second).map_err(CliError::EncodeJson)?;
    for (file, text) in [("memory.md", &md), ("eval-memory.json", &json)] {
        let p = out.join(file);
        std::fs::write(&p, text).map_err(io_at(&p))?;
    }
    println!("{md}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_scenarios_are_every_file_of_examples_scenarios() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
        let on_disk = crate::eval::read_dir(&dir).unwrap();
        assert_eq!(SHIPPED.len(), on_disk.len());
        for ((file, text), (path, disk)) in SHIPPED.iter().zip(&on_disk) {
            assert!(path.ends_with(file), "{path} vs {file}");
            assert_eq!(text, disk, "{file}");
        }
        let opts = ScenarioOpts {
            scenarios: None,
            time_factor: 30.0,
            seed: 1,
        };
        assert_eq!(opts.load().unwrap().names().len(), on_disk.len());
    }

    #[test]
    fn a_directory_mixing_subjects_is_refused_with_the_file_that_differs() {
        let files = vec![
            ("a.yaml".to_string(), "name: a\n".to_string()),
            ("b.yaml".to_string(), "name: b\nsubject: etcd\n".to_string()),
        ];
        let e = suite(&files).err().unwrap().to_string();
        assert!(e.starts_with("scenario: b.yaml:2:1"), "{e}");
        let e = suite(&[("c.yaml".into(), "name: c\nsubject: mongo\n".into())])
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("c.yaml:1:1") && e.contains("no evaluation harness"),
            "{e}"
        );
    }
}
