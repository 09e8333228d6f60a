//! How a model's diagnosis failed, as a closed set of kinds.
//!
//! # Why
//!
//! A weak or misbehaving model fails in a handful of recognisable ways: its JSON does
//! not parse, it breaks the schema, it names a cause outside the subject's catalog, it
//! cites evidence that was never in the context, it calls the same tool over and over,
//! or it does not answer in time. Each of these must be counted and shown, never hidden
//! behind the fallback's answer: the reconciler records the kind on the fallback
//! diagnosis ([`super::model::Diagnosis::model_failure`]), in the decision log and in
//! `/metrics`, and the evaluation scores such a diagnosis as the model's miss.

use super::backend::BackendError;
use super::ground::GroundError;
use serde::{Deserialize, Serialize};

/// What went wrong with the model's answer (or the call that should have produced it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFailureKind {
    /// The answer is not JSON.
    InvalidJson,
    /// The JSON breaks the output schema (missing or extra fields, wrong types, an
    /// action outside the vocabulary, a confidence outside 0..=1).
    SchemaViolation,
    /// A cause category that is not in the subject's catalog.
    CauseOutsideCatalog,
    /// Evidence cited that is not in the context that was sent (grounding rejected it).
    Ungrounded,
    /// The same tool called again with the same arguments (an investigation loop stuck).
    RepeatedToolCalls,
    /// No answer within the time limit.
    Timeout,
    /// The answer was cut at `max_tokens`.
    Truncated,
    /// The model refused.
    Refusal,
    /// The input did not fit the model's context window.
    ContextWindow,
    /// The server could not be reached, or failed (connection, HTTP error, bad body).
    Unavailable,
}

impl ModelFailureKind {
    /// The snake_case name (the `/metrics` label and the report's column).
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::SchemaViolation => "schema_violation",
            Self::CauseOutsideCatalog => "cause_outside_catalog",
            Self::Ungrounded => "ungrounded",
            Self::RepeatedToolCalls => "repeated_tool_calls",
            Self::Timeout => "timeout",
            Self::Truncated => "truncated",
            Self::Refusal => "refusal",
            Self::ContextWindow => "context_window",
            Self::Unavailable => "unavailable",
        }
    }

    /// The kind of a backend error.
    pub fn of_backend(e: &BackendError) -> Self {
        match e {
            BackendError::Timeout(_) => Self::Timeout,
            BackendError::MaxTokens { .. } => Self::Truncated,
            BackendError::Refusal { .. } => Self::Refusal,
            BackendError::ContextWindowExceeded(_) => Self::ContextWindow,
            BackendError::RepeatedToolCall { .. } => Self::RepeatedToolCalls,
            _ => Self::Unavailable,
        }
    }

    /// The kind of a validation error. A schema violation located at a cause's
    /// `category` is a cause outside the catalog (the schema's enum is the catalog).
    pub fn of_ground(e: &GroundError) -> Self {
        match e {
            GroundError::MalformedJson(_) => Self::InvalidJson,
            GroundError::SchemaViolation { path, .. } if is_category_path(path) => {
                Self::CauseOutsideCatalog
            }
            GroundError::SchemaViolation { .. } | GroundError::ConfidenceOutOfRange(_) => {
                Self::SchemaViolation
            }
        }
    }
}

/// `/cause/category`, `/other_causes/N/category`, `/hypotheses/N/cause/category`.
fn is_category_path(path: &str) -> bool {
    path.ends_with("/category")
        && (path.starts_with("/cause/")
            || path.starts_with("/other_causes/")
            || path.starts_with("/hypotheses/"))
}

/// A model failure as recorded on the fallback diagnosis and in the decision log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFailure {
    /// The backend that failed (`openai`, `claude`).
    pub backend: String,
    /// Its configured model id.
    pub model: String,
    /// What went wrong.
    pub kind: ModelFailureKind,
    /// The error, redacted (for a reader; scoring reads `kind`).
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_violation_at_a_cause_category_is_a_cause_outside_the_catalog() {
        let at = |path: &str| GroundError::SchemaViolation {
            path: path.into(),
            message: "\"disk-gremlins\" is not one of [...]".into(),
        };
        for p in [
            "/cause/category",
            "/other_causes/0/category",
            "/hypotheses/2/cause/category",
        ] {
            assert_eq!(
                ModelFailureKind::of_ground(&at(p)),
                ModelFailureKind::CauseOutsideCatalog,
                "{p}"
            );
        }
        assert_eq!(
            ModelFailureKind::of_ground(&at("/recommended_action")),
            ModelFailureKind::SchemaViolation
        );
        assert_eq!(
            ModelFailureKind::of_ground(&GroundError::MalformedJson("eof".into())),
            ModelFailureKind::InvalidJson
        );
    }

    #[test]
    fn backend_errors_map_to_timeouts_truncations_and_loops() {
        assert_eq!(
            ModelFailureKind::of_backend(&BackendError::Timeout("60 s".into())),
            ModelFailureKind::Timeout
        );
        assert_eq!(
            ModelFailureKind::of_backend(&BackendError::MaxTokens { max_tokens: 10 }),
            ModelFailureKind::Truncated
        );
        assert_eq!(
            ModelFailureKind::of_backend(&BackendError::RepeatedToolCall {
                name: "metrics".into(),
                times: 2
            }),
            ModelFailureKind::RepeatedToolCalls
        );
        assert_eq!(
            ModelFailureKind::of_backend(&BackendError::Transport("refused".into())),
            ModelFailureKind::Unavailable
        );
    }
}
