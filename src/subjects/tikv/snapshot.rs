//! Everything one observation pass of the TiKV subject saw, as plain serializable data.
//!
//! The invariants ([`super::invariants`]) are pure functions of a [`TikvSnapshot`], so they
//! can be tested from fixtures and a snapshot can be stored next to a ticket or fed to the
//! diagnosis prompt as-is. Nothing here holds a client, a runtime type or a clock: the
//! observation code (PD client, Docker runtime, Prometheus, status probes) fills it in,
//! converting runtime types with [`ContainerFact::from_observed`] and
//! [`RuntimeEventFact::from_event`].
//!
//! Facts that need memory across passes (how long a store has been Offline without
//! progress) are carried explicitly: the caller keeps the previous pass's
//! [`OfflineProgress`] list and refreshes it with [`update_offline_progress`].

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::model::{PdView, StoreState};
use crate::runtime::{labels, ContainerStatus, EventAction, ObservedContainer, RuntimeEvent};
use crate::tickets::model::{rfc3339, rfc3339_opt};

/// One observation pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TikvSnapshot {
    /// When the pass ran.
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// PD's view, when PD answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pd: Option<PdView>,
    /// Why PD did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pd_error: Option<String>,
    /// PD member names the spec wants (`pd-0`, `pd-1`, `pd-2`).
    #[serde(default)]
    pub pd_members_expected: Vec<String>,
    /// Owned PD and TiKV containers (and wanted-but-missing ones).
    #[serde(default)]
    pub containers: Vec<ContainerFact>,
    /// Direct probes of each store's status port.
    #[serde(default)]
    pub probes: Vec<StatusProbe>,
    /// Per-store metrics from Prometheus, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsSample>,
    /// Why Prometheus did not answer (None when it answered or is not deployed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_error: Option<String>,
    /// Recent runtime events (die, oom, kill, restart).
    #[serde(default)]
    pub events: Vec<RuntimeEventFact>,
    /// Recent notable log lines.
    #[serde(default)]
    pub logs: Vec<LogFact>,
    /// Stores the operator is upgrading right now (their evict-leader entry and restart
    /// are planned).
    #[serde(default)]
    pub upgrading_store_ids: Vec<u64>,
    /// Offline stores and their drain progress, carried across passes.
    #[serde(default)]
    pub offline: Vec<OfflineProgress>,
}

impl TikvSnapshot {
    /// An empty snapshot taken at `at`.
    pub fn empty(at: SystemTime) -> Self {
        Self {
            at,
            pd: None,
            pd_error: None,
            pd_members_expected: Vec::new(),
            containers: Vec::new(),
            probes: Vec::new(),
            metrics: None,
            prometheus_error: None,
            events: Vec::new(),
            logs: Vec::new(),
            upgrading_store_ids: Vec::new(),
            offline: Vec::new(),
        }
    }
}

/// A container's state as the invariants need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    /// Running.
    Running,
    /// Created, not started.
    Created,
    /// Frozen.
    Paused,
    /// Being restarted by Docker.
    Restarting,
    /// Exited or killed.
    Exited,
    /// Dead (Docker failed to remove or stop it).
    Dead,
    /// Wanted by the spec but absent.
    Missing,
}

impl ContainerState {
    /// Lowercase name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Created => "created",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Missing => "missing",
        }
    }
}

/// One PD or TiKV container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerFact {
    /// Member name (`tikv-2`).
    pub member: String,
    /// Container name (`demo-tikv-2`).
    pub container: String,
    /// `pd` or `tikv`.
    pub component: String,
    /// State.
    pub status: ContainerState,
    /// Exit code of the last run, when exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Killed by the OOM killer.
    #[serde(default)]
    pub oom_killed: bool,
    /// When it last finished, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rfc3339_opt")]
    pub finished_at: Option<SystemTime>,
    /// Running without an address on the cluster network: it was disconnected from it
    /// (`docker network disconnect`), so nothing on the network reaches it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disconnected: bool,
}

