//! The TiKV subject's invariants: pure, table-driven checks over a [`TikvSnapshot`] that
//! produce generic [`Violation`]s for the ticket core.
//!
//! Each entry of [`INVARIANTS`] has a stable name (the ticket's `invariant`), a severity
//! policy, a grace from [`Thresholds`], and a check that reports, per target, either a
//! violation with concrete evidence (store id, metric series and value, PD's store record,
//! log lines and runtime events from the snapshot) or that the invariant *holds*. A target
//! the snapshot cannot speak about (PD unreachable, no metric sample) is reported as
//! neither, so the ticket lifecycle neither opens nor resolves anything on missing data.
//!
//! Targets are stable across data sources: a store is named by its member (`tikv-2`) when
//! a container can be matched to its address, else `store-<id>`, so a store that dies
//! (container fact) and then goes Disconnected (PD fact) stays one ticket.
//!
//! The operator's own blindness is an invariant too: PD or Prometheus unreachable open
//! tickets of their own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::{Store, StoreState};
use super::snapshot::{ContainerFact, ContainerState, StoreMetrics, TikvSnapshot};
use crate::tickets::model::{
    dedupe_key, humantime_serde_compat, EventEvidence, Evidence, LogEvidence, MetricEvidence,
    Severity, Violation,
};

/// The subject name used in every violation.
pub(crate) const SUBJECT: &str = "tikv";

/// Errors of [`Thresholds::from_spec`].
#[derive(Debug, thiserror::Error)]
pub enum ThresholdsError {
    /// A key or value in `spec.invariants` is wrong.
    #[error("spec.invariants: {0}")]
    Invalid(String),
    /// `disabled` names an invariant that does not exist.
    #[error("spec.invariants.disabled: unknown invariant {0:?} (known: {1})")]
    UnknownInvariant(String, String),
}

/// Thresholds and graces of the invariants (`spec.invariants`, camelCase keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Thresholds {
    /// Invariants to skip entirely.
    pub disabled: Vec<String>,
    /// Grace of store-down when the store's status port stops answering or its
    /// container is paused: two failed probes this far apart open the ticket. A container
    /// that exited, and a store PD reports Disconnected or Down (PD has already waited
    /// 20 s for a heartbeat), open a ticket at once.
    #[serde(with = "humantime_serde_compat")]
    pub store_down_grace: Duration,
    /// Grace of store-down for a store the operator is upgrading (a planned restart).
    #[serde(with = "humantime_serde_compat")]
    pub upgrade_restart_grace: Duration,
    /// Grace of pd-member-unhealthy.
    #[serde(with = "humantime_serde_compat")]
    pub pd_member_grace: Duration,
    /// Grace of pd-no-leader and pd-quorum-lost.
    #[serde(with = "humantime_serde_compat")]
    pub pd_leader_grace: Duration,
    /// Grace of pd-unreachable.
    #[serde(with = "humantime_serde_compat")]
    pub pd_unreachable_grace: Duration,
    /// Grace of prometheus-unreachable.
    #[serde(with = "humantime_serde_compat")]
    pub prometheus_unreachable_grace: Duration,
    /// Regions missing peers at or above which regions-miss-peer fires.
    pub miss_peer_regions: u64,
    /// Regions with down peers at or above which regions-down-peer fires.
    pub down_peer_regions: u64,
    /// Regions with pending peers at or above which regions-pending-peer fires.
    pub pending_peer_regions: u64,
    /// Regions with offline peers at or above which regions-offline-peer fires.
    pub offline_peer_regions: u64,
    /// Grace of the region-health invariants.
    #[serde(with = "humantime_serde_compat")]
    pub region_health_grace: Duration,
    /// Max/min leader count ratio across Up stores above which leader-imbalance fires.
    pub leader_imbalance_ratio: f64,
    /// Max/min region count ratio across Up stores above which region-imbalance fires.
    pub region_imbalance_ratio: f64,
    /// Imbalance is ignored while the largest count is below this (small clusters are
    /// noisy), unless the largest is twice the stores' mean and a quarter of this above
    /// the smallest.
    pub imbalance_min_count: u64,
    /// Grace of the imbalance invariants.
    #[serde(with = "humantime_serde_compat")]
    pub imbalance_grace: Duration,
    /// A store serving more than this share of the cluster's QPS is hot.
    pub hot_store_qps_share: f64,
    /// Hot-store detection is off while the cluster serves fewer QPS than this.
    pub hot_store_min_qps: f64,
    /// How long a store must stay hot (the grace of hot-store).
    #[serde(with = "humantime_serde_compat")]
    pub hot_store_for: Duration,
    /// Available/capacity below which disk-pressure fires; default `1 - low-space-ratio`
    /// from PD's schedule config (0.2 when unknown).
    pub disk_available_ratio: Option<f64>,
    /// Grace of disk-pressure.
    #[serde(with = "humantime_serde_compat")]
    pub disk_pressure_grace: Duration,
    /// gRPC p99 above which grpc-p99-high fires (seconds).
    pub grpc_p99_seconds: f64,
    /// Raft append-log p99 above which raft-append-p99-high fires (seconds).
    pub raft_append_p99_seconds: f64,
    /// Raft apply-log p99 above which raft-apply-p99-high fires (seconds).
    pub raft_apply_p99_seconds: f64,
    /// Grace of the latency invariants.
    #[serde(with = "humantime_serde_compat")]
    pub latency_grace: Duration,
    /// Slow score at or above which slow-store fires (PD treats ≥ 80 as slow).
    pub slow_score: f64,
    /// Grace of slow-store.
    #[serde(with = "humantime_serde_compat")]
    pub slow_store_grace: Duration,
    /// Grace of evict-leader-leftover.
    #[serde(with = "humantime_serde_compat")]
    pub evict_leader_leftover_grace: Duration,
    /// An Offline store whose region count has not gone down for this long is stuck.
    #[serde(with = "humantime_serde_compat")]
    pub offline_stuck_after: Duration,
    /// store-outlier: a store's signal this many times its peers' median (and more than
    /// the signal's noise floor above it) is an outlier.
    pub outlier_factor: f64,
    /// store-outlier needs at least this many stores reporting a signal (the median of
    /// two is no reference).
    pub outlier_min_stores: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            disabled: Vec::new(),
            store_down_grace: s(1),
            upgrade_restart_grace: s(120),
            pd_member_grace: s(30),
            pd_leader_grace: s(15),
            pd_unreachable_grace: s(15),
            prometheus_unreachable_grace: s(60),
            miss_peer_regions: 1,
            down_peer_regions: 1,
            pending_peer_regions: 1,
            offline_peer_regions: 1,
            region_health_grace: s(60),
            leader_imbalance_ratio: 1.5,
            region_imbalance_ratio: 1.5,
            imbalance_min_count: 20,
            imbalance_grace: s(300),
            hot_store_qps_share: 0.6,
            hot_store_min_qps: 100.0,
            hot_store_for: s(120),
            disk_available_ratio: None,
            disk_pressure_grace: s(60),
            grpc_p99_seconds: 0.5,
            raft_append_p99_seconds: 0.5,
            raft_apply_p99_seconds: 0.5,
            latency_grace: s(60),
            slow_score: 80.0,
            slow_store_grace: s(30),
            evict_leader_leftover_grace: s(60),
            offline_stuck_after: s(600),
            outlier_factor: 3.0,
            outlier_min_stores: 3,
        }
    }
}

