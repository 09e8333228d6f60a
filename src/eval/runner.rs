//! One scenario run, end to end, on the in-process simulator:
//!
//! ```text
//! start cluster ─► settle (no violation for two snapshots) ─► open a fresh ticket store
//!   ─► inject the fault (resolving its target: store id, member)
//!   ─► every `interval`: snapshot ─► invariants ─► TicketStore::observe   (the monitor round)
//!   ─► expected ticket opened? ─► diagnosis reconciler (rules backend, StoreQueue,
//!      SnapshotContext) ─► score
//! ```
//!
//! A control run is the same without a fault, watched for `control_window`: any ticket it
//! opens is a false positive. Graces and "for how long" thresholds are the defaults
//! divided by the time factor, so they mean the same simulated time as on a real cluster.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use serde::Serialize;

use super::harness::{HarnessConfig, SimHarness};
use super::scenario::{ClusterShape, Expect, Fault, Scenario};
use super::score::{self, RunScore};
use super::EvalError;
use crate::diagnose::model::Diagnosis;
use crate::diagnose::reconciler::{DiagnosisReconciler, ReconcilerConfig};
use crate::diagnose::store_queue::{brief_of, SnapshotContext, StoreQueue};
use crate::subject::tikv::invariants::{self, Thresholds};
use crate::tickets::TicketStore;

/// How runs are driven.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Simulated seconds per wall second.
    pub time_factor: f64,
    /// Base seed (run `n` uses `seed + n`).
    pub seed: u64,
    /// Time between monitoring snapshots (wall).
    pub interval: Duration,
    /// Give up detecting after this long (wall).
    pub detect_timeout: Duration,
    /// How long a control run is watched (wall).
    pub control_window: Duration,
    /// How long the cluster may take to settle before the fault (wall).
    pub settle_timeout: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            time_factor: 30.0,
            seed: 1,
            interval: Duration::from_millis(250),
            detect_timeout: Duration::from_secs(30),
            control_window: Duration::from_secs(10),
            settle_timeout: Duration::from_secs(45),
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

/// What the fault was aimed at, resolved when it was injected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedTarget {
    /// Member (`tikv-1`, `pd-0`).
    pub member: String,
    /// PD store id, for a store.
    pub store_id: Option<u64>,
}

impl ResolvedTarget {
    /// Whether a ticket target names this target.
    pub fn matches_ticket(&self, target: &str) -> bool {
        target == self.member
            || self
                .store_id
                .is_some_and(|id| target == format!("store-{id}"))
    }

    /// `tikv-1 (store 4)`.
    pub fn describe(&self) -> String {
        match self.store_id {
            Some(id) => format!("{} (store {id})", self.member),
            None => self.member.clone(),
        }
    }
}

/// A ticket the run saw open.
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
    /// Seconds after the fault (or after the control started) it opened (wall).
    pub after_secs: f64,
}

/// The outcome of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// Scenario name (`control` for a control run).
    pub scenario: String,
    /// Run number.
    pub run: usize,
    /// A no-fault run.
    pub control: bool,
    /// The fault's target.
    pub target: Option<ResolvedTarget>,
    /// The expected ticket opened.
    pub detected: bool,
    /// Injection → expected ticket opened (wall seconds).
    pub time_to_detect_secs: Option<f64>,
    /// Ticket opened → diagnosis stored (wall seconds).
    pub time_to_diagnose_secs: Option<f64>,
    /// The ticket that counted as detection.
    pub ticket: Option<SeenTicket>,
    /// Every ticket opened after the fault (or in the control window).
    pub tickets: Vec<SeenTicket>,
    /// Its diagnosis.
    pub diagnosis: Option<Diagnosis>,
    /// Scores (zero when not detected).
    pub score: RunScore,
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
    /// Fault injected.
    Injected {
        /// Fault kind.
        fault: &'a str,
        /// Target.
        target: &'a ResolvedTarget,
    },
    /// A ticket opened.
    TicketOpened(&'a SeenTicket),
    /// Nothing yet.
    Waiting {
        /// Wall time since injection.
        elapsed: Duration,
    },
    /// Diagnosis done.
    Diagnosed {
        /// Wall time it took.
        after: Duration,
    },
}

