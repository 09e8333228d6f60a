//! The shared HTTP stack: retry classification, backoff, timeouts, body limits.
//!
//! Stack behaviour is driven through a `tower_test` mock under paused Tokio time, so
//! delays are exact and the tests take no wall-clock time; the body limit and the real
//! transport errors are exercised against a local axum server on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use operator::http::{
    DefaultRetryLogic, ErrorKind, HttpClient, HttpConfig, HttpError, HttpResponse, RetryAction,
    RetryLogic,
};
use tokio::time::Instant;
use tower::BoxError;

type Handle = tower_test::mock::Handle<reqwest::Request, HttpResponse>;

fn config() -> HttpConfig {
    HttpConfig {
        backoff_jitter: 0.0,
        ..HttpConfig::default()
    }
}

fn mock_client(config: HttpConfig) -> (HttpClient, Handle) {
    let (mock, handle) = tower_test::mock::pair::<reqwest::Request, HttpResponse>();
    let client = HttpClient::with_service(mock, config, DefaultRetryLogic).expect("valid config");
    (client, handle)
}

fn request(method: Method) -> reqwest::Request {
    reqwest::Request::new(method, "http://pd0:2379/pd/api/v1/stores".parse().unwrap())
}

fn response(status: u16) -> HttpResponse {
    HttpResponse::new(
        StatusCode::from_u16(status).unwrap(),
        HeaderMap::new(),
        "body",
        "http://pd0:2379/pd/api/v1/stores",
    )
}

fn spawn_call(
    client: &HttpClient,
    method: Method,
) -> tokio::task::JoinHandle<Result<HttpResponse, HttpError>> {
    let client = client.clone();
    tokio::spawn(async move { client.execute(request(method)).await })
}

