//! The simulated pd-server: PD's `/pd/api/v1` HTTP API on the client URL, a small
//! Raft-like leader election between PD members on the peer URL, follower-to-leader
//! proxying, and persistence of the cluster state in `--data-dir`.
//!
//! # Election (peer URL, JSON over HTTP)
//!
//! * `POST /sim/peer/vote` `{term, candidate}` → `{term, granted}`. A member grants one
//!   vote per term, and only to a candidate whose replicated state revision is at least
//!   its own (the "log up-to-date" rule).
//! * `POST /sim/peer/append` `{term, leader, members, revision, snapshot?}` → `{term,
//!   success, revision, member}`: the leader's heartbeat every 250 ms. It carries the
//!   member list and, when the follower's revision differs, the serialized
//!   [`ClusterModel`], so a new leader continues with the same stores and regions.
//! * `POST /sim/peer/timeout-now` `{term}`: the target campaigns at once
//!   (`/leader/transfer/{name}`).
//!
//! Election timeouts are randomized in 1–2 s (not scaled by the time factor). A leader
//! that has not heard from a majority within 2 s steps down, so a partitioned leader stops
//! serving cluster routes.
//!
//! # Internal client-URL endpoints (used by the simulated TiKV)
//!
//! All are proxied to the leader like PD's own API:
//! * `POST /sim/internal/put-store` [`PutStore`] → `{"store_id": N}`;
//! * `POST /sim/internal/store-heartbeat` [`StoreHeartbeat`] → [`super::model::HeartbeatReply`];
//! * `POST /sim/internal/region-heartbeat` `{"store_id": N}` → `{"regions": n}`;
//! * `POST /sim/internal/join` `{name, peer_urls, client_urls}` → `{cluster_id, member_id, members}`.
//!
//! # Workload knob
//!
//! `PUT /sim/v1/workload` `{"hot_range":{"start_key":"<hex>","end_key":"<hex>","qps":5000,"kind":"write|read|both"}}`
//! (also `read_qps`, `write_qps`, `value_bytes`), `DELETE /sim/v1/workload` clears the hot
//! range. Keys are the upper-case hex PD shows in region JSON (raw keys are accepted too).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::model::{self, ClusterModel, ModelError, PutStore, StoreHeartbeat, CHECKS, KEY_MAX};
use super::wire::{self, GoFloat, LogFlavor, LogSink, Logger, TomlValue};
use super::SimError;

mod api;
use api::*;

/// PD version reported everywhere.
pub(crate) const PD_VERSION: &str = "v8.5.7";
/// PD git hash reported.
pub(crate) const PD_GIT_HASH: &str = "6dce4a68e3e93b523657bd05cba89a86d64de117";
const STATE_FILE: &str = "sim-pd-state.json";

/// How one PD process is configured (from the pd-server command line).
#[derive(Debug, Clone)]
pub struct PdConfig {
    /// `--name`.
    pub name: String,
    /// `--data-dir` (None: no persistence).
    pub data_dir: Option<PathBuf>,
    /// `--client-urls` (listen).
    pub client_urls: Vec<String>,
    /// `--advertise-client-urls`.
    pub advertise_client_urls: Vec<String>,
    /// `--peer-urls` (listen).
    pub peer_urls: Vec<String>,
    /// `--advertise-peer-urls`.
    pub advertise_peer_urls: Vec<String>,
    /// `--initial-cluster` as (name, peer url).
    pub initial_cluster: Vec<(String, String)>,
    /// `--join` client URLs.
    pub join: Vec<String>,
    /// `--config` overrides (dotted keys).
    pub overrides: BTreeMap<String, TomlValue>,
    /// Log destination.
    pub log: LogSink,
    /// `TIKV_SIM_TIME_FACTOR`.
    pub time_factor: f64,
    /// `TIKV_SIM_SEED`.
    pub seed: u64,
    /// Regions created at bootstrap.
    pub initial_regions: u64,
    /// Scale mode: (stores, regions, silent stores).
    pub scale: Option<(u64, u64, u64)>,
}

impl PdConfig {
    /// Defaults for a member called `name` (listening addresses must still be set).
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            data_dir: None,
            client_urls: vec!["http://127.0.0.1:2379".into()],
            advertise_client_urls: vec![],
            peer_urls: vec!["http://127.0.0.1:2380".into()],
            advertise_peer_urls: vec![],
            initial_cluster: vec![],
            join: vec![],
            overrides: BTreeMap::new(),
            log: LogSink::Stderr,
            time_factor: 1.0,
            seed: 0,
            initial_regions: 24,
            scale: None,
        }
    }
    fn adv_client(&self) -> Vec<String> {
        if self.advertise_client_urls.is_empty() {
            self.client_urls.clone()
        } else {
            self.advertise_client_urls.clone()
        }
    }
    fn adv_peer(&self) -> Vec<String> {
        if self.advertise_peer_urls.is_empty() {
            self.peer_urls.clone()
        } else {
            self.advertise_peer_urls.clone()
        }
    }
}

/// A PD member as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MemberInfo {
    /// Name.
    pub name: String,
    /// Member id.
    pub member_id: u64,
    /// Peer URLs.
    pub peer_urls: Vec<String>,
    /// Client URLs.
    pub client_urls: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Follower,
    Candidate,
    Leader,
}

#[derive(Debug)]
struct Raft {
    term: u64,
    voted_for: Option<u64>,
    role: Role,
    leader: Option<u64>,
    members: BTreeMap<u64, MemberInfo>,
    deadline: Instant,
    acks: HashMap<u64, Instant>,
    peer_revision: HashMap<u64, u64>,
    suppress_until: Instant,
    removed: bool,
}

