//! etcd's read-only tools for the investigation loop
//! ([`crate::diagnose::investigate`]): the member list, each member's endpoint status
//! (leader, raft term and index, DB size against the quota), alarms, `/health`, selected
//! `/metrics` families, and the cluster's containers (logs, state, inspect).
//!
//! # Read-only by construction
//!
//! Everything goes through [`Reads`], which exposes only the reading calls of
//! [`EtcdClient`]: `GET /health`, `GET /metrics`, and the v3 gateway's three read-only
//! `POST`s of [`GATEWAY_READS`] (the gateway has no GET for them). The client's writing
//! calls (member add and remove, leadership transfer, put, compaction, defragment, alarm
//! disarm) are never named in this file, and a unit test reads this file's source to
//! keep it so. Containers are read through [`ContainerReader`].
//!
//! # Bounded
//!
//! `/metrics` is megabytes of text on a busy member: a call names one family prefix that
//! must start with one of [`METRIC_PREFIXES`] and gets at most [`MAX_METRIC_LINES`]
//! sample lines (the cut is said). The other tools answer one small JSON row per member.
//! The loop then cuts every result to its byte budget and redacts it.
//!
//! # Where the members are
//!
//! As the subject finds them: each running member container's address on the cluster
//! network, named by its member label (`etcd-0`), unless fixed endpoints are given (tests,
//! a cluster this operator did not create).

use super::client::EtcdClient;
use super::snapshot::MetricsSample;
use super::topology::{CLIENT_PORT, COMPONENT};
use super::wire::{AlarmResponse, HealthResponse, MemberListResponse, StatusResponse};
use crate::diagnose::investigate::tools::args;
use crate::diagnose::investigate::{ToolError, ToolOutput, ToolSpec, Toolbox};
use crate::diagnose::model::TicketBrief;
use crate::runtime::labels;
use crate::runtime::readonly::ContainerReader;
use crate::runtime::ContainerStatus;
use crate::subjects::container_tools::ContainerTools;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The v3 gateway paths the tools call: read-only, though the gateway takes them as POSTs
/// (the alarm call with `{"action": "GET"}` only).
pub const GATEWAY_READS: &[&str] = &[
    "/v3/cluster/member/list",
    "/v3/maintenance/status",
    "/v3/maintenance/alarm",
];

/// Metric family prefixes `etcd_metrics` may read: etcd's server, disk, network, MVCC
/// and snapshot families, and the process' own (memory, file descriptors, CPU).
pub const METRIC_PREFIXES: &[&str] = &[
    "etcd_server_",
    "etcd_disk_",
    "etcd_network_",
    "etcd_mvcc_",
    "etcd_debugging_mvcc_",
    "etcd_debugging_server_",
    "etcd_snap_",
    "process_",
    "go_goroutines",
    "go_memstats_",
    "grpc_server_handled_total",
];

/// The most sample lines one `etcd_metrics` call returns.
pub const MAX_METRIC_LINES: usize = 120;

/// The reading half of [`EtcdClient`]: the only etcd calls a toolbox can make.
#[derive(Debug, Clone)]
struct Reads(EtcdClient);

impl Reads {
    async fn health(&self, base: &str) -> Result<HealthResponse, ToolError> {
        self.0.health(base).await.map_err(failed)
    }
    async fn metrics(&self, base: &str) -> Result<String, ToolError> {
        self.0.metrics(base).await.map_err(failed)
    }
    async fn status(&self, base: &str) -> Result<StatusResponse, ToolError> {
        self.0.status(base).await.map_err(failed)
    }
    async fn member_list(&self, base: &str) -> Result<MemberListResponse, ToolError> {
        self.0.member_list(base).await.map_err(failed)
    }
    async fn alarms(&self, base: &str) -> Result<AlarmResponse, ToolError> {
        self.0.alarms(base).await.map_err(failed)
    }
}

fn failed(e: impl std::fmt::Display) -> ToolError {
    ToolError::Failed(e.to_string())
}

/// etcd's toolbox.
#[derive(Clone)]
pub struct EtcdTools {
    containers: Option<ContainerTools>,
    endpoints: Option<Vec<(String, String)>>,
    reads: Option<Reads>,
}

