//! The planner's unit and property tests: observations are built by hand (a cluster of
//! `n` members, some down, some drifted), so each guarantee is checked without Docker.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::*;
use crate::runtime::{ObservedContainer, ObservedNetwork, ObservedVolume, Owned};
use crate::subjects::etcd::model::{ClusterView, MemberProbe};
use crate::subjects::etcd::topology::INITIAL_CLUSTER_LABEL;
use crate::subjects::etcd::wire::{Member, StatusResponse, VersionResponse};

fn spec(members: u32) -> EtcdClusterSpec {
    let mut s = crate::subjects::etcd::spec::parse_str(
        "apiVersion: tikv-operator.dev/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: e1\n",
        "t",
    )
    .unwrap();
    s.spec.members = members;
    s
}

fn id(o: u32) -> u64 {
    1000 + u64::from(o)
}

/// A converged cluster of `ordinals`, leader `leader`, every member healthy.
struct World {
    spec: EtcdClusterSpec,
    obs: Observed,
}

impl World {
    fn new(spec: EtcdClusterSpec, ordinals: &[u32], leader: u32) -> Self {
        let topo = Topology::new(&spec);
        let names = topo.names().clone();
        let mut owned = Owned {
            networks: vec![ObservedNetwork {
                name: spec.network_name(),
                labels: BTreeMap::new(),
            }],
            ..Owned::default()
        };
        let mut members = vec![];
        let mut probes = BTreeMap::new();
        let mut versions = BTreeMap::new();
        for o in ordinals {
            versions.insert(*o, version("3.4.0"));
            let c = topo.container(*o, ordinals, Bootstrap::New);
            owned.containers.push(ObservedContainer {
                id: format!("c{o}"),
                name: c.name.clone(),
                image: c.image.clone(),
                labels: c.labels.clone(),
                status: ContainerStatus::Running,
                exit_code: None,
                oom_killed: false,
                ip: Some(format!("10.0.0.{o}")),
                networks: vec![spec.network_name()],
                started_at: None,
                finished_at: None,
            });
            owned.volumes.push(ObservedVolume {
                name: names.volume(*o),
                labels: topo.volume(*o).labels,
            });
            members.push(Member {
                id: id(*o),
                name: Names::member(*o),
                peer_urls: vec![names.peer_url(*o)],
                client_urls: vec![names.client_url(*o)],
                is_learner: false,
            });
            probes.insert(
                *o,
                MemberProbe {
                    status: Some(StatusResponse {
                        leader: id(leader),
                        version: "3.4.23".into(),
                        ..StatusResponse::default()
                    }),
                    error: None,
                },
            );
        }
        Self {
            spec,
            obs: Observed {
                at: Some(SystemTime::UNIX_EPOCH),
                owned,
                cluster: Some(ClusterView {
                    members,
                    alarms: vec![],
                }),
                cluster_error: None,
                probes,
                versions,
                memory: Default::default(),
            },
        }
    }

    fn kill(&mut self, o: u32) {
        let name = Names::new("e1").container(o);
        for c in &mut self.obs.owned.containers {
            if c.name == name {
                c.status = ContainerStatus::Exited;
                c.exit_code = Some(137);
            }
        }
        self.obs.probes.insert(
            o,
            MemberProbe {
                status: None,
                error: Some("connect refused".into()),
            },
        );
    }

    fn plan(&self) -> Plan {
        plan(&self.spec, &self.obs, SystemTime::UNIX_EPOCH)
    }

    /// Every answering member reports `cluster` as the cluster version.
    fn cluster_version(&mut self, cluster: &str) {
        for v in self.obs.versions.values_mut() {
            *v = version(cluster);
        }
    }

    /// Member `o` is listed but has never started (no client URLs), and has no
    /// container, probe or `/version` answer.
    fn never_started(&mut self, o: u32) {
        let name = Names::new("e1").container(o);
        self.obs.owned.containers.retain(|c| c.name != name);
        self.obs.probes.remove(&o);
        self.obs.versions.remove(&o);
        let names = Names::new("e1");
        for m in &mut self.obs.cluster.as_mut().unwrap().members {
            if m.peer_urls.contains(&names.peer_url(o)) {
                m.client_urls.clear();
            }
        }
    }
}

