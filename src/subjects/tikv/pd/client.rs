//! The PD HTTP client.
//!
//! # Endpoints and failover
//!
//! Every PD member proxies API calls to the leader, so any member will do. The client
//! keeps the list of client URLs and remembers the one that last answered; a call starts
//! there and moves to the next URL when the request *did not reach* PD (connect error)
//! or, for idempotent methods, when it timed out. A POST that timed out is not re-sent
//! elsewhere: PD may have executed it.
//!
//! With more than one endpoint, the stack's own retries skip connect errors and
//! timeouts (failing over is faster than retrying a dead host); with a single endpoint,
//! they retry them. Either way a 503 "redirect finds no leader" is retried with backoff
//! on any method, since PD refused it before executing it (an election is under way).
//!
//! # Errors
//!
//! PD's error bodies carry RFC codes (`[PD:core:ErrStoresNotEnough]...`); the client
//! parses them into [`PdError::Api`] and maps the ones callers act on into typed
//! outcomes ([`DeleteStoreOutcome`]) or variants ([`PdError::NotBootstrapped`],
//! [`PdError::NoLeader`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower::BoxError;

use super::convert::{assemble_view, region_health, ViewParts};
use super::types::{
    ClusterStatus, EvictLeaderConfig, HotRegions, HotStores, MemberHealth, MembersInfo,
    OperatorObject, PdErrorBody, PdMember, RegionCheck, RegionInfo, RegionsInfo, ReplicationConfig,
    ScheduleConfig, SchedulerRequest, StoreInfo, StoresInfo, VersionInfo,
};
use crate::http::{
    is_idempotent, parse_base_url, DefaultRetryLogic, ErrorKind, HttpClient, HttpConfig, HttpError,
    HttpResponse, RetryAction, RetryLogic,
};
use crate::subjects::tikv::model::{PdView, RegionHealth};

/// The evict-leader scheduler's name.
pub const EVICT_LEADER_SCHEDULER: &str = "evict-leader-scheduler";

/// Errors of PD calls.
#[derive(Debug, thiserror::Error)]
pub enum PdError {
    /// No endpoint could be reached; one error per endpoint tried.
    #[error("no PD endpoint answered: {}", .attempts.iter().map(|(u, e)| format!("{u}: {e}")).collect::<Vec<_>>().join("; "))]
    Unreachable {
        /// `(endpoint, error)` for each endpoint tried.
        attempts: Vec<(String, HttpError)>,
    },
    /// A transport or decoding error on an endpoint that was reached.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Cluster routes answer 500 `ErrNotBootstrapped` until the first TiKV starts.
    #[error("the TiKV cluster is not bootstrapped yet")]
    NotBootstrapped,
    /// PD has no leader (503 `ErrRedirectNoLeader` after retries): an election is on.
    #[error("PD has no leader: {0}")]
    NoLeader(String),
    /// PD refused the call.
    #[error("PD answered {status} to {method} {path}: {message}")]
    Api {
        /// Method.
        method: Method,
        /// Path.
        path: String,
        /// HTTP status.
        status: u16,
        /// RFC error code without prefix (`ErrStoresNotEnough`), when present.
        code: Option<String>,
        /// Message.
        message: String,
    },
    /// The configuration is unusable (no endpoints, invalid URL).
    #[error("invalid PD client configuration: {0}")]
    Config(String),
}

impl PdError {
    /// The HTTP status of an [`PdError::Api`] error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            Self::Http(e) => e.status(),
            _ => None,
        }
    }

    /// The PD error code of an [`PdError::Api`] error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// Result of `DELETE /pd/api/v1/store/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteStoreOutcome {
    /// The store is now Offline (or already was): PD drains it, then buries it.
    Offline,
    /// PD refused: removing it would leave fewer Up stores than max-replicas.
    StoresNotEnough {
        /// PD's message (`can not remove store 1 since the number of up stores would be
        /// 2 while need 3`).
        message: String,
    },
    /// The store is already a Tombstone (HTTP 410).
    AlreadyTombstone,
    /// No such store (HTTP 404).
    NotFound,
}

