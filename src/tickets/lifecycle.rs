//! The ticket lifecycle, as pure functions over observation rounds.
//!
//! Invariant checks are noisy: a store misses one heartbeat, a latency spike lasts one
//! scrape. Opening a ticket for every blip would bury the real problems, and resolving on
//! the first good sample would make tickets flap. So:
//!
//! - a violation must persist for its `grace` before a ticket opens (the [`Tracker`]
//!   remembers pending violations with their first-seen time);
//! - an open ticket resolves itself once its invariant has *held* for its grace;
//! - a ticket that breaks again within the reopen window is reopened (same id,
//!   `reopened_count + 1`) rather than duplicated;
//! - repeated observations bump `occurrences` and `last_seen` and refresh the evidence, but
//!   add timeline entries only when something changes (severity, summary, status).
//!
//! A round reports the violations it found and the dedupe keys it *checked and found
//! holding*. A key in neither list was not checked (for example PD was unreachable): the
//! round tells nothing about it, so nothing moves for it — no resolve progress, no reset.
//!
//! The tracker holds every active ticket in memory (this is the "index of open tickets"
//! the store relies on to absorb repeated observations without reading sled) plus the
//! most recently resolved ticket of each key for the reopen window. Pending (not yet
//! ticketed) violations are volatile on purpose: after a restart their grace starts again,
//! so a restart can delay a ticket but never invent one.
//!
//! Human and diagnoser transitions (ack, resolve, lease, diagnosis) are plain functions on
//! a [`Ticket`] so the store can apply them to tickets that are not in memory.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::model::{
    Lease, Status, Ticket, TicketEvent, TimelineEntry, TimelineKind, Violation, TIMELINE_LIMIT,
};

/// Default reopen window.
pub(crate) const DEFAULT_REOPEN_WINDOW: Duration = Duration::from_secs(600);
/// Default longest gap between two sightings of a pending violation.
pub(crate) const DEFAULT_PENDING_MAX_GAP: Duration = Duration::from_secs(60);

/// Lifecycle tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleConfig {
    /// A ticket that breaks again within this long after resolving is reopened.
    pub reopen_window: Duration,
    /// A pending violation not seen again for longer than this is forgotten (its grace
    /// starts over): persistence means being seen round after round.
    pub pending_max_gap: Duration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            reopen_window: DEFAULT_REOPEN_WINDOW,
            pending_max_gap: DEFAULT_PENDING_MAX_GAP,
        }
    }
}

/// Errors of human and diagnoser transitions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The transition is not allowed from the ticket's status.
    #[error("ticket {id} is {status}: cannot {action}")]
    InvalidStatus {
        /// Ticket id.
        id: u64,
        /// Its status.
        status: Status,
        /// What was attempted.
        action: &'static str,
    },
    /// Someone else holds an unexpired lease.
    #[error("ticket {id} is leased by {holder:?} until {until}")]
    Leased {
        /// Ticket id.
        id: u64,
        /// Current holder.
        holder: String,
        /// Expiry (RFC 3339).
        until: String,
    },
    /// The caller does not hold the lease.
    #[error("ticket {id}: {holder:?} does not hold the lease")]
    NotLeaseHolder {
        /// Ticket id.
        id: u64,
        /// The caller.
        holder: String,
    },
}

/// What one round changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoundOutcome {
    /// Tickets opened this round.
    pub opened: Vec<Ticket>,
    /// Tickets reopened this round.
    pub reopened: Vec<Ticket>,
    /// Tickets whose severity or summary changed.
    pub updated: Vec<Ticket>,
    /// Tickets resolved this round (automatically).
    pub resolved: Vec<Ticket>,
    /// Ids of active tickets observed again with nothing notable (counters and evidence
    /// only changed; the store may coalesce their writes).
    pub refreshed: Vec<u64>,
    /// Violations seen but still within their grace.
    pub pending: usize,
    /// The earliest moment at which another round could change something: a pending
    /// violation's grace ends, or a holding ticket's grace ends. The monitor re-checks
    /// then instead of waiting for its next tick, so a grace delays a ticket by the grace
    /// and not by the grace rounded up to the monitor's cadence.
    pub next_due: Option<SystemTime>,
    /// Timeline entries appended this round, for the global event log.
    pub events: Vec<TicketEvent>,
}

