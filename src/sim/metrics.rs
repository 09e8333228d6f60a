//! Prometheus text for the simulated PD (`/metrics` on the client URL) and PD's hotspot
//! API, both computed from the cluster model. Metric names, types and label names follow
//! PD v8.5 (`pd_cluster_status{engine,store,type}`, `pd_regions_status{type}`,
//! `pd_scheduler_store_status{address,store,type}`, `pd_hotspot_status{address,store,type}`,
//! `pd_cluster_health_status{name}`, `service_member_role{service}`,
//! `pd_schedule_operators_count{event,type}`). Values use client_golang's float spelling.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::model::{ClusterModel, Rates, Region, StateName, CHECKS, UNHEALTHY_SECS};
use super::pd::PdNode;
use super::wire::{self, prom_go_float, GoFloat};

/// Writes `# HELP` and `# TYPE`.
pub(crate) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample with labels (already in output order).
pub(crate) fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{k}=\"{}\"",
                v.replace('\\', "\\\\").replace('"', "\\\"")
            );
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", prom_go_float(value));
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// PD's `/metrics` text.
pub(crate) fn pd_metrics(node: &Arc<PdNode>) -> String {
    let mut out = String::new();
    let leader = node.is_leader();
    let (members, health) = node.member_health();
    family(
        &mut out,
        "pd_cluster_health_status",
        "gauge",
        "Status of the cluster.",
    );
    for (m, h) in members.iter().zip(health.iter()) {
        sample(
            &mut out,
            "pd_cluster_health_status",
            &[("name", m)],
            if *h { 1.0 } else { 0.0 },
        );
    }
    family(
        &mut out,
        "service_member_role",
        "gauge",
        "The leader/primary of services",
    );
    sample(
        &mut out,
        "service_member_role",
        &[("service", "PD")],
        if leader { 1.0 } else { 0.0 },
    );
    if !leader {
        return out;
    }
    let now = now_ms();
    node.with_model(|m| {
        write_cluster_metrics(&mut out, m, now);
    });
    out
}

