//! PD v8.5 wire types, following PD's JSON exactly (INTERFACES.md §1).
//!
//! PD's JSON has four habits that these types absorb so nothing downstream sees them:
//! - gogoproto `omitempty`: zero values are *omitted* (store `state` 0 = Up, `node_state`
//!   0 = Preparing, `is_learner` false), so every field has a default;
//! - `u64` ids that exceed 2^63 (member ids), so ids are `u64`, never `i64`;
//! - custom scalars: byte sizes as strings (`"845.1GiB"`, [`ByteSize`]), Go durations
//!   (`"1h16m9.774919012s"`, [`GoDuration`]), bools tagged `,string` (`"true"`,
//!   [`StringBool`]);
//! - protobuf enums as integers (`state`, `node_state`, `role`).
//!
//! Unknown fields are ignored (PD adds fields between patch releases, e.g.
//! `network_slow_score` in v8.5.7); big config sections keep what they do not model in a
//! flattened map so nothing is lost. Every type also serializes back to PD's shape, which
//! lets tests and stand-ins produce PD-shaped JSON from the same definitions.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Custom scalars
// ---------------------------------------------------------------------------------------

/// A byte count written by PD as `typeutil.ByteSize` (`"%.4g"` + binary unit, e.g.
/// `"1007GiB"`, `"845.1GiB"`, `"0B"`). The parsed value is approximate to PD's 4
/// significant digits, which is all PD sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

impl ByteSize {
    /// Parses PD's text form. Accepts binary units (`KiB`..`EiB`), decimal-style
    /// abbreviations PD's parser also accepts (`KB`, `MB`, `GB`, `TB`, `PB`, taken as
    /// binary like PD does), `B`, and a bare number of bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        // go-units prints "%.4g" of a value below 1024, so no exponent form occurs.
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("invalid byte size {text:?}"))?;
        if !value.is_finite() || value < 0.0 {
            return Err(format!("invalid byte size {text:?}"));
        }
        let exponent = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 1,
            "m" | "mb" | "mib" => 2,
            "g" | "gb" | "gib" => 3,
            "t" | "tb" | "tib" => 4,
            "p" | "pb" | "pib" => 5,
            "e" | "eb" | "eib" => 6,
            _ => return Err(format!("unknown byte size unit in {text:?}")),
        };
        let bytes = value * 1024f64.powi(exponent);
        if bytes >= u64::MAX as f64 {
            return Err(format!("byte size {text:?} overflows u64"));
        }
        Ok(Self(bytes.round() as u64))
    }

    /// PD's text form: 4 significant digits and the largest binary unit below the value.
    pub fn to_pd_string(self) -> String {
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit < BINARY_UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        format!("{}{}", format_g4(value), BINARY_UNITS[unit])
    }
}

