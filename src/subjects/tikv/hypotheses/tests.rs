//! Each cause, and every pair of causes that share symptoms, told apart from a snapshot.

use super::*;
use crate::diagnose::backend::rules::diagnose_with;
use crate::diagnose::catalog::Verdict;
use serde_json::{json, Value};

const AT: &str = "2026-11-22T06:10:00Z";

fn store(id: u64, member: &str, state: &str, avail_gib: f64, leaders: u64) -> Value {
    let gib = 1024.0f64.powi(3);
    json!({"id": id, "address": format!("demo-{member}:20160"), "status_address": format!("demo-{member}:20180"),
        "state": state, "leader_count": leaders, "region_count": 30,
        "capacity_bytes": (100.0 * gib) as u64, "available_bytes": (avail_gib * gib) as u64, "slow_score": 1})
}

/// A three-store cluster, three PD members, every container running.
struct World {
    stores: Vec<Value>,
    members: Vec<(String, bool)>,
    leader: Option<String>,
    schedulers: Vec<&'static str>,
    evict: Vec<u64>,
    hot: Vec<(u64, u64)>,
    containers: Vec<Value>,
    metrics: Vec<Value>,
    events: Vec<Value>,
    logs: Vec<Value>,
    related: Vec<Value>,
}

impl World {
    fn new() -> Self {
        let members = ["tikv-0", "tikv-1", "tikv-2"];
        let mut containers: Vec<Value> = members
            .iter()
            .map(|m| json!({"member": m, "container": format!("demo-{m}"), "component": "tikv", "status": "running"}))
            .collect();
        for p in ["pd-0", "pd-1", "pd-2"] {
            containers.push(json!({"member": p, "container": format!("demo-{p}"), "component": "pd", "status": "running"}));
        }
        Self {
            stores: vec![
                store(1, "tikv-0", "Up", 80.0, 30),
                store(4, "tikv-1", "Up", 80.0, 30),
                store(5, "tikv-2", "Up", 80.0, 30),
            ],
            members: vec![("pd-0".into(), true), ("pd-1".into(), true), ("pd-2".into(), true)],
            leader: Some("pd-0".into()),
            schedulers: vec!["balance-leader-scheduler", "balance-region-scheduler"],
            evict: vec![],
            hot: vec![],
            containers,
            // Baseline: every store alike.
            metrics: [1u64, 4, 5]
                .iter()
                .map(|id| json!({"store_id": id, "instance": format!("demo-tikv-{}:20180", [0, 0, 0, 0, 1, 2][*id as usize]),
                    "qps": 1000.0, "grpc_p99_seconds": 0.010, "append_p99_seconds": 0.004, "apply_p99_seconds": 0.003,
                    "commit_p99_seconds": 0.006, "propose_wait_p99_seconds": 0.001, "thread_cpu_seconds": 0.8,
                    "scheduler_wait_p99_seconds": 0.002, "memory_bytes": 2.0e9}))
                .collect(),
            events: vec![],
            logs: vec![],
            related: vec![],
        }
    }

    fn metric(&mut self, id: u64, field: &str, v: f64) -> &mut Self {
        for m in &mut self.metrics {
            if m["store_id"] == json!(id) {
                m[field] = json!(v);
            }
        }
        self
    }

    fn container(&mut self, member: &str, status: &str, exit: Option<i64>, oom: bool) -> &mut Self {
        for c in &mut self.containers {
            if c["member"] == json!(member) {
                c["status"] = json!(status);
                c["exit_code"] = json!(exit);
                c["oom_killed"] = json!(oom);
            }
        }
        self
    }

    fn store_state(&mut self, id: u64, state: &str) -> &mut Self {
        for s in &mut self.stores {
            if s["id"] == json!(id) {
                s["state"] = json!(state);
            }
        }
        self
    }

    fn sections(&self) -> Vec<ContextSection> {
        let pd = json!({
            "members": self.members.iter().map(|(n, h)| json!({"name": n, "healthy": h})).collect::<Vec<_>>(),
            "leader": self.leader, "stores": self.stores, "max_replicas": 3,
            "schedulers": self.schedulers, "evict_leader_stores": self.evict,
            "hot_regions": self.hot.iter().map(|(r, s)| json!({"region_id": r, "store_id": s})).collect::<Vec<_>>(),
        });
        let sec = |name: &str, v: Value| ContextSection {
            name: name.into(),
            relevance: 80,
            content: serde_json::to_string_pretty(&v).unwrap(),
        };
        vec![
            sec("pd_state", pd),
            sec("containers", json!(self.containers)),
            sec("metrics", json!({"at": AT, "stores": self.metrics})),
            sec("recent_docker_events", json!(self.events)),
            sec("log_lines", json!(self.logs)),
            sec("related_tickets", json!(self.related)),
        ]
    }

