//! The sled ticket store: persistence across reopen, listing, human and diagnoser
//! transitions, events, rendering.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use operator::tickets::render::{self, OutputFormat};
use operator::tickets::{
    Evidence, LogEvidence, MetricEvidence, Severity, Status, StoreError, TicketFilter, TicketStore,
    TimelineKind, Violation,
};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_782_898_000 + secs)
}

fn violation(invariant: &str, target: &str, grace_secs: u64, severity: Severity) -> Violation {
    let mut evidence = Evidence::at(at(0));
    evidence.metrics.push(MetricEvidence {
        series: format!("tikv_store_size_bytes{{instance=\"{target}\",type=\"available\"}}"),
        value: 1024.0,
        at: at(0),
    });
    evidence.logs.push(LogEvidence {
        source: target.into(),
        at: at(0),
        line: "[2026/07/01 09:30:12.774 +00:00] [ERROR] [pd.rs:1823] [\"store heartbeat failed\"]"
            .into(),
    });
    evidence.state = serde_json::json!({"id": 5, "state_name": "Disconnected"});
    Violation {
        subject: "demo".into(),
        invariant: invariant.into(),
        target: target.into(),
        severity,
        summary: format!("{invariant} on {target}"),
        evidence,
        grace: Duration::from_secs(grace_secs),
    }
}

#[test]
fn tickets_survive_a_reopen_of_the_database_with_their_lifecycle_state() {
    let dir = tempfile::tempdir().unwrap();
    let id;
    {
        let store = TicketStore::open(dir.path()).unwrap();
        let v = violation("store-down", "tikv-2", 0, Severity::Critical);
        let out = store.observe(std::slice::from_ref(&v), &[], at(0)).unwrap();
        id = out.opened[0].id;
        store.observe(std::slice::from_ref(&v), &[], at(5)).unwrap();
    }
    let store = TicketStore::open(dir.path()).unwrap();
    let t = store.get(id).unwrap().expect("persisted");
    assert_eq!(t.occurrences, 2);
    assert_eq!(t.last_seen, at(5));
    assert_eq!(t.evidence.metrics[0].value, 1024.0);
    // Still deduplicated into the same ticket after the reopen.
    let v = violation("store-down", "tikv-2", 0, Severity::Critical);
    let out = store
        .observe(std::slice::from_ref(&v), &[], at(10))
        .unwrap();
    assert!(out.opened.is_empty());
    assert_eq!(out.refreshed.len(), 1);
    // And a fresh violation gets the next id.
    let out = store
        .observe(
            &[violation("store-down", "tikv-3", 0, Severity::Critical)],
            &[],
            at(10),
        )
        .unwrap();
    assert_eq!(out.opened[0].id, id + 1);
}

#[test]
fn a_ticket_resolved_before_a_restart_is_reopened_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let id;
    {
        let store = TicketStore::open(dir.path()).unwrap();
        let v = violation("store-down", "tikv-2", 0, Severity::Critical);
        id = store.observe(&[v], &[], now).unwrap().opened[0].id;
        let out = store
            .observe(
                &[],
                &["demo/store-down/tikv-2".into()],
                now + Duration::from_secs(1),
            )
            .unwrap();
        assert_eq!(out.resolved.len(), 1);
    }
    let store = TicketStore::open(dir.path()).unwrap();
    let v = violation("store-down", "tikv-2", 0, Severity::Critical);
    let out = store
        .observe(&[v], &[], now + Duration::from_secs(2))
        .unwrap();
    assert_eq!(out.reopened.len(), 1);
    assert_eq!(out.reopened[0].id, id);
    assert_eq!(out.reopened[0].reopened_count, 1);
}

