//! The etcd planner: a pure function from (spec, observation, now) to the next steps.
//!
//! # Guarantees
//!
//! - **Quorum is never spent.** A step that takes a member out of service (a restart,
//!   a removal) or adds a voter is planned only when the members that answer with a
//!   leader stay at or above the quorum of the membership after the step; otherwise the
//!   step is refused and the refusal says the arithmetic (`n` healthy of `m`, quorum `q`).
//! - **Membership changes follow etcd's runtime-reconfiguration order**, one at a time:
//!   a member is added through the member API before its container starts
//!   (`--initial-cluster-state existing`), and removed through the API before its
//!   container is stopped; the leader hands leadership over before it is removed or
//!   restarted. No membership change is planned while a member added earlier has not
//!   started, or while there is no leader.
//! - **A rolling restart goes one member at a time**, followers first, and waits for the
//!   restarted member to answer with a leader before the next.
//! - **Observe-only by default.** An exited member is a fault; it is restarted only
//!   under `failurePolicy.mode: restart`, within `maxRestarts` per `window`.
//! - A fresh cluster (no member container exists) is bootstrapped with every member in
//!   `--initial-cluster`. A member of that initial cluster that has never started (listed
//!   by name, no client URLs) starts with `new` and the same initial cluster, whenever
//!   its container is created: etcd 3.4 runs its version check only on `existing`.
//! - **An `existing` start waits for a decided cluster version.** etcd 3.4 refuses an
//!   `--initial-cluster-state existing` start ("incompatible with current running
//!   cluster") unless at least one peer reports a decided cluster version on `/version`
//!   (`isCompatibleWithVers`); a fresh cluster reports `not_decided` until its leader has
//!   decided one. Such a start is planned only when a peer reports one.
//! - **A member that exited before it ever joined is re-created**, with the flags the
//!   cluster needs now (it never served, so its container holds nothing and etcd wrote
//!   no WAL before the check that failed), within the restart budget (`maxRestarts` per
//!   `window`, with backoff) whatever the failure policy: finishing a bootstrap or a join
//!   is the operator's own step, not a repair of a member that ran.

use std::fmt;
use std::time::SystemTime;

use serde::Serialize;

use super::model::Observed;
use super::spec::EtcdClusterSpec;
use super::topology::{initial_cluster_of, Bootstrap, Names, Topology};
use crate::reconcile::{Fault, Plan as CorePlan};
use crate::runtime::{labels, ContainerSpec, ContainerStatus, NetworkSpec, VolumeSpec};
use crate::spec::FailureMode;

/// A plan of etcd steps.
pub type Plan = CorePlan<Step>;

