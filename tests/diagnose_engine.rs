//! The diagnosis engine without a network: rules backend, context budget, grounding,
//! decision log, rendering and the reconciler loop over an in-memory queue.

use async_trait::async_trait;
use operator::diagnose::backend::rules::RulesConfig;
use operator::diagnose::backend::{BackendError, DiagnosisBackend, RawDiagnosis};
use operator::diagnose::context::{build_prompt, estimate_tokens, PastTicket, PreparedPrompt};
use operator::diagnose::decision_log::{DecisionEntry, DecisionLog};
use operator::diagnose::ground::{finalize, ground};
use operator::diagnose::reconciler::{
    DiagnosisReconciler, MemoryQueue, NoExtraContext, ReconcilerConfig, TicketQueue,
};
use operator::diagnose::render::render_markdown;
use operator::diagnose::scenarios;
use operator::diagnose::{
    ActionKind, CitationRef, ContextSection, Diagnosis, DiagnosisRequest, TicketBrief,
};
use operator::subjects::tikv::actions::TikvAction;
use operator::subjects::tikv::hypotheses::{diagnose_evidence, rules_backend};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn rules_diagnosis(brief: TicketBrief, cfg: RulesConfig) -> Diagnosis {
    let prompt = build_prompt(
        &DiagnosisRequest {
            ticket: brief,
            sections: vec![],
        },
        12_000,
    )
    .with_vocabulary(&operator::subjects::tikv::catalog::CATALOG);
    let raw = rules_backend(cfg).diagnose(&prompt).await.unwrap();
    finalize(&prompt, &raw, "rules").unwrap()
}

fn assert_fully_grounded(d: &Diagnosis) {
    assert!(d.grounding.grounded >= 2, "too few citations: {d:#?}");
    assert!(
        d.grounding.ungrounded.is_empty(),
        "ungrounded: {:?}",
        d.grounding.ungrounded
    );
}

