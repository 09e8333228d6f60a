//! The OpenAI-compatible backend: `POST {base}/v1/chat/completions` with
//! `response_format: {type: json_schema, json_schema: {name, schema, strict: true}}`, for
//! local models behind Ollama, llama.cpp or vLLM (LLM reference §11).
//!
//! Local models are less disciplined than the hosted API: the JSON may arrive wrapped in
//! a ```json fence, a reasoning model puts its chain of thought in a non-standard
//! `message.reasoning` / `reasoning_content` field (ignored here: only `content` is the
//! answer), `finish_reason: length` is a truncation and `message.refusal` or
//! `finish_reason: content_filter` a refusal. Errors come in the OpenAI/Ollama shape or
//! llama.cpp's (`exceed_context_size_error`).

use super::pricing::PriceTable;
use super::transport::{send_with_retry, RetryPolicy, SendError};
use super::{BackendError, DiagnosisBackend, RawDiagnosis};
use crate::diagnose::context::PreparedPrompt;
use crate::diagnose::model::Usage;
use crate::diagnose::redact::{register_secret, REDACTED};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

/// OpenAI-compatible client configuration.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// Base URL without `/v1` (Ollama: `http://127.0.0.1:11434`).
    pub base_url: String,
    /// Model id (`qwen3:14b`).
    pub model: String,
    /// Optional bearer key (local servers accept none).
    pub api_key: Option<String>,
    /// `max_tokens`.
    pub max_tokens: u32,
    /// Per-attempt timeout, covering the whole exchange (a trickled body included).
    pub timeout: Duration,
    /// Largest answer body read (default [`super::MAX_RESPONSE_BYTES`]).
    pub max_body_bytes: usize,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Prices (local models usually have none: cost 0).
    pub prices: PriceTable,
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| REDACTED))
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:11434".into(),
            model: "qwen3:14b".into(),
            api_key: None,
            max_tokens: 4096,
            timeout: Duration::from_secs(600),
            max_body_bytes: super::MAX_RESPONSE_BYTES,
            retry: RetryPolicy::default(),
            prices: PriceTable::empty(),
        }
    }
}

/// The OpenAI-compatible backend.
#[derive(Debug, Clone)]
pub struct OpenAiBackend {
    cfg: OpenAiConfig,
    http: reqwest::Client,
}

impl OpenAiBackend {
    /// Builds the client (registers the key, if any, for redaction).
    pub fn new(cfg: OpenAiConfig) -> Result<Self, BackendError> {
        if let Some(k) = &cfg.api_key {
            register_secret(k);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| BackendError::Transport(e.to_string()))?;
        Ok(Self { cfg, http })
    }

    /// The request body (no `temperature`, no `tool_choice`: Ollama ignores it).
    pub fn request_body(&self, prompt: &PreparedPrompt) -> Value {
        json!({
            "model": self.cfg.model,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user}
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "diagnosis", "schema": prompt.schema, "strict": true}
            },
            "max_tokens": self.cfg.max_tokens,
            "stream": false
        })
    }
}

/// Strips a surrounding ```json … ``` fence and unwraps JSON-inside-a-JSON-string.
pub fn unwrap_model_json(content: &str) -> String {
    let t = content.trim();
    let t = if let Some(rest) = t.strip_prefix("```") {
        let rest = rest.strip_prefix("json").unwrap_or(rest);
        rest.trim_end().strip_suffix("```").unwrap_or(rest).trim()
    } else {
        t
    };
    if t.starts_with('"') {
        if let Ok(Value::String(inner)) = serde_json::from_str::<Value>(t) {
            return inner;
        }
    }
    t.to_string()
}

