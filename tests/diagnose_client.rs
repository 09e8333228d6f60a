//! The Claude and OpenAI-compatible clients against the local stand-in server, which
//! speaks the wire format of the LLM reference: every scripted case.

use operator::diagnose::backend::claude::{ApiKey, ClaudeBackend, ClaudeConfig, OutputStrategy};
use operator::diagnose::backend::openai::{OpenAiBackend, OpenAiConfig};
use operator::diagnose::backend::rules::RulesConfig;
use operator::diagnose::backend::{BackendError, DiagnosisBackend, RetryPolicy};
use operator::diagnose::context::{build_prompt, PreparedPrompt};
use operator::diagnose::ground::{finalize, GroundError};
use operator::diagnose::scenarios;
use operator::diagnose::standin::{OpenAiReply, Reply, Standin, StandinConfig};
use operator::diagnose::{ActionKind, DiagnosisRequest};
use operator::subjects::tikv::actions::TikvAction;
use operator::subjects::tikv::hypotheses::diagnose_evidence;
use std::time::{Duration, Instant};

fn prompt() -> PreparedPrompt {
    build_prompt(
        &DiagnosisRequest {
            ticket: scenarios::node_death(),
            sections: vec![],
        },
        12_000,
    )
    .with_vocabulary(&operator::subjects::tikv::catalog::CATALOG)
}

async fn standin() -> Standin {
    let output = serde_json::to_value(diagnose_evidence(
        &scenarios::node_death(),
        &RulesConfig::default(),
    ))
    .unwrap();
    Standin::start(StandinConfig {
        output,
        models_without_json_outputs: vec!["claude-haiku-4-5".into()],
        unknown_models: vec!["claude-3-5-sonnet-20241022".into()],
        ..Default::default()
    })
    .await
    .unwrap()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        ..Default::default()
    }
}

fn claude(s: &Standin, model: &str, strategy: OutputStrategy) -> ClaudeBackend {
    let cfg = ClaudeConfig {
        base_url: s.base_url(),
        model: model.into(),
        strategy,
        retry: fast_retry(),
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    ClaudeBackend::new(cfg, ApiKey::new(s.api_key())).unwrap()
}

#[tokio::test]
async fn a_structured_output_call_sends_the_reference_headers_and_body_and_skips_the_thinking_block(
) {
    let s = standin().await;
    let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
    let p = prompt();
    let raw = c.diagnose(&p).await.unwrap();
    let d = finalize(&p, &raw, "claude").unwrap();
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::RestartContainer {
            member: "tikv-1".into()
        })
    );
    assert!(
        d.grounding.ungrounded.is_empty(),
        "{:?}",
        d.grounding.ungrounded
    );
    assert_eq!(d.model, "claude-sonnet-5-5");
    let reqs = s.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/v1/messages");
    assert_eq!(r.header("x-api-key"), Some(s.api_key()));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("authorization"), None, "exactly one auth header");
    let b = r.json();
    for absent in [
        "temperature",
        "top_p",
        "top_k",
        "thinking",
        "tools",
        "tool_choice",
    ] {
        assert!(b.get(absent).is_none(), "{absent} must not be sent");
    }
    assert_eq!(b["output_config"]["format"]["type"], "json_schema");
    assert_eq!(
        b["output_config"]["format"]["schema"]["additionalProperties"],
        false
    );
    assert_eq!(b["system"][0]["cache_control"]["type"], "ephemeral");
    assert_eq!(b["system"][0]["text"], p.system);
    assert_eq!(b["messages"][0]["role"], "user");
    assert!(b["max_tokens"].as_u64().unwrap() >= 4096);
}

