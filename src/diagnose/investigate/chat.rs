//! The conversation of an investigation, independent of any wire format, and the
//! [`ToolChat`] port each model backend implements to carry it: Claude as `tool_use` /
//! `tool_result` content blocks, OpenAI-compatible servers as `tool_calls` and
//! `role: tool` messages (see the backends).

use super::tools::ToolSpec;
use crate::diagnose::backend::BackendError;
use crate::diagnose::context::PreparedPrompt;
use crate::diagnose::model::Usage;
use async_trait::async_trait;
use serde_json::Value;

/// A tool call the model made.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The call id (echoed in the result). Calls read from a message's text get one
    /// made up by the loop.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments (a JSON object; a non-object is kept as the model wrote it and
    /// refused by the tool).
    pub input: Value,
}

/// The result of one call, as sent back.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The id of the call answered.
    pub call_id: String,
    /// The text: redacted, truncated and wrapped as untrusted data.
    pub content: String,
    /// Whether it is an error (refusal or failure).
    pub is_error: bool,
}

/// One turn after the first user message.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// The model's turn: its text, if any, and its calls.
    Assistant {
        /// Text beside the calls.
        text: Option<String>,
        /// The calls.
        calls: Vec<Call>,
        /// Blocks the provider requires back unchanged (Claude's `thinking` and
        /// `redacted_thinking` blocks before a `tool_use`); empty for other wire formats.
        echo: Vec<Value>,
    },
    /// The results of the previous turn's calls, in order.
    Results(Vec<ToolResult>),
    /// A message from the loop (the request for the final answer).
    User(String),
}

/// The model's answer to one turn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelTurn {
    /// Its text (for an answer: the diagnosis JSON), if any.
    pub text: Option<String>,
    /// Its structured tool calls.
    pub calls: Vec<Call>,
    /// Tokens, wall time of this turn.
    pub usage: Usage,
    /// The model id that answered.
    pub model: String,
    /// Provider request or message id.
    pub request_id: Option<String>,
    /// Blocks to send back unchanged with this turn (see [`Turn::Assistant::echo`]).
    pub echo: Vec<Value>,
}

/// A backend that can hold a tool-use conversation.
#[async_trait]
pub trait ToolChat: Send + Sync {
    /// One model turn. `system` is the system prompt to send (the prompt's, extended
    /// with the investigation's rules); the first user message is `prompt.user`; then
    /// `turns`. With `offer_tools` the tools are offered; without, the model must answer
    /// (tools stay declared where the wire format needs them for the history, but are
    /// not callable) and the answer is constrained to `prompt.schema`.
    async fn turn(
        &self,
        system: &str,
        prompt: &PreparedPrompt,
        turns: &[Turn],
        tools: &[ToolSpec],
        offer_tools: bool,
    ) -> Result<ModelTurn, BackendError>;
}
