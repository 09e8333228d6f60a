//! Planner tests: examples for each operation and properties over a model world.
//!
//! The model world is a small interpreter of plan steps: it keeps owned Docker objects
//! and a PD view, and reacts to steps the way Docker and PD do (a deleted store turns
//! Offline, then Tombstone on a later tick; an evict-leader scheduler takes a store's
//! leaders). Properties drive the real planner against it.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::*;
use crate::runtime::{ObservedNetwork, ObservedVolume};
use crate::spec::{parse_str, ValidationContext};
use crate::subjects::tikv::model::{Member, NodeState, RegionHealth, Store};

fn spec_with(pd: u32, tikv: u32, tikv_image: &str, extra: &str) -> ClusterSpec {
    let text = format!(
        "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: demo\nspec:\n  pd:\n    replicas: {pd}\n  tikv:\n    replicas: {tikv}\n    image: {tikv_image}\n  monitoring:\n    grafana:\n      enabled: false\n      image: grafana/grafana:12.1.0\n{extra}"
    );
    parse_str(&text, "t.yaml", ValidationContext { new_cluster: false })
        .unwrap()
        .0
}

/// A model of Docker + PD reacting to steps.
#[derive(Debug, Clone)]
struct World {
    owned: Owned,
    stores: Vec<Store>,
    members: Vec<String>,
    leader: Option<String>,
    evict: Vec<u64>,
    memory: Memory,
    now: SystemTime,
    next_store_id: u64,
    /// Safety violations seen while applying steps.
    violations: Vec<String>,
}

impl World {
    fn new() -> Self {
        Self {
            owned: Owned::default(),
            stores: vec![],
            members: vec![],
            leader: None,
            evict: vec![],
            memory: Memory::default(),
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
            next_store_id: 1,
            violations: vec![],
        }
    }

    fn observed(&mut self) -> Observed {
        let pd_running = self.owned.containers.iter().any(|c| {
            c.label(labels::COMPONENT) == Some("pd") && c.status == ContainerStatus::Running
        });
        let pd = pd_running.then(|| PdView {
            endpoint: "http://demo-pd-0:2379".into(),
            cluster_id: 1,
            members: self
                .members
                .iter()
                .map(|n| Member {
                    name: n.clone(),
                    member_id: 1,
                    client_urls: vec![],
                    peer_urls: vec![],
                    healthy: Some(true),
                })
                .collect(),
            leader: self.leader.clone(),
            stores: self.stores.clone(),
            bootstrapped: !self.stores.is_empty(),
            max_replicas: 3,
            schedulers: vec![],
            evict_leader_stores: self.evict.clone(),
            region_health: Some(RegionHealth::default()),
            max_store_down_time_secs: 1800,
            low_space_ratio: 0.8,
            hot_regions: vec![],
        });
        self.memory.observe(pd.as_ref(), self.now);
        Observed {
            at: Some(self.now),
            owned: self.owned.clone(),
            pd,
            pd_error: None,
            memory: self.memory.clone(),
        }
    }

    fn container_of(&self, member: &str) -> Option<&ObservedContainer> {
        self.owned
            .containers
            .iter()
            .find(|c| c.label(labels::MEMBER) == Some(member))
    }

    fn add_container(&mut self, spec: &ContainerSpec) {
        self.owned.containers.push(ObservedContainer {
            id: format!("id-{}", spec.name),
            name: spec.name.clone(),
            image: spec.image.clone(),
            labels: spec.labels.clone(),
            status: ContainerStatus::Running,
            exit_code: None,
            oom_killed: false,
            ip: Some("10.0.0.2".into()),
            networks: vec![spec.network.clone()],
            started_at: Some(self.now),
            finished_at: None,
        });
        let member = spec.labels[labels::MEMBER].clone();
        match spec.labels[labels::COMPONENT].as_str() {
            "pd" => {
                if !self.members.contains(&member) {
                    self.members.push(member.clone());
                }
                if self.leader.is_none() {
                    self.leader = Some(member);
                }
            }
            "tikv" => {
                let address = spec
                    .cmd
                    .iter()
                    .find_map(|a| a.strip_prefix("--advertise-addr="))
                    .unwrap()
                    .to_string();
                let now_secs = self
                    .now
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_secs() as i64;
                for s in &mut self.stores {
                    if s.address == address && s.state != StoreState::Tombstone {
                        s.start_unix_secs = now_secs;
                    }
                }
                let live = self
                    .stores
                    .iter()
                    .any(|s| s.address == address && s.state != StoreState::Tombstone);
                if !live {
                    let id = self.next_store_id;
                    self.next_store_id += 1;
                    self.stores.push(Store {
                        id,
                        address,
                        status_address: String::new(),
                        state: StoreState::Up,
                        node_state: NodeState::Serving,
                        version: "8.5.7".into(),
                        leader_count: 10,
                        region_count: 30,
                        capacity_bytes: 100,
                        available_bytes: 80,
                        used_bytes: 20,
                        slow_score: Some(1),
                        last_heartbeat_unix_nanos: 0,
                        start_unix_secs: now_secs,
                        physically_destroyed: false,
                        pending_peer_count: 0,
                    });
                }
            }
            _ => {}
        }
    }

