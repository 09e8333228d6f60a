//! The command line as a new user meets it (issue 17): each case drives the real binary
//! and asserts the exact message and exit code. No Docker and no model: Docker is
//! pointed at a socket that records connections, PD at closed ports or a fake server,
//! tickets are seeded in a temporary state directory. The whole file runs in a few
//! seconds.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use operator::tickets::{Evidence, Severity, TicketStore, Violation};

const SPEC: &str = "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: uxdemo\nspec:\n  pd:\n    replicas: 1\n";

/// The binary with a private HOME and XDG_STATE_HOME unset, run from `cwd`.
fn operator(home: &Path, cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_operator"));
    c.current_dir(cwd)
        .env("HOME", home)
        .env_remove("XDG_STATE_HOME")
        .env_remove("OPERATOR_STATE_DIR")
        .env_remove("OPERATOR_API")
        .env_remove("OPERATOR_LOG")
        .env_remove("OPERATOR_API_TOKEN")
        .env_remove("OPERATOR_API_TOKEN_FILE")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("ANTHROPIC_API_KEY_FILE")
        .env_remove("OPENAI_API_KEY")
        // Nothing listens on this API: commands fall back to the state directory.
        .env("OPERATOR_API", format!("http://{}", closed_port()))
        .stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().unwrap();
    (
        status.code(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A loopback address nothing listens on.
fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// Every file and directory under `dir`.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            out.push(e.path());
            out.extend(tree(&e.path()));
        }
    }
    out
}

/// A state directory holding ticket #1 (store-down on tikv-1).
fn seeded_state(dir: &Path) -> PathBuf {
    let state = dir.join("state");
    let store = TicketStore::open(state.join("tickets")).unwrap();
    let v = Violation {
        subject: "uxdemo".into(),
        invariant: "store-down".into(),
        target: "store/1".into(),
        severity: Severity::Critical,
        summary: "PD reports store 1 Disconnected (last heartbeat 9s ago)".into(),
        evidence: Evidence::at(SystemTime::now()),
        grace: Duration::ZERO,
    };
    let out = store.observe(&[v], &[], SystemTime::now()).unwrap();
    assert_eq!(out.opened[0].id, 1);
    store.flush().unwrap();
    drop(store);
    state
}

#[test]
fn demo_and_eval_find_their_scenarios_from_any_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = operator(dir.path(), dir.path());
    c.args(["demo", "--scenario", "no-such-scenario"]);
    let (code, _, stderr) = run(c);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("error: no scenario named \"no-such-scenario\" (known: ")
            && stderr.contains("node-death"),
        "{stderr}"
    );
    let mut c = operator(dir.path(), dir.path());
    c.args(["eval", "--only", "no-such-scenario"]);
    let (code, _, stderr) = run(c);
    assert_eq!(code, Some(2));
    assert_eq!(stderr, "error: no scenario named \"no-such-scenario\"\n");
}

#[test]
fn read_only_commands_name_the_missing_state_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&cwd).unwrap();
    let spec = dir.path().join("cluster.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let state = home.join(".local/state/operator/uxdemo");
    for args in [
        vec!["tickets", "list", "--cluster", "uxdemo"],
        vec!["tickets", "show", "1", "-f", spec.to_str().unwrap()],
        vec!["events", "--cluster", "uxdemo"],
        vec!["diagnose", "1", "--cluster", "uxdemo"],
    ] {
        let mut c = operator(&home, &cwd);
        c.args(&args);
        let (code, stdout, stderr) = run(c);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        assert_eq!(
            stderr,
            format!(
                "error: no operator state at {}: `operator run -f cluster.yaml` creates it (or pass --state-dir DIR)\n",
                state.display()
            ),
            "{args:?}"
        );
    }
    // No cluster named and none with state: say how to name one.
    let mut c = operator(&home, &cwd);
    c.args(["tickets", "list"]);
    let (code, _, stderr) = run(c);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        format!(
            "error: no cluster state under {}: name the cluster with -f cluster.yaml or --cluster NAME, or pass --state-dir DIR\n",
            home.join(".local/state/operator").display()
        )
    );
    // `chaos list` of a cluster without state: nothing to list, nothing created.
    let mut c = operator(&home, &cwd);
    c.args(["chaos", "--cluster", "uxdemo", "list"]);
    let (code, stdout, stderr) = run(c);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "No experiments.\n"),
        "{stderr}"
    );
    assert_eq!(tree(&home), Vec::<PathBuf>::new());
    assert_eq!(tree(&cwd), Vec::<PathBuf>::new());
}