/// A typed step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Create the network.
    CreateNetwork {
        /// Network.
        #[serde(skip)]
        spec: NetworkSpec,
        /// Name.
        name: String,
    },
    /// Create a member's volume.
    CreateVolume {
        /// Volume.
        #[serde(skip)]
        spec: VolumeSpec,
        /// Ordinal.
        ordinal: u32,
    },
    /// Create and start a member's container.
    CreateMember {
        /// Container.
        #[serde(skip)]
        spec: ContainerSpec,
        /// Ordinal.
        ordinal: u32,
        /// New cluster or joining an existing one.
        bootstrap: Bootstrap,
    },
    /// Re-create the container of a member that exited before it ever joined (never
    /// published itself), with the flags the cluster needs now.
    RetryJoin {
        /// Container.
        #[serde(skip)]
        spec: ContainerSpec,
        /// Ordinal.
        ordinal: u32,
        /// New cluster or joining an existing one.
        bootstrap: Bootstrap,
    },
    /// Start an exited member (restart policy).
    StartMember {
        /// Ordinal.
        ordinal: u32,
    },
    /// Recreate a member's container from the current template (rolling restart).
    RecreateMember {
        /// Container.
        #[serde(skip)]
        spec: ContainerSpec,
        /// Ordinal.
        ordinal: u32,
    },
    /// Remove a container whose member is no longer in the cluster.
    RemoveContainer {
        /// Ordinal.
        ordinal: u32,
    },
    /// Remove the data volume of a member no longer in the cluster.
    RemoveVolume {
        /// Ordinal.
        ordinal: u32,
        /// Volume name.
        name: String,
    },
    /// `member add` with the member's peer URL.
    AddMember {
        /// Ordinal.
        ordinal: u32,
        /// Peer URL.
        peer_url: String,
    },
    /// `member remove`.
    RemoveMember {
        /// Ordinal.
        ordinal: u32,
        /// Member id.
        id: u64,
    },
    /// Transfer leadership away from a member about to leave or restart.
    MoveLeader {
        /// The current leader's ordinal.
        from: u32,
        /// The new leader's ordinal.
        to: u32,
        /// The new leader's member id.
        to_id: u64,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CreateNetwork { name, .. } => write!(f, "create network {name}"),
            Self::CreateVolume { ordinal, .. } => write!(f, "create volume of etcd-{ordinal}"),
            Self::CreateMember {
                ordinal, bootstrap, ..
            } => write!(
                f,
                "start etcd-{ordinal} ({})",
                match bootstrap {
                    Bootstrap::New => "initial cluster",
                    Bootstrap::Existing => "joining the cluster",
                }
            ),
            Self::RetryJoin {
                ordinal, bootstrap, ..
            } => write!(
                f,
                "re-create etcd-{ordinal}, which exited before it joined ({})",
                match bootstrap {
                    Bootstrap::New => "initial cluster",
                    Bootstrap::Existing => "joining the cluster",
                }
            ),
            Self::StartMember { ordinal } => write!(f, "restart exited etcd-{ordinal}"),
            Self::RecreateMember { ordinal, .. } => {
                write!(f, "rolling restart: recreate etcd-{ordinal}")
            }
            Self::RemoveContainer { ordinal } => {
                write!(f, "remove the container of removed member etcd-{ordinal}")
            }
            Self::RemoveVolume { ordinal, name } => {
                write!(f, "remove volume {name} of removed member etcd-{ordinal}")
            }
            Self::AddMember { ordinal, peer_url } => {
                write!(f, "member add etcd-{ordinal} ({peer_url})")
            }
            Self::RemoveMember { ordinal, id } => {
                write!(f, "member remove etcd-{ordinal} ({id:x})")
            }
            Self::MoveLeader { from, to, .. } => {
                write!(f, "move leader etcd-{from} -> etcd-{to}")
            }
        }
    }
}

/// The majority of `n` voting members.
pub fn quorum(n: usize) -> usize {
    n / 2 + 1
}

