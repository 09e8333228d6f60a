//! Scoring one diagnosis against a scenario's expectations.
//!
//! - **Root cause** (0..1): zero unless the root cause names the injected fault (one of
//!   the scenario's `expect.cause` phrases, whole words, case-insensitive) *and* its
//!   target (`store <id>` or the member name). Each other fault class it also names (the
//!   cause phrases of the other scenarios that share none with this one) divides the
//!   score: `1 / (1 + extra)`, the precision penalty for hedging across causes.
//! - **Recommendation** (0 or 1): the recommended action's kind is in `expect.actions`.
//! - **Completeness** (0 or 1): every field of the structure is present and non-empty,
//!   confidence is within 0..1, and the operator's grounding check found every citation
//!   in the context that was sent (`diagnose::ground`).

use regex::Regex;
use serde::Serialize;

use super::runner::ResolvedTarget;
use super::scenario::Expect;
use crate::diagnose::model::Diagnosis;

/// Scores of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RunScore {
    /// Root-cause accuracy with the precision penalty.
    pub root_cause: f64,
    /// 1 when the action is acceptable.
    pub recommendation: f64,
    /// 1 when every field is present and grounded.
    pub completeness: f64,
    /// Other fault classes named in the root cause.
    pub extra_causes: usize,
}

fn phrase(p: &str) -> Option<Regex> {
    Regex::new(&format!(r"(?i)\b{}\b", regex::escape(p.trim()))).ok()
}

/// Whether `text` contains one of `phrases` as whole words.
pub fn names_any(text: &str, phrases: &[String]) -> bool {
    phrases
        .iter()
        .filter_map(|p| phrase(p))
        .any(|re| re.is_match(text))
}

/// Whether `text` names the target (`store 4`, `store-4`, or the member name).
pub fn names_target(text: &str, target: &ResolvedTarget) -> bool {
    let mut phrases = vec![target.member.clone()];
    if let Some(id) = target.store_id {
        phrases.push(format!("store {id}"));
        phrases.push(format!("store-{id}"));
    }
    names_any(text, &phrases)
}

/// Scores `d` (see the module docs). `all_causes` are the cause phrases of every
/// scenario, this one's included.
pub fn score(
    d: &Diagnosis,
    expect: &Expect,
    target: &ResolvedTarget,
    all_causes: &[Vec<String>],
) -> RunScore {
    let root = &d.root_cause;
    let extra = all_causes
        .iter()
        .filter(|c| !c.iter().any(|p| expect.cause.contains(p)))
        .filter(|c| names_any(root, c))
        .count();
    let root_cause = if names_any(root, &expect.cause) && names_target(root, target) {
        1.0 / (1.0 + extra as f64)
    } else {
        0.0
    };
    let action = d.recommended_action.kind.name();
    let recommendation = if expect.actions.iter().any(|a| a == action) {
        1.0
    } else {
        0.0
    };
    let complete = !d.observation_summary.trim().is_empty()
        && !d.root_cause.trim().is_empty()
        && !d.evidence.is_empty()
        && d.evidence.iter().all(|c| !c.claim.trim().is_empty())
        && !d.options_considered.is_empty()
        && d.options_considered
            .iter()
            .all(|o| !o.option.trim().is_empty() && !o.why_not.trim().is_empty())
        && !d.recommended_action.rationale.trim().is_empty()
        && (0.0..=1.0).contains(&d.confidence)
        && !d.would_change_conclusion.trim().is_empty()
        && d.grounding.ungrounded.is_empty()
        && d.grounding.grounded == d.evidence.len();
    RunScore {
        root_cause,
        recommendation,
        completeness: if complete { 1.0 } else { 0.0 },
        extra_causes: extra,
    }
}

