//! etcd's invariants: pure checks over an [`EtcdSnapshot`], taken from etcd's own alert
//! rules (contrib/mixin; the v3.4 op-guide carries the same set) and its operations
//! guide. Each names what is wrong, with the values, and carries the evidence a
//! diagnosis cites.
//!
//! | invariant | target | from |
//! |---|---|---|
//! | `member-down` | member | `up == 0`: the container exited, or the member does not answer |
//! | `quorum-lost` | cluster | insufficient members: answering members < (count+1)/2 |
//! | `no-leader` | cluster | `etcd_server_has_leader == 0` on an answering member |
//! | `leader-disagreement` | cluster | members name different leaders (split view) |
//! | `leader-flapping` | cluster | increase of `leader_changes_seen_total` ≥ 4 in 15 min |
//! | `wal-fsync-slow` | member | p99 WAL fsync high against peers and own baseline, or > 0.5 s |
//! | `backend-commit-slow` | member | p99 backend commit high against peers and baseline, or > 0.25 s |
//! | `peer-rtt-slow` | member | p99 peer round trip > 0.15 s |
//! | `proposals-failing` | cluster | increase of `proposals_failed_total` > 5 in 15 min |
//! | `db-quota` | cluster | a NOSPACE alarm, or the DB above 95 % of the quota |
//! | `version-skew` | cluster | members run different versions, or not the spec's |
//!
//! # Why relative latency thresholds
//!
//! The absolute numbers of the alert rules (0.5 s fsync, 0.25 s commit) are a
//! backstop: on a shared machine a disk that became ten times slower than its peers and
//! than its own past can stay under them for a long while. A member is therefore also
//! slow when its p99 is `relative_factor` times both the median of its peers and its
//! own baseline, and above `relative_floor_secs` (so a 1 ms → 5 ms jitter is not an
//! incident).

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::plan::quorum;
use super::snapshot::{median, EtcdSnapshot, MemberSample};
use super::topology::Names;
use crate::spec::HumanDuration;
use crate::tickets::{dedupe_key, EventEvidence, Evidence, MetricEvidence, Severity, Violation};

/// The subject name in tickets.
pub const SUBJECT: &str = "etcd";

/// Thresholds; `spec.invariants` in the spec. Defaults are etcd's alert rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Thresholds {
    /// WAL fsync p99 backstop, seconds (the rules' warning level).
    pub wal_fsync_secs: f64,
    /// Backend commit p99 backstop, seconds.
    pub backend_commit_secs: f64,
    /// Peer round-trip p99, seconds.
    pub peer_rtt_secs: f64,
    /// How many times its peers' median and its own baseline a latency must be.
    pub relative_factor: f64,
    /// Below this p99 a latency is never "slow", seconds.
    pub relative_floor_secs: f64,
    /// Leader changes in the long window that count as flapping.
    pub leader_changes: f64,
    /// Failed proposals in the long window.
    pub failed_proposals: f64,
    /// DB size over quota that counts as near.
    pub quota_ratio: f64,
    /// How long a running member may not answer before it is down.
    pub member_down_grace: HumanDuration,
    /// How long an election may take before "no leader" is a ticket.
    pub no_leader_grace: HumanDuration,
    /// How long too few members may answer before "quorum lost" is a ticket (the
    /// alert rule waits 3 min; a leader election takes about one election timeout).
    pub quorum_lost_grace: HumanDuration,
    /// How long a member the operator itself stopped (a rolling restart, a scale-in)
    /// may be down before that is a ticket: planned work does not page.
    pub planned_stop_grace: HumanDuration,
    /// Invariants switched off by name.
    pub disabled: Vec<String>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            wal_fsync_secs: 0.5,
            backend_commit_secs: 0.25,
            peer_rtt_secs: 0.15,
            relative_factor: 4.0,
            relative_floor_secs: 0.05,
            leader_changes: 4.0,
            failed_proposals: 5.0,
            quota_ratio: 0.95,
            member_down_grace: HumanDuration(Duration::from_secs(10)),
            no_leader_grace: HumanDuration(Duration::from_secs(5)),
            quorum_lost_grace: HumanDuration(Duration::from_secs(5)),
            planned_stop_grace: HumanDuration(Duration::from_secs(60)),
            disabled: Vec::new(),
        }
    }
}

