//! The cluster model owned by the PD leader: stores, regions, schedulers, operators and
//! the workload, advanced by [`ClusterModel::tick`] and by TiKV heartbeats.
//!
//! # Why it is shaped like this
//!
//! * **Sans-IO.** Every method takes `now_ms` (wall-clock unix milliseconds) and returns
//!   data; the HTTP layer in [`super::pd`] owns the clock and the sockets. That makes the
//!   state machine testable with invented times and deterministic under a seed (the only
//!   randomness is a counter-based `splitmix64` stream stored in the model).
//! * **Time factor.** PD/TiKV thresholds (20 s disconnect, `max-store-down-time`, TiKV's
//!   `max-peer-down-duration`, heartbeat intervals, snapshot durations) are *simulated*
//!   durations; they are divided by `time_factor` to get wall-clock durations. Values the
//!   API reports as durations (`down_seconds`, `uptime`) are in simulated seconds.
//! * **Incremental indexes.** A million regions must answer `/stores` and
//!   `/regions/check/*` in milliseconds, so every region mutation goes through
//!   [`ClusterModel::update_region`], which removes the region from the per-store
//!   counters, the start-key index, the per-store peer sets and the per-check sets, applies
//!   the change and re-indexes it. Nothing on the request path scans all regions.
//! * **Keys.** A region's boundaries are integer positions in a `user%010d` keyspace;
//!   position 0 is `""` (-inf) as a start and `u64::MAX` is `""` (+inf) as an end. Keys are
//!   rendered as upper-case hex of the memcomparable encoding, like PD shows them.
//!
//! # Layout
//!
//! One state machine, one [`ClusterModel`], but several concerns, one file each (every
//! file adds an `impl ClusterModel` block; helpers shared between files are
//! `pub(super)`): [`region`] (stores and regions), [`config`] (schedule and replication
//! config), [`index`] (the incremental indexes and lookups), [`stores`] (the store
//! lifecycle and heartbeats), [`workload`], [`operators`] (the operator state machine and
//! its admin API), [`schedulers`], [`tick`] (time: store states, checkers, schedulers),
//! [`render`] (PD's JSON) and [`api`] (request and reply bodies). This file keeps the
//! model itself: the struct, its constructors, time conversion and the store state
//! names. Every type is re-exported here, so `sim::model::X` paths are unchanged.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::wire::{self, hex_upper, memcomparable, GoFloat};

/// Highest user key position (`user9999999999`).
pub(crate) const KEYSPACE_MAX: u64 = 9_999_999_999;
/// Region start meaning -inf.
pub(crate) const KEY_MIN: u64 = 0;
/// Region end meaning +inf.
pub(crate) const KEY_MAX: u64 = u64::MAX;

/// Simulated seconds after which a silent store is Disconnected (`storeDisconnectDuration`).
pub(crate) const DISCONNECT_SECS: f64 = 20.0;
/// Simulated seconds after which a silent store counts as unhealthy in metrics.
pub(crate) const UNHEALTHY_SECS: f64 = 600.0;
/// TiKV store heartbeat interval (simulated seconds).
pub(crate) const STORE_HEARTBEAT_SECS: f64 = 10.0;
/// TiKV region heartbeat interval (simulated seconds).
pub(crate) const REGION_HEARTBEAT_SECS: f64 = 60.0;
/// Region split threshold (TiKV `region-max-size`, MiB).
pub(crate) const REGION_MAX_SIZE_MIB: f64 = 144.0;
/// Region-count threshold under which stores become Serving at once.
pub(crate) const INIT_CLUSTER_REGION_THRESHOLD: usize = 100;

/// Errors from model operations; `Display` is the exact PD error body text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ModelError {
    /// 404.
    #[error("[PD:core:ErrStoreNotFound]store {0} not found")]
    StoreNotFound(u64),
    /// 410.
    #[error("[PD:core:ErrStoreRemoved]store {0} has been removed")]
    StoreRemoved(u64),
    /// 400.
    #[error("[PD:core:ErrStoresNotEnough]can not remove store {store} since the number of up stores would be {would_be} while need {need}")]
    StoresNotEnough {
        /// Store being removed.
        store: u64,
        /// Up stores after removal.
        would_be: u64,
        /// max-replicas.
        need: u64,
    },
    /// 400.
    #[error("[PD:core:ErrStoreDestroyed]store {0} has been physically destroyed")]
    StoreDestroyed(u64),
    /// 500 (PD answers this for unknown regions in operator requests).
    #[error("[PD:region:ErrRegionNotFound]region {0} not found")]
    RegionNotFound(u64),
    /// 500.
    #[error("[PD:operator:ErrAddOperator]failed to add operator, maybe already have one")]
    OperatorExists,
    /// 500, free text.
    #[error("{0}")]
    Operator(String),
    /// 404.
    #[error("[PD:scheduler:ErrSchedulerNotFound]scheduler not found")]
    SchedulerNotFound,
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 500 (remove-tombstone with regions left).
    #[error("failed stores: {0}")]
    FailedStores(String),
    /// Registration refused.
    #[error("duplicated store address: {0}, already registered by store {1}")]
    DuplicatedAddress(String, u64),
}

