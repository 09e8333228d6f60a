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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::wire::{self, hex_upper, memcomparable, GoFloat};

/// Highest user key position (`user9999999999`).
pub const KEYSPACE_MAX: u64 = 9_999_999_999;
/// Region start meaning -inf.
pub const KEY_MIN: u64 = 0;
/// Region end meaning +inf.
pub const KEY_MAX: u64 = u64::MAX;

/// Simulated seconds after which a silent store is Disconnected (`storeDisconnectDuration`).
pub const DISCONNECT_SECS: f64 = 20.0;
/// Simulated seconds after which a silent store counts as unhealthy in metrics.
pub const UNHEALTHY_SECS: f64 = 600.0;
/// TiKV store heartbeat interval (simulated seconds).
pub const STORE_HEARTBEAT_SECS: f64 = 10.0;
/// TiKV region heartbeat interval (simulated seconds).
pub const REGION_HEARTBEAT_SECS: f64 = 60.0;
/// Region split threshold (TiKV `region-max-size`, MiB).
pub const REGION_MAX_SIZE_MIB: f64 = 144.0;
/// Region split size (TiKV `region-split-size`, MiB).
pub const REGION_SPLIT_SIZE_MIB: f64 = 96.0;
/// Region-count threshold under which stores become Serving at once.
pub const INIT_CLUSTER_REGION_THRESHOLD: usize = 100;

/// Errors from model operations; `Display` is the exact PD error body text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
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
    pub fn status(&self) -> u16 {
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

/// Peer roles (metapb.PeerRole).
pub mod role {
    /// Voter (0, omitted).
    pub const VOTER: u8 = 0;
    /// Learner.
    pub const LEARNER: u8 = 1;
    /// Joint-consensus incoming voter.
    pub const INCOMING: u8 = 2;
    /// Joint-consensus demoting voter.
    pub const DEMOTING: u8 = 3;
    /// PD's `role_name`.
    pub fn name(r: u8) -> &'static str {
        match r {
            LEARNER => "Learner",
            INCOMING => "IncomingVoter",
            DEMOTING => "DemotingVoter",
            _ => "Voter",
        }
    }
}

/// One replica of a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// Peer id.
    pub id: u64,
    /// Store holding it.
    pub store_id: u64,
    /// [`role`] value.
    pub role: u8,
}

/// One region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// Region id.
    pub id: u64,
    /// Start position (0 = -inf).
    pub start: u64,
    /// End position (`u64::MAX` = +inf).
    pub end: u64,
    /// Epoch conf_ver.
    pub conf_ver: u64,
    /// Epoch version.
    pub version: u64,
    /// Peers.
    pub peers: Vec<Peer>,
    /// Leader peer id (0 = none).
    pub leader: u64,
    /// Raft term.
    pub term: u64,
    /// Peer ids reported down.
    pub down_peers: Vec<u64>,
    /// Peer ids pending (need a snapshot / catching up).
    pub pending_peers: Vec<u64>,
    /// Approximate size, MiB (float so small writes accumulate).
    pub size_mib: f64,
    /// Approximate key count.
    pub keys: i64,
    /// Flow over the last region heartbeat interval: written bytes.
    pub written_bytes: u64,
    /// Read bytes over the last interval.
    pub read_bytes: u64,
    /// Written keys over the last interval.
    pub written_keys: u64,
    /// Read keys over the last interval.
    pub read_keys: u64,
    /// Last region heartbeat (unix ms).
    pub last_hb_ms: u64,
}

impl Region {
    fn peer(&self, id: u64) -> Option<&Peer> {
        self.peers.iter().find(|p| p.id == id)
    }
    /// The leader's store id (0 when leaderless).
    pub fn leader_store(&self) -> u64 {
        self.peer(self.leader).map(|p| p.store_id).unwrap_or(0)
    }
    fn peer_on(&self, store: u64) -> Option<&Peer> {
        self.peers.iter().find(|p| p.store_id == store)
    }
    fn width_fraction(&self) -> f64 {
        let s = self.start.max(1) as f64;
        let e = self.end.min(KEYSPACE_MAX + 1) as f64;
        ((e - s).max(0.0)) / KEYSPACE_MAX as f64
    }
}

/// A store record as PD keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Store {
    /// Store id.
    pub id: u64,
    /// Advertised gRPC address.
    pub address: String,
    /// Status address.
    pub status_address: String,
    /// TiKV version without `v`.
    pub version: String,
    /// Git hash.
    pub git_hash: String,
    /// Deploy path.
    pub deploy_path: String,
    /// Labels.
    pub labels: Vec<(String, String)>,
    /// Start, unix seconds.
    pub start_timestamp: i64,
    /// Last store heartbeat, unix ms.
    pub last_hb_ms: u64,
    /// 0 Up, 1 Offline, 2 Tombstone.
    pub state: u8,
    /// 0 Preparing, 1 Serving, 2 Removing, 3 Removed.
    pub node_state: u8,
    /// Set by a forced delete.
    pub physically_destroyed: bool,
    /// Capacity bytes.
    pub capacity: u64,
    /// Available bytes.
    pub available: u64,
    /// Used bytes.
    pub used: u64,
    /// Slow score 1..100.
    pub slow_score: u64,
    /// TiKV `raftstore.max-peer-down-duration`, simulated seconds.
    pub max_peer_down_secs: f64,
    /// Heartbeats are simulated by the model (scale mode).
    pub virtual_store: bool,
    /// Whether this store's peers are currently marked down.
    pub peers_marked_down: bool,
    /// Add-peer tokens used in the current simulated minute, and that minute.
    pub add_peer_window: (u64, u32),
    /// A virtual store that stopped heartbeating (scale mode).
    #[serde(default)]
    pub virtual_silent: bool,
    /// Whether PD already logged the lost heartbeat stream of this store.
    #[serde(default)]
    pub disconnect_logged: bool,
}

/// The displayed store state name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateName {
    /// Heartbeating.
    Up,
    /// Silent > 20 s.
    Disconnected,
    /// Silent > max-store-down-time.
    Down,
    /// Draining.
    Offline,
    /// Removed.
    Tombstone,
}

impl StateName {
    /// PD's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Up => "Up",
            StateName::Disconnected => "Disconnected",
            StateName::Down => "Down",
            StateName::Offline => "Offline",
            StateName::Tombstone => "Tombstone",
        }
    }
}

/// `schedule.*` configuration (PD v8.5.7 field order and spellings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub struct ScheduleConfig {
    pub max_snapshot_count: u64,
    pub max_pending_peer_count: u64,
    pub max_merge_region_size: u64,
    pub max_merge_region_keys: u64,
    pub split_merge_interval: String,
    pub switch_witness_interval: String,
    pub enable_one_way_merge: String,
    pub enable_cross_table_merge: String,
    pub patrol_region_interval: String,
    pub max_store_down_time: String,
    pub max_store_preparing_time: String,
    pub leader_schedule_limit: u64,
    pub leader_schedule_policy: String,
    pub region_schedule_limit: u64,
    pub witness_schedule_limit: u64,
    pub replica_schedule_limit: u64,
    pub merge_schedule_limit: u64,
    pub hot_region_schedule_limit: u64,
    pub affinity_schedule_limit: u64,
    pub split_scatter_schedule_limit: u64,
    pub hot_region_cache_hits_threshold: u64,
    pub store_limit: BTreeMap<String, StoreLimit>,
    pub tolerant_size_ratio: GoFloatSer,
    pub low_space_ratio: GoFloatSer,
    pub high_space_ratio: GoFloatSer,
    pub region_score_formula_version: String,
    pub scheduler_max_waiting_operator: u64,
    pub enable_remove_down_replica: String,
    pub enable_replace_offline_replica: String,
    pub enable_make_up_replica: String,
    pub enable_remove_extra_replica: String,
    pub enable_location_replacement: String,
    pub enable_debug_metrics: String,
    pub enable_joint_consensus: String,
    pub enable_tikv_split_region: String,
    pub enable_heartbeat_breakdown_metrics: String,
    pub enable_heartbeat_concurrent_runner: String,
    pub schedulers_v2: Vec<SchedulerEntry>,
    pub hot_regions_write_interval: String,
    pub hot_regions_reserved_days: u64,
    pub max_movable_hot_peer_size: u64,
    pub enable_diagnostic: String,
    pub enable_witness: String,
    pub slow_store_evicting_affected_store_ratio_threshold: GoFloatSer,
    pub store_limit_version: String,
    pub patrol_region_worker_count: u64,
    pub max_affinity_merge_region_size: u64,
}

/// A float that round-trips through serde and prints like Go.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(transparent)]
pub struct GoFloatSer(pub f64);

impl Serialize for GoFloatSer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        GoFloat(self.0).serialize(s)
    }
}

/// Per-store limits in `store-limit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StoreLimit {
    /// Add-peer operations per minute.
    pub add_peer: GoFloatSer,
    /// Remove-peer operations per minute.
    pub remove_peer: GoFloatSer,
}

/// One `schedulers-v2` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SchedulerEntry {
    /// Scheduler type (`evict-leader`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Arguments (store ids for evict-leader).
    pub args: Option<Vec<String>>,
    /// Disabled.
    pub disable: bool,
    /// Raw payload.
    pub args_payload: String,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        let s = |v: &str| v.to_string();
        Self {
            max_snapshot_count: 64,
            max_pending_peer_count: 64,
            max_merge_region_size: 54,
            max_merge_region_keys: 540_000,
            split_merge_interval: s("1h0m0s"),
            switch_witness_interval: s("1h0m0s"),
            enable_one_way_merge: s("false"),
            enable_cross_table_merge: s("true"),
            patrol_region_interval: s("10ms"),
            max_store_down_time: s("30m0s"),
            max_store_preparing_time: s("48h0m0s"),
            leader_schedule_limit: 4,
            leader_schedule_policy: s("count"),
            region_schedule_limit: 2048,
            witness_schedule_limit: 4,
            replica_schedule_limit: 64,
            merge_schedule_limit: 8,
            hot_region_schedule_limit: 4,
            affinity_schedule_limit: 0,
            split_scatter_schedule_limit: 0,
            hot_region_cache_hits_threshold: 3,
            store_limit: BTreeMap::new(),
            tolerant_size_ratio: GoFloatSer(0.0),
            low_space_ratio: GoFloatSer(0.8),
            high_space_ratio: GoFloatSer(0.7),
            region_score_formula_version: s("v2"),
            scheduler_max_waiting_operator: 5,
            enable_remove_down_replica: s("true"),
            enable_replace_offline_replica: s("true"),
            enable_make_up_replica: s("true"),
            enable_remove_extra_replica: s("true"),
            enable_location_replacement: s("true"),
            enable_debug_metrics: s("false"),
            enable_joint_consensus: s("true"),
            enable_tikv_split_region: s("true"),
            enable_heartbeat_breakdown_metrics: s("true"),
            enable_heartbeat_concurrent_runner: s("true"),
            schedulers_v2: Vec::new(),
            hot_regions_write_interval: s("10m0s"),
            hot_regions_reserved_days: 7,
            max_movable_hot_peer_size: 512,
            enable_diagnostic: s("true"),
            enable_witness: s("false"),
            slow_store_evicting_affected_store_ratio_threshold: GoFloatSer(0.3),
            store_limit_version: s("v1"),
            patrol_region_worker_count: 1,
            max_affinity_merge_region_size: 256,
        }
    }
}

/// `replication.*` configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub struct ReplicationConfig {
    pub max_replicas: u64,
    pub location_labels: String,
    pub strictly_match_label: String,
    pub enable_placement_rules: String,
    pub enable_placement_rules_cache: String,
    pub isolation_level: String,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            max_replicas: 3,
            location_labels: String::new(),
            strictly_match_label: "false".into(),
            enable_placement_rules: "true".into(),
            enable_placement_rules_cache: "false".into(),
            isolation_level: String::new(),
        }
    }
}

/// One step of an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// Move the leader.
    TransferLeader {
        /// Source store.
        from: u64,
        /// Target store.
        to: u64,
    },
    /// Add a learner; done once its snapshot is applied.
    AddLearner {
        /// New peer id.
        peer: u64,
        /// Target store.
        store: u64,
    },
    /// Promote a learner to voter (add-rule-peer).
    PromoteLearner {
        /// Peer id.
        peer: u64,
        /// Store.
        store: u64,
    },
    /// Enter joint consensus.
    JointPromoteDemote {
        /// Learner being promoted.
        promote: (u64, u64),
        /// Voter being demoted.
        demote: (u64, u64),
    },
    /// Leave joint consensus.
    LeaveJoint {
        /// Learner being promoted.
        promote: (u64, u64),
        /// Voter being demoted.
        demote: (u64, u64),
    },
    /// Remove the peer on a store.
    RemovePeer {
        /// Store.
        store: u64,
    },
    /// Split the region.
    Split {
        /// Policy name (APPROXIMATE, SCAN, USEKEY).
        policy: String,
    },
    /// Merge into a target.
    Merge {
        /// Source region.
        source: u64,
        /// Target region.
        target: u64,
    },
}

