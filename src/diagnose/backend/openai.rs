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
//!
//! # What a small local model needs
//!
//! `response_format` constrains the *syntax* (llama.cpp and Ollama compile the schema into
//! a grammar) but the model never reads the schema's descriptions: the server does not
//! put them in the prompt. The prompt builder therefore lists the catalog's causes and
//! the answer's fields in the system message itself (`diagnose::context`), once and
//! briefly; copying the whole schema there as well ([`OpenAiConfig::schema_in_prompt`],
//! off by default) costs thousands of prompt tokens, which a small model on a CPU reads
//! at ~100 tokens/s. The prompt's size is [`OpenAiConfig::context_tokens`]
//! (`--context-tokens`). The chat format is the server's business: llama.cpp applies the
//! GGUF's own template (`--jinja`), Ollama its Modelfile's, vLLM the tokenizer's.
//!
//! A small model also *writes* slowly (~12 tokens/s on 2 idle cores), and the full
//! answer's free text ran to 500-900 tokens. With a small budget
//! ([`AnswerMode::Auto`]: at most [`crate::diagnose::compact::COMPACT_BUDGET_MAX`]) the
//! backend asks for the compact answer instead ([`crate::diagnose::compact`]): cause,
//! confidence, cited fact ids, a bounded analysis and the action, every field closed or
//! bounded in the schema, and `max_tokens` sized from those bounds, so that the answer
//! cannot run long. The server stops generating at `max_tokens` whatever happens to the
//! client; a client that gives up earlier (a timeout) also stops the generation, since
//! llama.cpp cancels a task whose connection closed, but not the reading of a prompt
//! already under way (BENCHMARKS.md, "Local model").
//!
//! # Tools
//!
//! [`OpenAiBackend::chat`] is the general exchange: messages with tool calls and tool
//! results, `tools` offered, an optional `response_format`. It is what an investigation
//! loop drives; [`repeated_tool_call`] tells when such a loop is stuck.
//!
//! # Cost and speed
//!
//! Every answer carries its wall time (retries included) and tokens per second: the
//! server's own generation speed when it reports one (llama.cpp's `timings`), else
//! output tokens over wall time.

use super::pricing::PriceTable;
use super::transport::{send_with_retry, RetryPolicy, SendError};
use super::{BackendError, DiagnosisBackend, RawDiagnosis};
use crate::diagnose::context::PreparedPrompt;
use crate::diagnose::model::Usage;
use crate::diagnose::redact::{register_secret, REDACTED};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Sampling temperature; `None` sends none (the server's default).
    pub temperature: Option<f64>,
    /// Whether the system message also carries the output schema (see the module docs).
    pub schema_in_prompt: bool,
    /// The prompt budget, in estimated tokens (see the module docs).
    pub context_tokens: usize,
    /// `maxItems` put on every array of the answer's schema
    /// ([`crate::diagnose::context::bound_arrays`]); `None` for a server that rejects
    /// array bounds in a strict schema.
    pub max_items: Option<usize>,
    /// Which answer the model is asked for (see the module docs).
    pub answer: AnswerMode,
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
            .field("temperature", &self.temperature)
            .field("answer", &self.answer)
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
            temperature: None,
            schema_in_prompt: false,
            context_tokens: crate::diagnose::context::LOCAL_TOKEN_BUDGET,
            max_items: Some(crate::diagnose::context::LOCAL_MAX_ITEMS),
            answer: AnswerMode::Auto,
            timeout: Duration::from_secs(600),
            max_body_bytes: super::MAX_RESPONSE_BYTES,
            retry: RetryPolicy::default(),
            prices: PriceTable::empty(),
        }
    }
}

/// Which answer a model is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerMode {
    /// The compact answer when the prompt budget is at most
    /// [`crate::diagnose::compact::COMPACT_BUDGET_MAX`], the full one otherwise.
    #[default]
    Auto,
    /// Always the compact answer.
    Compact,
    /// Always the full answer.
    Full,
}

impl OpenAiConfig {
    /// Whether the model is asked for the compact answer.
    pub fn compact(&self) -> bool {
        match self.answer {
            AnswerMode::Auto => self.context_tokens <= crate::diagnose::compact::COMPACT_BUDGET_MAX,
            AnswerMode::Compact => true,
            AnswerMode::Full => false,
        }
    }
}

