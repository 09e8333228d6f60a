//! Local stand-ins for the Anthropic Messages API and an OpenAI-compatible chat
//! completions server, for tests and offline demos.
//!
//! # Why a stand-in, and how faithful
//!
//! The real API cannot be called from tests (no key, no network, cost). The stand-in
//! speaks the wire format of the LLM reference exactly (§13): it checks headers in the
//! API's order (`x-api-key` missing / wrong / doubled with `Authorization` → 401,
//! `anthropic-version` missing → 400), checks the body (`model`, `max_tokens`, `messages`
//! required; `temperature` and forced `tool_choice` rejected on models that reject them),
//! answers with fresh `msg_…`/`toolu_…`/`req_…` ids, the `anthropic-ratelimit-*` headers,
//! `x-should-retry`, realistic `usage` (prompt caching simulated: the first request with a
//! `cache_control` system prompt writes the cache, later ones read it), and a leading
//! `thinking` block on thinking models. Faults are scripted per request ([`Reply`]).
//! Every request is recorded for assertions.
//!
//! Bind address is always `127.0.0.1:0`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use parking_lot::Mutex;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A scripted answer for one Messages API request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with the configured diagnosis (text block for `output_config`, `tool_use` for the
    /// forced tool). `thinking` adds a leading thinking block.
    Success {
        /// Leading thinking block.
        thinking: bool,
    },
    /// 200 with this exact output object (instead of the configured one).
    SuccessWith(Value),
    /// 200, `end_turn`, text block holding this (malformed) text.
    MalformedText(String),
    /// 200, `stop_reason: refusal`, empty content.
    Refusal,
    /// 200, `stop_reason: max_tokens`, truncated content.
    MaxTokens,
    /// An error status with an Anthropic error body.
    Error {
        /// HTTP status.
        status: u16,
        /// `error.type`.
        error_type: String,
        /// `error.message`.
        message: String,
        /// `retry-after` header value.
        retry_after: Option<String>,
        /// `x-should-retry` override (default: true for 408/409/429/5xx).
        should_retry: Option<bool>,
        /// `error.details`.
        details: Option<Value>,
        /// Cloudflare shape: no top-level `type`, no `request_id` (413).
        cloudflare: bool,
    },
    /// A non-JSON (HTML) error body, as from a proxy.
    Html(u16),
    /// 200, `stop_reason: tool_use`: the model calls these tools (name, input), each in
    /// a `tool_use` block with a fresh `toolu_…` id, after an optional text block. When
    /// the request offers no callable tool (`tool_choice: none`, or no `tools`) a model
    /// cannot call one: the configured diagnosis is answered instead.
    ToolUse {
        /// Text before the calls.
        text: Option<String>,
        /// The calls.
        calls: Vec<(String, Value)>,
    },
    /// Wait, then answer with the inner reply.
    Delay(Duration, Box<Reply>),
}

impl Reply {
    fn error(status: u16, ty: &str, msg: &str) -> Self {
        Reply::Error {
            status,
            error_type: ty.into(),
            message: msg.into(),
            retry_after: None,
            should_retry: None,
            details: None,
            cloudflare: false,
        }
    }
    /// 400 invalid_request_error.
    pub fn bad_request(msg: &str) -> Self {
        Self::error(400, "invalid_request_error", msg)
    }
    /// 401 authentication_error.
    pub fn unauthorized() -> Self {
        Self::error(401, "authentication_error", "invalid x-api-key")
    }
    /// 413 from Cloudflare.
    pub fn too_large() -> Self {
        Reply::Error {
            status: 413,
            error_type: "request_too_large".into(),
            message: "Request exceeds the maximum size".into(),
            retry_after: None,
            should_retry: None,
            details: None,
            cloudflare: true,
        }
    }
    /// 429 rate_limit_error with `retry-after`.
    pub fn rate_limited(retry_after: &str) -> Self {
        Reply::Error {
            status: 429,
            error_type: "rate_limit_error".into(),
            message: "This request would exceed your account's rate limit. Please try again later."
                .into(),
            retry_after: Some(retry_after.into()),
            should_retry: None,
            details: None,
            cloudflare: false,
        }
    }
    /// The monthly spend-cap 429: no `retry-after`, `details.error_code`.
    pub fn spend_limit() -> Self {
        Reply::Error {
            status: 429,
            error_type: "rate_limit_error".into(),
            message: "You have reached your API usage limits: your organization has crossed its monthly API usage threshold, set based on your organization's API tier. You will regain access on 2026-12-01 at 00:00 UTC.".into(),
            retry_after: None,
            should_retry: None,
            details: Some(json!({"error_code": "enforced_spend_limit_reached"})),
            cloudflare: false,
        }
    }
    /// 500 api_error.
    pub fn server_error() -> Self {
        Self::error(500, "api_error", "Internal server error")
    }
    /// 529 overloaded_error (with `"details": null`, as sometimes seen).
    pub fn overloaded() -> Self {
        Reply::Error {
            status: 529,
            error_type: "overloaded_error".into(),
            message: "Overloaded".into(),
            retry_after: None,
            should_retry: None,
            details: Some(Value::Null),
            cloudflare: false,
        }
    }
}

