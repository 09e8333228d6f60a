//! The facts the TiKV hypotheses are weighed against: the ticket's evidence merged with
//! the latest snapshot (PD's view, containers, status probes, per-store metrics, Docker
//! events, log lines), one record per store and one for PD.
//!
//! Metric values are classified into [`Signal`]s by the reference's metric names
//! (`append_log`, `commit_log`, `thread_cpu`, `slow_score`, …), so the predicates compare
//! the same signal across stores whatever spelling a source used (a PromQL expression, a
//! series name, a snapshot field).

use super::evidence::{host, Ev};
use crate::diagnose::model::ContextSection;
use crate::subjects::tikv::actions::TikvTarget;
use serde_json::Value;
use std::collections::BTreeMap;

/// What a metric measures, as far as the hypotheses care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Signal {
    /// Raft log append (fsync) latency: the disk's write path.
    Append,
    /// Raft log commit latency: waits on the peers (network and their disks).
    Commit,
    /// Raft apply latency.
    Apply,
    /// Raft propose / message wait: queueing before the peers answer.
    ProposeWait,
    /// Scheduler latch / read-pool wait: queueing for CPU.
    QueueWait,
    /// Thread CPU.
    Cpu,
    /// Resident memory.
    Memory,
    /// gRPC (client-facing) latency.
    Grpc,
    /// Requests per second.
    Load,
    /// The store's share of the cluster's requests.
    LoadShare,
    /// TiKV's slow score (1..100).
    SlowScore,
}

impl Signal {
    /// The signal a metric name measures.
    pub(crate) fn of(name: &str) -> Option<Self> {
        let n = name.to_ascii_lowercase();
        let has = |w: &str| n.contains(w);
        Some(if has("slow_score") {
            Self::SlowScore
        } else if has("share") {
            Self::LoadShare
        } else if has("cpu") {
            Self::Cpu
        } else if has("memory") || has("resident") {
            Self::Memory
        } else if has("append") || has("fsync") || has("raft_io") || has("write_raft") {
            Self::Append
        } else if has("commit_log") || has("commit_p99") {
            Self::Commit
        } else if has("apply") {
            Self::Apply
        } else if has("propose") || has("raft_message") || has("network") {
            Self::ProposeWait
        } else if has("latch") || has("read_pool") || has("readpool") || has("sched") {
            Self::QueueWait
        } else if has("qps")
            || has("query")
            || has("grpc_msg_duration_seconds_count")
            || has("flow")
            || has("hot")
        {
            Self::Load
        } else if has("grpc") || has("p99") || has("duration") || has("latency") {
            Self::Grpc
        } else {
            return None;
        })
    }
}

/// One store.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StoreFacts {
    pub(crate) id: u64,
    /// Member name (`tikv-1`), when known.
    pub(crate) member: String,
    /// PD's state name (`Up`, `Disconnected`, …), empty when PD's view lacks it.
    pub(crate) state: String,
    pub(crate) leaders: Option<f64>,
    pub(crate) regions: Option<f64>,
    pub(crate) available: Option<f64>,
    pub(crate) capacity: Option<f64>,
    /// Metric values by signal (the largest when several series measure it).
    pub(crate) signals: BTreeMap<Signal, f64>,
    /// Container status (`running`, `exited`, …), when observed.
    pub(crate) container: Option<String>,
    pub(crate) exit_code: Option<i64>,
    pub(crate) oom_killed: bool,
    /// Status-port probe answered.
    pub(crate) probe_ok: Option<bool>,
    /// Docker events: deaths, OOM events, starts.
    pub(crate) deaths: usize,
    pub(crate) oom_events: usize,
    pub(crate) starts: usize,
    /// Log lines of the store's own process about PD heartbeats failing.
    pub(crate) own_heartbeat_failures: usize,
    /// Connection failures naming the store (its own or its peers' logs).
    pub(crate) connection_failures: usize,
    /// Slow-write lines of the store.
    pub(crate) slow_writes: usize,
    /// Out-of-memory lines.
    pub(crate) oom_logs: usize,
}

impl StoreFacts {
    /// `store 4 (tikv-1)`: one name per entity.
    pub(crate) fn name(&self) -> String {
        if self.member.is_empty() {
            format!("store {}", self.id)
        } else {
            format!("store {} ({})", self.id, self.member)
        }
    }

