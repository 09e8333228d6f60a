//! Operators: their steps and statuses, adding and cancelling them, stepping them as
//! heartbeats arrive, and the `/operators` admin API. One file because an operator's
//! life (create, step, finish, cancel) is one state machine.

use super::*;

/// One step of an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// Move the leader.
    TransferLeader {
        /// Source store.
        from: u64,
        /// Target store.
        to: u64,
    },
    /// Add a learner; done once its snapshot is applied.
    AddLearner {
        /// New peer id.
        peer: u64,
        /// Target store.
        store: u64,
    },
    /// Promote a learner to voter (add-rule-peer).
    PromoteLearner {
        /// Peer id.
        peer: u64,
        /// Store.
        store: u64,
    },
    /// Enter joint consensus.
    JointPromoteDemote {
        /// Learner being promoted.
        promote: (u64, u64),
        /// Voter being demoted.
        demote: (u64, u64),
    },
    /// Leave joint consensus.
    LeaveJoint {
        /// Learner being promoted.
        promote: (u64, u64),
        /// Voter being demoted.
        demote: (u64, u64),
    },
    /// Remove the peer on a store.
    RemovePeer {
        /// Store.
        store: u64,
    },
    /// Split the region.
    Split {
        /// Policy name (APPROXIMATE, SCAN, USEKEY).
        policy: String,
    },
    /// Merge into a target.
    Merge {
        /// Source region.
        source: u64,
        /// Target region.
        target: u64,
    },
}

impl Step {
    pub(super) fn describe(&self) -> String {
        match self {
            Step::TransferLeader { from, to } => format!("transfer leader from store {from} to store {to}"),
            Step::AddLearner { peer, store } => format!("add learner peer {peer} on store {store}"),
            Step::PromoteLearner { peer, store } => format!("promote learner peer {peer} on store {store} to voter"),
            Step::JointPromoteDemote { promote, demote } => format!(
                "use joint consensus, promote learner peer {} on store {} to voter, demote voter peer {} on store {} to learner",
                promote.0, promote.1, demote.0, demote.1
            ),
            Step::LeaveJoint { promote, demote } => format!(
                "leave joint state, promote learner peer {} on store {} to voter, demote voter peer {} on store {} to learner",
                promote.0, promote.1, demote.0, demote.1
            ),
            Step::RemovePeer { store } => format!("remove peer on store {store}"),
            Step::Split { policy } => format!("split region with policy {policy}"),
            Step::Merge { source, target } => format!("merge region {source} into region {target}"),
        }
    }
}

/// Operator kind bits (PD v8.5.7 order, OpAffinity at bit 1).
pub mod kind {
    /// Leader.
    pub(crate) const LEADER: u32 = 1;
    /// Region.
    pub(crate) const REGION: u32 = 1 << 2;
    /// Split.
    pub(crate) const SPLIT: u32 = 1 << 3;
    /// Admin.
    pub(crate) const ADMIN: u32 = 1 << 4;
    /// Hot region.
    pub(crate) const HOT: u32 = 1 << 5;
    /// Replica.
    pub(crate) const REPLICA: u32 = 1 << 6;
    /// Merge.
    pub(crate) const MERGE: u32 = 1 << 7;
    /// Names in PD's order.
    pub(crate) fn names(k: u32) -> String {
        let mut v = Vec::new();
        for (bit, n) in [
            (LEADER, "leader"),
            (REGION, "region"),
            (SPLIT, "split"),
            (ADMIN, "admin"),
            (HOT, "hot-region"),
            (REPLICA, "replica"),
            (MERGE, "merge"),
        ] {
            if k & bit != 0 {
                v.push(n);
            }
        }
        // PD prints admin first, then the rest in bit order.
        v.sort_by_key(|n| if *n == "admin" { 0 } else { 1 });
        v.join(",")
    }
}

/// Operator status (`status` in `?object` output).
pub mod op_status {
    /// Created.
    pub(crate) const CREATED: u8 = 0;
    /// Started.
    pub(crate) const STARTED: u8 = 1;
    /// Success.
    pub(crate) const SUCCESS: u8 = 2;
    /// Canceled.
    pub(crate) const CANCELED: u8 = 3;
    /// Replaced.
    pub(crate) const REPLACED: u8 = 4;
    /// Timeout.
    pub(crate) const TIMEOUT: u8 = 6;
}

