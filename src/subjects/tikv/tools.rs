//! TiKV's read-only tools for the investigation loop
//! ([`crate::diagnose::investigate`]): PD API GETs on an allow-list of paths, Prometheus
//! instant and range queries and label values, container logs, state and inspect.
//!
//! # Read-only by construction
//!
//! PD is read through a GET-only helper over the shared HTTP stack (there is no other
//! method in this file), and only on the paths of [`PD_ALLOW_LIST`]: no `regions` dump
//! (megabytes), no write endpoint. Prometheus' query API is read-only. Containers are
//! read through [`ContainerReader`], which has no mutating method. Arguments are checked
//! before anything is sent: a path outside the list, a range over 100 points, a log
//! regex that does not compile, a member the cluster does not own are refused with the
//! reason, which the model reads.
//!
//! # Where the endpoints come from
//!
//! As the subject finds them: PD at the running PD containers' addresses, Prometheus at
//! the running Prometheus container's, unless fixed ones are given (`--pd`, tests and the
//! in-process simulator).

use crate::diagnose::investigate::tools::args;
use crate::diagnose::investigate::{ToolError, ToolOutput, ToolSpec, Toolbox};
use crate::diagnose::model::TicketBrief;
use crate::http::{DefaultRetryLogic, HttpClient, HttpConfig};
use crate::runtime::labels;
use crate::runtime::readonly::ContainerReader;
use crate::runtime::{ContainerStatus, ObservedContainer};
use crate::subjects::container_tools::ContainerTools;
use crate::subjects::tikv::prom::{PromClient, QueryResult};
use crate::subjects::tikv::topology::{PD_CLIENT_PORT, PROMETHEUS_PORT};
use async_trait::async_trait;
use http::Method;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// PD API paths (after `/pd/api/v1/`) the `pd_get` tool may read; `{id}` is a number and
/// `{check}` one of [`REGION_CHECKS`].
pub(crate) const PD_ALLOW_LIST: &[&str] = &[
    "stores",
    "store/{id}",
    "members",
    "leader",
    "health",
    "cluster",
    "cluster/status",
    "status",
    "version",
    "config",
    "config/schedule",
    "config/replicate",
    "schedulers",
    "scheduler-config/evict-leader-scheduler/list",
    "region/id/{id}",
    "regions/store/{id}",
    "regions/check/{check}",
    "hotspot/regions/write",
    "hotspot/regions/read",
    "hotspot/stores",
    "operators",
];

/// The region checks PD answers.
pub(crate) const REGION_CHECKS: &[&str] = &[
    "down-peer",
    "pending-peer",
    "offline-peer",
    "miss-peer",
    "extra-peer",
    "learner-peer",
    "empty-region",
];

/// The most points a range query may return per series.
pub(crate) const MAX_RANGE_POINTS: u64 = 100;
/// How far back a range query may reach, in minutes (one day, as a log read).
pub(crate) const MAX_LOOKBACK_MINUTES: u64 = crate::subjects::container_tools::MAX_LOOKBACK_MINUTES;
/// The longest PromQL accepted.
pub(crate) const MAX_EXPR_CHARS: usize = 500;

/// Checks a PD path against [`PD_ALLOW_LIST`] and returns it normalized (no leading
/// `/pd/api/v1/`, no slashes at the ends).
pub(crate) fn allowed_pd_path(path: &str) -> Result<String, ToolError> {
    let p = path.trim();
    let p = p
        .strip_prefix("/pd/api/v1/")
        .or_else(|| p.strip_prefix("pd/api/v1/"))
        .unwrap_or(p)
        .trim_matches('/');
    let refuse = || {
        ToolError::NotAllowed(format!(
            "PD path {path:?} is not on the allow-list; allowed: {}",
            PD_ALLOW_LIST.join(", ")
        ))
    };
    if p.is_empty()
        || !p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_'))
    {
        return Err(refuse());
    }
    let segs: Vec<&str> = p.split('/').collect();
    let ok = PD_ALLOW_LIST.iter().any(|pattern| {
        let pat: Vec<&str> = pattern.split('/').collect();
        pat.len() == segs.len()
            && pat.iter().zip(&segs).all(|(want, got)| match *want {
                "{id}" => !got.is_empty() && got.chars().all(|c| c.is_ascii_digit()),
                "{check}" => REGION_CHECKS.contains(got),
                lit => lit == *got,
            })
    });
    if ok {
        Ok(p.to_string())
    } else {
        Err(refuse())
    }
}

