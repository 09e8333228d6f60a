//! A client for the Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`), and
//! the PromQL the operator asks ([`queries`]).
//!
//! Prometheus is where the operator looks for *trends* (latency, QPS, leader drops,
//! heartbeat gaps) that PD's point-in-time API does not show; invariants and diagnosis
//! read it through this client. Sample values arrive as strings (`"NaN"`, `"+Inf"`), so
//! they are parsed here into `f64` once. Error bodies (`{"status":"error","errorType":
//! ...}`) are decoded whatever the HTTP status, so a bad query is reported as a query
//! error, not as "HTTP 400".

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::http::{parse_base_url, DefaultRetryLogic, HttpClient, HttpConfig, HttpError};

/// Errors of Prometheus calls.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    /// Transport, timeout, body limit, non-Prometheus status.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Prometheus rejected or failed the query.
    #[error("Prometheus query failed ({error_type}): {message}")]
    Query {
        /// `bad_data`, `execution`, `timeout`, `canceled`, `unavailable`, ...
        error_type: String,
        /// Prometheus' message.
        message: String,
    },
    /// The body was JSON but not a query response we understand.
    #[error("unexpected Prometheus response: {0}")]
    Format(String),
    /// Invalid configuration.
    #[error("invalid Prometheus client configuration: {0}")]
    Config(String),
}

/// One sample: unix time in seconds and a value (NaN and infinities included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix seconds (Prometheus gives millisecond precision).
    pub timestamp: f64,
    /// The value.
    pub value: f64,
}

/// A labelled instant sample (one element of a vector result).
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    /// Label set (`__name__` included when Prometheus keeps it).
    pub metric: BTreeMap<String, String>,
    /// The sample.
    pub sample: Sample,
}

/// A labelled series of samples (one element of a matrix result).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Label set.
    pub metric: BTreeMap<String, String>,
    /// Samples in time order.
    pub samples: Vec<Sample>,
}

/// A query's result, by `resultType`.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// Instant vector.
    Vector(Vec<VectorSample>),
    /// Range vector.
    Matrix(Vec<Series>),
    /// Scalar.
    Scalar(Sample),
    /// String.
    String {
        /// Unix seconds.
        timestamp: f64,
        /// The string.
        value: String,
    },
}

impl QueryResult {
    /// The vector samples; empty for other result types.
    pub fn vector(&self) -> &[VectorSample] {
        match self {
            Self::Vector(v) => v,
            _ => &[],
        }
    }

    /// The matrix series; empty for other result types.
    pub(crate) fn matrix(&self) -> &[Series] {
        match self {
            Self::Matrix(m) => m,
            _ => &[],
        }
    }

    /// A single number: the scalar, or the value of a one-element vector.
    pub fn single_value(&self) -> Option<f64> {
        match self {
            Self::Scalar(s) => Some(s.value),
            Self::Vector(v) if v.len() == 1 => Some(v[0].sample.value),
            _ => None,
        }
    }

    /// Vector values keyed by one label (e.g. `instance`); samples without it are skipped.
    pub(crate) fn by_label(&self, label: &str) -> BTreeMap<String, f64> {
        self.vector()
            .iter()
            .filter_map(|s| Some((s.metric.get(label)?.clone(), s.sample.value)))
            .collect()
    }
}

/// A successful query response.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResponse {
    /// The result.
    pub result: QueryResult,
    /// Warnings Prometheus attached (partial data, ...).
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
struct RawResponse {
    status: String,
    #[serde(default)]
    data: Option<RawData>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct RawData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Value,
}

#[derive(Deserialize)]
struct RawVectorSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// Parses a Prometheus sample value (`"1.5"`, `"NaN"`, `"+Inf"`, `"-Inf"`).
pub(crate) fn parse_sample_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

fn sample((timestamp, value): (f64, String)) -> Result<Sample, PromError> {
    let value = parse_sample_value(&value)
        .ok_or_else(|| PromError::Format(format!("sample value {value:?} is not a number")))?;
    Ok(Sample { timestamp, value })
}