/// Answers every request with `status` and records when each arrived.
async fn answer_all(handle: &mut Handle, status: u16, times: &mut Vec<Instant>) {
    while let Some((_req, send)) = handle.next_request().await {
        times.push(Instant::now());
        send.send_response(response(status));
    }
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

#[tokio::test(start_paused = true)]
async fn a_get_answered_503_twice_then_200_succeeds_after_two_retries() {
    let (client, mut handle) = mock_client(config());
    let call = spawn_call(&client, Method::GET);
    let start = Instant::now();
    for _ in 0..2 {
        let (_req, send) = handle.next_request().await.unwrap();
        send.send_response(response(503));
    }
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.url().path(), "/pd/api/v1/stores");
    send.send_response(response(200));
    let answer = call.await.unwrap().expect("third attempt succeeds");
    assert_eq!(answer.status, StatusCode::OK);
    // Two backoffs: 100 ms then 200 ms.
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn a_post_answered_500_is_not_retried() {
    let (client, mut handle) = mock_client(config());
    let call = spawn_call(&client, Method::POST);
    let (_req, send) = handle.next_request().await.unwrap();
    send.send_response(response(500));
    let answer = call
        .await
        .unwrap()
        .expect("the 500 is returned as a response");
    assert_eq!(answer.status.as_u16(), 500);
    drop(client);
    // No second attempt arrives: the mock's channel closes when the client is gone.
    assert!(
        tokio::time::timeout(Duration::from_secs(60), handle.next_request())
            .await
            .map(|r| r.is_none())
            .unwrap_or(true),
        "POST was retried"
    );
}

#[tokio::test(start_paused = true)]
async fn a_404_is_not_retried_and_error_for_status_reports_it() {
    let (client, mut handle) = mock_client(config());
    let call = spawn_call(&client, Method::GET);
    let (_req, send) = handle.next_request().await.unwrap();
    send.send_response(response(404));
    let answer = call.await.unwrap().unwrap();
    let error = answer.error_for_status().unwrap_err();
    assert_eq!(error.status(), Some(404));
    drop(client);
    let next = tokio::time::timeout(Duration::from_secs(60), handle.next_request()).await;
    assert!(matches!(next, Ok(None) | Err(_)), "404 was retried");
}

#[tokio::test(start_paused = true)]
async fn the_per_attempt_timeout_fires_and_the_get_is_retried() {
    let (client, mut handle) = mock_client(HttpConfig {
        max_retries: 1,
        ..config()
    });
    let call = spawn_call(&client, Method::GET);
    let start = Instant::now();
    let (_req, silent) = handle.next_request().await.unwrap();
    let (_req, send) = handle.next_request().await.unwrap();
    // 5 s timeout, then the first backoff of 100 ms.
    assert_eq!(start.elapsed(), Duration::from_millis(5100));
    send.send_response(response(200));
    assert_eq!(call.await.unwrap().unwrap().status, StatusCode::OK);
    drop(silent);
}

#[tokio::test(start_paused = true)]
async fn a_get_that_always_times_out_ends_with_a_timeout_error() {
    let (client, mut handle) = mock_client(HttpConfig {
        max_retries: 2,
        ..config()
    });
    let call = spawn_call(&client, Method::GET);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(handle.next_request().await.unwrap());
    }
    let error = call.await.unwrap().unwrap_err();
    assert!(
        matches!(error, HttpError::Timeout { after, .. } if after == Duration::from_secs(5)),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_overall_deadline_bounds_all_attempts_together() {
    let (client, mut handle) = mock_client(HttpConfig {
        max_retries: 10,
        overall_deadline: Duration::from_secs(12),
        ..config()
    });
    let call = spawn_call(&client, Method::GET);
    let keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(r) = handle.next_request().await {
            held.push(r);
        }
    });
    let start = Instant::now();
    let error = call.await.unwrap().unwrap_err();
    assert!(
        matches!(error, HttpError::DeadlineExceeded { .. }),
        "{error:?}"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(12));
    keep.abort();
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_from_the_minimum_and_is_capped_at_the_maximum() {
    let (client, mut handle) = mock_client(HttpConfig {
        max_retries: 6,
        overall_deadline: Duration::from_secs(60),
        ..config()
    });
    let call = spawn_call(&client, Method::GET);
    let mut times = Vec::new();
    let server = async {
        answer_all(&mut handle, 503, &mut times).await;
    };
    let (result, _) = tokio::join!(
        async {
            let r = call.await.unwrap();
            drop(client);
            r
        },
        server
    );
    assert_eq!(result.unwrap().status.as_u16(), 503, "last 503 is returned");
    let gaps: Vec<u128> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    assert_eq!(gaps, vec![100, 200, 400, 800, 1600, 2000]);
}

#[tokio::test(start_paused = true)]
async fn jittered_backoff_stays_between_the_base_and_the_cap() {
    let (client, mut handle) = mock_client(HttpConfig {
        max_retries: 6,
        backoff_jitter: 1.0,
        overall_deadline: Duration::from_secs(60),
        ..HttpConfig::default()
    });
    let call = spawn_call(&client, Method::GET);
    let mut times = Vec::new();
    let (_, _) = tokio::join!(
        async {
            let r = call.await.unwrap();
            drop(client);
            r
        },
        answer_all(&mut handle, 503, &mut times)
    );
    let gaps: Vec<u128> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    let bases = [100u128, 200, 400, 800, 1600, 2000];
    assert_eq!(gaps.len(), bases.len());
    for (gap, base) in gaps.iter().zip(bases) {
        assert!(
            *gap >= base && *gap <= (2 * base).min(2000),
            "gap {gap} base {base}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_lengthens_the_delay_but_is_capped() {
    let (client, mut handle) = mock_client(HttpConfig {
        max_retries: 2,
        ..config()
    });
    let call = spawn_call(&client, Method::GET);
    let mut headers = HeaderMap::new();
    headers.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
    let (_r, send) = handle.next_request().await.unwrap();
    let t0 = Instant::now();
    send.send_response(HttpResponse::new(
        StatusCode::SERVICE_UNAVAILABLE,
        headers,
        "",
        "http://x/",
    ));
    let (_r, send) = handle.next_request().await.unwrap();
    assert_eq!(t0.elapsed(), Duration::from_secs(3));
    let mut headers = HeaderMap::new();
    headers.insert(http::header::RETRY_AFTER, "3600".parse().unwrap());
    let t1 = Instant::now();
    send.send_response(HttpResponse::new(
        StatusCode::TOO_MANY_REQUESTS,
        headers.clone(),
        "",
        "http://x/",
    ));
    // 429 is a client error: the default logic does not retry it at all.
    assert_eq!(call.await.unwrap().unwrap().status.as_u16(), 429);
    assert_eq!(t1.elapsed(), Duration::ZERO);

    // A logic that retries 429 sees the 3600 s Retry-After capped at 10 s.
    #[derive(Clone)]
    struct Retry429;
    impl RetryLogic for Retry429 {
        fn classify_response(&self, _: &Method, r: &HttpResponse) -> RetryAction {
            if r.status.as_u16() == 429 {
                RetryAction::Retry("rate limited".into())
            } else {
                RetryAction::Successful
            }
        }
        fn classify_error(&self, _: &Method, _: &BoxError) -> RetryAction {
            RetryAction::DontRetry("test".into())
        }
    }
    let (mock, mut handle) = tower_test::mock::pair::<reqwest::Request, HttpResponse>();
    let client = HttpClient::with_service(mock, config(), Retry429).unwrap();
    let call = spawn_call(&client, Method::POST);
    let (_r, send) = handle.next_request().await.unwrap();
    let t2 = Instant::now();
    send.send_response(HttpResponse::new(
        StatusCode::TOO_MANY_REQUESTS,
        headers,
        "",
        "http://x/",
    ));
    let (_r, send) = handle.next_request().await.unwrap();
    assert_eq!(t2.elapsed(), Duration::from_secs(10));
    send.send_response(response(200));
    assert_eq!(call.await.unwrap().unwrap().status.as_u16(), 200);
}

/// A real connect error, produced by dialling a port nobody listens on.
async fn real_connect_error() -> reqwest::Error {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    reqwest::Client::new()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .expect_err("nobody listens")
}

#[tokio::test]
async fn a_connect_error_is_retried_even_for_a_post() {
    let error = real_connect_error().await;
    assert!(error.is_connect());
    let boxed: BoxError = Box::new(error);
    assert_eq!(ErrorKind::of(&boxed), ErrorKind::Connect);
    assert!(matches!(
        DefaultRetryLogic.classify_error(&Method::POST, &boxed),
        RetryAction::Retry(_)
    ));
    let elapsed: BoxError = Box::new(tower::timeout::error::Elapsed::new());
    assert!(matches!(
        DefaultRetryLogic.classify_error(&Method::POST, &elapsed),
        RetryAction::DontRetry(_)
    ));
    assert!(matches!(
        DefaultRetryLogic.classify_error(&Method::DELETE, &elapsed),
        RetryAction::Retry(_)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_post_that_never_connected_is_sent_again() {
    let (client, mut handle) = mock_client(config());
    let mut errors = Vec::new();
    // Produce the errors before pausing matters: real sockets need real time.
    tokio::time::resume();
    for _ in 0..2 {
        errors.push(real_connect_error().await);
    }
    tokio::time::pause();
    let call = spawn_call(&client, Method::POST);
    for e in errors {
        let (_r, send) = handle.next_request().await.unwrap();
        send.send_error(e);
    }
    let (_r, send) = handle.next_request().await.unwrap();
    send.send_response(response(200));
    assert_eq!(call.await.unwrap().unwrap().status.as_u16(), 200);
}

#[tokio::test]
async fn every_attempt_against_a_dead_port_is_a_typed_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = HttpClient::new(
        HttpConfig {
            backoff_min: Duration::from_millis(1),
            backoff_max: Duration::from_millis(5),
            ..HttpConfig::default()
        },
        DefaultRetryLogic,
    )
    .unwrap();
    let error = client
        .get_json::<serde_json::Value>(format!("http://{addr}/x").parse().unwrap())
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_rejected_with_or_without_content_length() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let router = axum::Router::new()
        .route("/big", axum::routing::get(|| async { "x".repeat(4096) }))
        .route("/small", axum::routing::get(|| async { "x".repeat(1000) }))
        .route(
            "/stream",
            axum::routing::get(move || {
                h.fetch_add(1, Ordering::SeqCst);
                async {
                    let chunks = futures::stream::iter(
                        (0..8)
                            .map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'y'; 512]))),
                    );
                    axum::body::Body::from_stream(chunks)
                }
            }),
        );
    let addr = serve(router).await;
    let client = HttpClient::new(
        HttpConfig {
            max_body_bytes: 1024,
            ..HttpConfig::default()
        },
        DefaultRetryLogic,
    )
    .unwrap();
    let get = |path: &str| {
        let client = client.clone();
        let url: reqwest::Url = format!("http://{addr}{path}").parse().unwrap();
        async move { client.send(client.request(Method::GET, url)).await }
    };
    let small = get("/small").await.unwrap();
    assert_eq!(small.body.len(), 1000);
    let big = get("/big").await.unwrap_err();
    assert!(
        matches!(big, HttpError::BodyTooLarge { limit: 1024, .. }),
        "{big:?}"
    );
    let streamed = get("/stream").await.unwrap_err();
    assert!(
        matches!(streamed, HttpError::BodyTooLarge { limit: 1024, .. }),
        "{streamed:?}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "body-too-large is not retried"
    );
}

#[tokio::test]
async fn a_real_server_503_then_200_is_retried_over_the_wire() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let router = axum::Router::new().route(
        "/flaky",
        axum::routing::get(move || {
            let n = h.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    (StatusCode::SERVICE_UNAVAILABLE, "electing")
                } else {
                    (StatusCode::OK, "ok")
                }
            }
        }),
    );
    let addr = serve(router).await;
    let client = HttpClient::new(
        HttpConfig {
            backoff_min: Duration::from_millis(5),
            backoff_max: Duration::from_millis(20),
            ..HttpConfig::default()
        },
        DefaultRetryLogic,
    )
    .unwrap();
    let url: reqwest::Url = format!("http://{addr}/flaky").parse().unwrap();
    let answer = client.send(client.request(Method::GET, url)).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.text_lossy(), "ok");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

