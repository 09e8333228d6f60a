//! The Claude backend: `POST {base}/v1/messages` per the Anthropic Messages API.
//!
//! # Wire choices (LLM reference §0–§8)
//! - Headers `x-api-key`, `anthropic-version: 2023-06-01`, `content-type: application/json`;
//!   one auth header only.
//! - Structured output through `output_config.format` (GA, no beta header). The forced
//!   tool (`tool_choice: {type: tool}`) is the fallback for models and local servers that
//!   lack JSON outputs; with [`OutputStrategy::Auto`] a 400 naming `output_config` switches
//!   to it once. The newest models reject forced tool choice, so it is never the default.
//! - No `temperature`/`top_p`/`thinking` are sent (400 on current models).
//! - The static system prompt carries `cache_control: {type: ephemeral}`.
//! - `stop_reason` is checked before any content: `refusal` and `max_tokens` become typed
//!   errors (`max_tokens` is retried once with twice the room first), the JSON is taken
//!   from the first block of the right type (a `thinking` block may come first).
//! - Retries: [`super::transport`].
//!
//! The API key is never logged: [`ApiKey`]'s `Debug` prints `[REDACTED]` and the key is
//! registered with [`crate::diagnose::redact`] when loaded.

use super::pricing::PriceTable;
use super::transport::{is_spend_cap, send_with_retry, HttpFailure, RetryPolicy, SendError};
use super::{BackendError, DiagnosisBackend, RawDiagnosis};
use crate::diagnose::context::PreparedPrompt;
use crate::diagnose::investigate::{Call, ModelTurn, ToolChat, ToolSpec, Turn};
use crate::diagnose::model::Usage;
use crate::diagnose::redact::{register_secret, REDACTED};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

/// The `anthropic-version` header value.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// Default model: a current model id from the reference's October 2026 lineup.
pub const DEFAULT_MODEL: &str = "claude-sonnet-5-5";
/// Name of the forced tool on the fallback path.
pub const TOOL_NAME: &str = "record_diagnosis";
/// Largest `max_tokens` for a non-streaming call (SDK: about 10 minutes of output).
pub const MAX_NON_STREAMING_TOKENS: u32 = 21_333;

/// An API key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl ApiKey {
    /// Wraps a key and registers it for redaction.
    pub fn new(key: impl Into<String>) -> Self {
        let k = key.into().trim().to_string();
        register_secret(&k);
        Self(k)
    }

    /// Reads `ANTHROPIC_API_KEY`, else the first line of `file` if given.
    pub fn from_env_or_file(file: Option<&std::path::Path>) -> Result<Self, BackendError> {
        Self::resolve(std::env::var("ANTHROPIC_API_KEY").ok(), file)
    }

    /// The key from `env_value` (the variable's value, if set), else the first line of
    /// `file`. Empty values count as unset.
    pub fn resolve(
        env_value: Option<String>,
        file: Option<&std::path::Path>,
    ) -> Result<Self, BackendError> {
        if let Some(k) = env_value {
            if !k.trim().is_empty() {
                return Ok(Self::new(k));
            }
        }
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                BackendError::MissingKey(format!("cannot read {}: {e}", path.display()))
            })?;
            let line = text.lines().next().unwrap_or("").trim().to_string();
            if !line.is_empty() {
                return Ok(Self::new(line));
            }
        }
        Err(BackendError::MissingKey(
            "set ANTHROPIC_API_KEY or configure a key file".into(),
        ))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

/// How to ask for structured output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStrategy {
    /// `output_config.format` (JSON outputs).
    JsonOutputs,
    /// Forced `record_diagnosis` tool (Haiku 4.5, 4.x, Sonnet 5, Opus 5, Fable 5, llama.cpp).
    ForcedTool,
    /// JSON outputs, falling back to the forced tool once if the API rejects `output_config`.
    Auto,
}