#[test]
fn the_state_follows_xdg_state_home_and_the_only_cluster_is_found_without_flags() {
    let dir = tempfile::tempdir().unwrap();
    let xdg = dir.path().join("xdg");
    seeded_state(dir.path());
    std::fs::create_dir_all(xdg.join("operator")).unwrap();
    std::fs::rename(dir.path().join("state"), xdg.join("operator/uxdemo")).unwrap();
    let mut c = operator(dir.path(), dir.path());
    c.env("XDG_STATE_HOME", &xdg)
        .args(["tickets", "list", "-o", "name"]);
    let (code, stdout, stderr) = run(c);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "ticket/1\n");
    assert_eq!(stderr, "", "no log lines by default");
}

#[test]
fn a_missing_ticket_is_exit_2_on_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let state = seeded_state(dir.path());
    for args in [
        vec!["tickets", "show", "99"],
        vec!["tickets", "ack", "99"],
        vec!["tickets", "resolve", "99"],
        vec!["diagnose", "99"],
    ] {
        let mut c = operator(dir.path(), dir.path());
        c.args(&args).arg("--state-dir").arg(&state);
        let (code, _, stderr) = run(c);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr, "error: ticket 99 does not exist\n", "{args:?}");
    }
}

#[test]
fn every_printing_command_refuses_an_unknown_output_format_through_clap() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["validate", "-f", "x.yaml"][..],
        &["diff", "-f", "x.yaml"],
        &["status", "--pd", "http://127.0.0.1:1"],
        &["tickets", "list"],
        &["tickets", "show", "1"],
        &["events"],
        &["diagnose", "1"],
        &["chaos", "list"],
        &["version"],
    ] {
        let mut c = operator(dir.path(), dir.path());
        c.args(args).args(["-o", "csv"]);
        let (code, _, stderr) = run(c);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(
                "error: invalid value 'csv' for '--output <OUTPUT>'\n  [possible values: table, wide, json, yaml, name]\n"
            ),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn state_dir_and_api_are_accepted_alike_and_token_flags_only_where_tickets_change() {
    let dir = tempfile::tempdir().unwrap();
    let state = seeded_state(dir.path());
    let api = format!("http://{}", closed_port());
    for args in [
        &["tickets", "list"][..],
        &["tickets", "show", "1"],
        &["events"],
    ] {
        let mut c = operator(dir.path(), dir.path());
        c.args(args)
            .arg("--state-dir")
            .arg(&state)
            .args(["--api", &api]);
        let (code, _, stderr) = run(c);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
    let mut c = operator(dir.path(), dir.path());
    c.args(["tickets", "list", "--api-token-file", "t"]);
    let (code, _, stderr) = run(c);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("error: unexpected argument '--api-token-file' found"),
        "{stderr}"
    );
    let token = dir.path().join("token");
    std::fs::write(&token, "tok\n").unwrap();
    let mut c = operator(dir.path(), dir.path());
    c.args(["tickets", "ack", "1", "--api-token-file"])
        .arg(&token)
        .arg("--state-dir")
        .arg(&state);
    let (code, stdout, stderr) = run(c);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "ticket 1 acknowledged\n"),
        "{stderr}"
    );
    // `--api` is a URL with an http(s) scheme, checked by clap.
    let mut c = operator(dir.path(), dir.path());
    c.args(["events", "--api", "ftp://127.0.0.1:9464"]);
    let (code, _, stderr) = run(c);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("error: invalid value 'ftp://127.0.0.1:9464' for '--api <API>': unsupported URL scheme \"ftp\"; expected http://HOST:PORT or https://HOST:PORT\n"),
        "{stderr}"
    );
}

