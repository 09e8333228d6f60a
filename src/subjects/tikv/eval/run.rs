//! How TiKV's scenarios run on the in-process simulator: the run settings (every grace
//! divided by the time factor), settling, the fault phase's schedule (faults, the OOM
//! loop's kills and restarts, the planned rolling restart's steps) and what each action
//! does through the simulator's knobs, and the harness as the monitor's round sees it.

use std::time::{Duration, Instant};

use super::harness::{HarnessConfig, SimHarness};
use super::scenario::{EntityRef, Fault, Noise, Scenario, TikvScenarios};
use crate::eval::runner::RunnerConfig;
use crate::eval::score::{Entities, Entity};
use crate::eval::subject::{EvalHarness, Scheduled, TargetResolved};
use crate::eval::EvalError;
use crate::reconcile::deps::Criticality;
use crate::runtime::RuntimeEvent;
use crate::subject::SubjectError;
use crate::subjects::tikv::invariants::{self, Thresholds};
use crate::subjects::tikv::plan::Step;
use crate::subjects::tikv::snapshot::TikvSnapshot;
use crate::tickets::monitor::{EventInbox, Monitored};
use crate::tickets::Violation;

/// The invariant thresholds with every duration divided by `factor`.
pub(crate) fn scaled_thresholds(factor: f64) -> Thresholds {
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
/// contract `operator run`'s subject fulfils (snapshot, invariants, dependencies), with
/// the thresholds scaled to the time factor.
#[async_trait::async_trait]
impl Monitored for SimHarness {
    type Snapshot = TikvSnapshot;
    fn kind(&self) -> &'static str {
        "tikv"
    }
    async fn snapshot(&self, events: &[RuntimeEvent]) -> Result<TikvSnapshot, SubjectError> {
        Ok(self.snapshot_with(events).await)
    }
    fn evaluate(&self, snapshot: &TikvSnapshot) -> (Vec<Violation>, Vec<String>) {
        let thresholds = scaled_thresholds(self.config().time_factor);
        let e = invariants::evaluate(snapshot, &thresholds);
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
pub enum Action {
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
fn schedule(s: &Scenario, horizon_sim: Duration) -> Vec<Scheduled<Action>> {
    let mut out: Vec<(Duration, Action)> = Vec::new();
    for f in &s.faults {
        let at = f.at.0;
        match &f.what {
            Fault::OomLoop { store, period_secs } => {
                // Memory climbs from each (re)start; the kill comes a period later; the
                // `restart` failure policy starts it again after a short backoff.
                let period = Duration::from_secs_f64(period_secs.max(10.0));
                out.push((at, Action::Inject(f.what.clone())));
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
        match &n.what {
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
    out.into_iter()
        .map(|(at, action)| {
            let injects = match &action {
                Action::Inject(f) => s.faults.iter().position(|x| &x.what == f),
                _ => None,
            };
            Scheduled {
                at,
                action,
                injects,
            }
        })
        .collect()
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

/// Resolves what the operator writes (`store/4`, `store-4`, `store 4`, a bare `4` as PD
/// store ids; `tikv-1`, `eval-tikv-1`, `pd`, `pd-0`, `cluster`) to the scenario's
/// canonical names, with the store ids PD granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct TikvEntities {
    /// Store id of each ordinal (`store_ids[i]` is `tikv-i`'s id).
    pub store_ids: Vec<Option<u64>>,
}

impl crate::eval::score::EntityResolver for TikvEntities {
    fn resolve(&self, name: &str) -> Option<String> {
        let n = name.trim();
        // Store ids first: `store/4`, `store-4`, `store 4`, a bare `4` are PD ids.
        let id = ["store/", "store-", "store "]
            .iter()
            .find_map(|p| n.strip_prefix(p))
            .or(Some(n).filter(|s| s.chars().all(|c| c.is_ascii_digit())))
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(id) = id {
            return self
                .store_ids
                .iter()
                .position(|s| *s == Some(id))
                .map(|i| EntityRef::Store(i).to_string());
        }
        match EntityRef::parse(n) {
            Some(EntityRef::Store(i)) if i >= self.store_ids.len() => None,
            Some(e) => Some(e.to_string()),
            None => None,
        }
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl EvalHarness for SimHarness {
    type Schema = TikvScenarios;
    type Action = Action;

    async fn start(s: &Scenario, run: usize, cfg: &RunnerConfig) -> Result<Self, EvalError> {
        SimHarness::start(HarnessConfig {
            name: "eval".into(),
            pd: s.cluster.pd,
            tikv: s.cluster.tikv,
            time_factor: cfg.time_factor,
            seed: cfg.seed.wrapping_add(run as u64),
            initial_regions: 24,
        })
        .await
    }

    async fn settle(&self, cfg: &RunnerConfig) -> Result<(), EvalError> {
        settle(self, &scaled_thresholds(cfg.time_factor), cfg).await
    }

    fn cluster(&self) -> String {
        self.config().name.clone()
    }

    async fn entities(&self) -> Entities {
        Entities::new(std::sync::Arc::new(TikvEntities {
            store_ids: (0..self.config().tikv).map(|i| self.store_id(i)).collect(),
        }))
    }

    fn inbox(&self) -> &EventInbox {
        SimHarness::inbox(self)
    }

    fn schedule(&self, s: &Scenario, horizon: Duration) -> Vec<Scheduled<Action>> {
        schedule(s, horizon)
    }

    async fn apply(&mut self, a: &Action) -> Result<Vec<TargetResolved>, EvalError> {
        // A v1 hot region's cause is on whichever store leads it.
        Ok(apply(self, a)
            .await?
            .map(|k| TargetResolved {
                category: "hot-region".into(),
                from: EntityRef::Cluster.to_string(),
                to: EntityRef::Store(k).to_string(),
            })
            .into_iter()
            .collect())
    }

    fn describe(a: &Action) -> String {
        a.describe()
    }

    fn detect_window(&self, cfg: &RunnerConfig) -> Duration {
        // A fault is given at least the longest invariant grace (a store is stuck
        // Offline only after `offline_stuck_after`) plus a margin to be seen.
        let t = scaled_thresholds(cfg.time_factor);
        let longest_grace = [
            t.offline_stuck_after,
            t.imbalance_grace,
            t.region_health_grace,
            t.hot_store_for,
            t.latency_grace,
        ]
        .into_iter()
        .max()
        .unwrap_or_default();
        cfg.detect_timeout
            .max(longest_grace + Duration::from_secs(8))
    }

    fn noise_span(&self, s: &Scenario) -> Duration {
        // The planned rolling restart takes 90 s per store (see `schedule`).
        if s.noise
            .iter()
            .any(|n| matches!(n.what, Noise::RollingRestart))
        {
            Duration::from_secs(90 * s.cluster.tikv as u64)
        } else {
            Duration::ZERO
        }
    }

    fn open_ended(s: &Scenario) -> bool {
        s.faults
            .iter()
            .all(|f| matches!(f.what, Fault::OomLoop { .. }))
    }

    fn ticket_detects(&self, truth: &str, ticket: &Entity, invariant: &str) -> bool {
        match truth {
            "cluster" => true,
            "pd" => *ticket == Entity::Known("pd".into()) || invariant.starts_with("pd"),
            e => *ticket == Entity::Known(e.to_string()),
        }
    }

    /// PD's read-only API on the simulated cluster (the same HTTP API, at its
    /// loopback addresses). The simulator runs no Prometheus and no containers, so the
    /// Prometheus and container tools `operator run` also offers are not offered here:
    /// their observations are in the prompt's evidence, as collected each round.
    async fn toolbox(&self) -> Option<std::sync::Arc<dyn crate::diagnose::investigate::Toolbox>> {
        Some(std::sync::Arc::new(
            crate::subjects::tikv::tools::TikvTools::new(&self.config().name, "")
                .with_pd(self.cluster().pd_urls()),
        ))
    }

    async fn shutdown(self) {
        SimHarness::shutdown(self).await
    }
}