/// TiKV's toolbox.
#[derive(Clone)]
pub struct TikvTools {
    cluster: String,
    network: String,
    containers: Option<ContainerTools>,
    pd: Option<Vec<String>>,
    prometheus: Option<String>,
    http: HttpClient,
}

fn http_client() -> HttpClient {
    HttpClient::new(
        HttpConfig {
            per_attempt_timeout: Duration::from_secs(3),
            overall_deadline: Duration::from_secs(6),
            max_retries: 1,
            max_body_bytes: 8 * crate::http::MIB,
            ..HttpConfig::default()
        },
        DefaultRetryLogic,
    )
    .expect("a default HTTP client builds")
}

impl TikvTools {
    /// Tools for `cluster` on `network`; add the sources with the `with_` methods.
    pub fn new(cluster: &str, network: &str) -> Self {
        Self {
            cluster: cluster.to_string(),
            network: network.to_string(),
            containers: None,
            pd: None,
            prometheus: None,
            http: http_client(),
        }
    }

    /// Reads containers (logs, state, inspect) and, unless fixed, finds PD and
    /// Prometheus through them.
    pub fn with_containers(mut self, reader: ContainerReader) -> Self {
        self.containers = Some(ContainerTools::new(&self.cluster, &self.network, reader));
        self
    }

    /// Fixed PD endpoints (client URLs).
    pub fn with_pd(mut self, endpoints: Vec<String>) -> Self {
        self.pd = Some(endpoints);
        self
    }

    /// A fixed Prometheus base URL.
    pub fn with_prometheus(mut self, url: &str) -> Self {
        self.prometheus = Some(url.to_string());
        self
    }

    async fn owned(&self) -> Result<Vec<ObservedContainer>, ToolError> {
        self.containers
            .as_ref()
            .ok_or_else(|| ToolError::Failed("no container runtime is available".into()))?
            .owned()
            .await
    }

    async fn pd_endpoints(&self) -> Result<Vec<String>, ToolError> {
        if let Some(eps) = &self.pd {
            return Ok(eps.clone());
        }
        let eps: Vec<String> = self
            .owned()
            .await?
            .iter()
            .filter(|c| {
                c.label(labels::COMPONENT) == Some("pd") && c.status == ContainerStatus::Running
            })
            .filter_map(|c| Some(format!("http://{}:{PD_CLIENT_PORT}", c.ip.as_deref()?)))
            .collect();
        if eps.is_empty() {
            return Err(ToolError::Failed("no PD member is running".into()));
        }
        Ok(eps)
    }

    async fn prom(&self) -> Result<PromClient, ToolError> {
        let url = match &self.prometheus {
            Some(u) => u.clone(),
            None => {
                let owned = self.owned().await?;
                let p = owned
                    .iter()
                    .find(|c| {
                        c.label(labels::COMPONENT) == Some("prometheus")
                            && c.status == ContainerStatus::Running
                    })
                    .and_then(|c| c.ip.clone())
                    .ok_or_else(|| {
                        ToolError::Failed("no Prometheus container is running".into())
                    })?;
                format!("http://{p}:{PROMETHEUS_PORT}")
            }
        };
        PromClient::new(
            &url,
            HttpConfig {
                per_attempt_timeout: Duration::from_secs(5),
                overall_deadline: Duration::from_secs(8),
                max_retries: 0,
                ..HttpConfig::default()
            },
        )
        .map_err(|e| ToolError::Failed(e.to_string()))
    }

