//! `DockerRuntime` against the real engine, with a locally imported busybox image.
//!
//! Each test owns a unique cluster name and test-run label and removes everything it
//! made when it ends (see `support::docker::TestRun`).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use operator::runtime::{
    labels, ContainerRuntime, ContainerStatus, EventAction, FileUpload, Mount, NetworkSpec,
    PortPublish, RuntimeError, RuntimeEvent, VolumeSpec,
};
use support::docker::{docker_or_skip, TestRun};

macro_rules! run_or_skip {
    ($test:expr) => {
        match docker_or_skip($test).await {
            Some(runtime) => TestRun::new(runtime).await,
            None => return,
        }
    };
}

fn sh(cmd: &str) -> Vec<String> {
    vec!["sh".to_string(), "-c".to_string(), cmd.to_string()]
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_status(run: &TestRun, name: &str, wanted: ContainerStatus) {
    for _ in 0..100 {
        let owned = run
            .runtime
            .list_owned(&run.cluster, &run.network())
            .await
            .unwrap();
        if owned
            .containers
            .iter()
            .any(|c| c.name == name && c.status == wanted)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} never reached {wanted:?}");
}

#[tokio::test]
async fn a_created_container_is_listed_with_its_ip_status_files_volume_and_aliases() {
    let run =
        run_or_skip!("a_created_container_is_listed_with_its_ip_status_files_volume_and_aliases");
    let rt = &run.runtime;
    run.create_network().await.unwrap();
    run.create_network().await.unwrap(); // idempotent for the owner
    let volume = run.create_volume("pd-0-data").await.unwrap();
    run.create_volume("pd-0-data").await.unwrap();

    let mut spec = run.busybox_spec("pd-0", TestRun::idle_script());
    spec.aliases = vec!["pd".to_string()];
    spec.mounts = vec![Mount {
        volume: volume.clone(),
        target: "/data".into(),
    }];
    spec.files = vec![FileUpload {
        path: "/etc/pd/pd.toml".into(),
        contents: b"name = \"pd-0\"\n".to_vec(),
        mode: 0o640,
    }];
    let port = free_port();
    spec.ports = vec![PortPublish {
        container_port: 2379,
        host_port: port,
    }];
    spec.env = BTreeMap::from([("GREETING".to_string(), "hello".to_string())]);
    let id = rt.create_and_start(&spec).await.unwrap();

    let owned = rt.list_owned(&run.cluster, &run.network()).await.unwrap();
    assert_eq!(owned.containers.len(), 1, "{owned:?}");
    let c = &owned.containers[0];
    assert_eq!(c.id, id);
    assert_eq!(c.name, spec.name);
    assert_eq!(c.status, ContainerStatus::Running);
    assert!(
        c.ip.as_deref()
            .is_some_and(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok()),
        "{c:?}"
    );
    assert_eq!(c.networks, vec![run.network()]);
    assert_eq!(c.label(labels::MEMBER), Some("pd-0"));
    assert!(c.started_at.is_some());
    assert_eq!(
        owned
            .networks
            .iter()
            .map(|n| n.name.clone())
            .collect::<Vec<_>>(),
        vec![run.network()]
    );
    assert_eq!(
        owned
            .volumes
            .iter()
            .map(|v| v.name.clone())
            .collect::<Vec<_>>(),
        vec![volume.clone()]
    );
    assert!(owned.foreign_names.is_empty(), "{:?}", owned.foreign_names);

    let out = rt
        .exec(&run.cluster, &spec.name, &sh("cat /etc/pd/pd.toml; stat -c %a /etc/pd/pd.toml; echo $GREETING; touch /data/x && echo ok"))
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0, "{}", out.output);
    assert_eq!(out.output, "name = \"pd-0\"\n640\nhello\nok\n");
    assert_eq!(
        rt.download(&run.cluster, &spec.name, "/etc/pd/pd.toml")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"name = \"pd-0\"\n"[..]),
        "a file reads back as written"
    );
    assert_eq!(
        rt.download(&run.cluster, &spec.name, "/etc/pd/missing.toml")
            .await
            .unwrap(),
        None
    );

    let inspect = rt
        .client()
        .inspect_container(&spec.name, None)
        .await
        .unwrap();
    let endpoint = &inspect.network_settings.unwrap().networks.unwrap()[&run.network()];
    assert!(
        endpoint
            .aliases
            .as_ref()
            .unwrap()
            .contains(&"pd".to_string()),
        "{endpoint:?}"
    );
    let bindings = inspect.host_config.unwrap().port_bindings.unwrap();
    let binding = bindings["2379/tcp"].as_ref().unwrap()[0].clone();
    assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(binding.host_port, Some(port.to_string()));

    // A partition and its healing: the alias comes back with the connection.
    rt.disconnect(&run.cluster, &run.network(), &spec.name)
        .await
        .unwrap();
    rt.disconnect(&run.cluster, &run.network(), &spec.name)
        .await
        .unwrap();
    let owned = rt.list_owned(&run.cluster, &run.network()).await.unwrap();
    assert_eq!(owned.containers[0].ip, None);
    rt.connect(&run.cluster, &run.network(), &spec.name)
        .await
        .unwrap();
    rt.connect(&run.cluster, &run.network(), &spec.name)
        .await
        .unwrap();
    let owned = rt.list_owned(&run.cluster, &run.network()).await.unwrap();
    assert!(owned.containers[0].ip.is_some());
    let inspect = rt
        .client()
        .inspect_container(&spec.name, None)
        .await
        .unwrap();
    let endpoint = &inspect.network_settings.unwrap().networks.unwrap()[&run.network()];
    assert!(
        endpoint
            .aliases
            .as_ref()
            .unwrap()
            .contains(&"pd".to_string()),
        "{endpoint:?}"
    );

    // Taken name.
    assert!(matches!(
        rt.create_and_start(&spec).await,
        Err(RuntimeError::Conflict {
            kind: "container",
            ..
        })
    ));
    // Volume in use, network with endpoints: refused by Docker, still there.
    assert!(rt.remove_volume(&run.cluster, &volume).await.is_err());
    assert!(rt
        .remove_network(&run.cluster, &run.network())
        .await
        .is_err());
    rt.remove(&run.cluster, &spec.name).await.unwrap();
    rt.remove_volume(&run.cluster, &volume).await.unwrap();
    rt.remove_volume(&run.cluster, &volume).await.unwrap();
    rt.remove_network(&run.cluster, &run.network())
        .await
        .unwrap();
    rt.remove_network(&run.cluster, &run.network())
        .await
        .unwrap();
    let owned = rt.list_owned(&run.cluster, &run.network()).await.unwrap();
    assert_eq!(owned, Default::default());
}