impl RoundOutcome {
    /// True when nothing a human would care about happened.
    pub(crate) fn is_quiet(&self) -> bool {
        self.opened.is_empty()
            && self.reopened.is_empty()
            && self.updated.is_empty()
            && self.resolved.is_empty()
    }
}

#[derive(Debug, Clone)]
struct Pending {
    first_seen: SystemTime,
    last_seen: SystemTime,
    sightings: u64,
}

#[derive(Debug, Clone)]
struct Active {
    ticket: Ticket,
    /// Since when the invariant has held (resolve progress).
    holding_since: Option<SystemTime>,
}

/// The lifecycle state machine over observation rounds. See the module docs.
#[derive(Debug, Clone)]
pub struct Tracker {
    config: LifecycleConfig,
    next_id: u64,
    pending: HashMap<String, Pending>,
    active: HashMap<String, Active>,
    active_ids: HashMap<u64, String>,
    recently_resolved: HashMap<String, Ticket>,
}

impl Tracker {
    /// An empty tracker whose next ticket id is `next_id`.
    pub fn new(config: LifecycleConfig, next_id: u64) -> Self {
        Self {
            config,
            next_id: next_id.max(1),
            pending: HashMap::new(),
            active: HashMap::new(),
            active_ids: HashMap::new(),
            recently_resolved: HashMap::new(),
        }
    }

    /// Loads a ticket read from storage: active tickets are tracked, resolved ones are
    /// kept as reopen candidates when they are the latest ticket of their key.
    pub(crate) fn load(&mut self, ticket: Ticket) {
        self.next_id = self.next_id.max(ticket.id + 1);
        let key = ticket.dedupe_key.clone();
        if ticket.status.is_active() {
            self.recently_resolved.remove(&key);
            self.active_ids.insert(ticket.id, key.clone());
            self.active.insert(
                key,
                Active {
                    ticket,
                    holding_since: None,
                },
            );
        } else if !self.active.contains_key(&key) {
            let newer = self
                .recently_resolved
                .get(&key)
                .is_some_and(|t| t.id > ticket.id);
            if !newer {
                self.recently_resolved.insert(key, ticket);
            }
        }
    }

    /// The active ticket with this id, if tracked.
    pub(crate) fn active_by_id(&self, id: u64) -> Option<&Ticket> {
        let key = self.active_ids.get(&id)?;
        self.active.get(key).map(|a| &a.ticket)
    }

    /// The active ticket for this dedupe key.
    pub fn active_by_key(&self, key: &str) -> Option<&Ticket> {
        self.active.get(key).map(|a| &a.ticket)
    }

    /// Number of active tickets.
    pub fn active_count(&self) -> usize {
        self.active.len()
    }

    /// Number of pending violations.
    pub(crate) fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Replaces a tracked ticket after a human or diagnoser transition. A resolved ticket
    /// leaves the active set and becomes the key's reopen candidate.
    pub fn replace(&mut self, ticket: Ticket) {
        let key = ticket.dedupe_key.clone();
        if ticket.status.is_active() {
            if let Some(a) = self.active.get_mut(&key) {
                if a.ticket.id == ticket.id {
                    a.ticket = ticket;
                    return;
                }
            }
            self.load(ticket);
        } else {
            if self
                .active
                .get(&key)
                .is_some_and(|a| a.ticket.id == ticket.id)
            {
                self.active.remove(&key);
                self.active_ids.remove(&ticket.id);
            }
            self.load(ticket);
        }
    }

