//! TiKV's scenario files (`examples/scenarios/*.yaml`): its cluster shape (`cluster: {pd,
//! tikv}`), its fault kinds (the simulator's knobs), its noise, and its entities with
//! their aliases. The core ([`crate::eval::scenario`]) reads the rest of the file.
//!
//! Targets are entities with aliases (`tikv-1`, `store-1`, `store/1` as an ordinal,
//! `<cluster>-tikv-1`; `pd`, `pd-0`; `cluster`), checked against the cluster shape.

use serde::{Deserialize, Serialize};

use crate::diagnose::catalog::CauseCatalog;
use crate::eval::scenario::{Problem, ScenarioSchema, Timed};

use super::super::catalog::CATALOG;

/// TiKV's scenario vocabulary, for the core's scenario reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct TikvScenarios;

/// A TiKV scenario.
pub(crate) type Scenario = crate::eval::scenario::Scenario<TikvScenarios>;
/// A TiKV fault with its timing.
pub(crate) type FaultSpec = Timed<Fault>;
/// A TiKV noise event with its timing.
pub(crate) type NoiseSpec = Timed<Noise>;

impl ScenarioSchema for TikvScenarios {
    const SUBJECT: &'static str = "tikv";
    type Shape = ClusterShape;
    type Fault = Fault;
    type Noise = Noise;

