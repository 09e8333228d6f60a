//! The deployment manifests are checked by the tools that will read them:
//! `promtool check config` / `check rules` / `test rules` on the Prometheus files, and a
//! real Prometheus parsing every Grafana panel query. A manifest that only *looks* right
//! (a typo in a relabel rule, a PromQL syntax error in a panel) fails here, not at
//! `make up`. Without `promtool`/`prometheus` (Debian package `prometheus`) the tests
//! print a SKIP line, and fail under `CI=true`.

mod manifests_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use manifests_support::{dashboard_queries, dashboards, panels, repo, require_tool, Prometheus};
use operator::subjects::tikv::prom::PromError;

fn promtool(test: &str) -> Option<std::path::PathBuf> {
    require_tool(
        test,
        "promtool",
        "apt-get install prometheus, or `make deps`",
    )
}

fn run_promtool(promtool: &Path, args: &[&str]) -> String {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn rule_files() -> Vec<String> {
    let dir = repo().join("manifests/prometheus/rules");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yml"))
        .map(|p| {
            p.strip_prefix(repo())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    files
}

/// Alert name → (expr, `for`) from every rule file.
fn alerts() -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for f in rule_files() {
        let text = std::fs::read_to_string(repo().join(&f)).unwrap();
        let doc: serde_json::Value = yaml_serde::from_str(&text).unwrap();
        for g in doc["groups"].as_array().unwrap() {
            for r in g["rules"].as_array().unwrap() {
                if let Some(name) = r["alert"].as_str() {
                    let expr = r["expr"].as_str().unwrap().to_string();
                    let r#for = r["for"].as_str().unwrap_or("").to_string();
                    assert!(
                        out.insert(name.to_string(), (expr, r#for)).is_none(),
                        "alert {name} defined twice"
                    );
                }
            }
        }
    }
    out
}

#[test]
fn the_compose_prometheus_config_and_its_rule_files_pass_promtool_check_config() {
    let Some(promtool) = promtool("check config") else {
        return;
    };
    let out = run_promtool(
        &promtool,
        &["check", "config", "manifests/prometheus/prometheus.yml"],
    );
    // The relative rule glob must actually pick the rule files up.
    let expected = format!("SUCCESS: {} rule files found", rule_files().len());
    assert!(out.contains(&expected), "expected {expected:?} in:\n{out}");
}

#[test]
fn every_alert_rule_file_passes_promtool_check_rules() {
    let Some(promtool) = promtool("check rules") else {
        return;
    };
    let files = rule_files();
    assert!(files.len() >= 2, "{files:?}");
    let mut args = vec!["check", "rules"];
    args.extend(files.iter().map(String::as_str));
    let out = run_promtool(&promtool, &args);
    assert!(!out.contains("FAILED"), "{out}");
}

#[test]
fn the_alert_rules_cover_every_failure_the_operator_documents() {
    let alerts = alerts();
    // Each class of failure and the metric that must appear in its expression.
    let required = [
        ("TikvStoreDown", "store_down_count"),
        ("PdNoLeader", "service_member_role"),
        ("PdRegionPeersUnhealthy", "down-peer-region-count"),
        ("PdRegionPeersUnhealthy", "miss-peer-region-count"),
        ("TikvDiskLowSpace", "tikv_store_size_bytes"),
        ("TikvGrpcP99LatencyHigh", "histogram_quantile(0.99"),
        ("TikvSlowStore", "tikv_raftstore_slow_score"),
        ("OperatorReconcileErrors", "operator_reconcile_errors_total"),
        ("OperatorNotReady", "operator_reconcile_total"),
        ("OperatorDown", "up{job=\"operator\"}"),
    ];
    for (name, needle) in required {
        let (expr, r#for) = alerts
            .get(name)
            .unwrap_or_else(|| panic!("missing alert {name}"));
        assert!(
            expr.contains(needle),
            "{name}: {expr:?} does not mention {needle}"
        );
        assert!(
            !r#for.is_empty(),
            "{name} has no `for:` and would fire on a single scrape"
        );
    }
    // PD gauges are only meaningful on the leader: every pd_* expression is masked.
    for (name, (expr, _)) in &alerts {
        if expr.contains("pd_cluster_status") || expr.contains("pd_regions_status") {
            assert!(
                expr.contains("service_member_role"),
                "{name} reads a PD gauge without masking it to the PD leader"
            );
        }
    }
}

#[test]
fn the_alert_unit_tests_pass_promtool_test_rules() {
    let Some(promtool) = promtool("test rules") else {
        return;
    };
    let out = run_promtool(
        &promtool,
        &[
            "test",
            "rules",
            "manifests/prometheus/tests/alerts_test.yml",
        ],
    );
    assert!(out.contains("SUCCESS"), "{out}");
    // At least three distinct alerts have firing cases.
    let text =
        std::fs::read_to_string(repo().join("manifests/prometheus/tests/alerts_test.yml")).unwrap();
    let doc: serde_json::Value = yaml_serde::from_str(&text).unwrap();
    let firing: BTreeSet<&str> = doc["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().unwrap())
        .filter(|c| c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()))
        .map(|c| c["alertname"].as_str().unwrap())
        .collect();
    assert!(firing.len() >= 3, "firing cases only for {firing:?}");
}

#[test]
fn grafana_provisioning_points_at_the_prometheus_uid_the_dashboards_use() {
    let ds_text = std::fs::read_to_string(
        repo().join("manifests/grafana/provisioning/datasources/prometheus.yml"),
    )
    .unwrap();
    let ds: serde_json::Value = yaml_serde::from_str(&ds_text).unwrap();
    let datasource = &ds["datasources"][0];
    assert_eq!(datasource["type"], "prometheus");
    assert_eq!(datasource["url"], "http://prometheus:9090");
    let uid = datasource["uid"].as_str().unwrap();

    let prov_text = std::fs::read_to_string(
        repo().join("manifests/grafana/provisioning/dashboards/operator.yml"),
    )
    .unwrap();
    let prov: serde_json::Value = yaml_serde::from_str(&prov_text).unwrap();
    assert_eq!(prov["providers"][0]["type"], "file");
    assert_eq!(
        prov["providers"][0]["options"]["path"],
        "/var/lib/grafana/dashboards"
    );

    for (name, d) in dashboards() {
        for p in panels(&d) {
            if p["type"] == "row" {
                continue;
            }
            assert_eq!(
                p["datasource"]["uid"], uid,
                "{name} panel {}: datasource",
                p["id"]
            );
            for t in p["targets"].as_array().unwrap() {
                assert_eq!(
                    t["datasource"]["uid"], uid,
                    "{name} panel {}: target datasource",
                    p["id"]
                );
            }
        }
    }
}

#[test]
fn every_dashboard_parses_has_unique_panel_ids_and_a_query_in_every_panel() {
    let all = dashboards();
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["tikv-cluster", "tikv-operator"]);
    let mut uids = BTreeSet::new();
    for (name, d) in &all {
        assert!(
            uids.insert(d["uid"].as_str().unwrap().to_string()),
            "{name}: duplicate uid"
        );
        let mut ids = BTreeSet::new();
        for p in panels(d) {
            let id = p["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: panel without id: {p}"));
            assert!(ids.insert(id), "{name}: duplicate panel id {id}");
            if p["type"] == "row" {
                continue;
            }
            let targets = p["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} panel {id}: no targets"));
            assert!(!targets.is_empty(), "{name} panel {id}: no targets");
            let refs: BTreeSet<&str> = targets
                .iter()
                .map(|t| t["refId"].as_str().unwrap())
                .collect();
            assert_eq!(
                refs.len(),
                targets.len(),
                "{name} panel {id}: duplicate refId"
            );
            let g = &p["gridPos"];
            assert!(
                g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
                "{name} panel {id} overflows the grid"
            );
        }
    }
}

#[test]
fn the_dashboards_show_what_the_issue_asks_for() {
    let exprs: Vec<String> = dashboard_queries()
        .into_iter()
        .map(|q| format!("{}: {}", q.dashboard, q.expr))
        .collect();
    let has = |dashboard: &str, needle: &str| {
        exprs
            .iter()
            .any(|e| e.starts_with(dashboard) && e.contains(needle))
    };
    for needle in [
        "store_up_count",
        "store_down_count",
        "type=\"leader\"",
        "type=\"region\"",
        "tikv_grpc_msg_duration_seconds_count",
        "tikv_grpc_msg_duration_seconds_bucket",
        "tikv_raftstore_append_log_duration_seconds_bucket",
        "tikv_raftstore_apply_log_duration_seconds_bucket",
        "type=\"used\"",
        "type=\"available\"",
        "tikv_raftstore_slow_score",
        "pd_regions_status",
    ] {
        assert!(
            has("tikv-cluster", needle),
            "cluster dashboard lacks {needle}"
        );
    }
    for needle in [
        "operator_reconcile_total",
        "histogram_quantile(0.5, sum(rate(operator_reconcile_time_seconds_bucket",
        "histogram_quantile(0.99, sum(rate(operator_reconcile_time_seconds_bucket",
        "operator_reconcile_errors_total",
        "operator_workqueue_depth",
        "operator_steps_applied_total",
        "operator_tickets",
        "operator_time_to_detect_seconds_bucket",
        "operator_diagnoses_total",
        "operator_diagnosis_tokens_total",
    ] {
        assert!(
            has("tikv-operator", needle),
            "operator dashboard lacks {needle}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_parses_in_a_real_prometheus() {
    let test = "dashboard PromQL parses";
    let Some(prometheus) = manifests_support::require_tool(
        test,
        "prometheus",
        "apt-get install prometheus, or `make deps`",
    ) else {
        return;
    };
    // An empty TSDB: unknown metrics return empty results, syntax errors are bad_data.
    let prom = Prometheus::start(
        &prometheus,
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
    )
    .await;
    let client = prom.client();

    // The check can fail: a broken query is rejected with bad_data.
    match client.query("sum(rate(up[1m]) by (instance)", None).await {
        Err(PromError::Query { error_type, .. }) => assert_eq!(error_type, "bad_data"),
        other => panic!("a broken query was not rejected: {other:?}"),
    }

    let queries = dashboard_queries();
    assert!(queries.len() >= 20, "only {} queries", queries.len());
    let mut failures = Vec::new();
    for q in &queries {
        if let Err(e) = client.query(&q.expr, None).await {
            failures.push(format!(
                "{} panel {} {:?} {}: {e}\n  {}",
                q.dashboard, q.panel_id, q.title, q.ref_id, q.expr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "queries Prometheus rejects:\n{}",
        failures.join("\n")
    );
}
