//! Scenarios as data: one YAML file per scenario under `examples/scenarios/`, naming the
//! faults to inject, benign noise, and the root causes a correct diagnosis names. Adding a
//! scenario is adding a file; the fault kinds are the simulator's knobs.
//!
//! # Format v2
//!
//! ```yaml
//! name: slow-disk-and-hot-region
//! description: two independent causes on two stores
//! cluster: {pd: 1, tikv: 4}                  # optional (default 1 PD, 3 stores)
//! faults:                                    # one or more; times are simulated
//!   - {kind: slow-disk, store: 1, ms: 20}
//!   - {kind: hot-region, store: 2, qps: 4000, at: 60s, duration: 10m}
//! noise:                                     # benign events: never blamed, never paged
//!   - {kind: load-spike, qps: 1500, at: 0s, duration: 2m}
//! expect:
//!   root_causes:                             # categories of the subject's cause catalog
//!     - {category: disk-slow, target: tikv-1}
//!     - {category: hot-region, target: store-2}
//! ```
//!
//! `expect.root_causes` may be left out: each fault kind implies its category and target
//! ([`FaultSpec::implied_cause`]). A scenario with no fault and some noise is a *noisy
//! control*: any ticket it opens is a false positive. Targets are entities with aliases
//! (`tikv-1`, `store-1`, `store/1` as an ordinal, `<cluster>-tikv-1`; `pd`, `pd-0`;
//! `cluster`), checked against the cluster shape.
//!
//! # Format v1 (still read)
//!
//! `fault:` (one fault) with `expect: {invariants, cause, actions}`: the fault's implied
//! cause is the truth; the v1 phrases are ignored (scoring reads structured fields only).
//!
//! Acceptable actions are not part of a scenario: they come from the catalog
//! ([`crate::diagnose::catalog::CauseCatalog::action_appropriate`]).
//!
//! # Errors
//!
//! Unknown keys, fault or noise kinds, categories outside the catalog and targets outside
//! the cluster are rejected with `file:line:column`.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::EvalError;
use crate::diagnose::catalog::CauseCatalog;
use crate::subject::tikv::catalog::CATALOG;

/// One scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Short name.
    pub name: String,
    /// One sentence for humans.
    #[serde(default)]
    pub description: String,
    /// Cluster shape.
    #[serde(default)]
    pub cluster: ClusterShape,
    /// v1: one fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// v2: faults.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// v2: benign events.
    #[serde(default)]
    pub noise: Vec<NoiseSpec>,
    /// What a correct outcome is.
    #[serde(default)]
    pub expect: Expect,
}

/// A loaded, validated scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// Short name (`node-death`), used by `operator demo --scenario`.
    pub name: String,
    /// One sentence for humans.
    pub description: String,
    /// Cluster shape.
    pub cluster: ClusterShape,
    /// Faults, in injection order.
    pub faults: Vec<FaultSpec>,
    /// Benign events.
    pub noise: Vec<NoiseSpec>,
    /// The true root causes (empty for a control).
    pub root_causes: Vec<ExpectedCause>,
}

impl Scenario {
    /// A control: no fault (noise only, or nothing at all).
    pub fn is_control(&self) -> bool {
        self.faults.is_empty()
    }

    /// The kinds of its faults (`slow-disk+hot-region`), or `control`.
    pub fn kind(&self) -> String {
        if self.faults.is_empty() {
            return if self.noise.is_empty() {
                "control".into()
            } else {
                "noisy-control".into()
            };
        }
        self.faults
            .iter()
            .map(|f| f.fault.kind())
            .collect::<Vec<_>>()
            .join("+")
    }

    /// A plain control on `shape`.
    pub fn control(shape: ClusterShape) -> Self {
        Self {
            name: "control".into(),
            description: "no fault".into(),
            cluster: shape,
            faults: vec![],
            noise: vec![],
            root_causes: vec![],
        }
    }
}

/// PD members and TiKV stores of a scenario's cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// A simulated duration in a scenario (`30s`, `2m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SimDuration(pub Duration);

impl TryFrom<String> for SimDuration {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        humantime::parse_duration(s.trim())
            .map(SimDuration)
            .map_err(|e| format!("{s:?} is not a duration (30s, 2m): {e}"))
    }
}

impl From<SimDuration> for String {
    fn from(d: SimDuration) -> String {
        humantime::format_duration(d.0).to_string()
    }
}

/// A fault with its timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    /// What to inject.
    #[serde(flatten)]
    pub fault: Fault,
    /// Offset from the start of the fault phase (simulated).
    #[serde(default)]
    pub at: SimDuration,
    /// How long it lasts (simulated); unset: until the run ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<SimDuration>,
}

