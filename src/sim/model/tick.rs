//! [`ClusterModel::tick`]: the passage of time. Store states from heartbeat silence,
//! leaders moved off dead stores, down peers, the replica checkers and the leader and
//! region schedulers that create operators.

use super::*;

impl ClusterModel {
    /// Advances the cluster to `now_ms`: store state machine, leader moves, down and
    /// pending peers, operators, checkers and schedulers.
    ///
    /// # Guarantees
    /// Work per call is bounded by the number of affected regions (regions on stores that
    /// changed liveness, running operators, and a bounded number of new operators), not
    /// by the total number of regions.
    pub(crate) fn tick(&mut self, now_ms: u64) {
        if !self.is_bootstrapped() {
            return;
        }
        // Simulated heartbeats for virtual stores (scale mode).
        for s in self.stores.values_mut() {
            if s.virtual_store && s.state != 2 && !s.virtual_silent {
                s.last_hb_ms = now_ms;
            }
        }
        self.check_store_states(now_ms);
        self.move_leaders_off_dead_stores(now_ms);
        self.log_lost_streams(now_ms);
        self.mark_down_peers(now_ms);
        let ops: Vec<u64> = self.operators.keys().copied().collect();
        for id in ops {
            self.step_operator(id, now_ms);
        }
        self.run_checkers(now_ms);
        self.run_leader_schedulers(now_ms);
        self.run_balance_region(now_ms);
        self.bury_drained_stores();
        // Forget old finished operators (10 simulated minutes).
        let keep_ms = self.real_ms(600.0);
        self.finished_operators
            .retain(|_, op| now_ms.saturating_sub(op.finish_ms) < keep_ms || op.finish_ms <= 1);
        for (name, until) in self.schedulers.paused_until.clone() {
            if now_ms >= until {
                self.schedulers.paused_until.remove(&name);
            }
        }
    }

    pub(super) fn check_store_states(&mut self, now_ms: u64) {
        if now_ms.saturating_sub(self.last_state_check_ms) < self.real_ms(10.0) {
            return;
        }
        self.last_state_check_ms = now_ms;
        let total_regions = self.regions.len();
        let up: Vec<u64> = self
            .stores
            .values()
            .filter(|s| s.state == 0 && s.node_state == 0)
            .map(|s| s.id)
            .collect();
        if up.is_empty() {
            return;
        }
        let serving = self.stores.values().filter(|s| s.state == 0).count().max(1);
        let total_size: f64 = self
            .regions
            .values()
            .map(|r| r.size_mib * r.peers.len() as f64)
            .sum::<f64>();
        for id in up {
            let s = &self.stores[&id];
            let uptime =
                self.sim_secs(now_ms.saturating_sub(s.start_timestamp.max(0) as u64 * 1000));
            let share = total_size / serving as f64;
            let ready = total_regions < INIT_CLUSTER_REGION_THRESHOLD
                || uptime >= 48.0 * 3600.0
                || self.counts(id).region_size >= 0.9 * share;
            if ready && self.is_alive(id, now_ms) {
                let s = self.stores.get_mut(&id).expect("listed");
                s.node_state = 1;
                let addr = s.address.clone();
                self.log(
                    "INFO",
                    "cluster.go:1761",
                    "store has changed to serving",
                    vec![("store-id", id.to_string()), ("store-address", addr)],
                );
                self.revision += 1;
            }
        }
    }

    pub(super) fn pick_leader_target(&self, r: &Region, now_ms: u64) -> Option<u64> {
        let evicted = |s: u64| {
            self.scheduler_active("evict-leader-scheduler", now_ms)
                && self.schedulers.evict_leader.contains(&s)
        };
        let mut cands: Vec<&Peer> = r
            .peers
            .iter()
            .filter(|p| {
                p.role == role::VOTER
                    && p.id != r.leader
                    && self.is_alive(p.store_id, now_ms)
                    && !r.down_peers.contains(&p.id)
            })
            .collect();
        cands.sort_by_key(|p| {
            (
                evicted(p.store_id),
                self.stores.get(&p.store_id).is_some_and(|s| s.state != 0),
                self.counts(p.store_id).leader_count,
                p.store_id,
            )
        });
        cands.first().map(|p| p.store_id)
    }