mod spans {
    //! Captures span fields to check what the tracing layer records.
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::Subscriber;
    use tracing_subscriber::layer::Context;
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::Layer;

    /// Open spans by id, and spans already closed (ids are reused after close).
    #[derive(Default, Debug)]
    pub struct Store {
        pub open: std::collections::HashMap<u64, (&'static str, BTreeMap<String, String>)>,
        pub closed: Vec<(&'static str, BTreeMap<String, String>)>,
    }

    impl Store {
        pub fn all(&self) -> Vec<(&'static str, BTreeMap<String, String>)> {
            self.closed
                .iter()
                .chain(self.open.values())
                .cloned()
                .collect()
        }
    }

    pub type Spans = Arc<Mutex<Store>>;

    pub struct Capture(pub Spans);

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
        fn record_u64(&mut self, field: &Field, value: u64) {
            self.0.insert(field.name().to_owned(), value.to_string());
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
    }

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
            let mut fields = BTreeMap::new();
            attrs.record(&mut Fields(&mut fields));
            self.0
                .lock()
                .unwrap()
                .open
                .insert(id.into_u64(), (attrs.metadata().name(), fields));
        }
        fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
            if let Some((_, fields)) = self.0.lock().unwrap().open.get_mut(&id.into_u64()) {
                values.record(&mut Fields(fields));
            }
        }
        fn on_close(&self, id: Id, _: Context<'_, S>) {
            let mut store = self.0.lock().unwrap();
            if let Some(span) = store.open.remove(&id.into_u64()) {
                store.closed.push(span);
            }
        }
    }
}