/// Claude client configuration.
#[derive(Debug, Clone)]
pub struct ClaudeConfig {
    /// Base URL without `/v1` (default `https://api.anthropic.com`).
    pub base_url: String,
    /// Model id.
    pub model: String,
    /// `max_tokens` (room for thinking included).
    pub max_tokens: u32,
    /// Structured-output strategy.
    pub strategy: OutputStrategy,
    /// Per-attempt timeout, covering the whole exchange (a trickled body included).
    pub timeout: Duration,
    /// Largest answer body read (default [`super::MAX_RESPONSE_BYTES`]).
    pub max_body_bytes: usize,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Prices for the cost figure.
    pub prices: PriceTable,
    /// `Some("1h")` for the one-hour cache TTL.
    pub cache_ttl: Option<String>,
}

impl Default for ClaudeConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            model: DEFAULT_MODEL.into(),
            max_tokens: 8192,
            strategy: OutputStrategy::Auto,
            // 8192 output tokens take about 4 min at the SDK's assumed 128k tokens/hour floor.
            timeout: Duration::from_secs(300),
            max_body_bytes: super::MAX_RESPONSE_BYTES,
            retry: RetryPolicy::default(),
            prices: PriceTable::default(),
            cache_ttl: None,
        }
    }
}

/// The Claude backend.
#[derive(Debug, Clone)]
pub struct ClaudeBackend {
    cfg: ClaudeConfig,
    key: ApiKey,
    http: reqwest::Client,
}

impl ClaudeBackend {
    /// Builds the client.
    pub fn new(cfg: ClaudeConfig, key: ApiKey) -> Result<Self, BackendError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| BackendError::Transport(e.to_string()))?;
        Ok(Self { cfg, key, http })
    }

    /// The configuration.
    pub fn config(&self) -> &ClaudeConfig {
        &self.cfg
    }

    /// The request body for `prompt` (exposed for tests and dry runs).
    ///
    /// # Guarantees
    /// No `temperature`, `top_p`, `top_k` or `thinking`; the single system block carries
    /// `cache_control`; exactly one of `output_config.format` or a forced tool is present.
    pub fn request_body(&self, prompt: &PreparedPrompt, tool: bool, max_tokens: u32) -> Value {
        let mut cache = json!({"type": "ephemeral"});
        if let Some(ttl) = &self.cfg.cache_ttl {
            cache["ttl"] = json!(ttl);
        }
        let mut body = json!({
            "model": self.cfg.model,
            "max_tokens": max_tokens,
            "system": [{"type": "text", "text": prompt.system, "cache_control": cache}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": prompt.user}]}],
        });
        if tool {
            body["tools"] = json!([{
                "name": TOOL_NAME,
                "description": "Record the structured diagnosis of one ticket: observation, root cause, cited evidence, alternatives rejected and why, the recommended action from the fixed vocabulary, confidence between 0 and 1, and what would change the conclusion.",
                "input_schema": prompt.schema,
                "strict": true
            }]);
            body["tool_choice"] =
                json!({"type": "tool", "name": TOOL_NAME, "disable_parallel_tool_use": true});
        } else {
            body["output_config"] =
                json!({"format": {"type": "json_schema", "schema": prompt.schema}});
        }
        body
    }

    async fn call(&self, body: &Value) -> Result<Value, BackendError> {
        let url = format!("{}/v1/messages", self.cfg.base_url.trim_end_matches('/'));
        let bytes =
            serde_json::to_vec(body).map_err(|e| BackendError::MalformedResponse(e.to_string()))?;
        let result = send_with_retry(&self.cfg.retry, self.cfg.max_body_bytes, |_attempt| {
            self.http
                .post(&url)
                .header("x-api-key", self.key.expose())
                .header("anthropic-version", ANTHROPIC_VERSION)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(bytes.clone())
        })
        .await;
        match result {
            Ok((_, _, body)) => serde_json::from_slice(&body)
                .map_err(|e| BackendError::MalformedResponse(format!("response is not JSON: {e}"))),
            Err(SendError::Transport(t)) => Err(BackendError::Transport(t)),
            Err(SendError::Timeout(t)) => Err(BackendError::Timeout(t)),
            Err(SendError::TooLarge { limit }) => Err(BackendError::ResponseTooLarge { limit }),
            Err(SendError::Status(f)) => Err(map_failure(f)),
        }
    }
}