/// Decodes a query API body (success or error).
///
/// # Guarantees
/// `status: "error"` bodies become [`PromError::Query`]; unknown result types and
/// malformed samples become [`PromError::Format`]; nothing panics on hostile input.
pub fn parse_query_response(body: &[u8]) -> Result<QueryResponse, PromError> {
    let raw: RawResponse = serde_json::from_slice(body)
        .map_err(|e| PromError::Format(format!("not a Prometheus API body: {e}")))?;
    if raw.status != "success" {
        return Err(PromError::Query {
            error_type: raw.error_type.unwrap_or_else(|| "unknown".into()),
            message: raw.error.unwrap_or_default(),
        });
    }
    let data = raw
        .data
        .ok_or_else(|| PromError::Format("success without data".into()))?;
    let RawData {
        result_type,
        result: value,
    } = data;
    let bad = |e: serde_json::Error| PromError::Format(format!("{result_type}: {e}"));
    let result = match result_type.as_str() {
        "vector" => {
            let raw: Vec<RawVectorSample> = serde_json::from_value(value).map_err(bad)?;
            QueryResult::Vector(
                raw.into_iter()
                    .map(|s| {
                        Ok(VectorSample {
                            metric: s.metric,
                            sample: sample(s.value)?,
                        })
                    })
                    .collect::<Result<_, PromError>>()?,
            )
        }
        "matrix" => {
            let raw: Vec<RawSeries> = serde_json::from_value(value).map_err(bad)?;
            QueryResult::Matrix(
                raw.into_iter()
                    .map(|s| {
                        Ok(Series {
                            metric: s.metric,
                            samples: s.values.into_iter().map(sample).collect::<Result<_, _>>()?,
                        })
                    })
                    .collect::<Result<_, PromError>>()?,
            )
        }
        "scalar" => {
            let raw: (f64, String) = serde_json::from_value(value).map_err(bad)?;
            QueryResult::Scalar(sample(raw)?)
        }
        "string" => {
            let (timestamp, value): (f64, String) = serde_json::from_value(value).map_err(bad)?;
            QueryResult::String { timestamp, value }
        }
        other => return Err(PromError::Format(format!("unknown resultType {other:?}"))),
    };
    Ok(QueryResponse {
        result,
        warnings: raw.warnings,
    })
}

/// Formats a time as Prometheus' unix-seconds parameter (millisecond precision).
pub(crate) fn prom_time(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}", since.as_secs(), since.subsec_millis())
}

/// The largest Prometheus answer the monitor reads: 16 MiB. Its instant queries return
/// one series per store or instance (kilobytes); a body this large is a broken or hostile
/// server, and every monitoring pass would otherwise buffer it.
pub(crate) const MAX_BODY_BYTES: usize = 16 * crate::http::MIB;

/// A Prometheus HTTP API client over the shared [stack](crate::http).
#[derive(Debug, Clone)]
pub struct PromClient {
    http: HttpClient,
    base: reqwest::Url,
}

impl PromClient {
    /// A client for the Prometheus at `base` (`http://prometheus:9090` or
    /// `host:port`). Must be called inside a Tokio runtime.
    pub fn new(base: &str, config: HttpConfig) -> Result<Self, PromError> {
        let base = parse_base_url(base).map_err(|e| PromError::Config(e.to_string()))?;
        let http = HttpClient::new(config, DefaultRetryLogic)
            .map_err(|e| PromError::Config(e.to_string()))?;
        Ok(Self { http, base })
    }

    fn url(&self, path: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        url.set_query(None);
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{path}"));
        url
    }

    async fn api(&self, path: &str, params: &[(&str, String)]) -> Result<QueryResponse, PromError> {
        let request = self.http.request(Method::GET, self.url(path)).query(params);
        let response = self.http.send(request).await?;
        match parse_query_response(&response.body) {
            Err(e @ PromError::Query { .. }) => Err(e),
            // Not an API body (proxy error page, 404 from something else): report the
            // HTTP status rather than a confusing decode error.
            _ if !response.status.is_success() => Err(HttpError::Status {
                url: response.url.clone(),
                code: response.status.as_u16(),
                body: response.body_excerpt(),
            }
            .into()),
            other => other,
        }
    }

    /// Instant query at `at` (now when `None`).
    pub async fn query(
        &self,
        promql: &str,
        at: Option<SystemTime>,
    ) -> Result<QueryResponse, PromError> {
        let mut params = vec![("query", promql.to_owned())];
        if let Some(at) = at {
            params.push(("time", prom_time(at)));
        }
        self.api("/api/v1/query", &params).await
    }

