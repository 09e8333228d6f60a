//! The reconcile loop: generic over a [`Subject`], level-triggered, one pass at a time.
//!
//! A pass observes the cluster, plans from that observation, applies the first step,
//! and observes again, until the plan has no step left (or a bounded number of steps
//! ran). It never remembers *why* it woke up: a resync tick, a Docker event on an owned
//! container and an edit of `cluster.yaml` all lead to the same pass, which corrects
//! whatever differs. Errors requeue with a capped exponential backoff that resets on
//! the first successful pass.
//!
//! # Guarantees
//!
//! - At most one pass runs at a time; triggers that arrive during a pass collapse into
//!   one follow-up pass (the queue is a flag, so its depth is 0 or 1).
//! - The loop is safe to kill at any instant: it keeps no state that the next
//!   observation cannot rebuild, and every step is idempotent (see [`Subject`]).
//! - Shutdown is injected (mini-redis style): `run` returns once the shutdown future
//!   completes and the current step has finished.

mod backoff;
pub mod deps;
pub mod metrics;
mod plan;
pub mod triggers;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;
use tracing::{info, info_span, warn, Instrument};

pub(crate) use backoff::ErrorBackoff;
pub use metrics::Metrics;
pub(crate) use plan::{Fault, Plan};

use crate::runtime::RuntimeError;
use crate::subject::{Subject, SubjectError};

/// What the loop should do after a pass (kube-runtime's `Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    requeue_after: Duration,
}

impl Action {
    /// Run again after `d` unless something wakes the loop earlier.
    #[must_use]
    pub(crate) const fn requeue(d: Duration) -> Self {
        Self { requeue_after: d }
    }
    /// When to run again.
    pub fn requeue_after(&self) -> Duration {
        self.requeue_after
    }
}

/// The most steps one pass applies before yielding to the scheduler.
pub(crate) const MAX_STEPS_PER_PASS: usize = 64;

/// While the plan waits for something (PD electing, a store draining), the loop looks
/// again this often even if the resync interval is longer.
pub(crate) const WAITING_RECHECK: Duration = Duration::from_secs(1);

/// A summary of the last pass, served by `/api/v1/status` and used by `/readyz`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PassStatus {
    /// When the pass ended.
    pub finished_at: Option<SystemTime>,
    /// Whether it succeeded.
    pub ok: bool,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Steps applied in this pass.
    pub applied: Vec<String>,
    /// The last plan's remaining steps.
    pub pending: Vec<String>,
    /// What the cluster waits for.
    pub waits: Vec<String>,
    /// Refused operations.
    pub refusals: Vec<String>,
    /// Faults seen.
    pub faults: Vec<Fault>,
    /// True when the last plan was converged.
    pub converged: bool,
    /// When a pass last succeeded.
    pub last_success: Option<SystemTime>,
    /// Spec reload problem, if the file on disk is currently invalid.
    pub spec_error: Option<String>,
}

/// Something that wants to see every observation (the invariant checker that opens
/// tickets hooks in here). Called once per observation, after planning.
pub(crate) trait PassObserver<S: Subject>: Send + Sync {
    /// Sees one observation and the plan made from it.
    fn observed(&self, observed: &S::Observed, plan: &Plan<S::Step>);
}

/// The controller for one cluster of one subject.
pub struct Controller<S: Subject> {
    subject: Arc<S>,
    metrics: Arc<Metrics>,
    status: Arc<Mutex<PassStatus>>,
    observers: Vec<Arc<dyn PassObserver<S>>>,
    wake: Arc<Notify>,
}

impl<S: Subject> Clone for Controller<S> {
    fn clone(&self) -> Self {
        Self {
            subject: self.subject.clone(),
            metrics: self.metrics.clone(),
            status: self.status.clone(),
            observers: self.observers.clone(),
            wake: self.wake.clone(),
        }
    }
}

/// Errors of one pass.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Observation failed.
    #[error("observe: {0}")]
    Observe(#[source] SubjectError),
    /// A step failed.
    #[error("step `{step}`: {source}")]
    Step {
        /// The step.
        step: String,
        /// Why.
        #[source]
        source: SubjectError,
    },
}

