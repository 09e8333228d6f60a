//! An etcd ticket reaches a model in etcd's vocabulary: the reconciler the subject
//! registry builds (the one `operator run` and `operator eval` use for etcd) sends
//! etcd's system prompt, a schema whose causes are etcd's catalog, and, for a small
//! prompt budget, the compact answer format. `operator run` for etcd hands the backend
//! the flags select straight to this reconciler (an earlier etcd wrapper around the
//! backend rewrote the prompt and sent the full answer's schema to a model asked for
//! the compact one).

mod support;

use std::sync::Arc;
use std::time::Duration;

use operator::diagnose::reconciler::ReconcilerConfig;
use operator::diagnose::standin::{Standin, StandinConfig};
use operator::diagnose::TicketBrief;
use operator::subjects::ReconcilerParts;
use operator::tickets::TicketStore;
use serde_json::{json, Value};

fn member_down() -> TicketBrief {
    TicketBrief {
        id: 7,
        subject: "etcd".into(),
        invariant: "member-down".into(),
        target: "etcd-1".into(),
        severity: "critical".into(),
        summary: "member etcd-1 is down: container e-etcd-1 exited with exit code 137".into(),
        first_seen: "2026-12-06T10:00:00Z".into(),
        last_seen: "2026-12-06T10:00:00Z".into(),
        occurrences: 1,
        evidence: json!({
            "observed_at": "2026-12-06T10:00:00Z",
            "metrics": [], "logs": [],
            "events": ["2026-12-06T10:00:00Z [e-etcd-1] die exit_code=137"],
            "state": {"members": [{"name": "etcd-1", "answering": false}]}
        }),
        timeline: vec![],
    }
}

#[tokio::test]
async fn an_etcd_ticket_reaches_a_small_model_with_etcds_prompt_its_catalog_and_the_compact_answer()
{
    let s = Standin::start(StandinConfig {
        output: json!({"analysis": "not a full answer"}),
        ..Default::default()
    })
    .await
    .unwrap();
    let backend = Arc::new(support::model::openai_backend(s.base_url(), "standin"));
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(TicketStore::open(dir.path().join("tickets")).unwrap());
    let (rec, _queue) = operator::subjects::diagnosis("etcd").reconciler(ReconcilerParts {
        backend,
        store,
        latest: Arc::default(),
        cluster: "e".into(),
        related_window: Duration::from_secs(60),
        extra_context: vec![],
        config: ReconcilerConfig::default(),
        memory: None,
    });
    // The stand-in's answer fails validation and etcd's rules answer: what matters here
    // is what the model was sent.
    let d = rec.diagnose_brief(&member_down()).await.unwrap();
    assert!(
        d.model_failure.is_some(),
        "the invalid answer is the model's failure"
    );

    let reqs: Vec<Value> = s
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(reqs.len(), 1);
    let system = reqs[0]["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("etcd cluster"), "{system}");
    assert!(!system.contains("TiKV"), "{system}");
    // The compact answer: its format in the prompt, its schema on the wire, its bound.
    assert!(
        system.contains("evidence (1 to 3 ids of the facts marked [F1]"),
        "{system}"
    );
    let schema = &reqs[0]["response_format"]["json_schema"]["schema"];
    let categories: Vec<&str> = schema["properties"]["cause"]["properties"]["category"]["enum"]
        .as_array()
        .expect("a closed category enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for etcd in ["process-exit", "quorum-loss", "db-quota", "disk-slow"] {
        assert!(categories.contains(&etcd), "{etcd} missing: {categories:?}");
    }
    for tikv in ["hot-region", "pd-leader-loss", "leftover-scheduler"] {
        assert!(
            !categories.contains(&tikv),
            "{tikv} offered: {categories:?}"
        );
    }
    assert!(schema["properties"]["analysis"].is_object(), "{schema}");
    assert_eq!(
        reqs[0]["max_tokens"].as_u64(),
        Some(u64::from(operator::diagnose::compact::COMPACT_MAX_TOKENS))
    );
}