fn version(cluster: &str) -> VersionResponse {
    VersionResponse {
        server: "3.4.23".into(),
        cluster: cluster.into(),
    }
}

fn create_step(p: &Plan, ordinal: u32) -> Option<(Bootstrap, &ContainerSpec)> {
    p.steps.iter().find_map(|s| match s {
        Step::CreateMember {
            ordinal: o,
            bootstrap,
            spec,
        }
        | Step::RetryJoin {
            ordinal: o,
            bootstrap,
            spec,
        } if *o == ordinal => Some((*bootstrap, spec)),
        _ => None,
    })
}

#[test]
fn a_fresh_cluster_is_bootstrapped_with_every_member_in_the_initial_cluster() {
    let s = spec(3);
    let mut obs = Observed::default();
    obs.owned.networks.push(ObservedNetwork {
        name: s.network_name(),
        labels: BTreeMap::new(),
    });
    let p = plan(&s, &obs, SystemTime::UNIX_EPOCH);
    let creates: Vec<&Step> = p
        .steps
        .iter()
        .filter(|s| matches!(s, Step::CreateMember { .. }))
        .collect();
    assert_eq!(creates.len(), 3);
    for step in creates {
        let Step::CreateMember {
            spec, bootstrap, ..
        } = step
        else {
            unreachable!()
        };
        assert_eq!(*bootstrap, Bootstrap::New);
        assert!(spec
            .cmd
            .iter()
            .any(|a| a.starts_with("--initial-cluster=etcd-0=") && a.contains("etcd-2=")));
    }
}

#[test]
fn a_converged_cluster_needs_nothing() {
    let w = World::new(spec(3), &[0, 1, 2], 0);
    assert!(w.plan().is_converged(), "{:?}", w.plan());
}

#[test]
fn a_bootstrap_member_created_after_its_peers_answer_still_starts_as_new() {
    // etcd-0 and etcd-1 run and list etcd-2 as etcd 3.4 lists a member of the initial
    // cluster that never started: by name, without client URLs. Its container does not
    // exist yet, and the cluster version is not decided yet: a `new` start does not
    // need one.
    let mut w = World::new(spec(3), &[0, 1, 2], 0);
    w.never_started(2);
    w.cluster_version("not_decided");
    let p = w.plan();
    let (bootstrap, c) = create_step(&p, 2).expect("a create step for etcd-2");
    assert_eq!(bootstrap, Bootstrap::New, "{p:?}");
    assert!(c.cmd.iter().any(|a| a
        == "--initial-cluster=etcd-0=http://e1-etcd-0:2380,etcd-1=http://e1-etcd-1:2380,etcd-2=http://e1-etcd-2:2380"));
    assert!(c.cmd.iter().any(|a| a == "--initial-cluster-state=new"));
}

#[test]
fn scaling_out_adds_the_member_through_the_api_before_its_container_starts() {
    let mut w = World::new(spec(5), &[0, 1, 2], 0);
    let p = w.plan();
    assert!(
        matches!(p.steps.as_slice(), [Step::AddMember { ordinal: 3, .. }]),
        "{p:?}"
    );
    // Once added (unstarted: no name), its container is created to join.
    let names = Names::new("e1");
    w.obs.cluster.as_mut().unwrap().members.push(Member {
        id: id(3),
        name: String::new(),
        peer_urls: vec![names.peer_url(3)],
        client_urls: vec![],
        is_learner: false,
    });
    let p = w.plan();
    let (bootstrap, c) = create_step(&p, 3).expect("a create step for etcd-3");
    assert_eq!(bootstrap, Bootstrap::Existing);
    assert!(c.cmd.iter().any(|a| a
        == "--initial-cluster=etcd-0=http://e1-etcd-0:2380,etcd-1=http://e1-etcd-1:2380,etcd-2=http://e1-etcd-2:2380,etcd-3=http://e1-etcd-3:2380"));
    assert!(!p.steps.iter().any(|s| matches!(s, Step::AddMember { .. })));
}

