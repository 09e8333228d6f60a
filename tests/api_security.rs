//! The operator's HTTP API is exposed only on purpose: `operator run` refuses a
//! non-loopback `--listen` without `--allow-remote-api` (exit 2, before Docker is
//! touched), and a configured-but-unusable token file is bad input rather than a
//! silently open API. (Bearer-token checks on the mutating routes themselves are in
//! `tests/tickets_api.rs`.)

use std::os::unix::net::UnixListener;
use std::process::Command;

fn operator() -> Command {
    Command::new(env!("CARGO_BIN_EXE_operator"))
}

fn example() -> String {
    format!("{}/examples/sim-cluster.yaml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_non_loopback_listen_address_is_refused_without_the_flag_and_docker_is_never_called() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    for addr in ["0.0.0.0:9464", "[::]:9464", "192.0.2.7:9464"] {
        let out = operator()
            .args(["run", "-f", &example(), "--listen", addr, "--state-dir"])
            .arg(dir.path().join("state"))
            .env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .env_remove("OPERATOR_LISTEN")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{addr}: {stderr}");
        let want = format!(
            "error: --listen {addr} is not a loopback address: the API would be reachable from the network; pass --allow-remote-api to mean it (mutating routes still need the token from OPERATOR_API_TOKEN or --api-token-file)"
        );
        assert!(
            stderr.lines().any(|l| l == want),
            "{addr}:\n got: {stderr}\nwant: {want}"
        );
    }
    assert!(
        listener.accept().is_err(),
        "the address is checked before Docker is contacted"
    );
    assert!(!dir.path().join("state").exists());
}

#[test]
fn with_the_flag_a_non_loopback_address_gets_past_the_check() {
    // Docker is unreachable on purpose: the run then fails there (exit 1), which proves
    // the address check let it through.
    let dir = tempfile::tempdir().unwrap();
    let out = operator()
        .args([
            "run",
            "-f",
            &example(),
            "--listen",
            "0.0.0.0:0",
            "--allow-remote-api",
        ])
        .args(["--state-dir"])
        .arg(dir.path().join("state"))
        .env(
            "DOCKER_HOST",
            format!("unix://{}", dir.path().join("absent.sock").display()),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("not a loopback address"), "{stderr}");
    assert!(stderr.contains("docker is unreachable"), "{stderr}");
}

#[test]
fn an_unusable_token_file_is_bad_input_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    for (file, what) in [
        (
            empty.clone(),
            "is empty; expected the token on its first line",
        ),
        (
            dir.path().join("missing-token"),
            "cannot read the API token file",
        ),
    ] {
        let out = operator()
            .args(["run", "-f", &example(), "--api-token-file"])
            .arg(&file)
            .env_remove("OPERATOR_API_TOKEN")
            .env(
                "DOCKER_HOST",
                format!("unix://{}", dir.path().join("absent.sock").display()),
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(what), "{stderr}");
    }
}