#[tokio::test]
async fn a_killed_store_is_diagnosed_as_down_with_a_restart_of_its_container() {
    let d = rules_diagnosis(scenarios::node_death(), RulesConfig::default()).await;
    assert!(
        d.root_cause.contains("store 4") && d.root_cause.contains("tikv-1"),
        "{}",
        d.root_cause
    );
    assert!(d.root_cause.contains("137"), "{}", d.root_cause);
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::RestartContainer {
            member: "tikv-1".into()
        })
    );
    let partition = d
        .options_considered
        .iter()
        .find(|o| o.option == "network partition")
        .unwrap();
    assert!(partition.why_not.contains("exited"));
    assert!(d
        .evidence
        .iter()
        .any(|c| matches!(&c.source, CitationRef::Event { what } if what.contains("died"))));
    assert!(d.evidence.iter().any(|c| matches!(&c.source, CitationRef::Log { line } if line.contains("store maybe disconnected"))));
    assert_eq!(d.backend, "rules");
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn without_restart_permission_a_dead_store_gets_wait_and_watch_until_max_store_down_time() {
    let cfg = RulesConfig {
        allow_restart: false,
        ..Default::default()
    };
    let d = rules_diagnosis(scenarios::node_death(), cfg).await;
    // Last heartbeat 06:05, observed 06:10, max-store-down-time 30 min: 25 min to go.
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::WaitAndWatch { minutes: 25 })
    );
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn a_running_but_unreachable_store_is_diagnosed_as_a_partition_not_a_crash() {
    let d = rules_diagnosis(scenarios::network_partition(), RulesConfig::default()).await;
    assert!(d.root_cause.contains("partition"), "{}", d.root_cause);
    assert!(matches!(
        d.recommended_action.kind.typed(),
        Some(TikvAction::InvestigateFurther { .. })
    ));
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn disk_pressure_across_the_cluster_recommends_scaling_out_tikv() {
    let d = rules_diagnosis(scenarios::disk_pressure(), RulesConfig::default()).await;
    assert!(
        d.root_cause.contains("store 5") && d.root_cause.contains("disk pressure"),
        "{}",
        d.root_cause
    );
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::ScaleOut {
            component: "tikv".into(),
            count: 1
        })
    );
    assert!(d.evidence.iter().any(|c| matches!(&c.source, CitationRef::Metric { series, .. } if series.contains("store=\"5\",type=\"available\""))));
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn disk_pressure_on_one_store_only_moves_regions_off_it_onto_its_peers() {
    let mut b = scenarios::disk_pressure();
    let gib = 1024.0f64.powi(3);
    // Stores 1 and 4 have plenty of room.
    for m in b.evidence["metrics"].as_array_mut().unwrap() {
        let s = m["series"].as_str().unwrap().to_string();
        if s.contains("type=\"available\"") && !s.contains("store=\"5\"") {
            m["value"] = serde_json::json!((70.0 * gib) as u64);
        }
    }
    let d = rules_diagnosis(b, RulesConfig::default()).await;
    assert_eq!(
        d.recommended_action.kind.typed::<TikvAction>(),
        Some(TikvAction::SetStoreWeight {
            store_id: 5,
            leader: 1.0,
            region: 0.5
        }),
        "{:?}",
        d.recommended_action
    );
    assert!(
        d.recommended_action
            .rationale
            .contains("other stores have room"),
        "{}",
        d.recommended_action.rationale
    );
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn a_dominant_hot_region_is_split() {
    let d = rules_diagnosis(scenarios::hot_region(), RulesConfig::default()).await;
    assert!(
        d.root_cause.contains("region 12") && d.root_cause.contains("store 4"),
        "{}",
        d.root_cause
    );
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::SplitRegion { region_id: 12 })
    );
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn a_hot_store_without_a_dominant_region_moves_the_hottest_leader_to_the_coldest_store() {
    let mut b = scenarios::hot_region();
    b.evidence["state"]["hot_regions"] = serde_json::json!([{"region_id": 12, "store_id": 4, "qps": 1500.0}, {"region_id": 30, "store_id": 4, "qps": 1400.0}]);
    let d = rules_diagnosis(b, RulesConfig::default()).await;
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::TransferLeader {
            region_id: 12,
            to_store: 1
        })
    );
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn a_slow_disk_on_one_store_evicts_its_leaders() {
    let d = rules_diagnosis(scenarios::slow_disk(), RulesConfig::default()).await;
    assert!(
        d.root_cause.contains("store 5") && d.root_cause.contains("slow disk"),
        "{}",
        d.root_cause
    );
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::EvictLeader { store_id: 5 })
    );
    assert!(d
        .evidence
        .iter()
        .any(|c| matches!(&c.source, CitationRef::Metric { value, .. } if *value == 1.8)));
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn an_evict_leader_entry_left_behind_is_removed() {
    let d = rules_diagnosis(
        scenarios::evict_leader_left_behind(),
        RulesConfig::default(),
    )
    .await;
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::RemoveEvictLeader { store_id: 4 })
    );
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn two_dead_pd_members_are_diagnosed_as_lost_quorum() {
    let d = rules_diagnosis(scenarios::pd_no_quorum(), RulesConfig::default()).await;
    assert!(
        d.root_cause.contains("no quorum") && d.root_cause.contains("1 of 3"),
        "{}",
        d.root_cause
    );
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::RestartContainer {
            member: "pd-1".into()
        })
    );
    assert_fully_grounded(&d);
}

#[test]
fn the_rules_engine_is_deterministic() {
    let cfg = RulesConfig::default();
    let a = diagnose_evidence(&scenarios::node_death(), &cfg);
    let b = diagnose_evidence(&scenarios::node_death(), &cfg);
    assert_eq!(a, b);
}