    fn diagnose(&self, invariant: &str, target: &str) -> DiagnosisOutput {
        let brief = TicketBrief {
            id: 1,
            subject: "tikv".into(),
            invariant: invariant.into(),
            target: target.into(),
            severity: "warning".into(),
            summary: format!("{invariant} on {target}"),
            first_seen: AT.into(),
            last_seen: AT.into(),
            occurrences: 1,
            evidence: json!({"observed_at": AT, "metrics": [], "logs": [], "events": []}),
            timeline: vec![],
        };
        diagnose_with(
            &TikvReasoner,
            &brief,
            &self.sections(),
            &RulesConfig::default(),
        )
    }
}

fn assert_cause(d: &DiagnosisOutput, category: &str, target: &str) {
    assert_eq!(
        (d.cause.category.as_str(), d.cause.target.as_str()),
        (category, target),
        "hypotheses: {:#?}",
        d.hypotheses
    );
}

fn verdict(d: &DiagnosisOutput, category: &str) -> Verdict {
    d.hypotheses
        .iter()
        .find(|h| h.cause.category == category)
        .map(|h| h.verdict)
        .unwrap_or(Verdict::Rejected)
}

#[test]
fn a_slow_disk_raises_append_latency_on_one_store_and_is_not_network_cpu_or_hot() {
    let mut w = World::new();
    w.metric(5, "append_p99_seconds", 0.060)
        .metric(5, "grpc_p99_seconds", 0.040)
        .metric(5, "apply_p99_seconds", 0.020);
    let d = w.diagnose("raft_append_p99_high", "tikv-2");
    assert_cause(&d, "disk-slow", "store/5");
    for other in ["network-degradation", "cpu-saturation", "hot-region"] {
        assert_eq!(verdict(&d, other), Verdict::Rejected, "{other}");
    }
    assert!(d.confidence > 0.6, "{}", d.confidence);
    assert!(d.other_causes.is_empty());
}

#[test]
fn a_degraded_network_raises_propose_wait_and_commit_latency_with_the_fsync_normal() {
    let mut w = World::new();
    w.metric(4, "propose_wait_p99_seconds", 0.050)
        .metric(4, "commit_p99_seconds", 0.045)
        .metric(4, "grpc_p99_seconds", 0.060);
    let d = w.diagnose("grpc_p99_high", "tikv-1");
    assert_cause(&d, "network-degradation", "store/4");
    let disk = d
        .hypotheses
        .iter()
        .find(|h| h.cause.category == "disk-slow")
        .unwrap();
    assert!(
        disk.contradicting
            .iter()
            .any(|c| c.contains("in line with its peers")),
        "{disk:?}"
    );
}

#[test]
fn a_saturated_cpu_raises_thread_cpu_and_queueing_at_an_even_share_of_requests() {
    let mut w = World::new();
    w.metric(1, "thread_cpu_seconds", 3.6)
        .metric(1, "scheduler_wait_p99_seconds", 0.030)
        .metric(1, "grpc_p99_seconds", 0.050);
    let d = w.diagnose("grpc_p99_high", "tikv-0");
    assert_cause(&d, "cpu-saturation", "store/1");
    assert_eq!(verdict(&d, "hot-region"), Verdict::Rejected);
    assert_eq!(verdict(&d, "disk-slow"), Verdict::Rejected);
}

#[test]
fn a_hot_region_concentrates_requests_and_cpu_on_one_store_and_is_not_cpu_saturation() {
    let mut w = World::new();
    w.metric(4, "qps", 9000.0)
        .metric(4, "thread_cpu_seconds", 3.0)
        .metric(4, "grpc_p99_seconds", 0.030);
    let d = w.diagnose("hot_store", "tikv-1");
    assert_cause(&d, "hot-region", "store/4");
    let cpu = d
        .hypotheses
        .iter()
        .find(|h| h.cause.category == "cpu-saturation")
        .unwrap();
    assert!(
        cpu.contradicting
            .iter()
            .any(|c| c.contains("the load, not the CPU")),
        "{cpu:?}"
    );
}