impl ContainerFact {
    /// Converts an observed container (member and component from its labels).
    pub(crate) fn from_observed(c: &ObservedContainer) -> Self {
        let status = match c.status {
            ContainerStatus::Running => ContainerState::Running,
            ContainerStatus::Created => ContainerState::Created,
            ContainerStatus::Paused => ContainerState::Paused,
            ContainerStatus::Restarting => ContainerState::Restarting,
            ContainerStatus::Exited | ContainerStatus::Removing => ContainerState::Exited,
            ContainerStatus::Dead => ContainerState::Dead,
        };
        Self {
            member: c.label(labels::MEMBER).unwrap_or(&c.name).to_string(),
            container: c.name.clone(),
            component: c.label(labels::COMPONENT).unwrap_or("").to_string(),
            status,
            exit_code: c.exit_code,
            oom_killed: c.oom_killed,
            finished_at: c.finished_at,
            disconnected: c.status == ContainerStatus::Running && c.ip.is_none(),
        }
    }

    /// A wanted container that does not exist.
    pub(crate) fn missing(member: &str, container: &str, component: &str) -> Self {
        Self {
            member: member.to_string(),
            container: container.to_string(),
            component: component.to_string(),
            status: ContainerState::Missing,
            exit_code: None,
            oom_killed: false,
            finished_at: None,
            disconnected: false,
        }
    }
}

/// A direct probe of a store's status port (`GET /status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusProbe {
    /// Store id (from PD).
    pub store_id: u64,
    /// The status address probed.
    pub address: String,
    /// 2xx within the timeout.
    pub ok: bool,
    /// What failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Round-trip time.
    pub latency_ms: f64,
}

/// Per-store values from Prometheus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSample {
    /// When the queries ran.
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// The PromQL behind each field (`grpc_p99_seconds` → expression), cited as evidence.
    #[serde(default)]
    pub queries: std::collections::BTreeMap<String, String>,
    /// One entry per TiKV instance.
    pub stores: Vec<StoreMetrics>,
}

/// Metric values of one TiKV instance; `None` = no sample.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StoreMetrics {
    /// Store id, when the instance could be matched to a PD store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<u64>,
    /// Prometheus `instance` label (`demo-tikv-0:20180`).
    pub instance: String,
    /// Requests per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qps: Option<f64>,
    /// gRPC p99 latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_p99_seconds: Option<f64>,
    /// Raft append-log p99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append_p99_seconds: Option<f64>,
    /// Raft apply-log p99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_p99_seconds: Option<f64>,
    /// Slow score (1..100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_score: Option<f64>,
    /// Available bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_bytes: Option<f64>,
    /// Capacity bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<f64>,
    /// Leaders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_count: Option<f64>,
    /// Regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_count: Option<f64>,
    /// This store's share of the cluster's QPS (0..1), when computed by the sampler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_qps_share: Option<f64>,
    /// Raft commit-log p99 (`tikv_raftstore_commit_log_duration_seconds`): rises on a
    /// slow disk and on the peers of a store whose network is degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_p99_seconds: Option<f64>,
    /// Propose wait p99 (`tikv_raftstore_request_wait_time_duration_secs`): rises when
    /// the store's raft messages are delayed (network) or its raftstore is CPU-bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propose_wait_p99_seconds: Option<f64>,
    /// Unified read-pool schedule wait p99 (`tikv_yatp_pool_schedule_wait_duration`,
    /// `name="unified-read-pool"`): rises when the store's CPU is saturated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_pool_wait_p99_seconds: Option<f64>,
    /// CPU cores busy over the window: the rate of `tikv_thread_cpu_seconds_total`
    /// summed over the store's threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_cpu_cores: Option<f64>,
    /// Busiest thread pool's CPU over the window, in cores per thread (0..1): a pool near
    /// 1 is saturated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_thread_cpu: Option<f64>,
    /// Resident memory (`process_resident_memory_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<f64>,
}