    /// Applies one observation round.
    ///
    /// `violations` are what the checks found; `holding` are the dedupe keys that were
    /// checked and found fine. A key in both counts as violated.
    ///
    /// # Guarantees
    ///
    /// - At most one active ticket per dedupe key; ids are strictly increasing.
    /// - A ticket opens only after its violation was seen continuously (gaps no longer
    ///   than `pending_max_gap`) for at least its grace; with a zero grace it opens on the
    ///   first sighting.
    /// - A ticket resolves only after its key was reported holding, with no violation in
    ///   between, for at least its grace.
    /// - A key that breaks again within `reopen_window` of its ticket's resolution reuses
    ///   that ticket.
    pub fn observe(
        &mut self,
        violations: &[Violation],
        holding: &[String],
        now: SystemTime,
    ) -> RoundOutcome {
        let mut out = RoundOutcome::default();

        // One report per key: the worst severity wins, later reports win ties.
        let mut by_key: HashMap<String, &Violation> = HashMap::with_capacity(violations.len());
        let mut order: Vec<String> = Vec::with_capacity(violations.len());
        for v in violations {
            let key = v.dedupe_key();
            match by_key.get(&key) {
                Some(prev) if prev.severity.rank() < v.severity.rank() => {}
                Some(_) => {
                    by_key.insert(key, v);
                }
                None => {
                    order.push(key.clone());
                    by_key.insert(key, v);
                }
            }
        }

        for key in &order {
            let v = by_key[key];
            if let Some(active) = self.active.get_mut(key) {
                active.holding_since = None;
                let notable = refresh(&mut active.ticket, v, now, &mut out.events);
                if notable {
                    out.updated.push(active.ticket.clone());
                } else {
                    out.refreshed.push(active.ticket.id);
                }
                continue;
            }
            let p = self.pending.entry(key.clone()).or_insert(Pending {
                first_seen: now,
                last_seen: now,
                sightings: 0,
            });
            if since(now, p.last_seen) > self.config.pending_max_gap {
                *p = Pending {
                    first_seen: now,
                    last_seen: now,
                    sightings: 0,
                };
            }
            p.last_seen = now;
            p.sightings += 1;
            if since(now, p.first_seen) < v.grace {
                out.pending += 1;
                due(&mut out.next_due, p.first_seen + v.grace);
                continue;
            }
            let p = self.pending.remove(key).expect("present");
            let reopenable = self.recently_resolved.remove(key).filter(|t| {
                t.resolved_at
                    .is_some_and(|r| since(now, r) <= self.config.reopen_window)
            });
            let ticket = match reopenable {
                Some(mut t) => {
                    reopen(&mut t, v, now, p.sightings, &mut out.events);
                    out.reopened.push(t.clone());
                    t
                }
                None => {
                    let id = self.next_id;
                    self.next_id += 1;
                    let t = open(id, v, p.first_seen, now, p.sightings, &mut out.events);
                    out.opened.push(t.clone());
                    t
                }
            };
            self.active_ids.insert(ticket.id, key.clone());
            self.active.insert(
                key.clone(),
                Active {
                    ticket,
                    holding_since: None,
                },
            );
        }

        for key in holding {
            if by_key.contains_key(key) {
                continue;
            }
            self.pending.remove(key);
            let Some(active) = self.active.get_mut(key) else {
                continue;
            };
            let held_since = *active.holding_since.get_or_insert(now);
            if since(now, held_since) < active.ticket.grace {
                due(&mut out.next_due, held_since + active.ticket.grace);
            } else {
                let mut t = self.active.remove(key).expect("present").ticket;
                self.active_ids.remove(&t.id);
                let detail = format!(
                    "invariant held for {} (grace {})",
                    humantime::format_duration(round_secs(since(now, held_since))),
                    humantime::format_duration(t.grace)
                );
                finish_resolving(&mut t, now);
                note(
                    &mut t,
                    now,
                    TimelineKind::AutoResolved,
                    detail,
                    &mut out.events,
                );
                out.resolved.push(t.clone());
                self.recently_resolved.insert(key.clone(), t);
            }
        }

        // Forget what can no longer matter.
        let gap = self.config.pending_max_gap;
        self.pending.retain(|_, p| since(now, p.last_seen) <= gap);
        let window = self.config.reopen_window;
        self.recently_resolved
            .retain(|_, t| t.resolved_at.is_none_or(|r| since(now, r) <= window));
        out
    }
}

/// Keeps the earlier of `slot` and `at`.
fn due(slot: &mut Option<SystemTime>, at: SystemTime) {
    *slot = Some(slot.map_or(at, |d| d.min(at)));
}

