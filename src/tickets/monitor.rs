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

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tracing::{info, info_span, warn, Instrument};

use super::{Status, TicketFilter, TicketStore};
use crate::reconcile::Metrics;
use crate::runtime::RuntimeEvent;
use crate::subject::Subject;

/// The monitor's cadence when nothing happens. Runtime events (a container dying, being
/// killed, paused or disconnected) start a round at once, so this only bounds how
/// fast faults without an event (a store that stops answering its status port, PD
/// marking a store Disconnected) are seen — and what an idle controller costs.
pub const MONITOR_INTERVAL: Duration = Duration::from_secs(3);

/// The latest snapshot, shared with the diagnosis context and the status API.
pub type LatestSnapshot = Arc<Mutex<Option<serde_json::Value>>>;

/// Runs the monitor until `shutdown` completes.
pub async fn run<S: Subject>(
    subject: Arc<S>,
    store: Arc<TicketStore>,
    metrics: Arc<Metrics>,
    latest: LatestSnapshot,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let buffer: Arc<Mutex<Vec<RuntimeEvent>>> = Arc::default();
    let wake = Arc::new(Notify::new());
    let watcher = tokio::spawn(collect_events(
        subject.clone(),
        buffer.clone(),
        wake.clone(),
    ));
    tokio::pin!(shutdown);
    let mut next = MONITOR_INTERVAL;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(next) => {}
            _ = wake.notified() => {}
        }
        let events: Vec<RuntimeEvent> = std::mem::take(&mut *buffer.lock());
        let due = round(&*subject, &store, &metrics, &latest, &events)
            .instrument(info_span!("monitor", otel.name = "monitor"))
            .await;
        next = next_round_in(due, SystemTime::now());
    }
    watcher.abort();
}

/// The shortest pause between two rounds scheduled by a grace (a grace that has just
/// ended, or clocks that disagree, must not spin the monitor).
pub const MIN_ROUND_GAP: Duration = Duration::from_millis(100);

/// How long to wait before the next round: the regular cadence, or sooner when a grace
/// ends before it (`due`, from the ticket store).
pub fn next_round_in(due: Option<SystemTime>, now: SystemTime) -> Duration {
    match due {
        Some(at) => at
            .duration_since(now)
            .unwrap_or_default()
            .clamp(MIN_ROUND_GAP, MONITOR_INTERVAL),
        None => MONITOR_INTERVAL,
    }
}

/// One monitoring round (public for tests and `operator diagnose`). Returns when the
/// next round could change something before the regular cadence (see
/// [`super::RoundOutcome::next_due`]).
pub async fn round<S: Subject>(
    subject: &S,
    store: &Arc<TicketStore>,
    metrics: &Metrics,
    latest: &LatestSnapshot,
    events: &[RuntimeEvent],
) -> Option<SystemTime> {
    let snapshot = match subject.snapshot(events).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "monitor: snapshot failed");
            return None;
        }
    };
    let (violations, holding) = subject.evaluate(&snapshot);
    *latest.lock() = serde_json::to_value(&snapshot).ok();
    let store2 = store.clone();
    let now = SystemTime::now();
    let outcome =
        tokio::task::spawn_blocking(move || store2.observe(&violations, &holding, now)).await;
    let mut due = None;
    match outcome {
        Ok(Ok(out)) => {
            due = out.next_due;
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
    due
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

async fn collect_events<S: Subject>(
    subject: Arc<S>,
    buffer: Arc<Mutex<Vec<RuntimeEvent>>>,
    wake: Arc<Notify>,
) {
    let mut backoff =
        crate::reconcile::ErrorBackoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        let mut stream = subject.runtime().events(&subject.cluster());
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(ev) => {
                    backoff.reset();
                    let interesting = matches!(
                        ev.raw_action.as_str(),
                        "die" | "oom" | "kill" | "stop" | "pause" | "restart"
                    ) || ev.raw_action.starts_with("network");
                    buffer.lock().push(ev);
                    if interesting {
                        wake.notify_one();
                    }
                }
                Err(_) => break,
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