/// A running or recently finished operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operator {
    /// Region.
    pub region_id: u64,
    /// `admin-transfer-leader`, `replace-rule-offline-peer`, ...
    pub desc: String,
    /// `transfer leader: store 1 to 4`.
    pub brief: String,
    /// Kind bits.
    pub kind: u32,
    /// Steps.
    pub steps: Vec<Step>,
    /// Index of the current step.
    pub current: usize,
    /// Created, unix ms.
    pub create_ms: u64,
    /// Current step started, unix ms.
    pub step_start_ms: u64,
    /// Status.
    pub status: u8,
    /// Region size at creation (MiB).
    pub size: i64,
    /// Timeout, simulated seconds.
    pub timeout_secs: u64,
    /// Epoch at creation.
    pub epoch: (u64, u64),
    /// Finished, unix ms.
    pub finish_ms: u64,
}

impl Operator {
    /// `Operator.String()`.
    pub(crate) fn to_pd_string(&self, boot_ms: u64) -> String {
        let t = |ms: u64| {
            if ms == 0 {
                "0001-01-01 00:00:00 +0000 UTC".to_string()
            } else {
                wire::go_time_string(
                    UNIX_EPOCH + Duration::from_millis(ms),
                    ms.saturating_sub(boot_ms) as f64 / 1000.0,
                )
            }
        };
        let steps: Vec<String> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{i}:{{{}}}", s.describe()))
            .collect();
        let suffix = match self.status {
            op_status::SUCCESS => " finished",
            op_status::TIMEOUT => " timeout",
            _ => "",
        };
        format!(
            "{} {{{}}} (kind:{}, region:{}({}, {}), createAt:{}, startAt:{}, currentStep:{}, size:{}, steps:[{}], timeout:[{}]){}",
            self.desc,
            self.brief,
            kind::names(self.kind),
            self.region_id,
            self.epoch.1,
            self.epoch.0,
            t(self.create_ms),
            t(self.create_ms),
            self.current,
            self.size,
            steps.join(", "),
            wire::go_duration(Duration::from_secs(self.timeout_secs)),
            suffix
        )
    }
}

/// Something a TiKV store should log or count, delivered with its next heartbeat reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoreEvent {
    /// A peer on this store became leader.
    BecameLeader {
        /// Region.
        region_id: u64,
        /// Peer.
        peer_id: u64,
        /// New term.
        term: u64,
    },
    /// A peer on this store lost leadership.
    BecameFollower {
        /// Region.
        region_id: u64,
        /// Peer.
        peer_id: u64,
        /// New term.
        term: u64,
    },
    /// This store sent a snapshot.
    SnapshotSent {
        /// Region.
        region_id: u64,
        /// Receiving peer.
        to_peer: u64,
        /// Bytes.
        size: u64,
        /// Simulated seconds it took.
        secs: f64,
        /// Term.
        term: u64,
    },
    /// This store applied a snapshot.
    SnapshotApplied {
        /// Region.
        region_id: u64,
        /// Peer.
        peer_id: u64,
        /// Bytes.
        size: u64,
        /// Simulated seconds it took.
        secs: f64,
    },
}

impl ClusterModel {
    pub(super) fn record_op(&mut self, desc: &str, event: &str) {
        *self
            .operator_counts
            .entry(format!("{desc}|{event}"))
            .or_default() += 1;
    }

    pub(super) fn add_operator(&mut self, mut op: Operator, now_ms: u64) -> Result<(), ModelError> {
        if self.operators.contains_key(&op.region_id) {
            return Err(ModelError::OperatorExists);
        }
        op.create_ms = now_ms;
        op.step_start_ms = now_ms;
        op.status = op_status::STARTED;
        let boot = self.bootstrap_ms;
        self.record_op(&op.desc, "create");
        self.record_op(&op.desc, "start");
        self.log(
            "INFO",
            "operator_controller.go:561",
            "add operator",
            vec![
                ("region-id", op.region_id.to_string()),
                ("operator", format!("{:?}", op.to_pd_string(boot))),
            ],
        );
        self.operators.insert(op.region_id, op);
        self.revision += 1;
        Ok(())
    }

    pub(super) fn new_op(
        &self,
        region: &Region,
        desc: &str,
        brief: String,
        kind: u32,
        steps: Vec<Step>,
        timeout_secs: u64,
    ) -> Operator {
        Operator {
            region_id: region.id,
            desc: desc.into(),
            brief,
            kind,
            steps,
            current: 0,
            create_ms: 0,
            step_start_ms: 0,
            status: op_status::CREATED,
            size: region.size_mib.round() as i64,
            timeout_secs,
            epoch: (region.conf_ver, region.version),
            finish_ms: 0,
        }
    }

