//! The tickets HTTP API, its client, and [`TicketAccess`], which picks between them.
//!
//! sled allows one process per database, and the controller keeps its ticket database
//! open for as long as it runs. So the CLI cannot simply open the database while a
//! controller is running: it asks the controller over HTTP instead, and opens the database
//! directly only when no controller answers. If the database is locked *and* no
//! controller answers, [`TicketAccess::connect`] says exactly that rather than failing
//! with a lock error.
//!
//! Routes (all JSON):
//!
//! | method | path                               | auth   |
//! |--------|------------------------------------|--------|
//! | GET    | `/api/v1/tickets?status=&severity=&since=&until=&invariant=&subject=&target=&limit=` | none |
//! | GET    | `/api/v1/tickets/{id}`             | none   |
//! | POST   | `/api/v1/tickets/{id}/ack`         | bearer |
//! | POST   | `/api/v1/tickets/{id}/resolve`     | bearer |
//! | GET    | `/api/v1/events?since=&limit=`     | none   |
//!
//! Mutating routes require `Authorization: Bearer <token>` with the token from the
//! controller's configuration; when no token is configured they are refused (403), never
//! open. `since`/`until` take an RFC 3339 time or a duration meaning "that long ago"
//! (`15m`, `2h`). `status` and `severity` take comma-separated lists.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::model::{format_time, parse_time, Severity, Status, Ticket, TicketEvent, TicketSummary};
use super::store::{StoreError, TicketFilter, TicketStore};