    pub(super) fn move_leaders_off_dead_stores(&mut self, now_ms: u64) {
        let dead: Vec<u64> = self
            .stores
            .values()
            .filter(|s| !self.is_alive(s.id, now_ms) && self.counts(s.id).leader_count > 0)
            .map(|s| s.id)
            .collect();
        for store in dead {
            for id in self.store_region_ids(store) {
                let Some(r) = self.regions.get(&id) else {
                    continue;
                };
                if r.leader_store() != store {
                    continue;
                }
                // Raft needs a quorum of live voters to elect.
                let voters = r.peers.iter().filter(|p| p.role == role::VOTER).count();
                let live = r
                    .peers
                    .iter()
                    .filter(|p| p.role == role::VOTER && self.is_alive(p.store_id, now_ms))
                    .count();
                if live * 2 <= voters {
                    continue;
                }
                if let Some(t) = self.pick_leader_target(r, now_ms) {
                    self.transfer_leader_now(id, t);
                }
            }
        }
    }

    pub(super) fn log_lost_streams(&mut self, now_ms: u64) {
        let lost: Vec<u64> = self
            .stores
            .values()
            .filter(|s| {
                s.state != 2
                    && !s.disconnect_logged
                    && self.silent_secs(s, now_ms) > DISCONNECT_SECS
            })
            .map(|s| s.id)
            .collect();
        for id in lost {
            if let Some(s) = self.stores.get_mut(&id) {
                s.disconnect_logged = true;
            }
            self.log(
                "WARN",
                "heartbeat_streams.go:168",
                "send keepalive message fail, store maybe disconnected",
                vec![("target-store-id", id.to_string()), ("error", "EOF".into())],
            );
        }
    }

    pub(super) fn mark_down_peers(&mut self, now_ms: u64) {
        let newly: Vec<u64> = self
            .stores
            .values()
            .filter(|s| {
                s.state != 2
                    && !s.peers_marked_down
                    && self.silent_secs(s, now_ms) >= self.peer_down_secs_for(s)
            })
            .map(|s| s.id)
            .collect();
        for store in newly {
            if let Some(s) = self.stores.get_mut(&store) {
                s.peers_marked_down = true;
            }
            for id in self.store_region_ids(store) {
                self.update_region(id, |r| {
                    if let Some(p) = r.peer_on(store).copied() {
                        if p.id != r.leader && !r.down_peers.contains(&p.id) {
                            r.down_peers.push(p.id);
                        }
                    }
                });
            }
        }
    }

    pub(super) fn peer_down_secs_for(&self, s: &Store) -> f64 {
        if s.max_peer_down_secs > 0.0 {
            s.max_peer_down_secs
        } else {
            600.0
        }
    }

    /// Seconds (simulated) a down peer has been silent.
    pub(crate) fn down_seconds(&self, store: u64, now_ms: u64) -> u64 {
        self.stores
            .get(&store)
            .map(|s| self.silent_secs(s, now_ms) as u64)
            .unwrap_or(0)
    }

    pub(super) fn add_peer_allowed(&mut self, store: u64, now_ms: u64) -> bool {
        let minute = (self.sim_secs(now_ms) / 60.0) as u32;
        let limit = self
            .schedule
            .store_limit
            .get(&store.to_string())
            .map(|l| l.add_peer.0)
            .unwrap_or(15.0) as u64;
        let Some(s) = self.stores.get_mut(&store) else {
            return false;
        };
        if s.add_peer_window.1 != minute {
            s.add_peer_window = (0, minute);
        }
        if s.add_peer_window.0 >= limit.max(1) {
            return false;
        }
        s.add_peer_window.0 += 1;
        true
    }

    pub(super) fn pick_target_store(&self, r: &Region, now_ms: u64) -> Option<u64> {
        self.stores
            .values()
            .filter(|s| s.state == 0 && self.is_alive(s.id, now_ms) && r.peer_on(s.id).is_none())
            .filter(|s| {
                (s.available as f64) > (s.capacity as f64) * (1.0 - self.schedule.low_space_ratio.0)
                    || s.capacity == 0
            })
            .min_by_key(|s| (self.counts(s.id).region_count, s.id))
            .map(|s| s.id)
    }