/// Nearest-rank percentile (`p` in 0..=100) of `values`; `None` when empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    Some(v[rank.min(v.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::model::{
        Action, ActionKind, Citation, CitationRef, GroundingReport, OptionConsidered, Usage,
    };

    fn diagnosis(root: &str, action: ActionKind, ungrounded: Vec<String>) -> Diagnosis {
        Diagnosis {
            observation_summary: "store 4 is Disconnected".into(),
            root_cause: root.into(),
            cause: crate::diagnose::model::Cause::unknown("store/4"),
            other_causes: vec![],
            hypotheses: vec![],
            evidence: vec![Citation {
                claim: "PD shows store 4 Disconnected".into(),
                source: CitationRef::Store { id: 4 },
            }],
            options_considered: vec![OptionConsidered {
                option: "network partition".into(),
                why_not: "the container exited".into(),
            }],
            recommended_action: Action {
                kind: action,
                rationale: "bring it back".into(),
            },
            confidence: 0.9,
            would_change_conclusion: "the store heartbeating again".into(),
            grounding: GroundingReport {
                grounded: 1 - ungrounded.len().min(1),
                ungrounded,
            },
            backend: "rules".into(),
            model: "rules-v1".into(),
            usage: Usage::default(),
            context_cut: vec![],
            model_failure: None,
        }
    }

    fn expect() -> Expect {
        Expect {
            invariants: vec!["store-down".into()],
            cause: vec!["exited".into()],
            actions: vec!["restart-container".into()],
        }
    }

    fn target() -> ResolvedTarget {
        ResolvedTarget {
            member: "tikv-1".into(),
            store_id: Some(4),
        }
    }

    fn causes() -> Vec<Vec<String>> {
        vec![
            vec!["exited".into()],
            vec!["partition".into()],
            vec!["slow disk".into()],
        ]
    }

    #[test]
    fn a_root_cause_naming_fault_and_target_scores_one() {
        let d = diagnosis(
            "store 4 (container eval-tikv-1) is down: its container exited (exit code 137)",
            ActionKind::RestartContainer {
                member: "tikv-1".into(),
            },
            vec![],
        );
        let s = score(&d, &expect(), &target(), &causes());
        assert_eq!(
            s,
            RunScore {
                root_cause: 1.0,
                recommendation: 1.0,
                completeness: 1.0,
                extra_causes: 0
            }
        );
    }

    #[test]
    fn the_wrong_store_or_the_wrong_fault_scores_zero() {
        let wrong_store = diagnosis(
            "store 5 exited",
            ActionKind::WaitAndWatch { minutes: 1 },
            vec![],
        );
        assert_eq!(
            score(&wrong_store, &expect(), &target(), &causes()).root_cause,
            0.0
        );
        let wrong_fault = diagnosis(
            "store 4 has a slow disk",
            ActionKind::WaitAndWatch { minutes: 1 },
            vec![],
        );
        let s = score(&wrong_fault, &expect(), &target(), &causes());
        assert_eq!((s.root_cause, s.recommendation), (0.0, 0.0));
        // "store 40" is not store 4.
        let prefix = diagnosis(
            "store 40 exited",
            ActionKind::WaitAndWatch { minutes: 1 },
            vec![],
        );
        assert_eq!(
            score(&prefix, &expect(), &target(), &causes()).root_cause,
            0.0
        );
    }

    #[test]
    fn naming_other_causes_too_is_penalised() {
        let d = diagnosis(
            "store 4 exited, or a partition, or a slow disk",
            ActionKind::RestartContainer {
                member: "tikv-1".into(),
            },
            vec![],
        );
        let s = score(&d, &expect(), &target(), &causes());
        assert_eq!(s.extra_causes, 2);
        assert!((s.root_cause - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn an_ungrounded_citation_makes_the_explanation_incomplete() {
        let d = diagnosis(
            "store 4 exited",
            ActionKind::RestartContainer {
                member: "tikv-1".into(),
            },
            vec!["made up".into()],
        );
        assert_eq!(score(&d, &expect(), &target(), &causes()).completeness, 0.0);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 50.0), Some(3.0));
        assert_eq!(percentile(&v, 99.0), Some(5.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
