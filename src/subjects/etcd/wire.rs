//! etcd's v3 JSON gateway messages, as the gateway sends them.
//!
//! The gateway follows protobuf's JSON mapping: 64-bit integers arrive as decimal
//! strings (member IDs exceed 2^63, so they are `u64`), zero values and empty lists are
//! left out, and enum values are names (`NOSPACE`). Every field is optional here so
//! that 3.4 and 3.5 answers both parse.

use serde::{Deserialize, Deserializer, Serialize};

/// A protobuf-JSON 64-bit integer: a decimal string or a number; absent is 0.
fn u64_any<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Any {
        S(String),
        N(u64),
    }
    match Any::deserialize(d)? {
        Any::N(n) => Ok(n),
        Any::S(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

/// The response header.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Cluster id.
    #[serde(default, deserialize_with = "u64_any")]
    pub cluster_id: u64,
    /// The answering member's id.
    #[serde(default, deserialize_with = "u64_any")]
    pub member_id: u64,
    /// Store revision.
    #[serde(default, deserialize_with = "u64_any")]
    pub revision: u64,
    /// Raft term.
    #[serde(default, deserialize_with = "u64_any")]
    pub raft_term: u64,
}

/// `POST /v3/maintenance/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    /// Header.
    #[serde(default)]
    pub header: Header,
    /// Server version.
    #[serde(default)]
    pub version: String,
    /// Backend size in bytes (allocated).
    #[serde(default, deserialize_with = "u64_any")]
    pub db_size: u64,
    /// The leader's member id as this member sees it (0: none).
    #[serde(default, deserialize_with = "u64_any")]
    pub leader: u64,
    /// Raft index.
    #[serde(default, deserialize_with = "u64_any")]
    pub raft_index: u64,
    /// Raft term.
    #[serde(default, deserialize_with = "u64_any")]
    pub raft_term: u64,
    /// Applied index.
    #[serde(default, deserialize_with = "u64_any")]
    pub raft_applied_index: u64,
    /// Errors (alarms, "no leader").
    #[serde(default)]
    pub errors: Vec<String>,
    /// Backend size in use.
    #[serde(default, deserialize_with = "u64_any")]
    pub db_size_in_use: u64,
    /// Whether this member is a learner.
    #[serde(default)]
    pub is_learner: bool,
}

/// One member of `member list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Member id.
    #[serde(rename = "ID", default, deserialize_with = "u64_any")]
    pub id: u64,
    /// Name. A member added through the member API has none until it starts; a member
    /// of the bootstrap `--initial-cluster` is listed with its name from the start.
    #[serde(default)]
    pub name: String,
    /// Peer URLs.
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    /// Client URLs; empty until the member starts and publishes itself (etcd's own
    /// test of "bootstrapped", `isMemberBootstrapped`).
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
    /// Learner.
    #[serde(default)]
    pub is_learner: bool,
}

impl Member {
    /// Whether the member has ever started: it published its client URLs.
    pub fn published(&self) -> bool {
        !self.client_urls.is_empty()
    }
}

/// `GET /version`: the member's server version and the cluster version as it knows
/// it (`not_decided` until the leader has decided one after the first election).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionResponse {
    /// Server version (`3.4.23`).
    #[serde(rename = "etcdserver", default)]
    pub server: String,
    /// Cluster version (`3.4.0`, or `not_decided`).
    #[serde(rename = "etcdcluster", default)]
    pub cluster: String,
}

impl VersionResponse {
    /// Whether the cluster version is decided: a `major.minor.patch` version, which an
    /// `--initial-cluster-state existing` start needs from at least one peer
    /// (`isCompatibleWithVers` in etcd 3.4's `etcdserver/cluster_util.go`).
    pub fn cluster_decided(&self) -> bool {
        let parts: Vec<&str> = self.cluster.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// `POST /v3/cluster/member/list` (and the `members` of add/remove answers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberListResponse {
    /// Header.
    #[serde(default)]
    pub header: Header,
    /// Members.
    #[serde(default)]
    pub members: Vec<Member>,
}

/// `POST /v3/cluster/member/add`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberAddResponse {
    /// The added member.
    #[serde(default)]
    pub member: Member,
}

