//! Rendering the model as PD's JSON (`StoreInfo`, regions written straight into a
//! buffer so a million regions need no intermediate values).

use super::*;

impl ClusterModel {
    /// `StoreInfo` JSON value (field order and omitempty as PD).
    pub(crate) fn store_info(&self, s: &Store, now_ms: u64) -> StoreInfo {
        let c = self.counts(s.id);
        let state = self.state_name(s, now_ms);
        let last_hb_ns = (s.last_hb_ms as i64) * 1_000_000;
        let start = UNIX_EPOCH + Duration::from_secs(s.start_timestamp.max(0) as u64);
        let last = UNIX_EPOCH + Duration::from_millis(s.last_hb_ms);
        let uptime = last.duration_since(start).unwrap_or_default();
        let region_score =
            c.region_size.max(0.0) * (1.0 + s.used as f64 / (s.capacity.max(1) as f64));
        StoreInfo {
            store: MetaStore {
                id: s.id,
                address: s.address.clone(),
                state: s.state as u64,
                labels: s.labels.iter().map(|(k, v)| Label { key: k.clone(), value: v.clone() }).collect(),
                version: s.version.clone(),
                peer_address: s.address.clone(),
                status_address: s.status_address.clone(),
                git_hash: s.git_hash.clone(),
                start_timestamp: s.start_timestamp,
                deploy_path: s.deploy_path.clone(),
                last_heartbeat: last_hb_ns,
                physically_destroyed: s.physically_destroyed,
                node_state: s.node_state as u64,
                state_name: state.as_str().to_string(),
            },
            status: StoreStatus {
                capacity: wire::byte_size(s.capacity),
                available: wire::byte_size(s.available),
                used_size: wire::byte_size(s.used),
                leader_count: c.leader_count,
                leader_weight: GoFloat(1.0),
                leader_score: GoFloat(c.leader_count as f64),
                leader_size: c.leader_size.max(0.0).round() as i64,
                region_count: c.region_count,
                region_weight: GoFloat(1.0),
                region_score: GoFloat(region_score),
                region_size: c.region_size.max(0.0).round() as i64,
                learner_count: c.learner_count,
                witness_count: 0,
                pending_peer_count: c.pending_count,
                slow_score: s.slow_score,
                slow_trend: Some(SlowTrend {
                    cause_value: GoFloat(200.0 + s.slow_score as f64 * 10.0),
                    cause_rate: GoFloat(0.0),
                    result_value: GoFloat(1000.0),
                    result_rate: GoFloat(0.0),
                }),
                sending_snap_count: self.operators.values().filter(|op| self.op_snapshot_source(op) == Some(s.id)).count() as u64,
                receiving_snap_count: self
                    .operators
                    .values()
                    .filter(|op| matches!(op.steps.get(op.current), Some(Step::AddLearner { store, .. }) if *store == s.id))
                    .count() as u64,
                is_busy: false,
                start_ts: wire::rfc3339(start),
                last_heartbeat_ts: wire::rfc3339_nano(last),
                uptime: wire::go_duration(uptime),
            },
        }
    }

    /// Writes one region as compact easyjson-ordered JSON.
    pub(crate) fn write_region_json(&self, out: &mut String, r: &Region, now_ms: u64) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "{{\"id\":{},\"start_key\":\"{}\",\"end_key\":\"{}\"",
            r.id,
            hex_upper(&encode_key(r.start)),
            hex_upper(&encode_key(r.end))
        );
        if r.conf_ver != 0 || r.version != 0 {
            out.push_str(",\"epoch\":{");
            let mut first = true;
            if r.conf_ver != 0 {
                let _ = write!(out, "\"conf_ver\":{}", r.conf_ver);
                first = false;
            }
            if r.version != 0 {
                let _ = write!(
                    out,
                    "{}\"version\":{}",
                    if first { "" } else { "," },
                    r.version
                );
            }
            out.push('}');
        }
        if !r.peers.is_empty() {
            out.push_str(",\"peers\":[");
            for (i, p) in r.peers.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_peer(out, Some(p));
            }
            out.push(']');
        }
        out.push_str(",\"leader\":");
        write_peer(out, r.peer(r.leader));
        if !r.down_peers.is_empty() {
            out.push_str(",\"down_peers\":[");
            for (i, d) in r.down_peers.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"peer\":");
                let p = r.peer(*d);
                write_peer(out, p);
                let secs = p
                    .map(|p| self.down_seconds(p.store_id, now_ms))
                    .unwrap_or(0);
                if secs != 0 {
                    let _ = write!(out, ",\"down_seconds\":{secs}");
                }
                out.push('}');
            }
            out.push(']');
        }
        if !r.pending_peers.is_empty() {
            out.push_str(",\"pending_peers\":[");
            for (i, d) in r.pending_peers.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_peer(out, r.peer(*d));
            }
            out.push(']');
        }
        let size = if r.size_mib > 0.0 && r.size_mib < 1.0 {
            1
        } else {
            r.size_mib.round() as i64
        };
        let _ = write!(
            out,
            ",\"cpu_usage\":0,\"written_bytes\":{},\"read_bytes\":{},\"written_keys\":{},\"read_keys\":{},\"approximate_size\":{},\"approximate_keys\":{}}}",
            r.written_bytes, r.read_bytes, r.written_keys, r.read_keys, size, r.keys
        );
    }

    /// `{"count":N,"regions":[...]}` for a list of region ids.
    pub(crate) fn regions_json<'a>(
        &self,
        regions: impl Iterator<Item = &'a Region>,
        now_ms: u64,
    ) -> String {
        let mut body = String::with_capacity(4096);
        let mut n = 0usize;
        body.push_str("\"regions\":[");
        for r in regions {
            if n > 0 {
                body.push(',');
            }
            self.write_region_json(&mut body, r, now_ms);
            n += 1;
        }
        body.push_str("]}");
        format!("{{\"count\":{n},{body}")
    }
}

pub(super) fn write_peer(out: &mut String, p: Option<&Peer>) {
    use std::fmt::Write as _;
    match p {
        None => out.push_str("{\"role_name\":\"\"}"),
        Some(p) => {
            let _ = write!(out, "{{\"role_name\":\"{}\"", role::name(p.role));
            if p.role == role::LEARNER {
                out.push_str(",\"is_learner\":true");
            }
            if p.id != 0 {
                let _ = write!(out, ",\"id\":{}", p.id);
            }
            if p.store_id != 0 {
                let _ = write!(out, ",\"store_id\":{}", p.store_id);
            }
            if p.role != 0 {
                let _ = write!(out, ",\"role\":{}", p.role);
            }
            out.push('}');
        }
    }
}

/// The zero region PD returns for an unknown id.
pub(crate) const REGION_NOT_FOUND_JSON: &str = "{\"id\":0,\"start_key\":\"\",\"end_key\":\"\",\"leader\":{\"role_name\":\"\"},\"cpu_usage\":0,\"written_bytes\":0,\"read_bytes\":0,\"written_keys\":0,\"read_keys\":0,\"approximate_size\":0,\"approximate_keys\":0}";

pub(super) fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}
pub(super) fn is_false(v: &bool) -> bool {
    !*v
}
pub(super) fn is_empty_str(v: &str) -> bool {
    v.is_empty()
}
