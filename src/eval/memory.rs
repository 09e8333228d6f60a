//! Memory in the benchmark (`operator eval --memory`): the suite runs twice, the second
//! time with the first run's tickets remembered as resolved with their confirmed cause,
//! and the report says what changed.
//!
//! # What is remembered, and who confirms it
//!
//! A person resolving a ticket with `tickets resolve N --cause CATEGORY --target T`
//! states its root cause; in the benchmark the ground truth plays that person. Each
//! diagnosed ticket of a faulted first-pass run is confirmed with the run's true cause
//! located on the ticket's own entity, or with the run's only true cause when the ticket
//! is elsewhere (a symptom of it); a ticket of a run with several causes none of which is
//! on its entity is left unconfirmed, as a person who could not tell would. Tickets of
//! control runs are not remembered (there is no cause to confirm).
//!
//! # How it reaches the second pass
//!
//! Through the diagnosis loop's own memory path: the runner hands [`Memory::past`] to the
//! subject's reconciler (`ReconcilerParts::memory`), which wraps its ticket queue in
//! [`crate::diagnose::remembering::Remembering`], so the remembered tickets join
//! [`crate::diagnose::reconciler::TicketQueue::similar`], whose past tickets the
//! reconciler ranks (`select_similar`, top 3) and puts in the prompt as the "HISTORY, NOT
//! EVIDENCE" section, exactly as `operator run` does with the resolved tickets of its
//! store. They are not written into the second pass's ticket
//! store as tickets: the store's lifecycle would reopen a remembered ticket when the same
//! invariant breaks again on the same target within its reopen window (ten minutes),
//! merging the second pass's ticket into the first's and changing what is scored.
//!
//! # What it can change
//!
//! Only what a backend reads. The rules engine reasons over the ticket's evidence, the
//! snapshot and its related tickets, and never reads the history section: its second
//! pass differs from its first only by the runs' own variance. A model reads the section.

use super::runner::RunOutcome;
use super::score::Entity;
use crate::diagnose::catalog::Cause;
use crate::diagnose::context::PastTicket;
use crate::diagnose::model::Diagnosis;
use std::sync::Arc;

/// The first pass's tickets, confirmed by the ground truth.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// The remembered tickets, ids renumbered from 1 (they come from separate stores).
    pub past: Vec<PastTicket>,
    /// Diagnosed tickets left unconfirmed (several causes, none on the ticket's entity).
    pub unconfirmed: usize,
}

/// The cause a person would confirm for a ticket on `target`, per the module docs.
fn confirmed(run: &RunOutcome, target: &str) -> Option<Cause> {
    let on_entity = match run.entities.resolve(target) {
        Entity::Known(e) => run.truth.iter().find(|c| c.target == e),
        Entity::Unknown(_) => None,
    };
    let truth = on_entity.or_else(|| (run.truth.len() == 1).then(|| &run.truth[0]))?;
    Some(Cause::new(&truth.category, truth.target.to_string()))
}

impl Memory {
    /// What the first pass leaves behind.
    pub fn of(runs: &[RunOutcome]) -> Self {
        let mut m = Self::default();
        for run in runs.iter().filter(|r| !r.control && r.error.is_none()) {
            for t in &run.tickets {
                let Some(asserted) = &t.diagnosed_as else {
                    continue;
                };
                let Some(cause) = confirmed(run, &t.target) else {
                    m.unconfirmed += 1;
                    continue;
                };
                let d: Option<&Diagnosis> = run
                    .diagnoses
                    .iter()
                    .find(|d| asserted.starts_with(&d.cause.to_string()));
                m.past.push(PastTicket {
                    id: m.past.len() as u64 + 1,
                    invariant: t.invariant.clone(),
                    target: t.target.clone(),
                    summary: t.summary.clone(),
                    root_cause: d.map_or_else(|| asserted.clone(), |d| d.root_cause.clone()),
                    action: d.map_or_else(String::new, |d| {
                        d.recommended_action.kind.name().to_string()
                    }),
                    confirmed_cause: Some(cause),
                });
            }
        }
        m
    }
}

/// The second pass: the same suite and configuration, remembering what `first` left
/// behind. Returns its report and the memory it had.
pub async fn second_pass(
    suite: &dyn super::Suite,
    cfg: &super::EvalConfig,
    first: &super::report::Report,
    progress: super::Progress<'_>,
) -> (super::report::Report, Arc<Memory>) {
    let memory = Arc::new(Memory::of(&first.runs));
    let mut cfg = cfg.clone();
    cfg.runner.memory = Some(memory.clone());
    (suite.evaluate(&cfg, progress).await, memory)
}