fn since(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

/// Appends a timeline entry (bounded) and the matching global event.
fn note(
    t: &mut Ticket,
    at: SystemTime,
    kind: TimelineKind,
    detail: String,
    events: &mut Vec<TicketEvent>,
) {
    events.push(TicketEvent {
        at,
        ticket_id: t.id,
        dedupe_key: t.dedupe_key.clone(),
        severity: t.severity,
        kind,
        detail: detail.clone(),
    });
    push_timeline(t, TimelineEntry { at, kind, detail });
}

fn push_timeline(t: &mut Ticket, e: TimelineEntry) {
    t.timeline.push(e);
    if t.timeline.len() > TIMELINE_LIMIT {
        // Keep the first entry (how it started) and the latest ones.
        t.timeline.remove(1);
    }
}

fn open(
    id: u64,
    v: &Violation,
    first_seen: SystemTime,
    now: SystemTime,
    sightings: u64,
    events: &mut Vec<TicketEvent>,
) -> Ticket {
    let mut t = Ticket {
        id,
        subject: v.subject.clone(),
        invariant: v.invariant.clone(),
        target: v.target.clone(),
        dedupe_key: v.dedupe_key(),
        severity: v.severity,
        status: Status::Open,
        first_seen,
        last_seen: now,
        occurrences: sightings.max(1),
        summary: v.summary.clone(),
        grace: v.grace,
        first_evidence: v.evidence.clone(),
        evidence: v.evidence.clone(),
        timeline: Vec::new(),
        diagnosis: None,
        lease: None,
        resolved_at: None,
        reopened_count: 0,
        confirmed_cause: None,
    };
    let detail = format!("{}: {}", v.severity, v.summary);
    note(&mut t, now, TimelineKind::Opened, detail, events);
    t
}

fn reopen(
    t: &mut Ticket,
    v: &Violation,
    now: SystemTime,
    sightings: u64,
    events: &mut Vec<TicketEvent>,
) {
    let resolved_for = t.resolved_at.map(|r| since(now, r)).unwrap_or_default();
    t.status = Status::Open;
    t.resolved_at = None;
    t.lease = None;
    t.reopened_count += 1;
    t.severity = v.severity;
    t.summary = v.summary.clone();
    t.grace = v.grace;
    t.last_seen = now;
    t.occurrences += sightings.max(1);
    t.evidence = v.evidence.clone();
    let detail = format!(
        "broke again {} after resolving ({} time): {}",
        humantime::format_duration(round_secs(resolved_for)),
        ordinal(t.reopened_count),
        v.summary
    );
    note(t, now, TimelineKind::Reopened, detail, events);
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, r) if r != 11 => "st",
        (2, r) if r != 12 => "nd",
        (3, r) if r != 13 => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Refreshes an active ticket with a new sighting; returns whether something notable
/// (severity or summary) changed.
fn refresh(t: &mut Ticket, v: &Violation, now: SystemTime, events: &mut Vec<TicketEvent>) -> bool {
    t.last_seen = now;
    t.occurrences += 1;
    t.evidence = v.evidence.clone();
    t.grace = v.grace;
    let mut notable = false;
    if t.severity != v.severity {
        let detail = format!("{} -> {}", t.severity, v.severity);
        t.severity = v.severity;
        note(t, now, TimelineKind::SeverityChanged, detail, events);
        notable = true;
    }
    if t.summary != v.summary {
        // A summary that differs only in a ticking figure ("last heartbeat 9s ago" →
        // "10s ago") is kept current but is not a change worth a timeline entry.
        let changed = without_elapsed_times(&t.summary) != without_elapsed_times(&v.summary);
        t.summary = v.summary.clone();
        if changed {
            let detail = v.summary.clone();
            note(t, now, TimelineKind::SummaryChanged, detail, events);
            notable = true;
        }
    }
    notable
}

/// The summary with every elapsed-time figure replaced by a placeholder: `9s ago`,
/// `for 3m`, `since 2h` tick while nothing changes. Measurements ("p99 2.1s"), counts
/// ("3 regions") and ids ("store 4") are kept, because their change is news.
fn without_elapsed_times(summary: &str) -> String {
    const UNIT: &str = r"\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?)\b";
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(&format!(r"\b(?:{UNIT}\s+ago\b|(?:for|since)\s+{UNIT})"))
            .expect("static regex")
    });
    re.replace_all(summary, "<elapsed>").into_owned()
}

/// A human acknowledges the ticket. Returns the global event when something changed
/// (acknowledging an acknowledged ticket is a no-op).
///
/// # Guarantees
/// Allowed from every active status; a held lease is dropped (the human has taken over).
pub fn acknowledge(
    t: &mut Ticket,
    by: &str,
    note_text: Option<&str>,
    now: SystemTime,
) -> Result<Option<TicketEvent>, TransitionError> {
    match t.status {
        Status::Acknowledged => Ok(None),
        Status::Resolved => Err(TransitionError::InvalidStatus {
            id: t.id,
            status: t.status,
            action: "acknowledge",
        }),
        _ => {
            t.status = Status::Acknowledged;
            t.lease = None;
            let mut events = Vec::new();
            note(
                t,
                now,
                TimelineKind::Acknowledged,
                by_detail(by, note_text),
                &mut events,
            );
            Ok(events.pop())
        }
    }
}