/// What `GET /v1/models/{id}` says about the configured model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Model id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Context window, when reported.
    pub max_input_tokens: Option<u64>,
    /// `capabilities.structured_outputs.supported`, when reported.
    pub structured_outputs: Option<bool>,
}

impl ClaudeBackend {
    /// Start-up probe: checks that the configured model exists (404 `not_found_error`
    /// otherwise) and reports whether it supports structured outputs.
    pub async fn check_model(&self) -> Result<ModelInfo, BackendError> {
        let url = format!(
            "{}/v1/models/{}",
            self.cfg.base_url.trim_end_matches('/'),
            self.cfg.model
        );
        let result = send_with_retry(&self.cfg.retry, self.cfg.max_body_bytes, |_| {
            self.http
                .get(&url)
                .header("x-api-key", self.key.expose())
                .header("anthropic-version", ANTHROPIC_VERSION)
                .header("accept", "application/json")
        })
        .await;
        let body = match result {
            Ok((_, _, b)) => b,
            Err(SendError::Transport(t)) => return Err(BackendError::Transport(t)),
            Err(SendError::Timeout(t)) => return Err(BackendError::Timeout(t)),
            Err(SendError::TooLarge { limit }) => {
                return Err(BackendError::ResponseTooLarge { limit })
            }
            Err(SendError::Status(f)) => return Err(map_failure(f)),
        };
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| BackendError::MalformedResponse(format!("model info is not JSON: {e}")))?;
        Ok(ModelInfo {
            id: v
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            display_name: v
                .get("display_name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            max_input_tokens: v.get("max_input_tokens").and_then(Value::as_u64),
            structured_outputs: v
                .pointer("/capabilities/structured_outputs/supported")
                .and_then(Value::as_bool),
        })
    }
}

/// Maps a final HTTP failure to a typed error.
pub fn map_failure(f: HttpFailure) -> BackendError {
    if is_spend_cap(&f) {
        return BackendError::SpendLimitReached(f.message);
    }
    let ty = f.error_type.clone().unwrap_or_default();
    match f.status {
        400 if f.message.contains("context") && f.message.contains("exceed") => {
            BackendError::ContextWindowExceeded(f.message)
        }
        400 | 422 => BackendError::InvalidRequest {
            status: f.status,
            message: f.message,
            request_id: f.request_id,
        },
        401 | 403 => BackendError::Authentication {
            status: f.status,
            message: f.message,
        },
        413 => BackendError::RequestTooLarge(f.message),
        429 => BackendError::RateLimited {
            retry_after: f.retry_after,
            message: f.message,
        },
        529 => BackendError::Overloaded(f.message),
        s if s >= 500 || s == 408 || s == 409 => BackendError::Server {
            status: s,
            message: f.message,
        },
        s => BackendError::Api {
            status: s,
            error_type: ty,
            message: f.message,
        },
    }
}

