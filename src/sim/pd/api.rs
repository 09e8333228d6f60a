//! PD's HTTP API as the simulator serves it: the hand-written router over `/pd/api/v1`
//! ([`api`]: members, stores, regions, operators, schedulers, config, hot regions,
//! health, leader transfer) and the JSON documents and config text it answers with.
//! Split from the node (election, replication, proxying) in [`super`].

use super::*;

pub(super) async fn health(node: &Arc<PdNode>) -> Resp {
    let members: Vec<MemberInfo> = node.raft.lock().members.values().cloned().collect();
    let futs = members.iter().map(|m| {
        let http = node.http.clone();
        let url = m.client_urls.first().map(|u| format!("{}/pd/api/v1/ping", u.trim_end_matches('/')));
        async move {
            let Some(url) = url else { return false };
            matches!(http.get(url).timeout(Duration::from_secs(1)).send().await, Ok(r) if r.status().is_success())
        }
    });
    let results = futures::future::join_all(futs).await;
    #[derive(Serialize)]
    struct H {
        name: String,
        member_id: u64,
        client_urls: Vec<String>,
        health: bool,
    }
    let out: Vec<H> = members
        .into_iter()
        .zip(results)
        .map(|(m, h)| H {
            name: m.name,
            member_id: m.member_id,
            client_urls: m.client_urls,
            health: h,
        })
        .collect();
    pretty(200, &out)
}

pub(super) async fn transfer_leader(node: &Arc<PdNode>, name: &str) -> Resp {
    let target = node
        .raft
        .lock()
        .members
        .values()
        .find(|m| m.name == name)
        .cloned();
    let Some(target) = target else {
        return json_str(
            500,
            &format!("[PD:member:ErrEtcdMemberNotFound]member {name} not found"),
        );
    };
    if target.member_id == node.me.lock().member_id {
        return json_str(
            500,
            "[PD:server:ErrNotLeader]the target is the current leader",
        );
    }
    let term = node.raft.lock().term;
    // Make sure the target has our latest state, then hand over.
    send_appends(node).await;
    node.raft.lock().suppress_until = Instant::now() + Duration::from_secs(3);
    node.step_down(term, None);
    let url = format!(
        "{}/sim/peer/timeout-now",
        target
            .peer_urls
            .first()
            .cloned()
            .unwrap_or_default()
            .trim_end_matches('/')
    );
    let ok = node
        .http
        .post(url)
        .json(&serde_json::json!({"term": term}))
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    if ok {
        json_str(200, "The transfer command is submitted.")
    } else {
        json_str(500, &format!("failed to transfer leader to {name}"))
    }
}

#[derive(Serialize)]
pub(super) struct MemberJson {
    name: String,
    member_id: u64,
    peer_urls: Vec<String>,
    client_urls: Vec<String>,
    deploy_path: String,
    binary_version: String,
    git_hash: String,
}

pub(super) fn member_json(m: &MemberInfo) -> MemberJson {
    MemberJson {
        name: m.name.clone(),
        member_id: m.member_id,
        peer_urls: m.peer_urls.clone(),
        client_urls: m.client_urls.clone(),
        deploy_path: "/".into(),
        binary_version: PD_VERSION.into(),
        git_hash: PD_GIT_HASH.into(),
    }
}

/// What one API request carries, for the route groups below.
struct Request<'a> {
    node: &'a Arc<PdNode>,
    method: &'a Method,
    parts: &'a [&'a str],
    q: &'a HashMap<String, Vec<String>>,
    body: &'a [u8],
    now: u64,
}

impl Request<'_> {
    /// The first value of a query parameter.
    fn query(&self, k: &str) -> Option<&str> {
        self.q.get(k).and_then(|v| v.first()).map(String::as_str)
    }
}