#[test]
fn a_join_to_the_running_cluster_waits_until_a_peer_reports_a_decided_cluster_version() {
    // etcd-3 was added through the API (no name, no client URLs) right after the
    // first election: the peers still answer /version with `not_decided`, and etcd 3.4
    // would exit with "incompatible with current running cluster".
    let mut w = World::new(spec(4), &[0, 1, 2], 0);
    let names = Names::new("e1");
    w.obs.cluster.as_mut().unwrap().members.push(Member {
        id: id(3),
        name: String::new(),
        peer_urls: vec![names.peer_url(3)],
        client_urls: vec![],
        is_learner: false,
    });
    w.cluster_version("not_decided");
    let p = w.plan();
    assert!(create_step(&p, 3).is_none(), "{p:?}");
    assert!(
        p.waits
            .iter()
            .any(|w| w.contains("decided cluster version") && w.contains("etcd-0 not_decided")),
        "{p:?}"
    );
    // No peer answering /version is no better: etcd needs one that does.
    w.obs.versions.clear();
    let p = w.plan();
    assert!(create_step(&p, 3).is_none(), "{p:?}");
    assert!(p.waits.iter().any(|w| w.contains("none answered")), "{p:?}");
    // One peer with a decided version is enough (etcd asks for at least one).
    w.obs.versions.insert(1, version("3.0.0"));
    let p = w.plan();
    let (bootstrap, _) = create_step(&p, 3).expect("a create step for etcd-3");
    assert_eq!(bootstrap, Bootstrap::Existing, "{p:?}");
}

#[test]
fn a_bootstrap_member_without_its_initial_cluster_label_joins_as_existing_once_decided() {
    // The containers that carried the initial cluster were re-created (a rolling
    // restart), so `new` cannot be rebuilt: the member joins the running cluster, which
    // lists every member (etcd compares the counts).
    let mut w = World::new(spec(3), &[0, 1, 2], 0);
    for c in &mut w.obs.owned.containers {
        c.labels.remove(INITIAL_CLUSTER_LABEL);
        c.labels
            .insert(labels::PD_BOOTSTRAP.into(), "existing".into());
    }
    w.never_started(2);
    let p = w.plan();
    let (bootstrap, c) = create_step(&p, 2).expect("a create step for etcd-2");
    assert_eq!(bootstrap, Bootstrap::Existing, "{p:?}");
    assert!(c.cmd.iter().any(|a| a
        == "--initial-cluster=etcd-0=http://e1-etcd-0:2380,etcd-1=http://e1-etcd-1:2380,etcd-2=http://e1-etcd-2:2380"));
    w.cluster_version("not_decided");
    assert!(create_step(&w.plan(), 2).is_none());
}

#[test]
fn a_member_that_exited_before_it_joined_is_re_created_even_under_observe() {
    // etcd-2 was started late with `existing` (an older operator) and exited at its
    // start; its member never published. Observe-only does not apply: it never ran.
    let mut w = World::new(spec(3), &[0, 1, 2], 0);
    w.never_started(2);
    let topo = Topology::new(&w.spec);
    let c = topo.container(2, &[0, 1, 2], Bootstrap::Existing);
    w.obs.owned.containers.push(ObservedContainer {
        id: "c2".into(),
        name: c.name.clone(),
        image: c.image.clone(),
        labels: c.labels.clone(),
        status: ContainerStatus::Exited,
        exit_code: Some(1),
        oom_killed: false,
        ip: None,
        networks: vec![],
        started_at: None,
        finished_at: None,
    });
    assert_eq!(w.spec.spec.failure_policy.mode, FailureMode::Observe);
    let p = w.plan();
    assert!(
        matches!(
            p.steps.as_slice(),
            [Step::RetryJoin {
                ordinal: 2,
                bootstrap: Bootstrap::New,
                ..
            }]
        ),
        "{p:?}"
    );
    assert!(p
        .faults
        .iter()
        .any(|f| f.target == "etcd-2" && f.detail.contains("before it ever joined")));
    // Within the restart budget only.
    let t = SystemTime::UNIX_EPOCH;
    w.obs
        .memory
        .restarts
        .insert(2, vec![t, t, t].into_iter().collect());
    let p = w.plan();
    assert!(p.steps.is_empty(), "{p:?}");
    assert!(p.faults.iter().any(|f| f.detail.contains("budget")));
}

