//! The diagnosis reconciler: picks open tickets, leases them, gathers context, asks the
//! backend, validates and grounds the answer, logs the decision and completes the ticket.
//!
//! # Why a lease
//!
//! Several operator processes (or tasks) may run the loop; a lease with a TTL makes sure
//! a ticket is diagnosed by one holder at a time, and a crashed holder's lease expires
//! instead of blocking the ticket forever.
//!
//! # Rate limits
//!
//! A 429 that survives the client's own retries means the *account* is throttled, not the
//! ticket: the whole loop pauses for the server's `retry-after` (every worker waits), and
//! the ticket is released unharmed to be picked up after the pause. Other failures put
//! only that ticket on a local backoff; with a fallback backend configured (the rules
//! engine), a permanently failing model (spend cap, refusal, malformed output) still
//! yields a diagnosis.
//!
//! Sequential by default (`concurrency = 1`); the semaphore bounds parallel diagnoses.
//!
//! # A model's failures are shown, not hidden
//!
//! When a model backend's answer does not parse, breaks the schema, names a cause outside
//! the catalog, cites evidence that was not in the context (strict grounding, on for
//! every backend but the rules engine), or does not arrive in time, the failure is
//! classified ([`super::failure::ModelFailureKind`]), counted (stats and
//! `operator_diagnosis_model_failures_total`), and — when the fallback answers instead —
//! recorded on that diagnosis and its decision-log line, so nobody mistakes the rules
//! engine's answer for the model's.

use super::backend::{BackendError, DiagnosisBackend};
use super::catalog::CauseCatalog;
use super::context::{
    build_prompt_with, select_similar, similar_section, PastTicket, PromptOptions,
};
use super::decision_log::{now_rfc3339, DecisionEntry, DecisionLog};
use super::failure::{ModelFailure, ModelFailureKind};
use super::ground::{finalize, GroundError};
use super::model::{ContextSection, Diagnosis, DiagnosisRequest, TicketBrief};
use crate::reconcile::deps::{Criticality, Dependencies, MODEL_API};
use crate::reconcile::metrics::Metrics;
use async_trait::async_trait;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The ticket store, as the diagnosis loop needs it.
#[async_trait]
pub trait TicketQueue: Send + Sync {
    /// The oldest open ticket that has no diagnosis and no live lease, skipping `skip`.
    async fn next_open(&self, skip: &HashSet<u64>) -> Option<TicketBrief>;
    /// Takes a lease on ticket `id` for `holder` for `ttl`. False if someone else holds it.
    async fn lease(&self, id: u64, holder: &str, ttl: Duration) -> bool;
    /// Stores the diagnosis and drops the lease. False if `holder` lost the lease.
    async fn complete(&self, id: u64, holder: &str, diagnosis: Diagnosis) -> bool;
    /// Drops the lease without a diagnosis (`reason` says why, redacted).
    async fn release(&self, id: u64, holder: &str, reason: &str);
    /// Diagnosed past tickets that may be similar (the loop picks the top 3).
    async fn similar(&self, brief: &TicketBrief) -> Vec<PastTicket>;
    /// A diagnosed ticket whose evidence changed since its diagnosis (a related ticket
    /// opened, its summary or severity changed) while that evidence may still be
    /// arriving, with why: the loop diagnoses it again. None by default.
    async fn next_revisit(&self, _skip: &HashSet<u64>) -> Option<(TicketBrief, String)> {
        None
    }
    /// Takes diagnosed ticket `id` back under a lease to revisit it. False by default.
    async fn revisit(&self, _id: u64, _holder: &str, _ttl: Duration, _reason: &str) -> bool {
        false
    }
}

/// Gathers context sections for a ticket (metrics window, PD state, logs, events, topology).
#[async_trait]
pub trait ContextSource: Send + Sync {
    /// Candidate sections with relevance; the prompt builder cuts to the budget.
    async fn sections(&self, brief: &TicketBrief) -> Vec<ContextSection>;
}

/// Several context sources, their sections concatenated (the prompt builder ranks and
/// cuts them together).
pub(crate) struct Sources(pub Vec<Arc<dyn ContextSource>>);

