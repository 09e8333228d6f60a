//! The offline rules engine: deterministic diagnoses from the ticket's evidence, for when
//! no model is configured (the default without an API key) and as a baseline to compare
//! model answers against.
//!
//! # Evidence shape
//!
//! `{observed_at, metrics: [{series, value, at}], state: <PD view JSON>, logs: [{source,
//! at, line}], events: [{source, at, what}]}`. `state` is read in either the operator's
//! `PdView` shape (`stores[].{id, address, state, available_bytes, …}`, `members`,
//! `leader`, `evict_leader_stores`, `max_store_down_time_secs`) or PD's wire shape
//! (`stores[].store.{id, address, state_name}` + `stores[].status`). Metric series are
//! Prometheus-style `name{label="v",…}`; a store is found by a `store`/`store_id` label or
//! by its `instance` host.
//!
//! Every rule cites concrete values taken verbatim from the evidence (series strings,
//! log lines, event texts, state paths), so its diagnoses are fully grounded.

use super::{BackendError, DiagnosisBackend, RawDiagnosis};
use crate::diagnose::context::PreparedPrompt;
use crate::diagnose::model::{
    normalize_invariant, Action, ActionKind, Citation, CitationRef, DiagnosisOutput,
    OptionConsidered, Target, Usage,
};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Model id reported by the rules engine.
pub const RULES_MODEL: &str = "rules-v1";

/// Policy knobs of the rules engine.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesConfig {
    /// Whether recommending a container restart is allowed (operator policy).
    pub allow_restart: bool,
    /// PD's `max-store-down-time` when the state does not say (30 min).
    pub max_store_down_time: Duration,
    /// Used-space ratio above which a store is under disk pressure (PD low-space-ratio 0.8).
    pub low_space_ratio: f64,
    /// How many times the median a store's latency must be to call it slow.
    pub slow_factor: f64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            allow_restart: true,
            max_store_down_time: Duration::from_secs(30 * 60),
            low_space_ratio: 0.8,
            slow_factor: 3.0,
        }
    }
}

/// The rules backend.
#[derive(Debug, Clone, Default)]
pub struct RulesBackend {
    cfg: RulesConfig,
}

impl RulesBackend {
    /// A rules engine with `cfg`.
    pub fn new(cfg: RulesConfig) -> Self {
        Self { cfg }
    }
}

#[derive(Debug, Clone)]
struct Metric {
    series: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

#[derive(Debug, Clone)]
struct StoreInfo {
    id: u64,
    address: String,
    status_address: String,
    state: String,
    available: Option<f64>,
    capacity: Option<f64>,
    leader_count: Option<u64>,
    region_count: Option<u64>,
    last_heartbeat_nanos: Option<i64>,
    state_path: String,
}

impl StoreInfo {
    fn member(&self) -> String {
        host(&self.address)
    }

    /// Path of the store's whole record in the state (`state` when the state is the
    /// record itself).
    fn record_path(&self) -> String {
        if self.state_path == "state" {
            "state".to_string()
        } else {
            format!("stores.{}", self.id)
        }
    }
}

fn host(addr: &str) -> String {
    let a = addr
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    a.split(':').next().unwrap_or(a).to_string()
}

fn parse_series(series: &str) -> (String, BTreeMap<String, String>) {
    let mut labels = BTreeMap::new();
    let (name, rest) = match series.split_once('{') {
        Some((n, r)) => (n.trim().to_string(), r.trim_end_matches('}')),
        None => return (series.trim().to_string(), labels),
    };
    for part in rest.split(',') {
        if let Some((k, v)) = part.split_once('=') {
            labels.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
        }
    }
    (name, labels)
}

fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

struct Ev<'a> {
    brief: &'a crate::diagnose::model::TicketBrief,
    metrics: Vec<Metric>,
    logs: Vec<(String, String)>,
    events: Vec<(String, String, String)>,
    state: Value,
    stores: Vec<StoreInfo>,
}