/// One tool call the model made (`function.arguments` is a JSON *string*).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The call id, echoed in the tool result.
    pub id: String,
    /// The function name.
    pub name: String,
    /// The arguments, as the JSON text the model wrote.
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Function name.
    pub name: String,
    /// What it does (the model reads this).
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: Value,
}

/// One chat message, in the OpenAI shape.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatMessage {
    /// The system prompt.
    System(String),
    /// A user turn.
    User(String),
    /// An assistant turn: text and/or tool calls (echoed back in a loop).
    Assistant {
        /// Its text, if any.
        content: Option<String>,
        /// Its tool calls.
        tool_calls: Vec<ToolCall>,
    },
    /// A tool's result for the call `call_id`.
    Tool {
        /// The id of the call answered.
        call_id: String,
        /// The result text.
        content: String,
    },
}

impl ChatMessage {
    fn to_json(&self) -> Value {
        match self {
            Self::System(c) => json!({"role": "system", "content": c}),
            Self::User(c) => json!({"role": "user", "content": c}),
            Self::Assistant {
                content,
                tool_calls,
            } => {
                let mut m = json!({"role": "assistant", "content": content});
                if !tool_calls.is_empty() {
                    m["tool_calls"] = tool_calls
                        .iter()
                        .map(|c| {
                            json!({"id": c.id, "type": "function",
                                   "function": {"name": c.name, "arguments": c.arguments}})
                        })
                        .collect();
                }
                m
            }
            Self::Tool { call_id, content } => {
                json!({"role": "tool", "tool_call_id": call_id, "content": content})
            }
        }
    }
}

/// A request for one chat turn.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Tools offered (none: no `tools` field).
    pub tools: Vec<ToolSpec>,
    /// `response_format`, if any.
    pub response_format: Option<Value>,
    /// `max_tokens` of this request (`None`: the configured one).
    pub max_tokens: Option<u32>,
    /// A turn cut at `max_tokens` is returned with the text written so far (a bounded
    /// turn of thinking aloud, without tool calls), not as [`BackendError::MaxTokens`].
    pub cut_is_text: bool,
    /// `tool_choice` (`None`: not sent, the server's default).
    pub tool_choice: Option<&'static str>,
}

/// The model's turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatTurn {
    /// Its text (fences and string-wrapping undone), if any.
    pub content: Option<String>,
    /// Its tool calls, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens, cost, wall time and speed of this turn.
    pub usage: Usage,
    /// The model id that answered.
    pub model: String,
    /// The completion id.
    pub request_id: Option<String>,
}

/// The OpenAI-compatible backend.
#[derive(Debug, Clone)]
pub struct OpenAiBackend {
    cfg: OpenAiConfig,
    http: reqwest::Client,
    /// Whether the server has answered as llama.cpp (its `timings` object), which
    /// honours `tool_choice: none`; Ollama ignores `tool_choice` (LLM reference §11.3).
    llama_cpp: Arc<AtomicBool>,
}

/// The `response_format` that constrains the answer to `schema` (strict).
pub fn json_schema_format(name: &str, schema: &Value) -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": true}
    })
}

