//! The etcd subject against real etcd (Debian's etcd-server in `operator-etcd:<version>`,
//! `make images-etcd`) through Docker.
//!
//! One cluster serves every assertion, in the order an operator would live them, because
//! each step starts from the state the previous one left (that is the honest way to
//! test scale-in after scale-out): converge 3 members from nothing, scale to 5 and back
//! to 3 through the member API, SIGKILL a member and see it ticketed and diagnosed, then
//! ask for a scale-in that would lose quorum and see it refused with the arithmetic.
//! Everything carries a test-run label and a unique cluster name, and is removed at
//! the end, pass or fail. Without Docker or the image the test fails under `CI=true`
//! and prints a loud SKIP otherwise.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use operator::diagnose::reconciler::{DiagnosisReconciler, NoExtraContext, ReconcilerConfig};
use operator::diagnose::store_queue::StoreQueue;
use operator::reconcile::{Controller, Metrics};
use operator::runtime::ContainerRuntime;
use operator::subject::Subject;
use operator::subjects::etcd::diagnose::rules_backend;
use operator::subjects::etcd::spec::{self, EtcdClusterSpec};
use operator::subjects::etcd::subject::EtcdSubject;
use operator::tickets::{Status, TicketFilter, TicketStore};
use support::docker::{docker_or_skip, TestRun, TEST_RUN_LABEL};

fn spec_for(run: &TestRun, members: u32) -> EtcdClusterSpec {
    let mut s = spec::parse_str(
        &format!(
            "apiVersion: tikv-operator.dev/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: {}\n  labels:\n    {TEST_RUN_LABEL}: {}\nspec:\n  members: {members}\n  quotaBackendBytes: 16777216\n",
            run.cluster, run.id
        ),
        "test.yaml",
    )
    .expect("a valid spec");
    s.spec.members = members;
    s
}

