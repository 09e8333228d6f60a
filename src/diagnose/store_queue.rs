//! The seams between the diagnosis reconciler and the running controller:
//! [`StoreQueue`] implements [`TicketQueue`] over the sled [`TicketStore`] (leases are the
//! store's, so a crash never leaves a ticket stuck in Diagnosing), and
//! [`SnapshotContext`] implements [`ContextSource`] from the monitor's latest snapshot, and
//! [`RelatedTickets`] from the tickets around the one being diagnosed (its incident).

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
    window: Duration,
}

/// At most this many revisits of one ticket's diagnosis.
pub(crate) const MAX_REVISITS: usize = 3;

impl StoreQueue {
    /// A queue over `store`; evidence is taken to be still arriving for
    /// [`RELATED_WINDOW`] after a ticket opens.
    pub fn new(store: Arc<TicketStore>) -> Self {
        Self {
            store,
            window: RELATED_WINDOW,
        }
    }

    /// Evidence is taken to be still arriving for `window` after a ticket opens (the
    /// evaluation scales it like every other duration).
    pub(crate) fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Why diagnosed ticket `t` should be diagnosed again, if it should: within the
    /// window after it opened, a related ticket opened, or its own summary or severity
    /// changed, after its diagnosis was made; at most [`MAX_REVISITS`] times.
    fn revisit_reason(
        &self,
        t: &Ticket,
        all: &[Arc<crate::tickets::TicketSummary>],
    ) -> Option<String> {
        use crate::tickets::TimelineKind as K;
        let diagnosed_at = t.timeline.iter().rev().find(|e| e.kind == K::Diagnosed)?.at;
        let revisits = t
            .timeline
            .iter()
            .filter(|e| {
                e.kind == K::DiagnosisStarted
                    && e.detail.starts_with(crate::tickets::lifecycle::REVISITED)
            })
            .count();
        if revisits >= MAX_REVISITS {
            return None;
        }
        let arriving = |at: SystemTime| at > diagnosed_at && gap(at, t.first_seen) <= self.window;
        if let Some(o) = all
            .iter()
            .filter(|o| o.id != t.id && arriving(o.first_seen))
            .min_by_key(|o| o.id)
        {
            return Some(format!(
                "ticket {} ({} on {}) opened after this diagnosis",
                o.id, o.invariant, o.target
            ));
        }
        t.timeline
            .iter()
            .find(|e| matches!(e.kind, K::SummaryChanged | K::SeverityChanged) && arriving(e.at))
            .map(|e| format!("its {} after this diagnosis: {}", e.kind, e.detail))
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

    async fn next_revisit(&self, skip: &HashSet<u64>) -> Option<(TicketBrief, String)> {
        let all = self.store.list(&TicketFilter::default());
        let now = SystemTime::now();
        let mut ids: Vec<u64> = all
            .iter()
            .filter(|t| {
                t.status == Status::Diagnosed
                    && !skip.contains(&t.id)
                    && gap(now, t.first_seen) <= self.window + self.window
            })
            .map(|t| t.id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            let Some(t) = self.store.get(id).ok().flatten() else {
                continue;
            };
            if let Some(why) = self.revisit_reason(&t, &all) {
                return Some((brief_of(&t), why));
            }
        }
        None
    }

    async fn revisit(&self, id: u64, holder: &str, ttl: Duration, reason: &str) -> bool {
        let store = self.store.clone();
        let (holder, reason) = (holder.to_string(), reason.to_string());
        tokio::task::spawn_blocking(move || store.try_revisit(id, &holder, ttl, &reason).is_ok())
            .await
            .unwrap_or(false)
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
    /// Left out when the field is an empty list (a list whose emptiness says nothing,
    /// such as the operator's planned work when there is none).
    pub omit_empty: bool,
}

const fn section(field: &'static str, name: &'static str, relevance: u8) -> SnapshotSection {
    SnapshotSection {
        field,
        name,
        relevance,
        omit_empty: false,
    }
}

/// The sections every subject's snapshot may carry: container states, probes, metrics,
/// the metrics source's error, recent runtime events and log lines.
pub(crate) const GENERIC_SECTIONS: &[SnapshotSection] = &[
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
pub(crate) struct SnapshotContext {
    latest: LatestSnapshot,
    subject_sections: &'static [SnapshotSection],
}

impl SnapshotContext {
    /// Context from the shared latest snapshot, with the subject's sections first.
    pub(crate) fn new(
        latest: LatestSnapshot,
        subject_sections: &'static [SnapshotSection],
    ) -> Self {
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
            let v = snap
                .get(s.field)
                .filter(|v| !(s.omit_empty && v.as_array().is_some_and(|a| a.is_empty())));
            push(s.name, s.relevance, v);
        }
        out
    }
}

/// How close in time two tickets must start to be listed as related (the incidents'
/// grouping window).
pub const RELATED_WINDOW: Duration = crate::tickets::incidents::DEFAULT_WINDOW;

/// [`ContextSource`] of the tickets around the one being diagnosed: those first seen
/// within a window of it, and those still open when it was first seen.
///
/// # Why
///
/// A ticket alone cannot tell three stores cut off together from three separate
/// partitions, nor a store that lost PD because PD lost its leader from a store whose own
/// network failed: the other tickets of the same moment can. The snapshot does not keep
/// them (its runtime events are one round's), so the ticket store supplies them. The
/// section is plain facts (invariant, target, status, summary, and whether it started
/// within the window); the subject's reasoner decides what they mean.
pub(crate) struct RelatedTickets {
    store: Arc<TicketStore>,
    window: Duration,
}

impl RelatedTickets {
    /// Related tickets from `store`, "together" meaning first seen within `window` (the
    /// evaluation scales it like every other duration).
    pub(crate) fn new(store: Arc<TicketStore>, window: Duration) -> Self {
        Self { store, window }
    }
}

fn gap(a: SystemTime, b: SystemTime) -> Duration {
    a.duration_since(b).unwrap_or_else(|e| e.duration())
}

#[async_trait::async_trait]
impl ContextSource for RelatedTickets {
    async fn sections(&self, brief: &TicketBrief) -> Vec<ContextSection> {
        let Some(me) = self.store.get(brief.id).ok().flatten() else {
            return vec![];
        };
        let t0 = me.first_seen;
        let related: Vec<serde_json::Value> = self
            .store
            .list(&TicketFilter::default())
            .iter()
            .filter(|t| t.id != me.id)
            .filter_map(|t| {
                let together = gap(t.first_seen, t0) <= self.window;
                // Open when this one started (or resolved only just before it).
                let overlapping =
                    t.first_seen <= t0 && t.resolved_at.is_none_or(|r| r + self.window >= t0);
                (together || overlapping).then(|| {
                    let offset = match t.first_seen.duration_since(t0) {
                        Ok(d) => d.as_secs_f64(),
                        Err(e) => -e.duration().as_secs_f64(),
                    };
                    serde_json::json!({
                        "id": t.id,
                        "invariant": t.invariant,
                        "target": t.target,
                        "status": t.status.to_string(),
                        "summary": t.summary,
                        "first_seen": rfc3339(t.first_seen),
                        "first_seen_offset_secs": (offset * 10.0).round() / 10.0,
                        "together": together,
                    })
                })
            })
            .collect();
        if related.is_empty() {
            return vec![];
        }
        vec![ContextSection {
            name: "related_tickets".into(),
            relevance: 85,
            content: serde_json::to_string_pretty(&related).unwrap_or_default(),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::{Evidence, Severity, Violation};

    fn violation(target: &str, summary: &str) -> Violation {
        Violation {
            subject: "test".into(),
            invariant: "node-down".into(),
            target: target.into(),
            severity: Severity::Critical,
            summary: summary.into(),
            evidence: Evidence::at(SystemTime::now()),
            grace: Duration::ZERO,
        }
    }

    fn diagnose(store: &TicketStore, id: u64) {
        store
            .try_lease(id, "me", Duration::from_secs(60))
            .expect("lease");
        store
            .complete_diagnosis(id, "me", serde_json::json!({"cause": "first"}))
            .expect("complete");
    }

    fn scratch() -> (Arc<TicketStore>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("store-queue-{}", rand::random::<u64>()));
        (Arc::new(TicketStore::open(&dir).expect("open")), dir)
    }

    #[tokio::test]
    async fn a_diagnosis_is_revisited_when_a_related_ticket_opens_after_it_and_at_most_three_times()
    {
        let (store, dir) = scratch();
        let q = StoreQueue::new(store.clone()).with_window(Duration::from_secs(60));
        store
            .observe(&[violation("n1", "n1 is down")], &[], SystemTime::now())
            .expect("observe");
        diagnose(&store, 1);
        let none = HashSet::new();
        assert!(q.next_revisit(&none).await.is_none(), "nothing changed yet");
        // A second node goes down after the first was diagnosed: the first is revisited.
        std::thread::sleep(Duration::from_millis(5));
        store
            .observe(
                &[violation("n1", "n1 is down"), violation("n2", "n2 is down")],
                &[],
                SystemTime::now(),
            )
            .expect("observe");
        let (brief, why) = q.next_revisit(&none).await.expect("a revisit");
        assert_eq!(brief.id, 1);
        assert!(why.contains("ticket 2"), "{why}");
        assert!(q.revisit(1, "me", Duration::from_secs(60), &why).await);
        let t = store.get(1).unwrap().unwrap();
        assert_eq!(t.status, Status::Diagnosing);
        assert!(
            t.diagnosis.is_some(),
            "the old diagnosis stays until replaced"
        );
        store
            .complete_diagnosis(1, "me", serde_json::json!({"cause": "second"}))
            .expect("complete");
        diagnose(&store, 2);
        assert!(
            q.next_revisit(&none).await.is_none(),
            "both diagnoses are newer than every change"
        );
        // Bounded: after three revisits a ticket is left alone.
        for n in 0..3 {
            std::thread::sleep(Duration::from_millis(5));
            store
                .observe(
                    &[violation(&format!("m{n}"), "another node is down")],
                    &[],
                    SystemTime::now(),
                )
                .expect("observe");
            while let Some((b, why)) = q.next_revisit(&none).await {
                assert!(q.revisit(b.id, "me", Duration::from_secs(60), &why).await);
                store
                    .complete_diagnosis(b.id, "me", serde_json::json!({"cause": "again"}))
                    .expect("complete");
            }
        }
        let t = store.get(1).unwrap().unwrap();
        let revisits = t
            .timeline
            .iter()
            .filter(|e| e.detail.starts_with(crate::tickets::lifecycle::REVISITED))
            .count();
        assert_eq!(revisits, MAX_REVISITS);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_ticket_opened_after_the_window_does_not_revisit_an_older_diagnosis() {
        let (store, dir) = scratch();
        let q = StoreQueue::new(store.clone()).with_window(Duration::from_millis(20));
        store
            .observe(&[violation("n1", "n1 is down")], &[], SystemTime::now())
            .expect("observe");
        diagnose(&store, 1);
        std::thread::sleep(Duration::from_millis(40));
        store
            .observe(
                &[violation("n1", "n1 is down"), violation("n2", "n2 is down")],
                &[],
                SystemTime::now(),
            )
            .expect("observe");
        assert!(q.next_revisit(&HashSet::new()).await.is_none());
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