    fn catalog() -> &'static CauseCatalog {
        &CATALOG
    }

    fn fault_kind(f: &Fault) -> &'static str {
        f.kind()
    }

    fn noise_kind(n: &Noise) -> &'static str {
        n.kind()
    }

    fn describe_shape(shape: &ClusterShape) -> String {
        format!("{} PD, {} TiKV", shape.pd, shape.tikv)
    }

    fn validate(
        shape: &ClusterShape,
        faults: &[FaultSpec],
        noise: &[NoiseSpec],
    ) -> Result<(), Problem> {
        if shape.tikv == 0 || shape.pd == 0 {
            return Err(Problem::at(
                "cluster:",
                None,
                "a cluster needs at least one PD member and one store",
            ));
        }
        for fs in faults {
            let kind = fs.what.kind();
            if let Some(s) = fs.what.store() {
                if s >= shape.tikv {
                    return Err(Problem::at(
                        format!("store: {s}"),
                        Some(kind),
                        format!(
                            "{kind}: store {s} is out of range (the cluster has stores 0..{})",
                            shape.tikv
                        ),
                    ));
                }
            }
            if let Fault::HotRegion { region, store, .. } = &fs.what {
                if region.is_some() == store.is_some() {
                    return Err(Problem::at(
                        "hot-region",
                        None,
                        "hot-region: give exactly one of `region:` (v1) or `store:`",
                    ));
                }
            }
            if matches!(fs.what, Fault::KillPdQuorum) && shape.pd < 3 {
                return Err(Problem::at(
                    "kill-pd-quorum",
                    None,
                    "kill-pd-quorum needs at least 3 PD members",
                ));
            }
        }
        for n in noise {
            if let Noise::WarmRange { store, .. } = &n.what {
                if *store >= shape.tikv {
                    return Err(Problem::at(
                        format!("store: {store}"),
                        Some("warm-range"),
                        format!("warm-range: store {store} is out of range"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn implied_cause(f: &Fault) -> (&'static str, String) {
        let (category, target) = f.implied_cause();
        (category, target.to_string())
    }

    fn target(shape: &ClusterShape, name: &str) -> Result<String, String> {
        let target = EntityRef::parse(name).ok_or_else(|| {
            format!("target {name:?} names no entity (tikv-N, store-N, pd, pd-N, cluster)")
        })?;
        if let EntityRef::Store(i) = target {
            if i >= shape.tikv {
                return Err(format!(
                    "target {name:?} is out of range (the cluster has stores 0..{})",
                    shape.tikv
                ));
            }
        }
        Ok(target.to_string())
    }
}

/// PD members and TiKV stores of a scenario's cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterShape {
    /// PD members.
    #[serde(default = "one")]
    pub pd: usize,
    /// TiKV stores.
    #[serde(default = "three")]
    pub tikv: usize,
}

fn one() -> usize {
    1
}
fn three() -> usize {
    3
}

impl Default for ClusterShape {
    fn default() -> Self {
        Self { pd: 1, tikv: 3 }
    }
}

/// A fault, injected through the simulator's knobs. Store numbers are ordinals
/// (`tikv-N`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// SIGKILL one TiKV store (process-exit).
    KillStore {
        /// Store ordinal.
        store: usize,
    },
    /// Cut one store off from PD and its peers; its process keeps running.
    PartitionStore {
        /// Store ordinal.
        store: usize,
    },
    /// Fill one store's disk to `ratio`.
    DiskFill {
        /// Store ordinal.
        store: usize,
        /// Used fraction (0..1).
        ratio: f64,
    },
    /// Add latency to every disk write of one store.
    SlowDisk {
        /// Store ordinal.
        store: usize,
        /// Extra milliseconds per write.
        ms: f64,
    },
    /// Point a hot key-range workload at one region. v1 names the region's index in PD's
    /// list (the target is whichever store leads it); v2 names the store whose leader
    /// region is made hot.
    HotRegion {
        /// Index of the region in PD's region list (v1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<usize>,
        /// Store ordinal whose led region is made hot (v2).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        store: Option<usize>,
        /// Requests per second on the range.
        qps: f64,
    },
    /// SIGKILL the PD leader.
    KillPdLeader,
    /// SIGKILL a majority of PD members (the leader among them).
    KillPdQuorum,
    /// Latency between one store and its peers: its raft messages and proposals wait,
    /// its peers' commit and gRPC latency rise; no disk is slower.
    NetworkDegradation {
        /// Store ordinal.
        store: usize,
        /// Extra one-way milliseconds on its raft traffic.
        ms: f64,
    },
    /// One store's CPU saturated (0..1): thread CPU and scheduler / read-pool wait rise.
    CpuSaturation {
        /// Store ordinal.
        store: usize,
        /// Saturation (0..1).
        ratio: f64,
    },
    /// The store's memory climbs until the OOM killer ends it (exit 137, OOMKilled); the
    /// `restart` failure policy restarts it, and it climbs again.
    OomLoop {
        /// Store ordinal.
        store: usize,
        /// Simulated seconds from a (re)start to the kill.
        #[serde(default = "default_oom_period")]
        period_secs: f64,
    },
    /// Apply is slow on one store while its disk is healthy (the apply pool is
    /// CPU-bound): apply latency and apply-thread CPU rise, append/fsync do not.
    SlowApply {
        /// Store ordinal.
        store: usize,
        /// Extra milliseconds per apply.
        ms: f64,
    },
    /// The balance-leader scheduler is removed and leaders are gathered on one store.
    LeaderImbalance {
        /// Store ordinal the leaders gather on.
        store: usize,
    },
    /// One store is scaled in while only max-replicas stores remain: it stays Offline.
    StoreStuckOffline {
        /// Store ordinal.
        store: usize,
    },
    /// An evict-leader scheduler is added on a healthy store and left there.
    LeftoverScheduler {
        /// Store ordinal.
        store: usize,
    },
}

fn default_oom_period() -> f64 {
    90.0
}

/// Where a cause is located, as the scenario names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum EntityRef {
    /// A store, by ordinal (`tikv-N`).
    Store(usize),
    /// PD (any member).
    Pd,
    /// The whole cluster.
    Cluster,
}

impl std::fmt::Display for EntityRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(i) => write!(f, "tikv-{i}"),
            Self::Pd => f.write_str("pd"),
            Self::Cluster => f.write_str("cluster"),
        }
    }
}