/// One alarm.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alarm {
    /// The member that raised it.
    #[serde(rename = "memberID", default, deserialize_with = "u64_any")]
    pub member_id: u64,
    /// `NOSPACE`, `CORRUPT` (`NONE` is left out by the gateway).
    #[serde(default)]
    pub alarm: String,
}

/// `POST /v3/maintenance/alarm` with `{"action": "GET"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmResponse {
    /// Active alarms.
    #[serde(default)]
    pub alarms: Vec<Alarm>,
}

/// `GET /health` (3.4: only `health`; 3.5 adds `reason`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// `"true"` or `"false"`.
    #[serde(default)]
    pub health: String,
    /// 3.5's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_3_4_status_with_string_integers_parses() {
        let s: StatusResponse = serde_json::from_str(r#"{"header":{"cluster_id":"16810392672258537837","member_id":"11352125133207230436","revision":"1","raft_term":"2"},"version":"3.4.23","dbSize":"20480","leader":"11352125133207230436","raftIndex":"5","raftTerm":"2","raftAppliedIndex":"5","dbSizeInUse":"16384"}"#).unwrap();
        assert_eq!(s.leader, 11_352_125_133_207_230_436);
        assert_eq!(s.db_size, 20480);
        assert_eq!(s.version, "3.4.23");
        assert!(s.errors.is_empty());
    }

    #[test]
    fn an_added_but_unstarted_member_has_no_name_and_no_client_urls() {
        let l: MemberListResponse = serde_json::from_str(r#"{"members":[{"ID":"1","name":"etcd-0","peerURLs":["http://a:2380"],"clientURLs":["http://a:2379"]},{"ID":"18446744073709551615","peerURLs":["http://b:2380"]}]}"#).unwrap();
        assert_eq!(l.members[1].id, u64::MAX);
        assert!(l.members[1].name.is_empty() && l.members[1].client_urls.is_empty());
    }

    #[test]
    fn a_bootstrap_member_that_never_started_is_listed_by_name_without_client_urls() {
        // What etcd 3.4.23 lists for a member of the initial cluster whose process has
        // not started yet (m2), beside one that has (m1).
        let l: MemberListResponse = serde_json::from_str(r#"{"members":[{"ID":12874486994433831621,"name":"m2","peerURLs":["http://127.0.0.1:23820"]},{"ID":14414486971719097473,"name":"m1","peerURLs":["http://127.0.0.1:23810"],"clientURLs":["http://127.0.0.1:23791"]}]}"#).unwrap();
        assert_eq!(l.members[0].name, "m2");
        assert!(!l.members[0].published());
        assert!(l.members[1].published());
    }

    #[test]
    fn a_cluster_version_is_decided_only_when_it_is_a_version() {
        let v = |c: &str| VersionResponse {
            server: "3.4.23".into(),
            cluster: c.into(),
        };
        let answer: VersionResponse =
            serde_json::from_str(r#"{"etcdserver":"3.4.23","etcdcluster":"not_decided"}"#).unwrap();
        assert_eq!(answer, v("not_decided"));
        assert!(!answer.cluster_decided());
        assert!(v("3.0.0").cluster_decided());
        assert!(v("3.4.0").cluster_decided());
        assert!(!v("").cluster_decided());
    }

    #[test]
    fn alarms_parse_and_an_empty_answer_means_none() {
        let a: AlarmResponse =
            serde_json::from_str(r#"{"alarms":[{"memberID":"7","alarm":"NOSPACE"}]}"#).unwrap();
        assert_eq!(a.alarms[0].alarm, "NOSPACE");
        let none: AlarmResponse = serde_json::from_str("{}").unwrap();
        assert!(none.alarms.is_empty());
    }
}
