//! The store lifecycle: `PutStore` (and bootstrap), store and region heartbeats with
//! their replies, splits, and the Up/Offline/Tombstone transitions PD's API asks for.

use super::*;

impl ClusterModel {
    /// Registers a store (TiKV `PutStore`); bootstraps the cluster on the first one.
    ///
    /// # Guarantees
    /// A known `store_id` keeps its id (a restarted TiKV re-registers as itself). A new
    /// store gets a fresh id; an address held by a live non-Tombstone store is refused.
    pub(crate) fn put_store(&mut self, req: PutStore, now_ms: u64) -> Result<u64, ModelError> {
        if req.store_id != 0 {
            if let Some(s) = self.stores.get_mut(&req.store_id) {
                if s.state == 2 {
                    return Err(ModelError::StoreRemoved(req.store_id));
                }
                s.address = req.address.clone();
                s.status_address = req.status_address.clone();
                s.version = req.version.clone();
                s.git_hash = req.git_hash.clone();
                s.start_timestamp = req.start_timestamp;
                s.labels = req.labels.clone();
                s.last_hb_ms = now_ms;
                s.capacity = req.capacity;
                s.max_peer_down_secs = req.max_peer_down_secs;
                let id = s.id;
                self.log_put_store(id);
                self.revision += 1;
                return Ok(id);
            }
        }
        if let Some(other) = self.stores.values().find(|s| {
            s.address == req.address
                && s.state != 2
                && !s.physically_destroyed
                && s.id != req.store_id
        }) {
            return Err(ModelError::DuplicatedAddress(req.address.clone(), other.id));
        }
        let id = if req.store_id != 0 {
            self.next_id = self.next_id.max(req.store_id);
            req.store_id
        } else {
            self.alloc_id()
        };
        let store = Store {
            id,
            address: req.address.clone(),
            status_address: req.status_address,
            version: req.version,
            git_hash: req.git_hash,
            deploy_path: req.deploy_path,
            labels: req.labels,
            start_timestamp: req.start_timestamp,
            last_hb_ms: now_ms,
            state: 0,
            node_state: 0,
            physically_destroyed: false,
            capacity: req.capacity,
            available: req.capacity,
            used: 0,
            slow_score: 1,
            max_peer_down_secs: req.max_peer_down_secs,
            virtual_store: false,
            peers_marked_down: false,
            add_peer_window: (0, 0),
            virtual_silent: false,
            disconnect_logged: false,
        };
        self.stores.insert(id, store);
        self.schedule.store_limit.insert(
            id.to_string(),
            StoreLimit {
                add_peer: GoFloatSer(15.0),
                remove_peer: GoFloatSer(15.0),
            },
        );
        self.log_put_store(id);
        if !self.is_bootstrapped() {
            self.bootstrap(id, now_ms);
        }
        self.revision += 1;
        Ok(id)
    }

    pub(super) fn log_put_store(&mut self, id: u64) {
        let Some(s) = self.stores.get(&id) else {
            return;
        };
        let text = format!(
            "id:{} address:{:?} version:{:?} peer_address:{:?} status_address:{:?} git_hash:{:?} start_timestamp:{} deploy_path:{:?} ",
            s.id, s.address, s.version, s.address, s.status_address, s.git_hash, s.start_timestamp, s.deploy_path
        );
        self.log(
            "INFO",
            "grpc_service.go:899",
            "put store ok",
            vec![("store", text)],
        );
    }

    pub(super) fn bootstrap(&mut self, store: u64, now_ms: u64) {
        self.bootstrap_ms = now_ms;
        let n = self.initial_regions;
        let step = KEYSPACE_MAX / n;
        for i in 0..n {
            let start = if i == 0 { KEY_MIN } else { i * step };
            let end = if i + 1 == n { KEY_MAX } else { (i + 1) * step };
            let id = self.alloc_id();
            let pid = self.alloc_id();
            let size = 8.0 + (self.rand() % 56) as f64;
            let r = Region {
                id,
                start,
                end,
                conf_ver: 1,
                version: 1 + i,
                peers: vec![Peer {
                    id: pid,
                    store_id: store,
                    role: role::VOTER,
                }],
                leader: pid,
                term: 5,
                down_peers: vec![],
                pending_peers: vec![],
                size_mib: size,
                keys: (size * 3000.0) as i64,
                written_bytes: 0,
                read_bytes: 0,
                written_keys: 0,
                read_keys: 0,
                last_hb_ms: now_ms,
            };
            self.push_event(
                store,
                StoreEvent::BecameLeader {
                    region_id: id,
                    peer_id: pid,
                    term: 5,
                },
            );
            self.insert_region(r);
        }
    }

