//! One scenario run, end to end, on any subject's [`EvalHarness`], with the operator's
//! own machinery:
//!
//! ```text
//! start cluster ─► settle (no violation for two snapshots) ─► fresh ticket store
//!   ─► the fault phase: faults and noise applied on their schedule (simulated times ÷
//!      the time factor), while
//!        · the monitor's round (`tickets::monitor::round_outcome`, the function `operator
//!          run` calls) runs at the monitor's cadence ÷ the time factor, at once after a
//!          runtime event that wakes the monitor, and when a grace ends
//!        · the diagnosis reconciler (`DiagnosisReconciler::run` over `StoreQueue`, as in
//!          `operator run`) diagnoses every ticket, in the operator's order
//!   ─► ends when every true root cause has been asserted and `observe_after` more has
//!      passed, or at the detection deadline; tickets still open are diagnosed
//!   ─► score (ground truth is read only here)
//! ```
//!
//! The evidence is what a deployment collects (the subject's harness). Nothing picks
//! "the" ticket to diagnose: every ticket counts, and every asserted cause is scored.
//! The diagnosis reconciler is built by the subject's registry entry
//! ([`crate::subjects::SubjectDiagnosis::reconciler`]), the function `operator run`
//! calls. A simulated subject runs faster than wall time (its time factor): every
//! duration of the run is divided by it, so it means the same simulated time as on a
//! real cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use serde::Serialize;

use super::scenario::{ExpectedCause, Scenario, ScenarioSchema};
use super::score::{self, Entities, ResolvedCause, RunScore};
use super::subject::EvalHarness;
use super::EvalError;
use crate::diagnose::backend::DiagnosisBackend;
use crate::diagnose::model::{Diagnosis, Usage};
use crate::diagnose::reconciler::ReconcilerConfig;
use crate::reconcile::Metrics;
use crate::tickets::monitor::{self, MONITOR_INTERVAL};
use crate::tickets::{TicketFilter, TicketStore};

/// How runs are driven.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Simulated seconds per wall second.
    pub time_factor: f64,
    /// Base seed (run `n` uses `seed + n`).
    pub seed: u64,
    /// Give up detecting this long (wall) after the last fault was injected.
    pub detect_timeout: Duration,
    /// How long a control run is watched after its last noise event (wall).
    pub control_window: Duration,
    /// How long the cluster may take to settle before the fault (wall).
    pub settle_timeout: Duration,
    /// Simulated time watched after every true cause was asserted (later tickets, and
    /// what the operator blames for them, still count).
    pub observe_after: Duration,
    /// Past tickets with confirmed causes the diagnosis loop remembers (`eval --memory`'s
    /// second pass; see [`super::memory`]).
    pub memory: Option<Arc<super::memory::Memory>>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            time_factor: 30.0,
            seed: 1,
            detect_timeout: Duration::from_secs(20),
            control_window: Duration::from_secs(6),
            settle_timeout: Duration::from_secs(45),
            observe_after: Duration::from_secs(60),
            memory: None,
        }
    }
}

impl RunnerConfig {
    /// Wall time of a simulated duration.
    pub fn wall(&self, sim: Duration) -> Duration {
        Duration::from_secs_f64(sim.as_secs_f64() / self.time_factor.max(1.0))
    }

    /// The monitor's cadence, ÷ the time factor (at least 50 ms).
    pub fn interval(&self) -> Duration {
        self.wall(MONITOR_INTERVAL).max(Duration::from_millis(50))
    }
}

/// The backend under test, and the fallback `operator run` would use.
#[derive(Clone)]
pub struct BackendUnderTest {
    /// Its name (`rules`, `claude`, `openai`), as diagnoses record it.
    pub name: String,
    /// The backend.
    pub backend: Arc<dyn DiagnosisBackend>,
    /// The investigation a model backend may run before it answers (the run's read-only
    /// tools: the harness's [`EvalHarness::toolbox`] and the ticket memory), as `operator
    /// run` wires it; `None`: one request per diagnosis.
    pub investigation: Option<crate::diagnose::investigate::Budget>,
}