    pub(super) fn replica_ops_running(&self) -> usize {
        self.operators
            .values()
            .filter(|o| o.kind & kind::REPLICA != 0)
            .count()
    }

    pub(super) fn run_checkers(&mut self, now_ms: u64) {
        let limit = self.schedule.replica_schedule_limit as usize;
        let mut budget = limit.saturating_sub(self.replica_ops_running()).min(32);
        if budget == 0 {
            return;
        }
        let max_down = self.max_store_down_secs();
        // Offline stores first (replace-rule-offline-peer), then down peers, then missing.
        let offline: Vec<u64> = self
            .stores
            .values()
            .filter(|s| s.node_state == 2)
            .map(|s| s.id)
            .collect();
        for store in offline {
            for id in self.store_region_ids(store) {
                if budget == 0 {
                    return;
                }
                if self.operators.contains_key(&id) {
                    continue;
                }
                let r = self.regions[&id].clone();
                if r.peers.len() > self.replication.max_replicas as usize {
                    // Already has a replacement; drop the offline peer.
                    let op = self.new_op(
                        &r,
                        "remove-extra-replica",
                        format!("rm peer: store [{store}]"),
                        kind::REPLICA | kind::REGION,
                        vec![Step::RemovePeer { store }],
                        600,
                    );
                    if self.add_operator(op, now_ms).is_ok() {
                        budget -= 1;
                    }
                    continue;
                }
                let Some(to) = self.pick_target_store(&r, now_ms) else {
                    continue;
                };
                if !self.add_peer_allowed(to, now_ms) {
                    continue;
                }
                if let Ok(op) = self.move_peer_op(
                    &r,
                    "replace-rule-offline-peer",
                    store,
                    to,
                    kind::REPLICA | kind::REGION,
                ) {
                    if self.add_operator(op, now_ms).is_ok() {
                        budget -= 1;
                    }
                }
            }
        }
        let down: Vec<u64> = self.check_ids(2).iter().copied().take(4096).collect();
        for id in down {
            if budget == 0 {
                return;
            }
            if self.operators.contains_key(&id) {
                continue;
            }
            let r = self.regions[&id].clone();
            let Some(dp) = r
                .down_peers
                .iter()
                .filter_map(|d| r.peer(*d))
                .find(|p| {
                    self.stores
                        .get(&p.store_id)
                        .is_some_and(|s| s.state == 0 && self.silent_secs(s, now_ms) >= max_down)
                })
                .copied()
            else {
                continue;
            };
            let Some(to) = self.pick_target_store(&r, now_ms) else {
                continue;
            };
            if !self.add_peer_allowed(to, now_ms) {
                continue;
            }
            if let Ok(op) = self.move_peer_op(
                &r,
                "replace-rule-down-peer",
                dp.store_id,
                to,
                kind::REPLICA | kind::REGION,
            ) {
                if self.add_operator(op, now_ms).is_ok() {
                    budget -= 1;
                }
            }
        }
        let miss: Vec<u64> = self.check_ids(0).iter().copied().take(4096).collect();
        for id in miss {
            if budget == 0 {
                return;
            }
            if self.operators.contains_key(&id) {
                continue;
            }
            let r = self.regions[&id].clone();
            let Some(to) = self.pick_target_store(&r, now_ms) else {
                continue;
            };
            if !self.add_peer_allowed(to, now_ms) {
                continue;
            }
            let pid = self.alloc_id();
            let op = self.new_op(
                &r,
                "add-rule-peer",
                format!("add peer: store [{to}]"),
                kind::REPLICA | kind::REGION,
                vec![
                    Step::AddLearner {
                        peer: pid,
                        store: to,
                    },
                    Step::PromoteLearner {
                        peer: pid,
                        store: to,
                    },
                ],
                600 + 420,
            );
            if self.add_operator(op, now_ms).is_ok() {
                budget -= 1;
            }
        }
        let extra: Vec<u64> = self.check_ids(1).iter().copied().take(1024).collect();
        for id in extra {
            if budget == 0 {
                return;
            }
            if self.operators.contains_key(&id) {
                continue;
            }
            let r = self.regions[&id].clone();
            // Prefer removing a dead or offline peer, never the leader.
            let victim = r
                .peers
                .iter()
                .filter(|p| p.id != r.leader)
                .max_by_key(|p| {
                    (
                        !self.is_alive(p.store_id, now_ms),
                        self.stores.get(&p.store_id).map(|s| s.node_state == 2),
                        self.counts(p.store_id).region_count,
                    )
                })
                .map(|p| p.store_id);
            if let Some(store) = victim {
                let op = self.new_op(
                    &r,
                    "remove-orphan-peer",
                    format!("rm peer: store [{store}]"),
                    kind::REPLICA | kind::REGION,
                    vec![Step::RemovePeer { store }],
                    600,
                );
                if self.add_operator(op, now_ms).is_ok() {
                    budget -= 1;
                }
            }
        }
    }

