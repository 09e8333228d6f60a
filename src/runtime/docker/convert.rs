//! Pure conversions between the runtime port's types and Docker's API models.
//!
//! Kept apart from the adapter so the interesting mapping (statuses, RFC 3339 times,
//! event attributes, the create body, the upload tarball) is unit-tested without a
//! daemon; the adapter itself only sequences calls.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, EndpointSettings,
    EventMessage, HostConfig, Mount as DockerMount, MountType, NetworkingConfig, PortBinding,
};

use crate::runtime::labels;
use crate::runtime::{
    ContainerSpec, ContainerStatus, EventAction, FileUpload, ObservedContainer, RuntimeEvent,
};

/// Label holding a container's extra DNS aliases (comma-separated), so that
/// [`crate::runtime::ContainerRuntime::connect`] can restore them after a disconnect.
pub(crate) const ALIASES_LABEL: &str = "io.tikv-operator.network-aliases";

/// Event attributes Docker adds next to the container's labels.
const NON_LABEL_ATTRIBUTES: [&str; 4] = ["name", "image", "exitCode", "signal"];

/// Maps Docker's state string to the port's status. Podman's `stopping` still has a
/// live process, so it counts as running; an empty status is a container Docker has
/// not finished creating.
pub(crate) fn status_from_docker(status: Option<ContainerStateStatusEnum>) -> ContainerStatus {
    match status {
        Some(ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::STOPPING) => {
            ContainerStatus::Running
        }
        Some(ContainerStateStatusEnum::PAUSED) => ContainerStatus::Paused,
        Some(ContainerStateStatusEnum::RESTARTING) => ContainerStatus::Restarting,
        Some(ContainerStateStatusEnum::EXITED) => ContainerStatus::Exited,
        Some(ContainerStateStatusEnum::REMOVING) => ContainerStatus::Removing,
        Some(ContainerStateStatusEnum::DEAD) => ContainerStatus::Dead,
        Some(ContainerStateStatusEnum::CREATED | ContainerStateStatusEnum::EMPTY) | None => {
            ContainerStatus::Created
        }
    }
}

/// Parses Docker's RFC 3339 timestamps. Docker reports "never" as
/// `0001-01-01T00:00:00Z`, which becomes `None`, as does anything before the epoch.
pub(crate) fn parse_docker_time(value: Option<&str>) -> Option<SystemTime> {
    let value = value?;
    let parsed =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok()?;
    if parsed.unix_timestamp() < 0 {
        return None;
    }
    Some(SystemTime::from(parsed))
}

/// Builds the observed container from `docker inspect`. `network` selects which
/// network's IPv4 address is reported.
pub(crate) fn observed_from_inspect(
    inspect: &ContainerInspectResponse,
    network: &str,
) -> ObservedContainer {
    let config = inspect.config.as_ref();
    let labels: BTreeMap<String, String> = config
        .and_then(|c| c.labels.as_ref())
        .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let state = inspect.state.as_ref();
    let endpoints = inspect
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref());
    let mut networks: Vec<String> = endpoints
        .map(|e| e.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let ip = endpoints
        .and_then(|e| e.get(network))
        .and_then(|e| e.ip_address.clone())
        .filter(|ip| !ip.is_empty());
    ObservedContainer {
        id: inspect.id.clone().unwrap_or_default(),
        name: inspect
            .name
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image: config
            .and_then(|c| c.image.clone())
            .or_else(|| inspect.image.clone())
            .unwrap_or_default(),
        labels,
        status: status_from_docker(state.and_then(|s| s.status)),
        exit_code: state.and_then(|s| s.exit_code),
        oom_killed: state.and_then(|s| s.oom_killed).unwrap_or(false),
        ip,
        networks,
        started_at: parse_docker_time(state.and_then(|s| s.started_at.as_deref())),
        finished_at: parse_docker_time(state.and_then(|s| s.finished_at.as_deref())),
    }
}