/// Go's `%.4g` for values in [0, 1024): 4 significant digits, trailing zeros trimmed.
fn format_g4(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let int_digits = if value >= 1.0 {
        (value.log10().floor() as i32) + 1
    } else {
        0
    };
    let decimals = (4 - int_digits).max(0) as usize;
    let mut text = format!("{value:.decimals$}");
    // Rounding can add a digit (999.95 -> "1000.0"); %.4g would still print 4 digits.
    if text.contains('.') {
        while text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
    }
    text
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_pd_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a byte size string like \"845.1GiB\" or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v).map(ByteSize).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ByteSize, E> {
                if v.is_finite() && v >= 0.0 {
                    Ok(ByteSize(v.round() as u64))
                } else {
                    Err(E::custom("negative or non-finite byte size"))
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A Go `time.Duration` string (`"30m0s"`, `"1h16m9.774919012s"`, `"10ms"`, `"0s"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    /// Parses Go's duration syntax: a sequence of decimal numbers with units
    /// `ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`; `"0"` alone is zero. Negative durations
    /// are rejected (PD never sends them for the fields read here).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("invalid Go duration {text:?}");
        let s = text.trim();
        let s = s.strip_prefix('+').unwrap_or(s);
        if s == "0" {
            return Ok(Self(Duration::ZERO));
        }
        if s.is_empty() || s.starts_with('-') {
            return Err(bad());
        }
        let mut rest = s;
        let mut total_nanos: u128 = 0;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            if num_len == 0 {
                return Err(bad());
            }
            let (number, after) = rest.split_at(num_len);
            let unit_len = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, after) = after.split_at(unit_len);
            let unit_nanos: u128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60 * 1_000_000_000,
                "h" => 3600 * 1_000_000_000,
                _ => return Err(bad()),
            };
            let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
            if (int_part.is_empty() && frac_part.is_empty())
                || !frac_part.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad());
            }
            let int: u128 = if int_part.is_empty() {
                0
            } else {
                int_part.parse().map_err(|_| bad())?
            };
            // Fraction, exact to the nanosecond: digits * unit / 10^len.
            let mut scale: u128 = 1;
            let mut frac: u128 = 0;
            for digit in frac_part.bytes().take(18) {
                frac = frac * 10 + u128::from(digit - b'0');
                scale *= 10;
            }
            total_nanos = int
                .checked_mul(unit_nanos)
                .and_then(|n| n.checked_add(frac * unit_nanos / scale))
                .and_then(|n| n.checked_add(total_nanos))
                .ok_or_else(bad)?;
            rest = after;
        }
        let secs = u64::try_from(total_nanos / 1_000_000_000).map_err(|_| bad())?;
        Ok(Self(Duration::new(
            secs,
            (total_nanos % 1_000_000_000) as u32,
        )))
    }

    /// Go's `Duration.String()` form.
    pub fn to_go_string(self) -> String {
        let d = self.0;
        let nanos = d.as_nanos();
        if nanos == 0 {
            return "0s".into();
        }
        if nanos < 1_000 {
            return format!("{nanos}ns");
        }
        if nanos < 1_000_000 {
            return format!("{}µs", trim_fraction(nanos, 1_000));
        }
        if nanos < 1_000_000_000 {
            return format!("{}ms", trim_fraction(nanos, 1_000_000));
        }
        let total_secs = d.as_secs();
        let hours = total_secs / 3600;
        let minutes = (total_secs % 3600) / 60;
        let secs_nanos = u128::from(total_secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos());
        let mut out = String::new();
        if hours > 0 {
            out.push_str(&format!("{hours}h"));
        }
        if hours > 0 || minutes > 0 {
            out.push_str(&format!("{minutes}m"));
        }
        out.push_str(&format!("{}s", trim_fraction(secs_nanos, 1_000_000_000)));
        out
    }
}

fn trim_fraction(value: u128, unit: u128) -> String {
    let int = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return int.to_string();
    }
    let width = unit.ilog10() as usize;
    let mut text = format!("{int}.{frac:0width$}");
    while text.ends_with('0') {
        text.pop();
    }
    text
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_go_string())
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        GoDuration::parse(&text).map_err(de::Error::custom)
    }
}

/// A bool PD writes as a string (`"true"`/`"false"`, Go `json:",string"`). Real JSON
/// bools are accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StringBool(pub bool);

impl Serialize for StringBool {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.0 { "true" } else { "false" })
    }
}

impl<'de> Deserialize<'de> for StringBool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StringBool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"true\", \"false\" or a bool")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<StringBool, E> {
                Ok(StringBool(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringBool, E> {
                match v {
                    "true" | "True" | "TRUE" | "1" => Ok(StringBool(true)),
                    "false" | "False" | "FALSE" | "0" | "" => Ok(StringBool(false)),
                    _ => Err(E::custom(format!("invalid string bool {v:?}"))),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------
// Stores
// ---------------------------------------------------------------------------------------

/// `metapb.StoreState` (`store.state`): 0 Up (omitted), 1 Offline, 2 Tombstone.
pub mod store_state {
    /// Offline (being removed).
    pub(crate) const OFFLINE: i32 = 1;
    /// Tombstone (removed).
    pub(crate) const TOMBSTONE: i32 = 2;
}

/// `metapb.NodeState` (`store.node_state`): 0 Preparing (omitted), 1 Serving,
/// 2 Removing, 3 Removed.
pub mod node_state {
    /// Serving.
    pub(crate) const SERVING: i32 = 1;
    /// Removing.
    pub(crate) const REMOVING: i32 = 2;
    /// Removed.
    pub(crate) const REMOVED: i32 = 3;
}

/// `GET /pd/api/v1/stores`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StoresInfo {
    /// Number of stores.
    pub count: u64,
    /// The stores.
    pub stores: Vec<StoreInfo>,
}

/// One store: `GET /pd/api/v1/store/{id}` and an element of [`StoresInfo`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreInfo {
    /// Static and state fields.
    pub store: MetaStore,
    /// Heartbeat statistics.
    pub status: StoreStatus,
}

/// A store label.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreLabel {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// `metapb.Store` plus `state_name`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MetaStore {
    /// Store id.
    pub id: u64,
    /// gRPC advertise address.
    pub address: String,
    /// [`store_state`] integer.
    pub state: i32,
    /// Labels.
    pub labels: Vec<StoreLabel>,
    /// TiKV version without `v`.
    pub version: String,
    /// Peer address.
    pub peer_address: String,
    /// Status advertise address.
    pub status_address: String,
    /// Git hash.
    pub git_hash: String,
    /// Start time, unix seconds.
    pub start_timestamp: i64,
    /// Deploy path.
    pub deploy_path: String,
    /// Last heartbeat, unix nanoseconds.
    pub last_heartbeat: i64,
    /// Set by a forced delete.
    pub physically_destroyed: bool,
    /// [`node_state`] integer.
    pub node_state: i32,
    /// Displayed state: Up, Disconnected, Down, Offline, Tombstone.
    pub state_name: String,
}

/// Slow-trend figures reported by TiKV.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SlowTrend {
    /// Cause value.
    pub cause_value: f64,
    /// Cause rate.
    pub cause_rate: f64,
    /// Result value.
    pub result_value: f64,
    /// Result rate.
    pub result_rate: f64,
}

/// `response.StoreStatus`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreStatus {
    /// Capacity.
    pub capacity: ByteSize,
    /// Available.
    pub available: ByteSize,
    /// Used.
    pub used_size: ByteSize,
    /// Leaders.
    pub leader_count: u64,
    /// Leader weight.
    pub leader_weight: f64,
    /// Leader score.
    pub leader_score: f64,
    /// Leader size, MiB.
    pub leader_size: i64,
    /// Region peers.
    pub region_count: u64,
    /// Region weight.
    pub region_weight: f64,
    /// Region score.
    pub region_score: f64,
    /// Region size, MiB.
    pub region_size: i64,
    /// Learners.
    pub learner_count: u64,
    /// Witnesses.
    pub witness_count: u64,
    /// Pending peers.
    pub pending_peer_count: u64,
    /// Slow score 1..100, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_score: Option<u64>,
    /// Network slow scores per peer store (v8.5.7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_slow_score: Option<BTreeMap<String, u64>>,
    /// Slow trend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_trend: Option<SlowTrend>,
    /// Snapshots being sent.
    pub sending_snap_count: u64,
    /// Snapshots being received.
    pub receiving_snap_count: u64,
    /// Busy flag.
    pub is_busy: bool,
    /// Start time, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_ts: Option<String>,
    /// Last heartbeat, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_ts: Option<String>,
    /// Uptime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime: Option<GoDuration>,
}

/// `GET /pd/api/v1/stores/progress`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreProgress {
    /// `removing` or `preparing`.
    pub action: String,
    /// Store id (omitted when zero).
    pub store_id: u64,
    /// Progress, 0..1.
    pub progress: f64,
    /// Current speed, MiB/s.
    pub current_speed: f64,
    /// Estimated seconds left.
    pub left_seconds: f64,
}

// ---------------------------------------------------------------------------------------
// Members, leader, health, cluster
// ---------------------------------------------------------------------------------------

/// `pdpb.ResponseHeader`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResponseHeader {
    /// Cluster id.
    pub cluster_id: u64,
}

/// `pdpb.Member`; also the body of `GET /pd/api/v1/leader`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PdMember {
    /// Member name.
    pub name: String,
    /// Member id (can exceed 2^63).
    pub member_id: u64,
    /// Peer URLs.
    pub peer_urls: Vec<String>,
    /// Client URLs.
    pub client_urls: Vec<String>,
    /// Leader priority.
    pub leader_priority: i32,
    /// Deploy path.
    pub deploy_path: String,
    /// `v8.5.7`.
    pub binary_version: String,
    /// Git hash.
    pub git_hash: String,
    /// DC location.
    pub dc_location: String,
}

/// `GET /pd/api/v1/members`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MembersInfo {
    /// Header with the cluster id.
    pub header: ResponseHeader,
    /// All members.
    pub members: Vec<PdMember>,
    /// The PD leader.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<PdMember>,
    /// The etcd leader.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_leader: Option<PdMember>,
}

/// One element of `GET /pd/api/v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MemberHealth {
    /// Member name.
    pub name: String,
    /// Member id.
    pub member_id: u64,
    /// Client URLs.
    pub client_urls: Vec<String>,
    /// Whether its `/ping` answered within 3 s.
    pub health: bool,
}

/// `GET /pd/api/v1/cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterInfo {
    /// Cluster id.
    pub id: u64,
    /// Max peer count.
    pub max_peer_count: u64,
}

/// `GET /pd/api/v1/cluster/status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterStatus {
    /// RFC 3339; `0001-01-01T00:00:00Z` before bootstrap.
    pub raft_bootstrap_time: String,
    /// See INTERFACES.md §1.4.
    pub is_initialized: bool,
    /// Proto text; empty in MAJORITY mode.
    pub replication_status: String,
}

impl ClusterStatus {
    /// True when TiKV has bootstrapped the cluster.
    pub fn is_bootstrapped(&self) -> bool {
        !self.raft_bootstrap_time.is_empty() && !self.raft_bootstrap_time.starts_with("0001-")
    }
}

/// `GET /pd/api/v1/version`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionInfo {
    /// `v8.5.7`.
    pub version: String,
    /// Empty in practice.
    pub build_time: String,
    /// Empty in practice.
    pub hash: String,
    /// Empty in practice.
    pub branch: String,
}

