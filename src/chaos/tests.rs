//! Chaos engine tests against the in-memory runtime.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::runtime::fake::{FakeOp, FakeRuntime};
use crate::runtime::{NetworkSpec, VolumeSpec};
use futures::StreamExt;

const CLUSTER: &str = "demo";
const NET: &str = "demo-net";

fn member_spec(member: &str) -> ContainerSpec {
    let mut l = labels::ownership(CLUSTER);
    l.insert(labels::MEMBER.into(), member.into());
    l.insert(
        labels::COMPONENT.into(),
        member.split('-').next().unwrap_or("").into(),
    );
    ContainerSpec {
        name: format!("{CLUSTER}-{member}"),
        image: "real-tikv:test".into(),
        labels: l,
        network: NET.into(),
        ..Default::default()
    }
}

async fn cluster(members: &[&str]) -> FakeRuntime {
    let fake = FakeRuntime::new();
    fake.create_network(&NetworkSpec {
        name: NET.into(),
        labels: labels::ownership(CLUSTER),
    })
    .await
    .unwrap();
    for m in members {
        fake.create_and_start(&member_spec(m)).await.unwrap();
    }
    fake.clear_calls();
    fake
}

fn engine(fake: &FakeRuntime, dir: &Path) -> Chaos {
    Chaos::new(Arc::new(fake.clone()), CLUSTER, NET, dir).unwrap()
}

fn member(m: &str) -> Target {
    Target::Member(m.into())
}