#[test]
fn busy_threads_on_a_store_where_pd_lists_a_hot_region_are_that_load_not_cpu_saturation() {
    // The hot leader has just moved to store 5: its CPU rose with its requests (the same
    // CPU per request as its peers) and PD lists the region hot there.
    let mut w = World::new();
    w.metric(5, "qps", 1800.0)
        .metric(5, "thread_cpu_seconds", 1.8)
        .metric(5, "grpc_p99_seconds", 0.020);
    w.hot = vec![(12, 5)];
    let d = w.diagnose("store_outlier", "tikv-2");
    assert_ne!(d.cause.category, "cpu-saturation", "{:#?}", d.hypotheses);
    let cpu = d
        .hypotheses
        .iter()
        .find(|h| h.cause.category == "cpu-saturation")
        .unwrap();
    assert!(
        cpu.contradicting
            .iter()
            .any(|c| c.contains("its CPU follows that load")),
        "{cpu:?}"
    );
    assert!(d
        .other_causes
        .iter()
        .all(|c| c.category != "cpu-saturation"));
    // The ticket carries no request rates: PD's hot list names the region to act on.
    assert_cause(&d, "hot-region", "store/5");
    assert!(d.root_cause.contains("region 12"), "{}", d.root_cause);
    assert_eq!(
        d.recommended_action
            .kind
            .typed::<crate::subjects::tikv::actions::TikvAction>(),
        Some(crate::subjects::tikv::actions::TikvAction::SplitRegion { region_id: 12 })
    );
}

#[test]
fn a_stopped_container_is_a_process_exit_not_an_oom_kill_or_a_partition() {
    let mut w = World::new();
    w.container("tikv-2", "exited", Some(1), false)
        .store_state(5, "Disconnected");
    let d = w.diagnose("store_down", "tikv-2");
    assert_cause(&d, "process-exit", "store/5");
    assert_eq!(verdict(&d, "oom-kill"), Verdict::Rejected);
    assert_eq!(verdict(&d, "network-partition"), Verdict::Rejected);
    assert!(matches!(
        d.recommended_action.kind.typed(),
        Some(crate::subjects::tikv::actions::TikvAction::RestartContainer { .. })
    ));
}

#[test]
fn an_oom_killed_container_is_an_oom_kill_not_a_plain_exit() {
    let mut w = World::new();
    w.container("tikv-2", "exited", Some(137), true)
        .store_state(5, "Disconnected");
    w.events.push(json!({"container": "demo-tikv-2", "member": "tikv-2", "component": "tikv", "at": AT, "action": "oom"}));
    let d = w.diagnose("store_down", "tikv-2");
    assert_cause(&d, "oom-kill", "store/5");
    assert_eq!(verdict(&d, "process-exit"), Verdict::Rejected);
    assert!(d.root_cause.contains("OOM"), "{}", d.root_cause);
}

#[test]
fn a_running_store_that_pd_cannot_hear_is_a_partition_not_an_exit() {
    let mut w = World::new();
    w.store_state(4, "Disconnected");
    w.logs.push(json!({"container": "demo-tikv-1", "at": AT, "level": "ERROR", "message": "store heartbeat failed"}));
    let d = w.diagnose("store_down", "tikv-1");
    assert_cause(&d, "network-partition", "store/4");
    assert_eq!(verdict(&d, "process-exit"), Verdict::Rejected);
    assert_eq!(verdict(&d, "oom-kill"), Verdict::Rejected);
}

#[test]
fn a_lost_pd_leader_with_a_healthy_majority_is_a_leader_loss_not_a_quorum_loss() {
    let mut w = World::new();
    w.members[0].1 = false;
    w.leader = Some("pd-1".into());
    w.container("pd-0", "exited", Some(137), false);
    w.logs.push(json!({"container": "demo-pd-1", "at": AT, "level": "INFO", "message": "campaign PD leader ok"}));
    let d = w.diagnose("pd_member_unhealthy", "pd-0");
    assert_cause(&d, "pd-leader-loss", "pd");
    assert_eq!(verdict(&d, "pd-quorum-loss"), Verdict::Rejected);
    assert!(
        d.observation_summary.contains("2 of 3"),
        "{}",
        d.observation_summary
    );
}