/// The router: each group of routes (by the path's first segment) is one function,
/// tried in turn; the first that knows the route answers, otherwise 404.
pub(super) fn api(
    node: &Arc<PdNode>,
    method: &Method,
    parts: &[&str],
    q: &HashMap<String, Vec<String>>,
    body: &[u8],
) -> Resp {
    let r = Request {
        node,
        method,
        parts,
        q,
        body,
        now: now_ms(),
    };
    let groups: [fn(&Request<'_>) -> Option<Resp>; 7] = [
        meta_routes,
        members_routes,
        config_routes,
        stores_routes,
        regions_routes,
        operators_routes,
        schedulers_routes,
    ];
    let resp = groups
        .iter()
        .find_map(|group| group(&r))
        .unwrap_or_else(|| Resp {
            status: 404,
            content_type: CT_TEXT,
            body: "404 page not found\n".into(),
        });
    node.flush_model_logs();
    resp
}

/// `ping`, `version`, `status`.
fn meta_routes(r: &Request<'_>) -> Option<Resp> {
    let node = r.node;
    Some(match (r.method, r.parts) {
        (&Method::GET, ["ping"]) => Resp {
            status: 200,
            content_type: CT_TEXT,
            body: String::new(),
        },
        (&Method::GET, ["version"]) => pretty(200, &VersionJson::default_new()),
        (&Method::GET, ["status"]) => pretty(
            200,
            &StatusJson {
                build_ts: "2026-06-17 01:52:10".into(),
                version: PD_VERSION.into(),
                git_hash: PD_GIT_HASH.into(),
                start_timestamp: node
                    .start
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0),
            },
        ),
        _ => return None,
    })
}

