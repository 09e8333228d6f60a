//! etcd's investigation tools against a real etcd (Debian's `etcd` 3.4, installed by
//! `make deps`), started on loopback ports in a temporary directory: every tool answers
//! from the member itself, and what is off the allow-list is refused before a request is
//! sent. Without the binary the test says SKIP loudly; under `CI=true` it fails.

mod support;

use operator::diagnose::investigate::{ToolError, Toolbox};
use operator::diagnose::TicketBrief;
use operator::subjects::etcd::tools::{EtcdTools, MAX_METRIC_LINES};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::process::{binary_or_skip, free_port, StopOnDrop};

fn ticket() -> TicketBrief {
    TicketBrief {
        id: 7,
        subject: "etcd".into(),
        invariant: "etcd_no_leader".into(),
        target: "member/etcd-0".into(),
        severity: "critical".into(),
        summary: "etcd-0 reports no leader".into(),
        first_seen: "2026-12-06T03:00:00Z".into(),
        last_seen: "2026-12-06T03:00:10Z".into(),
        occurrences: 1,
        evidence: json!({}),
        timeline: vec![],
    }
}

async fn healthy(url: &str) -> bool {
    reqwest::Client::new()
        .get(format!("{url}/health"))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[tokio::test]
async fn etcds_tools_read_a_real_member_and_refuse_what_is_off_the_list() {
    let Some(etcd) = binary_or_skip("etcd_tools", "etcd") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (client, peer) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
    let mut child = Command::new(etcd)
        .args(["--name", "etcd-0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("etcd-0={peer_url}")])
        .args(["--quota-backend-bytes", "104857600"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("etcd starts");
    let _stop = StopOnDrop(&mut child);
    let started = Instant::now();
    while !healthy(&url).await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "etcd did not become healthy in 30 s: {}",
            std::fs::read_to_string(dir.path().join("etcd.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let tools = EtcdTools::new("t", "t-net", None).with_endpoints(vec![("etcd-0".into(), url)]);
    let names: Vec<String> = tools.tools().into_iter().map(|t| t.name).collect();
    assert_eq!(
        names,
        [
            "etcd_member_list",
            "etcd_endpoint_status",
            "etcd_alarms",
            "etcd_health",
            "etcd_metrics"
        ],
        "without a runtime no container tool is offered"
    );
    let t = ticket();
    let call = |name: &'static str, a: Value| {
        let (tools, t) = (tools.clone(), t.clone());
        async move { tools.call(&t, name, &a).await }
    };

    let members = call("etcd_member_list", json!({})).await.unwrap();
    let rows: Value = serde_json::from_str(&members.text).unwrap();
    assert_eq!(rows[0]["name"], "etcd-0", "{}", members.text);
    assert_eq!(rows[0]["peer_urls"][0], peer_url);
    assert!(
        members
            .summary
            .as_deref()
            .unwrap()
            .starts_with("1 member(s): etcd-0"),
        "{members:?}"
    );

    let status = call("etcd_endpoint_status", json!({})).await.unwrap();
    let s: Value = serde_json::from_str(&status.text).unwrap();
    assert_eq!(s[0]["leader"], "etcd-0", "{}", status.text);
    assert_eq!(s[0]["is_leader"], true);
    assert_eq!(s[0]["version"], "3.4.23");
    assert_eq!(s[0]["quota_bytes"], 104_857_600, "the quota from /metrics");
    assert!(s[0]["raft_term"].as_u64().unwrap() >= 2, "{}", status.text);
    assert!(s[0]["db_percent_of_quota"].as_f64().unwrap() < 1.0);
    let summary = status.summary.unwrap();
    assert!(
        summary.starts_with("etcd-0 leader, term ") && summary.contains(" of 100.0 MiB ("),
        "{summary}"
    );

    let alarms = call("etcd_alarms", json!({})).await.unwrap();
    assert_eq!(alarms.text, "[]");
    assert_eq!(
        alarms.summary.as_deref(),
        Some("no active alarm (asked etcd-0)")
    );

    let health = call("etcd_health", json!({"member": "etcd-0"}))
        .await
        .unwrap();
    assert_eq!(health.summary.as_deref(), Some("etcd-0 healthy"));

    let m = call(
        "etcd_metrics",
        json!({"member": "etcd-0", "family": "etcd_server_has_leader"}),
    )
    .await
    .unwrap();
    assert_eq!(m.text, "etcd_server_has_leader 1");
    // A wide family (a series per gRPC method and code) is cut to the bound, and says so.
    let wide = call(
        "etcd_metrics",
        json!({"member": "etcd-0", "family": "grpc_server_handled_total"}),
    )
    .await
    .unwrap();
    assert!(wide.text.lines().count() <= MAX_METRIC_LINES + 1);
    assert!(
        wide.text.contains("more sample line(s) not shown"),
        "{}",
        wide.text
    );

    // Refused before anything is sent.
    for family in ["promhttp_", "etcd_"] {
        let a = json!({"member": "etcd-0", "family": family});
        assert!(matches!(
            call("etcd_metrics", a).await,
            Err(ToolError::NotAllowed(_))
        ));
    }
    assert!(matches!(
        call("etcd_health", json!({"member": "etcd-9"})).await,
        Err(ToolError::NotAllowed(m)) if m.contains("running: etcd-0")
    ));
    assert!(matches!(
        call("etcd_metrics", json!({"member": "etcd-0"})).await,
        Err(ToolError::InvalidArguments(_))
    ));
    assert!(matches!(
        call("container_logs", json!({"member": "etcd-0"})).await,
        Err(ToolError::Unknown(_))
    ));
}
