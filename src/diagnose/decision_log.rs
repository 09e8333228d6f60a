//! The decision log: one JSON line per diagnosis, appended and fsync'd.
//!
//! # Why
//!
//! Tickets change (they are re-diagnosed, closed, pruned); the decision log does not. It
//! records, in the order *observation → diagnosis → options → decision → rationale*, what
//! the operator was told and why, with the backend, model, tokens, cost and grounding, so
//! a later reader can audit a recommendation without the ticket store. Every string is
//! redacted before it is written.

use super::model::{Diagnosis, OptionConsidered, Usage};
use super::redact::{redact, redact_json};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Decision-log errors.
#[derive(Debug, thiserror::Error)]
pub enum DecisionLogError {
    /// File I/O.
    #[error("decision log {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A line is not a valid entry.
    #[error("decision log line {line}: {source}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// Cause.
        source: serde_json::Error,
    },
}

/// One decision-log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionEntry {
    /// When the entry was written (RFC 3339).
    pub at: String,
    /// Ticket id.
    pub ticket_id: u64,
    /// What was observed.
    pub observation: String,
    /// The diagnosis (root cause).
    pub diagnosis: String,
    /// Alternatives considered.
    pub options: Vec<OptionConsidered>,
    /// The decision: the recommended action, as a typed value.
    pub decision: serde_json::Value,
    /// Why.
    pub rationale: String,
    /// Confidence.
    pub confidence: f64,
    /// Backend.
    pub backend: String,
    /// Model.
    pub model: String,
    /// Tokens and cost.
    pub usage: Usage,
    /// Grounded citations.
    pub grounded: usize,
    /// Ungrounded claims.
    pub ungrounded: Vec<String>,
    /// What the context builder cut.
    pub context_cut: Vec<String>,
    /// The configured model's failure, when this decision is the fallback's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_failure: Option<super::failure::ModelFailure>,
    /// A model backend's investigation: every tool call with a one-line summary of its
    /// result, or why it answered in a single shot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investigation: Option<super::investigate::Investigation>,
}

impl DecisionEntry {
    /// Builds the entry for a diagnosis.
    pub fn from_diagnosis(ticket_id: u64, d: &Diagnosis, at: &str) -> Self {
        Self {
            at: at.to_string(),
            ticket_id,
            observation: d.observation_summary.clone(),
            diagnosis: d.root_cause.clone(),
            options: d.options_considered.clone(),
            decision: serde_json::to_value(&d.recommended_action.kind).unwrap_or_default(),
            rationale: d.recommended_action.rationale.clone(),
            confidence: d.confidence,
            backend: d.backend.clone(),
            model: d.model.clone(),
            usage: d.usage.clone(),
            grounded: d.grounding.grounded,
            ungrounded: d.grounding.ungrounded.clone(),
            context_cut: d.context_cut.clone(),
            model_failure: d.model_failure.clone(),
            investigation: d.investigation.clone(),
        }
    }
}

impl DecisionEntry {
    /// A copy with every free-text field redacted.
    pub(crate) fn redacted(&self) -> Self {
        let r = |v: &Vec<String>| v.iter().map(|s| redact(s)).collect::<Vec<_>>();
        Self {
            at: self.at.clone(),
            ticket_id: self.ticket_id,
            observation: redact(&self.observation),
            diagnosis: redact(&self.diagnosis),
            options: self
                .options
                .iter()
                .map(|o| OptionConsidered {
                    option: redact(&o.option),
                    why_not: redact(&o.why_not),
                })
                .collect(),
            decision: redact_json(&self.decision),
            rationale: redact(&self.rationale),
            confidence: self.confidence,
            backend: self.backend.clone(),
            model: self.model.clone(),
            usage: self.usage.clone(),
            grounded: self.grounded,
            ungrounded: r(&self.ungrounded),
            context_cut: r(&self.context_cut),
            model_failure: self
                .model_failure
                .as_ref()
                .map(|f| super::failure::ModelFailure {
                    detail: redact(&f.detail),
                    ..f.clone()
                }),
            investigation: self.investigation.as_ref().map(|i| {
                let mut i = i.clone();
                i.single_shot_reason = i.single_shot_reason.as_deref().map(redact);
                for c in &mut i.calls {
                    c.arguments = redact(&c.arguments);
                    c.summary = redact(&c.summary);
                }
                i
            }),
        }
    }
}

/// An append-only JSON-lines file.
#[derive(Debug, Clone)]
pub struct DecisionLog {
    path: PathBuf,
}

impl DecisionLog {
    /// A log at `path` (created on first append).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry.
    ///
    /// # Guarantees
    /// The entry is redacted, written as exactly one line, and `fsync`ed before this
    /// returns; concurrent appenders in one process do not interleave within a line
    /// (one `write_all` of the whole line on an `O_APPEND` file).
    pub fn append(&self, entry: &DecisionEntry) -> Result<(), DecisionLogError> {
        let io = |source| DecisionLogError::Io {
            path: self.path.clone(),
            source,
        };
        // Serialize the struct itself (not a `Value`) to keep the field order.
        let mut line = serde_json::to_string(&entry.redacted()).unwrap_or_default();
        line.push('\n');
        if let Some(dir) = self.path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        f.write_all(line.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(())
    }

    /// Reads every entry.
    pub fn read_all(&self) -> Result<Vec<DecisionEntry>, DecisionLogError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(source) => {
                return Err(DecisionLogError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|source| DecisionLogError::Parse {
                    line: i + 1,
                    source,
                })
            })
            .collect()
    }
}

/// Now, RFC 3339.
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
