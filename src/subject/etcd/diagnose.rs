//! etcd's diagnoses: deterministic rules over a ticket's evidence, in the simplest
//! subject-owned form (a [`DiagnosisBackend`] the etcd wiring installs), and the
//! system prompt and schema the model backends are given for etcd tickets.
//!
//! The core's rules engine is TiKV's and is being replaced by a differential-diagnosis
//! framework; until that lands, this file is where etcd's rules live. Each rule reads
//! the evidence its invariant records (see `invariants.rs`), names a cause from
//! [`super::catalog::CATALOG`], lists the hypotheses it weighed with the evidence for
//! and against each, and cites only values present in the evidence, so the core's
//! grounding check passes on every rules diagnosis.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::catalog::CATALOG;
use crate::diagnose::backend::{BackendError, DiagnosisBackend, RawDiagnosis};
use crate::diagnose::catalog::{Cause, Hypothesis, Verdict};
use crate::diagnose::context::PreparedPrompt;
use crate::diagnose::model::{
    diagnosis_output_schema_for, Action, ActionKind, Citation, CitationRef, DiagnosisOutput,
    OptionConsidered, TicketBrief, Usage,
};

/// The system prompt for etcd tickets.
pub const SYSTEM_PROMPT: &str = include_str!("system_prompt.md");

/// Model id reported by the etcd rules.
pub const RULES_MODEL: &str = "etcd-rules-v1";

/// The etcd rules backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct EtcdRulesBackend;

#[async_trait]
impl DiagnosisBackend for EtcdRulesBackend {
    fn name(&self) -> &str {
        "rules"
    }

    async fn diagnose(&self, prompt: &PreparedPrompt) -> Result<RawDiagnosis, BackendError> {
        let out = diagnose_brief(&prompt.ticket);
        Ok(RawDiagnosis {
            json_text: serde_json::to_string(&out)
                .map_err(|e| BackendError::MalformedResponse(e.to_string()))?,
            model: RULES_MODEL.into(),
            usage: Usage::default(),
            request_id: None,
        })
    }
}

/// Gives a model backend etcd's system prompt and the schema restricted to etcd's
/// catalog, whatever the core's context builder prepared.
pub struct EtcdPrompt(pub Arc<dyn DiagnosisBackend>);

#[async_trait]
impl DiagnosisBackend for EtcdPrompt {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn diagnose(&self, prompt: &PreparedPrompt) -> Result<RawDiagnosis, BackendError> {
        let mut p = prompt.clone();
        p.system = SYSTEM_PROMPT.to_string();
        p.schema = diagnosis_output_schema_for(&CATALOG);
        self.0.diagnose(&p).await
    }
}

struct Ev<'a> {
    brief: &'a TicketBrief,
    state: &'a Value,
}

impl<'a> Ev<'a> {
    fn new(brief: &'a TicketBrief) -> Self {
        Self {
            brief,
            state: &brief.evidence["state"],
        }
    }

