//! Hostile API responses: every client the operator has (PD, Prometheus, Claude,
//! OpenAI-compatible) against a local server that answers with huge bodies (with and
//! without a `Content-Length`), the right JSON shape with the wrong types, and bodies
//! trickled a byte at a time forever. Each call must end with a typed error, never a
//! panic, never an unbounded buffer, never a hang.
//!
//! The limits and timeouts are set small in the clients' configuration so the tests are
//! cheap; one test per model client also proves the *default* limit is in force.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Router;

use operator::diagnose::backend::claude::{ApiKey, ClaudeBackend, ClaudeConfig, OutputStrategy};
use operator::diagnose::backend::openai::{OpenAiBackend, OpenAiConfig};
use operator::diagnose::backend::MAX_RESPONSE_BYTES;
use operator::diagnose::backend::{BackendError, DiagnosisBackend, RetryPolicy};
use operator::diagnose::context::{build_prompt, PreparedPrompt};
use operator::diagnose::scenarios;
use operator::diagnose::DiagnosisRequest;
use operator::http::{HttpConfig, HttpError, MIB};
use operator::subject::tikv::pd::{PdClient, PdError};
use operator::subject::tikv::prom::{PromClient, PromError};

/// The limit the tests configure.
const LIMIT: usize = MIB;

/// What the hostile server answers to every request, whatever the path.
#[derive(Clone)]
enum Hostile {
    /// `len` bytes of JSON-ish filler; `declared` sets `Content-Length`, otherwise the
    /// body is streamed in 64 KiB chunks with no length.
    Huge { len: usize, declared: bool },
    /// 200 with this JSON body.
    Json(&'static str),
    /// 200, then one byte every 100 ms, forever.
    Trickle,
}

struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn respond(mode: &Hostile) -> Response {
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json");
    match mode.clone() {
        Hostile::Json(body) => builder.body(Body::from(body)).unwrap(),
        Hostile::Huge {
            len,
            declared: true,
        } => builder
            .header(header::CONTENT_LENGTH, len)
            .body(Body::from(vec![b' '; len]))
            .unwrap(),
        Hostile::Huge {
            len,
            declared: false,
        } => {
            const CHUNK: usize = 64 * 1024;
            let chunks = (0..len.div_ceil(CHUNK)).map(move |i| {
                let n = CHUNK.min(len - i * CHUNK);
                Ok::<_, Infallible>(Bytes::from(vec![b' '; n]))
            });
            builder
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .unwrap()
        }
        Hostile::Trickle => {
            let drip = futures::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((Ok::<_, Infallible>(Bytes::from_static(b" ")), ()))
            });
            builder.body(Body::from_stream(drip)).unwrap()
        }
    }
}