impl EntityRef {
    /// Parses a scenario target: `tikv-N`, `store-N` / `store/N` / `N` (ordinals),
    /// `<anything>-tikv-N` (container), `pd`, `pd-N`, `<anything>-pd-N`, `cluster`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        match s {
            "pd" | "pd-leader" => return Some(Self::Pd),
            "cluster" => return Some(Self::Cluster),
            _ => {}
        }
        if let Ok(n) = s.parse::<usize>() {
            return Some(Self::Store(n));
        }
        for p in ["store-", "store/", "store "] {
            if let Some(n) = s.strip_prefix(p).and_then(|n| n.parse().ok()) {
                return Some(Self::Store(n));
            }
        }
        if let Some((_, n)) = s.rsplit_once("tikv-") {
            return n.parse().ok().map(Self::Store);
        }
        if let Some((_, n)) = s.rsplit_once("pd-") {
            return n.parse::<usize>().ok().map(|_| Self::Pd);
        }
        None
    }
}

impl Fault {
    /// Kebab-case kind.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::KillStore { .. } => "kill-store",
            Self::PartitionStore { .. } => "partition-store",
            Self::DiskFill { .. } => "disk-fill",
            Self::SlowDisk { .. } => "slow-disk",
            Self::HotRegion { .. } => "hot-region",
            Self::KillPdLeader => "kill-pd-leader",
            Self::KillPdQuorum => "kill-pd-quorum",
            Self::NetworkDegradation { .. } => "network-degradation",
            Self::CpuSaturation { .. } => "cpu-saturation",
            Self::OomLoop { .. } => "oom-loop",
            Self::SlowApply { .. } => "slow-apply",
            Self::LeaderImbalance { .. } => "leader-imbalance",
            Self::StoreStuckOffline { .. } => "store-stuck-offline",
            Self::LeftoverScheduler { .. } => "leftover-scheduler",
        }
    }

    /// The store it is aimed at, when it is aimed at one.
    pub(crate) fn store(&self) -> Option<usize> {
        match self {
            Self::KillStore { store }
            | Self::PartitionStore { store }
            | Self::DiskFill { store, .. }
            | Self::SlowDisk { store, .. }
            | Self::NetworkDegradation { store, .. }
            | Self::CpuSaturation { store, .. }
            | Self::OomLoop { store, .. }
            | Self::SlowApply { store, .. }
            | Self::LeaderImbalance { store }
            | Self::StoreStuckOffline { store }
            | Self::LeftoverScheduler { store } => Some(*store),
            Self::HotRegion { store, .. } => *store,
            Self::KillPdLeader | Self::KillPdQuorum => None,
        }
    }

    /// The catalog category this fault is and where it is located. A v1 hot region
    /// (by region index) is located on whichever store leads it, known at injection:
    /// [`EntityRef::Cluster`] here, resolved by the runner.
    pub(crate) fn implied_cause(&self) -> (&'static str, EntityRef) {
        let store = |s: &usize| EntityRef::Store(*s);
        match self {
            Self::KillStore { store: s } => ("process-exit", store(s)),
            Self::PartitionStore { store: s } => ("network-partition", store(s)),
            Self::DiskFill { store: s, .. } => ("disk-full", store(s)),
            Self::SlowDisk { store: s, .. } => ("disk-slow", store(s)),
            Self::HotRegion { store: s, .. } => (
                "hot-region",
                s.map(EntityRef::Store).unwrap_or(EntityRef::Cluster),
            ),
            Self::KillPdLeader => ("pd-leader-loss", EntityRef::Pd),
            Self::KillPdQuorum => ("pd-quorum-loss", EntityRef::Pd),
            Self::NetworkDegradation { store: s, .. } => ("network-degradation", store(s)),
            Self::CpuSaturation { store: s, .. } => ("cpu-saturation", store(s)),
            Self::OomLoop { store: s, .. } => ("oom-kill", store(s)),
            // A CPU-bound apply pool is CPU saturation of that store, not its disk.
            Self::SlowApply { store: s, .. } => ("cpu-saturation", store(s)),
            Self::LeaderImbalance { .. } => ("leader-imbalance", EntityRef::Cluster),
            Self::StoreStuckOffline { store: s } => ("store-stuck-offline", store(s)),
            Self::LeftoverScheduler { store: s } => ("leftover-scheduler", store(s)),
        }
    }
}

