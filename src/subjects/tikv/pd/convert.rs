//! Conversions from PD's wire types into the TiKV domain model.
//!
//! Pure functions, so the reconcile loop's view of PD can be built and tested from
//! fixtures without a network. This is the one place that knows how PD encodes states
//! (integers with omitted zeros, derived `state_name`s) and sizes (strings).

use std::collections::HashMap;

use super::types::{
    node_state, store_state, HotRegions, MemberHealth, MembersInfo, PdMember, RegionCheck,
    ReplicationConfig, ScheduleConfig, StoreInfo,
};
use crate::subjects::tikv::model::{
    HotRegion, Member, NodeState, PdView, RegionHealth, Store, StoreState, HOT_REGIONS_KEPT,
};

/// The displayed state of a store: PD's `state_name` when it is one of the five known
/// names, otherwise derived from the stored `state` integer (0 Up, 1 Offline,
/// 2 Tombstone).
pub(crate) fn store_state(store: &StoreInfo) -> StoreState {
    StoreState::from_name(&store.store.state_name).unwrap_or(match store.store.state {
        store_state::OFFLINE => StoreState::Offline,
        store_state::TOMBSTONE => StoreState::Tombstone,
        _ => StoreState::Up,
    })
}

/// `node_state` integer to the model's enum (unknown values read as Preparing, the
/// omitted zero).
pub(crate) fn node_state_of(value: i32) -> NodeState {
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
pub(crate) fn member_from_wire(member: &PdMember, health: Option<&[MemberHealth]>) -> Member {
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
pub(crate) fn region_health(counts: &HashMap<RegionCheck, u64>, total: u64) -> RegionHealth {
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
pub(crate) struct ViewParts {
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
    /// `/hotspot/regions/read`, when fetched.
    pub hot_read: Option<HotRegions>,
    /// `/hotspot/regions/write`, when fetched.
    pub hot_write: Option<HotRegions>,
}

/// PD's hot region leaders, read and write, hottest first (by queries, then bytes),
/// at most [`HOT_REGIONS_KEPT`]. A region hot both ways is listed once per way.
pub(crate) fn hot_regions(read: Option<&HotRegions>, write: Option<&HotRegions>) -> Vec<HotRegion> {
    let mut out: Vec<HotRegion> = [("read", read), ("write", write)]
        .into_iter()
        .filter_map(|(kind, h)| h.map(|h| (kind, h)))
        .flat_map(|(kind, h)| {
            h.as_leader.values().flat_map(move |per_store| {
                per_store.statistics.iter().map(move |p| HotRegion {
                    region_id: p.region_id,
                    store_id: p.store_id,
                    kind: kind.to_string(),
                    qps: p.flow_query,
                    flow_bytes: p.flow_bytes,
                })
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.qps
            .total_cmp(&a.qps)
            .then(b.flow_bytes.total_cmp(&a.flow_bytes))
            .then(a.region_id.cmp(&b.region_id))
    });
    out.truncate(HOT_REGIONS_KEPT);
    out
}

/// Builds the domain's [`PdView`] from fetched parts.
///
/// # Guarantees
/// - Stores are sorted by id; schedulers by name (PD lists them in Go-map order).
/// - `leader` is the `/leader` member's name, else `members.leader`'s, else `None`.
pub(crate) fn assemble_view(parts: ViewParts) -> PdView {
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
        hot_regions: hot_regions(parts.hot_read.as_ref(), parts.hot_write.as_ref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(stats: &[(u64, u64, f64, f64)]) -> HotRegions {
        let mut h = HotRegions::default();
        for (region, store, qps, bytes) in stats {
            h.as_leader
                .entry(store.to_string())
                .or_default()
                .statistics
                .push(super::super::types::HotPeerStat {
                    region_id: *region,
                    store_id: *store,
                    is_leader: true,
                    flow_query: *qps,
                    flow_bytes: *bytes,
                    ..Default::default()
                });
        }
        h
    }

    #[test]
    fn hot_regions_list_leaders_of_both_flows_hottest_first_and_keep_the_top_few() {
        let read = peers(&[
            (12, 4, 4500.0, 1.0e6),
            (30, 4, 300.0, 2.0e5),
            (7, 1, 300.0, 9.0e5),
        ]);
        let write = peers(&[(12, 4, 200.0, 3.0e6)]);
        let hot = hot_regions(Some(&read), Some(&write));
        let order: Vec<(u64, &str)> = hot.iter().map(|h| (h.region_id, h.kind.as_str())).collect();
        assert_eq!(
            order,
            vec![(12, "read"), (7, "read"), (30, "read"), (12, "write")]
        );
        assert_eq!(hot[0].store_id, 4);
        let many: Vec<(u64, u64, f64, f64)> = (0..20).map(|i| (i, 1, i as f64, 0.0)).collect();
        let kept = hot_regions(Some(&peers(&many)), None);
        assert_eq!(kept.len(), HOT_REGIONS_KEPT);
        assert_eq!(kept[0].region_id, 19);
        assert!(hot_regions(None, None).is_empty());
    }
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