    /// Cancels the operator on a region.
    pub(crate) fn cancel_operator(&mut self, region: u64, status: u8) -> bool {
        let Some(mut op) = self.operators.remove(&region) else {
            return false;
        };
        // Undo a half-added learner so the region does not keep an orphan.
        if let Some(Step::AddLearner { peer, .. }) = op.steps.get(op.current).cloned() {
            self.update_region(region, |r| {
                r.peers.retain(|p| p.id != peer);
                r.pending_peers.retain(|p| *p != peer);
                r.conf_ver += 1;
            });
        }
        op.status = status;
        op.finish_ms = self.regions.get(&region).map(|_| 1).unwrap_or(1);
        let name = if status == op_status::TIMEOUT {
            "timeout"
        } else {
            "cancel"
        };
        self.record_op(&op.desc.clone(), name);
        self.log(
            "INFO",
            "operator_controller.go:741",
            if status == op_status::TIMEOUT {
                "operator timeout"
            } else {
                "operator canceled"
            },
            vec![("region-id", region.to_string())],
        );
        self.finished_operators.insert(region, op);
        self.revision += 1;
        true
    }

    /// Cancels every running operator.
    pub(crate) fn cancel_all_operators(&mut self) {
        let ids: Vec<u64> = self.operators.keys().copied().collect();
        for id in ids {
            self.cancel_operator(id, op_status::CANCELED);
        }
    }

    pub(super) fn snapshot_secs(size_mib: f64) -> f64 {
        // Generate + send + apply at ~100 MiB/s, plus fixed overhead.
        2.0 + size_mib / 100.0
    }

    pub(super) fn transfer_leader_now(&mut self, region: u64, to_store: u64) -> bool {
        let Some(r) = self.regions.get(&region) else {
            return false;
        };
        let Some(target) = r.peer_on(to_store).copied() else {
            return false;
        };
        if target.role != role::VOTER {
            return false;
        }
        let from_store = r.leader_store();
        let old_leader = r.leader;
        if from_store == to_store {
            return true;
        }
        let term = r.term + 1;
        self.update_region(region, |r| {
            r.leader = target.id;
            r.term = term;
            r.down_peers.retain(|d| *d != target.id);
        });
        if from_store != 0 {
            self.push_event(
                from_store,
                StoreEvent::BecameFollower {
                    region_id: region,
                    peer_id: old_leader,
                    term,
                },
            );
        }
        self.push_event(
            to_store,
            StoreEvent::BecameLeader {
                region_id: region,
                peer_id: target.id,
                term,
            },
        );
        self.log(
            "INFO",
            "region.go:798",
            "leader changed",
            vec![
                ("region-id", region.to_string()),
                ("from", from_store.to_string()),
                ("to", to_store.to_string()),
            ],
        );
        true
    }

    pub(super) fn finish_op(&mut self, region: u64, now_ms: u64) {
        if let Some(mut op) = self.operators.remove(&region) {
            op.status = op_status::SUCCESS;
            op.current = op.steps.len();
            op.finish_ms = now_ms;
            let takes =
                wire::go_duration(Duration::from_millis(now_ms.saturating_sub(op.create_ms)));
            let desc = op.desc.clone();
            self.record_op(&desc, "finish");
            let boot = self.bootstrap_ms;
            self.log(
                "INFO",
                "operator_controller.go:724",
                "operator finish",
                vec![
                    ("region-id", region.to_string()),
                    ("takes", takes),
                    ("operator", format!("{:?}", op.to_pd_string(boot))),
                ],
            );
            self.finished_operators.insert(region, op);
            self.revision += 1;
        }
    }

