//! What one monitoring pass of an etcd cluster sees: the observation, each member's
//! container state, its `/metrics` reduced to the families etcd's alert rules read, the
//! windowed values those rules need (p99 over the last minute, counter increases over
//! the alert windows), recent runtime events and log lines.
//!
//! Windows come from a short history of cumulative scrapes kept by the monitor
//! ([`History`]); the reduction from history to windowed values is pure, so the
//! invariants can be tested on hand-made histories.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::model::Observed;
use crate::promtext::{self, histogram_quantile};
use crate::tickets::{EventEvidence, LogEvidence};

/// Cumulative histogram buckets `(le, count)`.
pub type Buckets = Vec<(f64, f64)>;

/// The parts of one member's `/metrics` the invariants read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetricsSample {
    /// `etcd_server_has_leader`.
    pub has_leader: Option<f64>,
    /// `etcd_server_is_leader`.
    pub is_leader: Option<f64>,
    /// `etcd_server_leader_changes_seen_total`.
    pub leader_changes: Option<f64>,
    /// `etcd_server_proposals_failed_total`.
    pub proposals_failed: Option<f64>,
    /// `etcd_server_proposals_pending`.
    pub proposals_pending: Option<f64>,
    /// `etcd_mvcc_db_total_size_in_bytes`.
    pub db_total_size: Option<f64>,
    /// `etcd_server_quota_backend_bytes`.
    pub quota: Option<f64>,
    /// `etcd_server_version{server_version}`.
    pub server_version: Option<String>,
    /// `etcd_disk_wal_fsync_duration_seconds`.
    #[serde(skip)]
    pub wal_fsync: Buckets,
    /// `etcd_disk_backend_commit_duration_seconds`.
    #[serde(skip)]
    pub backend_commit: Buckets,
    /// `etcd_network_peer_round_trip_time_seconds`, all peers merged.
    #[serde(skip)]
    pub peer_rtt: Buckets,
    /// `etcd_network_peer_sent_failures_total`, all peers summed.
    pub peer_sent_failures: Option<f64>,
}

impl MetricsSample {
    /// Reduces a `/metrics` text.
    pub fn parse(text: &str) -> Self {
        let e = promtext::parse(text);
        let merged = |name: &str| -> Buckets {
            e.family(name)
                .map(|f| promtext::Histogram::merge(f.histograms().iter()).buckets)
                .unwrap_or_default()
        };
        let sum = |name: &str| -> Option<f64> {
            let f = e.family(name)?;
            Some(f.samples.iter().map(|s| s.value).sum())
        };
        Self {
            has_leader: e.value("etcd_server_has_leader", &[]),
            is_leader: e.value("etcd_server_is_leader", &[]),
            leader_changes: e.value("etcd_server_leader_changes_seen_total", &[]),
            proposals_failed: e.value("etcd_server_proposals_failed_total", &[]),
            proposals_pending: e.value("etcd_server_proposals_pending", &[]),
            db_total_size: e.value("etcd_mvcc_db_total_size_in_bytes", &[]),
            quota: e.value("etcd_server_quota_backend_bytes", &[]),
            server_version: e
                .family("etcd_server_version")
                .and_then(|f| f.samples.first())
                .and_then(|s| s.label("server_version").map(str::to_string)),
            wal_fsync: merged("etcd_disk_wal_fsync_duration_seconds"),
            backend_commit: merged("etcd_disk_backend_commit_duration_seconds"),
            peer_rtt: merged("etcd_network_peer_round_trip_time_seconds"),
            peer_sent_failures: sum("etcd_network_peer_sent_failures_total"),
        }
    }
}

/// Windowed values of one member, computed from the history.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MemberWindow {
    /// Seconds the short window spans (0: not enough history yet).
    pub window_secs: f64,
    /// p99 WAL fsync over the short window, seconds (`None`: no fsync in the window).
    pub wal_fsync_p99: Option<f64>,
    /// p99 backend commit over the short window.
    pub backend_commit_p99: Option<f64>,
    /// p99 peer round trip over the short window.
    pub peer_rtt_p99: Option<f64>,
    /// Median of this member's earlier short-window fsync p99s (its own baseline).
    pub wal_fsync_baseline: Option<f64>,
    /// Median of this member's earlier short-window commit p99s.
    pub backend_commit_baseline: Option<f64>,
    /// Increase of `leader_changes_seen_total` over the long window.
    pub leader_changes_increase: Option<f64>,
    /// Increase of `proposals_failed_total` over the long window.
    pub proposals_failed_increase: Option<f64>,
    /// Seconds the long window spans.
    pub long_window_secs: f64,
}

