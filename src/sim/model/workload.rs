//! The built-in workload (cluster-wide rates, hot ranges) and the load it puts on a region.

use super::*;

/// The built-in workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// Cluster-wide read requests per second.
    pub read_qps: f64,
    /// Cluster-wide write requests per second.
    pub write_qps: f64,
    /// Bytes per value.
    pub value_bytes: f64,
    /// Extra load on one key range.
    pub hot: Option<HotRange>,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            read_qps: 2000.0,
            write_qps: 500.0,
            value_bytes: 1024.0,
            hot: None,
        }
    }
}

/// A hot key range (positions in the keyspace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotRange {
    /// Start position.
    pub start: u64,
    /// End position.
    pub end: u64,
    /// Extra requests per second.
    pub qps: f64,
    /// `read`, `write` or `both`.
    pub kind: String,
    /// When it was set (unix ms).
    pub since_ms: u64,
}

/// Per-second load of one region.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Rates {
    /// Read requests/s.
    pub read_qps: f64,
    /// Write requests/s.
    pub write_qps: f64,
    /// Read bytes/s.
    pub read_bytes: f64,
    /// Written bytes/s.
    pub write_bytes: f64,
    /// Read keys/s.
    pub read_keys: f64,
    /// Written keys/s.
    pub write_keys: f64,
}

/// Derived per-store counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct StoreCounts {
    /// Regions with a peer here.
    pub region_count: u64,
    /// Leaders here.
    pub leader_count: u64,
    /// Sum of region sizes (MiB).
    pub region_size: f64,
    /// Sum of led region sizes (MiB).
    pub leader_size: f64,
    /// Learners here.
    pub learner_count: u64,
    /// Pending peers here.
    pub pending_count: u64,
}

impl ClusterModel {
    /// The per-second load of a region under the workload.
    pub(crate) fn region_rates(&self, r: &Region, now_ms: u64) -> Rates {
        let w = &self.workload;
        let frac = r.width_fraction();
        let mut read_qps = w.read_qps * frac;
        let mut write_qps = w.write_qps * frac;
        if let Some(h) = &w.hot {
            let s = r.start.max(h.start);
            let e = r.end.min(h.end);
            if e > s && h.end > h.start && now_ms >= h.since_ms {
                let share = (e - s) as f64 / (h.end - h.start) as f64;
                match h.kind.as_str() {
                    "read" => read_qps += h.qps * share,
                    "both" => {
                        read_qps += h.qps * share / 2.0;
                        write_qps += h.qps * share / 2.0;
                    }
                    _ => write_qps += h.qps * share,
                }
            }
        }
        if r.leader == 0 || !self.is_alive(r.leader_store(), now_ms) {
            return Rates::default();
        }
        Rates {
            read_qps,
            write_qps,
            read_bytes: read_qps * w.value_bytes,
            write_bytes: write_qps * w.value_bytes,
            read_keys: read_qps,
            write_keys: write_qps * 2.0,
        }
    }
}