    /// Advances one operator by at most one step. Returns false when it is stuck.
    pub(super) fn step_operator(&mut self, region: u64, now_ms: u64) {
        let Some(op) = self.operators.get(&region).cloned() else {
            return;
        };
        if self.sim_secs(now_ms.saturating_sub(op.create_ms)) > op.timeout_secs as f64 {
            self.cancel_operator(region, op_status::TIMEOUT);
            return;
        }
        let Some(r) = self.regions.get(&region).cloned() else {
            self.operators.remove(&region);
            return;
        };
        let Some(step) = op.steps.get(op.current).cloned() else {
            self.finish_op(region, now_ms);
            return;
        };
        let done = match step {
            Step::TransferLeader { to, .. } => {
                self.is_alive(to, now_ms) && self.transfer_leader_now(region, to)
            }
            Step::AddLearner { peer, store } => {
                if r.peer(peer).is_none() {
                    if !self.is_alive(store, now_ms) {
                        false
                    } else {
                        self.update_region(region, |r| {
                            r.peers.push(Peer {
                                id: peer,
                                store_id: store,
                                role: role::LEARNER,
                            });
                            r.pending_peers.push(peer);
                            r.conf_ver += 1;
                        });
                        self.log(
                            "INFO",
                            "region.go:815",
                            "region ConfVer changed",
                            vec![
                                ("region-id", region.to_string()),
                                (
                                    "detail",
                                    format!(
                                        "Add peer:{{id:{peer} store_id:{store} role:Learner }}"
                                    ),
                                ),
                                ("old-confver", r.conf_ver.to_string()),
                                ("new-confver", (r.conf_ver + 1).to_string()),
                            ],
                        );
                        false
                    }
                } else {
                    let secs = Self::snapshot_secs(r.size_mib);
                    let elapsed = self.sim_secs(now_ms.saturating_sub(op.step_start_ms));
                    let leader_store = r.leader_store();
                    if elapsed >= secs
                        && self.is_alive(store, now_ms)
                        && self.is_alive(leader_store, now_ms)
                    {
                        self.update_region(region, |r| r.pending_peers.retain(|p| *p != peer));
                        let size = (r.size_mib * 1024.0 * 1024.0) as u64;
                        self.push_event(
                            leader_store,
                            StoreEvent::SnapshotSent {
                                region_id: region,
                                to_peer: peer,
                                size,
                                secs,
                                term: r.term,
                            },
                        );
                        self.push_event(
                            store,
                            StoreEvent::SnapshotApplied {
                                region_id: region,
                                peer_id: peer,
                                size,
                                secs,
                            },
                        );
                        true
                    } else {
                        false
                    }
                }
            }
            Step::PromoteLearner { peer, .. } => {
                self.update_region(region, |r| {
                    if let Some(p) = r.peers.iter_mut().find(|p| p.id == peer) {
                        p.role = role::VOTER;
                    }
                    r.conf_ver += 1;
                });
                true
            }
            Step::JointPromoteDemote { promote, demote } => {
                if r.leader == demote.0 {
                    // Move the leader away from the demoted voter first.
                    let target = r
                        .peers
                        .iter()
                        .find(|p| {
                            p.role == role::VOTER
                                && p.id != demote.0
                                && self.is_alive(p.store_id, now_ms)
                        })
                        .map(|p| p.store_id);
                    if let Some(t) = target {
                        self.transfer_leader_now(region, t);
                    }
                    false
                } else {
                    self.update_region(region, |r| {
                        for p in r.peers.iter_mut() {
                            if p.id == promote.0 {
                                p.role = role::INCOMING;
                            } else if p.id == demote.0 {
                                p.role = role::DEMOTING;
                            }
                        }
                        r.conf_ver += 1;
                    });
                    true
                }
            }
            Step::LeaveJoint { promote, demote } => {
                self.update_region(region, |r| {
                    for p in r.peers.iter_mut() {
                        if p.id == promote.0 {
                            p.role = role::VOTER;
                        } else if p.id == demote.0 {
                            p.role = role::LEARNER;
                        }
                    }
                    r.conf_ver += 1;
                });
                true
            }
            Step::RemovePeer { store } => {
                let Some(p) = r.peer_on(store).copied() else {
                    self.advance(region, now_ms);
                    return;
                };
                if r.leader == p.id {
                    let target = r
                        .peers
                        .iter()
                        .find(|q| {
                            q.role == role::VOTER
                                && q.id != p.id
                                && self.is_alive(q.store_id, now_ms)
                        })
                        .map(|q| q.store_id);
                    if let Some(t) = target {
                        self.transfer_leader_now(region, t);
                    }
                    false
                } else {
                    self.update_region(region, |r| {
                        r.peers.retain(|q| q.id != p.id);
                        r.down_peers.retain(|q| *q != p.id);
                        r.pending_peers.retain(|q| *q != p.id);
                        r.conf_ver += 1;
                    });
                    true
                }
            }
            Step::Split { .. } => {
                self.split_region(region, now_ms);
                true
            }
            Step::Merge { source, target } => {
                self.merge_regions(source, target);
                true
            }
        };
        if done {
            self.advance(region, now_ms);
        }
    }