/// `members`, `leader`, `cluster`: membership and the cluster id.
fn members_routes(r: &Request<'_>) -> Option<Resp> {
    let node = r.node;
    Some(match (r.method, r.parts) {
        (&Method::GET, ["members"]) => {
            let r = node.raft.lock();
            let members: Vec<MemberJson> = r.members.values().map(member_json).collect();
            let leader = r.leader.and_then(|l| r.members.get(&l)).map(member_json);
            let cluster_id = node.model.lock().cluster_id;
            #[derive(Serialize)]
            struct Members {
                header: serde_json::Value,
                members: Vec<MemberJson>,
                #[serde(skip_serializing_if = "Option::is_none")]
                leader: Option<MemberJson>,
                #[serde(skip_serializing_if = "Option::is_none")]
                etcd_leader: Option<MemberJson>,
            }
            let etcd_leader = r.leader.and_then(|l| r.members.get(&l)).map(member_json);
            pretty(
                200,
                &Members {
                    header: serde_json::json!({"cluster_id": cluster_id}),
                    members,
                    leader,
                    etcd_leader,
                },
            )
        }
        (&Method::DELETE, ["members", "name", name]) => {
            remove_member(node, |m| m.name == *name, &format!("name {name}"))
        }
        (&Method::DELETE, ["members", "id", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            remove_member(node, |m| m.member_id == id, &format!("id {id}"))
        }
        (&Method::GET, ["leader"]) => match node.leader_info() {
            Some(l) => pretty(200, &l),
            None => json_str(500, "[PD:server:ErrNoLeader]no leader"),
        },
        (&Method::GET, ["cluster"]) => {
            let m = node.model.lock();
            pretty(
                200,
                &serde_json::json!({"id": m.cluster_id, "max_peer_count": m.replication.max_replicas}),
            )
        }
        (&Method::GET, ["cluster", "status"]) => {
            let m = node.model.lock();
            let boot = if m.bootstrap_ms == 0 {
                "0001-01-01T00:00:00Z".to_string()
            } else {
                wire::rfc3339_nano(UNIX_EPOCH + Duration::from_millis(m.bootstrap_ms))
            };
            let init = m.regions.len() > 1
                || m.regions.values().next().is_some_and(|r| {
                    r.peers.iter().filter(|p| p.role == 0).count() as u64
                        >= m.replication.max_replicas
                        && r.pending_peers.is_empty()
                });
            #[derive(Serialize)]
            struct CS {
                raft_bootstrap_time: String,
                is_initialized: bool,
                replication_status: String,
            }
            pretty(
                200,
                &CS {
                    raft_bootstrap_time: boot,
                    is_initialized: init,
                    replication_status: String::new(),
                },
            )
        }
        _ => return None,
    })
}

/// `config`: the schedule and replication config, read and written.
fn config_routes(r: &Request<'_>) -> Option<Resp> {
    let node = r.node;
    let body = r.body;
    let parts = r.parts;
    Some(match (r.method, r.parts) {
        (&Method::GET, ["config"]) => Resp {
            status: 200,
            content_type: CT_JSON,
            body: full_config(node),
        },
        (&Method::GET, ["config", "schedule"]) => pretty(200, &node.model.lock().schedule),
        (&Method::GET, ["config", "replicate"]) => pretty(200, &node.model.lock().replication),
        (&Method::POST, ["config"])
        | (&Method::POST, ["config", "schedule"])
        | (&Method::POST, ["config", "replicate"]) => {
            let Ok(serde_json::Value::Object(obj)) =
                serde_json::from_slice::<serde_json::Value>(body)
            else {
                return Some(json_str(400, "invalid JSON body"));
            };
            let prefix = match parts.get(1) {
                Some(&"schedule") => "schedule.",
                Some(&"replicate") => "replication.",
                _ => "",
            };
            let obj: serde_json::Map<String, serde_json::Value> = obj
                .into_iter()
                .map(|(k, v)| {
                    (
                        if prefix.is_empty() || k.contains('.') {
                            k
                        } else {
                            format!("{prefix}{k}")
                        },
                        v,
                    )
                })
                .collect();
            match update_config(&mut node.model.lock(), &obj) {
                Ok(()) => json_str(200, "The config is updated."),
                Err(e) => json_str(400, &e),
            }
        }
        _ => return None,
    })
}

/// `stores`, `store/{id}`: listing, checks, progress, state, labels, weights and limits, removal.
fn stores_routes(r: &Request<'_>) -> Option<Resp> {
    let node = r.node;
    let body = r.body;
    let now = r.now;
    let qget = |k: &str| r.query(k);
    let parts = r.parts;
    let q = r.q;
    Some(match (r.method, r.parts) {
        (&Method::GET, ["stores"]) => {
            let m = node.model.lock();
            let states: Vec<u8> = q
                .get("state")
                .map(|v| v.iter().filter_map(|s| s.parse().ok()).collect())
                .unwrap_or_else(|| vec![0, 1]);
            let stores: Vec<model::StoreInfo> = m
                .stores
                .values()
                .filter(|s| states.contains(&s.state))
                .map(|s| m.store_info(s, now))
                .collect();
            pretty(
                200,
                &StoresJson {
                    count: stores.len(),
                    stores,
                },
            )
        }
        (&Method::GET, ["stores", "check"]) => {
            let m = node.model.lock();
            let wanted: Vec<String> = q
                .get("state")
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect();
            for w in &wanted {
                if !["up", "offline", "tombstone", "down", "disconnected"].contains(&w.as_str()) {
                    return Some(json_str(400, &format!("unknown StoreState: {w}")));
                }
            }
            let stores: Vec<model::StoreInfo> = m
                .stores
                .values()
                .filter(|s| {
                    wanted.is_empty()
                        || wanted.contains(&m.state_name(s, now).as_str().to_ascii_lowercase())
                })
                .map(|s| m.store_info(s, now))
                .collect();
            pretty(
                200,
                &StoresJson {
                    count: stores.len(),
                    stores,
                },
            )
        }
        (&Method::GET, ["stores", "progress"]) => {
            let m = node.model.lock();
            let id: Option<u64> = qget("id").and_then(|s| s.parse().ok());
            let action = qget("action").unwrap_or("removing");
            let target = id.or_else(|| {
                m.stores
                    .values()
                    .find(|s| {
                        if action == "preparing" {
                            s.node_state == 0 && s.state == 0
                        } else {
                            s.state == 1
                        }
                    })
                    .map(|s| s.id)
            });
            let Some(id) = target else {
                return Some(json_str(404, "no progress found for the action"));
            };
            let Some(s) = m.stores.get(&id) else {
                return Some(model_err(ModelError::StoreNotFound(id)));
            };
            let (action, progress, speed, left) = if s.state == 1 || s.state == 2 {
                let (base, since) = m.removing_baseline.get(&id).copied().unwrap_or((0.0, now));
                let cur = m.counts(id).region_size.max(0.0);
                let done = (base - cur).max(0.0);
                let p = if base <= 0.0 {
                    1.0
                } else {
                    (done / base).clamp(0.0, 1.0)
                };
                let secs = m.sim_secs(now.saturating_sub(since)).max(1.0);
                let speed = done / secs;
                let left = if speed > 0.0 {
                    cur / speed
                } else {
                    f64::MAX.min(1e18)
                };
                ("removing", p, speed, left)
            } else {
                (
                    "preparing",
                    if s.node_state == 0 { 0.0 } else { 1.0 },
                    0.0,
                    0.0,
                )
            };
            #[derive(Serialize)]
            struct P {
                action: String,
                store_id: u64,
                progress: GoFloat,
                current_speed: GoFloat,
                left_seconds: GoFloat,
            }
            pretty(
                200,
                &P {
                    action: action.into(),
                    store_id: id,
                    progress: GoFloat(progress),
                    current_speed: GoFloat(speed),
                    left_seconds: GoFloat(left),
                },
            )
        }
        (&Method::DELETE, ["stores", "remove-tombstone"]) => {
            match node.model.lock().remove_tombstones() {
                Ok(()) => json_str(200, "Remove tombstone successfully."),
                Err(e) => pretty(
                    500,
                    &serde_json::json!({"code": "internal", "msg": e.to_string()}),
                ),
            }
        }
        (&Method::GET, ["store", id]) => {
            let Ok(id) = id.parse::<u64>() else {
                return Some(json_str(400, "invalid store id"));
            };
            let m = node.model.lock();
            match m.stores.get(&id) {
                Some(s) => pretty(200, &m.store_info(s, now)),
                None => model_err(ModelError::StoreNotFound(id)),
            }
        }
        (&Method::DELETE, ["store", id]) => {
            let Ok(id) = id.parse::<u64>() else {
                return Some(json_str(400, "invalid store id"));
            };
            let force = q.contains_key("force");
            match node.model.lock().remove_store(id, force, now) {
                Ok(()) => json_str(200, "The store is set as Offline."),
                Err(e) => model_err(e),
            }
        }
        (&Method::POST, ["store", id, "state"]) => {
            let Ok(id) = id.parse::<u64>() else {
                return Some(json_str(400, "invalid store id"));
            };
            let state = qget("state").unwrap_or("").to_ascii_lowercase();
            let res = match state.as_str() {
                "up" => node.model.lock().up_store(id),
                "offline" => node.model.lock().remove_store(id, false, now),
                other => return Some(json_str(400, &format!("invalid state {other}"))),
            };
            match res {
                Ok(()) => json_str(200, "The store's state is updated."),
                Err(e) => model_err(e),
            }
        }
        (&Method::POST, ["store", id, "label" | "weight" | "limit"]) => {
            let Ok(id) = id.parse::<u64>() else {
                return Some(json_str(400, "invalid store id"));
            };
            let mut m = node.model.lock();
            if !m.stores.contains_key(&id) {
                return Some(model_err(ModelError::StoreNotFound(id)));
            }
            if parts[2] == "label" {
                if let Ok(serde_json::Value::Object(o)) =
                    serde_json::from_slice::<serde_json::Value>(body)
                {
                    let s = m.stores.get_mut(&id).expect("checked");
                    for (k, v) in o {
                        let v = v.as_str().unwrap_or_default().to_string();
                        s.labels.retain(|(lk, _)| *lk != k);
                        s.labels.push((k, v));
                    }
                }
                m.revision += 1;
                json_str(200, "The store's label is updated.")
            } else if parts[2] == "limit" {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
                    let rate = v.get("rate").and_then(|x| x.as_f64()).unwrap_or(15.0);
                    let ty = v.get("type").and_then(|x| x.as_str()).unwrap_or("");
                    let e =
                        m.schedule
                            .store_limit
                            .entry(id.to_string())
                            .or_insert(model::StoreLimit {
                                add_peer: model::GoFloatSer(15.0),
                                remove_peer: model::GoFloatSer(15.0),
                            });
                    match ty {
                        "add-peer" => e.add_peer = model::GoFloatSer(rate),
                        "remove-peer" => e.remove_peer = model::GoFloatSer(rate),
                        _ => {
                            e.add_peer = model::GoFloatSer(rate);
                            e.remove_peer = model::GoFloatSer(rate);
                        }
                    }
                }
                m.revision += 1;
                json_str(200, "The store's label is updated.")
            } else {
                json_str(200, "The store's label is updated.")
            }
        }
        _ => return None,
    })
}

