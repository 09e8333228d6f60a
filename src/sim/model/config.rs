//! PD's schedule and replication configuration, as `/config` shows and takes it.

use super::*;

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