/// Reads a Messages API response: stop reason first, then the block of the right type.
///
/// # Guarantees
/// - `refusal` → [`BackendError::Refusal`]; `max_tokens` → [`BackendError::MaxTokens`];
///   `model_context_window_exceeded` → [`BackendError::ContextWindowExceeded`].
/// - `thinking`/`redacted_thinking` blocks are skipped; the first `text` block (JSON
///   outputs) or the `record_diagnosis` `tool_use` block (tool path) is used.
pub fn read_message(
    resp: &Value,
    tool: bool,
    max_tokens: u32,
) -> Result<(String, Usage, String), BackendError> {
    let stop = resp
        .get("stop_reason")
        .and_then(Value::as_str)
        .ok_or_else(|| BackendError::MalformedResponse("no stop_reason".into()))?;
    match stop {
        "refusal" => {
            return Err(BackendError::Refusal {
                category: resp
                    .pointer("/stop_details/category")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
        }
        "max_tokens" => return Err(BackendError::MaxTokens { max_tokens }),
        "model_context_window_exceeded" => {
            return Err(BackendError::ContextWindowExceeded(
                "stop_reason model_context_window_exceeded".into(),
            ))
        }
        "end_turn" | "tool_use" | "stop_sequence" => {}
        other => {
            return Err(BackendError::MalformedResponse(format!(
                "unexpected stop_reason {other}"
            )))
        }
    }
    let blocks = resp
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| BackendError::MalformedResponse("no content array".into()))?;
    let text = if tool {
        blocks
            .iter()
            .find(|b| {
                b.get("type").and_then(Value::as_str) == Some("tool_use")
                    && b.get("name").and_then(Value::as_str) == Some(TOOL_NAME)
            })
            .and_then(|b| b.get("input"))
            .map(|i| i.to_string())
            .ok_or_else(|| {
                BackendError::MalformedResponse(format!("no {TOOL_NAME} tool_use block"))
            })?
    } else {
        blocks
            .iter()
            .find(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .and_then(|b| b.get("text"))
            .and_then(Value::as_str)
            // Local Anthropic-compatible servers may fence the JSON or wrap it in a string.
            .map(super::openai::unwrap_model_json)
            .ok_or_else(|| BackendError::MalformedResponse("no text block".into()))?
    };
    let u = resp.get("usage").cloned().unwrap_or(Value::Null);
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let usage = Usage {
        input_tokens: n("input_tokens"),
        output_tokens: n("output_tokens"),
        cache_read: n("cache_read_input_tokens"),
        cache_creation: n("cache_creation_input_tokens"),
        cost_usd: 0.0,
        ..Default::default()
    };
    let model = resp
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok((text, usage, model))
}

#[async_trait]
impl DiagnosisBackend for ClaudeBackend {
    fn name(&self) -> &str {
        "claude"
    }

    fn model(&self) -> &str {
        &self.cfg.model
    }

    fn tool_chat(&self) -> Option<&dyn ToolChat> {
        Some(self)
    }

    async fn diagnose(&self, prompt: &PreparedPrompt) -> Result<RawDiagnosis, BackendError> {
        let mut tool = self.cfg.strategy == OutputStrategy::ForcedTool;
        let mut fell_back = false;
        let mut max_tokens = self.cfg.max_tokens;
        let mut widened = false;
        let mut total = Usage::default();
        loop {
            let body = self.request_body(prompt, tool, max_tokens);
            let resp = match self.call(&body).await {
                Err(BackendError::InvalidRequest { message, .. })
                    if self.cfg.strategy == OutputStrategy::Auto
                        && !fell_back
                        && !tool
                        && message.contains("output_config") =>
                {
                    tracing::info!("model rejects output_config; falling back to the forced tool");
                    tool = true;
                    fell_back = true;
                    continue;
                }
                other => other?,
            };
            // Usage of every billed attempt counts, the truncated one included.
            if let Some(u) = resp.get("usage") {
                let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
                total.input_tokens += n("input_tokens");
                total.output_tokens += n("output_tokens");
                total.cache_read += n("cache_read_input_tokens");
                total.cache_creation += n("cache_creation_input_tokens");
            }
            match read_message(&resp, tool, max_tokens) {
                Err(BackendError::MaxTokens { .. })
                    if !widened && max_tokens < MAX_NON_STREAMING_TOKENS =>
                {
                    widened = true;
                    max_tokens = (max_tokens.saturating_mul(2)).min(MAX_NON_STREAMING_TOKENS);
                    tracing::info!(max_tokens, "output truncated; retrying once with more room");
                    continue;
                }
                Err(e) => return Err(e),
                Ok((json_text, _, model)) => {
                    let model = if model.is_empty() {
                        self.cfg.model.clone()
                    } else {
                        model
                    };
                    total.cost_usd = self.cfg.prices.cost(&model, &total);
                    return Ok(RawDiagnosis {
                        json_text,
                        model,
                        usage: total,
                        request_id: resp.get("id").and_then(Value::as_str).map(str::to_string),
                    });
                }
            }
        }
    }
}

// ----- tool use (the investigation loop) ----------------------------------------------

/// One Messages API turn of a tool-use conversation: the first user message, then the
/// assistant's `tool_use` blocks and the `tool_result` blocks answering them (LLM
/// reference §2, §3; `examples/real_request_tool_use_sonnet_4_5.json`). Consecutive
/// turns of the same role are merged into one message (a `tool_result` message and the
/// loop's "answer now" text travel together).
fn tool_messages(prompt: &PreparedPrompt, turns: &[Turn]) -> Vec<Value> {
    let mut messages: Vec<Value> =
        vec![json!({"role": "user", "content": [{"type": "text", "text": prompt.user}]})];
    for t in turns {
        let (role, blocks): (&str, Vec<Value>) = match t {
            Turn::Assistant { text, calls, echo } => {
                // Thinking blocks go back first and unchanged, as the API requires.
                let mut b = echo.clone();
                if let Some(text) = text.as_deref().filter(|s| !s.trim().is_empty()) {
                    b.push(json!({"type": "text", "text": text}));
                }
                for c in calls {
                    b.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.input}),
                    );
                }
                ("assistant", b)
            }
            Turn::Results(rs) => (
                "user",
                rs.iter()
                    .map(|r| {
                        json!({"type": "tool_result", "tool_use_id": r.call_id,
                               "content": r.content, "is_error": r.is_error})
                    })
                    .collect(),
            ),
            Turn::User(s) => ("user", vec![json!({"type": "text", "text": s})]),
        };
        match messages.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(a) = last["content"].as_array_mut() {
                    a.extend(blocks);
                }
            }
            _ => messages.push(json!({"role": role, "content": blocks})),
        }
    }
    messages
}