    pub(super) fn instant_leader_op(
        &mut self,
        id: u64,
        desc: &str,
        to: u64,
        kinds: u32,
        now_ms: u64,
    ) {
        let Some(r) = self.regions.get(&id).cloned() else {
            return;
        };
        let from = r.leader_store();
        let op = self.new_op(
            &r,
            desc,
            format!("transfer leader: store {from} to {to}"),
            kinds,
            vec![Step::TransferLeader { from, to }],
            60,
        );
        if self.add_operator(op, now_ms).is_ok() {
            self.step_operator(id, now_ms);
        }
    }

    pub(super) fn run_leader_schedulers(&mut self, now_ms: u64) {
        let mut budget = (self.schedule.leader_schedule_limit as usize).max(1) * 2;
        if self.scheduler_active("evict-leader-scheduler", now_ms) {
            for store in self.schedulers.evict_leader.clone() {
                for id in self.store_region_ids(store) {
                    if budget == 0 {
                        return;
                    }
                    let Some(r) = self.regions.get(&id) else {
                        continue;
                    };
                    if r.leader_store() != store || self.operators.contains_key(&id) {
                        continue;
                    }
                    if let Some(t) = self.pick_leader_target(r, now_ms) {
                        if !self.schedulers.evict_leader.contains(&t) {
                            self.instant_leader_op(
                                id,
                                "evict-leader-scheduler",
                                t,
                                kind::LEADER,
                                now_ms,
                            );
                            budget -= 1;
                        }
                    }
                }
            }
        }
        if self.scheduler_active("grant-leader-scheduler", now_ms) {
            for store in self.schedulers.grant_leader.clone() {
                if !self.is_alive(store, now_ms) {
                    continue;
                }
                for id in self.store_region_ids(store) {
                    if budget == 0 {
                        return;
                    }
                    let Some(r) = self.regions.get(&id) else {
                        continue;
                    };
                    if r.leader_store() == store || self.operators.contains_key(&id) {
                        continue;
                    }
                    if r.peer_on(store).is_some_and(|p| p.role == role::VOTER) {
                        self.instant_leader_op(
                            id,
                            "grant-leader-scheduler",
                            store,
                            kind::LEADER,
                            now_ms,
                        );
                        budget -= 1;
                    }
                }
            }
        }
        // Slow stores (score >= 100) lose their leaders while evict-slow-store runs.
        if self.scheduler_active("evict-slow-store-scheduler", now_ms) {
            let slow: Vec<u64> = self
                .stores
                .values()
                .filter(|s| s.slow_score >= 100 && s.state == 0)
                .map(|s| s.id)
                .collect();
            for store in slow {
                for id in self.store_region_ids(store) {
                    if budget == 0 {
                        return;
                    }
                    let Some(r) = self.regions.get(&id) else {
                        continue;
                    };
                    if r.leader_store() != store || self.operators.contains_key(&id) {
                        continue;
                    }
                    if let Some(t) = self.pick_leader_target(r, now_ms) {
                        if self.stores.get(&t).is_some_and(|s| s.slow_score < 80) {
                            self.instant_leader_op(
                                id,
                                "evict-slow-store-scheduler",
                                t,
                                kind::LEADER,
                                now_ms,
                            );
                            budget -= 1;
                        }
                    }
                }
            }
        }
        if !self.scheduler_active("balance-leader-scheduler", now_ms) {
            return;
        }
        let evicting = self.scheduler_active("evict-leader-scheduler", now_ms);
        let eligible: Vec<u64> = self
            .stores
            .values()
            .filter(|s| s.state == 0 && self.is_alive(s.id, now_ms) && s.slow_score < 80)
            .filter(|s| !(evicting && self.schedulers.evict_leader.contains(&s.id)))
            .map(|s| s.id)
            .collect();
        if eligible.len() < 2 {
            return;
        }
        for _ in 0..budget.min(self.schedule.leader_schedule_limit as usize) {
            let max = *eligible
                .iter()
                .max_by_key(|s| (self.counts(**s).leader_count, **s))
                .expect("non-empty");
            let min = *eligible
                .iter()
                .min_by_key(|s| (self.counts(**s).leader_count, **s))
                .expect("non-empty");
            if self.counts(max).leader_count <= self.counts(min).leader_count + 1 {
                return;
            }
            // A region led by `max` with a voter on `min`.
            let cand = self.store_region_ids(max).into_iter().find(|id| {
                self.regions.get(id).is_some_and(|r| {
                    r.leader_store() == max
                        && !self.operators.contains_key(id)
                        && r.peer_on(min).is_some_and(|p| {
                            p.role == role::VOTER
                                && !r.down_peers.contains(&p.id)
                                && !r.pending_peers.contains(&p.id)
                        })
                })
            });
            match cand {
                Some(id) => self.instant_leader_op(id, "balance-leader", min, kind::LEADER, now_ms),
                None => return,
            }
        }
    }

