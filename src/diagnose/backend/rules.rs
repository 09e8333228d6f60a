//! The offline rules engine: deterministic diagnoses from the ticket's evidence and the
//! latest snapshot, for when no model is configured (the default without an API key) and
//! as a baseline to compare model answers against.
//!
//! # How it decides
//!
//! The engine is a differential diagnosis ([`crate::diagnose::differential`]): the
//! subject's [`Reasoner`] weighs every cause of its catalog against the facts (the
//! ticket's evidence plus the context sections: snapshot, metrics window, logs, events),
//! the core decides which cause is best supported, by what margin, and which hypotheses
//! the evidence contradicts; the subject then writes up the decided cause (what was seen,
//! cited facts, the recommended action). Nothing here chooses an answer from the ticket's
//! invariant name, and nothing here names a subject: the reasoner is wired in by the
//! binary (`main.rs`, `cli/`).

use super::{BackendError, DiagnosisBackend, RawDiagnosis};
use crate::diagnose::catalog::CauseCatalog;
use crate::diagnose::context::PreparedPrompt;
use crate::diagnose::differential::{decide, Candidate, Decision};
use crate::diagnose::model::{
    Action, ActionKind, Citation, CitationRef, ContextSection, DiagnosisOutput, OptionConsidered,
    TicketBrief, Usage,
};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Model id reported by the rules engine.
pub const RULES_MODEL: &str = "rules-v2";

/// Policy knobs of the rules engine.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesConfig {
    /// Whether recommending a container restart is allowed (operator policy).
    pub allow_restart: bool,
    /// How long a member may stay down before the subject replaces its data elsewhere,
    /// when the state does not say (PD's `max-store-down-time`, 30 min).
    pub max_store_down_time: Duration,
    /// Used-space ratio above which a member is under disk pressure (PD's low-space-ratio 0.8).
    pub low_space_ratio: f64,
    /// How many times its peers' median a member's latency must be to call it an outlier.
    pub slow_factor: f64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            allow_restart: true,
            max_store_down_time: Duration::from_secs(30 * 60),
            low_space_ratio: 0.8,
            slow_factor: 3.0,
        }
    }
}

/// The write-up of a decided cause, by the subject: what was seen, the facts cited, the
/// recommended action and why.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteUp {
    /// What the evidence shows.
    pub observation: String,
    /// The root cause in words (consistent with the decided category and target).
    pub root_cause: String,
    /// Cited facts, each taken verbatim from the context.
    pub evidence: Vec<Citation>,
    /// Alternatives the subject rejected, beyond the hypotheses (actions not taken).
    pub options: Vec<OptionConsidered>,
    /// The recommended action.
    pub action: ActionKind,
    /// Why that action.
    pub rationale: String,
    /// What would change the conclusion (when the margin is clear).
    pub would_change: String,
}

/// A subject's reasoning for the rules engine: hypotheses over the facts, and the
/// write-up of the decided cause.
pub trait Reasoner: Send + Sync + std::fmt::Debug {
    /// The subject's cause catalog.
    fn catalog(&self) -> &'static CauseCatalog;

    /// One candidate per (cause, entity) the facts bear on, with weighted findings.
    fn candidates(
        &self,
        brief: &TicketBrief,
        facts: &[ContextSection],
        cfg: &RulesConfig,
    ) -> Vec<Candidate>;

    /// The ticket's target in the catalog's spelling of targets (`store/4` for `tikv-1`).
    fn canonical_target(&self, brief: &TicketBrief, _facts: &[ContextSection]) -> String {
        brief.target.clone()
    }

    /// The write-up of `decision`'s root cause.
    fn write_up(
        &self,
        decision: &Decision,
        brief: &TicketBrief,
        facts: &[ContextSection],
        cfg: &RulesConfig,
    ) -> WriteUp;
}

/// The rules backend.
#[derive(Debug, Clone)]
pub struct RulesBackend {
    cfg: RulesConfig,
    reasoner: Arc<dyn Reasoner>,
}

impl RulesBackend {
    /// A rules engine with `cfg`, reasoning with the subject's `reasoner`.
    pub fn new(cfg: RulesConfig, reasoner: Arc<dyn Reasoner>) -> Self {
        Self { cfg, reasoner }
    }
}

/// Diagnoses `brief` with `facts` as extra context.
///
/// # Guarantees
/// Deterministic: the same input gives the same output. `cause`, `other_causes` and
/// `hypotheses` come from [`decide`] over the reasoner's candidates; every cause is in
/// the reasoner's catalog or `unknown`; the confidence is the decision's.
pub fn diagnose_with(
    reasoner: &dyn Reasoner,
    brief: &TicketBrief,
    facts: &[ContextSection],
    cfg: &RulesConfig,
) -> DiagnosisOutput {
    let catalog = reasoner.catalog();
    let candidates: Vec<Candidate> = reasoner
        .candidates(brief, facts, cfg)
        .into_iter()
        .filter(|c| catalog.accepts(&c.cause.category))
        .collect();
    let decision = decide(candidates, &reasoner.canonical_target(brief, facts));
    let w = reasoner.write_up(&decision, brief, facts, cfg);
    // The hypotheses carry the "why not" of every rejected cause; the write-up's options
    // are the alternatives to the recommended action.
    let options = w.options;
    let would_change = match (&decision.runner_up, &decision.discriminating_check) {
        (Some(r), Some(check)) => format!(
            "{check}: that would favour {} over {}",
            r.category, decision.cause.category
        ),
        _ => w.would_change,
    };
    let mut evidence = w.evidence;
    if evidence.is_empty() {
        // The schema needs one citation; the ticket summary is always in the context.
        evidence.push(Citation {
            claim: "the ticket's own invariant violation".into(),
            source: CitationRef::Event {
                what: brief.summary.clone(),
            },
        });
    }
    DiagnosisOutput {
        observation_summary: w.observation,
        root_cause: w.root_cause,
        cause: decision.cause,
        other_causes: decision.other_causes,
        hypotheses: decision.hypotheses,
        evidence,
        options_considered: options,
        recommended_action: Action {
            kind: w.action,
            rationale: w.rationale,
        },
        confidence: decision.confidence,
        would_change_conclusion: would_change,
    }
}

#[async_trait]
impl DiagnosisBackend for RulesBackend {
    fn name(&self) -> &str {
        "rules"
    }

    async fn diagnose(&self, prompt: &PreparedPrompt) -> Result<RawDiagnosis, BackendError> {
        let out = diagnose_with(&*self.reasoner, &prompt.ticket, &prompt.facts, &self.cfg);
        Ok(RawDiagnosis {
            json_text: serde_json::to_string(&out)
                .map_err(|e| BackendError::MalformedResponse(e.to_string()))?,
            model: RULES_MODEL.into(),
            usage: Usage::default(),
            request_id: None,
        })
    }
}