#[test]
fn a_pd_majority_down_is_a_quorum_loss_not_a_leader_loss() {
    let mut w = World::new();
    w.members[1].1 = false;
    w.members[2].1 = false;
    w.leader = None;
    w.container("pd-1", "exited", Some(137), false)
        .container("pd-2", "exited", Some(137), false);
    let d = w.diagnose("pd_no_leader", "pd");
    assert_cause(&d, "pd-quorum-loss", "pd");
    assert_eq!(verdict(&d, "pd-leader-loss"), Verdict::Rejected);
}

#[test]
fn a_full_disk_is_named_on_the_store_past_the_low_space_ratio() {
    let mut w = World::new();
    w.stores[2] = store(5, "tikv-2", "Up", 5.0, 30);
    let d = w.diagnose("disk_pressure", "tikv-2");
    assert_cause(&d, "disk-full", "store/5");
}

#[test]
fn a_missing_balance_leader_scheduler_with_skewed_leaders_is_leader_imbalance() {
    let mut w = World::new();
    w.stores[0] = store(1, "tikv-0", "Up", 80.0, 80);
    w.stores[1] = store(4, "tikv-1", "Up", 80.0, 5);
    w.schedulers = vec!["balance-region-scheduler"];
    let d = w.diagnose("leader_imbalance", "cluster");
    assert_cause(&d, "leader-imbalance", "cluster");
}

#[test]
fn an_evict_leader_entry_on_a_healthy_store_is_a_leftover_not_an_imbalance() {
    let mut w = World::new();
    w.stores[1] = store(4, "tikv-1", "Up", 80.0, 0);
    w.evict = vec![4];
    let d = w.diagnose("leader_imbalance", "cluster");
    assert_cause(&d, "leftover-scheduler", "store/4");
    assert_eq!(verdict(&d, "leader-imbalance"), Verdict::Rejected);
}

#[test]
fn an_offline_store_without_enough_up_stores_is_stuck_offline() {
    let mut w = World::new();
    w.store_state(4, "Offline");
    let d = w.diagnose("store_stuck_offline", "tikv-1");
    assert_cause(&d, "store-stuck-offline", "store/4");
}

#[test]
fn a_healthy_cluster_supports_no_cause() {
    let w = World::new();
    let d = w.diagnose("grpc_p99_high", "tikv-0");
    assert!(!d.cause.is_known(), "{:#?}", d.hypotheses);
    assert!(d.confidence <= 0.2);
}

#[test]
fn a_dead_store_and_an_independent_hot_store_are_two_causes() {
    let mut w = World::new();
    w.container("tikv-0", "exited", Some(1), false)
        .store_state(1, "Disconnected");
    w.metric(5, "qps", 12000.0);
    w.hot = vec![(12, 5)];
    let d = w.diagnose("store_down", "tikv-0");
    assert_cause(&d, "process-exit", "store/1");
    assert_eq!(d.other_causes, vec![Cause::new("hot-region", "store/5")]);
}

#[test]
fn close_rivals_lower_the_confidence_and_name_the_check_that_decides() {
    // Append and CPU both elevated on the same store: disk and CPU compete.
    let mut w = World::new();
    w.metric(5, "append_p99_seconds", 0.0125)
        .metric(5, "thread_cpu_seconds", 3.2);
    let d = w.diagnose("grpc_p99_high", "tikv-2");
    let mut clear = World::new();
    clear.metric(5, "append_p99_seconds", 0.060);
    let c = clear.diagnose("grpc_p99_high", "tikv-2");
    assert!(
        d.confidence < c.confidence,
        "{} vs {}",
        d.confidence,
        c.confidence
    );
    assert!(
        d.would_change_conclusion.contains("would favour"),
        "{}",
        d.would_change_conclusion
    );
}

fn related(id: u64, invariant: &str, target: &str, summary: &str, together: bool) -> Value {
    json!({"id": id, "invariant": invariant, "target": target, "status": "open",
        "summary": summary, "together": together})
}

