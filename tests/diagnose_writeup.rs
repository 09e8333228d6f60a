//! What a rendered diagnosis says must follow from the facts of its ticket: for each
//! fault kind of the scripted scenarios, the write-up's statements about stores, PD
//! members and disk usage are checked against the ticket's own state.

use operator::diagnose::backend::rules::RulesConfig;
use operator::diagnose::context::build_prompt;
use operator::diagnose::ground::finalize;
use operator::diagnose::render::render_markdown;
use operator::diagnose::scenarios;
use operator::diagnose::{DiagnosisBackend, DiagnosisRequest, TicketBrief};
use operator::subjects::tikv::hypotheses::rules_backend;
use regex::Regex;
use serde_json::Value;

async fn rendered(brief: &TicketBrief) -> (String, operator::diagnose::Diagnosis) {
    let prompt = build_prompt(
        &DiagnosisRequest {
            ticket: brief.clone(),
            sections: vec![],
        },
        12_000,
    )
    .with_vocabulary(&operator::subjects::tikv::catalog::CATALOG);
    let raw = rules_backend(RulesConfig::default())
        .diagnose(&prompt)
        .await
        .unwrap();
    let d = finalize(&prompt, &raw, "rules").unwrap();
    (render_markdown(&d), d)
}

fn store_state(state: &Value, id: u64) -> Option<String> {
    state["stores"]
        .as_array()?
        .iter()
        .find(|s| s["id"].as_u64() == Some(id))
        .and_then(|s| s["state"].as_str().map(str::to_string))
}

fn used_pct(state: &Value, id: u64) -> Option<f64> {
    let s = state["stores"]
        .as_array()?
        .iter()
        .find(|s| s["id"].as_u64() == Some(id))?;
    let a = s["available_bytes"].as_f64()?;
    let c = s["capacity_bytes"].as_f64()?;
    Some((1.0 - a / c) * 100.0)
}

/// Checks every statement of a kind the facts can settle.
fn check_against_state(text: &str, brief: &TicketBrief) {
    let state = &brief.evidence["state"];
    // "PD shows store 4 as Disconnected" / "PD shows store 4 (tikv-1) Up".
    let shows = Regex::new(r"PD shows store (\d+)(?: \([^)]*\))?(?: as)? (\w+)").unwrap();
    for c in shows.captures_iter(text) {
        let id: u64 = c[1].parse().unwrap();
        assert_eq!(
            store_state(state, id).as_deref(),
            Some(&c[2]),
            "false statement: {}\n{text}",
            &c[0]
        );
    }
    // "2 of 3 PD members healthy".
    let members = Regex::new(r"(\d+) of (\d+) PD members").unwrap();
    for c in members.captures_iter(text) {
        let all = state["members"].as_array().map(Vec::len).unwrap_or(0);
        let healthy = state["members"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|m| m["healthy"] == Value::Bool(true))
                    .count()
            })
            .unwrap_or(0);
        assert_ne!(&c[2], "0", "no members claimed: {}\n{text}", &c[0]);
        assert_eq!(
            (
                c[1].parse::<usize>().unwrap(),
                c[2].parse::<usize>().unwrap()
            ),
            (healthy, all),
            "false statement: {}",
            &c[0]
        );
    }
    // "store 5 is 95.0% used" / "store 5 (tikv-2) is 95% used".
    let used = Regex::new(r"store (\d+)(?: \([^)]*\))? is ([\d.]+)% used").unwrap();
    for c in used.captures_iter(text) {
        let id: u64 = c[1].parse().unwrap();
        let want = used_pct(state, id).expect("usage claimed for a store the state lacks");
        let got: f64 = c[2].parse().unwrap();
        assert!(
            (want - got).abs() < 1.0,
            "false statement: {} (is {want:.1}%)",
            &c[0]
        );
    }
    // Numbers are rounded for people: no long decimal tails.
    let long = Regex::new(r"\d+\.\d{4,}").unwrap();
    assert!(
        !long.is_match(text.split("### Evidence").next().unwrap_or("")),
        "unrounded number in:\n{text}"
    );
}

#[tokio::test]
async fn every_fault_kinds_write_up_follows_from_its_tickets_facts() {
    for (brief, category) in [
        (scenarios::node_death(), "process-exit"),
        (scenarios::network_partition(), "network-partition"),
        (scenarios::disk_pressure(), "disk-full"),
        (scenarios::hot_region(), "hot-region"),
        (scenarios::slow_disk(), "disk-slow"),
        (scenarios::evict_leader_left_behind(), "leftover-scheduler"),
        (scenarios::pd_no_quorum(), "pd-quorum-loss"),
    ] {
        let (text, d) = rendered(&brief).await;
        assert_eq!(d.cause.category, category, "{text}");
        check_against_state(&text, &brief);
        // The decision names the cause the hypotheses chose, and says why the others lost.
        assert!(
            text.contains(&format!("**Decision.** `{}", d.cause)),
            "{text}"
        );
        let root = d
            .hypotheses
            .iter()
            .find(|h| h.cause == d.cause)
            .expect("the root cause is among the hypotheses");
        assert!(!root.supporting.is_empty(), "{text}");
        assert!(text.contains("### Hypotheses"), "{text}");
    }
}

#[test]
fn a_false_statement_is_caught_by_the_checker() {
    let b = scenarios::node_death();
    let r = std::panic::catch_unwind(|| check_against_state("PD shows store 1 as Down", &b));
    assert!(r.is_err());
    let r = std::panic::catch_unwind(|| check_against_state("0 of 0 PD members healthy", &b));
    assert!(r.is_err());
}
