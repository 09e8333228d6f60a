//! The ticket lifecycle over observation rounds (pure, no storage).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use operator::tickets::lifecycle::{self, LifecycleConfig, Tracker, TransitionError};
use operator::tickets::{Evidence, Severity, Status, TimelineKind, Violation};

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_782_898_000)
}

fn at(secs: u64) -> SystemTime {
    t0() + Duration::from_secs(secs)
}

fn violation(target: &str, grace_secs: u64, severity: Severity, summary: &str) -> Violation {
    Violation {
        subject: "demo".into(),
        invariant: "thing-broken".into(),
        target: target.into(),
        severity,
        summary: summary.into(),
        evidence: Evidence::at(t0()),
        grace: Duration::from_secs(grace_secs),
    }
}

fn key(target: &str) -> String {
    format!("demo/thing-broken/{target}")
}

fn tracker() -> Tracker {
    Tracker::new(LifecycleConfig::default(), 1)
}

#[test]
fn a_violation_opens_a_ticket_only_after_persisting_for_its_grace() {
    let mut tr = tracker();
    let v = violation("a", 30, Severity::Warning, "broken");
    for s in [0, 10, 20] {
        let out = tr.observe(std::slice::from_ref(&v), &[], at(s));
        assert!(out.opened.is_empty(), "opened at {s}s");
        assert_eq!(out.pending, 1);
    }
    let out = tr.observe(std::slice::from_ref(&v), &[], at(30));
    assert_eq!(out.opened.len(), 1);
    let t = &out.opened[0];
    assert_eq!(t.id, 1);
    assert_eq!(
        t.first_seen,
        at(0),
        "first_seen is when the violation began"
    );
    assert_eq!(t.occurrences, 4);
    assert_eq!(t.status, Status::Open);
    assert_eq!(t.timeline.len(), 1);
    assert_eq!(t.timeline[0].kind, TimelineKind::Opened);
    assert_eq!(out.events.len(), 1);
}

#[test]
fn a_round_says_when_the_earliest_grace_ends_so_the_monitor_can_recheck_then() {
    let mut tr = tracker();
    let slow = violation("a", 30, Severity::Warning, "broken");
    let fast = violation("b", 2, Severity::Warning, "broken");
    let out = tr.observe(&[slow.clone(), fast.clone()], &[], at(0));
    assert_eq!(out.next_due, Some(at(2)), "the shorter grace wins");
    let out = tr.observe(&[slow.clone(), fast], &[], at(2));
    assert_eq!(out.opened.len(), 1, "b opens exactly when its grace ends");
    assert_eq!(out.next_due, Some(at(30)));
    // A holding ticket resolves after its grace: that moment is due too.
    let out = tr.observe(std::slice::from_ref(&slow), &[key("b")], at(3));
    assert_eq!(out.next_due, Some(at(5)));
    let out = tr.observe(&[], &[key("a"), key("b")], at(5));
    assert_eq!(out.resolved.len(), 1);
    assert_eq!(out.next_due, None, "nothing left waiting on a grace");
}

#[test]
fn the_monitor_rechecks_at_a_grace_end_but_never_spins_nor_waits_past_its_tick() {
    use operator::tickets::monitor::{next_round_in, MIN_ROUND_GAP, MONITOR_INTERVAL};
    assert_eq!(next_round_in(None, at(0)), MONITOR_INTERVAL);
    assert_eq!(next_round_in(Some(at(1)), at(0)), Duration::from_secs(1));
    assert_eq!(next_round_in(Some(at(0)), at(5)), MIN_ROUND_GAP);
    assert_eq!(next_round_in(Some(at(60)), at(0)), MONITOR_INTERVAL);
}

#[test]
fn a_zero_grace_violation_opens_on_first_sighting() {
    let mut tr = tracker();
    let out = tr.observe(&[violation("a", 0, Severity::Critical, "down")], &[], at(0));
    assert_eq!(out.opened.len(), 1);
}

#[test]
fn a_holding_round_cancels_a_pending_violation() {
    let mut tr = tracker();
    let v = violation("a", 30, Severity::Warning, "broken");
    tr.observe(std::slice::from_ref(&v), &[], at(0));
    tr.observe(&[], &[key("a")], at(10));
    let out = tr.observe(std::slice::from_ref(&v), &[], at(30));
    assert!(out.opened.is_empty(), "the grace restarted at 30s");
    let out = tr.observe(std::slice::from_ref(&v), &[], at(60));
    assert_eq!(out.opened.len(), 1);
    assert_eq!(out.opened[0].first_seen, at(30));
}