/// What the API needs.
#[derive(Clone)]
pub(crate) struct ApiState {
    store: TicketStore,
    token: Option<String>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("ApiState")
            .field("store", &self.store)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The tickets API router. `token`: bearer token required by mutating routes (`None`
/// disables them).
pub fn router(store: TicketStore, token: Option<String>) -> Router {
    let state = ApiState {
        store,
        token: token.filter(|t| !t.is_empty()),
    };
    Router::new()
        .route("/api/v1/tickets", get(list_tickets))
        .route("/api/v1/tickets/{id}", get(get_ticket))
        .route("/api/v1/tickets/{id}/ack", post(ack_ticket))
        .route("/api/v1/tickets/{id}/resolve", post(resolve_ticket))
        .route("/api/v1/events", get(list_events))
        .with_state(state)
}

/// `GET /api/v1/incidents` and `GET /api/v1/incidents/{id}`: the tickets grouped by
/// shared cause with the subject's causal `links` (see [`super::incidents`]).
pub fn incidents_router(
    store: TicketStore,
    links: std::sync::Arc<dyn super::incidents::CausalLinks>,
) -> Router {
    async fn all(
        store: TicketStore,
        links: std::sync::Arc<dyn super::incidents::CausalLinks>,
    ) -> Result<Vec<super::incidents::Incident>, ApiError> {
        blocking(move || {
            let mut facts = vec![];
            for s in store.list(&TicketFilter::default()) {
                if let Some(t) = store.get(s.id)? {
                    facts.push(super::incidents::IncidentTicket::of(&t));
                }
            }
            Ok(super::incidents::group(
                &facts,
                &*links,
                super::incidents::DEFAULT_WINDOW,
            ))
        })
        .await
    }
    type St = (
        TicketStore,
        std::sync::Arc<dyn super::incidents::CausalLinks>,
    );
    Router::new()
        .route(
            "/api/v1/incidents",
            get(
                |State((store, links)): State<St>| async move { all(store, links).await.map(Json) },
            ),
        )
        .route(
            "/api/v1/incidents/{id}",
            get(
                |State((store, links)): State<St>, UrlPath(id): UrlPath<u64>| async move {
                    all(store, links)
                        .await?
                        .into_iter()
                        .find(|i| i.id == id)
                        .map(Json)
                        .ok_or_else(|| {
                            ApiError(
                                StatusCode::NOT_FOUND,
                                format!("incident {id} does not exist"),
                            )
                        })
                },
            ),
        )
        .with_state((store, links))
}

/// Query of `GET /api/v1/tickets`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ListQuery {
    /// Comma-separated statuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Comma-separated severities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// RFC 3339 or a duration ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// RFC 3339 or a duration ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Invariant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invariant: Option<String>,
    /// Subject name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Maximum number of tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl ListQuery {
    /// Parses the query into a filter, relative times against `now`.
    pub(crate) fn to_filter(&self, now: SystemTime) -> Result<TicketFilter, String> {
        let mut f = TicketFilter::default();
        for s in split_list(self.status.as_deref()) {
            f.statuses.push(Status::parse(s).ok_or_else(|| {
                format!("unknown status {s:?}: expected open, diagnosing, diagnosed, acknowledged or resolved")
            })?);
        }
        for s in split_list(self.severity.as_deref()) {
            f.severities.push(Severity::parse(s).ok_or_else(|| {
                format!("unknown severity {s:?}: expected critical, warning or info")
            })?);
        }
        f.since = self
            .since
            .as_deref()
            .map(|s| parse_since(s, now))
            .transpose()?;
        f.until = self
            .until
            .as_deref()
            .map(|s| parse_since(s, now))
            .transpose()?;
        f.invariant = self.invariant.clone().filter(|s| !s.is_empty());
        f.subject = self.subject.clone().filter(|s| !s.is_empty());
        f.target = self.target.clone().filter(|s| !s.is_empty());
        f.limit = self.limit;
        Ok(f)
    }

    /// The query that selects `filter` (times as RFC 3339).
    pub(crate) fn from_filter(filter: &TicketFilter) -> Self {
        let join = |v: Vec<&str>| (!v.is_empty()).then(|| v.join(","));
        Self {
            status: join(filter.statuses.iter().map(|s| s.name()).collect()),
            severity: join(filter.severities.iter().map(|s| s.name()).collect()),
            since: filter.since.map(format_time),
            until: filter.until.map(format_time),
            invariant: filter.invariant.clone(),
            subject: filter.subject.clone(),
            target: filter.target.clone(),
            limit: filter.limit,
        }
    }
}

fn split_list(s: Option<&str>) -> impl Iterator<Item = &str> {
    s.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Parses an RFC 3339 time, or a duration meaning "that long before `now`" (`15m`).
pub(crate) fn parse_since(s: &str, now: SystemTime) -> Result<SystemTime, String> {
    let s = s.trim();
    if let Some(t) = parse_time(s) {
        return Ok(t);
    }
    match humantime::parse_duration(s) {
        Ok(d) => Ok(now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH)),
        Err(_) => Err(format!(
            "invalid time {s:?}: expected RFC 3339 (2026-07-01T09:30:00Z) or a duration ago (15m, 2h)"
        )),
    }
}

/// Query of `GET /api/v1/events`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct EventsQuery {
    /// RFC 3339 or a duration ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Maximum number of events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// Body of ack/resolve.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ActionBody {
    /// Who (defaults to `api`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The confirmed root cause (resolve only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<crate::diagnose::catalog::Cause>,
}

/// Error body of every route.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Transition(_) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(code, e.to_string())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("ticket store task failed: {e}"),
        )),
    }
}

fn authorize(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.token else {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "mutating the tickets API is disabled: no API token is configured".into(),
        ));
    };
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(p) if constant_time_eq(p.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "invalid bearer token".into(),
        )),
        None => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "missing bearer token (Authorization: Bearer <token>)".into(),
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Compares every byte whatever the first difference (the length is not secret).
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn list_tickets(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = q
        .to_filter(SystemTime::now())
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let list = state.store.list(&filter);
    let refs: Vec<&TicketSummary> = list.iter().map(|s| s.as_ref()).collect();
    Ok(Json(refs).into_response())
}

