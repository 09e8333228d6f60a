//! The tower client stack shared by the PD, Prometheus and model clients.
//!
//! # Why a stack
//!
//! Every remote the operator talks to fails in the same few ways (refused connections
//! while a container restarts, slow answers, 5xx during elections, hostile or broken
//! bodies), and the answer to each is a separate concern. Each concern is one layer, so
//! each is tested alone and the clients above contain only API knowledge:
//!
//! ```text
//! HttpClient::execute      overall deadline (all attempts + backoffs)
//!   Buffer                 makes the stack Clone + shareable; Retry needs Clone
//!   Retry(RetryPolicy<L>)  per-API RetryLogic, jittered capped exponential backoff,
//!                          attempts counted, Retry-After honoured (capped)
//!   Timeout                per attempt, covering headers *and* body
//!   ConcurrencyLimit       caps in-flight requests to one remote
//!   TraceLayer             one `http.client` span per attempt (otel.kind = client)
//!   ReadBody               reads the whole body under a size limit
//!   reqwest::Client
//! ```
//!
//! Responses of every status come back as `Ok(HttpResponse)`; the retry logic decides
//! which statuses are worth another attempt, and the caller decides which are errors
//! ([`HttpResponse::error_for_status`]), because some APIs put meaning into 4xx bodies
//! (PD's `ErrStoresNotEnough`).

mod body;
mod error;
mod retry;
mod trace;

use std::time::Duration;

use http::Method;
use serde::de::DeserializeOwned;
use tower::buffer::Buffer;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

pub use body::{excerpt, BodyTooLarge, HttpResponse, ReadBody, ReadBodyLayer, BODY_EXCERPT_BYTES};
pub use error::{redact_url, ErrorKind, HttpError};
pub use retry::{
    is_idempotent, BackoffConfig, DefaultRetryLogic, JitterRng, RetryAction, RetryLogic,
    RetryPolicy,
};
pub(crate) use trace::TraceLayer;

/// One mebibyte.
pub const MIB: usize = 1024 * 1024;

/// Configuration of an [`HttpClient`]. `Default` gives the values the PD client uses.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// Timeout of one attempt, headers and body included. Default 5 s.
    pub per_attempt_timeout: Duration,
    /// Deadline of the whole call, retries and backoffs included. Default 30 s.
    pub overall_deadline: Duration,
    /// TCP connect timeout (reported as a connect error). Default 2 s.
    pub connect_timeout: Duration,
    /// Retries after the first attempt. Default 3.
    pub max_retries: u32,
    /// First backoff delay. Default 100 ms.
    pub backoff_min: Duration,
    /// Largest backoff delay. Default 2 s.
    pub backoff_max: Duration,
    /// Jitter ratio (see [`BackoffConfig::jitter`]). Default 0.5.
    pub backoff_jitter: f64,
    /// Cap on a server's `Retry-After`. Default 10 s.
    pub max_retry_after: Duration,
    /// Requests in flight at once. Default 16.
    pub concurrency: usize,
    /// Requests queued in the buffer before callers wait. Default 1024.
    pub buffer: usize,
    /// Largest accepted response body. Default 64 MiB.
    pub max_body_bytes: usize,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Use `HTTP(S)_PROXY` from the environment. Default false: the operator talks to
    /// containers on a Docker network, which a corporate proxy cannot reach.
    pub use_system_proxy: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            per_attempt_timeout: Duration::from_secs(5),
            overall_deadline: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(2),
            max_retries: 3,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            backoff_jitter: 0.5,
            max_retry_after: Duration::from_secs(10),
            concurrency: 16,
            buffer: 1024,
            max_body_bytes: 64 * MIB,
            user_agent: concat!("tikv-operator/", env!("CARGO_PKG_VERSION")).to_owned(),
            use_system_proxy: false,
        }
    }
}

impl HttpConfig {
    /// The backoff part of the configuration.
    pub(crate) fn backoff(&self) -> BackoffConfig {
        BackoffConfig {
            min: self.backoff_min,
            max: self.backoff_max,
            jitter: self.backoff_jitter,
            max_retries: self.max_retries,
            max_retry_after: self.max_retry_after,
        }
    }
}

/// The boxed, cloneable service behind an [`HttpClient`].
pub(crate) type HttpService = BoxCloneSyncService<reqwest::Request, HttpResponse, BoxError>;

