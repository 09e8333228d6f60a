//! The simulated tikv-server: registers with PD, heartbeats to the PD leader, serves
//! TiKV's status port (`/status`, `/config`, `/metrics`) and the fault knobs.
//!
//! # PD link
//!
//! On start the node reads its store id from `<data-dir>/sim-tikv-store.json` (absent for
//! a fresh volume), then calls `POST /sim/internal/put-store` on any `--pd-endpoints`
//! member (followers proxy to the leader) and writes the granted id back atomically, so a
//! recreated container on the same volume re-registers as the same store. It then sends
//! `POST /sim/internal/store-heartbeat` every 10 s and `POST /sim/internal/region-heartbeat`
//! every 60 s, both divided by the time factor. A failed heartbeat logs `store heartbeat
//! failed` (ERROR) and moves on to the next endpoint.
//!
//! # Fault knobs (status port)
//!
//! `PUT /sim/v1/faults` with any of `{"slow_disk_ms":200,"disk_fill_ratio":0.95,
//! "cpu_saturation":0.9,"net_delay_ms":50,"peer_net_delay_ms":50,"slow_apply_ms":60,
//! "memory_growth_mib_s":30}` merges the given knobs; `DELETE /sim/v1/faults` clears them;
//! `GET /sim/v1/faults` shows them. Each knob moves only the signals the real fault moves
//! (PD/TiKV reference), so causes are told apart by correlating them:
//!
//! | knob | rises | stays |
//! |---|---|---|
//! | `slow_disk_ms` (disk-slow) | `tikv_raftstore_append_log_duration_seconds`, `_apply_log_`, `_commit_log_`, `tikv_scheduler_command_duration_seconds`, write types of `tikv_grpc_msg_duration_seconds`, raft slow score (store heartbeat), `async write too slow` log lines above 1 s | thread CPU |
//! | `net_delay_ms` (network-degradation, on the degraded store) | `tikv_raftstore_request_wait_time_duration_secs` (propose wait), `tikv_raftstore_commit_log_duration_seconds`, write types of `tikv_grpc_msg_duration_seconds` | `append_log` (fsync), slow score |
//! | `peer_net_delay_ms` (set on the degraded store's peers) | `commit_log`, write gRPC latency | `append_log`, propose wait |
//! | `cpu_saturation` (cpu-saturation) | `tikv_thread_cpu_seconds_total` of every pool, `tikv_yatp_pool_schedule_wait_duration{name="unified-read-pool"}`, gRPC latency, `apply_wait_time` | `append_log`, slow score |
//! | `slow_apply_ms` (apply with a healthy disk) | `apply_log`, `tikv_raftstore_apply_wait_time_duration_secs`, `apply_*` thread CPU | `append_log`, `commit_log` |
//! | `memory_growth_mib_s` (OOM loop) | `process_resident_memory_bytes` from each (re)start | — |
//! | `disk_fill_ratio` (disk-full) | `tikv_store_size_bytes{type="available"}` down, PD's available | latencies |
//!
//! The eval's harness reads them into `StoreMetrics` (`commit_p99_seconds`,
//! `propose_wait_p99_seconds`, `read_pool_wait_p99_seconds`, `thread_cpu_cores`,
//! `max_thread_cpu`, `memory_bytes` besides the older fields).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::metrics::family;
use super::model::{
    HeartbeatReply, PutStore, StoreEvent, StoreHeartbeat, REGION_HEARTBEAT_SECS,
    STORE_HEARTBEAT_SECS,
};
use super::wire::{self, LogFlavor, LogSink, Logger, TomlValue};
use super::SimError;

/// TiKV version (without `v`).
pub(crate) const TIKV_VERSION: &str = "8.5.7";
/// TiKV git hash.
pub(crate) const TIKV_GIT_HASH: &str = "3f446cfa9eb1d5c653031d261e185911495d0359";
const STORE_FILE: &str = "sim-tikv-store.json";

/// How one TiKV process is configured (from the tikv-server command line).
#[derive(Debug, Clone)]
pub(crate) struct TikvConfig {
    /// `--addr`.
    pub addr: String,
    /// `--advertise-addr`.
    pub advertise_addr: Option<String>,
    /// `--status-addr`.
    pub status_addr: String,
    /// `--advertise-status-addr`.
    pub advertise_status_addr: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--pd-endpoints` (with or without `http://`).
    pub pd_endpoints: Vec<String>,
    /// `--labels`.
    pub labels: Vec<(String, String)>,
    /// `--capacity` bytes (0 = 1 TiB).
    pub capacity: u64,
    /// Log destination.
    pub log: LogSink,
    /// `TIKV_SIM_TIME_FACTOR`.
    pub time_factor: f64,
    /// `TIKV_SIM_SEED`.
    pub seed: u64,
    /// `--config` overrides (dotted keys).
    pub overrides: BTreeMap<String, TomlValue>,
}

impl TikvConfig {
    /// Defaults pointing at `pd`.
    pub(crate) fn new(pd: &[String]) -> Self {
        Self {
            addr: "127.0.0.1:20160".into(),
            advertise_addr: None,
            status_addr: "127.0.0.1:20180".into(),
            advertise_status_addr: None,
            data_dir: None,
            pd_endpoints: pd.to_vec(),
            labels: vec![],
            capacity: 0,
            log: LogSink::Stderr,
            time_factor: 1.0,
            seed: 0,
            overrides: BTreeMap::new(),
        }
    }
    fn max_peer_down(&self) -> Duration {
        self.overrides
            .get("raftstore.max-peer-down-duration")
            .and_then(|v| wire::parse_duration(&v.as_text()))
            .unwrap_or(Duration::from_secs(600))
    }
}

