//! The monitor: the task that turns a subject's invariants into tickets.
//!
//! It runs beside the reconcile loop, at its own cadence (every 3 s), immediately
//! on every runtime event about an owned container (a killed store is ticketed within
//! the time it takes to take one snapshot), and at the moment a violation's grace ends
//! (so a 1 s grace costs 1 s, not a whole tick). Each round: take a snapshot (with the
//! events since the last round), evaluate the invariants, and feed the violations and
//! the holding keys to the ticket store, which deduplicates, applies grace periods,
//! auto-resolves and reopens, and flushes before reporting. Generic over [`Subject`]: it
//! never names TiKV.
//!
//! It also keeps the dependency registry ([`crate::reconcile::deps`]) current: a
//! snapshot that fails because the runtime is unreachable marks the operator blind to
//! it (and still feeds the store, so the blindness is ticketed instead of silently
//! skipped), and the subject's own dependencies (PD, Prometheus) are recorded from each
//! snapshot. [`blindness_tickets`] turns the blindness no invariant covers into tickets.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tracing::{info, info_span, warn, Instrument};

use super::lifecycle::RoundOutcome;
use super::model::dedupe_key;
use super::{Evidence, Severity, Status, TicketFilter, TicketStore, Violation};
use crate::reconcile::deps::{Criticality, Dependencies, RUNTIME};
use crate::reconcile::Metrics;
use crate::runtime::{RuntimeError, RuntimeEvent};
use crate::subject::{Subject, SubjectError};

/// The monitor's cadence when nothing happens. Runtime events (a container dying, being
/// killed, paused or disconnected) start a round at once, so this only bounds how
/// fast faults without an event (a store that stops answering its status port, PD
/// marking a store Disconnected) are seen — and what an idle controller costs.
pub const MONITOR_INTERVAL: Duration = Duration::from_secs(3);

/// The latest snapshot, shared with the diagnosis context and the status API.
pub type LatestSnapshot = Arc<Mutex<Option<serde_json::Value>>>;

/// What a monitoring round needs of a subject: a snapshot, the invariants over it, and
/// the dependencies it speaks about. Every [`Subject`] is one; the scored evaluation
/// (`crate::eval`) implements it over the in-process simulator, so `operator run` and
/// `operator eval` run the very same [`round`] and [`run_rounds`].
#[async_trait::async_trait]
pub trait Monitored: Send + Sync {
    /// What one monitoring pass sees.
    type Snapshot: serde::Serialize + Send + Sync;
    /// The subject kind (`tikv`).
    fn kind(&self) -> &'static str;
    /// Takes a snapshot; `events` are the runtime events since the last one.
    async fn snapshot(&self, events: &[RuntimeEvent]) -> Result<Self::Snapshot, SubjectError>;
    /// The invariants over a snapshot (violations, holding keys).
    fn evaluate(&self, snapshot: &Self::Snapshot) -> (Vec<Violation>, Vec<String>);
    /// The dependencies the snapshot speaks about (see [`Subject::dependencies`]).
    fn dependencies(
        &self,
        snapshot: &Self::Snapshot,
    ) -> Vec<(&'static str, Criticality, Option<String>)>;
}

#[async_trait::async_trait]
impl<S: Subject> Monitored for S {
    type Snapshot = S::Snapshot;
    fn kind(&self) -> &'static str {
        Subject::kind(self)
    }
    async fn snapshot(&self, events: &[RuntimeEvent]) -> Result<Self::Snapshot, SubjectError> {
        Subject::snapshot(self, events).await
    }
    fn evaluate(&self, snapshot: &Self::Snapshot) -> (Vec<Violation>, Vec<String>) {
        Subject::evaluate(self, snapshot)
    }
    fn dependencies(
        &self,
        snapshot: &Self::Snapshot,
    ) -> Vec<(&'static str, Criticality, Option<String>)> {
        Subject::dependencies(self, snapshot)
    }
}

/// Runtime events waiting for the next round, and the signal that starts one at once.
#[derive(Clone, Default)]
pub struct EventInbox {
    buffer: Arc<Mutex<Vec<RuntimeEvent>>>,
    wake: Arc<Notify>,
}

impl EventInbox {
    /// Queues `ev`; an event that can change what the invariants see (a container dying,
    /// being killed, paused, restarted, or connected to / disconnected from a network)
    /// starts a round at once.
    pub(crate) fn push(&self, ev: RuntimeEvent) {
        let interesting = wakes_the_monitor(&ev.raw_action);
        self.buffer.lock().push(ev);
        if interesting {
            self.wake.notify_one();
        }
    }