#[test]
fn a_killed_member_that_had_joined_is_not_re_created() {
    let mut w = World::new(spec(3), &[0, 1, 2], 0);
    w.kill(2);
    let p = w.plan();
    assert!(p.steps.is_empty(), "{p:?}");
}

#[test]
fn scaling_in_removes_the_member_through_the_api_before_its_container() {
    let w = World::new(spec(3), &[0, 1, 2, 3, 4], 0);
    assert!(matches!(
        w.plan().steps.as_slice(),
        [Step::RemoveMember { ordinal: 4, .. }]
    ));
    // After the API removal, the container goes, then the volume.
    let mut w = World::new(spec(3), &[0, 1, 2, 3], 0);
    let names = Names::new("e1");
    w.obs
        .cluster
        .as_mut()
        .unwrap()
        .members
        .retain(|m| m.peer_urls[0] != names.peer_url(3));
    assert!(matches!(
        w.plan().steps.as_slice(),
        [Step::RemoveContainer { ordinal: 3 }]
    ));
    w.obs
        .owned
        .containers
        .retain(|c| c.name != names.container(3));
    assert!(matches!(
        w.plan().steps.as_slice(),
        [Step::RemoveVolume { ordinal: 3, .. }]
    ));
}

#[test]
fn the_leader_hands_over_leadership_before_it_is_removed() {
    let w = World::new(spec(3), &[0, 1, 2, 3], 3);
    assert!(matches!(
        w.plan().steps.as_slice(),
        [Step::MoveLeader { from: 3, to: 0, .. }]
    ));
}

#[test]
fn removing_a_healthy_member_while_another_is_down_is_refused_with_the_arithmetic() {
    let mut w = World::new(spec(2), &[0, 1, 2], 0);
    w.kill(1);
    let p = w.plan();
    assert!(p.steps.is_empty(), "{p:?}");
    assert_eq!(p.refusals.len(), 1);
    assert!(
        p.refusals[0].contains("removing etcd-2 is refused")
            && p.refusals[0].contains("quorum of 2"),
        "{}",
        p.refusals[0]
    );
}

#[test]
fn a_rolling_restart_that_would_lose_quorum_is_refused() {
    let mut w = World::new(spec(3), &[0, 1, 2], 0);
    w.kill(2);
    w.spec.spec.quota_backend_bytes *= 2;
    let p = w.plan();
    assert!(p.steps.is_empty(), "{p:?}");
    assert!(
        p.refusals[0].contains("rolling restart")
            && p.refusals[0].contains("below the quorum of 2"),
        "{:?}",
        p.refusals
    );
}

#[test]
fn a_rolling_restart_goes_follower_first_and_waits_for_the_restarted_member() {
    let mut w = World::new(spec(3), &[0, 1, 2], 0);
    w.spec.spec.quota_backend_bytes *= 2;
    assert!(matches!(
        w.plan().steps.as_slice(),
        [Step::RecreateMember { ordinal: 1, .. }]
    ));
    // etcd-1 recreated (new hash) but not answering yet: wait, do not touch etcd-2.
    let hash = Topology::new(&w.spec).spec_hash();
    let names = Names::new("e1");
    for c in &mut w.obs.owned.containers {
        if c.name == names.container(1) {
            c.labels.insert(labels::SPEC_HASH.into(), hash.clone());
        }
    }
    w.obs.probes.get_mut(&1).unwrap().status = None;
    let p = w.plan();
    assert!(p.steps.is_empty() && !p.waits.is_empty(), "{p:?}");
}

#[test]
fn an_exited_member_is_a_fault_and_is_left_alone_under_observe() {
    let mut w = World::new(spec(3), &[0, 1, 2], 0);
    w.kill(1);
    let p = w.plan();
    assert!(p.steps.is_empty());
    assert!(p.faults.iter().any(|f| f.target == "etcd-1"));
}

