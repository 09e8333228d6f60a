//! Conversions from PD's wire types into the TiKV domain model.
//!
//! Pure functions, so the reconcile loop's view of PD can be built and tested from
//! fixtures without a network. This is the one place that knows how PD encodes states
//! (integers with omitted zeros, derived `state_name`s) and sizes (strings).

use std::collections::HashMap;

use super::types::{
    node_state, store_state, MemberHealth, MembersInfo, PdMember, RegionCheck, ReplicationConfig,
    ScheduleConfig, StoreInfo,
};
use crate::subjects::tikv::model::{Member, NodeState, PdView, RegionHealth, Store, StoreState};

/// The displayed state of a store: PD's `state_name` when it is one of the five known
/// names, otherwise derived from the stored `state` integer (0 Up, 1 Offline,
/// 2 Tombstone).
pub fn store_state(store: &StoreInfo) -> StoreState {
    StoreState::from_name(&store.store.state_name).unwrap_or(match store.store.state {
        store_state::OFFLINE => StoreState::Offline,
        store_state::TOMBSTONE => StoreState::Tombstone,
        _ => StoreState::Up,
    })
}

/// `node_state` integer to the model's enum (unknown values read as Preparing, the
/// omitted zero).
pub fn node_state_of(value: i32) -> NodeState {
    match value {
        node_state::SERVING => NodeState::Serving,
        node_state::REMOVING => NodeState::Removing,
        node_state::REMOVED => NodeState::Removed,
        _ => NodeState::Preparing,
    }
}

/// One store, as the domain model sees it.
pub fn store_from_wire(info: &StoreInfo) -> Store {
    let meta = &info.store;
    let status = &info.status;
    Store {
        id: meta.id,
        address: meta.address.clone(),
        status_address: meta.status_address.clone(),
        state: store_state(info),
        node_state: node_state_of(meta.node_state),
        version: meta.version.trim_start_matches('v').to_owned(),
        leader_count: status.leader_count,
        region_count: status.region_count,
        capacity_bytes: status.capacity.0,
        available_bytes: status.available.0,
        used_bytes: status.used_size.0,
        slow_score: status.slow_score,
        last_heartbeat_unix_nanos: meta.last_heartbeat,
        start_unix_secs: meta.start_timestamp,
        physically_destroyed: meta.physically_destroyed,
        pending_peer_count: status.pending_peer_count,
    }
}

/// One member, with its health when `/health` listed it.
pub fn member_from_wire(member: &PdMember, health: Option<&[MemberHealth]>) -> Member {
    let healthy = health.and_then(|entries| {
        entries
            .iter()
            .find(|h| {
                h.member_id == member.member_id || (h.member_id == 0 && h.name == member.name)
            })
            .map(|h| h.health)
    });
    Member {
        name: member.name.clone(),
        member_id: member.member_id,
        client_urls: member.client_urls.clone(),
        peer_urls: member.peer_urls.clone(),
        healthy,
    }
}

/// Region-check counts (by kind) into [`RegionHealth`]; `total` is the region count.
pub fn region_health(counts: &HashMap<RegionCheck, u64>, total: u64) -> RegionHealth {
    let get = |kind| counts.get(&kind).copied().unwrap_or(0);
    RegionHealth {
        miss_peer: get(RegionCheck::MissPeer),
        extra_peer: get(RegionCheck::ExtraPeer),
        down_peer: get(RegionCheck::DownPeer),
        pending_peer: get(RegionCheck::PendingPeer),
        offline_peer: get(RegionCheck::OfflinePeer),
        learner_peer: get(RegionCheck::LearnerPeer),
        total,
    }
}

/// Everything [`assemble_view`] needs, as fetched from PD. `None` = not fetched.
#[derive(Debug, Clone, Default)]
pub struct ViewParts {
    /// The endpoint that answered.
    pub endpoint: String,
    /// `/members`.
    pub members: MembersInfo,
    /// `/leader` (preferred over `members.leader`, which a follower may report stale).
    pub leader: Option<PdMember>,
    /// `/health`.
    pub health: Option<Vec<MemberHealth>>,
    /// Whether cluster routes answered (TiKV has bootstrapped the cluster).
    pub bootstrapped: bool,
    /// `/stores?state=0&state=1&state=2`.
    pub stores: Vec<StoreInfo>,
    /// `/config/replicate`.
    pub replication: ReplicationConfig,
    /// `/config/schedule`.
    pub schedule: ScheduleConfig,
    /// `/schedulers`.
    pub schedulers: Vec<String>,
    /// Stores in the evict-leader scheduler.
    pub evict_leader_stores: Vec<u64>,
    /// Region-check counts and the total, when fetched.
    pub region_health: Option<RegionHealth>,
}

/// Builds the domain's [`PdView`] from fetched parts.
///
/// # Guarantees
/// - Stores are sorted by id; schedulers by name (PD lists them in Go-map order).
/// - `leader` is the `/leader` member's name, else `members.leader`'s, else `None`.
pub fn assemble_view(parts: ViewParts) -> PdView {
    let health = parts.health.as_deref();
    let mut stores: Vec<Store> = parts.stores.iter().map(store_from_wire).collect();
    stores.sort_by_key(|s| s.id);
    let mut schedulers = parts.schedulers;
    schedulers.sort();
    let leader = parts
        .leader
        .as_ref()
        .or(parts.members.leader.as_ref())
        .map(|m| m.name.clone())
        .filter(|n| !n.is_empty());
    PdView {
        endpoint: parts.endpoint,
        cluster_id: parts.members.header.cluster_id,
        members: parts
            .members
            .members
            .iter()
            .map(|m| member_from_wire(m, health))
            .collect(),
        leader,
        stores,
        bootstrapped: parts.bootstrapped,
        max_replicas: parts.replication.max_replicas,
        schedulers,
        evict_leader_stores: {
            let mut ids = parts.evict_leader_stores;
            ids.sort_unstable();
            ids.dedup();
            ids
        },
        region_health: parts.region_health,
        max_store_down_time_secs: parts.schedule.max_store_down_time.0.as_secs(),
        low_space_ratio: parts.schedule.low_space_ratio,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subjects::tikv::pd::types::{MetaStore, StoreStatus};

    fn store(state: i32, node: i32, name: &str) -> StoreInfo {
        StoreInfo {
            store: MetaStore {
                id: 9,
                state,
                node_state: node,
                state_name: name.into(),
                ..MetaStore::default()
            },
            status: StoreStatus::default(),
        }
    }

    #[test]
    fn a_tombstone_store_converts_from_its_integers_and_its_name() {
        let s = store_from_wire(&store(2, 3, "Tombstone"));
        assert_eq!(s.state, StoreState::Tombstone);
        assert_eq!(s.node_state, NodeState::Removed);
        let unnamed = store_from_wire(&store(2, 3, ""));
        assert_eq!(unnamed.state, StoreState::Tombstone);
    }

    #[test]
    fn omitted_state_fields_mean_up_and_preparing() {
        let s = store_from_wire(&store(0, 0, ""));
        assert_eq!(s.state, StoreState::Up);
        assert_eq!(s.node_state, NodeState::Preparing);
    }

    #[test]
    fn derived_down_state_name_wins_over_the_stored_up() {
        let s = store_from_wire(&store(0, 1, "Down"));
        assert_eq!(s.state, StoreState::Down);
        assert!(s.state.is_stored_up());
    }
}