impl ModelError {
    /// HTTP status PD answers with.
    pub(crate) fn status(&self) -> u16 {
        match self {
            ModelError::StoreNotFound(_) | ModelError::SchedulerNotFound => 404,
            ModelError::StoreRemoved(_) => 410,
            ModelError::StoresNotEnough { .. }
            | ModelError::StoreDestroyed(_)
            | ModelError::BadRequest(_)
            | ModelError::DuplicatedAddress(..) => 400,
            _ => 500,
        }
    }
}

mod api;
mod config;
mod index;
mod operators;
mod region;
mod render;
mod schedulers;
mod stores;
#[cfg(test)]
mod tests;
mod tick;
mod workload;

pub(crate) use api::*;
pub(crate) use config::*;
pub(crate) use index::*;
pub(crate) use operators::*;
pub(crate) use region::*;
pub(crate) use render::*;
pub(crate) use schedulers::*;
pub(crate) use workload::*;

/// Lines the model wants PD to log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    /// `INFO`/`WARN`.
    pub level: &'static str,
    /// Source file:line as PD prints it.
    pub source: &'static str,
    /// Message.
    pub msg: &'static str,
    /// Fields.
    pub fields: Vec<(&'static str, String)>,
}

/// The whole cluster as the PD leader sees it. Serializable (indexes are rebuilt on load)
/// so it can be persisted in `--data-dir` and replicated to PD followers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterModel {
    /// Cluster id.
    pub cluster_id: u64,
    /// Wall-clock divisor for simulated durations.
    pub time_factor: f64,
    /// Seed of the deterministic random stream.
    pub seed: u64,
    rng_counter: u64,
    /// Next id to allocate.
    pub next_id: u64,
    /// Bootstrap time (unix ms), 0 before.
    pub bootstrap_ms: u64,
    /// Regions created at bootstrap.
    pub initial_regions: u64,
    /// Stores.
    pub stores: BTreeMap<u64, Store>,
    /// Regions.
    pub regions: BTreeMap<u64, Region>,
    /// schedule.*
    pub schedule: ScheduleConfig,
    /// replication.*
    pub replication: ReplicationConfig,
    /// Other POSTed config keys (kept so GET reflects them).
    pub extra_config: BTreeMap<String, serde_json::Value>,
    /// Schedulers.
    pub schedulers: Schedulers,
    /// Running operators by region.
    pub operators: BTreeMap<u64, Operator>,
    /// Finished operators by region (kept 10 simulated minutes).
    pub finished_operators: BTreeMap<u64, Operator>,
    /// Operator counters for `pd_schedule_operators_count` (`"type|event"` -> n).
    pub operator_counts: BTreeMap<String, u64>,
    /// Workload.
    pub workload: Workload,
    /// Events waiting for each store's next heartbeat.
    pub outbox: BTreeMap<u64, Vec<StoreEvent>>,
    /// Last Preparing->Serving check (unix ms).
    pub last_state_check_ms: u64,
    /// Version bumped on every change (replication).
    pub revision: u64,
    /// Offline progress baselines: store -> (region size MiB when offlined, unix ms).
    #[serde(default)]
    pub removing_baseline: BTreeMap<u64, (f64, u64)>,
    #[serde(skip)]
    idx: Indexes,
    #[serde(skip)]
    logs: Vec<LogEvent>,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The encoded key of a position (`""` for the open ends).
pub(crate) fn encode_key(pos: u64) -> Vec<u8> {
    if pos == KEY_MIN || pos == KEY_MAX {
        return Vec::new();
    }
    memcomparable(format!("user{pos:010}").as_bytes())
}