#[test]
fn an_exited_member_is_restarted_under_the_restart_policy_within_its_budget() {
    let mut w = World::new(spec(3), &[0, 1, 2], 0);
    w.spec.spec.failure_policy.mode = FailureMode::Restart;
    w.kill(1);
    assert!(matches!(
        w.plan().steps.as_slice(),
        [Step::StartMember { ordinal: 1 }]
    ));
    let t = SystemTime::UNIX_EPOCH;
    w.obs
        .memory
        .restarts
        .insert(1, vec![t, t, t].into_iter().collect());
    let p = w.plan();
    assert!(p.steps.is_empty());
    assert!(p.faults.iter().any(|f| f.detail.contains("budget")));
}

#[test]
fn adding_a_member_to_a_cluster_without_spare_health_is_refused() {
    let mut w = World::new(spec(4), &[0, 1, 2], 0);
    w.kill(2);
    let p = w.plan();
    assert!(p.steps.is_empty(), "{p:?}");
    assert!(
        p.refusals[0].contains("adding etcd-3 is refused"),
        "{:?}",
        p.refusals
    );
}

#[test]
fn nothing_changes_membership_without_a_leader() {
    let mut w = World::new(spec(5), &[0, 1, 2], 0);
    for p in w.obs.probes.values_mut() {
        p.status.as_mut().unwrap().leader = 0;
    }
    let p = w.plan();
    assert!(p.steps.is_empty() && !p.waits.is_empty(), "{p:?}");
}

#[test]
fn a_foreign_container_holding_a_members_name_is_never_touched() {
    let mut w = World::new(spec(3), &[0, 1, 2], 0);
    w.obs.owned.foreign_names.push("e1-etcd-1".into());
    let p = w.plan();
    assert!(p.steps.is_empty());
    assert!(p.refusals[0].contains("not owned"));
}

proptest! {
    /// Whatever the membership, the spec and the members down, a step that takes a
    /// voter out of service or adds one keeps the healthy members at or above the
    /// quorum of the membership after the step, and there is at most one membership
    /// change per plan.
    #[test]
    fn no_planned_step_spends_quorum(
        current in 1u32..7,
        wanted in 1u32..8,
        down in proptest::collection::btree_set(0u32..7, 0..4),
        leader in 0u32..7,
        drift in any::<bool>(),
    ) {
        let ordinals: Vec<u32> = (0..current).collect();
        let leader = leader % current;
        let mut w = World::new(spec(wanted), &ordinals, leader);
        for d in down.iter().filter(|d| **d < current && **d != leader) {
            w.kill(*d);
        }
        if drift {
            w.spec.spec.quota_backend_bytes *= 2;
        }
        let p = w.plan();
        let total = ordinals.len();
        let healthy: Vec<u32> = ordinals.iter().copied().filter(|o| w.obs.healthy(*o)).collect();
        let membership_changes = p.steps.iter().filter(|s| matches!(s, Step::AddMember { .. } | Step::RemoveMember { .. })).count();
        prop_assert!(membership_changes <= 1);
        for step in &p.steps {
            match step {
                Step::AddMember { .. } => prop_assert!(healthy.len() >= quorum(total + 1)),
                Step::RemoveMember { ordinal, .. } => {
                    let left = healthy.iter().filter(|h| *h != ordinal).count();
                    prop_assert!(left >= quorum(total - 1));
                }
                Step::RecreateMember { ordinal, .. } => {
                    let left = healthy.iter().filter(|h| *h != ordinal).count();
                    prop_assert!(left >= quorum(total));
                }
                _ => {}
            }
        }
        // The same observation always gives the same plan.
        prop_assert_eq!(&p, &w.plan());
    }
}

#[test]
fn quorum_is_a_strict_majority() {
    assert_eq!(
        (1..=7).map(quorum).collect::<Vec<_>>(),
        vec![1, 2, 2, 3, 3, 4, 4]
    );
    let _ = Duration::ZERO;
}
