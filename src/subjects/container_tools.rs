//! The container tools every subject's investigation toolbox offers: a member's recent
//! logs (regex filter, bounded), the cluster's container state, one container's inspect.
//!
//! # Why shared, and why here
//!
//! What a container is (running or exited, its exit code, OOMKilled, its output) does not
//! depend on the system inside it, so TiKV's and etcd's toolboxes offer the same three
//! tools with the same bounds instead of two copies. It lives beside the subjects and not
//! in the core's `diagnose::investigate`, which never names the runtime: the core defines
//! the port, a subject lends the tools.
//!
//! # Read-only and bounded
//!
//! Containers are read through [`ContainerReader`], which has no mutating method, and
//! only those the cluster owns (by its labels): a name outside the cluster is refused
//! with the list of its members. Logs are at most [`MAX_LOG_LINES`] lines (the latest),
//! at most [`MAX_LOOKBACK_MINUTES`] back; a filter regex is bounded in length and in
//! compiled size.

use crate::diagnose::investigate::tools::args;
use crate::diagnose::investigate::{ToolError, ToolOutput, ToolSpec};
use crate::runtime::readonly::ContainerReader;
use crate::runtime::{ContainerStatus, ObservedContainer};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// The most log lines a call returns.
pub(crate) const MAX_LOG_LINES: u64 = 200;
/// How far back a log read may reach, in minutes (one day).
pub(crate) const MAX_LOOKBACK_MINUTES: u64 = 24 * 60;
/// The longest log regex accepted.
pub(crate) const MAX_REGEX_CHARS: usize = 500;
/// Log lines read from the runtime before filtering.
const LOG_SCAN_LINES: usize = 5_000;

/// The container tools of one cluster.
#[derive(Clone)]
pub(crate) struct ContainerTools {
    cluster: String,
    network: String,
    reader: ContainerReader,
}

impl ContainerTools {
    /// Tools over the containers `cluster` owns on `network`.
    pub(crate) fn new(cluster: &str, network: &str, reader: ContainerReader) -> Self {
        Self {
            cluster: cluster.to_string(),
            network: network.to_string(),
            reader,
        }
    }

    /// The cluster's containers.
    ///
    /// # Errors
    ///
    /// [`ToolError::Failed`] when the runtime does not answer.
    pub(crate) async fn owned(&self) -> Result<Vec<ObservedContainer>, ToolError> {
        self.reader
            .list_owned(&self.cluster, &self.network)
            .await
            .map(|o| o.containers)
            .map_err(|e| ToolError::Failed(format!("container runtime: {e}")))
    }

    /// The specs of the three tools; `example` names a member in the descriptions
    /// (`tikv-1`, `etcd-0`).
    pub(crate) fn specs(example: &str) -> Vec<ToolSpec> {
        let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
        vec![
            ToolSpec {
                name: "container_logs".into(),
                description: format!("Recent output of a member's container (e.g. {example}), optionally filtered by a regex; at most {MAX_LOG_LINES} lines, the latest."),
                parameters: obj(
                    json!({"member": {"type": "string"},
                           "since_minutes": {"type": "integer", "description": "Default 30."},
                           "grep": {"type": "string", "description": "Regex; only matching lines."},
                           "lines": {"type": "integer", "description": "Default 100, at most 200."}}),
                    &["member"],
                ),
            },
            ToolSpec {
                name: "container_state".into(),
                description: "State of the cluster's containers (or one member's): running or exited, exit code, OOMKilled, start and finish times.".into(),
                parameters: obj(json!({"member": {"type": "string"}}), &[]),
            },
            ToolSpec {
                name: "container_inspect".into(),
                description: "Everything known about one member's container: state, image, address, networks, labels.".into(),
                parameters: obj(json!({"member": {"type": "string"}}), &["member"]),
            },
        ]
    }

    /// A subject toolbox's fallback for the tool names it does not know: the container
    /// tools when there is a runtime, else `ToolError::Unknown`.
    pub(crate) async fn call_or_unknown(
        tools: Option<&Self>,
        name: &str,
        a: &Value,
    ) -> Result<ToolOutput, ToolError> {
        match tools {
            Some(c) => c
                .call(name, a)
                .await
                .unwrap_or_else(|| Err(ToolError::Unknown(name.to_string()))),
            None => Err(ToolError::Unknown(name.to_string())),
        }
    }