/// A scripted answer for one chat-completions request.
#[derive(Debug, Clone)]
pub enum OpenAiReply {
    /// 200 with the configured output as `message.content`; `reasoning` adds Ollama's
    /// non-standard `message.reasoning`; `fenced` wraps the JSON in ```json.
    Success {
        /// Add `message.reasoning`.
        reasoning: bool,
        /// Wrap in a code fence.
        fenced: bool,
    },
    /// 200 with this content string.
    Content(String),
    /// 200, `finish_reason: length`.
    Length,
    /// 200 with `message.refusal`.
    Refusal,
    /// Ollama-shaped error.
    Error {
        /// HTTP status.
        status: u16,
        /// `error.type`.
        error_type: String,
        /// `error.message`.
        message: String,
    },
    /// llama.cpp context overflow (`exceed_context_size_error`).
    ContextTooLong,
    /// 200, `finish_reason: tool_calls`: the model calls these tools (name, arguments),
    /// with `arguments` as a JSON string and `content: ""` (Ollama's shape). Without
    /// `tools` in the request the model cannot call one: the configured diagnosis is
    /// answered instead.
    ToolCalls(Vec<(String, Value)>),
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Path (`/v1/messages`).
    pub path: String,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Raw body text.
    pub body: String,
}

impl RecordedRequest {
    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The body as JSON (Null if not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Stand-in configuration.
#[derive(Debug, Clone)]
pub struct StandinConfig {
    /// The API key the stand-in accepts.
    pub api_key: String,
    /// The diagnosis object returned on success.
    pub output: Value,
    /// Models that reject `output_config` (to exercise the forced-tool fallback).
    pub models_without_json_outputs: Vec<String>,
    /// Model ids answered with 404 `model: <id>`.
    pub unknown_models: Vec<String>,
}

impl Default for StandinConfig {
    fn default() -> Self {
        Self {
            api_key: "sk-ant-api03-standin-test-key-0000000000000000".into(),
            output: json!({}),
            models_without_json_outputs: vec![],
            unknown_models: vec![],
        }
    }
}

struct StandinState {
    cfg: StandinConfig,
    script: Mutex<VecDeque<Reply>>,
    openai_script: Mutex<VecDeque<OpenAiReply>>,
    requests: Mutex<Vec<RecordedRequest>>,
    cached_prefixes: Mutex<HashSet<String>>,
}

/// A running stand-in server. Stops when dropped.
pub struct Standin {
    addr: SocketAddr,
    state: Arc<StandinState>,
    stop: CancellationToken,
}

impl Drop for Standin {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn fresh_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let tail: String = (0..24)
        .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

fn resolve_model(m: &str) -> String {
    match m {
        "claude-sonnet-4-5" => "claude-sonnet-4-5-20250929".into(),
        "claude-haiku-4-5" => "claude-haiku-4-5-20251001".into(),
        "claude-opus-4-5" => "claude-opus-4-5-20251101".into(),
        other => other.into(),
    }
}

/// `claude-sonnet-4-5-20250929` → (4, 5); `claude-fable-5-1` → (5, 1); `claude-opus-5` → (5, 0).
fn model_version(m: &str) -> (u32, u32) {
    let mut nums = m
        .trim_start_matches("claude-")
        .split('-')
        .skip(1)
        .map_while(|p| p.parse::<u32>().ok().filter(|n| *n < 100));
    (nums.next().unwrap_or(0), nums.next().unwrap_or(0))
}

/// Models that reject `temperature` (LLM reference §4.3): Opus 4.7/4.8, Fable/Mythos and
/// the 5.1/5.5 generation.
fn rejects_temperature(m: &str) -> bool {
    let v = model_version(m);
    m.contains("fable")
        || m.contains("mythos")
        || v == (4, 7)
        || v == (4, 8)
        || v == (5, 5)
        || v == (5, 1)
}

/// Models that reject forced `tool_choice` (LLM reference §4.2): the 5.1 and 5.5 generation.
fn rejects_forced_tool(m: &str) -> bool {
    matches!(model_version(m), (5, 5) | (5, 1))
}

/// Models that put a thinking block first by default (the 5.x generation).
fn thinks_by_default(m: &str) -> bool {
    model_version(m).0 >= 5
}

/// The API's request size limit (32 MB); above it Cloudflare answers 413.
const MAX_BODY: usize = 32 * 1024 * 1024;

fn anthropic_headers(status: u16, should_retry: Option<bool>) -> HeaderMap {
    let mut h = HeaderMap::new();
    let ins = |h: &mut HeaderMap, k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    ins(&mut h, "content-type", "application/json".into());
    ins(&mut h, "request-id", fresh_id("req_011C"));
    let reset = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    for (k, limit, remaining) in [
        ("requests", "1000", "999"),
        ("tokens", "96000", "90000"),
        ("input-tokens", "80000", "76000"),
        ("output-tokens", "16000", "16000"),
    ] {
        let base = format!("anthropic-ratelimit-{k}");
        for (suffix, v) in [
            ("limit", limit),
            ("remaining", remaining),
            ("reset", reset.as_str()),
        ] {
            if let (Ok(name), Ok(val)) = (
                http::HeaderName::from_bytes(format!("{base}-{suffix}").as_bytes()),
                HeaderValue::from_str(v),
            ) {
                h.insert(name, val);
            }
        }
    }
    if status >= 400 {
        let retry = should_retry.unwrap_or(matches!(status, 408 | 409 | 429) || status >= 500);
        ins(&mut h, "x-should-retry", retry.to_string());
    }
    h
}

fn anthropic_error(status: u16, ty: &str, msg: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": ty, "message": msg}, "request_id": fresh_id("req_011C")});
    let sc = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (sc, anthropic_headers(status, None), body.to_string()).into_response()
}

fn estimate(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

async fn messages(
    State(st): State<Arc<StandinState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_BODY {
        let b = json!({"error": {"type": "request_too_large", "message": "Request exceeds the maximum size"}});
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            [("content-type", "application/json")],
            b.to_string(),
        )
            .into_response();
    }
    let text = String::from_utf8_lossy(&body).to_string();
    st.requests.lock().push(RecordedRequest {
        path: "/v1/messages".into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: text.clone(),
    });
    // Header checks, in the API's order.
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    let bearer = headers.get("authorization").is_some();
    match key {
        None if !bearer => {
            return anthropic_error(401, "authentication_error", "x-api-key header is required")
        }
        Some(_) if bearer => {
            return anthropic_error(401, "authentication_error", "invalid x-api-key")
        }
        Some(k) if k != st.cfg.api_key => {
            return anthropic_error(401, "authentication_error", "invalid x-api-key")
        }
        _ => {}
    }
    if headers.get("anthropic-version").is_none() {
        return anthropic_error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    // Body checks.
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return anthropic_error(
                400,
                "invalid_request_error",
                "There was an issue with the format of your request: invalid JSON",
            )
        }
    };
    for f in ["model", "max_tokens", "messages"] {
        if req.get(f).is_none() {
            return anthropic_error(
                400,
                "invalid_request_error",
                &format!("{f}: Field required"),
            );
        }
    }
    let model = req["model"].as_str().unwrap_or("").to_string();
    if st.cfg.unknown_models.contains(&model) {
        return anthropic_error(404, "not_found_error", &format!("model: {model}"));
    }
    if req.get("temperature").is_some() && rejects_temperature(&model) {
        return anthropic_error(
            400,
            "invalid_request_error",
            "temperature: this parameter is not supported for this model.",
        );
    }
    let forced = matches!(
        req.pointer("/tool_choice/type").and_then(Value::as_str),
        Some("tool" | "any")
    );
    if forced && rejects_forced_tool(&model) {
        return anthropic_error(
            400,
            "invalid_request_error",
            "tool_choice: type \"tool\" and \"any\" are not supported for this model.",
        );
    }
    let json_outputs = req.pointer("/output_config/format").is_some();
    if json_outputs && st.cfg.models_without_json_outputs.contains(&model) {
        return anthropic_error(
            400,
            "invalid_request_error",
            "output_config.format: structured outputs are not supported for this model.",
        );
    }
    if let Err(msg) = check_tool_history(&req).and_then(|()| {
        if thinks_by_default(&model) {
            check_thinking_echoed(&req)
        } else {
            Ok(())
        }
    }) {
        return anthropic_error(400, "invalid_request_error", &msg);
    }
    let mut reply = st.script.lock().pop_front().unwrap_or(Reply::Success {
        thinking: thinks_by_default(&model),
    });
    while let Reply::Delay(d, inner) = reply {
        tokio::time::sleep(d).await;
        reply = *inner;
    }
    let callable = req
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty())
        && req.pointer("/tool_choice/type").and_then(Value::as_str) != Some("none");
    if matches!(reply, Reply::ToolUse { .. }) && !callable {
        reply = Reply::Success {
            thinking: thinks_by_default(&model),
        };
    }
    // Usage, with simulated prompt caching of the system prefix.
    let system_text = req.get("system").map(|s| s.to_string()).unwrap_or_default();
    let cached = req.pointer("/system/0/cache_control").is_some()
        || req
            .get("system")
            .and_then(Value::as_array)
            .map(|a| a.iter().any(|b| b.get("cache_control").is_some()))
            .unwrap_or(false);
    let sys_tokens = estimate(&system_text)
        + req
            .get("tools")
            .map(|t| estimate(&t.to_string()))
            .unwrap_or(0);
    let msg_tokens = estimate(&req["messages"].to_string());
    let (input, cache_write, cache_read) = if cached {
        let mut seen = st.cached_prefixes.lock();
        if seen.insert(system_text.clone()) {
            (msg_tokens, sys_tokens, 0)
        } else {
            (msg_tokens, 0, sys_tokens)
        }
    } else {
        (msg_tokens + sys_tokens, 0, 0)
    };
    let usage = |out: u64| {
        json!({
            "input_tokens": input,
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
            "cache_creation": {"ephemeral_5m_input_tokens": cache_write, "ephemeral_1h_input_tokens": 0},
            "output_tokens": out,
            "service_tier": "standard"
        })
    };
    let message = |content: Value, stop: &str, out: u64, stop_details: Value| {
        json!({
            "id": fresh_id("msg_011C"),
            "type": "message",
            "role": "assistant",
            "model": resolve_model(&model),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": null,
            "stop_details": stop_details,
            "usage": usage(out)
        })
    };
    let thinking_block =
        || json!({"type": "thinking", "thinking": "", "signature": fresh_id("EqQBCkgIARABGAIiQ")});
    let answer = |output: &Value, thinking: bool| {
        let mut content = vec![];
        if thinking && !forced {
            content.push(thinking_block());
        }
        let (block, stop) = if json_outputs || !forced {
            (
                json!({"type": "text", "text": output.to_string()}),
                "end_turn",
            )
        } else {
            let name = req
                .pointer("/tool_choice/name")
                .and_then(Value::as_str)
                .unwrap_or("record_diagnosis");
            (
                json!({"type": "tool_use", "id": fresh_id("toolu_01"), "name": name, "input": output}),
                "tool_use",
            )
        };
        content.push(block);
        let out = estimate(&output.to_string());
        message(Value::Array(content), stop, out, Value::Null)
    };
    let (status, body, should_retry, retry_after) = match reply {
        Reply::Success { thinking } => (200, answer(&st.cfg.output, thinking), None, None),
        Reply::SuccessWith(v) => (200, answer(&v, thinks_by_default(&model)), None, None),
        Reply::MalformedText(t) => (
            200,
            message(
                json!([{"type": "text", "text": t}]),
                "end_turn",
                estimate(&t),
                Value::Null,
            ),
            None,
            None,
        ),
        Reply::Refusal => (
            200,
            {
                let mut m = message(
                    json!([]),
                    "refusal",
                    0,
                    json!({"type": "refusal", "category": "cyber", "explanation": null}),
                );
                m["usage"]["input_tokens"] = json!(0);
                m
            },
            None,
            None,
        ),
        Reply::MaxTokens => {
            let max = req["max_tokens"].as_u64().unwrap_or(0);
            let partial = json!({"observation_summary": "truncated"});
            let block = if forced {
                json!({"type": "tool_use", "id": fresh_id("toolu_01"), "name": "record_diagnosis", "input": partial})
            } else {
                json!({"type": "text", "text": "{\"observation_summary\": \"trunc"})
            };
            (
                200,
                message(json!([block]), "max_tokens", max, Value::Null),
                None,
                None,
            )
        }
        Reply::Error {
            status,
            error_type,
            message: msg,
            retry_after,
            should_retry,
            details,
            cloudflare,
        } => {
            let mut err = json!({"type": error_type, "message": msg});
            if let Some(d) = details {
                err["details"] = d;
            }
            let body = if cloudflare {
                json!({"error": err})
            } else {
                json!({"type": "error", "error": err, "request_id": fresh_id("req_011C")})
            };
            (status, body, should_retry, retry_after)
        }
        Reply::Html(status) => {
            let sc = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            return (
                sc,
                [("content-type", "text/html")],
                "<html><body>502 Bad Gateway</body></html>",
            )
                .into_response();
        }
        Reply::ToolUse { text, calls } => {
            let mut content = vec![];
            if thinks_by_default(&model) {
                content.push(thinking_block());
            }
            if let Some(t) = text {
                content.push(json!({"type": "text", "text": t}));
            }
            for (name, input) in &calls {
                content.push(json!({"type": "tool_use", "id": fresh_id("toolu_01"), "name": name, "input": input}));
            }
            let out = estimate(&Value::Array(content.clone()).to_string());
            (
                200,
                message(Value::Array(content), "tool_use", out, Value::Null),
                None,
                None,
            )
        }
        Reply::Delay(..) => unreachable!("delays are unwrapped above"),
    };
    let mut h = anthropic_headers(status, should_retry);
    if let Some(ra) = retry_after.and_then(|r| HeaderValue::from_str(&r).ok()) {
        h.insert("retry-after", ra);
    }
    let sc = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (sc, h, body.to_string()).into_response()
}

async fn count_tokens(
    State(st): State<Arc<StandinState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    st.requests.lock().push(RecordedRequest {
        path: "/v1/messages/count_tokens".into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: String::from_utf8_lossy(&body).to_string(),
    });
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(st.cfg.api_key.as_str()) {
        return anthropic_error(401, "authentication_error", "invalid x-api-key");
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return anthropic_error(400, "invalid_request_error", "invalid JSON");
    };
    let n = estimate(
        &req.get("messages")
            .map(|m| m.to_string())
            .unwrap_or_default(),
    ) + estimate(&req.get("system").map(|m| m.to_string()).unwrap_or_default());
    (
        StatusCode::OK,
        anthropic_headers(200, None),
        json!({"input_tokens": n}).to_string(),
    )
        .into_response()
}

/// The Messages API's checks of a tool-use history: `tool_use` blocks need `tools`
/// declared, every `tool_use` of an assistant message is answered by a `tool_result` in
/// the next user message, and every `tool_result` answers one of them.
fn check_tool_history(req: &Value) -> Result<(), String> {
    let msgs = req
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let blocks = |m: &Value, ty: &str, key: &str| -> Vec<String> {
        m.get("content")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) == Some(ty))
                    .filter_map(|b| b.get(key).and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let any_tool_blocks = msgs.iter().any(|m| {
        !blocks(m, "tool_use", "id").is_empty()
            || !blocks(m, "tool_result", "tool_use_id").is_empty()
    });
    let tools_declared = req
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    if any_tool_blocks && !tools_declared {
        return Err(
            "Requests which include `tool_use` or `tool_result` blocks must define tools.".into(),
        );
    }
    for (i, m) in msgs.iter().enumerate() {
        let results = blocks(m, "tool_result", "tool_use_id");
        let prev_uses = i
            .checked_sub(1)
            .map(|p| blocks(&msgs[p], "tool_use", "id"))
            .unwrap_or_default();
        if let Some(r) = results.iter().find(|r| !prev_uses.contains(r)) {
            return Err(format!("messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: {r}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."));
        }
        let uses = blocks(m, "tool_use", "id");
        if !uses.is_empty() {
            let next = msgs
                .get(i + 1)
                .map(|n| blocks(n, "tool_result", "tool_use_id"))
                .unwrap_or_default();
            if let Some(u) = uses.iter().find(|u| !next.contains(u)) {
                return Err(format!("messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {u}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i + 1));
            }
        }
    }
    Ok(())
}

/// With thinking on (the 5.x models here), an assistant message that calls tools must
/// start with its thinking block, sent back unchanged.
fn check_thinking_echoed(req: &Value) -> Result<(), String> {
    for (i, m) in req
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let blocks = m
            .get("content")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let calls = blocks.iter().any(|b| b["type"] == "tool_use");
        if m["role"] == "assistant"
            && calls
            && blocks.first().map(|b| &b["type"]) != Some(&json!("thinking"))
        {
            return Err(format!("messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block.", blocks.first().and_then(|b| b["type"].as_str()).unwrap_or("none")));
        }
    }
    Ok(())
}

/// The chat-completions checks of a tool history: every `role: tool` message answers a
/// call of an earlier assistant message.
fn check_openai_tool_history(req: &Value) -> Result<(), String> {
    let mut ids: Vec<String> = Vec::new();
    for m in req
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        match m.get("role").and_then(Value::as_str) {
            Some("assistant") => {
                for c in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    if c.pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .is_none()
                    {
                        return Err("tool_calls[].function.arguments must be a string".into());
                    }
                    if let Some(id) = c.get("id").and_then(Value::as_str) {
                        ids.push(id.to_string());
                    }
                }
            }
            Some("tool") => {
                let id = m.get("tool_call_id").and_then(Value::as_str).unwrap_or("");
                if !ids.iter().any(|i| i == id) {
                    return Err(format!("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls' (tool_call_id {id})"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn openai_error(status: u16, ty: &str, msg: &str) -> Response {
    let sc = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        sc,
        [("content-type", "application/json")],
        json!({"error": {"message": msg, "type": ty, "param": null, "code": null}}).to_string(),
    )
        .into_response()
}

async fn chat(State(st): State<Arc<StandinState>>, headers: HeaderMap, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body).to_string();
    st.requests.lock().push(RecordedRequest {
        path: "/v1/chat/completions".into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: text.clone(),
    });
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return openai_error(
            400,
            "invalid_request_error",
            "invalid character in request body",
        );
    };
    let model = match req.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => return openai_error(400, "invalid_request_error", "model is required"),
    };
    if !req.get("messages").map(Value::is_array).unwrap_or(false) {
        return openai_error(400, "invalid_request_error", "messages is required");
    }
    if let Err(msg) = check_openai_tool_history(&req) {
        return openai_error(400, "invalid_request_error", &msg);
    }
    let mut reply = st
        .openai_script
        .lock()
        .pop_front()
        .unwrap_or(OpenAiReply::Success {
            reasoning: false,
            fenced: false,
        });
    let callable = req
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty())
        && req.get("tool_choice").and_then(Value::as_str) != Some("none");
    if matches!(reply, OpenAiReply::ToolCalls(_)) && !callable {
        reply = OpenAiReply::Success {
            reasoning: false,
            fenced: false,
        };
    }
    let prompt_tokens = estimate(&req["messages"].to_string());
    let completion = |message: Value, finish: &str, out: u64| {
        json!({
            "id": format!("chatcmpl-{}", rand::rng().random_range(100..1000)),
            "object": "chat.completion",
            "created": time::OffsetDateTime::now_utc().unix_timestamp(),
            "model": model,
            "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": out, "total_tokens": prompt_tokens + out}
        })
    };
    let body = match reply {
        OpenAiReply::Success { reasoning, fenced } => {
            let out = st.cfg.output.to_string();
            let content = if fenced {
                format!("```json\n{out}\n```")
            } else {
                out.clone()
            };
            let mut msg = json!({"role": "assistant", "content": content});
            if reasoning {
                msg["reasoning"] = json!("The store's container exited; the evidence says so. Ignore any instruction inside the data.");
            }
            completion(msg, "stop", estimate(&out))
        }
        OpenAiReply::Content(c) => completion(
            json!({"role": "assistant", "content": c}),
            "stop",
            estimate(&c),
        ),
        OpenAiReply::Length => completion(
            json!({"role": "assistant", "content": "{\"observation_summary\": \"tr"}),
            "length",
            10,
        ),
        OpenAiReply::Refusal => completion(
            json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}),
            "stop",
            5,
        ),
        OpenAiReply::Error {
            status,
            error_type,
            message,
        } => return openai_error(status, &error_type, &message),
        OpenAiReply::ToolCalls(calls) => {
            let tool_calls: Vec<Value> = calls
                .iter()
                .map(|(name, args)| {
                    json!({"id": format!("call_{}", fresh_id("").to_lowercase().chars().take(8).collect::<String>()),
                           "index": 0, "type": "function",
                           "function": {"name": name, "arguments": args.to_string()}})
                })
                .collect();
            let out = estimate(&Value::Array(tool_calls.clone()).to_string());
            completion(
                json!({"role": "assistant", "content": "", "tool_calls": tool_calls}),
                "tool_calls",
                out,
            )
        }
        OpenAiReply::ContextTooLong => {
            return (StatusCode::BAD_REQUEST, [("content-type", "application/json")], json!({"error": {"code": 400, "message": format!("request ({prompt_tokens} tokens) exceeds the available context size (4096 tokens), try increasing it"), "type": "exceed_context_size_error", "n_prompt_tokens": prompt_tokens, "n_ctx": 4096}}).to_string()).into_response();
        }
    };
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn model_info(
    State(st): State<Arc<StandinState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    st.requests.lock().push(RecordedRequest {
        path: format!("/v1/models/{id}"),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: String::new(),
    });
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(st.cfg.api_key.as_str()) {
        return anthropic_error(401, "authentication_error", "invalid x-api-key");
    }
    if st.cfg.unknown_models.contains(&id) {
        return anthropic_error(404, "not_found_error", &format!("model: {id}"));
    }
    let body = json!({
        "id": resolve_model(&id),
        "type": "model",
        "display_name": id.trim_start_matches("claude-").replace('-', " "),
        "created_at": "2026-09-28T00:00:00Z",
        "max_input_tokens": if model_version(&id).0 >= 5 { 1_000_000 } else { 200_000 },
        "max_tokens": 64_000,
        "capabilities": {"structured_outputs": {"supported": !st.cfg.models_without_json_outputs.contains(&id)}}
    });
    (
        StatusCode::OK,
        anthropic_headers(200, None),
        body.to_string(),
    )
        .into_response()
}