impl Step {
    fn describe(&self) -> String {
        match self {
            Step::TransferLeader { from, to } => format!("transfer leader from store {from} to store {to}"),
            Step::AddLearner { peer, store } => format!("add learner peer {peer} on store {store}"),
            Step::PromoteLearner { peer, store } => format!("promote learner peer {peer} on store {store} to voter"),
            Step::JointPromoteDemote { promote, demote } => format!(
                "use joint consensus, promote learner peer {} on store {} to voter, demote voter peer {} on store {} to learner",
                promote.0, promote.1, demote.0, demote.1
            ),
            Step::LeaveJoint { promote, demote } => format!(
                "leave joint state, promote learner peer {} on store {} to voter, demote voter peer {} on store {} to learner",
                promote.0, promote.1, demote.0, demote.1
            ),
            Step::RemovePeer { store } => format!("remove peer on store {store}"),
            Step::Split { policy } => format!("split region with policy {policy}"),
            Step::Merge { source, target } => format!("merge region {source} into region {target}"),
        }
    }
}

/// Operator kind bits (PD v8.5.7 order, OpAffinity at bit 1).
pub mod kind {
    /// Leader.
    pub const LEADER: u32 = 1;
    /// Region.
    pub const REGION: u32 = 1 << 2;
    /// Split.
    pub const SPLIT: u32 = 1 << 3;
    /// Admin.
    pub const ADMIN: u32 = 1 << 4;
    /// Hot region.
    pub const HOT: u32 = 1 << 5;
    /// Replica.
    pub const REPLICA: u32 = 1 << 6;
    /// Merge.
    pub const MERGE: u32 = 1 << 7;
    /// Names in PD's order.
    pub fn names(k: u32) -> String {
        let mut v = Vec::new();
        for (bit, n) in [
            (LEADER, "leader"),
            (REGION, "region"),
            (SPLIT, "split"),
            (ADMIN, "admin"),
            (HOT, "hot-region"),
            (REPLICA, "replica"),
            (MERGE, "merge"),
        ] {
            if k & bit != 0 {
                v.push(n);
            }
        }
        // PD prints admin first, then the rest in bit order.
        v.sort_by_key(|n| if *n == "admin" { 0 } else { 1 });
        v.join(",")
    }
}

/// Operator status (`status` in `?object` output).
pub mod op_status {
    /// Created.
    pub const CREATED: u8 = 0;
    /// Started.
    pub const STARTED: u8 = 1;
    /// Success.
    pub const SUCCESS: u8 = 2;
    /// Canceled.
    pub const CANCELED: u8 = 3;
    /// Replaced.
    pub const REPLACED: u8 = 4;
    /// Timeout.
    pub const TIMEOUT: u8 = 6;
}

/// A running or recently finished operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operator {
    /// Region.
    pub region_id: u64,
    /// `admin-transfer-leader`, `replace-rule-offline-peer`, ...
    pub desc: String,
    /// `transfer leader: store 1 to 4`.
    pub brief: String,
    /// Kind bits.
    pub kind: u32,
    /// Steps.
    pub steps: Vec<Step>,
    /// Index of the current step.
    pub current: usize,
    /// Created, unix ms.
    pub create_ms: u64,
    /// Current step started, unix ms.
    pub step_start_ms: u64,
    /// Status.
    pub status: u8,
    /// Region size at creation (MiB).
    pub size: i64,
    /// Timeout, simulated seconds.
    pub timeout_secs: u64,
    /// Epoch at creation.
    pub epoch: (u64, u64),
    /// Finished, unix ms.
    pub finish_ms: u64,
}

impl Operator {
    /// `Operator.String()`.
    pub fn to_pd_string(&self, boot_ms: u64) -> String {
        let t = |ms: u64| {
            if ms == 0 {
                "0001-01-01 00:00:00 +0000 UTC".to_string()
            } else {
                wire::go_time_string(
                    UNIX_EPOCH + Duration::from_millis(ms),
                    ms.saturating_sub(boot_ms) as f64 / 1000.0,
                )
            }
        };
        let steps: Vec<String> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{i}:{{{}}}", s.describe()))
            .collect();
        let suffix = match self.status {
            op_status::SUCCESS => " finished",
            op_status::TIMEOUT => " timeout",
            _ => "",
        };
        format!(
            "{} {{{}}} (kind:{}, region:{}({}, {}), createAt:{}, startAt:{}, currentStep:{}, size:{}, steps:[{}], timeout:[{}]){}",
            self.desc,
            self.brief,
            kind::names(self.kind),
            self.region_id,
            self.epoch.1,
            self.epoch.0,
            t(self.create_ms),
            t(self.create_ms),
            self.current,
            self.size,
            steps.join(", "),
            wire::go_duration(Duration::from_secs(self.timeout_secs)),
            suffix
        )
    }
}

/// Something a TiKV store should log or count, delivered with its next heartbeat reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoreEvent {
    /// A peer on this store became leader.
    BecameLeader {
        /// Region.
        region_id: u64,
        /// Peer.
        peer_id: u64,
        /// New term.
        term: u64,
    },
    /// A peer on this store lost leadership.
    BecameFollower {
        /// Region.
        region_id: u64,
        /// Peer.
        peer_id: u64,
        /// New term.
        term: u64,
    },
    /// This store sent a snapshot.
    SnapshotSent {
        /// Region.
        region_id: u64,
        /// Receiving peer.
        to_peer: u64,
        /// Bytes.
        size: u64,
        /// Simulated seconds it took.
        secs: f64,
        /// Term.
        term: u64,
    },
    /// This store applied a snapshot.
    SnapshotApplied {
        /// Region.
        region_id: u64,
        /// Peer.
        peer_id: u64,
        /// Bytes.
        size: u64,
        /// Simulated seconds it took.
        secs: f64,
    },
}

/// The built-in workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// Cluster-wide read requests per second.
    pub read_qps: f64,
    /// Cluster-wide write requests per second.
    pub write_qps: f64,
    /// Bytes per value.
    pub value_bytes: f64,
    /// Extra load on one key range.
    pub hot: Option<HotRange>,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            read_qps: 2000.0,
            write_qps: 500.0,
            value_bytes: 1024.0,
            hot: None,
        }
    }
}

/// A hot key range (positions in the keyspace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotRange {
    /// Start position.
    pub start: u64,
    /// End position.
    pub end: u64,
    /// Extra requests per second.
    pub qps: f64,
    /// `read`, `write` or `both`.
    pub kind: String,
    /// When it was set (unix ms).
    pub since_ms: u64,
}

/// Per-second load of one region.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    /// Read requests/s.
    pub read_qps: f64,
    /// Write requests/s.
    pub write_qps: f64,
    /// Read bytes/s.
    pub read_bytes: f64,
    /// Written bytes/s.
    pub write_bytes: f64,
    /// Read keys/s.
    pub read_keys: f64,
    /// Written keys/s.
    pub write_keys: f64,
}

/// Derived per-store counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StoreCounts {
    /// Regions with a peer here.
    pub region_count: u64,
    /// Leaders here.
    pub leader_count: u64,
    /// Sum of region sizes (MiB).
    pub region_size: f64,
    /// Sum of led region sizes (MiB).
    pub leader_size: f64,
    /// Learners here.
    pub learner_count: u64,
    /// Pending peers here.
    pub pending_count: u64,
}

/// Region check types, in `/regions/check/{type}` spelling.
pub const CHECKS: [&str; 9] = [
    "miss-peer",
    "extra-peer",
    "down-peer",
    "pending-peer",
    "offline-peer",
    "learner-peer",
    "empty-region",
    "oversized-region",
    "undersized-region",
];

#[derive(Debug, Default, Clone)]
struct Indexes {
    by_start: BTreeMap<u64, u64>,
    store_regions: HashMap<u64, BTreeSet<u64>>,
    counts: HashMap<u64, StoreCounts>,
    checks: [BTreeSet<u64>; 9],
}

/// Schedulers PD runs (names as `/schedulers` shows them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedulers {
    /// Enabled scheduler names, in creation order.
    pub names: Vec<String>,
    /// evict-leader-scheduler stores.
    pub evict_leader: BTreeSet<u64>,
    /// grant-leader-scheduler stores.
    pub grant_leader: BTreeSet<u64>,
    /// Paused schedulers and when they resume (unix ms).
    pub paused_until: BTreeMap<String, u64>,
}

impl Default for Schedulers {
    fn default() -> Self {
        Self {
            names: vec![
                "balance-hot-region-scheduler".into(),
                "balance-leader-scheduler".into(),
                "balance-region-scheduler".into(),
                "evict-slow-store-scheduler".into(),
                "evict-stopping-store-scheduler".into(),
            ],
            evict_leader: BTreeSet::new(),
            grant_leader: BTreeSet::new(),
            paused_until: BTreeMap::new(),
        }
    }
}

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
pub fn encode_key(pos: u64) -> Vec<u8> {
    if pos == KEY_MIN || pos == KEY_MAX {
        return Vec::new();
    }
    memcomparable(format!("user{pos:010}").as_bytes())
}