/// `regions`, `region`, `hotspot`: lookups by id, key, store and check, and hot regions.
fn regions_routes(r: &Request<'_>) -> Option<Resp> {
    let node = r.node;
    let now = r.now;
    let qget = |k: &str| r.query(k);
    let q = r.q;
    Some(match (r.method, r.parts) {
        (&Method::GET, ["regions"]) => {
            let m = node.model.lock();
            data(m.regions_json(m.regions.values(), now))
        }
        (&Method::GET, ["region", "id", id]) => {
            let Ok(id) = id.parse::<u64>() else {
                return Some(json_str(
                    400,
                    &format!("strconv.ParseUint: parsing {id:?}: invalid syntax"),
                ));
            };
            let m = node.model.lock();
            match m.regions.get(&id) {
                Some(r) => {
                    let mut s = String::new();
                    m.write_region_json(&mut s, r, now);
                    data(s)
                }
                None => data(model::REGION_NOT_FOUND_JSON.into()),
            }
        }
        (&Method::GET, ["region", "key", key]) => {
            let pos = if qget("format") == Some("hex") {
                match hex::decode(key) {
                    Ok(b) => model::position_of(&b),
                    Err(_) => return Some(json_str(400, "invalid hex key")),
                }
            } else {
                model::position_of(url_decode(key).as_bytes())
            };
            let m = node.model.lock();
            match m.region_at(pos) {
                Some(r) => {
                    let mut s = String::new();
                    m.write_region_json(&mut s, r, now);
                    data(s)
                }
                None => data(model::REGION_NOT_FOUND_JSON.into()),
            }
        }
        (&Method::GET, ["regions", "key"]) => {
            let hexfmt = qget("format") == Some("hex");
            let conv = |s: &str| -> Option<u64> {
                if s.is_empty() {
                    return Some(model::KEY_MIN);
                }
                if hexfmt {
                    hex::decode(s).ok().map(|b| model::position_of(&b))
                } else {
                    Some(model::position_of(s.as_bytes()))
                }
            };
            let Some(start) = conv(qget("key").unwrap_or("")) else {
                return Some(json_str(400, "invalid hex key"));
            };
            let end = match qget("end_key") {
                None | Some("") => KEY_MAX,
                Some(e) => match conv(e) {
                    Some(p) => p,
                    None => return Some(json_str(400, "invalid hex key")),
                },
            };
            let limit: i64 = qget("limit").and_then(|l| l.parse().ok()).unwrap_or(16);
            let limit = if limit <= 0 {
                0
            } else {
                limit.min(10240) as usize
            };
            let m = node.model.lock();
            let regs = m.scan_regions(start, end, limit);
            data(m.regions_json(regs.into_iter(), now))
        }
        (&Method::GET, ["regions", "store", id]) => {
            let Ok(id) = id.parse::<u64>() else {
                return Some(json_str(400, "invalid store id"));
            };
            let ty = qget("type").unwrap_or("all");
            let m = node.model.lock();
            let ids = m.store_region_ids(id);
            let regs = ids.iter().filter_map(|r| m.regions.get(r)).filter(|r| {
                let p = r.peers.iter().find(|p| p.store_id == id);
                match ty {
                    "leader" => r.leader_store() == id,
                    "follower" => r.leader_store() != id && p.is_some_and(|p| p.role == 0),
                    "learner" => p.is_some_and(|p| p.role == model::role::LEARNER),
                    "pending" => p.is_some_and(|p| r.pending_peers.contains(&p.id)),
                    "witness" => false,
                    _ => true,
                }
            });
            data(m.regions_json(regs, now))
        }
        (&Method::GET, ["regions", "check", ty]) => {
            let Some(i) = CHECKS.iter().position(|c| c == ty) else {
                if *ty == "hist-size" || *ty == "hist-keys" {
                    return Some(pretty(200, &Vec::<serde_json::Value>::new()));
                }
                return Some(json_str(404, &format!("unknown check type {ty}")));
            };
            let m = node.model.lock();
            let regs = m.check_ids(i).iter().filter_map(|id| m.regions.get(id));
            data(m.regions_json(regs, now))
        }
        (&Method::GET, ["hotspot", "regions", kind @ ("read" | "write")]) => {
            let m = node.model.lock();
            let filter: Vec<u64> = q
                .get("store_id")
                .map(|v| v.iter().filter_map(|s| s.parse().ok()).collect())
                .unwrap_or_default();
            pretty(
                200,
                &crate::sim::metrics::hot_peers(&m, kind == &"write", &filter, now),
            )
        }
        (&Method::GET, ["hotspot", "stores"]) => {
            let m = node.model.lock();
            pretty(200, &crate::sim::metrics::hot_stores(&m, now))
        }
        _ => return None,
    })
}

