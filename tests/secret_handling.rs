//! The API key goes to the model endpoint and nowhere else: not to the logs (at trace
//! level), not to the exported OTLP spans, not to the sled ticket store, not to the
//! decision log, not to the terminal.
//!
//! The real binary runs `operator diagnose N` twice against the Messages API stand-in,
//! once with the key in `ANTHROPIC_API_KEY` and once from `ANTHROPIC_API_KEY_FILE`, with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an in-process OTLP/HTTP receiver. The key is
//! unique to the run, so finding its bytes anywhere is a leak. The test also proves the
//! search is not vacuous: the stand-in received the key in `x-api-key` both times, the
//! diagnosis was Claude's (not the offline fallback), and spans did arrive.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use parking_lot::Mutex;

use operator::diagnose::backend::rules::RulesConfig;
use operator::diagnose::standin::{Standin, StandinConfig};
use operator::diagnose::store_queue::brief_of;
use operator::subject::tikv::hypotheses::diagnose_evidence;
use operator::tickets::{Evidence, Severity, TicketStore, Violation};

type Received = Arc<Mutex<Vec<Vec<u8>>>>;

async fn otlp_receiver() -> (String, Received) {
    let bodies: Received = Arc::default();
    let sink = bodies.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().push(body.to_vec());
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), bodies)
}

/// A ticket store with one open ticket (a store that went down); returns the ticket's
/// brief as the diagnosis engine will see it.
fn seed_ticket(state: &Path) -> operator::diagnose::TicketBrief {
    let store = TicketStore::open(state.join("tickets")).unwrap();
    store
        .observe(
            &[Violation {
                subject: "demo".into(),
                invariant: "store-down".into(),
                target: "tikv-1".into(),
                severity: Severity::Critical,
                summary: "tikv-1 is down".into(),
                evidence: Evidence::at(SystemTime::now()),
                grace: Duration::ZERO,
            }],
            &[],
            SystemTime::now(),
        )
        .unwrap();
    store.flush().unwrap();
    let ticket = store.get(1).unwrap().expect("ticket 1");
    brief_of(&ticket)
}

/// Every file under `dir`, recursively, as (path, bytes).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_reaches_the_model_endpoint_and_no_log_span_store_or_decision_log() {
    let unique: String = (0..32)
        .map(|_| format!("{:x}", rand::random::<u8>() % 16))
        .collect();
    let key = format!("sk-ant-api03-{unique}");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let brief = seed_ticket(&state);
    let output = serde_json::to_value(diagnose_evidence(&brief, &RulesConfig::default())).unwrap();
    let standin = Standin::start(StandinConfig {
        api_key: key.clone(),
        output,
        ..Default::default()
    })
    .await
    .unwrap();
    let (otlp, spans) = otlp_receiver().await;
    let key_file = dir.path().join("anthropic.key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();

    let mut terminal = Vec::new();
    for via_file in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
        cmd.args(["--log", "trace", "diagnose", "1", "--state-dir"])
            .arg(&state)
            .env("ANTHROPIC_BASE_URL", standin.base_url())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env_remove("OPERATOR_LOG")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("ANTHROPIC_API_KEY_FILE");
        if via_file {
            cmd.env("ANTHROPIC_API_KEY_FILE", &key_file);
        } else {
            cmd.env("ANTHROPIC_API_KEY", &key);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "diagnose (key from file: {via_file}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        terminal.push((format!("stdout (file: {via_file})"), out.stdout));
        terminal.push((format!("stderr (file: {via_file})"), out.stderr));
    }

    // The key did go where it belongs, both times.
    let requests = standin.requests();
    let messages: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/v1/messages")
        .collect();
    assert_eq!(messages.len(), 2, "one Messages call per run");
    for r in &messages {
        assert_eq!(r.header("x-api-key"), Some(key.as_str()));
        assert!(!r.body.contains(&key), "the key is in the request body");
    }
    let decisions = std::fs::read_to_string(state.join("decisions.jsonl")).unwrap();
    assert_eq!(decisions.lines().count(), 2, "{decisions}");
    assert!(
        decisions.lines().all(|l| l.contains("\"claude\"")),
        "the diagnoses were Claude's, not the fallback's: {decisions}"
    );
    // Spans were exported (the batch processor flushes on shutdown).
    let spans = spans.lock().clone();
    assert!(
        spans.iter().any(|b| contains(b, b"diagnose")),
        "no diagnose span was exported ({} bodies)",
        spans.len()
    );
    // The logs were verbose enough to matter.
    assert!(
        terminal
            .iter()
            .any(|(_, b)| contains(b, b"TRACE") || contains(b, b"DEBUG")),
        "trace logging was not on"
    );

    let mut searched: Vec<(String, Vec<u8>)> = files(&state);
    assert!(
        searched.iter().any(|(p, _)| p.contains("tickets")),
        "the sled store is searched"
    );
    searched.extend(terminal);
    searched.extend(
        spans
            .into_iter()
            .enumerate()
            .map(|(i, b)| (format!("OTLP body {i}"), b)),
    );
    for (what, bytes) in &searched {
        assert!(
            !contains(bytes, key.as_bytes()),
            "the API key leaked into {what}"
        );
        assert!(
            !contains(bytes, unique.as_bytes()),
            "part of the API key leaked into {what}"
        );
    }
}