/// Runs one scenario once.
pub async fn run_scenario(
    s: &Scenario,
    run: usize,
    all_causes: &[Vec<String>],
    cfg: &RunnerConfig,
    progress: &(dyn Fn(Stage<'_>) + Send + Sync),
) -> RunOutcome {
    run_one(
        &s.name,
        s.cluster,
        Some((&s.fault, &s.expect)),
        run,
        all_causes,
        cfg,
        progress,
    )
    .await
}

/// Runs one no-fault control.
pub async fn run_control(
    shape: ClusterShape,
    run: usize,
    cfg: &RunnerConfig,
    progress: &(dyn Fn(Stage<'_>) + Send + Sync),
) -> RunOutcome {
    run_one("control", shape, None, run, &[], cfg, progress).await
}

fn empty(name: &str, run: usize, control: bool) -> RunOutcome {
    RunOutcome {
        scenario: name.to_string(),
        run,
        control,
        target: None,
        detected: false,
        time_to_detect_secs: None,
        time_to_diagnose_secs: None,
        ticket: None,
        tickets: vec![],
        diagnosis: None,
        score: RunScore::default(),
        error: None,
    }
}

async fn run_one(
    name: &str,
    shape: ClusterShape,
    fault: Option<(&Fault, &Expect)>,
    run: usize,
    all_causes: &[Vec<String>],
    cfg: &RunnerConfig,
    progress: &(dyn Fn(Stage<'_>) + Send + Sync),
) -> RunOutcome {
    let mut out = empty(name, run, fault.is_none());
    progress(Stage::Starting {
        pd: shape.pd,
        tikv: shape.tikv,
    });
    let started = Instant::now();
    let mut h = match SimHarness::start(HarnessConfig {
        name: "eval".into(),
        pd: shape.pd,
        tikv: shape.tikv,
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
    let result = drive(&mut h, &mut out, fault, all_causes, cfg, progress, started).await;
    if let Err(e) = result {
        out.error = Some(e.to_string());
    }
    h.shutdown().await;
    out
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
                .filter(|s| s.state == crate::subject::tikv::model::StoreState::Up)
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
        tokio::time::sleep(cfg.interval).await;
    }
}

async fn inject(h: &mut SimHarness, fault: &Fault) -> Result<ResolvedTarget, EvalError> {
    let store_target = |h: &SimHarness, i: usize| -> Result<ResolvedTarget, EvalError> {
        if i >= h.config().tikv {
            return Err(EvalError::Inject(format!(
                "store ordinal {i} is out of range (the cluster has {} stores)",
                h.config().tikv
            )));
        }
        Ok(ResolvedTarget {
            member: format!("tikv-{i}"),
            store_id: h.store_id(i),
        })
    };
    match fault {
        Fault::KillStore { store } => {
            let t = store_target(h, *store)?;
            h.kill_tikv(*store);
            Ok(t)
        }
        Fault::PartitionStore { store } => {
            let t = store_target(h, *store)?;
            h.partition_tikv(*store);
            Ok(t)
        }
        Fault::DiskFill { store, ratio } => {
            let t = store_target(h, *store)?;
            h.set_faults(*store, serde_json::json!({ "disk_fill_ratio": ratio }))
                .await?;
            Ok(t)
        }
        Fault::SlowDisk { store, ms } => {
            let t = store_target(h, *store)?;
            h.set_faults(*store, serde_json::json!({ "slow_disk_ms": ms }))
                .await?;
            Ok(t)
        }
        Fault::HotRegion { region, qps } => {
            let regions = h.pd_get("/pd/api/v1/regions").await?;
            let r = regions["regions"]
                .as_array()
                .and_then(|a| a.get(*region))
                .ok_or_else(|| EvalError::Inject(format!("PD lists no region #{region}")))?
                .clone();
            let leader_store = r["leader"]["store_id"]
                .as_u64()
                .ok_or_else(|| EvalError::Inject(format!("region #{region} has no leader")))?;
            let ordinal = (0..h.config().tikv)
                .find(|i| h.store_id(*i) == Some(leader_store))
                .ok_or_else(|| {
                    EvalError::Inject(format!("no running node is store {leader_store}"))
                })?;
            h.set_workload(serde_json::json!({"hot_range": {
                "start_key": r["start_key"], "end_key": r["end_key"], "qps": qps, "kind": "both"
            }}))
            .await?;
            Ok(ResolvedTarget {
                member: format!("tikv-{ordinal}"),
                store_id: Some(leader_store),
            })
        }
        Fault::KillPdLeader => {
            let leader = h
                .cluster()
                .pd_leader()
                .ok_or_else(|| EvalError::Inject("PD has no leader to kill".into()))?;
            h.kill_pd(leader);
            Ok(ResolvedTarget {
                member: format!("pd-{leader}"),
                store_id: None,
            })
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

async fn drive(
    h: &mut SimHarness,
    out: &mut RunOutcome,
    fault: Option<(&Fault, &Expect)>,
    all_causes: &[Vec<String>],
    cfg: &RunnerConfig,
    progress: &(dyn Fn(Stage<'_>) + Send + Sync),
    started: Instant,
) -> Result<(), EvalError> {
    let thresholds = scaled_thresholds(cfg.time_factor);
    settle(h, &thresholds, cfg).await?;
    progress(Stage::Healthy {
        after: started.elapsed(),
    });
    let dir = ScratchDir::new()?;
    let store = Arc::new(
        TicketStore::open(dir.0.join("tickets")).map_err(|e| EvalError::Io(e.to_string()))?,
    );
    let latest: crate::tickets::monitor::LatestSnapshot = Arc::new(Mutex::new(None));

    let (target, expect) = match fault {
        Some((f, e)) => {
            let t = inject(h, f).await?;
            progress(Stage::Injected {
                fault: f.kind(),
                target: &t,
            });
            (Some(t), Some(e))
        }
        None => (None, None),
    };
    out.target = target.clone();
    let t0 = Instant::now();
    let window = if fault.is_some() {
        cfg.detect_timeout
    } else {
        cfg.control_window
    };
    let mut last_note = Instant::now();
    let mut hit: Option<u64> = None;
    while t0.elapsed() < window {
        let snap = h.snapshot().await;
        let eval = invariants::evaluate(&snap, &thresholds);
        *latest.lock() = serde_json::to_value(&snap).ok();
        let st = store.clone();
        let now = SystemTime::now();
        let round =
            tokio::task::spawn_blocking(move || st.observe(&eval.violations, &eval.holding, now))
                .await
                .map_err(|e| EvalError::Io(e.to_string()))?
                .map_err(|e| EvalError::Io(e.to_string()))?;
        for t in round.opened.iter().chain(round.reopened.iter()) {
            let seen = SeenTicket {
                id: t.id,
                invariant: t.invariant.clone(),
                target: t.target.clone(),
                summary: t.summary.clone(),
                after_secs: t0.elapsed().as_secs_f64(),
            };
            progress(Stage::TicketOpened(&seen));
            let expected = match (&target, expect) {
                (Some(tg), Some(e)) => {
                    e.invariants.contains(&t.invariant) && tg.matches_ticket(&t.target)
                }
                _ => false,
            };
            if expected && hit.is_none() {
                hit = Some(t.id);
                out.ticket = Some(seen.clone());
                out.time_to_detect_secs = Some(seen.after_secs);
            }
            out.tickets.push(seen);
        }
        if hit.is_some() {
            break;
        }
        if last_note.elapsed() >= Duration::from_secs(5) {
            progress(Stage::Waiting {
                elapsed: t0.elapsed(),
            });
            last_note = Instant::now();
        }
        tokio::time::sleep(cfg.interval).await;
    }
    let (Some(id), Some(target), Some(expect)) = (hit, target, expect) else {
        return Ok(());
    };
    out.detected = true;
    let ticket = store
        .get(id)
        .map_err(|e| EvalError::Io(e.to_string()))?
        .ok_or_else(|| EvalError::Io(format!("ticket {id} vanished")))?;
    let reconciler = DiagnosisReconciler::new(
        Arc::new(crate::subject::tikv::hypotheses::rules_backend(
            Default::default(),
        )),
        Arc::new(StoreQueue::new(store.clone())),
        Arc::new(SnapshotContext::new(latest.clone())),
        ReconcilerConfig::default(),
    );
    let t1 = Instant::now();
    let diagnosis = reconciler
        .diagnose_brief(&brief_of(&ticket))
        .await
        .map_err(|e| EvalError::Diagnose(e.to_string()))?;
    out.time_to_diagnose_secs = Some(t1.elapsed().as_secs_f64());
    progress(Stage::Diagnosed {
        after: t1.elapsed(),
    });
    out.score = score::score(&diagnosis, expect, &target, all_causes);
    out.diagnosis = Some(diagnosis);
    Ok(())
}