#[tokio::test]
async fn the_second_call_reads_the_cached_system_prompt_and_cost_is_recorded() {
    let s = standin().await;
    let c = claude(&s, "claude-sonnet-4-5", OutputStrategy::JsonOutputs);
    let first = c.diagnose(&prompt()).await.unwrap();
    let second = c.diagnose(&prompt()).await.unwrap();
    assert!(
        first.usage.cache_creation > 0 && first.usage.cache_read == 0,
        "{:?}",
        first.usage
    );
    assert!(
        second.usage.cache_read > 0 && second.usage.cache_creation == 0,
        "{:?}",
        second.usage
    );
    assert_eq!(first.model, "claude-sonnet-4-5-20250929");
    assert!(first.usage.cost_usd > 0.0);
    assert!(
        second.usage.cost_usd < first.usage.cost_usd,
        "cache reads are cheaper"
    );
    assert!(first.request_id.unwrap().starts_with("msg_"));
}

#[tokio::test]
async fn the_forced_tool_strategy_reads_the_record_diagnosis_tool_input() {
    let s = standin().await;
    let c = claude(&s, "claude-sonnet-4-5", OutputStrategy::ForcedTool);
    let p = prompt();
    let raw = c.diagnose(&p).await.unwrap();
    let d = finalize(&p, &raw, "claude").unwrap();
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::RestartContainer {
            member: "tikv-1".into()
        })
    );
    let b = s.requests()[0].json();
    assert_eq!(b["tool_choice"]["type"], "tool");
    assert_eq!(b["tool_choice"]["name"], "record_diagnosis");
    assert_eq!(b["tools"][0]["strict"], true);
    assert_eq!(b["tools"][0]["input_schema"], p.schema);
    assert!(b.get("output_config").is_none());
}

#[tokio::test]
async fn auto_falls_back_to_the_forced_tool_when_the_model_rejects_output_config() {
    let s = standin().await;
    let c = claude(&s, "claude-haiku-4-5", OutputStrategy::Auto);
    let raw = c.diagnose(&prompt()).await.unwrap();
    assert_eq!(raw.model, "claude-haiku-4-5-20251001");
    let reqs = s.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0].json().get("output_config").is_some());
    assert_eq!(reqs[1].json()["tool_choice"]["type"], "tool");
}