#[tokio::test]
async fn lifecycle_calls_are_idempotent_where_docker_allows() {
    let run = run_or_skip!("lifecycle_calls_are_idempotent_where_docker_allows");
    let rt = &run.runtime;
    let (cluster, net) = (run.cluster.clone(), run.network());
    run.create_network().await.unwrap();
    let spec = run.busybox_spec("tikv-0", TestRun::idle_script());
    let name = spec.name.clone();
    rt.create_and_start(&spec).await.unwrap();

    rt.start(&cluster, &name).await.unwrap(); // already running: 304
    rt.pause(&cluster, &name).await.unwrap();
    rt.pause(&cluster, &name).await.unwrap();
    wait_for_status(&run, &name, ContainerStatus::Paused).await;
    rt.unpause(&cluster, &name).await.unwrap();
    rt.unpause(&cluster, &name).await.unwrap();
    wait_for_status(&run, &name, ContainerStatus::Running).await;

    rt.stop(&cluster, &name, Duration::from_secs(5))
        .await
        .unwrap();
    rt.stop(&cluster, &name, Duration::from_secs(5))
        .await
        .unwrap();
    let owned = rt.list_owned(&cluster, &net).await.unwrap();
    let c = &owned.containers[0];
    assert_eq!(
        (c.status, c.exit_code),
        (ContainerStatus::Exited, Some(0)),
        "{c:?}"
    );
    assert!(c.finished_at.is_some());

    rt.start(&cluster, &name).await.unwrap();
    rt.restart(&cluster, &name).await.unwrap();
    wait_for_status(&run, &name, ContainerStatus::Running).await;
    rt.kill(&cluster, &name, "SIGKILL").await.unwrap();
    wait_for_status(&run, &name, ContainerStatus::Exited).await;
    let owned = rt.list_owned(&cluster, &net).await.unwrap();
    assert_eq!(owned.containers[0].exit_code, Some(137));
    rt.kill(&cluster, &name, "SIGKILL").await.unwrap(); // nothing to signal

    rt.remove(&cluster, &name).await.unwrap();
    rt.remove(&cluster, &name).await.unwrap();
    rt.stop(&cluster, &name, Duration::ZERO).await.unwrap();
    assert!(matches!(
        rt.start(&cluster, &name).await,
        Err(RuntimeError::NotFound {
            kind: "container",
            ..
        })
    ));
    assert!(rt
        .list_owned(&cluster, &net)
        .await
        .unwrap()
        .containers
        .is_empty());
}

