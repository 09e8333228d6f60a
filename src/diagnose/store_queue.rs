//! The seams between the diagnosis reconciler and the running controller:
//! [`StoreQueue`] implements [`TicketQueue`] over the sled [`TicketStore`] (leases are the
//! store's, so a crash never leaves a ticket stuck in Diagnosing), and
//! [`SnapshotContext`] implements [`ContextSource`] from the monitor's latest snapshot.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::context::PastTicket;
use super::model::{ContextSection, Diagnosis, TicketBrief};
use super::reconciler::{ContextSource, TicketQueue};
use crate::tickets::monitor::LatestSnapshot;
use crate::tickets::{Status, Ticket, TicketFilter, TicketStore};

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// The brief the diagnosis engine sees for a ticket.
pub fn brief_of(t: &Ticket) -> TicketBrief {
    TicketBrief {
        id: t.id,
        subject: t.subject.clone(),
        invariant: t.invariant.clone(),
        target: t.target.clone(),
        severity: format!("{:?}", t.severity).to_lowercase(),
        summary: t.summary.clone(),
        first_seen: rfc3339(t.first_seen),
        last_seen: rfc3339(t.last_seen),
        occurrences: t.occurrences,
        evidence: merged_evidence(t),
        timeline: t
            .timeline
            .iter()
            .map(|e| (rfc3339(e.at), format!("{:?}: {}", e.kind, e.detail)))
            .collect(),
    }
}

/// The latest evidence, with the events and log lines of the first observation kept:
/// the Docker event that opened a ticket (a `die`, a `kill`) is not in later snapshots,
/// and it is the fact a diagnosis most needs.
fn merged_evidence(t: &Ticket) -> serde_json::Value {
    let mut latest = serde_json::to_value(&t.evidence).unwrap_or_default();
    let first = serde_json::to_value(&t.first_evidence).unwrap_or_default();
    for key in ["events", "logs", "metrics"] {
        let mut merged: Vec<serde_json::Value> = first
            .get(key)
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        for v in latest
            .get(key)
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default()
        {
            if !merged.contains(&v) {
                merged.push(v);
            }
        }
        if let Some(obj) = latest.as_object_mut() {
            obj.insert(key.to_string(), serde_json::Value::Array(merged));
        }
    }
    latest
}

/// [`TicketQueue`] over the ticket store.
pub struct StoreQueue {
    store: Arc<TicketStore>,
}

impl StoreQueue {
    /// A queue over `store`.
    pub fn new(store: Arc<TicketStore>) -> Self {
        Self { store }
    }
}

#[async_trait::async_trait]
impl TicketQueue for StoreQueue {
    async fn next_open(&self, skip: &HashSet<u64>) -> Option<TicketBrief> {
        let ids = self.store.diagnosable(SystemTime::now()).ok()?;
        let id = ids.into_iter().find(|id| !skip.contains(id))?;
        self.store.get(id).ok().flatten().map(|t| brief_of(&t))
    }

    async fn lease(&self, id: u64, holder: &str, ttl: Duration) -> bool {
        let store = self.store.clone();
        let holder = holder.to_string();
        tokio::task::spawn_blocking(move || store.try_lease(id, &holder, ttl).is_ok())
            .await
            .unwrap_or(false)
    }

    async fn complete(&self, id: u64, holder: &str, diagnosis: Diagnosis) -> bool {
        let Ok(value) = serde_json::to_value(&diagnosis) else {
            return false;
        };
        let store = self.store.clone();
        let holder = holder.to_string();
        tokio::task::spawn_blocking(move || store.complete_diagnosis(id, &holder, value).is_ok())
            .await
            .unwrap_or(false)
    }

    async fn release(&self, id: u64, holder: &str, reason: &str) {
        let store = self.store.clone();
        let (holder, reason) = (holder.to_string(), reason.to_string());
        let _ =
            tokio::task::spawn_blocking(move || store.release_lease(id, &holder, &reason)).await;
    }

    async fn similar(&self, brief: &TicketBrief) -> Vec<PastTicket> {
        let filter = TicketFilter::default();
        self.store
            .list(&filter)
            .iter()
            .filter(|t| {
                t.id != brief.id
                    && matches!(
                        t.status,
                        Status::Diagnosed | Status::Resolved | Status::Acknowledged
                    )
            })
            .filter_map(|t| {
                let full = self.store.get(t.id).ok().flatten()?;
                let d: Diagnosis = serde_json::from_value(full.diagnosis?).ok()?;
                let confirmed_cause = full.confirmed_cause.clone();
                Some(PastTicket {
                    id: full.id,
                    invariant: full.invariant,
                    target: full.target,
                    summary: full.summary,
                    root_cause: d.root_cause,
                    action: d.recommended_action.kind.name().to_string(),
                    confirmed_cause,
                })
            })
            .take(50)
            .collect()
    }
}

/// One context section taken from the latest snapshot: the snapshot's top-level field,
/// the section's name in the prompt, and its relevance (cut lowest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotSection {
    /// Top-level field of the snapshot's JSON.
    pub field: &'static str,
    /// Section name (a subject's state section is also its citation kind).
    pub name: &'static str,
    /// 0..=255.
    pub relevance: u8,
}

const fn section(field: &'static str, name: &'static str, relevance: u8) -> SnapshotSection {
    SnapshotSection {
        field,
        name,
        relevance,
    }
}

/// The sections every subject's snapshot may carry: container states, probes, metrics,
/// the metrics source's error, recent runtime events and log lines.
pub const GENERIC_SECTIONS: &[SnapshotSection] = &[
    section("containers", "containers", 85),
    section("probes", "status_probes", 75),
    section("metrics", "metrics", 70),
    section("prometheus_error", "prometheus_error", 60),
    section("events", "recent_docker_events", 80),
    section("logs", "log_lines", 65),
];

/// [`ContextSource`] from the monitor's latest snapshot: the cluster state a human would
/// look at next to the ticket: the subject's own state sections (TiKV: PD's stores and
/// members, region health), then [`GENERIC_SECTIONS`].
pub struct SnapshotContext {
    latest: LatestSnapshot,
    subject_sections: &'static [SnapshotSection],
}

impl SnapshotContext {
    /// Context from the shared latest snapshot, with the subject's sections first.
    pub fn new(latest: LatestSnapshot, subject_sections: &'static [SnapshotSection]) -> Self {
        Self {
            latest,
            subject_sections,
        }
    }
}

#[async_trait::async_trait]
impl ContextSource for SnapshotContext {
    async fn sections(&self, _brief: &TicketBrief) -> Vec<ContextSection> {
        let Some(snap) = self.latest.lock().clone() else {
            return vec![];
        };
        let mut out = Vec::new();
        let mut push = |name: &str, relevance: u8, v: Option<&serde_json::Value>| {
            if let Some(v) = v.filter(|v| !v.is_null()) {
                out.push(ContextSection {
                    name: name.to_string(),
                    relevance,
                    content: serde_json::to_string_pretty(v).unwrap_or_default(),
                });
            }
        };
        for s in self.subject_sections.iter().chain(GENERIC_SECTIONS) {
            push(s.name, s.relevance, snap.get(s.field));
        }
        out
    }
}