impl std::fmt::Debug for BackendUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendUnderTest")
            .field("name", &self.name)
            .finish()
    }
}

impl BackendUnderTest {
    /// The offline rules engine with the reasoning of `subject` (as tickets name it), as
    /// `operator run` builds it.
    pub fn rules(subject: &str) -> Self {
        Self {
            name: "rules".into(),
            backend: Arc::new(crate::diagnose::backend::rules::RulesBackend::new(
                Default::default(),
                (crate::subjects::diagnosis(subject).reasoner)(),
            )),
            investigation: None,
        }
    }
}

/// A ticket the run saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeenTicket {
    /// Ticket id.
    pub id: u64,
    /// Invariant.
    pub invariant: String,
    /// Target.
    pub target: String,
    /// Summary.
    pub summary: String,
    /// Wall seconds after the fault phase started that it opened.
    pub after_secs: f64,
    /// The cause its diagnosis asserted (`category on target`), if diagnosed.
    pub diagnosed_as: Option<String>,
    /// Wall seconds from opening to its diagnosis.
    pub diagnose_secs: Option<f64>,
}

/// The outcome of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// Scenario name.
    pub scenario: String,
    /// Fault kinds (`slow-disk+hot-region`, `noisy-control`, `control`).
    pub kind: String,
    /// Run number.
    pub run: usize,
    /// A run without faults (any ticket is a false positive).
    pub control: bool,
    /// The true root causes.
    pub truth: Vec<ExpectedCause>,
    /// Store ids per ordinal.
    pub entities: Entities,
    /// True causes detected (a ticket on their entity, or a diagnosis naming them).
    pub detected_causes: usize,
    /// Every true cause detected.
    pub detected: bool,
    /// Injection → last true cause's first ticket (wall seconds).
    pub time_to_detect_secs: Option<f64>,
    /// Ticket opened → diagnosis stored, p50 over the run's diagnoses (wall seconds).
    pub time_to_diagnose_secs: Option<f64>,
    /// Every ticket opened after the fault phase started.
    pub tickets: Vec<SeenTicket>,
    /// Every ticket's diagnosis as it stands at the end (a diagnosis revisited because
    /// its evidence changed is replaced by the new one), in the order the reconciler
    /// first completed them.
    pub diagnoses: Vec<Diagnosis>,
    /// Diagnoses the reconciler made again because their evidence changed.
    pub revisions: usize,
    /// Scores.
    pub score: RunScore,
    /// Tokens and cost summed over the diagnoses.
    pub usage: Usage,
    /// Why the run could not complete (harness failure, not a missed detection).
    pub error: Option<String>,
}

