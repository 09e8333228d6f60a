//! Bad input: every invalid spec is rejected with file:line:column, what was expected,
//! exit code 2, and no Docker call (DOCKER_HOST points at a socket that records every
//! connection).

use std::io::Write;
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const HEAD: &str =
    "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: demo\nspec:\n";

/// (spec body after `spec:\n`, expected stderr line)
const CASES: &[(&str, &str)] = &[
    (
        "  pd:\n    replcas: 3\n",
        "SPEC:7:5: spec.pd: unknown field `replcas`, expected one of `replicas`, `image`, `config`, `env`, `hostPort`",
    ),
    (
        "  tikv:\n    replicas: three\n",
        "SPEC:7:15: spec.tikv.replicas: invalid type: string \"three\", expected u32",
    ),
    (
        "  tikv:\n    replicas: 2\n",
        "SPEC:7:15: spec.tikv.replicas: tikv.replicas is 2; expected an integer from 3 to 64 (a new cluster needs at least 3 stores for PD's 3 replicas)",
    ),
    (
        "  pd:\n    replicas: 0\n",
        "SPEC:7:15: spec.pd.replicas: pd.replicas is 0; expected an integer from 1 to 64",
    ),
    (
        "  tikv:\n    image: \"pingcap/TiKV:v8\"\n",
        "SPEC:7:12: spec.tikv: invalid image reference \"pingcap/TiKV:v8\": repository path must be lowercase letters, digits and separators; expected an image reference such as pingcap/tikv:v8.5.7 or registry:5000/repo/name@sha256:<64 hex>",
    ),
    (
        "  reconcile:\n    interval: 5 parsecs\n",
        "SPEC:7:15: spec.reconcile: invalid duration \"5 parsecs\" (unknown time unit \"parsecs\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)); expected a duration such as 500ms, 30s, 5m or 1h30m",
    ),
    (
        "  reconcile:\n    interval: 10ms\n",
        "SPEC:7:15: spec.reconcile.interval: reconcile.interval is 10ms; expected at least 100ms",
    ),
    (
        "  tikv:\n    volumePolicy: shred\n",
        "SPEC:7:19: spec.tikv.volumePolicy: unknown variant `shred`, expected `retain` or `delete`",
    ),
    (
        "  failurePolicy:\n    mode: reboot\n",
        "SPEC:7:11: spec.failurePolicy.mode: unknown variant `reboot`, expected `observe` or `restart`",
    ),
    (
        "  network: \"bad net\"\n",
        "SPEC:6:12: spec.network: invalid network name \"bad net\"; expected letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
    (
        "  monitoring:\n    prometheus:\n      enabled: true\n      image: prom/prometheus:v3\n      hostPort: 9090\n    grafana:\n      image: grafana/grafana:12\n      hostPort: 9090\n",
        "SPEC:13:17: spec.monitoring.grafana.hostPort: hostPort 9090 is used twice; expected distinct ports",
    ),
    (
        "  tikv:\n   replicas: 3\n  pd: [\n",
        "SPEC:8:7: spec.pd: invalid type: sequence, expected struct PdSpec",
    ),
];

/// Whole documents (header included): (file contents, expected stderr line).
const DOCUMENTS: &[(&str, &str)] = &[
    ("", "SPEC:1:1: missing field `apiVersion`"),
    (
        "apiVersion: tikv-operator.dev/v2\nkind: TikvCluster\nmetadata:\n  name: demo\nspec: {}\n",
        "SPEC:1:13: apiVersion: unsupported apiVersion \"tikv-operator.dev/v2\"; expected \"tikv-operator.dev/v1alpha1\"",
    ),
    (
        "apiVersion: tikv-operator.dev/v1alpha1\nkind: Deployment\nmetadata:\n  name: demo\nspec: {}\n",
        "SPEC:2:7: kind: unsupported kind \"Deployment\"; expected \"TikvCluster\"",
    ),
    (
        "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: Demo_1\nspec: {}\n",
        "SPEC:4:9: metadata.name: invalid name \"Demo_1\"; expected 1-40 lowercase letters, digits or '-', starting with a letter and not ending with '-'",
    ),
    (
        "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nspec: {}\n",
        "SPEC:1:1: missing field `metadata`",
    ),
    (
        "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: demo\nspek: {}\n",
        "SPEC:5:1: unknown field `spek`, expected one of `apiVersion`, `kind`, `metadata`, `spec`",
    ),
    (
        "- a\n- b\n",
        "SPEC:1:1: invalid type: sequence, expected struct ClusterSpec",
    ),
    (
        "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: demo\nspec:\n\tpd: 1\n",
        "SPEC:6:1: found a tab character; expected spaces (YAML does not allow tabs for indentation)",
    ),
];

/// More bodies after `spec:\n`: (body, expected stderr line).
const MORE_BODIES: &[(&str, &str)] = &[
    (
        "  pd:\n    replicas: 3\n  pd:\n    replicas: 1\n",
        "SPEC:6:3: spec: duplicate field `pd`",
    ),
    (
        "  pd:\n    hostPort: 70000\n",
        "SPEC:7:15: spec.pd.hostPort: invalid value: integer `70000`, expected u16",
    ),
    (
        "  pd:\n    replicas: -1\n",
        "SPEC:7:15: spec.pd.replicas: invalid type: integer `-1`, expected u32",
    ),
    (
        "  pd:\n    replicas: 3\n  tikv: \"many\"\n",
        "SPEC:8:9: spec.tikv: invalid type: string \"many\", expected struct TikvSpec",
    ),
    (
        "  pd:\n    env:\n      - A=1\n",
        "SPEC:8:7: spec.pd.env: invalid type: sequence, expected a map",
    ),
    (
        "  tikv:\n    replicas: 3\n    image: \"\"\n",
        "SPEC:8:12: spec.tikv: invalid image reference \"\": empty; expected an image reference such as pingcap/tikv:v8.5.7 or registry:5000/repo/name@sha256:<64 hex>",
    ),
    (
        "  pd: {replicas: 3\n",
        "SPEC:7:1: did not find expected ',' or '}', while parsing a flow mapping",
    ),
];

fn operator() -> Command {
    Command::new(env!("CARGO_BIN_EXE_operator"))
}

#[test]
fn each_invalid_spec_gets_its_exact_error_exit_code_2_and_no_docker_call() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let cases: Vec<(String, &str)> = CASES
        .iter()
        .chain(MORE_BODIES)
        .map(|(body, expected)| (format!("{HEAD}{body}"), *expected))
        .chain(DOCUMENTS.iter().map(|(doc, e)| (doc.to_string(), *e)))
        .collect();
    assert_eq!(cases.len(), 27);
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.yaml"));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        // The 3-store minimum applies to *new* clusters: `apply` and `diff` ask Docker
        // (read-only) whether the cluster exists before judging it; `validate` assumes new.
        let cmds: &[&str] = if text.contains("replicas: 2\n") && text.contains("tikv") {
            &["validate"]
        } else {
            &["validate", "apply", "diff"]
        };
        for cmd in cmds.iter().copied() {
            let out = operator()
                .args([cmd, "-f"])
                .arg(&path)
                .env("DOCKER_HOST", format!("unix://{}", sock.display()))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let want = format!(
                "error: {}",
                expected.replace("SPEC", &path.display().to_string())
            );
            assert_eq!(out.status.code(), Some(2), "{cmd} case {i}: {stderr}");
            assert!(
                stderr.lines().any(|l| l == want),
                "{cmd} case {i}:\n got: {stderr}\nwant: {want}"
            );
            while listener.accept().is_ok() {
                connections.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "an invalid spec must not reach Docker"
    );
}

#[test]
fn a_missing_file_is_bad_input_with_exit_code_2() {
    let out = operator()
        .args(["validate", "-f", "/nonexistent/cluster.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("/nonexistent/cluster.yaml: cannot read the spec"));
}

#[test]
fn an_even_pd_count_is_valid_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("even.yaml");
    std::fs::write(&path, format!("{HEAD}  pd:\n    replicas: 2\n")).unwrap();
    let out = operator()
        .args(["validate", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: ")
            && stderr.contains(":7:15: spec.pd.replicas: pd.replicas is 2 (even)"),
        "{stderr}"
    );
}

#[test]
fn the_shipped_examples_are_valid() {
    for f in ["cluster.yaml", "minimal.yaml", "sim-cluster.yaml"] {
        let out = operator()
            .args(["validate", "-f"])
            .arg(format!("{}/examples/{f}", env!("CARGO_MANIFEST_DIR")))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