impl EtcdTools {
    /// Tools for `cluster` on `network`, reading containers through `reader` when there
    /// is a runtime (members are found through it).
    pub fn new(cluster: &str, network: &str, reader: Option<ContainerReader>) -> Self {
        Self {
            containers: reader.map(|r| ContainerTools::new(cluster, network, r)),
            endpoints: None,
            // `None` only when the HTTP stack cannot be built; every call then says so.
            reads: EtcdClient::new().ok().map(Reads),
        }
    }

    /// Fixed member endpoints: (member name, client URL).
    pub fn with_endpoints(mut self, endpoints: Vec<(String, String)>) -> Self {
        self.endpoints = Some(endpoints);
        self
    }

    fn reads(&self) -> Result<&Reads, ToolError> {
        self.reads
            .as_ref()
            .ok_or_else(|| ToolError::Failed("the etcd client could not be built".into()))
    }

    /// The members' (name, client URL), running ones only.
    async fn members(&self) -> Result<Vec<(String, String)>, ToolError> {
        if let Some(eps) = &self.endpoints {
            return Ok(eps.clone());
        }
        let Some(c) = &self.containers else {
            return Err(ToolError::Failed(
                "no container runtime is available to find the members".into(),
            ));
        };
        let eps: Vec<(String, String)> = c
            .owned()
            .await?
            .iter()
            .filter(|c| {
                c.label(labels::COMPONENT) == Some(COMPONENT)
                    && c.status == ContainerStatus::Running
            })
            .filter_map(|c| {
                let name = c.label(labels::MEMBER).unwrap_or(&c.name).to_string();
                Some((name, format!("http://{}:{CLIENT_PORT}", c.ip.as_deref()?)))
            })
            .collect();
        if eps.is_empty() {
            return Err(ToolError::Failed("no etcd member is running".into()));
        }
        Ok(eps)
    }