    pub(super) fn advance(&mut self, region: u64, now_ms: u64) {
        let finished = if let Some(op) = self.operators.get_mut(&region) {
            op.current += 1;
            op.step_start_ms = now_ms;
            op.current >= op.steps.len()
        } else {
            false
        };
        if finished {
            self.finish_op(region, now_ms);
        }
    }

    pub(super) fn merge_regions(&mut self, source: u64, target: u64) {
        let Some(s) = self.regions.get(&source).cloned() else {
            return;
        };
        let Some(t) = self.regions.get(&target).cloned() else {
            return;
        };
        if s.end != t.start && t.end != s.start {
            return;
        }
        self.unindex(&s);
        self.regions.remove(&source);
        let (ns, ne) = (
            s.start.min(t.start),
            if s.end == KEY_MAX || t.end == KEY_MAX {
                KEY_MAX
            } else {
                s.end.max(t.end)
            },
        );
        self.update_region(target, |r| {
            r.start = ns;
            r.end = ne;
            r.version = r.version.max(s.version) + 1;
            r.size_mib += s.size_mib;
            r.keys += s.keys;
        });
    }

    /// Creates an admin operator from `POST /operators` input.
    pub(crate) fn admin_operator(
        &mut self,
        req: &serde_json::Value,
        now_ms: u64,
    ) -> Result<(), ModelError> {
        let name = req
            .get("name")
            .and_then(|v| v.as_str())
            .ok_or_else(|| ModelError::BadRequest("missing name".into()))?;
        let u = |k: &str| req.get(k).and_then(|v| v.as_u64());
        let region_id = if name == "merge-region" {
            u("source_region_id")
        } else {
            u("region_id")
        }
        .ok_or_else(|| ModelError::BadRequest("missing region_id".into()))?;
        let r = self
            .regions
            .get(&region_id)
            .cloned()
            .ok_or(ModelError::RegionNotFound(region_id))?;
        let op = match name {
            "transfer-leader" => {
                let to = u("to_store_id")
                    .ok_or_else(|| ModelError::BadRequest("missing to_store_id".into()))?;
                if r.peer_on(to).is_none_or(|p| p.role != role::VOTER) {
                    return Err(ModelError::Operator(format!(
                        "region has no voter in store {to}"
                    )));
                }
                let from = r.leader_store();
                self.new_op(
                    &r,
                    "admin-transfer-leader",
                    format!("transfer leader: store {from} to {to}"),
                    kind::ADMIN | kind::LEADER,
                    vec![Step::TransferLeader { from, to }],
                    60,
                )
            }
            "transfer-peer" => {
                let from = u("from_store_id")
                    .ok_or_else(|| ModelError::BadRequest("missing from_store_id".into()))?;
                let to = u("to_store_id")
                    .ok_or_else(|| ModelError::BadRequest("missing to_store_id".into()))?;
                if r.peer_on(from).is_none() {
                    return Err(ModelError::Operator(format!(
                        "region has no peer in store {from}"
                    )));
                }
                self.move_peer_op(&r, "admin-move-peer", from, to, kind::ADMIN | kind::REGION)?
            }
            "transfer-region" => {
                let to: Vec<u64> = req
                    .get("to_store_ids")
                    .and_then(|v| v.as_array())
                    .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
                    .unwrap_or_default();
                if req.get("peer_roles").is_none()
                    && self.replication.enable_placement_rules == "true"
                {
                    return Err(ModelError::Operator("transfer region without peer role is not supported when placement rules enabled".into()));
                }
                let mut steps = Vec::new();
                for s in &to {
                    if r.peer_on(*s).is_none() {
                        let pid = self.alloc_id();
                        steps.push(Step::AddLearner {
                            peer: pid,
                            store: *s,
                        });
                        steps.push(Step::PromoteLearner {
                            peer: pid,
                            store: *s,
                        });
                    }
                }
                if let Some(first) = to.first() {
                    steps.push(Step::TransferLeader {
                        from: r.leader_store(),
                        to: *first,
                    });
                }
                for p in &r.peers {
                    if !to.contains(&p.store_id) {
                        steps.push(Step::RemovePeer { store: p.store_id });
                    }
                }
                let brief = format!(
                    "mv region: stores {:?} to {:?}",
                    r.peers.iter().map(|p| p.store_id).collect::<Vec<_>>(),
                    to
                );
                self.new_op(
                    &r,
                    "admin-move-region",
                    brief,
                    kind::ADMIN | kind::REGION,
                    steps,
                    600,
                )
            }
            "add-peer" | "add-learner" => {
                let s = u("store_id")
                    .ok_or_else(|| ModelError::BadRequest("missing store_id".into()))?;
                if r.peer_on(s).is_some() {
                    return Err(ModelError::Operator(format!(
                        "region already has peer in store {s}"
                    )));
                }
                let pid = self.alloc_id();
                let mut steps = vec![Step::AddLearner {
                    peer: pid,
                    store: s,
                }];
                if name == "add-peer" {
                    steps.push(Step::PromoteLearner {
                        peer: pid,
                        store: s,
                    });
                }
                self.new_op(
                    &r,
                    &format!("admin-{name}"),
                    format!("add peer: store [{s}]"),
                    kind::ADMIN | kind::REGION,
                    steps,
                    600,
                )
            }
            "remove-peer" => {
                let s = u("store_id")
                    .ok_or_else(|| ModelError::BadRequest("missing store_id".into()))?;
                if r.peer_on(s).is_none() {
                    return Err(ModelError::Operator(format!(
                        "region has no peer in store {s}"
                    )));
                }
                self.new_op(
                    &r,
                    "admin-remove-peer",
                    format!("rm peer: store [{s}]"),
                    kind::ADMIN | kind::REGION,
                    vec![Step::RemovePeer { store: s }],
                    600,
                )
            }
            "split-region" => {
                let policy = req
                    .get("policy")
                    .and_then(|v| v.as_str())
                    .unwrap_or("approximate")
                    .to_ascii_uppercase();
                self.new_op(
                    &r,
                    "admin-split-region",
                    format!("split: region {region_id} use policy {policy}"),
                    kind::ADMIN | kind::SPLIT,
                    vec![Step::Split { policy }],
                    600,
                )
            }
            "merge-region" => {
                let target = u("target_region_id")
                    .ok_or_else(|| ModelError::BadRequest("missing target_region_id".into()))?;
                let t = self
                    .regions
                    .get(&target)
                    .ok_or(ModelError::RegionNotFound(target))?;
                if r.end != t.start && t.end != r.start {
                    return Err(ModelError::Operator("regions are not adjacent".into()));
                }
                self.new_op(
                    &r,
                    "admin-merge-region",
                    format!("merge: region {region_id} to {target}"),
                    kind::ADMIN | kind::MERGE,
                    vec![Step::Merge {
                        source: region_id,
                        target,
                    }],
                    600,
                )
            }
            "scatter-region" => {
                // Move the leader to the least-loaded voter's store.
                let best = r
                    .peers
                    .iter()
                    .filter(|p| p.role == role::VOTER)
                    .min_by_key(|p| self.counts(p.store_id).leader_count)
                    .map(|p| p.store_id)
                    .unwrap_or(0);
                let from = r.leader_store();
                self.new_op(
                    &r,
                    "scatter-region",
                    format!("scatter region {region_id}"),
                    kind::ADMIN | kind::LEADER,
                    vec![Step::TransferLeader { from, to: best }],
                    60,
                )
            }
            other => return Err(ModelError::BadRequest(format!("unknown operator {other}"))),
        };
        self.add_operator(op, now_ms)
    }