/// A cheap-to-clone HTTP client running every request through the stack described in
/// the [module docs](self).
#[derive(Clone)]
pub struct HttpClient {
    service: HttpService,
    builder: reqwest::Client,
    config: HttpConfig,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Builds the full stack over a new `reqwest::Client`.
    ///
    /// Must be called inside a Tokio runtime (the buffer spawns its worker task).
    pub fn new<L: RetryLogic>(config: HttpConfig, logic: L) -> Result<Self, HttpError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent.clone())
            .pool_idle_timeout(Duration::from_secs(30));
        if !config.use_system_proxy {
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(HttpError::Build)?;
        let inner = tower::Layer::layer(&ReadBodyLayer::new(config.max_body_bytes), client.clone());
        Self::assemble(inner, client, config, logic)
    }

    /// Builds the stack over any inner service that already yields [`HttpResponse`]s
    /// (tests use `tower_test::mock` here). Must be called inside a Tokio runtime.
    pub fn with_service<S, L>(inner: S, config: HttpConfig, logic: L) -> Result<Self, HttpError>
    where
        S: Service<reqwest::Request, Response = HttpResponse, Error = BoxError>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        L: RetryLogic,
    {
        Self::assemble(inner, reqwest::Client::new(), config, logic)
    }

    fn assemble<S, L>(
        inner: S,
        builder: reqwest::Client,
        config: HttpConfig,
        logic: L,
    ) -> Result<Self, HttpError>
    where
        S: Service<reqwest::Request, Response = HttpResponse, Error = BoxError>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        L: RetryLogic,
    {
        if config.concurrency == 0 || config.buffer == 0 {
            return Err(HttpError::Config(
                "concurrency and buffer must be at least 1".into(),
            ));
        }
        let policy = RetryPolicy::new(logic, config.backoff()).map_err(HttpError::Config)?;
        let stack = ServiceBuilder::new()
            .retry(policy)
            .timeout(config.per_attempt_timeout)
            .concurrency_limit(config.concurrency)
            .layer(TraceLayer)
            .service(inner);
        let service = BoxCloneSyncService::new(Buffer::new(stack, config.buffer));
        Ok(Self {
            service,
            builder,
            config,
        })
    }

    /// A request builder (headers, query, JSON body); send it with [`HttpClient::send`].
    pub fn request(&self, method: Method, url: reqwest::Url) -> reqwest::RequestBuilder {
        self.builder.request(method, url)
    }

    /// Sends a request through the stack and returns the response, whatever its status.
    ///
    /// # Guarantees
    /// - Completes within `overall_deadline` ([`HttpError::DeadlineExceeded`]).
    /// - Each attempt completes within `per_attempt_timeout`.
    /// - A body over `max_body_bytes` is never buffered ([`HttpError::BodyTooLarge`]).
    pub async fn execute(&self, request: reqwest::Request) -> Result<HttpResponse, HttpError> {
        let url = redact_url(request.url());
        let call = self.service.clone().oneshot(request);
        match tokio::time::timeout(self.config.overall_deadline, call).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(HttpError::from_boxed(
                &url,
                self.config.per_attempt_timeout,
                error,
            )),
            Err(_) => Err(HttpError::DeadlineExceeded {
                url,
                deadline: self.config.overall_deadline,
            }),
        }
    }

    /// Builds `request` and sends it with [`HttpClient::execute`].
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<HttpResponse, HttpError> {
        let request = request.build().map_err(|e| HttpError::InvalidUrl {
            url: e.url().map(redact_url).unwrap_or_default(),
            reason: e.to_string(),
        })?;
        self.execute(request).await
    }

    /// GETs `url` and decodes a 2xx JSON body; other statuses are [`HttpError::Status`].
    pub async fn get_json<T: DeserializeOwned>(&self, url: reqwest::Url) -> Result<T, HttpError> {
        self.send(self.request(Method::GET, url))
            .await?
            .error_for_status()?
            .json()
    }
}

/// Parses a base URL, accepting `host:port` without a scheme (as `http://host:port`).
pub(crate) fn parse_base_url(text: &str) -> Result<reqwest::Url, HttpError> {
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| HttpError::InvalidUrl {
        url: text.to_owned(),
        reason: e.to_string(),
    })?;
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(HttpError::InvalidUrl {
            url: text.to_owned(),
            reason: "not a base URL with a host".into(),
        });
    }
    Ok(url)
}
