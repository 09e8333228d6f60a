//! Real diagnoses through the real local model server (`make llm`: llama.cpp's
//! `llama-server` with Qwen2.5-Coder-0.5B-Instruct, on loopback).
//!
//! What only a real model can show: the request carries the catalog-restricted schema
//! and the server's constrained decoding honours it; the answer is either parsed and
//! grounded or its failure classified; and an answer citing evidence absent from the
//! context is rejected by grounding, counted, and replaced by the rules engine's with the
//! model's failure recorded on the diagnosis and in the decision log.
//!
//! Two model calls for the whole file. The first: the answer is checked as it came, then
//! a copy with one fabricated citation goes through the reconciler. The second: an
//! investigation (at most two tool turns) of a store whose OOM kill only the container
//! tools show, asserting what the loop guarantees whatever the model does. The prompt is the one the
//! reconciler builds for this backend: the OpenAI-compatible backend's budget
//! (`--context-tokens`, 3,072 by default), so the compact answer (`diagnose::compact`),
//! and TiKV's catalog. Part of `make test`: CI runs `make llm` first. Outside CI, without
//! a server, the test says SKIP loudly; under `CI=true` a missing server fails it. The
//! diagnosis must finish within `LLM_BUDGET_SECS`, default 300 s: a guard against a hung
//! or looping server, not the speed target. The target (under 60 s per
//! diagnosis) is what `make eval-llm` measures and BENCHMARKS.md reports.

use async_trait::async_trait;
use operator::diagnose::backend::openai::{OpenAiBackend, OpenAiConfig};
use operator::diagnose::backend::{BackendError, DiagnosisBackend, RawDiagnosis, RetryPolicy};
use operator::diagnose::context::{build_prompt_with, PreparedPrompt, PromptOptions};
use operator::diagnose::decision_log::DecisionLog;
use operator::diagnose::failure::ModelFailureKind;
use operator::diagnose::ground::finalize;
use operator::diagnose::reconciler::{
    DiagnosisReconciler, MemoryQueue, NoExtraContext, ReconcilerConfig,
};
use operator::diagnose::{compact, scenarios, DiagnosisRequest};
use operator::reconcile::Metrics;
use operator::subjects::tikv::catalog::CATALOG;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The local server's address and model, from `LLM_BASE_URL`/`LLM_MODEL` or the files
/// `make llm` writes; `None` (after a loud SKIP) when there is none outside CI.
async fn local_server() -> Option<(String, String)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |f: &str| {
        std::fs::read_to_string(format!("{root}/target/llm/{f}"))
            .ok()
            .map(|s| s.trim().to_string())
    };
    let base = std::env::var("LLM_BASE_URL")
        .ok()
        .or_else(|| read("address"));
    let model = std::env::var("LLM_MODEL")
        .ok()
        .or_else(|| read("model"))
        .unwrap_or_else(|| "qwen2.5-coder-0.5b-instruct".into());
    let answering = match &base {
        Some(b) => reqwest::Client::new()
            .get(format!("{b}/health"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success()),
        None => false,
    };
    if answering {
        return base.map(|b| (b, model));
    }
    let why =
        format!("no local model server answering (target/llm/address: {base:?}); run `make llm`");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why} (CI=true: the real-model test must run)");
    }
    // Straight to the process's stderr: the test harness captures `eprintln!` of a
    // passing test, and a SKIP must be seen in `make test`'s output.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** SKIP llm_local: {why} ***\n");
    None
}

/// The real backend, with its raw answers recorded and one fabricated citation added
/// to what it hands on (a compact answer is expanded to the full one first, as the
/// operator would, so that the citation can be added).
struct Fabricating {
    real: OpenAiBackend,
    seen: Mutex<Vec<Result<RawDiagnosis, BackendError>>>,
}

const FABRICATED: &str = "tikv-1 | [FATAL] [raft.rs:42] fabricated line that was never observed";