    /// Takes the queued events.
    pub(crate) fn take(&self) -> Vec<RuntimeEvent> {
        std::mem::take(&mut *self.buffer.lock())
    }

    /// Completes when an event that starts a round arrives.
    pub(crate) async fn notified(&self) {
        self.wake.notified().await
    }
}

/// Whether a runtime event's action starts a monitoring round at once.
pub(crate) fn wakes_the_monitor(raw_action: &str) -> bool {
    matches!(
        raw_action,
        "die" | "oom" | "kill" | "stop" | "pause" | "restart" | "start"
    ) || raw_action.starts_with("network")
}

/// Runs the monitor until `shutdown` completes.
pub async fn run<S: Subject>(
    subject: Arc<S>,
    store: Arc<TicketStore>,
    metrics: Arc<Metrics>,
    latest: LatestSnapshot,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let inbox = EventInbox::default();
    let watcher = tokio::spawn(collect_events(subject.clone(), inbox.clone()));
    run_rounds(
        &*subject,
        &store,
        &metrics,
        &latest,
        &inbox,
        MONITOR_INTERVAL,
        &mut |_| {},
        shutdown,
    )
    .await;
    watcher.abort();
}

/// The monitor's loop: a round every `interval`, at once when `inbox` receives an event
/// that matters, and when a grace ends; `on_round` sees each round's outcome. `operator
/// run` calls it with [`MONITOR_INTERVAL`]; the evaluation with the same cadence divided
/// by its time factor.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_rounds<M: Monitored>(
    subject: &M,
    store: &Arc<TicketStore>,
    metrics: &Metrics,
    latest: &LatestSnapshot,
    inbox: &EventInbox,
    interval: Duration,
    on_round: &mut (dyn FnMut(&RoundOutcome) + Send),
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut next = interval;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(next) => {}
            _ = inbox.wake.notified() => {}
        }
        let events = inbox.take();
        let out = round_outcome(subject, store, metrics, latest, &events)
            .instrument(info_span!("monitor", otel.name = "monitor"))
            .await;
        let due = out.as_ref().and_then(|o| o.next_due);
        if let Some(o) = &out {
            on_round(o);
        }
        next = next_round_in_within(due, SystemTime::now(), interval);
    }
}

/// The shortest pause between two rounds scheduled by a grace (a grace that has just
/// ended, or clocks that disagree, must not spin the monitor).
pub const MIN_ROUND_GAP: Duration = Duration::from_millis(100);

/// How long to wait before the next round: the regular cadence, or sooner when a grace
/// ends before it (`due`, from the ticket store).
pub fn next_round_in(due: Option<SystemTime>, now: SystemTime) -> Duration {
    next_round_in_within(due, now, MONITOR_INTERVAL)
}

/// [`next_round_in`] with another cadence.
pub(crate) fn next_round_in_within(
    due: Option<SystemTime>,
    now: SystemTime,
    interval: Duration,
) -> Duration {
    let gap = MIN_ROUND_GAP.min(interval);
    match due {
        Some(at) => at
            .duration_since(now)
            .unwrap_or_default()
            .clamp(gap, interval),
        None => interval,
    }
}

/// One monitoring round (public for tests and `operator diagnose`). Returns when the
/// next round could change something before the regular cadence (see
/// [`super::RoundOutcome::next_due`]).
pub async fn round<M: Monitored>(
    subject: &M,
    store: &Arc<TicketStore>,
    metrics: &Metrics,
    latest: &LatestSnapshot,
    events: &[RuntimeEvent],
) -> Option<SystemTime> {
    round_outcome(subject, store, metrics, latest, events)
        .await
        .and_then(|o| o.next_due)
}