/// Fault knobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Faults {
    /// Extra milliseconds per disk write.
    pub slow_disk_ms: f64,
    /// Fraction of the disk that is full (0 = not set).
    pub disk_fill_ratio: f64,
    /// CPU saturation 0..1 added to every thread.
    pub cpu_saturation: f64,
    /// Extra one-way milliseconds on this store's raft traffic (network degradation
    /// between it and its peers): its proposals wait, its commits and writes slow down.
    #[serde(default)]
    pub net_delay_ms: f64,
    /// Extra milliseconds this store waits on a degraded peer (set on the peers of a
    /// degraded store): its commit and write latency rise, its disk does not.
    #[serde(default)]
    pub peer_net_delay_ms: f64,
    /// Extra milliseconds per apply with a healthy disk (a CPU-bound apply pool).
    #[serde(default)]
    pub slow_apply_ms: f64,
    /// Resident memory growth, MiB per simulated second since the process started.
    #[serde(default)]
    pub memory_growth_mib_s: f64,
}

#[derive(Debug, Clone)]
struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<f64>,
    sum: f64,
    count: f64,
}

impl Histogram {
    fn exp(start: f64, n: usize) -> Self {
        let bounds: Vec<f64> = (0..n).map(|i| start * 2f64.powi(i as i32)).collect();
        Self {
            counts: vec![0.0; n],
            bounds,
            sum: 0.0,
            count: 0.0,
        }
    }
    /// Observes `n` requests around `mean` seconds with a fixed long-tailed shape.
    fn observe_many(&mut self, n: f64, mean: f64) {
        if n <= 0.0 {
            return;
        }
        for (share, mult) in [(0.5, 0.8), (0.4, 1.3), (0.09, 3.0), (0.01, 8.0)] {
            let v = mean * mult;
            let k = n * share;
            if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
                self.counts[i] += k;
            }
            self.sum += v * k;
        }
        self.count += n;
    }
    fn write(&self, out: &mut String, name: &str, labels: &[(&str, &str)]) {
        let mut cum = 0.0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cum += c;
            let le = format!("{b}");
            let mut l: Vec<(&str, &str)> = labels.to_vec();
            l.push(("le", &le));
            write_rust_sample(out, &format!("{name}_bucket"), &l, cum.floor());
        }
        let mut l: Vec<(&str, &str)> = labels.to_vec();
        l.push(("le", "+Inf"));
        write_rust_sample(out, &format!("{name}_bucket"), &l, self.count.floor());
        write_rust_sample(out, &format!("{name}_sum"), labels, self.sum);
        write_rust_sample(out, &format!("{name}_count"), labels, self.count.floor());
    }
}

fn write_rust_sample(out: &mut String, name: &str, labels: &[(&str, &str)], v: f64) {
    use std::fmt::Write as _;
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, val)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{val}\"");
        }
        out.push('}');
    }
    let _ = writeln!(out, " {v}");
}

const GRPC_TYPES: [&str; 6] = [
    "kv_get",
    "kv_batch_get",
    "kv_scan",
    "kv_prewrite",
    "kv_commit",
    "coprocessor",
];

#[derive(Debug)]
struct Stats {
    store_id: u64,
    grpc: Vec<Histogram>,
    append: Histogram,
    apply: Histogram,
    apply_wait: Histogram,
    commit: Histogram,
    snap_gen: Histogram,
    snap_apply: Histogram,
    send_snap: Histogram,
    sched_cmd: Histogram,
    propose_wait: Histogram,
    read_pool_wait: Histogram,
    snapshot_total: BTreeMap<(String, String), f64>,
    snap_tasks: BTreeMap<String, f64>,
    pd_hb: BTreeMap<String, f64>,
    threads: Vec<(String, u64, f64)>,
    storage_cmd: BTreeMap<String, f64>,
    io_bytes: BTreeMap<(String, String), f64>,
    region_count: u64,
    leader_count: u64,
    used: u64,
    available: u64,
    capacity: u64,
    slow_raft: f64,
    slow_kvdb: f64,
    sending: u64,
    last_reply: Option<HeartbeatReply>,
    last_update: Instant,
}

/// Shared state of one TiKV process.
pub struct TikvNode {
    cfg: TikvConfig,
    logger: Logger,
    http: reqwest::Client,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
    advertise_addr: String,
    advertise_status: String,
    start: SystemTime,
    paused: AtomicBool,
    resumed: Notify,
    partitioned: AtomicBool,
    endpoint: Mutex<usize>,
}

impl std::fmt::Debug for TikvNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TikvNode")
            .field("addr", &self.advertise_addr)
            .finish()
    }
}

impl TikvNode {
    /// The store id PD granted (0 before registration).
    pub fn store_id(&self) -> u64 {
        self.stats.lock().store_id
    }
    /// Log lines (memory sink only).
    pub fn log_lines(&self) -> Vec<String> {
        self.logger.lines()
    }
    /// Freezes the node (no heartbeats, status requests hang) like `docker pause`.
    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
        if !paused {
            self.resumed.notify_waiters();
        }
    }
    /// Cuts (or restores) the node's link to PD.
    pub(crate) fn set_partitioned(&self, p: bool) {
        self.partitioned.store(p, Ordering::SeqCst);
    }
    async fn wait_unpaused(&self) {
        while self.paused.load(Ordering::SeqCst) {
            let n = self.resumed.notified();
            if !self.paused.load(Ordering::SeqCst) {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), n).await;
        }
    }
}

/// A running TiKV.
#[derive(Debug)]
pub(crate) struct TikvHandle {
    /// Node state.
    pub node: Arc<TikvNode>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    cancel: CancellationToken,
}