impl ClaudeBackend {
    /// The request body of one investigation turn (exposed for tests).
    ///
    /// # Guarantees
    /// The tools are always declared (the API requires them once the history holds
    /// `tool_use` blocks); `tool_choice` is `auto` while tools are offered and `none` for
    /// the final answer; the answer is constrained by `output_config.format`; no
    /// `temperature`; the system block carries `cache_control`.
    pub fn tool_turn_body(
        &self,
        system: &str,
        prompt: &PreparedPrompt,
        turns: &[Turn],
        tools: &[ToolSpec],
        offer_tools: bool,
    ) -> Value {
        let mut cache = json!({"type": "ephemeral"});
        if let Some(ttl) = &self.cfg.cache_ttl {
            cache["ttl"] = json!(ttl);
        }
        json!({
            "model": self.cfg.model,
            "max_tokens": self.cfg.max_tokens,
            "system": [{"type": "text", "text": system, "cache_control": cache}],
            "messages": tool_messages(prompt, turns),
            "tools": tools.iter().map(|t| json!({
                "name": t.name, "description": t.description, "input_schema": t.parameters
            })).collect::<Vec<_>>(),
            "tool_choice": {"type": if offer_tools { "auto" } else { "none" }},
            "output_config": {"format": {"type": "json_schema", "schema": prompt.schema}},
        })
    }
}