/// The largest position whose encoded key is `<= key` (0 when none): maps an arbitrary
/// encoded key onto the keyspace, so lookups work for any key, not only boundaries.
pub fn position_of(key: &[u8]) -> u64 {
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
    pub fn new(cluster_id: u64, time_factor: f64, seed: u64, initial_regions: u64) -> Self {
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
    pub fn new_scale(
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
    pub fn rebuild_indexes(&mut self) {
        self.idx = Indexes::default();
        let ids: Vec<u64> = self.regions.keys().copied().collect();
        for id in ids {
            let r = self.regions.get(&id).cloned().expect("listed");
            self.index(&r);
        }
    }

    /// Takes the log lines produced since the last call.
    pub fn take_logs(&mut self) -> Vec<LogEvent> {
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
    pub fn real_ms(&self, sim_secs: f64) -> u64 {
        (sim_secs * 1000.0 / self.time_factor) as u64
    }

    /// Simulated seconds for a wall-clock span.
    pub fn sim_secs(&self, real_ms: u64) -> f64 {
        real_ms as f64 * self.time_factor / 1000.0
    }

    /// `max-store-down-time` in simulated seconds.
    pub fn max_store_down_secs(&self) -> f64 {
        wire::parse_duration(&self.schedule.max_store_down_time)
            .map(|d| d.as_secs_f64())
            .unwrap_or(1800.0)
    }

    /// Whether the first TiKV has bootstrapped the cluster.
    pub fn is_bootstrapped(&self) -> bool {
        self.bootstrap_ms != 0
    }

    fn silent_secs(&self, s: &Store, now_ms: u64) -> f64 {
        self.sim_secs(now_ms.saturating_sub(s.last_hb_ms))
    }

    /// The displayed state of a store.
    pub fn state_name(&self, s: &Store, now_ms: u64) -> StateName {
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
    pub fn is_alive(&self, store: u64, now_ms: u64) -> bool {
        self.stores
            .get(&store)
            .is_some_and(|s| s.state != 2 && self.silent_secs(s, now_ms) <= DISCONNECT_SECS)
    }

    /// Counters of a store.
    pub fn counts(&self, store: u64) -> StoreCounts {
        self.idx.counts.get(&store).copied().unwrap_or_default()
    }

    /// Region ids with a peer on the store.
    pub fn store_region_ids(&self, store: u64) -> Vec<u64> {
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

    // ---------------------------------------------------------------- indexing

    fn classify(&self, r: &Region) -> [bool; 9] {
        let desired = self.replication.max_replicas as usize;
        let offline = r.peers.iter().any(|p| {
            self.stores
                .get(&p.store_id)
                .is_some_and(|s| s.node_state == 2)
        });
        let size = r.size_mib.round() as i64;
        [
            r.peers.len() < desired,
            r.peers.len() > desired,
            !r.down_peers.is_empty(),
            !r.pending_peers.is_empty(),
            offline,
            r.peers.iter().any(|p| p.role == role::LEARNER),
            size <= 1,
            r.size_mib > REGION_MAX_SIZE_MIB || r.keys > 1_440_000,
            size <= self.schedule.max_merge_region_size as i64
                && r.keys <= self.schedule.max_merge_region_keys as i64,
        ]
    }

    fn index(&mut self, r: &Region) {
        self.idx.by_start.insert(r.start, r.id);
        let leader_store = r.leader_store();
        for p in &r.peers {
            self.idx
                .store_regions
                .entry(p.store_id)
                .or_default()
                .insert(r.id);
            let c = self.idx.counts.entry(p.store_id).or_default();
            c.region_count += 1;
            c.region_size += r.size_mib.max(1.0);
            if p.role == role::LEARNER {
                c.learner_count += 1;
            }
            if r.pending_peers.contains(&p.id) {
                c.pending_count += 1;
            }
            if p.store_id == leader_store {
                c.leader_count += 1;
                c.leader_size += r.size_mib.max(1.0);
            }
        }
        for (i, on) in self.classify(r).into_iter().enumerate() {
            if on {
                self.idx.checks[i].insert(r.id);
            }
        }
    }

    fn unindex(&mut self, r: &Region) {
        if self.idx.by_start.get(&r.start) == Some(&r.id) {
            self.idx.by_start.remove(&r.start);
        }
        let leader_store = r.leader_store();
        for p in &r.peers {
            if let Some(set) = self.idx.store_regions.get_mut(&p.store_id) {
                set.remove(&r.id);
            }
            let c = self.idx.counts.entry(p.store_id).or_default();
            c.region_count = c.region_count.saturating_sub(1);
            c.region_size -= r.size_mib.max(1.0);
            if p.role == role::LEARNER {
                c.learner_count = c.learner_count.saturating_sub(1);
            }
            if r.pending_peers.contains(&p.id) {
                c.pending_count = c.pending_count.saturating_sub(1);
            }
            if p.store_id == leader_store {
                c.leader_count = c.leader_count.saturating_sub(1);
                c.leader_size -= r.size_mib.max(1.0);
            }
        }
        for set in self.idx.checks.iter_mut() {
            set.remove(&r.id);
        }
    }

    /// Applies `f` to a region, keeping every index consistent.
    ///
    /// # Guarantees
    /// After return, the per-store counters, start-key index, per-store region sets and
    /// check sets reflect the region exactly as `f` left it.
    pub fn update_region<T>(&mut self, id: u64, f: impl FnOnce(&mut Region) -> T) -> Option<T> {
        let mut r = self.regions.remove(&id)?;
        self.unindex(&r);
        let out = f(&mut r);
        // A region's down and pending lists only ever name its own peers: a peer removed
        // by any path (a cancelled learner, a removal, a merge) takes its marks with it.
        let Region {
            peers,
            down_peers,
            pending_peers,
            ..
        } = &mut r;
        down_peers.retain(|d| peers.iter().any(|p| p.id == *d));
        pending_peers.retain(|d| peers.iter().any(|p| p.id == *d));
        self.index(&r);
        self.regions.insert(id, r);
        self.revision += 1;
        Some(out)
    }

    fn insert_region(&mut self, r: Region) {
        self.index(&r);
        self.regions.insert(r.id, r);
        self.revision += 1;
    }

    fn reindex_store_regions(&mut self, store: u64) {
        for id in self.store_region_ids(store) {
            self.update_region(id, |_| ());
        }
    }

    // ---------------------------------------------------------------- lookups

    /// The region containing a position.
    pub fn region_at(&self, pos: u64) -> Option<&Region> {
        let (_, id) = self.idx.by_start.range(..=pos).next_back()?;
        let r = self.regions.get(id)?;
        (pos < r.end || r.end == KEY_MAX).then_some(r)
    }

    /// Regions from the one containing `start`, in key order, stopping before `end`
    /// (`KEY_MAX` = no bound), at most `limit` (0 = unlimited).
    pub fn scan_regions(&self, start: u64, end: u64, limit: usize) -> Vec<&Region> {
        let first = self
            .idx
            .by_start
            .range(..=start)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(KEY_MIN);
        let mut out = Vec::new();
        for (s, id) in self.idx.by_start.range(first..) {
            if end != KEY_MAX && *s >= end && !out.is_empty() {
                break;
            }
            if let Some(r) = self.regions.get(id) {
                out.push(r);
            }
            if limit > 0 && out.len() >= limit {
                break;
            }
        }
        out
    }

    // ---------------------------------------------------------------- stores

    /// Registers a store (TiKV `PutStore`); bootstraps the cluster on the first one.
    ///
    /// # Guarantees
    /// A known `store_id` keeps its id (a restarted TiKV re-registers as itself). A new
    /// store gets a fresh id; an address held by a live non-Tombstone store is refused.
    pub fn put_store(&mut self, req: PutStore, now_ms: u64) -> Result<u64, ModelError> {
        if req.store_id != 0 {
            if let Some(s) = self.stores.get_mut(&req.store_id) {
                if s.state == 2 {
                    return Err(ModelError::StoreRemoved(req.store_id));
                }
                s.address = req.address.clone();
                s.status_address = req.status_address.clone();
                s.version = req.version.clone();
                s.git_hash = req.git_hash.clone();
                s.start_timestamp = req.start_timestamp;
                s.labels = req.labels.clone();
                s.last_hb_ms = now_ms;
                s.capacity = req.capacity;
                s.max_peer_down_secs = req.max_peer_down_secs;
                let id = s.id;
                self.log_put_store(id);
                self.revision += 1;
                return Ok(id);
            }
        }
        if let Some(other) = self.stores.values().find(|s| {
            s.address == req.address
                && s.state != 2
                && !s.physically_destroyed
                && s.id != req.store_id
        }) {
            return Err(ModelError::DuplicatedAddress(req.address.clone(), other.id));
        }
        let id = if req.store_id != 0 {
            self.next_id = self.next_id.max(req.store_id);
            req.store_id
        } else {
            self.alloc_id()
        };
        let store = Store {
            id,
            address: req.address.clone(),
            status_address: req.status_address,
            version: req.version,
            git_hash: req.git_hash,
            deploy_path: req.deploy_path,
            labels: req.labels,
            start_timestamp: req.start_timestamp,
            last_hb_ms: now_ms,
            state: 0,
            node_state: 0,
            physically_destroyed: false,
            capacity: req.capacity,
            available: req.capacity,
            used: 0,
            slow_score: 1,
            max_peer_down_secs: req.max_peer_down_secs,
            virtual_store: false,
            peers_marked_down: false,
            add_peer_window: (0, 0),
            virtual_silent: false,
            disconnect_logged: false,
        };
        self.stores.insert(id, store);
        self.schedule.store_limit.insert(
            id.to_string(),
            StoreLimit {
                add_peer: GoFloatSer(15.0),
                remove_peer: GoFloatSer(15.0),
            },
        );
        self.log_put_store(id);
        if !self.is_bootstrapped() {
            self.bootstrap(id, now_ms);
        }
        self.revision += 1;
        Ok(id)
    }

    fn log_put_store(&mut self, id: u64) {
        let Some(s) = self.stores.get(&id) else {
            return;
        };
        let text = format!(
            "id:{} address:{:?} version:{:?} peer_address:{:?} status_address:{:?} git_hash:{:?} start_timestamp:{} deploy_path:{:?} ",
            s.id, s.address, s.version, s.address, s.status_address, s.git_hash, s.start_timestamp, s.deploy_path
        );
        self.log(
            "INFO",
            "grpc_service.go:899",
            "put store ok",
            vec![("store", text)],
        );
    }

    fn bootstrap(&mut self, store: u64, now_ms: u64) {
        self.bootstrap_ms = now_ms;
        let n = self.initial_regions;
        let step = KEYSPACE_MAX / n;
        for i in 0..n {
            let start = if i == 0 { KEY_MIN } else { i * step };
            let end = if i + 1 == n { KEY_MAX } else { (i + 1) * step };
            let id = self.alloc_id();
            let pid = self.alloc_id();
            let size = 8.0 + (self.rand() % 56) as f64;
            let r = Region {
                id,
                start,
                end,
                conf_ver: 1,
                version: 1 + i,
                peers: vec![Peer {
                    id: pid,
                    store_id: store,
                    role: role::VOTER,
                }],
                leader: pid,
                term: 5,
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
            self.push_event(
                store,
                StoreEvent::BecameLeader {
                    region_id: id,
                    peer_id: pid,
                    term: 5,
                },
            );
            self.insert_region(r);
        }
    }

    fn push_event(&mut self, store: u64, ev: StoreEvent) {
        if self.stores.get(&store).is_some_and(|s| s.virtual_store) {
            return;
        }
        let q = self.outbox.entry(store).or_default();
        if q.len() >= 512 {
            q.remove(0);
        }
        q.push(ev);
    }

    /// Handles a TiKV store heartbeat; returns what the store should know.
    pub fn store_heartbeat(
        &mut self,
        hb: StoreHeartbeat,
        now_ms: u64,
    ) -> Result<HeartbeatReply, ModelError> {
        let was_alive = self.is_alive(hb.store_id, now_ms);
        let s = self
            .stores
            .get_mut(&hb.store_id)
            .ok_or(ModelError::StoreNotFound(hb.store_id))?;
        if s.state == 2 {
            return Err(ModelError::StoreRemoved(hb.store_id));
        }
        s.last_hb_ms = now_ms;
        s.capacity = hb.capacity;
        s.available = hb.available;
        s.used = hb.used;
        s.slow_score = hb.slow_score.clamp(1, 100);
        let marked = s.peers_marked_down;
        s.peers_marked_down = false;
        s.disconnect_logged = false;
        let _ = was_alive;
        if marked {
            // The store is back: its peers stop being down and catch up (pending).
            for id in self.store_region_ids(hb.store_id) {
                self.update_region(id, |r| {
                    if let Some(p) = r.peer_on(hb.store_id).copied() {
                        r.down_peers.retain(|d| *d != p.id);
                        if !r.pending_peers.contains(&p.id) {
                            r.pending_peers.push(p.id);
                        }
                    }
                });
            }
        } else {
            // Peers that were pending because the store was catching up are now current.
            for id in self.store_region_ids(hb.store_id) {
                let in_op = self.operators.get(&id).is_some_and(|op| {
                    matches!(op.steps.get(op.current), Some(Step::AddLearner { store, .. }) if *store == hb.store_id)
                });
                if in_op {
                    continue;
                }
                let needs = self.regions.get(&id).is_some_and(|r| {
                    r.peer_on(hb.store_id)
                        .is_some_and(|p| r.pending_peers.contains(&p.id))
                });
                if needs {
                    self.update_region(id, |r| {
                        if let Some(p) = r.peer_on(hb.store_id).copied() {
                            r.pending_peers.retain(|x| *x != p.id);
                        }
                    });
                }
            }
        }
        self.revision += 1;
        Ok(self.heartbeat_reply(hb.store_id, now_ms))
    }

    fn heartbeat_reply(&mut self, store: u64, now_ms: u64) -> HeartbeatReply {
        let c = self.counts(store);
        let mut leaders = Vec::new();
        let mut rates = Rates::default();
        for id in self.store_region_ids(store) {
            if let Some(r) = self.regions.get(&id) {
                if r.leader_store() == store {
                    leaders.push(LeaderInfo {
                        region_id: r.id,
                        peer_id: r.leader,
                        term: r.term,
                    });
                    let x = self.region_rates(r, now_ms);
                    rates.read_qps += x.read_qps;
                    rates.write_qps += x.write_qps;
                    rates.read_bytes += x.read_bytes;
                    rates.write_bytes += x.write_bytes;
                }
            }
        }
        let events = self.outbox.remove(&store).unwrap_or_default();
        let sending = self
            .operators
            .values()
            .filter(|op| self.op_snapshot_source(op) == Some(store))
            .count();
        HeartbeatReply {
            store_id: store,
            cluster_id: self.cluster_id,
            region_count: c.region_count,
            leader_count: c.leader_count,
            region_size_mib: c.region_size.max(0.0) as u64,
            leaders,
            read_qps: rates.read_qps,
            write_qps: rates.write_qps,
            read_bytes: rates.read_bytes,
            write_bytes: rates.write_bytes,
            sending_snapshots: sending as u64,
            events,
        }
    }

    fn op_snapshot_source(&self, op: &Operator) -> Option<u64> {
        match op.steps.get(op.current) {
            Some(Step::AddLearner { .. }) => {
                self.regions.get(&op.region_id).map(|r| r.leader_store())
            }
            _ => None,
        }
    }

    /// Handles a TiKV region heartbeat: refreshes flow statistics and sizes of the regions
    /// the store leads, and splits regions that outgrew `region-max-size`.
    pub fn region_heartbeat(&mut self, store: u64, now_ms: u64) -> Result<usize, ModelError> {
        if !self.stores.contains_key(&store) {
            return Err(ModelError::StoreNotFound(store));
        }
        let ids = self.store_region_ids(store);
        let mut n = 0;
        for id in ids {
            let Some(r) = self.regions.get(&id) else {
                continue;
            };
            if r.leader_store() != store {
                continue;
            }
            n += 1;
            let rates = self.region_rates(r, now_ms);
            let dt = self
                .sim_secs(now_ms.saturating_sub(r.last_hb_ms))
                .clamp(0.0, 3600.0);
            self.update_region(id, |r| {
                r.last_hb_ms = now_ms;
                r.written_bytes = (rates.write_bytes * dt) as u64;
                r.read_bytes = (rates.read_bytes * dt) as u64;
                r.written_keys = (rates.write_keys * dt) as u64;
                r.read_keys = (rates.read_keys * dt) as u64;
                r.size_mib += rates.write_bytes * dt / (1024.0 * 1024.0);
                r.keys += (rates.write_keys * dt * 0.3) as i64;
            });
            if self
                .regions
                .get(&id)
                .is_some_and(|r| r.size_mib > REGION_MAX_SIZE_MIB)
                && !self.operators.contains_key(&id)
            {
                self.split_region(id, now_ms);
            }
        }
        Ok(n)
    }

    /// Splits a region in the middle of its key range.
    pub fn split_region(&mut self, id: u64, now_ms: u64) -> Option<u64> {
        let r = self.regions.get(&id)?.clone();
        let lo = r.start.max(1);
        let hi = r.end.min(KEYSPACE_MAX);
        if hi <= lo + 1 {
            return None;
        }
        let mid = lo + (hi - lo) / 2;
        let new_id = self.alloc_id();
        let mut peer_map = Vec::new();
        for p in &r.peers {
            let np = self.alloc_id();
            peer_map.push((p.id, np));
        }
        let mut left = r.clone();
        left.id = new_id;
        left.end = mid;
        left.version += 1;
        left.size_mib = r.size_mib / 2.0;
        left.keys = r.keys / 2;
        left.peers = r
            .peers
            .iter()
            .map(|p| Peer {
                id: peer_map
                    .iter()
                    .find(|(o, _)| *o == p.id)
                    .map(|x| x.1)
                    .unwrap_or(p.id),
                ..*p
            })
            .collect();
        let map = |x: u64| {
            peer_map
                .iter()
                .find(|(o, _)| *o == x)
                .map(|m| m.1)
                .unwrap_or(x)
        };
        left.leader = map(r.leader);
        left.down_peers = r.down_peers.iter().map(|x| map(*x)).collect();
        left.pending_peers = r.pending_peers.iter().map(|x| map(*x)).collect();
        left.last_hb_ms = now_ms;
        self.update_region(id, |r| {
            r.start = mid;
            r.version += 1;
            r.size_mib /= 2.0;
            r.keys /= 2;
        });
        let leader_store = left.leader_store();
        let term = left.term;
        let leader_peer = left.leader;
        self.insert_region(left);
        if leader_store != 0 {
            self.push_event(
                leader_store,
                StoreEvent::BecameLeader {
                    region_id: new_id,
                    peer_id: leader_peer,
                    term,
                },
            );
        }
        self.log(
            "INFO",
            "cluster_worker.go:247",
            "region split, generate new region",
            vec![
                ("region-id", id.to_string()),
                ("region-meta", format!("id:{new_id}")),
            ],
        );
        Some(new_id)
    }

    /// Offlines a store (`DELETE /store/{id}`, `state=Offline`).
    ///
    /// # Guarantees
    /// Refuses with [`ModelError::StoresNotEnough`] when fewer than max-replicas Up
    /// stores would remain (unless `force`); idempotent on an Offline store.
    pub fn remove_store(&mut self, id: u64, force: bool, now_ms: u64) -> Result<(), ModelError> {
        let s = self.stores.get(&id).ok_or(ModelError::StoreNotFound(id))?;
        match s.state {
            2 => return Err(ModelError::StoreRemoved(id)),
            1 if s.physically_destroyed == force || !force => return Ok(()),
            _ => {}
        }
        if s.state == 0 && !force {
            let up = self.stores.values().filter(|s| s.state == 0).count() as u64;
            let need = self.replication.max_replicas;
            if up < need + 1 {
                return Err(ModelError::StoresNotEnough {
                    store: id,
                    would_be: up.saturating_sub(1),
                    need,
                });
            }
        }
        let s = self.stores.get_mut(&id).expect("checked");
        s.state = 1;
        s.node_state = 2;
        s.physically_destroyed |= force;
        let addr = s.address.clone();
        let size = self.counts(id).region_size.max(0.0);
        self.removing_baseline.insert(id, (size, now_ms));
        if let Some(l) = self.schedule.store_limit.get_mut(&id.to_string()) {
            l.remove_peer = GoFloatSer(1e8);
        }
        self.log(
            "WARN",
            "cluster.go:1541",
            "store has been offline",
            vec![
                ("store-id", id.to_string()),
                ("store-address", addr),
                ("physically-destroyed", force.to_string()),
            ],
        );
        self.reindex_store_regions(id);
        self.revision += 1;
        Ok(())
    }

    /// Cancels an offline (`state=Up`).
    pub fn up_store(&mut self, id: u64) -> Result<(), ModelError> {
        let s = self
            .stores
            .get_mut(&id)
            .ok_or(ModelError::StoreNotFound(id))?;
        if s.state == 2 {
            return Err(ModelError::StoreRemoved(id));
        }
        if s.physically_destroyed {
            return Err(ModelError::StoreDestroyed(id));
        }
        if s.state == 0 {
            return Ok(());
        }
        s.state = 0;
        s.node_state = 1;
        let addr = s.address.clone();
        if let Some(l) = self.schedule.store_limit.get_mut(&id.to_string()) {
            l.remove_peer = GoFloatSer(15.0);
        }
        self.log(
            "WARN",
            "cluster.go:1712",
            "store has been up",
            vec![("store-id", id.to_string()), ("store-address", addr)],
        );
        // Drop operators moving peers off this store.
        let ops: Vec<u64> = self
            .operators
            .iter()
            .filter(|(_, op)| {
                op.desc == "replace-rule-offline-peer"
                    && op
                        .steps
                        .iter()
                        .any(|s| matches!(s, Step::RemovePeer { store } if *store == id))
            })
            .map(|(k, _)| *k)
            .collect();
        for r in ops {
            self.cancel_operator(r, op_status::CANCELED);
        }
        self.reindex_store_regions(id);
        self.revision += 1;
        Ok(())
    }

    /// `DELETE /stores/remove-tombstone`.
    pub fn remove_tombstones(&mut self) -> Result<(), ModelError> {
        let tomb: Vec<u64> = self
            .stores
            .values()
            .filter(|s| s.state == 2)
            .map(|s| s.id)
            .collect();
        let mut failed = Vec::new();
        for id in tomb {
            if self.counts(id).region_count > 0 {
                failed.push(id.to_string());
                continue;
            }
            self.stores.remove(&id);
            self.schedule.store_limit.remove(&id.to_string());
            self.log(
                "INFO",
                "cluster.go:2150",
                "delete store succeeded",
                vec![("store-id", id.to_string())],
            );
        }
        self.revision += 1;
        if failed.is_empty() {
            Ok(())
        } else {
            Err(ModelError::FailedStores(failed.join(", ")))
        }
    }

    // ---------------------------------------------------------------- workload

    /// The per-second load of a region under the workload.
    pub fn region_rates(&self, r: &Region, now_ms: u64) -> Rates {
        let w = &self.workload;
        let frac = r.width_fraction();
        let mut read_qps = w.read_qps * frac;
        let mut write_qps = w.write_qps * frac;
        if let Some(h) = &w.hot {
            let s = r.start.max(h.start);
            let e = r.end.min(h.end);
            if e > s && h.end > h.start && now_ms >= h.since_ms {
                let share = (e - s) as f64 / (h.end - h.start) as f64;
                match h.kind.as_str() {
                    "read" => read_qps += h.qps * share,
                    "both" => {
                        read_qps += h.qps * share / 2.0;
                        write_qps += h.qps * share / 2.0;
                    }
                    _ => write_qps += h.qps * share,
                }
            }
        }
        if r.leader == 0 || !self.is_alive(r.leader_store(), now_ms) {
            return Rates::default();
        }
        Rates {
            read_qps,
            write_qps,
            read_bytes: read_qps * w.value_bytes,
            write_bytes: write_qps * w.value_bytes,
            read_keys: read_qps,
            write_keys: write_qps * 2.0,
        }
    }

    // ---------------------------------------------------------------- operators

    fn record_op(&mut self, desc: &str, event: &str) {
        *self
            .operator_counts
            .entry(format!("{desc}|{event}"))
            .or_default() += 1;
    }

    fn add_operator(&mut self, mut op: Operator, now_ms: u64) -> Result<(), ModelError> {
        if self.operators.contains_key(&op.region_id) {
            return Err(ModelError::OperatorExists);
        }
        op.create_ms = now_ms;
        op.step_start_ms = now_ms;
        op.status = op_status::STARTED;
        let boot = self.bootstrap_ms;
        self.record_op(&op.desc, "create");
        self.record_op(&op.desc, "start");
        self.log(
            "INFO",
            "operator_controller.go:561",
            "add operator",
            vec![
                ("region-id", op.region_id.to_string()),
                ("operator", format!("{:?}", op.to_pd_string(boot))),
            ],
        );
        self.operators.insert(op.region_id, op);
        self.revision += 1;
        Ok(())
    }

    fn new_op(
        &self,
        region: &Region,
        desc: &str,
        brief: String,
        kind: u32,
        steps: Vec<Step>,
        timeout_secs: u64,
    ) -> Operator {
        Operator {
            region_id: region.id,
            desc: desc.into(),
            brief,
            kind,
            steps,
            current: 0,
            create_ms: 0,
            step_start_ms: 0,
            status: op_status::CREATED,
            size: region.size_mib.round() as i64,
            timeout_secs,
            epoch: (region.conf_ver, region.version),
            finish_ms: 0,
        }
    }

    /// Cancels the operator on a region.
    pub fn cancel_operator(&mut self, region: u64, status: u8) -> bool {
        let Some(mut op) = self.operators.remove(&region) else {
            return false;
        };
        // Undo a half-added learner so the region does not keep an orphan.
        if let Some(Step::AddLearner { peer, .. }) = op.steps.get(op.current).cloned() {
            self.update_region(region, |r| {
                r.peers.retain(|p| p.id != peer);
                r.pending_peers.retain(|p| *p != peer);
                r.conf_ver += 1;
            });
        }
        op.status = status;
        op.finish_ms = self.regions.get(&region).map(|_| 1).unwrap_or(1);
        let name = if status == op_status::TIMEOUT {
            "timeout"
        } else {
            "cancel"
        };
        self.record_op(&op.desc.clone(), name);
        self.log(
            "INFO",
            "operator_controller.go:741",
            if status == op_status::TIMEOUT {
                "operator timeout"
            } else {
                "operator canceled"
            },
            vec![("region-id", region.to_string())],
        );
        self.finished_operators.insert(region, op);
        self.revision += 1;
        true
    }

    /// Cancels every running operator.
    pub fn cancel_all_operators(&mut self) {
        let ids: Vec<u64> = self.operators.keys().copied().collect();
        for id in ids {
            self.cancel_operator(id, op_status::CANCELED);
        }
    }

    fn snapshot_secs(size_mib: f64) -> f64 {
        // Generate + send + apply at ~100 MiB/s, plus fixed overhead.
        2.0 + size_mib / 100.0
    }

    fn transfer_leader_now(&mut self, region: u64, to_store: u64) -> bool {
        let Some(r) = self.regions.get(&region) else {
            return false;
        };
        let Some(target) = r.peer_on(to_store).copied() else {
            return false;
        };
        if target.role != role::VOTER {
            return false;
        }
        let from_store = r.leader_store();
        let old_leader = r.leader;
        if from_store == to_store {
            return true;
        }
        let term = r.term + 1;
        self.update_region(region, |r| {
            r.leader = target.id;
            r.term = term;
            r.down_peers.retain(|d| *d != target.id);
        });
        if from_store != 0 {
            self.push_event(
                from_store,
                StoreEvent::BecameFollower {
                    region_id: region,
                    peer_id: old_leader,
                    term,
                },
            );
        }
        self.push_event(
            to_store,
            StoreEvent::BecameLeader {
                region_id: region,
                peer_id: target.id,
                term,
            },
        );
        self.log(
            "INFO",
            "region.go:798",
            "leader changed",
            vec![
                ("region-id", region.to_string()),
                ("from", from_store.to_string()),
                ("to", to_store.to_string()),
            ],
        );
        true
    }

    fn finish_op(&mut self, region: u64, now_ms: u64) {
        if let Some(mut op) = self.operators.remove(&region) {
            op.status = op_status::SUCCESS;
            op.current = op.steps.len();
            op.finish_ms = now_ms;
            let takes =
                wire::go_duration(Duration::from_millis(now_ms.saturating_sub(op.create_ms)));
            let desc = op.desc.clone();
            self.record_op(&desc, "finish");
            let boot = self.bootstrap_ms;
            self.log(
                "INFO",
                "operator_controller.go:724",
                "operator finish",
                vec![
                    ("region-id", region.to_string()),
                    ("takes", takes),
                    ("operator", format!("{:?}", op.to_pd_string(boot))),
                ],
            );
            self.finished_operators.insert(region, op);
            self.revision += 1;
        }
    }

    /// Advances one operator by at most one step. Returns false when it is stuck.
    fn step_operator(&mut self, region: u64, now_ms: u64) {
        let Some(op) = self.operators.get(&region).cloned() else {
            return;
        };
        if self.sim_secs(now_ms.saturating_sub(op.create_ms)) > op.timeout_secs as f64 {
            self.cancel_operator(region, op_status::TIMEOUT);
            return;
        }
        let Some(r) = self.regions.get(&region).cloned() else {
            self.operators.remove(&region);
            return;
        };
        let Some(step) = op.steps.get(op.current).cloned() else {
            self.finish_op(region, now_ms);
            return;
        };
        let done = match step {
            Step::TransferLeader { to, .. } => {
                self.is_alive(to, now_ms) && self.transfer_leader_now(region, to)
            }
            Step::AddLearner { peer, store } => {
                if r.peer(peer).is_none() {
                    if !self.is_alive(store, now_ms) {
                        false
                    } else {
                        self.update_region(region, |r| {
                            r.peers.push(Peer {
                                id: peer,
                                store_id: store,
                                role: role::LEARNER,
                            });
                            r.pending_peers.push(peer);
                            r.conf_ver += 1;
                        });
                        self.log(
                            "INFO",
                            "region.go:815",
                            "region ConfVer changed",
                            vec![
                                ("region-id", region.to_string()),
                                (
                                    "detail",
                                    format!(
                                        "Add peer:{{id:{peer} store_id:{store} role:Learner }}"
                                    ),
                                ),
                                ("old-confver", r.conf_ver.to_string()),
                                ("new-confver", (r.conf_ver + 1).to_string()),
                            ],
                        );
                        false
                    }
                } else {
                    let secs = Self::snapshot_secs(r.size_mib);
                    let elapsed = self.sim_secs(now_ms.saturating_sub(op.step_start_ms));
                    let leader_store = r.leader_store();
                    if elapsed >= secs
                        && self.is_alive(store, now_ms)
                        && self.is_alive(leader_store, now_ms)
                    {
                        self.update_region(region, |r| r.pending_peers.retain(|p| *p != peer));
                        let size = (r.size_mib * 1024.0 * 1024.0) as u64;
                        self.push_event(
                            leader_store,
                            StoreEvent::SnapshotSent {
                                region_id: region,
                                to_peer: peer,
                                size,
                                secs,
                                term: r.term,
                            },
                        );
                        self.push_event(
                            store,
                            StoreEvent::SnapshotApplied {
                                region_id: region,
                                peer_id: peer,
                                size,
                                secs,
                            },
                        );
                        true
                    } else {
                        false
                    }
                }
            }
            Step::PromoteLearner { peer, .. } => {
                self.update_region(region, |r| {
                    if let Some(p) = r.peers.iter_mut().find(|p| p.id == peer) {
                        p.role = role::VOTER;
                    }
                    r.conf_ver += 1;
                });
                true
            }
            Step::JointPromoteDemote { promote, demote } => {
                if r.leader == demote.0 {
                    // Move the leader away from the demoted voter first.
                    let target = r
                        .peers
                        .iter()
                        .find(|p| {
                            p.role == role::VOTER
                                && p.id != demote.0
                                && self.is_alive(p.store_id, now_ms)
                        })
                        .map(|p| p.store_id);
                    if let Some(t) = target {
                        self.transfer_leader_now(region, t);
                    }
                    false
                } else {
                    self.update_region(region, |r| {
                        for p in r.peers.iter_mut() {
                            if p.id == promote.0 {
                                p.role = role::INCOMING;
                            } else if p.id == demote.0 {
                                p.role = role::DEMOTING;
                            }
                        }
                        r.conf_ver += 1;
                    });
                    true
                }
            }
            Step::LeaveJoint { promote, demote } => {
                self.update_region(region, |r| {
                    for p in r.peers.iter_mut() {
                        if p.id == promote.0 {
                            p.role = role::VOTER;
                        } else if p.id == demote.0 {
                            p.role = role::LEARNER;
                        }
                    }
                    r.conf_ver += 1;
                });
                true
            }
            Step::RemovePeer { store } => {
                let Some(p) = r.peer_on(store).copied() else {
                    self.advance(region, now_ms);
                    return;
                };
                if r.leader == p.id {
                    let target = r
                        .peers
                        .iter()
                        .find(|q| {
                            q.role == role::VOTER
                                && q.id != p.id
                                && self.is_alive(q.store_id, now_ms)
                        })
                        .map(|q| q.store_id);
                    if let Some(t) = target {
                        self.transfer_leader_now(region, t);
                    }
                    false
                } else {
                    self.update_region(region, |r| {
                        r.peers.retain(|q| q.id != p.id);
                        r.down_peers.retain(|q| *q != p.id);
                        r.pending_peers.retain(|q| *q != p.id);
                        r.conf_ver += 1;
                    });
                    true
                }
            }
            Step::Split { .. } => {
                self.split_region(region, now_ms);
                true
            }
            Step::Merge { source, target } => {
                self.merge_regions(source, target);
                true
            }
        };
        if done {
            self.advance(region, now_ms);
        }
    }

    fn advance(&mut self, region: u64, now_ms: u64) {
        let finished = if let Some(op) = self.operators.get_mut(&region) {
            op.current += 1;
            op.step_start_ms = now_ms;
            op.current >= op.steps.len()
        } else {
            false
        };
        if finished {
            self.finish_op(region, now_ms);
        }
    }

    fn merge_regions(&mut self, source: u64, target: u64) {
        let Some(s) = self.regions.get(&source).cloned() else {
            return;
        };
        let Some(t) = self.regions.get(&target).cloned() else {
            return;
        };
        if s.end != t.start && t.end != s.start {
            return;
        }
        self.unindex(&s);
        self.regions.remove(&source);
        let (ns, ne) = (
            s.start.min(t.start),
            if s.end == KEY_MAX || t.end == KEY_MAX {
                KEY_MAX
            } else {
                s.end.max(t.end)
            },
        );
        self.update_region(target, |r| {
            r.start = ns;
            r.end = ne;
            r.version = r.version.max(s.version) + 1;
            r.size_mib += s.size_mib;
            r.keys += s.keys;
        });
    }

    /// Creates an admin operator from `POST /operators` input.
    pub fn admin_operator(
        &mut self,
        req: &serde_json::Value,
        now_ms: u64,
    ) -> Result<(), ModelError> {
        let name = req
            .get("name")
            .and_then(|v| v.as_str())
            .ok_or_else(|| ModelError::BadRequest("missing name".into()))?;
        let u = |k: &str| req.get(k).and_then(|v| v.as_u64());
        let region_id = if name == "merge-region" {
            u("source_region_id")
        } else {
            u("region_id")
        }
        .ok_or_else(|| ModelError::BadRequest("missing region_id".into()))?;
        let r = self
            .regions
            .get(&region_id)
            .cloned()
            .ok_or(ModelError::RegionNotFound(region_id))?;
        let op = match name {
            "transfer-leader" => {
                let to = u("to_store_id")
                    .ok_or_else(|| ModelError::BadRequest("missing to_store_id".into()))?;
                if r.peer_on(to).is_none_or(|p| p.role != role::VOTER) {
                    return Err(ModelError::Operator(format!(
                        "region has no voter in store {to}"
                    )));
                }
                let from = r.leader_store();
                self.new_op(
                    &r,
                    "admin-transfer-leader",
                    format!("transfer leader: store {from} to {to}"),
                    kind::ADMIN | kind::LEADER,
                    vec![Step::TransferLeader { from, to }],
                    60,
                )
            }
            "transfer-peer" => {
                let from = u("from_store_id")
                    .ok_or_else(|| ModelError::BadRequest("missing from_store_id".into()))?;
                let to = u("to_store_id")
                    .ok_or_else(|| ModelError::BadRequest("missing to_store_id".into()))?;
                if r.peer_on(from).is_none() {
                    return Err(ModelError::Operator(format!(
                        "region has no peer in store {from}"
                    )));
                }
                self.move_peer_op(&r, "admin-move-peer", from, to, kind::ADMIN | kind::REGION)?
            }
            "transfer-region" => {
                let to: Vec<u64> = req
                    .get("to_store_ids")
                    .and_then(|v| v.as_array())
                    .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
                    .unwrap_or_default();
                if req.get("peer_roles").is_none()
                    && self.replication.enable_placement_rules == "true"
                {
                    return Err(ModelError::Operator("transfer region without peer role is not supported when placement rules enabled".into()));
                }
                let mut steps = Vec::new();
                for s in &to {
                    if r.peer_on(*s).is_none() {
                        let pid = self.alloc_id();
                        steps.push(Step::AddLearner {
                            peer: pid,
                            store: *s,
                        });
                        steps.push(Step::PromoteLearner {
                            peer: pid,
                            store: *s,
                        });
                    }
                }
                if let Some(first) = to.first() {
                    steps.push(Step::TransferLeader {
                        from: r.leader_store(),
                        to: *first,
                    });
                }
                for p in &r.peers {
                    if !to.contains(&p.store_id) {
                        steps.push(Step::RemovePeer { store: p.store_id });
                    }
                }
                let brief = format!(
                    "mv region: stores {:?} to {:?}",
                    r.peers.iter().map(|p| p.store_id).collect::<Vec<_>>(),
                    to
                );
                self.new_op(
                    &r,
                    "admin-move-region",
                    brief,
                    kind::ADMIN | kind::REGION,
                    steps,
                    600,
                )
            }
            "add-peer" | "add-learner" => {
                let s = u("store_id")
                    .ok_or_else(|| ModelError::BadRequest("missing store_id".into()))?;
                if r.peer_on(s).is_some() {
                    return Err(ModelError::Operator(format!(
                        "region already has peer in store {s}"
                    )));
                }
                let pid = self.alloc_id();
                let mut steps = vec![Step::AddLearner {
                    peer: pid,
                    store: s,
                }];
                if name == "add-peer" {
                    steps.push(Step::PromoteLearner {
                        peer: pid,
                        store: s,
                    });
                }
                self.new_op(
                    &r,
                    &format!("admin-{name}"),
                    format!("add peer: store [{s}]"),
                    kind::ADMIN | kind::REGION,
                    steps,
                    600,
                )
            }
            "remove-peer" => {
                let s = u("store_id")
                    .ok_or_else(|| ModelError::BadRequest("missing store_id".into()))?;
                if r.peer_on(s).is_none() {
                    return Err(ModelError::Operator(format!(
                        "region has no peer in store {s}"
                    )));
                }
                self.new_op(
                    &r,
                    "admin-remove-peer",
                    format!("rm peer: store [{s}]"),
                    kind::ADMIN | kind::REGION,
                    vec![Step::RemovePeer { store: s }],
                    600,
                )
            }
            "split-region" => {
                let policy = req
                    .get("policy")
                    .and_then(|v| v.as_str())
                    .unwrap_or("approximate")
                    .to_ascii_uppercase();
                self.new_op(
                    &r,
                    "admin-split-region",
                    format!("split: region {region_id} use policy {policy}"),
                    kind::ADMIN | kind::SPLIT,
                    vec![Step::Split { policy }],
                    600,
                )
            }
            "merge-region" => {
                let target = u("target_region_id")
                    .ok_or_else(|| ModelError::BadRequest("missing target_region_id".into()))?;
                let t = self
                    .regions
                    .get(&target)
                    .ok_or(ModelError::RegionNotFound(target))?;
                if r.end != t.start && t.end != r.start {
                    return Err(ModelError::Operator("regions are not adjacent".into()));
                }
                self.new_op(
                    &r,
                    "admin-merge-region",
                    format!("merge: region {region_id} to {target}"),
                    kind::ADMIN | kind::MERGE,
                    vec![Step::Merge {
                        source: region_id,
                        target,
                    }],
                    600,
                )
            }
            "scatter-region" => {
                // Move the leader to the least-loaded voter's store.
                let best = r
                    .peers
                    .iter()
                    .filter(|p| p.role == role::VOTER)
                    .min_by_key(|p| self.counts(p.store_id).leader_count)
                    .map(|p| p.store_id)
                    .unwrap_or(0);
                let from = r.leader_store();
                self.new_op(
                    &r,
                    "scatter-region",
                    format!("scatter region {region_id}"),
                    kind::ADMIN | kind::LEADER,
                    vec![Step::TransferLeader { from, to: best }],
                    60,
                )
            }
            other => return Err(ModelError::BadRequest(format!("unknown operator {other}"))),
        };
        self.add_operator(op, now_ms)
    }

    fn move_peer_op(
        &mut self,
        r: &Region,
        desc: &str,
        from: u64,
        to: u64,
        kinds: u32,
    ) -> Result<Operator, ModelError> {
        if r.peer_on(to).is_some() {
            return Err(ModelError::Operator(format!(
                "region already has peer in store {to}"
            )));
        }
        let from_peer = r
            .peer_on(from)
            .copied()
            .ok_or_else(|| ModelError::Operator(format!("region has no peer in store {from}")))?;
        let pid = self.alloc_id();
        let steps = if from_peer.role == role::VOTER {
            vec![
                Step::AddLearner {
                    peer: pid,
                    store: to,
                },
                Step::JointPromoteDemote {
                    promote: (pid, to),
                    demote: (from_peer.id, from),
                },
                Step::LeaveJoint {
                    promote: (pid, to),
                    demote: (from_peer.id, from),
                },
                Step::RemovePeer { store: from },
            ]
        } else {
            vec![
                Step::AddLearner {
                    peer: pid,
                    store: to,
                },
                Step::RemovePeer { store: from },
            ]
        };
        let timeout = 600 + (Self::snapshot_secs(r.size_mib) * 4.0) as u64 + 420;
        Ok(self.new_op(
            r,
            desc,
            format!("mv peer: store [{from}] to [{to}]"),
            kinds,
            steps,
            timeout,
        ))
    }

    // ---------------------------------------------------------------- schedulers

    /// `POST /schedulers` for evict-leader / grant-leader. Returns true when the
    /// scheduler was newly created.
    pub fn add_store_scheduler(&mut self, name: &str, store: u64) -> Result<bool, ModelError> {
        if !self.stores.contains_key(&store) {
            return Err(ModelError::StoreNotFound(store));
        }
        let set = if name == "evict-leader-scheduler" {
            &mut self.schedulers.evict_leader
        } else {
            &mut self.schedulers.grant_leader
        };
        set.insert(store);
        let created = !self.schedulers.names.iter().any(|n| n == name);
        if created {
            self.schedulers.names.push(name.to_string());
        }
        self.sync_schedulers_v2();
        self.revision += 1;
        Ok(created)
    }

    /// `POST /schedulers` for store-less schedulers.
    pub fn add_scheduler(&mut self, name: &str) -> Result<bool, ModelError> {
        const KNOWN: [&str; 9] = [
            "balance-leader-scheduler",
            "balance-region-scheduler",
            "balance-hot-region-scheduler",
            "evict-slow-store-scheduler",
            "evict-stopping-store-scheduler",
            "shuffle-leader-scheduler",
            "shuffle-region-scheduler",
            "shuffle-hot-region-scheduler",
            "random-merge-scheduler",
        ];
        if !KNOWN.contains(&name) {
            return Err(ModelError::BadRequest("unknown scheduler".into()));
        }
        if self.schedulers.names.iter().any(|n| n == name) {
            return Err(ModelError::Operator(format!(
                "[PD:scheduler:ErrSchedulerExisted]scheduler {name} existed"
            )));
        }
        self.schedulers.names.push(name.to_string());
        self.sync_schedulers_v2();
        self.revision += 1;
        Ok(true)
    }

    /// `DELETE /schedulers/{name}` (also `evict-leader-scheduler-<id>`).
    pub fn remove_scheduler(&mut self, name: &str) -> Result<(), ModelError> {
        for base in ["evict-leader-scheduler", "grant-leader-scheduler"] {
            if let Some(rest) = name.strip_prefix(&format!("{base}-")) {
                let id: u64 = rest.parse().map_err(|_| ModelError::SchedulerNotFound)?;
                let set = if base == "evict-leader-scheduler" {
                    &mut self.schedulers.evict_leader
                } else {
                    &mut self.schedulers.grant_leader
                };
                if !set.remove(&id) {
                    return Err(ModelError::SchedulerNotFound);
                }
                if set.is_empty() {
                    self.schedulers.names.retain(|n| n != base);
                }
                self.sync_schedulers_v2();
                self.revision += 1;
                return Ok(());
            }
        }
        let before = self.schedulers.names.len();
        self.schedulers.names.retain(|n| n != name);
        if before == self.schedulers.names.len() {
            return Err(ModelError::SchedulerNotFound);
        }
        if name == "evict-leader-scheduler" {
            self.schedulers.evict_leader.clear();
        }
        if name == "grant-leader-scheduler" {
            self.schedulers.grant_leader.clear();
        }
        self.sync_schedulers_v2();
        self.revision += 1;
        Ok(())
    }

    fn sync_schedulers_v2(&mut self) {
        let mut v = Vec::new();
        for n in &self.schedulers.names {
            let kind = n
                .trim_end_matches("-scheduler")
                .replace("balance-hot-region", "hot-region");
            let args = match n.as_str() {
                "evict-leader-scheduler" => Some(
                    self.schedulers
                        .evict_leader
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                ),
                "grant-leader-scheduler" => Some(
                    self.schedulers
                        .grant_leader
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                ),
                _ => None,
            };
            v.push(SchedulerEntry {
                kind,
                args,
                disable: false,
                args_payload: String::new(),
            });
        }
        self.schedule.schedulers_v2 = v;
    }

    fn scheduler_active(&self, name: &str, now_ms: u64) -> bool {
        self.schedulers.names.iter().any(|n| n == name)
            && self
                .schedulers
                .paused_until
                .get(name)
                .is_none_or(|until| now_ms >= *until)
    }

    // ---------------------------------------------------------------- tick

    /// Advances the cluster to `now_ms`: store state machine, leader moves, down and
    /// pending peers, operators, checkers and schedulers.
    ///
    /// # Guarantees
    /// Work per call is bounded by the number of affected regions (regions on stores that
    /// changed liveness, running operators, and a bounded number of new operators), not
    /// by the total number of regions.
    pub fn tick(&mut self, now_ms: u64) {
        if !self.is_bootstrapped() {
            return;
        }
        // Simulated heartbeats for virtual stores (scale mode).
        for s in self.stores.values_mut() {
            if s.virtual_store && s.state != 2 && !s.virtual_silent {
                s.last_hb_ms = now_ms;
            }
        }
        self.check_store_states(now_ms);
        self.move_leaders_off_dead_stores(now_ms);
        self.log_lost_streams(now_ms);
        self.mark_down_peers(now_ms);
        let ops: Vec<u64> = self.operators.keys().copied().collect();
        for id in ops {
            self.step_operator(id, now_ms);
        }
        self.run_checkers(now_ms);
        self.run_leader_schedulers(now_ms);
        self.run_balance_region(now_ms);
        self.bury_drained_stores();
        // Forget old finished operators (10 simulated minutes).
        let keep_ms = self.real_ms(600.0);
        self.finished_operators
            .retain(|_, op| now_ms.saturating_sub(op.finish_ms) < keep_ms || op.finish_ms <= 1);
        for (name, until) in self.schedulers.paused_until.clone() {
            if now_ms >= until {
                self.schedulers.paused_until.remove(&name);
            }
        }
    }

    fn check_store_states(&mut self, now_ms: u64) {
        if now_ms.saturating_sub(self.last_state_check_ms) < self.real_ms(10.0) {
            return;
        }
        self.last_state_check_ms = now_ms;
        let total_regions = self.regions.len();
        let up: Vec<u64> = self
            .stores
            .values()
            .filter(|s| s.state == 0 && s.node_state == 0)
            .map(|s| s.id)
            .collect();
        if up.is_empty() {
            return;
        }
        let serving = self.stores.values().filter(|s| s.state == 0).count().max(1);
        let total_size: f64 = self
            .regions
            .values()
            .map(|r| r.size_mib * r.peers.len() as f64)
            .sum::<f64>();
        for id in up {
            let s = &self.stores[&id];
            let uptime =
                self.sim_secs(now_ms.saturating_sub(s.start_timestamp.max(0) as u64 * 1000));
            let share = total_size / serving as f64;
            let ready = total_regions < INIT_CLUSTER_REGION_THRESHOLD
                || uptime >= 48.0 * 3600.0
                || self.counts(id).region_size >= 0.9 * share;
            if ready && self.is_alive(id, now_ms) {
                let s = self.stores.get_mut(&id).expect("listed");
                s.node_state = 1;
                let addr = s.address.clone();
                self.log(
                    "INFO",
                    "cluster.go:1761",
                    "store has changed to serving",
                    vec![("store-id", id.to_string()), ("store-address", addr)],
                );
                self.revision += 1;
            }
        }
    }

    fn pick_leader_target(&self, r: &Region, now_ms: u64) -> Option<u64> {
        let evicted = |s: u64| {
            self.scheduler_active("evict-leader-scheduler", now_ms)
                && self.schedulers.evict_leader.contains(&s)
        };
        let mut cands: Vec<&Peer> = r
            .peers
            .iter()
            .filter(|p| {
                p.role == role::VOTER
                    && p.id != r.leader
                    && self.is_alive(p.store_id, now_ms)
                    && !r.down_peers.contains(&p.id)
            })
            .collect();
        cands.sort_by_key(|p| {
            (
                evicted(p.store_id),
                self.stores.get(&p.store_id).is_some_and(|s| s.state != 0),
                self.counts(p.store_id).leader_count,
                p.store_id,
            )
        });
        cands.first().map(|p| p.store_id)
    }

    fn move_leaders_off_dead_stores(&mut self, now_ms: u64) {
        let dead: Vec<u64> = self
            .stores
            .values()
            .filter(|s| !self.is_alive(s.id, now_ms) && self.counts(s.id).leader_count > 0)
            .map(|s| s.id)
            .collect();
        for store in dead {
            for id in self.store_region_ids(store) {
                let Some(r) = self.regions.get(&id) else {
                    continue;
                };
                if r.leader_store() != store {
                    continue;
                }
                // Raft needs a quorum of live voters to elect.
                let voters = r.peers.iter().filter(|p| p.role == role::VOTER).count();
                let live = r
                    .peers
                    .iter()
                    .filter(|p| p.role == role::VOTER && self.is_alive(p.store_id, now_ms))
                    .count();
                if live * 2 <= voters {
                    continue;
                }
                if let Some(t) = self.pick_leader_target(r, now_ms) {
                    self.transfer_leader_now(id, t);
                }
            }
        }
    }

    fn log_lost_streams(&mut self, now_ms: u64) {
        let lost: Vec<u64> = self
            .stores
            .values()
            .filter(|s| {
                s.state != 2
                    && !s.disconnect_logged
                    && self.silent_secs(s, now_ms) > DISCONNECT_SECS
            })
            .map(|s| s.id)
            .collect();
        for id in lost {
            if let Some(s) = self.stores.get_mut(&id) {
                s.disconnect_logged = true;
            }
            self.log(
                "WARN",
                "heartbeat_streams.go:168",
                "send keepalive message fail, store maybe disconnected",
                vec![("target-store-id", id.to_string()), ("error", "EOF".into())],
            );
        }
    }

    fn mark_down_peers(&mut self, now_ms: u64) {
        let newly: Vec<u64> = self
            .stores
            .values()
            .filter(|s| {
                s.state != 2
                    && !s.peers_marked_down
                    && self.silent_secs(s, now_ms) >= self.peer_down_secs_for(s)
            })
            .map(|s| s.id)
            .collect();
        for store in newly {
            if let Some(s) = self.stores.get_mut(&store) {
                s.peers_marked_down = true;
            }
            for id in self.store_region_ids(store) {
                self.update_region(id, |r| {
                    if let Some(p) = r.peer_on(store).copied() {
                        if p.id != r.leader && !r.down_peers.contains(&p.id) {
                            r.down_peers.push(p.id);
                        }
                    }
                });
            }
        }
    }

    fn peer_down_secs_for(&self, s: &Store) -> f64 {
        if s.max_peer_down_secs > 0.0 {
            s.max_peer_down_secs
        } else {
            600.0
        }
    }

    /// Seconds (simulated) a down peer has been silent.
    pub fn down_seconds(&self, store: u64, now_ms: u64) -> u64 {
        self.stores
            .get(&store)
            .map(|s| self.silent_secs(s, now_ms) as u64)
            .unwrap_or(0)
    }

    fn add_peer_allowed(&mut self, store: u64, now_ms: u64) -> bool {
        let minute = (self.sim_secs(now_ms) / 60.0) as u32;
        let limit = self
            .schedule
            .store_limit
            .get(&store.to_string())
            .map(|l| l.add_peer.0)
            .unwrap_or(15.0) as u64;
        let Some(s) = self.stores.get_mut(&store) else {
            return false;
        };
        if s.add_peer_window.1 != minute {
            s.add_peer_window = (0, minute);
        }
        if s.add_peer_window.0 >= limit.max(1) {
            return false;
        }
        s.add_peer_window.0 += 1;
        true
    }

    fn pick_target_store(&self, r: &Region, now_ms: u64) -> Option<u64> {
        self.stores
            .values()
            .filter(|s| s.state == 0 && self.is_alive(s.id, now_ms) && r.peer_on(s.id).is_none())
            .filter(|s| {
                (s.available as f64) > (s.capacity as f64) * (1.0 - self.schedule.low_space_ratio.0)
                    || s.capacity == 0
            })
            .min_by_key(|s| (self.counts(s.id).region_count, s.id))
            .map(|s| s.id)
    }

    fn replica_ops_running(&self) -> usize {
        self.operators
            .values()
            .filter(|o| o.kind & kind::REPLICA != 0)
            .count()
    }

    fn run_checkers(&mut self, now_ms: u64) {
        let limit = self.schedule.replica_schedule_limit as usize;
        let mut budget = limit.saturating_sub(self.replica_ops_running()).min(32);
        if budget == 0 {
            return;
        }
        let max_down = self.max_store_down_secs();
        // Offline stores first (replace-rule-offline-peer), then down peers, then missing.
        let offline: Vec<u64> = self
            .stores
            .values()
            .filter(|s| s.node_state == 2)
            .map(|s| s.id)
            .collect();
        for store in offline {
            for id in self.store_region_ids(store) {
                if budget == 0 {
                    return;
                }
                if self.operators.contains_key(&id) {
                    continue;
                }
                let r = self.regions[&id].clone();
                if r.peers.len() > self.replication.max_replicas as usize {
                    // Already has a replacement; drop the offline peer.
                    let op = self.new_op(
                        &r,
                        "remove-extra-replica",
                        format!("rm peer: store [{store}]"),
                        kind::REPLICA | kind::REGION,
                        vec![Step::RemovePeer { store }],
                        600,
                    );
                    if self.add_operator(op, now_ms).is_ok() {
                        budget -= 1;
                    }
                    continue;
                }
                let Some(to) = self.pick_target_store(&r, now_ms) else {
                    continue;
                };
                if !self.add_peer_allowed(to, now_ms) {
                    continue;
                }
                if let Ok(op) = self.move_peer_op(
                    &r,
                    "replace-rule-offline-peer",
                    store,
                    to,
                    kind::REPLICA | kind::REGION,
                ) {
                    if self.add_operator(op, now_ms).is_ok() {
                        budget -= 1;
                    }
                }
            }
        }
        let down: Vec<u64> = self.check_ids(2).iter().copied().take(4096).collect();
        for id in down {
            if budget == 0 {
                return;
            }
            if self.operators.contains_key(&id) {
                continue;
            }
            let r = self.regions[&id].clone();
            let Some(dp) = r
                .down_peers
                .iter()
                .filter_map(|d| r.peer(*d))
                .find(|p| {
                    self.stores
                        .get(&p.store_id)
                        .is_some_and(|s| s.state == 0 && self.silent_secs(s, now_ms) >= max_down)
                })
                .copied()
            else {
                continue;
            };
            let Some(to) = self.pick_target_store(&r, now_ms) else {
                continue;
            };
            if !self.add_peer_allowed(to, now_ms) {
                continue;
            }
            if let Ok(op) = self.move_peer_op(
                &r,
                "replace-rule-down-peer",
                dp.store_id,
                to,
                kind::REPLICA | kind::REGION,
            ) {
                if self.add_operator(op, now_ms).is_ok() {
                    budget -= 1;
                }
            }
        }
        let miss: Vec<u64> = self.check_ids(0).iter().copied().take(4096).collect();
        for id in miss {
            if budget == 0 {
                return;
            }
            if self.operators.contains_key(&id) {
                continue;
            }
            let r = self.regions[&id].clone();
            let Some(to) = self.pick_target_store(&r, now_ms) else {
                continue;
            };
            if !self.add_peer_allowed(to, now_ms) {
                continue;
            }
            let pid = self.alloc_id();
            let op = self.new_op(
                &r,
                "add-rule-peer",
                format!("add peer: store [{to}]"),
                kind::REPLICA | kind::REGION,
                vec![
                    Step::AddLearner {
                        peer: pid,
                        store: to,
                    },
                    Step::PromoteLearner {
                        peer: pid,
                        store: to,
                    },
                ],
                600 + 420,
            );
            if self.add_operator(op, now_ms).is_ok() {
                budget -= 1;
            }
        }
        let extra: Vec<u64> = self.check_ids(1).iter().copied().take(1024).collect();
        for id in extra {
            if budget == 0 {
                return;
            }
            if self.operators.contains_key(&id) {
                continue;
            }
            let r = self.regions[&id].clone();
            // Prefer removing a dead or offline peer, never the leader.
            let victim = r
                .peers
                .iter()
                .filter(|p| p.id != r.leader)
                .max_by_key(|p| {
                    (
                        !self.is_alive(p.store_id, now_ms),
                        self.stores.get(&p.store_id).map(|s| s.node_state == 2),
                        self.counts(p.store_id).region_count,
                    )
                })
                .map(|p| p.store_id);
            if let Some(store) = victim {
                let op = self.new_op(
                    &r,
                    "remove-orphan-peer",
                    format!("rm peer: store [{store}]"),
                    kind::REPLICA | kind::REGION,
                    vec![Step::RemovePeer { store }],
                    600,
                );
                if self.add_operator(op, now_ms).is_ok() {
                    budget -= 1;
                }
            }
        }
    }

    fn instant_leader_op(&mut self, id: u64, desc: &str, to: u64, kinds: u32, now_ms: u64) {
        let Some(r) = self.regions.get(&id).cloned() else {
            return;
        };
        let from = r.leader_store();
        let op = self.new_op(
            &r,
            desc,
            format!("transfer leader: store {from} to {to}"),
            kinds,
            vec![Step::TransferLeader { from, to }],
            60,
        );
        if self.add_operator(op, now_ms).is_ok() {
            self.step_operator(id, now_ms);
        }
    }

    fn run_leader_schedulers(&mut self, now_ms: u64) {
        let mut budget = (self.schedule.leader_schedule_limit as usize).max(1) * 2;
        if self.scheduler_active("evict-leader-scheduler", now_ms) {
            for store in self.schedulers.evict_leader.clone() {
                for id in self.store_region_ids(store) {
                    if budget == 0 {
                        return;
                    }
                    let Some(r) = self.regions.get(&id) else {
                        continue;
                    };
                    if r.leader_store() != store || self.operators.contains_key(&id) {
                        continue;
                    }
                    if let Some(t) = self.pick_leader_target(r, now_ms) {
                        if !self.schedulers.evict_leader.contains(&t) {
                            self.instant_leader_op(
                                id,
                                "evict-leader-scheduler",
                                t,
                                kind::LEADER,
                                now_ms,
                            );
                            budget -= 1;
                        }
                    }
                }
            }
        }
        if self.scheduler_active("grant-leader-scheduler", now_ms) {
            for store in self.schedulers.grant_leader.clone() {
                if !self.is_alive(store, now_ms) {
                    continue;
                }
                for id in self.store_region_ids(store) {
                    if budget == 0 {
                        return;
                    }
                    let Some(r) = self.regions.get(&id) else {
                        continue;
                    };
                    if r.leader_store() == store || self.operators.contains_key(&id) {
                        continue;
                    }
                    if r.peer_on(store).is_some_and(|p| p.role == role::VOTER) {
                        self.instant_leader_op(
                            id,
                            "grant-leader-scheduler",
                            store,
                            kind::LEADER,
                            now_ms,
                        );
                        budget -= 1;
                    }
                }
            }
        }
        // Slow stores (score >= 100) lose their leaders while evict-slow-store runs.
        if self.scheduler_active("evict-slow-store-scheduler", now_ms) {
            let slow: Vec<u64> = self
                .stores
                .values()
                .filter(|s| s.slow_score >= 100 && s.state == 0)
                .map(|s| s.id)
                .collect();
            for store in slow {
                for id in self.store_region_ids(store) {
                    if budget == 0 {
                        return;
                    }
                    let Some(r) = self.regions.get(&id) else {
                        continue;
                    };
                    if r.leader_store() != store || self.operators.contains_key(&id) {
                        continue;
                    }
                    if let Some(t) = self.pick_leader_target(r, now_ms) {
                        if self.stores.get(&t).is_some_and(|s| s.slow_score < 80) {
                            self.instant_leader_op(
                                id,
                                "evict-slow-store-scheduler",
                                t,
                                kind::LEADER,
                                now_ms,
                            );
                            budget -= 1;
                        }
                    }
                }
            }
        }
        if !self.scheduler_active("balance-leader-scheduler", now_ms) {
            return;
        }
        let evicting = self.scheduler_active("evict-leader-scheduler", now_ms);
        let eligible: Vec<u64> = self
            .stores
            .values()
            .filter(|s| s.state == 0 && self.is_alive(s.id, now_ms) && s.slow_score < 80)
            .filter(|s| !(evicting && self.schedulers.evict_leader.contains(&s.id)))
            .map(|s| s.id)
            .collect();
        if eligible.len() < 2 {
            return;
        }
        for _ in 0..budget.min(self.schedule.leader_schedule_limit as usize) {
            let max = *eligible
                .iter()
                .max_by_key(|s| (self.counts(**s).leader_count, **s))
                .expect("non-empty");
            let min = *eligible
                .iter()
                .min_by_key(|s| (self.counts(**s).leader_count, **s))
                .expect("non-empty");
            if self.counts(max).leader_count <= self.counts(min).leader_count + 1 {
                return;
            }
            // A region led by `max` with a voter on `min`.
            let cand = self.store_region_ids(max).into_iter().find(|id| {
                self.regions.get(id).is_some_and(|r| {
                    r.leader_store() == max
                        && !self.operators.contains_key(id)
                        && r.peer_on(min).is_some_and(|p| {
                            p.role == role::VOTER
                                && !r.down_peers.contains(&p.id)
                                && !r.pending_peers.contains(&p.id)
                        })
                })
            });
            match cand {
                Some(id) => self.instant_leader_op(id, "balance-leader", min, kind::LEADER, now_ms),
                None => return,
            }
        }
    }

    fn run_balance_region(&mut self, now_ms: u64) {
        if !self.scheduler_active("balance-region-scheduler", now_ms) {
            return;
        }
        let running = self
            .operators
            .values()
            .filter(|o| o.desc == "balance-region")
            .count();
        if running >= 4 || self.regions.len() > 200_000 {
            return;
        }
        let eligible: Vec<u64> = self
            .stores
            .values()
            .filter(|s| s.state == 0 && self.is_alive(s.id, now_ms))
            .map(|s| s.id)
            .collect();
        if eligible.len() < 2 {
            return;
        }
        let max = *eligible
            .iter()
            .max_by_key(|s| (self.counts(**s).region_count, **s))
            .expect("non-empty");
        let min = *eligible
            .iter()
            .min_by_key(|s| (self.counts(**s).region_count, u64::MAX - **s))
            .expect("non-empty");
        let (cmax, cmin) = (self.counts(max).region_count, self.counts(min).region_count);
        let tolerance = ((cmax as f64) * 0.05).max(2.0) as u64;
        if cmax <= cmin + tolerance {
            return;
        }
        let cand = self.store_region_ids(max).into_iter().find(|id| {
            self.regions.get(id).is_some_and(|r| {
                r.peer_on(min).is_none()
                    && !self.operators.contains_key(id)
                    && r.down_peers.is_empty()
                    && r.pending_peers.is_empty()
                    && r.peers.len() == self.replication.max_replicas as usize
            })
        });
        if let Some(id) = cand {
            if !self.add_peer_allowed(min, now_ms) {
                return;
            }
            let r = self.regions[&id].clone();
            if let Ok(op) = self.move_peer_op(&r, "balance-region", max, min, kind::REGION) {
                let _ = self.add_operator(op, now_ms);
            }
        }
    }

    fn bury_drained_stores(&mut self) {
        let drained: Vec<u64> = self
            .stores
            .values()
            .filter(|s| s.state == 1 && self.counts(s.id).region_count == 0)
            .map(|s| s.id)
            .collect();
        for id in drained {
            let s = self.stores.get_mut(&id).expect("listed");
            s.state = 2;
            s.node_state = 3;
            let addr = s.address.clone();
            self.schedulers.evict_leader.remove(&id);
            self.log(
                "WARN",
                "cluster.go:1910",
                "store has been Tombstone",
                vec![("store-id", id.to_string()), ("store-address", addr)],
            );
            self.revision += 1;
        }
    }

    // ---------------------------------------------------------------- rendering

    /// `StoreInfo` JSON value (field order and omitempty as PD).
    pub fn store_info(&self, s: &Store, now_ms: u64) -> StoreInfo {
        let c = self.counts(s.id);
        let state = self.state_name(s, now_ms);
        let last_hb_ns = (s.last_hb_ms as i64) * 1_000_000;
        let start = UNIX_EPOCH + Duration::from_secs(s.start_timestamp.max(0) as u64);
        let last = UNIX_EPOCH + Duration::from_millis(s.last_hb_ms);
        let uptime = last.duration_since(start).unwrap_or_default();
        let region_score =
            c.region_size.max(0.0) * (1.0 + s.used as f64 / (s.capacity.max(1) as f64));
        StoreInfo {
            store: MetaStore {
                id: s.id,
                address: s.address.clone(),
                state: s.state as u64,
                labels: s.labels.iter().map(|(k, v)| Label { key: k.clone(), value: v.clone() }).collect(),
                version: s.version.clone(),
                peer_address: s.address.clone(),
                status_address: s.status_address.clone(),
                git_hash: s.git_hash.clone(),
                start_timestamp: s.start_timestamp,
                deploy_path: s.deploy_path.clone(),
                last_heartbeat: last_hb_ns,
                physically_destroyed: s.physically_destroyed,
                node_state: s.node_state as u64,
                state_name: state.as_str().to_string(),
            },
            status: StoreStatus {
                capacity: wire::byte_size(s.capacity),
                available: wire::byte_size(s.available),
                used_size: wire::byte_size(s.used),
                leader_count: c.leader_count,
                leader_weight: GoFloat(1.0),
                leader_score: GoFloat(c.leader_count as f64),
                leader_size: c.leader_size.max(0.0).round() as i64,
                region_count: c.region_count,
                region_weight: GoFloat(1.0),
                region_score: GoFloat(region_score),
                region_size: c.region_size.max(0.0).round() as i64,
                learner_count: c.learner_count,
                witness_count: 0,
                pending_peer_count: c.pending_count,
                slow_score: s.slow_score,
                slow_trend: Some(SlowTrend {
                    cause_value: GoFloat(200.0 + s.slow_score as f64 * 10.0),
                    cause_rate: GoFloat(0.0),
                    result_value: GoFloat(1000.0),
                    result_rate: GoFloat(0.0),
                }),
                sending_snap_count: self.operators.values().filter(|op| self.op_snapshot_source(op) == Some(s.id)).count() as u64,
                receiving_snap_count: self
                    .operators
                    .values()
                    .filter(|op| matches!(op.steps.get(op.current), Some(Step::AddLearner { store, .. }) if *store == s.id))
                    .count() as u64,
                is_busy: false,
                start_ts: wire::rfc3339(start),
                last_heartbeat_ts: wire::rfc3339_nano(last),
                uptime: wire::go_duration(uptime),
            },
        }
    }

    /// Writes one region as compact easyjson-ordered JSON.
    pub fn write_region_json(&self, out: &mut String, r: &Region, now_ms: u64) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "{{\"id\":{},\"start_key\":\"{}\",\"end_key\":\"{}\"",
            r.id,
            hex_upper(&encode_key(r.start)),
            hex_upper(&encode_key(r.end))
        );
        if r.conf_ver != 0 || r.version != 0 {
            out.push_str(",\"epoch\":{");
            let mut first = true;
            if r.conf_ver != 0 {
                let _ = write!(out, "\"conf_ver\":{}", r.conf_ver);
                first = false;
            }
            if r.version != 0 {
                let _ = write!(
                    out,
                    "{}\"version\":{}",
                    if first { "" } else { "," },
                    r.version
                );
            }
            out.push('}');
        }
        if !r.peers.is_empty() {
            out.push_str(",\"peers\":[");
            for (i, p) in r.peers.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_peer(out, Some(p));
            }
            out.push(']');
        }
        out.push_str(",\"leader\":");
        write_peer(out, r.peer(r.leader));
        if !r.down_peers.is_empty() {
            out.push_str(",\"down_peers\":[");
            for (i, d) in r.down_peers.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"peer\":");
                let p = r.peer(*d);
                write_peer(out, p);
                let secs = p
                    .map(|p| self.down_seconds(p.store_id, now_ms))
                    .unwrap_or(0);
                if secs != 0 {
                    let _ = write!(out, ",\"down_seconds\":{secs}");
                }
                out.push('}');
            }
            out.push(']');
        }
        if !r.pending_peers.is_empty() {
            out.push_str(",\"pending_peers\":[");
            for (i, d) in r.pending_peers.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_peer(out, r.peer(*d));
            }
            out.push(']');
        }
        let size = if r.size_mib > 0.0 && r.size_mib < 1.0 {
            1
        } else {
            r.size_mib.round() as i64
        };
        let _ = write!(
            out,
            ",\"cpu_usage\":0,\"written_bytes\":{},\"read_bytes\":{},\"written_keys\":{},\"read_keys\":{},\"approximate_size\":{},\"approximate_keys\":{}}}",
            r.written_bytes, r.read_bytes, r.written_keys, r.read_keys, size, r.keys
        );
    }

    /// `{"count":N,"regions":[...]}` for a list of region ids.
    pub fn regions_json<'a>(
        &self,
        regions: impl Iterator<Item = &'a Region>,
        now_ms: u64,
    ) -> String {
        let mut body = String::with_capacity(4096);
        let mut n = 0usize;
        body.push_str("\"regions\":[");
        for r in regions {
            if n > 0 {
                body.push(',');
            }
            self.write_region_json(&mut body, r, now_ms);
            n += 1;
        }
        body.push_str("]}");
        format!("{{\"count\":{n},{body}")
    }
}