/// [`round`], returning the ticket store's outcome (`None` when the store failed).
pub(crate) async fn round_outcome<M: Monitored>(
    subject: &M,
    store: &Arc<TicketStore>,
    metrics: &Metrics,
    latest: &LatestSnapshot,
    events: &[RuntimeEvent],
) -> Option<RoundOutcome> {
    let deps = metrics.dependencies();
    let (mut violations, mut holding) = match subject.snapshot(events).await {
        Ok(snapshot) => {
            deps.ok(RUNTIME, Criticality::Critical, true);
            for (name, criticality, error) in subject.dependencies(&snapshot) {
                match error {
                    Some(e) => deps.blind(name, criticality, &e, false),
                    None => deps.ok(name, criticality, false),
                }
            }
            let out = subject.evaluate(&snapshot);
            *latest.lock() = serde_json::to_value(&snapshot).ok();
            out
        }
        Err(e) => {
            warn!(error = %e, "monitor: snapshot failed");
            if let SubjectError::Runtime(r @ RuntimeError::Unreachable(_)) = &e {
                deps.blind(RUNTIME, Criticality::Critical, &r.to_string(), true);
            }
            (Vec::new(), Vec::new())
        }
    };
    blindness_tickets(subject.kind(), &deps, &mut violations, &mut holding);
    let store2 = store.clone();
    let now = SystemTime::now();
    let outcome =
        tokio::task::spawn_blocking(move || store2.observe(&violations, &holding, now)).await;
    let mut report = None;
    match outcome {
        Ok(Ok(out)) => {
            for t in out.opened.iter().chain(out.reopened.iter()) {
                info!(ticket = t.id, invariant = %t.invariant, target = %t.target, severity = ?t.severity, "ticket opened: {}", t.summary);
                let detect = SystemTime::now()
                    .duration_since(t.first_seen)
                    .unwrap_or_default();
                metrics.add_counter(
                    "operator_tickets_opened_total",
                    &format!("invariant=\"{}\"", t.invariant),
                    1,
                );
                metrics.set_gauge(
                    "operator_last_time_to_detect_seconds",
                    &format!("invariant=\"{}\"", t.invariant),
                    detect.as_secs_f64(),
                );
            }
            for t in &out.resolved {
                info!(ticket = t.id, "ticket resolved: the invariant holds again");
            }
            report = Some(out);
        }
        Ok(Err(e)) => warn!(error = %e, "monitor: ticket store"),
        Err(e) => warn!(error = %e, "monitor: ticket store task"),
    }
    {
        let list = store.list(&TicketFilter::default());
        for status in [
            Status::Open,
            Status::Diagnosing,
            Status::Diagnosed,
            Status::Acknowledged,
            Status::Resolved,
        ] {
            let n = list.iter().filter(|t| t.status == status).count();
            metrics.set_gauge(
                "operator_tickets",
                &format!("state=\"{}\"", status_name(status)),
                n as f64,
            );
        }
    }
    report
}

/// How long the runtime must stay unreachable before its ticket opens (a daemon restart
/// takes a few seconds).
pub(crate) const RUNTIME_UNREACHABLE_GRACE: Duration = Duration::from_secs(10);

/// The blindness tickets the core files itself: one `<dependency>-unreachable` ticket per
/// unreachable dependency that no subject invariant covers (the runtime, the model
/// API), and the holding keys of those that answer (they auto-resolve).
pub fn blindness_tickets(
    kind: &str,
    deps: &Dependencies,
    violations: &mut Vec<Violation>,
    holding: &mut Vec<String>,
) {
    for (name, st) in deps.all() {
        if !st.core_ticket {
            continue;
        }
        let invariant = format!("{name}-unreachable");
        match st.error {
            None => holding.push(dedupe_key(kind, &invariant, &name)),
            Some(err) => {
                let mut evidence = Evidence::at(SystemTime::now());
                evidence.state = serde_json::json!({
                    "dependency": name,
                    "error": err,
                    "since": humantime::format_rfc3339_seconds(st.since).to_string(),
                });
                let (severity, grace) = match st.criticality {
                    Criticality::Critical => (Severity::Critical, RUNTIME_UNREACHABLE_GRACE),
                    Criticality::Auxiliary => (Severity::Warning, Duration::ZERO),
                };
                violations.push(Violation {
                    subject: kind.to_string(),
                    invariant,
                    target: name.clone(),
                    severity,
                    summary: format!("the operator cannot reach {name}: {err}"),
                    evidence,
                    grace,
                });
            }
        }
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Open => "open",
        Status::Diagnosing => "diagnosing",
        Status::Diagnosed => "diagnosed",
        Status::Acknowledged => "acknowledged",
        Status::Resolved => "resolved",
    }
}

async fn collect_events<S: Subject>(subject: Arc<S>, inbox: EventInbox) {
    let mut backoff =
        crate::reconcile::ErrorBackoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        let mut stream = subject.runtime().events(&subject.cluster());
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(ev) => {
                    backoff.reset();
                    inbox.push(ev);
                }
                Err(_) => break,
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