#[test]
fn three_stores_lost_together_with_their_processes_running_are_one_cause_on_the_pd_side() {
    let mut w = World::new();
    for id in [1, 4, 5] {
        w.store_state(id, "Disconnected");
    }
    w.related = vec![
        related(2, "store-down", "tikv-1", "store 4 (tikv-1) is down", true),
        related(3, "store-down", "tikv-2", "store 5 (tikv-2) is down", true),
    ];
    let d = w.diagnose("store_down", "tikv-0");
    assert_cause(&d, "network-partition", "pd");
    let mine = d
        .hypotheses
        .iter()
        .find(|h| h.cause == Cause::new("network-partition", "store/1"))
        .expect("the store's own partition is weighed");
    assert_eq!(mine.verdict, Verdict::Rejected);
    assert!(
        mine.contradicting
            .iter()
            .any(|c| c.contains("3 stores lost PD together")),
        "{mine:?}"
    );
    // One store alone is its own partition.
    let mut alone = World::new();
    alone.store_state(1, "Disconnected");
    assert_cause(
        &alone.diagnose("store_down", "tikv-0"),
        "network-partition",
        "store/1",
    );
}

#[test]
fn a_store_lost_while_pd_had_no_leader_is_explained_by_the_pd_leader_loss() {
    let mut w = World::new();
    w.store_state(4, "Disconnected");
    w.members[2].1 = false;
    w.leader = Some("pd-1".into());
    w.container("pd-2", "exited", Some(137), false);
    w.related = vec![
        related(
            1,
            "pd-member-unhealthy",
            "pd-2",
            "PD member pd-2 is unhealthy",
            true,
        ),
        related(
            2,
            "pd-unreachable",
            "pd",
            "the operator cannot reach PD: PD has no leader",
            false,
        ),
    ];
    let d = w.diagnose("store_down", "tikv-1");
    assert_cause(&d, "pd-leader-loss", "pd");
    assert_eq!(d.recommended_action.kind.name(), "wait-and-watch");
    assert!(d.root_cause.contains("store 4"), "{}", d.root_cause);
    // A store that died is its own cause, whatever PD went through.
    w.container("tikv-1", "exited", Some(137), false);
    assert_cause(
        &w.diagnose("store_down", "tikv-1"),
        "process-exit",
        "store/4",
    );
}

#[test]
fn a_small_ratio_of_tiny_latencies_is_not_a_slow_disk() {
    let mut w = World::new();
    // 3 ms against 1 ms: three times, but 2 ms is under any disk's noise.
    for id in [1, 4, 5] {
        w.metric(id, "append_p99_seconds", 0.001);
    }
    w.metric(1, "append_p99_seconds", 0.003);
    w.container("tikv-1", "exited", Some(137), false);
    let d = w.diagnose("store_down", "tikv-1");
    assert_cause(&d, "process-exit", "store/4");
    assert!(d.other_causes.is_empty(), "{:?}", d.other_causes);
    assert!(
        d.hypotheses
            .iter()
            .all(|h| h.cause.category != "disk-slow" || h.verdict == Verdict::Rejected),
        "{:#?}",
        d.hypotheses
    );
}

#[test]
fn a_slow_disk_and_a_full_disk_on_one_store_are_two_causes() {
    let mut w = World::new();
    w.metric(4, "append_p99_seconds", 0.080)
        .metric(4, "grpc_p99_seconds", 0.060);
    w.stores[1] = store(4, "tikv-1", "Up", 6.0, 30);
    let d = w.diagnose("disk_pressure", "tikv-1");
    let mut named = vec![d.cause.clone()];
    named.extend(d.other_causes.clone());
    named.sort();
    assert_eq!(
        named,
        vec![
            Cause::new("disk-full", "store/4"),
            Cause::new("disk-slow", "store/4")
        ],
        "{:#?}",
        d.hypotheses
    );
}

#[test]
fn a_hot_region_with_cpu_beyond_its_load_is_two_causes_and_without_it_one() {
    let mut w = World::new();
    w.metric(4, "qps", 6000.0)
        .metric(4, "thread_cpu_seconds", 4.8)
        .metric(4, "grpc_p99_seconds", 0.030);
    w.hot = vec![(12, 4)];
    // 6× the requests and 6× the CPU: the load explains the CPU.
    let d = w.diagnose("hot_store", "tikv-1");
    assert_cause(&d, "hot-region", "store/4");
    assert!(d.other_causes.is_empty(), "{:?}", d.other_causes);
    // 6× the requests and 20× the CPU, with the read pool queueing: the CPU is saturated
    // beyond what the load explains.
    w.metric(4, "thread_cpu_seconds", 16.0)
        .metric(4, "scheduler_wait_p99_seconds", 0.040);
    let d = w.diagnose("hot_store", "tikv-1");
    let mut named = vec![d.cause.clone()];
    named.extend(d.other_causes.clone());
    named.sort();
    assert_eq!(
        named,
        vec![
            Cause::new("cpu-saturation", "store/4"),
            Cause::new("hot-region", "store/4")
        ],
        "{:#?}",
        d.hypotheses
    );
}

