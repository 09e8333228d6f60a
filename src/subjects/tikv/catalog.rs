//! TiKV's cause catalog: the root causes a TiKV diagnosis may name, with the actions
//! that answer each (see [`crate::diagnose::catalog`] for why the list is closed).
//!
//! The categories follow the failure modes of the PD/TiKV reference (store states,
//! heartbeats, raftstore latencies, PD's schedulers). Targets name stores as `store/<id>`
//! (aliases: the member name `tikv-N` and its container), PD as `pd` or `pd-N`, and
//! cluster-wide causes as `cluster`.

use crate::diagnose::catalog::{CauseCatalog, CauseSpec};

const CAUSES: &[CauseSpec] = &[
    CauseSpec {
        category: "process-exit",
        description: "the store's process exited or its container stopped, not by the OOM killer (a kill signal also exits 137, with oom_killed false)",
        target_kind: "store",
        actions: &["restart-container"],
        confirmable: true,
    },
    CauseSpec {
        category: "oom-kill",
        description: "the kernel's OOM killer ended the store's process: its container says oom_killed true (exit 137 alone is any kill signal), possibly in a loop",
        target_kind: "store",
        actions: &["restart-container", "scale-out", "set-config"],
        confirmable: true,
    },
    CauseSpec {
        category: "network-partition",
        description: "the store runs but is cut off from PD and its peers (several stores cut off from PD together: one cut on PD's side or between, target `pd`)",
        target_kind: "store",
        actions: &["wait-and-watch", "investigate-further"],
        confirmable: true,
    },
    CauseSpec {
        category: "network-degradation",
        description: "latency or packet loss between the store and its peers: raft message and propose wait, peers' append/commit and gRPC latency rise while disk fsync stays normal",
        target_kind: "store",
        actions: &["evict-leader", "investigate-further"],
        confirmable: false,
    },
    CauseSpec {
        category: "disk-full",
        description: "the store's disk is (nearly) full: available space below PD's low-space ratio",
        target_kind: "store",
        actions: &["scale-out", "set-store-weight", "set-config"],
        confirmable: true,
    },
    CauseSpec {
        category: "disk-slow",
        description: "the store's disk is slow: fsync/append latency and slow score rise on that store alone",
        target_kind: "store",
        actions: &["evict-leader"],
        confirmable: true,
    },
    CauseSpec {
        category: "cpu-saturation",
        description: "the store's CPU is saturated: thread CPU and scheduler/read-pool wait rise while the disk is fine and its share of the cluster's requests does not",
        target_kind: "store",
        actions: &["evict-leader", "scale-out"],
        confirmable: true,
    },
    CauseSpec {
        category: "hot-region",
        description: "a hot region (or a few) concentrates load on the store holding its leader: that store serves most of the cluster's requests and PD lists the region as hot",
        target_kind: "store",
        actions: &["split-region", "transfer-leader"],
        confirmable: true,
    },
    CauseSpec {
        category: "pd-leader-loss",
        description: "PD lost its leader (killed or cut off); the survivors elect a new one",
        target_kind: "pd",
        actions: &["wait-and-watch", "restart-container"],
        confirmable: true,
    },
    CauseSpec {
        category: "pd-quorum-loss",
        description: "a majority of PD members is down: no leader can be elected",
        target_kind: "pd",
        actions: &["restart-container"],
        confirmable: true,
    },
    CauseSpec {
        category: "leader-imbalance",
        description: "leaders are skewed across stores (balance-leader scheduler missing or paused)",
        target_kind: "cluster",
        actions: &["add-scheduler", "transfer-leader"],
        confirmable: true,
    },
    CauseSpec {
        category: "store-stuck-offline",
        description: "a store being removed cannot finish: no other store can take its replicas",
        target_kind: "store",
        actions: &["cancel-store-delete", "scale-out"],
        confirmable: true,
    },
    CauseSpec {
        category: "leftover-scheduler",
        description: "an evict-leader scheduler was left behind on a healthy store",
        target_kind: "store",
        actions: &["remove-evict-leader", "remove-scheduler"],
        confirmable: true,
    },
];

/// TiKV's cause catalog.
pub const CATALOG: CauseCatalog = CauseCatalog {
    subject: "tikv",
    causes: CAUSES,
    actions: super::actions::ACTIONS,
    citations: super::actions::CITATIONS,
    targets: super::actions::TARGETS,
    system_prompt: include_str!("system_prompt.md"),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tikv_catalog_has_every_category_the_benchmark_names_once() {
        let want = [
            "process-exit",
            "oom-kill",
            "network-partition",
            "network-degradation",
            "disk-full",
            "disk-slow",
            "cpu-saturation",
            "hot-region",
            "pd-leader-loss",
            "pd-quorum-loss",
            "leader-imbalance",
            "store-stuck-offline",
            "leftover-scheduler",
        ];
        for c in want {
            assert!(CATALOG.get(c).is_some(), "{c} missing");
        }
        let mut names: Vec<_> = CATALOG.causes.iter().map(|c| c.category).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOG.causes.len());
    }

    #[test]
    fn the_tikv_catalog_is_consistent_and_its_schema_holds_its_vocabulary() {
        assert!(CATALOG.problems().is_empty(), "{:?}", CATALOG.problems());
        let schema = crate::diagnose::model::diagnosis_output_schema_for(&CATALOG).to_string();
        for a in CATALOG.actions() {
            assert!(schema.contains(&format!("\"{}\"", a.kind)), "{}", a.kind);
        }
        for k in ["store", "region", "pd_state"] {
            assert!(schema.contains(&format!("\"const\":\"{k}\"")), "{k}");
        }
    }
}