/// `operators`: listing, creating and cancelling.
fn operators_routes(r: &Request<'_>) -> Option<Resp> {
    let node = r.node;
    let body = r.body;
    let now = r.now;
    let qget = |k: &str| r.query(k);
    let q = r.q;
    Some(match (r.method, r.parts) {
        (&Method::GET, ["operators"]) => {
            let m = node.model.lock();
            let kind_filter = qget("kind");
            let ops = m.operators.values().filter(|op| {
                kind_filter.is_none_or(|k| model::kind::names(op.kind).split(',').any(|n| n == k))
            });
            if q.contains_key("object") {
                #[derive(Serialize)]
                struct O {
                    desc: String,
                    brief: String,
                    region_id: u64,
                    region_epoch: serde_json::Value,
                    kind: u32,
                    timeout: String,
                    status: u8,
                }
                let v: Vec<O> = ops
                    .map(|op| O {
                        desc: op.desc.clone(),
                        brief: op.brief.clone(),
                        region_id: op.region_id,
                        region_epoch: serde_json::json!({"conf_ver": op.epoch.0, "version": op.epoch.1}),
                        kind: op.kind,
                        timeout: wire::go_duration(Duration::from_secs(op.timeout_secs)),
                        status: op.status,
                    })
                    .collect();
                pretty(200, &v)
            } else {
                let v: Vec<String> = ops.map(|op| op.to_pd_string(m.bootstrap_ms)).collect();
                pretty(200, &v)
            }
        }
        (&Method::GET, ["operators", id]) => {
            let Ok(id) = id.parse::<u64>() else {
                return Some(json_str(400, "invalid region id"));
            };
            let m = node.model.lock();
            if let Some(op) = m.operators.get(&id) {
                json_str(
                    200,
                    &format!(
                        "status: RUNNING, operator: {}",
                        op.to_pd_string(m.bootstrap_ms)
                    ),
                )
            } else if let Some(op) = m.finished_operators.get(&id) {
                let st = match op.status {
                    model::op_status::SUCCESS => "SUCCESS",
                    model::op_status::TIMEOUT => "TIMEOUT",
                    model::op_status::REPLACED => "REPLACE",
                    _ => "CANCEL",
                };
                json_str(
                    200,
                    &format!(
                        "status: {st}, operator: {}",
                        op.to_pd_string(m.bootstrap_ms)
                    ),
                )
            } else {
                pretty(200, &serde_json::Value::Null)
            }
        }
        (&Method::POST, ["operators"]) => {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
                return Some(json_str(400, "invalid JSON body"));
            };
            let res = node.model.lock().admin_operator(&v, now);
            node.flush_model_logs();
            match res {
                Ok(()) => json_str(200, "The operator is created."),
                Err(e) => model_err(e),
            }
        }
        (&Method::DELETE, ["operators"]) => {
            node.model.lock().cancel_all_operators();
            json_str(200, "All pending operators are canceled.")
        }
        (&Method::DELETE, ["operators", id]) => {
            let Ok(id) = id.parse::<u64>() else {
                return Some(json_str(400, "invalid region id"));
            };
            if node
                .model
                .lock()
                .cancel_operator(id, model::op_status::CANCELED)
            {
                json_str(200, "The pending operator is canceled.")
            } else {
                json_str(500, "[PD:operator:ErrOperatorNotFound]operator not found")
            }
        }
        _ => return None,
    })
}