async fn get_ticket(
    State(state): State<ApiState>,
    UrlPath(id): UrlPath<u64>,
) -> Result<Json<Ticket>, ApiError> {
    let store = state.store.clone();
    let t = blocking(move || store.get(id)).await?;
    t.map(Json)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("ticket {id} not found")))
}

fn action_body(body: Option<Json<ActionBody>>) -> (String, Option<String>) {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let by = body
        .by
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "api".to_string());
    (by, body.note)
}

async fn ack_ticket(
    State(state): State<ApiState>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<u64>,
    body: Option<Json<ActionBody>>,
) -> Result<Json<Ticket>, ApiError> {
    authorize(&state, &headers)?;
    let (by, note) = action_body(body);
    let store = state.store.clone();
    Ok(Json(
        blocking(move || store.ack(id, &by, note.as_deref())).await?,
    ))
}

async fn resolve_ticket(
    State(state): State<ApiState>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<u64>,
    body: Option<Json<ActionBody>>,
) -> Result<Json<Ticket>, ApiError> {
    authorize(&state, &headers)?;
    let cause = body.as_ref().and_then(|Json(b)| b.cause.clone());
    let (by, note) = action_body(body);
    let store = state.store.clone();
    Ok(Json(
        blocking(move || match &cause {
            Some(c) => store.confirm_cause(id, c, &by, note.as_deref()),
            None => store.resolve(id, &by, note.as_deref()),
        })
        .await?,
    ))
}

async fn list_events(
    State(state): State<ApiState>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Vec<TicketEvent>>, ApiError> {
    let since = q
        .since
        .as_deref()
        .map(|s| parse_since(s, SystemTime::now()))
        .transpose()
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let store = state.store.clone();
    let limit = q.limit;
    Ok(Json(blocking(move || store.events(since, limit)).await?))
}

/// Errors of [`TicketsClient`].
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The controller did not answer (connection refused, timeout).
    #[error("the controller at {url} did not answer: {message}")]
    Unreachable {
        /// Base URL.
        url: String,
        /// Why.
        message: String,
    },
    /// No such ticket.
    #[error("ticket {0} not found")]
    NotFound(u64),
    /// The API refused the token.
    #[error("the controller refused the request ({status}): {message}")]
    Unauthorized {
        /// HTTP status.
        status: u16,
        /// The API's message.
        message: String,
    },
    /// Any other HTTP error.
    #[error("the controller answered {status}: {message}")]
    Http {
        /// HTTP status.
        status: u16,
        /// The API's message.
        message: String,
    },
    /// The body could not be decoded.
    #[error("cannot decode the controller's answer: {0}")]
    Decode(String),
}

