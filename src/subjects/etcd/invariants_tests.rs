//! The invariants over hand-made snapshots.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::*;
use crate::runtime::{ContainerStatus, ObservedContainer};
use crate::subjects::etcd::model::{ClusterView, MemberProbe};
use crate::subjects::etcd::snapshot::{MemberWindow, MetricsSample};
use crate::subjects::etcd::wire::{Alarm, Member, StatusResponse};

fn snapshot(n: u32, leader: u64) -> EtcdSnapshot {
    let mut s = EtcdSnapshot {
        at: SystemTime::UNIX_EPOCH,
        cluster: "e1".into(),
        desired_members: n,
        expected_version: "3.4.23".into(),
        ..EtcdSnapshot::default()
    };
    let mut members = vec![];
    for o in 0..n {
        s.observed.owned.containers.push(ObservedContainer {
            id: o.to_string(),
            name: format!("e1-etcd-{o}"),
            image: "operator-etcd:3.4.23".into(),
            labels: BTreeMap::from([
                ("io.tikv-operator.component".to_string(), "etcd".to_string()),
                ("io.tikv-operator.ordinal".to_string(), o.to_string()),
            ]),
            status: ContainerStatus::Running,
            exit_code: None,
            oom_killed: false,
            ip: None,
            networks: vec![],
            started_at: None,
            finished_at: None,
        });
        s.observed.probes.insert(
            o,
            MemberProbe {
                status: Some(StatusResponse {
                    leader,
                    version: "3.4.23".into(),
                    ..StatusResponse::default()
                }),
                error: None,
            },
        );
        members.push(Member {
            id: 100 + u64::from(o),
            name: format!("etcd-{o}"),
            peer_urls: vec![format!("http://e1-etcd-{o}:2380")],
            ..Member::default()
        });
        s.members.insert(
            o,
            MemberSample {
                container: format!("e1-etcd-{o}"),
                state: "running".into(),
                metrics: Some(MetricsSample {
                    db_total_size: Some(1_000_000.0),
                    quota: Some(16_777_216.0),
                    ..MetricsSample::default()
                }),
                ..MemberSample::default()
            },
        );
    }
    s.observed.cluster = Some(ClusterView {
        members,
        alarms: vec![],
    });
    s
}

fn kill(s: &mut EtcdSnapshot, o: u32) {
    let m = s.members.get_mut(&o).unwrap();
    m.state = "exited".into();
    m.exit_code = Some(137);
    s.observed.probes.insert(
        o,
        MemberProbe {
            status: None,
            error: Some("connect refused".into()),
        },
    );
}

fn names(e: &Evaluation) -> Vec<(String, String)> {
    e.violations
        .iter()
        .map(|v| (v.invariant.clone(), v.target.clone()))
        .collect()
}

#[test]
fn a_healthy_cluster_violates_nothing_and_every_check_holds() {
    let e = evaluate(&snapshot(3, 100), &Thresholds::default());
    assert!(e.violations.is_empty(), "{:?}", names(&e));
    for k in [
        "etcd/member-down/etcd-0",
        "etcd/quorum-lost/cluster",
        "etcd/no-leader/cluster",
        "etcd/db-quota/cluster",
        "etcd/version-skew/cluster",
    ] {
        assert!(
            e.holding.iter().any(|h| h == k),
            "{k} missing from {:?}",
            e.holding
        );
    }
}

#[test]
fn a_killed_member_is_down_at_once_and_the_cluster_keeps_quorum() {
    let mut s = snapshot(3, 100);
    kill(&mut s, 1);
    let e = evaluate(&s, &Thresholds::default());
    let v = e
        .violations
        .iter()
        .find(|v| v.invariant == "member-down")
        .unwrap();
    assert_eq!(v.target, "etcd-1");
    assert_eq!(v.grace, std::time::Duration::ZERO);
    assert!(v.summary.contains("exit code 137"), "{}", v.summary);
    assert!(!names(&e).iter().any(|(i, _)| i == "quorum-lost"));
}

#[test]
fn a_member_the_operator_stopped_for_a_planned_step_is_down_only_after_the_planned_grace() {
    let mut s = snapshot(3, 100);
    kill(&mut s, 1);
    let t = Thresholds::default();
    s.observed
        .memory
        .planned_stops
        .insert(1, s.at - std::time::Duration::from_secs(5));
    let e = evaluate(&s, &t);
    let v = e
        .violations
        .iter()
        .find(|v| v.invariant == "member-down")
        .unwrap();
    assert_eq!(v.grace, t.planned_stop_grace.get());
    assert!(v.summary.contains("planned step"), "{}", v.summary);
    // A stop older than the grace is no longer the operator's work in progress.
    s.observed
        .memory
        .planned_stops
        .insert(1, s.at - t.planned_stop_grace.get() * 2);
    let e = evaluate(&s, &t);
    let v = e
        .violations
        .iter()
        .find(|v| v.invariant == "member-down")
        .unwrap();
    assert_eq!(v.grace, std::time::Duration::ZERO);
}