/// `schedulers`, `scheduler-config`: listing, adding, pausing and removing.
fn schedulers_routes(r: &Request<'_>) -> Option<Resp> {
    let node = r.node;
    let body = r.body;
    let now = r.now;
    let qget = |k: &str| r.query(k);
    Some(match (r.method, r.parts) {
        (&Method::GET, ["schedulers"]) => {
            let m = node.model.lock();
            match qget("status") {
                Some("paused") => {
                    let v: Vec<&String> = m.schedulers.paused_until.keys().collect();
                    pretty(200, &v)
                }
                Some("disabled") => pretty(200, &Vec::<String>::new()),
                _ => pretty(200, &m.schedulers.names),
            }
        }
        (&Method::POST, ["schedulers"]) => {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
                return Some(json_str(400, "invalid JSON body"));
            };
            let name = v
                .get("name")
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string();
            let mut m = node.model.lock();
            let res = if name == "evict-leader-scheduler" || name == "grant-leader-scheduler" {
                let Some(store) = v.get("store_id").and_then(|x| {
                    x.as_u64()
                        .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
                }) else {
                    return Some(json_str(400, "missing store id"));
                };
                m.add_store_scheduler(&name, store).map(|created| {
                    if created {
                        "The scheduler is created."
                    } else {
                        "The scheduler has been applied to the store."
                    }
                })
            } else {
                m.add_scheduler(&name).map(|_| "The scheduler is created.")
            };
            match res {
                Ok(msg) => json_str(200, msg),
                Err(e) => model_err(e),
            }
        }
        (&Method::DELETE, ["schedulers", name]) => match node.model.lock().remove_scheduler(name) {
            Ok(()) => json_str(200, "The scheduler is removed."),
            Err(e) => model_err(e),
        },
        (&Method::POST, ["schedulers", name]) => {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let delay = v.get("delay").and_then(|x| x.as_i64()).unwrap_or(0);
            let mut m = node.model.lock();
            if !m.schedulers.names.iter().any(|n| n == name) {
                return Some(model_err(ModelError::SchedulerNotFound));
            }
            if delay <= 0 {
                m.schedulers.paused_until.remove(*name);
            } else {
                m.schedulers
                    .paused_until
                    .insert(name.to_string(), now + delay as u64 * 1000);
            }
            m.revision += 1;
            json_str(200, "Pause or resume the scheduler successfully.")
        }
        (&Method::GET, ["scheduler-config", "evict-leader-scheduler", "list"]) => {
            let m = node.model.lock();
            if !m
                .schedulers
                .names
                .iter()
                .any(|n| n == "evict-leader-scheduler")
            {
                return Some(model_err(ModelError::SchedulerNotFound));
            }
            let mut ranges = serde_json::Map::new();
            for s in &m.schedulers.evict_leader {
                ranges.insert(
                    s.to_string(),
                    serde_json::json!([{"start-key": "", "end-key": ""}]),
                );
            }
            #[derive(Serialize)]
            struct L {
                #[serde(rename = "store-id-ranges")]
                ranges: serde_json::Map<String, serde_json::Value>,
                batch: u64,
            }
            pretty(200, &L { ranges, batch: 3 })
        }
        (
            &Method::POST | &Method::DELETE,
            ["scheduler-config", "evict-leader-scheduler", "delete", id],
        ) => {
            match node
                .model
                .lock()
                .remove_scheduler(&format!("evict-leader-scheduler-{id}"))
            {
                Ok(()) => pretty(200, &serde_json::Value::Null),
                Err(e) => model_err(e),
            }
        }
        _ => return None,
    })
}