/// `GET /pd/api/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusInfo {
    /// Build timestamp text.
    pub build_ts: String,
    /// `v8.5.7`.
    pub version: String,
    /// Git hash.
    pub git_hash: String,
    /// Process start, unix seconds.
    pub start_timestamp: i64,
}

// ---------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------

/// `GET /pd/api/v1/config/replicate` (and the `replication` section of the config).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct ReplicationConfig {
    /// Replicas per region.
    pub max_replicas: u64,
    /// Comma-joined location labels.
    pub location_labels: String,
    /// Strict label matching.
    pub strictly_match_label: StringBool,
    /// Placement rules enabled (default true).
    pub enable_placement_rules: StringBool,
    /// Placement rules cache.
    pub enable_placement_rules_cache: StringBool,
    /// Isolation level.
    pub isolation_level: String,
}

/// Per-store limits in the schedule config.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct StoreLimitConfig {
    /// Add-peer operations per minute.
    pub add_peer: f64,
    /// Remove-peer operations per minute (1e8 = unlimited, set on Offline stores).
    pub remove_peer: f64,
}

/// One `schedulers-v2` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct SchedulerEntry {
    /// Scheduler type (`balance-region`, `evict-leader`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Arguments (`null` when none).
    pub args: Option<Vec<String>>,
    /// Disabled.
    pub disable: bool,
    /// Payload.
    pub args_payload: String,
}