#[derive(Serialize, Deserialize)]
struct Persisted {
    term: u64,
    voted_for: Option<u64>,
    members: Vec<MemberInfo>,
    model: ClusterModel,
}

/// Shared state of one PD process.
pub struct PdNode {
    cfg: PdConfig,
    me: Mutex<MemberInfo>,
    raft: Mutex<Raft>,
    model: Mutex<ClusterModel>,
    logger: Logger,
    http: reqwest::Client,
    start: SystemTime,
    persisted_revision: Mutex<u64>,
}

impl std::fmt::Debug for PdNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdNode")
            .field("name", &self.cfg.name)
            .finish()
    }
}

fn hash64(s: &str) -> u64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn election_timeout(single: bool) -> Duration {
    if single {
        return Duration::from_millis(200);
    }
    Duration::from_millis(1000 + rand::random::<u64>() % 1000)
}

/// A simple HTTP response the dispatcher produces.
#[derive(Debug)]
struct Resp {
    status: u16,
    content_type: &'static str,
    body: String,
}

const CT_JSON: &str = "application/json; charset=UTF-8";
const CT_DATA: &str = "application/octet-stream";
const CT_TEXT: &str = "text/plain; charset=utf-8";

fn pretty<T: Serialize>(status: u16, v: &T) -> Resp {
    let mut body = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    body.push('\n');
    Resp {
        status,
        content_type: CT_JSON,
        body,
    }
}
fn json_str(status: u16, s: &str) -> Resp {
    pretty(status, &s)
}
fn data(body: String) -> Resp {
    Resp {
        status: 200,
        content_type: CT_DATA,
        body,
    }
}
fn model_err(e: ModelError) -> Resp {
    json_str(e.status(), &e.to_string())
}

impl IntoResponse for Resp {
    fn into_response(self) -> Response {
        let mut r = (
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            self.body,
        )
            .into_response();
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static(self.content_type));
        r
    }
}

/// A running PD process (or in-process member).
#[derive(Debug)]
pub struct PdHandle {
    /// Shared node state.
    pub node: Arc<PdNode>,
    /// Bound client address.
    pub client_addr: SocketAddr,
    /// Bound peer address.
    pub peer_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    cancel: CancellationToken,
}