#[tokio::test]
async fn a_foreign_container_named_like_ours_is_reported_and_never_touched() {
    let run = run_or_skip!("a_foreign_container_named_like_ours_is_reported_and_never_touched");
    let rt = &run.runtime;
    let (cluster, net) = (run.cluster.clone(), run.network());
    let name = run.name("pd-0");
    run.create_foreign_container(&name).await;
    // A foreign network with the cluster's network name, and a foreign volume.
    rt.client()
        .create_network(bollard::models::NetworkCreateRequest {
            name: net.clone(),
            labels: Some(run.test_labels().into_iter().collect()),
            ..Default::default()
        })
        .await
        .unwrap();
    let volume = run.name("pd-0-data");
    rt.client()
        .create_volume(bollard::models::VolumeCreateRequest {
            name: Some(volume.clone()),
            labels: Some(run.test_labels().into_iter().collect()),
            ..Default::default()
        })
        .await
        .unwrap();
    let before = rt.client().inspect_container(&name, None).await.unwrap();

    let owned = rt.list_owned(&cluster, &net).await.unwrap();
    assert!(owned.containers.is_empty() && owned.networks.is_empty() && owned.volumes.is_empty());
    let mut expected = vec![name.clone(), net.clone(), volume.clone()];
    expected.sort();
    assert_eq!(owned.foreign_names, expected);

    let results = vec![
        ("stop", rt.stop(&cluster, &name, Duration::ZERO).await.err()),
        ("remove", rt.remove(&cluster, &name).await.err()),
        ("kill", rt.kill(&cluster, &name, "SIGKILL").await.err()),
        ("restart", rt.restart(&cluster, &name).await.err()),
        ("pause", rt.pause(&cluster, &name).await.err()),
        ("unpause", rt.unpause(&cluster, &name).await.err()),
        ("start", rt.start(&cluster, &name).await.err()),
        (
            "disconnect",
            rt.disconnect(&cluster, "bridge", &name).await.err(),
        ),
        ("connect", rt.connect(&cluster, &net, &name).await.err()),
        ("exec", rt.exec(&cluster, &name, &sh("true")).await.err()),
        ("logs", rt.logs(&cluster, &name, None, 10).await.err()),
        (
            "download",
            rt.download(&cluster, &name, "/etc/hostname").await.err(),
        ),
    ];
    for (call, result) in results {
        assert!(
            matches!(
                result,
                Some(RuntimeError::NotOwned {
                    kind: "container",
                    ..
                })
            ),
            "{call}: {result:?}"
        );
    }
    assert!(matches!(
        rt.remove_network(&cluster, &net).await,
        Err(RuntimeError::NotOwned {
            kind: "network",
            ..
        })
    ));
    assert!(matches!(
        rt.remove_volume(&cluster, &volume).await,
        Err(RuntimeError::NotOwned { kind: "volume", .. })
    ));
    assert!(matches!(
        rt.create_network(&NetworkSpec {
            name: net.clone(),
            labels: run.owned_labels()
        })
        .await,
        Err(RuntimeError::Conflict {
            kind: "network",
            ..
        })
    ));
    assert!(matches!(
        rt.create_volume(&VolumeSpec {
            name: volume.clone(),
            labels: run.owned_labels()
        })
        .await,
        Err(RuntimeError::Conflict { kind: "volume", .. })
    ));
    // Same name, our labels: Docker refuses the name, nothing is replaced.
    let mut ours = run.busybox_spec("pd-0", TestRun::idle_script());
    ours.network = String::new();
    assert!(matches!(
        rt.create_and_start(&ours).await,
        Err(RuntimeError::Conflict {
            kind: "container",
            ..
        })
    ));

    let after = rt.client().inspect_container(&name, None).await.unwrap();
    assert_eq!(after.id, before.id);
    let (sb, sa) = (before.state.unwrap(), after.state.unwrap());
    assert_eq!(sa.running, Some(true));
    assert_eq!(sa.paused, Some(false));
    assert_eq!(
        sa.started_at, sb.started_at,
        "the foreign container was restarted"
    );
    assert_eq!(after.restart_count, before.restart_count);
    assert!(rt.client().inspect_network(&net, None).await.is_ok());
    assert!(rt.client().inspect_volume(&volume).await.is_ok());
}

