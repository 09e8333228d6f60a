//! The HTTP send loop shared by the Claude and OpenAI-compatible clients: retries as the
//! official Anthropic SDKs do, plus the spend-cap exception.
//!
//! # Policy (anthropic-sdk-python `_base_client.py`, see the LLM reference §8)
//! - `max_retries` = 2 (3 attempts).
//! - `x-should-retry: true|false` decides first; otherwise 408, 409, 429 and ≥ 500 are
//!   retried (529 included), everything else is not.
//! - Exception: a 429 whose body has `error.details.error_code ==
//!   "enforced_spend_limit_reached"` is the monthly spend cap and is never retried.
//! - Connection errors and timeouts are retried.
//! - Wait: `retry-after-ms`, else `retry-after` (seconds, or an HTTP-date) when it is in
//!   (0, 60] s; otherwise `min(initial·2^n, max) × (1 − 0.25·rand)` with n the retries
//!   already taken.
//!
//! The loop is hand-written (not `tower::retry`) because the decision needs the response
//! body (spend cap) and headers (`retry-after`), and the final error must carry them.
//!
//! # Hostile or broken answers
//! The body is read under a size limit ([`MAX_RESPONSE_BYTES`] by default): a declared
//! `Content-Length` over the limit is refused before anything is read, and the streamed
//! byte count is checked chunk by chunk, so a lying or missing length cannot get past it.
//! An answer too large is not retried (the same request would get the same answer). A
//! server that trickles its body is cut off by the client's per-attempt timeout, which
//! reqwest applies to the whole exchange, body included.

use bytes::Bytes;
use http::HeaderMap;
use std::time::Duration;

/// Retry configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (SDK default 2).
    pub max_retries: u32,
    /// First backoff (SDK 0.5 s).
    pub initial_delay: Duration,
    /// Backoff cap (SDK 8 s).
    pub max_delay: Duration,
    /// `retry-after` values above this are ignored in favour of backoff (SDK 60 s).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// The default limit on a model API answer: 8 MiB. A diagnosis is bounded by
/// `max_tokens` (8192 tokens, some 32 KiB of text, a few times that with the JSON
/// envelope and a thinking block); anything near the limit is not a real answer but a
/// broken proxy or a hostile server, and must not be buffered whole.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// A non-success HTTP answer, parsed as far as possible.
#[derive(Debug, Clone)]
pub struct HttpFailure {
    /// Status code.
    pub status: u16,
    /// `error.type` (Anthropic and OpenAI shapes), if the body was JSON.
    pub error_type: Option<String>,
    /// `error.message`, or the raw body (truncated) when it was not JSON.
    pub message: String,
    /// `error.details.error_code` (spend cap).
    pub error_code: Option<String>,
    /// `request_id` (body) or `request-id` (header).
    pub request_id: Option<String>,
    /// Parsed `retry-after-ms` / `retry-after`.
    pub retry_after: Option<Duration>,
    /// `x-should-retry` header.
    pub should_retry_header: Option<bool>,
}

/// The outcome of the loop when it gives up.
#[derive(Debug, Clone)]
pub enum SendError {
    /// Last answer was a non-success status.
    Status(HttpFailure),
    /// Connection error.
    Transport(String),
    /// No answer (or no complete body) within the client's per-attempt timeout.
    Timeout(String),
    /// The answer's body was larger than the limit (not retried).
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// A reqwest failure as a [`SendError`]: timeouts are told apart (a slow model is not an
/// unreachable one), and the message is redacted.
fn transport_error(e: &reqwest::Error) -> SendError {
    let msg = super::super::redact::redact(&e.to_string());
    if e.is_timeout() {
        SendError::Timeout(msg)
    } else {
        SendError::Transport(msg)
    }
}

/// Why a body could not be read.
enum ReadError {
    TooLarge,
    Transport(reqwest::Error),
}

/// Reads `resp`'s body, refusing more than `limit` bytes.
async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Bytes, ReadError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses `retry-after-ms`, then `retry-after` (float seconds or HTTP-date).
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
    {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let raw = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .to_string();
    if let Ok(secs) = raw.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
        return None;
    }
    let when =
        time::OffsetDateTime::parse(&raw, &time::format_description::well_known::Rfc2822).ok()?;
    let delta = when - time::OffsetDateTime::now_utc();
    Some(Duration::from_secs_f64(delta.as_seconds_f64().max(0.0)))
}

/// Parses an error body in the Anthropic (`{type, error{type,message,details}, request_id}`),
/// Cloudflare (`{error{type,message}}`), OpenAI/Ollama (`{error{message,type,code}}`) or
/// llama.cpp (`{error{code:int,message,type}}`) shape; anything else becomes the raw text.
pub fn parse_failure(status: u16, headers: &HeaderMap, body: &[u8]) -> HttpFailure {
    let header_request_id = headers
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let should_retry_header = headers
        .get("x-should-retry")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| match s.trim() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
    let retry_after = parse_retry_after(headers);
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let message = err
        .and_then(|e| e.get("message"))
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| {
            let s = String::from_utf8_lossy(body);
            s.chars().take(300).collect()
        });
    HttpFailure {
        status,
        error_type: err
            .and_then(|e| e.get("type"))
            .and_then(|t| t.as_str())
            .map(str::to_string),
        message: super::super::redact::redact(&message),
        error_code: err
            .and_then(|e| e.get("details"))
            .and_then(|d| d.get("error_code"))
            .and_then(|c| c.as_str())
            .map(str::to_string),
        request_id: parsed
            .as_ref()
            .and_then(|v| v.get("request_id"))
            .and_then(|r| r.as_str())
            .map(str::to_string)
            .or(header_request_id),
        retry_after,
        should_retry_header,
    }
}

