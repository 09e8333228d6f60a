//! The evaluation's reports: per-scenario and pooled figures as Markdown and JSON, a
//! picture (SVG, drawn with `plotters`) of the score and the time to detect per
//! scenario with one series per backend, and `--compare` of two JSON reports.

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::runner::RunOutcome;
use super::score::percentile;
use super::targets;

/// Figures of one scenario (or of a pool of them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioSummary {
    /// Scenario name.
    pub name: String,
    /// Fault kinds.
    pub kind: String,
    /// Runs made.
    pub runs: usize,
    /// Runs that could not complete (harness errors).
    pub errors: usize,
    /// Runs without faults among them.
    pub controls: usize,
    /// Runs whose every true cause was detected (faulted runs).
    pub detected: usize,
    /// detected / faulted runs.
    pub detection_rate: f64,
    /// Mean ITBench-AA score (a run that failed scores 0).
    pub itbench: f64,
    /// Mean recall.
    pub recall: f64,
    /// Mean precision.
    pub precision: f64,
    /// Mean F1.
    pub f1: f64,
    /// Time to detect, p50 (wall seconds).
    pub ttd_p50_secs: Option<f64>,
    /// Time to detect, p99 (wall seconds).
    pub ttd_p99_secs: Option<f64>,
    /// Time to diagnose, p50 (wall seconds).
    pub ttdiag_p50_secs: Option<f64>,
    /// Share of diagnoses whose action the catalog finds appropriate.
    pub action_appropriate: f64,
    /// Mean Brier score of `confidence` over the diagnoses (lower is better).
    pub brier: Option<f64>,
    /// Diagnoses made by the backend under test.
    pub diagnoses: usize,
    /// Diagnoses that fell back to the rules engine (scored as misses).
    pub fallbacks: usize,
    /// Input tokens per diagnosis.
    pub tokens_in_per_diagnosis: f64,
    /// Output tokens per diagnosis.
    pub tokens_out_per_diagnosis: f64,
    /// Cost per diagnosis (USD).
    pub cost_per_diagnosis: f64,
    /// Tickets opened in runs without faults (false positives).
    pub false_positive_tickets: usize,
}

impl ScenarioSummary {
    /// Summarises `runs`.
    pub fn of(name: &str, kind: &str, runs: &[&RunOutcome]) -> Self {
        let faulted: Vec<&&RunOutcome> = runs.iter().filter(|r| !r.control).collect();
        let n = runs.len();
        let nf = faulted.len();
        let detected = faulted.iter().filter(|r| r.detected).count();
        let ttd: Vec<f64> = faulted
            .iter()
            .filter_map(|r| r.time_to_detect_secs)
            .collect();
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
        let diagnoses: usize = runs.iter().map(|r| r.score.diagnoses).sum();
        let fallbacks: usize = runs.iter().map(|r| r.score.fallbacks).sum();
        let appropriate: usize = runs.iter().map(|r| r.score.actions_appropriate).sum();
        let brier: f64 = runs.iter().map(|r| r.score.brier_sum).sum();
        let all = (diagnoses + fallbacks).max(1) as f64;
        let sum_usage = |f: &dyn Fn(&RunOutcome) -> f64| runs.iter().map(|r| f(r)).sum::<f64>();
        Self {
            name: name.to_string(),
            kind: kind.to_string(),
            runs: n,
            errors: runs.iter().filter(|r| r.error.is_some()).count(),
            controls: n - nf,
            detected,
            detection_rate: if nf == 0 {
                1.0
            } else {
                detected as f64 / nf as f64
            },
            itbench: mean(&|r| r.score.itbench),
            recall: mean(&|r| r.score.recall),
            precision: mean(&|r| r.score.precision),
            f1: mean(&|r| r.score.f1),
            ttd_p50_secs: percentile(&ttd, 50.0),
            ttd_p99_secs: percentile(&ttd, 99.0),
            ttdiag_p50_secs: percentile(&ttdiag, 50.0),
            action_appropriate: if diagnoses == 0 {
                0.0
            } else {
                appropriate as f64 / diagnoses as f64
            },
            brier: (diagnoses > 0).then(|| brier / diagnoses as f64),
            diagnoses,
            fallbacks,
            tokens_in_per_diagnosis: sum_usage(&|r| r.usage.input_tokens as f64) / all,
            tokens_out_per_diagnosis: sum_usage(&|r| r.usage.output_tokens as f64) / all,
            cost_per_diagnosis: sum_usage(&|r| r.usage.cost_usd) / all,
            false_positive_tickets: runs
                .iter()
                .filter(|r| r.control)
                .map(|r| r.tickets.len())
                .sum(),
        }
    }
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Backend under test.
    pub backend: String,
    /// Its model.
    pub model: String,
    /// Runs per scenario.
    pub runs_per_scenario: usize,
    /// Simulated seconds per wall second.
    pub time_factor: f64,
    /// Per scenario (plain controls pooled as `control`).
    pub scenarios: Vec<ScenarioSummary>,
    /// Every faulted run pooled.
    pub total: ScenarioSummary,
    /// Every run without faults pooled (plain and noisy controls).
    pub controls: ScenarioSummary,
    /// Every run, for the JSON report (not read back by `--compare`).
    #[serde(default, skip_deserializing)]
    pub runs: Vec<RunOutcome>,
    /// Wall seconds the evaluation took.
    pub wall_secs: f64,
}