impl FaultSpec {
    /// The root cause this fault is, as the catalog names it.
    pub fn implied_cause(&self) -> ExpectedCause {
        let (category, target) = self.fault.implied_cause();
        ExpectedCause {
            category: category.to_string(),
            target,
        }
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
pub enum EntityRef {
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
    pub fn parse(s: &str) -> Option<Self> {
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
    pub fn kind(&self) -> &'static str {
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
    pub fn store(&self) -> Option<usize> {
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
    pub fn implied_cause(&self) -> (&'static str, EntityRef) {
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

/// A benign event with its timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseSpec {
    /// What happens.
    #[serde(flatten)]
    pub noise: Noise,
    /// Offset from the start of the fault phase (simulated).
    #[serde(default)]
    pub at: SimDuration,
    /// How long it lasts (simulated), for load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<SimDuration>,
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
    pub fn kind(&self) -> &'static str {
        match self {
            Self::LoadSpike { .. } => "load-spike",
            Self::WarmRange { .. } => "warm-range",
            Self::RollingRestart => "rolling-restart",
            Self::ScaleOut => "scale-out",
        }
    }
}

/// A true root cause, as the scenario writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedCauseFile {
    /// A category of the subject's catalog.
    pub category: String,
    /// The entity it is located on.
    pub target: String,
}

/// A true root cause, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedCause {
    /// Catalog category.
    pub category: String,
    /// Entity.
    pub target: EntityRef,
}

/// What a correct outcome is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// v2: the true root causes (default: the faults' implied causes).
    #[serde(default)]
    pub root_causes: Vec<ExpectedCauseFile>,
    /// v1: invariants whose ticket counted as detection (kept for old files; unused).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invariants: Vec<String>,
    /// v1: cause phrases (unused: scoring reads structured fields).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cause: Vec<String>,
    /// v1: acceptable actions (unused: the catalog defines them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

/// Reads every `*.yaml` file of `dir`, sorted by file name.
///
/// # Guarantees
/// Fails on the first file that does not parse or validate (naming it, with line and
/// column), on an empty directory, and on duplicate scenario names.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, EvalError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| EvalError::Scenario(format!("{}: {e}", dir.display())))?;
    let mut paths: Vec<_> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    let mut out: Vec<Scenario> = Vec::new();
    for p in paths {
        let s = load_file(&p)?;
        if out.iter().any(|o| o.name == s.name) {
            return Err(EvalError::Scenario(format!(
                "{}:1:1: duplicate scenario name {:?}",
                p.display(),
                s.name
            )));
        }
        out.push(s);
    }
    if out.is_empty() {
        return Err(EvalError::Scenario(format!(
            "{}: no scenario files (*.yaml)",
            dir.display()
        )));
    }
    Ok(out)
}

/// Reads one scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, EvalError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EvalError::Scenario(format!("{}: {e}", path.display())))?;
    parse(&text, &path.display().to_string(), &CATALOG)
}

/// `line:column` (1-based) of the first occurrence of `needle` in `text` at or after the
/// line holding `after` (when given), else `1:1`.
fn locate(text: &str, after: Option<&str>, needle: &str) -> (usize, usize) {
    let start = after
        .and_then(|a| text.find(a))
        .map(|i| text[..i].rfind('\n').map(|n| n + 1).unwrap_or(0))
        .unwrap_or(0);
    match text[start..].find(needle) {
        Some(i) => {
            let abs = start + i;
            let line = text[..abs].matches('\n').count() + 1;
            let col = abs - text[..abs].rfind('\n').map(|n| n + 1).unwrap_or(0) + 1;
            (line, col)
        }
        None => (1, 1),
    }
}