/// `GET /pd/api/v1/config/schedule` (and the `schedule` section of the config). Keys
/// not modelled are kept in `other`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct ScheduleConfig {
    /// Max snapshots per store.
    pub max_snapshot_count: u64,
    /// Max pending peers per store.
    pub max_pending_peer_count: u64,
    /// Max merge region size, MiB.
    pub max_merge_region_size: u64,
    /// Max merge region keys.
    pub max_merge_region_keys: u64,
    /// Split/merge interval.
    pub split_merge_interval: GoDuration,
    /// Patrol interval.
    pub patrol_region_interval: GoDuration,
    /// A disconnected store becomes Down after this (default 30m).
    pub max_store_down_time: GoDuration,
    /// Preparing → Serving at the latest after this.
    pub max_store_preparing_time: GoDuration,
    /// Leader schedule limit.
    pub leader_schedule_limit: u64,
    /// Region schedule limit.
    pub region_schedule_limit: u64,
    /// Replica schedule limit.
    pub replica_schedule_limit: u64,
    /// Merge schedule limit.
    pub merge_schedule_limit: u64,
    /// Hot-region schedule limit.
    pub hot_region_schedule_limit: u64,
    /// Low space ratio (default 0.8).
    pub low_space_ratio: f64,
    /// High space ratio (default 0.7).
    pub high_space_ratio: f64,
    /// Per-store limits, keyed by store id.
    pub store_limit: BTreeMap<String, StoreLimitConfig>,
    /// Persisted scheduler list.
    pub schedulers_v2: Vec<SchedulerEntry>,
    /// Replace down replicas.
    pub enable_remove_down_replica: StringBool,
    /// Replace offline replicas.
    pub enable_replace_offline_replica: StringBool,
    /// Make up missing replicas.
    pub enable_make_up_replica: StringBool,
    /// Remove extra replicas.
    pub enable_remove_extra_replica: StringBool,
    /// Halt all scheduling (omitted when false).
    pub halt_scheduling: StringBool,
    /// Everything else, as PD sent it.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `GET /pd/api/v1/config` (full dump). Only the sections the operator reads are typed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct PdConfig {
    /// Member name.
    pub name: String,
    /// Client URLs (comma-joined).
    pub client_urls: String,
    /// Advertised client URLs.
    pub advertise_client_urls: String,
    /// Cluster version (`8.5.7`).
    pub cluster_version: String,
    /// Schedule section.
    pub schedule: ScheduleConfig,
    /// Replication section.
    pub replication: ReplicationConfig,
    /// Everything else, as PD sent it.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

