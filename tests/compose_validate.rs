//! The compose files are valid for the compose tool that will run them, and they wire
//! the operator the way the deployment design says: compose runs the operator and the
//! observability stack, the operator creates PD/TiKV from the mounted cluster spec on
//! a network compose creates with the operator's ownership labels, and Prometheus finds
//! the members on that network. Validation uses `docker compose config -q` when the
//! plugin exists, else `docker-compose` (v1); without either the tests print a SKIP line
//! (and fail under `CI=true`).

mod manifests_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use manifests_support::{repo, skip_or_fail, which};
use operator::runtime::labels;
use operator::spec::{load_file, ValidationContext};
use serde_json::Value;

const FILES: [&str; 2] = [
    "compose/docker-compose.yml",
    "compose/docker-compose.sim.yml",
];

/// The compose command: `docker compose` (v2 plugin) when it works, else `docker-compose`.
fn compose() -> Option<Vec<String>> {
    let v2 = which("docker").is_some_and(|docker| {
        Command::new(docker)
            .args(["compose", "version"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if v2 {
        return Some(vec!["docker".into(), "compose".into()]);
    }
    which("docker-compose").map(|p| vec![p.to_string_lossy().into_owned()])
}

/// Runs `compose -f FILE [--profile P]... config [extra]`, without the user's secrets
/// and with only the variables the files default themselves.
fn config(compose: &[String], file: &str, extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(&compose[0]);
    cmd.args(&compose[1..])
        .arg("-f")
        .arg(repo().join(file))
        .args([
            "--profile",
            "load",
            "--profile",
            "tools",
            "--profile",
            "observability",
            "config",
        ])
        .args(extra)
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("CLUSTER_FILE")
        .env_remove("CLUSTER_DIR");
    cmd.output().expect("run compose")
}

/// The resolved configuration of a compose file, as JSON. Resolved once per file and
/// shared by the tests (compose v1 takes about a second per invocation).
fn resolved(test: &str, file: &str) -> Option<Value> {
    static CACHE: Mutex<BTreeMap<String, Value>> = Mutex::new(BTreeMap::new());
    let Some(compose) = compose() else {
        skip_or_fail(
            test,
            "neither `docker compose` nor `docker-compose` is installed",
        );
        return None;
    };
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = cache.get(file) {
        return Some(v.clone());
    }
    let out = config(&compose, file, &[]);
    assert!(
        out.status.success(),
        "{file}: compose config failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: Value = yaml_serde::from_slice(&out.stdout).expect("compose config prints YAML");
    cache.insert(file.to_string(), value.clone());
    Some(value)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Volume entries of a service as `source:target[:mode]` strings (v1 prints strings,
/// v2 prints objects).
fn volumes(service: &Value) -> Vec<String> {
    service["volumes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    o => format!(
                        "{}:{}:{}",
                        o["source"].as_str().unwrap_or(""),
                        o["target"].as_str().unwrap_or(""),
                        if o["read_only"].as_bool() == Some(true) {
                            "ro"
                        } else {
                            "rw"
                        }
                    ),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn has_volume(service: &Value, source_suffix: &str, target: &str, read_only: bool) -> bool {
    volumes(service).iter().any(|v| {
        let mut parts = v.split(':');
        let (src, tgt, mode) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("rw"),
        );
        src.ends_with(source_suffix) && tgt == target && (!read_only || mode == "ro")
    })
}

#[test]
fn every_compose_file_validates_with_compose_config() {
    let Some(compose) = compose() else {
        skip_or_fail(
            "compose config -q",
            "neither `docker compose` nor `docker-compose` is installed",
        );
        return;
    };
    for file in FILES {
        let out = config(&compose, file, &["-q"]);
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The check can fail: a service with a bad key is rejected.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "version: \"3.9\"\nservices:\n  x:\n    image: a\n    no_such_key: 1\n",
    )
    .unwrap();
    let out = Command::new(&compose[0])
        .args(&compose[1..])
        .arg("-f")
        .arg(&broken)
        .args(["config", "-q"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "compose accepted an invalid file");
}

#[test]
fn the_operator_service_runs_the_controller_with_socket_spec_state_and_otlp() {
    for file in FILES {
        let Some(cfg) = resolved("operator service", file) else {
            return;
        };
        let op = &cfg["services"]["operator"];
        let cmd = strings(&op["command"]).join(" ");
        assert!(cmd.starts_with("run -f /etc/operator/"), "{file}: {cmd}");
        assert!(cmd.contains("--listen 0.0.0.0:9464"), "{file}: {cmd}");
        // Beyond loopback inside the container only by explicit choice.
        assert!(cmd.contains("--allow-remote-api"), "{file}: {cmd}");
        assert!(cmd.contains("--state-dir /data"), "{file}: {cmd}");
        assert!(
            has_volume(op, "/var/run/docker.sock", "/var/run/docker.sock", false),
            "{file}: docker socket"
        );
        assert!(
            has_volume(op, "compose/cluster", "/etc/operator", true),
            "{file}: spec folder read-only"
        );
        assert!(
            volumes(op)
                .iter()
                .any(|v| v.starts_with("operator-data:/data")),
            "{file}: named state volume: {:?}",
            volumes(op)
        );
        assert!(
            cfg["volumes"]["operator-data"].is_object()
                || cfg["volumes"]["operator-data"].is_null()
        );
        assert!(
            strings(&op["ports"])
                .iter()
                .any(|p| p.contains("9464:9464")),
            "{file}: metrics port"
        );
        // No secret is baked into the file: the key is only passed through.
        let env = &op["environment"];
        assert!(
            env["ANTHROPIC_API_KEY"].is_null() || env["ANTHROPIC_API_KEY"] == "",
            "{file}: ANTHROPIC_API_KEY must come from the shell, not the file"
        );
    }
    let cfg = resolved("operator service", FILES[0]).unwrap();
    let env = &cfg["services"]["operator"]["environment"];
    assert_eq!(env["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://jaeger:4318");
    assert_eq!(cfg["services"]["operator"]["image"], "operator:local");
}

#[test]
fn the_compose_network_is_owned_by_the_cluster_the_mounted_spec_names() {
    for (file, spec) in [
        (FILES[0], "compose/cluster/cluster.yaml"),
        (FILES[1], "compose/cluster/sim.yaml"),
    ] {
        let Some(cfg) = resolved("network ownership", file) else {
            return;
        };
        let loaded = load_file(&repo().join(spec), ValidationContext { new_cluster: true })
            .unwrap_or_else(|e| panic!("{spec}: {e}"));
        let cluster = loaded.spec.name();
        let net = &cfg["networks"]["cluster"];
        assert_eq!(
            net["name"],
            loaded.spec.network_name(),
            "{file}: network name vs {spec}"
        );
        assert_eq!(
            net["labels"][labels::MANAGED_BY],
            labels::MANAGED_BY_VALUE,
            "{file}"
        );
        assert_eq!(net["labels"][labels::CLUSTER], cluster, "{file}");
        // Compose runs the monitoring; the operator must not start a second stack.
        assert!(
            !loaded.spec.spec.monitoring.prometheus.enabled,
            "{spec}: Prometheus"
        );
        assert!(
            !loaded.spec.spec.monitoring.grafana.enabled,
            "{spec}: Grafana"
        );
        // Every long-running service shares that network.
        for name in ["operator", "prometheus", "grafana", "jaeger"] {
            let nets = &cfg["services"][name]["networks"];
            assert!(
                nets.get("cluster").is_some(),
                "{file}: {name} is not on the cluster network"
            );
        }
        // The command's spec file is the one checked here.
        let cmd = strings(&cfg["services"]["operator"]["command"]);
        let in_container = cmd
            .iter()
            .find(|a| a.starts_with("/etc/operator/"))
            .unwrap();
        assert_eq!(
            Path::new(in_container).file_name(),
            Path::new(spec).file_name(),
            "{file}: operator reads {in_container}"
        );
        // Prometheus keeps exactly that network's members.
        let prom =
            std::fs::read_to_string(repo().join("manifests/prometheus/prometheus.yml")).unwrap();
        assert!(
            prom.contains(&format!("regex: {}\n", loaded.spec.network_name())),
            "prometheus.yml network filter"
        );
    }
}

#[test]
fn prometheus_reads_the_manifests_and_the_docker_socket_for_discovery() {
    for (file, image) in [
        (FILES[0], "prom/prometheus:"),
        (FILES[1], "operator-prometheus:local"),
    ] {
        let Some(cfg) = resolved("prometheus service", file) else {
            return;
        };
        let p = &cfg["services"]["prometheus"];
        assert!(
            p["image"].as_str().unwrap().starts_with(image),
            "{file}: {}",
            p["image"]
        );
        assert!(
            has_volume(p, "manifests/prometheus", "/etc/prometheus", true),
            "{file}: manifests mount"
        );
        assert!(
            has_volume(p, "/var/run/docker.sock", "/var/run/docker.sock", true),
            "{file}: socket ro"
        );
        let cmd = strings(&p["command"]).join(" ");
        assert!(
            cmd.contains("--config.file=/etc/prometheus/prometheus.yml"),
            "{file}: {cmd}"
        );
        // docker_sd needs socket access; the local image has no passwd file, so numeric.
        assert_eq!(p["user"], "0:0", "{file}");
    }
}

#[test]
fn the_real_file_has_grafana_jaeger_and_a_load_profile_and_the_sim_file_makes_them_optional() {
    let Some(real) = resolved("services", FILES[0]) else {
        return;
    };
    let s = &real["services"];
    let jaeger_ports = strings(&s["jaeger"]["ports"]).join(" ");
    for port in ["4317:4317", "4318:4318", "16686:16686"] {
        assert!(jaeger_ports.contains(port), "jaeger ports {jaeger_ports}");
    }
    assert!(s["jaeger"]["image"]
        .as_str()
        .unwrap()
        .starts_with("jaegertracing/jaeger:2."));
    assert!(has_volume(
        &s["grafana"],
        "manifests/grafana/provisioning",
        "/etc/grafana/provisioning",
        true
    ));
    assert!(has_volume(
        &s["grafana"],
        "manifests/grafana/dashboards",
        "/var/lib/grafana/dashboards",
        true
    ));
    assert!(
        strings(&s["grafana"]["profiles"]).is_empty(),
        "Grafana always runs in the real file"
    );
    assert_eq!(strings(&s["ycsb"]["profiles"]), ["load"]);
    assert!(s["ycsb"]["image"]
        .as_str()
        .unwrap()
        .starts_with("pingcap/go-ycsb"));
    let ycsb = strings(&s["ycsb"]["command"]).join(" ");
    assert!(
        ycsb.contains("tikv.pd=tikv-pd-0:2379,tikv-pd-1:2379,tikv-pd-2:2379"),
        "{ycsb}"
    );
    assert_eq!(strings(&s["operator-down"]["profiles"]), ["tools"]);
    assert_eq!(s["operator-down"]["network_mode"], "none");
    let spec = load_file(
        &repo().join("compose/cluster/cluster.yaml"),
        ValidationContext { new_cluster: true },
    )
    .unwrap();
    assert_eq!(spec.spec.spec.pd.image.as_str(), "pingcap/pd:v8.5.7");
    assert_eq!(spec.spec.spec.tikv.image.as_str(), "pingcap/tikv:v8.5.7");

    let sim = resolved("services", FILES[1]).unwrap();
    let s = &sim["services"];
    assert_eq!(strings(&s["grafana"]["profiles"]), ["observability"]);
    assert_eq!(strings(&s["jaeger"]["profiles"]), ["observability"]);
    assert_eq!(s["operator"]["image"], "operator:local");
    let spec = load_file(
        &repo().join("compose/cluster/sim.yaml"),
        ValidationContext { new_cluster: true },
    )
    .unwrap();
    assert_eq!(spec.spec.spec.pd.image.as_str(), "tikv-sim:local");
    assert_eq!(spec.spec.spec.tikv.image.as_str(), "tikv-sim:local");
}