    pub(super) fn push_event(&mut self, store: u64, ev: StoreEvent) {
        if self.stores.get(&store).is_some_and(|s| s.virtual_store) {
            return;
        }
        let q = self.outbox.entry(store).or_default();
        if q.len() >= 512 {
            q.remove(0);
        }
        q.push(ev);
    }

    /// Handles a TiKV store heartbeat; returns what the store should know.
    pub(crate) fn store_heartbeat(
        &mut self,
        hb: StoreHeartbeat,
        now_ms: u64,
    ) -> Result<HeartbeatReply, ModelError> {
        let was_alive = self.is_alive(hb.store_id, now_ms);
        let s = self
            .stores
            .get_mut(&hb.store_id)
            .ok_or(ModelError::StoreNotFound(hb.store_id))?;
        if s.state == 2 {
            return Err(ModelError::StoreRemoved(hb.store_id));
        }
        s.last_hb_ms = now_ms;
        s.capacity = hb.capacity;
        s.available = hb.available;
        s.used = hb.used;
        s.slow_score = hb.slow_score.clamp(1, 100);
        let marked = s.peers_marked_down;
        s.peers_marked_down = false;
        s.disconnect_logged = false;
        let _ = was_alive;
        if marked {
            // The store is back: its peers stop being down and catch up (pending).
            for id in self.store_region_ids(hb.store_id) {
                self.update_region(id, |r| {
                    if let Some(p) = r.peer_on(hb.store_id).copied() {
                        r.down_peers.retain(|d| *d != p.id);
                        if !r.pending_peers.contains(&p.id) {
                            r.pending_peers.push(p.id);
                        }
                    }
                });
            }
        } else {
            // Peers that were pending because the store was catching up are now current.
            for id in self.store_region_ids(hb.store_id) {
                let in_op = self.operators.get(&id).is_some_and(|op| {
                    matches!(op.steps.get(op.current), Some(Step::AddLearner { store, .. }) if *store == hb.store_id)
                });
                if in_op {
                    continue;
                }
                let needs = self.regions.get(&id).is_some_and(|r| {
                    r.peer_on(hb.store_id)
                        .is_some_and(|p| r.pending_peers.contains(&p.id))
                });
                if needs {
                    self.update_region(id, |r| {
                        if let Some(p) = r.peer_on(hb.store_id).copied() {
                            r.pending_peers.retain(|x| *x != p.id);
                        }
                    });
                }
            }
        }
        self.revision += 1;
        Ok(self.heartbeat_reply(hb.store_id, now_ms))
    }

    pub(super) fn heartbeat_reply(&mut self, store: u64, now_ms: u64) -> HeartbeatReply {
        let c = self.counts(store);
        let mut leaders = Vec::new();
        let mut rates = Rates::default();
        for id in self.store_region_ids(store) {
            if let Some(r) = self.regions.get(&id) {
                if r.leader_store() == store {
                    leaders.push(LeaderInfo {
                        region_id: r.id,
                        peer_id: r.leader,
                        term: r.term,
                    });
                    let x = self.region_rates(r, now_ms);
                    rates.read_qps += x.read_qps;
                    rates.write_qps += x.write_qps;
                    rates.read_bytes += x.read_bytes;
                    rates.write_bytes += x.write_bytes;
                }
            }
        }
        let events = self.outbox.remove(&store).unwrap_or_default();
        let sending = self
            .operators
            .values()
            .filter(|op| self.op_snapshot_source(op) == Some(store))
            .count();
        HeartbeatReply {
            store_id: store,
            cluster_id: self.cluster_id,
            region_count: c.region_count,
            leader_count: c.leader_count,
            region_size_mib: c.region_size.max(0.0) as u64,
            leaders,
            read_qps: rates.read_qps,
            write_qps: rates.write_qps,
            read_bytes: rates.read_bytes,
            write_bytes: rates.write_bytes,
            sending_snapshots: sending as u64,
            events,
        }
    }

