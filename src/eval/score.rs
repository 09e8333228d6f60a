//! Scoring a run from structured fields only: the causes every diagnosis of the run
//! asserted ([`Diagnosis::asserted_causes`]: `cause.category`, `cause.target`) against
//! the scenario's true root causes. Prose is never read.
//!
//! - **ITBench-AA** (per run): 0 if any true root cause is missed, otherwise the
//!   precision of the asserted set (asserted ∩ truth / asserted). Asserted causes are
//!   pooled over every diagnosis of the run (the operator's whole answer), deduplicated
//!   after resolving target aliases ([`Entities`]).
//! - **Recall, precision, F1** of the same sets.
//! - **Action appropriateness**: each diagnosis's recommended action against the catalog
//!   ([`CauseCatalog::action_appropriate`]) for the category it asserted.
//! - **Brier score** of `confidence`: per diagnosis, (confidence − correct)², where
//!   correct means its primary cause is a true root cause.
//! - A diagnosis that came from a fallback backend (the model failed) asserts nothing
//!   for the backend under test: it counts as a miss.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;

use super::scenario::ExpectedCause;
use crate::diagnose::catalog::{Cause, CauseCatalog};
use crate::diagnose::model::Diagnosis;

/// How a subject's harness turns the names the operator writes (`store/4`, `tikv-1`,
/// `eval-tikv-1`, an etcd member id) into the canonical names scenarios use (`tikv-1`,
/// `pd`, `etcd-2`, `cluster`); it knows what the cluster granted at run time (store
/// ids, member ids).
pub trait EntityResolver: Send + Sync {
    /// The canonical name `name` designates, if it designates an entity of the cluster.
    fn resolve(&self, name: &str) -> Option<String>;
    /// What the resolver knows, for the JSON report (`{"store_ids": [1, 4, 5]}`).
    fn describe(&self) -> serde_json::Value;
}

/// Resolves only `cluster` (before a harness knows its entities).
struct ClusterOnly;

impl EntityResolver for ClusterOnly {
    fn resolve(&self, name: &str) -> Option<String> {
        (name == "cluster").then(|| name.to_string())
    }
    fn describe(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// A run's entities: the subject's resolver.
#[derive(Clone)]
pub struct Entities(Arc<dyn EntityResolver>);

impl Default for Entities {
    fn default() -> Self {
        Self(Arc::new(ClusterOnly))
    }
}

impl std::fmt::Debug for Entities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entities({})", self.0.describe())
    }
}

impl Serialize for Entities {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.describe().serialize(s)
    }
}

/// A resolved entity, or the raw name when it resolves to nothing known.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Entity {
    /// Known, by its canonical name.
    Known(String),
    /// Not an entity of the cluster.
    Unknown(String),
}

impl Entities {
    /// Entities resolved by `r`.
    pub fn new(r: Arc<dyn EntityResolver>) -> Self {
        Self(r)
    }

    /// The entity `name` names.
    pub fn resolve(&self, name: &str) -> Entity {
        let n = name.trim();
        match self.0.resolve(n) {
            Some(e) => Entity::Known(e),
            None => Entity::Unknown(n.to_string()),
        }
    }
}

/// A cause with its target resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ResolvedCause {
    /// Catalog category.
    pub category: String,
    /// Where.
    pub target: Entity,
}

impl ResolvedCause {
    /// `cause` with its target resolved by `entities`.
    pub fn of(cause: &Cause, entities: &Entities) -> Self {
        Self {
            category: cause.category.clone(),
            target: entities.resolve(&cause.target),
        }
    }

    /// A true cause.
    pub fn truth(c: &ExpectedCause) -> Self {
        Self {
            category: c.category.clone(),
            target: Entity::Known(c.target.clone()),
        }
    }
}

impl std::fmt::Display for ResolvedCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Entity::Known(e) => write!(f, "{} on {e}", self.category),
            Entity::Unknown(s) => write!(f, "{} on {s}?", self.category),
        }
    }
}