/// A small client of the tickets API, for the CLI.
#[derive(Clone)]
pub struct TicketsClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for TicketsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketsClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl TicketsClient {
    /// A client of the controller at `base` (`http://127.0.0.1:9464`), with the bearer
    /// token for mutations and a per-request timeout.
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: base.to_string(),
                message: e.to_string(),
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            token: token.filter(|t| !t.is_empty()),
            http,
        })
    }

    /// The base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            url: self.base.clone(),
            message: e.to_string(),
        }
    }

    async fn decode<T: for<'de> Deserialize<'de>>(
        &self,
        resp: Result<reqwest::Response, reqwest::Error>,
        id: Option<u64>,
    ) -> Result<T, ClientError> {
        let resp = resp.map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()));
        }
        let message = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|b| b.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
        Err(match (status.as_u16(), id) {
            (404, Some(id)) => ClientError::NotFound(id),
            (401 | 403, _) => ClientError::Unauthorized {
                status: status.as_u16(),
                message,
            },
            (s, _) => ClientError::Http { status: s, message },
        })
    }

    /// Answers when the controller serves the tickets API.
    pub(crate) async fn ping(&self) -> Result<(), ClientError> {
        let q = ListQuery {
            limit: Some(0),
            ..Default::default()
        };
        let _: Vec<TicketSummary> = self
            .decode(
                self.http
                    .get(format!("{}/api/v1/tickets", self.base))
                    .query(&q)
                    .send()
                    .await,
                None,
            )
            .await?;
        Ok(())
    }

    /// `GET /api/v1/tickets`.
    pub async fn list(&self, filter: &TicketFilter) -> Result<Vec<TicketSummary>, ClientError> {
        let q = ListQuery::from_filter(filter);
        self.decode(
            self.http
                .get(format!("{}/api/v1/tickets", self.base))
                .query(&q)
                .send()
                .await,
            None,
        )
        .await
    }

    /// `GET /api/v1/tickets/{id}`; `None` when not found.
    pub async fn get(&self, id: u64) -> Result<Option<Ticket>, ClientError> {
        let r = self
            .decode(
                self.http
                    .get(format!("{}/api/v1/tickets/{id}", self.base))
                    .send()
                    .await,
                Some(id),
            )
            .await;
        match r {
            Ok(t) => Ok(Some(t)),
            Err(ClientError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn action(
        &self,
        id: u64,
        verb: &str,
        by: &str,
        note: Option<&str>,
        cause: Option<&crate::diagnose::catalog::Cause>,
    ) -> Result<Ticket, ClientError> {
        let mut req = self
            .http
            .post(format!("{}/api/v1/tickets/{id}/{verb}", self.base))
            .json(&ActionBody {
                by: Some(by.to_string()),
                note: note.map(str::to_string),
                cause: cause.cloned(),
            });
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        self.decode(req.send().await, Some(id)).await
    }

    /// `POST /api/v1/tickets/{id}/ack`.
    pub async fn ack(&self, id: u64, by: &str, note: Option<&str>) -> Result<Ticket, ClientError> {
        self.action(id, "ack", by, note, None).await
    }

    /// `POST /api/v1/tickets/{id}/resolve`.
    pub async fn resolve(
        &self,
        id: u64,
        by: &str,
        note: Option<&str>,
    ) -> Result<Ticket, ClientError> {
        self.action(id, "resolve", by, note, None).await
    }

    /// `POST /api/v1/tickets/{id}/resolve` with the confirmed root cause.
    pub async fn confirm_cause(
        &self,
        id: u64,
        cause: &crate::diagnose::catalog::Cause,
        by: &str,
        note: Option<&str>,
    ) -> Result<Ticket, ClientError> {
        self.action(id, "resolve", by, note, Some(cause)).await
    }

    /// `GET /api/v1/events`.
    pub async fn events(
        &self,
        since: Option<SystemTime>,
        limit: Option<usize>,
    ) -> Result<Vec<TicketEvent>, ClientError> {
        let q = EventsQuery {
            since: since.map(format_time),
            limit,
        };
        self.decode(
            self.http
                .get(format!("{}/api/v1/events", self.base))
                .query(&q)
                .send()
                .await,
            None,
        )
        .await
    }
}

/// Errors of [`TicketAccess`].
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The database is held by a controller whose API does not answer.
    #[error(
        "the ticket database {path} is locked by a running controller, but its API at {url} did not answer ({cause}); \
         check that the controller is healthy and that --api points at its listen address"
    )]
    LockedAndUnreachable {
        /// Database path.
        path: PathBuf,
        /// The API URL tried.
        url: String,
        /// Why the API did not answer.
        cause: String,
    },
    /// Local store error.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Remote error.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A blocking task failed.
    #[error("ticket store task failed: {0}")]
    Task(String),
}

/// Where the CLI reads and changes tickets: the database itself, or the running
/// controller's API.
#[derive(Debug, Clone)]
pub enum TicketAccess {
    /// The database, opened by this process.
    Local(TicketStore),
    /// The controller's API.
    Remote(TicketsClient),
}