pub(super) fn remove_member(
    node: &Arc<PdNode>,
    pred: impl Fn(&MemberInfo) -> bool,
    what: &str,
) -> Resp {
    let mut r = node.raft.lock();
    let Some(id) = r.members.values().find(|m| pred(m)).map(|m| m.member_id) else {
        return json_str(404, &format!("member {what} not found"));
    };
    let name = r.members[&id].name.clone();
    r.members.remove(&id);
    r.acks.remove(&id);
    let me = node.me.lock().member_id;
    let self_removed = id == me;
    drop(r);
    node.logger
        .info("member.go:420", "remove member", &[("name", name.clone())]);
    if self_removed {
        // Tell the others first (they learn the new member list), then stand aside.
        let node = node.clone();
        tokio::spawn(async move {
            send_appends(&node).await;
            let term = node.raft.lock().term;
            node.step_down(term, None);
            node.raft.lock().removed = true;
        });
    }
    json_str(200, &format!("removed, pd: {name}"))
}

#[derive(Serialize)]
pub(super) struct VersionJson {
    version: &'static str,
    build_time: &'static str,
    hash: &'static str,
    branch: &'static str,
}

impl VersionJson {
    fn default_new() -> Self {
        Self {
            version: PD_VERSION,
            build_time: "",
            hash: "",
            branch: "",
        }
    }
}

#[derive(Serialize)]
pub(super) struct StatusJson {
    build_ts: String,
    version: String,
    git_hash: String,
    start_timestamp: i64,
}

#[derive(Serialize)]
pub(super) struct StoresJson {
    count: usize,
    stores: Vec<model::StoreInfo>,
}

pub(super) fn indent_nested(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str("  ");
        }
        out.push_str(line);
    }
    out
}

pub(super) fn full_config(node: &Arc<PdNode>) -> String {
    let m = node.model.lock();
    let cfg = &node.cfg;
    let js = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let join = |v: &[String]| v.join(",");
    let initial = cfg
        .initial_cluster
        .iter()
        .map(|(n, u)| format!("{n}={u}"))
        .collect::<Vec<_>>()
        .join(",");
    let initial = if initial.is_empty() {
        format!("{}={}", cfg.name, join(&cfg.adv_peer()))
    } else {
        initial
    };
    let sched = indent_nested(&serde_json::to_string_pretty(&m.schedule).unwrap_or_default());
    let repl = indent_nested(&serde_json::to_string_pretty(&m.replication).unwrap_or_default());
    let dashboard = cfg.adv_client().first().cloned().unwrap_or_default();
    format!(
        "{{\n  \"client-urls\": {},\n  \"peer-urls\": {},\n  \"advertise-client-urls\": {},\n  \"advertise-peer-urls\": {},\n  \"name\": {},\n  \"data-dir\": {},\n  \"force-new-cluster\": false,\n  \"enable-grpc-gateway\": true,\n  \"initial-cluster\": {},\n  \"initial-cluster-state\": {},\n  \"initial-cluster-token\": \"pd-cluster\",\n  \"join\": {},\n  \"lease\": 5,\n{}  \"schedule\": {},\n  \"replication\": {},\n{}}}\n",
        js(&join(&cfg.client_urls)),
        js(&join(&cfg.peer_urls)),
        js(&join(&cfg.adv_client())),
        js(&join(&cfg.adv_peer())),
        js(&cfg.name),
        js(&cfg.data_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_else(|| format!("default.{}", cfg.name))),
        js(&initial),
        js(if cfg.join.is_empty() { "new" } else { "existing" }),
        js(&join(&cfg.join)),
        CONFIG_MIDDLE,
        sched,
        repl,
        CONFIG_TAIL.replace("@DASHBOARD@", &dashboard),
    )
}

