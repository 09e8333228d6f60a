//! The `operator status` table of an etcd cluster: one row per member with its own
//! view (leader, raft term and index, DB size against the quota), then the alarms and
//! the plan's waits, refusals and faults. Pure: rendered from an observation.

use std::fmt::Write as _;

use serde::Serialize;

use super::model::Observed;
use super::plan::{quorum, Plan};
use super::spec::EtcdClusterSpec;
use super::topology::Names;

/// One member row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberRow {
    /// `etcd-0`.
    pub member: String,
    /// Member id (hex), when listed.
    pub id: Option<String>,
    /// Container state.
    pub container: String,
    /// Whether it is the leader.
    pub leader: bool,
    /// Raft term.
    pub raft_term: Option<u64>,
    /// Raft index.
    pub raft_index: Option<u64>,
    /// Applied index.
    pub applied_index: Option<u64>,
    /// DB size, bytes.
    pub db_size: Option<u64>,
    /// Version.
    pub version: Option<String>,
    /// Its errors (or why it did not answer).
    pub errors: Vec<String>,
}

/// The status of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// Cluster name.
    pub cluster: String,
    /// Members the spec wants.
    pub desired: u32,
    /// Members in the member list.
    pub listed: Option<usize>,
    /// The leader's member name.
    pub leader: Option<String>,
    /// Quota, bytes.
    pub quota_bytes: u64,
    /// Alarms.
    pub alarms: Vec<String>,
    /// Members.
    pub members: Vec<MemberRow>,
    /// What the cluster waits for.
    pub waits: Vec<String>,
    /// Refused operations.
    pub refusals: Vec<String>,
    /// Faults.
    pub faults: Vec<String>,
    /// Steps pending.
    pub pending: Vec<String>,
}

/// Builds the status from one observation and its plan.
pub fn status(spec: &EtcdClusterSpec, obs: &Observed, plan: &Plan) -> Status {
    let names = Names::new(spec.name());
    let containers = obs.containers();
    let leader_id = obs.leader_id();
    let mut ordinals: Vec<u32> = containers.keys().copied().collect();
    if let Some(c) = &obs.cluster {
        ordinals.extend(c.members.iter().filter_map(|m| {
            m.peer_urls
                .iter()
                .find_map(|u| names.ordinal_of_peer_url(u))
        }));
    }
    ordinals.sort_unstable();
    ordinals.dedup();
    let members = ordinals
        .iter()
        .map(|o| {
            let m = obs.member(&names, *o);
            let probe = obs.probes.get(o);
            let st = probe.and_then(|p| p.status.as_ref());
            let mut errors: Vec<String> = st.map(|s| s.errors.clone()).unwrap_or_default();
            if let Some(e) = probe.and_then(|p| p.error.clone()) {
                errors.push(e);
            }
            if m.is_some_and(|m| m.name.is_empty()) {
                errors.push("added, not started".into());
            }
            MemberRow {
                member: Names::member(*o),
                id: m.map(|m| format!("{:x}", m.id)),
                container: containers.get(o).map_or("absent".into(), |c| {
                    format!("{:?}", c.status).to_lowercase()
                }),
                leader: m.is_some_and(|m| Some(m.id) == leader_id),
                raft_term: st.map(|s| s.raft_term),
                raft_index: st.map(|s| s.raft_index),
                applied_index: st.map(|s| s.raft_applied_index),
                db_size: st.map(|s| s.db_size),
                version: st.map(|s| s.version.clone()),
                errors,
            }
        })
        .collect();
    Status {
        cluster: spec.name().to_string(),
        desired: spec.spec.members,
        listed: obs.cluster.as_ref().map(|c| c.members.len()),
        leader: leader_id
            .and_then(|id| obs.ordinal_of_id(&names, id))
            .map(Names::member),
        quota_bytes: spec.spec.quota_backend_bytes,
        alarms: obs
            .cluster
            .as_ref()
            .map(|c| {
                c.alarms
                    .iter()
                    .map(|a| {
                        let who = obs
                            .ordinal_of_id(&names, a.member_id)
                            .map_or_else(|| format!("{:x}", a.member_id), Names::member);
                        format!("{} on {who}", a.alarm)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        members,
        waits: plan.waits.clone(),
        refusals: plan.refusals.clone(),
        faults: plan
            .faults
            .iter()
            .map(|f| format!("{}: {}", f.target, f.detail))
            .collect(),
        pending: plan.steps.iter().map(ToString::to_string).collect(),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

/// Renders the status as a table.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let listed = s.listed.map_or("?".into(), |n| n.to_string());
    let _ = writeln!(
        out,
        "Cluster: {}  (etcd; {} members wanted, {listed} listed, quorum {})",
        s.cluster,
        s.desired,
        s.listed.map_or("?".into(), |n| quorum(n).to_string())
    );
    let _ = writeln!(
        out,
        "Leader:  {}    Quota: {}    Alarms: {}",
        s.leader.as_deref().unwrap_or("none"),
        mib(s.quota_bytes),
        if s.alarms.is_empty() {
            "none".into()
        } else {
            s.alarms.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "{:<8} {:<17} {:<8} {:<6} {:>5} {:>9} {:>9} {:>22} {:<8} ERRORS",
        "MEMBER", "ID", "STATE", "ROLE", "TERM", "INDEX", "APPLIED", "DB SIZE / QUOTA", "VERSION"
    );
    for m in &s.members {
        let db = m.db_size.map_or("-".into(), |d| {
            format!(
                "{} ({:.1}%)",
                mib(d),
                100.0 * d as f64 / s.quota_bytes.max(1) as f64
            )
        });
        let opt = |v: Option<u64>| v.map_or("-".into(), |v| v.to_string());
        let _ = writeln!(
            out,
            "{:<8} {:<17} {:<8} {:<6} {:>5} {:>9} {:>9} {:>22} {:<8} {}",
            m.member,
            m.id.as_deref().unwrap_or("-"),
            m.container,
            if m.leader { "leader" } else { "" },
            opt(m.raft_term),
            opt(m.raft_index),
            opt(m.applied_index),
            db,
            m.version.as_deref().unwrap_or("-"),
            m.errors.join("; ")
        );
    }
    for (label, items) in [
        ("pending", &s.pending),
        ("waiting", &s.waits),
        ("refused", &s.refusals),
        ("fault", &s.faults),
    ] {
        for i in items {
            let _ = writeln!(out, "{label}: {i}");
        }
    }
    out
}
