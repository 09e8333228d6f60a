//! Typed errors of the HTTP stack, and the classification of the boxed errors tower
//! layers produce.
//!
//! tower's `Timeout` and `Buffer` erase error types into `BoxError`; the retry logic and
//! the callers need to know *what kind* of failure happened (was the request ever sent?
//! did it time out?), so [`ErrorKind::of`] recovers that by downcasting, once, here.

use std::time::Duration;

use tower::BoxError;

use super::body::BodyTooLarge;

/// Errors of an HTTP exchange through [`super::HttpClient`].
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// An attempt took longer than the per-attempt timeout (after all retries).
    #[error("request to {url} timed out after {after:?}")]
    Timeout {
        /// Target URL (credentials removed).
        url: String,
        /// The per-attempt timeout.
        after: Duration,
    },
    /// The connection could not be established: the request was never sent.
    #[error("could not connect to {url}: {source}")]
    Connect {
        /// Target URL (credentials removed).
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with a non-success status.
    #[error("{url} answered HTTP {code}: {body}")]
    Status {
        /// Target URL (credentials removed).
        url: String,
        /// Status code.
        code: u16,
        /// At most 512 bytes of the body.
        body: String,
    },
    /// The response body was larger than the configured limit.
    #[error("response from {url} exceeds the body limit of {limit} bytes")]
    BodyTooLarge {
        /// Target URL (credentials removed).
        url: String,
        /// The limit.
        limit: usize,
    },
    /// The body was not the JSON we expected.
    #[error("could not decode the response from {url}: {source}; body: {body}")]
    Decode {
        /// Target URL (credentials removed).
        url: String,
        /// At most 512 bytes of the body.
        body: String,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// The overall deadline (all attempts and backoffs together) passed.
    #[error("request to {url} did not complete within the overall deadline of {deadline:?}")]
    DeadlineExceeded {
        /// Target URL (credentials removed).
        url: String,
        /// The deadline.
        deadline: Duration,
    },
    /// A URL could not be built or parsed.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The offending text.
        url: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Another transport error (reset connection, broken body stream, ...).
    #[error("request to {url} failed: {source}")]
    Transport {
        /// Target URL (credentials removed).
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The stack configuration is invalid (e.g. backoff min > max).
    #[error("invalid HTTP client configuration: {0}")]
    Config(String),
    /// The client itself could not be built (TLS backend initialisation).
    #[error("could not build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
    /// An error from a layer that is none of the above (e.g. the buffer worker died).
    #[error("request to {url} failed: {source}")]
    Service {
        /// Target URL (credentials removed).
        url: String,
        /// The boxed error.
        #[source]
        source: BoxError,
    },
}

impl HttpError {
    /// True when the request never reached the server (safe to send elsewhere).
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect { .. })
    }

    /// True for per-attempt timeouts and the overall deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::DeadlineExceeded { .. })
    }

    /// The HTTP status, for [`HttpError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Converts a boxed stack error into a typed one.
    pub(crate) fn from_boxed(url: &str, per_attempt: Duration, error: BoxError) -> Self {
        let url = url.to_owned();
        match ErrorKind::of(&error) {
            ErrorKind::Timeout => Self::Timeout {
                url,
                after: per_attempt,
            },
            ErrorKind::BodyTooLarge(limit) => Self::BodyTooLarge { url, limit },
            ErrorKind::Connect | ErrorKind::Transport => match error.downcast::<reqwest::Error>() {
                Ok(source) if source.is_connect() => Self::Connect {
                    url,
                    source: *source,
                },
                Ok(source) => Self::Transport {
                    url,
                    source: *source,
                },
                Err(source) => Self::Service { url, source },
            },
            ErrorKind::Other => Self::Service { url, source: error },
        }
    }
}

/// What kind of failure a boxed stack error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Per-attempt timeout (tower `Elapsed`) or a reqwest timeout.
    Timeout,
    /// Connection refused / DNS / connect timeout: the request was not sent.
    Connect,
    /// Body larger than the limit (carries the limit).
    BodyTooLarge(usize),
    /// Other reqwest error: the request may have reached the server.
    Transport,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Classifies a boxed error by downcasting, looking through source chains.
    pub fn of(error: &BoxError) -> Self {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
        while let Some(e) = current {
            if e.is::<tower::timeout::error::Elapsed>() {
                return Self::Timeout;
            }
            if let Some(b) = e.downcast_ref::<BodyTooLarge>() {
                return Self::BodyTooLarge(b.limit);
            }
            if let Some(r) = e.downcast_ref::<reqwest::Error>() {
                // reqwest reports a connect timeout as both; the request was not sent.
                return if r.is_connect() {
                    Self::Connect
                } else if r.is_timeout() {
                    Self::Timeout
                } else {
                    Self::Transport
                };
            }
            current = e.source();
        }
        Self::Other
    }
}

/// A URL as text with any username/password removed, for logs, spans and errors.
pub fn redact_url(url: &reqwest::Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.as_str().to_owned();
    }
    let mut clean = url.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.as_str().to_owned()
}