/// Reads one tool-use turn: the stop reason first (as [`read_message`]), then the first
/// `text` block, every `tool_use` block, and the `thinking` blocks to echo back.
pub fn read_tool_turn(resp: &Value, max_tokens: u32) -> Result<ModelTurn, BackendError> {
    match resp.get("stop_reason").and_then(Value::as_str) {
        Some("refusal") => {
            return Err(BackendError::Refusal {
                category: resp
                    .pointer("/stop_details/category")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
        }
        Some("max_tokens") => return Err(BackendError::MaxTokens { max_tokens }),
        Some("model_context_window_exceeded") => {
            return Err(BackendError::ContextWindowExceeded(
                "stop_reason model_context_window_exceeded".into(),
            ))
        }
        Some("end_turn" | "tool_use" | "stop_sequence") => {}
        Some(other) => {
            return Err(BackendError::MalformedResponse(format!(
                "unexpected stop_reason {other}"
            )))
        }
        None => return Err(BackendError::MalformedResponse("no stop_reason".into())),
    }
    let blocks = resp
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| BackendError::MalformedResponse("no content array".into()))?;
    let text = blocks
        .iter()
        .find(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .and_then(|b| b.get("text"))
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .map(str::to_string);
    let mut calls = Vec::new();
    for b in blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
    {
        let (Some(id), Some(name)) = (
            b.get("id").and_then(Value::as_str),
            b.get("name").and_then(Value::as_str),
        ) else {
            return Err(BackendError::MalformedResponse(
                "a tool_use block without id or name".into(),
            ));
        };
        calls.push(Call {
            id: id.to_string(),
            name: name.to_string(),
            input: b.get("input").cloned().unwrap_or(Value::Null),
        });
    }
    let echo = blocks
        .iter()
        .filter(|b| {
            matches!(
                b.get("type").and_then(Value::as_str),
                Some("thinking" | "redacted_thinking")
            )
        })
        .cloned()
        .collect();
    let u = resp.get("usage").cloned().unwrap_or(Value::Null);
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Ok(ModelTurn {
        echo,
        text,
        calls,
        usage: Usage {
            input_tokens: n("input_tokens"),
            output_tokens: n("output_tokens"),
            cache_read: n("cache_read_input_tokens"),
            cache_creation: n("cache_creation_input_tokens"),
            ..Default::default()
        },
        model: resp
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        request_id: resp.get("id").and_then(Value::as_str).map(str::to_string),
    })
}

#[async_trait]
impl ToolChat for ClaudeBackend {
    async fn turn(
        &self,
        system: &str,
        prompt: &PreparedPrompt,
        turns: &[Turn],
        tools: &[ToolSpec],
        offer_tools: bool,
    ) -> Result<ModelTurn, BackendError> {
        let started = std::time::Instant::now();
        let body = self.tool_turn_body(system, prompt, turns, tools, offer_tools);
        let resp = self.call(&body).await?;
        let mut turn = read_tool_turn(&resp, self.cfg.max_tokens)?;
        if turn.model.is_empty() {
            turn.model = self.cfg.model.clone();
        }
        turn.usage.cost_usd = self.cfg.prices.cost(&turn.model, &turn.usage);
        turn.usage.wall_ms = started.elapsed().as_millis() as u64;
        Ok(turn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_key_debug_is_redacted() {
        let k = ApiKey::new("sk-ant-api03-debugtest-0000000000");
        assert_eq!(format!("{k:?}"), "[REDACTED]");
        let b = ClaudeBackend::new(ClaudeConfig::default(), k).unwrap();
        assert!(!format!("{b:?}").contains("debugtest"));
    }

    #[test]
    fn a_thinking_block_before_the_text_is_skipped() {
        let resp: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/llm/examples/real_response_thinking_text_opus_5.json"
        )))
        .unwrap();
        let (text, usage, model) = read_message(&resp, false, 100).unwrap();
        assert_eq!(text, "2 + 2 = 4");
        assert_eq!(usage.input_tokens, 13);
        assert_eq!(model, "claude-opus-5");
    }

    #[test]
    fn stop_reason_is_checked_before_content() {
        let refusal: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/llm/examples/response_refusal.json"
        )))
        .unwrap();
        assert_eq!(
            read_message(&refusal, false, 1).unwrap_err(),
            BackendError::Refusal {
                category: Some("cyber".into())
            }
        );
        let trunc: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/llm/examples/response_max_tokens.json"
        )))
        .unwrap();
        assert_eq!(
            read_message(&trunc, true, 2048).unwrap_err(),
            BackendError::MaxTokens { max_tokens: 2048 }
        );
    }
}