/// An event stream read out of order: events for other containers or actions are kept,
/// not dropped, because two containers' events interleave in any order.
struct Events {
    stream: futures::stream::BoxStream<'static, Result<RuntimeEvent, RuntimeError>>,
    seen: Vec<RuntimeEvent>,
}

impl Events {
    async fn next_for(&mut self, container: &str, action: EventAction) -> RuntimeEvent {
        if let Some(i) = self
            .seen
            .iter()
            .position(|e| e.container == container && e.action == action)
        {
            return self.seen.remove(i);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("no {action:?} event for {container} within 20 s"));
            let event = next
                .expect("event stream ended")
                .expect("event stream failed");
            if event.container == container && event.action == action {
                return event;
            }
            self.seen.push(event);
        }
    }
}

#[tokio::test]
async fn the_event_stream_reports_die_with_exit_code_and_kill_with_signal() {
    let run = run_or_skip!("the_event_stream_reports_die_with_exit_code_and_kill_with_signal");
    let rt = &run.runtime;
    run.create_network().await.unwrap();
    let mut events = Events {
        stream: rt.events(&run.cluster),
        seen: Vec::new(),
    };
    // Another cluster's subscriber must not see this run's events.
    let mut others = rt.events(&format!("{}-other", run.cluster));
    // The subscription is made on first poll; make it before anything happens.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), events.stream.next())
            .await
            .is_err()
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(10), others.next())
            .await
            .is_err()
    );

    let quitter = run.busybox_spec("tikv-0", "sleep 0.3; exit 3");
    rt.create_and_start(&quitter).await.unwrap();
    let victim = run.busybox_spec("tikv-1", TestRun::idle_script());
    rt.create_and_start(&victim).await.unwrap();

    let start = events.next_for(&quitter.name, EventAction::Start).await;
    assert_eq!(
        start.labels.get(labels::MEMBER).map(String::as_str),
        Some("tikv-0")
    );
    let die = events.next_for(&quitter.name, EventAction::Die).await;
    assert_eq!(die.exit_code, Some(3));
    assert_eq!(die.raw_action, "die");
    assert!(die.time >= start.time);

    events.next_for(&victim.name, EventAction::Start).await;
    rt.kill(&run.cluster, &victim.name, "SIGKILL")
        .await
        .unwrap();
    let kill = events.next_for(&victim.name, EventAction::Kill).await;
    assert_eq!(kill.signal.as_deref(), Some("9"));
    let die = events.next_for(&victim.name, EventAction::Die).await;
    assert_eq!(die.exit_code, Some(137));

    rt.remove(&run.cluster, &victim.name).await.unwrap();
    events.next_for(&victim.name, EventAction::Destroy).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(200), others.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn exec_returns_combined_output_and_the_exit_code() {
    let run = run_or_skip!("exec_returns_combined_output_and_the_exit_code");
    let rt = &run.runtime;
    run.create_network().await.unwrap();
    let spec = run.busybox_spec("pd-0", TestRun::idle_script());
    rt.create_and_start(&spec).await.unwrap();
    let out = rt
        .exec(
            &run.cluster,
            &spec.name,
            &sh("echo out; echo err >&2; exit 7"),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 7);
    assert!(
        out.output.contains("out\n") && out.output.contains("err\n"),
        "{:?}",
        out.output
    );
    let ok = rt
        .exec(&run.cluster, &spec.name, &["true".to_string()])
        .await
        .unwrap();
    assert_eq!((ok.exit_code, ok.output.as_str()), (0, ""));
    let missing = rt
        .exec(&run.cluster, &spec.name, &["no-such-command".to_string()])
        .await;
    assert!(
        matches!(missing, Ok(ref o) if o.exit_code != 0) || missing.is_err(),
        "{missing:?}"
    );
}