#[test]
fn json_output_is_camel_case_and_tickets_show_renders_the_diagnosis_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = seeded_state(dir.path());
    let cmd = |args: &[&str]| {
        let mut c = operator(dir.path(), dir.path());
        c.args(args).arg("--state-dir").arg(&state);
        run(c)
    };
    let (code, stdout, stderr) = cmd(&["tickets", "list", "-o", "json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let keys: Vec<&String> = list[0].as_object().unwrap().keys().collect();
    assert!(keys.iter().any(|k| *k == "firstSeen"), "{keys:?}");
    assert!(keys.iter().all(|k| !k.contains('_')), "{keys:?}");

    // `-o wide` is the table with every column.
    let (_, table, _) = cmd(&["tickets", "list"]);
    let (code, wide, stderr) = cmd(&["tickets", "list", "-o", "wide"]);
    assert_eq!(code, Some(0), "{stderr}");
    let header = |t: &str| t.lines().next().unwrap_or_default().to_string();
    assert!(!header(&table).contains("FIRST SEEN"), "{table}");
    for col in ["SUBJECT", "FIRST SEEN", "RESOLVED", "DIAGNOSED"] {
        assert!(header(&wide).contains(col), "{col}: {wide}");
    }

    // Diagnose with the offline rules engine, then show: one Markdown rendering.
    let (code, stdout, stderr) = cmd(&["diagnose", "1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("## Diagnosis (rules / "), "{stdout}");
    assert!(
        !stdout.contains("Tokens:") && !stdout.contains("$0.0000"),
        "the rules engine's footer carries no zero tokens or cost: {stdout}"
    );
    let (code, stdout, stderr) = cmd(&["tickets", "show", "1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.matches("## Diagnosis").count(), 1, "{stdout}");
    assert!(
        !stdout.contains("\"root_cause\"") && !stdout.contains("\"rootCause\""),
        "{stdout}"
    );
    let (code, stdout, _) = cmd(&["tickets", "show", "1", "-o", "json"]);
    assert_eq!(code, Some(0));
    let t: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(t["diagnosis"].is_object(), "{stdout}");
    assert!(t["dedupeKey"].is_string(), "{stdout}");
}

#[test]
fn pd_errors_name_the_address_and_the_cause_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let closed = closed_port();
    let mut c = operator(dir.path(), dir.path());
    c.args(["status", "--pd", &format!("http://{closed}")]);
    let (code, stdout, stderr) = run(c);
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "", "no empty table");
    assert_eq!(
        stderr,
        format!("error: PD at http://{closed}: connection refused at {closed} (nothing listens there; is PD running?)\n")
    );

    // A server that is not PD: every request gets a 404.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in server.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
            );
        }
    });
    let mut c = operator(dir.path(), dir.path());
    c.args(["status", "--pd", &format!("http://{addr}")]);
    let (code, stdout, stderr) = run(c);
    assert_eq!((code, stdout.as_str()), (Some(1), ""));
    assert_eq!(
        stderr,
        format!("error: PD at http://{addr}: the server answered, but it is not a PD server (no PD API at /pd/api/v1/members)\n")
    );

    let mut c = operator(dir.path(), dir.path());
    c.args(["status", "--pd", "ftp://127.0.0.1:2379"]);
    let (code, _, stderr) = run(c);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("error: invalid value 'ftp://127.0.0.1:2379' for '--pd <PD>': unsupported URL scheme \"ftp\"; expected http://HOST:PORT or https://HOST:PORT\n"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_docker_host_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("cluster.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let closed = closed_port();
    let mut c = operator(dir.path(), dir.path());
    c.env("DOCKER_HOST", format!("tcp://{closed}"))
        .args(["diff", "-f"])
        .arg(&spec);
    let (code, _, stderr) = run(c);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        format!("error: docker is unreachable: tcp://{closed}: connection refused at {closed} (nothing listens there; is Docker running?)\n")
    );
}

#[test]
fn log_values_are_validated_and_logs_are_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = operator(dir.path(), dir.path());
    c.args(["--log", "verbose", "version"]);
    let (code, _, stderr) = run(c);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("error: invalid value 'verbose' for '--log <LOG>': \"verbose\" is not a log level; expected a level (off, error, warn, info, debug, trace) or directives such as operator=debug,warn\n"),
        "{stderr}"
    );
    let mut c = operator(dir.path(), dir.path());
    c.args(["--log", "operator=debug,warn", "version"]);
    assert_eq!(run(c).0, Some(0));
}