impl Thresholds {
    /// Reads `spec.invariants`; missing keys take their defaults.
    ///
    /// # Guarantees
    /// An unknown key is an error naming the key; so is a `disabled` entry that names no
    /// invariant.
    pub fn from_spec(map: &BTreeMap<String, yaml_serde::Value>) -> Result<Self, ThresholdsError> {
        let value =
            yaml_serde::to_value(map).map_err(|e| ThresholdsError::Invalid(e.to_string()))?;
        let t: Thresholds =
            yaml_serde::from_value(value).map_err(|e| ThresholdsError::Invalid(e.to_string()))?;
        for name in &t.disabled {
            if !INVARIANTS.iter().any(|i| i.name == name) {
                let known: Vec<&str> = INVARIANTS.iter().map(|i| i.name).collect();
                return Err(ThresholdsError::UnknownInvariant(
                    name.clone(),
                    known.join(", "),
                ));
            }
        }
        Ok(t)
    }
}

/// One invariant of the table.
pub(crate) struct Invariant {
    /// Stable name (the ticket's `invariant`).
    pub name: &'static str,
    check: fn(&Ctx<'_>) -> Vec<Outcome>,
}

enum Outcome {
    Violated {
        target: String,
        severity: Severity,
        summary: String,
        evidence: Evidence,
        grace: Duration,
    },
    Holds(String),
}

/// The result of checking every invariant on one snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// What is wrong.
    pub violations: Vec<Violation>,
    /// Dedupe keys checked and found fine (feeds auto-resolve).
    pub holding: Vec<String>,
}

/// The invariant table, in check order.
pub(crate) static INVARIANTS: &[Invariant] = &[
    Invariant {
        name: "store-down",
        check: store_down,
    },
    Invariant {
        name: "pd-member-unhealthy",
        check: pd_member_unhealthy,
    },
    Invariant {
        name: "pd-no-leader",
        check: pd_no_leader,
    },
    Invariant {
        name: "pd-quorum-lost",
        check: pd_quorum_lost,
    },
    Invariant {
        name: "regions-miss-peer",
        check: regions_miss_peer,
    },
    Invariant {
        name: "regions-down-peer",
        check: regions_down_peer,
    },
    Invariant {
        name: "regions-pending-peer",
        check: regions_pending_peer,
    },
    Invariant {
        name: "regions-offline-peer",
        check: regions_offline_peer,
    },
    Invariant {
        name: "leader-imbalance",
        check: leader_imbalance,
    },
    Invariant {
        name: "region-imbalance",
        check: region_imbalance,
    },
    Invariant {
        name: "hot-store",
        check: hot_store,
    },
    Invariant {
        name: "disk-pressure",
        check: disk_pressure,
    },
    Invariant {
        name: "grpc-p99-high",
        check: grpc_p99_high,
    },
    Invariant {
        name: "raft-append-p99-high",
        check: raft_append_p99_high,
    },
    Invariant {
        name: "raft-apply-p99-high",
        check: raft_apply_p99_high,
    },
    Invariant {
        name: "store-outlier",
        check: store_outlier,
    },
    Invariant {
        name: "slow-store",
        check: slow_store,
    },
    Invariant {
        name: "evict-leader-leftover",
        check: evict_leader_leftover,
    },
    Invariant {
        name: "store-offline-stuck",
        check: store_offline_stuck,
    },
    Invariant {
        name: "pd-unreachable",
        check: pd_unreachable,
    },
    Invariant {
        name: "prometheus-unreachable",
        check: prometheus_unreachable,
    },
];

/// The violations in `snapshot`.
pub fn check(snapshot: &TikvSnapshot, thresholds: &Thresholds) -> Vec<Violation> {
    evaluate(snapshot, thresholds).violations
}

/// The violations in `snapshot` and the dedupe keys that were checked and hold.
///
/// # Guarantees
/// Pure; at most one violation per (invariant, target); a key is never both violated and
/// holding; disabled invariants report nothing.
pub fn evaluate(snapshot: &TikvSnapshot, thresholds: &Thresholds) -> Evaluation {
    let ctx = Ctx::new(snapshot, thresholds);
    let mut out = Evaluation::default();
    for inv in INVARIANTS {
        if thresholds.disabled.iter().any(|d| d == inv.name) {
            continue;
        }
        let mut violated: BTreeSet<String> = BTreeSet::new();
        let outcomes = (inv.check)(&ctx);
        let mut holds = Vec::new();
        for o in outcomes {
            match o {
                Outcome::Violated {
                    target,
                    severity,
                    summary,
                    evidence,
                    grace,
                } => {
                    if violated.insert(target.clone()) {
                        out.violations.push(Violation {
                            subject: SUBJECT.into(),
                            invariant: inv.name.into(),
                            target,
                            severity,
                            summary,
                            evidence,
                            grace,
                        });
                    }
                }
                Outcome::Holds(target) => holds.push(target),
            }
        }
        let mut seen = BTreeSet::new();
        for target in holds {
            if !violated.contains(&target) && seen.insert(target.clone()) {
                out.holding.push(dedupe_key(SUBJECT, inv.name, &target));
            }
        }
    }
    out
}

struct Ctx<'a> {
    s: &'a TikvSnapshot,
    t: &'a Thresholds,
    /// Containers by (component, container name) and (component, member name): the
    /// lookups every per-store check makes, so a pass stays linear in the stores.
    containers: HashMap<(&'a str, &'a str), &'a ContainerFact>,
    /// PD's stores by id.
    stores: HashMap<u64, &'a Store>,
}

fn host(address: &str) -> &str {
    let a = address
        .strip_prefix("http://")
        .or_else(|| address.strip_prefix("https://"))
        .unwrap_or(address);
    a.rsplit_once(':').map(|(h, _)| h).unwrap_or(a)
}

impl<'a> Ctx<'a> {
    fn new(s: &'a TikvSnapshot, t: &'a Thresholds) -> Self {
        let mut containers = HashMap::new();
        // First match wins, as a linear scan would find it.
        for c in &s.containers {
            containers
                .entry((c.component.as_str(), c.container.as_str()))
                .or_insert(c);
        }
        for c in &s.containers {
            containers
                .entry((c.component.as_str(), c.member.as_str()))
                .or_insert(c);
        }
        let mut stores = HashMap::new();
        if let Some(pd) = &s.pd {
            for st in &pd.stores {
                stores.entry(st.id).or_insert(st);
            }
        }
        Self {
            s,
            t,
            containers,
            stores,
        }
    }

