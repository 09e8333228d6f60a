//! Reading a response body completely, under a size limit, inside each attempt.
//!
//! The body is read *below* the per-attempt timeout and the retry layer, for two reasons:
//! the timeout then bounds the whole exchange (a server that sends headers and then
//! trickles the body is cut off like one that never answers), and the retry logic can look
//! at the body (PD's "redirect finds no leader" 503 is told apart by its text). The size
//! limit bounds memory against a hostile or broken server: `Content-Length` is checked
//! first, and the streamed byte count is checked as chunks arrive, so a lying or missing
//! length cannot get past it.

use std::borrow::Cow;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use tower::{BoxError, Layer, Service};

use super::error::{redact_url, HttpError};

/// How many bytes of a body an error message or log line quotes.
pub const BODY_EXCERPT_BYTES: usize = 512;

/// A response whose body has been read completely.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// The URL that answered (after redirects), with credentials removed.
    pub url: String,
}

impl HttpResponse {
    /// Builds a response from parts (used by test doubles and by [`ReadBody`]).
    pub fn new(status: StatusCode, headers: HeaderMap, body: impl Into<Bytes>, url: &str) -> Self {
        Self {
            status,
            headers,
            body: body.into(),
            url: url.to_owned(),
        }
    }

    /// The body as text, with invalid UTF-8 replaced.
    pub fn text_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// At most [`BODY_EXCERPT_BYTES`] of the body as text, for error messages.
    pub(crate) fn body_excerpt(&self) -> String {
        excerpt(&self.body)
    }

    /// Decodes the body as JSON.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|source| HttpError::Decode {
            url: self.url.clone(),
            body: self.body_excerpt(),
            source,
        })
    }

    /// `Ok(self)` for 2xx, otherwise [`HttpError::Status`] with a body excerpt.
    pub fn error_for_status(self) -> Result<Self, HttpError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(HttpError::Status {
                url: self.url.clone(),
                code: self.status.as_u16(),
                body: self.body_excerpt(),
            })
        }
    }

    /// The `Retry-After` header in its delay-seconds form. (The HTTP-date form is not
    /// used by any server this operator talks to and is ignored.)
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        let value = self.headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
        value.trim().parse::<u64>().ok().map(Duration::from_secs)
    }
}

/// At most [`BODY_EXCERPT_BYTES`] of `body` as lossy UTF-8, cut on a char boundary.
pub fn excerpt(body: &[u8]) -> String {
    let cut = body.len().min(BODY_EXCERPT_BYTES);
    let mut text = String::from_utf8_lossy(&body[..cut]).into_owned();
    if cut < body.len() {
        text.push('…');
    }
    text
}

/// The error a [`ReadBody`] returns when a body exceeds its limit.
#[derive(Debug, thiserror::Error)]
#[error("response body exceeds the limit of {limit} bytes")]
pub struct BodyTooLarge {
    /// The configured limit.
    pub limit: usize,
}

/// Layer producing [`ReadBody`].
#[derive(Debug, Clone, Copy)]
pub struct ReadBodyLayer {
    max_body_bytes: usize,
}

impl ReadBodyLayer {
    /// Reads bodies of at most `max_body_bytes`.
    pub(crate) fn new(max_body_bytes: usize) -> Self {
        Self { max_body_bytes }
    }
}

impl<S> Layer<S> for ReadBodyLayer {
    type Service = ReadBody<S>;
    fn layer(&self, inner: S) -> ReadBody<S> {
        ReadBody {
            inner,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

/// Turns a streaming `reqwest::Response` into an [`HttpResponse`], enforcing a size limit.
#[derive(Debug, Clone)]
pub struct ReadBody<S> {
    inner: S,
    max_body_bytes: usize,
}

impl<S> Service<reqwest::Request> for ReadBody<S>
where
    S: Service<reqwest::Request, Response = reqwest::Response>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<HttpResponse, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: reqwest::Request) -> Self::Future {
        let limit = self.max_body_bytes;
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut response = fut.await.map_err(Into::into)?;
            if let Some(len) = response.content_length() {
                if len > limit as u64 {
                    return Err(BodyTooLarge { limit }.into());
                }
            }
            let status = response.status();
            let headers = std::mem::take(response.headers_mut());
            let url = redact_url(response.url());
            let mut body = BytesMut::new();
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > limit {
                    return Err(BodyTooLarge { limit }.into());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse {
                status,
                headers,
                body: body.freeze(),
                url,
            })
        })
    }
}
