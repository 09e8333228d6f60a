//! TiKV's causal links between tickets, for grouping them into incidents (see
//! [`crate::tickets::incidents`]): which symptoms one TiKV or PD fault produces together.

use crate::diagnose::model::normalize_invariant;
use crate::tickets::incidents::{CausalLinks, IncidentTicket};
use std::time::Duration;

/// TiKV's links.
#[derive(Debug, Clone, Copy, Default)]
pub struct TikvLinks;

/// Stores failing within this long of each other failed together.
const TOGETHER: Duration = Duration::from_secs(5);

fn kind(t: &IncidentTicket) -> &'static str {
    let i = normalize_invariant(&t.invariant);
    if i == "store_down" {
        "down"
    } else if i.starts_with("regions_") || i == "region_peers_unhealthy" {
        "regions"
    } else if i.starts_with("pd_") {
        "pd"
    } else if i.ends_with("_imbalance") {
        "imbalance"
    } else if i.contains("p99")
        || i.contains("slow")
        || i.contains("latency")
        || i == "raft_io_slow"
    {
        "latency"
    } else {
        "other"
    }
}

impl CausalLinks for TikvLinks {
    fn link(&self, a: &IncidentTicket, b: &IncidentTicket) -> Option<String> {
        let gap = a
            .first_seen
            .duration_since(b.first_seen)
            .unwrap_or_else(|e| e.duration());
        let (x, y) = (kind(a), kind(b));
        let pair = |p: &str, q: &str| (x == p && y == q) || (x == q && y == p);
        if pair("down", "regions") {
            return Some("a down store explains regions with down or missing peers".into());
        }
        if pair("down", "imbalance") {
            return Some("the leaders that left a down store skew the others".into());
        }
        if pair("pd", "pd") {
            return Some("both are PD membership symptoms: a leader loss explains a short PD unavailability and its election".into());
        }
        if pair("pd", "down") && gap <= TOGETHER {
            return Some("stores stop heartbeating while PD is unavailable".into());
        }
        if pair("down", "down") && gap <= TOGETHER {
            return Some(format!(
                "{} and {} were cut off within {} s of each other: one cause on the PD side or the network between is likelier than independent faults",
                a.target,
                b.target,
                gap.as_secs()
            ));
        }
        if pair("latency", "latency") {
            let slow_disk = |t: &IncidentTicket| {
                t.cause.as_ref().is_some_and(|c| {
                    c.category == "disk-slow" || c.category == "network-degradation"
                })
            };
            if slow_disk(a) || slow_disk(b) {
                return Some("a slow store raises its peers' commit latency".into());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::incidents::{group, DEFAULT_WINDOW};
    use crate::tickets::Status;
    use std::time::SystemTime;

    fn t(id: u64, invariant: &str, target: &str, at_ms: u64) -> IncidentTicket {
        IncidentTicket {
            id,
            invariant: invariant.into(),
            target: target.into(),
            status: Status::Diagnosed,
            first_seen: SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000 + at_ms),
            cause: None,
            confirmed_cause: None,
        }
    }

    #[test]
    fn three_stores_cut_off_in_the_same_second_are_one_incident() {
        let ts = vec![
            t(1, "store_down", "tikv-0", 0),
            t(2, "store_down", "tikv-1", 200),
            t(3, "store_down", "tikv-2", 400),
            t(4, "hot_store", "tikv-3", 300),
        ];
        let inc = group(&ts, &TikvLinks, DEFAULT_WINDOW);
        assert_eq!(inc[0].tickets, vec![1, 2, 3]);
        assert!(
            inc[0].grouped_because[0].contains("PD side or the network"),
            "{:?}",
            inc[0].grouped_because
        );
        assert_eq!(inc[1].tickets, vec![4]);
    }

    #[test]
    fn a_dead_store_and_its_down_peer_regions_are_one_incident_but_stores_failing_apart_are_not() {
        let ts = vec![
            t(1, "store_down", "tikv-0", 0),
            t(2, "regions_down_peer", "cluster", 20_000),
            t(3, "store_down", "tikv-1", 40_000),
        ];
        let inc = group(&ts, &TikvLinks, DEFAULT_WINDOW);
        // 3 joins through the regions ticket (a down store explains them too).
        assert_eq!(inc.len(), 1);
        let ts = vec![
            t(1, "store_down", "tikv-0", 0),
            t(3, "store_down", "tikv-1", 40_000),
        ];
        assert_eq!(group(&ts, &TikvLinks, DEFAULT_WINDOW).len(), 2);
    }
}