#[test]
fn a_pending_violation_not_seen_for_longer_than_the_gap_starts_over() {
    let mut tr = tracker();
    let v = violation("a", 30, Severity::Warning, "broken");
    tr.observe(std::slice::from_ref(&v), &[], at(0));
    let out = tr.observe(std::slice::from_ref(&v), &[], at(100));
    assert!(out.opened.is_empty(), "a 100s gap is not persistence");
}

#[test]
fn repeated_observations_bump_counters_without_timeline_noise() {
    let mut tr = tracker();
    let v = violation("a", 0, Severity::Warning, "broken");
    tr.observe(std::slice::from_ref(&v), &[], at(0));
    for s in 1..=5 {
        let out = tr.observe(std::slice::from_ref(&v), &[], at(s));
        assert_eq!(out.refreshed, vec![1], "counters still need persisting");
        assert!(out.events.is_empty());
    }
    let t = tr.active_by_key(&key("a")).unwrap();
    assert_eq!(t.occurrences, 6);
    assert_eq!(t.last_seen, at(5));
    assert_eq!(t.timeline.len(), 1);
}

#[test]
fn severity_and_summary_changes_are_recorded_on_the_timeline() {
    let mut tr = tracker();
    tr.observe(
        &[violation("a", 0, Severity::Warning, "p99 0.6s")],
        &[],
        at(0),
    );
    let out = tr.observe(
        &[violation("a", 0, Severity::Critical, "p99 2.1s")],
        &[],
        at(5),
    );
    assert_eq!(out.updated.len(), 1);
    let kinds: Vec<_> = out.updated[0].timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            TimelineKind::Opened,
            TimelineKind::SeverityChanged,
            TimelineKind::SummaryChanged
        ]
    );
    assert_eq!(out.updated[0].severity, Severity::Critical);
}

#[test]
fn a_summary_whose_only_change_is_a_ticking_elapsed_time_adds_no_timeline_entry() {
    let mut tr = tracker();
    let summary = |ago: u64, regions: u64| {
        format!("store 4 Disconnected (last heartbeat {ago}s ago), Offline for {ago}s with {regions} regions left")
    };
    tr.observe(
        &[violation("a", 0, Severity::Critical, &summary(9, 3))],
        &[],
        at(0),
    );
    for s in 1..=5 {
        tr.observe(
            &[violation("a", 0, Severity::Critical, &summary(9 + s, 3))],
            &[],
            at(s),
        );
    }
    let out = tr.observe(
        &[violation("a", 0, Severity::Critical, &summary(15, 2))],
        &[],
        at(6),
    );
    let t = &out.updated[0];
    let kinds: Vec<_> = t.timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![TimelineKind::Opened, TimelineKind::SummaryChanged],
        "only the region count is news"
    );
    assert_eq!(
        t.summary,
        summary(15, 2),
        "the summary itself stays current"
    );
}

#[test]
fn duplicate_reports_in_one_round_count_once_and_the_worst_severity_wins() {
    let mut tr = tracker();
    let out = tr.observe(
        &[
            violation("a", 0, Severity::Info, "x"),
            violation("a", 0, Severity::Critical, "y"),
            violation("a", 0, Severity::Warning, "z"),
        ],
        &[],
        at(0),
    );
    assert_eq!(out.opened.len(), 1);
    assert_eq!(out.opened[0].severity, Severity::Critical);
    assert_eq!(out.opened[0].occurrences, 1);
}

#[test]
fn a_ticket_auto_resolves_once_its_invariant_held_for_its_grace() {
    let mut tr = tracker();
    let v = violation("a", 20, Severity::Warning, "broken");
    tr.observe(std::slice::from_ref(&v), &[], at(0));
    tr.observe(std::slice::from_ref(&v), &[], at(20));
    let holding = [key("a")];
    assert!(tr.observe(&[], &holding, at(25)).resolved.is_empty());
    // An unchecked round changes nothing.
    assert!(tr.observe(&[], &[], at(35)).resolved.is_empty());
    let out = tr.observe(&[], &holding, at(45));
    assert_eq!(out.resolved.len(), 1);
    let t = &out.resolved[0];
    assert_eq!(t.status, Status::Resolved);
    assert_eq!(t.resolved_at, Some(at(45)));
    assert_eq!(t.timeline.last().unwrap().kind, TimelineKind::AutoResolved);
    assert_eq!(tr.active_count(), 0);
}