#[test]
fn completion_man_and_version_follow_the_conventions() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _operator"),
        ("zsh", "#compdef operator"),
        ("fish", "complete -c operator"),
    ] {
        let mut c = operator(dir.path(), dir.path());
        c.args(["completion", shell]);
        let (code, stdout, stderr) = run(c);
        assert_eq!(code, Some(0), "{shell}: {stderr}");
        assert!(stdout.contains(marker), "{shell}");
    }
    let mut c = operator(dir.path(), dir.path());
    c.args(["man", "--out"]).arg(dir.path().join("man"));
    let (code, _, stderr) = run(c);
    assert_eq!(code, Some(0), "{stderr}");
    for page in ["operator.1", "operator-status.1", "operator-tickets-list.1"] {
        let text = std::fs::read_to_string(dir.path().join("man").join(page)).unwrap();
        assert!(text.starts_with(".ie \\n(.g .ds Aq"), "{page}");
    }
    let mut c = operator(dir.path(), dir.path());
    c.arg("version");
    let (code, stdout, _) = run(c);
    assert_eq!(code, Some(0));
    assert!(
        stdout.starts_with(&format!("operator {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    // `--version` says the same as `operator version`, as kubectl and tiup do.
    let mut c = operator(dir.path(), dir.path());
    c.arg("--version");
    let (code, flag, _) = run(c);
    assert_eq!(code, Some(0));
    assert_eq!(flag, stdout);
}

#[test]
fn down_with_volumes_asks_for_confirmation_and_never_reaches_docker_unconfirmed() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("cluster.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let sock = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let mut c = operator(dir.path(), dir.path());
    c.env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .args(["down", "--volumes", "-f"])
        .arg(&spec);
    let (code, _, stderr) = run(c);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "error: down --volumes deletes every data volume of cluster \"uxdemo\"; pass --yes to confirm (standard input is not a terminal to ask on)\n"
    );
    assert!(listener.accept().is_err(), "nothing may reach Docker");
}

#[test]
fn status_shows_where_the_cluster_state_lives() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("uxstate{}", std::process::id());
    let spec = dir.path().join("cluster.yaml");
    std::fs::write(&spec, SPEC.replace("uxdemo", &name)).unwrap();
    let mut c = operator(dir.path(), dir.path());
    c.args(["status", "-o", "json", "-f"]).arg(&spec);
    let (code, stdout, stderr) = run(c);
    if stderr.contains("docker is unreachable") {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "Docker is required under CI: {stderr}"
        );
        eprintln!("SKIP: Docker is unreachable: {stderr}");
        return;
    }
    assert_eq!(code, Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let want = dir.path().join(".local/state/operator").join(&name);
    assert_eq!(doc["stateDir"], want.display().to_string(), "{stdout}");
    assert_eq!(doc["stateExists"], false);
    assert!(!want.exists(), "status is read-only");
}

#[test]
fn status_api_shows_what_a_running_operator_reports_and_names_an_address_that_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let closed = closed_port();
    let mut c = operator(dir.path(), dir.path());
    c.args(["status", "--api", &format!("http://{closed}")]);
    let (code, stdout, stderr) = run(c);
    assert_eq!((code, stdout.as_str()), (Some(1), ""));
    assert_eq!(
        stderr,
        format!("error: the operator's API at http://{closed}: connection refused at {closed} (nothing listens there; is the operator's API running?)\n")
    );

    // The document the operator's server writes for /api/v1/status.
    let status = operator::reconcile::PassStatus {
        finished_at: Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000)),
        ok: true,
        waits: vec!["PD to elect a leader".into()],
        ..Default::default()
    };
    let body = serde_json::to_string(&status).unwrap();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in server.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let asked = String::from_utf8_lossy(&buf[..n]).starts_with("GET /api/v1/status ");
            let (head, b) = if asked {
                ("200 OK", body.as_str())
            } else {
                ("404 Not Found", "not found")
            };
            let _ = s.write_all(
                format!("HTTP/1.1 {head}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}", b.len()).as_bytes(),
            );
        }
    });
    let mut c = operator(dir.path(), dir.path());
    c.args(["status", "--api", &format!("http://{addr}")]);
    let (code, stdout, stderr) = run(c);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        format!("Operator at http://{addr}: converging\nLast pass: 2027-01-15T08:00:00Z (ok)\nLast success: never\nWaiting for:\n  - PD to elect a leader\n")
    );
    let mut c = operator(dir.path(), dir.path());
    c.args(["status", "--api", &format!("http://{addr}"), "-o", "json"]);
    let (code, stdout, _) = run(c);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["waits"][0], "PD to elect a leader");
    assert!(v.get("lastSuccess").is_some(), "camelCase keys: {stdout}");

    // --api is the controller's view; -f and --pd are the cluster's: one at a time.
    let mut c = operator(dir.path(), dir.path());
    c.args([
        "status",
        "--api",
        &format!("http://{addr}"),
        "--pd",
        "http://127.0.0.1:2379",
    ]);
    let (code, _, stderr) = run(c);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}
