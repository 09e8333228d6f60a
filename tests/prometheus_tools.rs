//! TiKV's Prometheus tools against a real Prometheus (Debian's `prometheus`, installed by
//! `make deps`) on loopback, in a temporary directory, scraping itself every second: an
//! instant query, a range query within 100 points, label values, and the calls that are
//! refused before anything is sent (a range over 100 points, an over-long query, a PD
//! path off the list, a tool that is not offered). Without the binary the test says
//! SKIP loudly; under `CI=true` it fails.

mod support;

use operator::diagnose::investigate::{ToolError, Toolbox};
use operator::diagnose::TicketBrief;
use operator::subjects::tikv::tools::TikvTools;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::process::{binary_or_skip, free_port, StopOnDrop};

fn ticket() -> TicketBrief {
    TicketBrief {
        id: 9,
        subject: "tikv".into(),
        invariant: "store_slow".into(),
        target: "store/4".into(),
        severity: "warning".into(),
        summary: "store 4 is slow".into(),
        first_seen: "2026-12-06T03:00:00Z".into(),
        last_seen: "2026-12-06T03:00:10Z".into(),
        occurrences: 1,
        evidence: json!({}),
        timeline: vec![],
    }
}

/// Whether Prometheus has scraped itself at least `n` times.
async fn scraped(url: &str, n: u64) -> bool {
    let r = reqwest::Client::new()
        .get(format!("{url}/api/v1/query"))
        .query(&[("query", "count_over_time(up[1m])")])
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    let Ok(r) = r else { return false };
    let v: Value = r.json().await.unwrap_or_default();
    v.pointer("/data/result/0/value/1")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<f64>().ok())
        .is_some_and(|c| c >= n as f64)
}

#[tokio::test]
async fn the_prometheus_tools_query_a_real_prometheus_within_their_bounds() {
    let Some(prometheus) = binary_or_skip("prometheus_tools", "prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let mut child = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus starts");
    let _stop = StopOnDrop(&mut child);
    let started = Instant::now();
    while !scraped(&url, 3).await {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "Prometheus did not scrape itself 3 times in 40 s: {}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let tools = TikvTools::new("c", "c-net").with_prometheus(&url);
    let names: Vec<String> = tools.tools().into_iter().map(|t| t.name).collect();
    assert_eq!(
        names,
        [
            "pd_get",
            "prometheus_query",
            "prometheus_query_range",
            "prometheus_label_values"
        ]
    );
    let t = ticket();
    let call = |name: &'static str, a: Value| {
        let (tools, t) = (tools.clone(), t.clone());
        async move { tools.call(&t, name, &a).await }
    };

    let up = call("prometheus_query", json!({"query": "up"}))
        .await
        .unwrap();
    assert_eq!(up.summary.as_deref(), Some("1 series"), "{}", up.text);
    assert!(
        up.text.starts_with(&format!(
            "up{{instance=\"127.0.0.1:{port}\",job=\"self\"}} = 1 @ "
        )),
        "{}",
        up.text
    );

    // One minute every 2 s: 31 points at most, of which the scrapes so far.
    let range = call(
        "prometheus_query_range",
        json!({"query": "up", "minutes": 1, "step_seconds": 2}),
    )
    .await
    .unwrap();
    let summary = range.summary.clone().unwrap();
    let points: usize = summary
        .strip_prefix("1 series, ")
        .and_then(|s| s.strip_suffix(" point(s)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!((1..=31).contains(&points), "{summary}");
    assert!(range.text.contains("= [1@"), "{}", range.text);
    // The default step fits 100 points over the default 15 minutes.
    let default = call("prometheus_query_range", json!({"query": "up"}))
        .await
        .unwrap();
    assert!(default.summary.unwrap().starts_with("1 series, "));

    let jobs = call("prometheus_label_values", json!({"label": "job"}))
        .await
        .unwrap();
    assert_eq!(jobs.text, "self");
    assert_eq!(jobs.summary.as_deref(), Some("1 value(s) of job"));

    // Refused before Prometheus is asked.
    let over = call(
        "prometheus_query_range",
        json!({"query": "up", "minutes": 5, "step_seconds": 1}),
    )
    .await;
    assert!(
        matches!(&over, Err(ToolError::NotAllowed(m)) if m.contains("at most 100 points") && m.contains("301")),
        "{over:?}"
    );
    assert!(matches!(
        call("prometheus_query", json!({"query": "x".repeat(501)})).await,
        Err(ToolError::NotAllowed(_))
    ));
    assert!(matches!(
        call("pd_get", json!({"path": "admin/reset-ts"})).await,
        Err(ToolError::NotAllowed(_))
    ));
    assert!(matches!(
        call("prometheus_delete_series", json!({"match": "up"})).await,
        Err(ToolError::Unknown(_))
    ));
    // What Prometheus itself rejects is said, not hidden.
    let bad = call("prometheus_query", json!({"query": "up{"})).await;
    assert!(
        matches!(&bad, Err(ToolError::Failed(m)) if m.contains("parse")),
        "{bad:?}"
    );
}