#[test]
fn a_violation_during_the_resolve_grace_restarts_it() {
    let mut tr = tracker();
    let v = violation("a", 20, Severity::Warning, "broken");
    tr.observe(std::slice::from_ref(&v), &[], at(0));
    tr.observe(std::slice::from_ref(&v), &[], at(20));
    let holding = [key("a")];
    tr.observe(&[], &holding, at(25));
    tr.observe(std::slice::from_ref(&v), &[], at(35));
    assert!(tr.observe(&[], &holding, at(50)).resolved.is_empty());
    assert_eq!(tr.observe(&[], &holding, at(70)).resolved.len(), 1);
}

#[test]
fn a_ticket_breaking_again_within_the_reopen_window_is_reopened_not_duplicated() {
    let mut tr = tracker();
    let v = violation("a", 0, Severity::Critical, "down");
    let id = tr.observe(std::slice::from_ref(&v), &[], at(0)).opened[0].id;
    tr.observe(&[], &[key("a")], at(10));
    let out = tr.observe(std::slice::from_ref(&v), &[], at(300));
    assert!(out.opened.is_empty());
    assert_eq!(out.reopened.len(), 1);
    let t = &out.reopened[0];
    assert_eq!(t.id, id);
    assert_eq!(t.reopened_count, 1);
    assert_eq!(t.status, Status::Open);
    assert_eq!(t.resolved_at, None);
    assert_eq!(t.timeline.last().unwrap().kind, TimelineKind::Reopened);
}

#[test]
fn a_ticket_breaking_again_after_the_reopen_window_gets_a_new_id() {
    let mut tr = tracker();
    let v = violation("a", 0, Severity::Critical, "down");
    let id = tr.observe(std::slice::from_ref(&v), &[], at(0)).opened[0].id;
    tr.observe(&[], &[key("a")], at(10));
    let out = tr.observe(std::slice::from_ref(&v), &[], at(10 + 601));
    assert_eq!(out.opened.len(), 1);
    assert_eq!(out.opened[0].id, id + 1);
}

#[test]
fn a_lease_is_granted_from_open_and_blocks_others_until_it_expires() {
    let mut tr = tracker();
    let mut t = tr
        .observe(&[violation("a", 0, Severity::Warning, "x")], &[], at(0))
        .opened
        .remove(0);
    let ttl = Duration::from_secs(60);
    lifecycle::try_lease(&mut t, "d1", ttl, at(1)).unwrap();
    assert_eq!(t.status, Status::Diagnosing);
    let err = lifecycle::try_lease(&mut t, "d2", ttl, at(30)).unwrap_err();
    assert!(matches!(err, TransitionError::Leased { .. }), "{err}");
    // d1 crashed: after expiry d2 takes over.
    let ev = lifecycle::try_lease(&mut t, "d2", ttl, at(62)).unwrap();
    assert_eq!(ev.kind, TimelineKind::LeaseExpired);
    assert!(lifecycle::complete_diagnosis(&mut t, "d1", serde_json::json!({}), at(63)).is_err());
    lifecycle::complete_diagnosis(&mut t, "d2", serde_json::json!({"cause": "disk"}), at(63))
        .unwrap();
    assert_eq!(t.status, Status::Diagnosed);
    assert!(t.lease.is_none());
    let err = lifecycle::try_lease(&mut t, "d3", ttl, at(64)).unwrap_err();
    assert!(matches!(err, TransitionError::InvalidStatus { .. }));
}