#[test]
fn an_evict_leader_scheduler_of_a_planned_restart_is_not_left_over() {
    let mut w = World::new();
    w.evict = vec![5];
    let d = w.diagnose("evict_leader_leftover", "tikv-2");
    assert_cause(&d, "leftover-scheduler", "store/5");
    let mut sections = w.sections();
    sections.push(ContextSection {
        name: "operator_planned_work".into(),
        relevance: 85,
        content: "[5]".into(),
    });
    let brief = TicketBrief {
        id: 1,
        subject: "tikv".into(),
        invariant: "evict_leader_leftover".into(),
        target: "tikv-2".into(),
        severity: "warning".into(),
        summary: "evict-leader on tikv-2".into(),
        first_seen: AT.into(),
        last_seen: AT.into(),
        occurrences: 1,
        evidence: json!({"observed_at": AT, "metrics": [], "logs": [], "events": []}),
        timeline: vec![],
    };
    let d = diagnose_with(&TikvReasoner, &brief, &sections, &RulesConfig::default());
    assert_ne!(
        d.cause.category, "leftover-scheduler",
        "{:#?}",
        d.hypotheses
    );
}

#[test]
fn a_store_holding_most_leaders_serves_most_requests_without_a_hot_region() {
    let mut w = World::new();
    w.schedulers = vec!["balance-region-scheduler"];
    w.stores[0] = store(1, "tikv-0", "Up", 80.0, 4);
    w.stores[1] = store(4, "tikv-1", "Up", 80.0, 80);
    w.stores[2] = store(5, "tikv-2", "Up", 80.0, 6);
    w.metric(4, "qps", 9000.0);
    let d = w.diagnose("leader_imbalance", "cluster");
    assert_cause(&d, "leader-imbalance", "cluster");
    assert!(d.other_causes.is_empty(), "{:#?}", d.hypotheses);
    // The same load on a store with its fair share of leaders is a hot region.
    let mut hot = World::new();
    hot.metric(4, "qps", 9000.0);
    assert_cause(
        &hot.diagnose("hot_store", "tikv-1"),
        "hot-region",
        "store/4",
    );
}

#[test]
fn a_store_cut_off_and_then_killed_is_two_causes_and_a_plain_kill_is_one() {
    let mut w = World::new();
    w.container("tikv-1", "exited", Some(137), false)
        .store_state(4, "Disconnected");
    assert_cause(
        &w.diagnose("store_down", "tikv-1"),
        "process-exit",
        "store/4",
    );
    assert!(w.diagnose("store_down", "tikv-1").other_causes.is_empty());
    // Its own process had logged failing heartbeats before it died.
    w.logs = vec![json!({"container": "demo-tikv-1", "message": "[ERROR] store heartbeat failed"})];
    let d = w.diagnose("store_down", "tikv-1");
    let mut named = vec![d.cause.clone()];
    named.extend(d.other_causes.clone());
    named.sort();
    assert_eq!(
        named,
        vec![
            Cause::new("network-partition", "store/4"),
            Cause::new("process-exit", "store/4")
        ],
        "{:#?}",
        d.hypotheses
    );
}

#[test]
fn small_cpu_and_request_values_keep_their_digits_in_a_comparison() {
    assert_eq!(super::fmt_value(Signal::Cpu, 0.15), "0.15 cores");
    assert_eq!(super::fmt_value(Signal::Cpu, 9.6), "9.6 cores");
    assert_eq!(super::fmt_value(Signal::Load, 31.18), "31.2 req/s");
    assert_eq!(super::fmt_value(Signal::Load, 250.4), "250 req/s");
    assert_eq!(super::fmt_value(Signal::SlowScore, 1.0), "1");
    assert_eq!(super::fmt_value(Signal::SlowScore, 0.0), "0");
}