    fn member_store(&self, member: &str) -> Option<&Store> {
        let c = self.container_of(member)?;
        let addr = format!("{}:20160", c.name);
        self.stores
            .iter()
            .filter(|s| s.address == addr)
            .find(|s| s.state != StoreState::Tombstone)
            .or_else(|| self.stores.iter().rfind(|s| s.address == addr))
    }

    fn apply(&mut self, step: &Step) {
        let foreign = self.owned.foreign_names.clone();
        let touches = |name: &str| foreign.iter().any(|f| f == name);
        match step {
            Step::CreateNetwork { spec, .. } => {
                if touches(&spec.name) {
                    self.violations
                        .push(format!("touched foreign network {}", spec.name));
                }
                self.owned.networks.push(ObservedNetwork {
                    name: spec.name.clone(),
                    labels: spec.labels.clone(),
                })
            }
            Step::CreateVolume { spec, .. } => {
                if touches(&spec.name) {
                    self.violations
                        .push(format!("touched foreign volume {}", spec.name));
                }
                if self.owned.volumes.iter().any(|v| v.name == spec.name) {
                    self.violations
                        .push(format!("volume {} created twice", spec.name));
                }
                self.owned.volumes.push(ObservedVolume {
                    name: spec.name.clone(),
                    labels: spec.labels.clone(),
                })
            }
            Step::CreateContainer { spec, .. } => {
                if touches(&spec.name) {
                    self.violations
                        .push(format!("touched foreign container {}", spec.name));
                }
                if self.owned.containers.iter().any(|c| c.name == spec.name) {
                    self.violations
                        .push(format!("duplicate container {}", spec.name));
                }
                for m in &spec.mounts {
                    if !self.owned.volumes.iter().any(|v| v.name == m.volume) {
                        self.violations
                            .push(format!("{} mounts missing volume {}", spec.name, m.volume));
                    }
                }
                self.add_container(spec)
            }
            Step::RecreateContainer { member, spec, .. } => {
                if let Some(s) = self.member_store(member) {
                    if s.leader_count > 0 && !s.state.is_stored_up() {
                        self.violations
                            .push(format!("recreated {member} while its store is not up"));
                    }
                }
                self.owned
                    .containers
                    .retain(|c| c.label(labels::MEMBER) != Some(member.as_str()));
                self.add_container(spec);
            }
            Step::RestartContainer { member, .. } => {
                for c in &mut self.owned.containers {
                    if c.label(labels::MEMBER) == Some(member.as_str()) {
                        c.status = ContainerStatus::Running;
                    }
                }
            }
            Step::RemoveContainer { member, .. } => {
                if let Some(s) = self.member_store(member) {
                    if s.state != StoreState::Tombstone {
                        self.violations.push(format!(
                            "removed {member} whose store {} is {:?}",
                            s.id, s.state
                        ));
                    }
                }
                if member.starts_with("pd-") && self.members.contains(member) {
                    self.violations.push(format!(
                        "removed container of PD member {member} still in PD"
                    ));
                }
                self.owned
                    .containers
                    .retain(|c| c.label(labels::MEMBER) != Some(member.as_str()));
            }
            Step::RemoveVolume { name, .. } => {
                if touches(name) {
                    self.violations
                        .push(format!("touched foreign volume {name}"));
                }
                let in_use = self.owned.containers.iter().any(|c| {
                    format!("demo-{}-data", c.label(labels::MEMBER).unwrap_or("")) == *name
                });
                if in_use {
                    self.violations
                        .push(format!("removed volume {name} in use"));
                }
                self.owned.volumes.retain(|v| &v.name != name)
            }
            Step::DeleteStore { store_id, .. } => {
                let up_after = self
                    .stores
                    .iter()
                    .filter(|s| s.state == StoreState::Up && s.id != *store_id)
                    .count();
                if up_after < 3 {
                    self.violations.push(format!(
                        "deleted store {store_id} leaving {up_after} Up stores"
                    ));
                }
                for s in &mut self.stores {
                    if s.id == *store_id {
                        s.state = StoreState::Offline;
                        s.node_state = NodeState::Removing;
                    }
                }
            }
            Step::CancelStoreDelete { store_id, .. } => {
                for s in &mut self.stores {
                    if s.id == *store_id && s.state == StoreState::Offline {
                        s.state = StoreState::Up;
                        s.node_state = NodeState::Serving;
                    }
                }
            }
            Step::AddEvictLeader { store_id, .. } => {
                self.evict.push(*store_id);
                for s in &mut self.stores {
                    if s.id == *store_id {
                        s.leader_count = 0;
                    }
                }
            }
            Step::RemoveEvictLeader { store_id, .. } => {
                self.evict.retain(|s| s != store_id);
            }
            Step::TransferPdLeader { to, .. } => self.leader = Some(to.clone()),
            Step::WriteScrapeTargets { .. } => {}
            Step::DeletePdMember { name } => {
                if self.leader.as_deref() == Some(name.as_str()) {
                    self.violations
                        .push(format!("removed the PD leader {name}"));
                }
                self.members.retain(|m| m != name)
            }
        }
        self.memory.record(step, self.now);
    }