    fn container_for_host(&self, h: &str, component: &str) -> Option<&'a ContainerFact> {
        self.containers.get(&(component, h)).copied()
    }

    fn store(&self, id: u64) -> Option<&'a Store> {
        self.stores.get(&id).copied()
    }

    /// Member name of the store's container when one matches its address, else `store-<id>`.
    fn store_target(&self, store: &Store) -> String {
        match self.container_for_host(host(&store.address), "tikv") {
            Some(c) => c.member.clone(),
            None => format!("store-{}", store.id),
        }
    }

    fn target_for(&self, store_id: Option<u64>, instance: &str) -> String {
        if let Some(s) = store_id.and_then(|id| self.store(id)) {
            return self.store_target(s);
        }
        if let Some(c) = self.container_for_host(host(instance), "tikv") {
            return c.member.clone();
        }
        match store_id {
            Some(id) => format!("store-{id}"),
            None => host(instance).to_string(),
        }
    }

    fn evidence(&self) -> Evidence {
        Evidence::at(self.s.at)
    }

    /// Log lines and runtime events of these containers/members, latest last.
    fn add_container_context(&self, e: &mut Evidence, names: &[&str]) {
        let matches = |c: &str| names.contains(&c);
        let mut logs: Vec<_> = self
            .s
            .logs
            .iter()
            .filter(|l| matches(&l.container))
            .collect();
        logs.sort_by_key(|l| l.at);
        let skip = logs.len().saturating_sub(10);
        for l in logs.into_iter().skip(skip) {
            e.logs.push(LogEvidence {
                source: l.container.clone(),
                at: l.at,
                line: format!("[{}] {}", l.level, l.message),
            });
        }
        let mut evs: Vec<_> = self
            .s
            .events
            .iter()
            .filter(|ev| matches(&ev.container) || (!ev.member.is_empty() && matches(&ev.member)))
            .collect();
        evs.sort_by_key(|ev| ev.at);
        let skip = evs.len().saturating_sub(10);
        for ev in evs.into_iter().skip(skip) {
            e.events.push(EventEvidence {
                source: ev.container.clone(),
                at: ev.at,
                what: ev.describe(),
            });
        }
    }

    fn store_context(&self, e: &mut Evidence, store: Option<&Store>, target: &str) {
        let mut names: Vec<&str> = vec![target];
        if let Some(s) = store {
            if let Some(c) = self.container_for_host(host(&s.address), "tikv") {
                names.push(&c.container);
                names.push(&c.member);
            }
        }
        if let Some(c) = self
            .s
            .containers
            .iter()
            .find(|c| c.component == "tikv" && c.member == target)
        {
            names.push(&c.container);
        }
        self.add_container_context(e, &names);
    }

    fn metric(&self, field: &str, instance: &str, value: f64) -> MetricEvidence {
        let at = self.s.metrics.as_ref().map(|m| m.at).unwrap_or(self.s.at);
        let series = match self.s.metrics.as_ref().and_then(|m| m.queries.get(field)) {
            Some(q) => format!("{q} {{instance=\"{instance}\"}}"),
            None => format!("{field}{{instance=\"{instance}\"}}"),
        };
        MetricEvidence { series, value, at }
    }

    fn pd_metric(&self, field: &str, store_id: u64, value: f64) -> MetricEvidence {
        MetricEvidence {
            series: format!("pd_store_{field}{{store_id=\"{store_id}\"}}"),
            value,
            at: self.s.at,
        }
    }

    fn up_stores(&self) -> Vec<&'a Store> {
        match &self.s.pd {
            Some(pd) => pd
                .stores
                .iter()
                .filter(|s| s.state == StoreState::Up)
                .collect(),
            None => Vec::new(),
        }
    }
}

fn secs(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

fn store_json(store: &Store) -> serde_json::Value {
    serde_json::to_value(store).unwrap_or(serde_json::Value::Null)
}

// ---------------------------------------------------------------------------------------
// store-down

#[derive(Default)]
struct Unit<'a> {
    store: Option<&'a Store>,
    container: Option<&'a ContainerFact>,
    probe: Option<&'a super::snapshot::StatusProbe>,
}