    pub(super) fn move_peer_op(
        &mut self,
        r: &Region,
        desc: &str,
        from: u64,
        to: u64,
        kinds: u32,
    ) -> Result<Operator, ModelError> {
        if r.peer_on(to).is_some() {
            return Err(ModelError::Operator(format!(
                "region already has peer in store {to}"
            )));
        }
        let from_peer = r
            .peer_on(from)
            .copied()
            .ok_or_else(|| ModelError::Operator(format!("region has no peer in store {from}")))?;
        let pid = self.alloc_id();
        let steps = if from_peer.role == role::VOTER {
            vec![
                Step::AddLearner {
                    peer: pid,
                    store: to,
                },
                Step::JointPromoteDemote {
                    promote: (pid, to),
                    demote: (from_peer.id, from),
                },
                Step::LeaveJoint {
                    promote: (pid, to),
                    demote: (from_peer.id, from),
                },
                Step::RemovePeer { store: from },
            ]
        } else {
            vec![
                Step::AddLearner {
                    peer: pid,
                    store: to,
                },
                Step::RemovePeer { store: from },
            ]
        };
        let timeout = 600 + (Self::snapshot_secs(r.size_mib) * 4.0) as u64 + 420;
        Ok(self.new_op(
            r,
            desc,
            format!("mv peer: store [{from}] to [{to}]"),
            kinds,
            steps,
            timeout,
        ))
    }
}
