//! Retry: a per-API classification ([`RetryLogic`]) plugged into one generic tower
//! [`Policy`] ([`RetryPolicy`]) that counts attempts and sleeps with a jittered, capped
//! exponential backoff.
//!
//! The split follows vector's `RetryLogic`: whether a failure is worth retrying depends
//! on the API (PD's 503 during an election is, Claude's 429 is, a 400 never is), while
//! counting, backing off and honouring `Retry-After` do not. Every decision carries a
//! reason string that ends up in the trace, so "why did this call take 9 s" has an answer.
//!
//! Safety rule of the default logic: a request that may have reached the server is
//! retried only when its method is idempotent. A connect error means it never left, so
//! it is retried whatever the method.

use std::borrow::Cow;
use std::time::Duration;

use http::Method;
use tower::retry::backoff::{Backoff, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use tower::retry::Policy;
use tower::util::rng::Rng;
use tower::BoxError;

use super::body::HttpResponse;
use super::error::ErrorKind;

/// The verdict on one attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryAction {
    /// Try again (after a backoff), for this reason.
    Retry(Cow<'static, str>),
    /// Give up now and return this outcome, for this reason.
    DontRetry(Cow<'static, str>),
    /// The outcome is a success.
    Successful,
}

/// Per-API retry classification.
pub trait RetryLogic: Clone + Send + Sync + 'static {
    /// Classifies a response that arrived (any status).
    fn classify_response(&self, method: &Method, response: &HttpResponse) -> RetryAction;
    /// Classifies a failed attempt (no response).
    fn classify_error(&self, method: &Method, error: &BoxError) -> RetryAction;
}

/// True for methods that RFC 9110 defines as idempotent and that this project uses.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

/// The default classification: retry connect errors on any method; timeouts, transport
/// errors and 5xx on idempotent methods; never 4xx.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRetryLogic;

impl RetryLogic for DefaultRetryLogic {
    fn classify_response(&self, method: &Method, response: &HttpResponse) -> RetryAction {
        let status = response.status;
        if status.is_success() || status.is_redirection() || status.is_informational() {
            RetryAction::Successful
        } else if status.is_server_error() {
            if is_idempotent(method) {
                RetryAction::Retry(
                    format!("HTTP {} on idempotent {method}", status.as_u16()).into(),
                )
            } else {
                RetryAction::DontRetry(
                    format!("HTTP {} on non-idempotent {method}", status.as_u16()).into(),
                )
            }
        } else {
            RetryAction::DontRetry(format!("HTTP {} is a client error", status.as_u16()).into())
        }
    }

    fn classify_error(&self, method: &Method, error: &BoxError) -> RetryAction {
        match ErrorKind::of(error) {
            ErrorKind::Connect => RetryAction::Retry("connect error (request not sent)".into()),
            ErrorKind::Timeout if is_idempotent(method) => {
                RetryAction::Retry(format!("timeout on idempotent {method}").into())
            }
            ErrorKind::Transport if is_idempotent(method) => {
                RetryAction::Retry(format!("transport error on idempotent {method}").into())
            }
            ErrorKind::Timeout | ErrorKind::Transport => RetryAction::DontRetry(
                format!("{method} may have reached the server; not retried").into(),
            ),
            ErrorKind::BodyTooLarge(_) => RetryAction::DontRetry("body too large".into()),
            ErrorKind::Other => RetryAction::DontRetry("unclassified error".into()),
        }
    }
}

/// A jitter source whose clones are independently seeded, so that concurrent requests
/// (each gets a clone of the policy) do not back off in lockstep.
#[derive(Debug)]
pub struct JitterRng(rand::rngs::SmallRng);

impl JitterRng {
    /// A freshly seeded generator.
    pub(crate) fn new() -> Self {
        use rand::SeedableRng;
        Self(rand::rngs::SmallRng::from_rng(&mut rand::rng()))
    }
}

impl Default for JitterRng {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for JitterRng {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl Rng for JitterRng {
    fn next_u64(&mut self) -> u64 {
        rand::RngCore::next_u64(&mut self.0)
    }
}

/// Backoff parameters of a [`RetryPolicy`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    /// First delay.
    pub min: Duration,
    /// Largest delay (jitter included).
    pub max: Duration,
    /// Jitter ratio: each delay gets a uniform extra in `[0, base * jitter]`, capped at
    /// `max`. 0 disables jitter.
    pub jitter: f64,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Upper bound applied to a server's `Retry-After`.
    pub max_retry_after: Duration,
}

/// The generic tower retry policy: counts attempts, asks the [`RetryLogic`], sleeps.
///
/// # Guarantees
/// - At most `1 + max_retries` attempts per request.
/// - The n-th delay is `min * 2^(n-1)` plus jitter, never more than `max`, except that
///   a `Retry-After` (capped at `max_retry_after`) lengthens it.
/// - Requests whose body cannot be cloned (streams) are never retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy<L> {
    logic: L,
    backoff: ExponentialBackoff<JitterRng>,
    attempts: u32,
    config: BackoffConfig,
}

impl<L: RetryLogic> RetryPolicy<L> {
    /// Builds a policy. Invalid backoff parameters (min > max, max = 0, jitter outside
    /// 0..=100) are rejected with a message.
    pub(crate) fn new(logic: L, config: BackoffConfig) -> Result<Self, String> {
        let mut maker =
            ExponentialBackoffMaker::new(config.min, config.max, config.jitter, JitterRng::new())
                .map_err(|e| format!("invalid backoff: {e:?}"))?;
        Ok(Self {
            logic,
            backoff: maker.make_backoff(),
            attempts: 0,
            config,
        })
    }
}

impl<L: RetryLogic> Policy<reqwest::Request, HttpResponse, BoxError> for RetryPolicy<L> {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut reqwest::Request,
        result: &mut Result<HttpResponse, BoxError>,
    ) -> Option<Self::Future> {
        let (action, retry_after) = match result {
            Ok(response) => (
                self.logic.classify_response(req.method(), response),
                response.retry_after(),
            ),
            Err(error) => (self.logic.classify_error(req.method(), error), None),
        };
        let reason = match action {
            RetryAction::Successful => return None,
            RetryAction::DontRetry(reason) => {
                tracing::debug!(url = %req.url().path(), %reason, "not retrying");
                return None;
            }
            RetryAction::Retry(reason) => reason,
        };
        if self.attempts >= self.config.max_retries {
            tracing::debug!(
                url = %req.url().path(),
                %reason,
                attempts = self.attempts + 1,
                "retries exhausted"
            );
            return None;
        }
        self.attempts += 1;
        let mut sleep = self.backoff.next_backoff();
        if let Some(after) = retry_after {
            let wanted = tokio::time::Instant::now() + after.min(self.config.max_retry_after);
            if wanted > sleep.deadline() {
                sleep = tokio::time::sleep_until(wanted);
            }
        }
        let delay = sleep
            .deadline()
            .saturating_duration_since(tokio::time::Instant::now());
        tracing::debug!(
            url = %req.url().path(),
            %reason,
            retry = self.attempts,
            delay_ms = delay.as_millis() as u64,
            "retrying"
        );
        Some(sleep)
    }

    fn clone_request(&mut self, req: &reqwest::Request) -> Option<reqwest::Request> {
        req.try_clone()
    }
}
