//! One scenario run, end to end, on the in-process simulator, with the operator's own
//! machinery:
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
//! The evidence is what a deployment collects ([`super::harness`]). Nothing picks "the"
//! ticket to diagnose: every ticket counts, and every asserted cause is scored.
//! Graces and "for how long" thresholds are the defaults divided by the time factor, so
//! they mean the same simulated time as on a real cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use serde::Serialize;

use super::harness::{HarnessConfig, SimHarness};
use super::scenario::{ClusterShape, EntityRef, ExpectedCause, Fault, Noise, Scenario};
use super::score::{self, Entities, Entity, ResolvedCause, RunScore};
use super::EvalError;
use crate::diagnose::backend::DiagnosisBackend;
use crate::diagnose::model::{Diagnosis, Usage};
use crate::diagnose::reconciler::{DiagnosisReconciler, ReconcilerConfig, Sources};
use crate::diagnose::store_queue::{RelatedTickets, SnapshotContext, StoreQueue};
use crate::reconcile::deps::Criticality;
use crate::reconcile::Metrics;
use crate::runtime::RuntimeEvent;
use crate::subject::SubjectError;
use crate::subjects::tikv::catalog::CATALOG;
use crate::subjects::tikv::invariants::{self, Thresholds};
use crate::subjects::tikv::plan::Step;
use crate::subjects::tikv::snapshot::TikvSnapshot;
use crate::tickets::monitor::{self, Monitored, MONITOR_INTERVAL};
use crate::tickets::{TicketFilter, TicketStore, Violation};

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
}

impl std::fmt::Debug for BackendUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendUnderTest")
            .field("name", &self.name)
            .finish()
    }
}

impl BackendUnderTest {
    /// The offline rules engine (differential diagnosis over TiKV's hypotheses), as
    /// `operator run` builds it.
    pub fn rules() -> Self {
        Self {
            name: "rules".into(),
            backend: Arc::new(crate::subjects::tikv::hypotheses::rules_backend(
                Default::default(),
            )),
        }
    }
}

/// The invariant thresholds with every duration divided by `factor`.
pub fn scaled_thresholds(factor: f64) -> Thresholds {
    let f = factor.max(1.0);
    let s = |d: Duration| Duration::from_secs_f64(d.as_secs_f64() / f);
    let t = Thresholds::default();
    Thresholds {
        // Two failed status probes a grace apart: probes time out in wall-clock time, so
        // this grace is not scaled (scaled, it would be shorter than one probe).
        store_down_grace: t.store_down_grace,
        upgrade_restart_grace: s(t.upgrade_restart_grace),
        pd_member_grace: s(t.pd_member_grace),
        pd_leader_grace: s(t.pd_leader_grace),
        pd_unreachable_grace: s(t.pd_unreachable_grace),
        prometheus_unreachable_grace: s(t.prometheus_unreachable_grace),
        region_health_grace: s(t.region_health_grace),
        imbalance_grace: s(t.imbalance_grace),
        hot_store_for: s(t.hot_store_for),
        disk_pressure_grace: s(t.disk_pressure_grace),
        latency_grace: s(t.latency_grace),
        slow_store_grace: s(t.slow_store_grace),
        evict_leader_leftover_grace: s(t.evict_leader_leftover_grace),
        offline_stuck_after: s(t.offline_stuck_after),
        ..t
    }
}

/// The in-process cluster as the monitor's round sees it: the same [`Monitored`]
/// contract `operator run`'s subject fulfils (snapshot, invariants, dependencies).
pub struct SimMonitored<'a> {
    harness: &'a SimHarness,
    thresholds: Thresholds,
}