// ---------------------------------------------------------------------------------------
// Regions
// ---------------------------------------------------------------------------------------

/// Region epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RegionEpoch {
    /// Conf version.
    pub conf_ver: u64,
    /// Version.
    pub version: u64,
}

/// `response.MetaPeer`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MetaPeer {
    /// `Voter|Learner|IncomingVoter|DemotingVoter` (empty in the not-found placeholder).
    pub role_name: String,
    /// True for learners.
    pub is_learner: bool,
    /// Peer id.
    pub id: u64,
    /// Store id.
    pub store_id: u64,
    /// Role integer: 0 Voter, 1 Learner, 2 IncomingVoter, 3 DemotingVoter.
    pub role: i32,
    /// Witness.
    pub is_witness: bool,
}

/// A down peer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DownPeer {
    /// The peer.
    pub peer: MetaPeer,
    /// Seconds since the leader last heard from it.
    pub down_seconds: u64,
}

/// `response.RegionInfo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RegionInfo {
    /// Region id (0 in the not-found placeholder).
    pub id: u64,
    /// Upper-case hex start key; empty = -inf.
    pub start_key: String,
    /// Upper-case hex end key; empty = +inf.
    pub end_key: String,
    /// Epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<RegionEpoch>,
    /// Peers.
    pub peers: Vec<MetaPeer>,
    /// Leader peer.
    pub leader: MetaPeer,
    /// Down peers.
    pub down_peers: Vec<DownPeer>,
    /// Pending peers.
    pub pending_peers: Vec<MetaPeer>,
    /// CPU usage.
    pub cpu_usage: u64,
    /// Bytes written in the last heartbeat interval.
    pub written_bytes: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Keys written.
    pub written_keys: u64,
    /// Keys read.
    pub read_keys: u64,
    /// Approximate size, MiB.
    pub approximate_size: i64,
    /// Approximate keys.
    pub approximate_keys: i64,
    /// Bucket keys (hex).
    pub buckets: Vec<String>,
    /// DR-auto-sync status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_status: Option<Value>,
}

impl RegionInfo {
    /// PD answers an unknown region id with HTTP 200 and a zero object; this is it.
    pub fn is_not_found_placeholder(&self) -> bool {
        self.id == 0
    }
}

/// `{"count","regions"}` from the region list endpoints.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RegionsInfo {
    /// Number of regions.
    pub count: u64,
    /// Regions.
    pub regions: Vec<RegionInfo>,
}

/// `GET /pd/api/v1/regions/check/{kind}` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
// PD's own names for the kinds this operator asks for (`miss-peer`, `down-peer`, …).
#[allow(clippy::enum_variant_names)]
pub(crate) enum RegionCheck {
    /// Fewer peers than wanted.
    MissPeer,
    /// More peers than wanted.
    ExtraPeer,
    /// A peer is down.
    DownPeer,
    /// A peer is pending.
    PendingPeer,
    /// A peer on a Removing store.
    OfflinePeer,
    /// Has a learner.
    LearnerPeer,
}

