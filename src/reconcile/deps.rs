//! What the operator can and cannot see: the health of its dependencies (the container
//! runtime, the subject's own API such as PD, Prometheus, the model API).
//!
//! # Why
//!
//! A controller that cannot observe must say so instead of looking healthy: `/readyz`
//! answers 503 with the reason while a *critical* dependency (the runtime, PD) is
//! unreachable, because nothing the controller plans without them can be trusted. An
//! *auxiliary* dependency (Prometheus, the model API) leaves the controller able to
//! reconcile; losing it is reported on `/readyz` as `ready (degraded: …)`, on `/metrics`
//! as `operator_dependency_up{dependency=…} 0`, and as a ticket. The monitor turns the
//! blindness the subject's invariants do not already cover (the runtime, the model API)
//! into tickets of its own (`<dependency>-unreachable`), which auto-resolve once the
//! dependency answers again.
//!
//! Each source reports what it saw on its own cadence (the reconcile pass, the monitor
//! round, a diagnosis); the registry only keeps the latest verdict per dependency.

use std::collections::BTreeMap;
use std::time::SystemTime;

use parking_lot::Mutex;
use serde::Serialize;

/// The container runtime (Docker), as the core names it.
pub(crate) const RUNTIME: &str = "runtime";
/// The diagnosis model's API.
pub const MODEL_API: &str = "model-api";

/// How much losing a dependency matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Criticality {
    /// The controller cannot reconcile safely without it: not ready.
    Critical,
    /// The controller works without it, with less insight: ready, degraded.
    Auxiliary,
}

/// The latest verdict on one dependency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DependencyState {
    /// How much it matters.
    pub criticality: Criticality,
    /// Why it is unreachable (`None` when it answered last time).
    pub error: Option<String>,
    /// Since when the current verdict holds.
    pub since: SystemTime,
    /// Whether the monitor files a `<name>-unreachable` ticket for it (false when the
    /// subject's own invariants already do, as for PD and Prometheus).
    pub core_ticket: bool,
}

/// The registry of dependency verdicts, shared by the controller, the monitor, the
/// diagnosis loop and the HTTP surface.
#[derive(Debug, Default)]
pub struct Dependencies {
    states: Mutex<BTreeMap<String, DependencyState>>,
}

impl Dependencies {
    /// Records that `name` answered.
    pub fn ok(&self, name: &str, criticality: Criticality, core_ticket: bool) {
        self.set(name, criticality, None, core_ticket);
    }

    /// Records that `name` could not be reached, and why.
    pub fn blind(&self, name: &str, criticality: Criticality, error: &str, core_ticket: bool) {
        self.set(name, criticality, Some(error.to_string()), core_ticket);
    }

    fn set(&self, name: &str, criticality: Criticality, error: Option<String>, core: bool) {
        let mut s = self.states.lock();
        let now = SystemTime::now();
        let since = match s.get(name) {
            Some(old) if old.error.is_some() == error.is_some() => old.since,
            _ => now,
        };
        s.insert(
            name.to_string(),
            DependencyState {
                criticality,
                error,
                since,
                core_ticket: core,
            },
        );
    }

    /// Every dependency seen so far.
    pub fn all(&self) -> BTreeMap<String, DependencyState> {
        self.states.lock().clone()
    }

    /// The unreachable dependencies of `criticality`, as `name: error` lines.
    pub fn blind_reasons(&self, criticality: Criticality) -> Vec<String> {
        self.states
            .lock()
            .iter()
            .filter(|(_, s)| s.criticality == criticality)
            .filter_map(|(n, s)| s.error.as_ref().map(|e| format!("{n}: {e}")))
            .collect()
    }
}