#[test]
fn listing_filters_by_status_severity_time_and_invariant_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = TicketStore::open(dir.path()).unwrap();
    store
        .observe(
            &[
                violation("store-down", "tikv-0", 0, Severity::Critical),
                violation("disk-pressure", "tikv-1", 0, Severity::Warning),
            ],
            &[],
            at(0),
        )
        .unwrap();
    store
        .observe(
            &[violation("slow-store", "tikv-2", 0, Severity::Warning)],
            &[],
            at(100),
        )
        .unwrap();
    store.ack_at(2, "alice", None, at(101)).unwrap();

    let all = store.list(&TicketFilter::default());
    assert_eq!(all.iter().map(|t| t.id).collect::<Vec<_>>(), vec![3, 2, 1]);
    let warn = store.list(&TicketFilter {
        severities: vec![Severity::Warning],
        ..Default::default()
    });
    assert_eq!(warn.len(), 2);
    let acked = store.list(&TicketFilter {
        statuses: vec![Status::Acknowledged],
        ..Default::default()
    });
    assert_eq!(acked.iter().map(|t| t.id).collect::<Vec<_>>(), vec![2]);
    let recent = store.list(&TicketFilter {
        since: Some(at(50)),
        ..Default::default()
    });
    assert_eq!(recent.iter().map(|t| t.id).collect::<Vec<_>>(), vec![3]);
    let early = store.list(&TicketFilter {
        until: Some(at(50)),
        ..Default::default()
    });
    assert_eq!(early.len(), 2);
    let inv = store.list(&TicketFilter {
        invariant: Some("disk-pressure".into()),
        ..Default::default()
    });
    assert_eq!(inv.iter().map(|t| t.id).collect::<Vec<_>>(), vec![2]);
    let limited = store.list(&TicketFilter {
        limit: Some(1),
        ..Default::default()
    });
    assert_eq!(limited.len(), 1);
}

#[test]
fn leases_expire_so_a_crashed_diagnoser_never_leaves_a_ticket_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let store = TicketStore::open(dir.path()).unwrap();
    let id = store
        .observe(
            &[violation("store-down", "tikv-0", 0, Severity::Critical)],
            &[],
            at(0),
        )
        .unwrap()
        .opened[0]
        .id;
    assert_eq!(store.diagnosable(at(1)).unwrap(), vec![id]);
    store
        .try_lease_at(id, "d1", Duration::from_secs(60), at(1))
        .unwrap();
    assert!(store.diagnosable(at(30)).unwrap().is_empty());
    assert!(matches!(
        store.try_lease_at(id, "d2", Duration::from_secs(60), at(30)),
        Err(StoreError::Transition(_))
    ));
    assert_eq!(store.diagnosable(at(62)).unwrap(), vec![id]);
    store
        .try_lease_at(id, "d2", Duration::from_secs(60), at(62))
        .unwrap();
    let t = store
        .complete_diagnosis_at(id, "d2", serde_json::json!({"root_cause": "oom"}), at(70))
        .unwrap();
    assert_eq!(t.status, Status::Diagnosed);
    // Durable: visible after a reopen.
    drop(store);
    let store = TicketStore::open(dir.path()).unwrap();
    let t = store.get(id).unwrap().unwrap();
    assert_eq!(t.status, Status::Diagnosed);
    assert_eq!(t.diagnosis.unwrap()["root_cause"], "oom");
    // Repeated observations keep the diagnosis.
    let out = store
        .observe(
            &[violation("store-down", "tikv-0", 0, Severity::Critical)],
            &[],
            at(80),
        )
        .unwrap();
    assert_eq!(out.refreshed.len(), 1);
    assert_eq!(store.get(id).unwrap().unwrap().status, Status::Diagnosed);
}

#[test]
fn events_are_time_ordered_and_filtered_by_since() {
    let dir = tempfile::tempdir().unwrap();
    let store = TicketStore::open(dir.path()).unwrap();
    store
        .observe(
            &[violation("store-down", "tikv-0", 0, Severity::Critical)],
            &[],
            at(0),
        )
        .unwrap();
    store.ack_at(1, "alice", Some("looking"), at(10)).unwrap();
    store.resolve_at(1, "alice", None, at(20)).unwrap();
    let all = store.events(None, None).unwrap();
    let kinds: Vec<_> = all.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            TimelineKind::Opened,
            TimelineKind::Acknowledged,
            TimelineKind::Resolved
        ]
    );
    let later = store.events(Some(at(5)), None).unwrap();
    assert_eq!(later.len(), 2);
    assert_eq!(store.events(None, Some(1)).unwrap().len(), 1);
}

