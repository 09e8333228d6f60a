//! etcd's cause catalog: the root causes an etcd diagnosis may name (see
//! [`crate::diagnose::catalog`] for why the list is closed).
//!
//! Members are targets by member name (`etcd-1`; the container `<cluster>-etcd-1` is an
//! alias), cluster-wide causes target `cluster`. The action vocabulary ([`EtcdAction`],
//! [`ACTIONS`]) is etcd's own: restarting a member's container, waiting, looking
//! further, and setting a spec value (`quota-backend-bytes`, applied by a rolling
//! restart). Remedies the operator does not carry out itself (move the leader off a slow
//! member; compact, defragment and disarm after NOSPACE) are in the rationale and the
//! system prompt. Citations beyond the core's are paths into the evidence's state
//! (`etcd_state`).

use serde::{Deserialize, Serialize};

use crate::diagnose::catalog::{
    ActionSpec, CauseCatalog, CauseSpec, CitationShape, CitationSpec, ParamSpec, ParamType,
    TargetSpec, INVESTIGATE_FURTHER, RESTART_CONTAINER, WAIT_AND_WATCH,
};
use crate::diagnose::model::ActionKind;

/// What an etcd diagnosis may recommend, typed. Serialized as the core's
/// [`ActionKind`] (`{"kind", "params"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "params", rename_all = "kebab-case")]
pub enum EtcdAction {
    /// Restart a member's container.
    RestartContainer {
        /// Member name (`etcd-1`).
        member: String,
    },
    /// Set a value of the spec (`quota-backend-bytes`).
    SetConfig {
        /// The etcd flag without dashes.
        key: String,
        /// Its value.
        value: String,
    },
    /// Do nothing now; look again later.
    WaitAndWatch {
        /// Minutes to wait.
        minutes: u32,
    },
    /// Not enough evidence to act; gather more.
    InvestigateFurther {
        /// What to look at.
        what: String,
    },
}

impl From<EtcdAction> for ActionKind {
    fn from(a: EtcdAction) -> Self {
        ActionKind::from_typed(&a)
    }
}

/// etcd's action kinds.
pub const ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        description: "Restart the container of a member, e.g. etcd-1.",
        ..RESTART_CONTAINER
    },
    ActionSpec {
        kind: "set-config",
        description: "Set an etcd setting of the spec (quota-backend-bytes); the operator applies it by a rolling restart.",
        params: &[
            ParamSpec {
                name: "key",
                ty: ParamType::OneOf(&["quota-backend-bytes"]),
            },
            ParamSpec {
                name: "value",
                ty: ParamType::String,
            },
        ],
    },
    WAIT_AND_WATCH,
    INVESTIGATE_FURTHER,
];

/// etcd's citation kinds beyond the core's.
pub const CITATIONS: &[CitationSpec] = &[CitationSpec {
    kind: "etcd_state",
    description: "A value in the ticket's etcd state (member, leader, term, DB size, alarms), as a dotted path.",
    shape: CitationShape::Path,
}];

/// The kinds of entity an etcd cause sits on.
pub const TARGETS: &[TargetSpec] = &[
    TargetSpec {
        kind: "member",
        example: "etcd-1",
    },
    TargetSpec {
        kind: "cluster",
        example: "cluster",
    },
];

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
    actions: ACTIONS,
    citations: CITATIONS,
    targets: TARGETS,
    system_prompt: include_str!("system_prompt.md"),
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
    fn the_etcd_catalog_is_consistent_and_every_typed_action_is_valid_in_it() {
        assert!(CATALOG.problems().is_empty(), "{:?}", CATALOG.problems());
        let all = [
            EtcdAction::RestartContainer {
                member: "etcd-1".into(),
            },
            EtcdAction::SetConfig {
                key: "quota-backend-bytes".into(),
                value: "1".into(),
            },
            EtcdAction::WaitAndWatch { minutes: 1 },
            EtcdAction::InvestigateFurther { what: "w".into() },
        ];
        assert_eq!(all.len(), CATALOG.actions().len());
        for a in all {
            let core = ActionKind::from(a.clone());
            assert!(CATALOG.action_valid(&core), "{core:?}");
            assert_eq!(core.typed::<EtcdAction>(), Some(a));
        }
    }
}
