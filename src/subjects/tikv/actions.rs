//! TiKV's diagnosis vocabulary: the PD and Docker actions a TiKV diagnosis may recommend
//! (typed, [`TikvAction`], and as the catalog's [`ActionSpec`]s the core builds the
//! model's schema from), the citation kinds beyond the core's (`store`, `region`,
//! `pd_state`), and TiKV's spellings of a ticket target ([`TikvTarget`]).
//!
//! The enum and the specs describe the same vocabulary twice, once for Rust and once for
//! the schema; `every_typed_action_is_valid_in_the_catalog` keeps them in step.

use serde::{Deserialize, Serialize};

use crate::diagnose::catalog::{
    ActionSpec, CitationShape, CitationSpec, ParamSpec, ParamType, TargetSpec, INVESTIGATE_FURTHER,
    RESTART_CONTAINER, WAIT_AND_WATCH,
};
use crate::diagnose::model::ActionKind;

/// The closed vocabulary of PD and Docker actions a TiKV diagnosis may recommend.
/// Serialized adjacently: `{"kind": "transfer-leader", "params": {...}}`, the core's
/// [`ActionKind`] shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "params", rename_all = "kebab-case")]
pub enum TikvAction {
    /// Move a region's leader to another store.
    TransferLeader {
        /// Region id.
        region_id: u64,
        /// Target store id.
        to_store: u64,
    },
    /// Split a (hot or oversized) region.
    SplitRegion {
        /// Region id.
        region_id: u64,
    },
    /// Add the store to evict-leader-scheduler.
    EvictLeader {
        /// Store id.
        store_id: u64,
    },
    /// Remove the store from evict-leader-scheduler.
    RemoveEvictLeader {
        /// Store id.
        store_id: u64,
    },
    /// Add capacity.
    ScaleOut {
        /// `tikv` or `pd`.
        component: String,
        /// How many members to add.
        count: u32,
    },
    /// Restart a member's container.
    RestartContainer {
        /// Member name (`tikv-1`).
        member: String,
    },
    /// Bring an Offline store back Up.
    CancelStoreDelete {
        /// Store id.
        store_id: u64,
    },
    /// Add a PD scheduler.
    AddScheduler {
        /// Scheduler name.
        name: String,
    },
    /// Remove a PD scheduler.
    RemoveScheduler {
        /// Scheduler name.
        name: String,
    },
    /// Set a store's leader and region weights (PD's `POST /store/{id}/weight`): PD
    /// places leaders and regions in proportion to them, so a lower region weight moves
    /// regions off a store that fills faster than its peers.
    SetStoreWeight {
        /// Store id.
        store_id: u64,
        /// Leader weight (PD's default is 1).
        leader: f64,
        /// Region weight (PD's default is 1).
        region: f64,
    },
    /// Set a PD config key.
    SetConfig {
        /// Key (`schedule.max-store-down-time`).
        key: String,
        /// Value as PD expects it (`"30m"`).
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

impl From<TikvAction> for ActionKind {
    fn from(a: TikvAction) -> Self {
        ActionKind::from_typed(&a)
    }
}

const fn int(name: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        ty: ParamType::Integer,
    }
}

const fn string(name: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        ty: ParamType::String,
    }
}

/// TiKV's action kinds with their typed parameters, in the order the schema lists them.
pub(crate) const ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        kind: "transfer-leader",
        description: "Move a region's leader to another store.",
        params: &[int("region_id"), int("to_store")],
    },
    ActionSpec {
        kind: "split-region",
        description: "Split a hot or oversized region.",
        params: &[int("region_id")],
    },
    ActionSpec {
        kind: "evict-leader",
        description: "Evict all leaders from a store (slow or failing store).",
        params: &[int("store_id")],
    },
    ActionSpec {
        kind: "remove-evict-leader",
        description: "Remove a store from evict-leader-scheduler.",
        params: &[int("store_id")],
    },
    ActionSpec {
        kind: "scale-out",
        description: "Add members of a component (tikv or pd).",
        params: &[
            ParamSpec {
                name: "component",
                ty: ParamType::OneOf(&["tikv", "pd"]),
            },
            int("count"),
        ],
    },
    ActionSpec {
        description: "Restart the container of a member, e.g. tikv-1.",
        ..RESTART_CONTAINER
    },
    ActionSpec {
        kind: "cancel-store-delete",
        description: "Bring an Offline store back Up.",
        params: &[int("store_id")],
    },
    ActionSpec {
        kind: "add-scheduler",
        description: "Add a PD scheduler.",
        params: &[string("name")],
    },
    ActionSpec {
        kind: "remove-scheduler",
        description: "Remove a PD scheduler.",
        params: &[string("name")],
    },
    ActionSpec {
        kind: "set-store-weight",
        description:
            "Set a store's leader and region weights (lower region weight: fewer regions).",
        params: &[
            int("store_id"),
            ParamSpec {
                name: "leader",
                ty: ParamType::Number,
            },
            ParamSpec {
                name: "region",
                ty: ParamType::Number,
            },
        ],
    },
    ActionSpec {
        kind: "set-config",
        description: "Set a PD configuration key.",
        params: &[string("key"), string("value")],
    },
    WAIT_AND_WATCH,
    INVESTIGATE_FURTHER,
];

