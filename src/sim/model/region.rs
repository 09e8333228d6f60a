//! Stores and regions as PD keeps them (metapb shapes, peer roles, the store state names).

use super::*;

/// Peer roles (metapb.PeerRole).
pub mod role {
    /// Voter (0, omitted).
    pub(crate) const VOTER: u8 = 0;
    /// Learner.
    pub(crate) const LEARNER: u8 = 1;
    /// Joint-consensus incoming voter.
    pub(crate) const INCOMING: u8 = 2;
    /// Joint-consensus demoting voter.
    pub(crate) const DEMOTING: u8 = 3;
    /// PD's `role_name`.
    pub(crate) fn name(r: u8) -> &'static str {
        match r {
            LEARNER => "Learner",
            INCOMING => "IncomingVoter",
            DEMOTING => "DemotingVoter",
            _ => "Voter",
        }
    }
}

/// One replica of a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// Peer id.
    pub id: u64,
    /// Store holding it.
    pub store_id: u64,
    /// [`role`] value.
    pub role: u8,
}

/// One region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// Region id.
    pub id: u64,
    /// Start position (0 = -inf).
    pub start: u64,
    /// End position (`u64::MAX` = +inf).
    pub end: u64,
    /// Epoch conf_ver.
    pub conf_ver: u64,
    /// Epoch version.
    pub version: u64,
    /// Peers.
    pub peers: Vec<Peer>,
    /// Leader peer id (0 = none).
    pub leader: u64,
    /// Raft term.
    pub term: u64,
    /// Peer ids reported down.
    pub down_peers: Vec<u64>,
    /// Peer ids pending (need a snapshot / catching up).
    pub pending_peers: Vec<u64>,
    /// Approximate size, MiB (float so small writes accumulate).
    pub size_mib: f64,
    /// Approximate key count.
    pub keys: i64,
    /// Flow over the last region heartbeat interval: written bytes.
    pub written_bytes: u64,
    /// Read bytes over the last interval.
    pub read_bytes: u64,
    /// Written keys over the last interval.
    pub written_keys: u64,
    /// Read keys over the last interval.
    pub read_keys: u64,
    /// Last region heartbeat (unix ms).
    pub last_hb_ms: u64,
}

impl Region {
    pub(super) fn peer(&self, id: u64) -> Option<&Peer> {
        self.peers.iter().find(|p| p.id == id)
    }
    /// The leader's store id (0 when leaderless).
    pub(crate) fn leader_store(&self) -> u64 {
        self.peer(self.leader).map(|p| p.store_id).unwrap_or(0)
    }
    pub(super) fn peer_on(&self, store: u64) -> Option<&Peer> {
        self.peers.iter().find(|p| p.store_id == store)
    }
    pub(super) fn width_fraction(&self) -> f64 {
        let s = self.start.max(1) as f64;
        let e = self.end.min(KEYSPACE_MAX + 1) as f64;
        ((e - s).max(0.0)) / KEYSPACE_MAX as f64
    }
}

/// A store record as PD keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Store {
    /// Store id.
    pub id: u64,
    /// Advertised gRPC address.
    pub address: String,
    /// Status address.
    pub status_address: String,
    /// TiKV version without `v`.
    pub version: String,
    /// Git hash.
    pub git_hash: String,
    /// Deploy path.
    pub deploy_path: String,
    /// Labels.
    pub labels: Vec<(String, String)>,
    /// Start, unix seconds.
    pub start_timestamp: i64,
    /// Last store heartbeat, unix ms.
    pub last_hb_ms: u64,
    /// 0 Up, 1 Offline, 2 Tombstone.
    pub state: u8,
    /// 0 Preparing, 1 Serving, 2 Removing, 3 Removed.
    pub node_state: u8,
    /// Set by a forced delete.
    pub physically_destroyed: bool,
    /// Capacity bytes.
    pub capacity: u64,
    /// Available bytes.
    pub available: u64,
    /// Used bytes.
    pub used: u64,
    /// Slow score 1..100.
    pub slow_score: u64,
    /// TiKV `raftstore.max-peer-down-duration`, simulated seconds.
    pub max_peer_down_secs: f64,
    /// Heartbeats are simulated by the model (scale mode).
    pub virtual_store: bool,
    /// Whether this store's peers are currently marked down.
    pub peers_marked_down: bool,
    /// Add-peer tokens used in the current simulated minute, and that minute.
    pub add_peer_window: (u64, u32),
    /// A virtual store that stopped heartbeating (scale mode).
    #[serde(default)]
    pub virtual_silent: bool,
    /// Whether PD already logged the lost heartbeat stream of this store.
    #[serde(default)]
    pub disconnect_logged: bool,
}

/// The displayed store state name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateName {
    /// Heartbeating.
    Up,
    /// Silent > 20 s.
    Disconnected,
    /// Silent > max-store-down-time.
    Down,
    /// Draining.
    Offline,
    /// Removed.
    Tombstone,
}

impl StateName {
    /// PD's spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StateName::Up => "Up",
            StateName::Disconnected => "Disconnected",
            StateName::Down => "Down",
            StateName::Offline => "Offline",
            StateName::Tombstone => "Tombstone",
        }
    }
}