impl Report {
    /// Summarises `runs`.
    pub fn new(
        backend: &str,
        model: &str,
        runs_per_scenario: usize,
        time_factor: f64,
        runs: Vec<RunOutcome>,
        wall_secs: f64,
    ) -> Self {
        let mut names: Vec<(String, String)> = Vec::new();
        for r in &runs {
            if !names.iter().any(|(n, _)| n == &r.scenario) {
                names.push((r.scenario.clone(), r.kind.clone()));
            }
        }
        let scenarios = names
            .iter()
            .map(|(n, k)| {
                let rs: Vec<&RunOutcome> = runs.iter().filter(|r| &r.scenario == n).collect();
                ScenarioSummary::of(n, k, &rs)
            })
            .collect();
        let faulted: Vec<&RunOutcome> = runs.iter().filter(|r| !r.control).collect();
        let controls: Vec<&RunOutcome> = runs.iter().filter(|r| r.control).collect();
        Self {
            backend: backend.to_string(),
            model: model.to_string(),
            runs_per_scenario,
            time_factor,
            scenarios,
            total: ScenarioSummary::of("total (faulted)", "all", &faulted),
            controls: ScenarioSummary::of("controls", "no fault", &controls),
            runs,
            wall_secs,
        }
    }

    /// Whether the targets hold: mean ITBench-AA ≥ 0.9, detection ≥ 95%, no false-positive
    /// ticket in the controls, and no run failed to complete.
    pub fn meets_targets(&self) -> bool {
        self.total.itbench >= targets::ITBENCH
            && self.total.detection_rate >= targets::DETECTION
            && self.controls.false_positive_tickets == targets::FALSE_POSITIVES
            && self.total.errors == 0
            && self.controls.errors == 0
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let pct = |v: f64| format!("{:.0}%", v * 100.0);
        let secs = |v: Option<f64>| v.map(|s| format!("{s:.2}")).unwrap_or_else(|| "–".into());
        let mut s = format!(
            "# Evaluation: {} backend ({}), {} run(s) per scenario, time factor {}\n\n",
            self.backend, self.model, self.runs_per_scenario, self.time_factor
        );
        s.push_str("| scenario | kind | runs | detected | ITBench-AA | recall | precision | F1 | TTD p50 (s) | TTD p99 (s) | diagnose p50 (s) | action ok | Brier | FP tickets |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for r in self.scenarios.iter().chain([&self.total, &self.controls]) {
            s.push_str(&format!(
                "| {} | {} | {}{} | {} | {:.2} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} |\n",
                r.name,
                r.kind,
                r.runs,
                if r.errors > 0 {
                    format!(" ({} failed)", r.errors)
                } else {
                    String::new()
                },
                if r.controls == r.runs {
                    "–".into()
                } else {
                    pct(r.detection_rate)
                },
                r.itbench,
                pct(r.recall),
                pct(r.precision),
                r.f1,
                secs(r.ttd_p50_secs),
                secs(r.ttd_p99_secs),
                secs(r.ttdiag_p50_secs),
                if r.diagnoses == 0 {
                    "–".into()
                } else {
                    pct(r.action_appropriate)
                },
                r.brier
                    .map(|b| format!("{b:.3}"))
                    .unwrap_or_else(|| "–".into()),
                if r.controls > 0 {
                    r.false_positive_tickets.to_string()
                } else {
                    "–".into()
                },
            ));
        }
        s.push_str(&format!(
            "\nDiagnoses: {} by {}, {} fell back to the rules engine (scored as misses); tokens per diagnosis {:.0} in / {:.0} out; cost per diagnosis ${:.4}.\n",
            self.total.diagnoses + self.controls.diagnoses,
            self.backend,
            self.total.fallbacks + self.controls.fallbacks,
            self.total.tokens_in_per_diagnosis,
            self.total.tokens_out_per_diagnosis,
            self.total.cost_per_diagnosis,
        ));
        let revisions: usize = self.runs.iter().map(|r| r.revisions).sum();
        if revisions > 0 {
            s.push_str(&format!(
                "{revisions} diagnosis(es) made again because their evidence changed after them (the final one is scored).\n"
            ));
        }
        for r in self.runs.iter().filter(|r| r.control) {
            for t in &r.tickets {
                s.push_str(&format!(
                    "- false positive in {} run {}: {} on {} ({}){}\n",
                    r.scenario,
                    r.run,
                    t.invariant,
                    t.target,
                    t.summary,
                    t.diagnosed_as
                        .as_ref()
                        .map(|c| format!(" — diagnosed as {c}"))
                        .unwrap_or_default()
                ));
            }
        }
        let below: Vec<&RunOutcome> = self
            .runs
            .iter()
            .filter(|r| r.error.is_some() || (!r.control && r.score.itbench < 1.0))
            .collect();
        if !below.is_empty() {
            s.push_str("\nRuns below full marks:\n");
            for r in below {
                let detail = match &r.error {
                    Some(e) => format!("error: {e}"),
                    None => format!(
                        "score {:.2}; truth [{}]; asserted [{}]; tickets [{}]",
                        r.score.itbench,
                        r.truth
                            .iter()
                            .map(|c| format!("{} on {}", c.category, c.target))
                            .collect::<Vec<_>>()
                            .join(", "),
                        r.score
                            .asserted
                            .iter()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        r.tickets
                            .iter()
                            .map(|t| format!(
                                "{} on {} → {}",
                                t.invariant,
                                t.target,
                                t.diagnosed_as.as_deref().unwrap_or("undiagnosed")
                            ))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                };
                s.push_str(&format!("- {} run {}: {detail}\n", r.scenario, r.run));
            }
        }
        s.push_str(&format!(
            "\nTargets (mean ITBench-AA ≥ {}, detection ≥ {:.0}%, no false-positive ticket in the controls): {}. Wall time {:.0} s.\n",
            targets::ITBENCH,
            targets::DETECTION * 100.0,
            if self.meets_targets() { "met" } else { "NOT met" },
            self.wall_secs
        ));
        s
    }
}

/// Two reports side by side (`operator eval --compare A.json B.json`).
pub fn compare_markdown(a: &Report, b: &Report) -> String {
    let label = |r: &Report| format!("{} ({})", r.backend, r.model);
    let (la, lb) = (label(a), label(b));
    let secs = |v: Option<f64>| v.map(|s| format!("{s:.2}")).unwrap_or_else(|| "–".into());
    let mut s = format!(
        "# {la} vs {lb}\n\n| scenario | ITBench-AA {la} | ITBench-AA {lb} | detected {la} | detected {lb} | TTD p50 {la} | TTD p50 {lb} |\n|---|---|---|---|---|---|---|\n"
    );
    let mut names: Vec<&str> = a.scenarios.iter().map(|s| s.name.as_str()).collect();
    for n in b.scenarios.iter().map(|s| s.name.as_str()) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let find = |r: &'_ Report, n: &str| r.scenarios.iter().find(|s| s.name == n).cloned();
    let rows = names
        .iter()
        .map(|n| (n.to_string(), find(a, n), find(b, n)))
        .chain([
            (
                "total (faulted)".to_string(),
                Some(a.total.clone()),
                Some(b.total.clone()),
            ),
            (
                "controls".to_string(),
                Some(a.controls.clone()),
                Some(b.controls.clone()),
            ),
        ]);
    for (n, x, y) in rows {
        let f = |v: &Option<ScenarioSummary>, g: &dyn Fn(&ScenarioSummary) -> String| {
            v.as_ref().map(g).unwrap_or_else(|| "–".into())
        };
        s.push_str(&format!(
            "| {n} | {} | {} | {} | {} | {} | {} |\n",
            f(&x, &|s| format!("{:.2}", s.itbench)),
            f(&y, &|s| format!("{:.2}", s.itbench)),
            f(&x, &|s| format!("{:.0}%", s.detection_rate * 100.0)),
            f(&y, &|s| format!("{:.0}%", s.detection_rate * 100.0)),
            f(&x, &|s| secs(s.ttd_p50_secs)),
            f(&y, &|s| secs(s.ttd_p50_secs)),
        ));
    }
    s.push_str(&format!(
        "\nFalse-positive tickets in the controls: {la} {}, {lb} {}. Fallbacks: {la} {}, {lb} {}.\n",
        a.controls.false_positive_tickets,
        b.controls.false_positive_tickets,
        a.total.fallbacks + a.controls.fallbacks,
        b.total.fallbacks + b.controls.fallbacks,
    ));
    s
}

/// Errors drawing the picture.
#[derive(Debug, thiserror::Error)]
#[error("drawing the report: {0}")]
pub struct PlotError(String);

/// An SVG of the ITBench-AA score (top) and the time to detect p50 (bottom) per
/// scenario, one series per report (backend).
pub fn svg(reports: &[&Report]) -> Result<String, PlotError> {
    let mut names: Vec<String> = Vec::new();
    for r in reports {
        for s in &r.scenarios {
            if !names.contains(&s.name) {
                names.push(s.name.clone());
            }
        }
    }
    let n = names.len().max(1);
    let width = (160 + 28 * n as u32).max(640);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (width, 760)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| PlotError(e.to_string());
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let (top, bottom) = root.split_vertically(380);
        let max_ttd = reports
            .iter()
            .flat_map(|r| r.scenarios.iter().filter_map(|s| s.ttd_p50_secs))
            .fold(1.0f64, f64::max);
        let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
        for (area, title, ymax, pick) in [
            (
                &top,
                "ITBench-AA score per scenario",
                1.05,
                (&|s: &ScenarioSummary| Some(s.itbench))
                    as &dyn Fn(&ScenarioSummary) -> Option<f64>,
            ),
            (
                &bottom,
                "time to detect p50 (wall s) per scenario",
                max_ttd * 1.1,
                &|s: &ScenarioSummary| s.ttd_p50_secs,
            ),
        ] {
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(120)
                .y_label_area_size(48)
                .build_cartesian_2d(0usize..n, 0f64..ymax)
                .map_err(|x| e(&x))?;
            let labels = names.clone();
            chart
                .configure_mesh()
                .x_labels(n)
                .x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default())
                .x_label_style(
                    ("sans-serif", 10)
                        .into_font()
                        .transform(FontTransform::Rotate90),
                )
                .draw()
                .map_err(|x| e(&x))?;
            for (k, r) in reports.iter().enumerate() {
                let color = colors[k % colors.len()];
                let pts: Vec<(usize, f64)> = names
                    .iter()
                    .enumerate()
                    .filter_map(|(i, name)| {
                        r.scenarios
                            .iter()
                            .find(|s| &s.name == name)
                            .and_then(pick)
                            .map(|v| (i, v))
                    })
                    .collect();
                chart
                    .draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))
                    .map_err(|x| e(&x))?
                    .label(format!("{} ({})", r.backend, r.model))
                    .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))?;
    }
    Ok(buf)
}
