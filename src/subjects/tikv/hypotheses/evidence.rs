//! The ticket's evidence as the TiKV reasoner reads it.
//!
//! # Evidence shape
//!
//! `{observed_at, metrics: [{series, value, at}], state: <PD view JSON>, logs: [{source,
//! at, line}], events: [{source, at, what}]}`. `state` is read in either the operator's
//! `PdView` shape (`stores[].{id, address, state, available_bytes, …}`, `members`,
//! `leader`, `evict_leader_stores`, `max_store_down_time_secs`), PD's wire shape
//! (`stores[].store.{id, address, state_name}` + `stores[].status`), or one store's record
//! (a ticket about one store). Metric series are Prometheus-style `name{label="v",…}`; a
//! store is found by a `store`/`store_id` label or by its `instance` host.
//!
//! When the ticket's state describes one store only, the peers come from the latest
//! snapshot's PD view (the `pd_state` context section): a comparison with peers needs
//! them. Citations are only ever made of the ticket's own evidence, which is always sent.

use crate::diagnose::backend::rules::RulesConfig;
use crate::diagnose::model::{Citation, CitationRef, OptionConsidered};
use crate::subjects::tikv::actions::TikvTarget;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct Metric {
    pub(crate) series: String,
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct StoreInfo {
    pub(crate) id: u64,
    pub(crate) address: String,
    pub(crate) status_address: String,
    pub(crate) state: String,
    pub(crate) available: Option<f64>,
    pub(crate) capacity: Option<f64>,
    pub(crate) leader_count: Option<u64>,
    pub(crate) region_count: Option<u64>,
    pub(crate) last_heartbeat_nanos: Option<i64>,
    pub(crate) state_path: String,
}

impl StoreInfo {
    pub(crate) fn member(&self) -> String {
        host(&self.address)
    }

    /// Path of the store's whole record in the state (`state` when the state is the
    /// record itself).
    pub(crate) fn record_path(&self) -> String {
        if self.state_path == "state" {
            "state".to_string()
        } else {
            format!("stores.{}", self.id)
        }
    }
}

pub(crate) fn host(addr: &str) -> String {
    let a = addr
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    a.split(':').next().unwrap_or(a).to_string()
}

pub(crate) fn parse_series(series: &str) -> (String, BTreeMap<String, String>) {
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

pub(crate) fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

pub(crate) struct Ev<'a> {
    pub(crate) brief: &'a crate::diagnose::model::TicketBrief,
    pub(crate) metrics: Vec<Metric>,
    pub(crate) logs: Vec<(String, String)>,
    pub(crate) events: Vec<(String, String, String)>,
    pub(crate) state: Value,
    pub(crate) stores: Vec<StoreInfo>,
    /// PD's view: the ticket's state when it describes the cluster, else the snapshot's.
    pub(crate) pd: Value,
    /// The store the decided cause is located on, when it is not the ticket's target.
    pub(crate) focus: Option<u64>,
    /// The differential decided the store's process exited (with this exit code, if
    /// known) from facts beyond the ticket's events (the container's state).
    pub(crate) decided_exit: Option<Option<i64>>,
}

impl<'a> Ev<'a> {
    /// The ticket's evidence alone.
    pub(crate) fn new(brief: &'a crate::diagnose::model::TicketBrief) -> Self {
        Self::with_sections(brief, &[])
    }

    /// The ticket's evidence, with PD's view from the snapshot's `pd_state` section when
    /// the ticket's own state does not describe the whole cluster.
    pub(crate) fn with_sections(
        brief: &'a crate::diagnose::model::TicketBrief,
        sections: &[crate::diagnose::model::ContextSection],
    ) -> Self {
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
        let mut stores = parse_stores(&state);
        let whole = state.get("members").is_some() || state.get("stores").is_some();
        let snapshot = sections
            .iter()
            .find(|s| s.name == "pd_state")
            .and_then(|s| serde_json::from_str::<Value>(&s.content).ok());
        let pd = match snapshot {
            Some(snap) if !whole => {
                for s in parse_stores(&snap) {
                    if !stores.iter().any(|x| x.id == s.id) {
                        stores.push(s);
                    }
                }
                snap
            }
            _ => state.clone(),
        };
        Self {
            brief,
            metrics,
            logs,
            events,
            state,
            pd,
            stores,
            focus: None,
            decided_exit: None,
        }
    }

    pub(crate) fn observed_at(&self) -> Option<time::OffsetDateTime> {
        self.brief
            .evidence
            .get("observed_at")
            .and_then(Value::as_str)
            .and_then(parse_time)
            .or_else(|| parse_time(&self.brief.last_seen))
    }

    pub(crate) fn target_store(&self) -> Option<u64> {
        if self.focus.is_some() {
            return self.focus;
        }
        match TikvTarget::parse(&self.brief.target) {
            TikvTarget::Store(id) => Some(id),
            TikvTarget::Member(m) => self
                .stores
                .iter()
                .find(|s| {
                    let h = s.member();
                    h == m || h.ends_with(&format!("-{m}"))
                })
                .map(|s| s.id),
            TikvTarget::Other(_) => None,
        }
    }

    pub(crate) fn target_member(&self) -> Option<String> {
        match TikvTarget::parse(&self.brief.target) {
            TikvTarget::Member(m) => Some(m),
            _ => None,
        }
    }

    pub(crate) fn store(&self, id: u64) -> Option<&StoreInfo> {
        self.stores.iter().find(|s| s.id == id)
    }

    /// The store a metric belongs to.
    pub(crate) fn metric_store(&self, m: &Metric) -> Option<u64> {
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
    pub(crate) fn metrics_named(&self, pred: impl Fn(&Metric) -> bool) -> Vec<(u64, &Metric)> {
        self.metrics
            .iter()
            .filter(|m| pred(m))
            .enumerate()
            .map(|(i, m)| (self.metric_store(m).unwrap_or(UNKNOWN_STORE - i as u64), m))
            .collect()
    }

    pub(crate) fn logs_matching(&self, needles: &[&str]) -> Vec<&str> {
        self.logs
            .iter()
            .filter(|(_, l)| {
                let ll = l.to_ascii_lowercase();
                needles.iter().any(|n| ll.contains(n))
            })
            .map(|(_, l)| l.as_str())
            .collect()
    }

    pub(crate) fn events_about(&self, who: &str, needles: &[&str]) -> Vec<&str> {
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

    pub(crate) fn max_store_down_time(&self, cfg: &RulesConfig) -> Duration {
        self.pd
            .get("max_store_down_time_secs")
            .and_then(Value::as_u64)
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .unwrap_or(cfg.max_store_down_time)
    }
}

/// Placeholder store keys count down from here (see [`Ev::metrics_named`]).
pub(crate) const UNKNOWN_STORE: u64 = u64::MAX;

/// Whether a key from [`Ev::metrics_named`] is a real store id.
pub(crate) fn known_store(id: u64) -> bool {
    id < UNKNOWN_STORE - 1_000_000
}

/// `store 4`, or the metric's instance for a store the evidence does not describe.
pub(crate) fn store_label(id: u64, m: &Metric) -> String {
    if known_store(id) {
        format!("store {id}")
    } else {
        m.labels
            .get("instance")
            .map(|i| format!("instance {i}"))
            .unwrap_or_else(|| "another store".into())
    }
}

pub(crate) fn parse_size(v: &Value) -> Option<f64> {
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

pub(crate) fn parse_stores(state: &Value) -> Vec<StoreInfo> {
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

pub(crate) fn cite(claim: impl Into<String>, source: CitationRef) -> Citation {
    Citation {
        claim: claim.into(),
        source,
    }
}

pub(crate) fn metric_cite(m: &Metric, claim: impl Into<String>) -> Citation {
    cite(
        claim,
        CitationRef::Metric {
            series: m.series.clone(),
            value: m.value,
        },
    )
}

pub(crate) fn opt(option: &str, why_not: impl Into<String>) -> OptionConsidered {
    OptionConsidered {
        option: option.into(),
        why_not: why_not.into(),
    }
}

pub(crate) fn gib(b: f64) -> String {
    format!("{:.1} GiB", b / 1024f64.powi(3))
}

pub(crate) fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}
