//! `operator eval` with a model backend investigates the way `operator run` does: the
//! model is offered the subject's read-only tools on the run's own cluster, and what it
//! fetches comes from that cluster (here PD's API on the in-process simulator), through
//! the same loop and budget. The model is the OpenAI-compatible stand-in, scripted to
//! call one tool; the cluster, its PD API, the monitor and the reconciler are real.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use operator::diagnose::investigate::Budget;
use operator::diagnose::standin::{OpenAiReply, Standin, StandinConfig};
use operator::eval::runner::{BackendUnderTest, RunnerConfig};
use operator::eval::scenario::parse_all;
use operator::eval::{evaluate, read_dir, EvalConfig};
use operator::subjects::tikv::eval::harness::SimHarness;
use operator::subjects::tikv::eval::scenario::TikvScenarios;
use serde_json::{json, Value};

fn chat_requests(s: &Standin) -> Vec<Value> {
    s.requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_under_eval_is_offered_the_runs_pd_api_and_its_tool_call_reads_that_cluster() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let mut scenarios = parse_all::<TikvScenarios>(&read_dir(&dir).unwrap()).unwrap();
    scenarios.retain(|s| s.name == "node-death");
    assert_eq!(scenarios.len(), 1);

    let s = Standin::start(StandinConfig {
        // Not a valid answer: after its one tool call the model's answer fails
        // validation and the rules engine answers, which does not matter here.
        output: json!({"analysis": "x"}),
        ..Default::default()
    })
    .await
    .unwrap();
    s.push_openai([OpenAiReply::ToolCalls(vec![(
        "pd_get".into(),
        json!({"path": "stores"}),
    )])]);
    let backend = support::model::openai_backend(s.base_url(), "standin");
    let cfg = EvalConfig {
        runs: 1,
        controls: 0,
        runner: RunnerConfig {
            observe_after: Duration::from_secs(5),
            ..RunnerConfig::default()
        },
        backend: BackendUnderTest {
            name: "openai".into(),
            backend: Arc::new(backend),
            investigation: Some(Budget {
                max_steps: 2,
                ..Budget::default()
            }),
        },
        model: "standin".into(),
        jobs: 1,
    };
    let report = evaluate::<SimHarness>(&scenarios, &cfg, &|_, _, _| {}).await;
    let run = &report.runs[0];
    assert!(run.error.is_none(), "{:?}", run.error);
    assert!(run.detected, "{}", report.markdown());

    let reqs = chat_requests(&s);
    assert!(!reqs.is_empty(), "the model was never asked");
    // The tools offered are the ones that work on this cluster: PD's API and the ticket
    // memory; the simulator has no Prometheus and no containers to read.
    let offered: Vec<&str> = reqs[0]["tools"]
        .as_array()
        .expect("tools offered")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(offered.contains(&"pd_get"), "{offered:?}");
    assert!(!offered.contains(&"container_logs"), "{offered:?}");
    assert!(!offered.contains(&"prometheus_query"), "{offered:?}");

    // The tool's answer, sent back to the model, is PD's store list of this run's
    // cluster: its stores' addresses are the run's members.
    let tool_answer = reqs
        .iter()
        .flat_map(|r| r["messages"].as_array().cloned().unwrap_or_default())
        .find(|m| m["role"] == "tool")
        .expect("a tool result was sent back");
    let content = tool_answer["content"].as_str().unwrap();
    assert!(content.contains("\"stores\""), "{content}");
    for member in ["tikv-0:", "tikv-1:", "tikv-2:"] {
        assert!(content.contains(member), "{member} not in {content}");
    }

    // Every diagnosis records the investigation it came from (a ticket whose evidence
    // changed is diagnosed again, so the final diagnosis may be a later one than the
    // scripted call's), as `operator run`'s would.
    assert!(!run.diagnoses.is_empty());
    for d in &run.diagnoses {
        let inv = d.investigation.as_ref().expect("an investigation record");
        assert!(
            inv.tools_offered.iter().any(|t| t == "pd_get"),
            "{:?}",
            inv.tools_offered
        );
    }
}
