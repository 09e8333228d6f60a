//! Shared helpers of the deployment-artefact tests (`tests/manifests_promtool.rs`,
//! `tests/compose_validate.rs`, `tests/compose_dashboards.rs`): locating external
//! tools (skip loudly locally, fail under CI), reading the Grafana dashboards, and
//! running a real Debian `prometheus` on a loopback port with a throw-away TSDB.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use operator::http::HttpConfig;
use operator::subjects::tikv::prom::PromClient;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when running under CI (`CI=true`), where missing tools are failures.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skips (loud line, `None`) or, under CI, panics.
pub fn skip_or_fail(test: &str, why: &str) {
    if under_ci() {
        panic!("{test}: {why} (CI=true: this is a failure, not a skip)");
    }
    eprintln!("SKIP {test}: {why}");
}

/// Finds an executable on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Finds a required tool, or skips/fails the test (see [`skip_or_fail`]).
pub fn require_tool(test: &str, name: &str, install: &str) -> Option<PathBuf> {
    let found = which(name);
    if found.is_none() {
        skip_or_fail(test, &format!("`{name}` is not installed ({install})"));
    }
    found
}

/// A free loopback port (racy by nature; good enough for a test's own children).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// One PromQL target of a dashboard panel.
#[derive(Debug, Clone)]
pub struct PanelQuery {
    /// Dashboard file stem.
    pub dashboard: String,
    /// Panel id.
    pub panel_id: u64,
    /// Panel title.
    pub title: String,
    /// Target refId.
    pub ref_id: String,
    /// The PromQL.
    pub expr: String,
}

/// Every dashboard JSON under `manifests/grafana/dashboards`, parsed, by file stem.
pub fn dashboards() -> Vec<(String, serde_json::Value)> {
    let dir = repo().join("manifests/grafana/dashboards");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", path.display()));
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        out.push((stem, value));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no dashboards in {}", dir.display());
    out
}

/// Panels of a dashboard, rows' nested panels included.
pub fn panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        out.push(p);
        for nested in p["panels"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            out.push(nested);
        }
    }
    out
}

/// Every PromQL target of every dashboard.
pub fn dashboard_queries() -> Vec<PanelQuery> {
    let mut out = Vec::new();
    for (name, d) in dashboards() {
        for p in panels(&d) {
            for t in p["targets"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                out.push(PanelQuery {
                    dashboard: name.clone(),
                    panel_id: p["id"].as_u64().unwrap_or(0),
                    title: p["title"].as_str().unwrap_or("").to_string(),
                    ref_id: t["refId"].as_str().unwrap_or("").to_string(),
                    expr: t["expr"].as_str().unwrap_or("").to_string(),
                });
            }
        }
    }
    out
}

/// A child process killed on drop.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real Prometheus on 127.0.0.1 with its own empty TSDB, killed on drop.
pub struct Prometheus {
    _child: Killed,
    _dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Prometheus {
    /// Starts `binary` with `config` (YAML) and waits until `/-/ready` answers 200.
    pub async fn start(binary: &Path, config: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let mut child = Killed(child);
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                panic!("prometheus exited during start-up: {status}");
            }
            let ready = http
                .get(format!("{url}/-/ready"))
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus at {url} not ready within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Prometheus {
            _child: child,
            _dir: dir,
            url,
        }
    }

    /// The project's own Prometheus client for this server (fails fast: no retries).
    pub fn client(&self) -> PromClient {
        let config = HttpConfig {
            max_retries: 0,
            overall_deadline: Duration::from_secs(10),
            ..HttpConfig::default()
        };
        PromClient::new(&self.url, config).unwrap()
    }
}

/// Operator metrics that exist only once something happened (a ticket opened, a
/// diagnosis made; documented in the operator dashboard's description): on a healthy
/// cluster the panels reading them may be empty. Any other metric a panel names must be
/// exported by some target.
pub const EXPORTED_LATER: [&str; 5] = [
    "operator_tickets",
    "operator_time_to_detect_seconds_bucket",
    "operator_diagnoses_total",
    "operator_diagnosis_tokens_total",
    "operator_time_to_detect_seconds",
];

/// Metric names a query reads: identifiers directly followed by a label matcher `{` or
/// a range `[`. Functions and aggregations are followed by `(` and label names by `=`,
/// so neither matches; the dashboards always write selectors with braces.
pub fn metric_names(expr: &str) -> std::collections::BTreeSet<String> {
    let re = regex::Regex::new(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[\{\[]").unwrap();
    re.captures_iter(expr).map(|c| c[1].to_string()).collect()
}