    /// Range query over `[start, end]` every `step`.
    pub(crate) async fn query_range(
        &self,
        promql: &str,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Result<QueryResponse, PromError> {
        if step.is_zero() {
            return Err(PromError::Config(
                "query_range step must be positive".into(),
            ));
        }
        let params = [
            ("query", promql.to_owned()),
            ("start", prom_time(start)),
            ("end", prom_time(end)),
            ("step", format!("{:.3}", step.as_secs_f64())),
        ];
        self.api("/api/v1/query_range", &params).await
    }

    #[cfg(test)]
    /// Instant query (now) of a vector, keyed by `label` (usually `instance`).
    pub(crate) async fn query_by_label(
        &self,
        promql: &str,
        label: &str,
    ) -> Result<BTreeMap<String, f64>, PromError> {
        Ok(self.query(promql, None).await?.result.by_label(label))
    }

    /// `GET /api/v1/label/{label}/values`: the values a label takes.
    pub(crate) async fn label_values(&self, label: &str) -> Result<Vec<String>, PromError> {
        if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(PromError::Config(format!("invalid label name {label:?}")));
        }
        let request = self.http.request(
            Method::GET,
            self.url(&format!("/api/v1/label/{label}/values")),
        );
        let response = self.http.send(request).await?;
        let v: Value = serde_json::from_slice(&response.body).map_err(|_| {
            PromError::Format(format!(
                "label values ({}): {}",
                response.status,
                response.body_excerpt()
            ))
        })?;
        if v.get("status").and_then(Value::as_str) != Some("success") {
            return Err(PromError::Query {
                error_type: v
                    .get("errorType")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
                message: v
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
        Ok(v.get("data")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    #[cfg(test)]
    /// `GET /-/ready`: whether Prometheus is ready to serve queries.
    pub(crate) async fn ready(&self) -> Result<bool, PromError> {
        let response = self
            .http
            .send(self.http.request(Method::GET, self.url("/-/ready")))
            .await?;
        Ok(response.status.is_success())
    }
}

/// The PromQL the operator asks, from TiKV's and PD's Grafana dashboards
/// (INTERFACES.md §5), adapted to this project's scrape config: TiKV status ports are
/// scraped as job [`queries::TIKV_JOB`], PD client ports as [`queries::PD_JOB`], and
/// `$__rate_interval` becomes [`queries::RATE_WINDOW`].
pub mod queries {
    /// Scrape job of TiKV status ports.
    pub(crate) const TIKV_JOB: &str = "tikv";
    #[cfg(test)]
    /// Scrape job of PD client ports.
    pub(crate) const PD_JOB: &str = "pd";
    /// Rate window (4× a 15 s scrape interval).
    pub(crate) const RATE_WINDOW: &str = "1m";

    fn tikv(extra: &str) -> String {
        if extra.is_empty() {
            format!("job=\"{TIKV_JOB}\"")
        } else {
            format!("job=\"{TIKV_JOB}\",{extra}")
        }
    }

    /// gRPC requests per second per TiKV instance (GC excluded).
    pub(crate) fn qps_by_instance() -> String {
        format!(
            "sum(rate(tikv_grpc_msg_duration_seconds_count{{{}}}[{RATE_WINDOW}])) by (instance)",
            tikv("type!=\"kv_gc\"")
        )
    }

    /// p99 gRPC latency (seconds) per instance.
    pub(crate) fn grpc_p99_by_instance() -> String {
        histogram_p99_by_instance("tikv_grpc_msg_duration_seconds", "type!=\"kv_gc\"")
    }

    /// p99 of a TiKV histogram per instance, with extra matchers.
    pub(crate) fn histogram_p99_by_instance(metric: &str, matchers: &str) -> String {
        format!(
            "histogram_quantile(0.99, sum(rate({metric}_bucket{{{}}}[{RATE_WINDOW}])) by (instance, le))",
            tikv(matchers)
        )
    }

    /// p99 raft log append (seconds) per instance.
    pub(crate) fn append_log_p99() -> String {
        histogram_p99_by_instance("tikv_raftstore_append_log_duration_seconds", "")
    }

    /// p99 raft log commit (seconds) per instance.
    pub(crate) fn commit_log_p99() -> String {
        histogram_p99_by_instance("tikv_raftstore_commit_log_duration_seconds", "")
    }

    /// p99 raft log apply (seconds) per instance.
    pub(crate) fn apply_log_p99() -> String {
        histogram_p99_by_instance("tikv_raftstore_apply_log_duration_seconds", "")
    }

    /// Which store-size gauge.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum StoreSize {
        /// Available bytes.
        Available,
        /// Capacity bytes.
        Capacity,
    }

    /// Store size in bytes per instance.
    pub(crate) fn store_size(kind: StoreSize) -> String {
        let kind = match kind {
            StoreSize::Available => "available",
            StoreSize::Capacity => "capacity",
        };
        format!(
            "sum(tikv_store_size_bytes{{{}}}) by (instance)",
            tikv(&format!("type=\"{kind}\""))
        )
    }

    /// Leaders per instance.
    pub(crate) fn leader_count() -> String {
        format!(
            "sum(tikv_raftstore_region_count{{{}}}) by (instance)",
            tikv("type=\"leader\"")
        )
    }

    /// Region peers per instance.
    pub(crate) fn region_count() -> String {
        format!(
            "sum(tikv_raftstore_region_count{{{}}}) by (instance)",
            tikv("type=\"region\"")
        )
    }

    /// Slow score (1..100) per instance and type (`raft`, `kvdb`).
    pub(crate) fn slow_score() -> String {
        format!(
            "max(tikv_raftstore_slow_score{{{}}}) by (instance, type)",
            tikv("")
        )
    }

    #[cfg(test)]
    /// Heartbeat no-op responses over the window per instance; under 1 means the store
    /// is not getting heartbeat answers from PD (TiKV dashboard "heartbeat errors").
    pub(crate) fn heartbeat_noop_delta() -> String {
        format!(
            "sum(delta(tikv_pd_heartbeat_message_total{{{}}}[{RATE_WINDOW}])) by (instance)",
            tikv("type=\"noop\"")
        )
    }

    #[cfg(test)]
    /// A PD leader-only gauge, masked by `service_member_role` so that a follower's (or
    /// a deposed leader's stale) values are not counted.
    fn pd_leader_only(metric: &str, matchers: &str, by: &str) -> String {
        format!(
            "sum(({metric}{{job=\"{PD_JOB}\",{matchers}}}) * on(instance) group_left() (service_member_role{{job=\"{PD_JOB}\",service=\"PD\"}})){by}"
        )
    }

    #[cfg(test)]
    /// `pd_cluster_status` summed over stores, e.g. `store_down_count`,
    /// `store_disconnected_count`, `store_up_count`, `store_low_space_count`,
    /// `region_count`, `leader_count`, `storage_size`, `storage_capacity`.
    pub(crate) fn pd_cluster_status(kind: &str) -> String {
        pd_leader_only("pd_cluster_status", &format!("type=\"{kind}\""), "")
    }

    #[cfg(test)]
    /// Stores PD counts as Down.
    pub(crate) fn store_down_count() -> String {
        pd_cluster_status("store_down_count")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_with_nan_and_infinities_parses() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"instance":"tikv-0:20180","job":"tikv"},"value":[1782898212.781,"0.0123"]},
            {"metric":{"instance":"tikv-1:20180","job":"tikv"},"value":[1782898212.781,"NaN"]},
            {"metric":{"instance":"tikv-2:20180","job":"tikv"},"value":[1782898212.781,"+Inf"]},
            {"metric":{"instance":"tikv-3:20180","job":"tikv"},"value":[1782898212.781,"-Inf"]}]}}"#;
        let parsed = parse_query_response(body).unwrap();
        let v = parsed.result.vector();
        assert_eq!(v.len(), 4);
        assert_eq!(v[0].sample.value, 0.0123);
        assert_eq!(v[0].sample.timestamp, 1782898212.781);
        assert!(v[1].sample.value.is_nan());
        assert_eq!(v[2].sample.value, f64::INFINITY);
        assert_eq!(v[3].sample.value, f64::NEG_INFINITY);
        assert_eq!(parsed.result.by_label("instance")["tikv-0:20180"], 0.0123);
        assert_eq!(parsed.result.single_value(), None);
    }

    #[test]
    fn a_matrix_parses_in_time_order() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"instance":"tikv-0:20180"},"values":[[1782898200,"3"],[1782898215,"2"],[1782898230,"0"]]}]},
            "warnings":["partial data"]}"#;
        let parsed = parse_query_response(body).unwrap();
        let m = parsed.result.matrix();
        assert_eq!(m.len(), 1);
        assert_eq!(
            m[0].samples.iter().map(|s| s.value).collect::<Vec<_>>(),
            vec![3.0, 2.0, 0.0]
        );
        assert_eq!(parsed.warnings, vec!["partial data".to_owned()]);
    }

    #[test]
    fn scalars_and_strings_parse() {
        let s = parse_query_response(
            br#"{"status":"success","data":{"resultType":"scalar","result":[1782898212.5,"2"]}}"#,
        )
        .unwrap();
        assert_eq!(s.result.single_value(), Some(2.0));
        let t = parse_query_response(
            br#"{"status":"success","data":{"resultType":"string","result":[1.0,"hello"]}}"#,
        )
        .unwrap();
        assert!(matches!(t.result, QueryResult::String { ref value, .. } if value == "hello"));
    }

    #[test]
    fn error_bodies_become_query_errors() {
        let e = parse_query_response(
            br#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected end of input"}"#,
        )
        .unwrap_err();
        match e {
            PromError::Query {
                error_type,
                message,
            } => {
                assert_eq!(error_type, "bad_data");
                assert!(message.contains("parse error"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_bodies_are_format_errors_not_panics() {
        for body in [
            &b"<html>bad gateway</html>"[..],
            br#"{"status":"success"}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"abc"]}]}}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":{"x":1}}}"#,
            br#"{"status":"success","data":{"resultType":"histogram","result":[]}}"#,
        ] {
            assert!(matches!(
                parse_query_response(body),
                Err(PromError::Format(_))
            ));
        }
    }

    #[test]
    fn times_are_formatted_as_unix_seconds_with_milliseconds() {
        let at = UNIX_EPOCH + Duration::from_millis(1_782_898_212_781);
        assert_eq!(prom_time(at), "1782898212.781");
    }

    async fn stub() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use axum::extract::RawQuery;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let router = axum::Router::new()
            .route(
                "/api/v1/query",
                axum::routing::get(move |RawQuery(q): RawQuery| {
                    let q = q.unwrap_or_default();
                    log.lock().unwrap().push(q.clone());
                    async move {
                        if q.contains("broken") {
                            (
                                http::StatusCode::BAD_REQUEST,
                                r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
                            )
                        } else {
                            (
                                http::StatusCode::OK,
                                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"tikv-0:20180"},"value":[1782898212.781,"42"]}]}}"#,
                            )
                        }
                    }
                }),
            )
            .route(
                "/api/v1/query_range",
                axum::routing::get(|| async {
                    r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}}"#
                }),
            )
            .route("/-/ready", axum::routing::get(|| async { "Prometheus Server is Ready." }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (addr.to_string(), seen)
    }

    #[tokio::test]
    async fn the_client_queries_a_prometheus_over_http() {
        let (addr, seen) = stub().await;
        let client = PromClient::new(&addr, HttpConfig::default()).unwrap();
        assert!(client.ready().await.unwrap());
        let at = UNIX_EPOCH + Duration::from_secs(1_782_898_212);
        let answer = client.query("up{job=\"tikv\"}", Some(at)).await.unwrap();
        assert_eq!(answer.result.by_label("instance")["tikv-0:20180"], 42.0);
        let query = seen.lock().unwrap()[0].clone();
        assert!(query.contains("query=up%7Bjob%3D%22tikv%22%7D"), "{query}");
        assert!(query.contains("time=1782898212.000"), "{query}");
        let by_instance = client.query_by_label("up", "instance").await.unwrap();
        assert_eq!(by_instance.get("tikv-0:20180"), Some(&42.0));
        let range = client
            .query_range(
                "x",
                at,
                at + Duration::from_secs(60),
                Duration::from_secs(15),
            )
            .await
            .unwrap();
        assert_eq!(range.result.matrix()[0].samples.len(), 2);
        let error = client.query("broken(", None).await.unwrap_err();
        assert!(
            matches!(error, PromError::Query { ref error_type, .. } if error_type == "bad_data")
        );
        let missing = PromClient::new(
            &format!("http://{addr}/nothing-here"),
            HttpConfig::default(),
        )
        .unwrap()
        .query("up", None)
        .await
        .unwrap_err();
        assert!(
            matches!(
                missing,
                PromError::Http(HttpError::Status { code: 404, .. })
            ),
            "{missing:?}"
        );
    }

    #[test]
    fn queries_select_the_project_jobs() {
        assert_eq!(
            queries::qps_by_instance(),
            r#"sum(rate(tikv_grpc_msg_duration_seconds_count{job="tikv",type!="kv_gc"}[1m])) by (instance)"#
        );
        assert_eq!(
            queries::append_log_p99(),
            r#"histogram_quantile(0.99, sum(rate(tikv_raftstore_append_log_duration_seconds_bucket{job="tikv"}[1m])) by (instance, le))"#
        );
        assert_eq!(
            queries::store_down_count(),
            r#"sum((pd_cluster_status{job="pd",type="store_down_count"}) * on(instance) group_left() (service_member_role{job="pd",service="PD"}))"#
        );
        assert_eq!(
            queries::heartbeat_noop_delta(),
            r#"sum(delta(tikv_pd_heartbeat_message_total{job="tikv",type="noop"}[1m])) by (instance)"#
        );
        assert_eq!(
            queries::slow_score(),
            r#"max(tikv_raftstore_slow_score{job="tikv"}) by (instance, type)"#
        );
    }
}