    async fn pd_get(&self, a: &Value) -> Result<ToolOutput, ToolError> {
        let path = allowed_pd_path(args::string(a, "path")?)?;
        let mut last = String::from("no endpoint");
        for ep in self.pd_endpoints().await? {
            let url =
                reqwest::Url::parse(&format!("{}/pd/api/v1/{path}", ep.trim_end_matches('/')))
                    .map_err(|e| ToolError::Failed(format!("bad PD endpoint: {e}")))?;
            // GET only: this toolbox has no other method.
            match self.http.send(self.http.request(Method::GET, url)).await {
                Ok(resp) => {
                    let text = resp.text_lossy().to_string();
                    if !resp.status.is_success() {
                        return Err(ToolError::Failed(format!(
                            "PD answered {} on {path}: {}",
                            resp.status.as_u16(),
                            resp.body_excerpt()
                        )));
                    }
                    // Compact JSON: the same facts in fewer tokens.
                    let compact = serde_json::from_str::<Value>(&text)
                        .map(|v| v.to_string())
                        .unwrap_or(text);
                    let summary = pd_summary(&path, &compact);
                    return Ok(ToolOutput::with_summary(compact, summary));
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(ToolError::Failed(format!("PD unreachable: {last}")))
    }

    async fn prom_query(&self, a: &Value) -> Result<ToolOutput, ToolError> {
        let q = promql(a)?;
        let at = match args::opt_string(a, "time")? {
            Some(t) => Some(parse_time(t)?),
            None => None,
        };
        let resp = self
            .prom()
            .await?
            .query(q, at)
            .await
            .map_err(|e| ToolError::Failed(e.to_string()))?;
        Ok(render_result(&resp.result, &resp.warnings))
    }

    async fn prom_range(&self, ticket: &TicketBrief, a: &Value) -> Result<ToolOutput, ToolError> {
        let q = promql(a)?;
        let end = match args::opt_string(a, "end")? {
            Some(t) => parse_time(t)?,
            None => SystemTime::now(),
        };
        let minutes = args::opt_u64(a, "minutes")?.unwrap_or(15);
        if minutes == 0 || minutes > MAX_LOOKBACK_MINUTES {
            return Err(ToolError::NotAllowed(format!(
                "minutes must be 1..={MAX_LOOKBACK_MINUTES}"
            )));
        }
        let range = minutes * 60;
        let step = args::opt_u64(a, "step_seconds")?
            .unwrap_or_else(|| range.div_ceil(MAX_RANGE_POINTS - 1).max(1));
        let points = range / step.max(1) + 1;
        if step == 0 || points > MAX_RANGE_POINTS {
            return Err(ToolError::NotAllowed(format!(
                "a range query returns at most {MAX_RANGE_POINTS} points per series; {minutes} min every {step} s is {points}: raise step_seconds to at least {}",
                range.div_ceil(MAX_RANGE_POINTS - 1)
            )));
        }
        let _ = ticket;
        let start = end - Duration::from_secs(range);
        let resp = self
            .prom()
            .await?
            .query_range(q, start, end, Duration::from_secs(step))
            .await
            .map_err(|e| ToolError::Failed(e.to_string()))?;
        Ok(render_result(&resp.result, &resp.warnings))
    }

    async fn prom_labels(&self, a: &Value) -> Result<ToolOutput, ToolError> {
        let label = args::string(a, "label")?;
        let values = self
            .prom()
            .await?
            .label_values(label)
            .await
            .map_err(|e| match e {
                crate::subjects::tikv::prom::PromError::Config(m) => ToolError::InvalidArguments(m),
                other => ToolError::Failed(other.to_string()),
            })?;
        let summary = format!("{} value(s) of {label}", values.len());
        Ok(ToolOutput::with_summary(values.join("\n"), summary))
    }
}

fn parse_time(t: &str) -> Result<SystemTime, ToolError> {
    humantime::parse_rfc3339_weak(t.trim())
        .map_err(|e| ToolError::InvalidArguments(format!("time {t:?} is not RFC 3339: {e}")))
}

fn promql(a: &Value) -> Result<&str, ToolError> {
    let q = args::string(a, "query")?;
    if q.trim().is_empty() || q.len() > MAX_EXPR_CHARS {
        return Err(ToolError::NotAllowed(format!(
            "a query must be 1..={MAX_EXPR_CHARS} characters"
        )));
    }
    Ok(q)
}

fn pd_summary(path: &str, body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if path == "stores" {
        if let Some(stores) = v.get("stores").and_then(Value::as_array) {
            let each: Vec<String> = stores
                .iter()
                .map(|s| {
                    format!(
                        "{} {}",
                        s.pointer("/store/id").and_then(Value::as_u64).unwrap_or(0),
                        s.pointer("/store/state_name")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                    )
                })
                .collect();
            return format!("{} store(s): {}", stores.len(), each.join(", "));
        }
    }
    if let Some(s) = v.pointer("/store/state_name").and_then(Value::as_str) {
        return format!("store state {s}");
    }
    if path == "members" {
        if let Some(m) = v.get("members").and_then(Value::as_array) {
            let leader = v
                .pointer("/leader/name")
                .and_then(Value::as_str)
                .unwrap_or("none");
            return format!("{} member(s), leader {leader}", m.len());
        }
    }
    crate::diagnose::investigate::record::summarize(body)
}

fn series_name(metric: &std::collections::BTreeMap<String, String>) -> String {
    let name = metric.get("__name__").cloned().unwrap_or_default();
    let labels: Vec<String> = metric
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    format!("{name}{{{}}}", labels.join(","))
}

fn render_result(r: &QueryResult, warnings: &[String]) -> ToolOutput {
    let mut out = String::new();
    for w in warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    let summary = match r {
        QueryResult::Vector(v) => {
            for s in v {
                out.push_str(&format!(
                    "{} = {} @ {}\n",
                    series_name(&s.metric),
                    s.sample.value,
                    s.sample.timestamp
                ));
            }
            format!("{} series", v.len())
        }
        QueryResult::Matrix(m) => {
            for s in m {
                let pts: Vec<String> = s
                    .samples
                    .iter()
                    .map(|p| format!("{}@{}", p.value, p.timestamp))
                    .collect();
                out.push_str(&format!(
                    "{} = [{}]\n",
                    series_name(&s.metric),
                    pts.join(", ")
                ));
            }
            format!(
                "{} series, {} point(s)",
                m.len(),
                m.iter().map(|s| s.samples.len()).sum::<usize>()
            )
        }
        QueryResult::Scalar(s) => {
            out.push_str(&format!("scalar = {} @ {}\n", s.value, s.timestamp));
            format!("scalar {}", s.value)
        }
        QueryResult::String { value, .. } => {
            out.push_str(value);
            "a string".into()
        }
    };
    if out.is_empty() {
        out = "(empty result)".into();
    }
    ToolOutput::with_summary(out, summary)
}

#[async_trait]
impl Toolbox for TikvTools {
    fn tools(&self) -> Vec<ToolSpec> {
        let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
        let mut t = vec![ToolSpec {
            name: "pd_get".into(),
            description: format!(
                "GET a PD API path (read-only), e.g. stores, store/4, members, health, schedulers, region/id/12, hotspot/regions/write. Allowed paths: {}.",
                PD_ALLOW_LIST.join(", ")
            ),
            parameters: obj(
                json!({"path": {"type": "string", "description": "Path after /pd/api/v1/, e.g. store/4."}}),
                &["path"],
            ),
        }];
        if self.containers.is_some() || self.prometheus.is_some() {
            t.push(ToolSpec {
                name: "prometheus_query".into(),
                description: "Prometheus instant query (PromQL), at a time or now.".into(),
                parameters: obj(
                    json!({"query": {"type": "string"},
                           "time": {"type": "string", "description": "RFC 3339; default now."}}),
                    &["query"],
                ),
            });
            t.push(ToolSpec {
                name: "prometheus_query_range".into(),
                description: format!("Prometheus range query over the last `minutes` before `end` (default now), at most {MAX_RANGE_POINTS} points per series."),
                parameters: obj(
                    json!({"query": {"type": "string"},
                           "minutes": {"type": "integer", "description": "Range length, default 15."},
                           "step_seconds": {"type": "integer", "description": "Resolution; default fits 100 points."},
                           "end": {"type": "string", "description": "RFC 3339; default now."}}),
                    &["query"],
                ),
            });
            t.push(ToolSpec {
                name: "prometheus_label_values".into(),
                description:
                    "The values a Prometheus label takes (e.g. instance, __name__, store).".into(),
                parameters: obj(json!({"label": {"type": "string"}}), &["label"]),
            });
        }
        if self.containers.is_some() {
            t.extend(ContainerTools::specs("tikv-1, pd-0"));
        }
        t
    }

    async fn call(
        &self,
        ticket: &TicketBrief,
        name: &str,
        a: &Value,
    ) -> Result<ToolOutput, ToolError> {
        match name {
            "pd_get" => self.pd_get(a).await,
            "prometheus_query" => self.prom_query(a).await,
            "prometheus_query_range" => self.prom_range(ticket, a).await,
            "prometheus_label_values" => self.prom_labels(a).await,
            other => ContainerTools::call_or_unknown(self.containers.as_ref(), other, a).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pd_paths_outside_the_allow_list_are_refused() {
        assert_eq!(allowed_pd_path("/pd/api/v1/stores").unwrap(), "stores");
        assert_eq!(allowed_pd_path("store/4").unwrap(), "store/4");
        assert_eq!(
            allowed_pd_path("regions/check/down-peer").unwrap(),
            "regions/check/down-peer"
        );
        for bad in [
            "regions",
            "store/4/state",
            "store/x",
            "../admin/reset-ts",
            "admin/cache/regions",
            "stores?state=1",
            "regions/check/everything",
            "",
            "config/schedule%2F..",
        ] {
            assert!(
                matches!(allowed_pd_path(bad), Err(ToolError::NotAllowed(_))),
                "{bad:?} must be refused"
            );
        }
    }
}