/// Target of `POST /pd/api/v1/store/{id}/state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreStateTarget {
    /// Cancel an offline (Removing → Serving).
    Up,
    /// Start removing the store (same checks as delete).
    Offline,
}

impl StoreStateTarget {
    fn as_str(self) -> &'static str {
        match self {
            Self::Up => "Up",
            Self::Offline => "Offline",
        }
    }
}

/// True when PD says the scheduler (or its per-store config) does not exist: 404, or an
/// `ErrSchedulerNotFound` / "does not exist" message on another status.
fn scheduler_absent(response: &HttpResponse) -> bool {
    if response.status.as_u16() == 404 {
        return true;
    }
    if response.status.is_success() {
        return false;
    }
    let body = PdErrorBody::parse(&response.body);
    body.code.as_deref() == Some("ErrSchedulerNotFound")
        || body.message.contains("scheduler not found")
        || body.message.contains("does not exist")
}

/// Treats "not bootstrapped" as "nothing there yet".
fn tolerate_unbootstrapped<T>(result: Result<Vec<T>, PdError>) -> Result<Vec<T>, PdError> {
    match result {
        Err(PdError::NotBootstrapped) => Ok(Vec::new()),
        other => other,
    }
}

/// PD's retry classification (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct PdRetryLogic {
    /// More than one endpoint: leave connect errors and timeouts to failover.
    pub failover: bool,
}

fn is_no_leader(response: &HttpResponse) -> bool {
    response.status.as_u16() == 503 && {
        let text = response.text_lossy();
        text.contains("ErrRedirectNoLeader") || text.contains("redirect finds no leader")
    }
}

fn is_not_bootstrapped(response: &HttpResponse) -> bool {
    response.status.as_u16() == 500 && response.text_lossy().contains("ErrNotBootstrapped")
}

impl RetryLogic for PdRetryLogic {
    fn classify_response(&self, method: &Method, response: &HttpResponse) -> RetryAction {
        if is_no_leader(response) {
            return RetryAction::Retry("PD has no leader (election under way)".into());
        }
        if is_not_bootstrapped(response) {
            return RetryAction::DontRetry("cluster not bootstrapped".into());
        }
        DefaultRetryLogic.classify_response(method, response)
    }

    fn classify_error(&self, method: &Method, error: &BoxError) -> RetryAction {
        if self.failover {
            match ErrorKind::of(error) {
                ErrorKind::Connect => {
                    return RetryAction::DontRetry("connect error: fail over".into())
                }
                ErrorKind::Timeout if is_idempotent(method) => {
                    return RetryAction::DontRetry("timeout: fail over".into())
                }
                _ => {}
            }
        }
        DefaultRetryLogic.classify_error(method, error)
    }
}

/// A client for PD's HTTP API over the shared [stack](crate::http).
///
/// Cheap to clone; clones share the remembered endpoint.
#[derive(Debug, Clone)]
pub struct PdClient {
    http: HttpClient,
    endpoints: Arc<Vec<reqwest::Url>>,
    preferred: Arc<AtomicUsize>,
}