fn write_cluster_metrics(out: &mut String, m: &ClusterModel, now: u64) {
    family(out, "pd_cluster_status", "gauge", "Status of the cluster.");
    let max_down = m.max_store_down_secs();
    for s in m.stores.values() {
        let c = m.counts(s.id);
        let id = s.id.to_string();
        let silent = m.sim_secs(now.saturating_sub(s.last_hb_ms));
        let name = m.state_name(s, now);
        let up_state = s.state == 0;
        // Exactly one of down > unhealth > disconnected > slow > up for stored-Up stores.
        let (mut down, mut unh, mut disc, mut slow, mut up) = (0.0, 0.0, 0.0, 0.0, 0.0);
        if up_state {
            if silent >= max_down {
                down = 1.0;
            } else if silent > UNHEALTHY_SECS {
                unh = 1.0;
            } else if name == StateName::Disconnected {
                disc = 1.0;
            } else if s.slow_score >= 80 {
                slow = 1.0;
            } else {
                up = 1.0;
            }
        }
        let low_space = (s.capacity > 0
            && (s.available as f64) < s.capacity as f64 * (1.0 - m.schedule.low_space_ratio.0))
            as u8 as f64;
        let rows: [(&str, f64); 18] = [
            ("leader_count", c.leader_count as f64),
            ("learner_count", c.learner_count as f64),
            ("region_count", c.region_count as f64),
            ("storage_capacity", s.capacity as f64),
            ("storage_size", s.used as f64),
            ("store_disconnected_count", disc),
            ("store_down_count", down),
            (
                "store_low_space_count",
                if up_state { low_space } else { 0.0 },
            ),
            ("store_offline_count", (s.state == 1) as u8 as f64),
            ("store_preparing_count", (s.node_state == 0) as u8 as f64),
            ("store_removed_count", (s.node_state == 3) as u8 as f64),
            ("store_removing_count", (s.node_state == 2) as u8 as f64),
            ("store_serving_count", (s.node_state == 1) as u8 as f64),
            ("store_slow_count", slow),
            ("store_tombstone_count", (s.state == 2) as u8 as f64),
            ("store_unhealth_count", unh),
            ("store_up_count", up),
            ("witness_count", 0.0),
        ];
        for (ty, v) in rows {
            sample(
                out,
                "pd_cluster_status",
                &[("engine", "tikv"), ("store", &id), ("type", ty)],
                v,
            );
        }
    }
    family(out, "pd_regions_status", "gauge", "Status of the regions.");
    let mut by_name: BTreeMap<String, f64> = BTreeMap::new();
    for (i, c) in CHECKS.iter().enumerate() {
        let n = if c.ends_with("-region") {
            format!("{c}-count")
        } else {
            format!("{c}-region-count")
        };
        by_name.insert(n, m.check_ids(i).len() as f64);
    }
    by_name.insert("witness-leader-region-count".into(), 0.0);
    for (k, v) in by_name {
        sample(out, "pd_regions_status", &[("type", &k)], v);
    }
    family(
        out,
        "pd_schedule_operators_count",
        "counter",
        "Counter of schedule operators.",
    );
    for (key, n) in &m.operator_counts {
        let (ty, ev) = key.rsplit_once('|').unwrap_or((key.as_str(), ""));
        sample(
            out,
            "pd_schedule_operators_count",
            &[("event", ev), ("type", ty)],
            *n as f64,
        );
    }
    let small = m.regions.len() <= 100_000;
    let loads = if small {
        store_loads(m, now)
    } else {
        BTreeMap::new()
    };
    family(
        out,
        "pd_scheduler_store_status",
        "gauge",
        "Store status for schedule",
    );
    for s in m.stores.values().filter(|s| s.state != 2) {
        let c = m.counts(s.id);
        let id = s.id.to_string();
        let l = loads.get(&s.id).copied().unwrap_or_default();
        let info = m.store_info(s, now);
        let rows: [(&str, f64); 15] = [
            ("leader_count", c.leader_count as f64),
            ("leader_score", c.leader_count as f64),
            ("leader_size", c.leader_size.max(0.0).round()),
            ("region_count", c.region_count as f64),
            ("region_score", info.status.region_score.0),
            ("region_size", c.region_size.max(0.0).round()),
            ("store_available", s.available as f64),
            ("store_capacity", s.capacity as f64),
            ("store_read_query_rate", l.leader.read_qps),
            ("store_read_rate_bytes", l.leader.read_bytes),
            ("store_read_rate_keys", l.leader.read_keys),
            ("store_used", s.used as f64),
            ("store_write_query_rate", l.leader.write_qps),
            ("store_write_rate_bytes", l.peer.write_bytes),
            ("store_write_rate_keys", l.peer.write_keys),
        ];
        for (ty, v) in rows {
            sample(
                out,
                "pd_scheduler_store_status",
                &[("address", &s.address), ("store", &id), ("type", ty)],
                v,
            );
        }
    }
    family(out, "pd_hotspot_status", "gauge", "Status of the hotspot.");
    if small {
        for (is_write, kind) in [(false, "read"), (true, "write")] {
            let hp = hot_peers(m, is_write, &[], now);
            for (role, map) in [("leader", &hp.as_leader), ("peer", &hp.as_peer)] {
                for (sid, stat) in map {
                    let addr = sid
                        .parse::<u64>()
                        .ok()
                        .and_then(|i| m.stores.get(&i))
                        .map(|s| s.address.clone())
                        .unwrap_or_default();
                    let labels = |ty: String| (addr.clone(), sid.clone(), ty);
                    let rows = [
                        (
                            format!("hot_{kind}_region_as_{role}"),
                            stat.regions_count as f64,
                        ),
                        (
                            format!("total_{kind}_bytes_as_{role}"),
                            stat.total_flow_bytes.0,
                        ),
                        (
                            format!("total_{kind}_keys_as_{role}"),
                            stat.total_flow_keys.0,
                        ),
                        (
                            format!("total_{kind}_query_as_{role}"),
                            stat.total_flow_query.0,
                        ),
                    ];
                    for (ty, v) in rows {
                        let (a, s, t) = labels(ty);
                        sample(
                            out,
                            "pd_hotspot_status",
                            &[("address", &a), ("store", &s), ("type", &t)],
                            v,
                        );
                    }
                }
            }
        }
    }
}