/// A runtime event about a PD or TiKV container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeEventFact {
    /// Container name.
    pub container: String,
    /// Member name, when labelled.
    #[serde(default)]
    pub member: String,
    /// Component, when labelled.
    #[serde(default)]
    pub component: String,
    /// When.
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// `die`, `oom`, `kill`, `restart`, … (Docker's action).
    pub action: String,
    /// Exit code (die).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// OOM involved.
    #[serde(default)]
    pub oom_killed: bool,
    /// Signal (kill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

impl RuntimeEventFact {
    /// Converts a runtime event.
    pub(crate) fn from_event(e: &RuntimeEvent) -> Self {
        let label = |k: &str| e.labels.get(k).cloned().unwrap_or_default();
        Self {
            container: e.container.clone(),
            member: label(labels::MEMBER),
            component: label(labels::COMPONENT),
            at: e.time,
            action: e.raw_action.clone(),
            exit_code: e.exit_code,
            oom_killed: e.action == EventAction::Oom,
            signal: e.signal.clone(),
        }
    }

    /// One line for evidence: `die exit_code=137 oom_killed=true`.
    pub(crate) fn describe(&self) -> String {
        let mut s = self.action.clone();
        if let Some(c) = self.exit_code {
            s.push_str(&format!(" exit_code={c}"));
        }
        if self.oom_killed {
            s.push_str(" oom_killed=true");
        }
        if let Some(sig) = &self.signal {
            s.push_str(&format!(" signal={sig}"));
        }
        s
    }
}

/// A notable log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFact {
    /// Container name.
    pub container: String,
    /// When it was logged.
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// `FATAL`, `ERROR`, `WARN`, `INFO`, …
    pub level: String,
    /// The message (unified log format's message field).
    pub message: String,
    /// Classification by the log scanner (`pd-heartbeat-failed`, `slow-write`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Drain progress of an Offline store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineProgress {
    /// Store id.
    pub store_id: u64,
    /// When it was first seen Offline.
    #[serde(with = "rfc3339")]
    pub offline_since: SystemTime,
    /// Its region count at the last progress.
    pub region_count: u64,
    /// When its region count last went down (or `offline_since`).
    #[serde(with = "rfc3339")]
    pub last_progress_at: SystemTime,
}

/// Refreshes the Offline progress list from PD's view.
///
/// # Guarantees
/// Keeps exactly the stores PD shows Offline; a store's `last_progress_at` moves to `now`
/// only when its region count went down; a store seen Offline for the first time starts
/// at `now`.
pub fn update_offline_progress(
    previous: &[OfflineProgress],
    pd: &PdView,
    now: SystemTime,
) -> Vec<OfflineProgress> {
    pd.stores
        .iter()
        .filter(|s| s.state == StoreState::Offline)
        .map(|s| match previous.iter().find(|p| p.store_id == s.id) {
            Some(p) if s.region_count < p.region_count => OfflineProgress {
                region_count: s.region_count,
                last_progress_at: now,
                ..*p
            },
            // No progress: keep the low-water mark and its time.
            Some(p) => *p,
            None => OfflineProgress {
                store_id: s.id,
                offline_since: now,
                region_count: s.region_count,
                last_progress_at: now,
            },
        })
        .collect()
}

/// TiKV's own sections of the diagnosis context, before the generic ones: PD's view
/// (`pd_state`, also the citation kind of a PD state path) and PD's error.
pub(crate) const CONTEXT_SECTIONS: &[crate::diagnose::store_queue::SnapshotSection] = &[
    crate::diagnose::store_queue::SnapshotSection {
        field: "pd",
        name: "pd_state",
        relevance: 80,
        omit_empty: false,
    },
    crate::diagnose::store_queue::SnapshotSection {
        field: "pd_error",
        name: "pd_error",
        relevance: 90,
        omit_empty: false,
    },
    // What the operator itself is doing (a planned restart, an upgrade): work it knows
    // of is not a fault.
    crate::diagnose::store_queue::SnapshotSection {
        field: "upgrading_store_ids",
        name: "operator_planned_work",
        relevance: 85,
        omit_empty: true,
    },
];