fn write_peer(out: &mut String, p: Option<&Peer>) {
    use std::fmt::Write as _;
    match p {
        None => out.push_str("{\"role_name\":\"\"}"),
        Some(p) => {
            let _ = write!(out, "{{\"role_name\":\"{}\"", role::name(p.role));
            if p.role == role::LEARNER {
                out.push_str(",\"is_learner\":true");
            }
            if p.id != 0 {
                let _ = write!(out, ",\"id\":{}", p.id);
            }
            if p.store_id != 0 {
                let _ = write!(out, ",\"store_id\":{}", p.store_id);
            }
            if p.role != 0 {
                let _ = write!(out, ",\"role\":{}", p.role);
            }
            out.push('}');
        }
    }
}

/// The zero region PD returns for an unknown id.
pub const REGION_NOT_FOUND_JSON: &str = "{\"id\":0,\"start_key\":\"\",\"end_key\":\"\",\"leader\":{\"role_name\":\"\"},\"cpu_usage\":0,\"written_bytes\":0,\"read_bytes\":0,\"written_keys\":0,\"read_keys\":0,\"approximate_size\":0,\"approximate_keys\":0}";

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}
fn is_false(v: &bool) -> bool {
    !*v
}
fn is_empty_str(v: &str) -> bool {
    v.is_empty()
}