/// A human resolves the ticket. Resolving a resolved ticket is a no-op.
///
/// # Guarantees
/// If the violation is still present, the key goes through its grace again and then
/// reopens this ticket (within the reopen window).
pub fn resolve(
    t: &mut Ticket,
    by: &str,
    note_text: Option<&str>,
    now: SystemTime,
) -> Option<TicketEvent> {
    if t.status == Status::Resolved {
        return None;
    }
    finish_resolving(t, now);
    let mut events = Vec::new();
    note(
        t,
        now,
        TimelineKind::Resolved,
        by_detail(by, note_text),
        &mut events,
    );
    events.pop()
}

/// Marks `t` Resolved. A diagnosis under way keeps its lease: a ticket that resolves
/// while a model is still reading it (a transient fault, a slow model) still gets the
/// diagnosis of what happened, which is the record a reader wants of a flapping
/// incident. Without it, every fault shorter than a model's minute went undiagnosed.
fn finish_resolving(t: &mut Ticket, now: SystemTime) {
    if t.status != Status::Diagnosing {
        t.lease = None;
    }
    t.status = Status::Resolved;
    t.resolved_at = Some(now);
}

/// A human confirms the root cause of ticket `t` (and resolves it, if it is not): the
/// memory later diagnoses draw on. Always recorded in the timeline, even on a resolved
/// ticket.
pub(crate) fn confirm_cause(
    t: &mut Ticket,
    cause: &crate::diagnose::catalog::Cause,
    by: &str,
    note_text: Option<&str>,
    now: SystemTime,
) -> Option<TicketEvent> {
    t.confirmed_cause = Some(cause.clone());
    if t.status != Status::Resolved {
        t.status = Status::Resolved;
        t.resolved_at = Some(now);
        t.lease = None;
    }
    let text = match note_text.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => format!("confirmed cause {cause}; {n}"),
        None => format!("confirmed cause {cause}"),
    };
    let mut events = Vec::new();
    note(
        t,
        now,
        TimelineKind::Resolved,
        by_detail(by, Some(&text)),
        &mut events,
    );
    events.pop()
}

fn by_detail(by: &str, note_text: Option<&str>) -> String {
    match note_text.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => format!("by {by}: {n}"),
        None => format!("by {by}"),
    }
}

/// A diagnoser asks for the ticket for `ttl`.
///
/// # Guarantees
/// Succeeds only from Open, or from Diagnosing when the lease has expired (a crashed
/// diagnoser never leaves a ticket stuck) or is already held by `holder` (renewal).
/// The status becomes Diagnosing.
pub fn try_lease(
    t: &mut Ticket,
    holder: &str,
    ttl: Duration,
    now: SystemTime,
) -> Result<TicketEvent, TransitionError> {
    let until = now + ttl;
    let (kind, detail) = match (t.status, &t.lease) {
        (Status::Open, _) => (
            TimelineKind::DiagnosisStarted,
            format!("leased by {holder}"),
        ),
        (Status::Diagnosing, Some(l)) if l.holder == holder => (
            TimelineKind::DiagnosisStarted,
            format!("lease renewed by {holder}"),
        ),
        (Status::Diagnosing, Some(l)) if l.until > now => {
            return Err(TransitionError::Leased {
                id: t.id,
                holder: l.holder.clone(),
                until: super::model::format_time(l.until),
            })
        }
        (Status::Diagnosing, prev) => (
            TimelineKind::LeaseExpired,
            format!(
                "lease of {} expired; taken over by {holder}",
                prev.as_ref().map(|l| l.holder.as_str()).unwrap_or("nobody")
            ),
        ),
        (status, _) => {
            return Err(TransitionError::InvalidStatus {
                id: t.id,
                status,
                action: "lease for diagnosis",
            })
        }
    };
    t.status = Status::Diagnosing;
    t.lease = Some(Lease {
        holder: holder.to_string(),
        until,
    });
    let mut events = Vec::new();
    note(t, now, kind, detail, &mut events);
    Ok(events.pop().expect("one event"))
}