/// Plans the next steps. See the module's guarantees.
pub fn plan(spec: &EtcdClusterSpec, obs: &Observed, now: SystemTime) -> Plan {
    let mut p = Plan::default();
    let topo = Topology::new(spec);
    let names = topo.names().clone();
    let desired: Vec<u32> = (0..spec.spec.members).collect();
    let containers = obs.containers();

    // Names the cluster needs that something foreign holds: never touched.
    let needed: Vec<String> = desired
        .iter()
        .flat_map(|o| [names.container(*o), names.volume(*o)])
        .chain(std::iter::once(spec.network_name()))
        .collect();
    let blocked: Vec<&String> = obs
        .owned
        .foreign_names
        .iter()
        .filter(|n| needed.contains(n))
        .collect();
    if !blocked.is_empty() {
        p.refusals.push(format!(
            "{} exist but are not owned by cluster {:?}; rename or remove them",
            blocked
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            spec.name()
        ));
        return p;
    }
    if !obs
        .owned
        .networks
        .iter()
        .any(|n| n.name == spec.network_name())
    {
        p.steps.push(Step::CreateNetwork {
            spec: topo.network(),
            name: spec.network_name(),
        });
        return p;
    }

    // Faults and the restart policy, whatever the membership. A member the member list
    // shows as never started did not fail while serving: its start is retried below.
    let mut failed_joins: Vec<u32> = Vec::new();
    for (ordinal, c) in &containers {
        if matches!(
            c.status,
            ContainerStatus::Exited | ContainerStatus::Dead | ContainerStatus::Created
        ) {
            let never_joined = c.status == ContainerStatus::Exited
                && obs.member(&names, *ordinal).is_some_and(|m| !m.published());
            p.faults.push(Fault {
                target: Names::member(*ordinal),
                detail: format!(
                    "container {} is {:?} (exit code {}{}){}",
                    c.name,
                    c.status,
                    c.exit_code.map_or("?".into(), |e| e.to_string()),
                    if c.oom_killed { ", OOM-killed" } else { "" },
                    if never_joined {
                        " before it ever joined the cluster"
                    } else {
                        ""
                    }
                ),
            });
            if never_joined {
                failed_joins.push(*ordinal);
                continue;
            }
            if let Some(step) = restart_step(spec, obs, *ordinal, now, &mut p) {
                p.steps.push(step);
            }
        } else if c.status == ContainerStatus::Paused {
            p.faults.push(Fault {
                target: Names::member(*ordinal),
                detail: format!("container {} is paused", c.name),
            });
        }
    }
    if !p.steps.is_empty() {
        return p;
    }

    let Some(cluster) = &obs.cluster else {
        return plan_without_member_list(spec, obs, &topo, p);
    };
    let has_volume = |o: u32| obs.owned.volumes.iter().any(|v| v.name == names.volume(o));

    // Containers of members the cluster no longer has (removed by a scale-in): stop
    // them after the removal, then drop their data (useless to a future member).
    for (ordinal, _) in containers.iter() {
        if obs.member(&names, *ordinal).is_none() {
            p.steps.push(Step::RemoveContainer { ordinal: *ordinal });
            return p;
        }
    }
    let members = &cluster.members;
    let member_ordinals: Vec<u32> = members
        .iter()
        .filter_map(|m| {
            m.peer_urls
                .iter()
                .find_map(|u| names.ordinal_of_peer_url(u))
        })
        .collect();
    for v in &obs.owned.volumes {
        let ordinal = v.labels.get(labels::MEMBER).and_then(|m| Names::ordinal(m));
        if let Some(o) = ordinal {
            if !member_ordinals.contains(&o)
                && !containers.contains_key(&o)
                && o >= spec.spec.members
            {
                p.steps.push(Step::RemoveVolume {
                    ordinal: o,
                    name: v.name.clone(),
                });
                return p;
            }
        }
    }

    // Members in the list without a container (an added member waiting for its
    // container, a bootstrap member created late, a started member whose container
    // was removed), or whose container exited before it ever joined.
    for o in &member_ordinals {
        let retry = failed_joins.contains(o);
        if containers.contains_key(o) && !retry {
            continue;
        }
        let Some(member) = obs.member(&names, *o) else {
            continue;
        };
        if !member.published() && *o >= spec.spec.members {
            // Added, then the spec shrank before it started: take the add back.
            p.steps.push(Step::RemoveMember {
                ordinal: *o,
                id: member.id,
            });
            return p;
        }
        let Some((initial, bootstrap)) = join_flags(obs, &names, &member_ordinals, *o, &mut p)
        else {
            return p;
        };
        if retry && !within_restart_budget(spec, obs, *o, now, &mut p) {
            return p;
        }
        if !has_volume(*o) {
            p.steps.push(Step::CreateVolume {
                spec: topo.volume(*o),
                ordinal: *o,
            });
        }
        let container = topo.container(*o, &initial, bootstrap);
        p.steps.push(if retry {
            Step::RetryJoin {
                spec: container,
                ordinal: *o,
                bootstrap,
            }
        } else {
            Step::CreateMember {
                spec: container,
                ordinal: *o,
                bootstrap,
            }
        });
        return p;
    }

    let total = members.len();
    let healthy: Vec<u32> = member_ordinals
        .iter()
        .copied()
        .filter(|o| obs.healthy(*o))
        .collect();
    let leader = obs.leader_id().and_then(|id| obs.ordinal_of_id(&names, id));
    let starting: Vec<u32> = member_ordinals
        .iter()
        .copied()
        .filter(|o| {
            !obs.healthy(*o)
                && containers
                    .get(o)
                    .is_some_and(|c| c.status == ContainerStatus::Running)
        })
        .collect();
    let unstarted = members.iter().any(|m| !m.published());
    let foreign_members = members.len() - member_ordinals.len();
    if foreign_members > 0 {
        p.faults.push(Fault {
            target: "cluster".into(),
            detail: format!(
                "{foreign_members} member(s) have peer URLs outside this cluster's naming scheme; they count toward quorum but are never touched"
            ),
        });
    }
    for alarm in &cluster.alarms {
        p.faults.push(Fault {
            target: obs
                .ordinal_of_id(&names, alarm.member_id)
                .map_or_else(|| "cluster".to_string(), Names::member),
            detail: format!("alarm {} is active", alarm.alarm),
        });
    }

    let changes_blocked = |p: &mut Plan| -> bool {
        if leader.is_none() {
            p.waits
                .push("no member reports a leader: membership changes wait for one".into());
            return true;
        }
        if unstarted {
            p.waits
                .push("a member added earlier has not started yet".into());
            return true;
        }
        if !starting.is_empty() {
            p.waits.push(format!(
                "waiting for {} to answer with a leader",
                starting
                    .iter()
                    .map(|o| Names::member(*o))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return true;
        }
        false
    };

    // Scale out: the lowest missing ordinal, one at a time.
    if let Some(o) = desired
        .iter()
        .copied()
        .find(|o| !member_ordinals.contains(o))
    {
        if changes_blocked(&mut p) {
            return p;
        }
        let after = total + 1;
        if healthy.len() < quorum(after) {
            p.refusals.push(format!(
                "adding etcd-{o} is refused: it would make {after} members with a quorum of {}, and only {} of the current {total} answer with a leader ({}); a new member counts toward quorum before it has caught up",
                quorum(after),
                healthy.len(),
                list(&healthy)
            ));
            return p;
        }
        if has_volume(o) {
            // Left over from an earlier member with this ordinal: its data belongs to a
            // removed member id and would stop the new member from joining.
            p.steps.push(Step::RemoveVolume {
                ordinal: o,
                name: names.volume(o),
            });
        }
        p.steps.push(Step::AddMember {
            ordinal: o,
            peer_url: names.peer_url(o),
        });
        return p;
    }

    // Scale in: the highest extra ordinal, one at a time; leadership moves first.
    if let Some(o) = member_ordinals
        .iter()
        .copied()
        .filter(|o| *o >= spec.spec.members)
        .max()
    {
        if changes_blocked(&mut p) {
            return p;
        }
        let after = total - 1;
        let remaining_healthy: Vec<u32> = healthy.iter().copied().filter(|h| *h != o).collect();
        if after == 0 || remaining_healthy.len() < quorum(after) {
            p.refusals.push(format!(
                "removing etcd-{o} is refused: {after} members would remain with a quorum of {}, but only {} of them answer with a leader ({}); removing a healthy member now would lose quorum",
                quorum(after),
                remaining_healthy.len(),
                list(&remaining_healthy)
            ));
            return p;
        }
        if leader == Some(o) {
            if let Some(step) = move_leader(obs, &names, o, &remaining_healthy) {
                p.steps.push(step);
                return p;
            }
        }
        let id = obs.member(&names, o).map_or(0, |m| m.id);
        p.steps.push(Step::RemoveMember { ordinal: o, id });
        return p;
    }

    // Rolling restart: members whose container was made from another template.
    let hash = topo.spec_hash();
    let drifted: Vec<u32> = member_ordinals
        .iter()
        .copied()
        .filter(|o| {
            containers
                .get(o)
                .is_some_and(|c| c.label(labels::SPEC_HASH) != Some(hash.as_str()))
        })
        .collect();
    if !drifted.is_empty() {
        if changes_blocked(&mut p) {
            return p;
        }
        // Followers first; the leader last, after handing leadership over.
        let next = drifted
            .iter()
            .copied()
            .find(|o| Some(*o) != leader)
            .unwrap_or(drifted[0]);
        let remaining_healthy: Vec<u32> = healthy.iter().copied().filter(|h| *h != next).collect();
        if remaining_healthy.len() < quorum(total) {
            p.refusals.push(format!(
                "restarting etcd-{next} (rolling restart for a changed spec) is refused: while it restarts only {} of {total} members would answer with a leader ({}), below the quorum of {}",
                remaining_healthy.len(),
                list(&remaining_healthy),
                quorum(total)
            ));
            return p;
        }
        if leader == Some(next) {
            if let Some(step) = move_leader(obs, &names, next, &remaining_healthy) {
                p.steps.push(step);
                return p;
            }
        }
        let mut initial = member_ordinals.clone();
        initial.sort_unstable();
        p.steps.push(Step::RecreateMember {
            spec: topo.container(next, &initial, Bootstrap::Existing),
            ordinal: next,
        });
        return p;
    }

    if leader.is_none() {
        p.waits.push("no member reports a leader".into());
    } else if !starting.is_empty() {
        changes_blocked(&mut p);
    }
    p
}

fn list(ordinals: &[u32]) -> String {
    if ordinals.is_empty() {
        return "none".into();
    }
    ordinals
        .iter()
        .map(|o| Names::member(*o))
        .collect::<Vec<_>>()
        .join(", ")
}

fn move_leader(obs: &Observed, names: &Names, from: u32, candidates: &[u32]) -> Option<Step> {
    let to = candidates.iter().copied().min()?;
    let to_id = obs.member(names, to)?.id;
    Some(Step::MoveLeader { from, to, to_id })
}

/// The `--initial-cluster` and `--initial-cluster-state` member `ordinal` starts with
/// when it has no WAL yet, or `None` (with a wait in `p`) while that start would fail.
///
/// - Never started and listed by name (a member of the bootstrap `--initial-cluster`;
///   a member added through the API has no name until it starts) with a bootstrap
///   container's initial cluster that holds it: `new` with that initial cluster, as
///   its peers were started. etcd 3.4 checks only that no peer lists it as started.
/// - Otherwise `existing`, listing every member of the cluster (etcd checks that the
///   list matches the cluster's peer URLs), and only once a peer reports a decided
///   cluster version: before, etcd 3.4 exits with "incompatible with current running
///   cluster" (`isCompatibleWithVers` needs one peer with a parseable cluster version).
fn join_flags(
    obs: &Observed,
    names: &Names,
    member_ordinals: &[u32],
    ordinal: u32,
    p: &mut Plan,
) -> Option<(Vec<u32>, Bootstrap)> {
    let member = obs.member(names, ordinal)?;
    let bootstrap_member = !member.published() && member.name == Names::member(ordinal);
    let initial = obs
        .containers()
        .values()
        .find_map(|c| initial_cluster_of(c))
        .filter(|i| i.contains(&ordinal));
    if let (true, Some(initial)) = (bootstrap_member, initial) {
        return Some((initial, Bootstrap::New));
    }
    if obs.decided_peers(ordinal).is_empty() {
        let reported: Vec<String> = obs
            .versions
            .iter()
            .filter(|(o, _)| **o != ordinal)
            .map(|(o, v)| format!("{} {}", Names::member(*o), v.cluster))
            .collect();
        p.waits.push(format!(
            "etcd-{ordinal} joins the running cluster once a peer reports a decided cluster version (etcd refuses an existing-cluster start before); peers report: {}",
            if reported.is_empty() {
                "none answered /version".to_string()
            } else {
                reported.join(", ")
            }
        ));
        return None;
    }
    let mut initial = member_ordinals.to_vec();
    if !initial.contains(&ordinal) {
        initial.push(ordinal);
    }
    initial.sort_unstable();
    Some((initial, Bootstrap::Existing))
}

/// The restart policy for an exited member: a start step, or a fault/wait explaining
/// why not.
fn restart_step(
    spec: &EtcdClusterSpec,
    obs: &Observed,
    ordinal: u32,
    now: SystemTime,
    p: &mut Plan,
) -> Option<Step> {
    if spec.spec.failure_policy.mode != FailureMode::Restart {
        return None;
    }
    within_restart_budget(spec, obs, ordinal, now, p).then_some(Step::StartMember { ordinal })
}

/// Whether member `ordinal` may be restarted now: fewer than `maxRestarts` restarts
/// within `window`, and the backoff since the last one has passed (else a fault or a
/// wait in `p` says why not).
fn within_restart_budget(
    spec: &EtcdClusterSpec,
    obs: &Observed,
    ordinal: u32,
    now: SystemTime,
    p: &mut Plan,
) -> bool {
    let policy = &spec.spec.failure_policy;
    let window = policy.window.get();
    let recent: Vec<SystemTime> = obs
        .memory
        .restarts
        .get(&ordinal)
        .map(|v| {
            v.iter()
                .copied()
                .filter(|t| now.duration_since(*t).unwrap_or_default() < window)
                .collect()
        })
        .unwrap_or_default();
    if recent.len() as u32 >= policy.max_restarts {
        p.faults.push(Fault {
            target: Names::member(ordinal),
            detail: format!(
                "restart budget spent: {} restarts within {}",
                recent.len(),
                humantime::format_duration(window)
            ),
        });
        return false;
    }
    if let Some(last) = recent.iter().max() {
        let delay = policy.backoff.get() * 2u32.saturating_pow(recent.len() as u32 - 1);
        if now.duration_since(*last).unwrap_or_default() < delay {
            p.waits.push(format!(
                "etcd-{ordinal}: next restart after a backoff of {}",
                humantime::format_duration(delay)
            ));
            return false;
        }
    }
    true
}

/// No member answered the member list: bootstrap a cluster that has no member
/// container at all; otherwise wait (and report) rather than guess at membership.
fn plan_without_member_list(
    spec: &EtcdClusterSpec,
    obs: &Observed,
    topo: &Topology<'_>,
    mut p: Plan,
) -> Plan {
    let names = topo.names();
    let containers = obs.containers();
    let bootstrapping = containers
        .values()
        .all(|c| c.label(labels::PD_BOOTSTRAP) == Some("new"));
    if bootstrapping {
        let initial: Vec<u32> = (0..spec.spec.members).collect();
        for o in &initial {
            if containers.contains_key(o) {
                continue;
            }
            if !obs.owned.volumes.iter().any(|v| v.name == names.volume(*o)) {
                p.steps.push(Step::CreateVolume {
                    spec: topo.volume(*o),
                    ordinal: *o,
                });
            }
            p.steps.push(Step::CreateMember {
                spec: topo.container(*o, &initial, Bootstrap::New),
                ordinal: *o,
                bootstrap: Bootstrap::New,
            });
        }
        if !p.steps.is_empty() {
            return p;
        }
    }
    let running = containers
        .values()
        .filter(|c| c.status == ContainerStatus::Running)
        .count();
    p.waits.push(format!(
        "no member answers the member list ({}); {running} of {} member containers run",
        obs.cluster_error.as_deref().unwrap_or("no answer"),
        containers.len()
    ));
    p
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
