//! The controller's own metrics, in Prometheus text format, named the way
//! controller-runtime names them so existing dashboards and habits carry over.
//!
//! A handful of counters and one histogram do not justify a metrics framework; these
//! are atomics behind a small registry that renders the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::deps::Dependencies;

/// Histogram bucket bounds for reconcile durations (seconds), controller-runtime's.
pub(crate) const DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The controller's metrics registry.
#[derive(Default)]
pub struct Metrics {
    reconcile_total: Mutex<BTreeMap<&'static str, u64>>,
    reconcile_errors: AtomicU64,
    duration: Mutex<Histogram>,
    queue_depth: AtomicU64,
    steps: Mutex<BTreeMap<String, u64>>,
    step_errors: AtomicU64,
    gauges: Mutex<BTreeMap<(String, String), f64>>,
    counters: Mutex<BTreeMap<(String, String), u64>>,
    deps: Arc<Dependencies>,
}

impl Metrics {
    /// A shared registry.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The dependency verdicts (rendered as `operator_dependency_up`).
    pub fn dependencies(&self) -> Arc<Dependencies> {
        self.deps.clone()
    }

    /// Counts a finished pass: `result` is `success`, `error` or `requeue`.
    pub fn observe_pass(&self, result: &'static str, seconds: f64) {
        *self.reconcile_total.lock().entry(result).or_default() += 1;
        if result == "error" {
            self.reconcile_errors.fetch_add(1, Ordering::Relaxed);
        }
        let mut h = self.duration.lock();
        for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// Sets the queue depth (pending triggers).
    pub fn set_queue_depth(&self, depth: u64) {
        self.queue_depth.store(depth, Ordering::Relaxed);
    }

    /// Counts an applied step of `kind`.
    pub fn step_applied(&self, kind: &str) {
        *self.steps.lock().entry(kind.to_string()).or_default() += 1;
    }

    /// Counts a failed step.
    pub(crate) fn step_failed(&self) {
        self.step_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets a labelled gauge (`name`, rendered `{labels}`).
    pub(crate) fn set_gauge(&self, name: &str, labels: &str, value: f64) {
        self.gauges
            .lock()
            .insert((name.to_string(), labels.to_string()), value);
    }

    /// Adds to a labelled counter.
    pub(crate) fn add_counter(&self, name: &str, labels: &str, by: u64) {
        *self
            .counters
            .lock()
            .entry((name.to_string(), labels.to_string()))
            .or_default() += by;
    }

    /// Total passes with `result`.
    pub fn passes(&self, result: &str) -> u64 {
        self.reconcile_total
            .lock()
            .get(result)
            .copied()
            .unwrap_or(0)
    }

    /// Renders the text exposition format.
    pub fn render(&self, controller: &str) -> String {
        let mut out = String::new();
        let l = format!("controller=\"{controller}\"");
        out.push_str("# HELP operator_reconcile_total Total number of reconciliations per controller and result.\n");
        out.push_str("# TYPE operator_reconcile_total counter\n");
        let totals = self.reconcile_total.lock().clone();
        for result in ["success", "error", "requeue"] {
            let _ = writeln!(
                out,
                "operator_reconcile_total{{{l},result=\"{result}\"}} {}",
                totals.get(result).copied().unwrap_or(0)
            );
        }
        out.push_str("# HELP operator_reconcile_errors_total Total number of reconciliation errors per controller.\n");
        out.push_str("# TYPE operator_reconcile_errors_total counter\n");
        let _ = writeln!(
            out,
            "operator_reconcile_errors_total{{{l}}} {}",
            self.reconcile_errors.load(Ordering::Relaxed)
        );
        out.push_str("# HELP operator_reconcile_time_seconds Length of time per reconciliation per controller.\n");
        out.push_str("# TYPE operator_reconcile_time_seconds histogram\n");
        {
            let h = self.duration.lock();
            for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "operator_reconcile_time_seconds_bucket{{{l},le=\"{bound}\"}} {}",
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "operator_reconcile_time_seconds_bucket{{{l},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "operator_reconcile_time_seconds_sum{{{l}}} {}", h.sum);
            let _ = writeln!(
                out,
                "operator_reconcile_time_seconds_count{{{l}}} {}",
                h.count
            );
        }
        out.push_str("# HELP operator_workqueue_depth Current depth of the reconcile queue.\n");
        out.push_str("# TYPE operator_workqueue_depth gauge\n");
        let _ = writeln!(
            out,
            "operator_workqueue_depth{{name=\"{controller}\"}} {}",
            self.queue_depth.load(Ordering::Relaxed)
        );
        out.push_str("# HELP operator_steps_applied_total Plan steps applied, by step kind.\n");
        out.push_str("# TYPE operator_steps_applied_total counter\n");
        for (kind, n) in self.steps.lock().iter() {
            let _ = writeln!(
                out,
                "operator_steps_applied_total{{{l},step=\"{kind}\"}} {n}"
            );
        }
        out.push_str("# HELP operator_step_errors_total Plan steps that failed.\n");
        out.push_str("# TYPE operator_step_errors_total counter\n");
        let _ = writeln!(
            out,
            "operator_step_errors_total{{{l}}} {}",
            self.step_errors.load(Ordering::Relaxed)
        );
        out.push_str("# HELP operator_dependency_up Whether the operator could reach a dependency last time it tried (1) or is blind to it (0).\n");
        out.push_str("# TYPE operator_dependency_up gauge\n");
        for (name, st) in self.deps.all() {
            let _ = writeln!(
                out,
                "operator_dependency_up{{dependency=\"{name}\",criticality=\"{}\"}} {}",
                match st.criticality {
                    super::deps::Criticality::Critical => "critical",
                    super::deps::Criticality::Auxiliary => "auxiliary",
                },
                u8::from(st.error.is_none())
            );
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            out.push_str("# HELP operator_tokio_alive_tasks Tasks alive in the operator's async runtime (a leak shows as growth).\n");
            out.push_str("# TYPE operator_tokio_alive_tasks gauge\n");
            let _ = writeln!(
                out,
                "operator_tokio_alive_tasks {}",
                handle.metrics().num_alive_tasks()
            );
        }
        let gauges = self.gauges.lock().clone();
        let mut last = String::new();
        for ((name, labels), v) in gauges {
            if name != last {
                let _ = writeln!(out, "# TYPE {name} gauge");
                last = name.clone();
            }
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
        let counters = self.counters.lock().clone();
        let mut last = String::new();
        for ((name, labels), v) in counters {
            if name != last {
                let _ = writeln!(out, "# TYPE {name} counter");
                last = name.clone();
            }
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_metrics_carry_controller_runtime_style_names() {
        let m = Metrics::new();
        m.observe_pass("success", 0.02);
        m.observe_pass("error", 3.0);
        m.step_applied("create-container");
        let text = m.render("tikv");
        assert!(text.contains("operator_reconcile_total{controller=\"tikv\",result=\"success\"} 1"));
        assert!(text.contains("operator_reconcile_errors_total{controller=\"tikv\"} 1"));
        assert!(text.contains(
            "operator_reconcile_time_seconds_bucket{controller=\"tikv\",le=\"0.025\"} 1"
        ));
        assert!(text.contains("operator_reconcile_time_seconds_count{controller=\"tikv\"} 2"));
        assert!(text.contains(
            "operator_steps_applied_total{controller=\"tikv\",step=\"create-container\"} 1"
        ));
    }
}
