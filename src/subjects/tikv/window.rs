//! The metrics window a diagnosis gets: the reference PromQL per store, as range
//! queries from ten minutes before a ticket's first sighting to five minutes after (or
//! now), downsampled so the prompt stays small.
//!
//! Why a window and not the snapshot's instant values: "slow since when, and only on
//! this store?" is what separates a slow disk from a hot region or a cluster-wide load
//! rise, and only a window shows the before and after. Times are written relative to
//! first-seen (`t-300s`, `t+30s`) so the model reads the ordering without parsing dates.
//!
//! The section comes through the core's [`ContextSource`] port: the diagnosis core never
//! learns what PromQL or TiKV is.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::prom::queries::{self, StoreSize};
use super::prom::{PromClient, PromError};
use super::topology::PROMETHEUS_PORT;
use crate::diagnose::context::sections;
use crate::diagnose::model::{ContextSection, TicketBrief};
use crate::diagnose::reconciler::ContextSource;
use crate::http::HttpConfig;
use crate::runtime::{labels, ContainerRuntime, ContainerStatus};

/// How far before first-seen the window starts.
pub(crate) const BEFORE: Duration = Duration::from_secs(600);
/// How far after first-seen it ends (or now, when sooner).
pub(crate) const AFTER: Duration = Duration::from_secs(300);
/// Points kept per series after downsampling (first, last, peak and trough included).
pub(crate) const MAX_POINTS: usize = 16;

/// The series of the window: `(name, PromQL)`, per store (`instance`).
pub(crate) fn window_queries() -> Vec<(&'static str, String)> {
    vec![
        ("qps", queries::qps_by_instance()),
        ("grpc_p99_seconds", queries::grpc_p99_by_instance()),
        ("append_log_p99_seconds", queries::append_log_p99()),
        ("apply_log_p99_seconds", queries::apply_log_p99()),
        ("slow_score", queries::slow_score()),
        ("available_bytes", queries::store_size(StoreSize::Available)),
    ]
}

/// Range-queries every window series around `first_seen`: one `(name, points)` per series
/// and store, points as (`t±Ns`, value). Series that return no data are left out.
pub async fn fetch(
    client: &PromClient,
    first_seen: SystemTime,
    now: SystemTime,
) -> Result<Vec<(String, Vec<(String, f64)>)>, PromError> {
    let start = first_seen.checked_sub(BEFORE).unwrap_or(first_seen);
    let end = (first_seen + AFTER)
        .min(now)
        .max(start + Duration::from_secs(1));
    // About 60 raw points per series, never finer than Prometheus' usual scrape.
    let step = (end.duration_since(start).unwrap_or_default() / 60).max(Duration::from_secs(5));
    let mut out = Vec::new();
    for (name, promql) in window_queries() {
        let response = client.query_range(&promql, start, end, step).await?;
        for series in response.result.matrix() {
            let mut label = format!(
                "{name}{{instance=\"{}\"",
                series
                    .metric
                    .get("instance")
                    .map(String::as_str)
                    .unwrap_or("?")
            );
            if let Some(t) = series.metric.get("type") {
                label.push_str(&format!(",type=\"{t}\""));
            }
            label.push('}');
            let points: Vec<(String, f64)> = series
                .samples
                .iter()
                .filter(|s| s.value.is_finite())
                .map(|s| (relative(first_seen, s.timestamp), round(s.value)))
                .collect();
            if !points.is_empty() {
                out.push((label, points));
            }
        }
    }
    Ok(out)
}

/// `t-300s` / `t+30s` / `t+0s` for a Unix timestamp relative to `first_seen`.
pub(crate) fn relative(first_seen: SystemTime, unix_secs: f64) -> String {
    let fs = first_seen
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let d = (unix_secs - fs).round() as i64;
    if d < 0 {
        format!("t{d}s")
    } else {
        format!("t+{d}s")
    }
}

/// Four significant digits: enough to compare, short in a prompt.
fn round(v: f64) -> f64 {
    if v == 0.0 {
        return 0.0;
    }
    let magnitude = 10f64.powi(3 - v.abs().log10().floor() as i32);
    (v * magnitude).round() / magnitude
}

/// A [`ContextSource`] adding the metrics window from the cluster's own Prometheus (the
/// one the operator runs, found by its ownership labels). Nothing when there is none,
/// it does not answer, or the ticket's first-seen cannot be read.
pub struct PromMetricsWindow {
    runtime: Arc<dyn ContainerRuntime>,
    cluster: String,
    network: String,
}

impl PromMetricsWindow {
    /// A window source for `cluster` on `network`.
    pub fn new(runtime: Arc<dyn ContainerRuntime>, cluster: &str, network: &str) -> Self {
        Self {
            runtime,
            cluster: cluster.to_string(),
            network: network.to_string(),
        }
    }

    async fn client(&self) -> Option<PromClient> {
        let owned = self
            .runtime
            .list_owned(&self.cluster, &self.network)
            .await
            .ok()?;
        let prom = owned.containers.iter().find(|c| {
            c.label(labels::COMPONENT) == Some("prometheus") && c.status == ContainerStatus::Running
        })?;
        let config = HttpConfig {
            per_attempt_timeout: Duration::from_secs(3),
            overall_deadline: Duration::from_secs(5),
            max_retries: 0,
            ..HttpConfig::default()
        };
        PromClient::new(
            &format!("http://{}:{PROMETHEUS_PORT}", prom.ip.as_deref()?),
            config,
        )
        .ok()
    }
}

#[async_trait]
impl ContextSource for PromMetricsWindow {
    async fn sections(&self, brief: &TicketBrief) -> Vec<ContextSection> {
        let Ok(first_seen) = humantime::parse_rfc3339_weak(&brief.first_seen) else {
            return vec![];
        };
        let Some(client) = self.client().await else {
            return vec![];
        };
        match fetch(&client, first_seen, SystemTime::now()).await {
            Ok(series) if !series.is_empty() => {
                vec![sections::metrics_window(&series, MAX_POINTS)]
            }
            Ok(_) => vec![],
            Err(e) => {
                tracing::warn!(error = %e, "metrics window: Prometheus range queries failed");
                vec![]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_named_by_their_offset_from_first_seen() {
        let fs = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(relative(fs, 700.0), "t-300s");
        assert_eq!(relative(fs, 1_030.4), "t+30s");
        assert_eq!(relative(fs, 1_000.0), "t+0s");
    }

    #[test]
    fn values_keep_four_significant_digits() {
        assert_eq!(round(0.123_456), 0.1235);
        assert_eq!(round(123_456.7), 123_500.0);
        assert_eq!(round(0.0), 0.0);
    }
}