#[test]
fn a_diagnosis_under_way_when_its_ticket_resolves_is_still_attached_to_it() {
    let mut tr = tracker();
    let v = violation("a", 0, Severity::Warning, "hot");
    let mut t = tr
        .observe(std::slice::from_ref(&v), &[], at(0))
        .opened
        .remove(0);
    lifecycle::try_lease(&mut t, "d1", Duration::from_secs(600), at(1)).unwrap();
    tr.replace(t);
    // The fault was transient: the invariant holds again before the model answers.
    let mut t = tr.observe(&[], &[key("a")], at(30)).resolved.remove(0);
    assert_eq!(t.status, Status::Resolved);
    assert_eq!(t.lease.as_ref().map(|l| l.holder.as_str()), Some("d1"));
    // Nobody else can take it, and it is not diagnosed again.
    assert!(lifecycle::try_lease(&mut t, "d2", Duration::from_secs(60), at(31)).is_err());
    assert!(lifecycle::complete_diagnosis(&mut t, "d2", serde_json::json!({}), at(40)).is_err());
    lifecycle::complete_diagnosis(&mut t, "d1", serde_json::json!({"cause": "hot"}), at(50))
        .unwrap();
    assert_eq!(t.status, Status::Resolved);
    assert!(t.lease.is_none());
    assert_eq!(t.diagnosis, Some(serde_json::json!({"cause": "hot"})));
    assert_eq!(t.timeline.last().unwrap().kind, TimelineKind::Diagnosed);
}

#[test]
fn a_ticket_resolved_while_idle_holds_no_lease() {
    let mut tr = tracker();
    let v = violation("a", 0, Severity::Warning, "hot");
    tr.observe(std::slice::from_ref(&v), &[], at(0));
    let mut t = tr.observe(&[], &[key("a")], at(30)).resolved.remove(0);
    assert!(t.lease.is_none());
    assert!(lifecycle::complete_diagnosis(&mut t, "d1", serde_json::json!({}), at(40)).is_err());
    assert!(lifecycle::release_lease(&mut t, "d1", "", at(40)).is_err());
}

#[test]
fn releasing_a_lease_returns_the_ticket_to_open() {
    let mut tr = tracker();
    let mut t = tr
        .observe(&[violation("a", 0, Severity::Warning, "x")], &[], at(0))
        .opened
        .remove(0);
    lifecycle::try_lease(&mut t, "d1", Duration::from_secs(60), at(1)).unwrap();
    assert!(lifecycle::release_lease(&mut t, "d2", "", at(2)).is_err());
    lifecycle::release_lease(&mut t, "d1", "backend unavailable", at(2)).unwrap();
    assert_eq!(t.status, Status::Open);
    assert!(t.lease.is_none());
}

#[test]
fn acknowledging_keeps_the_ticket_active_and_resolving_closes_it() {
    let mut tr = tracker();
    let mut t = tr
        .observe(&[violation("a", 0, Severity::Warning, "x")], &[], at(0))
        .opened
        .remove(0);
    assert!(
        lifecycle::acknowledge(&mut t, "alice", Some("on it"), at(1))
            .unwrap()
            .is_some()
    );
    assert!(lifecycle::acknowledge(&mut t, "alice", None, at(2))
        .unwrap()
        .is_none());
    assert_eq!(t.status, Status::Acknowledged);
    assert_eq!(t.timeline.last().unwrap().detail, "by alice: on it");
    assert!(lifecycle::resolve(&mut t, "bob", None, at(3)).is_some());
    assert!(lifecycle::resolve(&mut t, "bob", None, at(4)).is_none());
    assert_eq!(t.status, Status::Resolved);
    assert!(lifecycle::acknowledge(&mut t, "alice", None, at(5)).is_err());
}

#[test]
fn a_manually_resolved_ticket_that_is_still_broken_reopens_after_its_grace() {
    let mut tr = tracker();
    let v = violation("a", 10, Severity::Warning, "x");
    tr.observe(std::slice::from_ref(&v), &[], at(0));
    let mut t = tr
        .observe(std::slice::from_ref(&v), &[], at(10))
        .opened
        .remove(0);
    lifecycle::resolve(&mut t, "bob", None, at(11));
    tr.replace(t.clone());
    assert_eq!(tr.active_count(), 0);
    assert!(tr
        .observe(std::slice::from_ref(&v), &[], at(15))
        .reopened
        .is_empty());
    let out = tr.observe(std::slice::from_ref(&v), &[], at(25));
    assert_eq!(out.reopened.len(), 1);
    assert_eq!(out.reopened[0].id, t.id);
}