#[test]
fn fabricated_citations_are_flagged_as_ungrounded() {
    let brief = scenarios::slow_disk();
    let prompt = build_prompt(
        &DiagnosisRequest {
            ticket: brief.clone(),
            sections: vec![],
        },
        12_000,
    )
    .with_vocabulary(&operator::subjects::tikv::catalog::CATALOG);
    let mut out = diagnose_evidence(&brief, &RulesConfig::default());
    out.evidence.push(operator::diagnose::Citation {
        claim: "invented value".into(),
        source: CitationRef::Metric {
            series: "tikv_raftstore_append_log_duration_seconds_p99{instance=\"tikv-2:20180\"}"
                .into(),
            value: 7.5,
        },
    });
    out.evidence.push(operator::diagnose::Citation {
        claim: "invented store".into(),
        source: CitationRef::entity("store", 99),
    });
    out.evidence.push(operator::diagnose::Citation {
        claim: "invented log".into(),
        source: CitationRef::Log {
            line: "panicked at raft.rs".into(),
        },
    });
    out.evidence.push(operator::diagnose::Citation {
        claim: "invented path".into(),
        source: CitationRef::state("pd_state", "stores.99.state"),
    });
    let g = ground(&prompt, &out);
    assert_eq!(
        g.ungrounded,
        vec![
            "invented value",
            "invented store",
            "invented log",
            "invented path"
        ]
    );
}

