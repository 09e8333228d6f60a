//! One tracing span per HTTP attempt, with the OpenTelemetry client-span fields
//! (`otel.kind = "client"`, `otel.name`, `http.method`, `http.url`, `http.status_code`)
//! that tracing-opentelemetry maps onto the exported span.
//!
//! The layer sits inside the retry layer, so a retried call shows as several sibling
//! spans under the caller's span: the trace shows each attempt's latency and status.
//! URLs are recorded without credentials; headers (API keys) are never recorded.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tower::{BoxError, Layer, Service};
use tracing::field::Empty;
use tracing::Instrument;

use super::body::HttpResponse;
use super::error::{redact_url, ErrorKind};

/// Layer producing [`TraceService`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;
    fn layer(&self, inner: S) -> TraceService<S> {
        TraceService { inner }
    }
}

/// Wraps each call in an `http.client` span.
#[derive(Debug, Clone)]
pub(crate) struct TraceService<S> {
    inner: S,
}

/// A low-cardinality span name: `GET /pd/api/v1/store/{id}` (numeric path segments
/// become `{id}`).
pub(crate) fn otel_name(method: &http::Method, url: &reqwest::Url) -> String {
    let mut name = String::with_capacity(url.path().len() + 8);
    name.push_str(method.as_str());
    name.push(' ');
    let mut first = true;
    for segment in url.path().split('/') {
        if !first {
            name.push('/');
        }
        first = false;
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            name.push_str("{id}");
        } else {
            name.push_str(segment);
        }
    }
    name
}

impl<S> Service<reqwest::Request> for TraceService<S>
where
    S: Service<reqwest::Request, Response = HttpResponse, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<HttpResponse, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: reqwest::Request) -> Self::Future {
        let span = tracing::info_span!(
            "http.client",
            http.method = %req.method(),
            http.url = %redact_url(req.url()),
            http.status_code = Empty,
            otel.kind = "client",
            otel.name = %otel_name(req.method(), req.url()),
            otel.status_code = Empty,
            error.kind = Empty,
        );
        let fut = self.inner.call(req);
        Box::pin(async move {
            let result = fut.instrument(span.clone()).await;
            match &result {
                Ok(response) => {
                    span.record("http.status_code", response.status.as_u16());
                    if response.status.is_server_error() || response.status.is_client_error() {
                        span.record("otel.status_code", "ERROR");
                    }
                }
                Err(error) => {
                    span.record("otel.status_code", "ERROR");
                    span.record("error.kind", tracing::field::debug(ErrorKind::of(error)));
                }
            }
            result
        })
    }
}