pub(super) const CONFIG_MIDDLE: &str = r#"  "log": {
    "level": "info",
    "format": "text",
    "disable-timestamp": false,
    "file": {
      "filename": "",
      "max-size": 0,
      "max-days": 0,
      "max-backups": 0
    },
    "development": false,
    "disable-caller": false,
    "disable-stacktrace": false,
    "disable-error-verbose": true,
    "sampling": null,
    "error-output-path": ""
  },
  "max-concurrent-tso-proxy-streamings": 5000,
  "tso-proxy-recv-from-client-timeout": "1h0m0s",
  "tso-save-interval": "5s",
  "tso-update-physical-interval": "50ms",
  "enable-local-tso": false,
  "metric": {
    "job": "pd",
    "address": "",
    "interval": "15s"
  },
"#;

pub(super) const CONFIG_TAIL: &str = r#"  "pd-server": {
    "use-region-storage": "true",
    "max-gap-reset-ts": "24h0m0s",
    "key-type": "table",
    "runtime-services": "",
    "metric-storage": "",
    "dashboard-address": "@DASHBOARD@",
    "flow-round-by-digit": 3,
    "min-resolved-ts-persistence-interval": "1s",
    "server-memory-limit": 0,
    "server-memory-limit-gc-trigger": 0.7,
    "enable-gogc-tuner": "false",
    "gc-tuner-threshold": 0.6,
    "block-safe-point-v1": "false"
  },
  "cluster-version": "8.5.7",
  "labels": {},
  "quota-backend-bytes": "8GiB",
  "auto-compaction-mode": "periodic",
  "auto-compaction-retention-v2": "1h",
  "tick-interval": "500ms",
  "election-interval": "3s",
  "enable-prevote": true,
  "max-request-bytes": 157286400,
  "security": {
    "cacert-path": "",
    "cert-path": "",
    "key-path": "",
    "cert-allowed-cn": null,
    "SSLCABytes": null,
    "SSLCertBytes": null,
    "SSLKEYBytes": null,
    "redact-info-log": false,
    "encryption": {
      "data-encryption-method": "plaintext",
      "data-key-rotation-period": "168h0m0s",
      "master-key": {
        "type": "plaintext",
        "key-id": "",
        "region": "",
        "endpoint": "",
        "path": ""
      }
    }
  },
  "label-property": {},
  "dashboard": {
    "tidb-cacert-path": "",
    "tidb-cert-path": "",
    "tidb-key-path": "",
    "public-path-prefix": "",
    "internal-proxy": false,
    "enable-telemetry": false,
    "enable-experimental": false,
    "disable-custom-prom-addr": false
  },
  "replication-mode": {
    "replication-mode": "majority",
    "dr-auto-sync": {
      "label-key": "",
      "primary": "",
      "dr": "",
      "primary-replicas": 0,
      "dr-replicas": 0,
      "wait-store-timeout": "1m0s",
      "wait-recover-timeout": "0s",
      "pause-region-split": "false"
    }
  },
  "keyspace": {
    "pre-alloc": null,
    "wait-region-split": true,
    "wait-region-split-timeout": "30s",
    "check-region-split-interval": "50ms"
  },
  "micro-service": {
    "enable-scheduling-fallback": "true"
  },
  "controller": {
    "degraded-mode-wait-duration": "0s",
    "ltb-max-wait-duration": "30s",
    "ltb-token-rpc-max-delay": "1s",
    "request-unit": {
      "read-base-cost": 0.125,
      "read-per-batch-base-cost": 0.5,
      "read-cost-per-byte": 0.0000152587890625,
      "write-base-cost": 1,
      "write-per-batch-base-cost": 1,
      "write-cost-per-byte": 0.0009765625,
      "read-cpu-ms-cost": 0.3333333333333333
    },
    "enable-controller-trace-log": "false"
  }
"#;