/// The invariants, with one line each (status and docs print these).
pub const INVARIANTS: &[(&str, &str)] = &[
    ("member-down", "a member's container exited or it does not answer"),
    ("quorum-lost", "fewer members answer with a leader than the quorum of the membership"),
    ("no-leader", "an answering member reports no leader"),
    ("leader-disagreement", "answering members name different leaders"),
    ("leader-flapping", "leader changes in 15 minutes reach the threshold"),
    ("wal-fsync-slow", "a member's WAL fsync p99 is high against its peers and its own past, or above the backstop"),
    ("backend-commit-slow", "a member's backend commit p99 is high against its peers and its own past, or above the backstop"),
    ("peer-rtt-slow", "a member's p99 round trip to its peers is above the threshold"),
    ("proposals-failing", "proposals fail (elections, quorum loss)"),
    ("db-quota", "a NOSPACE alarm is active or the DB is near its quota"),
    ("version-skew", "members run different versions, or not the spec's"),
];

/// What one evaluation found.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Violations.
    pub violations: Vec<Violation>,
    /// Dedupe keys checked and holding.
    pub holding: Vec<String>,
}

struct Ctx<'a> {
    s: &'a EtcdSnapshot,
    t: &'a Thresholds,
    out: Evaluation,
}

impl Ctx<'_> {
    fn enabled(&self, inv: &str) -> bool {
        !self.t.disabled.iter().any(|d| d == inv)
    }

    fn holds(&mut self, inv: &str, target: &str) {
        if self.enabled(inv) {
            self.out.holding.push(dedupe_key(SUBJECT, inv, target));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn violated(
        &mut self,
        inv: &str,
        target: &str,
        severity: Severity,
        grace: Duration,
        summary: String,
        evidence: Evidence,
    ) {
        if self.enabled(inv) {
            self.out.violations.push(Violation {
                subject: SUBJECT.into(),
                invariant: inv.into(),
                target: target.into(),
                severity,
                summary,
                evidence,
                grace,
            });
        }
    }

    fn evidence(&self) -> Evidence {
        Evidence::at(self.s.at)
    }

    fn metric(&self, series: String, value: f64) -> MetricEvidence {
        MetricEvidence {
            series,
            value,
            at: self.s.at,
        }
    }

    fn member_events(&self, container: &str) -> Vec<EventEvidence> {
        self.s
            .events
            .iter()
            .filter(|e| e.source == container)
            .cloned()
            .collect()
    }

    fn answering(&self) -> impl Iterator<Item = (u32, &super::wire::StatusResponse)> {
        self.s
            .observed
            .probes
            .iter()
            .filter_map(|(o, p)| p.status.as_ref().map(|s| (*o, s)))
    }

    fn membership(&self) -> usize {
        self.s.observed.cluster.as_ref().map_or_else(
            || (self.s.desired_members as usize).max(self.s.members.len()),
            |c| c.members.len(),
        )
    }
}

/// Checks every invariant over a snapshot.
pub fn evaluate(s: &EtcdSnapshot, t: &Thresholds) -> Evaluation {
    let mut c = Ctx {
        s,
        t,
        out: Evaluation::default(),
    };
    member_down(&mut c);
    quorum_lost(&mut c);
    no_leader(&mut c);
    leader_disagreement(&mut c);
    leader_flapping(&mut c);
    latency(
        &mut c,
        "wal-fsync-slow",
        "etcd_disk_wal_fsync_duration_seconds",
        t.wal_fsync_secs,
        |m| (m.window.wal_fsync_p99, m.window.wal_fsync_baseline),
    );
    latency(
        &mut c,
        "backend-commit-slow",
        "etcd_disk_backend_commit_duration_seconds",
        t.backend_commit_secs,
        |m| {
            (
                m.window.backend_commit_p99,
                m.window.backend_commit_baseline,
            )
        },
    );
    peer_rtt(&mut c);
    proposals_failing(&mut c);
    db_quota(&mut c);
    version_skew(&mut c);
    c.out
}

fn member_down(c: &mut Ctx<'_>) {
    let members: Vec<(u32, MemberSample)> =
        c.s.members.iter().map(|(o, m)| (*o, m.clone())).collect();
    for (o, m) in members {
        let target = Names::member(o);
        let answered =
            c.s.observed
                .probes
                .get(&o)
                .and_then(|p| p.status.as_ref())
                .is_some();
        if m.state == "running" && answered {
            c.holds("member-down", &target);
            continue;
        }
        // A member without a container is down only when the cluster lists it as a
        // started member: one the controller has not created yet is convergence, not
        // a fault.
        let listed = c.s.observed.cluster.as_ref().is_some_and(|cl| {
            cl.members.iter().any(|mm| {
                mm.name == target
                    || mm
                        .peer_urls
                        .iter()
                        .any(|u| u.contains(&format!("{}:", m.container)))
            })
        });
        if m.state == "absent" && !listed {
            continue;
        }
        let mut ev = c.evidence();
        ev.events = c.member_events(&m.container);
        ev.logs =
            c.s.logs
                .iter()
                .filter(|l| l.source == m.container)
                .cloned()
                .collect();
        let probe_error = c.s.observed.probes.get(&o).and_then(|p| p.error.clone());
        let n = c.membership();
        ev.state = serde_json::json!({
            "members": n,
            "quorum": quorum(n),
            "member": target,
            "container": m.container,
            "state": m.state,
            "exit_code": m.exit_code,
            "oom_killed": m.oom_killed,
            "finished_at": m.finished_at,
            "probe_error": probe_error,
        });
        let (summary, grace) = if m.state == "running" {
            (
                format!(
                    "{target} runs but does not answer: {}",
                    probe_error.as_deref().unwrap_or("no answer")
                ),
                c.t.member_down_grace.get(),
            )
        } else {
            // A member the operator stopped itself moments ago is its own planned work:
            // it is down only if it stays down past the planned-stop grace.
            let planned = c.s.observed.memory.planned_stops.get(&o).is_some_and(|at| {
                c.s.at.duration_since(*at).unwrap_or_default() < c.t.planned_stop_grace.get()
            });
            (
                format!(
                    "{target} is down: container {} is {}{}{}",
                    m.container,
                    m.state,
                    m.exit_code
                        .map_or(String::new(), |e| format!(" (exit code {e})")),
                    if planned {
                        ", after the operator stopped it for a planned step"
                    } else {
                        ""
                    }
                ),
                if planned {
                    c.t.planned_stop_grace.get()
                } else {
                    Duration::ZERO
                },
            )
        };
        c.violated(
            "member-down",
            &target,
            Severity::Critical,
            grace,
            summary,
            ev,
        );
    }
}

fn healthy_members(c: &Ctx<'_>) -> Vec<u32> {
    c.answering()
        .filter(|(_, s)| s.leader != 0)
        .map(|(o, _)| o)
        .collect()
}

fn quorum_lost(c: &mut Ctx<'_>) {
    let n = c.membership();
    if n == 0 || !c.s.bootstrapped {
        return;
    }
    let healthy = healthy_members(c);
    let q = quorum(n);
    if healthy.len() >= q {
        c.holds("quorum-lost", "cluster");
        return;
    }
    let mut ev = c.evidence();
    ev.events = c.s.events.clone();
    ev.state = serde_json::json!({
        "members": n,
        "quorum": q,
        "answering_with_leader": healthy.iter().map(|o| Names::member(*o)).collect::<Vec<_>>(),
        "member_states": c.s.members.iter().map(|(o, m)| (Names::member(*o), m.state.clone())).collect::<std::collections::BTreeMap<_, _>>(),
        "member_list_error": c.s.observed.cluster_error,
    });
    c.violated(
        "quorum-lost",
        "cluster",
        Severity::Critical,
        c.t.quorum_lost_grace.get(),
        format!(
            "quorum lost: {} of {n} members answer with a leader, the quorum is {q}",
            healthy.len()
        ),
        ev,
    );
}

fn no_leader(c: &mut Ctx<'_>) {
    let without: Vec<u32> = c
        .answering()
        .filter(|(_, s)| s.leader == 0)
        .map(|(o, _)| o)
        .collect();
    let any = c.answering().count() > 0;
    if !any || !c.s.bootstrapped {
        return;
    }
    if without.is_empty() {
        c.holds("no-leader", "cluster");
        return;
    }
    let mut ev = c.evidence();
    for o in &without {
        if let Some(v) =
            c.s.members
                .get(o)
                .and_then(|m| m.metrics.as_ref()?.has_leader)
        {
            let m = c.metric(
                format!("etcd_server_has_leader{{member=\"{}\"}}", Names::member(*o)),
                v,
            );
            ev.metrics.push(m);
        }
    }
    ev.events = c.s.events.clone();
    ev.state = serde_json::json!({"without_leader": without.iter().map(|o| Names::member(*o)).collect::<Vec<_>>()});
    c.violated(
        "no-leader",
        "cluster",
        Severity::Critical,
        c.t.no_leader_grace.get(),
        format!(
            "{} report no leader",
            without
                .iter()
                .map(|o| Names::member(*o))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ev,
    );
}

fn leader_disagreement(c: &mut Ctx<'_>) {
    let leaders: BTreeSet<u64> = c
        .answering()
        .map(|(_, s)| s.leader)
        .filter(|l| *l != 0)
        .collect();
    if leaders.len() <= 1 {
        if c.answering().count() > 0 {
            c.holds("leader-disagreement", "cluster");
        }
        return;
    }
    let mut ev = c.evidence();
    ev.state = serde_json::json!({
        "views": c.answering().map(|(o, s)| (Names::member(o), format!("{:x} (term {})", s.leader, s.raft_term))).collect::<std::collections::BTreeMap<_, _>>()
    });
    c.violated(
        "leader-disagreement",
        "cluster",
        Severity::Critical,
        Duration::from_secs(10),
        format!("members name {} different leaders", leaders.len()),
        ev,
    );
}

fn leader_flapping(c: &mut Ctx<'_>) {
    let worst =
        c.s.members
            .iter()
            .filter_map(|(o, m)| {
                Some((
                    *o,
                    m.window.leader_changes_increase?,
                    m.window.long_window_secs,
                ))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
    let Some((o, inc, secs)) = worst else {
        return;
    };
    if inc < c.t.leader_changes {
        c.holds("leader-flapping", "cluster");
        return;
    }
    let mut ev = c.evidence();
    ev.metrics.push(c.metric(
        format!(
            "increase(etcd_server_leader_changes_seen_total{{member=\"{}\"}}[{:.0}s])",
            Names::member(o),
            secs
        ),
        inc,
    ));
    ev.events = c.s.events.clone();
    c.violated(
        "leader-flapping",
        "cluster",
        Severity::Warning,
        Duration::ZERO,
        format!(
            "{inc:.0} leader changes seen by {} in the last {:.0} s (threshold {})",
            Names::member(o),
            secs,
            c.t.leader_changes
        ),
        ev,
    );
}

fn latency(
    c: &mut Ctx<'_>,
    inv: &str,
    metric: &str,
    backstop: f64,
    read: fn(&MemberSample) -> (Option<f64>, Option<f64>),
) {
    let values: Vec<(u32, f64, Option<f64>)> =
        c.s.members
            .iter()
            .filter_map(|(o, m)| {
                let (p99, baseline) = read(m);
                Some((*o, p99?, baseline))
            })
            .collect();
    for (o, p99, baseline) in &values {
        let target = Names::member(*o);
        let peers = median(
            values
                .iter()
                .filter(|(p, _, _)| p != o)
                .map(|(_, v, _)| *v)
                .collect(),
        );
        let f = c.t.relative_factor;
        let above_peers = peers.is_some_and(|m| *p99 > f * m);
        let above_own = baseline.is_none_or(|b| *p99 > f * b);
        let relative = *p99 > c.t.relative_floor_secs && above_peers && above_own;
        if !(relative || *p99 > backstop) {
            c.holds(inv, &target);
            continue;
        }
        let mut ev = c.evidence();
        ev.metrics.push(c.metric(
            format!("histogram_quantile(0.99, {metric}{{member=\"{target}\"}}[1m])"),
            *p99,
        ));
        if let Some(m) = peers {
            ev.metrics
                .push(c.metric(format!("median of peers' p99 {metric}[1m]"), m));
        }
        if let Some(b) = baseline {
            ev.metrics
                .push(c.metric(format!("{target} baseline p99 {metric}"), *b));
        }
        let severity = if *p99 > 2.0 * backstop {
            Severity::Critical
        } else {
            Severity::Warning
        };
        c.violated(
            inv,
            &target,
            severity,
            Duration::from_secs(10),
            format!(
                "{target}: p99 {metric} is {:.0} ms (peers' median {}, own baseline {}, backstop {:.0} ms)",
                p99 * 1000.0,
                peers.map_or("n/a".into(), |m| format!("{:.1} ms", m * 1000.0)),
                baseline.map_or("n/a".into(), |b| format!("{:.1} ms", b * 1000.0)),
                backstop * 1000.0
            ),
            ev,
        );
    }
}

fn peer_rtt(c: &mut Ctx<'_>) {
    let values: Vec<(u32, f64)> =
        c.s.members
            .iter()
            .filter_map(|(o, m)| Some((*o, m.window.peer_rtt_p99?)))
            .collect();
    for (o, p99) in values {
        let target = Names::member(o);
        if p99 <= c.t.peer_rtt_secs {
            c.holds("peer-rtt-slow", &target);
            continue;
        }
        let mut ev = c.evidence();
        ev.metrics.push(c.metric(
            format!("histogram_quantile(0.99, etcd_network_peer_round_trip_time_seconds{{member=\"{target}\"}}[1m])"),
            p99,
        ));
        c.violated(
            "peer-rtt-slow",
            &target,
            Severity::Warning,
            Duration::from_secs(10),
            format!(
                "{target}: p99 peer round trip {:.0} ms (threshold {:.0} ms)",
                p99 * 1000.0,
                c.t.peer_rtt_secs * 1000.0
            ),
            ev,
        );
    }
}

fn proposals_failing(c: &mut Ctx<'_>) {
    let worst =
        c.s.members
            .iter()
            .filter_map(|(o, m)| {
                Some((
                    *o,
                    m.window.proposals_failed_increase?,
                    m.window.long_window_secs,
                ))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
    let Some((o, inc, secs)) = worst else {
        return;
    };
    if inc <= c.t.failed_proposals {
        c.holds("proposals-failing", "cluster");
        return;
    }
    let mut ev = c.evidence();
    ev.metrics.push(c.metric(
        format!(
            "increase(etcd_server_proposals_failed_total{{member=\"{}\"}}[{secs:.0}s])",
            Names::member(o)
        ),
        inc,
    ));
    c.violated(
        "proposals-failing",
        "cluster",
        Severity::Warning,
        Duration::ZERO,
        format!(
            "{inc:.0} proposals failed on {} in the last {secs:.0} s",
            Names::member(o)
        ),
        ev,
    );
}

fn db_quota(c: &mut Ctx<'_>) {
    let alarms: Vec<String> =
        c.s.observed
            .cluster
            .as_ref()
            .map(|cl| cl.alarms.iter().map(|a| a.alarm.clone()).collect())
            .unwrap_or_default();
    let ratio =
        c.s.members
            .iter()
            .filter_map(|(o, m)| {
                let mm = m.metrics.as_ref()?;
                Some((*o, mm.db_total_size?, mm.quota?))
            })
            .filter(|(_, _, q)| *q > 0.0)
            .max_by(|a, b| (a.1 / a.2).total_cmp(&(b.1 / b.2)));
    let nospace = alarms.iter().any(|a| a == "NOSPACE");
    let near = ratio.is_some_and(|(_, s, q)| s / q > c.t.quota_ratio);
    if !nospace && !near {
        if c.s.observed.cluster.is_some() {
            c.holds("db-quota", "cluster");
        }
        return;
    }
    let mut ev = c.evidence();
    if let Some((o, size, quota)) = ratio {
        let member = Names::member(o);
        ev.metrics.push(c.metric(
            format!("etcd_mvcc_db_total_size_in_bytes{{member=\"{member}\"}}"),
            size,
        ));
        ev.metrics.push(c.metric(
            format!("etcd_server_quota_backend_bytes{{member=\"{member}\"}}"),
            quota,
        ));
    }
    ev.state = serde_json::json!({"alarms": alarms});
    let (severity, summary) = if nospace {
        (
            Severity::Critical,
            format!(
                "NOSPACE alarm: the cluster accepts only reads and deletes{}",
                ratio.map_or(String::new(), |(_, s, q)| format!(
                    " (DB {:.1} MiB of a {:.1} MiB quota)",
                    s / 1048576.0,
                    q / 1048576.0
                ))
            ),
        )
    } else {
        let (_, s, q) = ratio.unwrap_or_default();
        (
            Severity::Warning,
            format!(
                "the DB is {:.0} % of its quota ({:.1} of {:.1} MiB)",
                100.0 * s / q,
                s / 1048576.0,
                q / 1048576.0
            ),
        )
    };
    c.violated("db-quota", "cluster", severity, Duration::ZERO, summary, ev);
}

fn version_skew(c: &mut Ctx<'_>) {
    let versions: std::collections::BTreeMap<String, Vec<String>> = c.answering().fold(
        Default::default(),
        |mut acc: std::collections::BTreeMap<String, Vec<String>>, (o, s)| {
            acc.entry(s.version.clone())
                .or_default()
                .push(Names::member(o));
            acc
        },
    );
    if versions.is_empty() {
        return;
    }
    let expected = &c.s.expected_version;
    if versions.len() == 1 && versions.contains_key(expected) {
        c.holds("version-skew", "cluster");
        return;
    }
    let mut ev = c.evidence();
    ev.state = serde_json::json!({"expected": expected, "versions": versions});
    c.violated(
        "version-skew",
        "cluster",
        Severity::Warning,
        Duration::from_secs(30),
        format!(
            "members run {} (the spec expects {expected})",
            versions
                .iter()
                .map(|(v, m)| format!("{v} on {}", m.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        ev,
    );
}

#[cfg(test)]
#[path = "invariants_tests.rs"]
mod tests;