/// Maps Docker's action string (`die`, `exec_start: sh -c …`, `health_status: healthy`)
/// to the port's action.
pub(crate) fn action_from_docker(raw: &str) -> EventAction {
    match raw {
        "create" => EventAction::Create,
        "start" => EventAction::Start,
        "die" => EventAction::Die,
        "oom" => EventAction::Oom,
        "kill" => EventAction::Kill,
        "restart" => EventAction::Restart,
        "stop" => EventAction::Stop,
        "pause" => EventAction::Pause,
        "unpause" => EventAction::Unpause,
        "destroy" => EventAction::Destroy,
        _ => EventAction::Other,
    }
}

/// Converts a Docker event into a runtime event, or `None` when it is not about a
/// container owned by `cluster` (the daemon filters by label already; this is the
/// adapter's own check, so a filter bug can never leak foreign events).
pub(crate) fn event_from_docker(message: &EventMessage, cluster: &str) -> Option<RuntimeEvent> {
    let attributes = message.actor.as_ref()?.attributes.as_ref()?;
    if !labels::is_owned_by(attributes, cluster) {
        return None;
    }
    let raw_action = message.action.clone().unwrap_or_default();
    let action = action_from_docker(&raw_action);
    let time = match (message.time_nano, message.time) {
        (Some(nanos), _) if nanos > 0 => UNIX_EPOCH + Duration::from_nanos(nanos.unsigned_abs()),
        (_, Some(secs)) if secs > 0 => UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs()),
        _ => SystemTime::now(),
    };
    let exit_code = if action == EventAction::Die {
        attributes
            .get("exitCode")
            .and_then(|c| c.parse::<i64>().ok())
    } else {
        None
    };
    let signal = if action == EventAction::Kill {
        attributes.get("signal").cloned()
    } else {
        None
    };
    let labels = attributes
        .iter()
        .filter(|(k, _)| !NON_LABEL_ATTRIBUTES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(RuntimeEvent {
        container: attributes.get("name").cloned().unwrap_or_default(),
        action,
        raw_action,
        exit_code,
        signal,
        time,
        labels,
    })
}

/// Converts a Docker network event (`connect`/`disconnect`) about the container
/// `inspect` into a runtime event named `network_<action>` on that container, or `None`
/// when the container is not owned by `cluster`.
pub(crate) fn network_event_from_docker(
    message: &EventMessage,
    inspect: &ContainerInspectResponse,
    cluster: &str,
) -> Option<RuntimeEvent> {
    let labels: BTreeMap<String, String> = inspect
        .config
        .as_ref()?
        .labels
        .as_ref()?
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !labels::is_owned_by_btree(&labels, cluster) {
        return None;
    }
    let raw = message.action.clone().unwrap_or_default();
    let time = match (message.time_nano, message.time) {
        (Some(nanos), _) if nanos > 0 => UNIX_EPOCH + Duration::from_nanos(nanos.unsigned_abs()),
        (_, Some(secs)) if secs > 0 => UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs()),
        _ => SystemTime::now(),
    };
    Some(RuntimeEvent {
        container: inspect
            .name
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        action: EventAction::Other,
        raw_action: format!("network_{raw}"),
        exit_code: None,
        signal: None,
        time,
        labels,
    })
}

