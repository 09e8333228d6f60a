//! etcd's diagnoses: its hypotheses for the core's differential diagnosis
//! ([`crate::diagnose::differential`]), the write-up of the decided cause, and the
//! system prompt and schema the model backends are given for etcd tickets.
//!
//! [`EtcdReasoner::candidates`] weighs every cause of [`super::catalog::CATALOG`] on
//! every entity the evidence names (members, the cluster) from the facts alone: a
//! container's state and exit code, `die`/`kill` events, the probe error of a running
//! member, the members' leader views, quorum arithmetic, alarms, latency and counter
//! windows. The core decides; the write-up cites only values present in the evidence,
//! so the grounding check passes on every rules diagnosis.

use std::sync::Arc;

use serde_json::Value;

use super::catalog::{EtcdAction, CATALOG};
use crate::diagnose::backend::rules::{Reasoner, RulesBackend, RulesConfig, WriteUp};
use crate::diagnose::catalog::{Cause, CauseCatalog, Hypothesis, Verdict};
use crate::diagnose::differential::{Candidate, Decision};
use crate::diagnose::model::{
    Citation, CitationRef, ContextSection, DiagnosisOutput, OptionConsidered, TicketBrief,
};

/// The system prompt for etcd tickets.
pub const SYSTEM_PROMPT: &str = CATALOG.system_prompt;

/// etcd's reasoning for the core's rules engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct EtcdReasoner;

/// The rules backend for etcd tickets (the core engine with etcd's reasoning).
pub fn rules_backend() -> RulesBackend {
    RulesBackend::new(RulesConfig::default(), Arc::new(EtcdReasoner))
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
        source: CitationRef::state("etcd_state", path),
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
    evidence: Vec<Citation>,
    options: Vec<OptionConsidered>,
    action: EtcdAction,
    rationale: String,
    would_change: String,
}

/// Diagnoses one etcd ticket from its evidence alone (no extra context), through the
/// core's differential. Deterministic; cites only evidence.
pub fn diagnose_brief(brief: &TicketBrief) -> DiagnosisOutput {
    crate::diagnose::backend::rules::diagnose_with(
        &EtcdReasoner,
        brief,
        &[],
        &RulesConfig::default(),
    )
}

/// `<cluster>-etcd-N` → `etcd-N`.
fn member_of(container: &str) -> Option<String> {
    let i = container.rfind("-etcd-")?;
    Some(container[i + 1..].to_string())
}

/// The container state of `member` as the evidence records it.
fn member_state(ev: &Ev<'_>, member: &str) -> Option<String> {
    if ev.str("member") == Some(member) {
        return ev.str("state").map(str::to_string);
    }
    ev.state["member_states"][member]
        .as_str()
        .map(str::to_string)
}

