//! Diagnosis: turns an open ticket into a structured, grounded diagnosis.
//!
//! # Flow
//!
//! ```text
//! TicketQueue ──brief──▶ ContextSource ──sections──▶ context::build_prompt (budget, redaction,
//!   untrusted blocks) ──PreparedPrompt──▶ DiagnosisBackend (claude | openai | rules)
//!   ──RawDiagnosis──▶ ground::finalize (strict schema, confidence, citations checked)
//!   ──Diagnosis──▶ decision_log (fsync'd JSON line) + TicketQueue::complete
//! ```
//!
//! # Why this shape
//!
//! - **Observe-only.** A diagnosis is a recommendation in a closed action vocabulary
//!   ([`model::ActionKind`]). Nothing in this module talks to Docker or PD; the model's
//!   output is parsed, never executed. Log lines and labels are data inside escaped
//!   `<untrusted_data>` blocks.
//! - **One structure for every backend.** Claude, a local OpenAI-compatible model and the
//!   offline rules engine all return the same JSON, validated and grounded the same way,
//!   so the rules engine is a drop-in default when no API key is configured.
//! - **The ticket store is a seam.** [`reconciler::TicketQueue`] and
//!   [`reconciler::ContextSource`] are small traits; the sled-backed ticket store
//!   implements them elsewhere.
//! - **Secrets never leave the process** ([`redact`]).

pub mod backend;
pub mod catalog;
pub mod compact;
pub mod context;
pub mod decision_log;
pub mod differential;
pub mod failure;
pub mod ground;
pub mod investigate;
pub mod model;
pub mod reconciler;
pub mod redact;
pub mod remembering;
pub mod render;
pub mod runbook;
pub mod scenarios;
#[cfg(any(test, feature = "test-support"))]
pub mod standin;
pub mod store_queue;
pub(crate) mod terse;

pub use backend::{BackendError, DiagnosisBackend, RawDiagnosis};
pub use context::{build_prompt, PreparedPrompt, DEFAULT_TOKEN_BUDGET};
pub use model::{
    Action, ActionKind, Citation, CitationRef, ContextSection, Diagnosis, DiagnosisOutput,
    DiagnosisRequest, GroundingReport, OptionConsidered, TicketBrief, Usage,
};