    /// Time passes: Offline stores drain to Tombstone, leaders return to stores
    /// without an evict-leader scheduler.
    fn tick(&mut self) {
        self.now += Duration::from_secs(5);
        for s in &mut self.stores {
            if s.state == StoreState::Offline {
                s.state = StoreState::Tombstone;
                s.node_state = NodeState::Removed;
                s.region_count = 0;
                s.leader_count = 0;
            } else if s.state == StoreState::Up
                && !self.evict.contains(&s.id)
                && s.leader_count == 0
            {
                s.leader_count = 5;
            }
        }
    }

    /// Runs plan/apply until converged; returns the number of steps.
    fn converge(&mut self, spec: &ClusterSpec) -> usize {
        let mut steps = 0;
        for _ in 0..400 {
            let obs = self.observed();
            let plan = plan(spec, &obs, self.now);
            for s in &plan.steps {
                let text = s.to_string();
                for f in &self.owned.foreign_names {
                    assert!(
                        !text.contains(&format!(" {f} ")) && !text.ends_with(f.as_str()),
                        "step {text} names foreign {f}"
                    );
                }
            }
            match plan.steps.first() {
                Some(step) => {
                    self.apply(step);
                    steps += 1;
                }
                None if plan.waits.is_empty() => return steps,
                None => self.tick(),
            }
        }
        panic!(
            "did not converge: {:#?}",
            plan(spec, &self.observed(), self.now)
        );
    }

    fn assert_matches(&mut self, spec: &ClusterSpec) {
        let topo = Topology::new(spec);
        let obs = self.observed();
        for (component, n) in [
            (Component::Pd, spec.spec.pd.replicas),
            (Component::Tikv, spec.spec.tikv.replicas),
        ] {
            let got: Vec<&ObservedContainer> = obs
                .owned
                .containers
                .iter()
                .filter(|c| c.label(labels::COMPONENT) == Some(component.as_str()))
                .collect();
            assert_eq!(got.len() as u32, n, "{component:?} count");
            for c in got {
                assert_eq!(c.status, ContainerStatus::Running);
                assert_eq!(
                    c.label(labels::SPEC_HASH),
                    Some(topo.spec_hash(component).as_str())
                );
            }
        }
        assert_eq!(self.members.len() as u32, spec.spec.pd.replicas);
        // No volume of a member that is gone for good is left behind.
        let volumes_of = |component: &str| {
            obs.owned
                .volumes
                .iter()
                .filter(|v| v.labels.get(labels::COMPONENT).map(String::as_str) == Some(component))
                .count() as u32
        };
        assert_eq!(
            volumes_of("pd"),
            spec.spec.pd.replicas,
            "PD volumes: {:?}",
            obs.owned.volumes
        );
        if spec.spec.tikv.volume_policy == crate::spec::VolumePolicy::Delete {
            assert_eq!(
                volumes_of("tikv"),
                spec.spec.tikv.replicas,
                "TiKV volumes under volumePolicy delete: {:?}",
                obs.owned.volumes
            );
        }
        assert!(
            self.evict.is_empty(),
            "evict-leader left behind: {:?}",
            self.evict
        );
        let live = self
            .stores
            .iter()
            .filter(|s| s.state != StoreState::Tombstone)
            .count() as u32;
        assert_eq!(live, spec.spec.tikv.replicas);
        assert!(
            self.violations.is_empty(),
            "safety violations: {:?}",
            self.violations
        );
        let again = plan(spec, &obs, self.now);
        assert!(
            again.is_converged(),
            "a converged cluster plans nothing: {again:#?}"
        );
    }
}

