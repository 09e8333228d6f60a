//! `operator status --api URL`: what a running operator says about its own last pass.
//!
//! `status -f` observes the cluster itself (Docker and the subject's own API); a user who
//! runs the operator as a long-lived container beside the cluster also wants to know what
//! *the controller* thinks: whether it converged, what it waits for, what it refused and
//! why, whether the spec on disk is currently invalid. That is `/api/v1/status` of the
//! operator's HTTP server, the same document `/readyz` is computed from. It names no
//! subject: every subject's controller serves the same summary.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

/// How long one status request may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why `status --api` has no answer to show.
#[derive(Debug, thiserror::Error)]
pub enum StatusApiError {
    /// No HTTP client could be built.
    #[error("cannot build an HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The API did not answer (the explanation says where and the likely cause).
    #[error("{explanation}")]
    Unreachable {
        /// One line: which API, where, why.
        explanation: String,
        /// The request's error.
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with an error status.
    #[error("the operator's API at {api} answered {status} to GET /api/v1/status")]
    Status {
        /// The `--api` URL.
        api: String,
        /// What it answered.
        status: reqwest::StatusCode,
    },
    /// What answered is not an operator.
    #[error("{api} answered GET /api/v1/status with something that is not an operator's status (is --api the operator's address?)")]
    NotAnOperator {
        /// The `--api` URL.
        api: String,
    },
}

/// `GET {api}/api/v1/status`, or one line on why it did not answer.
pub(crate) async fn fetch(api: &str) -> Result<Value, StatusApiError> {
    let url = format!("{}/api/v1/status", api.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(StatusApiError::Client)?;
    let resp = match client.get(&url).send().await {
        Ok(r) => r,
        Err(source) => {
            let detail = if source.is_timeout() {
                format!("no answer within {} s", TIMEOUT.as_secs())
            } else {
                "it did not answer".to_string()
            };
            return Err(StatusApiError::Unreachable {
                explanation: super::reach::explain("the operator's API", api, &detail).await,
                source,
            });
        }
    };
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(StatusApiError::Status {
            api: api.to_string(),
            status,
        });
    }
    match serde_json::from_str::<Value>(&body) {
        Ok(v) if v.get("converged").is_some() && v.get("ok").is_some() => Ok(v),
        _ => Err(StatusApiError::NotAnOperator {
            api: api.to_string(),
        }),
    }
}

/// The controller's summary for people.
pub(crate) fn render(api: &str, v: &Value) -> String {
    let mut out = String::new();
    let strs = |key: &str| -> Vec<String> {
        v.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| match x.as_str() {
                        Some(s) => s.to_string(),
                        None => x.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let time = |key: &str| {
        v.get(key)
            .and_then(time_text)
            .unwrap_or_else(|| "never".into())
    };
    let state = if v.get("converged").and_then(Value::as_bool) == Some(true) {
        "converged"
    } else {
        "converging"
    };
    let _ = writeln!(out, "Operator at {api}: {state}");
    let last = if v.get("ok").and_then(Value::as_bool) == Some(true) {
        "ok".to_string()
    } else {
        format!("failed: {}", text("error").unwrap_or_else(|| "-".into()))
    };
    let _ = writeln!(out, "Last pass: {} ({last})", time("finished_at"));
    let _ = writeln!(out, "Last success: {}", time("last_success"));
    if let Some(e) = text("spec_error") {
        let _ = writeln!(
            out,
            "Spec on disk is invalid (the last valid one is in force): {e}"
        );
    }
    for (title, key) in [
        ("Applied in the last pass", "applied"),
        ("Pending", "pending"),
        ("Waiting for", "waits"),
        ("Refused", "refusals"),
        ("Faults", "faults"),
    ] {
        let items = strs(key);
        if !items.is_empty() {
            let _ = writeln!(out, "{title}:");
            for i in items {
                let _ = writeln!(out, "  - {i}");
            }
        }
    }
    out
}

/// A time as the server wrote it (serde's `SystemTime`: seconds and nanoseconds since
/// the epoch), as RFC 3339.
fn time_text(v: &Value) -> Option<String> {
    let secs = v.get("secs_since_epoch").and_then(Value::as_u64)?;
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    Some(crate::tickets::model::format_time(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_converging_operator_says_what_it_waits_for_and_what_it_refused() {
        let v = json!({
            "finished_at": {"secs_since_epoch": 1_800_000_000u64, "nanos_since_epoch": 0},
            "ok": true, "error": null, "applied": [], "pending": ["start tikv-2"],
            "waits": ["PD to elect a leader"], "refusals": ["scale-in to 2 stores: max-replicas is 3"],
            "faults": [], "converged": false,
            "last_success": {"secs_since_epoch": 1_800_000_000u64, "nanos_since_epoch": 0},
            "spec_error": null
        });
        let text = render("http://127.0.0.1:9464", &v);
        assert!(
            text.starts_with("Operator at http://127.0.0.1:9464: converging\n"),
            "{text}"
        );
        assert!(
            text.contains("Last pass: 2027-01-15T08:00:00Z (ok)"),
            "{text}"
        );
        assert!(
            text.contains("Waiting for:\n  - PD to elect a leader"),
            "{text}"
        );
        assert!(
            text.contains("Refused:\n  - scale-in to 2 stores: max-replicas is 3"),
            "{text}"
        );
        assert!(
            !text.contains("Faults:") && !text.contains("Spec on disk"),
            "{text}"
        );
    }

    #[test]
    fn a_failed_pass_and_an_invalid_spec_are_said() {
        let v = json!({
            "finished_at": null, "ok": false, "error": "PD unreachable", "applied": [],
            "pending": [], "waits": [], "refusals": [], "faults": [], "converged": false,
            "last_success": null, "spec_error": "cluster.yaml:3:7: expected a number"
        });
        let text = render("http://op:9464", &v);
        assert!(
            text.contains("Last pass: never (failed: PD unreachable)"),
            "{text}"
        );
        assert!(text.contains("Last success: never"), "{text}");
        assert!(
            text.contains("cluster.yaml:3:7: expected a number"),
            "{text}"
        );
    }
}