#[tokio::test]
async fn every_attempt_gets_a_client_span_with_method_url_and_status() {
    // A process-wide subscriber: a scoped one races with tracing's per-callsite interest
    // cache when other tests in this binary create the same span concurrently. Spans of
    // other tests are told apart by their URL.
    static CAPTURED: std::sync::OnceLock<spans::Spans> = std::sync::OnceLock::new();
    let captured = CAPTURED
        .get_or_init(|| {
            use tracing_subscriber::layer::SubscriberExt;
            let captured: spans::Spans = Default::default();
            let subscriber = tracing_subscriber::registry().with(spans::Capture(captured.clone()));
            tracing::subscriber::set_global_default(subscriber).expect("first global subscriber");
            captured
        })
        .clone();

    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let router = axum::Router::new().route(
        "/pd/api/v1/store/{id}",
        axum::routing::get(move || {
            let n = h.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    StatusCode::BAD_GATEWAY
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let addr = serve(router).await;
    let client = HttpClient::new(
        HttpConfig {
            backoff_min: Duration::from_millis(1),
            backoff_max: Duration::from_millis(2),
            ..HttpConfig::default()
        },
        DefaultRetryLogic,
    )
    .unwrap();
    let url: reqwest::Url = format!("http://user:secret@{addr}/pd/api/v1/store/42")
        .parse()
        .unwrap();
    let answer = client.send(client.request(Method::GET, url)).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);

    let spans = captured.lock().unwrap().all();
    let attempts: Vec<_> = spans
        .iter()
        .filter(|(name, f)| {
            *name == "http.client"
                && f.get("http.url")
                    .is_some_and(|u| u.contains(&addr.to_string()))
        })
        .map(|(_, f)| f.clone())
        .collect();
    assert_eq!(attempts.len(), 2, "one span per attempt: {spans:?}");
    for fields in &attempts {
        assert_eq!(fields["otel.kind"], "client");
        assert_eq!(fields["http.method"], "GET");
        assert_eq!(fields["otel.name"], "GET /pd/api/v1/store/{id}");
        assert_eq!(
            fields["http.url"],
            format!("http://{addr}/pd/api/v1/store/42")
        );
        assert!(!fields.values().any(|v| v.contains("secret")));
    }
    assert_eq!(attempts[0]["http.status_code"], "502");
    assert_eq!(attempts[0]["otel.status_code"], "ERROR");
    assert_eq!(attempts[1]["http.status_code"], "200");
}