/// The system message with the output schema appended (see the module docs).
pub fn system_with_schema(system: &str, schema: &Value) -> String {
    format!(
        "{system}\n\n# Output schema\nAnswer with exactly one JSON object that validates against this JSON Schema (the descriptions say what each field means):\n{schema}\n"
    )
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
        Ok(Self {
            cfg,
            http,
            llama_cpp: Arc::default(),
        })
    }

    /// Remembers whether the server answers as llama.cpp (a `timings` object in the
    /// completion).
    pub fn note_server(&self, resp: &Value) {
        if resp.get("timings").is_some_and(Value::is_object) {
            self.llama_cpp.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the server is known to honour `tool_choice: none` (llama.cpp).
    pub fn honours_tool_choice(&self) -> bool {
        self.llama_cpp.load(Ordering::Relaxed)
    }

    /// The configuration.
    pub fn config(&self) -> &OpenAiConfig {
        &self.cfg
    }

    /// The diagnosis request: system and user turns, the prompt's answer schema as a
    /// strict `response_format`, and the compact answer's `max_tokens` when the prompt
    /// asks for it. No `tool_choice` (Ollama ignores it).
    pub fn diagnosis_request(&self, prompt: &PreparedPrompt) -> ChatRequest {
        let system = if self.cfg.schema_in_prompt {
            system_with_schema(&prompt.system, prompt.answer_schema())
        } else {
            prompt.system.clone()
        };
        ChatRequest {
            messages: vec![
                ChatMessage::System(system),
                ChatMessage::User(prompt.user.clone()),
            ],
            tools: vec![],
            response_format: Some(json_schema_format("diagnosis", &self.answer_schema(prompt))),
            max_tokens: self.answer_max_tokens(prompt),
            cut_is_text: false,
            tool_choice: None,
        }
    }

    /// The schema the server enforces: the compact answer's when the prompt asks for it
    /// (bounded already), else the prompt's, with arrays bounded when configured.
    pub fn answer_schema(&self, prompt: &PreparedPrompt) -> Value {
        if let Some(c) = &prompt.compact {
            return c.schema.clone();
        }
        match self.cfg.max_items {
            Some(n) => crate::diagnose::context::bound_arrays(&prompt.schema, n),
            None => prompt.schema.clone(),
        }
    }

    /// `max_tokens` of the answer to `prompt`: the compact answer's bound (never above
    /// the configured one), or `None` for the configured one.
    pub fn answer_max_tokens(&self, prompt: &PreparedPrompt) -> Option<u32> {
        prompt
            .compact
            .as_ref()
            .map(|c| c.max_tokens.min(self.cfg.max_tokens))
    }

    /// The wire body of a chat request.
    pub fn body(&self, req: &ChatRequest) -> Value {
        let mut b = json!({
            "model": self.cfg.model,
            "messages": req.messages.iter().map(ChatMessage::to_json).collect::<Vec<_>>(),
            "max_tokens": req.max_tokens.unwrap_or(self.cfg.max_tokens),
            "stream": false
        });
        if let Some(t) = self.cfg.temperature {
            b["temperature"] = json!(t);
        }
        if let Some(rf) = &req.response_format {
            b["response_format"] = rf.clone();
        }
        if let Some(c) = req.tool_choice {
            b["tool_choice"] = json!(c);
        }
        if !req.tools.is_empty() {
            b["tools"] = req
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect();
        }
        b
    }

    /// The request body of a diagnosis.
    pub fn request_body(&self, prompt: &PreparedPrompt) -> Value {
        self.body(&self.diagnosis_request(prompt))
    }

    /// One chat turn: sends `req`, returns the model's text and tool calls with usage,
    /// wall time and speed.
    pub async fn chat(&self, req: &ChatRequest) -> Result<ChatTurn, BackendError> {
        let url = format!(
            "{}/v1/chat/completions",
            self.cfg.base_url.trim_end_matches('/')
        );
        let bytes = serde_json::to_vec(&self.body(req))
            .map_err(|e| BackendError::MalformedResponse(e.to_string()))?;
        let started = Instant::now();
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
        let wall = started.elapsed();
        let body = match result {
            Ok((_, _, b)) => b,
            Err(SendError::Transport(t)) => return Err(BackendError::Transport(t)),
            Err(SendError::Timeout(t)) => return Err(BackendError::Timeout(t)),
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
        let mut resp: Value = serde_json::from_slice(&body)
            .map_err(|e| BackendError::MalformedResponse(format!("response is not JSON: {e}")))?;
        self.note_server(&resp);
        if req.cut_is_text {
            cut_as_text(&mut resp);
        }
        let mut turn = read_turn(&resp, req.max_tokens.unwrap_or(self.cfg.max_tokens))?;
        if turn.model.is_empty() {
            turn.model = self.cfg.model.clone();
        }
        turn.usage.cost_usd = self.cfg.prices.cost(&turn.model, &turn.usage);
        turn.usage.wall_ms = wall.as_millis() as u64;
        if turn.usage.output_tokens_per_s == 0.0 && wall > Duration::ZERO {
            turn.usage.output_tokens_per_s = turn.usage.output_tokens as f64 / wall.as_secs_f64();
        }
        Ok(turn)
    }
}

/// The most tokens a small model (a compact prompt) may write in a turn that offers
/// tools: a call in Qwen's or Llama's tool-call format (`{"name": "pd_get",
/// "arguments": {"path": "stores"}}` and its tags) takes 25-40. Anything longer is the
/// model thinking aloud or, as Qwen2.5-Coder 1.5B did on every ticket of the eval, writing
/// its answer without the grammar (~140 tokens, which a limit of 128 cut just before its
/// end, so it was written again under the grammar). Both are cut here and followed by the
/// answer in the schema: 48 tokens cost the 1.5B model ~4 s on 2 cores, 128 cost it ~10 s
/// (BENCHMARKS.md).
pub const THINKING_MAX_TOKENS: u32 = 48;

/// A completion cut at `max_tokens` read as a finished turn of text: its finish reason
/// becomes `stop` and its tool calls (cut mid-way, so unusable) are dropped.
fn cut_as_text(resp: &mut Value) {
    if let Some(choice) = resp.pointer_mut("/choices/0") {
        if choice.get("finish_reason").and_then(Value::as_str) == Some("length") {
            choice["finish_reason"] = Value::from("stop");
            if let Some(m) = choice.get_mut("message").and_then(Value::as_object_mut) {
                m.remove("tool_calls");
            }
        }
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

/// Reads a chat completion into a [`ChatTurn`]: finish reason and refusal first, then
/// `message.content` and `message.tool_calls`, usage, and llama.cpp's `timings` when
/// present (wall time is the caller's).
pub fn read_turn(resp: &Value, max_tokens: u32) -> Result<ChatTurn, BackendError> {
    let choice = resp
        .pointer("/choices/0")
        .ok_or_else(|| BackendError::MalformedResponse("no choices".into()))?;
    let msg = choice.get("message").cloned().unwrap_or(Value::Null);
    if !msg.is_object() {
        return Err(BackendError::MalformedResponse("no message object".into()));
    }
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
    let content = match msg.get("content") {
        None | Some(Value::Null) => None,
        // Ollama sends `""` beside tool calls: no text.
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(unwrap_model_json(s)),
        Some(_) => {
            return Err(BackendError::MalformedResponse(
                "message content is not a string".into(),
            ))
        }
    };
    let mut tool_calls = Vec::new();
    if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
        for c in calls {
            let name = c.pointer("/function/name").and_then(Value::as_str);
            let args = c.pointer("/function/arguments");
            let (Some(name), Some(args)) = (name, args) else {
                return Err(BackendError::MalformedResponse(
                    "a tool call without function name or arguments".into(),
                ));
            };
            tool_calls.push(ToolCall {
                id: c
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                name: name.to_string(),
                // A string of JSON per the spec; some servers send the object itself.
                arguments: args
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| args.to_string()),
            });
        }
    }
    let n = |p: &str| resp.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let cached = n("/usage/prompt_tokens_details/cached_tokens");
    let usage = Usage {
        input_tokens: n("/usage/prompt_tokens").saturating_sub(cached),
        output_tokens: n("/usage/completion_tokens"),
        cache_read: cached,
        cache_creation: 0,
        cost_usd: 0.0,
        wall_ms: 0,
        output_tokens_per_s: resp
            .pointer("/timings/predicted_per_second")
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite() && *v > 0.0)
            .unwrap_or(0.0),
    };
    Ok(ChatTurn {
        content,
        tool_calls,
        usage,
        model: resp
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        request_id: resp.get("id").and_then(Value::as_str).map(str::to_string),
    })
}

/// Reads a chat completion as a diagnosis answer: `(json text, usage, model)`. The text
/// is `message.content`, or the first tool call's arguments from a server that honoured
/// a tool instead of `response_format`.
pub fn read_completion(
    resp: &Value,
    max_tokens: u32,
) -> Result<(String, Usage, String), BackendError> {
    let turn = read_turn(resp, max_tokens)?;
    let text = turn
        .content
        .or_else(|| turn.tool_calls.into_iter().next().map(|c| c.arguments))
        .ok_or_else(|| BackendError::MalformedResponse("no message content".into()))?;
    Ok((text, turn.usage, turn.model))
}

/// The first call in `calls` that repeats an earlier one (same name, same arguments as
/// JSON values), as [`BackendError::RepeatedToolCall`]: an investigation loop that asks
/// the same question again learns nothing new and must stop.
pub fn repeated_tool_call(calls: &[ToolCall]) -> Option<BackendError> {
    let key = |c: &ToolCall| {
        let args = serde_json::from_str::<Value>(&c.arguments)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| c.arguments.trim().to_string());
        (c.name.clone(), args)
    };
    let mut seen = std::collections::HashMap::new();
    for c in calls {
        let n = seen.entry(key(c)).or_insert(0u32);
        *n += 1;
        if *n > 1 {
            return Some(BackendError::RepeatedToolCall {
                name: c.name.clone(),
                times: *n,
            });
        }
    }
    None
}

