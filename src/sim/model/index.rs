//! The incremental indexes that keep the request path off a full region scan: every
//! region mutation goes through [`ClusterModel::update_region`], which unindexes,
//! applies and re-indexes; and the lookups they serve (by key, by store, by check).

use super::*;

/// Region check types, in `/regions/check/{type}` spelling.
pub(crate) const CHECKS: [&str; 9] = [
    "miss-peer",
    "extra-peer",
    "down-peer",
    "pending-peer",
    "offline-peer",
    "learner-peer",
    "empty-region",
    "oversized-region",
    "undersized-region",
];

#[derive(Debug, Default, Clone)]
pub(super) struct Indexes {
    pub(super) by_start: BTreeMap<u64, u64>,
    pub(super) store_regions: HashMap<u64, BTreeSet<u64>>,
    pub(super) counts: HashMap<u64, StoreCounts>,
    pub(super) checks: [BTreeSet<u64>; 9],
}

impl ClusterModel {
    pub(super) fn classify(&self, r: &Region) -> [bool; 9] {
        let desired = self.replication.max_replicas as usize;
        let offline = r.peers.iter().any(|p| {
            self.stores
                .get(&p.store_id)
                .is_some_and(|s| s.node_state == 2)
        });
        let size = r.size_mib.round() as i64;
        [
            r.peers.len() < desired,
            r.peers.len() > desired,
            !r.down_peers.is_empty(),
            !r.pending_peers.is_empty(),
            offline,
            r.peers.iter().any(|p| p.role == role::LEARNER),
            size <= 1,
            r.size_mib > REGION_MAX_SIZE_MIB || r.keys > 1_440_000,
            size <= self.schedule.max_merge_region_size as i64
                && r.keys <= self.schedule.max_merge_region_keys as i64,
        ]
    }

    pub(super) fn index(&mut self, r: &Region) {
        self.idx.by_start.insert(r.start, r.id);
        let leader_store = r.leader_store();
        for p in &r.peers {
            self.idx
                .store_regions
                .entry(p.store_id)
                .or_default()
                .insert(r.id);
            let c = self.idx.counts.entry(p.store_id).or_default();
            c.region_count += 1;
            c.region_size += r.size_mib.max(1.0);
            if p.role == role::LEARNER {
                c.learner_count += 1;
            }
            if r.pending_peers.contains(&p.id) {
                c.pending_count += 1;
            }
            if p.store_id == leader_store {
                c.leader_count += 1;
                c.leader_size += r.size_mib.max(1.0);
            }
        }
        for (i, on) in self.classify(r).into_iter().enumerate() {
            if on {
                self.idx.checks[i].insert(r.id);
            }
        }
    }

    pub(super) fn unindex(&mut self, r: &Region) {
        if self.idx.by_start.get(&r.start) == Some(&r.id) {
            self.idx.by_start.remove(&r.start);
        }
        let leader_store = r.leader_store();
        for p in &r.peers {
            if let Some(set) = self.idx.store_regions.get_mut(&p.store_id) {
                set.remove(&r.id);
            }
            let c = self.idx.counts.entry(p.store_id).or_default();
            c.region_count = c.region_count.saturating_sub(1);
            c.region_size -= r.size_mib.max(1.0);
            if p.role == role::LEARNER {
                c.learner_count = c.learner_count.saturating_sub(1);
            }
            if r.pending_peers.contains(&p.id) {
                c.pending_count = c.pending_count.saturating_sub(1);
            }
            if p.store_id == leader_store {
                c.leader_count = c.leader_count.saturating_sub(1);
                c.leader_size -= r.size_mib.max(1.0);
            }
        }
        for set in self.idx.checks.iter_mut() {
            set.remove(&r.id);
        }
    }

    /// Applies `f` to a region, keeping every index consistent.
    ///
    /// # Guarantees
    /// After return, the per-store counters, start-key index, per-store region sets and
    /// check sets reflect the region exactly as `f` left it.
    pub(crate) fn update_region<T>(
        &mut self,
        id: u64,
        f: impl FnOnce(&mut Region) -> T,
    ) -> Option<T> {
        let mut r = self.regions.remove(&id)?;
        self.unindex(&r);
        let out = f(&mut r);
        // A region's down and pending lists only ever name its own peers: a peer removed
        // by any path (a cancelled learner, a removal, a merge) takes its marks with it.
        let Region {
            peers,
            down_peers,
            pending_peers,
            ..
        } = &mut r;
        down_peers.retain(|d| peers.iter().any(|p| p.id == *d));
        pending_peers.retain(|d| peers.iter().any(|p| p.id == *d));
        self.index(&r);
        self.regions.insert(id, r);
        self.revision += 1;
        Some(out)
    }

    pub(super) fn insert_region(&mut self, r: Region) {
        self.index(&r);
        self.regions.insert(r.id, r);
        self.revision += 1;
    }

    pub(super) fn reindex_store_regions(&mut self, store: u64) {
        for id in self.store_region_ids(store) {
            self.update_region(id, |_| ());
        }
    }

    // ---------------------------------------------------------------- lookups

    /// The region containing a position.
    pub(crate) fn region_at(&self, pos: u64) -> Option<&Region> {
        let (_, id) = self.idx.by_start.range(..=pos).next_back()?;
        let r = self.regions.get(id)?;
        (pos < r.end || r.end == KEY_MAX).then_some(r)
    }

    /// Regions from the one containing `start`, in key order, stopping before `end`
    /// (`KEY_MAX` = no bound), at most `limit` (0 = unlimited).
    pub(crate) fn scan_regions(&self, start: u64, end: u64, limit: usize) -> Vec<&Region> {
        let first = self
            .idx
            .by_start
            .range(..=start)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(KEY_MIN);
        let mut out = Vec::new();
        for (s, id) in self.idx.by_start.range(first..) {
            if end != KEY_MAX && *s >= end && !out.is_empty() {
                break;
            }
            if let Some(r) = self.regions.get(id) {
                out.push(r);
            }
            if limit > 0 && out.len() >= limit {
                break;
            }
        }
        out
    }
}
