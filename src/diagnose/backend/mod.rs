//! Diagnosis backends behind one trait: Claude (Messages API), OpenAI-compatible chat
//! completions (local models), and an offline rules engine.
//!
//! A backend turns a [`PreparedPrompt`] into a [`RawDiagnosis`]: the model's JSON text,
//! unvalidated, plus the model id and token usage. Validation and grounding happen once,
//! in [`super::ground`], for every backend alike, so a rules diagnosis and a Claude
//! diagnosis go through the same checks.

pub mod claude;
pub mod openai;
pub mod pricing;
pub mod rules;
pub mod transport;

use super::context::PreparedPrompt;
use super::model::Usage;
use async_trait::async_trait;
use std::time::Duration;

pub use pricing::{ModelPrice, PriceTable};
pub use transport::{RetryPolicy, MAX_RESPONSE_BYTES};

/// What a backend returns before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct RawDiagnosis {
    /// The JSON text of the diagnosis (a `text` block, a tool input, or message content).
    pub json_text: String,
    /// Model id that answered (resolved id from the response when available).
    pub model: String,
    /// Tokens and cost.
    pub usage: Usage,
    /// Provider request id (`req_…`), for support.
    pub request_id: Option<String>,
}

/// Errors of the diagnosis backends. Variants are what the caller acts on.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum BackendError {
    /// No API key configured.
    #[error("no API key configured ({0})")]
    MissingKey(String),
    /// 400 invalid_request_error (bad request, unsupported parameter, user-set spend limit).
    #[error("invalid request ({status}): {message}")]
    InvalidRequest {
        /// HTTP status.
        status: u16,
        /// Error message.
        message: String,
        /// Request id.
        request_id: Option<String>,
    },
    /// 401/403: the key is missing, wrong, or lacks permission.
    #[error("authentication failed ({status}): {message}")]
    Authentication {
        /// HTTP status.
        status: u16,
        /// Error message.
        message: String,
    },
    /// 413: the request body is too large.
    #[error("request too large: {0}")]
    RequestTooLarge(String),
    /// The input does not fit the model's context window.
    #[error("context window exceeded: {0}")]
    ContextWindowExceeded(String),
    /// 429 after retries: rate limited. `retry_after` is what the server asked for.
    #[error("rate limited (retry after {retry_after:?}): {message}")]
    RateLimited {
        /// Server-requested wait, if any.
        retry_after: Option<Duration>,
        /// Error message.
        message: String,
    },
    /// 429 `enforced_spend_limit_reached`: the monthly spend cap. Never retried.
    #[error("spend limit reached (not retried): {0}")]
    SpendLimitReached(String),
    /// 529 after retries.
    #[error("API overloaded: {0}")]
    Overloaded(String),
    /// Other 5xx (or 408/409) after retries.
    #[error("server error {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Error message.
        message: String,
    },
    /// Any other non-success status.
    #[error("API error {status} ({error_type}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// `error.type`.
        error_type: String,
        /// Error message.
        message: String,
    },
    /// The rules engine was selected but no subject supplied its reasoning.
    #[error("the rules engine needs the subject's reasoner, and none was wired")]
    NoReasoner,
    /// Connection failure, after retries.
    #[error("transport error: {0}")]
    Transport(String),
    /// No answer within the per-attempt timeout, after retries.
    #[error("timed out: {0}")]
    Timeout(String),
    /// An investigation loop called the same tool with the same arguments again: the
    /// model is stuck, and its answer is abandoned.
    #[error("tool {name} called {times} times with the same arguments")]
    RepeatedToolCall {
        /// The tool.
        name: String,
        /// How many identical calls were seen.
        times: u32,
    },
    /// `stop_reason: refusal` (or OpenAI `refusal`/`content_filter`). Not retried.
    #[error("the model refused (category {category:?})")]
    Refusal {
        /// Refusal category when given.
        category: Option<String>,
    },
    /// `stop_reason: max_tokens` (or `finish_reason: length`) even after one retry with more room.
    #[error("output truncated at max_tokens={max_tokens}")]
    MaxTokens {
        /// The max_tokens of the last attempt.
        max_tokens: u32,
    },
    /// The answer's body exceeded the size limit (not retried).
    #[error("the API's answer exceeds the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The response could not be read (no text/tool block, not JSON, unexpected shape).
    #[error("malformed response: {0}")]
    MalformedResponse(String),
}

impl BackendError {
    /// The wait the server asked for when this error means "slow down" (429).
    pub fn rate_limit_pause(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => {
                Some(retry_after.unwrap_or(Duration::from_secs(30)))
            }
            _ => None,
        }
    }
}