/// A diagnoser takes a diagnosed ticket back to diagnose it again, because the evidence
/// around it changed since (`reason`): a diagnosis made while evidence was still
/// arriving is revisited, not kept as if final.
///
/// # Guarantees
/// Succeeds only from Diagnosed. The status becomes Diagnosing under `holder`'s lease;
/// the previous diagnosis stays attached until the new one replaces it.
pub(crate) fn try_revisit(
    t: &mut Ticket,
    holder: &str,
    ttl: Duration,
    reason: &str,
    now: SystemTime,
) -> Result<TicketEvent, TransitionError> {
    if t.status != Status::Diagnosed {
        return Err(TransitionError::InvalidStatus {
            id: t.id,
            status: t.status,
            action: "revisit the diagnosis",
        });
    }
    t.status = Status::Diagnosing;
    t.lease = Some(Lease {
        holder: holder.to_string(),
        until: now + ttl,
    });
    let mut events = Vec::new();
    note(
        t,
        now,
        TimelineKind::DiagnosisStarted,
        format!("{REVISITED} by {holder}: {reason}"),
        &mut events,
    );
    Ok(events.pop().expect("one event"))
}

/// How a revisit's timeline entry starts (revisits are counted by it).
pub(crate) const REVISITED: &str = "diagnosis revisited";

/// The lease holder attaches its diagnosis.
///
/// # Guarantees
/// Only the current holder of the lease, while the ticket is Diagnosing (an expired
/// lease still counts if nobody took it over), or Resolved since the lease was taken.
/// The status becomes Diagnosed; a ticket that resolved meanwhile stays Resolved, with
/// the diagnosis attached.
pub fn complete_diagnosis(
    t: &mut Ticket,
    holder: &str,
    diagnosis: serde_json::Value,
    now: SystemTime,
) -> Result<TicketEvent, TransitionError> {
    check_holder(t, holder, "complete a diagnosis")?;
    if t.status == Status::Diagnosing {
        t.status = Status::Diagnosed;
    }
    t.lease = None;
    let mut events = Vec::new();
    // A model backend's investigation goes on the timeline before the diagnosis: each
    // tool call with its result's summary, then how the investigation ended.
    if let Some(inv) = diagnosis.get("investigation").and_then(|v| {
        serde_json::from_value::<crate::diagnose::investigate::Investigation>(v.clone()).ok()
    }) {
        for c in &inv.calls {
            note(t, now, TimelineKind::Investigation, c.line(), &mut events);
        }
        note(
            t,
            now,
            TimelineKind::Investigation,
            inv.headline(),
            &mut events,
        );
    }
    t.diagnosis = Some(diagnosis);
    note(
        t,
        now,
        TimelineKind::Diagnosed,
        format!("by {holder}"),
        &mut events,
    );
    Ok(events.pop().expect("one event"))
}

/// The lease holder gives up without a diagnosis; the ticket goes back to Open (a
/// ticket that resolved meanwhile stays Resolved).
pub fn release_lease(
    t: &mut Ticket,
    holder: &str,
    reason: &str,
    now: SystemTime,
) -> Result<TicketEvent, TransitionError> {
    check_holder(t, holder, "release the lease")?;
    if t.status == Status::Diagnosing {
        t.status = Status::Open;
    }
    t.lease = None;
    let mut events = Vec::new();
    let detail = if reason.is_empty() {
        format!("by {holder}")
    } else {
        format!("by {holder}: {reason}")
    };
    note(t, now, TimelineKind::LeaseReleased, detail, &mut events);
    Ok(events.pop().expect("one event"))
}

fn check_holder(t: &Ticket, holder: &str, action: &'static str) -> Result<(), TransitionError> {
    // A Resolved ticket holds a lease only when it resolved during its diagnosis.
    if !matches!(t.status, Status::Diagnosing | Status::Resolved) {
        return Err(TransitionError::InvalidStatus {
            id: t.id,
            status: t.status,
            action,
        });
    }
    match &t.lease {
        Some(l) if l.holder == holder => Ok(()),
        _ => Err(TransitionError::NotLeaseHolder {
            id: t.id,
            holder: holder.to_string(),
        }),
    }
}