/// The extra aliases stored on a container by [`create_body`].
pub(crate) fn aliases_from_labels(labels: &HashMap<String, String>) -> Vec<String> {
    labels
        .get(ALIASES_LABEL)
        .map(|v| {
            v.split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The endpoint settings that attach `name` to a network with its DNS aliases.
pub(crate) fn endpoint_with_aliases(name: &str, aliases: &[String]) -> EndpointSettings {
    let mut all = vec![name.to_string()];
    all.extend(aliases.iter().filter(|a| a.as_str() != name).cloned());
    EndpointSettings {
        aliases: Some(all),
        ..Default::default()
    }
}

/// The create request for `spec`.
///
/// Ports are published on 127.0.0.1 only. A `network_mode` (chaos helpers sharing a
/// target's namespace) excludes network attachment, aliases and ports, which Docker
/// rejects in that mode.
pub(crate) fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let mut labels: HashMap<String, String> = spec
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut host_config = HostConfig {
        auto_remove: Some(spec.auto_remove),
        ..Default::default()
    };
    if !spec.mounts.is_empty() {
        host_config.mounts = Some(
            spec.mounts
                .iter()
                .map(|m| DockerMount {
                    typ: Some(MountType::VOLUME),
                    source: Some(m.volume.clone()),
                    target: Some(m.target.clone()),
                    ..Default::default()
                })
                .collect(),
        );
    }
    if !spec.host_mounts.is_empty() {
        // A bind whose source is missing fails the create (the `Binds` form would
        // create the directory on the host instead).
        host_config
            .mounts
            .get_or_insert_with(Vec::new)
            .extend(spec.host_mounts.iter().map(|m| DockerMount {
                typ: Some(MountType::BIND),
                source: Some(m.source.clone()),
                target: Some(m.target.clone()),
                read_only: Some(false),
                ..Default::default()
            }));
    }
    if !spec.cap_add.is_empty() {
        host_config.cap_add = Some(spec.cap_add.clone());
    }
    let mut exposed_ports = None;
    let mut networking_config = None;
    if let Some(mode) = &spec.network_mode {
        host_config.network_mode = Some(mode.clone());
    } else {
        if !spec.ports.is_empty() {
            let keys: Vec<String> = spec
                .ports
                .iter()
                .map(|p| format!("{}/tcp", p.container_port))
                .collect();
            host_config.port_bindings = Some(
                spec.ports
                    .iter()
                    .map(|p| {
                        let binding = PortBinding {
                            host_ip: Some("127.0.0.1".to_string()),
                            host_port: Some(p.host_port.to_string()),
                        };
                        (format!("{}/tcp", p.container_port), Some(vec![binding]))
                    })
                    .collect(),
            );
            exposed_ports = Some(keys);
        }
        if !spec.network.is_empty() {
            host_config.network_mode = Some(spec.network.clone());
            if !spec.aliases.is_empty() {
                labels.insert(ALIASES_LABEL.to_string(), spec.aliases.join(","));
            }
            networking_config = Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    spec.network.clone(),
                    endpoint_with_aliases(&spec.name, &spec.aliases),
                )])),
            });
        }
    }
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: spec.entrypoint.clone(),
        cmd: if spec.cmd.is_empty() {
            None
        } else {
            Some(spec.cmd.clone())
        },
        env: if spec.env.is_empty() {
            None
        } else {
            Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect())
        },
        labels: Some(labels),
        exposed_ports,
        host_config: Some(host_config),
        networking_config,
        ..Default::default()
    }
}

/// A tar archive (extracted at `/`) holding `files`. Parent directories are not
/// listed: Docker creates missing ones, and listing existing ones would overwrite
/// their modes (`/tmp`'s sticky bit, for one).
///
/// # Errors
///
/// A path that is not absolute or that climbs with `..`.
/// The contents of the first regular file in a tar archive (what Docker's archive API
/// returns for a single file); `None` when the archive holds no regular file.
pub(crate) fn first_file_of_tar(archive: &[u8]) -> Result<Option<Vec<u8>>, String> {
    use std::io::Read;
    let mut reader = tar::Archive::new(archive);
    for entry in reader.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if entry.header().entry_type() == tar::EntryType::Regular {
            let mut out = Vec::new();
            entry.read_to_end(&mut out).map_err(|e| e.to_string())?;
            return Ok(Some(out));
        }
    }
    Ok(None)
}