/// One member as the monitor saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MemberSample {
    /// Container name.
    pub container: String,
    /// Container state (`running`, `exited`, `absent`, …).
    pub state: String,
    /// Exit code when exited.
    pub exit_code: Option<i64>,
    /// OOM-killed.
    pub oom_killed: bool,
    /// When the container last finished (RFC 3339).
    pub finished_at: Option<String>,
    /// `/health` answer (`"true"`/`"false"`), when it answered.
    pub health: Option<String>,
    /// Why `/metrics` failed.
    pub metrics_error: Option<String>,
    /// The reduced metrics.
    pub metrics: Option<MetricsSample>,
    /// Windowed values.
    pub window: MemberWindow,
}

/// One monitoring pass.
#[derive(Debug, Clone, Serialize)]
pub struct EtcdSnapshot {
    /// When it was taken.
    #[serde(with = "crate::tickets::model::rfc3339")]
    pub at: SystemTime,
    /// The cluster name.
    pub cluster: String,
    /// Members the spec wants.
    pub desired_members: u32,
    /// The expected server version.
    pub expected_version: String,
    /// The observation (member list, statuses, alarms).
    pub observed: Observed,
    /// Per member, by ordinal: every desired member and every member container.
    pub members: BTreeMap<u32, MemberSample>,
    /// Recent runtime events about member containers.
    pub events: Vec<EventEvidence>,
    /// Recent notable log lines per member.
    pub logs: Vec<LogEvidence>,
    /// Whether the cluster is past its bootstrap: a leader was seen since the monitor
    /// started, or a member container has run for a minute. Before that, "no leader"
    /// and "no quorum" are the first election, not faults.
    pub bootstrapped: bool,
}

impl Default for EtcdSnapshot {
    fn default() -> Self {
        Self {
            at: SystemTime::UNIX_EPOCH,
            cluster: String::new(),
            desired_members: 0,
            expected_version: String::new(),
            observed: Observed::default(),
            members: BTreeMap::new(),
            events: Vec::new(),
            logs: Vec::new(),
            bootstrapped: true,
        }
    }
}

/// One member's short-window p99s at one time: (when, fsync, commit).
type PastP99 = (SystemTime, Option<f64>, Option<f64>);

/// The monitor's history of scrapes (cumulative counters), bounded in time.
#[derive(Debug, Default)]
pub struct History {
    scrapes: VecDeque<(SystemTime, BTreeMap<u32, MetricsSample>)>,
    p99s: BTreeMap<u32, VecDeque<PastP99>>,
}

/// The short window (p99s): etcd's rules use `rate(...[5m])`; one minute reacts faster
/// and still holds hundreds of fsyncs on a loaded member.
pub const SHORT_WINDOW: Duration = Duration::from_secs(60);
/// The long window (leader changes, failed proposals): the alert rules' 15 minutes.
pub const LONG_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Scrapes younger than this are too close to compute a rate from.
const MIN_WINDOW: Duration = Duration::from_secs(10);

impl History {
    /// Records one pass's scrapes and returns each member's windowed values.
    pub fn record(
        &mut self,
        now: SystemTime,
        scrapes: BTreeMap<u32, MetricsSample>,
    ) -> BTreeMap<u32, MemberWindow> {
        while let Some((t, _)) = self.scrapes.front() {
            if now.duration_since(*t).unwrap_or_default() > LONG_WINDOW {
                self.scrapes.pop_front();
            } else {
                break;
            }
        }
        let mut out = BTreeMap::new();
        for (ordinal, cur) in &scrapes {
            let older = |min_age: Duration| {
                self.scrapes.iter().find_map(|(t, m)| {
                    let age = now.duration_since(*t).unwrap_or_default();
                    (age >= min_age)
                        .then_some(())
                        .and(m.get(ordinal).map(|s| (age, s)))
                })
            };
            // The newest scrape at least SHORT_WINDOW old, else the oldest one over
            // MIN_WINDOW (a young history still gives a window).
            let short = self
                .scrapes
                .iter()
                .rev()
                .find_map(|(t, m)| {
                    let age = now.duration_since(*t).unwrap_or_default();
                    (age >= SHORT_WINDOW)
                        .then_some(())
                        .and(m.get(ordinal).map(|s| (age, s)))
                })
                .or_else(|| older(MIN_WINDOW));
            let long = older(MIN_WINDOW);
            let mut w = MemberWindow::default();
            if let Some((age, old)) = short {
                w.window_secs = age.as_secs_f64();
                w.wal_fsync_p99 = delta_p99(&cur.wal_fsync, &old.wal_fsync);
                w.backend_commit_p99 = delta_p99(&cur.backend_commit, &old.backend_commit);
                w.peer_rtt_p99 = delta_p99(&cur.peer_rtt, &old.peer_rtt);
            }
            if let Some((age, old)) = long {
                w.long_window_secs = age.as_secs_f64();
                w.leader_changes_increase = increase(cur.leader_changes, old.leader_changes);
                w.proposals_failed_increase = increase(cur.proposals_failed, old.proposals_failed);
            }
            let past = self.p99s.entry(*ordinal).or_default();
            // Baseline: the median of p99s at least a window older than now, so a slow
            // disk does not become its own baseline within the window.
            let earlier: Vec<&PastP99> = past
                .iter()
                .filter(|(t, _, _)| now.duration_since(*t).unwrap_or_default() >= SHORT_WINDOW * 2)
                .collect();
            w.wal_fsync_baseline = median(earlier.iter().filter_map(|e| e.1).collect());
            w.backend_commit_baseline = median(earlier.iter().filter_map(|e| e.2).collect());
            past.push_back((now, w.wal_fsync_p99, w.backend_commit_p99));
            while past
                .front()
                .is_some_and(|(t, _, _)| now.duration_since(*t).unwrap_or_default() > LONG_WINDOW)
            {
                past.pop_front();
            }
            out.insert(*ordinal, w);
        }
        self.scrapes.push_back((now, scrapes));
        out
    }
}

