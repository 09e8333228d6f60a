//! Tracing setup: a human-readable fmt layer, and OTLP export when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` variables are set
//! (viewable in Jaeger, which receives OTLP natively).
//!
//! Export uses OTLP/HTTP with protobuf and the blocking reqwest client on the batch
//! processor's own thread, so it never needs (or blocks) the Tokio runtime. Call
//! [`init`] before the runtime starts and drop the guard after it stops.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Errors setting up telemetry.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter did not parse.
    #[error("invalid log filter {0:?}: {1}")]
    Filter(String, String),
    /// The OTLP exporter could not be built.
    #[error("OTLP exporter: {0}")]
    Exporter(String),
}

/// Flushes and shuts down the exporter when dropped.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// True when spans are exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            if let Err(e) = p.shutdown() {
                eprintln!("telemetry shutdown: {e}");
            }
        }
    }
}

/// True when the environment asks for OTLP export.
pub(crate) fn otlp_requested() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|k| std::env::var(k).map(|v| !v.is_empty()).unwrap_or(false))
}

/// Installs the global subscriber. Logs go to stderr.
pub fn init(filter: &str, service: &'static str) -> Result<TelemetryGuard, TelemetryError> {
    let fmt_filter = EnvFilter::try_new(filter)
        .map_err(|e| TelemetryError::Filter(filter.into(), e.to_string()))?;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(fmt_filter);
    if !otlp_requested() {
        let _ = tracing_subscriber::registry().with(fmt).try_init();
        return Ok(TelemetryGuard { provider: None });
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service)
                .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                .build(),
        )
        .build();
    let tracer = provider.tracer(service);
    // The exporter's own HTTP stack must never become spans.
    let otel_filter = EnvFilter::new("info")
        .add_directive("hyper=off".parse().expect("static directive"))
        .add_directive("reqwest=off".parse().expect("static directive"))
        .add_directive("h2=off".parse().expect("static directive"))
        .add_directive("opentelemetry=off".parse().expect("static directive"));
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(otel_filter);
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init();
    Ok(TelemetryGuard {
        provider: Some(provider),
    })
}