/// True when the failure is the monthly spend cap.
pub fn is_spend_cap(f: &HttpFailure) -> bool {
    f.status == 429 && f.error_code.as_deref() == Some("enforced_spend_limit_reached")
}

/// Whether to retry a failed answer (SDK `_should_retry` + spend-cap exception).
pub fn should_retry(f: &HttpFailure) -> bool {
    if is_spend_cap(f) {
        return false;
    }
    if let Some(h) = f.should_retry_header {
        return h;
    }
    matches!(f.status, 408 | 409 | 429) || f.status >= 500
}

impl RetryPolicy {
    /// The wait before retry number `retries_taken + 1`.
    pub fn delay(&self, retries_taken: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            if ra > Duration::ZERO && ra <= self.max_retry_after {
                return ra;
            }
        }
        let base = self
            .initial_delay
            .saturating_mul(2u32.saturating_pow(retries_taken))
            .min(self.max_delay);
        let jitter = 1.0 - 0.25 * rand::random::<f64>();
        base.mul_f64(jitter)
    }
}

/// Sends the request built by `build` (called once per attempt with the attempt number),
/// retrying per `policy`. Returns the status, headers and body of the first success.
///
/// # Guarantees
/// - At most `policy.max_retries + 1` requests are sent.
/// - The spend-cap 429 and statuses the policy does not retry return after one attempt.
/// - No more than `max_body` bytes of any body are buffered ([`SendError::TooLarge`],
///   not retried).
pub async fn send_with_retry<F>(
    policy: &RetryPolicy,
    max_body: usize,
    mut build: F,
) -> Result<(u16, HeaderMap, Bytes), SendError>
where
    F: FnMut(u32) -> reqwest::RequestBuilder,
{
    let mut retries = 0u32;
    loop {
        let outcome = build(retries).send().await;
        let (retry, wait, err) = match outcome {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                match read_limited(resp, max_body).await {
                    Ok(body) if (200..300).contains(&status) => {
                        return Ok((status, headers, body));
                    }
                    Ok(body) => {
                        let f = parse_failure(status, &headers, &body);
                        tracing::warn!(
                            status,
                            request_id = f.request_id.as_deref().unwrap_or(""),
                            error_type = f.error_type.as_deref().unwrap_or(""),
                            retries,
                            "model API call failed"
                        );
                        let retry = should_retry(&f);
                        let wait = policy.delay(retries, f.retry_after);
                        (retry, wait, SendError::Status(f))
                    }
                    Err(ReadError::TooLarge) => {
                        tracing::warn!(status, limit = max_body, "model API answer too large");
                        return Err(SendError::TooLarge { limit: max_body });
                    }
                    Err(ReadError::Transport(e)) => {
                        (true, policy.delay(retries, None), transport_error(&e))
                    }
                }
            }
            Err(e) => {
                tracing::warn!(
                    retries,
                    timeout = e.is_timeout(),
                    "model API transport error"
                );
                (true, policy.delay(retries, None), transport_error(&e))
            }
        };
        if !retry || retries >= policy.max_retries {
            return Err(err);
        }
        retries += 1;
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_ms_wins_over_retry_after() {
        let h = headers(&[("retry-after-ms", "250"), ("retry-after", "9")]);
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(250)));
    }

    #[test]
    fn retry_after_accepts_an_http_date() {
        let when = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
        let s = when
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        let d = parse_retry_after(&headers(&[("retry-after", &s)])).unwrap();
        assert!(
            d <= Duration::from_secs(31) && d >= Duration::from_secs(28),
            "{d:?}"
        );
    }

    #[test]
    fn backoff_follows_the_sdk_formula() {
        let p = RetryPolicy::default();
        for n in 0..6 {
            let d = p.delay(n, None);
            let base = (0.5 * 2f64.powi(n as i32)).min(8.0);
            assert!(d.as_secs_f64() <= base + 1e-9 && d.as_secs_f64() >= base * 0.75 - 1e-9);
        }
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(16))),
            Duration::from_secs(16)
        );
        // Above 60 s the header is ignored.
        assert!(p.delay(0, Some(Duration::from_secs(120))) <= Duration::from_millis(500));
    }

    #[test]
    fn the_spend_cap_is_never_retried_even_if_the_header_says_so() {
        let body = br#"{"type":"error","error":{"type":"rate_limit_error","message":"cap","details":{"error_code":"enforced_spend_limit_reached"}},"request_id":"req_1"}"#;
        let f = parse_failure(429, &headers(&[("x-should-retry", "true")]), body);
        assert!(is_spend_cap(&f));
        assert!(!should_retry(&f));
        assert_eq!(f.request_id.as_deref(), Some("req_1"));
    }

    #[test]
    fn the_cloudflare_413_and_html_bodies_parse() {
        let f = parse_failure(413, &HeaderMap::new(), br#"{"error":{"type":"request_too_large","message":"Request exceeds the maximum size"}}"#);
        assert_eq!(f.error_type.as_deref(), Some("request_too_large"));
        assert!(!should_retry(&f));
        let f = parse_failure(502, &HeaderMap::new(), b"<html>bad gateway</html>");
        assert!(f.message.contains("bad gateway"));
        assert!(should_retry(&f));
    }
}