/// Per-store load: as leader and as any peer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StoreLoad {
    /// Load of the regions the store leads.
    pub leader: Rates,
    /// Load of every region with a peer on the store (replicated writes).
    pub peer: Rates,
}

fn add(a: &mut Rates, b: &Rates) {
    a.read_qps += b.read_qps;
    a.write_qps += b.write_qps;
    a.read_bytes += b.read_bytes;
    a.write_bytes += b.write_bytes;
    a.read_keys += b.read_keys;
    a.write_keys += b.write_keys;
}

/// Loads of all live stores.
pub(crate) fn store_loads(m: &ClusterModel, now: u64) -> BTreeMap<u64, StoreLoad> {
    let mut out: BTreeMap<u64, StoreLoad> = BTreeMap::new();
    let unhealthy_ms = m.real_ms(UNHEALTHY_SECS);
    for s in m.stores.values() {
        if s.state == 2 || now.saturating_sub(s.last_hb_ms) > unhealthy_ms {
            continue;
        }
        out.insert(s.id, StoreLoad::default());
    }
    for r in m.regions.values() {
        let rates = m.region_rates(r, now);
        let ls = r.leader_store();
        for p in &r.peers {
            if let Some(l) = out.get_mut(&p.store_id) {
                add(&mut l.peer, &rates);
                if p.store_id == ls {
                    add(&mut l.leader, &rates);
                }
            }
        }
    }
    out
}

/// `HotPeerStatShow`.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub struct HotPeerStat {
    pub store_id: u64,
    pub stores: Vec<u64>,
    pub is_leader: bool,
    pub is_learner: bool,
    pub region_id: u64,
    pub hot_degree: i64,
    pub flow_bytes: GoFloat,
    pub flow_keys: GoFloat,
    pub flow_query: GoFloat,
    pub flow_cpu: GoFloat,
    pub anti_count: i64,
    pub last_update_time: String,
}

/// `HotPeersStat`.
#[derive(Debug, Clone, Serialize, Default)]
#[allow(missing_docs)]
pub struct HotPeersStat {
    pub store_bytes: GoFloat,
    pub store_keys: GoFloat,
    pub store_query: GoFloat,
    pub store_cpu: GoFloat,
    pub total_flow_bytes: GoFloat,
    pub total_flow_keys: GoFloat,
    pub total_flow_query: GoFloat,
    pub total_flow_cpu: GoFloat,
    pub regions_count: i64,
    pub statistics: Vec<HotPeerStat>,
}

/// `StoreHotPeersInfos`.
#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct HotPeersInfos {
    /// By store id, all hot peers.
    pub as_peer: BTreeMap<String, HotPeersStat>,
    /// By store id, hot leaders.
    pub as_leader: BTreeMap<String, HotPeersStat>,
}

fn is_hot(m: &ClusterModel, r: &Region, rates: &Rates, write: bool) -> bool {
    let n = m.regions.len().max(1) as f64;
    let w = &m.workload;
    let (bytes, mean) = if write {
        (rates.write_bytes, w.write_qps * w.value_bytes / n)
    } else {
        (rates.read_bytes, w.read_qps * w.value_bytes / n)
    };
    let _ = r;
    bytes >= (3.0 * mean).max(8.0 * 1024.0)
}