/// Parses and validates a scenario's text (`origin` names it in errors).
pub fn parse(text: &str, origin: &str, catalog: &CauseCatalog) -> Result<Scenario, EvalError> {
    let f: ScenarioFile = yaml_serde::from_str(text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| format!("{}:{}", l.line(), l.column()))
            .unwrap_or_else(|| "1:1".into());
        EvalError::Scenario(format!("{origin}:{loc}: {e}"))
    })?;
    let err = |needle: &str, after: Option<&str>, msg: String| {
        let (l, c) = locate(text, after, needle);
        EvalError::Scenario(format!("{origin}:{l}:{c}: {msg}"))
    };
    if f.fault.is_some() && !f.faults.is_empty() {
        return Err(err(
            "fault:",
            None,
            "give either `fault:` (one) or `faults:` (a list), not both".into(),
        ));
    }
    let mut faults = f.faults.clone();
    if let Some(one) = &f.fault {
        faults.push(FaultSpec {
            fault: one.clone(),
            at: SimDuration::default(),
            duration: None,
        });
    }
    let shape = f.cluster;
    if shape.tikv == 0 || shape.pd == 0 {
        return Err(err(
            "cluster:",
            None,
            "a cluster needs at least one PD member and one store".into(),
        ));
    }
    for fs in &faults {
        if let Some(s) = fs.fault.store() {
            if s >= shape.tikv {
                return Err(err(
                    &format!("store: {s}"),
                    Some(fs.fault.kind()),
                    format!(
                        "{}: store {s} is out of range (the cluster has stores 0..{})",
                        fs.fault.kind(),
                        shape.tikv
                    ),
                ));
            }
        }
        if let Fault::HotRegion { region, store, .. } = &fs.fault {
            if region.is_some() == store.is_some() {
                return Err(err(
                    "hot-region",
                    None,
                    "hot-region: give exactly one of `region:` (v1) or `store:`".into(),
                ));
            }
        }
        if matches!(fs.fault, Fault::KillPdQuorum) && shape.pd < 3 {
            return Err(err(
                "kill-pd-quorum",
                None,
                "kill-pd-quorum needs at least 3 PD members".into(),
            ));
        }
    }
    for n in &f.noise {
        if let Noise::WarmRange { store, .. } = &n.noise {
            if *store >= shape.tikv {
                return Err(err(
                    &format!("store: {store}"),
                    Some("warm-range"),
                    format!("warm-range: store {store} is out of range"),
                ));
            }
        }
    }
    let root_causes = if f.expect.root_causes.is_empty() {
        faults.iter().map(FaultSpec::implied_cause).collect()
    } else {
        let mut out = Vec::new();
        for c in &f.expect.root_causes {
            if !catalog.accepts(&c.category) || c.category == "unknown" {
                return Err(err(
                    &c.category,
                    Some("root_causes"),
                    format!(
                        "unknown cause category {:?} (the {} catalog has: {})",
                        c.category,
                        catalog.subject,
                        catalog
                            .causes
                            .iter()
                            .map(|c| c.category)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            let target = EntityRef::parse(&c.target).ok_or_else(|| {
                err(
                    &c.target,
                    Some("root_causes"),
                    format!(
                        "target {:?} names no entity (tikv-N, store-N, pd, pd-N, cluster)",
                        c.target
                    ),
                )
            })?;
            if let EntityRef::Store(i) = target {
                if i >= shape.tikv {
                    return Err(err(
                        &c.target,
                        Some("root_causes"),
                        format!(
                            "target {:?} is out of range (the cluster has stores 0..{})",
                            c.target, shape.tikv
                        ),
                    ));
                }
            }
            out.push(ExpectedCause {
                category: c.category.clone(),
                target,
            });
        }
        out
    };
    Ok(Scenario {
        name: f.name,
        description: f.description,
        cluster: shape,
        faults,
        noise: f.noise,
        root_causes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Scenario, EvalError> {
        parse(text, "s.yaml", &CATALOG)
    }

    #[test]
    fn a_v1_file_still_loads_with_its_fault_implying_the_root_cause() {
        let s = p("name: a\nfault: {kind: kill-store, store: 1}\nexpect:\n  invariants: [store-down]\n  cause: [exited]\n  actions: [restart-container]\n").unwrap();
        assert_eq!(s.faults.len(), 1);
        assert_eq!(
            s.root_causes,
            vec![ExpectedCause {
                category: "process-exit".into(),
                target: EntityRef::Store(1)
            }]
        );
    }

    #[test]
    fn a_v2_file_reads_timed_faults_noise_and_root_causes() {
        let s = p("name: b\ncluster: {tikv: 4}\nfaults:\n  - {kind: slow-disk, store: 1, ms: 20}\n  - {kind: hot-region, store: 2, qps: 4000, at: 1m, duration: 5m}\nnoise:\n  - {kind: load-spike, qps: 1000, at: 10s, duration: 1m}\nexpect:\n  root_causes:\n    - {category: disk-slow, target: eval-tikv-1}\n    - {category: hot-region, target: store-2}\n").unwrap();
        assert_eq!(s.faults[1].at.0, Duration::from_secs(60));
        assert_eq!(s.faults[1].duration.unwrap().0, Duration::from_secs(300));
        assert_eq!(s.noise[0].noise.kind(), "load-spike");
        assert_eq!(s.root_causes[0].target, EntityRef::Store(1));
        assert_eq!(s.root_causes[1].target, EntityRef::Store(2));
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