    pub(crate) fn target(&self) -> String {
        format!("store/{}", self.id)
    }

    /// PD no longer hears from it.
    pub(crate) fn pd_lost_it(&self) -> bool {
        matches!(self.state.as_str(), "Disconnected" | "Down")
    }

    pub(crate) fn running(&self) -> Option<bool> {
        self.container.as_deref().map(|c| c == "running")
    }

    pub(crate) fn exited(&self) -> bool {
        matches!(
            self.container.as_deref(),
            Some("exited" | "dead" | "missing")
        )
    }

    pub(crate) fn used_ratio(&self) -> Option<f64> {
        match (self.available, self.capacity) {
            (Some(a), Some(c)) if c > 0.0 => Some(1.0 - a / c),
            _ => None,
        }
    }
}

/// PD.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PdFacts {
    /// `(name, healthy)`.
    pub(crate) members: Vec<(String, Option<bool>)>,
    pub(crate) leader: Option<String>,
    /// Whether the leader field was observed at all.
    pub(crate) leader_known: bool,
    /// PD containers: `(member, status)`.
    pub(crate) containers: Vec<(String, String)>,
    /// PD members whose container died (events).
    pub(crate) deaths: Vec<String>,
    /// Election / leadership log lines.
    pub(crate) election_lines: usize,
    /// The operator could not reach PD.
    pub(crate) unreachable: bool,
    pub(crate) schedulers: Option<Vec<String>>,
    pub(crate) evict_leader_stores: Vec<u64>,
    pub(crate) max_replicas: u64,
    /// `(region, store)` of regions listed hot.
    pub(crate) hot_regions: Vec<(u64, u64)>,
}

impl PdFacts {
    pub(crate) fn healthy(&self) -> Option<(usize, usize)> {
        let known: Vec<bool> = self.members.iter().filter_map(|m| m.1).collect();
        if known.is_empty() {
            return None;
        }
        Some((known.iter().filter(|h| **h).count(), self.members.len()))
    }
}

/// Another ticket of the same moment (the `related_tickets` section).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Related {
    pub(crate) id: u64,
    /// Normalized invariant (`store_down`).
    pub(crate) invariant: String,
    pub(crate) target: String,
    pub(crate) summary: String,
    /// First seen within the grouping window of the ticket diagnosed.
    pub(crate) together: bool,
}

/// Everything the hypotheses see.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Facts {
    pub(crate) stores: Vec<StoreFacts>,
    pub(crate) pd: PdFacts,
    /// The tickets around this one.
    pub(crate) related: Vec<Related>,
    /// Stores the operator is restarting or upgrading as planned.
    pub(crate) planned: Vec<u64>,
    /// The store the ticket is about, if any.
    pub(crate) target_store: Option<u64>,
    /// The ticket is about PD or one of its members.
    pub(crate) target_pd: bool,
}

impl Facts {
    pub(crate) fn store(&self, id: u64) -> Option<&StoreFacts> {
        self.stores.iter().find(|s| s.id == id)
    }

    /// The other stores' values of `signal`.
    pub(crate) fn peers(&self, id: u64, signal: Signal) -> Vec<f64> {
        self.stores
            .iter()
            .filter(|s| s.id != id)
            .filter_map(|s| s.signals.get(&signal).copied())
            .collect()
    }

    /// A store's value of `signal` over its peers' median (None without both).
    pub(crate) fn ratio(&self, id: u64, signal: Signal) -> Option<(f64, f64, f64)> {
        let v = *self.store(id)?.signals.get(&signal)?;
        let mut p = self.peers(id, signal);
        if p.is_empty() {
            return None;
        }
        p.sort_by(f64::total_cmp);
        let med = p[p.len() / 2];
        let r = if med > 0.0 {
            v / med
        } else if v > 0.0 {
            f64::INFINITY
        } else {
            1.0
        };
        Some((r, v, med))
    }

    fn store_mut(&mut self, id: u64) -> &mut StoreFacts {
        if let Some(i) = self.stores.iter().position(|s| s.id == id) {
            return &mut self.stores[i];
        }
        self.stores.push(StoreFacts {
            id,
            ..Default::default()
        });
        self.stores.last_mut().expect("just pushed")
    }