fn execs(fake: &FakeRuntime) -> Vec<(String, String)> {
    fake.calls()
        .into_iter()
        .filter(|c| c.op == FakeOp::Exec)
        .map(|c| (c.target, c.detail.unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn a_foreign_container_with_the_members_name_is_never_chosen() {
    let fake = cluster(&[]).await;
    fake.add_foreign_container("demo-tikv-0", BTreeMap::new());
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path());
    let err = chaos
        .inject(&member("tikv-0"), Fault::Pause, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChaosError::TargetNotOwned { ref name, .. } if name == "demo-tikv-0"),
        "{err}"
    );
    let err = chaos
        .inject(
            &Target::Container("demo-tikv-0".into()),
            Fault::Kill {
                restart_on_revert: false,
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ChaosError::TargetNotOwned { .. }), "{err}");
    assert!(
        fake.calls().is_empty(),
        "nothing was touched: {:?}",
        fake.calls()
    );
    assert!(
        chaos.list().unwrap().is_empty(),
        "a refused target records nothing"
    );
}

#[tokio::test]
async fn targets_resolve_by_member_label_or_owned_container_name_but_never_to_helpers() {
    let fake = cluster(&["tikv-0", "pd-0"]).await;
    let mut helper = member_spec("tikv-9");
    helper.name = "demo-chaos-x-tikv-9-i".into();
    helper
        .labels
        .insert(labels::COMPONENT.into(), HELPER_COMPONENT.into());
    fake.create_and_start(&helper).await.unwrap();
    let owned = fake.list_owned(CLUSTER, NET).await.unwrap();
    assert_eq!(
        resolve(&owned, CLUSTER, &member("tikv-0")).unwrap().name,
        "demo-tikv-0"
    );
    assert_eq!(
        resolve(&owned, CLUSTER, &member("demo-pd-0")).unwrap().name,
        "demo-pd-0"
    );
    assert!(matches!(
        resolve(&owned, CLUSTER, &member("tikv-9")),
        Err(ChaosError::TargetNotFound { .. })
    ));
    assert!(matches!(
        resolve(
            &owned,
            CLUSTER,
            &Target::Container("demo-chaos-x-tikv-9-i".into())
        ),
        Err(ChaosError::TargetNotFound { .. })
    ));
    assert!(matches!(
        resolve(&owned, CLUSTER, &Target::Cluster),
        Err(ChaosError::InvalidFault(_))
    ));
}

#[tokio::test]
async fn pause_is_stored_before_it_applies_and_reverted_by_unpause() {
    let fake = cluster(&["tikv-0"]).await;
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path());
    let e = chaos
        .inject(&member("tikv-0"), Fault::Pause, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(e.state, ExperimentState::Active);
    assert_eq!(e.containers, vec!["demo-tikv-0"]);
    assert_eq!(
        fake.snapshot().containers["demo-tikv-0"].status,
        ContainerStatus::Paused
    );
    // A second engine (another process) sees it and reverts it.
    let other = engine(&fake, dir.path());
    let reverted = other.revert(&e.id).await.unwrap();
    assert_eq!(reverted.state, ExperimentState::Reverted);
    assert_eq!(
        fake.snapshot().containers["demo-tikv-0"].status,
        ContainerStatus::Running
    );
    // Reverting again is a no-op.
    fake.clear_calls();
    assert_eq!(
        chaos.revert(&e.id).await.unwrap().state,
        ExperimentState::Reverted
    );
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn experiments_survive_reopening_and_only_expired_ones_are_reverted() {
    let fake = cluster(&["tikv-0", "tikv-1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path());
    let short = chaos
        .inject(&member("tikv-0"), Fault::Pause, Duration::from_secs(10))
        .await
        .unwrap();
    let long = chaos
        .inject(
            &member("tikv-1"),
            Fault::Disconnect,
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    drop(chaos);
    let reopened = engine(&fake, dir.path());
    assert_eq!(reopened.list().unwrap().len(), 2);
    let report = reopened
        .revert_expired(short.started_at + Duration::from_secs(11))
        .await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        report
            .reverted
            .iter()
            .map(|e| e.id.clone())
            .collect::<Vec<_>>(),
        vec![short.id.clone()]
    );
    let snap = fake.snapshot();
    assert_eq!(
        snap.containers["demo-tikv-0"].status,
        ContainerStatus::Running
    );
    assert!(!snap.containers["demo-tikv-1"].networks.contains_key(NET));
    assert!(reopened.get(&long.id).unwrap().is_active());
    // revert_all takes care of the rest, reconnecting to the cluster network.
    let report = reopened.revert_all().await;
    assert_eq!(report.reverted.len(), 1);
    assert!(fake.snapshot().containers["demo-tikv-1"]
        .networks
        .contains_key(NET));
    assert!(reopened.list().unwrap().iter().all(|e| !e.is_active()));
}

#[tokio::test]
async fn an_experiment_whose_holding_process_died_is_recovered_before_its_end() {
    let fake = cluster(&["tikv-0"]).await;
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path());
    let held = chaos
        .inject_held(&member("tikv-0"), Fault::Pause, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(held.holder.is_some());
    // Alive holder: recovery leaves it alone.
    assert!(chaos.recover(SystemTime::now()).await.reverted.is_empty());
    // Pretend the holder was another process that has since died.
    let mut orphan = held.clone();
    orphan.holder = Some(Holder {
        pid: u32::MAX - 7,
        start_ticks: 1,
    });
    chaos.store.put(&orphan).unwrap();
    let report = chaos.recover(SystemTime::now()).await;
    assert_eq!(report.reverted.len(), 1);
    assert_eq!(
        fake.snapshot().containers["demo-tikv-0"].status,
        ContainerStatus::Running
    );
}

#[tokio::test]
async fn kill_leaves_recovery_to_the_failure_policy_unless_asked_to_restart() {
    let fake = cluster(&["tikv-0", "tikv-1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path());
    let plain = chaos
        .inject(
            &member("tikv-0"),
            Fault::Kill {
                restart_on_revert: false,
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(plain.state, ExperimentState::Reverted, "nothing to revert");
    let snap = fake.snapshot();
    assert_eq!(
        snap.containers["demo-tikv-0"].status,
        ContainerStatus::Exited
    );
    assert_eq!(snap.containers["demo-tikv-0"].exit_code, Some(137));
    let restarting = chaos
        .inject(
            &member("tikv-1"),
            Fault::Kill {
                restart_on_revert: true,
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(restarting.is_active());
    chaos.revert(&restarting.id).await.unwrap();
    let snap = fake.snapshot();
    assert_eq!(
        snap.containers["demo-tikv-1"].status,
        ContainerStatus::Running
    );
    assert_eq!(
        snap.containers["demo-tikv-0"].status,
        ContainerStatus::Exited
    );
    // A member that is already down is refused: its revert would start it.
    let err = chaos
        .inject(
            &member("tikv-0"),
            Fault::Stop { grace_secs: 1 },
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ChaosError::TargetNotRunning { .. }), "{err}");
    assert_eq!(
        fake.snapshot().containers["demo-tikv-0"].status,
        ContainerStatus::Exited
    );
}

#[tokio::test]
async fn loss_runs_labelled_helpers_in_the_targets_namespace_and_removes_them() {
    let fake = cluster(&["tikv-0"]).await;
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path()).with_helper_labels(BTreeMap::from([(
        "io.tikv-operator.test-run".to_string(),
        "t1".to_string(),
    )]));
    let mut events = fake.events(CLUSTER);
    let e = chaos
        .inject(
            &member("tikv-0"),
            Fault::Loss { probability: 0.5 },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let created = loop {
        let ev = events.next().await.unwrap().unwrap();
        if ev.raw_action == "create" {
            break ev;
        }
    };
    assert_eq!(created.container, format!("demo-chaos-{}-tikv-0-i", e.id));
    let l = &created.labels;
    assert_eq!(
        l.get(labels::COMPONENT).map(String::as_str),
        Some(HELPER_COMPONENT)
    );
    assert_eq!(l.get(EXPERIMENT_LABEL), Some(&e.id));
    assert!(labels::is_owned_by_btree(l, CLUSTER));
    assert_eq!(
        l.get("io.tikv-operator.test-run").map(String::as_str),
        Some("t1")
    );
    let exec_in_helper = fake
        .calls()
        .into_iter()
        .find(|c| c.op == FakeOp::Exec)
        .unwrap();
    assert_eq!(exec_in_helper.target, created.container);
    let cmds = execs(&fake);
    assert_eq!(cmds.len(), 2);
    assert!(
        cmds[0]
            .1
            .contains("-I INPUT 1 ! -i lo -m statistic --mode random --probability 0.5"),
        "{cmds:?}"
    );
    assert!(
        fake.snapshot()
            .containers
            .keys()
            .all(|n| !n.contains("chaos")),
        "helper removed"
    );
    fake.clear_calls();
    chaos.revert(&e.id).await.unwrap();
    let cmds = execs(&fake);
    assert_eq!(cmds.len(), 2);
    assert!(cmds
        .iter()
        .all(|(_, c)| c.contains(" -D ") && c.contains(&format!("chaos-{}", e.id))));
    assert!(fake
        .snapshot()
        .containers
        .keys()
        .all(|n| !n.contains("chaos")));
}

#[tokio::test]
async fn a_kernel_without_netem_gives_a_typed_error_and_leaves_nothing_behind() {
    let fake = cluster(&["tikv-0"]).await;
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path());
    fake.set_exec_handler(|_, cmd| {
        if cmd.iter().any(|p| p == "netem") {
            ExecOutput {
                exit_code: 2,
                output: "Error: Specified qdisc kind is unknown.\n".into(),
            }
        } else {
            ExecOutput {
                exit_code: 0,
                output: "17: eth0    inet 172.18.0.2/16 brd 172.18.255.255 scope global eth0\n"
                    .into(),
            }
        }
    });
    let err = chaos
        .inject(
            &member("tikv-0"),
            Fault::Latency {
                delay_ms: 100,
                jitter_ms: 0,
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ChaosError::NetemUnavailable { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("netem") && text.contains("loss") && text.contains("bandwidth"),
        "{text}"
    );
    let all = chaos.list().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, ExperimentState::Failed);
    assert!(fake
        .snapshot()
        .containers
        .keys()
        .all(|n| !n.contains("chaos")));
    // Nothing was installed, so no qdisc deletion ran.
    assert!(execs(&fake).iter().all(|(_, c)| !c.contains("qdisc del")));
}

#[tokio::test]
async fn a_partition_that_fails_half_way_undoes_the_rules_it_installed() {
    let fake = cluster(&["tikv-0", "tikv-1", "tikv-2"]).await;
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path());
    let calls = Arc::new(parking_lot::Mutex::new(0));
    let calls2 = calls.clone();
    fake.set_exec_handler(move |_, cmd| {
        let mut n = calls2.lock();
        *n += 1;
        // The third member's first rule fails.
        if *n == 7 && cmd.iter().any(|p| p == "-I") {
            return ExecOutput {
                exit_code: 4,
                output: "iptables: Resource temporarily unavailable".into(),
            };
        }
        ExecOutput {
            exit_code: 0,
            output: String::new(),
        }
    });
    let err = chaos
        .inject(
            &Target::Cluster,
            Fault::Partition {
                a: vec![member("tikv-0")],
                b: vec![member("tikv-1"), member("tikv-2")],
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ChaosError::CommandFailed { .. }), "{err}");
    let e = &chaos.list().unwrap()[0];
    assert_eq!(e.state, ExperimentState::Failed);
    assert_eq!(
        e.containers,
        vec!["demo-tikv-0", "demo-tikv-1", "demo-tikv-2"]
    );
    let deletes = execs(&fake)
        .iter()
        .filter(|(_, c)| c.contains(" -D "))
        .count();
    // tikv-0 has 2 peers × 2 directions, tikv-1 and tikv-2 one peer × 2 directions.
    assert_eq!(deletes, 8);
    assert!(fake
        .snapshot()
        .containers
        .keys()
        .all(|n| !n.contains("chaos")));
}

#[tokio::test]
async fn a_revert_that_fails_stays_active_and_is_retried() {
    let fake = cluster(&["tikv-0"]).await;
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path());
    let e = chaos
        .inject(&member("tikv-0"), Fault::Pause, Duration::from_secs(1))
        .await
        .unwrap();
    fake.fail_next(FakeOp::Unpause);
    let later = e.planned_end + Duration::from_secs(1);
    let report = chaos.revert_expired(later).await;
    assert_eq!(report.failed.len(), 1);
    let stored = chaos.get(&e.id).unwrap();
    assert!(stored.is_active());
    assert!(stored.error.unwrap().contains("revert failed"));
    let report = chaos.revert_expired(later).await;
    assert_eq!(report.reverted.len(), 1);
    assert_eq!(
        fake.snapshot().containers["demo-tikv-0"].status,
        ContainerStatus::Running
    );
}

#[tokio::test]
async fn disk_fill_refuses_a_member_without_an_owned_data_volume() {
    let fake = cluster(&["tikv-0"]).await;
    // Not the member's volume name: nothing to fill.
    fake.create_volume(&VolumeSpec {
        name: "demo-other-data".into(),
        labels: labels::ownership(CLUSTER),
    })
    .await
    .unwrap();
    let mut sim_less = member_spec("tikv-1");
    sim_less.network = String::new();
    fake.create_and_start(&sim_less).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path());
    let err = chaos
        .inject(
            &member("tikv-1"),
            Fault::DiskFill { ratio: 0.5 },
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChaosError::Unsupported {
                fault: "disk-fill",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn the_reverter_loop_reverts_on_expiry_and_stops_on_shutdown() {
    let fake = cluster(&["tikv-0"]).await;
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path());
    chaos
        .inject(&member("tikv-0"), Fault::Pause, Duration::from_millis(50))
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let loop_chaos = chaos.clone();
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        loop_chaos
            .run_reverter(token, Duration::from_millis(20))
            .await;
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while fake.snapshot().containers["demo-tikv-0"].status != ContainerStatus::Running {
        assert!(std::time::Instant::now() < deadline, "not reverted in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("the loop stops on shutdown")
        .unwrap();
}

/// A helper's view of a cgroup v1 host, for the disk throttle: files by path, what
/// `stat` says about the volume, and whether blkio exists at all.
#[derive(Clone)]
struct CgroupHost {
    files: Arc<parking_lot::Mutex<BTreeMap<String, String>>>,
}

impl CgroupHost {
    fn v1(container_id: &str) -> Self {
        let dir = format!("/host-cgroup/blkio/docker/{container_id}");
        let files = BTreeMap::from([
            (
                "/host-cgroup/blkio/blkio.throttle.write_iops_device".to_string(),
                String::new(),
            ),
            (
                format!("{dir}/blkio.throttle.write_iops_device"),
                String::new(),
            ),
            (
                format!("{dir}/blkio.throttle.write_bps_device"),
                "8:0 1000\n".into(),
            ),
            ("/sys/dev/block/254:0/dev".into(), "254:0\n".into()),
        ]);
        Self {
            files: Arc::new(parking_lot::Mutex::new(files)),
        }
    }

    fn answer(&self, cmd: &[String]) -> ExecOutput {
        let ok = |output: String| ExecOutput {
            exit_code: 0,
            output,
        };
        let missing = ExecOutput {
            exit_code: 1,
            output: "No such file or directory".into(),
        };
        let mut files = self.files.lock();
        match cmd.first().map(String::as_str) {
            Some("cat") => files.get(&cmd[1]).cloned().map_or(missing, ok),
            Some("stat") => ok("65024\n".into()),
            Some("find") => {
                let id = &cmd[8];
                ok(files
                    .keys()
                    .filter_map(|k| k.strip_suffix("/blkio.throttle.write_iops_device"))
                    .filter(|d| d.ends_with(&format!("/{id}")))
                    .map(|d| format!("{d}\n"))
                    .collect())
            }
            Some("test") => {
                let dir = format!("{}/", cmd[2]);
                if files.keys().any(|k| k.starts_with(&dir)) {
                    ok(String::new())
                } else {
                    missing
                }
            }
            Some("sh") => {
                files.insert(cmd[5].clone(), format!("{}\n", cmd[4]));
                ok(String::new())
            }
            _ => ok(String::new()),
        }
    }

    fn file(&self, path: &str) -> String {
        self.files.lock().get(path).cloned().unwrap_or_default()
    }
}

async fn with_data_volume(fake: &FakeRuntime, member: &str) {
    fake.create_volume(&VolumeSpec {
        name: format!("{CLUSTER}-{member}-data"),
        labels: labels::ownership(CLUSTER),
    })
    .await
    .unwrap();
}

fn throttle(iops: u64) -> Fault {
    Fault::DiskThrottle {
        write_iops: Some(iops),
        write_bps: None,
    }
}

#[tokio::test]
async fn a_disk_throttle_is_written_into_the_members_blkio_cgroup_and_reverted_to_what_was_there() {
    let fake = cluster(&["etcd-1"]).await;
    with_data_volume(&fake, "etcd-1").await;
    let id = fake.snapshot().containers["demo-etcd-1"].id.clone();
    let host = CgroupHost::v1(&id);
    let h = host.clone();
    fake.set_exec_handler(move |_, cmd| h.answer(cmd));
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path());
    let e = chaos
        .inject(&member("etcd-1"), throttle(20), Duration::from_secs(60))
        .await
        .unwrap();
    let iops = format!("/host-cgroup/blkio/docker/{id}/blkio.throttle.write_iops_device");
    assert_eq!(host.file(&iops), "254:0 20\n");
    assert!(e.is_active());
    assert_eq!(
        e.revert_info,
        vec![RevertStep::CgroupWrite {
            container: "demo-etcd-1".into(),
            container_id: id.clone(),
            cgroup: format!("blkio/docker/{id}"),
            writes: vec![("blkio.throttle.write_iops_device".into(), "254:0 0".into())],
        }]
    );
    assert!(
        e.notes.iter().any(|n| n.contains("254:0 20")),
        "{:?}",
        e.notes
    );
    // The helper is owned, gone afterwards, and had no network.
    let helpers: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.op == FakeOp::Exec && c.target.contains("-chaos-"))
        .collect();
    assert!(!helpers.is_empty());
    assert!(fake
        .snapshot()
        .containers
        .keys()
        .all(|n| !n.contains("chaos")));

    // Recovery after an operator restart reverts it: the limit is back to 0.
    let chaos = engine(&fake, dir.path());
    let report = chaos.recover(e.planned_end).await;
    assert_eq!(report.reverted.len(), 1, "{:?}", report.failed);
    assert_eq!(host.file(&iops), "254:0 0\n");
    // Another device's limit in the same cgroup was never touched.
    let bps = format!("/host-cgroup/blkio/docker/{id}/blkio.throttle.write_bps_device");
    assert_eq!(host.file(&bps), "8:0 1000\n");
}

#[tokio::test]
async fn a_disk_throttle_on_a_stopped_member_finds_nothing_to_revert_and_writes_nothing() {
    let fake = cluster(&["etcd-1"]).await;
    with_data_volume(&fake, "etcd-1").await;
    let id = fake.snapshot().containers["demo-etcd-1"].id.clone();
    let host = CgroupHost::v1(&id);
    let h = host.clone();
    fake.set_exec_handler(move |_, cmd| h.answer(cmd));
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path());
    let e = chaos
        .inject(&member("etcd-1"), throttle(20), Duration::from_secs(60))
        .await
        .unwrap();
    fake.stop(CLUSTER, "demo-etcd-1", Duration::ZERO)
        .await
        .unwrap();
    fake.clear_calls();
    let done = chaos.revert(&e.id).await.unwrap();
    assert_eq!(done.state, ExperimentState::Reverted);
    assert!(
        fake.calls().iter().all(|c| c.op != FakeOp::Exec),
        "no helper ran: {:?}",
        fake.calls()
    );
}

#[tokio::test]
async fn a_disk_throttle_is_refused_with_the_reason_on_cgroup_v2_or_without_a_block_device() {
    let fake = cluster(&["etcd-1"]).await;
    with_data_volume(&fake, "etcd-1").await;
    let dir = tempfile::tempdir().unwrap();
    let chaos = engine(&fake, dir.path());
    // A cgroup v2 host: no blkio tree, a cgroup.controllers file at the root.
    fake.set_exec_handler(|_, cmd| ExecOutput {
        exit_code: i64::from(
            cmd.first().map(String::as_str) == Some("cat")
                && !cmd[1].ends_with("cgroup.controllers"),
        ),
        output: String::new(),
    });
    let err = chaos
        .inject(&member("etcd-1"), throttle(20), Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChaosError::Unsupported { fault: "disk-throttle", ref reason, .. } if reason.contains("cgroup v2")),
        "{err}"
    );
    // A volume on a filesystem with no block device behind it (tmpfs: 0:52).
    let id = fake.snapshot().containers["demo-etcd-1"].id.clone();
    let host = CgroupHost::v1(&id);
    host.files.lock().remove("/sys/dev/block/254:0/dev");
    let h = host.clone();
    fake.set_exec_handler(move |_, cmd| h.answer(cmd));
    let err = chaos
        .inject(&member("etcd-1"), throttle(20), Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a block device"), "{err}");
    // Neither attempt left a limit, a record to revert, or a helper.
    assert!(chaos.list().unwrap().iter().all(|e| !e.is_active()));
    assert!(fake
        .snapshot()
        .containers
        .keys()
        .all(|n| !n.contains("chaos")));
    // And a member without an owned data volume is refused before any helper starts.
    let fake = cluster(&["etcd-2"]).await;
    let chaos = engine(&fake, dir.path());
    let err = chaos
        .inject(&member("etcd-2"), throttle(20), Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no data volume"), "{err}");
    assert!(fake.calls().iter().all(|c| c.op != FakeOp::CreateAndStart));
}