    fn events(&self) -> Vec<String> {
        self.brief.evidence["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["what"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn events_of(&self, container: &str) -> Vec<String> {
        self.brief.evidence["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["source"].as_str() == Some(container))
                    .filter_map(|e| e["what"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn metrics(&self) -> Vec<(String, f64)> {
        self.brief.evidence["metrics"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| Some((m["series"].as_str()?.to_string(), m["value"].as_f64()?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn str(&self, key: &str) -> Option<&'a str> {
        self.state[key].as_str()
    }
}

fn cite_state(claim: String, path: &str) -> Citation {
    Citation {
        claim,
        source: CitationRef::PdState { path: path.into() },
    }
}

fn cite_event(what: &str) -> Citation {
    Citation {
        claim: format!("runtime event: {what}"),
        source: CitationRef::Event { what: what.into() },
    }
}

fn cite_metric(series: &str, value: f64) -> Citation {
    Citation {
        claim: format!("{series} = {value}"),
        source: CitationRef::Metric {
            series: series.into(),
            value,
        },
    }
}

fn hypothesis(
    category: &str,
    target: &str,
    verdict: Verdict,
    for_: &[String],
    against: &[String],
) -> Hypothesis {
    Hypothesis {
        cause: Cause::new(category, target),
        verdict,
        supporting: for_.to_vec(),
        contradicting: against.to_vec(),
    }
}

struct Draft {
    root_cause: String,
    cause: Cause,
    other_causes: Vec<Cause>,
    hypotheses: Vec<Hypothesis>,
    evidence: Vec<Citation>,
    options: Vec<OptionConsidered>,
    action: ActionKind,
    rationale: String,
    confidence: f64,
    would_change: String,
}

impl Draft {
    fn finish(self, summary: &str) -> DiagnosisOutput {
        DiagnosisOutput {
            observation_summary: summary.to_string(),
            root_cause: self.root_cause,
            cause: self.cause,
            other_causes: self.other_causes,
            hypotheses: self.hypotheses,
            evidence: self.evidence,
            options_considered: self.options,
            recommended_action: Action {
                kind: self.action,
                rationale: self.rationale,
            },
            confidence: self.confidence,
            would_change_conclusion: self.would_change,
        }
    }
}

/// Diagnoses one etcd ticket from its evidence. Deterministic; cites only evidence.
pub fn diagnose_brief(brief: &TicketBrief) -> DiagnosisOutput {
    let ev = Ev::new(brief);
    let draft = match brief.invariant.as_str() {
        "member-down" => member_down(&ev),
        "quorum-lost" => quorum_lost(&ev),
        "no-leader" | "proposals-failing" => no_leader(&ev),
        "leader-disagreement" => leader_disagreement(&ev),
        "leader-flapping" => flapping(&ev),
        "wal-fsync-slow" | "backend-commit-slow" => disk_slow(&ev),
        "peer-rtt-slow" => peer_rtt(&ev),
        "db-quota" => db_quota(&ev),
        _ => None,
    }
    .unwrap_or_else(|| Draft {
        root_cause: format!(
            "no etcd rule explains {} on {} from the evidence",
            brief.invariant, brief.target
        ),
        cause: Cause::unknown(brief.target.clone()),
        other_causes: vec![],
        hypotheses: vec![],
        evidence: vec![],
        options: vec![],
        action: ActionKind::InvestigateFurther {
            what: format!("{} on {}", brief.invariant, brief.target),
        },
        rationale: "no rule matched the evidence".into(),
        confidence: 0.2,
        would_change: "more evidence".into(),
    });
    draft.finish(&brief.summary)
}

fn member_down(ev: &Ev<'_>) -> Option<Draft> {
    let member = ev.str("member").unwrap_or(&ev.brief.target).to_string();
    let container = ev.str("container").unwrap_or_default();
    let state = ev.str("state")?;
    let events = ev.events_of(container);
    let exit_event = events
        .iter()
        .find(|e| e.starts_with("die") || e.starts_with("kill") || e.starts_with("stop"));
    let mut evidence = vec![cite_state(format!("{container} is {state}"), "state.state")];
    if let Some(e) = exit_event {
        evidence.push(cite_event(e));
    }
    if matches!(state, "exited" | "dead" | "absent" | "created") {
        let code = ev.state["exit_code"].as_i64();
        if code.is_some() {
            evidence.push(cite_state(
                format!("exit code {}", code.unwrap_or_default()),
                "state.exit_code",
            ));
        }
        let how = match code {
            Some(137) => "killed (SIGKILL, exit 137)".to_string(),
            Some(c) => format!("exited with code {c}"),
            None => format!("is {state}"),
        };
        let supporting = vec![format!("{container} {how}")];
        return Some(Draft {
            root_cause: format!("the etcd process of {member} {how}; the other members keep the cluster while a quorum remains"),
            cause: Cause::new("process-exit", member.clone()),
            other_causes: vec![],
            hypotheses: vec![
                hypothesis("process-exit", &member, Verdict::RootCause, &supporting, &[]),
                hypothesis(
                    "network-partition",
                    &member,
                    Verdict::Rejected,
                    &[],
                    &[format!("the container is {state}, not running behind a cut network")],
                ),
            ],
            evidence,
            options: vec![OptionConsidered {
                option: "network-partition".into(),
                why_not: format!("{container} is {state}; a partitioned member keeps running"),
            }],
            action: ActionKind::RestartContainer { member: member.clone() },
            rationale: format!("{member} keeps its data volume; starting it lets it catch up from the leader and restores the failure tolerance"),
            confidence: if exit_event.is_some() || code.is_some() { 0.9 } else { 0.7 },
            would_change: "the container running while the member still does not answer (a partition), or an OOM kill".into(),
        });
    }
    if state == "running" {
        let err = ev.str("probe_error").unwrap_or("no answer");
        evidence.push(cite_state(
            format!("the member does not answer: {err}"),
            "state.probe_error",
        ));
        let supporting = vec![format!("{container} runs but does not answer ({err})")];
        return Some(Draft {
            root_cause: format!("{member} runs but cannot be reached: it is cut off from the network"),
            cause: Cause::new("network-partition", member.clone()),
            other_causes: vec![],
            hypotheses: vec![
                hypothesis("network-partition", &member, Verdict::RootCause, &supporting, &[]),
                hypothesis(
                    "process-exit",
                    &member,
                    Verdict::Rejected,
                    &[],
                    &[format!("{container} is running")],
                ),
            ],
            evidence,
            options: vec![OptionConsidered {
                option: "restart the container".into(),
                why_not: "the process is alive; a restart does not reconnect a cut network".into(),
            }],
            action: ActionKind::WaitAndWatch { minutes: 5 },
            rationale: "a partitioned member rejoins by itself once the network heals; the others keep quorum".into(),
            confidence: 0.7,
            would_change: "an exit event, or the member answering with high latency (slow disk or overload)".into(),
        });
    }
    if state == "paused" {
        evidence.push(cite_state(format!("{container} is paused"), "state.state"));
        return Some(Draft {
            root_cause: format!(
                "{member}'s container is frozen (paused): it runs nothing and answers nothing"
            ),
            cause: Cause::new("network-partition", member.clone()),
            other_causes: vec![],
            hypotheses: vec![hypothesis(
                "network-partition",
                &member,
                Verdict::Undecided,
                &[format!(
                    "{container} is paused: to its peers it looks cut off"
                )],
                &[],
            )],
            evidence,
            options: vec![],
            action: ActionKind::InvestigateFurther {
                what: format!("who paused {container}"),
            },
            rationale: "a paused container is an operator action, not a failure etcd can report"
                .into(),
            confidence: 0.5,
            would_change: "the container unpaused".into(),
        });
    }
    None
}

fn down_members(ev: &Ev<'_>) -> Vec<(String, String)> {
    ev.state["member_states"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(m, s)| Some((m.clone(), s.as_str()?.to_string())))
                .filter(|(_, s)| s != "running")
                .collect()
        })
        .unwrap_or_default()
}

fn quorum_lost(ev: &Ev<'_>) -> Option<Draft> {
    let members = ev.state["members"].as_u64()?;
    let quorum = ev.state["quorum"].as_u64()?;
    let down = down_members(ev);
    let answering = ev.state["answering_with_leader"]
        .as_array()
        .map_or(0, Vec::len);
    let mut evidence = vec![
        cite_state(
            format!("{members} members, quorum {quorum}"),
            "state.quorum",
        ),
        cite_state(
            format!("{answering} members answer with a leader"),
            "state.answering_with_leader",
        ),
    ];
    for e in ev
        .events()
        .iter()
        .filter(|e| e.starts_with("die") || e.starts_with("kill"))
        .take(3)
    {
        evidence.push(cite_event(e));
    }
    let down_list = down
        .iter()
        .map(|(m, s)| format!("{m} ({s})"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut hypotheses = vec![hypothesis(
        "quorum-loss",
        "cluster",
        Verdict::RootCause,
        &[format!(
            "{answering} of {members} members answer with a leader; quorum is {quorum}"
        )],
        &[],
    )];
    for (m, s) in &down {
        hypotheses.push(hypothesis(
            "process-exit",
            m,
            Verdict::Undecided,
            &[format!("{m} is {s}")],
            &["one exit alone does not explain a lost quorum".into()],
        ));
    }
    let restart = down
        .first()
        .map_or_else(|| "etcd-0".into(), |(m, _)| m.clone());
    Some(Draft {
        root_cause: if down.is_empty() {
            format!("quorum lost: only {answering} of {members} members answer with a leader")
        } else {
            format!("quorum lost: {down_list} are down, leaving {answering} of {members} (quorum {quorum}); no leader can be elected and writes fail")
        },
        cause: Cause::new("quorum-loss", "cluster"),
        other_causes: vec![],
        hypotheses,
        evidence,
        options: vec![OptionConsidered {
            option: "leader-flapping".into(),
            why_not: "members are down, not merely re-electing".into(),
        }],
        action: ActionKind::RestartContainer { member: restart },
        rationale:
            "bringing back one downed member restores the majority; its data volume is intact"
                .into(),
        confidence: if down.is_empty() { 0.6 } else { 0.9 },
        would_change: "every member running (then the majority is cut off, not down)".into(),
    })
}

fn no_leader(ev: &Ev<'_>) -> Option<Draft> {
    let without = ev.state["without_leader"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let deaths: Vec<String> = ev
        .events()
        .into_iter()
        .filter(|e| e.starts_with("die") || e.starts_with("kill"))
        .collect();
    let mut evidence: Vec<Citation> = ev
        .metrics()
        .into_iter()
        .take(3)
        .map(|(s, v)| cite_metric(&s, v))
        .collect();
    if !without.is_empty() {
        evidence.push(cite_state(
            format!("{} report no leader", without.join(", ")),
            "state.without_leader",
        ));
    }
    if let Some(d) = deaths.first() {
        evidence.push(cite_event(d));
    }
    let (category, confidence, root) = if deaths.is_empty() {
        (
            "leader-flapping",
            0.5,
            "members lost their leader without any member exiting: an election is timing out"
                .to_string(),
        )
    } else {
        (
            "quorum-loss",
            0.7,
            format!(
                "members exited ({}) and the rest cannot elect a leader",
                deaths.join("; ")
            ),
        )
    };
    Some(Draft {
        root_cause: root,
        cause: Cause::new(category, "cluster"),
        other_causes: vec![],
        hypotheses: vec![
            hypothesis(
                "quorum-loss",
                "cluster",
                if deaths.is_empty() { Verdict::Undecided } else { Verdict::RootCause },
                &deaths,
                &[],
            ),
            hypothesis(
                "leader-flapping",
                "cluster",
                if deaths.is_empty() { Verdict::RootCause } else { Verdict::Rejected },
                &without,
                &deaths,
            ),
        ],
        evidence,
        options: vec![],
        action: if deaths.is_empty() {
            ActionKind::InvestigateFurther {
                what: "peer round trips and WAL fsync latency of every member".into(),
            }
        } else {
            ActionKind::WaitAndWatch { minutes: 2 }
        },
        rationale: "a leader is elected as soon as a majority of members can talk; find what keeps them apart".into(),
        confidence,
        would_change: "the quorum-lost ticket (members down) or a partition of one member".into(),
    })
}

fn leader_disagreement(ev: &Ev<'_>) -> Option<Draft> {
    let views = ev.state["views"].as_object()?;
    let mut by_leader: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (m, v) in views {
        let leader = v.as_str()?.split(' ').next()?.to_string();
        by_leader.entry(leader).or_default().push(m.clone());
    }
    let minority = by_leader.values().min_by_key(|v| v.len())?.clone();
    let target = minority.first()?.clone();
    Some(Draft {
        root_cause: format!(
            "{} keep a leader the others do not follow: cut off from the majority",
            minority.join(", ")
        ),
        cause: Cause::new("network-partition", target.clone()),
        other_causes: vec![],
        hypotheses: vec![hypothesis(
            "network-partition",
            &target,
            Verdict::RootCause,
            &[format!(
                "{} name another leader than the majority",
                minority.join(", ")
            )],
            &[],
        )],
        evidence: vec![cite_state(
            "members name different leaders".into(),
            "state.views",
        )],
        options: vec![],
        action: ActionKind::WaitAndWatch { minutes: 5 },
        rationale: "the minority side cannot commit anything; it rejoins when the network heals"
            .into(),
        confidence: 0.7,
        would_change:
            "members agreeing again within a few election timeouts (a transient election)".into(),
    })
}

fn flapping(ev: &Ev<'_>) -> Option<Draft> {
    let (series, value) = ev.metrics().into_iter().next()?;
    Some(Draft {
        root_cause: format!("leadership keeps changing ({value:.0} changes): elections time out while members stay up"),
        cause: Cause::new("leader-flapping", "cluster"),
        other_causes: vec![],
        hypotheses: vec![
            hypothesis("leader-flapping", "cluster", Verdict::RootCause, &[format!("{series} = {value}")], &[]),
            hypothesis("disk-slow", "cluster", Verdict::Undecided, &[], &["no fsync ticket in this evidence".into()]),
        ],
        evidence: vec![cite_metric(&series, value)],
        options: vec![],
        action: ActionKind::InvestigateFurther {
            what: "WAL fsync p99 and peer round trips of each member, around each change".into(),
        },
        rationale: "flapping is a symptom; the slow disk or network underneath is the thing to fix".into(),
        confidence: 0.6,
        would_change: "a member's fsync or round-trip ticket at the same time".into(),
    })
}

fn disk_slow(ev: &Ev<'_>) -> Option<Draft> {
    let target = ev.brief.target.clone();
    let metrics = ev.metrics();
    let (series, value) = metrics.first()?.clone();
    let mut evidence: Vec<Citation> = metrics
        .iter()
        .take(3)
        .map(|(s, v)| cite_metric(s, *v))
        .collect();
    evidence.truncate(3);
    Some(Draft {
        root_cause: format!("{target}'s disk is slow: {series} is {:.0} ms, well above its peers and its own past", value * 1000.0),
        cause: Cause::new("disk-slow", target.clone()),
        other_causes: vec![],
        hypotheses: vec![
            hypothesis("disk-slow", &target, Verdict::RootCause, &[format!("{series} = {value}")], &[]),
            hypothesis("network-partition", &target, Verdict::Rejected, &[], &["the member answers; only its disk latency rose".into()]),
        ],
        evidence,
        options: vec![OptionConsidered {
            option: "leader-flapping".into(),
            why_not: "the latency is on one member's disk, not in elections".into(),
        }],
        action: ActionKind::InvestigateFurther {
            what: format!("{target}'s data device (throttling, a noisy neighbour); move leadership off it if it leads"),
        },
        rationale: "a slow WAL on the leader slows every write; on a follower it risks falling behind".into(),
        confidence: 0.8,
        would_change: "the same latency on every member (the host, not one disk)".into(),
    })
}

fn peer_rtt(ev: &Ev<'_>) -> Option<Draft> {
    let target = ev.brief.target.clone();
    let (series, value) = ev.metrics().into_iter().next()?;
    Some(Draft {
        root_cause: format!(
            "{target}'s round trips to its peers are slow ({:.0} ms p99)",
            value * 1000.0
        ),
        cause: Cause::new("network-partition", target.clone()),
        other_causes: vec![],
        hypotheses: vec![hypothesis(
            "network-partition",
            &target,
            Verdict::Undecided,
            &[format!("{series} = {value}")],
            &["packets still arrive: degraded, not cut".into()],
        )],
        evidence: vec![cite_metric(&series, value)],
        options: vec![],
        action: ActionKind::InvestigateFurther {
            what: format!("the network path between {target} and its peers"),
        },
        rationale: "slow peer links delay heartbeats and can trigger elections".into(),
        confidence: 0.4,
        would_change: "the member's peers answering it fast again".into(),
    })
}

fn db_quota(ev: &Ev<'_>) -> Option<Draft> {
    let alarms: Vec<String> = ev.state["alarms"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let metrics = ev.metrics();
    let mut evidence: Vec<Citation> = metrics
        .iter()
        .take(2)
        .map(|(s, v)| cite_metric(s, *v))
        .collect();
    if !alarms.is_empty() {
        evidence.push(cite_state(
            format!("alarms: {}", alarms.join(", ")),
            "state.alarms",
        ));
    }
    let quota = metrics
        .iter()
        .find(|(s, _)| s.starts_with("etcd_server_quota_backend_bytes"))
        .map(|(_, v)| *v);
    Some(Draft {
        root_cause: if alarms.iter().any(|a| a == "NOSPACE") {
            "the backend DB reached its quota: NOSPACE makes the cluster accept only reads and deletes".into()
        } else {
            "the backend DB is close to its quota".into()
        },
        cause: Cause::new("db-quota", "cluster"),
        other_causes: vec![],
        hypotheses: vec![hypothesis("db-quota", "cluster", Verdict::RootCause, &alarms, &[])],
        evidence,
        options: vec![OptionConsidered {
            option: "disarm the alarm alone".into(),
            why_not: "etcd raises it again on the next write unless space is reclaimed".into(),
        }],
        action: ActionKind::SetConfig {
            key: "quota-backend-bytes".into(),
            value: quota.map_or("4294967296".into(), |q| format!("{:.0}", q * 2.0)),
        },
        rationale: "compact the keyspace, defragment each member and disarm NOSPACE (etcdctl compact, defrag, alarm disarm); raising spec.quotaBackendBytes (a rolling restart) buys room if the data is legitimate".into(),
        confidence: 0.9,
        would_change: "the DB size far below the quota with the alarm still active (a stale alarm)".into(),
    })
}

/// The backend for etcd tickets: Claude with etcd's prompt and catalog when a key is
/// configured, else the etcd rules (never TiKV's rules, which know nothing of etcd).
pub fn select_backend() -> Arc<dyn DiagnosisBackend> {
    use crate::diagnose::backend::{select_backend as core_select, BackendChoice, BackendSettings};
    let settings = BackendSettings {
        choice: BackendChoice::Claude,
        ..BackendSettings::from_env()
    };
    match core_select(&settings) {
        Ok(model) => Arc::new(EtcdPrompt(model)),
        Err(why) => {
            tracing::info!(%why, "etcd tickets are diagnosed by the etcd rules");
            Arc::new(EtcdRulesBackend)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn brief(invariant: &str, target: &str, evidence: Value) -> TicketBrief {
        TicketBrief {
            id: 1,
            subject: "etcd".into(),
            invariant: invariant.into(),
            target: target.into(),
            severity: "critical".into(),
            summary: "s".into(),
            first_seen: "2026-01-01T00:00:00Z".into(),
            last_seen: "2026-01-01T00:00:00Z".into(),
            occurrences: 1,
            evidence,
            timeline: vec![],
        }
    }

    #[test]
    fn a_killed_member_is_a_process_exit_with_a_restart_recommended() {
        let b = brief(
            "member-down",
            "etcd-1",
            json!({"state": {"member": "etcd-1", "container": "e-etcd-1", "state": "exited", "exit_code": 137},
                   "events": [{"source": "e-etcd-1", "at": "2026-01-01T00:00:00Z", "what": "die exit_code=137"}]}),
        );
        let d = diagnose_brief(&b);
        assert_eq!(d.cause, Cause::new("process-exit", "etcd-1"));
        assert_eq!(d.recommended_action.kind.name(), "restart-container");
        assert!(CATALOG.action_appropriate(&d.cause.category, d.recommended_action.kind.name()));
        assert!(d.evidence.iter().any(
            |c| matches!(&c.source, CitationRef::Event { what } if what == "die exit_code=137")
        ));
    }

    #[test]
    fn a_running_member_that_does_not_answer_is_partitioned_not_exited() {
        let b = brief(
            "member-down",
            "etcd-2",
            json!({"state": {"member": "etcd-2", "container": "e-etcd-2", "state": "running", "probe_error": "timed out"}}),
        );
        assert_eq!(
            diagnose_brief(&b).cause,
            Cause::new("network-partition", "etcd-2")
        );
    }

    #[test]
    fn a_lost_majority_is_quorum_loss_on_the_cluster() {
        let b = brief(
            "quorum-lost",
            "cluster",
            json!({"state": {"members": 3, "quorum": 2, "answering_with_leader": [],
                   "member_states": {"etcd-0": "exited", "etcd-1": "exited", "etcd-2": "running"}}}),
        );
        let d = diagnose_brief(&b);
        assert_eq!(d.cause, Cause::new("quorum-loss", "cluster"));
        assert!(d
            .hypotheses
            .iter()
            .any(|h| h.cause.category == "process-exit"));
    }

    #[test]
    fn nospace_is_db_quota_and_every_category_is_in_the_catalog() {
        let b = brief(
            "db-quota",
            "cluster",
            json!({"state": {"alarms": ["NOSPACE"]}, "metrics": [
                {"series": "etcd_mvcc_db_total_size_in_bytes{member=\"etcd-0\"}", "value": 17000000.0, "at": "2026-01-01T00:00:00Z"},
                {"series": "etcd_server_quota_backend_bytes{member=\"etcd-0\"}", "value": 16777216.0, "at": "2026-01-01T00:00:00Z"}]}),
        );
        let d = diagnose_brief(&b);
        assert_eq!(d.cause.category, "db-quota");
        for h in &d.hypotheses {
            assert!(CATALOG.accepts(&h.cause.category));
        }
    }
}
