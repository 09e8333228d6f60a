//! The port through which a subject lends the investigation its read-only tools.
//!
//! A [`Toolbox`] says which tools it offers (name, description, JSON Schema of the
//! arguments: what the model reads) and answers a call with text. It is the whole
//! surface: there is no way to hand the loop a tool that writes, and the loop refuses a
//! call to any tool the toolboxes did not offer before a toolbox is asked.

use crate::diagnose::model::TicketBrief;
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

pub use crate::diagnose::backend::openai::ToolSpec;

/// Why a tool call gave no result. Every variant is told to the model as the call's
/// (error) result; none ends the investigation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    /// No toolbox offers a tool of this name.
    #[error("no tool named {0} is offered")]
    Unknown(String),
    /// The tool exists, but these arguments ask for something outside its allow-list
    /// (a PD path that is not listed, a range over 100 points, …).
    #[error("refused: {0}")]
    NotAllowed(String),
    /// The arguments do not match the tool's schema.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The system behind the tool failed (unreachable, error status).
    #[error("failed: {0}")]
    Failed(String),
}

/// A tool's answer: the text the model reads, and optionally the tool's own one-line
/// summary of it for the record (otherwise one is derived from the text).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolOutput {
    /// The result, as text (JSON, log lines, a table).
    pub text: String,
    /// A one-line summary for the decision log, the timeline and `tickets show`.
    pub summary: Option<String>,
}

impl ToolOutput {
    #[cfg(test)]
    /// Text with no summary of its own.
    pub(crate) fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            summary: None,
        }
    }

    /// Text with its summary.
    pub(crate) fn with_summary(text: impl Into<String>, summary: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            summary: Some(summary.into()),
        }
    }
}

/// A set of read-only tools.
#[async_trait]
pub trait Toolbox: Send + Sync {
    /// The tools offered.
    fn tools(&self) -> Vec<ToolSpec>;
    /// Runs tool `name` with `args` for the ticket under investigation.
    async fn call(
        &self,
        ticket: &TicketBrief,
        name: &str,
        args: &Value,
    ) -> Result<ToolOutput, ToolError>;
}

/// Several toolboxes offered together; a call goes to the one that offers its name
/// (the first, when two offer the same name: the second's tool is not offered).
#[derive(Clone, Default)]
pub struct Toolboxes(pub Vec<Arc<dyn Toolbox>>);

#[async_trait]
impl Toolbox for Toolboxes {
    fn tools(&self) -> Vec<ToolSpec> {
        let mut out: Vec<ToolSpec> = Vec::new();
        for b in &self.0 {
            for t in b.tools() {
                if !out.iter().any(|o| o.name == t.name) {
                    out.push(t);
                }
            }
        }
        out
    }

    async fn call(
        &self,
        ticket: &TicketBrief,
        name: &str,
        args: &Value,
    ) -> Result<ToolOutput, ToolError> {
        for b in &self.0 {
            if b.tools().iter().any(|t| t.name == name) {
                return b.call(ticket, name, args).await;
            }
        }
        Err(ToolError::Unknown(name.to_string()))
    }
}

/// Argument helpers for toolbox implementations: typed reads with the errors the model
/// is told.
pub mod args {
    use super::ToolError;
    use serde_json::Value;

    /// A required string argument.
    pub(crate) fn string<'a>(args: &'a Value, key: &str) -> Result<&'a str, ToolError> {
        args.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| ToolError::InvalidArguments(format!("`{key}` (a string) is required")))
    }

    /// An optional string argument.
    pub(crate) fn opt_string<'a>(args: &'a Value, key: &str) -> Result<Option<&'a str>, ToolError> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ToolError::InvalidArguments(format!(
                "`{key}` must be a string"
            ))),
        }
    }

    /// An optional non-negative integer argument (a numeric string is accepted: small
    /// models often quote numbers).
    pub(crate) fn opt_u64(args: &Value, key: &str) -> Result<Option<u64>, ToolError> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .map(Some)
                .ok_or_else(|| {
                    ToolError::InvalidArguments(format!("`{key}` must be a non-negative integer"))
                }),
        }
    }
}