/// `/hotspot/regions/{read,write}`.
pub(crate) fn hot_peers(m: &ClusterModel, write: bool, only: &[u64], now: u64) -> HotPeersInfos {
    let mut out = HotPeersInfos::default();
    let loads = store_loads(m, now);
    let stamp = wire::rfc3339(SystemTime::now());
    let hot_since = m.workload.hot.as_ref().map(|h| h.since_ms).unwrap_or(now);
    let degree = (m.sim_secs(now.saturating_sub(hot_since)) / 60.0) as i64 + 1;
    for (sid, load) in &loads {
        if !only.is_empty() && !only.contains(sid) {
            continue;
        }
        let mut peer = HotPeersStat::default();
        let mut leader = HotPeersStat::default();
        let src_peer = if write { load.peer } else { load.leader };
        for st in [&mut peer, &mut leader] {
            st.store_bytes = GoFloat(if write {
                src_peer.write_bytes
            } else {
                src_peer.read_bytes
            });
            st.store_keys = GoFloat(if write {
                src_peer.write_keys
            } else {
                src_peer.read_keys
            });
            st.store_query = GoFloat(if write {
                load.leader.write_qps
            } else {
                load.leader.read_qps
            });
        }
        for id in m.store_region_ids(*sid) {
            let Some(r) = m.regions.get(&id) else {
                continue;
            };
            let rates = m.region_rates(r, now);
            if !is_hot(m, r, &rates, write) {
                continue;
            }
            let is_leader = r.leader_store() == *sid;
            let is_learner = r
                .peers
                .iter()
                .any(|p| p.store_id == *sid && p.role == super::model::role::LEARNER);
            let (b, k, q) = if write {
                (rates.write_bytes, rates.write_keys, rates.write_qps)
            } else {
                (rates.read_bytes, rates.read_keys, rates.read_qps)
            };
            let stat = HotPeerStat {
                store_id: *sid,
                stores: r.peers.iter().map(|p| p.store_id).collect(),
                is_leader,
                is_learner,
                region_id: r.id,
                hot_degree: degree,
                flow_bytes: GoFloat(b),
                flow_keys: GoFloat(k),
                flow_query: GoFloat(q),
                flow_cpu: GoFloat(0.0),
                anti_count: 2,
                last_update_time: stamp.clone(),
            };
            if write || is_leader {
                peer.total_flow_bytes.0 += b;
                peer.total_flow_keys.0 += k;
                peer.total_flow_query.0 += q;
                peer.regions_count += 1;
                peer.statistics.push(stat.clone());
            }
            if is_leader {
                leader.total_flow_bytes.0 += b;
                leader.total_flow_keys.0 += k;
                leader.total_flow_query.0 += q;
                leader.regions_count += 1;
                leader.statistics.push(stat);
            }
        }
        out.as_peer.insert(sid.to_string(), peer);
        out.as_leader.insert(sid.to_string(), leader);
    }
    out
}

/// `/hotspot/stores`.
pub(crate) fn hot_stores(m: &ClusterModel, now: u64) -> HotStores {
    let mut out = HotStores::default();
    let r = |v: f64| GoFloat((v * 10.0).round() / 10.0);
    for (sid, l) in store_loads(m, now) {
        let k = sid.to_string();
        out.bytes_write_rate
            .insert(k.clone(), r(l.peer.write_bytes));
        out.bytes_read_rate
            .insert(k.clone(), r(l.leader.read_bytes));
        out.keys_write_rate.insert(k.clone(), r(l.peer.write_keys));
        out.keys_read_rate.insert(k.clone(), r(l.leader.read_keys));
        out.query_write_rate
            .insert(k.clone(), r(l.leader.write_qps));
        out.query_read_rate.insert(k.clone(), r(l.leader.read_qps));
        out.cpu_read_rate.insert(k, GoFloat(0.0));
    }
    out
}

/// `/hotspot/stores` body (PD's field order).
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub(crate) struct HotStores {
    pub bytes_write_rate: BTreeMap<String, GoFloat>,
    pub bytes_read_rate: BTreeMap<String, GoFloat>,
    pub keys_write_rate: BTreeMap<String, GoFloat>,
    pub keys_read_rate: BTreeMap<String, GoFloat>,
    pub query_write_rate: BTreeMap<String, GoFloat>,
    pub query_read_rate: BTreeMap<String, GoFloat>,
    pub cpu_read_rate: BTreeMap<String, GoFloat>,
}
