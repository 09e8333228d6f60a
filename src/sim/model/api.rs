//! The bodies of the PD and TiKV requests the model takes and the replies it returns
//! (`PutStore`, store heartbeats, `StoreInfo`), shaped like the real wire.

use super::*;

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
pub(crate) struct Label {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// `slow_trend`.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub(crate) struct SlowTrend {
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
pub(crate) struct StoreInfo {
    /// Meta.
    pub store: MetaStore,
    /// Status.
    pub status: StoreStatus,
}

/// TiKV registration (internal `put-store` endpoint body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub(crate) struct PutStore {
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
pub(crate) struct StoreHeartbeat {
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
pub(crate) struct LeaderInfo {
    /// Region.
    pub region_id: u64,
    /// Leader peer.
    pub peer_id: u64,
    /// Term.
    pub term: u64,
}

/// Store heartbeat reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub(crate) struct HeartbeatReply {
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