/// The two passes side by side, for people: score, detection, precision and recall of
/// each, and the difference.
pub fn difference_markdown(
    first: &super::report::Report,
    second: &super::report::Report,
    memory: &Memory,
) -> String {
    let s1 = &first.total;
    let s2 = &second.total;
    let row =
        |name: &str, a: f64, b: f64| format!("| {name} | {a:.3} | {b:.3} | {:+.3} |\n", b - a);
    let mut md = format!(
        "## Memory: the suite run twice ({} backend)\n\nThe second pass remembered {} ticket(s) of the first, each confirmed with its true cause ({} left unconfirmed).\n\n| | first pass | second pass (memory) | difference |\n|---|---|---|---|\n",
        first.backend,
        memory.past.len(),
        memory.unconfirmed
    );
    md.push_str(&row("ITBench-AA", s1.itbench, s2.itbench));
    md.push_str(&row("detection", s1.detection_rate, s2.detection_rate));
    md.push_str(&row("precision", s1.precision, s2.precision));
    md.push_str(&row("recall", s1.recall, s2.recall));
    md.push_str(&row(
        "action appropriate",
        s1.action_appropriate,
        s2.action_appropriate,
    ));
    if let (Some(a), Some(b)) = (s1.brier, s2.brier) {
        md.push_str(&row("Brier (lower is better)", a, b));
    }
    if first.backend == "rules" {
        md.push_str("\nThe rules engine does not read the history section: a difference here is the runs' own variance, not memory.\n");
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::runner::SeenTicket;
    use crate::eval::scenario::ExpectedCause;
    use crate::eval::score::{Entities, EntityResolver};

    /// Stores 1, 4 and 5 are the nodes `node-0`, `node-1` and `node-2`.
    struct Stores;

    impl EntityResolver for Stores {
        fn resolve(&self, name: &str) -> Option<String> {
            let ordinal = match name {
                "store/1" | "node-0" => 0,
                "store/4" | "node-1" => 1,
                "store/5" | "node-2" => 2,
                "cluster" => return Some(name.into()),
                _ => return None,
            };
            Some(format!("node-{ordinal}"))
        }
        fn describe(&self) -> serde_json::Value {
            serde_json::json!({"store_ids": [1, 4, 5]})
        }
    }

    fn run(truth: &[(&str, &str)], control: bool, tickets: &[(&str, &str)]) -> RunOutcome {
        let mut r = RunOutcome {
            scenario: "s".into(),
            kind: "k".into(),
            run: 0,
            control,
            truth: vec![],
            entities: Entities::new(Arc::new(Stores)),
            detected_causes: 0,
            detected: false,
            time_to_detect_secs: None,
            time_to_diagnose_secs: None,
            tickets: vec![],
            diagnoses: vec![],
            revisions: 0,
            score: Default::default(),
            usage: Default::default(),
            error: None,
        };
        r.truth = truth
            .iter()
            .map(|(c, e)| ExpectedCause {
                category: c.to_string(),
                target: e.to_string(),
            })
            .collect();
        r.tickets = tickets
            .iter()
            .enumerate()
            .map(|(i, (inv, target))| SeenTicket {
                id: i as u64 + 1,
                invariant: inv.to_string(),
                target: target.to_string(),
                summary: format!("{inv} on {target}"),
                after_secs: 1.0,
                diagnosed_as: Some("process-exit on store/4".into()),
                diagnose_secs: Some(0.5),
            })
            .collect();
        r
    }

    #[test]
    fn each_ticket_is_confirmed_with_the_true_cause_on_its_entity_or_the_only_one() {
        let one = run(
            &[("oom-kill", "node-1")],
            false,
            &[("store_down", "store/4"), ("leader_drop", "cluster")],
        );
        let two = run(
            &[("disk-slow", "node-0"), ("oom-kill", "node-2")],
            false,
            &[("store_slow", "store/1"), ("region_down_peer", "cluster")],
        );
        let control = run(&[], true, &[("store_slow", "store/1")]);
        let m = Memory::of(&[one, two, control]);
        let causes: Vec<String> = m
            .past
            .iter()
            .map(|p| p.confirmed_cause.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(
            causes,
            [
                "oom-kill on node-1",
                "oom-kill on node-1",
                "disk-slow on node-0"
            ]
        );
        assert_eq!(m.unconfirmed, 1, "a cluster ticket with two causes");
        assert_eq!(m.past.iter().map(|p| p.id).collect::<Vec<_>>(), [1, 2, 3]);
    }
}