    /// Runs one of [`TOOL_NAMES`]; `None` for another name.
    pub(crate) async fn call(
        &self,
        name: &str,
        a: &Value,
    ) -> Option<Result<ToolOutput, ToolError>> {
        Some(match name {
            "container_logs" => self.logs(a).await,
            "container_state" => self.state(a).await,
            "container_inspect" => self.inspect(a).await,
            _ => return None,
        })
    }

    /// The owned container a member names (`tikv-1` or its full name).
    ///
    /// # Errors
    ///
    /// [`ToolError::NotAllowed`] (with the cluster's members) for a name it does not own.
    pub(crate) async fn container(&self, member: &str) -> Result<ObservedContainer, ToolError> {
        let owned = self.owned().await?;
        let want = member.trim();
        let full = format!("{}-{want}", self.cluster);
        owned
            .iter()
            .find(|c| c.name == want || c.name == full)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<String> = owned
                    .iter()
                    .map(|c| {
                        c.name
                            .strip_prefix(&format!("{}-", self.cluster))
                            .unwrap_or(&c.name)
                            .to_string()
                    })
                    .collect();
                ToolError::NotAllowed(format!(
                    "{want:?} is not a container of this cluster; its members: {}",
                    names.join(", ")
                ))
            })
    }

    async fn logs(&self, a: &Value) -> Result<ToolOutput, ToolError> {
        let member = args::string(a, "member")?;
        let q = LogQuery::from_args(a)?;
        let c = self.container(member).await?;
        let since = SystemTime::now() - Duration::from_secs(q.minutes * 60);
        let all = self
            .reader
            .logs(&self.cluster, &c.name, Some(since), LOG_SCAN_LINES)
            .await
            .map_err(|e| ToolError::Failed(format!("container runtime: {e}")))?;
        Ok(q.render(all.iter().map(|l| l.text.as_str())))
    }

    async fn state(&self, a: &Value) -> Result<ToolOutput, ToolError> {
        let chosen = match args::opt_string(a, "member")? {
            Some(m) => vec![self.container(m).await?],
            None => self.owned().await?,
        };
        let rows: Vec<Value> = chosen.iter().map(|c| state_json(c, false)).collect();
        let summary = chosen.iter().map(state_line).collect::<Vec<_>>().join("; ");
        Ok(ToolOutput::with_summary(
            Value::Array(rows).to_string(),
            summary,
        ))
    }

    async fn inspect(&self, a: &Value) -> Result<ToolOutput, ToolError> {
        let c = self.container(args::string(a, "member")?).await?;
        Ok(ToolOutput::with_summary(
            state_json(&c, true).to_string(),
            state_line(&c),
        ))
    }
}

/// A log read's bounds and filter, checked before the runtime is asked.
#[derive(Debug)]
pub(crate) struct LogQuery {
    /// Lines shown, the latest.
    pub lines: u64,
    /// How far back.
    pub minutes: u64,
    /// Only lines matching.
    pub filter: Option<regex::Regex>,
}

