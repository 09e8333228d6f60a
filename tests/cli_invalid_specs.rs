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
        "SPEC:7:5: spec.pd.replcas: unknown field; did you mean \"replicas\"?",
    ),
    (
        "  tikv:\n    replicas: three\n",
        "SPEC:7:15: spec.tikv.replicas: expected a whole number from 1 to 64, found the text \"three\"",
    ),
    (
        "  tikv:\n    replicas: 2\n",
        "SPEC:7:15: spec.tikv.replicas: 2 is out of range; expected a whole number from 3 to 64 (a new cluster needs at least 3 stores for PD's 3 replicas)",
    ),
    (
        "  pd:\n    replicas: 0\n",
        "SPEC:7:15: spec.pd.replicas: 0 is out of range; expected a whole number from 1 to 64",
    ),
    (
        "  tikv:\n    image: \"pingcap/TiKV:v8\"\n",
        "SPEC:7:12: spec.tikv.image: invalid image reference \"pingcap/TiKV:v8\": repository path must be lowercase letters, digits and separators; expected an image reference such as pingcap/tikv:v8.5.7 or registry:5000/repo/name@sha256:<64 hex>",
    ),
    (
        "  reconcile:\n    interval: 5 parsecs\n",
        "SPEC:7:15: spec.reconcile.interval: invalid duration \"5 parsecs\": \"parsecs\" is not a time unit (use ms, s, m, h or d); expected a duration such as 500ms, 30s, 5m or 1h30m",
    ),
    (
        "  reconcile:\n    interval: 10ms\n",
        "SPEC:7:15: spec.reconcile.interval: 10ms is too short; expected at least 100ms",
    ),
    (
        "  tikv:\n    volumePolicy: shred\n",
        "SPEC:7:19: spec.tikv.volumePolicy: unknown value \"shred\"; expected retain or delete",
    ),
    (
        "  failurePolicy:\n    mode: reboot\n",
        "SPEC:7:11: spec.failurePolicy.mode: unknown value \"reboot\"; expected observe or restart",
    ),
    (
        "  network: \"bad net\"\n",
        "SPEC:6:12: spec.network: invalid network name \"bad net\"; expected letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
    (
        "  monitoring:\n    prometheus:\n      enabled: true\n      image: prom/prometheus:v3\n      hostPort: 9090\n    grafana:\n      image: grafana/grafana:12\n      hostPort: 9090\n",
        "SPEC:13:17: spec.monitoring.grafana.hostPort: port 9090 is already used by another hostPort; expected distinct ports",
    ),
    (
        "  tikv:\n   replicas: 3\n  pd: [\n",
        "SPEC:9:1: syntax error: did not find expected node content, while parsing a flow node",
    ),
];

/// Whole documents (header included): (file contents, expected stderr line).
const DOCUMENTS: &[(&str, &str)] = &[
    ("", "SPEC: the file is empty; expected a TikvCluster spec (see examples/minimal.yaml)"),
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
        "SPEC:1:1: metadata: required, but missing",
    ),
    (
        "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: demo\nspek: {}\n",
        "SPEC:5:1: spek: unknown field; did you mean \"spec\"?",
    ),
    (
        "- a\n- b\n",
        "SPEC:1:1: expected a TikvCluster spec (a mapping with apiVersion, kind, metadata and spec), found a list",
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
        "SPEC:6:3: spec.pd: appears twice; expected each field once",
    ),
    (
        "  pd:\n    hostPort: 70000\n",
        "SPEC:7:15: spec.pd.hostPort: 70000 is out of range; expected a port from 1 to 65535",
    ),
    (
        "  pd:\n    replicas: -1\n",
        "SPEC:7:15: spec.pd.replicas: -1 is out of range; expected a whole number from 1 to 64",
    ),
    (
        "  pd:\n    replicas: 3\n  tikv: \"many\"\n",
        "SPEC:8:9: spec.tikv: expected a mapping of fields, found the text \"many\"",
    ),
    (
        "  pd:\n    env:\n      - A=1\n",
        "SPEC:8:7: spec.pd.env: expected a mapping of names to values, found a list",
    ),
    (
        "  tikv:\n    replicas: 3\n    image: \"\"\n",
        "SPEC:8:12: spec.tikv.image: invalid image reference \"\": empty; expected an image reference such as pingcap/tikv:v8.5.7 or registry:5000/repo/name@sha256:<64 hex>",
    ),
    (
        "  pd: {replicas: 3\n",
        "SPEC:7:1: syntax error: did not find expected ',' or '}', while parsing a flow mapping",
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
    assert_eq!(
        stderr,
        format!(
            "warning: {}:7:15: spec.pd.replicas: 2 is an even count: 2 members tolerate as many failures as 1 member would (none); an odd count is recommended\n",
            path.display()
        )
    );
}