#[async_trait]
impl DiagnosisBackend for Fabricating {
    fn name(&self) -> &str {
        "openai"
    }
    fn model(&self) -> &str {
        self.real.model()
    }
    fn context_tokens(&self) -> Option<usize> {
        self.real.context_tokens()
    }
    fn compact_answer(&self) -> bool {
        self.real.compact_answer()
    }
    async fn diagnose(&self, p: &PreparedPrompt) -> Result<RawDiagnosis, BackendError> {
        let raw = self.real.diagnose(p).await;
        self.seen.lock().push(raw.clone());
        let mut raw = raw?;
        let answer = serde_json::from_str::<Value>(&raw.json_text);
        let full = match (&p.compact, answer) {
            (Some(c), Ok(v)) => compact::expand(&v, c).ok(),
            (None, Ok(v)) => Some(v),
            (_, Err(_)) => None,
        };
        if let Some(mut v) = full {
            if let Some(ev) = v.get_mut("evidence").and_then(Value::as_array_mut) {
                ev.push(json!({"claim": "raft panicked", "source": {"kind": "log", "line": FABRICATED}}));
                raw.json_text = v.to_string();
            }
        }
        Ok(raw)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_local_model_answers_under_the_catalog_schema_and_a_fabricated_citation_is_rejected()
{
    let Some((base_url, model)) = local_server().await else {
        return;
    };
    let budget = Duration::from_secs(
        std::env::var("LLM_BUDGET_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300),
    );
    let real = OpenAiBackend::new(OpenAiConfig {
        base_url,
        model: model.clone(),
        temperature: Some(0.0),
        max_tokens: 1024,
        timeout: budget + Duration::from_secs(30),
        retry: RetryPolicy {
            max_retries: 0,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let brief = scenarios::node_death();

    // The request carries the catalog-restricted compact schema, strictly, and only
    // there: the system message lists the causes once instead of copying the schema.
    assert!(
        real.compact_answer(),
        "the default local budget asks for the compact answer"
    );
    let prompt = build_prompt_with(
        &DiagnosisRequest {
            ticket: brief.clone(),
            sections: vec![],
        },
        &PromptOptions {
            budget: real.context_tokens().expect("a local server's budget"),
            catalog: Some(&CATALOG),
            compact: real.compact_answer(),
        },
    );
    assert!(prompt.estimated_tokens <= prompt.budget);
    let offered = prompt.compact.clone().expect("a compact prompt");
    let body = real.request_body(&prompt);
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(!system.contains("\"properties\""), "{system}");
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    let schema = &body["response_format"]["json_schema"]["schema"];
    assert_eq!(schema, &offered.schema);
    assert_eq!(body["max_tokens"], offered.max_tokens);
    assert_eq!(
        schema["properties"]["cause"]["properties"]["category"]["enum"],
        json!(CATALOG.categories())
    );
    // The targets are the entities the context names, the ticket's own first; the
    // citable facts are the evidence's marked lines.
    assert_eq!(
        schema["properties"]["cause"]["properties"]["target"]["enum"][0],
        json!(brief.target)
    );
    let ids: Vec<&str> = offered.facts.iter().map(|f| f.id.as_str()).collect();
    assert!(!ids.is_empty());
    assert_eq!(
        schema["properties"]["evidence"]["items"]["enum"],
        json!(ids)
    );
    assert_eq!(schema["properties"]["evidence"]["maxItems"], 3);

    // One real diagnosis, through the reconciler, with a fabricated citation added.
    let backend = Arc::new(Fabricating {
        real,
        seen: Mutex::new(vec![]),
    });
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("decisions.jsonl");
    let metrics = Metrics::new();
    let rec = DiagnosisReconciler::new(
        backend.clone(),
        Arc::new(MemoryQueue::new(vec![])),
        Arc::new(NoExtraContext),
        ReconcilerConfig::default(),
    )
    .with_catalog(&CATALOG)
    .with_fallback(Arc::new(
        operator::subjects::tikv::hypotheses::rules_backend(Default::default()),
    ))
    .with_metrics(metrics.clone())
    .with_decision_log(DecisionLog::new(&log_path));
    let started = Instant::now();
    let d = rec.diagnose_brief(&brief).await.unwrap();
    let wall = started.elapsed();

    // The model's own answer, as it came: parsed, or its failure classified.
    let raw = backend.seen.lock()[0].clone();
    let own = match &raw {
        Ok(raw) => match finalize(&prompt, raw, "openai") {
            Ok(own) => {
                let category = own.cause.category.as_str();
                assert!(CATALOG.categories().contains(&category), "{category}");
                assert!(
                    offered.targets.contains(&own.cause.target),
                    "{}",
                    own.cause.target
                );
                // Cited by id: every citation is one of the facts sent, so grounded.
                assert!(own.grounding.ungrounded.is_empty(), "{:?}", own.grounding);
                assert!(own.context_cut.iter().any(|c| c == compact::COMPACT_NOTE));
                format!(
                    "parsed: cause {} on {}, action {}, confidence {}, {} grounded, {} ungrounded; analysis {:?}; answer {}",
                    own.cause.category,
                    own.cause.target,
                    own.recommended_action.kind.describe(),
                    own.confidence,
                    own.grounding.grounded,
                    own.grounding.ungrounded.len(),
                    own.observation_summary,
                    raw.json_text.split_whitespace().collect::<Vec<_>>().join(" ")
                )
            }
            Err(e) => format!("failed as {}: {e}", ModelFailureKind::of_ground(&e).name()),
        },
        Err(e) => format!("failed as {}: {e}", ModelFailureKind::of_backend(e).name()),
    };
    let usage = raw.as_ref().map(|r| r.usage.clone()).unwrap_or_default();
    eprintln!(
        "llm_local: {model}: {own}; {} tokens in, {} out, {:.1} tokens/s, {} ms (test wall {:.1} s)",
        usage.input_tokens,
        usage.output_tokens,
        usage.output_tokens_per_s,
        usage.wall_ms,
        wall.as_secs_f64()
    );

    // The fabricated citation is never accepted: the fallback answered, and says why.
    assert_eq!(d.backend, "rules", "{d:#?}");
    let failure = d
        .model_failure
        .clone()
        .expect("the model's failure is on the diagnosis");
    assert_eq!(failure.backend, "openai");
    assert_eq!(failure.model, model);
    if raw
        .as_ref()
        .is_ok_and(|r| finalize(&prompt, r, "openai").is_ok())
    {
        assert_eq!(failure.kind, ModelFailureKind::Ungrounded, "{failure:?}");
        assert!(
            failure.detail.contains("raft panicked"),
            "{}",
            failure.detail
        );
        assert!(usage.input_tokens > 0 && usage.output_tokens > 0 && usage.wall_ms > 0);
    }
    assert_eq!(
        rec.stats().model_failures.get(failure.kind.name()),
        Some(&1)
    );
    let exposition = metrics.render("operator");
    assert!(
        exposition.contains(&format!(
            "operator_diagnosis_model_failures_total{{backend=\"openai\",kind=\"{}\"}} 1",
            failure.kind.name()
        )),
        "{exposition}"
    );
    let line = std::fs::read_to_string(&log_path).unwrap();
    let entry: Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(entry["backend"], "rules");
    assert_eq!(entry["model_failure"]["kind"], failure.kind.name());
    assert!(
        wall < budget,
        "a diagnosis took {wall:?} (budget {budget:?})"
    );
}

/// A TiKV store whose container was OOM-killed, on the in-memory runtime: the ticket's
/// own evidence does not say so, the container tools do.
async fn oom_killed_store() -> Arc<operator::runtime::fake::FakeRuntime> {
    use operator::runtime::{labels, ContainerRuntime, ContainerSpec, NetworkSpec};
    let rt = Arc::new(operator::runtime::fake::FakeRuntime::new());
    rt.set_clock(std::time::SystemTime::now());
    rt.create_network(&NetworkSpec {
        name: "demo-net".into(),
        labels: labels::ownership("demo"),
    })
    .await
    .unwrap();
    for m in ["tikv-0", "tikv-1"] {
        let mut l = labels::ownership("demo");
        l.insert(labels::COMPONENT.into(), "tikv".into());
        rt.create_and_start(&ContainerSpec {
            name: format!("demo-{m}"),
            image: "tikv:v8.5".into(),
            labels: l,
            network: "demo-net".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    rt.push_log(
        "demo-tikv-1",
        "stderr",
        "[FATAL] [lib.rs:465] [\"memory allocation of 4294967296 bytes failed\"]",
    );
    rt.oom_kill("demo-tikv-1");
    rt
}

/// The investigation loop with the real model: whatever the model does (call tools, write
/// a call as text, answer at once, answer badly), every step is recorded within the step
/// budget, and the answer is parsed or its failure classified, with the record kept on
/// the diagnosis that stands and in the decision log. What the model concludes is not
/// asserted. Two tool turns at most, so that it stays near a minute and a half on idle
/// cores; `LLM_BUDGET_SECS` guards a hung server.
#[tokio::test(flavor = "multi_thread")]
async fn a_real_local_model_investigates_within_its_budget_and_every_step_is_recorded() {
    use operator::diagnose::investigate::{Budget, Mode, Toolboxes};
    use operator::runtime::readonly::ContainerReader;
    let Some((base_url, model)) = local_server().await else {
        return;
    };
    let budget = Duration::from_secs(
        std::env::var("LLM_BUDGET_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300),
    );
    let backend = Arc::new(
        OpenAiBackend::new(OpenAiConfig {
            base_url,
            model: model.clone(),
            temperature: Some(0.0),
            max_tokens: 512,
            timeout: budget + Duration::from_secs(30),
            retry: RetryPolicy {
                max_retries: 0,
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap(),
    );
    let rt = oom_killed_store().await;
    let tools = operator::subjects::tikv::tools::TikvTools::new("demo", "demo-net")
        .with_containers(ContainerReader::new(rt));
    let steps = 2;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("decisions.jsonl");
    let rec = DiagnosisReconciler::new(
        backend,
        Arc::new(MemoryQueue::new(vec![])),
        Arc::new(NoExtraContext),
        ReconcilerConfig::default(),
    )
    .with_catalog(&CATALOG)
    .with_fallback(Arc::new(
        operator::subjects::tikv::hypotheses::rules_backend(Default::default()),
    ))
    .with_investigation(
        Arc::new(Toolboxes(vec![Arc::new(tools)])),
        Budget::with_steps(steps),
    )
    .with_decision_log(DecisionLog::new(&log_path));
    let mut brief = scenarios::node_death();
    // The first context says the store stopped heartbeating, not why.
    brief.evidence = json!({
        "metrics": [], "logs": [], "events": [],
        "state": {"stores": [{"id": 4, "address": "demo-tikv-1:20160", "state_name": "Disconnected"}]}
    });
    let started = Instant::now();
    let d = rec.diagnose_brief(&brief).await.unwrap();
    let wall = started.elapsed();

    let inv = d
        .investigation
        .clone()
        .expect("the investigation is recorded on the diagnosis that stands");
    eprintln!(
        "llm_local investigation: {model}: {:?} in {} step(s) of {}, {} call(s) {:?}, single shot: {:?}, forced: {:?}, repeated: {}; answered by {} (failure: {:?}); {} tokens in, {} out; wall {:.1} s",
        inv.mode,
        inv.steps,
        inv.max_steps,
        inv.calls.len(),
        inv.calls
            .iter()
            .map(|c| format!("{}:{}({}) {:?} {}", c.step, c.tool, c.arguments, c.outcome, c.summary))
            .collect::<Vec<_>>(),
        inv.single_shot_reason,
        inv.forced_final,
        inv.repeated_calls,
        d.backend,
        d.model_failure.as_ref().map(|f| (f.kind.name(), f.detail.clone())),
        inv.usage.input_tokens,
        inv.usage.output_tokens,
        wall.as_secs_f64()
    );
    // The step budget holds and every call is on a step that was taken.
    assert_eq!(inv.max_steps, steps);
    assert!(inv.steps >= 1 && inv.steps <= steps, "{inv:?}");
    assert!(
        inv.calls.iter().all(|c| c.step >= 1 && c.step <= inv.steps),
        "{inv:?}"
    );
    assert!(inv.calls.windows(2).all(|w| w[0].step <= w[1].step));
    assert!(inv.tools_offered.iter().any(|t| t == "container_state"));
    // The mode says what happened: calls made, or why there were none.
    match inv.mode {
        Mode::Investigated => assert!(!inv.calls.is_empty(), "{inv:?}"),
        Mode::SingleShot => {
            assert!(inv.calls.is_empty(), "{inv:?}");
            assert!(inv.single_shot_reason.is_some(), "{inv:?}");
        }
    }
    // The answer is the model's, parsed, or the fallback's with the model's failure named.
    match d.backend.as_str() {
        "openai" => assert!(d.model_failure.is_none()),
        "rules" => {
            let f = d.model_failure.as_ref().expect("the failure is classified");
            assert_eq!(f.backend, "openai");
            assert!(!f.kind.name().is_empty());
        }
        other => panic!("answered by {other}"),
    }
    let line = std::fs::read_to_string(&log_path).unwrap();
    let entry: Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(entry["backend"], d.backend.as_str());
    assert!(
        entry.to_string().contains("\"investigation\""),
        "the decision log carries the investigation: {entry}"
    );
    assert!(
        wall < budget,
        "an investigation took {wall:?} (budget {budget:?})"
    );
}