/// The largest position whose encoded key is `<= key` (0 when none): maps an arbitrary
/// encoded key onto the keyspace, so lookups work for any key, not only boundaries.
pub(crate) fn position_of(key: &[u8]) -> u64 {
    if key.is_empty() {
        return KEY_MIN;
    }
    let (mut lo, mut hi) = (1u64, KEYSPACE_MAX);
    if encode_key(lo).as_slice() > key {
        return KEY_MIN;
    }
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if encode_key(mid).as_slice() <= key {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

impl ClusterModel {
    /// A fresh, unbootstrapped cluster.
    pub(crate) fn new(cluster_id: u64, time_factor: f64, seed: u64, initial_regions: u64) -> Self {
        let mut m = Self {
            cluster_id,
            time_factor: if time_factor > 0.0 { time_factor } else { 1.0 },
            seed,
            rng_counter: 0,
            next_id: 0,
            bootstrap_ms: 0,
            initial_regions: initial_regions.max(1),
            stores: BTreeMap::new(),
            regions: BTreeMap::new(),
            schedule: ScheduleConfig::default(),
            replication: ReplicationConfig::default(),
            extra_config: BTreeMap::new(),
            schedulers: Schedulers::default(),
            operators: BTreeMap::new(),
            finished_operators: BTreeMap::new(),
            operator_counts: BTreeMap::new(),
            workload: Workload::default(),
            outbox: BTreeMap::new(),
            last_state_check_ms: 0,
            revision: 0,
            removing_baseline: BTreeMap::new(),
            idx: Indexes::default(),
            logs: Vec::new(),
        };
        m.sync_schedulers_v2();
        m
    }

    /// A bootstrapped cluster of `stores` virtual stores (heartbeats simulated by
    /// [`Self::tick`]) and `regions` three-replica regions, for scale mode. The last
    /// `silent` stores never heartbeat, so their peers become down.
    pub(crate) fn new_scale(
        cluster_id: u64,
        time_factor: f64,
        seed: u64,
        stores: u64,
        regions: u64,
        silent: u64,
        now_ms: u64,
    ) -> Self {
        let mut m = Self::new(cluster_id, time_factor, seed, 1);
        let stores = stores.max(3);
        for i in 0..stores {
            let id = m.alloc_id();
            let is_silent = i >= stores - silent.min(stores);
            let cap: u64 = 1 << 40;
            let used = (m.rand() % (cap / 4)) + (1 << 30);
            m.stores.insert(
                id,
                Store {
                    id,
                    address: format!("tikv-{i}:20160"),
                    status_address: format!("tikv-{i}:20180"),
                    version: "8.5.7".into(),
                    git_hash: super::tikv::TIKV_GIT_HASH.into(),
                    deploy_path: "/".into(),
                    labels: vec![],
                    start_timestamp: (now_ms / 1000) as i64 - 3600,
                    last_hb_ms: if is_silent {
                        now_ms.saturating_sub(m.real_ms(1200.0))
                    } else {
                        now_ms
                    },
                    state: 0,
                    node_state: 1,
                    physically_destroyed: false,
                    capacity: cap,
                    available: cap - used,
                    used,
                    slow_score: 1,
                    max_peer_down_secs: 600.0,
                    virtual_store: true,
                    peers_marked_down: false,
                    add_peer_window: (0, 0),
                    virtual_silent: is_silent,
                    disconnect_logged: is_silent,
                },
            );
            m.schedule.store_limit.insert(
                id.to_string(),
                StoreLimit {
                    add_peer: GoFloatSer(15.0),
                    remove_peer: GoFloatSer(15.0),
                },
            );
        }
        let store_ids: Vec<u64> = m.stores.keys().copied().collect();
        m.bootstrap_ms = now_ms;
        let regions = regions.max(1);
        let step = (KEYSPACE_MAX / regions).max(1);
        for i in 0..regions {
            let start = if i == 0 { KEY_MIN } else { i * step };
            let end = if i + 1 == regions {
                KEY_MAX
            } else {
                (i + 1) * step
            };
            let id = m.alloc_id();
            let mut chosen: Vec<u64> = Vec::with_capacity(3);
            while chosen.len() < 3 {
                let s = store_ids[(m.rand() % store_ids.len() as u64) as usize];
                if !chosen.contains(&s) {
                    chosen.push(s);
                }
            }
            let peers: Vec<Peer> = chosen
                .iter()
                .map(|s| Peer {
                    id: 0,
                    store_id: *s,
                    role: role::VOTER,
                })
                .collect();
            let mut peers = peers;
            for p in peers.iter_mut() {
                p.id = m.alloc_id();
            }
            // The leader sits on a live store.
            let live: Vec<&Peer> = peers
                .iter()
                .filter(|p| !m.stores[&p.store_id].virtual_silent)
                .collect();
            let leader = live
                .get((m.rand() % live.len().max(1) as u64) as usize)
                .map(|p| p.id)
                .unwrap_or(peers[0].id);
            let size = 20.0 + (m.rand() % 90) as f64;
            let r = Region {
                id,
                start,
                end,
                conf_ver: 5,
                version: 5,
                peers,
                leader,
                term: 6,
                down_peers: vec![],
                pending_peers: vec![],
                size_mib: size,
                keys: (size * 3000.0) as i64,
                written_bytes: 0,
                read_bytes: 0,
                written_keys: 0,
                read_keys: 0,
                last_hb_ms: now_ms,
            };
            m.index(&r);
            m.regions.insert(id, r);
        }
        m.last_state_check_ms = now_ms;
        m.tick(now_ms);
        m
    }

    /// Rebuilds the indexes (after deserializing).
    pub(crate) fn rebuild_indexes(&mut self) {
        self.idx = Indexes::default();
        let ids: Vec<u64> = self.regions.keys().copied().collect();
        for id in ids {
            let r = self.regions.get(&id).cloned().expect("listed");
            self.index(&r);
        }
    }

    /// Takes the log lines produced since the last call.
    pub(crate) fn take_logs(&mut self) -> Vec<LogEvent> {
        std::mem::take(&mut self.logs)
    }

    fn log(
        &mut self,
        level: &'static str,
        source: &'static str,
        msg: &'static str,
        fields: Vec<(&'static str, String)>,
    ) {
        if self.logs.len() < 10_000 {
            self.logs.push(LogEvent {
                level,
                source,
                msg,
                fields,
            });
        }
    }

    fn rand(&mut self) -> u64 {
        self.rng_counter += 1;
        splitmix64(self.seed ^ self.rng_counter.wrapping_mul(0x2545_F491_4F6C_DD1D))
    }

    fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Wall-clock milliseconds for a simulated duration.
    pub(crate) fn real_ms(&self, sim_secs: f64) -> u64 {
        (sim_secs * 1000.0 / self.time_factor) as u64
    }

    /// Simulated seconds for a wall-clock span.
    pub(crate) fn sim_secs(&self, real_ms: u64) -> f64 {
        real_ms as f64 * self.time_factor / 1000.0
    }

    /// `max-store-down-time` in simulated seconds.
    pub(crate) fn max_store_down_secs(&self) -> f64 {
        wire::parse_duration(&self.schedule.max_store_down_time)
            .map(|d| d.as_secs_f64())
            .unwrap_or(1800.0)
    }

    /// Whether the first TiKV has bootstrapped the cluster.
    pub(crate) fn is_bootstrapped(&self) -> bool {
        self.bootstrap_ms != 0
    }

    fn silent_secs(&self, s: &Store, now_ms: u64) -> f64 {
        self.sim_secs(now_ms.saturating_sub(s.last_hb_ms))
    }

    /// The displayed state of a store.
    pub(crate) fn state_name(&self, s: &Store, now_ms: u64) -> StateName {
        match s.state {
            1 => StateName::Offline,
            2 => StateName::Tombstone,
            _ => {
                let silent = self.silent_secs(s, now_ms);
                if silent > self.max_store_down_secs() {
                    StateName::Down
                } else if silent > DISCONNECT_SECS {
                    StateName::Disconnected
                } else {
                    StateName::Up
                }
            }
        }
    }

    /// A store that answers raft messages (heartbeating, not Tombstone).
    pub(crate) fn is_alive(&self, store: u64, now_ms: u64) -> bool {
        self.stores
            .get(&store)
            .is_some_and(|s| s.state != 2 && self.silent_secs(s, now_ms) <= DISCONNECT_SECS)
    }

    /// Counters of a store.
    pub(crate) fn counts(&self, store: u64) -> StoreCounts {
        self.idx.counts.get(&store).copied().unwrap_or_default()
    }

    /// Region ids with a peer on the store.
    pub(crate) fn store_region_ids(&self, store: u64) -> Vec<u64> {
        self.idx
            .store_regions
            .get(&store)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Region ids in a check set.
    pub fn check_ids(&self, check: usize) -> &BTreeSet<u64> {
        &self.idx.checks[check]
    }
}