/// Progress of a run, for readable terminal output.
#[derive(Debug, Clone)]
pub enum Stage<'a> {
    /// Cluster starting.
    Starting {
        /// The cluster's shape in words (`1 PD, 3 TiKV`).
        shape: String,
    },
    /// Healthy and settled.
    Healthy {
        /// Wall time it took.
        after: Duration,
    },
    /// A fault or noise event applied.
    Applied(&'a str),
    /// A ticket opened.
    TicketOpened(&'a SeenTicket),
    /// A diagnosis completed.
    Diagnosed {
        /// Ticket.
        ticket: u64,
        /// What it asserted.
        cause: String,
    },
}

/// Runs one scenario once on `H`'s cluster.
pub async fn run_scenario<H: EvalHarness>(
    s: &Scenario<H::Schema>,
    run: usize,
    cfg: &RunnerConfig,
    backend: &BackendUnderTest,
    progress: &(dyn Fn(Stage<'_>) + Send + Sync),
) -> RunOutcome {
    let mut out = RunOutcome {
        scenario: s.name.clone(),
        kind: s.kind(),
        run,
        control: s.is_control(),
        truth: s.root_causes.clone(),
        entities: Entities::default(),
        detected_causes: 0,
        detected: false,
        time_to_detect_secs: None,
        time_to_diagnose_secs: None,
        tickets: vec![],
        diagnoses: vec![],
        revisions: 0,
        score: RunScore::default(),
        usage: Usage::default(),
        error: None,
    };
    progress(Stage::Starting {
        shape: <H::Schema as ScenarioSchema>::describe_shape(&s.cluster),
    });
    let started = Instant::now();
    let mut h = match H::start(s, run, cfg).await {
        Ok(h) => h,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    if let Err(e) = drive(&mut h, s, &mut out, cfg, backend, progress, started).await {
        out.error = Some(e.to_string());
    }
    h.shutdown().await;
    out
}

fn brief_cause(d: &Diagnosis) -> String {
    let mut s = d.cause.to_string();
    for c in &d.other_causes {
        s.push_str(&format!(" + {c}"));
    }
    s
}

#[allow(clippy::too_many_arguments)]
async fn drive<H: EvalHarness>(
    h: &mut H,
    s: &Scenario<H::Schema>,
    out: &mut RunOutcome,
    cfg: &RunnerConfig,
    backend: &BackendUnderTest,
    progress: &(dyn Fn(Stage<'_>) + Send + Sync),
    started: Instant,
) -> Result<(), EvalError> {
    h.settle(cfg).await?;
    progress(Stage::Healthy {
        after: started.elapsed(),
    });
    out.entities = h.entities().await;
    let entities = out.entities.clone();
    let dir = ScratchDir::new()?;
    let store = Arc::new(
        TicketStore::open(dir.0.join("tickets")).map_err(|e| EvalError::Io(e.to_string()))?,
    );
    let latest: monitor::LatestSnapshot = Arc::new(Mutex::new(None));
    let metrics = Metrics::new();

    // The operator's diagnosis loop, built by the subject's registry entry as `operator
    // run` builds it (its windows and poll interval scaled like every other duration).
    let subject = crate::subjects::diagnosis(<H::Schema as ScenarioSchema>::SUBJECT);
    let (reconciler, queue) = subject.reconciler(crate::subjects::ReconcilerParts {
        backend: backend.backend.clone(),
        store: store.clone(),
        latest: latest.clone(),
        cluster: h.cluster(),
        related_window: cfg.wall(crate::diagnose::store_queue::RELATED_WINDOW),
        extra_context: vec![],
        memory: cfg.memory.as_ref().map(|m| Arc::from(m.past.as_slice())),
        config: ReconcilerConfig {
            holder: "operator-eval".into(),
            poll_interval: cfg.wall(ReconcilerConfig::default().poll_interval),
            failure_backoff: cfg.wall(ReconcilerConfig::default().failure_backoff),
            ..ReconcilerConfig::default()
        },
    });
    // A model investigates with what `operator run` gives it: the subject's read-only
    // tools on this run's cluster, and the ticket memory.
    let reconciler = match backend.investigation.clone() {
        Some(budget) => {
            use crate::diagnose::investigate::{HistoryTools, Toolbox, Toolboxes};
            let mut boxes: Vec<Arc<dyn Toolbox>> = Vec::new();
            boxes.extend(h.toolbox().await);
            boxes.push(Arc::new(HistoryTools::new(queue)));
            reconciler.with_investigation(Arc::new(Toolboxes(boxes)), budget)
        }
        None => reconciler,
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let loop_task = {
        let r = reconciler.clone();
        let c = cancel.clone();
        tokio::spawn(async move { r.run(c).await })
    };

    let t0 = Instant::now();
    let last_fault_sim = s.faults.iter().map(|f| f.at.0).max();
    let last_noise_sim = s
        .noise
        .iter()
        .map(|n| n.at.0 + n.duration.map(|d| d.0).unwrap_or_default())
        .max()
        .unwrap_or_default();
    let deadline = match last_fault_sim {
        Some(at) => cfg.wall(at.max(last_noise_sim)) + h.detect_window(cfg),
        None => cfg.wall(last_noise_sim.max(h.noise_span(s))) + cfg.control_window,
    };
    let horizon_sim = Duration::from_secs_f64(deadline.as_secs_f64() * cfg.time_factor);
    let mut plan = h.schedule(s, horizon_sim).into_iter().peekable();
    let mut truth: Vec<ResolvedCause> = out.truth.iter().map(ResolvedCause::truth).collect();
    let mut injected_at: BTreeMap<usize, f64> = BTreeMap::new();
    let mut first_ticket: BTreeMap<usize, f64> = BTreeMap::new();
    // Ticket id → (index in out.diagnoses, the stored diagnosis it was read from).
    let mut diagnosed: BTreeMap<u64, (usize, serde_json::Value)> = BTreeMap::new();
    let mut all_asserted_at: Option<Instant> = None;
    let mut next_round = Instant::now();
    let open_ended = H::open_ended(s);
    loop {
        let now = Instant::now();
        // Due actions.
        while let Some(sch) = plan.peek() {
            if t0 + cfg.wall(sch.at) > now {
                break;
            }
            let Some(sch) = plan.next() else { break };
            let resolved = h.apply(&sch.action).await?;
            if !resolved.is_empty() {
                // A symbolic target of the truth is the entity it named at injection.
                for r in &resolved {
                    for c in out.truth.iter_mut() {
                        if c.category == r.category && c.target == r.from {
                            c.target = r.to.clone();
                        }
                    }
                }
                truth = out.truth.iter().map(ResolvedCause::truth).collect();
            }
            if let Some(i) = sch.injects {
                injected_at.insert(i, t0.elapsed().as_secs_f64());
            }
            progress(Stage::Applied(&H::describe(&sch.action)));
        }
        // The monitor's round, when due (cadence, grace, or a runtime event).
        if Instant::now() >= next_round {
            let events = h.inbox().take();
            let round = monitor::round_outcome(&*h, &store, &metrics, &latest, &events).await;
            let due = round.as_ref().and_then(|r| r.next_due);
            if let Some(r) = round {
                for t in r.opened.iter().chain(r.reopened.iter()) {
                    let seen = SeenTicket {
                        id: t.id,
                        invariant: t.invariant.clone(),
                        target: t.target.clone(),
                        summary: t.summary.clone(),
                        after_secs: t0.elapsed().as_secs_f64(),
                        diagnosed_as: None,
                        diagnose_secs: None,
                    };
                    progress(Stage::TicketOpened(&seen));
                    // Detection: a ticket on a true cause's entity after its injection.
                    let ent = entities.resolve(&t.target);
                    for (ci, c) in out.truth.iter().enumerate() {
                        if h.ticket_detects(&c.target, &ent, &t.invariant)
                            && !injected_at.is_empty()
                        {
                            first_ticket.entry(ci).or_insert(seen.after_secs);
                        }
                    }
                    out.tickets.push(seen);
                }
            }
            next_round = Instant::now()
                + monitor::next_round_in_within(due, SystemTime::now(), cfg.interval());
        }
        // Diagnoses completed by the operator's loop.
        collect_diagnoses(&store, &mut diagnosed, out, t0, progress);
        // Every true cause asserted?
        if !truth.is_empty() && all_asserted_at.is_none() && plan.peek().is_none() {
            let asserted: BTreeSet<ResolvedCause> = out
                .diagnoses
                .iter()
                .filter(|d| d.backend == backend.name)
                .flat_map(|d| {
                    d.asserted_causes()
                        .into_iter()
                        .map(|c| ResolvedCause::of(c, &entities))
                })
                .collect();
            if truth.iter().all(|c| asserted.contains(c)) {
                all_asserted_at = Some(Instant::now());
            }
        }
        let done = t0.elapsed() >= deadline
            || all_asserted_at.is_some_and(|t| t.elapsed() >= cfg.wall(cfg.observe_after));
        if done && (plan.peek().is_none() || open_ended) {
            break;
        }
        let next_action = plan
            .peek()
            .map(|sch| t0 + cfg.wall(sch.at))
            .unwrap_or(next_round);
        let wake = next_round.min(next_action).max(Instant::now());
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = h.inbox().notified() => { next_round = Instant::now(); }
        }
    }
    cancel.cancel();
    let _ = loop_task.await;
    // Tickets still open are diagnosed as the loop would have, in its order.
    reconciler.run_until_idle().await;
    collect_diagnoses(&store, &mut diagnosed, out, t0, progress);

    // Score: the ground truth is read here only.
    out.score = score::score_run(
        &out.diagnoses,
        &out.truth,
        &entities,
        subject.catalog,
        &backend.name,
    );
    let asserted: BTreeSet<&ResolvedCause> = out.score.asserted.iter().collect();
    let mut ttd: Vec<f64> = Vec::new();
    for (ci, c) in truth.iter().enumerate() {
        let fault_at = s
            .faults
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                let (cat, tgt) = <H::Schema as ScenarioSchema>::implied_cause(&f.what);
                cat == c.category && score::Entity::Known(tgt) == c.target
            })
            .filter_map(|(i, _)| injected_at.get(&i).copied())
            .next()
            .or_else(|| injected_at.values().copied().reduce(f64::min))
            .unwrap_or(0.0);
        match first_ticket.get(&ci) {
            Some(t) => {
                out.detected_causes += 1;
                ttd.push((t - fault_at).max(0.0));
            }
            None if asserted.contains(c) => out.detected_causes += 1,
            None => {}
        }
    }
    out.detected = !truth.is_empty() && out.detected_causes == truth.len();
    out.time_to_detect_secs = if out.detected {
        ttd.iter().copied().reduce(f64::max)
    } else {
        None
    };
    let dts: Vec<f64> = out.tickets.iter().filter_map(|t| t.diagnose_secs).collect();
    out.time_to_diagnose_secs = score::percentile(&dts, 50.0);
    for d in &out.diagnoses {
        out.usage.input_tokens += d.usage.input_tokens;
        out.usage.output_tokens += d.usage.output_tokens;
        out.usage.cache_read += d.usage.cache_read;
        out.usage.cache_creation += d.usage.cache_creation;
        out.usage.cost_usd += d.usage.cost_usd;
    }
    Ok(())
}

/// Reads the diagnoses stored since the last call: a ticket's first diagnosis is
/// appended, a revisited one replaces it (and counts as a revision). Time to diagnose is
/// to the first diagnosis.
fn collect_diagnoses(
    store: &TicketStore,
    diagnosed: &mut BTreeMap<u64, (usize, serde_json::Value)>,
    out: &mut RunOutcome,
    t0: Instant,
    progress: &(dyn Fn(Stage<'_>) + Send + Sync),
) {
    for t in store.list(&TicketFilter::default()) {
        if !t.diagnosed {
            continue;
        }
        let Some(v) = store.get(t.id).ok().flatten().and_then(|f| f.diagnosis) else {
            continue;
        };
        if diagnosed.get(&t.id).is_some_and(|(_, seen)| *seen == v) {
            continue;
        }
        let Ok(d) = serde_json::from_value::<Diagnosis>(v.clone()) else {
            continue;
        };
        let cause = brief_cause(&d);
        progress(Stage::Diagnosed {
            ticket: t.id,
            cause: cause.clone(),
        });
        let first = !diagnosed.contains_key(&t.id);
        if let Some(seen) = out.tickets.iter_mut().find(|x| x.id == t.id) {
            seen.diagnosed_as = Some(cause);
            if first {
                seen.diagnose_secs = Some((t0.elapsed().as_secs_f64() - seen.after_secs).max(0.0));
            }
        }
        match diagnosed.get(&t.id).map(|x| x.0) {
            Some(i) => {
                out.diagnoses[i] = d;
                out.revisions += 1;
                diagnosed.insert(t.id, (i, v));
            }
            None => {
                out.diagnoses.push(d);
                diagnosed.insert(t.id, (out.diagnoses.len() - 1, v));
            }
        }
    }
}

/// A fresh directory for one run's ticket store, removed when dropped.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new() -> Result<Self, EvalError> {
        let p = std::env::temp_dir().join(format!(
            "operator-eval-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&p).map_err(|e| EvalError::Io(format!("{}: {e}", p.display())))?;
        Ok(Self(p))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