impl PdClient {
    /// A client over `endpoints` (PD client URLs, `http://pd0:2379` or `pd0:2379`),
    /// with the given stack configuration. Must be called inside a Tokio runtime.
    pub fn new<S: AsRef<str>>(endpoints: &[S], config: HttpConfig) -> Result<Self, PdError> {
        if endpoints.is_empty() {
            return Err(PdError::Config("at least one PD endpoint is needed".into()));
        }
        let endpoints = endpoints
            .iter()
            .map(|e| parse_base_url(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PdError::Config(e.to_string()))?;
        let logic = PdRetryLogic {
            failover: endpoints.len() > 1,
        };
        let http = HttpClient::new(config, logic).map_err(|e| PdError::Config(e.to_string()))?;
        Ok(Self {
            http,
            endpoints: Arc::new(endpoints),
            preferred: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The endpoint calls start with (the last one that answered).
    pub fn current_endpoint(&self) -> &reqwest::Url {
        &self.endpoints[self.preferred.load(Ordering::Relaxed) % self.endpoints.len()]
    }

    fn url(base: &reqwest::Url, path: &[&str]) -> reqwest::Url {
        let mut url = base.clone();
        url.set_query(None);
        {
            // A base URL always has a host here (checked by parse_base_url).
            let mut segments = url
                .path_segments_mut()
                .expect("base URL validated by parse_base_url");
            segments.clear();
            segments.extend(["pd", "api", "v1"]);
            segments.extend(path);
        }
        url
    }

    /// Sends one call with failover. Returns the response whatever its status.
    async fn call(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<HttpResponse, PdError> {
        let n = self.endpoints.len();
        let start = self.preferred.load(Ordering::Relaxed);
        let mut attempts = Vec::new();
        for i in 0..n {
            let index = (start + i) % n;
            let url = Self::url(&self.endpoints[index], path);
            let mut request = self.http.request(method.clone(), url);
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(bytes) = body {
                request = request
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(bytes.to_vec());
            }
            match self.http.send(request).await {
                Ok(response) => {
                    if index != start {
                        tracing::info!(
                            endpoint = %self.endpoints[index],
                            "PD client switched endpoint"
                        );
                    }
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok(response);
                }
                Err(error) => {
                    let may_fail_over =
                        error.is_connect() || (error.is_timeout() && is_idempotent(&method));
                    if !may_fail_over {
                        return Err(error.into());
                    }
                    tracing::debug!(
                        endpoint = %self.endpoints[index],
                        %error,
                        "PD endpoint failed; trying the next"
                    );
                    attempts.push((self.endpoints[index].to_string(), error));
                }
            }
        }
        Err(PdError::Unreachable { attempts })
    }

    /// Maps a non-2xx response into a [`PdError`].
    fn api_error(method: &Method, path: &[&str], response: &HttpResponse) -> PdError {
        if is_not_bootstrapped(response) {
            return PdError::NotBootstrapped;
        }
        let body = PdErrorBody::parse(&response.body);
        if is_no_leader(response) {
            return PdError::NoLeader(body.message);
        }
        PdError::Api {
            method: method.clone(),
            path: format!("/pd/api/v1/{}", path.join("/")),
            status: response.status.as_u16(),
            code: body.code,
            message: body.message,
        }
    }

    async fn expect_ok(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<HttpResponse, PdError> {
        let response = self.call(method.clone(), path, query, body).await?;
        if response.status.is_success() {
            Ok(response)
        } else {
            Err(Self::api_error(&method, path, &response))
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, PdError> {
        Ok(self
            .expect_ok(Method::GET, path, query, None)
            .await?
            .json()?)
    }

    async fn post_json<B: Serialize>(&self, path: &[&str], body: &B) -> Result<(), PdError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| PdError::Config(format!("request body does not serialize: {e}")))?;
        self.expect_ok(Method::POST, path, &[], Some(&bytes))
            .await
            .map(drop)
    }

    // ----- members ---------------------------------------------------------------------

    /// `GET /members`: all members, the leader and the cluster id.
    pub async fn members(&self) -> Result<MembersInfo, PdError> {
        self.get(&["members"], &[]).await
    }

    /// `GET /leader`: the leader as stored in etcd.
    pub async fn leader(&self) -> Result<PdMember, PdError> {
        self.get(&["leader"], &[]).await
    }

    /// `GET /health`: each member's health.
    pub(crate) async fn health(&self) -> Result<Vec<MemberHealth>, PdError> {
        self.get(&["health"], &[]).await
    }

    /// `DELETE /members/name/{name}`. `Ok(false)` when no such member (already gone).
    pub(crate) async fn delete_member(&self, name: &str) -> Result<bool, PdError> {
        let path = ["members", "name", name];
        let response = self.call(Method::DELETE, &path, &[], None).await?;
        match response.status.as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(Self::api_error(&Method::DELETE, &path, &response)),
        }
    }

    /// `POST /leader/transfer/{name}`: moves PD leadership to `name`.
    pub async fn transfer_leader(&self, name: &str) -> Result<(), PdError> {
        self.expect_ok(Method::POST, &["leader", "transfer", name], &[], None)
            .await
            .map(drop)
    }

    // ----- cluster ---------------------------------------------------------------------

    /// `GET /cluster/status`.
    pub async fn cluster_status(&self) -> Result<ClusterStatus, PdError> {
        self.get(&["cluster", "status"], &[]).await
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<VersionInfo, PdError> {
        self.get(&["version"], &[]).await
    }

    // ----- stores ----------------------------------------------------------------------

    /// `GET /stores`; with `include_tombstone`, `?state=0&state=1&state=2` so Tombstones
    /// are listed too (PD hides them by default).
    pub async fn stores(&self, include_tombstone: bool) -> Result<StoresInfo, PdError> {
        let query: Vec<(&str, String)> = if include_tombstone {
            vec![
                ("state", "0".into()),
                ("state", "1".into()),
                ("state", "2".into()),
            ]
        } else {
            Vec::new()
        };
        self.get(&["stores"], &query).await
    }

    /// `GET /store/{id}`; `Ok(None)` on 404.
    pub async fn store(&self, id: u64) -> Result<Option<StoreInfo>, PdError> {
        let id = id.to_string();
        let path = ["store", id.as_str()];
        let response = self.call(Method::GET, &path, &[], None).await?;
        match response.status.as_u16() {
            200..=299 => Ok(Some(response.json()?)),
            404 => Ok(None),
            _ => Err(Self::api_error(&Method::GET, &path, &response)),
        }
    }

    /// `DELETE /store/{id}`: starts removing a store.
    ///
    /// # Guarantees
    /// PD's refusals that callers act on come back as outcomes, not errors: 400
    /// `ErrStoresNotEnough` → [`DeleteStoreOutcome::StoresNotEnough`], 410 →
    /// [`DeleteStoreOutcome::AlreadyTombstone`], 404 → [`DeleteStoreOutcome::NotFound`].
    pub async fn delete_store(&self, id: u64) -> Result<DeleteStoreOutcome, PdError> {
        let id = id.to_string();
        let path = ["store", id.as_str()];
        let response = self.call(Method::DELETE, &path, &[], None).await?;
        let body = PdErrorBody::parse(&response.body);
        match response.status.as_u16() {
            200..=299 => Ok(DeleteStoreOutcome::Offline),
            404 => Ok(DeleteStoreOutcome::NotFound),
            410 => Ok(DeleteStoreOutcome::AlreadyTombstone),
            400 if body.code.as_deref() == Some("ErrStoresNotEnough") => {
                Ok(DeleteStoreOutcome::StoresNotEnough {
                    message: body.message,
                })
            }
            _ => Err(Self::api_error(&Method::DELETE, &path, &response)),
        }
    }

    /// `POST /store/{id}/state?state=Up|Offline`.
    pub async fn set_store_state(&self, id: u64, target: StoreStateTarget) -> Result<(), PdError> {
        let id = id.to_string();
        self.expect_ok(
            Method::POST,
            &["store", id.as_str(), "state"],
            &[("state", target.as_str().to_owned())],
            None,
        )
        .await
        .map(drop)
    }

    // ----- config ----------------------------------------------------------------------

    /// `GET /config/replicate`.
    pub(crate) async fn config_replicate(&self) -> Result<ReplicationConfig, PdError> {
        self.get(&["config", "replicate"], &[]).await
    }

    /// `GET /config/schedule`.
    pub(crate) async fn config_schedule(&self) -> Result<ScheduleConfig, PdError> {
        self.get(&["config", "schedule"], &[]).await
    }

    // ----- schedulers ------------------------------------------------------------------

    /// `GET /schedulers`: enabled scheduler names (unordered).
    pub(crate) async fn schedulers(&self) -> Result<Vec<String>, PdError> {
        self.get(&["schedulers"], &[]).await
    }

    /// Adds `store_id` to the evict-leader scheduler (creating it if needed).
    pub async fn add_evict_leader(&self, store_id: u64) -> Result<(), PdError> {
        self.post_json(
            &["schedulers"],
            &SchedulerRequest {
                name: EVICT_LEADER_SCHEDULER.into(),
                store_id: Some(store_id),
            },
        )
        .await
    }

    /// `DELETE /schedulers/evict-leader-scheduler-{id}`: stops evicting leaders from
    /// `store_id`. Already gone (404 or `ErrSchedulerNotFound`) is `Ok`.
    pub async fn remove_evict_leader(&self, store_id: u64) -> Result<(), PdError> {
        let name = format!("{EVICT_LEADER_SCHEDULER}-{store_id}");
        let path = ["schedulers", name.as_str()];
        let response = self.call(Method::DELETE, &path, &[], None).await?;
        if response.status.is_success() || scheduler_absent(&response) {
            return Ok(());
        }
        Err(Self::api_error(&Method::DELETE, &path, &response))
    }

    /// Stores whose leaders are being evicted; empty when the scheduler does not exist.
    pub async fn evict_leader_stores(&self) -> Result<Vec<u64>, PdError> {
        let path = ["scheduler-config", EVICT_LEADER_SCHEDULER, "list"];
        let response = self.call(Method::GET, &path, &[], None).await?;
        if response.status.is_success() {
            return Ok(response.json::<EvictLeaderConfig>()?.store_ids());
        }
        if scheduler_absent(&response) || response.status.as_u16() == 406 {
            // 406: PD has no scheduler-config handler yet (cluster not bootstrapped).
            return Ok(Vec::new());
        }
        Err(Self::api_error(&Method::GET, &path, &response))
    }

    // ----- regions ---------------------------------------------------------------------

    /// `GET /region/id/{id}`; `Ok(None)` for PD's zero-object "not found".
    pub async fn region(&self, id: u64) -> Result<Option<RegionInfo>, PdError> {
        let region: RegionInfo = self.get(&["region", "id", &id.to_string()], &[]).await?;
        Ok((!region.is_not_found_placeholder()).then_some(region))
    }

    /// `GET /regions/count`: the number of regions.
    pub(crate) async fn regions_count(&self) -> Result<u64, PdError> {
        Ok(self
            .get::<RegionsInfo>(&["regions", "count"], &[])
            .await?
            .count)
    }

    /// `GET /regions/check/{kind}`.
    pub(crate) async fn region_check(&self, kind: RegionCheck) -> Result<RegionsInfo, PdError> {
        self.get(&["regions", "check", kind.as_str()], &[]).await
    }

    /// The number of regions failing check `kind`.
    pub(crate) async fn region_check_count(&self, kind: RegionCheck) -> Result<u64, PdError> {
        Ok(self.region_check(kind).await?.count)
    }

    /// All six peer checks and the region total, fetched concurrently.
    pub(crate) async fn region_health(&self) -> Result<RegionHealth, PdError> {
        let kinds = [
            RegionCheck::MissPeer,
            RegionCheck::ExtraPeer,
            RegionCheck::DownPeer,
            RegionCheck::PendingPeer,
            RegionCheck::OfflinePeer,
            RegionCheck::LearnerPeer,
        ];
        let checks =
            futures::future::try_join_all(kinds.iter().map(|kind| self.region_check_count(*kind)));
        let (counts, total) = tokio::join!(checks, self.regions_count());
        let counts: HashMap<RegionCheck, u64> = kinds.into_iter().zip(counts?).collect();
        // `/regions/count` is an old route; a PD (or stand-in) without it still yields
        // the checks.
        let total = match total {
            Ok(total) => total,
            Err(e) if e.status() == Some(404) => 0,
            Err(e) => return Err(e),
        };
        Ok(region_health(&counts, total))
    }

    // ----- hotspots --------------------------------------------------------------------

    /// `GET /hotspot/regions/write`.
    pub(crate) async fn hotspot_write(&self) -> Result<HotRegions, PdError> {
        self.get(&["hotspot", "regions", "write"], &[]).await
    }

    /// `GET /hotspot/regions/read`.
    pub(crate) async fn hotspot_read(&self) -> Result<HotRegions, PdError> {
        self.get(&["hotspot", "regions", "read"], &[]).await
    }

    /// `GET /hotspot/stores`.
    pub async fn hotspot_stores(&self) -> Result<HotStores, PdError> {
        self.get(&["hotspot", "stores"], &[]).await
    }

    // ----- operators -------------------------------------------------------------------

    /// `GET /operators?object`: running operators as objects.
    pub async fn operators(&self) -> Result<Vec<OperatorObject>, PdError> {
        self.get(&["operators"], &[("object", "true".to_owned())])
            .await
    }

    // ----- the whole view --------------------------------------------------------------

    /// Gathers PD's view of the cluster in one concurrent pass.
    ///
    /// # Guarantees
    /// - Fails with [`PdError::Unreachable`] when no endpoint answers, and with the
    ///   underlying error when a part the planner relies on (members, stores,
    ///   replication/schedule config, schedulers, evict-leader stores) fails: a partial
    ///   view is never passed off as complete.
    /// - Before bootstrap (cluster routes answer 500 `ErrNotBootstrapped`) the view has
    ///   `bootstrapped = false`, no stores and no region health.
    /// - Member health and region health are best-effort: on error they are `None`.
    /// - Stores include Tombstones.
    pub async fn observe(&self) -> Result<PdView, PdError> {
        let members = self.members().await?;
        let (
            (leader, health, stores, replication, schedule, schedulers, evict, regions),
            (hot_read, hot_write),
        ) = tokio::join!(
            async {
                tokio::join!(
                    self.leader(),
                    self.health(),
                    self.stores(true),
                    self.config_replicate(),
                    self.config_schedule(),
                    self.schedulers(),
                    self.evict_leader_stores(),
                    self.region_health(),
                )
            },
            async { tokio::join!(self.hotspot_read(), self.hotspot_write()) },
        );
        let (bootstrapped, stores) = match stores {
            Ok(s) => (true, s.stores),
            Err(PdError::NotBootstrapped) => (false, Vec::new()),
            Err(e) => return Err(e),
        };
        let schedulers = tolerate_unbootstrapped(schedulers)?;
        let evict_leader_stores: Vec<u64> = tolerate_unbootstrapped(evict)?;
        let region_health = match regions {
            Ok(h) if bootstrapped => Some(h),
            Ok(_) | Err(PdError::NotBootstrapped) => None,
            Err(e) => {
                tracing::warn!(error = %e, "PD region checks failed; region health unknown");
                None
            }
        };
        let health = match health {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "PD /health failed; member health unknown");
                None
            }
        };
        // Hot regions are best-effort, like health: a diagnosis names the region behind a
        // hot store when PD lists it.
        let hot = |r: Result<HotRegions, PdError>, kind: &str| match r {
            Ok(h) if bootstrapped => Some(h),
            Ok(_) | Err(PdError::NotBootstrapped) => None,
            Err(e) => {
                tracing::debug!(error = %e, kind, "PD hotspot regions failed");
                None
            }
        };
        let hot_read = hot(hot_read, "read");
        let hot_write = hot(hot_write, "write");
        let leader = match leader {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::debug!(error = %e, "PD /leader failed; using members.leader");
                None
            }
        };
        Ok(assemble_view(ViewParts {
            endpoint: self
                .current_endpoint()
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            members,
            leader,
            health,
            bootstrapped,
            stores,
            replication: replication?,
            schedule: schedule?,
            schedulers,
            evict_leader_stores,
            region_health,
            hot_read,
            hot_write,
        }))
    }
}