/// Benign events: the operator must neither blame nor page on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Noise {
    /// More load spread over the whole key space (no store stands out).
    LoadSpike {
        /// Extra requests per second over the cluster.
        qps: f64,
    },
    /// A warm key range below the hot thresholds.
    WarmRange {
        /// Store ordinal whose led region gets the load.
        store: usize,
        /// Requests per second.
        qps: f64,
    },
    /// A planned rolling restart through the operator: per store, evict its leaders,
    /// restart it, wait until Up, give the leaders back.
    RollingRestart,
    /// A planned scale-out: a store added through the operator.
    ScaleOut,
}

impl Noise {
    /// Kebab-case kind.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::LoadSpike { .. } => "load-spike",
            Self::WarmRange { .. } => "warm-range",
            Self::RollingRestart => "rolling-restart",
            Self::ScaleOut => "scale-out",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::eval::scenario::{parse, ExpectedCause};
    use crate::eval::EvalError;
    use std::time::Duration;

    fn p(text: &str) -> Result<Scenario, EvalError> {
        parse::<TikvScenarios>(text, "s.yaml")
    }

    #[test]
    fn a_v1_file_still_loads_with_its_fault_implying_the_root_cause() {
        let s = p("name: a\nfault: {kind: kill-store, store: 1}\nexpect:\n  invariants: [store-down]\n  cause: [exited]\n  actions: [restart-container]\n").unwrap();
        assert_eq!(s.faults.len(), 1);
        assert_eq!(
            s.root_causes,
            vec![ExpectedCause {
                category: "process-exit".into(),
                target: "tikv-1".into()
            }]
        );
    }

    #[test]
    fn a_v2_file_reads_timed_faults_noise_and_root_causes() {
        let s = p("name: b\ncluster: {tikv: 4}\nfaults:\n  - {kind: slow-disk, store: 1, ms: 20}\n  - {kind: hot-region, store: 2, qps: 4000, at: 1m, duration: 5m}\nnoise:\n  - {kind: load-spike, qps: 1000, at: 10s, duration: 1m}\nexpect:\n  root_causes:\n    - {category: disk-slow, target: eval-tikv-1}\n    - {category: hot-region, target: store-2}\n").unwrap();
        assert_eq!(s.faults[1].at.0, Duration::from_secs(60));
        assert_eq!(s.faults[1].duration.unwrap().0, Duration::from_secs(300));
        assert_eq!(s.noise[0].what.kind(), "load-spike");
        assert_eq!(s.root_causes[0].target, "tikv-1");
        assert_eq!(s.root_causes[1].target, "tikv-2");
    }

    #[test]
    fn an_unknown_category_is_rejected_with_its_line_and_column() {
        let e = p("name: c\nfaults:\n  - {kind: slow-disk, store: 1, ms: 20}\nexpect:\n  root_causes:\n    - {category: gremlins, target: tikv-1}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.yaml:6:18"), "{e}");
        assert!(e.contains("gremlins"), "{e}");
    }

    #[test]
    fn an_out_of_range_target_is_rejected_with_its_line_and_column() {
        let e = p("name: c\nfaults:\n  - {kind: slow-disk, store: 1, ms: 20}\nexpect:\n  root_causes:\n    - {category: disk-slow, target: tikv-7}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.yaml:6:37"), "{e}");
        let e = p("name: c\nfaults:\n  - {kind: slow-disk, store: 5, ms: 20}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.yaml:3:"), "{e}");
    }

    #[test]
    fn an_unknown_fault_kind_is_rejected_with_its_line_and_column() {
        let e = p("name: c\nfaults:\n  - {kind: meteor, store: 1}\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("scenario: s.yaml:3:"), "{e}");
        assert!(e.contains("meteor"), "{e}");
    }

    #[test]
    fn targets_are_entities_with_aliases() {
        for s in ["tikv-2", "store-2", "store/2", "2", "demo-tikv-2"] {
            assert_eq!(EntityRef::parse(s), Some(EntityRef::Store(2)), "{s}");
        }
        for s in ["pd", "pd-1", "demo-pd-0"] {
            assert_eq!(EntityRef::parse(s), Some(EntityRef::Pd), "{s}");
        }
        assert_eq!(EntityRef::parse("cluster"), Some(EntityRef::Cluster));
        assert_eq!(EntityRef::parse("gremlin"), None);
    }
}