/// Passes until converged; returns the steps applied. Panics on timeout.
async fn converge(c: &Controller<EtcdSubject>, timeout: Duration) -> Vec<String> {
    let started = Instant::now();
    let applied = std::sync::Mutex::new(Vec::new());
    loop {
        let r = c
            .reconcile_once(&|s| applied.lock().unwrap().push(s.to_string()))
            .await;
        let st = c.status();
        if r.is_ok() && st.converged {
            return applied.into_inner().unwrap();
        }
        assert!(
            started.elapsed() < timeout,
            "not converged after {timeout:?}: {r:?} {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Docker and every image `images` names, or a loud SKIP (a failure under `CI=true`).
async fn docker_with(
    test: &str,
    images: &[&str],
) -> Option<operator::runtime::docker::DockerRuntime> {
    let runtime = docker_or_skip(test).await?;
    for image in images {
        if !runtime.image_exists(image).await.unwrap_or(false) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: image {image} is missing under CI=true (make images images-etcd)"
            );
            eprintln!("\n==========\nSKIP {test}: image {image} is missing (make images images-etcd). This test did NOT run.\n==========");
            return None;
        }
    }
    Some(runtime)
}

fn etcd_image() -> String {
    format!("operator-etcd:{}", spec::DEFAULT_VERSION)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etcd_cluster_converges_scales_has_a_killed_member_ticketed_and_refuses_to_lose_quorum()
{
    let test = "etcd_docker";
    let Some(runtime) = docker_with(test, &[&etcd_image()]).await else {
        return;
    };
    let run = TestRun::new(runtime).await;
    let rt: Arc<dyn ContainerRuntime> = Arc::new(
        operator::runtime::docker::DockerRuntime::connect()
            .await
            .unwrap(),
    );
    let subject = Arc::new(EtcdSubject::new(spec_for(&run, 3), None, rt).unwrap());
    let controller = Controller::new(subject.clone(), Metrics::new());
    let t0 = Instant::now();

    // 1. Three members from nothing, all in the first --initial-cluster.
    let steps = converge(&controller, Duration::from_secs(90)).await;
    assert_eq!(
        steps
            .iter()
            .filter(|s| s.starts_with("start etcd-"))
            .count(),
        3,
        "{steps:?}"
    );
    let obs = subject.observe().await.unwrap();
    assert_eq!(obs.cluster.as_ref().unwrap().members.len(), 3);
    assert!(obs.leader_id().is_some());
    let converged = t0.elapsed();

    // 2. 3 -> 5 -> 3 through the member API, one member at a time.
    let t1 = Instant::now();
    subject.set_spec(spec_for(&run, 5));
    let steps = converge(&controller, Duration::from_secs(90)).await;
    let adds: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.starts_with("member add"))
        .map(|(i, _)| i)
        .collect();
    let starts: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.contains("(joining the cluster)"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(adds.len(), 2, "{steps:?}");
    assert!(
        adds[0] < starts[0] && starts[0] < adds[1],
        "add before start, one at a time: {steps:?}"
    );
    assert_eq!(
        subject
            .observe()
            .await
            .unwrap()
            .cluster
            .unwrap()
            .members
            .len(),
        5
    );
    subject.set_spec(spec_for(&run, 3));
    let steps = converge(&controller, Duration::from_secs(60)).await;
    let removes: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.starts_with("member remove"))
        .map(|(i, _)| i)
        .collect();
    let stops: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.starts_with("remove the container"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(removes.len(), 2, "{steps:?}");
    assert!(removes[0] < stops[0], "remove before stop: {steps:?}");
    assert_eq!(
        subject
            .observe()
            .await
            .unwrap()
            .cluster
            .unwrap()
            .members
            .len(),
        3
    );
    let scaled = t1.elapsed();

    // 3. A SIGKILLed member is ticketed at once and diagnosed as a process exit.
    let t2 = Instant::now();
    let state = tempfile::tempdir().unwrap();
    let store = Arc::new(TicketStore::open(state.path().join("tickets")).unwrap());
    let metrics = Metrics::new();
    let latest = Arc::default();
    operator::tickets::monitor::round(&*subject, &store, &metrics, &latest, &[]).await;
    assert!(
        store.list(&TicketFilter::default()).is_empty(),
        "a healthy cluster opens no ticket: {:?}",
        store.list(&TicketFilter::default())
    );
    let victim = format!("{}-etcd-1", run.cluster);
    subject
        .runtime()
        .kill(&run.cluster, &victim, "SIGKILL")
        .await
        .unwrap();
    let mut ticket = None;
    for _ in 0..20 {
        operator::tickets::monitor::round(&*subject, &store, &metrics, &latest, &[]).await;
        ticket = store
            .list(&TicketFilter::default())
            .into_iter()
            .find(|t| t.invariant == "member-down" && t.target == "etcd-1");
        if ticket.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ticket = ticket.expect("a member-down ticket for etcd-1");
    assert!(
        ticket.summary.contains("exit code 137"),
        "{}",
        ticket.summary
    );
    let diagnoser = DiagnosisReconciler::new(
        Arc::new(rules_backend()),
        Arc::new(StoreQueue::new(store.clone())),
        Arc::new(NoExtraContext),
        ReconcilerConfig::default(),
    )
    .with_catalog(&operator::subjects::etcd::catalog::CATALOG);
    assert!(diagnoser.run_until_idle().await >= 1);
    let t = store.get(ticket.id).unwrap().unwrap();
    assert_eq!(t.status, Status::Diagnosed);
    let d = t.diagnosis.expect("a diagnosis");
    assert_eq!(d["cause"]["category"], "process-exit", "{d}");
    assert_eq!(d["cause"]["target"], "etcd-1", "{d}");
    assert_eq!(
        d["grounding"]["ungrounded"].as_array().map(Vec::len),
        Some(0),
        "{d}"
    );
    let ticketed = t2.elapsed();

    // 4. With etcd-1 down, removing healthy etcd-2 would leave 1 of 2: refused, and said why.
    subject.set_spec(spec_for(&run, 2));
    let _ = controller.reconcile_once(&|_| {}).await;
    let st = controller.status();
    assert!(st.pending.is_empty(), "{st:?}");
    assert!(
        st.refusals
            .iter()
            .any(|r| r.contains("removing etcd-2 is refused") && r.contains("quorum of 2")),
        "{st:?}"
    );
    assert_eq!(
        subject
            .observe()
            .await
            .unwrap()
            .cluster
            .unwrap()
            .members
            .len(),
        3,
        "nothing was removed"
    );
    eprintln!(
        "etcd_docker: converge {:.1}s, scale 3->5->3 {:.1}s, kill->ticket->diagnosis {:.1}s, total {:.1}s",
        converged.as_secs_f64(),
        scaled.as_secs_f64(),
        ticketed.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    run.cleanup().await;
}

/// The blkio cgroup directory of the container with full id `id` on this host
/// (`docker/<id>` with the cgroupfs driver, `…/docker-<id>.scope` with systemd's).
fn blkio_cgroup_of(id: &str) -> Option<std::path::PathBuf> {
    let scope = format!("docker-{id}.scope");
    let mut dirs = vec![(std::path::PathBuf::from("/sys/fs/cgroup/blkio"), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let name = entry.file_name();
            if name == id || name.to_str() == Some(scope.as_str()) {
                return Some(path);
            }
            if depth < 3 {
                dirs.push((path, depth + 1));
            }
        }
    }
    None
}

/// Writes `n` keys one after another and returns the p99 WAL fsync of those writes
/// (from the member's own histogram, before and after) and how long they took.
async fn fsync_p99_of_writes(
    subject: &EtcdSubject,
    base: &str,
    n: usize,
    tag: &str,
) -> (f64, Duration) {
    use operator::subjects::etcd::snapshot::{delta_p99, MetricsSample};
    let before = MetricsSample::parse(&subject.client().metrics(base).await.unwrap());
    let t = Instant::now();
    for i in 0..n {
        subject
            .client()
            .put(base, format!("/slow-disk/{tag}/{i}").as_bytes(), b"v")
            .await
            .unwrap();
    }
    let took = t.elapsed();
    let after = MetricsSample::parse(&subject.client().metrics(base).await.unwrap());
    let p99 = delta_p99(&after.wal_fsync, &before.wal_fsync).expect("the writes were fsynced");
    (p99, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_disk_throttles_one_members_writes_raises_its_wal_fsync_p99_and_is_reverted() {
    use operator::chaos::{Chaos, ChaosError, ExperimentState, Fault, Target, HELPER_IMAGE};
    use operator::subjects::etcd::topology::Names;
    let test = "etcd_slow_disk";
    let Some(runtime) = docker_with(test, &[&etcd_image(), HELPER_IMAGE]).await else {
        return;
    };
    let run = TestRun::new(runtime).await;
    let rt: Arc<dyn ContainerRuntime> = Arc::new(
        operator::runtime::docker::DockerRuntime::connect()
            .await
            .unwrap(),
    );
    let subject = Arc::new(EtcdSubject::new(spec_for(&run, 1), None, rt.clone()).unwrap());
    let controller = Controller::new(subject.clone(), Metrics::new());
    converge(&controller, Duration::from_secs(90)).await;
    let obs = subject.observe().await.unwrap();
    let base =
        EtcdSubject::any_endpoint(&obs, &Names::new(&run.cluster)).expect("a running member");
    let container = format!("{}-etcd-0", run.cluster);
    let id = rt
        .list_owned(&run.cluster, &subject.spec().network_name())
        .await
        .unwrap()
        .containers
        .into_iter()
        .find(|c| c.name == container)
        .expect("the member's container")
        .id;

    let state = tempfile::tempdir().unwrap();
    let chaos = Chaos::new(
        rt.clone(),
        &run.cluster,
        &subject.spec().network_name(),
        state.path(),
    )
    .unwrap()
    .with_helper_labels(std::collections::BTreeMap::from([(
        TEST_RUN_LABEL.to_string(),
        run.id.clone(),
    )]));
    let throttle = Fault::DiskThrottle {
        write_iops: Some(20),
        write_bps: None,
    };
    let injected = chaos
        .inject(
            &Target::Member("etcd-0".into()),
            throttle,
            Duration::from_secs(120),
        )
        .await;
    let Some(cgroup) = blkio_cgroup_of(&id) else {
        // No cgroup v1 blkio tree on this host: the fault must be refused, and say why.
        let err = injected.expect_err("no blkio cgroup, yet the throttle was accepted");
        assert!(
            matches!(err, ChaosError::Unsupported { ref reason, .. } if reason.contains("cgroup")),
            "{err}"
        );
        eprintln!("{test}: this host has no cgroup v1 blkio tree; the refusal was checked, the throttle was NOT exercised");
        run.cleanup().await;
        return;
    };
    let e = injected.unwrap();
    let limit =
        || std::fs::read_to_string(cgroup.join("blkio.throttle.write_iops_device")).unwrap();
    assert!(
        limit().lines().any(|l| l.ends_with(" 20")),
        "the member's cgroup holds the limit: {:?} {:?}",
        limit(),
        e.notes
    );

    // etcd's own histogram sees it: WAL fsync p99 of 20 writes, throttled vs not.
    let (slow, slow_took) = fsync_p99_of_writes(&subject, &base, 20, "slow").await;
    let done = chaos.revert(&e.id).await.unwrap();
    assert_eq!(done.state, ExperimentState::Reverted);
    assert!(
        limit().lines().all(|l| l.ends_with(" 0")),
        "the revert removed the limit: {:?}",
        limit()
    );
    let (fast, fast_took) = fsync_p99_of_writes(&subject, &base, 20, "fast").await;
    eprintln!(
        "{test}: WAL fsync p99 {:.1} ms throttled at 20 write IOPS ({:.1} s for 20 puts), {:.1} ms after the revert ({:.2} s)",
        slow * 1e3,
        slow_took.as_secs_f64(),
        fast * 1e3,
        fast_took.as_secs_f64()
    );
    // One fsync needs at least one write at 20 IOPS: 50 ms.
    assert!(slow >= 0.05, "throttled fsync p99 {slow}");
    assert!(slow >= 4.0 * fast, "throttled {slow} vs reverted {fast}");
    let helpers = rt
        .list_owned(&run.cluster, &subject.spec().network_name())
        .await
        .unwrap()
        .containers
        .into_iter()
        .filter(|c| c.name.contains("-chaos-"))
        .count();
    assert_eq!(helpers, 0, "no chaos helper is left behind");
    run.cleanup().await;
}