#[test]
fn acting_on_a_missing_ticket_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = TicketStore::open(dir.path()).unwrap();
    assert!(matches!(
        store.ack(42, "a", None),
        Err(StoreError::NotFound(42))
    ));
    assert!(store.get(42).unwrap().is_none());
}

#[test]
fn a_second_open_of_the_same_database_reports_it_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _store = TicketStore::open(dir.path()).unwrap();
    let err = TicketStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("locked by another process"));
}

#[test]
fn rendering_shows_tickets_as_table_json_yaml_and_a_detailed_view() {
    let dir = tempfile::tempdir().unwrap();
    let store = TicketStore::open(dir.path()).unwrap();
    store
        .observe(
            &[violation("store-down", "tikv-2", 0, Severity::Critical)],
            &[],
            at(0),
        )
        .unwrap();
    let list = store.list(&TicketFilter::default());
    let table = render::render_list(&list, OutputFormat::Table, at(300)).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID"), "{table}");
    assert!(lines[1].contains("critical") && lines[1].contains("store-down on tikv-2"));
    assert!(lines[1].contains("5m"), "{table}");
    let json = render::render_list(&list, OutputFormat::Json, at(300)).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed[0]["first_seen"], "2026-07-01T09:26:40Z");
    let yaml = render::render_list(&list, OutputFormat::Yaml, at(300)).unwrap();
    assert!(yaml.contains("invariant: store-down"), "{yaml}");

    let t = store.get(1).unwrap().unwrap();
    let show = render::render_ticket(&t, OutputFormat::Table, at(300)).unwrap();
    for needle in [
        "Ticket #1",
        "Timeline:",
        "opened",
        "tikv_store_size_bytes{instance=\"tikv-2\",type=\"available\"}",
        "\"state_name\": \"Disconnected\"",
        "store heartbeat failed",
    ] {
        assert!(show.contains(needle), "missing {needle:?} in\n{show}");
    }
    let events = store.events(None, None).unwrap();
    let ev = render::render_events(&events, OutputFormat::Table).unwrap();
    assert!(
        ev.contains("#1") && ev.contains("demo/store-down/tikv-2"),
        "{ev}"
    );
    assert!("xml".parse::<OutputFormat>().is_err());
}

#[test]
fn refresh_only_changes_are_coalesced_and_never_served_before_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = TicketStore::open(dir.path()).unwrap();
    store.set_refresh_interval(Duration::from_secs(3600));
    let v = violation("store-down", "tikv-0", 0, Severity::Critical);
    let id = store
        .observe(std::slice::from_ref(&v), &[], at(0))
        .unwrap()
        .opened[0]
        .id;
    for s in 1..=3 {
        let out = store.observe(std::slice::from_ref(&v), &[], at(s)).unwrap();
        assert_eq!(out.refreshed, vec![id]);
    }
    // Not written yet, so not served.
    assert_eq!(store.get(id).unwrap().unwrap().occurrences, 1);
    assert_eq!(store.list(&TicketFilter::default())[0].occurrences, 1);
    store.flush().unwrap();
    assert_eq!(store.get(id).unwrap().unwrap().occurrences, 4);
    assert_eq!(store.list(&TicketFilter::default())[0].last_seen, at(3));
    // A reportable change carries pending refreshes with it.
    store.observe(std::slice::from_ref(&v), &[], at(4)).unwrap();
    store
        .observe(
            &[violation("disk-pressure", "tikv-1", 0, Severity::Warning)],
            &[],
            at(5),
        )
        .unwrap();
    assert_eq!(store.get(id).unwrap().unwrap().occurrences, 5);
    // With a zero interval every observation is written.
    store.set_refresh_interval(Duration::ZERO);
    store.observe(std::slice::from_ref(&v), &[], at(6)).unwrap();
    assert_eq!(store.get(id).unwrap().unwrap().occurrences, 6);
}