#[test]
fn creating_from_nothing_orders_network_volumes_pd_then_tikv() {
    let spec = spec_with(3, 3, "pingcap/tikv:v8.5.7", "");
    let mut w = World::new();
    let obs = w.observed();
    let p = plan(&spec, &obs, w.now);
    assert!(matches!(p.steps[0], Step::CreateNetwork { .. }));
    let kinds: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
    assert!(
        kinds.iter().any(|s| s.starts_with("create pd-0")),
        "{kinds:?}"
    );
    assert!(
        !kinds.iter().any(|s| s.starts_with("create tikv")),
        "TiKV waits for PD: {kinds:?}"
    );
    assert!(p
        .waits
        .iter()
        .any(|w| w.contains("waiting for PD to elect a leader")));
    w.converge(&spec);
    w.assert_matches(&spec);
}

#[test]
fn scale_in_is_refused_when_up_stores_would_fall_below_max_replicas() {
    let spec3 = spec_with(1, 3, "pingcap/tikv:v8.5.7", "");
    let mut w = World::new();
    w.converge(&spec3);
    let spec2 = spec_with(1, 2, "pingcap/tikv:v8.5.7", "");
    let p = plan(&spec2, &w.observed(), w.now);
    assert!(
        p.refusals
            .iter()
            .any(|r| r.contains("only 2 Up stores would remain, fewer than PD's max-replicas 3")),
        "{p:#?}"
    );
    assert!(!p
        .steps
        .iter()
        .any(|s| matches!(s, Step::DeleteStore { .. } | Step::RemoveContainer { .. })));
}

#[test]
fn a_store_is_removed_only_after_pd_reports_it_tombstone() {
    let spec4 = spec_with(1, 4, "pingcap/tikv:v8.5.7", "");
    let mut w = World::new();
    w.converge(&spec4);
    let spec3 = spec_with(1, 3, "pingcap/tikv:v8.5.7", "");
    let p = plan(&spec3, &w.observed(), w.now);
    assert!(matches!(p.steps[0], Step::DeleteStore { .. }), "{p:#?}");
    w.apply(&p.steps[0]);
    // Offline: nothing removed, progress reported, the draining store still scraped.
    let p = plan(&spec3, &w.observed(), w.now);
    assert!(p.steps.is_empty(), "{p:#?}");
    assert!(
        p.waits
            .iter()
            .any(|s| s.contains("Offline and draining: 30 regions left")),
        "{p:#?}"
    );
    w.tick();
    let p = plan(&spec3, &w.observed(), w.now);
    assert!(
        matches!(&p.steps[0], Step::RemoveContainer { member, .. } if member == "tikv-3"),
        "{p:#?}"
    );
    w.converge(&spec3);
    w.assert_matches(&spec3);
}

#[test]
fn raising_replicas_while_a_store_is_offline_brings_that_store_back_up() {
    let spec4 = spec_with(1, 4, "pingcap/tikv:v8.5.7", "");
    let mut w = World::new();
    w.converge(&spec4);
    let spec3 = spec_with(1, 3, "pingcap/tikv:v8.5.7", "");
    let p = plan(&spec3, &w.observed(), w.now);
    w.apply(&p.steps[0]);
    let p = plan(&spec4, &w.observed(), w.now);
    assert!(
        matches!(&p.steps[0], Step::CancelStoreDelete { member, .. } if member == "tikv-3"),
        "{p:#?}"
    );
    let before = w.stores.len();
    w.converge(&spec4);
    assert_eq!(w.stores.len(), before, "no new store was created");
    w.assert_matches(&spec4);
}