/// Scores of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunScore {
    /// ITBench-AA: 0 if a true cause is missed, else precision.
    pub itbench: f64,
    /// |asserted ∩ truth| / |truth| (1 for a control with nothing asserted).
    pub recall: f64,
    /// |asserted ∩ truth| / |asserted| (1 when nothing is asserted).
    pub precision: f64,
    /// Harmonic mean of recall and precision.
    pub f1: f64,
    /// Diagnoses whose action suits the category they asserted (catalog), out of
    /// `diagnoses`.
    pub actions_appropriate: usize,
    /// Diagnoses scored (fallbacks excluded).
    pub diagnoses: usize,
    /// Diagnoses that came from a fallback backend (the backend under test failed).
    pub fallbacks: usize,
    /// Sum of (confidence − correct)² over the diagnoses.
    pub brier_sum: f64,
    /// The causes asserted, resolved.
    pub asserted: Vec<ResolvedCause>,
    /// True causes not asserted.
    pub missed: Vec<ResolvedCause>,
}

/// Scores the diagnoses of one run against the truth. `backend` is the backend under
/// test: diagnoses by another backend (a fallback) assert nothing.
pub fn score_run(
    diagnoses: &[Diagnosis],
    truth: &[ExpectedCause],
    entities: &Entities,
    catalog: &CauseCatalog,
    backend: &str,
) -> RunScore {
    let truth: BTreeSet<ResolvedCause> = truth.iter().map(ResolvedCause::truth).collect();
    let mut asserted = BTreeSet::new();
    let mut s = RunScore::default();
    for d in diagnoses {
        if d.backend != backend {
            s.fallbacks += 1;
            continue;
        }
        s.diagnoses += 1;
        for c in d.asserted_causes() {
            asserted.insert(ResolvedCause::of(c, entities));
        }
        if catalog.action_appropriate(&d.cause.category, d.recommended_action.kind.name()) {
            s.actions_appropriate += 1;
        }
        let correct = truth.contains(&ResolvedCause::of(&d.cause, entities));
        let c = d.confidence.clamp(0.0, 1.0);
        s.brier_sum += (c - if correct { 1.0 } else { 0.0 }).powi(2);
    }
    let hit = asserted.intersection(&truth).count() as f64;
    s.recall = if truth.is_empty() {
        if asserted.is_empty() {
            1.0
        } else {
            0.0
        }
    } else {
        hit / truth.len() as f64
    };
    s.precision = if asserted.is_empty() {
        if truth.is_empty() {
            1.0
        } else {
            0.0
        }
    } else {
        hit / asserted.len() as f64
    };
    s.f1 = if s.recall + s.precision > 0.0 {
        2.0 * s.recall * s.precision / (s.recall + s.precision)
    } else {
        0.0
    };
    s.missed = truth.difference(&asserted).cloned().collect();
    s.itbench = if s.missed.is_empty() {
        s.precision
    } else {
        0.0
    };
    s.asserted = asserted.into_iter().collect();
    s
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

    /// The first registered subject's catalog (the scoring is the same for any).
    static CATALOG: std::sync::LazyLock<&'static CauseCatalog> =
        std::sync::LazyLock::new(|| crate::subjects::DIAGNOSIS[0].catalog);

    /// Aliases as a harness would resolve them (store ids 1, 4, 5 for tikv-0..2).
    struct Table;

    impl EntityResolver for Table {
        fn resolve(&self, name: &str) -> Option<String> {
            let canonical = match name {
                "store/1" | "1" | "tikv-0" => "tikv-0",
                "store/4" | "store-4" | "4" | "tikv-1" | "eval-tikv-1" => "tikv-1",
                "store/5" | "5" | "tikv-2" => "tikv-2",
                "pd" | "pd-2" => "pd",
                "cluster" => "cluster",
                _ => return None,
            };
            Some(canonical.to_string())
        }
        fn describe(&self) -> serde_json::Value {
            serde_json::json!({"store_ids": [1, 4, 5]})
        }
    }

    fn diagnosis(cause: Cause, other: Vec<Cause>, action: ActionKind, conf: f64) -> Diagnosis {
        Diagnosis {
            observation_summary: "s".into(),
            root_cause: "whatever the prose says is never read".into(),
            cause,
            other_causes: other,
            hypotheses: vec![],
            evidence: vec![Citation {
                claim: "c".into(),
                source: CitationRef::entity("store", 4),
            }],
            options_considered: vec![OptionConsidered {
                option: "o".into(),
                why_not: "w".into(),
            }],
            recommended_action: Action {
                kind: action,
                rationale: "r".into(),
            },
            confidence: conf,
            would_change_conclusion: "w".into(),
            grounding: GroundingReport {
                grounded: 1,
                ungrounded: vec![],
            },
            backend: "rules".into(),
            model: "rules-v1".into(),
            usage: Usage::default(),
            context_cut: vec![],
            runbook: None,
            model_failure: None,
            investigation: None,
        }
    }

    fn entities() -> Entities {
        Entities::new(Arc::new(Table))
    }

    fn truth(cat: &str, e: &str) -> ExpectedCause {
        ExpectedCause {
            category: cat.into(),
            target: e.into(),
        }
    }

    fn restart() -> ActionKind {
        ActionKind::new("restart-container", serde_json::json!({"member": "tikv-1"}))
    }

    #[test]
    fn the_right_cause_under_any_alias_of_the_target_scores_one() {
        for target in ["store/4", "store-4", "tikv-1", "eval-tikv-1"] {
            let d = diagnosis(Cause::new("process-exit", target), vec![], restart(), 0.9);
            let s = score_run(
                &[d],
                &[truth("process-exit", "tikv-1")],
                &entities(),
                *CATALOG,
                "rules",
            );
            assert_eq!(s.itbench, 1.0, "{target}");
            assert_eq!(s.actions_appropriate, 1);
            assert!((s.brier_sum - 0.01).abs() < 1e-9);
        }
    }

    #[test]
    fn a_missed_true_cause_scores_zero_whatever_else_is_right() {
        let d = diagnosis(Cause::new("disk-slow", "store/4"), vec![], restart(), 0.8);
        let s = score_run(
            &[d],
            &[truth("disk-slow", "tikv-1"), truth("hot-region", "tikv-2")],
            &entities(),
            *CATALOG,
            "rules",
        );
        assert_eq!(s.itbench, 0.0);
        assert_eq!(s.recall, 0.5);
        assert_eq!(s.precision, 1.0);
        assert_eq!(s.missed.len(), 1);
    }

    #[test]
    fn an_extra_wrong_cause_lowers_the_score_to_the_precision() {
        let a = diagnosis(Cause::new("disk-slow", "store/4"), vec![], restart(), 0.8);
        let b = diagnosis(
            Cause::new("hot-region", "store/5"),
            vec![Cause::new("cpu-saturation", "tikv-0")],
            restart(),
            0.5,
        );
        let s = score_run(
            &[a, b],
            &[truth("disk-slow", "tikv-1")],
            &entities(),
            *CATALOG,
            "rules",
        );
        assert!((s.itbench - 1.0 / 3.0).abs() < 1e-9);
        assert!((s.f1 - 0.5).abs() < 1e-9);
    }

    #[test]
    fn unknown_asserts_nothing_and_a_fallback_diagnosis_counts_as_a_miss() {
        let u = diagnosis(Cause::unknown("store/4"), vec![], restart(), 0.3);
        let mut fb = diagnosis(
            Cause::new("process-exit", "store/4"),
            vec![],
            restart(),
            0.9,
        );
        fb.backend = "rules".into();
        let s = score_run(
            &[u, fb],
            &[truth("process-exit", "tikv-1")],
            &entities(),
            *CATALOG,
            "openai",
        );
        assert_eq!(s.itbench, 0.0);
        assert_eq!(s.fallbacks, 2);
    }

    #[test]
    fn a_control_with_nothing_asserted_is_perfect_and_with_a_cause_is_not() {
        let s = score_run(&[], &[], &entities(), *CATALOG, "rules");
        assert_eq!((s.itbench, s.recall, s.precision), (1.0, 1.0, 1.0));
        let d = diagnosis(
            Cause::new("process-exit", "store/4"),
            vec![],
            restart(),
            0.9,
        );
        let s = score_run(&[d], &[], &entities(), *CATALOG, "rules");
        assert_eq!(s.itbench, 0.0);
    }

    #[test]
    fn a_store_id_that_is_no_store_of_the_cluster_resolves_to_nothing() {
        assert_eq!(
            entities().resolve("store/40"),
            Entity::Unknown("store/40".into())
        );
        assert_eq!(entities().resolve("4"), Entity::Known("tikv-1".into()));
        assert_eq!(entities().resolve("pd-2"), Entity::Known("pd".into()));
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 50.0), Some(3.0));
        assert_eq!(percentile(&v, 99.0), Some(5.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
