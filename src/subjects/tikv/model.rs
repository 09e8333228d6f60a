//! The TiKV subject's domain model: PD's view of the cluster, reduced to what the
//! planner, the invariants, `operator status` and diagnosis need.
//!
//! These are *not* PD's wire types (those live in [`super::pd::types`] and follow PD's
//! JSON exactly). Wire types are converted into these once, at the edge, so the pure
//! code never deals with byte-size strings, omitted zero values or integer enums.

use serde::{Deserialize, Serialize};

/// A store's state as PD displays it (`state_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StoreState {
    /// Heartbeating.
    Up,
    /// No heartbeat for more than 20 s.
    Disconnected,
    /// No heartbeat for more than max-store-down-time (30 min by default).
    Down,
    /// Being drained after a delete.
    Offline,
    /// Drained and removed.
    Tombstone,
}

impl StoreState {
    /// Parses PD's `state_name`.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "Up" => Self::Up,
            "Disconnected" => Self::Disconnected,
            "Down" => Self::Down,
            "Offline" => Self::Offline,
            "Tombstone" => Self::Tombstone,
            _ => return None,
        })
    }
    /// PD's spelling.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Up => "Up",
            Self::Disconnected => "Disconnected",
            Self::Down => "Down",
            Self::Offline => "Offline",
            Self::Tombstone => "Tombstone",
        }
    }
    #[cfg(test)]
    /// True for states whose stored state is Up (Up, Disconnected, Down).
    pub(crate) fn is_stored_up(self) -> bool {
        matches!(self, Self::Up | Self::Disconnected | Self::Down)
    }
}

/// A store's node state (`node_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum NodeState {
    /// Newly registered (0, omitted in JSON).
    #[default]
    Preparing,
    /// Serving.
    Serving,
    /// Being removed (Offline).
    Removing,
    /// Removed (Tombstone).
    Removed,
}

/// One TiKV store as PD sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Store {
    /// Store id.
    pub id: u64,
    /// Advertised gRPC address (`demo-tikv-0:20160`).
    pub address: String,
    /// Advertised status address (`demo-tikv-0:20180`).
    pub status_address: String,
    /// Displayed state.
    pub state: StoreState,
    /// Node state.
    pub node_state: NodeState,
    /// TiKV version without `v`.
    pub version: String,
    /// Leaders on this store.
    pub leader_count: u64,
    /// Region peers on this store.
    pub region_count: u64,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Available bytes.
    pub available_bytes: u64,
    /// Used bytes.
    pub used_bytes: u64,
    /// Slow score (1..100) when reported.
    pub slow_score: Option<u64>,
    /// Last heartbeat, unix nanoseconds.
    pub last_heartbeat_unix_nanos: i64,
    /// Store start, unix seconds.
    pub start_unix_secs: i64,
    /// Set by a forced delete.
    pub physically_destroyed: bool,
    /// Pending peers on this store.
    pub pending_peer_count: u64,
}

/// One PD member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Member name (`pd-0`).
    pub name: String,
    /// Member id (can exceed 2^63).
    pub member_id: u64,
    /// Advertised client URLs.
    pub client_urls: Vec<String>,
    /// Advertised peer URLs.
    pub peer_urls: Vec<String>,
    /// Health from `/pd/api/v1/health`, when it was fetched.
    pub healthy: Option<bool>,
}

/// Counts from `/pd/api/v1/regions/check/*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RegionHealth {
    /// Regions with fewer peers than max-replicas.
    pub miss_peer: u64,
    /// Regions with more peers than wanted.
    pub extra_peer: u64,
    /// Regions with down peers.
    pub down_peer: u64,
    /// Regions with pending peers.
    pub pending_peer: u64,
    /// Regions with a peer on an Offline store.
    pub offline_peer: u64,
    /// Regions with learners.
    pub learner_peer: u64,
    /// Total regions known to PD.
    pub total: u64,
}

/// PD's view of the cluster, as observed in one pass. `None` fields were not fetched
/// (PD unreachable, or not yet bootstrapped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PdView {
    /// The URL that answered.
    pub endpoint: String,
    /// Cluster id.
    pub cluster_id: u64,
    /// Members.
    pub members: Vec<Member>,
    /// Leader member name.
    pub leader: Option<String>,
    /// All stores, Tombstones included.
    pub stores: Vec<Store>,
    /// Whether TiKV has bootstrapped the cluster (cluster routes answer).
    pub bootstrapped: bool,
    /// `replication.max-replicas`.
    pub max_replicas: u64,
    /// Enabled scheduler names.
    pub schedulers: Vec<String>,
    /// Stores listed in the evict-leader scheduler.
    pub evict_leader_stores: Vec<u64>,
    /// Region health counts.
    pub region_health: Option<RegionHealth>,
    /// `schedule.max-store-down-time`, seconds.
    pub max_store_down_time_secs: u64,
    /// `schedule.low-space-ratio`.
    pub low_space_ratio: f64,
    /// PD's hottest region leaders (`/hotspot/regions/{read,write}`), hottest first, at
    /// most [`HOT_REGIONS_KEPT`]. Best-effort: empty when PD did not answer. What an
    /// operator looks at to name the region behind a hot store.
    #[serde(default)]
    pub hot_regions: Vec<HotRegion>,
}

/// How many hot region leaders a [`PdView`] keeps (PD lists its top-N per store).
pub(crate) const HOT_REGIONS_KEPT: usize = 8;

/// One region leader PD lists as hot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotRegion {
    /// Region id.
    pub region_id: u64,
    /// The store holding its leader.
    pub store_id: u64,
    /// `read` or `write` flow.
    pub kind: String,
    /// Queries per second through it.
    pub qps: f64,
    /// Bytes per second through it.
    pub flow_bytes: f64,
}

impl PdView {
    /// The store whose advertised address is `address`, preferring a non-Tombstone one
    /// (a recreated container may re-register under the same address).
    pub(crate) fn store_by_address(&self, address: &str) -> Option<&Store> {
        let mut matches = self.stores.iter().filter(|s| s.address == address);
        let all: Vec<&Store> = matches.by_ref().collect();
        all.iter()
            .copied()
            .find(|s| s.state != StoreState::Tombstone)
            .or_else(|| all.last().copied())
    }

    /// Stores PD counts as up for replica placement (stored state Up, not Tombstone or Offline).
    pub fn up_store_count(&self) -> usize {
        self.stores
            .iter()
            .filter(|s| s.state == StoreState::Up)
            .count()
    }
}