impl PdHandle {
    /// Stops at once, like a killed process (sockets close, state stays on disk).
    pub(crate) fn kill(&mut self) {
        self.cancel.cancel();
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
    /// Waits for the tasks to finish after the token was cancelled.
    pub(crate) async fn join(mut self) {
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for PdHandle {
    fn drop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

fn url_to_bind(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

/// Starts a PD member. `listeners` (client, peer) may be pre-bound (in-process clusters
/// bind `127.0.0.1:0` first so URLs are known before the members start).
///
/// # Guarantees
/// Returns once both listeners are bound and the background tasks (election, ticking,
/// persistence, HTTP) are running; they all stop when `cancel` fires.
pub async fn start_pd(
    cfg: PdConfig,
    listeners: Option<(TcpListener, TcpListener)>,
    cancel: CancellationToken,
) -> Result<PdHandle, SimError> {
    let (client_l, peer_l) = match listeners {
        Some(l) => l,
        None => {
            let c = cfg.client_urls.first().cloned().unwrap_or_default();
            let p = cfg.peer_urls.first().cloned().unwrap_or_default();
            let cl = TcpListener::bind(url_to_bind(&c))
                .await
                .map_err(|e| SimError::Bind(c.clone(), e.to_string()))?;
            let pl = TcpListener::bind(url_to_bind(&p))
                .await
                .map_err(|e| SimError::Bind(p.clone(), e.to_string()))?;
            (cl, pl)
        }
    };
    let client_addr = client_l
        .local_addr()
        .map_err(|e| SimError::Bind("client".into(), e.to_string()))?;
    let peer_addr = peer_l
        .local_addr()
        .map_err(|e| SimError::Bind("peer".into(), e.to_string()))?;
    let logger = Logger::new(cfg.log.clone(), LogFlavor::Pd);
    log_welcome(&logger);

    let me = MemberInfo {
        name: cfg.name.clone(),
        member_id: hash64(&format!("{}|{}", cfg.name, cfg.adv_peer().join(","))),
        peer_urls: cfg.adv_peer(),
        client_urls: cfg.adv_client(),
    };
    let cluster_seed = if cfg.initial_cluster.is_empty() {
        format!("{}={}", cfg.name, cfg.adv_peer().join(","))
    } else {
        cfg.initial_cluster
            .iter()
            .map(|(n, u)| format!("{n}={u}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let cluster_id = hash64(&format!("pd-cluster|{cluster_seed}")) >> 1;
    let mut members = BTreeMap::new();
    for (n, u) in &cfg.initial_cluster {
        let id = if *n == cfg.name {
            me.member_id
        } else {
            hash64(&format!("{n}|{u}"))
        };
        members.insert(
            id,
            MemberInfo {
                name: n.clone(),
                member_id: id,
                peer_urls: vec![u.clone()],
                client_urls: vec![],
            },
        );
    }
    if cfg.join.is_empty() {
        members.insert(me.member_id, me.clone());
    }
    let mut model = ClusterModel::new(cluster_id, cfg.time_factor, cfg.seed, cfg.initial_regions);
    apply_overrides(&mut model, &cfg.overrides);
    let mut term = 0;
    let mut voted_for = None;
    // Resume from the data dir.
    let mut resumed = false;
    if let Some(dir) = &cfg.data_dir {
        let path = dir.join(STATE_FILE);
        if let Ok(text) = std::fs::read_to_string(&path) {
            match serde_json::from_str::<Persisted>(&text) {
                Ok(p) => {
                    model = p.model;
                    model.time_factor = cfg.time_factor;
                    model.rebuild_indexes();
                    term = p.term;
                    voted_for = p.voted_for;
                    members = p.members.into_iter().map(|m| (m.member_id, m)).collect();
                    members.insert(me.member_id, me.clone());
                    resumed = true;
                }
                Err(e) => logger.warn(
                    "server.go:400",
                    "failed to load persisted state",
                    vec![("error", e.to_string())].as_slice(),
                ),
            }
        }
    }
    if let Some((stores, regions, silent)) = cfg.scale {
        if !resumed {
            model = ClusterModel::new_scale(
                cluster_id,
                cfg.time_factor,
                cfg.seed,
                stores,
                regions,
                silent,
                now_ms(),
            );
            apply_overrides(&mut model, &cfg.overrides);
        }
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .connect_timeout(Duration::from_millis(500))
        .pool_idle_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| SimError::Http(e.to_string()))?;
    let single = members.len() <= 1 && cfg.join.is_empty();
    let node = Arc::new(PdNode {
        me: Mutex::new(me.clone()),
        raft: Mutex::new(Raft {
            term,
            voted_for,
            role: Role::Follower,
            leader: None,
            members,
            deadline: Instant::now() + election_timeout(single),
            acks: HashMap::new(),
            peer_revision: HashMap::new(),
            suppress_until: Instant::now(),
            removed: false,
        }),
        model: Mutex::new(model),
        logger,
        http,
        start: SystemTime::now(),
        persisted_revision: Mutex::new(u64::MAX),
        cfg,
    });

    let mut tasks = Vec::new();
    let client_app = axum::Router::new()
        .fallback(client_entry)
        .with_state(node.clone());
    let peer_app = axum::Router::new()
        .fallback(peer_entry)
        .with_state(node.clone());
    let c1 = cancel.clone();
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(client_l, client_app)
            .with_graceful_shutdown(c1.cancelled_owned())
            .await;
    }));
    let c2 = cancel.clone();
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(peer_l, peer_app)
            .with_graceful_shutdown(c2.cancelled_owned())
            .await;
    }));
    if !node.cfg.join.is_empty() && !resumed {
        join_cluster(&node).await?;
    }
    node.logger.info(
        "member.go:352",
        "member joining election",
        &[
            (
                "member-info",
                format!("name:{:?} member_id:{} ", me.name, me.member_id),
            ),
            ("root-path", format!("/pd/{cluster_id}")),
        ],
    );
    let n = node.clone();
    let c3 = cancel.clone();
    tasks.push(tokio::spawn(async move { election_loop(n, c3).await }));
    let n = node.clone();
    let c4 = cancel.clone();
    tasks.push(tokio::spawn(async move { tick_loop(n, c4).await }));
    Ok(PdHandle {
        node,
        client_addr,
        peer_addr,
        tasks,
        cancel,
    })
}

fn log_welcome(l: &Logger) {
    l.info(
        "versioninfo.go:115",
        "Welcome to Placement Driver (PD)",
        &[],
    );
    l.info(
        "versioninfo.go:116",
        "PD",
        &[("release-version", PD_VERSION.into())],
    );
    l.info(
        "versioninfo.go:117",
        "PD",
        &[("edition", "Community".into())],
    );
    l.info(
        "versioninfo.go:118",
        "PD",
        &[("git-hash", PD_GIT_HASH.into())],
    );
    l.info("versioninfo.go:119", "PD", &[("git-branch", "HEAD".into())]);
    l.info(
        "versioninfo.go:120",
        "PD",
        &[("utc-build-time", "2026-06-17 01:52:10".into())],
    );
}

/// Applies `--config` overrides (`schedule.*`, `replication.*`) to a model.
pub(crate) fn apply_overrides(model: &mut ClusterModel, overrides: &BTreeMap<String, TomlValue>) {
    let mut obj = serde_json::Map::new();
    for (k, v) in overrides {
        let json = match v {
            TomlValue::Str(s) => serde_json::Value::String(s.clone()),
            TomlValue::Int(i) => serde_json::json!(i),
            TomlValue::Float(f) => serde_json::json!(f),
            TomlValue::Bool(b) => serde_json::Value::String(b.to_string()),
            TomlValue::Raw(r) => serde_json::Value::String(r.clone()),
        };
        obj.insert(k.clone(), json);
    }
    // One key at a time, so one unknown item does not drop the others.
    for (k, v) in obj {
        let mut one = serde_json::Map::new();
        one.insert(k, v);
        let _ = update_config(model, &one);
    }
}

/// Applies a `POST /config` style object (flat or dotted keys).
fn update_config(
    model: &mut ClusterModel,
    obj: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), String> {
    let mut sched = serde_json::to_value(&model.schedule).map_err(|e| e.to_string())?;
    let mut repl = serde_json::to_value(&model.replication).map_err(|e| e.to_string())?;
    for (k, v) in obj {
        let (section, key) = match k.split_once('.') {
            Some((s, k)) => (Some(s), k),
            None => (None, k.as_str()),
        };
        let mut v = v.clone();
        if let serde_json::Value::Bool(b) = v {
            v = serde_json::Value::String(b.to_string());
        }
        if let Some(f) = v.as_f64() {
            if f.fract() == 0.0 && f >= 0.0 {
                v = serde_json::json!(f as u64);
            }
        }
        let in_sched = sched.get(key).is_some();
        let in_repl = repl.get(key).is_some();
        match section {
            Some("schedule") if in_sched => {
                if key == "max-store-down-time"
                    || key.ends_with("-time")
                    || key.ends_with("-interval")
                {
                    if let Some(s) = v.as_str() {
                        let d = wire::parse_duration(s)
                            .ok_or_else(|| format!("invalid duration {s}"))?;
                        v = serde_json::Value::String(wire::go_duration(d));
                    }
                }
                sched[key] = v;
            }
            Some("replication") if in_repl => repl[key] = v,
            None if in_sched => {
                if let Some(s) = v.as_str() {
                    if key.ends_with("-time") || key.ends_with("-interval") {
                        let d = wire::parse_duration(s)
                            .ok_or_else(|| format!("invalid duration {s}"))?;
                        v = serde_json::Value::String(wire::go_duration(d));
                    }
                }
                sched[key] = v;
            }
            None if in_repl => repl[key] = v,
            // Sections the simulator does not model are kept so GET reflects them.
            Some(
                "pd-server" | "log" | "replication-mode" | "label-property" | "dashboard"
                | "keyspace",
            ) => {
                model.extra_config.insert(k.clone(), v);
            }
            None if key == "cluster-version" => {
                model.extra_config.insert(k.clone(), v);
            }
            _ => return Err(format!("config item {key} not found")),
        }
    }
    let s: model::ScheduleConfig = serde_json::from_value(sched).map_err(|e| e.to_string())?;
    let r: model::ReplicationConfig = serde_json::from_value(repl).map_err(|e| e.to_string())?;
    let reindex = r.max_replicas != model.replication.max_replicas
        || s.max_merge_region_size != model.schedule.max_merge_region_size;
    model.schedule = s;
    model.replication = r;
    if reindex {
        model.rebuild_indexes();
    }
    model.revision += 1;
    Ok(())
}

async fn join_cluster(node: &Arc<PdNode>) -> Result<(), SimError> {
    let me = node.me.lock().clone();
    let body = serde_json::json!({"name": me.name, "peer_urls": me.peer_urls, "client_urls": me.client_urls});
    for attempt in 0..60 {
        for url in &node.cfg.join {
            let url = format!("{}/sim/internal/join", url.trim_end_matches('/'));
            if let Ok(resp) = node.http.post(&url).json(&body).send().await {
                if resp.status().is_success() {
                    if let Ok(v) = resp.json::<JoinReply>().await {
                        let mut raft = node.raft.lock();
                        raft.members = v.members.into_iter().map(|m| (m.member_id, m)).collect();
                        node.model.lock().cluster_id = v.cluster_id;
                        return Ok(());
                    }
                }
            }
        }
        let _ = attempt;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(SimError::Join(node.cfg.join.join(",")))
}

#[derive(Serialize, Deserialize)]
struct JoinReply {
    cluster_id: u64,
    member_id: u64,
    members: Vec<MemberInfo>,
}

#[derive(Serialize, Deserialize)]
struct VoteReq {
    term: u64,
    candidate: MemberInfo,
    revision: u64,
}

#[derive(Serialize, Deserialize)]
struct VoteResp {
    term: u64,
    granted: bool,
}

#[derive(Serialize, Deserialize)]
struct AppendReq {
    term: u64,
    leader: MemberInfo,
    members: Vec<MemberInfo>,
    revision: u64,
    snapshot: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct AppendResp {
    term: u64,
    success: bool,
    revision: u64,
    member: MemberInfo,
}

impl PdNode {
    /// Whether this member is currently the leader.
    pub(crate) fn is_leader(&self) -> bool {
        self.raft.lock().role == Role::Leader
    }
    /// Runs `f` on the model (tests, benches).
    pub fn with_model<T>(&self, f: impl FnOnce(&mut ClusterModel) -> T) -> T {
        f(&mut self.model.lock())
    }

    fn leader_info(&self) -> Option<MemberInfo> {
        let r = self.raft.lock();
        r.leader.and_then(|l| r.members.get(&l).cloned())
    }

    fn quorum(&self) -> usize {
        self.raft.lock().members.len() / 2 + 1
    }

    fn become_leader(&self) {
        let mut r = self.raft.lock();
        let me = self.me.lock().clone();
        r.role = Role::Leader;
        r.leader = Some(me.member_id);
        let now = Instant::now();
        r.acks.clear();
        r.acks.insert(me.member_id, now);
        r.peer_revision.clear();
        r.members.insert(me.member_id, me.clone());
        let term = r.term;
        drop(r);
        self.logger.info(
            "server.go:1724",
            "campaign PD leader ok",
            &[("campaign-leader-name", me.name.clone())],
        );
        self.logger.info(
            "server.go:1778",
            "PD leader is ready to serve",
            &[("leader-name", me.name.clone())],
        );
        let _ = term;
        // The new leader's clock restarts the store silence timers it inherited so a
        // failover does not make every store look Disconnected.
        let mut m = self.model.lock();
        let now = now_ms();
        for s in m.stores.values_mut() {
            if s.state != 2 && !s.peers_marked_down && now.saturating_sub(s.last_hb_ms) < 5_000 {
                s.last_hb_ms = s.last_hb_ms.max(now.saturating_sub(500));
            }
        }
    }

    fn step_down(&self, term: u64, leader: Option<u64>) {
        let mut r = self.raft.lock();
        let was_leader = r.role == Role::Leader;
        if term > r.term {
            r.term = term;
            r.voted_for = None;
        }
        r.role = Role::Follower;
        r.leader = leader;
        let single = r.members.len() <= 1;
        r.deadline = Instant::now() + election_timeout(single);
        drop(r);
        if was_leader {
            self.logger.warn(
                "server.go:1787",
                "no longer a leader because lease has expired, pd leader will step down",
                &[],
            );
        }
    }

    fn persist(&self) {
        let Some(dir) = &self.cfg.data_dir else {
            return;
        };
        let rev = self.model.lock().revision;
        let term = self.raft.lock().term;
        let key = rev ^ (term << 48);
        if *self.persisted_revision.lock() == key {
            return;
        }
        let (term, voted_for, members) = {
            let r = self.raft.lock();
            (
                r.term,
                r.voted_for,
                r.members.values().cloned().collect::<Vec<_>>(),
            )
        };
        let text = {
            let m = self.model.lock();
            serde_json::to_string(&Persisted {
                term,
                voted_for,
                members,
                model: m.clone(),
            })
        };
        let Ok(text) = text else { return };
        let _ = std::fs::create_dir_all(dir);
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, dir.join(STATE_FILE)).is_ok()
        {
            *self.persisted_revision.lock() = key;
        }
    }

    fn flush_model_logs(&self) {
        let logs = self.model.lock().take_logs();
        for l in logs {
            let fields: Vec<(&str, String)> =
                l.fields.iter().map(|(k, v)| (*k, v.clone())).collect();
            self.logger.log(l.level, l.source, l.msg, &fields);
        }
    }
}

async fn tick_loop(node: Arc<PdNode>, cancel: CancellationToken) {
    let tf = node.cfg.time_factor.max(0.001);
    // Tick often enough that the fastest scaled threshold (20 s) is resolved finely.
    let period = Duration::from_millis(((1000.0 / tf) as u64).clamp(20, 500));
    let mut last_persist = Instant::now();
    let persist_every = if node.cfg.scale.is_some() {
        Duration::from_secs(60)
    } else {
        Duration::from_millis(500)
    };
    loop {
        tokio::select! {
            _ = cancel.cancelled() => { node.persist(); return; }
            _ = tokio::time::sleep(period) => {}
        }
        if node.is_leader() {
            node.model.lock().tick(now_ms());
            node.flush_model_logs();
        }
        if last_persist.elapsed() >= persist_every {
            last_persist = Instant::now();
            let n = node.clone();
            let _ = tokio::task::spawn_blocking(move || n.persist()).await;
        }
    }
}

async fn election_loop(node: Arc<PdNode>, cancel: CancellationToken) {
    let mut last_append = Instant::now() - Duration::from_secs(1);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        let (role, deadline, removed, suppress) = {
            let r = node.raft.lock();
            (r.role, r.deadline, r.removed, r.suppress_until)
        };
        if removed {
            continue;
        }
        match role {
            Role::Leader => {
                if last_append.elapsed() >= Duration::from_millis(250) {
                    last_append = Instant::now();
                    send_appends(&node).await;
                }
                // Lease: step down without a recent majority.
                let (ok, term) = {
                    let r = node.raft.lock();
                    let fresh = r
                        .acks
                        .iter()
                        .filter(|(id, t)| {
                            r.members.contains_key(id) && t.elapsed() < Duration::from_secs(2)
                        })
                        .count();
                    (fresh > r.members.len() / 2, r.term)
                };
                if !ok {
                    node.step_down(term, None);
                }
            }
            _ => {
                if Instant::now() >= deadline && Instant::now() >= suppress {
                    campaign(&node).await;
                }
            }
        }
    }
}

async fn campaign(node: &Arc<PdNode>) {
    let me = node.me.lock().clone();
    let (term, peers, single) = {
        let mut r = node.raft.lock();
        if !r.members.contains_key(&me.member_id) {
            r.deadline = Instant::now() + election_timeout(false);
            return;
        }
        r.term += 1;
        r.role = Role::Candidate;
        r.voted_for = Some(me.member_id);
        r.leader = None;
        r.deadline = Instant::now() + election_timeout(r.members.len() <= 1);
        let peers: Vec<MemberInfo> = r
            .members
            .values()
            .filter(|m| m.member_id != me.member_id)
            .cloned()
            .collect();
        (r.term, peers, r.members.len() <= 1)
    };
    node.logger.info(
        "server.go:1698",
        "start to campaign PD leader",
        &[("campaign-leader-name", me.name.clone())],
    );
    if single {
        node.become_leader();
        return;
    }
    let revision = node.model.lock().revision;
    let req = VoteReq {
        term,
        candidate: me.clone(),
        revision,
    };
    let futs = peers.iter().map(|p| {
        let url = format!(
            "{}/sim/peer/vote",
            p.peer_urls
                .first()
                .cloned()
                .unwrap_or_default()
                .trim_end_matches('/')
        );
        let http = node.http.clone();
        let body = serde_json::to_vec(&req).unwrap_or_default();
        async move {
            let r = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .timeout(Duration::from_millis(400))
                .send()
                .await
                .ok()?;
            r.json::<VoteResp>().await.ok()
        }
    });
    let results = futures::future::join_all(futs).await;
    let mut votes = 1;
    let mut higher = 0;
    for v in results.into_iter().flatten() {
        if v.granted {
            votes += 1;
        }
        higher = higher.max(v.term);
    }
    let still_candidate = {
        let r = node.raft.lock();
        r.role == Role::Candidate && r.term == term
    };
    if higher > term {
        node.step_down(higher, None);
        return;
    }
    if still_candidate && votes >= node.quorum() {
        node.become_leader();
        send_appends(node).await;
    } else if still_candidate {
        let mut r = node.raft.lock();
        r.role = Role::Follower;
    }
}

async fn send_appends(node: &Arc<PdNode>) {
    let me = node.me.lock().clone();
    let (term, members, peer_rev) = {
        let r = node.raft.lock();
        if r.role != Role::Leader {
            return;
        }
        (
            r.term,
            r.members.values().cloned().collect::<Vec<_>>(),
            r.peer_revision.clone(),
        )
    };
    let revision = node.model.lock().revision;
    let needs_snapshot = members
        .iter()
        .any(|m| m.member_id != me.member_id && peer_rev.get(&m.member_id) != Some(&revision));
    let snapshot = if needs_snapshot && node.cfg.scale.is_none() {
        let m = node.model.lock().clone();
        serde_json::to_string(&m).ok()
    } else {
        None
    };
    let futs = members
        .iter()
        .filter(|m| m.member_id != me.member_id)
        .map(|p| {
            let send_snap = peer_rev.get(&p.member_id) != Some(&revision);
            let req = AppendReq {
                term,
                leader: me.clone(),
                members: members.clone(),
                revision,
                snapshot: if send_snap { snapshot.clone() } else { None },
            };
            let url = format!(
                "{}/sim/peer/append",
                p.peer_urls
                    .first()
                    .cloned()
                    .unwrap_or_default()
                    .trim_end_matches('/')
            );
            let http = node.http.clone();
            let id = p.member_id;
            async move {
                let body = serde_json::to_vec(&req).ok()?;
                let r = http
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .timeout(Duration::from_millis(800))
                    .send()
                    .await
                    .ok()?;
                r.json::<AppendResp>().await.ok().map(|x| (id, x))
            }
        });
    let results = futures::future::join_all(futs).await;
    let mut r = node.raft.lock();
    for (id, resp) in results.into_iter().flatten() {
        if resp.term > r.term {
            drop(r);
            node.step_down(resp.term, None);
            return;
        }
        if resp.success {
            r.acks.insert(id, Instant::now());
            r.peer_revision.insert(id, resp.revision);
            if let Some(m) = r.members.get_mut(&id) {
                if m.client_urls.is_empty() || m.client_urls != resp.member.client_urls {
                    m.client_urls = resp.member.client_urls.clone();
                }
            }
        }
    }
    r.acks.insert(me.member_id, Instant::now());
}

// ------------------------------------------------------------------- peer server

async fn peer_entry(State(node): State<Arc<PdNode>>, uri: Uri, body: Bytes) -> Response {
    match uri.path() {
        "/sim/peer/vote" => {
            let Ok(req) = serde_json::from_slice::<VoteReq>(&body) else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            let my_rev = node.model.lock().revision;
            let mut r = node.raft.lock();
            // A removed (or unknown) member must not disrupt the cluster with its terms.
            if !r.members.contains_key(&req.candidate.member_id) {
                return axum::Json(VoteResp {
                    term: r.term,
                    granted: false,
                })
                .into_response();
            }
            if req.term > r.term {
                r.term = req.term;
                r.voted_for = None;
                if r.role == Role::Leader {
                    r.role = Role::Follower;
                }
            }
            let leader_fresh = r.role == Role::Follower
                && r.leader.is_some()
                && Instant::now() < r.deadline - Duration::from_millis(800);
            let granted = req.term == r.term
                && r.voted_for.is_none_or(|v| v == req.candidate.member_id)
                && req.revision >= my_rev
                && !leader_fresh;
            if granted {
                r.voted_for = Some(req.candidate.member_id);
                let single = r.members.len() <= 1;
                r.deadline = Instant::now() + election_timeout(single);
            }
            axum::Json(VoteResp {
                term: r.term,
                granted,
            })
            .into_response()
        }
        "/sim/peer/append" => {
            let Ok(req) = serde_json::from_slice::<AppendReq>(&body) else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            let me = node.me.lock().clone();
            let term = node.raft.lock().term;
            if req.term < term {
                return axum::Json(AppendResp {
                    term,
                    success: false,
                    revision: 0,
                    member: me,
                })
                .into_response();
            }
            let prev_leader = {
                let mut r = node.raft.lock();
                let prev = r.leader;
                r.term = req.term;
                r.role = Role::Follower;
                r.leader = Some(req.leader.member_id);
                r.members = req
                    .members
                    .iter()
                    .map(|m| (m.member_id, m.clone()))
                    .collect();
                if let Some(m) = r.members.get_mut(&me.member_id) {
                    m.client_urls = me.client_urls.clone();
                }
                r.removed = !r.members.contains_key(&me.member_id);
                r.deadline = Instant::now() + election_timeout(false);
                prev
            };
            if prev_leader != Some(req.leader.member_id) {
                node.logger.info(
                    "server.go:1655",
                    "start to watch pd leader",
                    &[(
                        "pd-leader",
                        format!(
                            "name:{:?} member_id:{} ",
                            req.leader.name, req.leader.member_id
                        ),
                    )],
                );
            }
            if let Some(snap) = req.snapshot {
                if let Ok(mut m) = serde_json::from_str::<ClusterModel>(&snap) {
                    m.time_factor = node.cfg.time_factor;
                    m.rebuild_indexes();
                    *node.model.lock() = m;
                }
            }
            let revision = node.model.lock().revision;
            axum::Json(AppendResp {
                term: req.term,
                success: true,
                revision,
                member: me,
            })
            .into_response()
        }
        "/sim/peer/timeout-now" => {
            let mut r = node.raft.lock();
            r.deadline = Instant::now();
            r.suppress_until = Instant::now();
            StatusCode::OK.into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

// ------------------------------------------------------------------- client server

fn parse_query(q: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(q) = q {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.entry(url_decode(k)).or_default().push(url_decode(v));
        }
    }
    out
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_local_route(path: &str) -> bool {
    matches!(
        path,
        "/pd/api/v1/ping" | "/pd/api/v1/version" | "/pd/api/v1/status" | "/metrics"
    ) || path.starts_with("/sim/peer/")
}

async fn client_entry(
    State(node): State<Arc<PdNode>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let removed = node.raft.lock().removed;
    let allow_follower = headers.contains_key("PD-Allow-follower-handle");
    if !is_local_route(&path) && !allow_follower && !node.is_leader() {
        if removed {
            return Resp {
                status: 503,
                content_type: CT_TEXT,
                body: "[PD:apiutil:ErrRedirectNoLeader]redirect finds no leader\n".into(),
            }
            .into_response();
        }
        if headers.contains_key("PD-Redirector") {
            return Resp {
                status: 500,
                content_type: CT_TEXT,
                body: "[PD:apiutil:ErrRedirectToNotLeader]redirect to not leader\n".into(),
            }
            .into_response();
        }
        let Some(leader) = node.leader_info().filter(|l| !l.client_urls.is_empty()) else {
            return Resp {
                status: 503,
                content_type: CT_TEXT,
                body: "[PD:apiutil:ErrRedirectNoLeader]redirect finds no leader\n".into(),
            }
            .into_response();
        };
        return proxy(&node, &leader, method, &uri, &headers, body).await;
    }
    let mutating = method != Method::GET && !path.ends_with("-heartbeat") && !is_local_route(&path);
    let resp = handle_local(node.clone(), method, uri, body).await;
    if mutating && node.is_leader() {
        // Replicate before answering, so an acknowledged change survives a failover.
        send_appends(&node).await;
    }
    resp.into_response()
}

async fn proxy(
    node: &Arc<PdNode>,
    leader: &MemberInfo,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let base = leader.client_urls[0].trim_end_matches('/');
    let url = format!(
        "{base}{}",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let m = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut req = node
        .http
        .request(m, url)
        .header("PD-Redirector", node.cfg.name.clone())
        .body(body.to_vec());
    if let Some(ct) = headers.get("content-type").and_then(|v| v.to_str().ok()) {
        req = req.header("content-type", ct);
    }
    match req.send().await {
        Ok(resp) => {
            let status =
                StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let ct = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let bytes = resp.bytes().await.unwrap_or_default();
            let mut r = (status, bytes.to_vec()).into_response();
            if let Ok(v) = HeaderValue::from_str(&ct) {
                r.headers_mut().insert("content-type", v);
            }
            r
        }
        Err(_) => Resp {
            status: 503,
            content_type: CT_TEXT,
            body: "[PD:apiutil:ErrRedirectNoLeader]redirect finds no leader\n".into(),
        }
        .into_response(),
    }
}

const NOT_BOOTSTRAPPED: &str =
    "[PD:cluster:ErrNotBootstrapped]TiKV cluster not bootstrapped, please start TiKV first";

fn needs_bootstrap(p: &[&str]) -> bool {
    matches!(
        p.first().copied(),
        Some(
            "stores"
                | "store"
                | "regions"
                | "region"
                | "hotspot"
                | "operators"
                | "schedulers"
                | "scheduler-config"
        )
    )
}

async fn handle_local(node: Arc<PdNode>, method: Method, uri: Uri, body: Bytes) -> Resp {
    let path = uri.path();
    let q = parse_query(uri.query());
    if path == "/metrics" {
        let body = super::metrics::pd_metrics(&node);
        return Resp {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body,
        };
    }
    if path == "/pd/health" {
        return health(&node).await;
    }
    if let Some(rest) = path.strip_prefix("/sim/") {
        return sim_routes(&node, &method, rest, &body);
    }
    let Some(rest) = path.strip_prefix("/pd/api/v1/") else {
        return Resp {
            status: 404,
            content_type: CT_TEXT,
            body: "404 page not found\n".into(),
        };
    };
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    // Routes that need async work.
    match (&method, parts.as_slice()) {
        (&Method::GET, ["health"]) => return health(&node).await,
        (&Method::POST, ["leader", "transfer", name]) => return transfer_leader(&node, name).await,
        (&Method::POST, ["leader", "resign"]) => {
            let term = node.raft.lock().term;
            node.step_down(term, None);
            node.raft.lock().suppress_until = Instant::now() + Duration::from_secs(2);
            return json_str(200, "The resign command is submitted.");
        }
        _ => {}
    }
    if needs_bootstrap(&parts) && !node.model.lock().is_bootstrapped() {
        return json_str(500, NOT_BOOTSTRAPPED);
    }
    api(&node, &method, &parts, &q, &body)
}

fn sim_routes(node: &Arc<PdNode>, method: &Method, rest: &str, body: &[u8]) -> Resp {
    let now = now_ms();
    let bad = |e: &str| json_str(400, e);
    match (method, rest) {
        (&Method::POST, "internal/put-store") => {
            let Ok(req) = serde_json::from_slice::<PutStore>(body) else {
                return bad("bad body");
            };
            let res = node.model.lock().put_store(req, now);
            node.flush_model_logs();
            match res {
                Ok(id) => pretty(
                    200,
                    &serde_json::json!({"store_id": id, "cluster_id": node.model.lock().cluster_id}),
                ),
                Err(e) => model_err(e),
            }
        }
        (&Method::POST, "internal/store-heartbeat") => {
            let Ok(req) = serde_json::from_slice::<StoreHeartbeat>(body) else {
                return bad("bad body");
            };
            let res = node.model.lock().store_heartbeat(req, now);
            match res {
                Ok(reply) => pretty(200, &reply),
                Err(e) => model_err(e),
            }
        }
        (&Method::POST, "internal/region-heartbeat") => {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let store = v.get("store_id").and_then(|x| x.as_u64()).unwrap_or(0);
            let res = node.model.lock().region_heartbeat(store, now);
            node.flush_model_logs();
            match res {
                Ok(n) => pretty(200, &serde_json::json!({"regions": n})),
                Err(e) => model_err(e),
            }
        }
        (&Method::POST, "internal/join") => {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
                return bad("bad body");
            };
            let name = v
                .get("name")
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string();
            let strs = |k: &str| -> Vec<String> {
                v.get(k)
                    .and_then(|x| x.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let peer_urls = strs("peer_urls");
            let id = hash64(&format!("{name}|{}", peer_urls.join(",")));
            let info = MemberInfo {
                name: name.clone(),
                member_id: id,
                peer_urls,
                client_urls: strs("client_urls"),
            };
            let members = {
                let mut r = node.raft.lock();
                r.members.retain(|_, m| m.name != name || m.member_id == id);
                r.members.insert(id, info);
                r.members.values().cloned().collect::<Vec<_>>()
            };
            node.logger
                .info("member.go:400", "add member", &[("name", name)]);
            let cluster_id = node.model.lock().cluster_id;
            pretty(
                200,
                &JoinReply {
                    cluster_id,
                    member_id: id,
                    members,
                },
            )
        }
        (&Method::PUT, "v1/workload") => {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
                return bad("bad body");
            };
            let mut m = node.model.lock();
            if let Some(x) = v.get("read_qps").and_then(|x| x.as_f64()) {
                m.workload.read_qps = x.max(0.0);
            }
            if let Some(x) = v.get("write_qps").and_then(|x| x.as_f64()) {
                m.workload.write_qps = x.max(0.0);
            }
            if let Some(x) = v.get("value_bytes").and_then(|x| x.as_f64()) {
                m.workload.value_bytes = x.max(1.0);
            }
            if let Some(h) = v.get("hot_range") {
                let key = |k: &str| h.get(k).and_then(|x| x.as_str()).map(parse_key_arg);
                let start = key("start_key").unwrap_or(model::KEY_MIN);
                let end = match h.get("end_key").and_then(|x| x.as_str()) {
                    Some("") | None => KEY_MAX,
                    Some(s) => parse_key_arg(s),
                };
                if end <= start {
                    return bad("end_key must be after start_key");
                }
                m.workload.hot = Some(model::HotRange {
                    start,
                    end,
                    qps: h.get("qps").and_then(|x| x.as_f64()).unwrap_or(5000.0),
                    kind: h
                        .get("kind")
                        .and_then(|x| x.as_str())
                        .unwrap_or("write")
                        .to_string(),
                    since_ms: now,
                });
            }
            m.revision += 1;
            json_str(200, "The workload is updated.")
        }
        (&Method::DELETE, "v1/workload") => {
            let mut m = node.model.lock();
            m.workload.hot = None;
            m.revision += 1;
            json_str(200, "The workload is reset.")
        }
        (&Method::GET, "v1/workload") => {
            let m = node.model.lock();
            pretty(
                200,
                &serde_json::json!({
                    "read_qps": GoFloat(m.workload.read_qps), "write_qps": GoFloat(m.workload.write_qps),
                    "value_bytes": GoFloat(m.workload.value_bytes),
                    "hot_range": m.workload.hot.as_ref().map(|h| serde_json::json!({
                        "start_key": wire::hex_upper(&model::encode_key(h.start)), "end_key": wire::hex_upper(&model::encode_key(h.end)),
                        "qps": GoFloat(h.qps), "kind": h.kind})),
                }),
            )
        }
        _ => Resp {
            status: 404,
            content_type: CT_TEXT,
            body: "404 page not found\n".into(),
        },
    }
}

/// A key argument: upper/lower-case hex of an encoded key, else a raw user key
/// (`user123`, memcomparable-encoded here).
fn parse_key_arg(s: &str) -> u64 {
    if s.is_empty() {
        return model::KEY_MIN;
    }
    if s.len() % 2 == 0 {
        if let Ok(b) = hex::decode(s) {
            return model::position_of(&b);
        }
    }
    model::position_of(&wire::memcomparable(s.as_bytes()))
}

impl PdNode {
    /// Member names and whether each answered the leader recently (self always counts).
    pub(crate) fn member_health(&self) -> (Vec<String>, Vec<bool>) {
        let r = self.raft.lock();
        let me = self.me.lock().member_id;
        let mut names = Vec::new();
        let mut health = Vec::new();
        for m in r.members.values() {
            names.push(m.name.clone());
            let ok = m.member_id == me
                || r.leader == Some(m.member_id)
                || r.acks
                    .get(&m.member_id)
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(3));
            health.push(ok);
        }
        (names, health)
    }
}
