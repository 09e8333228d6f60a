//! Spans of a reconcile pass reach an OTLP/HTTP receiver when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` variable is set. The receiver is in-process: an axum
//! server accepting `POST /v1/traces` (protobuf), as Jaeger and the OpenTelemetry
//! Collector do. Span names are plain UTF-8 strings inside the protobuf, so finding
//! them in the body proves the spans were exported.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use parking_lot::Mutex;

use operator::reconcile::{Controller, Metrics};
use operator::runtime::fake::FakeRuntime;
use operator::spec::{parse_str, ValidationContext};
use operator::subjects::tikv::model::PdView;
use operator::subjects::tikv::subject::{PdApi, TikvSubject};

/// Received `(content-type, body)` pairs.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

struct DownPd;

#[async_trait::async_trait]
impl PdApi for DownPd {
    async fn observe(&self) -> Result<PdView, String> {
        Err("connection refused".into())
    }
    async fn delete_store(&self, _: u64) -> Result<(), String> {
        Err("down".into())
    }
    async fn set_store_up(&self, _: u64) -> Result<(), String> {
        Err("down".into())
    }
    async fn add_evict_leader(&self, _: u64) -> Result<(), String> {
        Err("down".into())
    }
    async fn remove_evict_leader(&self, _: u64) -> Result<(), String> {
        Err("down".into())
    }
    async fn delete_member(&self, _: &str) -> Result<(), String> {
        Err("down".into())
    }
    async fn transfer_leader(&self, _: &str) -> Result<(), String> {
        Err("down".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_spans_are_exported_over_otlp_http() {
    let bodies: Received = Arc::default();
    let sink = bodies.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let ct = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                sink.lock().push((ct, body.to_vec()));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"));
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
    let guard =
        tokio::task::spawn_blocking(|| operator::telemetry::init("info", "operator-test").unwrap())
            .await
            .unwrap();
    assert!(guard.exporting());

    let text = "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: otlp\nspec:\n  pd:\n    replicas: 1\n";
    let spec = parse_str(text, "t.yaml", ValidationContext::default())
        .unwrap()
        .0;
    let fake = Arc::new(FakeRuntime::new());
    let subject = Arc::new(TikvSubject::new(
        spec,
        None,
        fake,
        Arc::new(|_| Arc::new(DownPd) as Arc<dyn PdApi>),
    ));
    let controller = Controller::new(subject, Metrics::new());
    controller.reconcile_once(&|_| {}).await.unwrap();

    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = bodies.lock().clone();
        let all: Vec<u8> = got.iter().flat_map(|(_, b)| b.clone()).collect();
        let has = |needle: &str| all.windows(needle.len()).any(|w| w == needle.as_bytes());
        if has("reconcile") && has("observe") && has("step create-network") {
            assert!(
                got.iter().all(|(ct, _)| ct == "application/x-protobuf"),
                "{:?}",
                got.iter().map(|g| &g.0).collect::<Vec<_>>()
            );
            assert!(has("operator-test"), "service.name is exported");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "spans not received: {} bodies",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