impl TikvHandle {
    /// Stops at once, like a killed process.
    pub(crate) fn kill(&mut self) {
        self.cancel.cancel();
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
    /// Waits for tasks after cancellation.
    pub(crate) async fn join(mut self) {
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for TikvHandle {
    fn drop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

fn read_persisted_store(dir: &Option<PathBuf>) -> u64 {
    let Some(dir) = dir else { return 0 };
    std::fs::read_to_string(dir.join(STORE_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("store_id").and_then(|x| x.as_u64()))
        .unwrap_or(0)
}

fn persist_store(dir: &Option<PathBuf>, id: u64, cluster: u64) {
    let Some(dir) = dir else { return };
    let _ = std::fs::create_dir_all(dir);
    let tmp = dir.join(format!("{STORE_FILE}.tmp"));
    let body = serde_json::json!({"store_id": id, "cluster_id": cluster}).to_string();
    if std::fs::write(&tmp, body).is_ok() {
        let _ = std::fs::rename(&tmp, dir.join(STORE_FILE));
    }
}

/// Starts a TiKV. `listeners` (gRPC port, status port) may be pre-bound.
///
/// # Guarantees
/// Returns once both ports are bound; registration with PD proceeds in the background
/// and is retried until it succeeds or `cancel` fires.
pub(crate) async fn start_tikv(
    cfg: TikvConfig,
    listeners: Option<(TcpListener, TcpListener)>,
    cancel: CancellationToken,
) -> Result<TikvHandle, SimError> {
    let (grpc_l, status_l) = match listeners {
        Some(l) => l,
        None => {
            let g = TcpListener::bind(&cfg.addr)
                .await
                .map_err(|e| SimError::Bind(cfg.addr.clone(), e.to_string()))?;
            let s = TcpListener::bind(&cfg.status_addr)
                .await
                .map_err(|e| SimError::Bind(cfg.status_addr.clone(), e.to_string()))?;
            (g, s)
        }
    };
    let addr = grpc_l
        .local_addr()
        .map_err(|e| SimError::Bind("addr".into(), e.to_string()))?;
    let status_addr = status_l
        .local_addr()
        .map_err(|e| SimError::Bind("status".into(), e.to_string()))?;
    let advertise_addr = cfg
        .advertise_addr
        .clone()
        .unwrap_or_else(|| addr.to_string());
    if advertise_addr.starts_with("0.0.0.0") {
        return Err(SimError::Config(format!(
            "invalid advertise-addr: {advertise_addr:?}"
        )));
    }
    let advertise_status = cfg
        .advertise_status_addr
        .clone()
        .unwrap_or_else(|| status_addr.to_string());
    let logger = Logger::new(cfg.log.clone(), LogFlavor::Tikv);
    for (i, line) in [
        "Welcome to TiKV".to_string(),
        format!("Release Version:   {TIKV_VERSION}"),
        "Edition:           Community".into(),
        format!("Git Commit Hash:   {TIKV_GIT_HASH}"),
        "Git Commit Branch: HEAD".into(),
        "UTC Build Time:    2026-06-26 08:41:17".into(),
        "Rust Version:      rustc 1.87.0-nightly (e0be1a020 2025-02-27)".into(),
        "Enable Features:   memory-engine pprof-fp jemalloc mem-profiling portable test-engine-kv-rocksdb test-engine-raft-raft-engine trace-async-tasks openssl-vendored".into(),
        "Profile:           dist_release".into(),
    ]
    .iter()
    .enumerate()
    {
        logger.info(if i == 0 { "lib.rs:89" } else { "lib.rs:94" }, line, &[]);
    }
    let capacity = if cfg.capacity == 0 {
        1 << 40
    } else {
        cfg.capacity
    };
    let threads = vec![
        ("apply_0".to_string(), 94, 0.0),
        ("apply_1".into(), 95, 0.0),
        ("grpc_server_0".into(), 61, 0.0),
        ("grpc_server_1".into(), 62, 0.0),
        ("raftstore_0_0".into(), 91, 0.0),
        ("raftstore_0_1".into(), 92, 0.0),
        ("rocksdb_high_pri".into(), 55, 0.0),
        ("rocksdb_low".into(), 48, 0.0),
        ("sched_worker_po".into(), 77, 0.0),
        ("store_writer_0".into(), 89, 0.0),
        ("unified_read_po".into(), 103, 0.0),
    ];
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .connect_timeout(Duration::from_millis(500))
        .build()
        .map_err(|e| SimError::Http(e.to_string()))?;
    let node = Arc::new(TikvNode {
        logger,
        http,
        faults: Mutex::new(Faults::default()),
        stats: Mutex::new(Stats {
            store_id: 0,
            grpc: GRPC_TYPES
                .iter()
                .map(|_| Histogram::exp(5e-5, 22))
                .collect(),
            append: Histogram::exp(1e-5, 26),
            apply: Histogram::exp(1e-5, 26),
            apply_wait: Histogram::exp(1e-5, 26),
            commit: Histogram::exp(1e-5, 32),
            snap_gen: Histogram::exp(0.05, 20),
            snap_apply: Histogram::exp(0.05, 20),
            send_snap: Histogram::exp(0.05, 20),
            sched_cmd: Histogram::exp(5e-5, 22),
            propose_wait: Histogram::exp(1e-5, 26),
            read_pool_wait: Histogram::exp(1e-5, 26),
            snapshot_total: BTreeMap::new(),
            snap_tasks: BTreeMap::new(),
            pd_hb: BTreeMap::new(),
            threads,
            storage_cmd: BTreeMap::new(),
            io_bytes: BTreeMap::new(),
            region_count: 0,
            leader_count: 0,
            used: 0,
            available: capacity,
            capacity,
            slow_raft: 1.0,
            slow_kvdb: 1.0,
            sending: 0,
            last_reply: None,
            last_update: Instant::now(),
        }),
        advertise_addr,
        advertise_status,
        start: SystemTime::now(),
        paused: AtomicBool::new(false),
        resumed: Notify::new(),
        partitioned: AtomicBool::new(false),
        endpoint: Mutex::new(0),
        cfg,
    });
    let mut tasks = Vec::new();
    let status_app = axum::Router::new()
        .fallback(status_entry)
        .with_state(node.clone());
    let c = cancel.clone();
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(status_l, status_app)
            .with_graceful_shutdown(c.cancelled_owned())
            .await;
    }));
    let grpc_app = axum::Router::new().fallback(|| async { StatusCode::NOT_FOUND });
    let c = cancel.clone();
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(grpc_l, grpc_app)
            .with_graceful_shutdown(c.cancelled_owned())
            .await;
    }));
    node.logger.info(
        "server.rs:342",
        "listening on addr",
        &[("addr", addr.to_string())],
    );
    let n = node.clone();
    let c = cancel.clone();
    tasks.push(tokio::spawn(async move { pd_loop(n, c).await }));
    Ok(TikvHandle {
        node,
        tasks,
        cancel,
    })
}