impl TicketAccess {
    /// Uses the controller at `client` when it answers, otherwise opens `db_path`.
    ///
    /// # Guarantees
    /// Never opens the database while a controller answers (which would fail anyway);
    /// when the database is locked and the controller does not answer, returns
    /// [`AccessError::LockedAndUnreachable`] naming both.
    pub async fn connect(client: TicketsClient, db_path: &Path) -> Result<Self, AccessError> {
        let cause = match client.ping().await {
            Ok(()) => return Ok(Self::Remote(client)),
            Err(e) => e.to_string(),
        };
        let path = db_path.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || TicketStore::open(path))
            .await
            .map_err(|e| AccessError::Task(e.to_string()))?;
        match opened {
            Ok(store) => Ok(Self::Local(store)),
            Err(StoreError::Locked { path }) => Err(AccessError::LockedAndUnreachable {
                path,
                url: client.base().to_string(),
                cause,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// True when going through the controller.
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::Remote(_))
    }

    async fn local<T: Send + 'static>(
        store: &TicketStore,
        f: impl FnOnce(TicketStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, AccessError> {
        let store = store.clone();
        tokio::task::spawn_blocking(move || f(store))
            .await
            .map_err(|e| AccessError::Task(e.to_string()))?
            .map_err(AccessError::from)
    }

    /// Lists ticket summaries.
    pub async fn list(
        &self,
        filter: &TicketFilter,
    ) -> Result<Vec<Arc<TicketSummary>>, AccessError> {
        match self {
            Self::Local(s) => Ok(s.list(filter)),
            Self::Remote(c) => Ok(c.list(filter).await?.into_iter().map(Arc::new).collect()),
        }
    }

    /// One ticket.
    pub async fn get(&self, id: u64) -> Result<Option<Ticket>, AccessError> {
        match self {
            Self::Local(s) => Self::local(s, move |s| s.get(id)).await,
            Self::Remote(c) => Ok(c.get(id).await?),
        }
    }

    /// Acknowledges a ticket.
    pub async fn ack(&self, id: u64, by: &str, note: Option<&str>) -> Result<Ticket, AccessError> {
        match self {
            Self::Local(s) => {
                let (by, note) = (by.to_string(), note.map(str::to_string));
                Self::local(s, move |s| s.ack(id, &by, note.as_deref())).await
            }
            Self::Remote(c) => Ok(c.ack(id, by, note).await?),
        }
    }

    /// Resolves a ticket.
    pub async fn resolve(
        &self,
        id: u64,
        by: &str,
        note: Option<&str>,
    ) -> Result<Ticket, AccessError> {
        match self {
            Self::Local(s) => {
                let (by, note) = (by.to_string(), note.map(str::to_string));
                Self::local(s, move |s| s.resolve(id, &by, note.as_deref())).await
            }
            Self::Remote(c) => Ok(c.resolve(id, by, note).await?),
        }
    }

    /// Confirms a ticket's root cause and resolves it.
    pub(crate) async fn confirm_cause(
        &self,
        id: u64,
        cause: &crate::diagnose::catalog::Cause,
        by: &str,
        note: Option<&str>,
    ) -> Result<Ticket, AccessError> {
        match self {
            Self::Local(s) => {
                let (by, note, cause) = (by.to_string(), note.map(str::to_string), cause.clone());
                Self::local(s, move |s| {
                    s.confirm_cause(id, &cause, &by, note.as_deref())
                })
                .await
            }
            Self::Remote(c) => Ok(c.confirm_cause(id, cause, by, note).await?),
        }
    }

    /// Global events.
    pub async fn events(
        &self,
        since: Option<SystemTime>,
        limit: Option<usize>,
    ) -> Result<Vec<TicketEvent>, AccessError> {
        match self {
            Self::Local(s) => Self::local(s, move |s| s.events(since, limit)).await,
            Self::Remote(c) => Ok(c.events(since, limit).await?),
        }
    }
}
