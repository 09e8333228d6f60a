//! Scenarios as data: one YAML file per scenario under `examples/scenarios/`, naming the
//! fault to inject, its target, and what a correct detection and diagnosis look like.
//! Adding a scenario is adding a file; the fault kinds are the simulator's knobs.
//!
//! ```yaml
//! name: slow-disk
//! description: one store's disk gets slow (ambiguous slowness)
//! cluster: {pd: 1, tikv: 3}          # optional
//! fault: {kind: slow-disk, store: 1, ms: 300}
//! expect:
//!   invariants: [slow-store, raft-append-p99-high]   # a ticket of one of these, on the target
//!   cause: ["slow disk"]                              # the root cause names one of these
//!   actions: [evict-leader]                           # acceptable recommended actions
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::EvalError;

/// One scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name (`node-death`), used by `operator demo --scenario`.
    pub name: String,
    /// One sentence for humans.
    #[serde(default)]
    pub description: String,
    /// Cluster shape.
    #[serde(default)]
    pub cluster: ClusterShape,
    /// What to inject.
    pub fault: Fault,
    /// What a correct outcome is.
    pub expect: Expect,
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

/// A fault, injected through the simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// SIGKILL one TiKV store.
    KillStore {
        /// Store ordinal (`tikv-N`).
        store: usize,
    },
    /// Cut one store off from PD (its process keeps running).
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
    /// Point a hot key-range workload at one region; the target is the store holding its
    /// leader.
    HotRegion {
        /// Index of the region in PD's region list.
        region: usize,
        /// Requests per second on the range.
        qps: f64,
    },
    /// SIGKILL the PD leader.
    KillPdLeader,
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
        }
    }
}

/// What a correct outcome is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Invariants whose ticket on the fault's target counts as detection.
    pub invariants: Vec<String>,
    /// Phrases naming the fault (case-insensitive, whole words); the root cause must
    /// contain one.
    pub cause: Vec<String>,
    /// Acceptable recommended actions (kebab-case action kinds).
    pub actions: Vec<String>,
}

/// Reads every `*.yaml` file of `dir`, sorted by file name.
///
/// # Guarantees
/// Fails on the first file that does not parse (naming it), on an empty directory, and on
/// duplicate scenario names.
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
                "{}: duplicate scenario name {:?}",
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
    parse(&text, &path.display().to_string())
}

/// Parses one scenario's text; `name` (a path) is used in errors.
pub fn parse(text: &str, name: &str) -> Result<Scenario, EvalError> {
    let s: Scenario =
        yaml_serde::from_str(text).map_err(|e| EvalError::Scenario(format!("{name}: {e}")))?;
    if s.expect.invariants.is_empty() || s.expect.cause.is_empty() || s.expect.actions.is_empty() {
        return Err(EvalError::Scenario(format!(
            "{name}: expect.invariants, expect.cause and expect.actions must each name at least one entry"
        )));
    }
    Ok(s)
}