fn pd_url(ep: &str) -> String {
    let ep = ep.trim().trim_end_matches('/');
    if ep.starts_with("http://") || ep.starts_with("https://") {
        ep.to_string()
    } else {
        format!("http://{ep}")
    }
}

impl TikvNode {
    async fn pd_post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, String> {
        if self.partitioned.load(Ordering::SeqCst) {
            return Err("Grpc(RpcFailure(RpcStatus { code: 14-UNAVAILABLE, message: \"failed to connect to all addresses\", details: [] }))".into());
        }
        let eps = &self.cfg.pd_endpoints;
        if eps.is_empty() {
            return Err("no PD endpoints".into());
        }
        let mut last = String::new();
        for _ in 0..eps.len() {
            let i = *self.endpoint.lock() % eps.len();
            let url = format!("{}{path}", pd_url(&eps[i]));
            match self.http.post(&url).json(body).send().await {
                Ok(r) if r.status().is_success() => return r.json::<T>().await.map_err(|e| e.to_string()),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    last = format!("{status} {}", text.trim());
                    if (400..500).contains(&status) {
                        return Err(last);
                    }
                }
                Err(e) => last = format!("Grpc(RpcFailure(RpcStatus {{ code: 14-UNAVAILABLE, message: {:?}, details: [] }}))", e.to_string()),
            }
            *self.endpoint.lock() += 1;
        }
        Err(last)
    }
}

async fn pd_loop(node: Arc<TikvNode>, cancel: CancellationToken) {
    let tf = node.cfg.time_factor.max(0.001);
    for ep in &node.cfg.pd_endpoints {
        node.logger.info(
            "util.rs:639",
            "connecting to PD endpoint",
            &[("endpoints", pd_url(ep))],
        );
    }
    let mut store_id = read_persisted_store(&node.cfg.data_dir);
    'session: loop {
        // Register.
        loop {
            if cancel.is_cancelled() {
                return;
            }
            node.wait_unpaused().await;
            let capacity = node.stats.lock().capacity;
            let req = PutStore {
                store_id,
                address: node.advertise_addr.clone(),
                status_address: node.advertise_status.clone(),
                version: TIKV_VERSION.into(),
                git_hash: TIKV_GIT_HASH.into(),
                start_timestamp: node
                    .start
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0),
                deploy_path: "/".into(),
                labels: node.cfg.labels.clone(),
                capacity,
                max_peer_down_secs: node.cfg.max_peer_down().as_secs_f64(),
            };
            match node
                .pd_post::<serde_json::Value>("/sim/internal/put-store", &req)
                .await
            {
                Ok(v) => {
                    store_id = v.get("store_id").and_then(|x| x.as_u64()).unwrap_or(0);
                    let cluster = v.get("cluster_id").and_then(|x| x.as_u64()).unwrap_or(0);
                    persist_store(&node.cfg.data_dir, store_id, cluster);
                    node.stats.lock().store_id = store_id;
                    let ep = node
                        .cfg
                        .pd_endpoints
                        .get(*node.endpoint.lock() % node.cfg.pd_endpoints.len().max(1))
                        .cloned()
                        .unwrap_or_default();
                    node.logger.info(
                        "util.rs:809",
                        "connected to PD member",
                        &[("endpoints", pd_url(&ep))],
                    );
                    node.logger.info(
                        "common.rs:326",
                        "connect to PD cluster",
                        &[("cluster_id", cluster.to_string())],
                    );
                    node.logger
                        .info("server.rs:422", "TiKV is ready to serve", &[]);
                    break;
                }
                Err(e) => {
                    node.logger
                        .error("util.rs:450", "request failed, retry", &[("err", e)]);
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(((1000.0 / tf) as u64).clamp(100, 1000))) => {}
                    }
                }
            }
        }
        let store_every = Duration::from_secs_f64((STORE_HEARTBEAT_SECS / tf).max(0.02));
        let region_every = Duration::from_secs_f64((REGION_HEARTBEAT_SECS / tf).max(0.05));
        let mut last_region = Instant::now() - region_every;
        loop {
            node.wait_unpaused().await;
            if !store_heartbeat(&node, store_id).await {
                // PD does not know this store (e.g. it lost the registration in a failover):
                // register again under the same id.
                continue 'session;
            }
            if last_region.elapsed() >= region_every && !node.partitioned.load(Ordering::SeqCst) {
                last_region = Instant::now();
                let _ = node
                    .pd_post::<serde_json::Value>(
                        "/sim/internal/region-heartbeat",
                        &serde_json::json!({"store_id": store_id}),
                    )
                    .await;
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(store_every) => {}
            }
        }
    }
}

/// One store heartbeat; false when PD answered that the store is unknown.
async fn store_heartbeat(node: &Arc<TikvNode>, store_id: u64) -> bool {
    let mut known = true;
    let faults = *node.faults.lock();
    let (capacity, used, available, slow) = {
        let mut st = node.stats.lock();
        let region_bytes = st
            .last_reply
            .as_ref()
            .map(|r| r.region_size_mib)
            .unwrap_or(0)
            * 1024
            * 1024;
        st.used = region_bytes + (256 << 20);
        st.available = if faults.disk_fill_ratio > 0.0 {
            ((st.capacity as f64) * (1.0 - faults.disk_fill_ratio.clamp(0.0, 1.0))) as u64
        } else {
            st.capacity
                .saturating_sub(st.used)
                .saturating_sub(st.capacity / 6)
        };
        // Slow score: TiKV's inspector moves toward 100 while disk I/O is slow.
        let target = (1.0 + faults.slow_disk_ms / 5.0).clamp(1.0, 100.0);
        st.slow_raft += (target - st.slow_raft) * 0.5;
        st.slow_kvdb += ((1.0 + faults.slow_disk_ms / 10.0).clamp(1.0, 100.0) - st.slow_kvdb) * 0.5;
        (
            st.capacity,
            st.used,
            st.available,
            st.slow_raft.round() as u64,
        )
    };
    let hb = StoreHeartbeat {
        store_id,
        capacity,
        available,
        used,
        slow_score: slow.clamp(1, 100),
    };
    match node
        .pd_post::<HeartbeatReply>("/sim/internal/store-heartbeat", &hb)
        .await
    {
        Ok(reply) => {
            let events = reply.events.clone();
            {
                let mut st = node.stats.lock();
                *st.pd_hb.entry("noop".into()).or_default() += 1.0;
                st.region_count = reply.region_count;
                st.leader_count = reply.leader_count;
                st.sending = reply.sending_snapshots;
                st.last_reply = Some(reply);
            }
            for ev in events {
                log_event(node, store_id, ev);
            }
        }
        Err(e) => {
            known &= !e.starts_with("404");
            node.logger.warn(
                "client.rs:655",
                "failed to send heartbeat",
                &[("err", e.clone())],
            );
            node.logger
                .error("pd.rs:1823", "store heartbeat failed", &[("err", e)]);
        }
    }
    advance_stats(node, store_id);
    known
}