impl RegionCheck {
    /// The path segment.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::MissPeer => "miss-peer",
            Self::ExtraPeer => "extra-peer",
            Self::DownPeer => "down-peer",
            Self::PendingPeer => "pending-peer",
            Self::OfflinePeer => "offline-peer",
            Self::LearnerPeer => "learner-peer",
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hotspots
// ---------------------------------------------------------------------------------------

/// `HotPeerStatShow`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HotPeerStat {
    /// Store id.
    pub store_id: u64,
    /// Stores holding the region.
    pub stores: Vec<u64>,
    /// Leader peer.
    pub is_leader: bool,
    /// Learner peer.
    pub is_learner: bool,
    /// Region id.
    pub region_id: u64,
    /// Hot degree.
    pub hot_degree: i64,
    /// Bytes/s.
    pub flow_bytes: f64,
    /// Keys/s.
    pub flow_keys: f64,
    /// Queries/s.
    pub flow_query: f64,
    /// CPU (v8.5.7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_cpu: Option<f64>,
    /// Anti count.
    pub anti_count: i64,
    /// RFC 3339.
    pub last_update_time: String,
}

/// `HotPeersStat` (per store).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HotPeersStat {
    /// Store bytes/s.
    pub store_bytes: f64,
    /// Store keys/s.
    pub store_keys: f64,
    /// Store queries/s.
    pub store_query: f64,
    /// Store CPU (v8.5.7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_cpu: Option<f64>,
    /// Total hot-flow bytes/s.
    pub total_flow_bytes: f64,
    /// Total hot-flow keys/s.
    pub total_flow_keys: f64,
    /// Total hot-flow queries/s.
    pub total_flow_query: f64,
    /// Total hot-flow CPU (v8.5.7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_flow_cpu: Option<f64>,
    /// Hot regions.
    pub regions_count: u64,
    /// Hot peers.
    pub statistics: Vec<HotPeerStat>,
}

/// `GET /pd/api/v1/hotspot/regions/{write,read}`; maps keyed by store id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HotRegions {
    /// Hot peers per store.
    pub as_peer: BTreeMap<String, HotPeersStat>,
    /// Hot leaders per store.
    pub as_leader: BTreeMap<String, HotPeersStat>,
}

/// `GET /pd/api/v1/hotspot/stores`; maps keyed by store id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct HotStores {
    /// Write bytes/s.
    pub bytes_write_rate: BTreeMap<String, f64>,
    /// Read bytes/s.
    pub bytes_read_rate: BTreeMap<String, f64>,
    /// Write keys/s.
    pub keys_write_rate: BTreeMap<String, f64>,
    /// Read keys/s.
    pub keys_read_rate: BTreeMap<String, f64>,
    /// Write queries/s.
    pub query_write_rate: BTreeMap<String, f64>,
    /// Read queries/s.
    pub query_read_rate: BTreeMap<String, f64>,
    /// Read CPU (v8.5.7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_read_rate: Option<BTreeMap<String, f64>>,
}

// ---------------------------------------------------------------------------------------
// Operators and schedulers
// ---------------------------------------------------------------------------------------

/// One element of `GET /pd/api/v1/operators?object`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OperatorObject {
    /// `admin-transfer-leader`, `replace-rule-offline-peer`, ...
    pub desc: String,
    /// `mv peer: store [6] to [7]`.
    pub brief: String,
    /// Region id.
    pub region_id: u64,
    /// Region epoch at creation.
    pub region_epoch: RegionEpoch,
    /// Kind bitmask (version dependent).
    pub kind: u64,
    /// Timeout.
    pub timeout: GoDuration,
    /// 0 Created, 1 Started, 2 Success, 3 Canceled, 4 Replaced, 5 Expired, 6 Timeout.
    pub status: u32,
}

#[cfg(test)]
/// Peer roles for `transfer-region`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PeerRole {
    /// Leader.
    Leader,
    /// Voter.
    Voter,
    /// Follower.
    Follower,
    /// Learner.
    Learner,
}

#[cfg(test)]
/// Split policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SplitPolicy {
    /// Approximate middle.
    Approximate,
    /// Scan for the middle.
    Scan,
    /// Split at the given keys.
    Usekey,
}