#[tokio::test]
async fn the_newest_models_reject_forced_tool_choice_with_the_reference_message() {
    let s = standin().await;
    let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::ForcedTool);
    match c.diagnose(&prompt()).await.unwrap_err() {
        BackendError::InvalidRequest {
            status: 400,
            message,
            ..
        } => {
            assert_eq!(
                message,
                "tool_choice: type \"tool\" and \"any\" are not supported for this model."
            )
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(s.count("/v1/messages"), 1, "400 is not retried");
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_the_requested_wait() {
    let s = standin().await;
    s.push([Reply::rate_limited("1")]);
    let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
    let t = Instant::now();
    c.diagnose(&prompt()).await.unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(s.count("/v1/messages"), 2);
}

#[tokio::test]
async fn server_errors_and_overload_are_retried_with_backoff() {
    let s = standin().await;
    s.push([Reply::server_error(), Reply::overloaded()]);
    let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
    c.diagnose(&prompt()).await.unwrap();
    assert_eq!(s.count("/v1/messages"), 3);
}

#[tokio::test]
async fn request_timeout_conflict_and_gateway_timeout_are_retried() {
    for status in [408u16, 409, 504] {
        let s = standin().await;
        s.push([Reply::Error {
            status,
            error_type: if status == 409 {
                "conflict_error".into()
            } else {
                "timeout_error".into()
            },
            message: "Request timed out".into(),
            retry_after: None,
            should_retry: None,
            details: None,
            cloudflare: false,
        }]);
        let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
        c.diagnose(&prompt()).await.unwrap();
        assert_eq!(s.count("/v1/messages"), 2, "{status}");
    }
}

#[tokio::test]
async fn persistent_overload_gives_up_after_three_attempts() {
    let s = standin().await;
    s.push([
        Reply::overloaded(),
        Reply::overloaded(),
        Reply::overloaded(),
        Reply::overloaded(),
    ]);
    let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
    assert!(matches!(
        c.diagnose(&prompt()).await.unwrap_err(),
        BackendError::Overloaded(_)
    ));
    assert_eq!(s.count("/v1/messages"), 3);
}

#[tokio::test]
async fn an_exhausted_rate_limit_surfaces_its_retry_after_for_the_loop_to_pause() {
    let s = standin().await;
    s.push([
        Reply::rate_limited("0.05"),
        Reply::rate_limited("0.05"),
        Reply::rate_limited("0.05"),
    ]);
    let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
    let e = c.diagnose(&prompt()).await.unwrap_err();
    assert_eq!(e.rate_limit_pause(), Some(Duration::from_millis(50)));
    assert_eq!(s.count("/v1/messages"), 3);
}

#[tokio::test]
async fn the_spend_limit_429_is_never_retried() {
    let s = standin().await;
    s.push([Reply::spend_limit()]);
    let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
    let e = c.diagnose(&prompt()).await.unwrap_err();
    assert!(
        matches!(&e, BackendError::SpendLimitReached(m) if m.contains("usage limits")),
        "{e:?}"
    );
    assert_eq!(e.rate_limit_pause(), None);
    assert_eq!(s.count("/v1/messages"), 1);
}

#[tokio::test]
async fn client_errors_400_401_413_are_not_retried() {
    for (reply, check) in [
        (
            Reply::bad_request("max_tokens: Field required"),
            (|e: &BackendError| matches!(e, BackendError::InvalidRequest { status: 400, .. }))
                as fn(&BackendError) -> bool,
        ),
        (Reply::unauthorized(), |e| {
            matches!(e, BackendError::Authentication { status: 401, .. })
        }),
        (
            Reply::too_large(),
            |e| matches!(e, BackendError::RequestTooLarge(m) if m == "Request exceeds the maximum size"),
        ),
    ] {
        let s = standin().await;
        s.push([reply]);
        let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
        let e = c.diagnose(&prompt()).await.unwrap_err();
        assert!(check(&e), "{e:?}");
        assert_eq!(s.count("/v1/messages"), 1, "{e:?}");
    }
}

#[tokio::test]
async fn x_should_retry_false_stops_retries_of_a_500() {
    let s = standin().await;
    s.push([Reply::Error {
        status: 500,
        error_type: "api_error".into(),
        message: "Internal server error".into(),
        retry_after: None,
        should_retry: Some(false),
        details: None,
        cloudflare: false,
    }]);
    let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
    assert!(matches!(
        c.diagnose(&prompt()).await.unwrap_err(),
        BackendError::Server { status: 500, .. }
    ));
    assert_eq!(s.count("/v1/messages"), 1);
}

#[tokio::test]
async fn an_html_proxy_error_is_retried_and_then_reported_by_status() {
    let s = standin().await;
    s.push([Reply::Html(502), Reply::Html(502), Reply::Html(502)]);
    let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
    let e = c.diagnose(&prompt()).await.unwrap_err();
    assert!(
        matches!(&e, BackendError::Server { status: 502, message } if message.contains("Bad Gateway")),
        "{e:?}"
    );
    assert_eq!(s.count("/v1/messages"), 3);
}

#[tokio::test]
async fn a_wrong_key_is_an_authentication_error_and_a_missing_version_a_400() {
    let s = standin().await;
    let cfg = ClaudeConfig {
        base_url: s.base_url(),
        retry: fast_retry(),
        ..Default::default()
    };
    let c = ClaudeBackend::new(cfg, ApiKey::new("sk-ant-api03-wrong-key-11111111111")).unwrap();
    match c.diagnose(&prompt()).await.unwrap_err() {
        BackendError::Authentication {
            status: 401,
            message,
        } => assert_eq!(message, "invalid x-api-key"),
        e => panic!("{e:?}"),
    }
    // The stand-in checks anthropic-version like the API does.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/messages", s.base_url()))
        .header("x-api-key", s.api_key())
        .header("content-type", "application/json")
        .body(r#"{"model":"claude-sonnet-5-5","max_tokens":10,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(resp.headers()["x-should-retry"], "false");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "anthropic-version: header is required"
    );
}

#[tokio::test]
async fn a_refusal_is_a_typed_error_and_not_retried() {
    let s = standin().await;
    s.push([Reply::Refusal]);
    let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
    assert_eq!(
        c.diagnose(&prompt()).await.unwrap_err(),
        BackendError::Refusal {
            category: Some("cyber".into())
        }
    );
    assert_eq!(s.count("/v1/messages"), 1);
}

#[tokio::test]
async fn a_truncated_answer_is_retried_once_with_more_room_then_a_typed_error() {
    let s = standin().await;
    s.push([Reply::MaxTokens]);
    let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
    let raw = c.diagnose(&prompt()).await.unwrap();
    let reqs = s.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].json()["max_tokens"].as_u64().unwrap(),
        2 * reqs[0].json()["max_tokens"].as_u64().unwrap()
    );
    // Both attempts are billed.
    assert!(raw.usage.output_tokens >= 8192);

    let s = standin().await;
    s.push([Reply::MaxTokens, Reply::MaxTokens]);
    let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
    assert_eq!(
        c.diagnose(&prompt()).await.unwrap_err(),
        BackendError::MaxTokens { max_tokens: 16384 }
    );
}