impl LogQuery {
    /// Reads `lines`, `since_minutes` and `grep`.
    ///
    /// # Errors
    ///
    /// [`ToolError::NotAllowed`] outside the bounds, [`ToolError::InvalidArguments`] for
    /// a regex that does not compile.
    pub(crate) fn from_args(a: &Value) -> Result<Self, ToolError> {
        let lines = args::opt_u64(a, "lines")?.unwrap_or(100);
        if lines == 0 || lines > MAX_LOG_LINES {
            return Err(ToolError::NotAllowed(format!(
                "lines must be 1..={MAX_LOG_LINES}"
            )));
        }
        let minutes = args::opt_u64(a, "since_minutes")?.unwrap_or(30);
        if minutes == 0 || minutes > MAX_LOOKBACK_MINUTES {
            return Err(ToolError::NotAllowed(format!(
                "since_minutes must be 1..={MAX_LOOKBACK_MINUTES}"
            )));
        }
        let filter = match args::opt_string(a, "grep")? {
            Some(g) if g.len() > MAX_REGEX_CHARS => {
                return Err(ToolError::NotAllowed(format!(
                    "grep is longer than {MAX_REGEX_CHARS} characters"
                )))
            }
            Some(g) if !g.is_empty() => Some(
                regex::RegexBuilder::new(g)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| ToolError::InvalidArguments(format!("grep: {e}")))?,
            ),
            _ => None,
        };
        Ok(Self {
            lines,
            minutes,
            filter,
        })
    }

    /// The latest matching lines of `all`, saying how many earlier ones are not shown.
    pub(crate) fn render<'a>(&self, all: impl Iterator<Item = &'a str>) -> ToolOutput {
        let mut total = 0usize;
        let matched: Vec<&str> = all
            .inspect(|_| total += 1)
            .filter(|t| self.filter.as_ref().is_none_or(|re| re.is_match(t)))
            .collect();
        let shown = &matched[matched.len().saturating_sub(self.lines as usize)..];
        let mut text = shown.join("\n");
        if matched.len() > shown.len() {
            text = format!(
                "[{} earlier matching line(s) not shown]\n{text}",
                matched.len() - shown.len()
            );
        }
        if matched.is_empty() {
            text = "(no matching log lines)".into();
        }
        let summary = format!(
            "{} of {total} line(s) in the last {} min{}",
            matched.len(),
            self.minutes,
            if self.filter.is_some() {
                " matched"
            } else {
                ""
            }
        );
        ToolOutput::with_summary(text, summary)
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A container as the model reads it; `full` adds image, address and labels.
pub(crate) fn state_json(c: &ObservedContainer, full: bool) -> Value {
    let mut v = json!({
        "name": c.name,
        "status": c.status.as_str(),
        "exit_code": c.exit_code,
        "oom_killed": c.oom_killed,
        "started_at": c.started_at.map(rfc3339),
        "finished_at": c.finished_at.map(rfc3339),
        "networks": c.networks,
    });
    if full {
        v["image"] = json!(c.image);
        v["ip"] = json!(c.ip);
        v["labels"] = json!(c.labels);
    }
    v
}

/// A container in one line (`demo-etcd-1 exited (137), OOMKilled`).
pub(crate) fn state_line(c: &ObservedContainer) -> String {
    let mut s = format!("{} {}", c.name, c.status.as_str());
    if c.status == ContainerStatus::Exited {
        if let Some(code) = c.exit_code {
            s.push_str(&format!(" ({code})"));
        }
    }
    if c.oom_killed {
        s.push_str(", OOMKilled");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_bounds_are_checked_before_the_runtime_is_asked() {
        for bad in [
            json!({"lines": 0}),
            json!({"lines": 201}),
            json!({"since_minutes": 0}),
            json!({"since_minutes": 24 * 60 + 1}),
            json!({"grep": "a".repeat(501)}),
        ] {
            assert!(
                matches!(LogQuery::from_args(&bad), Err(ToolError::NotAllowed(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            LogQuery::from_args(&json!({"grep": "(unclosed"})),
            Err(ToolError::InvalidArguments(_))
        ));
        let q = LogQuery::from_args(&json!({"lines": "5", "grep": "panic"})).unwrap();
        assert_eq!((q.lines, q.minutes), (5, 30));
    }

    #[test]
    fn the_latest_matching_lines_are_shown_and_the_rest_counted() {
        let q = LogQuery::from_args(&json!({"lines": 2, "grep": "^E"})).unwrap();
        let out = q.render(["E1", "I2", "E3", "E4"].into_iter());
        assert_eq!(
            out.text, "[1 earlier matching line(s) not shown]\nE3\nE4",
            "{out:?}"
        );
        assert_eq!(
            out.summary.as_deref(),
            Some("3 of 4 line(s) in the last 30 min matched")
        );
        let none = q.render(["I1"].into_iter());
        assert_eq!(none.text, "(no matching log lines)");
    }
}