/// `metapb.Store` + `state_name`.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub struct MetaStore {
    pub id: u64,
    pub address: String,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub state: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
    pub version: String,
    pub peer_address: String,
    pub status_address: String,
    pub git_hash: String,
    pub start_timestamp: i64,
    pub deploy_path: String,
    pub last_heartbeat: i64,
    #[serde(skip_serializing_if = "is_false")]
    pub physically_destroyed: bool,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub node_state: u64,
    pub state_name: String,
}

/// Store label.
#[derive(Debug, Clone, Serialize)]
pub struct Label {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// `slow_trend`.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub struct SlowTrend {
    pub cause_value: GoFloat,
    pub cause_rate: GoFloat,
    pub result_value: GoFloat,
    pub result_rate: GoFloat,
}

/// `StoreStatus`.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub struct StoreStatus {
    pub capacity: String,
    pub available: String,
    pub used_size: String,
    pub leader_count: u64,
    pub leader_weight: GoFloat,
    pub leader_score: GoFloat,
    pub leader_size: i64,
    pub region_count: u64,
    pub region_weight: GoFloat,
    pub region_score: GoFloat,
    pub region_size: i64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub learner_count: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub witness_count: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub pending_peer_count: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub slow_score: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_trend: Option<SlowTrend>,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub sending_snap_count: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub receiving_snap_count: u64,
    #[serde(skip_serializing_if = "is_false")]
    pub is_busy: bool,
    #[serde(skip_serializing_if = "is_empty_str")]
    pub start_ts: String,
    #[serde(skip_serializing_if = "is_empty_str")]
    pub last_heartbeat_ts: String,
    #[serde(skip_serializing_if = "is_empty_str")]
    pub uptime: String,
}

