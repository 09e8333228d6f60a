//! The write-up of a decided TiKV cause: what was seen, the facts cited verbatim from the
//! ticket's evidence, the recommended action and why. The cause itself is decided by the
//! differential ([`super::TikvReasoner`]); the writer is chosen by that decision's
//! category, never by the ticket's invariant.

use super::evidence::*;
use crate::diagnose::backend::rules::{RulesConfig, WriteUp};
use crate::diagnose::differential::Decision;
use crate::diagnose::model::{normalize_invariant, Citation, CitationRef, OptionConsidered};
use crate::subjects::tikv::actions::TikvAction;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) struct Out {
    observation: String,
    root_cause: String,
    evidence: Vec<Citation>,
    options: Vec<OptionConsidered>,
    action: TikvAction,
    rationale: String,
    would_change: String,
}

impl Out {
    fn into_write_up(self) -> WriteUp {
        WriteUp {
            observation: self.observation,
            root_cause: self.root_cause,
            evidence: self.evidence,
            options: self.options,
            action: self.action.into(),
            rationale: self.rationale,
            would_change: self.would_change,
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

pub(crate) fn exit_code(event: &str) -> Option<i64> {
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
    if let Some(s) = store.filter(|s| s.state != "Up") {
        evidence.push(cite(
            format!("PD shows store {id} as {}", s.state),
            CitationRef::State {
                kind: "pd_state".into(),
                path: s.state_path.clone(),
            },
        ));
    } else {
        evidence.push(cite(
            format!("the ticket targets store {id}"),
            CitationRef::Entity {
                kind: "store".into(),
                id,
            },
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
    let exit_fact = died
        .first()
        .map(|d| (Some(d.to_string()), exit_code(d)))
        .or(ev.decided_exit.map(|c| (None, c)));
    if let Some((event, code)) = exit_fact {
        if let Some(d) = event {
            evidence.push(cite(
                format!("container {member} stopped"),
                CitationRef::Event { what: d },
            ));
        }
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
                TikvAction::RestartContainer {
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
                TikvAction::WaitAndWatch { minutes: ((max_down - down_for).as_secs() / 60).max(1) as u32 },
                format!("restarts are not allowed by policy; PD replaces the store's replicas once it has been down for max-store-down-time ({max_min} min), about {} min from now", (max_down - down_for).as_secs() / 60),
            )
        } else {
            (
                TikvAction::WaitAndWatch { minutes: 10 },
                format!("restarts are not allowed by policy and the store has been down past max-store-down-time ({max_min} min): PD is re-replicating; watch region health"),
            )
        };
        return Some(Out {
            observation: format!("store {id} ({member}) is {state}; its container stopped{}; {} heartbeat failure line(s) logged", code.map(|c| format!(" with exit code {c}")).unwrap_or_default(), hb.len()),
            root_cause: format!("store {id} ({member}) is down: its container exited{}", code.map(|c| format!(" (exit code {c})")).unwrap_or_default()),
            evidence,
            options,
            action,
            rationale,
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
            root_cause: format!("store {id} ({member}) is unreachable while its container runs: a network partition (or a hung process)"),
            evidence,
            options,
            action: TikvAction::InvestigateFurther { what: format!("network path between {member} and PD / the other stores") },
            rationale: "restarting a running process does not heal a partition; find the broken link first".into(),
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
        action: TikvAction::InvestigateFurther {
            what: format!("container state and logs of {member}"),
        },
        rationale: "without a container event or log lines the cause cannot be told apart".into(),
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
                            CitationRef::State {
                                kind: "pd_state".into(),
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
            TikvAction::ScaleOut { component: "tikv".into(), count: 1 },
            format!("store {target} is past the low-space ratio ({:.0}%) and the other stores have little headroom, so PD cannot move regions off it: add a TiKV store", cfg.low_space_ratio * 100.0),
            vec![opt("rebalance regions away", if others == 0 { "no other store's usage is in the evidence to move regions to".to_string() } else { format!("{others_high} of the {others} other stores are also near the low-space ratio") }), opt("delete data", "the operator does not own the data")],
        )
    } else {
        (
            TikvAction::SetStoreWeight { store_id: target, leader: 1.0, region: 0.5 },
            format!("only store {target} is filling up while the other stores have room: halving its region weight makes PD move regions onto them before it runs out; then find what fills it (compaction backlog, snapshots, region size skew)"),
            vec![opt("scale out", "the other stores still have headroom"), opt("wait for PD's balancer alone", "the store is already near the low-space ratio and still filling"), opt("investigate first", "the store may run out before the cause is found; moving regions off is safe and reversible")],
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
        return hot_from_pd(ev);
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
    if let Some(hr) = ev.pd.get("hot_regions").and_then(Value::as_array) {
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
                        CitationRef::State {
                            kind: "pd_state".into(),
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
                TikvAction::SplitRegion { region_id: rid },
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
                TikvAction::TransferLeader {
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
            TikvAction::InvestigateFurther {
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
        would_change: "the load spreading out on its own (a short burst)".into(),
    })
}

/// The hot-region write-up when the ticket carries no request-rate series (a busy-CPU
/// outlier opened before the store's request share was measured): PD's own hot list
/// names the regions whose leaders the store holds, which is what an operator reads
/// next (`GET /pd/api/v1/hotspot/regions/{read,write}`).
fn hot_from_pd(ev: &Ev<'_>) -> Option<Out> {
    let store = ev.target_store()?;
    let listed = ev.pd.get("hot_regions").and_then(Value::as_array)?;
    // Region id → (its busiest flow's queries/s, the first index PD lists it at).
    let mut regions: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
    for (i, r) in listed.iter().enumerate() {
        if r.get("store_id").and_then(Value::as_u64) != Some(store) {
            continue;
        }
        let Some(id) = r.get("region_id").and_then(Value::as_u64) else {
            continue;
        };
        let qps = r.get("qps").and_then(Value::as_f64).unwrap_or(0.0);
        let e = regions.entry(id).or_insert((qps, i));
        e.0 = e.0.max(qps);
    }
    let mut regions: Vec<(u64, f64, usize)> =
        regions.into_iter().map(|(id, (q, i))| (id, q, i)).collect();
    regions.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let (rid, rq, ri) = *regions.first()?;
    let listed_total: f64 = regions.iter().map(|r| r.1).sum();
    let share = if listed_total > 0.0 {
        rq / listed_total
    } else {
        1.0
    };
    let mut evidence = vec![cite(
        format!("PD lists region {rid} hot on store {store}, its leader ({rq:.0} queries/s)"),
        CitationRef::State {
            kind: "pd_state".into(),
            path: format!("hot_regions.{ri}"),
        },
    )];
    for (id, q, i) in regions.iter().skip(1).take(2) {
        evidence.push(cite(
            format!("PD lists region {id} hot on store {store} ({q:.0} queries/s)"),
            CitationRef::State {
                kind: "pd_state".into(),
                path: format!("hot_regions.{i}"),
            },
        ));
    }
    let others: Vec<String> = regions
        .iter()
        .skip(1)
        .map(|r| format!("region {}", r.0))
        .collect();
    let mut options = vec![opt(
        "a CPU problem of the store's own",
        format!("store {store} holds the leader of a region PD lists hot: its threads are busy serving it"),
    )];
    let (action, root, rationale) = if share >= 0.6 {
        options.push(opt(
            "transfer the leader",
            format!("region {rid} carries {:.0}% of the hot flow PD lists on store {store}: moving it moves the hotspot", share * 100.0),
        ));
        (
            TikvAction::SplitRegion { region_id: rid },
            format!("region {rid} is a hotspot on store {store}"),
            "one region carries most of the hot flow; splitting it lets PD spread the halves"
                .to_string(),
        )
    } else {
        options.push(opt(
            "transfer one leader",
            format!("the hot flow is spread over region {rid} and {}: moving one leader moves only part of it", others.join(", ")),
        ));
        (
            TikvAction::SplitRegion { region_id: rid },
            format!("hot regions concentrate on store {store}; region {rid} is the hottest"),
            format!("splitting the hottest region, {rid}, lets PD's hot-region scheduler spread its halves over the stores"),
        )
    };
    Some(Out {
        observation: format!(
            "PD lists {} hot region(s) led by store {store}",
            regions.len()
        ),
        root_cause: root,
        evidence,
        options,
        action,
        rationale,
        would_change: format!(
            "region {rid} dropping off PD's hot list while store {store} stays busy (then the CPU is the store's own)"
        ),
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
        format!(
            "store {store} is {} the median of the others",
            times(factor)
        ),
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
        observation: format!("raft IO on store {store} is {} slower than on the other stores", times(factor)),
        root_cause: format!("store {store} has a slow disk: raft log latency is high on it alone"),
        evidence,
        options: vec![
            opt("cluster-wide overload", "the other stores' latencies are normal"),
            opt("hot region", "a hotspot raises QPS and CPU, not raft fsync latency on one store alone"),
        ],
        action: TikvAction::EvictLeader { store_id: store },
        rationale: format!("moving leaders off store {store} takes it out of the read/write path while the disk is investigated"),
        would_change: format!("store {store} latency dropping back with no change (a transient burst)"),
    })
}

fn members(ev: &Ev<'_>) -> Vec<(String, Option<bool>, usize)> {
    ev.pd
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

fn rule_pd(ev: &Ev<'_>, cfg: &RulesConfig, quorum_lost: bool) -> Option<Out> {
    let ms = members(ev);
    let n = ms.len();
    let unhealthy: Vec<&(String, Option<bool>, usize)> =
        ms.iter().filter(|m| m.1 == Some(false)).collect();
    let healthy = n - unhealthy.len();
    let leader = ev.pd.get("leader").and_then(Value::as_str);
    let target = ev
        .target_member()
        .or_else(|| unhealthy.first().map(|m| m.0.clone()))?;
    let mut evidence = vec![];
    for m in &unhealthy {
        evidence.push(cite(
            format!("PD member {} is unhealthy", m.0),
            CitationRef::State {
                kind: "pd_state".into(),
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
        TikvAction::RestartContainer {
            member: target.clone(),
        }
    } else {
        TikvAction::InvestigateFurther {
            what: format!("why PD member {target} is unhealthy"),
        }
    };
    let quorum = if n > 0 {
        format!("; quorum holds ({healthy} of {n})")
    } else {
        String::new()
    };
    let seen = if n > 0 {
        format!(
            "{healthy} of {n} PD members healthy; leader: {}",
            leader.unwrap_or("none")
        )
    } else {
        format!("PD member {target} is unhealthy; PD's member list is not in the ticket's evidence")
    };
    let (root, obs) = if quorum_lost {
        (
            if n > 0 {
                format!(
                    "PD has no quorum: {healthy} of {n} members healthy, so no leader can be elected"
                )
            } else {
                "PD has no quorum: no leader can be elected".to_string()
            },
            seen,
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
            seen,
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
        would_change: format!("{target} healthy again without intervention"),
    })
}

fn rule_evict_left(ev: &Ev<'_>, _cfg: &RulesConfig) -> Option<Out> {
    let list: Vec<u64> = ev
        .pd
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
        CitationRef::State {
            kind: "pd_state".into(),
            path: format!("evict_leader_stores.{idx}"),
        },
    )];
    if let Some(s) = s {
        evidence.push(cite(
            format!("store {id} is {}", s.state),
            CitationRef::State {
                kind: "pd_state".into(),
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
        action: TikvAction::RemoveEvictLeader { store_id: id },
        rationale: format!("removing the entry lets PD balance leaders back onto store {id}"),
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
        .pd
        .get("max_replicas")
        .and_then(Value::as_u64)
        .unwrap_or(3);
    let mut evidence = vec![cite(
        format!("store {} is {}", s.id, s.state),
        CitationRef::State {
            kind: "pd_state".into(),
            path: s.state_path.clone(),
        },
    )];
    if ev.pd.get("max_replicas").is_some() {
        evidence.push(cite(
            format!("max-replicas is {replicas}"),
            CitationRef::State {
                kind: "pd_state".into(),
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
            action: TikvAction::CancelStoreDelete { store_id: s.id },
            rationale: "the delete cannot complete without another store; bring the store back Up".into(),
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
            action: TikvAction::InvestigateFurther {
                what: format!("which regions remain on store {} and their operators", s.id),
            },
            rationale: "capacity is sufficient, so a specific region or operator is stuck".into(),
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
                TikvAction::RestartContainer {
                    member: member.clone(),
                }
            } else {
                TikvAction::InvestigateFurther {
                    what: format!("{what} container state"),
                }
            },
            format!("the operator is blind: {what} is unreachable because its container stopped"),
        )
    } else {
        (
            TikvAction::InvestigateFurther {
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
        would_change: format!("{what} answering from another network location"),
    })
}

fn rule_imbalance(ev: &Ev<'_>, _cfg: &RulesConfig) -> Option<Out> {
    let leader = normalize_invariant(&ev.brief.invariant) == "leader_imbalance";
    let scheds: Vec<String> = ev
        .pd
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
            CitationRef::State {
                kind: "pd_state".into(),
                path: format!("stores.{}", mx.0),
            },
        ));
        evidence.push(cite(
            format!("store {} has {}", mn.0, mn.1),
            CitationRef::State {
                kind: "pd_state".into(),
                path: format!("stores.{}", mn.0),
            },
        ));
    }
    if !ev
        .pd
        .get("evict_leader_stores")
        .and_then(Value::as_array)
        .map(|a| a.is_empty())
        .unwrap_or(true)
        && leader
    {
        return rule_evict_left(ev, _cfg);
    }
    if ev.pd.get("schedulers").is_some() && !scheds.iter().any(|s| s == wanted) {
        evidence.push(cite(
            format!("{wanted} is not enabled"),
            CitationRef::State {
                kind: "pd_state".into(),
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
            action: TikvAction::AddScheduler {
                name: wanted.into(),
            },
            rationale: format!("re-adding {wanted} lets PD rebalance"),
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
        action: TikvAction::WaitAndWatch { minutes: 10 },
        rationale: "balancing is in progress; intervene only if it does not converge".into(),
        would_change: "the imbalance not shrinking over 10 minutes".into(),
    })
}

/// Whether the ticket says the operator cannot see the cluster (PD or Prometheus
/// unreachable), which changes how a PD-side cause is written up.
fn operator_blind(ev: &Ev<'_>) -> bool {
    normalize_invariant(&ev.brief.invariant).ends_with("_unreachable")
}

/// The store a cause is located on (`store/4`).
fn cause_store(decision: &Decision) -> Option<u64> {
    decision
        .cause
        .target
        .strip_prefix("store/")
        .and_then(|id| id.parse().ok())
}

/// Latency or load that rose on a store without its disk being slow: CPU saturation or a
/// degraded network. Both move leaders off the store while the cause is confirmed.
fn rule_contention(ev: &Ev<'_>, decision: &Decision) -> Option<Out> {
    let store = cause_store(decision)?;
    let cpu = decision.cause.category == "cpu-saturation";
    let findings: Vec<String> = decision
        .hypotheses
        .iter()
        .find(|h| h.cause == decision.cause)
        .map(|h| h.supporting.clone())
        .unwrap_or_default();
    let member = ev
        .store(store)
        .map(StoreInfo::member)
        .filter(|m| !m.is_empty())
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    let evidence: Vec<Citation> = ev
        .metrics_named(|_| true)
        .into_iter()
        .filter(|(s, _)| *s == store)
        .take(2)
        .map(|(_, m)| metric_cite(m, format!("store {store} reports {}", m.name)))
        .collect();
    Some(Out {
        observation: findings.join("; "),
        root_cause: if cpu {
            format!("store {store}{member} is CPU-saturated: its threads are busy while its disk keeps up")
        } else {
            format!("the network between store {store}{member} and its peers is degraded: raft messages and peers' commits wait while the disk keeps up")
        },
        evidence,
        options: vec![opt(
            "restart the store",
            if cpu {
                "a restart drops the cache and moves the same load back"
            } else {
                "a restart does not repair the network path"
            },
        )],
        action: TikvAction::EvictLeader { store_id: store },
        rationale: format!("moving leaders off store {store} takes it out of the write path while the cause is fixed"),
        would_change: if cpu {
            format!("store {store}'s thread CPU back in line with its peers under the same load")
        } else {
            format!("store {store}'s peers' commit latency normal while it stays slow")
        },
    })
}

/// Nothing in the catalog is supported: say what was seen and ask for the check that
/// would decide.
fn rule_unknown(ev: &Ev<'_>, decision: &Decision) -> Out {
    let brief = ev.brief;
    let check = decision
        .discriminating_check
        .clone()
        .unwrap_or_else(|| format!("{} on {}", brief.invariant, brief.target));
    Out {
        observation: brief.summary.clone(),
        root_cause: format!(
            "no cause in the catalog is supported by the evidence for {} on {}",
            brief.invariant, brief.target
        ),
        evidence: vec![],
        options: vec![],
        action: TikvAction::InvestigateFurther { what: check },
        rationale: "every hypothesis lacks support or is contradicted; gather the evidence that would decide".into(),
        would_change: "a fact that supports one hypothesis".into(),
    }
}

/// A store PD lost, explained by the PD side (PD unavailable, or several stores lost
/// together): the store's own state is cited, the reason is the decision's supporting
/// findings (each follows from a fact of the evidence or of a related ticket).
fn rule_lost_to_pd(ev: &Ev<'_>, decision: &Decision) -> Option<Out> {
    let id = ev.target_store()?;
    let store = ev.store(id)?;
    let who = format!("store {id} ({})", store.member());
    let why: Vec<String> = decision
        .hypotheses
        .iter()
        .find(|h| h.cause == decision.cause)
        .map(|h| h.supporting.clone())
        .unwrap_or_default();
    let evidence = vec![cite(
        format!("PD shows {who} as {}", store.state),
        CitationRef::State {
            kind: "pd_state".into(),
            path: store.state_path.clone(),
        },
    )];
    let options = vec![opt(
        "a partition of this store alone",
        "other tickets of the same moment say PD, or several stores at once, lost contact: one cause explains them all",
    )];
    let (root, action, rationale, would_change) = match decision.cause.category.as_str() {
        "pd-quorum-loss" => (
            format!("{who} lost PD because PD has no quorum"),
            TikvAction::InvestigateFurther {
                what: "which PD members are down (GET /pd/api/v1/health)".into(),
            },
            "the store is a symptom; PD's quorum is the cause and is handled on PD's own ticket".to_string(),
            "PD healthy while the store stays Disconnected".to_string(),
        ),
        "pd-leader-loss" => (
            format!("{who} lost PD while PD had no leader"),
            TikvAction::WaitAndWatch { minutes: 2 },
            "the store's process runs; it reconnects to PD's new leader on its next heartbeat, so nothing is done to the store".to_string(),
            format!("{who} still not Up a few heartbeats after PD has a leader again"),
        ),
        _ => (
            format!("{who} is cut off from PD together with other stores: the PD side or the network between PD and the stores"),
            TikvAction::InvestigateFurther {
                what: "whether PD's hosts reach the stores' addresses".into(),
            },
            "restarting stores whose processes run would not reconnect them; the shared path to PD is what to check".to_string(),
            "a store of the group reconnecting alone, or PD's logs showing it hears the stores".to_string(),
        ),
    };
    Some(Out {
        observation: format!("{}; {}", ev.brief.summary, why.join("; ")),
        root_cause: root,
        evidence,
        options,
        action,
        rationale,
        would_change,
    })
}

/// Writes up `decision`'s root cause from the ticket's evidence.
pub(crate) fn write(decision: &Decision, ev: &mut Ev<'_>, cfg: &RulesConfig) -> WriteUp {
    if let Some(id) = cause_store(decision) {
        ev.focus = Some(id);
    }
    let store_ticket = normalize_invariant(&ev.brief.invariant) == "store_down";
    if store_ticket && decision.cause.target == "pd" {
        if let Some(o) = rule_lost_to_pd(ev, decision) {
            return o.into_write_up();
        }
    }
    let out = match decision.cause.category.as_str() {
        "process-exit" | "oom-kill" | "network-partition" => {
            rule_store_down(ev, cfg).map(|mut o| {
                if decision.cause.category == "oom-kill" {
                    o.root_cause = format!("{}; the kernel's OOM killer ended it", o.root_cause);
                }
                o
            })
        }
        "disk-full" => rule_disk_pressure(ev, cfg),
        "hot-region" => rule_hot(ev, cfg),
        "disk-slow" => rule_slow(ev, cfg),
        "cpu-saturation" | "network-degradation" => rule_contention(ev, decision),
        "pd-leader-loss" | "pd-quorum-loss" if operator_blind(ev) => rule_blind(ev, cfg),
        "pd-leader-loss" | "pd-quorum-loss" => {
            rule_pd(ev, cfg, decision.cause.category == "pd-quorum-loss")
        }
        "leftover-scheduler" => rule_evict_left(ev, cfg),
        "store-stuck-offline" => rule_offline(ev, cfg),
        "leader-imbalance" => rule_imbalance(ev, cfg),
        _ if operator_blind(ev) => rule_blind(ev, cfg),
        _ => None,
    };
    out.unwrap_or_else(|| rule_unknown(ev, decision))
        .into_write_up()
}

/// `3.2×`, `360×`: ratios rounded for people.
fn times(r: f64) -> String {
    if !r.is_finite() {
        "far above".to_string()
    } else if r >= 10.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.1}×")
    }
}