/// Reads a chat completion: finish reason and refusal first, then `message.content`.
pub fn read_completion(
    resp: &Value,
    max_tokens: u32,
) -> Result<(String, Usage, String), BackendError> {
    let choice = resp
        .pointer("/choices/0")
        .ok_or_else(|| BackendError::MalformedResponse("no choices".into()))?;
    let msg = choice.get("message").cloned().unwrap_or(Value::Null);
    if let Some(r) = msg.get("refusal").and_then(Value::as_str) {
        if !r.is_empty() {
            return Err(BackendError::Refusal { category: None });
        }
    }
    match choice.get("finish_reason").and_then(Value::as_str) {
        Some("length") => return Err(BackendError::MaxTokens { max_tokens }),
        Some("content_filter") => {
            return Err(BackendError::Refusal {
                category: Some("content_filter".into()),
            })
        }
        _ => {}
    }
    let content = msg
        .get("content")
        .and_then(Value::as_str)
        .map(unwrap_model_json)
        .or_else(|| {
            // A server that honoured a tool instead of response_format.
            msg.pointer("/tool_calls/0/function/arguments")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .ok_or_else(|| BackendError::MalformedResponse("no message content".into()))?;
    let n = |p: &str| resp.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let cached = n("/usage/prompt_tokens_details/cached_tokens");
    let usage = Usage {
        input_tokens: n("/usage/prompt_tokens").saturating_sub(cached),
        output_tokens: n("/usage/completion_tokens"),
        cache_read: cached,
        cache_creation: 0,
        cost_usd: 0.0,
    };
    let model = resp
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok((content, usage, model))
}

#[async_trait]
impl DiagnosisBackend for OpenAiBackend {
    fn name(&self) -> &str {
        "openai"
    }

    async fn diagnose(&self, prompt: &PreparedPrompt) -> Result<RawDiagnosis, BackendError> {
        let url = format!(
            "{}/v1/chat/completions",
            self.cfg.base_url.trim_end_matches('/')
        );
        let bytes = serde_json::to_vec(&self.request_body(prompt))
            .map_err(|e| BackendError::MalformedResponse(e.to_string()))?;
        let result = send_with_retry(&self.cfg.retry, self.cfg.max_body_bytes, |_| {
            let mut rb = self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(bytes.clone());
            if let Some(k) = &self.cfg.api_key {
                rb = rb.bearer_auth(k);
            }
            rb
        })
        .await;
        let body = match result {
            Ok((_, _, b)) => b,
            Err(SendError::Transport(t)) => return Err(BackendError::Transport(t)),
            Err(SendError::TooLarge { limit }) => {
                return Err(BackendError::ResponseTooLarge { limit })
            }
            Err(SendError::Status(f)) => {
                if f.error_type.as_deref() == Some("exceed_context_size_error") {
                    return Err(BackendError::ContextWindowExceeded(f.message));
                }
                return Err(super::claude::map_failure(f));
            }
        };
        let resp: Value = serde_json::from_slice(&body)
            .map_err(|e| BackendError::MalformedResponse(format!("response is not JSON: {e}")))?;
        let (json_text, mut usage, model) = read_completion(&resp, self.cfg.max_tokens)?;
        let model = if model.is_empty() {
            self.cfg.model.clone()
        } else {
            model
        };
        usage.cost_usd = self.cfg.prices.cost(&model, &usage);
        Ok(RawDiagnosis {
            json_text,
            model,
            usage,
            request_id: resp.get("id").and_then(Value::as_str).map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_and_string_wrapped_json_is_unwrapped() {
        assert_eq!(unwrap_model_json("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(unwrap_model_json("\"{\\\"a\\\":1}\""), "{\"a\":1}");
        assert_eq!(unwrap_model_json(" {\"a\":1} "), "{\"a\":1}");
    }

    #[test]
    fn the_ollama_reasoning_field_is_not_the_answer() {
        let resp: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/llm/examples/openai_real_response_ollama_reasoning.json"
        )))
        .unwrap();
        let (content, usage, model) = read_completion(&resp, 10).unwrap();
        assert_eq!(content, "51");
        assert_eq!(usage.input_tokens, 26);
        assert_eq!(usage.output_tokens, 56);
        assert_eq!(model, "qwen3.8-gsq-rco:27b-iq3_s-text");
    }
}