/// `StoreInfo`.
#[derive(Debug, Clone, Serialize)]
pub struct StoreInfo {
    /// Meta.
    pub store: MetaStore,
    /// Status.
    pub status: StoreStatus,
}

/// TiKV registration (internal `put-store` endpoint body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PutStore {
    /// Persisted store id, 0 for a new store.
    pub store_id: u64,
    /// Advertised address.
    pub address: String,
    /// Advertised status address.
    pub status_address: String,
    /// Version without `v`.
    pub version: String,
    /// Git hash.
    pub git_hash: String,
    /// Unix seconds.
    pub start_timestamp: i64,
    /// Deploy path.
    pub deploy_path: String,
    /// Labels.
    pub labels: Vec<(String, String)>,
    /// Capacity bytes.
    pub capacity: u64,
    /// `raftstore.max-peer-down-duration`, simulated seconds.
    pub max_peer_down_secs: f64,
}

/// Store heartbeat body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StoreHeartbeat {
    /// Store.
    pub store_id: u64,
    /// Capacity bytes.
    pub capacity: u64,
    /// Available bytes.
    pub available: u64,
    /// Used bytes.
    pub used: u64,
    /// Slow score.
    pub slow_score: u64,
}

/// One region led by the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderInfo {
    /// Region.
    pub region_id: u64,
    /// Leader peer.
    pub peer_id: u64,
    /// Term.
    pub term: u64,
}