fn log_event(node: &Arc<TikvNode>, store_id: u64, ev: StoreEvent) {
    let l = &node.logger;
    match ev {
        StoreEvent::BecameLeader {
            region_id,
            peer_id,
            term,
        } => {
            l.info(
                "raft.rs:1564",
                "starting a new election",
                &[
                    ("term", (term - 1).to_string()),
                    ("raft_id", peer_id.to_string()),
                    ("region_id", region_id.to_string()),
                ],
            );
            l.info(
                "raft.rs:1182",
                &format!("became candidate at term {term}"),
                &[
                    ("term", term.to_string()),
                    ("raft_id", peer_id.to_string()),
                    ("region_id", region_id.to_string()),
                ],
            );
            l.info(
                "raft.rs:1266",
                &format!("became leader at term {term}"),
                &[
                    ("term", term.to_string()),
                    ("raft_id", peer_id.to_string()),
                    ("region_id", region_id.to_string()),
                ],
            );
        }
        StoreEvent::BecameFollower {
            region_id,
            peer_id,
            term,
        } => {
            l.info(
                "raft.rs:1157",
                &format!("became follower at term {term}"),
                &[
                    ("from_role", "Leader".into()),
                    ("term", term.to_string()),
                    ("raft_id", peer_id.to_string()),
                    ("region_id", region_id.to_string()),
                ],
            );
        }
        StoreEvent::SnapshotSent {
            region_id,
            to_peer,
            size,
            secs,
            term,
        } => {
            let key = format!("{region_id}_{term}_{}", 1000 + region_id);
            l.info(
                "peer_storage.rs:574",
                "requesting snapshot",
                &[
                    ("request_peer", to_peer.to_string()),
                    ("request_index", "0".into()),
                    ("region_id", region_id.to_string()),
                ],
            );
            let dir = node
                .cfg
                .data_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "/var/tikv".into());
            l.info(
                "snap.rs:1109",
                "scan snapshot",
                &[
                    (
                        "takes",
                        wire::go_duration(Duration::from_secs_f64(secs * 0.2)),
                    ),
                    ("size", size.to_string()),
                    ("key_count", (size / 340).to_string()),
                    (
                        "snapshot",
                        format!("{dir}/snap/gen_{key}_(default|lock|write).sst"),
                    ),
                    ("region_id", region_id.to_string()),
                ],
            );
            l.info(
                "peer_storage.rs:532",
                "start sending snapshot",
                &[
                    ("request_peer", to_peer.to_string()),
                    ("region_id", region_id.to_string()),
                ],
            );
            l.info(
                "snap.rs:607",
                "sent snapshot",
                &[
                    (
                        "duration",
                        wire::go_duration(Duration::from_secs_f64(secs * 0.8)),
                    ),
                    ("size", size.to_string()),
                    ("snap_key", key),
                    ("region_id", region_id.to_string()),
                ],
            );
            let mut st = node.stats.lock();
            for s in ["all", "start", "success"] {
                *st.snapshot_total
                    .entry(("generate".into(), s.into()))
                    .or_default() += 1.0;
            }
            *st.snap_tasks.entry("send".into()).or_default() += 1.0;
            st.snap_gen.observe_many(1.0, secs * 0.2);
            st.send_snap.observe_many(1.0, secs * 0.8);
            *st.io_bytes
                .entry(("replication".into(), "read".into()))
                .or_default() += size as f64;
        }
        StoreEvent::SnapshotApplied {
            region_id,
            peer_id,
            size,
            secs,
        } => {
            l.info(
                "snap.rs:353",
                "saving snapshot file",
                &[
                    ("snap_key", format!("{region_id}_6_{}", 1000 + region_id)),
                    ("region_id", region_id.to_string()),
                ],
            );
            l.info(
                "peer_storage.rs:665",
                "begin to apply snapshot",
                &[
                    ("peer_id", peer_id.to_string()),
                    ("region_id", region_id.to_string()),
                ],
            );
            l.info(
                "peer_storage.rs:748",
                "apply snapshot with state ok",
                &[
                    ("peer_id", peer_id.to_string()),
                    ("region_id", region_id.to_string()),
                ],
            );
            let mut st = node.stats.lock();
            for s in ["all", "start", "success"] {
                *st.snapshot_total
                    .entry(("apply".into(), s.into()))
                    .or_default() += 1.0;
            }
            *st.snap_tasks.entry("recv".into()).or_default() += 1.0;
            st.snap_apply.observe_many(1.0, secs * 0.5);
            *st.io_bytes
                .entry(("replication".into(), "write".into()))
                .or_default() += size as f64;
        }
    }
    let _ = store_id;
}

