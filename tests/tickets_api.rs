//! The tickets HTTP API, its client, and TicketAccess's choice between API and database.

use std::time::{Duration, SystemTime};

use operator::tickets::api::{self, AccessError, ClientError, TicketAccess, TicketsClient};
use operator::tickets::{Evidence, Severity, Status, TicketFilter, TicketStore, Violation};

fn violation(target: &str, severity: Severity) -> Violation {
    Violation {
        subject: "demo".into(),
        invariant: "store-down".into(),
        target: target.into(),
        severity,
        summary: format!("{target} is down"),
        evidence: Evidence::at(SystemTime::now()),
        grace: Duration::ZERO,
    }
}

async fn serve(store: TicketStore, token: Option<&str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = api::router(store, token.map(str::to_string));
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

fn client(base: &str, token: Option<&str>) -> TicketsClient {
    TicketsClient::new(base, token.map(str::to_string), Duration::from_secs(5)).unwrap()
}

fn seeded_store(dir: &std::path::Path) -> TicketStore {
    let store = TicketStore::open(dir).unwrap();
    store
        .observe(
            &[
                violation("tikv-0", Severity::Critical),
                violation("tikv-1", Severity::Warning),
            ],
            &[],
            SystemTime::now(),
        )
        .unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_filters_shows_and_acknowledges_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded_store(dir.path());
    let base = serve(store.clone(), Some("s3cret")).await;
    let c = client(&base, Some("s3cret"));

    let all = c.list(&TicketFilter::default()).await.unwrap();
    assert_eq!(all.len(), 2);
    let crit = c
        .list(&TicketFilter {
            severities: vec![Severity::Critical],
            since: Some(SystemTime::now() - Duration::from_secs(60)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(crit.len(), 1);
    assert_eq!(crit[0].target, "tikv-0");

    let t = c.get(crit[0].id).await.unwrap().unwrap();
    assert_eq!(t.dedupe_key, "demo/store-down/tikv-0");
    assert!(c.get(999).await.unwrap().is_none());

    let acked = c.ack(t.id, "alice", Some("looking")).await.unwrap();
    assert_eq!(acked.status, Status::Acknowledged);
    assert_eq!(
        store.get(t.id).unwrap().unwrap().status,
        Status::Acknowledged
    );
    let resolved = c.resolve(t.id, "alice", None).await.unwrap();
    assert_eq!(resolved.status, Status::Resolved);
    assert!(matches!(
        c.ack(999, "a", None).await,
        Err(ClientError::NotFound(999))
    ));
    assert!(matches!(
        c.ack(t.id, "a", None).await,
        Err(ClientError::Http { status: 409, .. })
    ));

    let events = c.events(None, None).await.unwrap();
    assert_eq!(events.len(), 4, "{events:?}");

    // Raw query strings: relative since, bad status.
    let http = reqwest::Client::new();
    let r = http
        .get(format!(
            "{base}/api/v1/tickets?status=open,resolved&since=1h"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body.as_array().unwrap().len(), 2);
    let r = http
        .get(format!("{base}/api/v1/tickets?status=bogus"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("bogus"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_need_the_right_bearer_token_and_are_off_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded_store(dir.path());
    let base = serve(store.clone(), Some("s3cret")).await;
    for token in [None, Some("wrong")] {
        let err = client(&base, token)
            .ack(1, "mallory", None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::Unauthorized { status: 401, .. }),
            "{err}"
        );
    }
    assert_eq!(store.get(1).unwrap().unwrap().status, Status::Open);

    let dir2 = tempfile::tempdir().unwrap();
    let base2 = serve(seeded_store(dir2.path()), None).await;
    let err = client(&base2, Some("anything"))
        .resolve(1, "a", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Unauthorized { status: 403, .. }),
        "{err}"
    );
    // Reads stay open.
    assert_eq!(
        client(&base2, None)
            .list(&TicketFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_goes_remote_when_the_controller_answers_and_local_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded_store(dir.path());
    let base = serve(store.clone(), Some("t")).await;
    let access = TicketAccess::connect(client(&base, Some("t")), dir.path())
        .await
        .unwrap();
    assert!(access.is_remote());
    assert_eq!(
        access.list(&TicketFilter::default()).await.unwrap().len(),
        2
    );
    access.ack(1, "cli", None).await.unwrap();

    // Locked by "the controller", whose API is not listening: a clear error.
    let dead = "http://127.0.0.1:9"; // discard port: nothing answers
    let err = TicketAccess::connect(client(dead, None), dir.path())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AccessError::LockedAndUnreachable { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("locked by a running controller") && msg.contains(dead),
        "{msg}"
    );

    // No controller at all: the database is opened directly.
    drop(access);
    drop(store);
    // The server task still holds a handle to the store; use a fresh database.
    let dir2 = tempfile::tempdir().unwrap();
    drop(seeded_store(dir2.path()));
    let access = TicketAccess::connect(client(dead, None), dir2.path())
        .await
        .unwrap();
    assert!(!access.is_remote());
    let t = access
        .resolve(2, "cli", Some("fixed by hand"))
        .await
        .unwrap();
    assert_eq!(t.status, Status::Resolved);
    assert_eq!(access.events(None, None).await.unwrap().len(), 3);
    assert!(access.get(1).await.unwrap().is_some());
}