impl<'a> Ev<'a> {
    fn new(brief: &'a crate::diagnose::model::TicketBrief) -> Self {
        let e = &brief.evidence;
        let metrics = e
            .get("metrics")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| {
                        let series = m.get("series")?.as_str()?.to_string();
                        let value = m.get("value")?.as_f64()?;
                        let (name, labels) = parse_series(&series);
                        Some(Metric {
                            series,
                            name,
                            labels,
                            value,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let logs = e
            .get("logs")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|l| {
                        Some((
                            l.get("source")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            l.get("line")?.as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let events = e
            .get("events")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|l| {
                        Some((
                            l.get("source")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            l.get("at")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            l.get("what")?.as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let state = e.get("state").cloned().unwrap_or(Value::Null);
        let stores = parse_stores(&state);
        Self {
            brief,
            metrics,
            logs,
            events,
            state,
            stores,
        }
    }

    fn observed_at(&self) -> Option<time::OffsetDateTime> {
        self.brief
            .evidence
            .get("observed_at")
            .and_then(Value::as_str)
            .and_then(parse_time)
            .or_else(|| parse_time(&self.brief.last_seen))
    }

    fn target_store(&self) -> Option<u64> {
        match Target::parse(&self.brief.target) {
            Target::Store(id) => Some(id),
            Target::Member(m) => self
                .stores
                .iter()
                .find(|s| {
                    let h = s.member();
                    h == m || h.ends_with(&format!("-{m}"))
                })
                .map(|s| s.id),
            Target::Other(_) => None,
        }
    }

    fn target_member(&self) -> Option<String> {
        match Target::parse(&self.brief.target) {
            Target::Member(m) => Some(m),
            _ => None,
        }
    }

    fn store(&self, id: u64) -> Option<&StoreInfo> {
        self.stores.iter().find(|s| s.id == id)
    }

    /// The store a metric belongs to.
    fn metric_store(&self, m: &Metric) -> Option<u64> {
        for k in ["store", "store_id"] {
            if let Some(v) = m.labels.get(k).and_then(|v| v.parse().ok()) {
                return Some(v);
            }
        }
        if let Some(inst) = m.labels.get("instance").or_else(|| m.labels.get("address")) {
            let h = host(inst);
            if let Some(s) = self
                .stores
                .iter()
                .find(|s| host(&s.address) == h || host(&s.status_address) == h)
            {
                return Some(s.id);
            }
        }
        // Fallback for series written as text (`store 4 qps`, `store_id=4`, a PromQL result
        // naming the member): a store id after "store", else a member host in the text.
        static STORE_IN_TEXT: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = STORE_IN_TEXT.get_or_init(|| {
            regex::Regex::new(r#"(?i)\bstore(?:_id|-id)?[\s=:"/#]*(\d+)\b"#).expect("static regex")
        });
        if let Some(id) = re.captures(&m.series).and_then(|c| c[1].parse().ok()) {
            return Some(id);
        }
        self.stores
            .iter()
            .find(|s| {
                let h = s.member();
                !h.is_empty()
                    && m.series.match_indices(h.as_str()).any(|(i, _)| {
                        !m.series[i + h.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
                    })
            })
            .map(|s| s.id)
    }

    /// Metrics passing `pred`, keyed by store. A metric whose store the evidence does
    /// not describe (a peer's value cited for comparison, when the state is the target
    /// store's record alone) gets a placeholder key ([`known_store`] is false): it counts
    /// in comparisons and medians but is never named as a store.
    fn metrics_named(&self, pred: impl Fn(&Metric) -> bool) -> Vec<(u64, &Metric)> {
        self.metrics
            .iter()
            .filter(|m| pred(m))
            .enumerate()
            .map(|(i, m)| (self.metric_store(m).unwrap_or(UNKNOWN_STORE - i as u64), m))
            .collect()
    }

    fn logs_matching(&self, needles: &[&str]) -> Vec<&str> {
        self.logs
            .iter()
            .filter(|(_, l)| {
                let ll = l.to_ascii_lowercase();
                needles.iter().any(|n| ll.contains(n))
            })
            .map(|(_, l)| l.as_str())
            .collect()
    }

    fn events_about(&self, who: &str, needles: &[&str]) -> Vec<&str> {
        self.events
            .iter()
            .filter(|(src, _, w)| {
                let wl = w.to_ascii_lowercase();
                // The ticket store puts the container in `source` (`tikv-1`, "die
                // exit_code=137"); other producers name it in the text.
                (who.is_empty()
                    || w.contains(who)
                    || src == who
                    || src.ends_with(&format!("-{who}")))
                    && needles.iter().any(|n| wl.contains(n))
            })
            .map(|(_, _, w)| w.as_str())
            .collect()
    }

    fn max_store_down_time(&self, cfg: &RulesConfig) -> Duration {
        self.state
            .get("max_store_down_time_secs")
            .and_then(Value::as_u64)
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .unwrap_or(cfg.max_store_down_time)
    }
}

/// Placeholder store keys count down from here (see [`Ev::metrics_named`]).
const UNKNOWN_STORE: u64 = u64::MAX;

/// Whether a key from [`Ev::metrics_named`] is a real store id.
fn known_store(id: u64) -> bool {
    id < UNKNOWN_STORE - 1_000_000
}

/// `store 4`, or the metric's instance for a store the evidence does not describe.
fn store_label(id: u64, m: &Metric) -> String {
    if known_store(id) {
        format!("store {id}")
    } else {
        m.labels
            .get("instance")
            .map(|i| format!("instance {i}"))
            .unwrap_or_else(|| "another store".into())
    }
}

fn parse_size(v: &Value) -> Option<f64> {
    if let Some(n) = v.as_f64() {
        return Some(n);
    }
    let s = v.as_str()?.trim();
    let idx = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(idx);
    let n: f64 = num.trim().parse().ok()?;
    let mult = match unit {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0f64.powi(2),
        "GiB" => 1024.0f64.powi(3),
        "TiB" => 1024.0f64.powi(4),
        _ => return None,
    };
    Some(n * mult)
}

fn parse_stores(state: &Value) -> Vec<StoreInfo> {
    // The evidence's state is either a PD view (`{"stores": [...]}`) or, for a ticket
    // about one store, that store's record itself.
    let single;
    let arr = match state.get("stores").and_then(Value::as_array) {
        Some(a) => a,
        None if state.get("id").is_some() && state.get("address").is_some() => {
            single = vec![state.clone()];
            &single
        }
        None => return vec![],
    };
    let is_single = state.get("stores").is_none();
    arr.iter()
        .filter_map(|s| {
            if let Some(inner) = s.get("store") {
                // PD wire shape.
                let id = inner.get("id")?.as_u64()?;
                let st = s.get("status").cloned().unwrap_or(Value::Null);
                Some(StoreInfo {
                    id,
                    address: inner
                        .get("address")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                    status_address: inner
                        .get("status_address")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                    state: inner
                        .get("state_name")
                        .and_then(Value::as_str)
                        .unwrap_or("Up")
                        .into(),
                    available: st.get("available").and_then(parse_size),
                    capacity: st.get("capacity").and_then(parse_size),
                    leader_count: st.get("leader_count").and_then(Value::as_u64),
                    region_count: st.get("region_count").and_then(Value::as_u64),
                    last_heartbeat_nanos: inner.get("last_heartbeat").and_then(Value::as_i64),
                    state_path: format!("stores.{id}.store.state_name"),
                })
            } else {
                let id = s.get("id")?.as_u64()?;
                Some(StoreInfo {
                    id,
                    address: s
                        .get("address")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                    status_address: s
                        .get("status_address")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                    state: s
                        .get("state")
                        .and_then(Value::as_str)
                        .unwrap_or("Up")
                        .into(),
                    available: s.get("available_bytes").and_then(Value::as_f64),
                    capacity: s.get("capacity_bytes").and_then(Value::as_f64),
                    leader_count: s.get("leader_count").and_then(Value::as_u64),
                    region_count: s.get("region_count").and_then(Value::as_u64),
                    last_heartbeat_nanos: s
                        .get("last_heartbeat_unix_nanos")
                        .and_then(Value::as_i64),
                    state_path: if is_single {
                        "state".to_string()
                    } else {
                        format!("stores.{id}.state")
                    },
                })
            }
        })
        .collect()
}

fn cite(claim: impl Into<String>, source: CitationRef) -> Citation {
    Citation {
        claim: claim.into(),
        source,
    }
}

fn metric_cite(m: &Metric, claim: impl Into<String>) -> Citation {
    cite(
        claim,
        CitationRef::Metric {
            series: m.series.clone(),
            value: m.value,
        },
    )
}

fn opt(option: &str, why_not: impl Into<String>) -> OptionConsidered {
    OptionConsidered {
        option: option.into(),
        why_not: why_not.into(),
    }
}

fn gib(b: f64) -> String {
    format!("{:.1} GiB", b / 1024f64.powi(3))
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

struct Out {
    observation: String,
    root_cause: String,
    evidence: Vec<Citation>,
    options: Vec<OptionConsidered>,
    action: ActionKind,
    rationale: String,
    confidence: f64,
    would_change: String,
}

impl Out {
    fn finish(self, summary: &str) -> DiagnosisOutput {
        let mut evidence = self.evidence;
        if evidence.is_empty() {
            // The schema needs one citation; the ticket summary is always in the context.
            evidence.push(cite(
                "the ticket's own invariant violation",
                CitationRef::Event {
                    what: summary.to_string(),
                },
            ));
        }
        DiagnosisOutput {
            observation_summary: self.observation,
            root_cause: self.root_cause,
            cause: crate::diagnose::model::Cause::unknown(""),
            other_causes: vec![],
            hypotheses: vec![],
            evidence,
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

const DIE_WORDS: &[&str] = &["die", "died", "exited", "oom", "kill", "stop"];
const RUN_WORDS: &[&str] = &["start", "running", "restart", "healthy"];
const HEARTBEAT_WORDS: &[&str] = &[
    "heartbeat failed",
    "failed to send heartbeat",
    "store maybe disconnected",
];
const NET_WORDS: &[&str] = &[
    "connection aborted",
    "connection abort",
    "wait connect timeout",
    "connection refused",
    "no route to host",
    "i/o timeout",
    "probe failed",
    "unreachable",
];

fn exit_code(event: &str) -> Option<i64> {
    let re =
        regex::Regex::new(r"(?i)exit(?:_?code| code|Code)?[=: (]*(\d+)").expect("static regex");
    re.captures(event).and_then(|c| c[1].parse().ok())
}

fn disk_options(ev: &Ev<'_>, store: u64, cfg: &RulesConfig) -> OptionConsidered {
    match ev
        .store(store)
        .and_then(|s| Some((s.available?, s.capacity?)))
    {
        Some((a, c)) if c > 0.0 => {
            let used = 1.0 - a / c;
            if used < cfg.low_space_ratio {
                opt(
                    "disk full",
                    format!(
                        "store {store} has {} available of {} ({:.0}% used)",
                        gib(a),
                        gib(c),
                        used * 100.0
                    ),
                )
            } else {
                opt(
                    "disk full",
                    format!(
                        "store {store} is {:.0}% used, but a full disk does not stop heartbeats",
                        used * 100.0
                    ),
                )
            }
        }
        _ => opt("disk full", "no disk-pressure signal in the evidence"),
    }
}

fn rule_store_down(ev: &Ev<'_>, cfg: &RulesConfig) -> Option<Out> {
    let id = ev.target_store().or_else(|| {
        ev.stores
            .iter()
            .find(|s| s.state == "Disconnected" || s.state == "Down")
            .map(|s| s.id)
    })?;
    let store = ev.store(id);
    let member = store
        .map(StoreInfo::member)
        .or_else(|| ev.target_member())
        .unwrap_or_default();
    let mut evidence = vec![];
    let state = store
        .map(|s| s.state.clone())
        .unwrap_or_else(|| "Disconnected".into());
    if let Some(s) = store {
        evidence.push(cite(
            format!("PD shows store {id} as {}", s.state),
            CitationRef::PdState {
                path: s.state_path.clone(),
            },
        ));
    } else {
        evidence.push(cite(
            format!("the ticket targets store {id}"),
            CitationRef::Store { id },
        ));
    }
    let died = if member.is_empty() {
        vec![]
    } else {
        ev.events_about(&member, DIE_WORDS)
    };
    let running = if member.is_empty() {
        vec![]
    } else {
        ev.events_about(&member, RUN_WORDS)
    };
    let hb = ev.logs_matching(HEARTBEAT_WORDS);
    let net = ev.logs_matching(NET_WORDS);
    for l in hb.iter().take(2) {
        evidence.push(cite(
            "heartbeat failures are logged",
            CitationRef::Log {
                line: (*l).to_string(),
            },
        ));
    }
    let now = ev.observed_at();
    let down_since = store
        .and_then(|s| s.last_heartbeat_nanos)
        .filter(|n| *n > 0)
        .and_then(|n| time::OffsetDateTime::from_unix_timestamp_nanos(n as i128).ok())
        .or_else(|| parse_time(&ev.brief.first_seen));
    let down_for = match (now, down_since) {
        (Some(n), Some(s)) if n > s => Duration::from_secs_f64((n - s).as_seconds_f64()),
        _ => Duration::ZERO,
    };
    let max_down = ev.max_store_down_time(cfg);
    let others_up = ev
        .stores
        .iter()
        .filter(|s| s.id != id && s.state == "Up")
        .count();
    let mut options = vec![];
    if others_up > 0 {
        options.push(opt(
            "PD unavailable",
            format!("{others_up} other store(s) are Up and heartbeating to the same PD"),
        ));
    }
    let down_min = down_for.as_secs() / 60;
    let max_min = max_down.as_secs() / 60;
    if let Some(d) = died.first() {
        evidence.push(cite(
            format!("container {member} stopped"),
            CitationRef::Event {
                what: (*d).to_string(),
            },
        ));
        let code = exit_code(d);
        options.push(opt(
            "network partition",
            format!(
                "container {member} exited{}; a partition leaves the process running",
                code.map(|c| format!(" with code {c}")).unwrap_or_default()
            ),
        ));
        options.push(disk_options(ev, id, cfg));
        let (action, rationale) = if cfg.allow_restart {
            (
                ActionKind::RestartContainer {
                    member: member.clone(),
                },
                if down_for < max_down {
                    format!("the store has been down about {down_min} min, under max-store-down-time ({max_min} min): restarting {member} brings its replicas back without re-replicating data")
                } else {
                    format!("the store has been down about {down_min} min, past max-store-down-time ({max_min} min); PD is replacing its replicas, and restarting {member} restores capacity")
                },
            )
        } else if down_for < max_down {
            (
                ActionKind::WaitAndWatch { minutes: ((max_down - down_for).as_secs() / 60).max(1) as u32 },
                format!("restarts are not allowed by policy; PD replaces the store's replicas once it has been down for max-store-down-time ({max_min} min), about {} min from now", (max_down - down_for).as_secs() / 60),
            )
        } else {
            (
                ActionKind::WaitAndWatch { minutes: 10 },
                format!("restarts are not allowed by policy and the store has been down past max-store-down-time ({max_min} min): PD is re-replicating; watch region health"),
            )
        };
        return Some(Out {
            observation: format!("store {id} ({member}) is {state}; its container stopped{}; {} heartbeat failure line(s) logged", code.map(|c| format!(" with exit code {c}")).unwrap_or_default(), hb.len()),
            root_cause: format!("store {id} (container {member}) is down: its container exited{}", code.map(|c| format!(" (exit code {c})")).unwrap_or_default()),
            evidence,
            options,
            action,
            rationale,
            confidence: if hb.is_empty() { 0.8 } else { 0.9 },
            would_change: format!("container {member} found running, or store {id} heartbeating again"),
        });
    }
    // A store that logs its own heartbeat failures is a live process that cannot reach
    // PD: the same conclusion as a running container.
    let alive = !hb.is_empty();
    if !net.is_empty() || !running.is_empty() || alive {
        for l in net.iter().take(2) {
            evidence.push(cite(
                "connection failures are logged",
                CitationRef::Log {
                    line: (*l).to_string(),
                },
            ));
        }
        if let Some(r) = running.first() {
            evidence.push(cite(
                format!("container {member} is running"),
                CitationRef::Event {
                    what: (*r).to_string(),
                },
            ));
        }
        options.push(opt(
            "container crash",
            if running.is_empty() {
                format!("no die event for {member}, and its process still logs heartbeat failures")
            } else {
                format!("no die event for {member}; its container is running")
            },
        ));
        options.push(disk_options(ev, id, cfg));
        return Some(Out {
            observation: format!("store {id} ({member}) is {state} while its container runs; {} connection and {} heartbeat failure line(s) logged", net.len(), hb.len()),
            root_cause: format!("store {id} (container {member}) is unreachable while its container runs: a network partition (or a hung process)"),
            evidence,
            options,
            action: ActionKind::InvestigateFurther { what: format!("network path between {member} and PD / the other stores") },
            rationale: "restarting a running process does not heal a partition; find the broken link first".into(),
            confidence: 0.65,
            would_change: format!("a die event for {member}, or probes from PD to {member} succeeding"),
        });
    }
    options.push(disk_options(ev, id, cfg));
    Some(Out {
        observation: format!("store {id} is {state}; no container event or log explains it"),
        root_cause: format!(
            "store {id} ({member}) stopped heartbeating to PD; the cause is not in the evidence"
        ),
        evidence,
        options,
        action: ActionKind::InvestigateFurther {
            what: format!("container state and logs of {member}"),
        },
        rationale: "without a container event or log lines the cause cannot be told apart".into(),
        confidence: 0.4,
        would_change: format!("a die event or logs from {member}"),
    })
}

fn rule_disk_pressure(ev: &Ev<'_>, cfg: &RulesConfig) -> Option<Out> {
    let avail = ev.metrics_named(|m| {
        m.name == "tikv_store_size_bytes"
            && m.labels.get("type").map(String::as_str) == Some("available")
    });
    let cap = ev.metrics_named(|m| {
        m.name == "tikv_store_size_bytes"
            && m.labels.get("type").map(String::as_str) == Some("capacity")
    });
    let mut ratios: Vec<(u64, f64, Vec<Citation>, f64, f64)> = vec![];
    for (sid, a) in &avail {
        if let Some((_, c)) = cap.iter().find(|(s, _)| s == sid) {
            if c.value > 0.0 {
                ratios.push((
                    *sid,
                    1.0 - a.value / c.value,
                    vec![
                        metric_cite(a, format!("store {sid} has {} available", gib(a.value))),
                        metric_cite(c, format!("store {sid} capacity is {}", gib(c.value))),
                    ],
                    a.value,
                    c.value,
                ));
            }
        }
    }
    if ratios.is_empty() {
        for s in &ev.stores {
            if let (Some(a), Some(c)) = (s.available, s.capacity) {
                if c > 0.0 {
                    ratios.push((
                        s.id,
                        1.0 - a / c,
                        vec![cite(
                            format!("store {} has {} available of {}", s.id, gib(a), gib(c)),
                            CitationRef::PdState {
                                path: s.record_path(),
                            },
                        )],
                        a,
                        c,
                    ));
                }
            }
        }
    }
    let target = ev.target_store().or_else(|| {
        ratios
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|r| r.0)
    })?;
    let (_, used, cites, a, c) = ratios.iter().find(|r| r.0 == target)?.clone();
    let others_high = ratios
        .iter()
        .filter(|r| r.0 != target && r.1 >= cfg.low_space_ratio * 0.9)
        .count();
    let others = ratios.len().saturating_sub(1);
    let mut evidence = cites;
    if let Some(other) = ratios
        .iter()
        .filter(|r| r.0 != target)
        .min_by(|a, b| a.1.total_cmp(&b.1))
    {
        evidence.extend(other.2.iter().take(1).cloned());
    }
    let member = ev
        .store(target)
        .map(StoreInfo::member)
        .unwrap_or_else(|| format!("store {target}"));
    let (action, rationale, options) = if used >= cfg.low_space_ratio
        && (others == 0 || others_high * 2 >= others)
    {
        (
            ActionKind::ScaleOut { component: "tikv".into(), count: 1 },
            format!("store {target} is past the low-space ratio ({:.0}%) and the other stores have little headroom, so PD cannot move regions off it: add a TiKV store", cfg.low_space_ratio * 100.0),
            vec![opt("rebalance regions away", "the other stores are also near the low-space ratio"), opt("delete data", "the operator does not own the data")],
        )
    } else {
        (
            ActionKind::InvestigateFurther { what: format!("what fills the disk of {member} (compaction backlog, snapshots, region size skew)") },
            format!("only store {target} is filling up while others have room: the cause is local to it, not cluster capacity"),
            vec![opt("scale out", "the other stores still have headroom"), opt("region imbalance alone", "PD would already be moving regions off a low-space store")],
        )
    };
    Some(Out {
        observation: format!(
            "store {target} is {:.1}% used ({} available of {})",
            used * 100.0,
            gib(a),
            gib(c)
        ),
        root_cause: format!(
            "store {target} ({member}) is under disk pressure: {:.1}% of its capacity is used",
            used * 100.0
        ),
        evidence,
        options,
        action,
        rationale,
        confidence: 0.85,
        would_change: format!("available space on store {target} recovering without intervention"),
    })
}

fn is_load_metric(m: &Metric) -> bool {
    let n = m.name.to_ascii_lowercase();
    (n.contains("qps")
        || n.contains("query_rate")
        || n.contains("grpc_msg_duration_seconds_count")
        || n.contains("hot")
        || n.contains("flow"))
        && !m.labels.contains_key("region")
}

fn rule_hot(ev: &Ev<'_>, _cfg: &RulesConfig) -> Option<Out> {
    let load = ev.metrics_named(is_load_metric);
    if load.is_empty() {
        return None;
    }
    let name = load
        .iter()
        .max_by(|a, b| a.1.value.total_cmp(&b.1.value))
        .map(|x| x.1.name.clone())?;
    let same: Vec<&(u64, &Metric)> = load.iter().filter(|x| x.1.name == name).collect();
    let total: f64 = same.iter().map(|x| x.1.value).sum();
    let hot = ev
        .target_store()
        .and_then(|t| same.iter().find(|x| x.0 == t).copied())
        .or_else(|| {
            same.iter()
                .max_by(|a, b| a.1.value.total_cmp(&b.1.value))
                .copied()
        })
        .filter(|h| known_store(h.0))?;
    let coldest = same
        .iter()
        .filter(|x| x.0 != hot.0)
        .min_by(|a, b| a.1.value.total_cmp(&b.1.value))
        .copied();
    let share = if total > 0.0 {
        hot.1.value / total
    } else {
        0.0
    };
    let mut evidence = vec![metric_cite(
        hot.1,
        format!("store {} serves {:.0}% of the load", hot.0, share * 100.0),
    )];
    if let Some(c) = coldest {
        evidence.push(metric_cite(
            c.1,
            format!("{} serves the least", store_label(c.0, c.1)),
        ));
    }
    // Hot regions: metrics with a region label, or state.hot_regions.
    let mut regions: Vec<(u64, f64, Option<Citation>)> = ev
        .metrics
        .iter()
        .filter_map(|m| {
            let r: u64 = m
                .labels
                .get("region")
                .or_else(|| m.labels.get("region_id"))?
                .parse()
                .ok()?;
            Some((
                r,
                m.value,
                Some(metric_cite(m, format!("region {r} is hot"))),
            ))
        })
        .collect();
    if let Some(hr) = ev.state.get("hot_regions").and_then(Value::as_array) {
        for (i, r) in hr.iter().enumerate() {
            if let Some(id) = r.get("region_id").and_then(Value::as_u64) {
                let v = ["qps", "flow_bytes", "value", "query_rate"]
                    .iter()
                    .find_map(|k| r.get(*k).and_then(Value::as_f64))
                    .unwrap_or(0.0);
                regions.push((
                    id,
                    v,
                    Some(cite(
                        format!("region {id} is listed hot"),
                        CitationRef::PdState {
                            path: format!("hot_regions.{i}"),
                        },
                    )),
                ));
            }
        }
    }
    regions.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut options = vec![opt(
        "cluster-wide overload",
        format!(
            "the other stores are not saturated; store {} alone carries {:.0}%",
            hot.0,
            share * 100.0
        ),
    )];
    let (action, root, rationale) = if let Some((rid, rv, rc)) = regions.first().cloned() {
        if let Some(c) = rc {
            evidence.push(c);
        }
        let region_share = if hot.1.value > 0.0 {
            rv / hot.1.value
        } else {
            0.0
        };
        if region_share >= 0.6 || !coldest.is_some_and(|c| known_store(c.0)) {
            options.push(opt("transfer the leader", format!("region {rid} alone is about {:.0}% of the store's load; moving it moves the hotspot", region_share * 100.0)));
            (
                ActionKind::SplitRegion { region_id: rid },
                format!("region {rid} is a hotspot on store {}", hot.0),
                "one region carries most of the load; splitting it lets PD spread the halves"
                    .to_string(),
            )
        } else {
            let to = coldest.map(|c| c.0).unwrap_or(hot.0);
            options.push(opt(
                "split the region",
                format!(
                    "region {rid} is not dominant (about {:.0}% of the store's load)",
                    region_share * 100.0
                ),
            ));
            (
                ActionKind::TransferLeader {
                    region_id: rid,
                    to_store: to,
                },
                format!(
                    "hot regions concentrate on store {}; region {rid} is the hottest",
                    hot.0
                ),
                format!(
                    "moving the hottest leader to store {to}, the least loaded, evens the load"
                ),
            )
        }
    } else {
        (
            ActionKind::InvestigateFurther {
                what: format!("which regions are hot on store {}", hot.0),
            },
            format!(
                "store {} is a hot store ({:.0}% of the load)",
                hot.0,
                share * 100.0
            ),
            "no hot region is named in the evidence; find it before acting".to_string(),
        )
    };
    Some(Out {
        observation: format!(
            "store {} serves {:.0}% of {} across {} stores",
            hot.0,
            share * 100.0,
            name,
            same.len()
        ),
        root_cause: root,
        evidence,
        options,
        action,
        rationale,
        confidence: 0.75,
        would_change: "the load spreading out on its own (a short burst)".into(),
    })
}

fn rule_slow(ev: &Ev<'_>, cfg: &RulesConfig) -> Option<Out> {
    let latency = ev.metrics_named(|m| {
        let n = &m.name;
        n.contains("append_log_duration")
            || n.contains("apply_log_duration")
            || n.contains("commit_log_duration")
            || n.contains("raft_io")
            || n.contains("p99")
    });
    let slow = ev.metrics_named(|m| m.name.contains("slow_score"));
    let pick = |ms: &[(u64, &Metric)]| -> Option<(u64, f64, Metric, Option<Metric>)> {
        let by_name: Option<String> = ms.first().map(|x| x.1.name.clone());
        let name = by_name?;
        let same: Vec<&(u64, &Metric)> = ms.iter().filter(|x| x.1.name == name).collect();
        let worst = same
            .iter()
            .max_by(|a, b| a.1.value.total_cmp(&b.1.value))
            .filter(|w| known_store(w.0))?;
        let others: Vec<f64> = same
            .iter()
            .filter(|x| x.0 != worst.0)
            .map(|x| x.1.value)
            .collect();
        let med = median(others)?;
        let normal = same
            .iter()
            .filter(|x| x.0 != worst.0)
            .min_by(|a, b| a.1.value.total_cmp(&b.1.value))
            .map(|x| x.1.clone());
        Some((
            worst.0,
            if med > 0.0 {
                worst.1.value / med
            } else {
                f64::INFINITY
            },
            worst.1.clone(),
            normal,
        ))
    };
    let lat = pick(&latency);
    let sc = pick(&slow);
    let (store, factor, worst, normal) = match (&lat, &sc) {
        (Some(l), _) if l.1 >= cfg.slow_factor => l.clone(),
        (_, Some(s)) if s.2.value >= 80.0 => s.clone(),
        _ => return None,
    };
    let mut evidence = vec![metric_cite(
        &worst,
        format!("store {store} is {:.1}× the median of the others", factor),
    )];
    if let Some(n) = &normal {
        evidence.push(metric_cite(n, "another store is normal"));
    }
    if let Some(s) = &sc {
        if s.0 == store && s.2.series != worst.series {
            evidence.push(metric_cite(
                &s.2,
                format!("store {store} slow score is {}", s.2.value),
            ));
        }
    }
    for l in ev.logs_matching(&["too slow", "slow"]).into_iter().take(1) {
        evidence.push(cite(
            "slow operations are logged",
            CitationRef::Log {
                line: l.to_string(),
            },
        ));
    }
    Some(Out {
        observation: format!("raft IO on store {store} is {factor:.1}× slower than on the other stores"),
        root_cause: format!("store {store} has a slow disk: raft log latency is high on it alone"),
        evidence,
        options: vec![
            opt("cluster-wide overload", "the other stores' latencies are normal"),
            opt("hot region", "a hotspot raises QPS and CPU, not raft fsync latency on one store alone"),
        ],
        action: ActionKind::EvictLeader { store_id: store },
        rationale: format!("moving leaders off store {store} takes it out of the read/write path while the disk is investigated"),
        confidence: 0.8,
        would_change: format!("store {store} latency dropping back with no change (a transient burst)"),
    })
}

fn members(ev: &Ev<'_>) -> Vec<(String, Option<bool>, usize)> {
    ev.state
        .get("members")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    Some((
                        m.get("name")?.as_str()?.to_string(),
                        m.get("healthy").and_then(Value::as_bool),
                        i,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn rule_pd(ev: &Ev<'_>, cfg: &RulesConfig) -> Option<Out> {
    let ms = members(ev);
    let n = ms.len();
    let unhealthy: Vec<&(String, Option<bool>, usize)> =
        ms.iter().filter(|m| m.1 == Some(false)).collect();
    let healthy = n - unhealthy.len();
    let leader = ev.state.get("leader").and_then(Value::as_str);
    let no_quorum = n > 0 && healthy < n / 2 + 1;
    let target = ev
        .target_member()
        .or_else(|| unhealthy.first().map(|m| m.0.clone()))?;
    let mut evidence = vec![];
    for m in &unhealthy {
        evidence.push(cite(
            format!("PD member {} is unhealthy", m.0),
            CitationRef::PdState {
                path: format!("members.{}.healthy", m.2),
            },
        ));
    }
    let died = ev.events_about(&target, DIE_WORDS);
    if let Some(d) = died.first() {
        evidence.push(cite(
            format!("container {target} stopped"),
            CitationRef::Event {
                what: d.to_string(),
            },
        ));
    }
    for l in ev
        .logs_matching(&["leader", "campaign", "lease"])
        .into_iter()
        .take(1)
    {
        evidence.push(cite(
            "PD leadership is logged",
            CitationRef::Log {
                line: l.to_string(),
            },
        ));
    }
    let action = if cfg.allow_restart {
        ActionKind::RestartContainer {
            member: target.clone(),
        }
    } else {
        ActionKind::InvestigateFurther {
            what: format!("why PD member {target} is unhealthy"),
        }
    };
    let quorum = if n > 0 {
        format!("; quorum holds ({healthy} of {n})")
    } else {
        String::new()
    };
    let (root, obs) = if no_quorum
        || (leader.is_none() && normalize_invariant(&ev.brief.invariant) == "pd_no_leader")
    {
        (
            format!(
                "PD has no quorum: {healthy} of {n} members healthy, so no leader can be elected"
            ),
            format!(
                "{healthy} of {n} PD members healthy; leader: {}",
                leader.unwrap_or("none")
            ),
        )
    } else {
        (
            format!(
                "PD member {target} is unhealthy{}{quorum}",
                if died.is_empty() {
                    ""
                } else {
                    " because its container stopped"
                }
            ),
            format!(
                "{healthy} of {n} PD members healthy; leader: {}",
                leader.unwrap_or("none")
            ),
        )
    };
    Some(Out {
        observation: obs,
        root_cause: root,
        evidence,
        options: vec![opt(
            "TiKV failure",
            "the TiKV stores are not the failing component; PD membership is",
        )],
        action,
        rationale: format!("bringing {target} back restores PD's quorum margin"),
        confidence: if died.is_empty() { 0.6 } else { 0.85 },
        would_change: format!("{target} healthy again without intervention"),
    })
}

fn rule_evict_left(ev: &Ev<'_>, _cfg: &RulesConfig) -> Option<Out> {
    let list: Vec<u64> = ev
        .state
        .get("evict_leader_stores")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let id = ev
        .target_store()
        .filter(|t| list.contains(t))
        .or_else(|| list.first().copied())?;
    let idx = list.iter().position(|x| *x == id)?;
    let s = ev.store(id);
    let mut evidence = vec![cite(
        format!("store {id} is in evict-leader-scheduler"),
        CitationRef::PdState {
            path: format!("evict_leader_stores.{idx}"),
        },
    )];
    if let Some(s) = s {
        evidence.push(cite(
            format!("store {id} is {}", s.state),
            CitationRef::PdState {
                path: s.state_path.clone(),
            },
        ));
    }
    let leaders = s.and_then(|s| s.leader_count).unwrap_or(0);
    Some(Out {
        observation: format!(
            "store {id} is {} with {leaders} leaders and is still listed in evict-leader-scheduler",
            s.map(|s| s.state.as_str()).unwrap_or("Up")
        ),
        root_cause: format!(
            "an evict-leader entry for store {id} was left behind after maintenance"
        ),
        evidence,
        options: vec![opt("store still unhealthy", format!("store {id} is Up"))],
        action: ActionKind::RemoveEvictLeader { store_id: id },
        rationale: format!("removing the entry lets PD balance leaders back onto store {id}"),
        confidence: 0.85,
        would_change: format!("an ongoing maintenance on store {id}"),
    })
}

fn rule_offline(ev: &Ev<'_>, _cfg: &RulesConfig) -> Option<Out> {
    let s = ev
        .target_store()
        .and_then(|t| ev.store(t))
        .or_else(|| ev.stores.iter().find(|s| s.state == "Offline"))?;
    let up = ev.stores.iter().filter(|x| x.state == "Up").count() as u64;
    let replicas = ev
        .state
        .get("max_replicas")
        .and_then(Value::as_u64)
        .unwrap_or(3);
    let mut evidence = vec![cite(
        format!("store {} is {}", s.id, s.state),
        CitationRef::PdState {
            path: s.state_path.clone(),
        },
    )];
    if ev.state.get("max_replicas").is_some() {
        evidence.push(cite(
            format!("max-replicas is {replicas}"),
            CitationRef::PdState {
                path: "max_replicas".into(),
            },
        ));
    }
    let regions = s.region_count.unwrap_or(0);
    if up < replicas {
        Some(Out {
            observation: format!("store {} is Offline with {regions} regions; {up} Up stores for max-replicas {replicas}", s.id),
            root_cause: format!("store {} cannot drain: only {up} Up stores remain for {replicas} replicas", s.id),
            evidence,
            options: vec![opt("scale out first", "possible, but cancelling restores redundancy now; scale out before deleting again")],
            action: ActionKind::CancelStoreDelete { store_id: s.id },
            rationale: "the delete cannot complete without another store; bring the store back Up".into(),
            confidence: 0.8,
            would_change: "a new TiKV store joining".into(),
        })
    } else {
        Some(Out {
            observation: format!(
                "store {} is Offline with {regions} regions; {up} Up stores",
                s.id
            ),
            root_cause: format!("store {} drains slowly or is stuck on some regions", s.id),
            evidence,
            options: vec![opt(
                "not enough stores",
                format!("{up} Up stores cover max-replicas {replicas}"),
            )],
            action: ActionKind::InvestigateFurther {
                what: format!("which regions remain on store {} and their operators", s.id),
            },
            rationale: "capacity is sufficient, so a specific region or operator is stuck".into(),
            confidence: 0.5,
            would_change: "region count decreasing".into(),
        })
    }
}

fn rule_blind(ev: &Ev<'_>, cfg: &RulesConfig) -> Option<Out> {
    let what = if normalize_invariant(&ev.brief.invariant) == "prometheus_unreachable" {
        "Prometheus"
    } else {
        "PD"
    };
    let needle = what.to_ascii_lowercase();
    let mut evidence = vec![];
    let lines = ev.logs_matching(NET_WORDS);
    for l in lines.iter().take(2) {
        evidence.push(cite(
            format!("{what} connection failures"),
            CitationRef::Log {
                line: l.to_string(),
            },
        ));
    }
    let died: Vec<(String, String)> = ev
        .events
        .iter()
        .filter(|(src, _, w)| {
            let wl = w.to_ascii_lowercase();
            (wl.contains(&needle) || src.to_ascii_lowercase().starts_with(&needle))
                && DIE_WORDS.iter().any(|d| wl.contains(d))
        })
        .map(|(src, _, w)| {
            let named = w
                .split_whitespace()
                .find(|t| t.to_ascii_lowercase().contains(&needle))
                .unwrap_or("")
                .trim_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')
                .to_string();
            let member = if named.is_empty() && src.to_ascii_lowercase().starts_with(&needle) {
                src.clone()
            } else {
                named
            };
            (w.clone(), member)
        })
        .collect();
    let (action, root) = if let Some((w, member)) = died.first() {
        evidence.push(cite(
            format!("the {what} container stopped"),
            CitationRef::Event { what: w.clone() },
        ));
        (
            if cfg.allow_restart && !member.is_empty() {
                ActionKind::RestartContainer {
                    member: member.clone(),
                }
            } else {
                ActionKind::InvestigateFurther {
                    what: format!("{what} container state"),
                }
            },
            format!("the operator is blind: {what} is unreachable because its container stopped"),
        )
    } else {
        (
            ActionKind::InvestigateFurther {
                what: format!("connectivity from the operator to {what}"),
            },
            format!("the operator is blind: {what} is unreachable"),
        )
    };
    Some(Out {
        observation: format!(
            "{what} did not answer the operator's probes ({} failure line(s))",
            lines.len()
        ),
        root_cause: root,
        evidence,
        options: vec![opt(
            "cluster data loss",
            format!(
                "{what} being unreachable says nothing about the data; observation is what is lost"
            ),
        )],
        action,
        rationale: format!("nothing else can be diagnosed reliably until {what} answers again"),
        confidence: 0.6,
        would_change: format!("{what} answering from another network location"),
    })
}

fn rule_imbalance(ev: &Ev<'_>, _cfg: &RulesConfig) -> Option<Out> {
    let leader = normalize_invariant(&ev.brief.invariant) == "leader_imbalance";
    let scheds: Vec<String> = ev
        .state
        .get("schedulers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let wanted = if leader {
        "balance-leader-scheduler"
    } else {
        "balance-region-scheduler"
    };
    let counts: Vec<(u64, u64)> = ev
        .stores
        .iter()
        .filter_map(|s| {
            Some((
                s.id,
                if leader {
                    s.leader_count?
                } else {
                    s.region_count?
                },
            ))
        })
        .collect();
    let max = counts.iter().max_by_key(|c| c.1).copied();
    let min = counts.iter().min_by_key(|c| c.1).copied();
    let mut evidence = vec![];
    if let (Some(mx), Some(mn)) = (max, min) {
        evidence.push(cite(
            format!(
                "store {} has {} {}",
                mx.0,
                mx.1,
                if leader { "leaders" } else { "regions" }
            ),
            CitationRef::PdState {
                path: format!("stores.{}", mx.0),
            },
        ));
        evidence.push(cite(
            format!("store {} has {}", mn.0, mn.1),
            CitationRef::PdState {
                path: format!("stores.{}", mn.0),
            },
        ));
    }
    if !ev
        .state
        .get("evict_leader_stores")
        .and_then(Value::as_array)
        .map(|a| a.is_empty())
        .unwrap_or(true)
        && leader
    {
        return rule_evict_left(ev, _cfg);
    }
    if ev.state.get("schedulers").is_some() && !scheds.iter().any(|s| s == wanted) {
        evidence.push(cite(
            format!("{wanted} is not enabled"),
            CitationRef::PdState {
                path: "schedulers".into(),
            },
        ));
        return Some(Out {
            observation: format!(
                "{} imbalance; enabled schedulers: {}",
                if leader { "leader" } else { "region" },
                scheds.join(", ")
            ),
            root_cause: format!("{wanted} is not running, so PD does not balance"),
            evidence,
            options: vec![opt("slow store", "no latency signal in the evidence")],
            action: ActionKind::AddScheduler {
                name: wanted.into(),
            },
            rationale: format!("re-adding {wanted} lets PD rebalance"),
            confidence: 0.8,
            would_change: "the scheduler being removed on purpose".into(),
        });
    }
    Some(Out {
        observation: format!(
            "{} imbalance between stores",
            if leader { "leader" } else { "region" }
        ),
        root_cause: "PD is still balancing (balance schedulers are enabled)".into(),
        evidence,
        options: vec![opt("missing scheduler", format!("{wanted} is enabled"))],
        action: ActionKind::WaitAndWatch { minutes: 10 },
        rationale: "balancing is in progress; intervene only if it does not converge".into(),
        confidence: 0.5,
        would_change: "the imbalance not shrinking over 10 minutes".into(),
    })
}

/// The catalog category of a template's answer (to be replaced by the differential
/// engine, which derives the category from hypotheses rather than from the template).
fn interim_cause(invariant: &str, o: &Out, target: &str) -> crate::diagnose::model::Cause {
    use crate::diagnose::model::Cause;
    let category = match (invariant, o.action.name()) {
        ("store_down" | "region_peers_unhealthy", "restart-container") => "process-exit",
        ("store_down" | "region_peers_unhealthy", _) => "network-partition",
        ("disk_pressure", _) => "disk-full",
        ("hot_store", _) | (_, "split-region") | (_, "transfer-leader") => "hot-region",
        ("pd_member_unhealthy" | "pd_no_leader", _) => "pd-leader-loss",
        ("evict_leader_left_behind", _) => "leftover-scheduler",
        ("store_stuck_offline", _) => "store-stuck-offline",
        ("leader_imbalance" | "region_imbalance", _) => "leader-imbalance",
        (_, "evict-leader") => "disk-slow",
        _ => crate::diagnose::catalog::UNKNOWN_CATEGORY,
    };
    Cause::new(category, target)
}

/// Diagnoses the brief's evidence with the rule for its invariant.
///
/// # Guarantees
/// Deterministic: the same evidence gives the same output. Every citation is taken
/// verbatim from the evidence. Never recommends anything outside [`ActionKind`].
pub fn diagnose_evidence(
    brief: &crate::diagnose::model::TicketBrief,
    cfg: &RulesConfig,
) -> Result<DiagnosisOutput, BackendError> {
    let ev = Ev::new(brief);
    let invariant = normalize_invariant(&brief.invariant);
    let out = match invariant.as_str() {
        "store_down" => rule_store_down(&ev, cfg),
        "disk_pressure" => rule_disk_pressure(&ev, cfg),
        "hot_store" => rule_hot(&ev, cfg),
        "raft_io_slow"
        | "slow_score_high"
        | "slow_store"
        | "raft_append_p99_high"
        | "raft_apply_p99_high" => rule_slow(&ev, cfg),
        "grpc_p99_high" => rule_slow(&ev, cfg).or_else(|| rule_hot(&ev, cfg)),
        "latency_p99_high" => rule_slow(&ev, cfg).or_else(|| rule_hot(&ev, cfg)),
        "pd_member_unhealthy" | "pd_no_leader" => rule_pd(&ev, cfg),
        "evict_leader_left_behind" => rule_evict_left(&ev, cfg),
        "store_stuck_offline" => rule_offline(&ev, cfg),
        "pd_unreachable" | "prometheus_unreachable" => rule_blind(&ev, cfg),
        "leader_imbalance" | "region_imbalance" => rule_imbalance(&ev, cfg),
        "region_peers_unhealthy" => {
            if ev
                .stores
                .iter()
                .any(|s| s.state == "Disconnected" || s.state == "Down")
            {
                rule_store_down(&ev, cfg)
            } else {
                None
            }
        }
        _ => None,
    }
    .or_else(|| {
        // Unknown invariant or rule did not fire: try the strongest signals in order.
        rule_slow(&ev, cfg)
    });
    match out {
        Some(o) => {
            let cause = interim_cause(&invariant, &o, &brief.target);
            let mut d = o.finish(&brief.summary);
            d.cause = cause;
            Ok(d)
        }
        None => Ok(Out {
            observation: brief.summary.clone(),
            root_cause: format!(
                "no rule explains {} on {} from the evidence",
                brief.invariant, brief.target
            ),
            evidence: vec![],
            options: vec![],
            action: ActionKind::InvestigateFurther {
                what: format!("{} on {}", brief.invariant, brief.target),
            },
            rationale: "the rules engine found no matching pattern".into(),
            confidence: 0.2,
            would_change: "more evidence".into(),
        }
        .finish(&brief.summary)),
    }
}

#[async_trait]
impl DiagnosisBackend for RulesBackend {
    fn name(&self) -> &str {
        "rules"
    }

    async fn diagnose(&self, prompt: &PreparedPrompt) -> Result<RawDiagnosis, BackendError> {
        let out = diagnose_evidence(&prompt.ticket, &self.cfg)?;
        Ok(RawDiagnosis {
            json_text: serde_json::to_string(&out)
                .map_err(|e| BackendError::MalformedResponse(e.to_string()))?,
            model: RULES_MODEL.into(),
            usage: Usage::default(),
            request_id: None,
        })
    }
}
