//! Incidents over HTTP, and a confirmed cause recorded through the tickets API: three
//! stores cut off in the same second are one incident; resolving it with a cause marks
//! the cause confirmed on its tickets.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use operator::diagnose::catalog::Cause;
use operator::subjects::tikv::incidents::TikvLinks;
use operator::tickets::api::{self, TicketsClient};
use operator::tickets::incidents::Incident;
use operator::tickets::{Evidence, Severity, Status, TicketStore, Violation};

fn down(target: &str) -> Violation {
    Violation {
        subject: "tikv".into(),
        invariant: "store_down".into(),
        target: target.into(),
        severity: Severity::Critical,
        summary: format!("{target} is down"),
        evidence: Evidence::at(SystemTime::now()),
        grace: Duration::ZERO,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_cut_off_together_are_one_incident_and_resolving_it_records_the_confirmed_cause() {
    let dir = tempfile::tempdir().unwrap();
    let store = TicketStore::open(dir.path()).unwrap();
    let now = SystemTime::now();
    store
        .observe(&[down("tikv-0"), down("tikv-1"), down("tikv-2")], &[], now)
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = api::router(store.clone(), Some("tok".into()))
        .merge(api::incidents_router(store.clone(), Arc::new(TikvLinks)));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let http = reqwest::Client::new();
    let list: Vec<Incident> = http
        .get(format!("{base}/api/v1/incidents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let inc = &list[0];
    assert_eq!(inc.tickets.len(), 3);
    assert!(
        inc.grouped_because
            .iter()
            .any(|r| r.contains("PD side or the network")),
        "{:?}",
        inc.grouped_because
    );
    let one: Incident = http
        .get(format!("{base}/api/v1/incidents/{}", inc.id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(&one, inc);
    let missing = http
        .get(format!("{base}/api/v1/incidents/999"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let c = TicketsClient::new(&base, Some("tok".into()), Duration::from_secs(5)).unwrap();
    let cause = Cause::new("network-partition", "cluster");
    for id in &inc.tickets {
        let t = c
            .confirm_cause(*id, &cause, "sre", Some("pd's switch port"))
            .await
            .unwrap();
        assert_eq!(t.status, Status::Resolved);
        assert_eq!(t.confirmed_cause.as_ref(), Some(&cause));
        assert!(t
            .timeline
            .last()
            .unwrap()
            .detail
            .contains("confirmed cause network-partition on cluster"));
    }
    let after: Vec<Incident> = http
        .get(format!("{base}/api/v1/incidents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(after[0].confirmed);
    assert_eq!(after[0].cause.as_ref(), Some(&cause));
    assert_eq!(after[0].status, Status::Resolved);
}