    pub(super) fn run_balance_region(&mut self, now_ms: u64) {
        if !self.scheduler_active("balance-region-scheduler", now_ms) {
            return;
        }
        let running = self
            .operators
            .values()
            .filter(|o| o.desc == "balance-region")
            .count();
        if running >= 4 || self.regions.len() > 200_000 {
            return;
        }
        let eligible: Vec<u64> = self
            .stores
            .values()
            .filter(|s| s.state == 0 && self.is_alive(s.id, now_ms))
            .map(|s| s.id)
            .collect();
        if eligible.len() < 2 {
            return;
        }
        let max = *eligible
            .iter()
            .max_by_key(|s| (self.counts(**s).region_count, **s))
            .expect("non-empty");
        let min = *eligible
            .iter()
            .min_by_key(|s| (self.counts(**s).region_count, u64::MAX - **s))
            .expect("non-empty");
        let (cmax, cmin) = (self.counts(max).region_count, self.counts(min).region_count);
        let tolerance = ((cmax as f64) * 0.05).max(2.0) as u64;
        if cmax <= cmin + tolerance {
            return;
        }
        let cand = self.store_region_ids(max).into_iter().find(|id| {
            self.regions.get(id).is_some_and(|r| {
                r.peer_on(min).is_none()
                    && !self.operators.contains_key(id)
                    && r.down_peers.is_empty()
                    && r.pending_peers.is_empty()
                    && r.peers.len() == self.replication.max_replicas as usize
            })
        });
        if let Some(id) = cand {
            if !self.add_peer_allowed(min, now_ms) {
                return;
            }
            let r = self.regions[&id].clone();
            if let Ok(op) = self.move_peer_op(&r, "balance-region", max, min, kind::REGION) {
                let _ = self.add_operator(op, now_ms);
            }
        }
    }

    pub(super) fn bury_drained_stores(&mut self) {
        let drained: Vec<u64> = self
            .stores
            .values()
            .filter(|s| s.state == 1 && self.counts(s.id).region_count == 0)
            .map(|s| s.id)
            .collect();
        for id in drained {
            let s = self.stores.get_mut(&id).expect("listed");
            s.state = 2;
            s.node_state = 3;
            let addr = s.address.clone();
            self.schedulers.evict_leader.remove(&id);
            self.log(
                "WARN",
                "cluster.go:1910",
                "store has been Tombstone",
                vec![("store-id", id.to_string()), ("store-address", addr)],
            );
            self.revision += 1;
        }
    }
}