fn store_down(ctx: &Ctx<'_>) -> Vec<Outcome> {
    let s = ctx.s;
    let mut units: BTreeMap<String, Unit<'_>> = BTreeMap::new();
    if let Some(pd) = &s.pd {
        for st in pd
            .stores
            .iter()
            .filter(|st| st.state != StoreState::Tombstone)
        {
            units.entry(ctx.store_target(st)).or_default().store = Some(st);
        }
    }
    for c in s.containers.iter().filter(|c| c.component == "tikv") {
        units.entry(c.member.clone()).or_default().container = Some(c);
    }
    for p in &s.probes {
        let target = ctx.target_for(Some(p.store_id), &p.address);
        let u = units.entry(target).or_default();
        u.probe = Some(p);
    }

    let mut out = Vec::new();
    for (target, u) in units {
        let store_id = u.store.map(|st| st.id).or(u.probe.map(|p| p.store_id));
        let upgrading = store_id.is_some_and(|id| s.upgrading_store_ids.contains(&id));
        let slow_grace = if upgrading {
            ctx.t.store_down_grace.max(ctx.t.upgrade_restart_grace)
        } else {
            ctx.t.store_down_grace
        };
        let mut reasons: Vec<String> = Vec::new();
        let mut grace = Duration::MAX;
        let mut positive = false;
        let mut e = ctx.evidence();
        if let Some(c) = u.container {
            match c.status {
                ContainerState::Running if c.disconnected => {
                    reasons.push(format!(
                        "container {} runs but has no address on the cluster network (disconnected)",
                        c.container
                    ));
                    // A definite state, like an exit: no grace, unless it is planned.
                    grace = grace.min(if upgrading {
                        slow_grace
                    } else {
                        Duration::ZERO
                    });
                }
                ContainerState::Running => positive = true,
                ContainerState::Exited | ContainerState::Dead => {
                    let mut r = format!("container {} {}", c.container, c.status.name());
                    if let Some(code) = c.exit_code {
                        r.push_str(&format!(" with exit code {code}"));
                    }
                    if c.oom_killed {
                        r.push_str(" (OOM-killed)");
                    }
                    reasons.push(r);
                    // A dead process is not a blip, unless the operator is restarting it.
                    grace = grace.min(if upgrading {
                        slow_grace
                    } else {
                        Duration::ZERO
                    });
                }
                other => {
                    reasons.push(format!("container {} is {}", c.container, other.name()));
                    grace = grace.min(slow_grace);
                }
            }
        }
        if let Some(p) = u.probe {
            if p.ok {
                positive = true;
            } else {
                reasons.push(format!(
                    "status probe of {} failed: {}",
                    p.address,
                    p.error.as_deref().unwrap_or("no answer")
                ));
                grace = grace.min(slow_grace);
            }
            e.metrics.push(MetricEvidence {
                series: format!("status_probe_latency_ms{{address=\"{}\"}}", p.address),
                value: p.latency_ms,
                at: s.at,
            });
        }
        if let Some(st) = u.store {
            match st.state {
                StoreState::Disconnected | StoreState::Down => {
                    let ago =
                        s.at.duration_since(
                            std::time::UNIX_EPOCH
                                + Duration::from_nanos(st.last_heartbeat_unix_nanos.max(0) as u64),
                        )
                        .unwrap_or_default();
                    reasons.push(format!(
                        "PD reports store {} {} (last heartbeat {} ago)",
                        st.id,
                        st.state.name(),
                        secs(ago)
                    ));
                    // PD has already waited 20 s without a heartbeat before saying
                    // Disconnected: the operator's own grace would only add to it.
                    grace = grace.min(if upgrading {
                        slow_grace
                    } else {
                        Duration::ZERO
                    });
                }
                StoreState::Up => positive = true,
                _ => {}
            }
            e.state = store_json(st);
        }
        if reasons.is_empty() {
            if positive {
                out.push(Outcome::Holds(target));
            }
            continue;
        }
        ctx.store_context(&mut e, u.store, &target);
        let who = match store_id {
            Some(id) => format!("store {id} ({target})"),
            None => target.clone(),
        };
        out.push(Outcome::Violated {
            summary: format!("{who} is down: {}", reasons.join("; ")),
            target,
            severity: Severity::Critical,
            evidence: e,
            grace,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------
// PD

fn pd_member_unhealthy(ctx: &Ctx<'_>) -> Vec<Outcome> {
    let s = ctx.s;
    let mut names: BTreeSet<&str> = s.pd_members_expected.iter().map(String::as_str).collect();
    if let Some(pd) = &s.pd {
        names.extend(pd.members.iter().map(|m| m.name.as_str()));
    }
    let quorum_ok = pd_healthy_count(ctx).is_none_or(|(healthy, expected)| healthy > expected / 2);
    let mut out = Vec::new();
    for name in names {
        let container = s
            .containers
            .iter()
            .find(|c| c.component == "pd" && c.member == name);
        let member =
            s.pd.as_ref()
                .and_then(|pd| pd.members.iter().find(|m| m.name == name));
        let mut reasons = Vec::new();
        let mut grace = ctx.t.pd_member_grace;
        let mut positive = false;
        let mut e = ctx.evidence();
        if let Some(c) = container {
            match c.status {
                ContainerState::Running => positive = true,
                ContainerState::Exited | ContainerState::Dead => {
                    let mut r = format!("container {} {}", c.container, c.status.name());
                    if let Some(code) = c.exit_code {
                        r.push_str(&format!(" with exit code {code}"));
                    }
                    if c.oom_killed {
                        r.push_str(" (OOM-killed)");
                    }
                    reasons.push(r);
                    grace = Duration::ZERO;
                }
                other => reasons.push(format!("container {} is {}", c.container, other.name())),
            }
        }
        if let Some(pd) = &s.pd {
            match member {
                Some(m) => match m.healthy {
                    Some(true) => positive = true,
                    Some(false) => {
                        reasons.push(format!("PD health check reports {name} unhealthy"))
                    }
                    None => {}
                },
                None if pd.bootstrapped || !pd.members.is_empty() => {
                    reasons.push(format!("{name} is not in PD's member list"));
                }
                None => {}
            }
        }
        let mut ctx_names = vec![name];
        if let Some(c) = container {
            ctx_names.push(&c.container);
        }
        if reasons.is_empty() {
            if positive {
                out.push(Outcome::Holds(name.to_string()));
            }
            continue;
        }
        e.state = serde_json::json!({
            "member": member,
            "container": container,
            "pd_members": s.pd.as_ref().map(|pd| pd.members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>()),
            "pd_members_expected": s.pd_members_expected,
        });
        ctx.add_container_context(&mut e, &ctx_names);
        out.push(Outcome::Violated {
            target: name.to_string(),
            severity: if quorum_ok {
                Severity::Warning
            } else {
                Severity::Critical
            },
            summary: format!("PD member {name} is unhealthy: {}", reasons.join("; ")),
            evidence: e,
            grace,
        });
    }
    out
}

/// (healthy members, wanted members), when known.
fn pd_healthy_count(ctx: &Ctx<'_>) -> Option<(usize, usize)> {
    let s = ctx.s;
    let pd_containers: Vec<&ContainerFact> = s
        .containers
        .iter()
        .filter(|c| c.component == "pd")
        .collect();
    let expected = if !s.pd_members_expected.is_empty() {
        s.pd_members_expected.len()
    } else if let Some(pd) = &s.pd {
        pd.members.len()
    } else {
        pd_containers.len()
    };
    if expected == 0 {
        return None;
    }
    let health_known =
        s.pd.as_ref()
            .is_some_and(|pd| pd.members.iter().any(|m| m.healthy.is_some()));
    let healthy = if health_known {
        s.pd.as_ref()
            .map(|pd| {
                pd.members
                    .iter()
                    .filter(|m| m.healthy == Some(true))
                    .count()
            })
            .unwrap_or(0)
    } else if !pd_containers.is_empty() {
        pd_containers
            .iter()
            .filter(|c| c.status == ContainerState::Running)
            .count()
    } else {
        return None;
    };
    Some((healthy, expected))
}

fn pd_no_leader(ctx: &Ctx<'_>) -> Vec<Outcome> {
    let Some(pd) = &ctx.s.pd else {
        return Vec::new();
    };
    if pd.leader.is_some() {
        return vec![Outcome::Holds("pd".into())];
    }
    let mut e = ctx.evidence();
    e.state = serde_json::json!({
        "endpoint": pd.endpoint,
        "members": pd.members,
        "leader": null,
    });
    let names: Vec<&str> = pd.members.iter().map(|m| m.name.as_str()).collect();
    ctx.add_container_context(&mut e, &names);
    vec![Outcome::Violated {
        target: "pd".into(),
        severity: Severity::Critical,
        summary: format!(
            "PD at {} has no leader ({} member(s) listed)",
            pd.endpoint,
            pd.members.len()
        ),
        evidence: e,
        grace: ctx.t.pd_leader_grace,
    }]
}

fn pd_quorum_lost(ctx: &Ctx<'_>) -> Vec<Outcome> {
    let Some((healthy, expected)) = pd_healthy_count(ctx) else {
        return Vec::new();
    };
    let quorum = expected / 2 + 1;
    if healthy >= quorum {
        return vec![Outcome::Holds("pd".into())];
    }
    let mut e = ctx.evidence();
    e.metrics.push(MetricEvidence {
        series: "pd_healthy_members".into(),
        value: healthy as f64,
        at: ctx.s.at,
    });
    e.metrics.push(MetricEvidence {
        series: "pd_members_wanted".into(),
        value: expected as f64,
        at: ctx.s.at,
    });
    if let Some(pd) = &ctx.s.pd {
        e.state = serde_json::json!({ "members": pd.members });
    }
    let pd_names: Vec<&str> = ctx
        .s
        .containers
        .iter()
        .filter(|c| c.component == "pd")
        .flat_map(|c| [c.container.as_str(), c.member.as_str()])
        .collect();
    ctx.add_container_context(&mut e, &pd_names);
    vec![Outcome::Violated {
        target: "pd".into(),
        severity: Severity::Critical,
        summary: format!(
            "PD has lost quorum: {healthy} of {expected} members healthy, {quorum} needed"
        ),
        evidence: e,
        grace: ctx.t.pd_leader_grace,
    }]
}

fn pd_unreachable(ctx: &Ctx<'_>) -> Vec<Outcome> {
    match (&ctx.s.pd, &ctx.s.pd_error) {
        (Some(_), _) => vec![Outcome::Holds("pd".into())],
        (None, Some(err)) => {
            let mut e = ctx.evidence();
            e.state = serde_json::json!({ "error": err });
            let names: Vec<&str> = ctx
                .s
                .containers
                .iter()
                .filter(|c| c.component == "pd")
                .flat_map(|c| [c.container.as_str(), c.member.as_str()])
                .collect();
            ctx.add_container_context(&mut e, &names);
            vec![Outcome::Violated {
                target: "pd".into(),
                severity: Severity::Critical,
                summary: format!("the operator cannot reach PD: {err}"),
                evidence: e,
                grace: ctx.t.pd_unreachable_grace,
            }]
        }
        (None, None) => Vec::new(),
    }
}

fn prometheus_unreachable(ctx: &Ctx<'_>) -> Vec<Outcome> {
    match (&ctx.s.metrics, &ctx.s.prometheus_error) {
        (Some(_), _) => vec![Outcome::Holds("prometheus".into())],
        (None, Some(err)) => {
            let mut e = ctx.evidence();
            e.state = serde_json::json!({ "error": err });
            ctx.add_container_context(&mut e, &["prometheus"]);
            vec![Outcome::Violated {
                target: "prometheus".into(),
                severity: Severity::Warning,
                summary: format!("the operator cannot reach Prometheus: {err}"),
                evidence: e,
                grace: ctx.t.prometheus_unreachable_grace,
            }]
        }
        (None, None) => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Region health

fn region_check(
    ctx: &Ctx<'_>,
    kind: &str,
    count: impl Fn(&super::model::RegionHealth) -> u64,
    threshold: u64,
    severity: Severity,
    meaning: &str,
) -> Vec<Outcome> {
    let Some(rh) = ctx.s.pd.as_ref().and_then(|pd| pd.region_health) else {
        return Vec::new();
    };
    let n = count(&rh);
    if n < threshold.max(1) {
        return vec![Outcome::Holds("cluster".into())];
    }
    let mut e = ctx.evidence();
    e.metrics.push(MetricEvidence {
        series: format!("pd_regions_status{{type=\"{kind}-region-count\"}}"),
        value: n as f64,
        at: ctx.s.at,
    });
    e.state = serde_json::to_value(rh).unwrap_or_default();
    if let Some(pd) = &ctx.s.pd {
        let offline: Vec<u64> = pd
            .stores
            .iter()
            .filter(|s| !matches!(s.state, StoreState::Up | StoreState::Tombstone))
            .map(|s| s.id)
            .collect();
        if let serde_json::Value::Object(m) = &mut e.state {
            m.insert("stores_not_up".into(), serde_json::json!(offline));
        }
    }
    vec![Outcome::Violated {
        target: "cluster".into(),
        severity,
        // PD's region total is 0 when it could not be read (a PD without
        // `/regions/count`): then the count alone, never "24 of 0".
        summary: if rh.total >= n && rh.total > 0 {
            format!("{n} of {} regions {meaning}", rh.total)
        } else {
            format!("{n} regions {meaning}")
        },
        evidence: e,
        grace: ctx.t.region_health_grace,
    }]
}

fn regions_miss_peer(ctx: &Ctx<'_>) -> Vec<Outcome> {
    region_check(
        ctx,
        "miss-peer",
        |r| r.miss_peer,
        ctx.t.miss_peer_regions,
        Severity::Critical,
        "have fewer peers than max-replicas",
    )
}

fn regions_down_peer(ctx: &Ctx<'_>) -> Vec<Outcome> {
    region_check(
        ctx,
        "down-peer",
        |r| r.down_peer,
        ctx.t.down_peer_regions,
        Severity::Warning,
        "have down peers",
    )
}

fn regions_pending_peer(ctx: &Ctx<'_>) -> Vec<Outcome> {
    region_check(
        ctx,
        "pending-peer",
        |r| r.pending_peer,
        ctx.t.pending_peer_regions,
        Severity::Warning,
        "have pending peers",
    )
}

fn regions_offline_peer(ctx: &Ctx<'_>) -> Vec<Outcome> {
    region_check(
        ctx,
        "offline-peer",
        |r| r.offline_peer,
        ctx.t.offline_peer_regions,
        Severity::Info,
        "have a peer on an Offline store",
    )
}

// ---------------------------------------------------------------------------------------
// Balance and load

fn imbalance(
    ctx: &Ctx<'_>,
    what: &str,
    count: fn(&Store) -> u64,
    ratio_threshold: f64,
    exclude_evicting: bool,
) -> Vec<Outcome> {
    let Some(pd) = &ctx.s.pd else {
        return Vec::new();
    };
    let stores: Vec<&Store> = ctx
        .up_stores()
        .into_iter()
        .filter(|s| {
            !exclude_evicting
                || !(pd.evict_leader_stores.contains(&s.id)
                    || ctx.s.upgrading_store_ids.contains(&s.id))
        })
        .collect();
    if stores.len() < 2 {
        return Vec::new();
    }
    let max = stores.iter().map(|s| count(s)).max().unwrap_or(0);
    let min = stores.iter().map(|s| count(s)).min().unwrap_or(0);
    // Small counts are noisy: the largest must reach `imbalance_min_count`, or (a small
    // cluster, where no store can reach it: 24 regions over 4 stores give each at most
    // 18 leaders) hold twice its fair share with a spread of a quarter of that count.
    let mean = stores.iter().map(|s| count(s)).sum::<u64>() as f64 / stores.len() as f64;
    let skewed_small =
        max as f64 >= 2.0 * mean && max - min >= (ctx.t.imbalance_min_count / 4).max(1);
    if max < ctx.t.imbalance_min_count && !skewed_small {
        return vec![Outcome::Holds("cluster".into())];
    }
    let ratio = if min == 0 {
        f64::INFINITY
    } else {
        max as f64 / min as f64
    };
    if ratio <= ratio_threshold {
        return vec![Outcome::Holds("cluster".into())];
    }
    let mut e = ctx.evidence();
    for s in &stores {
        e.metrics
            .push(ctx.pd_metric(&format!("{what}_count"), s.id, count(s) as f64));
    }
    e.state = serde_json::json!({
        "stores": stores.iter().map(|s| serde_json::json!({
            "id": s.id, "address": s.address, "state": s.state.name(),
            "leader_count": s.leader_count, "region_count": s.region_count,
        })).collect::<Vec<_>>(),
        "schedulers": pd.schedulers,
        "evict_leader_stores": pd.evict_leader_stores,
    });
    let ratio_text = if ratio.is_finite() {
        format!("{ratio:.2}")
    } else {
        "unbounded".into()
    };
    vec![Outcome::Violated {
        target: "cluster".into(),
        severity: Severity::Warning,
        summary: format!(
            "{what} counts across {} Up stores range {min}..{max} (max/min {ratio_text} > {ratio_threshold})",
            stores.len()
        ),
        evidence: e,
        grace: ctx.t.imbalance_grace,
    }]
}

fn leader_imbalance(ctx: &Ctx<'_>) -> Vec<Outcome> {
    imbalance(
        ctx,
        "leader",
        |s| s.leader_count,
        ctx.t.leader_imbalance_ratio,
        true,
    )
}

fn region_imbalance(ctx: &Ctx<'_>) -> Vec<Outcome> {
    imbalance(
        ctx,
        "region",
        |s| s.region_count,
        ctx.t.region_imbalance_ratio,
        false,
    )
}

fn hot_store(ctx: &Ctx<'_>) -> Vec<Outcome> {
    let Some(m) = &ctx.s.metrics else {
        return Vec::new();
    };
    let with_qps: Vec<(&StoreMetrics, f64)> = m
        .stores
        .iter()
        .filter_map(|s| s.qps.map(|q| (s, q)))
        .collect();
    if with_qps.len() < 2 {
        return Vec::new();
    }
    let total: f64 = with_qps.iter().map(|(_, q)| q).sum();
    let mut out = Vec::new();
    for (s, qps) in &with_qps {
        let target = ctx.target_for(s.store_id, &s.instance);
        let share = s
            .hot_qps_share
            .unwrap_or(if total > 0.0 { qps / total } else { 0.0 });
        if total < ctx.t.hot_store_min_qps || share <= ctx.t.hot_store_qps_share {
            out.push(Outcome::Holds(target));
            continue;
        }
        let mut e = ctx.evidence();
        for (o, q) in &with_qps {
            e.metrics.push(ctx.metric("qps", &o.instance, *q));
        }
        e.metrics
            .push(ctx.metric("hot_qps_share", &s.instance, share));
        let store = s.store_id.and_then(|id| ctx.store(id));
        if let Some(st) = store {
            e.state = store_json(st);
        }
        out.push(Outcome::Violated {
            summary: format!(
                "{target} serves {:.0}% of the cluster's {total:.0} QPS ({qps:.0} QPS; threshold {:.0}%)",
                share * 100.0,
                ctx.t.hot_store_qps_share * 100.0
            ),
            target,
            severity: Severity::Warning,
            evidence: e,
            grace: ctx.t.hot_store_for,
        });
    }
    out
}

fn disk_pressure(ctx: &Ctx<'_>) -> Vec<Outcome> {
    let pd_ratio = ctx
        .s
        .pd
        .as_ref()
        .map(|pd| pd.low_space_ratio)
        .filter(|r| *r > 0.0 && *r < 1.0);
    let min_ratio = ctx
        .t
        .disk_available_ratio
        .unwrap_or_else(|| pd_ratio.map(|r| 1.0 - r).unwrap_or(0.2));
    // (target, store, instance, available, capacity, source)
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut consider = |target: String,
                        store: Option<&Store>,
                        series: MetricEvidence,
                        avail: f64,
                        cap: f64,
                        out: &mut Vec<Outcome>| {
        if cap <= 0.0 || !seen.insert(target.clone()) {
            return;
        }
        let ratio = avail / cap;
        if ratio >= min_ratio {
            out.push(Outcome::Holds(target));
            return;
        }
        let mut e = ctx.evidence();
        e.metrics.push(series);
        if let Some(st) = store {
            e.state = store_json(st);
        }
        ctx.store_context(&mut e, store, &target);
        out.push(Outcome::Violated {
            summary: format!(
                "{target} has {:.1}% of its disk available ({} of {} bytes), below {:.0}%",
                ratio * 100.0,
                avail as u64,
                cap as u64,
                min_ratio * 100.0
            ),
            target,
            severity: if ratio < min_ratio / 2.0 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            evidence: e,
            grace: ctx.t.disk_pressure_grace,
        });
    };
    if let Some(pd) = &ctx.s.pd {
        for st in pd
            .stores
            .iter()
            .filter(|s| s.state != StoreState::Tombstone)
        {
            let ratio = if st.capacity_bytes > 0 {
                st.available_bytes as f64 / st.capacity_bytes as f64
            } else {
                0.0
            };
            consider(
                ctx.store_target(st),
                Some(st),
                ctx.pd_metric("available_ratio", st.id, ratio),
                st.available_bytes as f64,
                st.capacity_bytes as f64,
                &mut out,
            );
        }
    }
    if let Some(m) = &ctx.s.metrics {
        for s in &m.stores {
            if let (Some(a), Some(c)) = (s.available_bytes, s.capacity_bytes) {
                let target = ctx.target_for(s.store_id, &s.instance);
                let store = s.store_id.and_then(|id| ctx.store(id));
                let series = ctx.metric("available_bytes", &s.instance, a);
                consider(target, store, series, a, c, &mut out);
            }
        }
    }
    out
}

fn latency(
    ctx: &Ctx<'_>,
    field: &str,
    label: &str,
    get: fn(&StoreMetrics) -> Option<f64>,
    threshold: f64,
) -> Vec<Outcome> {
    let Some(m) = &ctx.s.metrics else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in &m.stores {
        let Some(v) = get(s).filter(|v| v.is_finite()) else {
            continue;
        };
        let target = ctx.target_for(s.store_id, &s.instance);
        if v <= threshold {
            out.push(Outcome::Holds(target));
            continue;
        }
        let mut e = ctx.evidence();
        e.metrics.push(ctx.metric(field, &s.instance, v));
        // The other stores' values: "slow on this store alone" needs the comparison.
        for o in m.stores.iter().filter(|o| o.instance != s.instance) {
            if let Some(ov) = get(o).filter(|v| v.is_finite()) {
                e.metrics.push(ctx.metric(field, &o.instance, ov));
            }
        }
        let store = s.store_id.and_then(|id| ctx.store(id));
        if let Some(st) = store {
            e.state = store_json(st);
        }
        ctx.store_context(&mut e, store, &target);
        out.push(Outcome::Violated {
            summary: format!(
                "{target}: {label} p99 is {:.0} ms (threshold {:.0} ms)",
                v * 1000.0,
                threshold * 1000.0
            ),
            target,
            severity: if v > threshold * 4.0 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            evidence: e,
            grace: ctx.t.latency_grace,
        });
    }
    out
}

fn grpc_p99_high(ctx: &Ctx<'_>) -> Vec<Outcome> {
    latency(
        ctx,
        "grpc_p99_seconds",
        "gRPC",
        |s| s.grpc_p99_seconds,
        ctx.t.grpc_p99_seconds,
    )
}

fn raft_append_p99_high(ctx: &Ctx<'_>) -> Vec<Outcome> {
    latency(
        ctx,
        "append_p99_seconds",
        "raft append-log",
        |s| s.append_p99_seconds,
        ctx.t.raft_append_p99_seconds,
    )
}

fn raft_apply_p99_high(ctx: &Ctx<'_>) -> Vec<Outcome> {
    latency(
        ctx,
        "apply_p99_seconds",
        "raft apply-log",
        |s| s.apply_p99_seconds,
        ctx.t.raft_apply_p99_seconds,
    )
}

/// One signal store-outlier compares across stores: its evidence field name, how people
/// call it, its getter, and its noise floor (the least excess over the peers' median that
/// matters, in the signal's unit).
struct OutlierSignal {
    field: &'static str,
    label: &'static str,
    get: fn(&StoreMetrics) -> Option<f64>,
    floor: f64,
}

/// The signals of store-outlier. Latencies in seconds (floors of a few ms: a real
/// operator calls a store whose writes are 20 ms slower than its peers' a problem),
/// thread CPU in cores of the busiest thread (0..1).
const OUTLIER_SIGNALS: &[OutlierSignal] = &[
    OutlierSignal {
        field: "append_p99_seconds",
        label: "raft append-log p99",
        get: |s| s.append_p99_seconds,
        floor: 0.008,
    },
    OutlierSignal {
        field: "apply_p99_seconds",
        label: "raft apply-log p99",
        get: |s| s.apply_p99_seconds,
        floor: 0.008,
    },
    OutlierSignal {
        field: "commit_p99_seconds",
        label: "raft commit-log p99",
        get: |s| s.commit_p99_seconds,
        floor: 0.008,
    },
    OutlierSignal {
        field: "propose_wait_p99_seconds",
        label: "propose wait p99",
        get: |s| s.propose_wait_p99_seconds,
        floor: 0.005,
    },
    OutlierSignal {
        field: "grpc_p99_seconds",
        label: "gRPC p99",
        get: |s| s.grpc_p99_seconds,
        floor: 0.008,
    },
    OutlierSignal {
        field: "read_pool_wait_p99_seconds",
        label: "read-pool wait p99",
        get: |s| s.read_pool_wait_p99_seconds,
        floor: 0.002,
    },
    OutlierSignal {
        field: "max_thread_cpu",
        label: "busiest thread CPU",
        get: |s| s.max_thread_cpu,
        floor: 0.3,
    },
];

/// A store's outlying signals (description, evidence), whether every signal is back
/// within the low mark, and its store id.
type OutlierFinding = (Vec<(String, MetricEvidence)>, bool, Option<u64>);

/// The median of `sorted` with the element at index `k` left out (the peers of the
/// store whose value that is), in O(1).
fn median_without(sorted: &[f64], k: usize) -> Option<f64> {
    let m = sorted.len().checked_sub(1).filter(|m| *m > 0)?;
    let at = |r: usize| sorted[if r < k { r } else { r + 1 }];
    Some(if m % 2 == 1 {
        at(m / 2)
    } else {
        (at(m / 2 - 1) + at(m / 2)) / 2.0
    })
}

/// store-outlier: per store, the signals on which it stands out from its peers' median:
/// above `factor × median` and more than the signal's floor above it. Hysteresis: a
/// store holds (its ticket may resolve) only when every signal is back under half the
/// trigger on both counts; in between, nothing is reported and the ticket stays as it is.
fn store_outlier(ctx: &Ctx<'_>) -> Vec<Outcome> {
    let Some(m) = &ctx.s.metrics else {
        return Vec::new();
    };
    let up: BTreeSet<u64> = ctx.up_stores().iter().map(|s| s.id).collect();
    let stores: Vec<&StoreMetrics> = m
        .stores
        .iter()
        .filter(|s| s.store_id.is_some_and(|id| up.contains(&id)))
        .collect();
    let factor = ctx.t.outlier_factor.max(1.0);
    // Per store: (outlying signals with their excess, every signal within the low mark).
    let mut findings: BTreeMap<String, OutlierFinding> = BTreeMap::new();
    for s in &stores {
        findings.insert(
            ctx.target_for(s.store_id, &s.instance),
            (Vec::new(), true, s.store_id),
        );
    }
    for sig in OUTLIER_SIGNALS {
        let vals: Vec<(&StoreMetrics, f64)> = stores
            .iter()
            .filter_map(|s| (sig.get)(s).filter(|v| v.is_finite()).map(|v| (*s, v)))
            .collect();
        if vals.len() < ctx.t.outlier_min_stores.max(3) {
            continue;
        }
        let mut sorted: Vec<f64> = vals.iter().map(|(_, v)| *v).collect();
        sorted.sort_by(f64::total_cmp);
        for (s, v) in &vals {
            // The peers' median, this store left out.
            let k = sorted.partition_point(|x| x < v);
            let Some(med) = median_without(&sorted, k) else {
                continue;
            };
            let target = ctx.target_for(s.store_id, &s.instance);
            let Some(f) = findings.get_mut(&target) else {
                continue;
            };
            let high = *v > med * factor && *v - med > sig.floor;
            let low = *v <= med * (1.0 + (factor - 1.0) / 2.0) || *v - med <= sig.floor / 2.0;
            if high {
                f.0.push((
                    format!(
                        "{} {} vs peers' median {}",
                        sig.label,
                        fmt_signal(sig.field, *v),
                        fmt_signal(sig.field, med)
                    ),
                    ctx.metric(sig.field, &s.instance, *v),
                ));
                for (o, ov) in vals
                    .iter()
                    .filter(|(o, _)| o.instance != s.instance)
                    .take(8)
                {
                    f.0.push((String::new(), ctx.metric(sig.field, &o.instance, *ov)));
                }
            }
            if !low {
                f.1 = false;
            }
        }
    }
    let mut out = Vec::new();
    for (target, (signals, all_low, store_id)) in findings {
        if signals.is_empty() {
            if all_low {
                out.push(Outcome::Holds(target));
            }
            continue;
        }
        let mut e = ctx.evidence();
        let mut said = Vec::new();
        for (text, ev) in signals {
            if !text.is_empty() {
                said.push(text);
            }
            e.metrics.push(ev);
        }
        let store = store_id.and_then(|id| ctx.store(id));
        if let Some(st) = store {
            e.state = store_json(st);
        }
        ctx.store_context(&mut e, store, &target);
        out.push(Outcome::Violated {
            summary: format!("{target} stands out from its peers: {}", said.join("; ")),
            target,
            severity: Severity::Warning,
            evidence: e,
            grace: ctx.t.latency_grace,
        });
    }
    out
}

fn fmt_signal(field: &str, v: f64) -> String {
    if field.ends_with("_seconds") {
        format!("{:.1} ms", v * 1000.0)
    } else {
        format!("{v:.2}")
    }
}

type Scores<'a> = BTreeMap<String, (f64, Option<&'a Store>, MetricEvidence)>;

/// Keeps the highest score seen for a target (PD's and Prometheus's may differ).
fn note_score<'a>(
    scores: &mut Scores<'a>,
    target: String,
    score: f64,
    store: Option<&'a Store>,
    ev: MetricEvidence,
) {
    match scores.get_mut(&target) {
        Some(entry) if score > entry.0 => *entry = (score, store.or(entry.1), ev),
        Some(_) => {}
        None => {
            scores.insert(target, (score, store, ev));
        }
    }
}

fn slow_store(ctx: &Ctx<'_>) -> Vec<Outcome> {
    // target -> (score, store, metric evidence)
    let mut scores: Scores<'_> = BTreeMap::new();
    if let Some(pd) = &ctx.s.pd {
        for st in pd
            .stores
            .iter()
            .filter(|s| s.state != StoreState::Tombstone)
        {
            if let Some(sc) = st.slow_score {
                note_score(
                    &mut scores,
                    ctx.store_target(st),
                    sc as f64,
                    Some(st),
                    ctx.pd_metric("slow_score", st.id, sc as f64),
                );
            }
        }
    }
    if let Some(m) = &ctx.s.metrics {
        for s in &m.stores {
            if let Some(sc) = s.slow_score {
                let store = s.store_id.and_then(|id| ctx.store(id));
                note_score(
                    &mut scores,
                    ctx.target_for(s.store_id, &s.instance),
                    sc,
                    store,
                    ctx.metric("slow_score", &s.instance, sc),
                );
            }
        }
    }
    let mut out = Vec::new();
    let all = scores.clone();
    for (target, (score, store, ev)) in scores {
        if score < ctx.t.slow_score {
            out.push(Outcome::Holds(target));
            continue;
        }
        let mut e = ctx.evidence();
        let cited = ev.series.clone();
        e.metrics.push(ev);
        // The other stores' scores, from the same sources, for comparison.
        for (t, (_, _, other)) in &all {
            if *t != target && other.series != cited {
                e.metrics.push(other.clone());
            }
        }
        if let Some(st) = store {
            e.state = store_json(st);
        }
        ctx.store_context(&mut e, store, &target);
        out.push(Outcome::Violated {
            summary: format!(
                "{target} has slow score {score:.0} (threshold {:.0}; PD evicts leaders at 100)",
                ctx.t.slow_score
            ),
            target,
            severity: if score >= 100.0 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            evidence: e,
            grace: ctx.t.slow_store_grace,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------
// Operations left behind

fn evict_leader_leftover(ctx: &Ctx<'_>) -> Vec<Outcome> {
    let Some(pd) = &ctx.s.pd else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for st in pd
        .stores
        .iter()
        .filter(|s| s.state != StoreState::Tombstone)
    {
        let target = ctx.store_target(st);
        let listed = pd.evict_leader_stores.contains(&st.id);
        if !listed || ctx.s.upgrading_store_ids.contains(&st.id) {
            out.push(Outcome::Holds(target));
            continue;
        }
        let mut e = ctx.evidence();
        e.metrics
            .push(ctx.pd_metric("leader_count", st.id, st.leader_count as f64));
        e.state = serde_json::json!({
            "store": store_json(st),
            "evict_leader_stores": pd.evict_leader_stores,
            "schedulers": pd.schedulers,
            "upgrading_store_ids": ctx.s.upgrading_store_ids,
        });
        out.push(Outcome::Violated {
            summary: format!(
                "evict-leader-scheduler still lists store {} ({target}) although no upgrade is running; it holds {} leaders",
                st.id, st.leader_count
            ),
            target,
            severity: Severity::Warning,
            evidence: e,
            grace: ctx.t.evict_leader_leftover_grace,
        });
    }
    // Entries for stores PD no longer knows are leftovers too.
    for id in &pd.evict_leader_stores {
        if pd.stores.iter().any(|s| s.id == *id) || ctx.s.upgrading_store_ids.contains(id) {
            continue;
        }
        let mut e = ctx.evidence();
        e.state = serde_json::json!({ "evict_leader_stores": pd.evict_leader_stores });
        out.push(Outcome::Violated {
            target: format!("store-{id}"),
            severity: Severity::Warning,
            summary: format!("evict-leader-scheduler lists store {id}, which PD does not know"),
            evidence: e,
            grace: ctx.t.evict_leader_leftover_grace,
        });
    }
    out
}

fn store_offline_stuck(ctx: &Ctx<'_>) -> Vec<Outcome> {
    let Some(pd) = &ctx.s.pd else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for st in &pd.stores {
        let target = ctx.store_target(st);
        if st.state != StoreState::Offline {
            out.push(Outcome::Holds(target));
            continue;
        }
        let Some(p) = ctx.s.offline.iter().find(|p| p.store_id == st.id) else {
            continue;
        };
        let stalled = ctx
            .s
            .at
            .duration_since(p.last_progress_at)
            .unwrap_or_default();
        if stalled < ctx.t.offline_stuck_after {
            out.push(Outcome::Holds(target));
            continue;
        }
        let offline_for = ctx.s.at.duration_since(p.offline_since).unwrap_or_default();
        let mut e = ctx.evidence();
        e.metrics
            .push(ctx.pd_metric("region_count", st.id, st.region_count as f64));
        e.state = serde_json::json!({
            "store": store_json(st),
            "offline_progress": p,
            "up_stores": pd.up_store_count(),
            "max_replicas": pd.max_replicas,
        });
        ctx.store_context(&mut e, Some(st), &target);
        let hint = if (pd.up_store_count() as u64) < pd.max_replicas.max(1) {
            format!(
                "; only {} Up stores for max-replicas {}",
                pd.up_store_count(),
                pd.max_replicas
            )
        } else {
            String::new()
        };
        out.push(Outcome::Violated {
            summary: format!(
                "store {} ({target}) has been Offline for {} with {} regions left and no progress for {}{hint}",
                st.id,
                secs(offline_for),
                st.region_count,
                secs(stalled)
            ),
            target,
            severity: Severity::Warning,
            evidence: e,
            grace: Duration::ZERO,
        });
    }
    out
}

/// The names of all invariants, in check order.
pub fn invariant_names() -> Vec<&'static str> {
    INVARIANTS.iter().map(|i| i.name).collect()
}