#[async_trait::async_trait]
impl Monitored for SimMonitored<'_> {
    type Snapshot = TikvSnapshot;
    fn kind(&self) -> &'static str {
        "tikv"
    }
    async fn snapshot(&self, events: &[RuntimeEvent]) -> Result<TikvSnapshot, SubjectError> {
        Ok(self.harness.snapshot_with(events).await)
    }
    fn evaluate(&self, snapshot: &TikvSnapshot) -> (Vec<Violation>, Vec<String>) {
        let e = invariants::evaluate(snapshot, &self.thresholds);
        (e.violations, e.holding)
    }
    fn dependencies(
        &self,
        snapshot: &TikvSnapshot,
    ) -> Vec<(&'static str, Criticality, Option<String>)> {
        let mut out = Vec::new();
        match (&snapshot.pd, &snapshot.pd_error) {
            (Some(_), _) => out.push(("pd", Criticality::Critical, None)),
            (None, Some(e)) => out.push(("pd", Criticality::Critical, Some(e.clone()))),
            (None, None) => {}
        }
        out
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
        /// PD members.
        pd: usize,
        /// Stores.
        tikv: usize,
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

/// Runs one scenario once.
pub async fn run_scenario(
    s: &Scenario,
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
        pd: s.cluster.pd,
        tikv: s.cluster.tikv,
    });
    let started = Instant::now();
    let mut h = match SimHarness::start(HarnessConfig {
        name: "eval".into(),
        pd: s.cluster.pd,
        tikv: s.cluster.tikv,
        time_factor: cfg.time_factor,
        seed: cfg.seed.wrapping_add(run as u64),
        initial_regions: 24,
    })
    .await
    {
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

/// Runs one plain control (no fault, no noise) on `shape`.
pub async fn run_control(
    shape: ClusterShape,
    run: usize,
    cfg: &RunnerConfig,
    backend: &BackendUnderTest,
    progress: &(dyn Fn(Stage<'_>) + Send + Sync),
) -> RunOutcome {
    run_scenario(&Scenario::control(shape), run, cfg, backend, progress).await
}

async fn settle(
    h: &SimHarness,
    thresholds: &Thresholds,
    cfg: &RunnerConfig,
) -> Result<(), EvalError> {
    let deadline = Instant::now() + cfg.settle_timeout;
    let mut clean = 0;
    loop {
        let snap = h.snapshot().await;
        let eval = invariants::evaluate(&snap, thresholds);
        let stores = h.config().tikv;
        let metrics_ready = snap
            .metrics
            .as_ref()
            .is_some_and(|m| m.stores.iter().filter(|s| s.qps.is_some()).count() == stores);
        let up = snap.pd.as_ref().is_some_and(|pd| {
            pd.stores
                .iter()
                .filter(|s| s.state == crate::subjects::tikv::model::StoreState::Up)
                .count()
                == stores
        });
        if eval.violations.is_empty() && metrics_ready && up {
            clean += 1;
            if clean >= 2 {
                return Ok(());
            }
        } else {
            clean = 0;
        }
        if Instant::now() > deadline {
            let v: Vec<String> = eval
                .violations
                .iter()
                .map(|v| format!("{} on {}: {}", v.invariant, v.target, v.summary))
                .collect();
            return Err(EvalError::Settle(format!(
                "metrics ready: {metrics_ready}, all stores Up: {up}, violations: [{}]",
                v.join("; ")
            )));
        }
        tokio::time::sleep(cfg.interval()).await;
    }
}

/// One thing to do at a moment of the fault phase.
#[derive(Debug, Clone)]
enum Action {
    Inject(Fault),
    Revert(Fault),
    OomKill(usize),
    OomRestart(usize, f64),
    NoiseStart(Noise),
    NoiseEnd(Noise),
    PlannedEvict(usize),
    PlannedStop(usize),
    PlannedStart(usize),
    PlannedRelease(usize),
    ScaleOut,
}

impl Action {
    fn describe(&self) -> String {
        match self {
            Self::Inject(f) => format!("fault {} injected", f.kind()),
            Self::Revert(f) => format!("fault {} reverted", f.kind()),
            Self::OomKill(i) => format!("tikv-{i} OOM-killed"),
            Self::OomRestart(i, _) => format!("tikv-{i} restarted (failure policy)"),
            Self::NoiseStart(n) => format!("noise {} started", n.kind()),
            Self::NoiseEnd(n) => format!("noise {} ended", n.kind()),
            Self::PlannedEvict(i) => format!("planned: leaders evicted from tikv-{i}"),
            Self::PlannedStop(i) => format!("planned: tikv-{i} stopped"),
            Self::PlannedStart(i) => format!("planned: tikv-{i} started"),
            Self::PlannedRelease(i) => format!("planned: leaders released to tikv-{i}"),
            Self::ScaleOut => "planned: a store added".into(),
        }
    }
}

/// The schedule of the fault phase, in simulated time, sorted.
fn schedule(s: &Scenario, horizon_sim: Duration) -> Vec<(Duration, Action)> {
    let mut out: Vec<(Duration, Action)> = Vec::new();
    for f in &s.faults {
        let at = f.at.0;
        match &f.fault {
            Fault::OomLoop { store, period_secs } => {
                // Memory climbs from each (re)start; the kill comes a period later; the
                // `restart` failure policy starts it again after a short backoff.
                let period = Duration::from_secs_f64(period_secs.max(10.0));
                out.push((at, Action::Inject(f.fault.clone())));
                let mut t = at + period;
                let end = f.duration.map(|d| at + d.0).unwrap_or(horizon_sim);
                while t < end {
                    out.push((t, Action::OomKill(*store)));
                    out.push((
                        t + Duration::from_secs(5),
                        Action::OomRestart(*store, *period_secs),
                    ));
                    t += period + Duration::from_secs(5);
                }
            }
            other => {
                out.push((at, Action::Inject(other.clone())));
                if let Some(d) = f.duration {
                    out.push((at + d.0, Action::Revert(other.clone())));
                }
            }
        }
    }
    for n in &s.noise {
        let at = n.at.0;
        match &n.noise {
            Noise::RollingRestart => {
                // What the operator's rolling restart does per store: evict its leaders,
                // restart it, wait until it is Up, give the leaders back.
                for i in 0..s.cluster.tikv {
                    let base = at + Duration::from_secs(90 * i as u64);
                    out.push((base, Action::PlannedEvict(i)));
                    out.push((base + Duration::from_secs(20), Action::PlannedStop(i)));
                    out.push((base + Duration::from_secs(25), Action::PlannedStart(i)));
                    out.push((base + Duration::from_secs(75), Action::PlannedRelease(i)));
                }
            }
            Noise::ScaleOut => out.push((at, Action::ScaleOut)),
            other => {
                out.push((at, Action::NoiseStart(other.clone())));
                if let Some(d) = n.duration {
                    out.push((at + d.0, Action::NoiseEnd(other.clone())));
                }
            }
        }
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

/// A region whose leader is on store `store_id`: `(start_key, end_key)`.
async fn region_led_by(h: &SimHarness, store_id: u64) -> Result<serde_json::Value, EvalError> {
    let regions = h.pd_get("/pd/api/v1/regions").await?;
    regions["regions"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|r| r["leader"]["store_id"].as_u64() == Some(store_id))
        })
        .cloned()
        .ok_or_else(|| EvalError::Inject(format!("store {store_id} leads no region")))
}

fn store_id(h: &SimHarness, i: usize) -> Result<u64, EvalError> {
    h.store_id(i)
        .ok_or_else(|| EvalError::Inject(format!("tikv-{i} has no store id")))
}

/// Applies one action. Returns the store a v1 hot region (named by its index) turned
/// out to be led by: its root cause is located there.
async fn apply(h: &mut SimHarness, a: &Action) -> Result<Option<usize>, EvalError> {
    use serde_json::json;
    let mut resolved = None;
    match a {
        Action::Inject(f) => match f {
            Fault::KillStore { store } => h.kill_tikv(*store),
            Fault::PartitionStore { store } => h.partition_tikv(*store),
            Fault::DiskFill { store, ratio } => {
                h.set_faults(*store, json!({ "disk_fill_ratio": ratio }))
                    .await?
            }
            Fault::SlowDisk { store, ms } => {
                h.set_faults(*store, json!({ "slow_disk_ms": ms })).await?
            }
            Fault::HotRegion { region, store, qps } => {
                let r = match (region, store) {
                    (Some(ix), _) => {
                        let regions = h.pd_get("/pd/api/v1/regions").await?;
                        let r = regions["regions"]
                            .as_array()
                            .and_then(|a| a.get(*ix))
                            .cloned()
                            .ok_or_else(|| {
                                EvalError::Inject(format!("PD lists no region #{ix}"))
                            })?;
                        let leader = r["leader"]["store_id"].as_u64();
                        resolved = (0..h.config().tikv).find(|i| h.store_id(*i) == leader);
                        r
                    }
                    (None, Some(i)) => region_led_by(h, store_id(h, *i)?).await?,
                    (None, None) => {
                        return Err(EvalError::Inject("hot-region without target".into()))
                    }
                };
                h.set_workload(json!({"hot_range": {
                    "start_key": r["start_key"], "end_key": r["end_key"], "qps": qps, "kind": "both"
                }}))
                .await?;
            }
            Fault::KillPdLeader => {
                let leader = h
                    .cluster()
                    .pd_leader()
                    .ok_or_else(|| EvalError::Inject("PD has no leader to kill".into()))?;
                h.kill_pd(leader);
            }
            Fault::KillPdQuorum => {
                let n = h.cluster().pd_count();
                let leader = h.cluster().pd_leader().unwrap_or(0);
                let mut victims = vec![leader];
                victims.extend((0..n).filter(|i| *i != leader).take(n / 2));
                for v in victims {
                    h.kill_pd(v);
                }
            }
            Fault::NetworkDegradation { store, ms } => {
                h.set_faults(*store, json!({ "net_delay_ms": ms })).await?;
                for p in (0..h.config().tikv).filter(|p| p != store) {
                    h.set_faults(p, json!({ "peer_net_delay_ms": ms })).await?;
                }
            }
            Fault::CpuSaturation { store, ratio } => {
                h.set_faults(*store, json!({ "cpu_saturation": ratio }))
                    .await?
            }
            Fault::OomLoop { store, period_secs } => {
                h.set_faults(
                    *store,
                    json!({ "memory_growth_mib_s": oom_growth(*period_secs) }),
                )
                .await?
            }
            Fault::SlowApply { store, ms } => {
                h.set_faults(*store, json!({ "slow_apply_ms": ms })).await?
            }
            Fault::LeaderImbalance { store } => {
                let id = store_id(h, *store)?;
                h.pd_delete("/pd/api/v1/schedulers/balance-leader-scheduler")
                    .await?;
                h.pd_post(
                    "/pd/api/v1/schedulers",
                    json!({"name": "grant-leader-scheduler", "store_id": id}),
                )
                .await?;
            }
            Fault::StoreStuckOffline { store } => {
                // Only max-replicas stores exist, so PD refuses a plain delete; a forced
                // scale-in (the store declared gone) is accepted, and its replicas have
                // nowhere to go: it stays Offline.
                let id = store_id(h, *store)?;
                h.pd_delete(&format!("/pd/api/v1/store/{id}?force=true"))
                    .await?;
            }
            Fault::LeftoverScheduler { store } => {
                let id = store_id(h, *store)?;
                h.pd_post(
                    "/pd/api/v1/schedulers",
                    json!({"name": "evict-leader-scheduler", "store_id": id}),
                )
                .await?;
            }
        },
        Action::Revert(f) => match f {
            Fault::PartitionStore { store } => h.heal_tikv(*store),
            Fault::HotRegion { .. } => h.clear_workload().await?,
            Fault::NetworkDegradation { store, .. } => {
                h.set_faults(*store, json!({ "net_delay_ms": 0.0 })).await?;
                for p in (0..h.config().tikv).filter(|p| p != store) {
                    h.set_faults(p, json!({ "peer_net_delay_ms": 0.0 })).await?;
                }
            }
            Fault::DiskFill { store, .. }
            | Fault::SlowDisk { store, .. }
            | Fault::CpuSaturation { store, .. }
            | Fault::SlowApply { store, .. } => h.clear_faults(*store).await?,
            Fault::LeaderImbalance { store } => {
                // The grant is withdrawn; without balance-leader the skew stays.
                let id = store_id(h, *store)?;
                h.pd_delete(&format!(
                    "/pd/api/v1/schedulers/grant-leader-scheduler-{id}"
                ))
                .await?;
            }
            _ => {}
        },
        Action::OomKill(i) => h.oom_kill_tikv(*i),
        Action::OomRestart(i, period) => {
            h.restart_tikv(*i).await?;
            h.record_step(&Step::RestartContainer {
                member: format!("tikv-{i}"),
                attempt: 1,
            });
            h.set_faults(*i, json!({ "memory_growth_mib_s": oom_growth(*period) }))
                .await?;
        }
        Action::NoiseStart(n) => match n {
            Noise::LoadSpike { qps } => {
                h.set_workload(json!({"read_qps": qps * 0.7, "write_qps": qps * 0.3}))
                    .await?
            }
            Noise::WarmRange { store, qps } => {
                let r = region_led_by(h, store_id(h, *store)?).await?;
                h.set_workload(json!({"hot_range": {
                    "start_key": r["start_key"], "end_key": r["end_key"], "qps": qps, "kind": "read"
                }}))
                .await?;
            }
            _ => {}
        },
        Action::NoiseEnd(_) => h.clear_workload().await?,
        Action::PlannedEvict(i) => {
            let id = store_id(h, *i)?;
            h.pd_post(
                "/pd/api/v1/schedulers",
                json!({"name": "evict-leader-scheduler", "store_id": id}),
            )
            .await?;
            h.record_step(&Step::AddEvictLeader {
                store_id: id,
                member: format!("tikv-{i}"),
            });
        }
        Action::PlannedStop(i) => h.stop_tikv(*i),
        Action::PlannedStart(i) => h.restart_tikv(*i).await?,
        Action::PlannedRelease(i) => {
            let id = store_id(h, *i)?;
            h.pd_delete(&format!(
                "/pd/api/v1/schedulers/evict-leader-scheduler-{id}"
            ))
            .await?;
            h.record_step(&Step::RemoveEvictLeader {
                store_id: id,
                reason: "planned rolling restart: store restarted and Up".into(),
            });
        }
        Action::ScaleOut => h.scale_out().await?,
    }
    Ok(resolved)
}

/// Memory growth (MiB per simulated second) that reaches a 4 GiB limit in `period`.
fn oom_growth(period_secs: f64) -> f64 {
    4096.0 / period_secs.max(10.0)
}

fn brief_cause(d: &Diagnosis) -> String {
    let mut s = d.cause.to_string();
    for c in &d.other_causes {
        s.push_str(&format!(" + {c}"));
    }
    s
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    h: &mut SimHarness,
    s: &Scenario,
    out: &mut RunOutcome,
    cfg: &RunnerConfig,
    backend: &BackendUnderTest,
    progress: &(dyn Fn(Stage<'_>) + Send + Sync),
    started: Instant,
) -> Result<(), EvalError> {
    let thresholds = scaled_thresholds(cfg.time_factor);
    settle(h, &thresholds, cfg).await?;
    progress(Stage::Healthy {
        after: started.elapsed(),
    });
    out.entities = Entities {
        store_ids: (0..s.cluster.tikv).map(|i| h.store_id(i)).collect(),
    };
    let entities = out.entities.clone();
    let dir = ScratchDir::new()?;
    let store = Arc::new(
        TicketStore::open(dir.0.join("tickets")).map_err(|e| EvalError::Io(e.to_string()))?,
    );
    let latest: monitor::LatestSnapshot = Arc::new(Mutex::new(None));
    let metrics = Metrics::new();

    // The operator's diagnosis loop, as `operator run` wires it (its poll interval
    // scaled like every other duration).
    let mut reconciler = DiagnosisReconciler::new(
        backend.backend.clone(),
        super::memory::Remembering::wrap(
            Arc::new(
                StoreQueue::new(store.clone())
                    .with_window(cfg.wall(crate::diagnose::store_queue::RELATED_WINDOW)),
            ),
            cfg.memory.clone(),
        ),
        Arc::new(Sources(vec![
            Arc::new(SnapshotContext::new(
                latest.clone(),
                crate::subjects::tikv::snapshot::CONTEXT_SECTIONS,
            )),
            Arc::new(RelatedTickets::new(
                store.clone(),
                cfg.wall(crate::diagnose::store_queue::RELATED_WINDOW),
            )),
        ])),
        ReconcilerConfig {
            holder: "operator-eval".into(),
            poll_interval: cfg.wall(ReconcilerConfig::default().poll_interval),
            failure_backoff: cfg.wall(ReconcilerConfig::default().failure_backoff),
            ..ReconcilerConfig::default()
        },
    );
    // As `operator run` wires it: the schema restricted to the catalog.
    reconciler = reconciler.with_catalog(&CATALOG);
    if backend.name != "rules" {
        reconciler = reconciler.with_fallback(Arc::new(
            crate::subjects::tikv::hypotheses::rules_backend(Default::default()),
        ));
    }
    reconciler = reconciler.with_runbooks(Arc::new(crate::subjects::tikv::runbook::TikvRunbooks {
        cluster: Some("eval".to_string()),
    }));
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
    let rolling = s
        .noise
        .iter()
        .any(|n| matches!(n.noise, Noise::RollingRestart));
    let rolling_sim = if rolling {
        Duration::from_secs(90 * s.cluster.tikv as u64)
    } else {
        Duration::ZERO
    };
    // A fault is given at least the longest invariant grace (a store is stuck Offline
    // only after `offline_stuck_after`) plus a margin to be seen.
    let longest_grace = [
        thresholds.offline_stuck_after,
        thresholds.imbalance_grace,
        thresholds.region_health_grace,
        thresholds.hot_store_for,
        thresholds.latency_grace,
    ]
    .into_iter()
    .max()
    .unwrap_or_default();
    let detect_window = cfg
        .detect_timeout
        .max(longest_grace + Duration::from_secs(8));
    let deadline = match last_fault_sim {
        Some(at) => cfg.wall(at.max(last_noise_sim)) + detect_window,
        None => cfg.wall(last_noise_sim.max(rolling_sim)) + cfg.control_window,
    };
    let horizon_sim = Duration::from_secs_f64(deadline.as_secs_f64() * cfg.time_factor);
    let mut plan = schedule(s, horizon_sim).into_iter().peekable();
    let mut truth: Vec<ResolvedCause> = out.truth.iter().map(ResolvedCause::truth).collect();
    let mut injected_at: BTreeMap<usize, f64> = BTreeMap::new();
    let mut first_ticket: BTreeMap<usize, f64> = BTreeMap::new();
    // Ticket id → (index in out.diagnoses, the stored diagnosis it was read from).
    let mut diagnosed: BTreeMap<u64, (usize, serde_json::Value)> = BTreeMap::new();
    let mut all_asserted_at: Option<Instant> = None;
    let mut next_round = Instant::now();
    let fault_index = |f: &Fault| s.faults.iter().position(|x| &x.fault == f);
    loop {
        let now = Instant::now();
        // Due actions.
        while let Some((at, _)) = plan.peek() {
            if t0 + cfg.wall(*at) > now {
                break;
            }
            let Some((_, a)) = plan.next() else { break };
            if let Some(k) = apply(h, &a).await? {
                // A v1 hot region's cause is on whichever store leads it.
                for c in out.truth.iter_mut() {
                    if c.category == "hot-region" && c.target == EntityRef::Cluster {
                        c.target = EntityRef::Store(k);
                    }
                }
                truth = out.truth.iter().map(ResolvedCause::truth).collect();
            }
            if let Action::Inject(f) = &a {
                if let Some(i) = fault_index(f) {
                    injected_at.insert(i, t0.elapsed().as_secs_f64());
                }
            }
            progress(Stage::Applied(&a.describe()));
        }
        // The monitor's round, when due (cadence, grace, or a runtime event).
        if Instant::now() >= next_round {
            let events = h.inbox().take();
            let m = SimMonitored {
                harness: h,
                thresholds: thresholds.clone(),
            };
            let round = monitor::round_outcome(&m, &store, &metrics, &latest, &events).await;
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
                        let on_it = match c.target {
                            EntityRef::Cluster => true,
                            EntityRef::Pd => {
                                ent == Entity::Known(EntityRef::Pd) || t.invariant.starts_with("pd")
                            }
                            e => ent == Entity::Known(e),
                        };
                        if on_it && !injected_at.is_empty() {
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
        let oom_only = plan.peek().is_none()
            || s.faults
                .iter()
                .all(|f| matches!(f.fault, Fault::OomLoop { .. }));
        if done && oom_only {
            break;
        }
        let next_action = plan
            .peek()
            .map(|(at, _)| t0 + cfg.wall(*at))
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
        &CATALOG,
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
                let (cat, tgt) = f.fault.implied_cause();
                cat == c.category && Entity::Known(tgt) == c.target
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