/// Store heartbeat reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HeartbeatReply {
    /// Store.
    pub store_id: u64,
    /// Cluster id.
    pub cluster_id: u64,
    /// Regions with a peer here.
    pub region_count: u64,
    /// Leaders here.
    pub leader_count: u64,
    /// Sum of region sizes (MiB).
    pub region_size_mib: u64,
    /// Regions led here.
    pub leaders: Vec<LeaderInfo>,
    /// Read qps served (leaders).
    pub read_qps: f64,
    /// Write qps served.
    pub write_qps: f64,
    /// Read bytes/s.
    pub read_bytes: f64,
    /// Written bytes/s.
    pub write_bytes: f64,
    /// Snapshots being sent.
    pub sending_snapshots: u64,
    /// Events to log.
    pub events: Vec<StoreEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(m: &mut ClusterModel, addr: &str, now: u64) -> u64 {
        m.put_store(
            PutStore {
                address: addr.into(),
                status_address: addr.replace("20160", "20180"),
                version: "8.5.7".into(),
                capacity: 1 << 40,
                start_timestamp: (now / 1000) as i64,
                ..Default::default()
            },
            now,
        )
        .unwrap()
    }

    fn hb(m: &mut ClusterModel, id: u64, now: u64) {
        m.store_heartbeat(
            StoreHeartbeat {
                store_id: id,
                capacity: 1 << 40,
                available: 1 << 39,
                used: 1 << 30,
                slow_score: 1,
            },
            now,
        )
        .unwrap();
    }

    fn three_store_cluster() -> (ClusterModel, Vec<u64>, u64) {
        let mut m = ClusterModel::new(1, 100.0, 7, 12);
        let mut now = 1_000_000u64;
        let ids: Vec<u64> = (0..3)
            .map(|i| put(&mut m, &format!("tikv{i}:20160"), now))
            .collect();
        for _ in 0..400 {
            now += 50;
            for id in &ids {
                hb(&mut m, *id, now);
            }
            m.tick(now);
        }
        (m, ids, now)
    }

    #[test]
    fn position_lookup_is_monotonic_with_encoding() {
        let k = encode_key(1234);
        assert_eq!(position_of(&k), 1234);
        let mut k2 = k.clone();
        k2.push(0);
        assert_eq!(position_of(&k2), 1234);
        assert_eq!(position_of(b""), 0);
    }

    #[test]
    fn bootstrap_regions_get_fully_replicated_once_three_stores_exist() {
        let (m, ids, _) = three_store_cluster();
        assert_eq!(m.regions.len(), 12);
        assert!(
            m.check_ids(0).is_empty(),
            "miss-peer left: {:?}",
            m.check_ids(0)
        );
        for id in ids {
            assert_eq!(m.counts(id).region_count, 12);
            assert!(m.counts(id).leader_count >= 3, "leaders balanced");
        }
    }

    #[test]
    fn a_silent_store_loses_its_leaders_and_its_peers_go_down() {
        let (mut m, ids, mut now) = three_store_cluster();
        let dead = ids[0];
        for _ in 0..100 {
            now += 100;
            hb(&mut m, ids[1], now);
            hb(&mut m, ids[2], now);
            m.tick(now);
        }
        let s = &m.stores[&dead];
        assert_eq!(m.state_name(s, now), StateName::Disconnected);
        assert_eq!(m.counts(dead).leader_count, 0);
        assert!(!m.check_ids(2).is_empty(), "down-peer regions");
    }

    #[test]
    fn removing_a_peer_that_was_marked_down_clears_its_down_mark() {
        let (mut m, _, _) = three_store_cluster();
        let region = *m.regions.keys().next().unwrap();
        let (peer, leader) = {
            let r = &m.regions[&region];
            let p = r.peers.iter().find(|p| p.id != r.leader).unwrap().id;
            (p, r.leader)
        };
        m.update_region(region, |r| r.down_peers.push(peer));
        assert!(m.check_ids(2).contains(&region));
        // Any path that drops the peer (here the learner-undo of a cancelled operator
        // and a plain removal look the same) must not leave a dangling down mark.
        m.update_region(region, |r| r.peers.retain(|p| p.id != peer));
        let r = &m.regions[&region];
        assert!(
            r.down_peers.is_empty(),
            "stale down mark: {:?}",
            r.down_peers
        );
        assert_eq!(r.leader, leader);
        assert!(!m.check_ids(2).contains(&region), "down-peer check cleared");
    }

    #[test]
    fn the_model_survives_a_json_round_trip_with_its_indexes() {
        let (m, ids, _) = three_store_cluster();
        let text = serde_json::to_string(&m).unwrap();
        let mut back: ClusterModel = serde_json::from_str(&text).unwrap();
        back.rebuild_indexes();
        for id in ids {
            assert_eq!(back.counts(id), m.counts(id));
        }
        assert_eq!(back.regions, m.regions);
    }

    #[test]
    fn a_region_that_outgrows_region_max_size_splits_on_its_leaders_heartbeat() {
        let (mut m, ids, mut now) = three_store_cluster();
        m.workload.write_qps = 200_000.0;
        let before = m.regions.len();
        now += 5_000; // 500 simulated seconds at time factor 100
        for id in &ids {
            hb(&mut m, *id, now);
            m.region_heartbeat(*id, now).unwrap();
        }
        assert!(m.regions.len() > before, "splits happened");
        // Key ranges still tile the keyspace without gaps.
        let mut expect = KEY_MIN;
        for r in m.scan_regions(KEY_MIN, KEY_MAX, 0) {
            assert_eq!(r.start, expect);
            expect = r.end;
        }
        assert_eq!(expect, KEY_MAX);
        assert_eq!(m.idx.by_start.len(), m.regions.len());
    }

    #[test]
    fn the_same_seed_and_inputs_give_the_same_cluster() {
        let render = |m: &ClusterModel| m.regions_json(m.regions.values(), 0);
        let (a, _, _) = three_store_cluster();
        let (b, _, _) = three_store_cluster();
        assert_eq!(render(&a), render(&b));
    }

    #[test]
    fn delete_is_refused_below_max_replicas() {
        let (mut m, ids, now) = three_store_cluster();
        let e = m.remove_store(ids[0], false, now).unwrap_err();
        assert_eq!(e.to_string(), format!("[PD:core:ErrStoresNotEnough]can not remove store {} since the number of up stores would be 2 while need 3", ids[0]));
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn an_offline_store_drains_to_tombstone() {
        let (mut m, mut ids, mut now) = three_store_cluster();
        ids.push(put(&mut m, "tikv3:20160", now));
        m.remove_store(ids[0], false, now).unwrap();
        for _ in 0..2000 {
            now += 50;
            for id in &ids {
                hb(&mut m, *id, now);
            }
            m.tick(now);
            if m.stores[&ids[0]].state == 2 {
                break;
            }
        }
        assert_eq!(
            m.stores[&ids[0]].state,
            2,
            "tombstone; regions left {}",
            m.counts(ids[0]).region_count
        );
        assert_eq!(m.counts(ids[3]).region_count, 12);
        assert!(m.remove_store(ids[0], false, now).unwrap_err().status() == 410);
    }
}