fn increase(cur: Option<f64>, old: Option<f64>) -> Option<f64> {
    let (c, o) = (cur?, old?);
    // A counter that went down was reset (the member restarted): count from zero.
    Some(if c >= o { c - o } else { c })
}

/// The p99 of the observations between two cumulative scrapes of one histogram.
pub fn delta_p99(cur: &Buckets, old: &Buckets) -> Option<f64> {
    let delta: Buckets = cur
        .iter()
        .map(|(le, c)| {
            let o = old.iter().find(|(l, _)| l == le).map_or(0.0, |(_, v)| *v);
            (*le, if *c >= o { c - o } else { *c })
        })
        .collect();
    let total = delta.last().map_or(0.0, |(_, c)| *c);
    if total <= 0.0 {
        return None;
    }
    histogram_quantile(0.99, &delta)
}

/// The median of some values (`None` when empty).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\n# TYPE etcd_server_leader_changes_seen_total counter\netcd_server_leader_changes_seen_total 2\n# TYPE etcd_server_version gauge\netcd_server_version{server_version=\"3.4.23\"} 1\n# TYPE etcd_disk_wal_fsync_duration_seconds histogram\netcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.001\"} 10\netcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.5\"} 20\netcd_disk_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} 20\netcd_disk_wal_fsync_duration_seconds_sum 1\netcd_disk_wal_fsync_duration_seconds_count 20\n";

    #[test]
    fn a_scrape_is_reduced_to_what_the_alert_rules_read() {
        let m = MetricsSample::parse(METRICS);
        assert_eq!(m.has_leader, Some(1.0));
        assert_eq!(m.leader_changes, Some(2.0));
        assert_eq!(m.server_version.as_deref(), Some("3.4.23"));
        assert_eq!(m.wal_fsync.len(), 3);
    }

    #[test]
    fn the_window_p99_reads_only_the_observations_made_in_the_window() {
        // 100 fast fsyncs before the window, 100 slow ones in it.
        let old = vec![(0.001, 100.0), (1.0, 100.0), (f64::INFINITY, 100.0)];
        let cur = vec![(0.001, 100.0), (1.0, 200.0), (f64::INFINITY, 200.0)];
        let p99 = delta_p99(&cur, &old).unwrap();
        assert!(p99 > 0.5, "{p99}");
        assert_eq!(delta_p99(&old, &old), None);
    }

    #[test]
    fn counter_increases_survive_a_member_restart() {
        let mut h = History::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let sample = |changes: f64| MetricsSample {
            leader_changes: Some(changes),
            ..MetricsSample::default()
        };
        h.record(t0, BTreeMap::from([(0, sample(5.0))]));
        let w = h.record(
            t0 + Duration::from_secs(30),
            BTreeMap::from([(0, sample(2.0))]),
        );
        assert_eq!(w[&0].leader_changes_increase, Some(2.0));
        let w = h.record(
            t0 + Duration::from_secs(60),
            BTreeMap::from([(0, sample(4.0))]),
        );
        assert_eq!(w[&0].leader_changes_increase, Some(4.0));
    }
}