impl Reasoner for EtcdReasoner {
    fn catalog(&self) -> &'static CauseCatalog {
        &CATALOG
    }

    fn candidates(
        &self,
        brief: &TicketBrief,
        facts: &[ContextSection],
        _cfg: &RulesConfig,
    ) -> Vec<Candidate> {
        let ev = Ev::new(brief);
        let events: Vec<(String, String)> = brief.evidence["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| {
                        Some((
                            e["source"].as_str()?.to_string(),
                            e["what"].as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let deaths: Vec<&(String, String)> = events
            .iter()
            .filter(|(_, w)| w.starts_with("die") || w.starts_with("kill"))
            .collect();
        let metrics = ev.metrics();
        let mut members: std::collections::BTreeSet<String> = Default::default();
        if brief.target.starts_with("etcd-") {
            members.insert(brief.target.clone());
        }
        if let Some(m) = ev.str("member") {
            members.insert(m.to_string());
        }
        if let Some(o) = ev.state["member_states"].as_object() {
            members.extend(o.keys().cloned());
        }
        members.extend(events.iter().filter_map(|(src, _)| member_of(src)));
        let minority: Vec<String> = ev.state["views"]
            .as_object()
            .map(|views| {
                let mut by: std::collections::BTreeMap<String, Vec<String>> = Default::default();
                for (m, v) in views {
                    let leader = v
                        .as_str()
                        .unwrap_or_default()
                        .split(' ')
                        .next()
                        .unwrap_or_default();
                    by.entry(leader.to_string()).or_default().push(m.clone());
                }
                if by.len() > 1 {
                    by.values()
                        .min_by_key(|v| v.len())
                        .cloned()
                        .unwrap_or_default()
                } else {
                    vec![]
                }
            })
            .unwrap_or_default();
        let below_quorum = exits_below_quorum(&ev, facts);
        // Members cut off at the same moment (their `member-down` ticket says they run
        // but do not answer): the round trips every other member measures include
        // those to them.
        let cut_off: Vec<(u64, String)> = related_tickets(facts)
            .into_iter()
            .filter(|r| {
                r.together
                    && r.invariant == "member_down"
                    && r.summary.contains(" runs but does not answer")
            })
            .map(|r| (r.id, r.target))
            .collect();
        for (_, m) in &cut_off {
            if ev.str("member").is_none() && m.starts_with("etcd-") {
                members.insert(m.clone());
            }
        }
        let mut out = Vec::new();
        for m in &members {
            let mut pe = Candidate::new(
                Cause::new("process-exit", m.clone()),
                format!("whether {m}'s container is running"),
            );
            let mut np = Candidate::new(
                Cause::new("network-partition", m.clone()),
                format!("whether {m} runs while its peers and the operator cannot reach it"),
            );
            let mut ds = Candidate::new(
                Cause::new("disk-slow", m.clone()),
                format!("{m}'s WAL fsync and backend commit p99 against its peers"),
            );
            let state = member_state(&ev, m);
            match state.as_deref() {
                Some(st @ ("exited" | "dead" | "absent")) => {
                    pe.support(2.0, format!("{m}'s container is {st}"));
                    np.contradict(
                        2.0,
                        format!("{m}'s container is {st}; a partitioned member keeps running"),
                    );
                    ds.contradict(1.0, format!("{m} is not running"));
                }
                Some("running") => {
                    pe.contradict(2.0, format!("{m}'s container is running"));
                    // The member-down evidence of a running container records that it
                    // does not answer (with the probe's error when there was a probe).
                    if ev.str("member") == Some(m.as_str()) {
                        let err = ev.str("probe_error").unwrap_or("no answer");
                        np.support(2.0, format!("{m} runs but does not answer: {err}"));
                    }
                }
                Some("paused") => {
                    np.support(
                        1.0,
                        format!("{m}'s container is paused: to its peers it looks cut off"),
                    );
                    pe.contradict(1.0, format!("{m}'s container is paused, not exited"));
                }
                _ => {}
            }
            if ev.str("member") == Some(m.as_str()) {
                if let Some(code) = ev.state["exit_code"].as_i64() {
                    pe.support(1.0, format!("{m} exited with code {code}"));
                }
            }
            if let Some((_, what)) = deaths
                .iter()
                .find(|(src, _)| member_of(src).as_deref() == Some(m.as_str()))
            {
                pe.support(1.0, format!("runtime event on {m}: {what}"));
            }
            for (series, v) in &metrics {
                if !series.contains(&format!("member=\"{m}\"")) {
                    continue;
                }
                if series.contains("wal_fsync") || series.contains("backend_commit") {
                    ds.support(2.5, format!("{series} = {v}"));
                    np.contradict(0.5, format!("{m} answers; its disk latency rose"));
                } else if series.contains("peer_round_trip") {
                    match cut_off.iter().find(|(_, c)| c != m) {
                        // Another member cut off explains this member's slow round
                        // trips: they time out on the way to it.
                        Some((id, c)) => np.contradict(
                            1.5,
                            format!("{series} = {v}, and {c} is cut off at the same moment (ticket {id}): the round trips to it time out"),
                        ),
                        None => np.support(1.5, format!("{series} = {v}")),
                    }
                }
            }
            if minority.contains(m) {
                np.support(2.0, format!("{m} names another leader than the majority"));
            }
            if let Some((id, _)) = cut_off.iter().find(|(_, c)| c == m) {
                let slow: Vec<&String> = metrics
                    .iter()
                    .filter(|(s, _)| {
                        s.contains("peer_round_trip") && !s.contains(&format!("member=\"{m}\""))
                    })
                    .map(|(s, _)| s)
                    .collect();
                if !slow.is_empty() {
                    np.support(
                        2.0,
                        format!(
                            "{m} runs but does not answer (ticket {id}), and its peers' round trips are slow ({})",
                            slow.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
            }
            if let Some(b) = below_quorum.as_ref().filter(|b| b.down.contains(m)) {
                // The exit happened; it is not a cause of its own: with the others it is
                // the quorum loss, which the catalog names as one cause.
                pe.contradict(
                    2.0,
                    format!(
                        "{m}'s exit is one of those that took the cluster below its quorum ({}): one cause, the quorum loss, not one per member",
                        b.why
                    ),
                );
            }
            out.extend([pe, np, ds]);
        }
        let mut ql = Candidate::new(
            Cause::new("quorum-loss", "cluster"),
            "how many members answer with a leader, against the quorum",
        );
        if let (Some(q), Some(answering)) = (
            ev.state["quorum"].as_u64(),
            ev.state["answering_with_leader"].as_array(),
        ) {
            if (answering.len() as u64) < q {
                ql.support(
                    3.0,
                    format!(
                        "{} members answer with a leader; the quorum is {q}",
                        answering.len()
                    ),
                );
            } else {
                ql.contradict(
                    2.0,
                    format!(
                        "{} members answer with a leader; the quorum is {q}",
                        answering.len()
                    ),
                );
            }
        }
        if let Some(b) = &below_quorum {
            // On the quorum-lost ticket itself the arithmetic above already counts.
            let own = ev.state["answering_with_leader"].is_array();
            ql.support(if own { 1.0 } else { 3.5 }, b.why.clone());
        }
        let without = ev.state["without_leader"].as_array().map_or(0, Vec::len);
        let mut lf = Candidate::new(
            Cause::new("leader-flapping", "cluster"),
            "leader changes over 15 minutes while every member stays up",
        );
        if without > 0 {
            if deaths.is_empty() {
                lf.support(
                    1.0,
                    format!("{without} members lost their leader and no member exited"),
                );
            } else {
                ql.support(
                    1.0,
                    format!("{without} members have no leader after members exited"),
                );
                lf.contradict(
                    1.0,
                    "members exited: the leader is gone, not flapping".to_string(),
                );
            }
        }
        for (series, v) in &metrics {
            if series.contains("leader_changes_seen_total") {
                lf.support(2.0, format!("{series} = {v}"));
            }
        }
        let mut dq = Candidate::new(
            Cause::new("db-quota", "cluster"),
            "the NOSPACE alarm and the DB size against --quota-backend-bytes",
        );
        let alarms = ev.state["alarms"].as_array().cloned().unwrap_or_default();
        if alarms.iter().any(|a| a.as_str() == Some("NOSPACE")) {
            dq.support(3.0, "the NOSPACE alarm is active".to_string());
        }
        let size = metrics
            .iter()
            .find(|(s, _)| s.starts_with("etcd_mvcc_db_total_size_in_bytes"))
            .map(|(_, v)| *v);
        let quota = metrics
            .iter()
            .find(|(s, _)| s.starts_with("etcd_server_quota_backend_bytes"))
            .map(|(_, v)| *v);
        if let (Some(size), Some(quota)) = (size, quota) {
            if quota > 0.0 && size / quota > 0.9 {
                dq.support(
                    1.5,
                    format!("the DB holds {:.0} % of its quota", 100.0 * size / quota),
                );
            }
        }
        out.extend([ql, lf, dq]);
        out
    }

    fn canonical_target(&self, brief: &TicketBrief, _facts: &[ContextSection]) -> String {
        brief.target.clone()
    }

    fn write_up(
        &self,
        decision: &Decision,
        brief: &TicketBrief,
        facts: &[ContextSection],
        _cfg: &RulesConfig,
    ) -> WriteUp {
        let ev = Ev::new(brief);
        let draft = match decision.cause.category.as_str() {
            "quorum-loss" if ev.str("member").is_some() => member_in_quorum_loss(&ev, facts),
            "process-exit" | "network-partition" if ev.str("member") == Some(decision.cause.target.as_str()) => member_down(&ev),
            "network-partition" => leader_disagreement(&ev)
                .or_else(|| peer_rtt(&ev, &decision.cause.target)),
            "quorum-loss" => quorum_lost(&ev).or_else(|| no_leader(&ev)),
            "leader-flapping" => flapping(&ev).or_else(|| no_leader(&ev)),
            "disk-slow" => disk_slow(&ev),
            "db-quota" => db_quota(&ev),
            "process-exit" => Some(Draft {
                root_cause: format!("{} exited", decision.cause.target),
                evidence: vec![],
                options: vec![],
                action: EtcdAction::RestartContainer {
                    member: decision.cause.target.clone(),
                },
                rationale: "a member that exited keeps its data; starting it restores the failure tolerance".into(),
                would_change: String::new(),
            }),
            _ => None,
        };
        match draft {
            Some(d) => WriteUp {
                observation: brief.summary.clone(),
                root_cause: d.root_cause,
                evidence: d.evidence,
                options: d.options,
                action: d.action.into(),
                rationale: d.rationale,
                would_change: d.would_change,
            },
            None => WriteUp {
                observation: brief.summary.clone(),
                root_cause: format!(
                    "no cause in etcd's catalog is supported by the evidence of {} on {}",
                    brief.invariant, brief.target
                ),
                evidence: vec![],
                options: vec![],
                action: EtcdAction::InvestigateFurther {
                    what: format!("{} on {}", brief.invariant, brief.target),
                }
                .into(),
                rationale: "the evidence supports no catalogued cause".into(),
                would_change: "more evidence".into(),
            },
        }
    }
}

/// Members whose exits together took the cluster below its quorum.
struct BelowQuorum {
    /// The members down (exited, dead or gone).
    down: std::collections::BTreeSet<String>,
    /// Why the evidence says so, for the findings.
    why: String,
}

/// Another ticket of the same moment, from the `related_tickets` section.
struct Related {
    id: u64,
    invariant: String,
    target: String,
    summary: String,
    together: bool,
}

fn related_tickets(facts: &[ContextSection]) -> Vec<Related> {
    let Some(section) = facts.iter().find(|s| s.name == "related_tickets") else {
        return vec![];
    };
    let Ok(Value::Array(rs)) = serde_json::from_str::<Value>(&section.content) else {
        return vec![];
    };
    let text = |r: &Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
    rs.iter()
        .filter_map(|r| {
            Some(Related {
                id: r["id"].as_u64()?,
                invariant: crate::diagnose::model::normalize_invariant(&text(r, "invariant")),
                target: text(r, "target"),
                summary: text(r, "summary"),
                together: r["together"].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

const DOWN_STATES: [&str; 3] = ["exited", "dead", "absent"];

/// Whether the members down in the evidence (the ticket's own member, the member
/// states it records, and the members of `member-down` tickets opened together whose
/// container is down) are more than the membership tolerates, while the quorum is lost
/// (this ticket's own arithmetic, or a `quorum-lost` ticket of the same moment). The
/// catalog's `quorum-loss` is "a majority of the members is down": those exits are that
/// one cause. `None` when the evidence does not show it (a single exit that the
/// survivors outlive, a quorum lost without exits).
fn exits_below_quorum(ev: &Ev<'_>, facts: &[ContextSection]) -> Option<BelowQuorum> {
    let n = ev.state["members"].as_u64()?;
    let q = ev.state["quorum"].as_u64()?;
    let tolerance = n.saturating_sub(q);
    let mut down: std::collections::BTreeSet<String> = down_members(ev)
        .into_iter()
        .filter(|(_, s)| DOWN_STATES.contains(&s.as_str()))
        .map(|(m, _)| m)
        .collect();
    if let (Some(m), Some(st)) = (ev.str("member"), ev.str("state")) {
        if DOWN_STATES.contains(&st) {
            down.insert(m.to_string());
        }
    }
    let related = related_tickets(facts);
    for r in related.iter().filter(|r| {
        // The summary member-down writes for a container that is not running
        // (`etcd-1 is down: container … is exited`), not for one that runs but does
        // not answer.
        r.together && r.invariant == "member_down" && r.summary.contains(" is down: container ")
    }) {
        down.insert(r.target.clone());
    }
    let answering = ev.state["answering_with_leader"].as_array().map(Vec::len);
    let lost = if let Some(a) = answering {
        Some(format!(
            "{a} of {n} members answer with a leader, the quorum is {q}"
        ))
    } else {
        related
            .iter()
            .find(|r| r.invariant == "quorum_lost")
            .map(|r| format!("ticket {}: {}", r.id, r.summary))
    };
    let lost = lost.filter(|_| answering.is_none_or(|a| (a as u64) < q))?;
    if (down.len() as u64) <= tolerance {
        return None;
    }
    let why = format!(
        "{} of {n} members are down together ({}), more than the {tolerance} a quorum of {q} tolerates; {lost}",
        down.len(),
        down.iter().cloned().collect::<Vec<_>>().join(", ")
    );
    Some(BelowQuorum { down, why })
}

/// The write-up of a member's down ticket whose exit is part of a quorum loss.
fn member_in_quorum_loss(ev: &Ev<'_>, facts: &[ContextSection]) -> Option<Draft> {
    let b = exits_below_quorum(ev, facts)?;
    let mut d = member_down(ev)?;
    let member = ev.str("member").unwrap_or(&ev.brief.target).to_string();
    d.root_cause = format!(
        "the cluster lost its quorum: {}; {member}'s exit is one of them ({})",
        b.why,
        d.root_cause.split(';').next().unwrap_or_default().trim()
    );
    d.evidence.push(cite_state(
        format!(
            "{} members, quorum {}",
            ev.state["members"], ev.state["quorum"]
        ),
        "state.quorum",
    ));
    d.rationale = format!(
        "no leader can be elected until a quorum answers again; {member} keeps its data volume, and starting it (and the others down) restores the quorum"
    );
    d.would_change =
        "the other members' containers running (then this exit alone is the cause)".into();
    Some(d)
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
        return Some(Draft {
            root_cause: format!("the etcd process of {member} {how}; the other members keep the cluster while a quorum remains"),
            evidence,
            options: vec![OptionConsidered {
                option: "network-partition".into(),
                why_not: format!("{container} is {state}; a partitioned member keeps running"),
            }],
            action: EtcdAction::RestartContainer { member: member.clone() },
            rationale: format!("{member} keeps its data volume; starting it lets it catch up from the leader and restores the failure tolerance"),
            would_change: "the container running while the member still does not answer (a partition), or an OOM kill".into(),
        });
    }
    if state == "running" {
        let err = ev.str("probe_error").unwrap_or("no answer");
        evidence.push(cite_state(
            format!("the member does not answer: {err}"),
            "state.probe_error",
        ));
        return Some(Draft {
            root_cause: format!("{member} runs but cannot be reached: it is cut off from the network"),
            evidence,
            options: vec![OptionConsidered {
                option: "restart the container".into(),
                why_not: "the process is alive; a restart does not reconnect a cut network".into(),
            }],
            action: EtcdAction::WaitAndWatch { minutes: 5 },
            rationale: "a partitioned member rejoins by itself once the network heals; the others keep quorum".into(),
            would_change: "an exit event, or the member answering with high latency (slow disk or overload)".into(),
        });
    }
    if state == "paused" {
        evidence.push(cite_state(format!("{container} is paused"), "state.state"));
        return Some(Draft {
            root_cause: format!(
                "{member}'s container is frozen (paused): it runs nothing and answers nothing"
            ),
            evidence,
            options: vec![],
            action: EtcdAction::InvestigateFurther {
                what: format!("who paused {container}"),
            },
            rationale: "a paused container is an operator action, not a failure etcd can report"
                .into(),
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
        evidence,
        options: vec![OptionConsidered {
            option: "leader-flapping".into(),
            why_not: "members are down, not merely re-electing".into(),
        }],
        action: EtcdAction::RestartContainer { member: restart },
        rationale:
            "bringing back one downed member restores the majority; its data volume is intact"
                .into(),
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
    let root = if deaths.is_empty() {
        "members lost their leader without any member exiting: an election is timing out"
            .to_string()
    } else {
        format!(
            "members exited ({}) and the rest cannot elect a leader",
            deaths.join("; ")
        )
    };
    Some(Draft {
        root_cause: root,
        evidence,
        options: vec![],
        action: if deaths.is_empty() {
            EtcdAction::InvestigateFurther {
                what: "peer round trips and WAL fsync latency of every member".into(),
            }
        } else {
            EtcdAction::WaitAndWatch { minutes: 2 }
        },
        rationale: "a leader is elected as soon as a majority of members can talk; find what keeps them apart".into(),
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
    minority.first()?;
    Some(Draft {
        root_cause: format!(
            "{} keep a leader the others do not follow: cut off from the majority",
            minority.join(", ")
        ),
        evidence: vec![cite_state(
            "members name different leaders".into(),
            "state.views",
        )],
        options: vec![],
        action: EtcdAction::WaitAndWatch { minutes: 5 },
        rationale: "the minority side cannot commit anything; it rejoins when the network heals"
            .into(),
        would_change:
            "members agreeing again within a few election timeouts (a transient election)".into(),
    })
}

fn flapping(ev: &Ev<'_>) -> Option<Draft> {
    let (series, value) = ev.metrics().into_iter().next()?;
    Some(Draft {
        root_cause: format!("leadership keeps changing ({value:.0} changes): elections time out while members stay up"),
        evidence: vec![cite_metric(&series, value)],
        options: vec![],
        action: EtcdAction::InvestigateFurther {
            what: "WAL fsync p99 and peer round trips of each member, around each change".into(),
        },
        rationale: "flapping is a symptom; the slow disk or network underneath is the thing to fix".into(),
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
        evidence,
        options: vec![OptionConsidered {
            option: "leader-flapping".into(),
            why_not: "the latency is on one member's disk, not in elections".into(),
        }],
        action: EtcdAction::InvestigateFurther {
            what: format!("{target}'s data device (throttling, a noisy neighbour); move leadership off it if it leads"),
        },
        rationale: "a slow WAL on the leader slows every write; on a follower it risks falling behind".into(),
        would_change: "the same latency on every member (the host, not one disk)".into(),
    })
}

fn peer_rtt(ev: &Ev<'_>, cause: &str) -> Option<Draft> {
    let target = ev.brief.target.clone();
    let (series, value) = ev.metrics().into_iter().next()?;
    if cause != target {
        return Some(Draft {
            root_cause: format!(
                "{cause} is cut off from its peers: {target}'s round trips to it time out ({:.0} ms p99 over all its peers)",
                value * 1000.0
            ),
            evidence: vec![cite_metric(&series, value)],
            options: vec![OptionConsidered {
                option: format!("a partition of {target}"),
                why_not: format!("{target} answers; the round trips it measures include those to {cause}, which does not"),
            }],
            action: EtcdAction::WaitAndWatch { minutes: 5 },
            rationale: format!("{target}'s own links are not in question; {cause} rejoins once its network heals"),
            would_change: format!("{target}'s round trips staying slow after {cause} answers again"),
        });
    }
    Some(Draft {
        root_cause: format!(
            "{target}'s round trips to its peers are slow ({:.0} ms p99)",
            value * 1000.0
        ),
        evidence: vec![cite_metric(&series, value)],
        options: vec![],
        action: EtcdAction::InvestigateFurther {
            what: format!("the network path between {target} and its peers"),
        },
        rationale: "slow peer links delay heartbeats and can trigger elections".into(),
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
        evidence,
        options: vec![OptionConsidered {
            option: "disarm the alarm alone".into(),
            why_not: "etcd raises it again on the next write unless space is reclaimed".into(),
        }],
        action: EtcdAction::SetConfig {
            key: "quota-backend-bytes".into(),
            value: quota.map_or("4294967296".into(), |q| format!("{:.0}", q * 2.0)),
        },
        rationale: "compact the keyspace, defragment each member and disarm NOSPACE (etcdctl compact, defrag, alarm disarm); raising spec.quotaBackendBytes (a rolling restart) buys room if the data is legitimate".into(),
        would_change: "the DB size far below the quota with the alarm still active (a stale alarm)".into(),
    })
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
    fn the_exits_of_a_majority_are_one_cause_the_quorum_loss_on_its_own_ticket() {
        let b = brief(
            "quorum-lost",
            "cluster",
            json!({"state": {"members": 3, "quorum": 2, "answering_with_leader": [],
                   "member_states": {"etcd-0": "exited", "etcd-1": "exited", "etcd-2": "running"}},
                   "events": [{"source": "e-etcd-0", "at": "2026-01-01T00:00:00Z", "what": "die exit_code=137"},
                              {"source": "e-etcd-1", "at": "2026-01-01T00:00:00Z", "what": "die exit_code=137"}]}),
        );
        let d = diagnose_brief(&b);
        assert_eq!(d.cause, Cause::new("quorum-loss", "cluster"));
        assert!(d.other_causes.is_empty(), "{:?}", d.other_causes);
    }

    fn related(tickets: Value) -> Vec<ContextSection> {
        vec![ContextSection {
            name: "related_tickets".into(),
            relevance: 85,
            content: tickets.to_string(),
        }]
    }

    fn killed(member: &str) -> TicketBrief {
        brief(
            "member-down",
            member,
            json!({"state": {"members": 3, "quorum": 2, "member": member, "container": format!("e-{member}"), "state": "exited", "exit_code": 137},
                   "events": [{"source": format!("e-{member}"), "at": "2026-01-01T00:00:00Z", "what": "die exit_code=137"}]}),
        )
    }

    #[test]
    fn a_member_killed_with_another_of_three_is_part_of_the_quorum_loss_not_a_cause_of_its_own() {
        let facts = related(json!([
            {"id": 2, "invariant": "member-down", "target": "etcd-1", "summary": "etcd-1 is down: container e-etcd-1 is exited (exit code 137)", "together": true},
            {"id": 3, "invariant": "quorum-lost", "target": "cluster", "summary": "quorum lost: 1 of 3 members answer with a leader, the quorum is 2", "together": true}
        ]));
        let d = crate::diagnose::backend::rules::diagnose_with(
            &EtcdReasoner,
            &killed("etcd-0"),
            &facts,
            &RulesConfig::default(),
        );
        assert_eq!(d.cause, Cause::new("quorum-loss", "cluster"), "{d:?}");
        assert!(d.other_causes.is_empty(), "{:?}", d.other_causes);
        assert_eq!(
            d.recommended_action.kind.typed::<EtcdAction>(),
            Some(EtcdAction::RestartContainer {
                member: "etcd-0".into()
            })
        );
        assert!(d.root_cause.contains("etcd-0") && d.root_cause.contains("quorum"));
        // The exit is still what the evidence shows: it is named, as part of the loss.
        assert!(d.root_cause.contains("SIGKILL"), "{}", d.root_cause);
    }

    #[test]
    fn a_single_exit_stays_a_process_exit_even_beside_a_passing_quorum_ticket() {
        // The leader was killed; for a moment the two survivors had no leader and a
        // quorum-lost ticket opened. One member down of three is within the tolerance.
        let facts = related(json!([
            {"id": 3, "invariant": "quorum-lost", "target": "cluster", "summary": "quorum lost: 0 of 3 members answer with a leader, the quorum is 2", "together": true}
        ]));
        let d = crate::diagnose::backend::rules::diagnose_with(
            &EtcdReasoner,
            &killed("etcd-0"),
            &facts,
            &RulesConfig::default(),
        );
        assert_eq!(d.cause, Cause::new("process-exit", "etcd-0"));
        // Two members down without a lost quorum (five members): two exits.
        let facts = related(json!([
            {"id": 2, "invariant": "member-down", "target": "etcd-1", "summary": "etcd-1 is down: container e-etcd-1 is exited (exit code 137)", "together": true}
        ]));
        let d = crate::diagnose::backend::rules::diagnose_with(
            &EtcdReasoner,
            &killed("etcd-0"),
            &facts,
            &RulesConfig::default(),
        );
        assert_eq!(d.cause, Cause::new("process-exit", "etcd-0"));
    }

    #[test]
    fn slow_round_trips_beside_a_member_cut_off_at_the_same_moment_blame_that_member() {
        let b = brief(
            "peer-rtt-slow",
            "etcd-2",
            json!({"metrics": [{"series": "histogram_quantile(0.99, etcd_network_peer_round_trip_time_seconds{member=\"etcd-2\"}[1m])", "value": 0.9, "at": "2026-01-01T00:00:00Z"}]}),
        );
        let alone = diagnose_brief(&b);
        assert_eq!(alone.cause, Cause::new("network-partition", "etcd-2"));
        let facts = related(json!([
            {"id": 2, "invariant": "member-down", "target": "etcd-1", "summary": "etcd-1 runs but does not answer: timed out", "together": true}
        ]));
        let d = crate::diagnose::backend::rules::diagnose_with(
            &EtcdReasoner,
            &b,
            &facts,
            &RulesConfig::default(),
        );
        assert_eq!(d.cause, Cause::new("network-partition", "etcd-1"), "{d:?}");
        assert!(d.other_causes.is_empty(), "{:?}", d.other_causes);
        assert!(
            d.root_cause.contains("etcd-1 is cut off"),
            "{}",
            d.root_cause
        );
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