#[async_trait]
impl ContextSource for Sources {
    async fn sections(&self, brief: &TicketBrief) -> Vec<ContextSection> {
        let mut out = Vec::new();
        for source in &self.0 {
            out.extend(source.sections(brief).await);
        }
        out
    }
}

/// A context source with nothing to add (the ticket's evidence alone).
#[derive(Debug, Clone, Default)]
pub struct NoExtraContext;

#[async_trait]
impl ContextSource for NoExtraContext {
    async fn sections(&self, _brief: &TicketBrief) -> Vec<ContextSection> {
        vec![]
    }
}

/// Loop configuration.
#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    /// Lease holder name (process identity).
    pub holder: String,
    /// Lease TTL (longer than a diagnosis with retries).
    pub lease_ttl: Duration,
    /// Parallel diagnoses (1 = sequential).
    pub concurrency: usize,
    /// Input token budget.
    pub token_budget: usize,
    /// Wait between polls when no ticket is open.
    pub poll_interval: Duration,
    /// Backoff of a ticket whose diagnosis failed (doubles per failure, capped at 16×).
    pub failure_backoff: Duration,
    /// Pause when a 429 carries no retry-after.
    pub default_rate_limit_pause: Duration,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        Self {
            holder: format!("operator-{}", std::process::id()),
            // Longer than three Claude attempts at the 300 s default timeout plus backoff.
            lease_ttl: Duration::from_secs(20 * 60),
            concurrency: 1,
            token_budget: super::context::DEFAULT_TOKEN_BUDGET,
            poll_interval: Duration::from_secs(5),
            failure_backoff: Duration::from_secs(60),
            default_rate_limit_pause: Duration::from_secs(30),
        }
    }
}

/// Counters, for tests and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReconcilerStats {
    /// Tickets diagnosed and completed.
    pub diagnosed: u64,
    /// Diagnoses that came from the fallback backend.
    pub fallback_used: u64,
    /// Failed attempts.
    pub failed: u64,
    /// Rate-limit pauses taken.
    pub rate_limit_pauses: u64,
    /// Last failure, redacted.
    pub last_error: Option<String>,
    /// Failures of the primary (model) backend by kind name.
    pub model_failures: BTreeMap<String, u64>,
}