fn section(name: &str, relevance: u8, lines: usize) -> ContextSection {
    ContextSection {
        name: name.into(),
        relevance,
        content: (0..lines)
            .map(|i| format!("{name} sample {i}: tikv_grpc_msg_duration_seconds_count{{type=\"kv_get\"}} = {}", i * 7))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn the_budget_cuts_the_least_relevant_sections_first_and_records_the_cuts() {
    let req = DiagnosisRequest {
        ticket: scenarios::node_death(),
        sections: vec![
            section("metrics_window", 200, 150),
            section("topology", 10, 150),
            section("docker_events", 50, 150),
            section("pd_operators", 30, 150),
        ],
    };
    let full = build_prompt(&req, 1_000_000);
    assert!(full.context_cut.is_empty());
    let budget = full.estimated_tokens - 4_000;
    let p = build_prompt(&req, budget);
    assert!(
        p.estimated_tokens <= budget,
        "{} > {budget}",
        p.estimated_tokens
    );
    // topology (10) goes first, then pd_operators (30); the metrics window survives whole.
    assert!(
        p.context_cut[0].starts_with("section 'topology' (relevance 10)"),
        "{:?}",
        p.context_cut
    );
    assert!(
        p.context_cut.iter().all(|c| !c.contains("metrics_window")),
        "{:?}",
        p.context_cut
    );
    assert!(p.user.contains("metrics_window sample 149"));
    assert!(!p.user.contains("topology sample 1:"));
    // The evidence is never cut before lower-relevance sections.
    assert!(p.user.contains("container tikv-1 died (exitCode=137)"));
    // A quarter of the full prompt: the metrics window itself must lose lines.
    let tight = build_prompt(&req, full.estimated_tokens / 4);
    assert!(tight.estimated_tokens <= full.estimated_tokens / 4 + 50);
    let metrics_cut = tight
        .context_cut
        .iter()
        .find(|c| c.contains("metrics_window"))
        .unwrap();
    assert!(metrics_cut.contains("downsampled"), "{metrics_cut}");
    // Downsampling keeps the first and the last sample.
    assert!(
        tight.user.contains("metrics_window sample 0:")
            && tight.user.contains("metrics_window sample 149:")
    );
}

#[test]
fn the_default_budget_holds_for_a_large_context() {
    let req = DiagnosisRequest {
        ticket: scenarios::node_death(),
        sections: (0..12)
            .map(|i| section(&format!("s{i}"), (i * 20) as u8, 200))
            .collect(),
    };
    let p = build_prompt(&req, operator::diagnose::DEFAULT_TOKEN_BUDGET);
    assert!(p.estimated_tokens <= 12_000);
    assert_eq!(
        p.estimated_tokens,
        estimate_tokens(&p.system) + estimate_tokens(&p.user)
    );
    assert!(!p.context_cut.is_empty());
}

#[tokio::test]
async fn a_decision_log_line_round_trips_and_the_render_names_the_action() {
    let d = rules_diagnosis(scenarios::node_death(), RulesConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let log = DecisionLog::new(dir.path().join("sub/decisions.jsonl"));
    let e = DecisionEntry::from_diagnosis(41, &d, "2026-11-22T06:10:01Z");
    log.append(&e).unwrap();
    log.append(&e).unwrap();
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(text.lines().count(), 2);
    let back = log.read_all().unwrap();
    assert_eq!(back, vec![e.clone(), e.clone()]);
    assert_eq!(back[0].decision["kind"], "restart-container");
    assert_eq!(back[0].decision["params"]["member"], "tikv-1");
    // Field order: observation -> diagnosis -> options -> decision -> rationale.
    let line = text.lines().next().unwrap();
    let pos = |k: &str| line.find(&format!("\"{k}\"")).unwrap();
    assert!(
        pos("observation") < pos("diagnosis")
            && pos("diagnosis") < pos("options")
            && pos("options") < pos("decision")
            && pos("decision") < pos("rationale")
    );
    let md = render_markdown(&d);
    assert!(md.contains("restart-container tikv-1"));
    assert!(md.contains("not executed"));
    assert!(md.contains(&d.root_cause));
}

fn queue_with(tickets: Vec<TicketBrief>) -> Arc<MemoryQueue> {
    Arc::new(MemoryQueue::new(tickets))
}

#[tokio::test]
async fn the_loop_diagnoses_every_open_ticket_and_logs_each_decision() {
    let q = queue_with(vec![
        scenarios::node_death(),
        scenarios::disk_pressure(),
        scenarios::slow_disk(),
    ]);
    q.add_past(vec![PastTicket {
        id: 3,
        invariant: "store_down".into(),
        target: "store/4".into(),
        summary: "store 4 Disconnected".into(),
        root_cause: "container killed".into(),
        action: "restart-container tikv-1".into(),
        confirmed_cause: None,
    }]);
    let dir = tempfile::tempdir().unwrap();
    let log = DecisionLog::new(dir.path().join("d.jsonl"));
    let r = DiagnosisReconciler::new(
        Arc::new(rules_backend(RulesConfig::default())),
        q.clone(),
        Arc::new(NoExtraContext),
        ReconcilerConfig {
            holder: "t".into(),
            ..Default::default()
        },
    )
    .with_catalog(&operator::subjects::tikv::catalog::CATALOG)
    .with_decision_log(log.clone());
    assert_eq!(r.run_until_idle().await, 3);
    for id in [41, 51, 71] {
        assert!(q.diagnosis(id).is_some(), "ticket {id}");
    }
    assert_eq!(
        log.read_all()
            .unwrap()
            .iter()
            .map(|e| e.ticket_id)
            .collect::<Vec<_>>(),
        vec![41, 51, 71]
    );
    assert_eq!(r.run_until_idle().await, 0);
}

/// A backend that records call times and fails the first call with a 429.
struct RateLimitedOnce {
    calls: Mutex<Vec<tokio::time::Instant>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    fail_first: bool,
}

#[async_trait]
impl DiagnosisBackend for RateLimitedOnce {
    fn name(&self) -> &str {
        "fake"
    }
    async fn diagnose(&self, p: &PreparedPrompt) -> Result<RawDiagnosis, BackendError> {
        let n = {
            let mut c = self.calls.lock();
            c.push(tokio::time::Instant::now());
            c.len()
        };
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.fail_first && n == 1 {
            return Err(BackendError::RateLimited {
                retry_after: Some(Duration::from_secs(30)),
                message: "slow down".into(),
            });
        }
        rules_backend(RulesConfig::default()).diagnose(p).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_pauses_the_whole_loop_for_retry_after() {
    let q = queue_with(vec![scenarios::node_death(), scenarios::disk_pressure()]);
    let backend = Arc::new(RateLimitedOnce {
        calls: Mutex::new(vec![]),
        in_flight: 0.into(),
        max_in_flight: 0.into(),
        fail_first: true,
    });
    let r = DiagnosisReconciler::new(
        backend.clone(),
        q.clone(),
        Arc::new(NoExtraContext),
        ReconcilerConfig {
            holder: "t".into(),
            concurrency: 2,
            poll_interval: Duration::from_secs(1),
            ..Default::default()
        },
    )
    .with_catalog(&operator::subjects::tikv::catalog::CATALOG);
    let stop = CancellationToken::new();
    let start = tokio::time::Instant::now();
    let h = tokio::spawn({
        let r = r.clone();
        let stop = stop.clone();
        async move { r.run(stop).await }
    });
    tokio::time::sleep(Duration::from_secs(60)).await;
    stop.cancel();
    h.await.unwrap();
    let calls = backend.calls.lock().clone();
    assert!(q.diagnosis(41).is_some() && q.diagnosis(51).is_some());
    assert_eq!(r.stats().rate_limit_pauses, 1);
    // The first call failed at ~0 s; the retry of ticket 41 waited the full 30 s pause.
    let later: Vec<_> = calls
        .iter()
        .filter(|t| t.duration_since(start) >= Duration::from_secs(30))
        .collect();
    assert!(
        !later.is_empty(),
        "{:?}",
        calls
            .iter()
            .map(|t| t.duration_since(start))
            .collect::<Vec<_>>()
    );
    // Any call started after the 429 answered (at 0.1 s) started only after the pause.
    for t in &calls {
        let at = t.duration_since(start);
        assert!(
            at < Duration::from_millis(100) || at >= Duration::from_millis(30_100),
            "{at:?}"
        );
    }
    assert!(q
        .releases()
        .iter()
        .any(|(id, why)| *id == 41 && why.contains("rate limited")));
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded_by_the_semaphore() {
    let tickets: Vec<TicketBrief> = (0..6)
        .map(|i| {
            let mut b = scenarios::node_death();
            b.id = 100 + i;
            b
        })
        .collect();
    let q = queue_with(tickets);
    let backend = Arc::new(RateLimitedOnce {
        calls: Mutex::new(vec![]),
        in_flight: 0.into(),
        max_in_flight: 0.into(),
        fail_first: false,
    });
    let r = DiagnosisReconciler::new(
        backend.clone(),
        q.clone(),
        Arc::new(NoExtraContext),
        ReconcilerConfig {
            holder: "t".into(),
            concurrency: 2,
            ..Default::default()
        },
    )
    .with_catalog(&operator::subjects::tikv::catalog::CATALOG);
    let stop = CancellationToken::new();
    let h = tokio::spawn({
        let r = r.clone();
        let stop = stop.clone();
        async move { r.run(stop).await }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.cancel();
    h.await.unwrap();
    assert_eq!(r.stats().diagnosed, 6);
    assert_eq!(backend.max_in_flight.load(Ordering::SeqCst), 2);
}

struct AlwaysFails(BackendError);

#[async_trait]
impl DiagnosisBackend for AlwaysFails {
    fn name(&self) -> &str {
        "claude"
    }
    async fn diagnose(&self, _p: &PreparedPrompt) -> Result<RawDiagnosis, BackendError> {
        Err(self.0.clone())
    }
}

#[tokio::test]
async fn a_spend_capped_model_falls_back_to_the_rules_engine() {
    let q = queue_with(vec![scenarios::node_death()]);
    let r = DiagnosisReconciler::new(
        Arc::new(AlwaysFails(BackendError::SpendLimitReached("cap".into()))),
        q.clone(),
        Arc::new(NoExtraContext),
        ReconcilerConfig {
            holder: "t".into(),
            ..Default::default()
        },
    )
    .with_catalog(&operator::subjects::tikv::catalog::CATALOG)
    .with_fallback(Arc::new(rules_backend(RulesConfig::default())));
    assert_eq!(r.run_until_idle().await, 1);
    let d = q.diagnosis(41).unwrap();
    assert_eq!(d.backend, "rules");
    assert!(d.context_cut.iter().any(|c| c.contains("spend limit")));
    assert_eq!(r.stats().fallback_used, 1);
}

#[tokio::test]
async fn a_failing_ticket_is_released_and_backed_off_without_a_fallback() {
    let q = queue_with(vec![scenarios::node_death()]);
    let r = DiagnosisReconciler::new(
        Arc::new(AlwaysFails(BackendError::Refusal { category: None })),
        q.clone(),
        Arc::new(NoExtraContext),
        ReconcilerConfig {
            holder: "t".into(),
            ..Default::default()
        },
    )
    .with_catalog(&operator::subjects::tikv::catalog::CATALOG);
    assert_eq!(r.run_until_idle().await, 0);
    assert_eq!(r.stats().failed, 1);
    assert!(q.diagnosis(41).is_none());
    // Backed off: not offered again right away.
    assert_eq!(r.run_until_idle().await, 0);
    assert_eq!(r.stats().failed, 1);
    // The lease was dropped: another holder can take it.
    assert!(q.lease(41, "other", Duration::from_secs(60)).await);
    assert!(q.next_open(&HashSet::new()).await.is_none());
}

#[tokio::test]
async fn a_store_stuck_offline_without_enough_up_stores_is_cancelled() {
    let mut b = scenarios::evict_leader_left_behind();
    b.invariant = "store_stuck_offline".into();
    b.target = "store/4".into();
    b.evidence["state"]["evict_leader_stores"] = serde_json::json!([]);
    b.evidence["state"]["stores"][1]["state"] = serde_json::json!("Offline");
    b.evidence["state"]["stores"][2]["state"] = serde_json::json!("Down");
    let d = rules_diagnosis(b, RulesConfig::default()).await;
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::CancelStoreDelete { store_id: 4 })
    );
    assert!(
        d.root_cause.contains("only 1 Up stores"),
        "{}",
        d.root_cause
    );
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn an_unreachable_pd_whose_container_died_is_reported_as_blindness() {
    let mut b = scenarios::pd_no_quorum();
    b.invariant = "pd_unreachable".into();
    b.target = "pd".into();
    b.evidence["logs"] = serde_json::json!([{"source": "operator", "at": "2026-11-22T06:08:00Z", "line": "GET http://pd-0:2379/pd/api/v1/stores: connection refused"}]);
    b.evidence["events"] = serde_json::json!([{"source": "docker", "at": "2026-11-22T06:07:10Z", "what": "container pd-0 died (exitCode=1)"}]);
    let d = rules_diagnosis(b, RulesConfig::default()).await;
    assert!(
        d.root_cause.contains("blind") && d.root_cause.contains("PD"),
        "{}",
        d.root_cause
    );
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::RestartContainer {
            member: "pd-0".into()
        })
    );
    assert_fully_grounded(&d);
}

#[test]
fn without_a_key_auto_selects_the_rules_engine_and_a_key_file_selects_claude() {
    use operator::diagnose::backend::claude::ApiKey;
    use operator::diagnose::backend::{select_backend_with_key, BackendSettings};
    let s = BackendSettings {
        reasoner: Some(operator::subjects::tikv::hypotheses::reasoner()),
        ..BackendSettings::default()
    };
    let b = select_backend_with_key(&s, ApiKey::resolve(None, None)).unwrap();
    assert_eq!(b.name(), "rules");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("key");
    std::fs::write(&f, "sk-ant-api03-from-file-0000000000\n").unwrap();
    let b = select_backend_with_key(&s, ApiKey::resolve(Some("  ".into()), Some(&f))).unwrap();
    assert_eq!(b.name(), "claude");
    assert_eq!(
        operator::diagnose::redact::redact("x sk-ant-api03-from-file-0000000000 y"),
        "x [REDACTED] y"
    );
}

#[test]
fn a_metrics_window_section_is_downsampled_per_series() {
    use operator::diagnose::context::sections::metrics_window;
    let pts: Vec<(String, f64)> = (0..500)
        .map(|i| (format!("06:{:02}:{:02}", i / 60, i % 60), i as f64))
        .collect();
    let s = metrics_window(
        &[(
            "tikv_store_size_bytes{store=\"4\",type=\"available\"}".into(),
            pts,
        )],
        20,
    );
    assert_eq!(s.content.lines().count(), 1);
    assert!(s.content.split_whitespace().count() <= 21);
    assert!(s.content.contains("=499"));
}

#[tokio::test]
async fn hot_store_load_is_attributed_by_instance_or_by_text_when_labels_lack_a_store() {
    let mut b = scenarios::hot_region();
    b.evidence["metrics"] = serde_json::json!([
        {"series": "tikv_grpc_qps{instance=\"tikv-0:20180\"}", "value": 200.0, "at": scenarios::OBSERVED_AT},
        {"series": "tikv_grpc_qps{instance=\"tikv-1:20180\"}", "value": 5200.0, "at": scenarios::OBSERVED_AT},
        {"series": "tikv_grpc_qps{member=\"tikv-2\"}", "value": 300.0, "at": scenarios::OBSERVED_AT}
    ]);
    let d = rules_diagnosis(b, RulesConfig::default()).await;
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::SplitRegion { region_id: 12 })
    );
    assert!(
        d.observation_summary.contains("across 3 stores"),
        "{}",
        d.observation_summary
    );
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn the_ticket_stores_kebab_case_invariants_and_bare_targets_are_understood() {
    let mut b = scenarios::node_death();
    b.invariant = "store-down".into();
    b.target = "tikv-1".into();
    let d = rules_diagnosis(b, RulesConfig::default()).await;
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::RestartContainer {
            member: "tikv-1".into()
        })
    );
    let mut b = scenarios::slow_disk();
    b.invariant = "raft-io-slow".into();
    b.target = "store-5".into();
    let d = rules_diagnosis(b, RulesConfig::default()).await;
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::EvictLeader { store_id: 5 })
    );
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn an_event_that_names_its_container_in_source_is_attributed() {
    let mut b = scenarios::node_death();
    b.evidence["events"] = serde_json::json!([{"source": "tikv-1", "at": "2026-11-22T06:04:58Z", "what": "die exit_code=137 oom_killed=false"}]);
    let d = rules_diagnosis(b, RulesConfig::default()).await;
    assert!(d.root_cause.contains("exit code 137"), "{}", d.root_cause);
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::RestartContainer {
            member: "tikv-1".into()
        })
    );
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn leader_imbalance_with_the_balance_scheduler_removed_adds_it_back() {
    let mut b = scenarios::evict_leader_left_behind();
    b.invariant = "leader_imbalance".into();
    b.target = "cluster".into();
    b.evidence["state"]["evict_leader_stores"] = serde_json::json!([]);
    b.evidence["state"]["schedulers"] = serde_json::json!(["balance-region-scheduler"]);
    let d = rules_diagnosis(b, RulesConfig::default()).await;
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::AddScheduler {
            name: "balance-leader-scheduler".into()
        })
    );
    assert_fully_grounded(&d);
}

#[tokio::test]
async fn a_ticket_leased_by_another_holder_is_left_alone() {
    let q = queue_with(vec![scenarios::node_death(), scenarios::slow_disk()]);
    assert!(
        q.lease(41, "other-operator", Duration::from_secs(600))
            .await
    );
    let r = DiagnosisReconciler::new(
        Arc::new(rules_backend(RulesConfig::default())),
        q.clone(),
        Arc::new(NoExtraContext),
        ReconcilerConfig {
            holder: "me".into(),
            ..Default::default()
        },
    )
    .with_catalog(&operator::subjects::tikv::catalog::CATALOG);
    assert_eq!(r.run_until_idle().await, 1);
    assert!(q.diagnosis(41).is_none());
    assert!(q.diagnosis(71).is_some());
}