/// Folds the elapsed interval's workload into the counters and histograms.
fn advance_stats(node: &Arc<TikvNode>, store_id: u64) {
    let faults = *node.faults.lock();
    let mut st = node.stats.lock();
    let dt = st.last_update.elapsed().as_secs_f64().min(60.0);
    st.last_update = Instant::now();
    let (rq, wq) = st
        .last_reply
        .as_ref()
        .map(|r| (r.read_qps, r.write_qps))
        .unwrap_or((0.0, 0.0));
    let disk = faults.slow_disk_ms / 1000.0;
    let cpu_mult = 1.0 / (1.0 - faults.cpu_saturation.clamp(0.0, 0.95));
    let reads = rq * dt;
    let writes = wq * dt;
    // Network: a degraded store's raft messages take `net` longer each way, so a write
    // it leads waits a round trip more for its quorum; its peers wait `peer` on it.
    let net = faults.net_delay_ms / 1000.0;
    let peer = faults.peer_net_delay_ms / 1000.0;
    let replicate = 2.0 * net + peer;
    let per_type = [
        (reads * 0.8, 0.0004 * cpu_mult),
        (reads * 0.1, 0.0008 * cpu_mult),
        (reads * 0.05, 0.002 * cpu_mult),
        (writes, (0.0025 + disk) * cpu_mult + replicate),
        (writes, (0.002 + disk) * cpu_mult + replicate),
        (reads * 0.05, 0.003 * cpu_mult),
    ];
    for (i, (n, mean)) in per_type.iter().enumerate() {
        st.grpc[i].observe_many(*n, *mean);
    }
    let append_mean = 0.0004 + disk;
    st.append.observe_many(writes, append_mean);
    let slow_apply = faults.slow_apply_ms / 1000.0;
    st.apply
        .observe_many(writes, 0.0002 + disk * 0.5 + slow_apply);
    st.apply_wait
        .observe_many(writes, 0.00005 * cpu_mult + slow_apply * 0.5);
    st.commit
        .observe_many(writes, 0.001 + disk * 1.5 + replicate);
    st.propose_wait
        .observe_many(writes, 0.00002 * cpu_mult + net);
    // Read-pool queueing grows like a saturated queue's wait, ρ / (1 − ρ).
    st.read_pool_wait
        .observe_many(reads, 0.00002 * (cpu_mult - 1.0) * 10.0 + 0.00001);
    st.sched_cmd.observe_many(writes, 0.002 + disk);
    for (k, n) in [
        ("get", reads * 0.9),
        ("scan", reads * 0.05),
        ("prewrite", writes),
        ("commit", writes),
    ] {
        *st.storage_cmd.entry(k.into()).or_default() += n;
    }
    *st.io_bytes
        .entry(("foreground_write".into(), "write".into()))
        .or_default() += writes * 1024.0;
    *st.io_bytes
        .entry(("foreground_read".into(), "read".into()))
        .or_default() += reads * 1024.0;
    let sat = faults.cpu_saturation.clamp(0.0, 1.0);
    for (name, _, secs) in st.threads.iter_mut() {
        let base = if name.starts_with("grpc") {
            (rq + wq) * 0.00002
        } else if name.starts_with("raftstore") || name.starts_with("store_writer") {
            wq * 0.00005
        } else if name.starts_with("apply") {
            // A slow apply with a healthy disk is a busy apply pool.
            wq * 0.00004 + (faults.slow_apply_ms / 10.0).min(0.95)
        } else if name.starts_with("unified_read") {
            rq * 0.0001
        } else if name.starts_with("sched") {
            wq * 0.00003
        } else {
            0.01
        };
        *secs += (base.min(1.0).max(sat)) * dt;
    }
    for t in st.threads.iter_mut() {
        if t.0.starts_with("raftstore_0_") {
            t.0 =
                t.0.replacen("raftstore_0_", &format!("raftstore_{store_id}_"), 1);
        }
    }
    let slow_takes = faults.slow_disk_ms * 6.0;
    drop(st);
    if slow_takes > 1000.0 {
        node.logger.warn(
            "write.rs:1036",
            &format!(
                "[store {store_id}] async write too slow, write_kv: 0.000011s, write_raft: {:.3}s, send: 0.000008s, callback: 0.000041s thread: store-writer-0",
                slow_takes / 1000.0
            ),
            &[("takes", format!("{}", slow_takes.round() as u64))],
        );
    }
}

// ------------------------------------------------------------------- status server

async fn status_entry(
    State(node): State<Arc<TikvNode>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    node.wait_unpaused().await;
    match (&method, uri.path()) {
        (&Method::GET, "/status") => StatusCode::OK.into_response(),
        (&Method::GET, "/metrics") => {
            let mut r = tikv_metrics(&node).into_response();
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        (&Method::GET, "/config") => {
            let mut r = tikv_config(&node).into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            r
        }
        (&Method::GET, "/engine_type") => "rocksdb".into_response(),
        (&Method::GET, "/sim/v1/faults") => axum::Json(*node.faults.lock()).into_response(),
        (&Method::PUT, "/sim/v1/faults") => {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
                return (StatusCode::BAD_REQUEST, "invalid JSON body").into_response();
            };
            let mut guard = node.faults.lock();
            let f = &mut *guard;
            if let Some(x) = v.get("slow_disk_ms").and_then(|x| x.as_f64()) {
                f.slow_disk_ms = x.max(0.0);
            }
            if let Some(x) = v.get("disk_fill_ratio").and_then(|x| x.as_f64()) {
                f.disk_fill_ratio = x.clamp(0.0, 1.0);
            }
            if let Some(x) = v.get("cpu_saturation").and_then(|x| x.as_f64()) {
                f.cpu_saturation = x.clamp(0.0, 1.0);
            }
            for (key, slot) in [
                ("net_delay_ms", &mut f.net_delay_ms),
                ("peer_net_delay_ms", &mut f.peer_net_delay_ms),
                ("slow_apply_ms", &mut f.slow_apply_ms),
                ("memory_growth_mib_s", &mut f.memory_growth_mib_s),
            ] {
                if let Some(x) = v.get(key).and_then(|x| x.as_f64()) {
                    *slot = x.max(0.0);
                }
            }
            axum::Json(*f).into_response()
        }
        (&Method::DELETE, "/sim/v1/faults") => {
            *node.faults.lock() = Faults::default();
            axum::Json(Faults::default()).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn proc_stats() -> (f64, f64) {
    // (cpu seconds, rss bytes) from /proc; zeros elsewhere.
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ut: f64 = f.get(11)?.parse().ok()?;
            let st: f64 = f.get(12)?.parse().ok()?;
            Some((ut + st) / 100.0)
        })
        .unwrap_or(0.0);
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|p| p * 4096.0)
        .unwrap_or(0.0);
    (cpu, rss)
}