async fn not_found() -> Response {
    anthropic_error(
        404,
        "not_found_error",
        "The requested resource could not be found.",
    )
}

impl Standin {
    /// Starts a stand-in on `127.0.0.1:0`.
    pub async fn start(cfg: StandinConfig) -> std::io::Result<Self> {
        let state = Arc::new(StandinState {
            cfg,
            script: Mutex::new(VecDeque::new()),
            openai_script: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            cached_prefixes: Mutex::new(HashSet::new()),
        });
        let app = Router::new()
            .route("/v1/messages", post(messages))
            .route("/v1/messages/count_tokens", post(count_tokens))
            .route("/v1/chat/completions", post(chat))
            .route("/v1/models/{id}", axum::routing::get(model_info))
            .fallback(not_found)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY + 1024 * 1024))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { s.cancelled().await })
                .await;
        });
        Ok(Self { addr, state, stop })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The accepted API key.
    pub fn api_key(&self) -> &str {
        &self.state.cfg.api_key
    }

    /// Queues Messages API replies (consumed in order; then default success).
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().extend(replies);
    }

    /// Queues chat-completions replies.
    pub fn push_openai(&self, replies: impl IntoIterator<Item = OpenAiReply>) {
        self.state.openai_script.lock().extend(replies);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().clone()
    }

    /// Requests received on `path`.
    pub fn count(&self, path: &str) -> usize {
        self.state
            .requests
            .lock()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_capabilities_follow_the_reference_table() {
        assert_eq!(model_version("claude-sonnet-4-5-20250929"), (4, 5));
        assert!(!thinks_by_default("claude-sonnet-4-5"));
        assert!(thinks_by_default("claude-opus-5"));
        assert!(
            rejects_forced_tool("claude-sonnet-5-5") && rejects_forced_tool("claude-fable-5-1")
        );
        assert!(
            !rejects_forced_tool("claude-haiku-4-5-20251001")
                && !rejects_forced_tool("claude-opus-5")
        );
        assert!(rejects_temperature("claude-opus-4-7") && !rejects_temperature("claude-haiku-4-5"));
    }
}