    pub(super) fn op_snapshot_source(&self, op: &Operator) -> Option<u64> {
        match op.steps.get(op.current) {
            Some(Step::AddLearner { .. }) => {
                self.regions.get(&op.region_id).map(|r| r.leader_store())
            }
            _ => None,
        }
    }

    /// Handles a TiKV region heartbeat: refreshes flow statistics and sizes of the regions
    /// the store leads, and splits regions that outgrew `region-max-size`.
    pub(crate) fn region_heartbeat(
        &mut self,
        store: u64,
        now_ms: u64,
    ) -> Result<usize, ModelError> {
        if !self.stores.contains_key(&store) {
            return Err(ModelError::StoreNotFound(store));
        }
        let ids = self.store_region_ids(store);
        let mut n = 0;
        for id in ids {
            let Some(r) = self.regions.get(&id) else {
                continue;
            };
            if r.leader_store() != store {
                continue;
            }
            n += 1;
            let rates = self.region_rates(r, now_ms);
            let dt = self
                .sim_secs(now_ms.saturating_sub(r.last_hb_ms))
                .clamp(0.0, 3600.0);
            self.update_region(id, |r| {
                r.last_hb_ms = now_ms;
                r.written_bytes = (rates.write_bytes * dt) as u64;
                r.read_bytes = (rates.read_bytes * dt) as u64;
                r.written_keys = (rates.write_keys * dt) as u64;
                r.read_keys = (rates.read_keys * dt) as u64;
                r.size_mib += rates.write_bytes * dt / (1024.0 * 1024.0);
                r.keys += (rates.write_keys * dt * 0.3) as i64;
            });
            if self
                .regions
                .get(&id)
                .is_some_and(|r| r.size_mib > REGION_MAX_SIZE_MIB)
                && !self.operators.contains_key(&id)
            {
                self.split_region(id, now_ms);
            }
        }
        Ok(n)
    }

    /// Splits a region in the middle of its key range.
    pub(crate) fn split_region(&mut self, id: u64, now_ms: u64) -> Option<u64> {
        let r = self.regions.get(&id)?.clone();
        let lo = r.start.max(1);
        let hi = r.end.min(KEYSPACE_MAX);
        if hi <= lo + 1 {
            return None;
        }
        let mid = lo + (hi - lo) / 2;
        let new_id = self.alloc_id();
        let mut peer_map = Vec::new();
        for p in &r.peers {
            let np = self.alloc_id();
            peer_map.push((p.id, np));
        }
        let mut left = r.clone();
        left.id = new_id;
        left.end = mid;
        left.version += 1;
        left.size_mib = r.size_mib / 2.0;
        left.keys = r.keys / 2;
        left.peers = r
            .peers
            .iter()
            .map(|p| Peer {
                id: peer_map
                    .iter()
                    .find(|(o, _)| *o == p.id)
                    .map(|x| x.1)
                    .unwrap_or(p.id),
                ..*p
            })
            .collect();
        let map = |x: u64| {
            peer_map
                .iter()
                .find(|(o, _)| *o == x)
                .map(|m| m.1)
                .unwrap_or(x)
        };
        left.leader = map(r.leader);
        left.down_peers = r.down_peers.iter().map(|x| map(*x)).collect();
        left.pending_peers = r.pending_peers.iter().map(|x| map(*x)).collect();
        left.last_hb_ms = now_ms;
        self.update_region(id, |r| {
            r.start = mid;
            r.version += 1;
            r.size_mib /= 2.0;
            r.keys /= 2;
        });
        let leader_store = left.leader_store();
        let term = left.term;
        let leader_peer = left.leader;
        self.insert_region(left);
        if leader_store != 0 {
            self.push_event(
                leader_store,
                StoreEvent::BecameLeader {
                    region_id: new_id,
                    peer_id: leader_peer,
                    term,
                },
            );
        }
        self.log(
            "INFO",
            "cluster_worker.go:247",
            "region split, generate new region",
            vec![
                ("region-id", id.to_string()),
                ("region-meta", format!("id:{new_id}")),
            ],
        );
        Some(new_id)
    }