#[tokio::test]
async fn malformed_json_in_the_text_block_is_a_typed_error() {
    let s = standin().await;
    s.push([Reply::MalformedText(
        "{\"observation_summary\": \"store 4 is".into(),
    )]);
    let c = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto);
    let p = prompt();
    let raw = c.diagnose(&p).await.unwrap();
    assert!(matches!(
        finalize(&p, &raw, "claude").unwrap_err(),
        GroundError::MalformedJson(_)
    ));
}

#[tokio::test]
async fn a_slow_answer_hits_the_client_timeout_and_is_retried() {
    let s = standin().await;
    s.push([Reply::Delay(
        Duration::from_secs(3),
        Box::new(Reply::Success { thinking: true }),
    )]);
    let cfg = ClaudeConfig {
        base_url: s.base_url(),
        retry: fast_retry(),
        timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let c = ClaudeBackend::new(cfg, ApiKey::new(s.api_key())).unwrap();
    c.diagnose(&prompt()).await.unwrap();
    assert_eq!(s.count("/v1/messages"), 2);
}

fn openai(s: &Standin) -> OpenAiBackend {
    OpenAiBackend::new(OpenAiConfig {
        base_url: s.base_url(),
        retry: fast_retry(),
        timeout: Duration::from_secs(10),
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn the_openai_client_sends_a_strict_json_schema_and_ignores_reasoning_and_fences() {
    let s = standin().await;
    s.push_openai([OpenAiReply::Success {
        reasoning: true,
        fenced: true,
    }]);
    let c = openai(&s);
    let p = prompt();
    let raw = c.diagnose(&p).await.unwrap();
    let d = finalize(&p, &raw, "openai").unwrap();
    assert_eq!(
        d.recommended_action.kind,
        ActionKind::from(TikvAction::RestartContainer {
            member: "tikv-1".into()
        })
    );
    assert_eq!(d.model, "qwen3:14b");
    assert!(d.usage.input_tokens > 0 && d.usage.cost_usd == 0.0);
    let b = s.requests()[0].json();
    assert_eq!(b["response_format"]["type"], "json_schema");
    assert_eq!(b["response_format"]["json_schema"]["name"], "diagnosis");
    assert_eq!(b["response_format"]["json_schema"]["strict"], true);
    assert_eq!(b["messages"][0]["role"], "system");
    assert!(b.get("temperature").is_none() && b.get("tool_choice").is_none());
    assert_eq!(s.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn openai_truncation_refusal_context_overflow_and_errors_are_typed() {
    let s = standin().await;
    s.push_openai([
        OpenAiReply::Length,
        OpenAiReply::Refusal,
        OpenAiReply::ContextTooLong,
        OpenAiReply::Error {
            status: 404,
            error_type: "not_found_error".into(),
            message: "model \"qwen3:14b\" not found, try pulling it first".into(),
        },
        OpenAiReply::Error {
            status: 500,
            error_type: "api_error".into(),
            message: "boom".into(),
        },
    ]);
    let c = openai(&s);
    assert!(matches!(
        c.diagnose(&prompt()).await.unwrap_err(),
        BackendError::MaxTokens { .. }
    ));
    assert!(matches!(
        c.diagnose(&prompt()).await.unwrap_err(),
        BackendError::Refusal { .. }
    ));
    assert!(
        matches!(c.diagnose(&prompt()).await.unwrap_err(), BackendError::ContextWindowExceeded(m) if m.contains("exceeds the available context size"))
    );
    assert!(matches!(
        c.diagnose(&prompt()).await.unwrap_err(),
        BackendError::Api { status: 404, .. }
    ));
    // The 500 is retried and the next (default) answer succeeds.
    c.diagnose(&prompt()).await.unwrap();
    assert_eq!(s.count("/v1/chat/completions"), 6);
}

#[tokio::test]
async fn the_start_up_probe_reports_structured_output_support_and_unknown_models() {
    let s = standin().await;
    let info = claude(&s, "claude-sonnet-5-5", OutputStrategy::Auto)
        .check_model()
        .await
        .unwrap();
    assert_eq!(info.id, "claude-sonnet-5-5");
    assert_eq!(info.structured_outputs, Some(true));
    let info = claude(&s, "claude-haiku-4-5", OutputStrategy::Auto)
        .check_model()
        .await
        .unwrap();
    assert_eq!(info.structured_outputs, Some(false));
    let c = claude(&s, "claude-3-5-sonnet-20241022", OutputStrategy::Auto);
    match c.check_model().await.unwrap_err() {
        BackendError::Api {
            status: 404,
            error_type,
            message,
        } => {
            assert_eq!(error_type, "not_found_error");
            assert_eq!(message, "model: claude-3-5-sonnet-20241022");
        }
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        c.diagnose(&prompt()).await.unwrap_err(),
        BackendError::Api { status: 404, .. }
    ));
}

#[test]
fn the_final_investigation_turn_keeps_the_tools_with_tool_choice_none_only_on_llama_cpp() {
    use operator::diagnose::backend::openai::{OpenAiBackend, OpenAiConfig};
    use operator::diagnose::investigate::ToolSpec;
    let b = OpenAiBackend::new(OpenAiConfig {
        base_url: "http://127.0.0.1:9".into(),
        ..Default::default()
    })
    .unwrap();
    let p = prompt();
    let tools = vec![ToolSpec {
        name: "pd_get".into(),
        description: "d".into(),
        parameters: serde_json::json!({"type": "object"}),
    }];
    let final_turn = |b: &OpenAiBackend| b.body(&b.tool_turn_request("s", &p, &[], &tools, false));
    // A server not known to honour tool_choice (Ollama ignores it): no tools at all.
    let body = final_turn(&b);
    assert!(
        body.get("tools").is_none() && body.get("tool_choice").is_none(),
        "{body}"
    );
    assert!(body["response_format"].is_object());
    // Once the server has answered as llama.cpp: the same tools, none callable, and the
    // schema still enforced.
    b.note_server(&serde_json::json!({"timings": {"prompt_n": 12, "cache_n": 2400}}));
    let body = final_turn(&b);
    assert_eq!(body["tools"][0]["function"]["name"], "pd_get", "{body}");
    assert_eq!(body["tool_choice"], "none");
    assert!(body["response_format"].is_object());
    // A turn that offers the tools never sends tool_choice.
    let offer = b.body(&b.tool_turn_request("s", &p, &[], &tools, true));
    assert!(offer.get("tool_choice").is_none(), "{offer}");
}