async fn hostile(mode: Hostile) -> Server {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().fallback(move || {
        let mode = mode.clone();
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            respond(&mode)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server { addr, hits }
}

/// Generous: a hung call fails the test here rather than hanging the suite.
async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: the call did not end"))
}

fn http_config() -> HttpConfig {
    HttpConfig {
        per_attempt_timeout: Duration::from_secs(1),
        overall_deadline: Duration::from_secs(10),
        max_retries: 1,
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
        max_body_bytes: LIMIT,
        ..HttpConfig::default()
    }
}

fn huge_modes() -> [Hostile; 2] {
    [
        Hostile::Huge {
            len: LIMIT + 1,
            declared: true,
        },
        Hostile::Huge {
            len: 4 * LIMIT,
            declared: false,
        },
    ]
}

fn pd(server: &Server) -> PdClient {
    PdClient::new(&[server.url()], http_config()).unwrap()
}

fn is_timeout(e: &HttpError) -> bool {
    matches!(
        e,
        HttpError::Timeout { .. } | HttpError::DeadlineExceeded { .. }
    )
}

fn pd_http_error(e: &PdError) -> Option<&HttpError> {
    match e {
        PdError::Http(h) => Some(h),
        PdError::Unreachable { attempts } => attempts.last().map(|(_, h)| h),
        _ => None,
    }
}

#[tokio::test]
async fn the_pd_client_refuses_a_body_over_its_limit_with_or_without_a_length() {
    for mode in huge_modes() {
        let s = hostile(mode).await;
        let err = bounded("pd huge", pd(&s).stores(false)).await.unwrap_err();
        assert!(
            matches!(pd_http_error(&err), Some(HttpError::BodyTooLarge { limit, .. }) if *limit == LIMIT),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn the_pd_client_reports_wrong_json_types_as_a_decode_error() {
    for body in [
        r#"{"count":"three","stores":{"store":1}}"#,
        r#"{"count":1,"stores":[{"store":{"id":"four","address":7}}]}"#,
        r#"[1,2,3]"#,
        r#"{"count":1,"stores":[{"store":{"id":18446744073709551616}}]}"#,
        "not json at all",
    ] {
        let s = hostile(Hostile::Json(body)).await;
        let err = bounded("pd wrong types", pd(&s).stores(false))
            .await
            .unwrap_err();
        assert!(
            matches!(pd_http_error(&err), Some(HttpError::Decode { .. })),
            "{body}: {err:?}"
        );
    }
    let s = hostile(Hostile::Json(r#"{"header":{},"members":"all of them"}"#)).await;
    let err = bounded("pd members", pd(&s).members()).await.unwrap_err();
    assert!(
        matches!(pd_http_error(&err), Some(HttpError::Decode { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_pd_client_gives_up_on_a_trickled_body() {
    let s = hostile(Hostile::Trickle).await;
    let err = bounded("pd trickle", pd(&s).stores(false))
        .await
        .unwrap_err();
    assert!(pd_http_error(&err).is_some_and(is_timeout), "{err:?}");
}

fn prom(server: &Server) -> PromClient {
    PromClient::new(&server.url(), http_config()).unwrap()
}

#[tokio::test]
async fn the_prometheus_client_refuses_a_body_over_its_limit_with_or_without_a_length() {
    for mode in huge_modes() {
        let s = hostile(mode).await;
        let err = bounded("prom huge", prom(&s).query("up", None))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PromError::Http(HttpError::BodyTooLarge { limit, .. }) if *limit == LIMIT),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn the_prometheus_client_reports_wrong_json_types_as_a_format_error() {
    for body in [
        r#"{"status":"success","data":{"resultType":"vector","result":"nope"}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"2"]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":["x",2]}]}}"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":7}]}}"#,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1]}}"#,
        r#"{"status":"success","data":{"resultType":"hologram","result":[]}}"#,
        r#"{"status":7}"#,
        r#"{"status":"success"}"#,
    ] {
        let s = hostile(Hostile::Json(body)).await;
        let err = bounded("prom wrong types", prom(&s).query("up", None))
            .await
            .unwrap_err();
        assert!(matches!(err, PromError::Format(_)), "{body}: {err:?}");
    }
}

#[tokio::test]
async fn the_prometheus_client_gives_up_on_a_trickled_body() {
    let s = hostile(Hostile::Trickle).await;
    let err = bounded("prom trickle", prom(&s).query("up", None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PromError::Http(h) if is_timeout(h)),
        "{err:?}"
    );
}

fn prompt() -> PreparedPrompt {
    build_prompt(
        &DiagnosisRequest {
            ticket: scenarios::node_death(),
            sections: vec![],
        },
        12_000,
    )
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        ..Default::default()
    }
}

fn claude(server: &Server, max_body_bytes: usize) -> ClaudeBackend {
    let cfg = ClaudeConfig {
        base_url: server.url(),
        strategy: OutputStrategy::JsonOutputs,
        retry: fast_retry(),
        timeout: Duration::from_secs(1),
        max_body_bytes,
        ..Default::default()
    };
    ClaudeBackend::new(cfg, ApiKey::new("sk-ant-api03-hostile-test-key")).unwrap()
}

fn openai(server: &Server, max_body_bytes: usize) -> OpenAiBackend {
    OpenAiBackend::new(OpenAiConfig {
        base_url: server.url(),
        retry: fast_retry(),
        timeout: Duration::from_secs(1),
        max_body_bytes,
        ..Default::default()
    })
    .unwrap()
}

/// Both model clients, built against `server` with `limit`.
fn model_clients(server: &Server, limit: usize) -> Vec<(&'static str, Box<dyn DiagnosisBackend>)> {
    vec![
        ("claude", Box::new(claude(server, limit))),
        ("openai", Box::new(openai(server, limit))),
    ]
}

#[tokio::test]
async fn the_model_clients_refuse_a_body_over_their_limit_once_without_retrying() {
    for mode in huge_modes() {
        let s = hostile(mode).await;
        for (name, client) in model_clients(&s, LIMIT) {
            let before = s.hits();
            let err = bounded(name, client.diagnose(&prompt())).await.unwrap_err();
            assert_eq!(
                err,
                BackendError::ResponseTooLarge { limit: LIMIT },
                "{name}"
            );
            assert_eq!(
                s.hits() - before,
                1,
                "{name}: a too-large answer is not retried"
            );
        }
    }
}

#[tokio::test]
async fn the_model_clients_default_limit_is_8_mib() {
    assert_eq!(MAX_RESPONSE_BYTES, 8 * MIB);
    assert_eq!(ClaudeConfig::default().max_body_bytes, MAX_RESPONSE_BYTES);
    assert_eq!(OpenAiConfig::default().max_body_bytes, MAX_RESPONSE_BYTES);
    let s = hostile(Hostile::Huge {
        len: MAX_RESPONSE_BYTES + 1,
        declared: false,
    })
    .await;
    for (name, client) in model_clients(&s, MAX_RESPONSE_BYTES) {
        let err = bounded(name, client.diagnose(&prompt())).await.unwrap_err();
        assert_eq!(
            err,
            BackendError::ResponseTooLarge {
                limit: MAX_RESPONSE_BYTES
            },
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_model_clients_report_wrong_json_types_as_malformed() {
    let claude_bodies = [
        r#"{"content":"nope","stop_reason":"end_turn"}"#,
        r#"{"content":[{"type":"text","text":5}],"stop_reason":"end_turn"}"#,
        r#"{"content":[{"type":"tool_use","input":"x"}],"stop_reason":7}"#,
        r#"{"content":[],"stop_reason":"end_turn","usage":{"input_tokens":"many"}}"#,
        r#"[]"#,
        "<html>not json</html>",
    ];
    for body in claude_bodies {
        let s = hostile(Hostile::Json(body)).await;
        let err = bounded("claude", claude(&s, LIMIT).diagnose(&prompt()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, BackendError::MalformedResponse(_)),
            "claude {body}: {err:?}"
        );
    }
    let openai_bodies = [
        r#"{"choices":"nope"}"#,
        r#"{"choices":[{"message":{"content":5},"finish_reason":"stop"}]}"#,
        r#"{"choices":[{"message":"hi","finish_reason":"stop"}]}"#,
        r#"{"choices":[]}"#,
        r#"7"#,
        "<html>not json</html>",
    ];
    for body in openai_bodies {
        let s = hostile(Hostile::Json(body)).await;
        let err = bounded("openai", openai(&s, LIMIT).diagnose(&prompt()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, BackendError::MalformedResponse(_)),
            "openai {body}: {err:?}"
        );
    }
}

#[tokio::test]
async fn the_model_clients_give_up_on_a_trickled_body_after_their_retries() {
    let s = hostile(Hostile::Trickle).await;
    for (name, client) in model_clients(&s, LIMIT) {
        let before = s.hits();
        let err = bounded(name, client.diagnose(&prompt())).await.unwrap_err();
        // A body that never completes is the client's timeout, told apart from a refused
        // connection.
        assert!(matches!(err, BackendError::Timeout(_)), "{name}: {err:?}");
        // The SDK policy: two retries after the first attempt, then the error.
        assert_eq!(s.hits() - before, 3, "{name}");
    }
}