/// TiKV's citation kinds beyond the core's `metric`, `log` and `event`.
pub(crate) const CITATIONS: &[CitationSpec] = &[
    CitationSpec {
        kind: "store",
        description: "A TiKV store id from the context.",
        shape: CitationShape::Id,
    },
    CitationSpec {
        kind: "region",
        description: "A region id from the context.",
        shape: CitationShape::Id,
    },
    CitationSpec {
        kind: "pd_state",
        description: "A value in the PD state, as a dotted path.",
        shape: CitationShape::Path,
    },
];

/// The kinds of entity a TiKV cause sits on.
pub(crate) const TARGETS: &[TargetSpec] = &[
    TargetSpec {
        kind: "store",
        example: "store/4",
    },
    TargetSpec {
        kind: "member",
        example: "tikv-1",
    },
    TargetSpec {
        kind: "pd",
        example: "pd",
    },
    TargetSpec {
        kind: "cluster",
        example: "cluster",
    },
];

/// A ticket target in the spellings TiKV's ticket store uses: `store/4`, `store-4`,
/// `store_4` → a store; `member/tikv-1` or a bare member name (`tikv-1`, `pd-0`) → a
/// member; `pd`, `cluster`, … → other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TikvTarget {
    /// A TiKV store id.
    Store(u64),
    /// A member (container) name.
    Member(String),
    /// Anything else (`pd`, `cluster`, `prometheus`).
    Other(String),
}

impl TikvTarget {
    /// Parses a target string.
    pub(crate) fn parse(target: &str) -> Self {
        let t = target.trim();
        for prefix in ["store/", "store-", "store_", "store "] {
            if let Some(id) = t.strip_prefix(prefix).and_then(|r| r.parse().ok()) {
                return Self::Store(id);
            }
        }
        match crate::diagnose::model::Target::parse(t) {
            crate::diagnose::model::Target::Member(m) => Self::Member(m),
            _ => Self::Other(t.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subjects::tikv::catalog::CATALOG;

    #[test]
    fn targets_parse_in_every_spelling_the_ticket_store_uses() {
        assert_eq!(TikvTarget::parse("store/4"), TikvTarget::Store(4));
        assert_eq!(TikvTarget::parse("store-5"), TikvTarget::Store(5));
        assert_eq!(
            TikvTarget::parse("member/tikv-1"),
            TikvTarget::Member("tikv-1".into())
        );
        assert_eq!(
            TikvTarget::parse("tikv-2"),
            TikvTarget::Member("tikv-2".into())
        );
        assert_eq!(
            TikvTarget::parse("cluster"),
            TikvTarget::Other("cluster".into())
        );
    }

    #[test]
    fn every_typed_action_is_valid_in_the_catalog_and_reads_back() {
        let all = [
            TikvAction::TransferLeader {
                region_id: 1,
                to_store: 2,
            },
            TikvAction::SplitRegion { region_id: 1 },
            TikvAction::EvictLeader { store_id: 1 },
            TikvAction::RemoveEvictLeader { store_id: 1 },
            TikvAction::ScaleOut {
                component: "tikv".into(),
                count: 1,
            },
            TikvAction::RestartContainer {
                member: "tikv-1".into(),
            },
            TikvAction::CancelStoreDelete { store_id: 1 },
            TikvAction::AddScheduler { name: "s".into() },
            TikvAction::RemoveScheduler { name: "s".into() },
            TikvAction::SetStoreWeight {
                store_id: 1,
                leader: 1.0,
                region: 0.5,
            },
            TikvAction::SetConfig {
                key: "k".into(),
                value: "v".into(),
            },
            TikvAction::WaitAndWatch { minutes: 1 },
            TikvAction::InvestigateFurther { what: "w".into() },
        ];
        assert_eq!(all.len(), CATALOG.actions().len());
        for a in all {
            let core = ActionKind::from(a.clone());
            assert!(CATALOG.action_valid(&core), "{core:?}");
            assert_eq!(core.typed::<TikvAction>(), Some(a));
        }
    }
}