/// One diagnosis backend.
#[async_trait]
pub trait DiagnosisBackend: Send + Sync {
    /// `claude`, `openai`, `rules`.
    fn name(&self) -> &str;
    /// The configured model id (empty when the backend has none to configure).
    fn model(&self) -> &str {
        ""
    }
    /// The prompt budget that fits this backend's model, in estimated tokens (system
    /// message included); `None`: the reconciler's default
    /// ([`crate::diagnose::context::DEFAULT_TOKEN_BUDGET`]).
    fn context_tokens(&self) -> Option<usize> {
        None
    }
    /// Whether this backend's model is asked for the compact answer
    /// ([`crate::diagnose::compact`]): a small model with a small prompt budget. The
    /// prompt is then built for it, and its answer expanded to the full one.
    fn compact_answer(&self) -> bool {
        false
    }
    /// Produces a raw (unvalidated) diagnosis for the prompt.
    async fn diagnose(&self, req: &PreparedPrompt) -> Result<RawDiagnosis, BackendError>;
    /// The backend's tool-use conversation, when it can hold one (the model backends):
    /// what the investigation loop drives. `None` (the rules engine): single shot only.
    fn tool_chat(&self) -> Option<&dyn crate::diagnose::investigate::ToolChat> {
        None
    }
}

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// Claude when an API key is available, else the rules engine.
    #[default]
    Auto,
    /// Claude (fails without a key).
    Claude,
    /// OpenAI-compatible local model.
    OpenAi,
    /// The offline rules engine.
    Rules,
}

/// Everything needed to build a backend from configuration.
#[derive(Debug, Clone, Default)]
pub struct BackendSettings {
    /// Which backend.
    pub choice: BackendChoice,
    /// Claude settings (model id, base URL, prices, …).
    pub claude: claude::ClaudeConfig,
    /// File holding the API key when `ANTHROPIC_API_KEY` is not set.
    pub key_file: Option<std::path::PathBuf>,
    /// OpenAI-compatible settings.
    pub openai: openai::OpenAiConfig,
    /// Rules engine policy.
    pub rules: rules::RulesConfig,
    /// The subject's reasoning for the rules engine (wired by the binary); without it the
    /// rules engine cannot be selected.
    pub reasoner: Option<std::sync::Arc<dyn rules::Reasoner>>,
    /// The investigation budget of a model backend (`None`: one request, no tools). The
    /// wiring supplies the subject's tools (see [`crate::diagnose::investigate`]).
    pub investigation: Option<crate::diagnose::investigate::Budget>,
}

/// Names the file holding the API key (read when `ANTHROPIC_API_KEY` is not set).
pub const KEY_FILE_ENV: &str = "ANTHROPIC_API_KEY_FILE";
/// The Messages API base URL (the Anthropic SDKs' variable): a gateway, or a test stand-in.
pub const BASE_URL_ENV: &str = "ANTHROPIC_BASE_URL";

impl BackendSettings {
    /// The defaults, with [`KEY_FILE_ENV`] and [`BASE_URL_ENV`] taken from the
    /// environment when set (and not blank).
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let defaults = claude::ClaudeConfig::default();
        Self {
            key_file: var(KEY_FILE_ENV).map(std::path::PathBuf::from),
            claude: claude::ClaudeConfig {
                base_url: var(BASE_URL_ENV).unwrap_or(defaults.base_url.clone()),
                ..defaults
            },
            ..Self::default()
        }
    }
}

/// Builds the configured backend.
///
/// # Guarantees
/// With [`BackendChoice::Auto`] and no key (env `ANTHROPIC_API_KEY` or `key_file`), the
/// rules engine is returned: the operator diagnoses offline by default. The key is
/// registered for redaction as soon as it is read.
pub fn select_backend(
    s: &BackendSettings,
) -> Result<std::sync::Arc<dyn DiagnosisBackend>, BackendError> {
    select_backend_with_key(s, claude::ApiKey::from_env_or_file(s.key_file.as_deref()))
}

/// [`select_backend`] with the key lookup already done (testable without the environment).
pub fn select_backend_with_key(
    s: &BackendSettings,
    key: Result<claude::ApiKey, BackendError>,
) -> Result<std::sync::Arc<dyn DiagnosisBackend>, BackendError> {
    use std::sync::Arc;
    let claude = move || -> Result<Arc<dyn DiagnosisBackend>, BackendError> {
        Ok(Arc::new(claude::ClaudeBackend::new(
            s.claude.clone(),
            key?,
        )?))
    };
    let rules_backend = || -> Result<Arc<dyn DiagnosisBackend>, BackendError> {
        let reasoner = s.reasoner.clone().ok_or(BackendError::NoReasoner)?;
        Ok(Arc::new(rules::RulesBackend::new(
            s.rules.clone(),
            reasoner,
        )))
    };
    match s.choice {
        BackendChoice::Claude => claude(),
        BackendChoice::OpenAi => Ok(Arc::new(openai::OpenAiBackend::new(s.openai.clone())?)),
        BackendChoice::Rules => rules_backend(),
        BackendChoice::Auto => match claude() {
            Ok(b) => Ok(b),
            Err(BackendError::MissingKey(why)) => {
                tracing::info!(%why, "no API key: diagnosing with the offline rules engine");
                rules_backend()
            }
            Err(e) => Err(e),
        },
    }
}