    /// The store a container or member name belongs to.
    pub(crate) fn store_of_name(&self, name: &str) -> Option<u64> {
        if name.is_empty() {
            return None;
        }
        self.stores
            .iter()
            .find(|s| {
                !s.member.is_empty()
                    && (s.member == name
                        || name.ends_with(&format!("-{}", s.member))
                        || s.member.ends_with(&format!("-{name}")))
            })
            .map(|s| s.id)
    }
}

fn parse_json(facts: &[ContextSection], name: &str) -> Option<Value> {
    facts
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| serde_json::from_str(&s.content).ok())
}

const HEARTBEAT_OWN: &[&str] = &["store heartbeat failed", "failed to send heartbeat"];
const CONNECTION: &[&str] = &[
    "connection aborted",
    "connection abort",
    "wait connect timeout",
    "connection refused",
    "no route to host",
    "i/o timeout",
    "store maybe disconnected",
];
const ELECTION: &[&str] = &[
    "campaign",
    "leader has changed",
    "lease has expired",
    "resigns pd leadership",
    "leader is ready",
    "member joining election",
];

fn any_of(text: &str, words: &[&str]) -> bool {
    let t = text.to_ascii_lowercase();
    words.iter().any(|w| t.contains(w))
}

/// Builds the facts from the ticket's evidence and the context sections.
pub(crate) fn gather(ev: &Ev<'_>, sections: &[ContextSection]) -> Facts {
    let mut f = Facts::default();
    let snap_pd = parse_json(sections, "pd_state");
    // Stores: the ticket's evidence first, then PD's view in the snapshot.
    for s in &ev.stores {
        let st = f.store_mut(s.id);
        st.member = s.member();
        st.state = s.state.clone();
        st.leaders = s.leader_count.map(|v| v as f64);
        st.regions = s.region_count.map(|v| v as f64);
        st.available = s.available;
        st.capacity = s.capacity;
    }
    if let Some(stores) = snap_pd
        .as_ref()
        .and_then(|p| p.get("stores"))
        .and_then(Value::as_array)
    {
        for s in stores {
            let Some(id) = s.get("id").and_then(Value::as_u64) else {
                continue;
            };
            let known = f.store(id).is_some_and(|x| !x.state.is_empty());
            let st = f.store_mut(id);
            if st.member.is_empty() {
                st.member = host(s.get("address").and_then(Value::as_str).unwrap_or(""));
            }
            if !known {
                st.state = s
                    .get("state")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                st.leaders = s.get("leader_count").and_then(Value::as_f64);
                st.regions = s.get("region_count").and_then(Value::as_f64);
                st.available = s.get("available_bytes").and_then(Value::as_f64);
                st.capacity = s.get("capacity_bytes").and_then(Value::as_f64);
            }
            if let Some(v) = s.get("slow_score").and_then(Value::as_f64) {
                st.signals.entry(Signal::SlowScore).or_insert(v);
            }
        }
    }
    // Containers are named `<cluster>-tikv-1`; members `tikv-1`.
    if let Some(cs) = parse_json(sections, "containers").and_then(|v| v.as_array().cloned()) {
        for c in cs {
            let member = c.get("member").and_then(Value::as_str).unwrap_or("");
            let status = c.get("status").and_then(Value::as_str).unwrap_or("");
            if c.get("component").and_then(Value::as_str) == Some("pd") {
                f.pd.containers
                    .push((member.to_string(), status.to_string()));
                continue;
            }
            if let Some(id) = f.store_of_name(member) {
                let st = f.store_mut(id);
                st.container = Some(status.to_string());
                st.exit_code = c.get("exit_code").and_then(Value::as_i64);
                st.oom_killed = c
                    .get("oom_killed")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            }
        }
    }
    if let Some(ps) = parse_json(sections, "status_probes").and_then(|v| v.as_array().cloned()) {
        for p in ps {
            if let (Some(id), Some(ok)) = (
                p.get("store_id").and_then(Value::as_u64),
                p.get("ok").and_then(Value::as_bool),
            ) {
                f.store_mut(id).probe_ok = Some(ok);
            }
        }
    }
    // Metrics: the snapshot's per-store sample, then the ticket's series.
    if let Some(ms) = parse_json(sections, "metrics")
        .and_then(|m| m.get("stores").and_then(Value::as_array).cloned())
    {
        for m in ms {
            let id = m.get("store_id").and_then(Value::as_u64).or_else(|| {
                let inst = host(m.get("instance").and_then(Value::as_str).unwrap_or(""));
                f.store_of_name(&inst)
            });
            let (Some(id), Some(obj)) = (id, m.as_object()) else {
                continue;
            };
            for (k, v) in obj {
                if let (Some(sig), Some(x)) = (Signal::of(k), v.as_f64()) {
                    let e = f.store_mut(id).signals.entry(sig).or_insert(x);
                    *e = e.max(x);
                }
            }
        }
    }
    for m in &ev.metrics {
        if m.name.starts_with("tikv_store_size_bytes") || m.name.starts_with("pd_cluster_status") {
            continue;
        }
        let Some(id) = ev.metric_store(m) else {
            continue;
        };
        // PromQL texts carry the metric name inside; classify on the whole series.
        if let Some(sig) = Signal::of(&m.name).or_else(|| Signal::of(&m.series)) {
            let e = f.store_mut(id).signals.entry(sig).or_insert(m.value);
            *e = e.max(m.value);
        }
    }
    // Events: the ticket's (text) and the snapshot's (structured).
    let mut events: Vec<(String, String)> = ev
        .events
        .iter()
        .map(|(src, _, what)| (src.clone(), what.clone()))
        .collect();
    if let Some(es) =
        parse_json(sections, "recent_docker_events").and_then(|v| v.as_array().cloned())
    {
        for e in es {
            let who = e
                .get("member")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .or_else(|| e.get("container").and_then(Value::as_str))
                .unwrap_or("")
                .to_string();
            let mut what = e
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some(c) = e.get("exit_code").and_then(Value::as_i64) {
                what.push_str(&format!(" exit_code={c}"));
            }
            if e.get("oom_killed").and_then(Value::as_bool) == Some(true) {
                what.push_str(" oom_killed=true");
            }
            if !events.contains(&(who.clone(), what.clone())) {
                events.push((who, what));
            }
        }
    }
    let names: Vec<(u64, String)> = f.stores.iter().map(|s| (s.id, s.member.clone())).collect();
    let pd_names: Vec<String> = ev
        .state
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            snap_pd
                .as_ref()
                .and_then(|p| p.get("members"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
        .filter_map(|m| m.get("name").and_then(Value::as_str).map(str::to_string))
        .chain(f.pd.containers.iter().map(|c| c.0.clone()))
        .collect();
    let mentions = |src: &str, what: &str, name: &str| {
        !name.is_empty()
            && (src == name
                || src.ends_with(&format!("-{name}"))
                || what
                    .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
                    .any(|w| w == name || w.ends_with(&format!("-{name}"))))
    };
    for (src, what) in &events {
        let w = what.to_ascii_lowercase();
        let died = ["die", "died", "exited", "kill", "stop"]
            .iter()
            .any(|d| w.contains(d));
        let oom = w.contains("oom_killed=true") || w.contains("oomkilled") || w.starts_with("oom");
        let started = w.starts_with("start") || w.contains(" start") || w.contains("running");
        if let Some((id, _)) = names.iter().find(|(_, n)| mentions(src, what, n)) {
            let st = f.store_mut(*id);
            if oom {
                st.oom_events += 1;
            }
            if died {
                st.deaths += 1;
                if let Some(c) = super::writeup::exit_code(what) {
                    st.exit_code.get_or_insert(c);
                }
            }
            if started {
                st.starts += 1;
            }
        } else if let Some(n) = pd_names.iter().find(|n| mentions(src, what, n)) {
            if died && !f.pd.deaths.contains(n) {
                f.pd.deaths.push(n.clone());
            }
        }
    }
    // Logs: the ticket's lines and the snapshot's.
    let mut logs: Vec<(String, String)> = ev.logs.clone();
    if let Some(ls) = parse_json(sections, "log_lines").and_then(|v| v.as_array().cloned()) {
        for l in ls {
            logs.push((
                l.get("container")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                l.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ));
        }
    }
    logs.sort();
    logs.dedup();
    for (src, line) in &logs {
        let own = names
            .iter()
            .find(|(_, n)| mentions(src, "", n))
            .map(|x| x.0);
        // A peer's line names the store it cannot reach (`addr=tikv-1:20160`, `store_id=4`).
        let about = names
            .iter()
            .find(|(id, n)| {
                line.contains(&format!("store_id={id}]"))
                    || line.contains(&format!("target-store-id={id}]"))
                    || (!n.is_empty() && line.contains(&format!("addr={n}:")))
            })
            .map(|x| x.0);
        if let Some(id) = own {
            let st = f.store_mut(id);
            if any_of(line, HEARTBEAT_OWN) {
                st.own_heartbeat_failures += 1;
            }
            if any_of(line, &["too slow", "slow-write"]) {
                st.slow_writes += 1;
            }
            if any_of(line, &["out of memory", "memory limit", "oom"]) {
                st.oom_logs += 1;
            }
        }
        if any_of(line, CONNECTION) {
            if let Some(id) = about.or(own) {
                f.store_mut(id).connection_failures += 1;
            }
        }
        if any_of(line, ELECTION) {
            f.pd.election_lines += 1;
        }
    }
    // PD.
    let pd_state = if ev.state.get("members").is_some() {
        Some(ev.state.clone())
    } else {
        snap_pd.clone()
    };
    if let Some(p) = &pd_state {
        f.pd.members = p
            .get("members")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| {
                Some((
                    m.get("name")?.as_str()?.to_string(),
                    m.get("healthy").and_then(Value::as_bool),
                ))
            })
            .collect();
        f.pd.leader_known = p.get("leader").is_some();
        f.pd.leader = p.get("leader").and_then(Value::as_str).map(str::to_string);
    }
    let sched_src = if ev.state.get("schedulers").is_some() {
        Some(&ev.state)
    } else {
        snap_pd.as_ref()
    };
    if let Some(p) = sched_src {
        f.pd.schedulers = p.get("schedulers").and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        });
        f.pd.evict_leader_stores = p
            .get("evict_leader_stores")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        f.pd.max_replicas = p.get("max_replicas").and_then(Value::as_u64).unwrap_or(3);
    } else {
        f.pd.max_replicas = 3;
    }
    let hot = ev
        .state
        .get("hot_regions")
        .or_else(|| snap_pd.as_ref().and_then(|p| p.get("hot_regions")));
    if let Some(hr) = hot.and_then(Value::as_array) {
        f.pd.hot_regions = hr
            .iter()
            .filter_map(|r| {
                Some((
                    r.get("region_id")?.as_u64()?,
                    r.get("store_id").and_then(Value::as_u64).unwrap_or(0),
                ))
            })
            .collect();
    }
    if let Some(rs) = parse_json(sections, "related_tickets").and_then(|v| v.as_array().cloned()) {
        let text = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        f.related = rs
            .iter()
            .filter_map(|r| {
                Some(Related {
                    id: r.get("id")?.as_u64()?,
                    invariant: crate::diagnose::model::normalize_invariant(&text(r, "invariant")),
                    target: text(r, "target"),
                    summary: text(r, "summary"),
                    together: r.get("together").and_then(Value::as_bool).unwrap_or(false),
                })
            })
            .collect();
    }
    f.planned = parse_json(sections, "operator_planned_work")
        .and_then(|v| v.as_array().cloned())
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    f.pd.unreachable = sections.iter().any(|s| s.name == "pd_error")
        || super::super::hypotheses::blind_ticket(ev.brief);
    f.target_store = ev
        .target_store()
        .or_else(|| match TikvTarget::parse(&ev.brief.target) {
            TikvTarget::Member(m) => f.store_of_name(&m),
            _ => None,
        });
    f.target_pd = matches!(TikvTarget::parse(&ev.brief.target), TikvTarget::Other(ref t) if t.starts_with("pd"))
        || matches!(TikvTarget::parse(&ev.brief.target), TikvTarget::Member(ref m) if m.starts_with("pd"));
    f
}
