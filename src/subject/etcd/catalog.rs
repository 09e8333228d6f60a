//! etcd's cause catalog: the root causes an etcd diagnosis may name (see
//! [`crate::diagnose::catalog`] for why the list is closed).
//!
//! Members are targets by member name (`etcd-1`; the container `<cluster>-etcd-1` is an
//! alias), cluster-wide causes target `cluster`. Actions are names from the core's
//! action vocabulary; etcd's own remedies that the vocabulary lacks (move the leader
//! off a slow member, compact + defragment + disarm after NOSPACE) are described in
//! the diagnosis text and the system prompt, and the nearest action is named.

use crate::diagnose::catalog::{CauseCatalog, CauseSpec};

const CAUSES: &[CauseSpec] = &[
    CauseSpec {
        category: "process-exit",
        description: "the member's etcd process exited or its container was killed or stopped",
        target_kind: "member",
        actions: &["restart-container"],
        confirmable: true,
    },
    CauseSpec {
        category: "network-partition",
        description: "the member runs but is cut off from its peers (or from the operator): it answers nothing, or keeps its own stale view of the leader",
        target_kind: "member",
        actions: &["wait-and-watch", "investigate-further"],
        confirmable: true,
    },
    CauseSpec {
        category: "disk-slow",
        description: "the member's disk is slow: its WAL fsync and backend commit p99 rise against its peers and its own past",
        target_kind: "member",
        actions: &["investigate-further", "wait-and-watch"],
        confirmable: true,
    },
    CauseSpec {
        category: "db-quota",
        description: "the backend DB reached --quota-backend-bytes: the NOSPACE alarm makes the cluster read-and-delete only until it is compacted, defragmented and the alarm disarmed",
        target_kind: "cluster",
        actions: &["set-config", "investigate-further"],
        confirmable: true,
    },
    CauseSpec {
        category: "quorum-loss",
        description: "a majority of the members is down: no leader can be elected and every write fails",
        target_kind: "cluster",
        actions: &["restart-container"],
        confirmable: true,
    },
    CauseSpec {
        category: "leader-flapping",
        description: "leadership changes repeatedly (elections time out) while the members stay up",
        target_kind: "cluster",
        actions: &["investigate-further", "wait-and-watch"],
        confirmable: false,
    },
];

/// The etcd catalog.
pub const CATALOG: CauseCatalog = CauseCatalog {
    subject: "etcd",
    causes: CAUSES,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_holds_the_six_etcd_causes_and_unknown() {
        assert_eq!(
            CATALOG.categories(),
            vec![
                "process-exit",
                "network-partition",
                "disk-slow",
                "db-quota",
                "quorum-loss",
                "leader-flapping",
                "unknown"
            ]
        );
    }

    #[test]
    fn every_action_is_a_name_of_the_core_vocabulary() {
        let known = [
            "restart-container",
            "wait-and-watch",
            "investigate-further",
            "set-config",
            "scale-out",
        ];
        for c in CATALOG.causes {
            for a in c.actions {
                assert!(known.contains(a), "{}: {a}", c.category);
            }
        }
    }
}