#[cfg(test)]
/// The bodies of `POST /pd/api/v1/operators`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub(crate) enum OperatorRequest {
    /// Move a region's leader.
    TransferLeader {
        /// Region.
        region_id: u64,
        /// Target store.
        to_store_id: u64,
    },
    /// Move a region's peers (roles required with placement rules).
    TransferRegion {
        /// Region.
        region_id: u64,
        /// Target stores.
        to_store_ids: Vec<u64>,
        /// Roles, same length as `to_store_ids`.
        peer_roles: Vec<PeerRole>,
    },
    /// Move one peer.
    TransferPeer {
        /// Region.
        region_id: u64,
        /// From store.
        from_store_id: u64,
        /// To store.
        to_store_id: u64,
    },
    /// Add a voter.
    AddPeer {
        /// Region.
        region_id: u64,
        /// Store.
        store_id: u64,
    },
    /// Add a learner.
    AddLearner {
        /// Region.
        region_id: u64,
        /// Store.
        store_id: u64,
    },
    /// Remove a peer.
    RemovePeer {
        /// Region.
        region_id: u64,
        /// Store.
        store_id: u64,
    },
    /// Merge two adjacent regions.
    MergeRegion {
        /// Source.
        source_region_id: u64,
        /// Target.
        target_region_id: u64,
    },
    /// Split a region.
    SplitRegion {
        /// Region.
        region_id: u64,
        /// Policy.
        policy: SplitPolicy,
        /// Hex keys (for `usekey`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        keys: Vec<String>,
    },
    /// Scatter a region.
    ScatterRegion {
        /// Region.
        region_id: u64,
        /// Group.
        #[serde(default)]
        group: String,
    },
}

/// A key range in a scheduler config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct KeyRange {
    /// Start key.
    pub start_key: String,
    /// End key.
    pub end_key: String,
}

/// `GET /pd/api/v1/scheduler-config/evict-leader-scheduler/list`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct EvictLeaderConfig {
    /// Ranges per store id.
    pub store_id_ranges: BTreeMap<String, Vec<KeyRange>>,
    /// Batch size.
    pub batch: u64,
}

impl EvictLeaderConfig {
    /// Store ids with leaders being evicted, sorted. Non-numeric keys are skipped.
    pub fn store_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .store_id_ranges
            .keys()
            .filter_map(|k| k.parse().ok())
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// Body of `POST /pd/api/v1/schedulers` for store-scoped schedulers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SchedulerRequest {
    /// Scheduler name (`evict-leader-scheduler`).
    pub name: String,
    /// Store id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_id: Option<u64>,
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// A PD error body, decoded: PD sends JSON strings (`"[PD:core:ErrStoreNotFound]store 99
/// not found"`), plain text (`redirect finds no leader`), or an errcode object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdErrorBody {
    /// The RFC code without the `PD:` prefix and component, e.g. `ErrStoresNotEnough`.
    pub code: Option<String>,
    /// The whole message.
    pub message: String,
}

