//! The subject-independent shape of a plan.

use serde::Serialize;

/// A fault the planner saw and did not (or could not) fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// The member or object concerned.
    pub target: String,
    /// What is wrong.
    pub detail: String,
}

/// The result of planning: ordered steps of the subject's step type, plus why the
/// cluster is waiting, what is refused and what is broken.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan<S> {
    /// Steps in order; the controller applies the first and observes again.
    pub steps: Vec<S>,
    /// Why the cluster is not converged yet although no step is due (progress included).
    pub waits: Vec<String>,
    /// Operations the spec asks for that are refused, and why.
    pub refusals: Vec<String>,
    /// Faults observed.
    pub faults: Vec<Fault>,
}

impl<S> Default for Plan<S> {
    fn default() -> Self {
        Self {
            steps: Vec::new(),
            waits: Vec::new(),
            refusals: Vec::new(),
            faults: Vec::new(),
        }
    }
}

impl<S> Plan<S> {
    /// True when there is nothing to do and nothing to wait for.
    pub(crate) fn is_converged(&self) -> bool {
        self.steps.is_empty() && self.waits.is_empty() && self.refusals.is_empty()
    }
}