#[tokio::test]
async fn logs_return_the_last_lines_from_both_streams() {
    let run = run_or_skip!("logs_return_the_last_lines_from_both_streams");
    let rt = &run.runtime;
    run.create_network().await.unwrap();
    let spec = run.busybox_spec(
        "pd-0",
        "echo one; echo two >&2; echo three; trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done",
    );
    rt.create_and_start(&spec).await.unwrap();
    let mut lines = Vec::new();
    for _ in 0..50 {
        lines = rt.logs(&run.cluster, &spec.name, None, 100).await.unwrap();
        if lines.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Docker keeps the order within a stream; across streams it depends on timing.
    let of = |stream: &str| -> Vec<&str> {
        lines
            .iter()
            .filter(|l| l.stream == stream)
            .map(|l| l.text.as_str())
            .collect()
    };
    assert_eq!(of("stdout"), vec!["one", "three"]);
    assert_eq!(of("stderr"), vec!["two"]);
    // `tail` counts lines across both streams; which stream's line is last depends on
    // the timestamps Docker gave them, so the last line is "two" or "three".
    let tail = rt.logs(&run.cluster, &spec.name, None, 1).await.unwrap();
    assert_eq!(tail.len(), 1, "{tail:?}");
    assert!(
        ["two", "three"].contains(&tail[0].text.as_str()),
        "{tail:?}"
    );
    let future = std::time::SystemTime::now() + Duration::from_secs(3600);
    assert!(rt
        .logs(&run.cluster, &spec.name, Some(future), 100)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn creating_from_a_missing_image_fails_with_image_missing_and_creates_nothing() {
    let run =
        run_or_skip!("creating_from_a_missing_image_fails_with_image_missing_and_creates_nothing");
    let rt = &run.runtime;
    run.create_network().await.unwrap();
    let mut spec = run.busybox_spec("pd-0", "true");
    spec.image = format!("operator-test-missing-{}:nope", &run.id[..8]);
    assert!(!rt.image_exists(&spec.image).await.unwrap());
    assert!(rt
        .image_exists(support::docker::BUSYBOX_IMAGE)
        .await
        .unwrap());
    match rt.create_and_start(&spec).await {
        Err(RuntimeError::ImageMissing(image)) => assert_eq!(image, spec.image),
        other => panic!("expected ImageMissing, got {other:?}"),
    }
    let owned = rt.list_owned(&run.cluster, &run.network()).await.unwrap();
    assert!(owned.containers.is_empty());
    assert!(owned.foreign_names.is_empty());
}

#[tokio::test]
async fn a_container_that_cannot_start_is_not_left_behind() {
    let run = run_or_skip!("a_container_that_cannot_start_is_not_left_behind");
    let rt = &run.runtime;
    run.create_network().await.unwrap();
    let mut spec = run.busybox_spec("pd-0", "true");
    spec.entrypoint = Some(vec!["/no/such/binary".to_string()]);
    assert!(matches!(
        rt.create_and_start(&spec).await,
        Err(RuntimeError::Api(_))
    ));
    let owned = rt.list_owned(&run.cluster, &run.network()).await.unwrap();
    assert!(owned.containers.is_empty(), "{:?}", owned.containers);
}

#[tokio::test]
async fn the_test_run_guard_removes_everything_it_labelled() {
    let Some(runtime) = docker_or_skip("the_test_run_guard_removes_everything_it_labelled").await
    else {
        return;
    };
    let client = runtime.client().clone();
    let run = TestRun::new(runtime).await;
    run.create_network().await.unwrap();
    let volume = run.create_volume("data").await.unwrap();
    let name = run.name("foreign");
    run.create_foreign_container(&name).await;
    let net = run.network();
    drop(run);
    assert!(client.inspect_container(&name, None).await.is_err());
    assert!(client.inspect_network(&net, None).await.is_err());
    assert!(client.inspect_volume(&volume).await.is_err());
}

#[tokio::test]
async fn a_daemon_that_cannot_be_reached_is_reported_as_unreachable() {
    // A socket file nobody listens on: connections are refused.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let client = bollard::Docker::connect_with_unix(
        socket.to_str().unwrap(),
        5,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap();
    let rt = operator::runtime::docker::DockerRuntime::from_client(client);
    let result = rt.list_owned("demo", "demo-net").await;
    assert!(
        matches!(result, Err(RuntimeError::Unreachable(_))),
        "{result:?}"
    );
    let result = rt.stop("demo", "demo-pd-0", Duration::ZERO).await;
    assert!(
        matches!(result, Err(RuntimeError::Unreachable(_))),
        "{result:?}"
    );
    let mut events = rt.events("demo");
    assert!(matches!(
        events.next().await,
        Some(Err(RuntimeError::Unreachable(_)))
    ));
    assert!(
        events.next().await.is_none(),
        "the stream ends after the daemon error"
    );
}

#[tokio::test]
async fn a_helper_sharing_a_namespace_changes_its_target_only_with_net_admin() {
    let run = run_or_skip!("a_helper_sharing_a_namespace_changes_its_target_only_with_net_admin");
    let rt = &run.runtime;
    run.create_network().await.unwrap();
    let target = run.busybox_spec("tikv-0", TestRun::idle_script());
    rt.create_and_start(&target).await.unwrap();

    let mut helper = run.busybox_spec("chaos-1", TestRun::idle_script());
    helper.network_mode = Some(format!("container:{}", target.name));
    helper.cap_add = vec!["NET_ADMIN".to_string()];
    helper.auto_remove = true;
    let mut powerless = run.busybox_spec("chaos-2", TestRun::idle_script());
    powerless.network_mode = helper.network_mode.clone();
    rt.create_and_start(&helper).await.unwrap();
    rt.create_and_start(&powerless).await.unwrap();

    let denied = rt
        .exec(
            &run.cluster,
            &powerless.name,
            &sh("ip link set dev lo mtu 1500"),
        )
        .await
        .unwrap();
    assert_ne!(denied.exit_code, 0, "{}", denied.output);
    let done = rt
        .exec(
            &run.cluster,
            &helper.name,
            &sh("ip link set dev lo mtu 1500"),
        )
        .await
        .unwrap();
    assert_eq!(done.exit_code, 0, "{}", done.output);
    let seen = rt
        .exec(&run.cluster, &target.name, &sh("cat /sys/class/net/lo/mtu"))
        .await
        .unwrap();
    assert_eq!(seen.output.trim(), "1500");

    // auto_remove: a stopped helper disappears by itself.
    rt.stop(&run.cluster, &helper.name, Duration::from_secs(5))
        .await
        .unwrap();
    for _ in 0..50 {
        let owned = rt.list_owned(&run.cluster, &run.network()).await.unwrap();
        if owned.containers.iter().all(|c| c.name != helper.name) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the auto-remove helper is still there");
}

#[tokio::test]
async fn creating_on_a_network_that_does_not_exist_is_not_found() {
    let run = run_or_skip!("creating_on_a_network_that_does_not_exist_is_not_found");
    let spec = run.busybox_spec("pd-0", "true");
    match run.runtime.create_and_start(&spec).await {
        Err(RuntimeError::NotFound {
            kind: "network",
            name,
        }) => assert_eq!(name, run.network()),
        other => panic!("expected NotFound(network), got {other:?}"),
    }
}

/// Creates and starts a busybox container named `name` with exactly `labels` (plus the
/// test-run label for cleanup), bypassing the runtime under test.
async fn create_labelled(run: &TestRun, name: &str, extra: &[(&str, &str)]) -> String {
    use bollard::models::ContainerCreateBody;
    use bollard::query_parameters::CreateContainerOptionsBuilder;
    let mut l = run.test_labels();
    for (k, v) in extra {
        l.insert((*k).to_string(), (*v).to_string());
    }
    let docker = run.runtime.client();
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(name).build()),
            ContainerCreateBody {
                image: Some(support::docker::BUSYBOX_IMAGE.to_string()),
                cmd: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    TestRun::idle_script().into(),
                ]),
                labels: Some(l.into_iter().collect()),
                ..Default::default()
            },
        )
        .await
        .expect("create look-alike");
    docker
        .start_container(&created.id, None)
        .await
        .expect("start look-alike");
    created.id
}