/// Why one ticket's diagnosis failed.
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseTicketError {
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The answer did not validate.
    #[error(transparent)]
    Invalid(#[from] GroundError),
    /// The decision log could not be written.
    #[error(transparent)]
    DecisionLog(#[from] super::decision_log::DecisionLogError),
    /// Strict grounding: the answer cites evidence that is not in the context.
    #[error("grounding rejected the answer: {} citation(s) not in the context: {}", .0.len(), .0.join("; "))]
    Ungrounded(Vec<String>),
}

impl DiagnoseTicketError {
    /// The model failure this error is, if it is one (a decision-log write is not).
    pub fn model_failure_kind(&self) -> Option<ModelFailureKind> {
        match self {
            Self::Backend(e) => Some(ModelFailureKind::of_backend(e)),
            Self::Invalid(e) => Some(ModelFailureKind::of_ground(e)),
            Self::Ungrounded(_) => Some(ModelFailureKind::Ungrounded),
            Self::DecisionLog(_) => None,
        }
    }
}

struct Shared {
    pause_until: Mutex<Option<Instant>>,
    backoff: Mutex<HashMap<u64, (u32, Instant)>>,
    stats: Mutex<ReconcilerStats>,
}

/// The diagnosis loop.
#[derive(Clone)]
pub struct DiagnosisReconciler {
    backend: Arc<dyn DiagnosisBackend>,
    fallback: Option<Arc<dyn DiagnosisBackend>>,
    queue: Arc<dyn TicketQueue>,
    context: Arc<dyn ContextSource>,
    log: Option<DecisionLog>,
    deps: Option<Arc<Dependencies>>,
    runbooks: Option<Arc<dyn super::runbook::RunbookSource>>,
    metrics: Option<Arc<Metrics>>,
    catalog: Option<&'static CauseCatalog>,
    strict_grounding: Option<bool>,
    investigation: Option<(
        Arc<dyn super::investigate::Toolbox>,
        super::investigate::Budget,
    )>,
    cfg: ReconcilerConfig,
    shared: Arc<Shared>,
}

impl DiagnosisReconciler {
    /// A loop over `queue` with `backend`.
    pub fn new(
        backend: Arc<dyn DiagnosisBackend>,
        queue: Arc<dyn TicketQueue>,
        context: Arc<dyn ContextSource>,
        cfg: ReconcilerConfig,
    ) -> Self {
        Self {
            backend,
            fallback: None,
            queue,
            context,
            log: None,
            deps: None,
            runbooks: None,
            metrics: None,
            catalog: None,
            strict_grounding: None,
            investigation: None,
            cfg,
            shared: Arc::new(Shared {
                pause_until: Mutex::new(None),
                backoff: Mutex::new(HashMap::new()),
                stats: Mutex::new(ReconcilerStats::default()),
            }),
        }
    }

    /// Uses `fallback` (normally the rules engine) when the backend fails for a reason
    /// other than a rate limit.
    pub fn with_fallback(mut self, fallback: Arc<dyn DiagnosisBackend>) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// Attaches the subject's runbook (command, check, risk) to each recommendation.
    pub(crate) fn with_runbooks(
        mut self,
        runbooks: Arc<dyn super::runbook::RunbookSource>,
    ) -> Self {
        self.runbooks = Some(runbooks);
        self
    }

    /// Sends the schema in `catalog`'s vocabulary (the subject's causes, actions and
    /// citations) instead of the open one, and the subject's system prompt: a model can
    /// then only name a cause and recommend an action the catalog has.
    pub fn with_catalog(mut self, catalog: &'static CauseCatalog) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// Lets a model backend investigate with `toolbox`'s read-only tools within `budget`
    /// before it answers (see [`super::investigate`]). Backends that cannot hold a
    /// tool-use conversation (the rules engine) still answer in one shot.
    pub fn with_investigation(
        mut self,
        toolbox: Arc<dyn super::investigate::Toolbox>,
        budget: super::investigate::Budget,
    ) -> Self {
        self.investigation = Some((toolbox, budget));
        self
    }

    /// Counts model failures in `metrics` (`operator_diagnosis_model_failures_total`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn strict(&self) -> bool {
        self.strict_grounding
            .unwrap_or(self.backend.name() != "rules")
    }

    fn count_model_failure(&self, kind: ModelFailureKind) {
        *self
            .shared
            .stats
            .lock()
            .model_failures
            .entry(kind.name().to_string())
            .or_default() += 1;
        if let Some(m) = &self.metrics {
            m.add_counter(
                "operator_diagnosis_model_failures_total",
                &format!(
                    "backend=\"{}\",kind=\"{}\"",
                    self.backend.name(),
                    kind.name()
                ),
                1,
            );
        }
    }

    /// Appends each decision to `log`.
    pub fn with_decision_log(mut self, log: DecisionLog) -> Self {
        self.log = Some(log);
        self
    }

    /// Reports the primary backend's reachability to `deps` (as
    /// [`crate::reconcile::deps::MODEL_API`], auxiliary: the fallback keeps diagnosing).
    pub fn with_dependencies(mut self, deps: Arc<Dependencies>) -> Self {
        self.deps = Some(deps);
        self
    }

    fn report_model(&self, error: Option<&BackendError>) {
        let Some(deps) = &self.deps else { return };
        // The offline rules engine has no API to be blind to.
        if self.backend.name() == "rules" {
            return;
        }
        match error {
            None => deps.ok(MODEL_API, Criticality::Auxiliary, true),
            Some(e) => deps.blind(
                MODEL_API,
                Criticality::Auxiliary,
                &super::redact::redact(&e.to_string()),
                true,
            ),
        }
    }

    /// Current counters.
    pub fn stats(&self) -> ReconcilerStats {
        self.shared.stats.lock().clone()
    }

    /// Diagnoses one brief end to end (context, prompt, backend, grounding, decision log).
    /// Does not touch the queue's lease.
    pub async fn diagnose_brief(
        &self,
        brief: &TicketBrief,
    ) -> Result<Diagnosis, DiagnoseTicketError> {
        let mut sections = self.context.sections(brief).await;
        let past = self.queue.similar(brief).await;
        if let Some(s) = similar_section(&select_similar(brief, &past, 3)) {
            sections.push(s);
        }
        let req = DiagnosisRequest {
            ticket: brief.clone(),
            sections,
        };
        // The budget that fits the backend's model (a small local model reads slowly),
        // in the subject's vocabulary (its system prompt, causes, actions and citations).
        let prompt = build_prompt_with(
            &req,
            &PromptOptions {
                budget: self
                    .backend
                    .context_tokens()
                    .unwrap_or(self.cfg.token_budget),
                catalog: self.catalog,
                compact: self.backend.compact_answer(),
            },
        );
        // One span per model call: what was diagnosed and by whom (never the prompt).
        let span =
            tracing::info_span!("diagnose", ticket = brief.id, backend = self.backend.name());
        let started = Instant::now();
        let mut primary_usage = super::model::Usage::default();
        let mut investigation = None;
        let primary = async {
            let (raw, grounding) = match (&self.investigation, self.backend.tool_chat()) {
                (Some((tools, budget)), Some(chat)) => {
                    let out = super::investigate::investigate(
                        chat,
                        &*self.backend,
                        &**tools,
                        budget,
                        &prompt,
                    )
                    .await;
                    self.report_model(out.as_ref().err().map(|f| &f.error));
                    // What the model did before a failure is kept for the fallback's diagnosis.
                    let out = out.map_err(|f| {
                        investigation = Some(f.record);
                        f.error
                    })?;
                    investigation = Some(out.record);
                    // The tool results are context the model saw: citations may quote them.
                    let grounding = super::ground::with_tool_results(&prompt, &out.seen);
                    (out.raw, std::borrow::Cow::Owned(grounding))
                }
                _ => {
                    let raw = self.backend.diagnose(&prompt).await;
                    self.report_model(raw.as_ref().err());
                    (raw?, std::borrow::Cow::Borrowed(&prompt))
                }
            };
            let mut raw = raw;
            with_speed(&mut raw.usage, started.elapsed());
            primary_usage = raw.usage.clone();
            let mut d = finalize(&grounding, &raw, self.backend.name())?;
            d.investigation = investigation.clone();
            if self.strict() && !d.grounding.ungrounded.is_empty() {
                return Err(DiagnoseTicketError::Ungrounded(d.grounding.ungrounded));
            }
            Ok::<_, DiagnoseTicketError>(d)
        }
        .instrument(span)
        .await;
        if primary_usage.wall_ms == 0 {
            // No answer came back (timeout, transport): the time spent waiting still counts.
            primary_usage.wall_ms = started.elapsed().as_millis() as u64;
        }
        // Identical tool calls were refused and the investigation went on: still a failure
        // of the model's, counted even when its answer was good.
        if investigation.as_ref().is_some_and(|i| i.repeated_calls > 0) {
            self.count_model_failure(ModelFailureKind::RepeatedToolCalls);
        }
        if let Err(e) = &primary {
            if let Some(kind) = e.model_failure_kind() {
                let rate_limited =
                    matches!(e, DiagnoseTicketError::Backend(b) if b.rate_limit_pause().is_some());
                if self.backend.name() != "rules" && !rate_limited {
                    self.count_model_failure(kind);
                    tracing::warn!(
                        ticket = brief.id,
                        backend = self.backend.name(),
                        kind = kind.name(),
                        "the model's diagnosis failed"
                    );
                }
            }
        }
        let diagnosis = match primary {
            Ok(d) => d,
            Err(DiagnoseTicketError::Backend(e)) if e.rate_limit_pause().is_some() => {
                return Err(DiagnoseTicketError::Backend(e))
            }
            Err(e) => match &self.fallback {
                Some(fb) => {
                    tracing::warn!(ticket = brief.id, error = %super::redact::redact(&e.to_string()), fallback = fb.name(), "diagnosis failed; using the fallback backend");
                    let started = Instant::now();
                    let mut raw = fb.diagnose(&prompt).await?;
                    with_speed(&mut raw.usage, started.elapsed());
                    let mut d = finalize(&prompt, &raw, fb.name())?;
                    let detail = super::redact::redact(&e.to_string());
                    d.context_cut.push(format!(
                        "primary backend {} failed: {detail}",
                        self.backend.name(),
                    ));
                    // What the model looked at before its answer failed, for the reader.
                    d.investigation = investigation.clone();
                    d.model_failure = e.model_failure_kind().map(|kind| ModelFailure {
                        backend: self.backend.name().to_string(),
                        model: self.backend.model().to_string(),
                        kind,
                        detail,
                        usage: primary_usage.clone(),
                    });
                    self.shared.stats.lock().fallback_used += 1;
                    d
                }
                None => return Err(e),
            },
        };
        // The model saw only redacted text, but it may still echo something secret-looking:
        // redact before the diagnosis reaches the ticket store or the decision log.
        let mut diagnosis = redact_diagnosis(diagnosis);
        if let Some(r) = &self.runbooks {
            diagnosis.runbook = r.runbook(&diagnosis.recommended_action.kind, brief, &prompt.facts);
        }
        tracing::info!(
            ticket = brief.id,
            backend = %diagnosis.backend,
            model = %diagnosis.model,
            action = diagnosis.recommended_action.kind.name(),
            confidence = diagnosis.confidence,
            input_tokens = diagnosis.usage.input_tokens,
            output_tokens = diagnosis.usage.output_tokens,
            cache_read = diagnosis.usage.cache_read,
            cost_usd = diagnosis.usage.cost_usd,
            grounded = diagnosis.grounding.grounded,
            ungrounded = diagnosis.grounding.ungrounded.len(),
            cut = diagnosis.context_cut.len(),
            "ticket diagnosed"
        );
        if let Some(log) = &self.log {
            log.append(&DecisionEntry::from_diagnosis(
                brief.id,
                &diagnosis,
                &now_rfc3339(),
            ))?;
        }
        Ok(diagnosis)
    }

    async fn wait_for_pause(&self, shutdown: &CancellationToken) -> bool {
        loop {
            let until = *self.shared.pause_until.lock();
            match until {
                Some(t) if t > Instant::now() => {
                    tokio::select! {
                        _ = shutdown.cancelled() => return false,
                        _ = tokio::time::sleep_until(t) => {}
                    }
                }
                _ => return true,
            }
        }
    }

    fn skip_set(&self) -> HashSet<u64> {
        let now = Instant::now();
        let mut b = self.shared.backoff.lock();
        b.retain(|_, (_, until)| *until > now);
        b.keys().copied().collect()
    }

    async fn process(&self, brief: TicketBrief) {
        let id = brief.id;
        match self.diagnose_brief(&brief).await {
            Ok(d) => {
                if self.queue.complete(id, &self.cfg.holder, d).await {
                    self.shared.stats.lock().diagnosed += 1;
                    self.shared.backoff.lock().remove(&id);
                } else {
                    tracing::warn!(
                        ticket = id,
                        "lease lost before completion; diagnosis discarded"
                    );
                }
            }
            Err(e) => {
                let msg = super::redact::redact(&e.to_string());
                if let DiagnoseTicketError::Backend(be) = &e {
                    if let Some(p) = be.rate_limit_pause() {
                        let pause = if matches!(
                            be,
                            BackendError::RateLimited {
                                retry_after: None,
                                ..
                            }
                        ) {
                            self.cfg.default_rate_limit_pause
                        } else {
                            p
                        };
                        let until = Instant::now() + pause;
                        {
                            let mut pu = self.shared.pause_until.lock();
                            if pu.map(|t| t < until).unwrap_or(true) {
                                *pu = Some(until);
                            }
                        }
                        tracing::warn!(
                            ticket = id,
                            pause_secs = pause.as_secs_f64(),
                            "rate limited; pausing the diagnosis loop"
                        );
                        {
                            let mut s = self.shared.stats.lock();
                            s.rate_limit_pauses += 1;
                            s.last_error = Some(msg.clone());
                        }
                        self.queue.release(id, &self.cfg.holder, &msg).await;
                        return;
                    }
                }
                tracing::warn!(ticket = id, error = %msg, "diagnosis failed");
                {
                    let mut s = self.shared.stats.lock();
                    s.failed += 1;
                    s.last_error = Some(msg.clone());
                }
                {
                    let mut b = self.shared.backoff.lock();
                    let n = b.get(&id).map(|x| x.0).unwrap_or(0) + 1;
                    let wait = self
                        .cfg
                        .failure_backoff
                        .saturating_mul(1u32 << (n - 1).min(4));
                    b.insert(id, (n, Instant::now() + wait));
                }
                self.queue.release(id, &self.cfg.holder, &msg).await;
            }
        }
    }

    /// Runs until `shutdown` is cancelled.
    ///
    /// # Guarantees
    /// - At most `concurrency` diagnoses run at once; each holds a lease on its ticket.
    /// - After a rate-limited failure no new diagnosis starts before the pause ends.
    /// - On shutdown no new ticket is taken; running diagnoses finish before this returns.
    pub async fn run(&self, shutdown: CancellationToken) {
        let sem = Arc::new(Semaphore::new(self.cfg.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            if shutdown.is_cancelled() || !self.wait_for_pause(&shutdown).await {
                break;
            }
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                p = sem.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            };
            // The pause may have started while we waited for a permit.
            if !self.wait_for_pause(&shutdown).await {
                break;
            }
            while tasks.try_join_next().is_some() {}
            let skip = self.skip_set();
            let next = self.queue.next_open(&skip).await;
            if next.is_none() {
                // Level-triggered: with nothing new to diagnose, a diagnosis whose evidence
                // changed since it was made is made again.
                if let Some((brief, why)) = self.queue.next_revisit(&skip).await {
                    if self
                        .queue
                        .revisit(brief.id, &self.cfg.holder, self.cfg.lease_ttl, &why)
                        .await
                    {
                        let this = self.clone();
                        tasks.spawn(async move {
                            this.process(brief).await;
                            drop(permit);
                        });
                        continue;
                    }
                    self.shared
                        .backoff
                        .lock()
                        .insert(brief.id, (0, Instant::now() + self.cfg.poll_interval));
                    drop(permit);
                    continue;
                }
            }
            let Some(brief) = next else {
                drop(permit);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(self.cfg.poll_interval) => continue,
                }
            };
            if !self
                .queue
                .lease(brief.id, &self.cfg.holder, self.cfg.lease_ttl)
                .await
            {
                // Someone else holds it: skip it for one poll interval instead of spinning.
                self.shared
                    .backoff
                    .lock()
                    .insert(brief.id, (0, Instant::now() + self.cfg.poll_interval));
                drop(permit);
                continue;
            }
            let this = self.clone();
            tasks.spawn(async move {
                this.process(brief).await;
                drop(permit);
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Diagnoses every currently open ticket once (sequentially) and returns how many were
    /// completed. For `operator diagnose --once` and tests.
    pub async fn run_until_idle(&self) -> u64 {
        let before = self.stats().diagnosed;
        let mut tried = HashSet::new();
        loop {
            let mut skip = self.skip_set();
            skip.extend(tried.iter().copied());
            let brief = match self.queue.next_open(&skip).await {
                Some(b) => {
                    if !self
                        .queue
                        .lease(b.id, &self.cfg.holder, self.cfg.lease_ttl)
                        .await
                    {
                        tried.insert(b.id);
                        continue;
                    }
                    b
                }
                None => {
                    let Some((b, why)) = self.queue.next_revisit(&skip).await else {
                        break;
                    };
                    if !self
                        .queue
                        .revisit(b.id, &self.cfg.holder, self.cfg.lease_ttl, &why)
                        .await
                    {
                        tried.insert(b.id);
                        continue;
                    }
                    b
                }
            };
            tried.insert(brief.id);
            let pause = *self.shared.pause_until.lock();
            if let Some(t) = pause {
                tokio::time::sleep_until(t).await;
            }
            self.process(brief).await;
        }
        self.stats().diagnosed - before
    }
}

/// Redacts every string of a diagnosis (claims, quotes, rationale, …).
pub(crate) fn redact_diagnosis(d: Diagnosis) -> Diagnosis {
    let v = serde_json::to_value(&d).unwrap_or_default();
    // Strings only: every value keeps its type, so this deserializes back.
    let r = super::redact::redact_strings(&v);
    serde_json::from_value(r).unwrap_or(d)
}

/// An in-memory [`TicketQueue`] (tests, dry runs, `--once` without a store).
#[derive(Debug, Default)]
pub struct MemoryQueue {
    inner: Mutex<MemoryQueueInner>,
}

#[derive(Debug, Default)]
struct MemoryQueueInner {
    open: Vec<TicketBrief>,
    leases: HashMap<u64, (String, Instant)>,
    done: HashMap<u64, Diagnosis>,
    releases: Vec<(u64, String)>,
    past: Vec<PastTicket>,
}

impl MemoryQueue {
    /// A queue holding `tickets` (open, in order).
    pub fn new(tickets: Vec<TicketBrief>) -> Self {
        Self {
            inner: Mutex::new(MemoryQueueInner {
                open: tickets,
                ..Default::default()
            }),
        }
    }

    /// Adds diagnosed past tickets for similarity.
    pub fn add_past(&self, past: Vec<PastTicket>) {
        self.inner.lock().past.extend(past);
    }

    /// The diagnosis stored for `id`.
    pub fn diagnosis(&self, id: u64) -> Option<Diagnosis> {
        self.inner.lock().done.get(&id).cloned()
    }

    /// Releases so far: (id, reason).
    pub fn releases(&self) -> Vec<(u64, String)> {
        self.inner.lock().releases.clone()
    }
}

#[async_trait]
impl TicketQueue for MemoryQueue {
    async fn next_open(&self, skip: &HashSet<u64>) -> Option<TicketBrief> {
        let g = self.inner.lock();
        let now = Instant::now();
        g.open
            .iter()
            .find(|t| {
                !skip.contains(&t.id)
                    && !g.done.contains_key(&t.id)
                    && g.leases
                        .get(&t.id)
                        .map(|(_, until)| *until <= now)
                        .unwrap_or(true)
            })
            .cloned()
    }

    async fn lease(&self, id: u64, holder: &str, ttl: Duration) -> bool {
        let mut g = self.inner.lock();
        let now = Instant::now();
        match g.leases.get(&id) {
            Some((h, until)) if *until > now && h != holder => false,
            _ => {
                g.leases.insert(id, (holder.to_string(), now + ttl));
                true
            }
        }
    }

    async fn complete(&self, id: u64, holder: &str, diagnosis: Diagnosis) -> bool {
        let mut g = self.inner.lock();
        match g.leases.get(&id) {
            Some((h, until)) if h == holder && *until > Instant::now() => {
                g.leases.remove(&id);
                g.done.insert(id, diagnosis);
                true
            }
            _ => false,
        }
    }

    async fn release(&self, id: u64, holder: &str, reason: &str) {
        let mut g = self.inner.lock();
        if g.leases.get(&id).map(|(h, _)| h == holder).unwrap_or(false) {
            g.leases.remove(&id);
        }
        g.releases.push((id, reason.to_string()));
    }

    async fn similar(&self, _brief: &TicketBrief) -> Vec<PastTicket> {
        self.inner.lock().past.clone()
    }
}

/// Fills the wall time (when the backend did not measure it) and, from it, the output
/// speed (when the server did not report one).
fn with_speed(usage: &mut super::model::Usage, elapsed: Duration) {
    if usage.wall_ms == 0 {
        usage.wall_ms = elapsed.as_millis() as u64;
    }
    if usage.output_tokens_per_s == 0.0 && usage.output_tokens > 0 && usage.wall_ms > 0 {
        usage.output_tokens_per_s = usage.output_tokens as f64 * 1000.0 / usage.wall_ms as f64;
    }
}