    /// The members a call is about: the one named, or all.
    async fn chosen(&self, a: &Value) -> Result<Vec<(String, String)>, ToolError> {
        let all = self.members().await?;
        match args::opt_string(a, "member")? {
            None => Ok(all),
            Some(m) => {
                let m = m.trim();
                all.iter()
                    .find(|(name, _)| name == m || m.ends_with(&format!("-{name}")))
                    .map(|e| vec![e.clone()])
                    .ok_or_else(|| {
                        ToolError::NotAllowed(format!(
                            "{m:?} is not a running member; running: {}",
                            all.iter()
                                .map(|(n, _)| n.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })
            }
        }
    }

    /// The first member's answer to a cluster-wide read.
    async fn first<T, F, Fut>(&self, read: F) -> Result<(String, T), ToolError>
    where
        F: Fn(Reads, String) -> Fut,
        Fut: std::future::Future<Output = Result<T, ToolError>>,
    {
        let mut last = ToolError::Failed("no member".into());
        for (name, base) in self.members().await? {
            match read(self.reads()?.clone(), base).await {
                Ok(v) => return Ok((name, v)),
                Err(e) => last = ToolError::Failed(format!("{name}: {e}")),
            }
        }
        Err(last)
    }

    async fn member_list(&self) -> Result<ToolOutput, ToolError> {
        let (asked, l) = self
            .first(|r, base| async move { r.member_list(&base).await })
            .await?;
        let rows: Vec<Value> = l
            .members
            .iter()
            .map(|m| {
                json!({
                    "id": format!("{:x}", m.id),
                    "name": if m.name.is_empty() { "(not started)" } else { m.name.as_str() },
                    "peer_urls": m.peer_urls,
                    "client_urls": m.client_urls,
                    "learner": m.is_learner,
                })
            })
            .collect();
        let summary = format!(
            "{} member(s): {} (asked {asked})",
            rows.len(),
            l.members
                .iter()
                .map(|m| if m.name.is_empty() {
                    format!("{:x} (not started)", m.id)
                } else {
                    m.name.clone()
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(ToolOutput::with_summary(
            Value::Array(rows).to_string(),
            summary,
        ))
    }

    async fn endpoint_status(&self, a: &Value) -> Result<ToolOutput, ToolError> {
        let chosen = self.chosen(a).await?;
        let reads = self.reads()?.clone();
        let answers = futures::future::join_all(chosen.iter().map(|(name, base)| {
            let reads = reads.clone();
            async move {
                let status = reads.status(base).await;
                // The quota is not in the status: it is a gauge of the member's metrics.
                let quota = reads
                    .metrics(base)
                    .await
                    .ok()
                    .and_then(|t| MetricsSample::parse(&t).quota);
                (name.clone(), status, quota)
            }
        }))
        .await;
        Ok(status_output(&answers))
    }

    async fn alarms(&self) -> Result<ToolOutput, ToolError> {
        let (asked, a) = self
            .first(|r, base| async move { r.alarms(&base).await })
            .await?;
        // Name the members the alarms are about, when the member list answers.
        let names: BTreeMap<u64, String> = self
            .first(|r, base| async move { r.member_list(&base).await })
            .await
            .map(|(_, l)| l.members.into_iter().map(|m| (m.id, m.name)).collect())
            .unwrap_or_default();
        let rows: Vec<Value> = a
            .alarms
            .iter()
            .map(|al| {
                json!({
                    "member": names.get(&al.member_id).cloned().unwrap_or_else(|| format!("{:x}", al.member_id)),
                    "alarm": al.alarm,
                })
            })
            .collect();
        let summary = if rows.is_empty() {
            format!("no active alarm (asked {asked})")
        } else {
            rows.iter()
                .map(|r| {
                    format!(
                        "{} on {}",
                        r["alarm"].as_str().unwrap_or("?"),
                        r["member"].as_str().unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        Ok(ToolOutput::with_summary(
            Value::Array(rows).to_string(),
            summary,
        ))
    }

    async fn health(&self, a: &Value) -> Result<ToolOutput, ToolError> {
        let chosen = self.chosen(a).await?;
        let reads = self.reads()?.clone();
        let answers = futures::future::join_all(chosen.iter().map(|(name, base)| {
            let reads = reads.clone();
            async move { (name.clone(), reads.health(base).await) }
        }))
        .await;
        let rows: Vec<Value> = answers
            .iter()
            .map(|(name, h)| match h {
                Ok(h) => json!({"member": name, "health": h.health == "true", "reason": h.reason}),
                Err(e) => json!({"member": name, "error": e.to_string()}),
            })
            .collect();
        let summary = answers
            .iter()
            .map(|(name, h)| match h {
                Ok(h) if h.health == "true" => format!("{name} healthy"),
                Ok(h) => format!(
                    "{name} unhealthy{}",
                    h.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                Err(_) => format!("{name} unreachable"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        Ok(ToolOutput::with_summary(
            Value::Array(rows).to_string(),
            summary,
        ))
    }

    async fn metrics(&self, a: &Value) -> Result<ToolOutput, ToolError> {
        let family = allowed_family(args::string(a, "family")?)?;
        let chosen = self.chosen(a).await?;
        if chosen.len() != 1 {
            return Err(ToolError::InvalidArguments(format!(
                "`member` is required: one of {}",
                chosen
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let (name, base) = &chosen[0];
        let text = self.reads()?.metrics(base).await?;
        Ok(select_family(&text, &family, name))
    }
}

/// Checks a metric family prefix against [`METRIC_PREFIXES`].
///
/// # Errors
///
/// [`ToolError::NotAllowed`] (with the allowed prefixes) for any other name.
pub fn allowed_family(family: &str) -> Result<String, ToolError> {
    let f = family.trim();
    let well_formed = !f.is_empty()
        && f.len() <= 120
        && f.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if well_formed && METRIC_PREFIXES.iter().any(|p| f.starts_with(p)) {
        Ok(f.to_string())
    } else {
        Err(ToolError::NotAllowed(format!(
            "metric family {family:?} is not readable; it must start with one of: {}",
            METRIC_PREFIXES.join(", ")
        )))
    }
}

/// The sample lines of `/metrics` text whose metric name starts with `family`, at most
/// [`MAX_METRIC_LINES`], saying how many more there were.
pub fn select_family(text: &str, family: &str, member: &str) -> ToolOutput {
    let matched: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let name = l.split(['{', ' ']).next().unwrap_or_default();
            name.starts_with(family)
        })
        .collect();
    let shown = &matched[..matched.len().min(MAX_METRIC_LINES)];
    let mut out = shown.join("\n");
    if matched.len() > shown.len() {
        out.push_str(&format!(
            "\n[{} more sample line(s) not shown; name a longer family prefix]",
            matched.len() - shown.len()
        ));
    }
    if matched.is_empty() {
        out = format!("(no sample of a family starting with {family} on {member})");
    }
    let summary = format!("{} sample(s) of {family}* on {member}", matched.len());
    ToolOutput::with_summary(out, summary)
}

fn bytes(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// One row per member: leader (by name, resolved from the members' own ids), raft term
/// and indexes, DB size against the quota, errors.
fn status_output(
    answers: &[(String, Result<StatusResponse, ToolError>, Option<f64>)],
) -> ToolOutput {
    let ids: BTreeMap<u64, &str> = answers
        .iter()
        .filter_map(|(n, s, _)| Some((s.as_ref().ok()?.header.member_id, n.as_str())))
        .collect();
    let name_of = |id: u64| -> String {
        match id {
            0 => "none".into(),
            id => ids
                .get(&id)
                .map_or_else(|| format!("{id:x}"), |n| n.to_string()),
        }
    };
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for (name, status, quota) in answers {
        match status {
            Ok(s) => {
                let is_leader = s.leader != 0 && s.leader == s.header.member_id;
                let pct = quota
                    .filter(|q| *q > 0.0)
                    .map(|q| (s.db_size as f64 / q * 100.0 * 10.0).round() / 10.0);
                rows.push(json!({
                    "member": name,
                    "id": format!("{:x}", s.header.member_id),
                    "version": s.version,
                    "leader": name_of(s.leader),
                    "is_leader": is_leader,
                    "is_learner": s.is_learner,
                    "raft_term": s.raft_term,
                    "raft_index": s.raft_index,
                    "raft_applied_index": s.raft_applied_index,
                    "db_size_bytes": s.db_size,
                    "db_size_in_use_bytes": s.db_size_in_use,
                    "quota_bytes": quota.map(|q| q as u64),
                    "db_percent_of_quota": pct,
                    "errors": s.errors,
                }));
                let mut line = format!(
                    "{name} {}, term {}, index {}, db {}",
                    if is_leader {
                        "leader".to_string()
                    } else {
                        format!("follower of {}", name_of(s.leader))
                    },
                    s.raft_term,
                    s.raft_index,
                    bytes(s.db_size)
                );
                if let (Some(q), Some(p)) = (quota, pct) {
                    line.push_str(&format!(" of {} ({p}%)", bytes(*q as u64)));
                }
                if !s.errors.is_empty() {
                    line.push_str(&format!(", errors: {}", s.errors.join("; ")));
                }
                lines.push(line);
            }
            Err(e) => {
                rows.push(json!({"member": name, "error": e.to_string()}));
                lines.push(format!("{name} unreachable"));
            }
        }
    }
    ToolOutput::with_summary(Value::Array(rows).to_string(), lines.join("; "))
}

#[async_trait]
impl Toolbox for EtcdTools {
    fn tools(&self) -> Vec<ToolSpec> {
        let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
        let member = json!({"type": "string", "description": "A member name, e.g. etcd-0; default: every running member."});
        let mut t = vec![
            ToolSpec {
                name: "etcd_member_list".into(),
                description: "The cluster's members as etcd lists them (id, name, peer and client URLs, learner); needs a leader.".into(),
                parameters: obj(json!({}), &[]),
            },
            ToolSpec {
                name: "etcd_endpoint_status".into(),
                description: "Each member's own status: which member it sees as leader, raft term, index and applied index, DB size against the backend quota, errors.".into(),
                parameters: obj(json!({"member": member}), &[]),
            },
            ToolSpec {
                name: "etcd_alarms".into(),
                description: "Active alarms (NOSPACE: the DB reached its quota, CORRUPT) and the member that raised each.".into(),
                parameters: obj(json!({}), &[]),
            },
            ToolSpec {
                name: "etcd_health".into(),
                description: "Each member's /health (a quorum read: false when the member has no leader or cannot commit).".into(),
                parameters: obj(json!({"member": member}), &[]),
            },
            ToolSpec {
                name: "etcd_metrics".into(),
                description: format!(
                    "One member's Prometheus metrics whose name starts with `family`, at most {MAX_METRIC_LINES} sample lines, e.g. etcd_server_has_leader, etcd_server_leader_changes_seen_total, etcd_disk_wal_fsync_duration_seconds, etcd_network_peer_round_trip_time_seconds, etcd_mvcc_db_total_size_in_bytes, process_resident_memory_bytes. Allowed prefixes: {}.",
                    METRIC_PREFIXES.join(", ")
                ),
                parameters: obj(
                    json!({"member": {"type": "string", "description": "A member name, e.g. etcd-0."},
                           "family": {"type": "string", "description": "A metric name or name prefix."}}),
                    &["member", "family"],
                ),
            },
        ];
        if self.containers.is_some() {
            t.extend(ContainerTools::specs("etcd-0"));
        }
        t
    }

    async fn call(
        &self,
        _ticket: &TicketBrief,
        name: &str,
        a: &Value,
    ) -> Result<ToolOutput, ToolError> {
        match name {
            "etcd_member_list" => self.member_list().await,
            "etcd_endpoint_status" => self.endpoint_status(a).await,
            "etcd_alarms" => self.alarms().await,
            "etcd_health" => self.health(a).await,
            "etcd_metrics" => self.metrics(a).await,
            other => ContainerTools::call_or_unknown(self.containers.as_ref(), other, a).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subjects::etcd::wire::Header;

    #[test]
    fn metric_families_off_the_allow_list_are_refused() {
        assert_eq!(
            allowed_family(" etcd_server_has_leader ").unwrap(),
            "etcd_server_has_leader"
        );
        assert!(allowed_family("process_resident_memory_bytes").is_ok());
        for bad in [
            "",
            "etcd",
            "http_",
            "etcd_server_{a=\"b\"}",
            "etcd_server_has_leader offset 5m",
            "promhttp_metric_handler_requests_total",
        ] {
            assert!(
                matches!(allowed_family(bad), Err(ToolError::NotAllowed(_))),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn a_family_selection_skips_comments_and_other_families_and_is_bounded() {
        let mut text = String::from(
            "# HELP etcd_server_has_leader x\n# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\netcd_server_is_leader 0\netcd_disk_wal_fsync_duration_seconds_count 3\n",
        );
        let out = select_family(&text, "etcd_server_has", "etcd-0");
        assert_eq!(out.text, "etcd_server_has_leader 1");
        assert_eq!(
            out.summary.as_deref(),
            Some("1 sample(s) of etcd_server_has* on etcd-0")
        );
        for i in 0..200 {
            text.push_str(&format!("etcd_disk_x_bucket{{le=\"{i}\"}} {i}\n"));
        }
        let out = select_family(&text, "etcd_disk_", "etcd-0");
        assert_eq!(out.text.lines().count(), MAX_METRIC_LINES + 1);
        assert!(
            out.text
                .ends_with("[81 more sample line(s) not shown; name a longer family prefix]"),
            "{}",
            out.text
        );
        assert!(select_family(&text, "etcd_snap_", "etcd-1")
            .text
            .starts_with("(no sample"));
    }

    #[test]
    fn the_status_names_the_leader_by_member_and_puts_the_db_against_its_quota() {
        let st = |id: u64, leader: u64, errors: Vec<String>| StatusResponse {
            header: Header {
                member_id: id,
                ..Header::default()
            },
            leader,
            raft_term: 3,
            raft_index: 42,
            db_size: 1024 * 1024,
            errors,
            ..StatusResponse::default()
        };
        let out = status_output(&[
            (
                "etcd-0".into(),
                Ok(st(10, 11, vec![])),
                Some(4.0 * 1024.0 * 1024.0),
            ),
            (
                "etcd-1".into(),
                Ok(st(11, 11, vec!["NOSPACE".into()])),
                None,
            ),
            (
                "etcd-2".into(),
                Err(ToolError::Failed("connect".into())),
                None,
            ),
        ]);
        assert_eq!(
            out.summary.as_deref(),
            Some("etcd-0 follower of etcd-1, term 3, index 42, db 1.0 MiB of 4.0 MiB (25%); etcd-1 leader, term 3, index 42, db 1.0 MiB, errors: NOSPACE; etcd-2 unreachable")
        );
        let rows: Value = serde_json::from_str(&out.text).unwrap();
        assert_eq!(rows[0]["leader"], "etcd-1");
        assert_eq!(rows[0]["db_percent_of_quota"], 25.0);
        assert_eq!(rows[1]["is_leader"], true);
        assert_eq!(rows[2]["error"], "failed: connect");
    }

    #[test]
    fn this_toolbox_never_names_a_writing_call_of_the_etcd_client() {
        let src = include_str!("tools.rs");
        // The code before the tests, comments left out.
        let code: String = src[..src.find("#[cfg(test)]").unwrap()]
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect();
        assert!(
            code.contains(".member_list(&base)"),
            "the check reads calls"
        );
        for write in [
            ".member_add(",
            ".member_remove(",
            ".move_leader(",
            ".put(",
            ".delete_prefix(",
            ".compact(",
            ".defragment(",
            ".disarm(",
        ] {
            assert!(!code.contains(write), "tools.rs calls {write}");
        }
    }
}