    /// Offlines a store (`DELETE /store/{id}`, `state=Offline`).
    ///
    /// # Guarantees
    /// Refuses with [`ModelError::StoresNotEnough`] when fewer than max-replicas Up
    /// stores would remain (unless `force`); idempotent on an Offline store.
    pub(crate) fn remove_store(
        &mut self,
        id: u64,
        force: bool,
        now_ms: u64,
    ) -> Result<(), ModelError> {
        let s = self.stores.get(&id).ok_or(ModelError::StoreNotFound(id))?;
        match s.state {
            2 => return Err(ModelError::StoreRemoved(id)),
            1 if s.physically_destroyed == force || !force => return Ok(()),
            _ => {}
        }
        if s.state == 0 && !force {
            let up = self.stores.values().filter(|s| s.state == 0).count() as u64;
            let need = self.replication.max_replicas;
            if up < need + 1 {
                return Err(ModelError::StoresNotEnough {
                    store: id,
                    would_be: up.saturating_sub(1),
                    need,
                });
            }
        }
        let s = self.stores.get_mut(&id).expect("checked");
        s.state = 1;
        s.node_state = 2;
        s.physically_destroyed |= force;
        let addr = s.address.clone();
        let size = self.counts(id).region_size.max(0.0);
        self.removing_baseline.insert(id, (size, now_ms));
        if let Some(l) = self.schedule.store_limit.get_mut(&id.to_string()) {
            l.remove_peer = GoFloatSer(1e8);
        }
        self.log(
            "WARN",
            "cluster.go:1541",
            "store has been offline",
            vec![
                ("store-id", id.to_string()),
                ("store-address", addr),
                ("physically-destroyed", force.to_string()),
            ],
        );
        self.reindex_store_regions(id);
        self.revision += 1;
        Ok(())
    }

    /// Cancels an offline (`state=Up`).
    pub(crate) fn up_store(&mut self, id: u64) -> Result<(), ModelError> {
        let s = self
            .stores
            .get_mut(&id)
            .ok_or(ModelError::StoreNotFound(id))?;
        if s.state == 2 {
            return Err(ModelError::StoreRemoved(id));
        }
        if s.physically_destroyed {
            return Err(ModelError::StoreDestroyed(id));
        }
        if s.state == 0 {
            return Ok(());
        }
        s.state = 0;
        s.node_state = 1;
        let addr = s.address.clone();
        if let Some(l) = self.schedule.store_limit.get_mut(&id.to_string()) {
            l.remove_peer = GoFloatSer(15.0);
        }
        self.log(
            "WARN",
            "cluster.go:1712",
            "store has been up",
            vec![("store-id", id.to_string()), ("store-address", addr)],
        );
        // Drop operators moving peers off this store.
        let ops: Vec<u64> = self
            .operators
            .iter()
            .filter(|(_, op)| {
                op.desc == "replace-rule-offline-peer"
                    && op
                        .steps
                        .iter()
                        .any(|s| matches!(s, Step::RemovePeer { store } if *store == id))
            })
            .map(|(k, _)| *k)
            .collect();
        for r in ops {
            self.cancel_operator(r, op_status::CANCELED);
        }
        self.reindex_store_regions(id);
        self.revision += 1;
        Ok(())
    }

    /// `DELETE /stores/remove-tombstone`.
    pub(crate) fn remove_tombstones(&mut self) -> Result<(), ModelError> {
        let tomb: Vec<u64> = self
            .stores
            .values()
            .filter(|s| s.state == 2)
            .map(|s| s.id)
            .collect();
        let mut failed = Vec::new();
        for id in tomb {
            if self.counts(id).region_count > 0 {
                failed.push(id.to_string());
                continue;
            }
            self.stores.remove(&id);
            self.schedule.store_limit.remove(&id.to_string());
            self.log(
                "INFO",
                "cluster.go:2150",
                "delete store succeeded",
                vec![("store-id", id.to_string())],
            );
        }
        self.revision += 1;
        if failed.is_empty() {
            Ok(())
        } else {
            Err(ModelError::FailedStores(failed.join(", ")))
        }
    }
}