#[test]
fn a_rolling_upgrade_evicts_leaders_one_store_at_a_time_and_leaves_no_scheduler() {
    let spec = spec_with(3, 3, "pingcap/tikv:v8.5.7", "");
    let mut w = World::new();
    w.converge(&spec);
    let upgraded = spec_with(3, 3, "pingcap/tikv:v8.5.8", "");
    let mut order = vec![];
    for _ in 0..200 {
        let obs = w.observed();
        let p = plan(&upgraded, &obs, w.now);
        assert!(w.evict.len() <= 1, "at most one store evicted at a time");
        match p.steps.first() {
            Some(s) => {
                order.push(s.to_string());
                w.apply(s);
            }
            None if p.waits.is_empty() => break,
            None => w.tick(),
        }
    }
    let kinds: Vec<&str> = order
        .iter()
        .map(|s| s.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .map(|s| match s.as_str() {
            "add evict-leader" => "evict",
            "recreate tikv-0" | "recreate tikv-1" | "recreate tikv-2" => "recreate",
            "remove evict-leader" => "release",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["evict", "recreate", "release"].repeat(3),
        "{order:#?}"
    );
    w.assert_matches(&upgraded);
}

#[test]
fn pd_upgrades_followers_first_and_moves_leadership_before_the_leader() {
    let spec = spec_with(3, 3, "pingcap/tikv:v8.5.7", "");
    let mut w = World::new();
    w.converge(&spec);
    assert_eq!(w.leader.as_deref(), Some("pd-0"));
    let upgraded = {
        let mut s = spec.clone();
        s.spec.pd.image = crate::spec::ImageRef::parse("pingcap/pd:v8.5.8").unwrap();
        s
    };
    let mut order = vec![];
    for _ in 0..50 {
        let p = plan(&upgraded, &w.observed(), w.now);
        match p.steps.first() {
            Some(s) => {
                order.push(s.to_string());
                w.apply(s);
            }
            None if p.waits.is_empty() => break,
            None => w.tick(),
        }
    }
    assert!(order[0].starts_with("recreate pd-1"), "{order:#?}");
    assert!(order[1].starts_with("recreate pd-2"), "{order:#?}");
    assert!(
        order[2].starts_with("transfer PD leadership from pd-0"),
        "{order:#?}"
    );
    assert!(order[3].starts_with("recreate pd-0"), "{order:#?}");
    w.assert_matches(&upgraded);
}

#[test]
fn a_leftover_evict_leader_scheduler_is_reported_and_removed() {
    let spec = spec_with(1, 3, "pingcap/tikv:v8.5.7", "");
    let mut w = World::new();
    w.converge(&spec);
    w.evict.push(2);
    let p = plan(&spec, &w.observed(), w.now);
    assert!(
        matches!(p.steps[0], Step::RemoveEvictLeader { store_id: 2, .. }),
        "{p:#?}"
    );
    assert!(p.faults.iter().any(|f| f.detail.contains("left behind")));
}

#[test]
fn an_exited_container_is_a_fault_left_alone_under_observe_and_restarted_under_restart() {
    let spec = spec_with(1, 3, "pingcap/tikv:v8.5.7", "");
    let mut w = World::new();
    w.converge(&spec);
    for c in &mut w.owned.containers {
        if c.label(labels::MEMBER) == Some("tikv-1") {
            c.status = ContainerStatus::Exited;
            c.exit_code = Some(137);
            c.finished_at = Some(w.now);
        }
    }
    let p = plan(&spec, &w.observed(), w.now);
    assert!(p.steps.is_empty(), "{p:#?}");
    assert!(p.faults.iter().any(|f| f.target == "tikv-1"
        && f.detail.contains("code 137")
        && f.detail.contains("observe")));

    let restart = spec_with(
        1,
        3,
        "pingcap/tikv:v8.5.7",
        "  failurePolicy:\n    mode: restart\n    maxRestarts: 2\n    backoff: 10s\n",
    );
    let p = plan(&restart, &w.observed(), w.now);
    assert!(p.steps.is_empty(), "backoff not elapsed yet: {p:#?}");
    w.now += Duration::from_secs(11);
    let p = plan(&restart, &w.observed(), w.now);
    assert!(
        matches!(&p.steps[0], Step::RestartContainer { member, attempt: 1 } if member == "tikv-1"),
        "{p:#?}"
    );
}

#[test]
fn a_foreign_container_with_our_name_is_never_touched() {
    let spec = spec_with(1, 3, "pingcap/tikv:v8.5.7", "");
    let mut w = World::new();
    w.owned.foreign_names.push("demo-tikv-1".into());
    let _ = w.converge(&spec);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    assert!(w.container_of("tikv-1").is_none());
    let p = plan(&spec, &w.observed(), w.now);
    assert!(p
        .faults
        .iter()
        .any(|f| f.target == "demo-tikv-1" && f.detail.contains("does not own")));
}

#[test]
fn no_tikv_container_is_removed_while_pd_does_not_answer() {
    let spec4 = spec_with(1, 4, "pingcap/tikv:v8.5.7", "");
    let mut w = World::new();
    w.converge(&spec4);
    let spec3 = spec_with(1, 3, "pingcap/tikv:v8.5.7", "");
    let mut obs = w.observed();
    obs.pd = None;
    obs.pd_error = Some("connection refused".into());
    let p = plan(&spec3, &obs, w.now);
    assert!(p.steps.is_empty(), "{p:#?}");
    assert!(p.waits.iter().any(|s| s.contains("connection refused")));
}

#[test]
fn pd_scale_in_moves_leadership_away_then_removes_the_member_then_its_container() {
    let spec3 = spec_with(3, 3, "pingcap/tikv:v8.5.7", "");
    let mut w = World::new();
    w.converge(&spec3);
    w.leader = Some("pd-2".into());
    let spec1 = spec_with(1, 3, "pingcap/tikv:v8.5.7", "");
    let p = plan(&spec1, &w.observed(), w.now);
    assert_eq!(
        p.steps[0].to_string(),
        "transfer PD leadership from pd-2 to pd-0"
    );
    w.converge(&spec1);
    w.assert_matches(&spec1);
}

#[test]
fn scale_in_under_volume_policy_delete_removes_the_volume_after_the_container() {
    let spec5 = spec_with(1, 5, "pingcap/tikv:v8.5.7", "");
    let mut w = World::new();
    w.converge(&spec5);
    let mut spec3 = spec_with(1, 3, "pingcap/tikv:v8.5.7", "");
    spec3.spec.tikv.volume_policy = crate::spec::VolumePolicy::Delete;
    w.converge(&spec3);
    w.assert_matches(&spec3);
    assert!(
        !w.owned.volumes.iter().any(|v| v.name == "demo-tikv-4-data"),
        "{:?}",
        w.owned.volumes
    );
}

fn arb_state() -> impl Strategy<Value = (u32, u32, bool)> {
    (1u32..=5, 3u32..=6, any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Any sequence of specs converges, a converged cluster plans nothing, and no step
    /// ever breaks a safety rule (checked by the world on every step).
    #[test]
    fn any_sequence_of_specs_converges_safely(seq in proptest::collection::vec(arb_state(), 1..4), foreign in any::<bool>()) {
        let mut w = World::new();
        if foreign {
            w.owned.foreign_names.push("demo-tikv-9".into());
        }
        let mut tikv_floor = 3;
        for (pd, tikv, new_image) in seq {
            let image = if new_image { "pingcap/tikv:v8.5.8" } else { "pingcap/tikv:v8.5.7" };
            let tikv = tikv.max(tikv_floor).min(if foreign { 9 } else { 10 });
            tikv_floor = 3;
            let spec = spec_with(pd, tikv, image, "");
            w.converge(&spec);
            w.assert_matches(&spec);
        }
    }

    /// Permuting the observed containers does not change the plan.
    #[test]
    fn the_plan_does_not_depend_on_the_order_containers_are_listed(pd in 1u32..4, tikv in 3u32..6, seed in any::<u64>()) {
        let spec = spec_with(pd, tikv, "pingcap/tikv:v8.5.7", "");
        let mut w = World::new();
        w.converge(&spec);
        let bigger = spec_with(pd + 1, tikv + 1, "pingcap/tikv:v8.5.8", "");
        let obs = w.observed();
        let mut shuffled = obs.clone();
        let n = shuffled.owned.containers.len();
        let k = (seed as usize) % n.max(1);
        shuffled.owned.containers.rotate_left(k);
        shuffled.owned.containers.reverse();
        prop_assert_eq!(plan(&bigger, &obs, w.now), plan(&bigger, &shuffled, w.now));
    }
}

#[test]
fn the_plan_is_deterministic_for_equal_inputs() {
    let spec = spec_with(3, 4, "pingcap/tikv:v8.5.7", "");
    let mut w = World::new();
    let obs = w.observed();
    assert_eq!(plan(&spec, &obs, w.now), plan(&spec, &obs, w.now));
}