impl PdErrorBody {
    /// Decodes a body as PD writes errors.
    pub fn parse(body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        let trimmed = text.trim();
        let message = match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::String(s)) => s,
            Ok(Value::Object(map)) => map
                .get("message")
                .or_else(|| map.get("error"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| trimmed.to_owned()),
            _ => trimmed.to_owned(),
        };
        let code = message.find("[PD:").and_then(|start| {
            let end = message[start..].find(']')? + start;
            let inner = &message[start + 1..end];
            inner.rsplit(':').next().map(str::to_owned)
        });
        Self { code, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    #[test]
    fn byte_sizes_parse_as_pd_writes_them() {
        assert_eq!(
            ByteSize::parse("845.1GiB").unwrap().0,
            (845.1 * GIB).round() as u64
        );
        assert_eq!(
            ByteSize::parse("2.35GiB").unwrap().0,
            (2.35 * GIB).round() as u64
        );
        assert_eq!(ByteSize::parse("1007GiB").unwrap().0, 1007 * (1 << 30));
        assert_eq!(ByteSize::parse("0B").unwrap().0, 0);
        assert_eq!(ByteSize::parse("8GiB").unwrap().0, 8 << 30);
        assert_eq!(ByteSize::parse("96MiB").unwrap().0, 96 << 20);
        assert_eq!(ByteSize::parse("1.5EiB").unwrap().0, 3 << 59);
        assert_eq!(ByteSize::parse("512").unwrap().0, 512);
        assert!(ByteSize::parse("12 furlongs").is_err());
        assert!(ByteSize::parse("-1GiB").is_err());
        assert!(ByteSize::parse("").is_err());
    }

    #[test]
    fn byte_sizes_print_with_four_significant_digits_like_go_units() {
        for text in [
            "1007GiB", "845.1GiB", "2.35GiB", "0B", "2.223GiB", "8GiB", "1.5KiB",
        ] {
            assert_eq!(ByteSize::parse(text).unwrap().to_pd_string(), text);
        }
        assert_eq!(ByteSize(1023).to_pd_string(), "1023B");
    }

    #[test]
    fn go_durations_parse_to_the_nanosecond() {
        let d = |s: &str| GoDuration::parse(s).unwrap().0;
        assert_eq!(d("1h16m9.774919012s"), Duration::new(4569, 774_919_012));
        assert_eq!(d("30m0s"), Duration::from_secs(1800));
        assert_eq!(d("48h0m0s"), Duration::from_secs(48 * 3600));
        assert_eq!(d("10ms"), Duration::from_millis(10));
        assert_eq!(d("10.221964ms"), Duration::from_nanos(10_221_964));
        assert_eq!(d("103.81µs"), Duration::from_nanos(103_810));
        assert_eq!(d("0s"), Duration::ZERO);
        assert_eq!(d("0"), Duration::ZERO);
        assert_eq!(d("1.5h"), Duration::from_secs(5400));
        for bad in [
            "",
            "1x",
            "-1s",
            "s",
            "1h2",
            ".",
            "1.2.3s",
            "99999999999999999999999999999999999h",
            "340282366920938463463374607431768211455h",
        ] {
            assert!(GoDuration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn go_durations_print_like_go() {
        for text in [
            "1h16m9.774919012s",
            "30m0s",
            "48h0m0s",
            "10ms",
            "0s",
            "17m0s",
            "1m0s",
            "1.628740125s",
            "103.81µs",
        ] {
            assert_eq!(GoDuration::parse(text).unwrap().to_go_string(), text);
        }
    }

    proptest::proptest! {
        #[test]
        fn scalar_parsers_never_panic(text in "\\PC{0,40}") {
            let _ = GoDuration::parse(&text);
            let _ = ByteSize::parse(&text);
            let _ = PdErrorBody::parse(text.as_bytes());
        }

        #[test]
        fn durations_round_trip_through_go_format(nanos in 0u64..400_000_000_000_000) {
            let d = GoDuration(Duration::from_nanos(nanos));
            proptest::prop_assert_eq!(GoDuration::parse(&d.to_go_string()).unwrap(), d);
        }
    }

    #[test]
    fn string_bools_accept_strings_and_bools() {
        let v: Vec<StringBool> = serde_json::from_str(r#"["true","false",true,false]"#).unwrap();
        assert_eq!(
            v,
            vec![
                StringBool(true),
                StringBool(false),
                StringBool(true),
                StringBool(false)
            ]
        );
        assert!(serde_json::from_str::<StringBool>(r#""maybe""#).is_err());
    }

    #[test]
    fn pd_error_bodies_yield_their_code_and_message() {
        let e = PdErrorBody::parse(
            br#""[PD:core:ErrStoresNotEnough]can not remove store 1 since the number of up stores would be 2 while need 3""#,
        );
        assert_eq!(e.code.as_deref(), Some("ErrStoresNotEnough"));
        assert!(e
            .message
            .starts_with("[PD:core:ErrStoresNotEnough]can not remove store 1"));
        let plain =
            PdErrorBody::parse(b"[PD:apiutil:ErrRedirectNoLeader]redirect finds no leader\n");
        assert_eq!(plain.code.as_deref(), Some("ErrRedirectNoLeader"));
        let none = PdErrorBody::parse(br#""unknown scheduler""#);
        assert_eq!(none.code, None);
        assert_eq!(none.message, "unknown scheduler");
    }

    #[test]
    fn operator_requests_serialize_to_pd_bodies() {
        let body = serde_json::to_value(OperatorRequest::TransferLeader {
            region_id: 2,
            to_store_id: 4,
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"name":"transfer-leader","region_id":2,"to_store_id":4})
        );
        let body = serde_json::to_value(OperatorRequest::TransferRegion {
            region_id: 12,
            to_store_ids: vec![1, 4, 7],
            peer_roles: vec![PeerRole::Leader, PeerRole::Voter, PeerRole::Voter],
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"name":"transfer-region","region_id":12,"to_store_ids":[1,4,7],"peer_roles":["leader","voter","voter"]})
        );
        let body = serde_json::to_value(OperatorRequest::SplitRegion {
            region_id: 12,
            policy: SplitPolicy::Approximate,
            keys: vec![],
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"name":"split-region","region_id":12,"policy":"approximate"})
        );
    }
}