#[tokio::test]
async fn every_mutating_call_refuses_look_alikes_that_lack_or_spoof_our_ownership_labels() {
    let run = run_or_skip!(
        "every_mutating_call_refuses_look_alikes_that_lack_or_spoof_our_ownership_labels"
    );
    let rt = &run.runtime;
    let cluster = run.cluster.clone();
    run.create_network().await.unwrap();
    let other = format!("{cluster}x");
    // Each is named exactly as the operator names its own containers.
    let look_alikes: Vec<(String, Vec<(&str, &str)>)> = vec![
        // No ownership labels at all.
        (run.name("tikv-0"), vec![]),
        // Another cluster's container.
        (
            run.name("tikv-1"),
            vec![
                (labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
                (labels::CLUSTER, other.as_str()),
                (labels::MEMBER, "tikv-1"),
            ],
        ),
        // Our cluster label, but not managed by the operator.
        (
            run.name("tikv-2"),
            vec![
                (labels::MANAGED_BY, "someone-else"),
                (labels::CLUSTER, cluster.as_str()),
            ],
        ),
        // Our cluster label alone.
        (run.name("pd-0"), vec![(labels::CLUSTER, cluster.as_str())]),
    ];
    let upload = [FileUpload {
        path: "/tmp/planted".into(),
        contents: b"x".to_vec(),
        mode: 0o644,
    }];
    for (name, extra) in &look_alikes {
        create_labelled(&run, name, extra).await;
        let before = rt.client().inspect_container(name, None).await.unwrap();
        let results = vec![
            ("stop", rt.stop(&cluster, name, Duration::ZERO).await.err()),
            ("remove", rt.remove(&cluster, name).await.err()),
            ("kill", rt.kill(&cluster, name, "SIGKILL").await.err()),
            ("restart", rt.restart(&cluster, name).await.err()),
            ("pause", rt.pause(&cluster, name).await.err()),
            ("unpause", rt.unpause(&cluster, name).await.err()),
            ("start", rt.start(&cluster, name).await.err()),
            (
                "connect",
                rt.connect(&cluster, &run.network(), name).await.err(),
            ),
            (
                "disconnect",
                rt.disconnect(&cluster, "bridge", name).await.err(),
            ),
            (
                "exec",
                rt.exec(&cluster, name, &sh("touch /tmp/ran")).await.err(),
            ),
            ("upload", rt.upload(&cluster, name, &upload).await.err()),
            ("logs", rt.logs(&cluster, name, None, 10).await.err()),
        ];
        for (call, result) in results {
            assert!(
                matches!(
                    &result,
                    Some(RuntimeError::NotOwned {
                        kind: "container",
                        ..
                    })
                ),
                "{name} {extra:?}: {call}: {result:?}"
            );
        }
        let after = rt.client().inspect_container(name, None).await.unwrap();
        assert_eq!(after.id, before.id, "{name}");
        let (sb, sa) = (before.state.unwrap(), after.state.unwrap());
        assert_eq!(sa.running, Some(true), "{name}");
        assert_eq!(sa.paused, Some(false), "{name}");
        assert_eq!(sa.started_at, sb.started_at, "{name} was restarted");
        assert_eq!(
            after.network_settings.and_then(|n| n.networks).map(|n| {
                let mut k: Vec<_> = n.into_keys().collect();
                k.sort();
                k
            }),
            before.network_settings.and_then(|n| n.networks).map(|n| {
                let mut k: Vec<_> = n.into_keys().collect();
                k.sort();
                k
            }),
            "{name}: networks changed"
        );
        // Nothing was planted or run inside: `test -e` exits 1 for both paths.
        let exec = rt
            .client()
            .create_exec(
                name,
                bollard::models::ExecConfig {
                    cmd: Some(vec![
                        "sh".into(),
                        "-c".into(),
                        "test -e /tmp/planted || test -e /tmp/ran".into(),
                    ]),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        rt.client().start_exec(&exec.id, None).await.unwrap();
        let code = loop {
            let i = rt.client().inspect_exec(&exec.id).await.unwrap();
            if i.running != Some(true) {
                break i.exit_code;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(code, Some(1), "{name}: a file was planted or a command ran");
    }
    // list_owned reports every look-alike as foreign and none as ours.
    let owned = rt.list_owned(&cluster, &run.network()).await.unwrap();
    assert!(owned.containers.is_empty(), "{:?}", owned.containers);
    for (name, _) in &look_alikes {
        assert!(
            owned.foreign_names.contains(name),
            "{name}: {:?}",
            owned.foreign_names
        );
    }
    // A volume of another cluster, named like ours, is not removed.
    let volume = run.name("tikv-0-data");
    let mut vl = run.test_labels();
    vl.insert(labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into());
    vl.insert(labels::CLUSTER.into(), other.clone());
    rt.client()
        .create_volume(bollard::models::VolumeCreateRequest {
            name: Some(volume.clone()),
            labels: Some(vl.into_iter().collect()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(matches!(
        rt.remove_volume(&cluster, &volume).await,
        Err(RuntimeError::NotOwned { kind: "volume", .. })
    ));
    assert!(rt.client().inspect_volume(&volume).await.is_ok());
}