pub(crate) fn files_tar(files: &[FileUpload]) -> Result<Vec<u8>, String> {
    let mut builder = tar::Builder::new(Vec::new());
    let mtime = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for file in files {
        let relative = file
            .path
            .strip_prefix('/')
            .ok_or_else(|| format!("upload path {:?} is not absolute", file.path))?;
        if relative.is_empty()
            || relative
                .split('/')
                .any(|part| part == ".." || part.is_empty())
        {
            return Err(format!(
                "upload path {:?} is not a plain absolute file path",
                file.path
            ));
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(file.contents.len() as u64);
        header.set_mode(file.mode);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, relative, file.contents.as_slice())
            .map_err(|e| format!("cannot add {:?} to the upload archive: {e}", file.path))?;
    }
    builder
        .into_inner()
        .map_err(|e| format!("cannot finish the upload archive: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Mount, PortPublish};
    use bollard::models::{ContainerConfig, ContainerState, EventActor, NetworkSettings};

    fn owned_labels(cluster: &str) -> HashMap<String, String> {
        labels::ownership(cluster).into_iter().collect()
    }

    #[test]
    fn docker_never_timestamps_become_none_and_real_ones_keep_nanoseconds() {
        assert_eq!(parse_docker_time(Some("0001-01-01T00:00:00Z")), None);
        assert_eq!(parse_docker_time(None), None);
        assert_eq!(parse_docker_time(Some("garbage")), None);
        let t = parse_docker_time(Some("2026-11-22T06:31:16.123456789Z")).unwrap();
        let d = t.duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(d.as_secs(), 1_795_329_076);
        assert_eq!(d.subsec_nanos(), 123_456_789);
    }

    #[test]
    fn inspect_of_an_oom_killed_container_reports_exit_code_ip_and_networks() {
        let mut endpoints = HashMap::new();
        endpoints.insert(
            "demo-net".to_string(),
            EndpointSettings {
                ip_address: Some("172.20.0.5".into()),
                ..Default::default()
            },
        );
        endpoints.insert(
            "bridge".to_string(),
            EndpointSettings {
                ip_address: Some(String::new()),
                ..Default::default()
            },
        );
        let inspect = ContainerInspectResponse {
            id: Some("abc".into()),
            name: Some("/demo-pd-0".into()),
            image: Some("sha256:deadbeef".into()),
            config: Some(ContainerConfig {
                image: Some("tikv-sim:local".into()),
                labels: Some(owned_labels("demo")),
                ..Default::default()
            }),
            state: Some(ContainerState {
                status: Some(ContainerStateStatusEnum::EXITED),
                exit_code: Some(137),
                oom_killed: Some(true),
                started_at: Some("2026-11-22T06:00:00Z".into()),
                finished_at: Some("0001-01-01T00:00:00Z".into()),
                ..Default::default()
            }),
            network_settings: Some(NetworkSettings {
                networks: Some(endpoints),
                ..Default::default()
            }),
            ..Default::default()
        };
        let observed = observed_from_inspect(&inspect, "demo-net");
        assert_eq!(observed.name, "demo-pd-0");
        assert_eq!(observed.image, "tikv-sim:local");
        assert_eq!(observed.status, ContainerStatus::Exited);
        assert_eq!(observed.exit_code, Some(137));
        assert!(observed.oom_killed);
        assert_eq!(observed.ip.as_deref(), Some("172.20.0.5"));
        assert_eq!(
            observed.networks,
            vec!["bridge".to_string(), "demo-net".to_string()]
        );
        assert!(observed.started_at.is_some());
        assert_eq!(observed.finished_at, None);
        assert_eq!(observed.label(labels::CLUSTER), Some("demo"));
        assert_eq!(observed_from_inspect(&inspect, "bridge").ip, None);
    }

    #[test]
    fn every_docker_state_maps_to_a_port_status() {
        use ContainerStateStatusEnum as S;
        let cases = [
            (S::CREATED, ContainerStatus::Created),
            (S::RUNNING, ContainerStatus::Running),
            (S::PAUSED, ContainerStatus::Paused),
            (S::RESTARTING, ContainerStatus::Restarting),
            (S::REMOVING, ContainerStatus::Removing),
            (S::EXITED, ContainerStatus::Exited),
            (S::DEAD, ContainerStatus::Dead),
            (S::STOPPING, ContainerStatus::Running),
        ];
        for (docker, port) in cases {
            assert_eq!(status_from_docker(Some(docker)), port, "{docker}");
        }
    }

    fn event(action: &str, extra: &[(&str, &str)], cluster: &str) -> EventMessage {
        let mut attributes = owned_labels(cluster);
        attributes.insert("name".into(), "demo-tikv-1".into());
        attributes.insert("image".into(), "tikv-sim:local".into());
        attributes.insert(labels::MEMBER.into(), "tikv-1".into());
        for (k, v) in extra {
            attributes.insert((*k).into(), (*v).into());
        }
        EventMessage {
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some("id".into()),
                attributes: Some(attributes),
            }),
            time: Some(1_795_329_076),
            time_nano: Some(1_795_329_076_500_000_000),
            ..Default::default()
        }
    }

    #[test]
    fn a_die_event_carries_its_exit_code_and_the_labels_without_docker_attributes() {
        let e = event_from_docker(&event("die", &[("exitCode", "137")], "demo"), "demo").unwrap();
        assert_eq!(e.action, EventAction::Die);
        assert_eq!(e.exit_code, Some(137));
        assert_eq!(e.signal, None);
        assert_eq!(e.container, "demo-tikv-1");
        assert_eq!(
            e.labels.get(labels::MEMBER).map(String::as_str),
            Some("tikv-1")
        );
        assert!(!e.labels.contains_key("exitCode") && !e.labels.contains_key("name"));
        assert_eq!(
            e.time.duration_since(UNIX_EPOCH).unwrap().as_millis(),
            1_795_329_076_500
        );
    }

    #[test]
    fn a_kill_event_carries_its_signal_and_exec_events_are_other() {
        let e = event_from_docker(&event("kill", &[("signal", "9")], "demo"), "demo").unwrap();
        assert_eq!(
            (e.action, e.signal.as_deref()),
            (EventAction::Kill, Some("9"))
        );
        let e = event_from_docker(&event("exec_start: sh -c true", &[], "demo"), "demo").unwrap();
        assert_eq!(e.action, EventAction::Other);
        assert_eq!(e.raw_action, "exec_start: sh -c true");
    }

    #[test]
    fn events_of_another_cluster_are_dropped_even_if_the_daemon_sent_them() {
        assert!(event_from_docker(&event("die", &[("exitCode", "1")], "other"), "demo").is_none());
    }

    #[test]
    fn a_network_disconnect_of_an_owned_container_becomes_a_network_event_and_a_foreign_one_is_dropped(
    ) {
        let msg = EventMessage {
            action: Some("disconnect".into()),
            actor: Some(EventActor {
                id: Some("net-id".into()),
                attributes: Some(HashMap::from([
                    ("container".to_string(), "abc123".to_string()),
                    ("name".to_string(), "demo-net".to_string()),
                    ("type".to_string(), "bridge".to_string()),
                ])),
            }),
            time_nano: Some(1_795_329_076_500_000_000),
            ..Default::default()
        };
        let inspect = |cluster: &str| ContainerInspectResponse {
            name: Some("/demo-tikv-1".into()),
            config: Some(bollard::models::ContainerConfig {
                labels: Some(owned_labels(cluster)),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = network_event_from_docker(&msg, &inspect("demo"), "demo").unwrap();
        assert_eq!(e.container, "demo-tikv-1");
        assert_eq!(e.raw_action, "network_disconnect");
        assert!(crate::tickets::monitor::wakes_the_monitor(&e.raw_action));
        assert!(network_event_from_docker(&msg, &inspect("other"), "demo").is_none());
    }

    #[test]
    fn the_create_body_binds_ports_on_loopback_and_attaches_aliases() {
        let spec = ContainerSpec {
            name: "demo-pd-0".into(),
            image: "tikv-sim:local".into(),
            cmd: vec!["--name=pd-0".into()],
            env: BTreeMap::from([("A".into(), "1".into())]),
            labels: labels::ownership("demo"),
            network: "demo-net".into(),
            aliases: vec!["pd".into()],
            mounts: vec![Mount {
                volume: "demo-pd-0-data".into(),
                target: "/data".into(),
            }],
            ports: vec![PortPublish {
                container_port: 2379,
                host_port: 12379,
            }],
            cap_add: vec!["NET_ADMIN".into()],
            ..Default::default()
        };
        let body = create_body(&spec);
        assert_eq!(body.env, Some(vec!["A=1".to_string()]));
        assert_eq!(body.entrypoint, None);
        let host = body.host_config.unwrap();
        let binding = &host.port_bindings.unwrap()["2379/tcp"].clone().unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(binding.host_port.as_deref(), Some("12379"));
        assert_eq!(host.network_mode.as_deref(), Some("demo-net"));
        assert_eq!(
            host.mounts.unwrap()[0].source.as_deref(),
            Some("demo-pd-0-data")
        );
        let endpoint = &body.networking_config.unwrap().endpoints_config.unwrap()["demo-net"];
        assert_eq!(
            endpoint.aliases,
            Some(vec!["demo-pd-0".to_string(), "pd".to_string()])
        );
        assert_eq!(
            aliases_from_labels(&body.labels.unwrap()),
            vec!["pd".to_string()]
        );
    }

    #[test]
    fn host_directories_are_bind_mounts_beside_the_volumes() {
        let spec = ContainerSpec {
            name: "demo-chaos".into(),
            image: "operator-chaos-helper:local".into(),
            labels: labels::ownership("demo"),
            mounts: vec![Mount {
                volume: "demo-etcd-0-data".into(),
                target: "/chaos-volume".into(),
            }],
            host_mounts: vec![crate::runtime::HostMount {
                source: "/sys/fs/cgroup".into(),
                target: "/host-cgroup".into(),
            }],
            ..Default::default()
        };
        let mounts = create_body(&spec).host_config.unwrap().mounts.unwrap();
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
        assert_eq!(mounts[1].typ, Some(MountType::BIND));
        assert_eq!(mounts[1].source.as_deref(), Some("/sys/fs/cgroup"));
        assert_eq!(mounts[1].target.as_deref(), Some("/host-cgroup"));
        assert_eq!(mounts[1].read_only, Some(false));
    }

    #[test]
    fn a_shared_namespace_container_gets_no_network_ports_or_aliases() {
        let spec = ContainerSpec {
            name: "demo-chaos".into(),
            image: "operator-chaos-helper:local".into(),
            network: "demo-net".into(),
            network_mode: Some("container:demo-tikv-0".into()),
            ports: vec![PortPublish {
                container_port: 1,
                host_port: 1,
            }],
            ..Default::default()
        };
        let body = create_body(&spec);
        assert!(body.networking_config.is_none());
        assert!(body.exposed_ports.is_none());
        assert_eq!(
            body.host_config.unwrap().network_mode.as_deref(),
            Some("container:demo-tikv-0")
        );
    }

    #[test]
    fn the_upload_archive_holds_files_with_their_modes_and_rejects_relative_paths() {
        let files = vec![FileUpload {
            path: "/etc/pd/pd.toml".into(),
            contents: b"x = 1\n".to_vec(),
            mode: 0o640,
        }];
        let bytes = files_tar(&files).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let entries: Vec<(String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                    e.size(),
                )
            })
            .collect();
        assert_eq!(entries, vec![("etc/pd/pd.toml".to_string(), 0o640, 6)]);
        let bad = vec![FileUpload {
            path: "etc/x".into(),
            contents: vec![],
            mode: 0o644,
        }];
        assert!(files_tar(&bad).is_err());
        let climb = vec![FileUpload {
            path: "/etc/../../x".into(),
            contents: vec![],
            mode: 0o644,
        }];
        assert!(files_tar(&climb).is_err());
    }
}