#[async_trait]
impl DiagnosisBackend for OpenAiBackend {
    fn name(&self) -> &str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.cfg.model
    }

    fn tool_chat(&self) -> Option<&dyn crate::diagnose::investigate::ToolChat> {
        Some(self)
    }

    fn context_tokens(&self) -> Option<usize> {
        Some(self.cfg.context_tokens)
    }

    fn compact_answer(&self) -> bool {
        self.cfg.compact()
    }

    async fn diagnose(&self, prompt: &PreparedPrompt) -> Result<RawDiagnosis, BackendError> {
        let turn = self.chat(&self.diagnosis_request(prompt)).await?;
        let json_text = turn
            .content
            .or_else(|| turn.tool_calls.into_iter().next().map(|c| c.arguments))
            .ok_or_else(|| BackendError::MalformedResponse("no message content".into()))?;
        Ok(RawDiagnosis {
            json_text,
            model: turn.model,
            usage: turn.usage,
            request_id: turn.request_id,
        })
    }
}

// ----- tool use (the investigation loop) ----------------------------------------------

impl OpenAiBackend {
    /// The chat request of one investigation turn (LLM reference §11.1): system (with
    /// the schema when [`OpenAiConfig::schema_in_prompt`]) and user messages, then each
    /// assistant turn with its `tool_calls` (arguments as a JSON string) and one
    /// `role: tool` message per result. While tools are offered there is no
    /// `response_format` (llama.cpp cannot combine a grammar with tool calls); the final
    /// turn offers no tools and constrains the answer to the prompt's answer schema
    /// (compact or full, arrays bounded as in a single shot), with its `max_tokens`;
    /// on llama.cpp it keeps the tools with `tool_choice: none` so that the prompt's
    /// prefix, and so the server's prompt cache, is unchanged.
    pub fn tool_turn_request(
        &self,
        system: &str,
        prompt: &PreparedPrompt,
        turns: &[crate::diagnose::investigate::Turn],
        tools: &[ToolSpec],
        offer_tools: bool,
    ) -> ChatRequest {
        use crate::diagnose::investigate::Turn;
        let system = if self.cfg.schema_in_prompt {
            system_with_schema(system, prompt.answer_schema())
        } else {
            system.to_string()
        };
        let mut messages = vec![
            ChatMessage::System(system),
            ChatMessage::User(prompt.user.clone()),
        ];
        for t in turns {
            match t {
                Turn::Assistant { text, calls, .. } => messages.push(ChatMessage::Assistant {
                    content: text.clone(),
                    tool_calls: calls
                        .iter()
                        .map(|c| ToolCall {
                            id: c.id.clone(),
                            name: c.name.clone(),
                            arguments: c.input.to_string(),
                        })
                        .collect(),
                }),
                Turn::Results(rs) => messages.extend(rs.iter().map(|r| ChatMessage::Tool {
                    call_id: r.call_id.clone(),
                    content: r.content.clone(),
                })),
                Turn::User(s) => messages.push(ChatMessage::User(s.clone())),
            }
        }
        // The final turn keeps the tools, with `tool_choice: none`, on a server known to
        // honour it (llama.cpp): the chat template renders the tools into the prompt's
        // prefix, so dropping them would make the server read the whole conversation
        // again (~40 s for a small model on 2 cores) instead of the few new tokens.
        let keep_tools = !offer_tools && self.honours_tool_choice();
        ChatRequest {
            messages,
            tools: if offer_tools || keep_tools {
                tools.to_vec()
            } else {
                vec![]
            },
            tool_choice: keep_tools.then_some("none"),
            response_format: (!offer_tools)
                .then(|| json_schema_format("diagnosis", &self.answer_schema(prompt))),
            // A small model's tool turns are bounded too: it may think aloud for
            // THINKING_MAX_TOKENS, then it is asked for the answer in the schema.
            max_tokens: match (offer_tools, prompt.compact.is_some()) {
                (true, true) => Some(THINKING_MAX_TOKENS),
                (true, false) => None,
                (false, _) => self.answer_max_tokens(prompt),
            },
            cut_is_text: offer_tools && prompt.compact.is_some(),
        }
    }
}