#[test]
fn a_killed_majority_loses_quorum() {
    let mut s = snapshot(3, 100);
    kill(&mut s, 0);
    kill(&mut s, 1);
    s.observed
        .probes
        .get_mut(&2)
        .unwrap()
        .status
        .as_mut()
        .unwrap()
        .leader = 0;
    let e = evaluate(&s, &Thresholds::default());
    let n = names(&e);
    assert!(
        n.contains(&("quorum-lost".into(), "cluster".into())),
        "{n:?}"
    );
    assert!(n.contains(&("no-leader".into(), "cluster".into())), "{n:?}");
}

#[test]
fn members_naming_different_leaders_disagree() {
    let mut s = snapshot(3, 100);
    s.observed
        .probes
        .get_mut(&2)
        .unwrap()
        .status
        .as_mut()
        .unwrap()
        .leader = 102;
    let e = evaluate(&s, &Thresholds::default());
    assert!(names(&e).contains(&("leader-disagreement".into(), "cluster".into())));
}

#[test]
fn nospace_is_a_critical_quota_violation() {
    let mut s = snapshot(3, 100);
    s.observed.cluster.as_mut().unwrap().alarms.push(Alarm {
        member_id: 100,
        alarm: "NOSPACE".into(),
    });
    let e = evaluate(&s, &Thresholds::default());
    let v = e
        .violations
        .iter()
        .find(|v| v.invariant == "db-quota")
        .unwrap();
    assert_eq!(v.severity, Severity::Critical);
}

#[test]
fn a_member_whose_fsync_is_many_times_its_peers_and_its_past_is_slow_below_the_backstop() {
    let mut s = snapshot(3, 100);
    for (o, p99) in [(0, 0.004), (1, 0.005), (2, 0.2)] {
        s.members.get_mut(&o).unwrap().window = MemberWindow {
            wal_fsync_p99: Some(p99),
            wal_fsync_baseline: Some(0.005),
            ..MemberWindow::default()
        };
    }
    let e = evaluate(&s, &Thresholds::default());
    let slow: Vec<_> = e
        .violations
        .iter()
        .filter(|v| v.invariant == "wal-fsync-slow")
        .collect();
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0].target, "etcd-2");
    // The same latency everywhere (the host is slow, not one disk) is below the backstop: fine.
    for o in 0..3 {
        s.members.get_mut(&o).unwrap().window.wal_fsync_p99 = Some(0.2);
    }
    let e = evaluate(&s, &Thresholds::default());
    assert!(!names(&e).iter().any(|(i, _)| i == "wal-fsync-slow"));
}

#[test]
fn four_leader_changes_in_the_window_are_flapping() {
    let mut s = snapshot(3, 100);
    s.members
        .get_mut(&0)
        .unwrap()
        .window
        .leader_changes_increase = Some(4.0);
    let e = evaluate(&s, &Thresholds::default());
    assert!(names(&e).contains(&("leader-flapping".into(), "cluster".into())));
}

#[test]
fn a_member_on_another_version_is_skew() {
    let mut s = snapshot(3, 100);
    s.observed
        .probes
        .get_mut(&2)
        .unwrap()
        .status
        .as_mut()
        .unwrap()
        .version = "3.5.16".into();
    let e = evaluate(&s, &Thresholds::default());
    assert!(names(&e).contains(&("version-skew".into(), "cluster".into())));
}

#[test]
fn a_member_not_created_yet_is_not_down() {
    let mut s = snapshot(3, 100);
    s.desired_members = 5;
    s.members.insert(
        3,
        MemberSample {
            container: "e1-etcd-3".into(),
            state: "absent".into(),
            ..MemberSample::default()
        },
    );
    let e = evaluate(&s, &Thresholds::default());
    assert!(
        !names(&e).iter().any(|(i, _)| i == "member-down"),
        "{:?}",
        names(&e)
    );
    // Listed as a started member but without a container: down.
    s.observed.cluster.as_mut().unwrap().members.push(Member {
        id: 103,
        name: "etcd-3".into(),
        peer_urls: vec!["http://e1-etcd-3:2380".into()],
        ..Member::default()
    });
    let e = evaluate(&s, &Thresholds::default());
    assert!(names(&e).contains(&("member-down".into(), "etcd-3".into())));
}

#[test]
fn before_the_first_election_no_leader_and_no_quorum_are_not_faults() {
    let mut s = snapshot(3, 0);
    s.bootstrapped = false;
    kill(&mut s, 1);
    let e = evaluate(&s, &Thresholds::default());
    let n = names(&e);
    assert!(
        !n.iter()
            .any(|(i, _)| i == "quorum-lost" || i == "no-leader"),
        "{n:?}"
    );
}
