//! The controller's HTTP surface: `/metrics`, `/healthz`, `/readyz`, `/api/v1/status`,
//! plus whatever routes the binary merges in (the tickets API).
//!
//! The listener and the shutdown future are injected (mini-redis style), so tests bind
//! `127.0.0.1:0` and stop the server deterministically. The default address is
//! localhost; exposing it is an explicit choice of the user.

use std::future::Future;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::reconcile::Controller;
use crate::subject::Subject;

/// Errors of the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Serving failed.
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
}

struct AppState<S: Subject> {
    controller: Controller<S>,
}

impl<S: Subject> Clone for AppState<S> {
    fn clone(&self) -> Self {
        Self {
            controller: self.controller.clone(),
        }
    }
}

/// The readiness verdict: ready when the last pass succeeded, a pass succeeded
/// recently (three resync intervals, at least 30 s), and no critical dependency (the
/// runtime, PD) is unreachable. Unreachable auxiliary dependencies (Prometheus, the
/// model API) leave it ready but say `degraded` and why.
pub(crate) fn readiness<S: Subject>(controller: &Controller<S>) -> Result<String, String> {
    use crate::reconcile::deps::Criticality;
    let deps = controller.metrics().dependencies();
    let blind = deps.blind_reasons(Criticality::Critical);
    if !blind.is_empty() {
        return Err(format!("blind: cannot reach {}", blind.join("; ")));
    }
    let degraded = deps.blind_reasons(Criticality::Auxiliary);
    readiness_of_passes(controller).map(|msg| {
        if degraded.is_empty() {
            msg
        } else {
            format!("{msg} (degraded: cannot reach {})", degraded.join("; "))
        }
    })
}

fn readiness_of_passes<S: Subject>(controller: &Controller<S>) -> Result<String, String> {
    let st = controller.status();
    let window = (controller.subject().resync_interval() * 3).max(Duration::from_secs(30));
    match (st.ok, st.last_success) {
        (_, None) => Err("no reconcile pass has succeeded yet".into()),
        (false, _) => Err(format!(
            "the last reconcile pass failed: {}",
            st.error.unwrap_or_default()
        )),
        (true, Some(t)) => {
            let age = SystemTime::now().duration_since(t).unwrap_or_default();
            if age > window {
                Err(format!("no successful pass for {}s", age.as_secs()))
            } else if let Some(e) = st.spec_error {
                Ok(format!(
                    "ready (spec on disk rejected, previous spec in force: {e})"
                ))
            } else {
                Ok("ready".into())
            }
        }
    }
}

/// The controller routes, with `extra` merged in.
pub fn router<S: Subject>(controller: Controller<S>, extra: Router) -> Router {
    let state = AppState { controller };
    Router::new()
        .route("/metrics", get(metrics::<S>))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz::<S>))
        .route("/api/v1/status", get(status::<S>))
        .with_state(state)
        .merge(extra)
}

async fn metrics<S: Subject>(State(st): State<AppState<S>>) -> Response {
    let body = st
        .controller
        .metrics()
        .render(st.controller.subject().kind());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn readyz<S: Subject>(State(st): State<AppState<S>>) -> Response {
    match readiness(&st.controller) {
        Ok(msg) => (StatusCode::OK, msg + "\n").into_response(),
        Err(msg) => (StatusCode::SERVICE_UNAVAILABLE, msg + "\n").into_response(),
    }
}

async fn status<S: Subject>(State(st): State<AppState<S>>) -> Response {
    Json(st.controller.status()).into_response()
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