#[async_trait]
impl crate::diagnose::investigate::ToolChat for OpenAiBackend {
    async fn turn(
        &self,
        system: &str,
        prompt: &PreparedPrompt,
        turns: &[crate::diagnose::investigate::Turn],
        tools: &[ToolSpec],
        offer_tools: bool,
    ) -> Result<crate::diagnose::investigate::ModelTurn, BackendError> {
        let req = self.tool_turn_request(system, prompt, turns, tools, offer_tools);
        let turn = self.chat(&req).await?;
        let calls = turn
            .tool_calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| crate::diagnose::investigate::Call {
                id: if c.id.is_empty() {
                    format!("call_{}_{i}", turns.len())
                } else {
                    c.id
                },
                name: c.name,
                // Not JSON: kept as the string the model wrote; the loop refuses it.
                input: serde_json::from_str(&c.arguments).unwrap_or(Value::String(c.arguments)),
            })
            .collect();
        Ok(crate::diagnose::investigate::ModelTurn {
            text: turn.content,
            calls,
            usage: turn.usage,
            model: turn.model,
            request_id: turn.request_id,
            echo: vec![],
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

    #[test]
    fn tool_calls_and_tool_results_travel_in_the_openai_shape() {
        let b = OpenAiBackend::new(OpenAiConfig::default()).unwrap();
        let call = ToolCall {
            id: "call_1".into(),
            name: "metrics".into(),
            arguments: r#"{"store":4}"#.into(),
        };
        let req = ChatRequest {
            messages: vec![
                ChatMessage::System("s".into()),
                ChatMessage::User("u".into()),
                ChatMessage::Assistant {
                    content: None,
                    tool_calls: vec![call],
                },
                ChatMessage::Tool {
                    call_id: "call_1".into(),
                    content: "42".into(),
                },
            ],
            tools: vec![ToolSpec {
                name: "metrics".into(),
                description: "d".into(),
                parameters: json!({"type": "object"}),
            }],
            response_format: None,
            max_tokens: None,
            cut_is_text: false,
            tool_choice: None,
        };
        let body = b.body(&req);
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["tools"][0]["function"]["name"], "metrics");
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["arguments"],
            r#"{"store":4}"#
        );
        assert_eq!(body["messages"][3]["role"], "tool");
        assert_eq!(body["messages"][3]["tool_call_id"], "call_1");
        assert!(body.get("response_format").is_none() && body.get("temperature").is_none());
        let resp: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/llm/examples/openai_chat_response.json"
        )))
        .unwrap();
        let turn = read_turn(&resp, 100).unwrap();
        assert_eq!(turn.tool_calls.len(), 1);
        assert!(serde_json::from_str::<Value>(&turn.tool_calls[0].arguments).is_ok());
    }

    #[test]
    fn llama_cpp_timings_give_the_generation_speed() {
        let resp = json!({
            "choices": [{"message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 300},
            "timings": {"prompt_ms": 4000.0, "predicted_ms": 12000.0, "predicted_per_second": 25.0}
        });
        let turn = read_turn(&resp, 1000).unwrap();
        assert_eq!(turn.usage.input_tokens, 900);
        assert_eq!(turn.usage.output_tokens, 300);
        assert_eq!(turn.usage.output_tokens_per_s, 25.0);
    }

    #[test]
    fn the_diagnosis_request_carries_the_prompt_schema_strictly_and_in_the_system_message() {
        let b = OpenAiBackend::new(OpenAiConfig {
            temperature: Some(0.0),
            ..Default::default()
        })
        .unwrap();
        let schema = json!({"type": "object", "properties": {"cause": {"enum": ["disk-full"]}}});
        let body = b.body(&ChatRequest {
            messages: vec![ChatMessage::System(system_with_schema("sys", &schema))],
            tools: vec![],
            response_format: Some(json_schema_format("diagnosis", &schema)),
            max_tokens: None,
            cut_is_text: false,
            tool_choice: None,
        });
        assert_eq!(body["response_format"]["json_schema"]["schema"], schema);
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
        assert_eq!(body["temperature"], 0.0);
        let sys = body["messages"][0]["content"].as_str().unwrap();
        assert!(sys.starts_with("sys") && sys.contains("disk-full"), "{sys}");
    }

    #[test]
    fn the_same_call_twice_is_a_repeated_tool_call_whatever_the_key_order() {
        let c = |args: &str| ToolCall {
            id: String::new(),
            name: "logs".into(),
            arguments: args.into(),
        };
        assert_eq!(
            repeated_tool_call(&[c(r#"{"a":1,"b":2}"#), c(r#"{"a":2}"#)]),
            None
        );
        assert_eq!(
            repeated_tool_call(&[
                c(r#"{"a":1,"b":2}"#),
                c(r#"{"a":2}"#),
                c(r#"{"b":2,"a":1}"#)
            ]),
            Some(BackendError::RepeatedToolCall {
                name: "logs".into(),
                times: 2
            })
        );
    }
}
