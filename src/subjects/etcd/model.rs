//! What one observation of an etcd cluster holds: the owned Docker objects, each
//! member's own answer to `maintenance/status`, the member list and the alarms, and the
//! controller's memory. Pure data; the planner and the status table read it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use super::topology::{Names, COMPONENT};
use super::wire::{Alarm, Member, StatusResponse, VersionResponse};
use crate::runtime::{labels, ContainerStatus, ObservedContainer, Owned};

/// The cluster as etcd reports it (any member that answered the linearizable member
/// list; a leader is needed for that).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClusterView {
    /// Members, as the member API lists them.
    pub members: Vec<Member>,
    /// Active alarms.
    pub alarms: Vec<Alarm>,
}

/// One member's own answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberProbe {
    /// Its `maintenance/status`, when it answered.
    pub status: Option<StatusResponse>,
    /// Why it did not.
    pub error: Option<String>,
}

/// What the controller remembers between passes (restarts made under the restart
/// policy, members it stopped itself). Lost on restart, which only resets the restart
/// budget and the planned-stop grace.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Memory {
    /// Restarts made per ordinal.
    pub restarts: BTreeMap<u32, Vec<SystemTime>>,
    /// When the operator last stopped a member for a planned step (a rolling restart's
    /// recreate, a scale-in's removal), per ordinal: the monitor does not page on the
    /// operator's own work (`Thresholds::planned_stop_grace`).
    pub planned_stops: BTreeMap<u32, SystemTime>,
}

/// One observation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observed {
    /// When it was made.
    pub at: Option<SystemTime>,
    /// Owned Docker objects (not serialized: the runtime's types).
    #[serde(skip)]
    pub owned: Owned,
    /// The member list and alarms, when a member answered them.
    pub cluster: Option<ClusterView>,
    /// Why the member list is missing.
    pub cluster_error: Option<String>,
    /// Each running member's own status, by ordinal.
    pub probes: BTreeMap<u32, MemberProbe>,
    /// Each running member's `/version` answer (server and cluster version), by
    /// ordinal, for the members that answered.
    pub versions: BTreeMap<u32, VersionResponse>,
    /// The controller's memory.
    pub memory: Memory,
}

impl Observed {
    /// The owned member containers, by ordinal.
    pub fn containers(&self) -> BTreeMap<u32, &ObservedContainer> {
        self.owned
            .containers
            .iter()
            .filter(|c| c.label(labels::COMPONENT) == Some(COMPONENT))
            .filter_map(|c| Some((c.label(labels::ORDINAL)?.parse().ok()?, c)))
            .collect()
    }

    /// Whether member `ordinal` answers with a leader (what quorum arithmetic counts).
    pub fn healthy(&self, ordinal: u32) -> bool {
        let running = self
            .containers()
            .get(&ordinal)
            .is_some_and(|c| c.status == ContainerStatus::Running);
        running
            && self
                .probes
                .get(&ordinal)
                .and_then(|p| p.status.as_ref())
                .is_some_and(|s| s.leader != 0)
    }

    /// The leader's member id, as most answering members see it.
    pub fn leader_id(&self) -> Option<u64> {
        let mut votes: BTreeMap<u64, usize> = BTreeMap::new();
        for s in self.probes.values().filter_map(|p| p.status.as_ref()) {
            if s.leader != 0 {
                *votes.entry(s.leader).or_default() += 1;
            }
        }
        votes.into_iter().max_by_key(|(_, n)| *n).map(|(id, _)| id)
    }

    /// The member list entry of `ordinal`, found by its peer URL.
    pub fn member(&self, names: &Names, ordinal: u32) -> Option<&Member> {
        self.cluster.as_ref()?.members.iter().find(|m| {
            m.peer_urls
                .iter()
                .any(|u| names.ordinal_of_peer_url(u) == Some(ordinal))
        })
    }

    /// The members other than `ordinal` that report a decided cluster version: what an
    /// `--initial-cluster-state existing` start of `ordinal` needs at least one of.
    pub fn decided_peers(&self, ordinal: u32) -> Vec<u32> {
        self.versions
            .iter()
            .filter(|(o, v)| **o != ordinal && v.cluster_decided())
            .map(|(o, _)| *o)
            .collect()
    }

    /// The ordinal of a member id.
    pub fn ordinal_of_id(&self, names: &Names, id: u64) -> Option<u32> {
        let m = self.cluster.as_ref()?.members.iter().find(|m| m.id == id)?;
        m.peer_urls
            .iter()
            .find_map(|u| names.ordinal_of_peer_url(u))
    }
}