/// Runs `operator validate -f PATH` (or `-f -` with `stdin`) and returns (exit code, stderr).
fn validate(path: &std::path::Path, stdin: Option<&[u8]>) -> (Option<i32>, String) {
    let mut cmd = operator();
    cmd.args(["validate", "-f"]).arg(path);
    let out = match stdin {
        None => cmd.output().unwrap(),
        Some(bytes) => {
            let mut child = cmd
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(bytes).unwrap();
            child.wait_with_output().unwrap()
        }
    };
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_problem_in_a_spec_is_reported_at_once_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.yaml");
    std::fs::write(
        &path,
        format!("{HEAD}  pd:\n    replicas: 0\n    imag: pingcap/pd\n  tikv:\n    replicas: three\n  reconcile:\n    interval: fast\n"),
    )
    .unwrap();
    let (code, stderr) = validate(&path, None);
    let p = path.display();
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        format!(
            "error: {p}:7:15: spec.pd.replicas: 0 is out of range; expected a whole number from 1 to 64\n\
             error: {p}:8:5: spec.pd.imag: unknown field; did you mean \"image\"?\n\
             error: {p}:10:15: spec.tikv.replicas: expected a whole number from 1 to 64, found the text \"three\"\n\
             error: {p}:12:15: spec.reconcile.interval: invalid duration \"fast\": it should start with a number; expected a duration such as 500ms, 30s, 5m or 1h30m\n"
        )
    );
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bom.yaml");
    std::fs::write(&path, format!("\u{feff}{HEAD}  pd:\n    replicas: 1\n")).unwrap();
    let (code, stderr) = validate(&path, None);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn an_empty_or_comment_only_file_says_the_file_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    for (i, text) in [
        "",
        "\n\n",
        "# nothing here yet\n---\n  # indented comment\n",
    ]
    .iter()
    .enumerate()
    {
        let path = dir.path().join(format!("empty{i}.yaml"));
        std::fs::write(&path, text).unwrap();
        let (code, stderr) = validate(&path, None);
        assert_eq!(code, Some(2));
        assert_eq!(
            stderr,
            format!(
                "error: {}: the file is empty; expected a TikvCluster spec (see examples/minimal.yaml)\n",
                path.display()
            )
        );
    }
}

#[test]
fn a_spec_above_one_mebibyte_is_refused_and_long_values_are_cut_in_messages() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.yaml");
    let scalar = "x".repeat(10 * 1024 * 1024);
    std::fs::write(&huge, format!("{HEAD}  network: {scalar}\n")).unwrap();
    let (code, stderr) = validate(&huge, None);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        format!(
            "error: {}: the spec is larger than 1 MiB; a cluster spec is a few kilobytes (is this the right file?)\n",
            huge.display()
        )
    );
    // Under the cap, a long bad value is quoted cut, with its length.
    let long = dir.path().join("long.yaml");
    let value = "Y".repeat(100_000);
    std::fs::write(&long, format!("{HEAD}  network: {value}\n")).unwrap();
    let (code, stderr) = validate(&long, None);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        format!(
            "error: {}:6:12: spec.network: invalid network name \"{}\"… (100000 characters); expected letters, digits, '_', '.' or '-', starting with a letter or digit\n",
            long.display(),
            "Y".repeat(60)
        )
    );
}

#[test]
fn dash_f_dash_reads_the_spec_from_standard_input() {
    let good = format!("{HEAD}  pd:\n    replicas: 1\n");
    let (code, stderr) = validate(std::path::Path::new("-"), Some(good.as_bytes()));
    assert_eq!(code, Some(0), "{stderr}");
    let bad = format!("{HEAD}  pd:\n    replicas: 0\n");
    let (code, stderr) = validate(std::path::Path::new("-"), Some(bad.as_bytes()));
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "error: <stdin>:7:15: spec.pd.replicas: 0 is out of range; expected a whole number from 1 to 64\n"
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