impl<S: Subject> Controller<S> {
    /// A controller for `subject`.
    pub fn new(subject: Arc<S>, metrics: Arc<Metrics>) -> Self {
        Self {
            subject,
            metrics,
            status: Arc::new(Mutex::new(PassStatus::default())),
            observers: Vec::new(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The subject.
    pub fn subject(&self) -> &Arc<S> {
        &self.subject
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The last pass's status.
    pub fn status(&self) -> PassStatus {
        self.status.lock().clone()
    }

    /// A handle that wakes the loop (used by triggers and tests).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// One pass: observe, plan, apply the first step, repeat until nothing is left to
    /// do now (or [`MAX_STEPS_PER_PASS`]).
    ///
    /// # Guarantees
    ///
    /// Each step is planned from an observation made after the previous step finished.
    /// `on_step` is called after each applied step (progress output).
    pub async fn reconcile_once(
        &self,
        on_step: &(dyn Fn(&str) + Sync),
    ) -> Result<Action, ReconcileError> {
        let span = info_span!("reconcile", cluster = %self.subject.cluster(), subject = self.subject.kind(), otel.name = "reconcile");
        async {
            let mut applied = Vec::new();
            let result = self.pass(&mut applied, on_step).await;
            let mut st = self.status.lock();
            st.finished_at = Some(SystemTime::now());
            st.applied = applied;
            match &result {
                Ok(_) => {
                    st.ok = true;
                    st.error = None;
                    st.last_success = st.finished_at;
                }
                Err(e) => {
                    st.ok = false;
                    st.error = Some(e.to_string());
                }
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn pass(
        &self,
        applied: &mut Vec<String>,
        on_step: &(dyn Fn(&str) + Sync),
    ) -> Result<Action, ReconcileError> {
        for _ in 0..MAX_STEPS_PER_PASS {
            let observed = self
                .subject
                .observe()
                .instrument(info_span!("observe", otel.name = "observe"))
                .await
                .map_err(|e| {
                    if let SubjectError::Runtime(r @ RuntimeError::Unreachable(_)) = &e {
                        self.metrics.dependencies().blind(
                            deps::RUNTIME,
                            deps::Criticality::Critical,
                            &r.to_string(),
                            true,
                        );
                    }
                    ReconcileError::Observe(e)
                })?;
            self.metrics
                .dependencies()
                .ok(deps::RUNTIME, deps::Criticality::Critical, true);
            let plan = self.subject.plan(&observed, SystemTime::now());
            for o in &self.observers {
                o.observed(&observed, &plan);
            }
            {
                let mut st = self.status.lock();
                st.pending = plan.steps.iter().map(ToString::to_string).collect();
                st.waits = plan.waits.clone();
                st.refusals = plan.refusals.clone();
                st.faults = plan.faults.clone();
                st.converged = plan.is_converged();
            }
            let Some(step) = plan.steps.first() else {
                let after = if plan.waits.is_empty() {
                    self.subject.resync_interval()
                } else {
                    WAITING_RECHECK.min(self.subject.resync_interval())
                };
                return Ok(Action::requeue(after));
            };
            let text = step.to_string();
            let kind = step_kind(step);
            info!(step = %text, "applying step");
            let res = self
                .subject
                .apply(step)
                .instrument(info_span!("step", otel.name = %format!("step {kind}"), step = %text))
                .await;
            if let Err(source) = res {
                self.metrics.step_failed();
                return Err(ReconcileError::Step { step: text, source });
            }
            self.metrics.step_applied(&kind);
            on_step(&text);
            applied.push(text);
        }
        Ok(Action::requeue(Duration::ZERO))
    }

    /// Runs the loop until `shutdown` completes. Woken by the resync interval, by
    /// Docker events on owned containers, by edits of the spec file (via
    /// [`Controller::waker`]) and by its own requeues.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let events = tokio::spawn(watch_runtime_events(
            self.subject.clone(),
            self.wake.clone(),
        ));
        let mut backoff = ErrorBackoff::new(Duration::from_millis(500), self.subject.max_backoff());
        let mut next = Instant::now();
        let mut pending = true;
        tokio::pin!(shutdown);
        loop {
            self.metrics.set_queue_depth(u64::from(pending));
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep_until(next.into()) => {}
                _ = self.wake.notified() => {}
            }
            pending = false;
            match self.subject.reload().await {
                Ok(changed) => {
                    if changed {
                        info!("spec reloaded");
                    }
                    self.status.lock().spec_error = None;
                }
                Err(e) => {
                    warn!(error = %e, "spec on disk rejected; the previous spec stays in force");
                    self.status.lock().spec_error = Some(e.to_string());
                }
            }
            let started = Instant::now();
            let result = self.reconcile_once(&|_| {}).await;
            let secs = started.elapsed().as_secs_f64();
            match result {
                Ok(action) => {
                    backoff.reset();
                    let result = if action.requeue_after().is_zero() {
                        "requeue"
                    } else {
                        "success"
                    };
                    self.metrics.observe_pass(result, secs);
                    next = Instant::now() + action.requeue_after();
                }
                Err(e) => {
                    self.metrics.observe_pass("error", secs);
                    let delay = backoff.next_delay();
                    warn!(error = %e, retry_in = ?delay, "reconcile failed");
                    next = Instant::now() + delay;
                }
            }
        }
        events.abort();
    }
}

fn step_kind<T: Serialize>(step: &T) -> String {
    serde_json::to_value(step)
        .ok()
        .and_then(|v| v.get("step").and_then(|s| s.as_str()).map(str::to_string))
        .unwrap_or_else(|| "step".into())
}

/// Subscribes to the runtime's events for the cluster and wakes the loop on each;
/// resubscribes with backoff when the daemon goes away (the stream ends).
async fn watch_runtime_events<S: Subject>(subject: Arc<S>, wake: Arc<Notify>) {
    let mut backoff = ErrorBackoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        let mut stream = subject.runtime().events(&subject.cluster());
        let mut got_any = false;
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(ev) => {
                    if !got_any {
                        backoff.reset();
                        got_any = true;
                    }
                    tracing::debug!(container = %ev.container, action = %ev.raw_action, "docker event");
                    wake.notify_one();
                }
                Err(e) => {
                    warn!(error = %e, "docker event stream failed");
                    break;
                }
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
        // Events may have been missed while disconnected: run a pass.
        wake.notify_one();
    }
}