/// The TiKV `/metrics` text.
fn tikv_metrics(node: &Arc<TikvNode>) -> String {
    let mut out = String::new();
    let (cpu, rss) = proc_stats();
    let growth = node.faults.lock().memory_growth_mib_s;
    let uptime_sim = node.start.elapsed().unwrap_or_default().as_secs_f64() * node.cfg.time_factor;
    let rss = rss + growth * uptime_sim * 1024.0 * 1024.0;
    let st = node.stats.lock();
    family(
        &mut out,
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
    );
    write_rust_sample(&mut out, "process_cpu_seconds_total", &[], cpu);
    family(
        &mut out,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
    );
    write_rust_sample(&mut out, "process_resident_memory_bytes", &[], rss);
    family(
        &mut out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    );
    write_rust_sample(
        &mut out,
        "process_start_time_seconds",
        &[],
        node.start
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as f64)
            .unwrap_or(0.0),
    );
    family(
        &mut out,
        "tikv_grpc_msg_duration_seconds",
        "histogram",
        "Bucketed histogram of grpc server messages",
    );
    for (i, ty) in GRPC_TYPES.iter().enumerate() {
        st.grpc[i].write(
            &mut out,
            "tikv_grpc_msg_duration_seconds",
            &[("priority", "unknown"), ("type", ty)],
        );
    }
    family(
        &mut out,
        "tikv_io_bytes",
        "counter",
        "Bytes of disk tikv io",
    );
    for ((ty, op), v) in &st.io_bytes {
        write_rust_sample(
            &mut out,
            "tikv_io_bytes",
            &[("op", op), ("type", ty)],
            v.floor(),
        );
    }
    family(
        &mut out,
        "tikv_pd_heartbeat_message_total",
        "counter",
        "Total number of PD heartbeat messages.",
    );
    let noop = st.pd_hb.get("noop").copied().unwrap_or(0.0);
    write_rust_sample(
        &mut out,
        "tikv_pd_heartbeat_message_total",
        &[("type", "noop")],
        noop,
    );
    for (name, h, help) in [
        (
            "tikv_raftstore_append_log_duration_seconds",
            &st.append,
            "Bucketed histogram of peer appending log duration.",
        ),
        (
            "tikv_raftstore_apply_log_duration_seconds",
            &st.apply,
            "Bucketed histogram of peer applying log duration.",
        ),
        (
            "tikv_raftstore_apply_wait_time_duration_secs",
            &st.apply_wait,
            "Bucketed histogram of apply task wait time duration.",
        ),
        (
            "tikv_raftstore_commit_log_duration_seconds",
            &st.commit,
            "Bucketed histogram of peer commits logs duration.",
        ),
        (
            "tikv_raftstore_request_wait_time_duration_secs",
            &st.propose_wait,
            "Bucketed histogram of request wait time duration.",
        ),
    ] {
        family(&mut out, name, "histogram", help);
        h.write(&mut out, name, &[]);
    }
    family(
        &mut out,
        "tikv_raftstore_leader_missing",
        "gauge",
        "Total number of leader missed region.",
    );
    write_rust_sample(&mut out, "tikv_raftstore_leader_missing", &[], 0.0);
    family(
        &mut out,
        "tikv_raftstore_region_count",
        "gauge",
        "Number of regions collected in region_collector",
    );
    write_rust_sample(
        &mut out,
        "tikv_raftstore_region_count",
        &[("type", "buckets")],
        0.0,
    );
    write_rust_sample(
        &mut out,
        "tikv_raftstore_region_count",
        &[("type", "leader")],
        st.leader_count as f64,
    );
    write_rust_sample(
        &mut out,
        "tikv_raftstore_region_count",
        &[("type", "region")],
        st.region_count as f64,
    );
    family(
        &mut out,
        "tikv_raftstore_slow_score",
        "gauge",
        "Slow score of the store.",
    );
    write_rust_sample(
        &mut out,
        "tikv_raftstore_slow_score",
        &[("type", "kvdb")],
        st.slow_kvdb.round(),
    );
    write_rust_sample(
        &mut out,
        "tikv_raftstore_slow_score",
        &[("type", "raft")],
        st.slow_raft.round(),
    );
    family(
        &mut out,
        "tikv_raftstore_snapshot_duration_seconds",
        "histogram",
        "Bucketed histogram of raftstore snapshot process duration",
    );
    st.snap_apply.write(
        &mut out,
        "tikv_raftstore_snapshot_duration_seconds",
        &[("type", "apply")],
    );
    st.snap_gen.write(
        &mut out,
        "tikv_raftstore_snapshot_duration_seconds",
        &[("type", "generate")],
    );
    family(
        &mut out,
        "tikv_raftstore_snapshot_total",
        "counter",
        "Total number of raftstore snapshot processed.",
    );
    for ty in ["apply", "generate"] {
        for s in ["all", "start", "success"] {
            let v = st
                .snapshot_total
                .get(&(ty.to_string(), s.to_string()))
                .copied()
                .unwrap_or(0.0);
            write_rust_sample(
                &mut out,
                "tikv_raftstore_snapshot_total",
                &[("status", s), ("type", ty)],
                v,
            );
        }
    }
    family(
        &mut out,
        "tikv_raftstore_snapshot_traffic_total",
        "gauge",
        "Total number of raftstore snapshot traffic.",
    );
    write_rust_sample(
        &mut out,
        "tikv_raftstore_snapshot_traffic_total",
        &[("type", "receiving")],
        0.0,
    );
    write_rust_sample(
        &mut out,
        "tikv_raftstore_snapshot_traffic_total",
        &[("type", "sending")],
        st.sending as f64,
    );
    family(
        &mut out,
        "tikv_scheduler_command_duration_seconds",
        "histogram",
        "Bucketed histogram of command execution",
    );
    st.sched_cmd.write(
        &mut out,
        "tikv_scheduler_command_duration_seconds",
        &[("type", "prewrite")],
    );
    family(
        &mut out,
        "tikv_server_send_snapshot_duration_seconds",
        "histogram",
        "Bucketed histogram of server send snapshots duration",
    );
    st.send_snap
        .write(&mut out, "tikv_server_send_snapshot_duration_seconds", &[]);
    family(
        &mut out,
        "tikv_server_snapshot_task_total",
        "counter",
        "Total number of snapshot task",
    );
    for ty in ["recv", "recv_v2", "send"] {
        write_rust_sample(
            &mut out,
            "tikv_server_snapshot_task_total",
            &[("type", ty)],
            st.snap_tasks.get(ty).copied().unwrap_or(0.0),
        );
    }
    family(
        &mut out,
        "tikv_storage_command_total",
        "counter",
        "Total number of commands received.",
    );
    for (k, v) in &st.storage_cmd {
        write_rust_sample(
            &mut out,
            "tikv_storage_command_total",
            &[("type", k)],
            v.floor(),
        );
    }
    family(
        &mut out,
        "tikv_store_size_bytes",
        "gauge",
        "Size of storage.",
    );
    write_rust_sample(
        &mut out,
        "tikv_store_size_bytes",
        &[("type", "available")],
        st.available as f64,
    );
    write_rust_sample(
        &mut out,
        "tikv_store_size_bytes",
        &[("type", "capacity")],
        st.capacity as f64,
    );
    write_rust_sample(
        &mut out,
        "tikv_store_size_bytes",
        &[("type", "used")],
        st.used as f64,
    );
    family(
        &mut out,
        "tikv_yatp_pool_schedule_wait_duration",
        "histogram",
        "Histogram of yatp pool schedule wait duration.",
    );
    st.read_pool_wait.write(
        &mut out,
        "tikv_yatp_pool_schedule_wait_duration",
        &[("name", "unified-read-pool")],
    );
    family(
        &mut out,
        "tikv_thread_cpu_seconds_total",
        "gauge",
        "Total user and system CPU time spent in seconds by threads.",
    );
    for (name, tid, secs) in &st.threads {
        write_rust_sample(
            &mut out,
            "tikv_thread_cpu_seconds_total",
            &[("name", name), ("tid", &tid.to_string())],
            (secs * 100.0).round() / 100.0,
        );
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct TikvConfigJson {
    slow_log_file: String,
    slow_log_threshold: String,
    panic_when_unexpected_key_or_data: bool,
    abort_on_panic: bool,
    memory_usage_limit: String,
    memory_usage_high_water: f64,
    log: serde_json::Value,
    server: ServerSection,
    storage: StorageSection,
    pd: PdSection,
    raftstore: RaftstoreSection,
    coprocessor: CoprocessorSection,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ServerSection {
    addr: String,
    advertise_addr: String,
    status_addr: String,
    advertise_status_addr: String,
    status_thread_pool_size: u64,
    max_grpc_send_msg_len: u64,
    grpc_concurrency: u64,
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct StorageSection {
    data_dir: String,
    engine: String,
    reserve_space: String,
    reserve_raft_space: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct PdSection {
    endpoints: Vec<String>,
    retry_interval: String,
    retry_max_count: i64,
    retry_log_every: u64,
    update_interval: String,
    enable_forwarding: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RaftstoreSection {
    prevote: bool,
    raft_base_tick_interval: String,
    raft_heartbeat_ticks: u64,
    raft_election_timeout_ticks: u64,
    split_region_check_tick_interval: String,
    pd_heartbeat_tick_interval: String,
    pd_store_heartbeat_tick_interval: String,
    max_peer_down_duration: String,
    max_leader_missing_duration: String,
    inspect_interval: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct CoprocessorSection {
    region_max_size: String,
    region_split_size: String,
    region_max_keys: u64,
    region_split_keys: u64,
}

fn tikv_config(node: &Arc<TikvNode>) -> String {
    let c = &node.cfg;
    let cfg = TikvConfigJson {
        slow_log_file: String::new(),
        slow_log_threshold: "1s".into(),
        panic_when_unexpected_key_or_data: false,
        abort_on_panic: false,
        memory_usage_limit: "0KiB".into(),
        memory_usage_high_water: 0.9,
        log: serde_json::json!({"level": "info", "format": "text", "enable-timestamp": true,
            "file": {"filename": "", "max-size": 300, "max-days": 0, "max-backups": 0}}),
        server: ServerSection {
            addr: c.addr.clone(),
            advertise_addr: node.advertise_addr.clone(),
            status_addr: c.status_addr.clone(),
            advertise_status_addr: c.advertise_status_addr.clone().unwrap_or_default(),
            status_thread_pool_size: 1,
            max_grpc_send_msg_len: 10485760,
            grpc_concurrency: 5,
            labels: c.labels.iter().cloned().collect(),
        },
        storage: StorageSection {
            data_dir: c
                .data_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "./".into()),
            engine: "raft-kv".into(),
            reserve_space: "5GiB".into(),
            reserve_raft_space: "1GiB".into(),
        },
        pd: PdSection {
            endpoints: c.pd_endpoints.clone(),
            retry_interval: "300ms".into(),
            retry_max_count: -1,
            retry_log_every: 10,
            update_interval: "10m".into(),
            enable_forwarding: false,
        },
        raftstore: RaftstoreSection {
            prevote: true,
            raft_base_tick_interval: "1s".into(),
            raft_heartbeat_ticks: 2,
            raft_election_timeout_ticks: 10,
            split_region_check_tick_interval: "10s".into(),
            pd_heartbeat_tick_interval: "1m".into(),
            pd_store_heartbeat_tick_interval: "10s".into(),
            max_peer_down_duration: wire::readable_duration(c.max_peer_down()),
            max_leader_missing_duration: "2h".into(),
            inspect_interval: "100ms".into(),
        },
        coprocessor: CoprocessorSection {
            region_max_size: "144MiB".into(),
            region_split_size: "96MiB".into(),
            region_max_keys: 1440000,
            region_split_keys: 960000,
        },
    };
    serde_json::to_string(&cfg).unwrap_or_default()
}
