//! The planner: `plan(spec, observed) -> Plan`, a pure function.
//!
//! The planner compares what the spec wants with one observed snapshot (owned Docker
//! objects, PD's view, and the controller's short memory of its own operations) and
//! returns an ordered list of typed steps, plus the reasons it is waiting, the operations
//! it refuses, and the faults it sees. The controller applies only the first step and
//! observes again, so every decision is re-made from fresh facts.
//!
//! # Guarantees
//!
//! - **Ownership**: every step names a member, volume or network of this cluster; the
//!   planner never emits a step for a name listed in [`Owned::foreign_names`].
//! - **Tombstone before removal**: a TiKV container whose store PD knows is removed
//!   only when PD reports that store `Tombstone` (or PD, reachable and bootstrapped,
//!   has never heard of it). While PD does not answer, no TiKV container is removed.
//! - **Replica safety**: a store is deleted only when the Up stores that remain are at
//!   least PD's `max-replicas`; otherwise the scale-in is refused and explained.
//! - **Quorum**: one PD member changes at a time, only while every member is healthy,
//!   and the leader is moved away before its member is removed or recreated.
//! - **One store at a time**: a rolling upgrade evicts leaders from one store, recreates
//!   it on the same volume, waits for it to be Up and removes its evict-leader scheduler
//!   before the next store starts.
//! - **Idempotence**: applying a step and planning again never yields the same step
//!   for the same reason; a converged cluster plans no steps.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::model::{PdView, StoreState};
use super::topology::{ordinal_of, Component, Names, PdBootstrap, Topology};
use crate::runtime::{
    labels, ContainerSpec, ContainerStatus, NetworkSpec, ObservedContainer, Owned, VolumeSpec,
};
use crate::spec::{ClusterSpec, FailureMode, VolumePolicy};

/// The controller's short memory of its own multi-pass operations. It is part of the
/// observed snapshot so that planning stays a pure function; losing it (a restart)
/// only makes the operator wait longer, never act less safely.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Memory {
    /// When the operator added an evict-leader scheduler for a store (or first saw it).
    pub evict_started: BTreeMap<u64, SystemTime>,
    /// Stores whose evict-leader scheduler this operator added.
    pub own_evictions: BTreeSet<u64>,
    /// When leaders were released back to a store after its upgrade.
    pub leader_return_started: BTreeMap<u64, SystemTime>,
    /// Restarts made under the `restart` failure policy, per member.
    pub restarts: BTreeMap<String, Vec<SystemTime>>,
    /// Hash of the scrape targets last written into Prometheus.
    pub scrape_targets_hash: Option<String>,
    /// Volumes this operator created and has not yet mounted: a fresh volume at an
    /// address whose old store is Tombstone is not stale.
    pub fresh_volumes: BTreeSet<String>,
}

impl Memory {
    /// Records what an applied step means for later passes. The controller calls this
    /// after every successful step.
    pub(crate) fn record(&mut self, step: &Step, now: SystemTime) {
        match step {
            Step::AddEvictLeader { store_id, .. } => {
                self.evict_started.insert(*store_id, now);
                self.own_evictions.insert(*store_id);
            }
            Step::RemoveEvictLeader { store_id, .. } => {
                self.evict_started.remove(store_id);
                if self.own_evictions.remove(store_id) {
                    self.leader_return_started.insert(*store_id, now);
                }
            }
            Step::RestartContainer { member, .. } => {
                self.restarts.entry(member.clone()).or_default().push(now)
            }
            Step::WriteScrapeTargets { hash, .. } => self.scrape_targets_hash = Some(hash.clone()),
            Step::CreateVolume { name, .. } => {
                self.fresh_volumes.insert(name.clone());
            }
            Step::RecreateContainer { member, spec, .. }
            | Step::CreateContainer { member, spec, .. } => {
                for m in &spec.mounts {
                    self.fresh_volumes.remove(&m.volume);
                }
                if member == "prometheus" {
                    self.scrape_targets_hash = None
                }
            }
            _ => {}
        }
    }

    /// Updates the memory from a fresh observation: evict-leader schedulers found
    /// (ours or not) are timed from the moment they were first seen, and leader-return
    /// waits end once the store has leaders again.
    pub(crate) fn observe(&mut self, pd: Option<&PdView>, now: SystemTime) {
        let Some(view) = pd else { return };
        for sid in &view.evict_leader_stores {
            self.evict_started.entry(*sid).or_insert(now);
        }
        self.evict_started
            .retain(|sid, _| view.evict_leader_stores.contains(sid));
        self.leader_return_started.retain(|sid, _| {
            view.stores
                .iter()
                .any(|s| s.id == *sid && s.leader_count == 0)
        });
    }
}

/// One observation of a TiKV cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observed {
    /// When the observation was made.
    pub at: Option<SystemTime>,
    /// Owned Docker objects.
    #[serde(skip)]
    pub owned: Owned,
    /// PD's view, when PD answered.
    pub pd: Option<PdView>,
    /// Why PD's view is missing.
    pub pd_error: Option<String>,
    /// The controller's memory.
    pub memory: Memory,
}

/// A typed step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Create the cluster network.
    CreateNetwork {
        /// Network.
        #[serde(skip)]
        spec: NetworkSpec,
        /// Its name.
        name: String,
    },
    /// Create a member's data volume.
    CreateVolume {
        /// Volume.
        #[serde(skip)]
        spec: VolumeSpec,
        /// Its name.
        name: String,
    },
    /// Create and start a member's container.
    CreateContainer {
        /// Member (`tikv-3`).
        member: String,
        /// Container.
        #[serde(skip)]
        spec: Box<ContainerSpec>,
        /// Why.
        reason: String,
    },
    /// Remove a member's container and create it again on the same volume.
    RecreateContainer {
        /// Member.
        member: String,
        /// New container.
        #[serde(skip)]
        spec: Box<ContainerSpec>,
        /// Why.
        reason: String,
    },
    /// Restart an exited container (failure policy `restart`).
    RestartContainer {
        /// Member.
        member: String,
        /// Restart number within the policy window.
        attempt: u32,
    },
    /// Remove a member's container.
    RemoveContainer {
        /// Member.
        member: String,
        /// Why it is safe.
        reason: String,
    },
    /// Remove a volume.
    RemoveVolume {
        /// Volume.
        name: String,
        /// Why it is safe.
        reason: String,
    },
    /// `DELETE /pd/api/v1/store/{id}`: start draining a store (Offline).
    DeleteStore {
        /// Store.
        store_id: u64,
        /// Member.
        member: String,
    },
    /// `POST /pd/api/v1/store/{id}/state?state=Up`: cancel a store deletion.
    CancelStoreDelete {
        /// Store.
        store_id: u64,
        /// Member.
        member: String,
    },
    /// Add the evict-leader scheduler for a store.
    AddEvictLeader {
        /// Store.
        store_id: u64,
        /// Member.
        member: String,
    },
    /// Remove the evict-leader scheduler for a store.
    RemoveEvictLeader {
        /// Store.
        store_id: u64,
        /// Why.
        reason: String,
    },
    /// Move PD leadership to another member.
    TransferPdLeader {
        /// Current leader.
        from: String,
        /// New leader.
        to: String,
    },
    /// Remove a PD member through PD's API.
    DeletePdMember {
        /// Member name.
        name: String,
    },
    /// Write Prometheus' file-SD target files (every desired and existing member, so a
    /// draining store stays scraped until it is gone).
    WriteScrapeTargets {
        /// The files.
        #[serde(skip)]
        files: Vec<crate::runtime::FileUpload>,
        /// Hash of their contents.
        hash: String,
        /// Number of targets.
        targets: usize,
    },
}

impl Step {}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CreateNetwork { name, .. } => write!(f, "create network {name}"),
            Step::CreateVolume { name, .. } => write!(f, "create volume {name}"),
            Step::CreateContainer {
                member,
                spec,
                reason,
            } => {
                write!(
                    f,
                    "create {member} ({}, image {}): {reason}",
                    spec.name, spec.image
                )
            }
            Step::RecreateContainer {
                member,
                spec,
                reason,
            } => {
                write!(f, "recreate {member} with image {}: {reason}", spec.image)
            }
            Step::RestartContainer { member, attempt } => {
                write!(f, "restart {member} (attempt {attempt})")
            }
            Step::RemoveContainer { member, reason } => {
                write!(f, "remove container of {member}: {reason}")
            }
            Step::RemoveVolume { name, reason } => write!(f, "remove volume {name}: {reason}"),
            Step::DeleteStore { store_id, member } => {
                write!(
                    f,
                    "delete store {store_id} ({member}) in PD: drain its regions, then Tombstone"
                )
            }
            Step::CancelStoreDelete { store_id, member } => {
                write!(
                    f,
                    "cancel deletion of store {store_id} ({member}): set it Up again"
                )
            }
            Step::AddEvictLeader { store_id, member } => {
                write!(
                    f,
                    "add evict-leader scheduler for store {store_id} ({member})"
                )
            }
            Step::RemoveEvictLeader { store_id, reason } => {
                write!(
                    f,
                    "remove evict-leader scheduler for store {store_id}: {reason}"
                )
            }
            Step::TransferPdLeader { from, to } => {
                write!(f, "transfer PD leadership from {from} to {to}")
            }
            Step::DeletePdMember { name } => write!(f, "remove PD member {name} through PD's API"),
            Step::WriteScrapeTargets { targets, .. } => {
                write!(f, "update Prometheus scrape targets ({targets} targets)")
            }
        }
    }
}

/// The plan of the TiKV subject.
pub(crate) type Plan = crate::reconcile::Plan<Step>;
pub(crate) use crate::reconcile::Fault;

struct MemberView<'a> {
    container: &'a ObservedContainer,
    /// The spec-hash label, read once per plan.
    hash: Option<&'a str>,
}

impl MemberView<'_> {
    fn hash(&self) -> Option<&str> {
        self.hash
    }
    fn running(&self) -> bool {
        self.container.status == ContainerStatus::Running
    }
}

/// Owned containers sorted by component once per plan: label lookups on a thousand
/// containers (string keys sharing a long prefix) are the planner's main cost, so each
/// container's labels are read exactly once here.
struct Classified<'a> {
    pd: BTreeMap<u32, MemberView<'a>>,
    tikv: BTreeMap<u32, MemberView<'a>>,
    prometheus: Option<&'a ObservedContainer>,
    grafana: Option<&'a ObservedContainer>,
}

impl<'a> Classified<'a> {
    fn new(owned: &'a Owned) -> Self {
        let mut cls = Self {
            pd: BTreeMap::new(),
            tikv: BTreeMap::new(),
            prometheus: None,
            grafana: None,
        };
        for c in &owned.containers {
            let target = match c.label(labels::COMPONENT) {
                Some("pd") => &mut cls.pd,
                Some("tikv") => &mut cls.tikv,
                Some(other) => {
                    let slot = if other == Component::Prometheus.as_str() {
                        &mut cls.prometheus
                    } else if other == Component::Grafana.as_str() {
                        &mut cls.grafana
                    } else {
                        continue;
                    };
                    slot.get_or_insert(c);
                    continue;
                }
                None => continue,
            };
            let ordinal = c
                .label(labels::ORDINAL)
                .and_then(|o| o.parse().ok())
                .or_else(|| c.label(labels::MEMBER).and_then(ordinal_of));
            if let Some(o) = ordinal {
                target.insert(
                    o,
                    MemberView {
                        container: c,
                        hash: c.label(labels::SPEC_HASH),
                    },
                );
            }
        }
        cls
    }
    fn of(&self, component: Component) -> &BTreeMap<u32, MemberView<'a>> {
        match component {
            Component::Pd => &self.pd,
            _ => &self.tikv,
        }
    }
    fn single(&self, component: Component) -> Option<&'a ObservedContainer> {
        match component {
            Component::Prometheus => self.prometheus,
            Component::Grafana => self.grafana,
            _ => None,
        }
    }
}

/// `0..desired` together with every ordinal that exists (sorted, no duplicates): the
/// members a scrape-target file lists. `existing` is sorted (a `BTreeMap`'s keys).
fn ordinals_with(desired: u32, existing: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut v: Vec<u32> = (0..desired).collect();
    v.extend(existing.filter(|o| *o >= desired));
    v
}

/// True when PD has heard from the store since its current container started: a
/// recreated store still shows the old process's `Up` for up to 20 s (until PD marks it
/// Disconnected), so `Up` alone does not prove the new process registered.
fn registered_since_start(store: &super::model::Store, c: &ObservedContainer) -> bool {
    match c
        .started_at
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
    {
        Some(started) => store.start_unix_secs + 1 >= started.as_secs() as i64,
        None => true,
    }
}

/// Names of the owned volumes (hashed: a thousand names sharing a long prefix make a
/// sorted set compare the prefix over and over).
type Volumes<'a> = HashSet<&'a str>;

/// PD's stores indexed by ordinal (parsed from the advertised address, a dense vector)
/// and, built only when a plan needs them, by address and by id (a live store preferred
/// over a Tombstone at the same address): planning over a thousand stores stays linear
/// and a converged pass pays only for the ordinal index.
struct StoreIndex<'a> {
    stores: &'a [super::model::Store],
    by_ordinal: Vec<Option<&'a super::model::Store>>,
    by_address: OnceLock<HashMap<&'a str, &'a super::model::Store>>,
    by_id: OnceLock<HashMap<u64, &'a super::model::Store>>,
}

/// True when `new` should replace `prev` in an index: a live store wins over a Tombstone.
fn preferred(prev: Option<&super::model::Store>) -> bool {
    !matches!(prev, Some(p) if p.state != StoreState::Tombstone)
}

impl<'a> StoreIndex<'a> {
    /// `cluster` names the stores' advertised addresses (`<cluster>-tikv-<n>:20160`),
    /// which lets members be matched by ordinal without formatting an address each.
    fn new(pd: Option<&'a PdView>, cluster: &str) -> Self {
        let stores = pd.map(|v| v.stores.as_slice()).unwrap_or_default();
        let mut prefix = String::with_capacity(cluster.len() + 6);
        prefix.push_str(cluster);
        prefix.push_str("-tikv-");
        let mut by_ordinal: Vec<Option<&super::model::Store>> = Vec::new();
        for s in stores {
            let ordinal = s
                .address
                .strip_prefix(prefix.as_str())
                .and_then(|rest| rest.strip_suffix(":20160"))
                .and_then(|n| n.parse::<usize>().ok())
                // A hostile or foreign address must not allocate an enormous vector.
                .filter(|o| *o <= stores.len().max(1) * 4 + 1024);
            if let Some(o) = ordinal {
                if by_ordinal.len() <= o {
                    by_ordinal.resize(o + 1, None);
                }
                if preferred(by_ordinal[o]) {
                    by_ordinal[o] = Some(s);
                }
            }
        }
        Self {
            stores,
            by_ordinal,
            by_address: OnceLock::new(),
            by_id: OnceLock::new(),
        }
    }
    fn get(&self, address: &str) -> Option<&'a super::model::Store> {
        self.by_address
            .get_or_init(|| {
                let mut m: HashMap<&str, &super::model::Store> =
                    HashMap::with_capacity(self.stores.len());
                for s in self.stores {
                    if preferred(m.get(s.address.as_str()).copied()) {
                        m.insert(s.address.as_str(), s);
                    }
                }
                m
            })
            .get(address)
            .copied()
    }
    fn by_id(&self, id: u64) -> Option<&'a super::model::Store> {
        self.by_id
            .get_or_init(|| self.stores.iter().map(|s| (s.id, s)).collect())
            .get(&id)
            .copied()
    }
    fn of_ordinal(&self, o: u32) -> Option<&'a super::model::Store> {
        self.by_ordinal.get(o as usize).copied().flatten()
    }
}

/// The fault reported when a name the cluster needs belongs to a Docker object it does
/// not own (never touched: the user renames or removes it). `blocked` says what waits.
fn foreign_name_fault(name: &str, blocked: &str) -> Fault {
    Fault {
        target: name.to_string(),
        detail: format!(
            "the name {name:?} is taken by a Docker object this cluster does not own; {blocked} until it is renamed or removed (it is left alone)"
        ),
    }
}

fn elapsed(now: SystemTime, since: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or(Duration::ZERO)
}

/// Plans the next steps for `spec` given `obs`, at time `now`.
///
/// See the module docs for the guarantees.
pub fn plan(spec: &ClusterSpec, obs: &Observed, now: SystemTime) -> Plan {
    let mut p = Plan::default();
    let topo = Topology::new(spec);
    let names = topo.names().clone();
    let foreign: BTreeSet<&str> = obs.owned.foreign_names.iter().map(String::as_str).collect();
    let blocked_by_foreign = |name: &str, p: &mut Plan| -> bool {
        if foreign.contains(name) {
            p.faults
                .push(foreign_name_fault(name, "the cluster cannot use it"));
            true
        } else {
            false
        }
    };

    // 1. Network.
    let network = topo.network();
    if !obs.owned.networks.iter().any(|n| n.name == network.name) {
        if blocked_by_foreign(&network.name, &mut p) {
            return p;
        }
        p.steps.push(Step::CreateNetwork {
            name: network.name.clone(),
            spec: network,
        });
    }

    let volumes: Volumes<'_> = obs.owned.volumes.iter().map(|v| v.name.as_str()).collect();
    let pd = obs.pd.as_ref();
    let pd_ready = pd.is_some_and(|v| v.leader.is_some());

    let cls = Classified::new(&obs.owned);
    plan_pd(
        spec, obs, &cls, &topo, &names, &volumes, &foreign, now, &mut p,
    );
    plan_tikv(
        spec, obs, &cls, &topo, &names, &volumes, &foreign, pd_ready, now, &mut p,
    );
    plan_monitoring(spec, obs, &cls, &topo, &names, &volumes, &foreign, &mut p);
    plan_leftover_volumes(spec, obs, &cls, &names, &mut p);
    p
}

/// Volumes of members that are gone for good. A scale-in removes the container and then
/// the volume in two steps with an observation between them (or a crash), so the volume
/// step must be planned from what is left, not only next to the container's removal:
/// - a PD volume above the desired count, with no container, of a member PD no longer
///   lists (a removed member's data cannot rejoin the cluster);
/// - with `volumePolicy: delete`, a TiKV volume above the desired count, with no
///   container, whose store PD reports Tombstone (or never heard of, once bootstrapped).
///
/// Nothing is removed while PD does not answer.
fn plan_leftover_volumes(
    spec: &ClusterSpec,
    obs: &Observed,
    cls: &Classified<'_>,
    names: &Names,
    p: &mut Plan,
) {
    let Some(view) = obs.pd.as_ref() else {
        return;
    };
    let planned: BTreeSet<String> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::RemoveVolume { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    let mut index: Option<StoreIndex<'_>> = None;
    for v in &obs.owned.volumes {
        let (Some(component), Some(member)) = (
            v.labels.get(labels::COMPONENT),
            v.labels.get(labels::MEMBER),
        ) else {
            continue;
        };
        let Some(o) = ordinal_of(member) else {
            continue;
        };
        if planned.contains(&v.name) || names.volume(member) != v.name {
            continue;
        }
        let reason = match component.as_str() {
            "pd" if o >= spec.spec.pd.replicas
                && !cls.pd.contains_key(&o)
                && !view.members.iter().any(|m| &m.name == member) =>
            {
                format!("{member} is no longer a PD member; its data cannot rejoin the cluster")
            }
            "tikv"
                if spec.spec.tikv.volume_policy == VolumePolicy::Delete
                    && o >= spec.spec.tikv.replicas
                    && !cls.tikv.contains_key(&o) =>
            {
                let index = index.get_or_insert_with(|| StoreIndex::new(Some(view), spec.name()));
                match index.of_ordinal(o) {
                    Some(s) if s.state == StoreState::Tombstone => format!(
                        "store {} of {member} is Tombstone; volumePolicy is delete",
                        s.id
                    ),
                    None if view.bootstrapped => {
                        format!("{member} never registered a store; volumePolicy is delete")
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        p.steps.push(Step::RemoveVolume {
            name: v.name.clone(),
            reason,
        });
    }
}

/// Failure handling shared by all members: a container the spec wants that is not
/// running is a fault, restarted only under the `restart` policy within its budget.
fn handle_not_running(
    spec: &ClusterSpec,
    obs: &Observed,
    member: &str,
    c: &ObservedContainer,
    now: SystemTime,
    p: &mut Plan,
) {
    let what = match c.status {
        ContainerStatus::Exited | ContainerStatus::Dead => format!(
            "container {} exited with code {}{}",
            c.name,
            c.exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "?".into()),
            if c.oom_killed {
                " (killed by the OOM killer)"
            } else {
                ""
            }
        ),
        ContainerStatus::Paused => format!("container {} is paused (frozen)", c.name),
        ContainerStatus::Restarting => format!("container {} is restarting", c.name),
        ContainerStatus::Removing => format!("container {} is being removed", c.name),
        ContainerStatus::Created | ContainerStatus::Running => return,
    };
    let policy = &spec.spec.failure_policy;
    let restartable = matches!(c.status, ContainerStatus::Exited | ContainerStatus::Dead);
    if policy.mode == FailureMode::Restart && restartable {
        let window = policy.window.get();
        let recent: Vec<SystemTime> = obs
            .memory
            .restarts
            .get(member)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|t| elapsed(now, *t) < window)
                    .collect()
            })
            .unwrap_or_default();
        if recent.len() as u32 >= policy.max_restarts {
            p.faults.push(Fault {
                target: member.to_string(),
                detail: format!(
                    "{what}; restart limit reached ({} restarts within {}), left alone",
                    policy.max_restarts,
                    humantime::format_duration(window)
                ),
            });
            return;
        }
        let delay = policy.backoff.get() * 2u32.saturating_pow(recent.len() as u32);
        let last = recent.iter().max().copied().or(c.finished_at);
        if let Some(last) = last {
            let waited = elapsed(now, last);
            if waited < delay {
                p.faults.push(Fault {
                    target: member.to_string(),
                    detail: what.clone(),
                });
                p.waits.push(format!(
                    "{member}: restart {} due in {}",
                    recent.len() + 1,
                    humantime::format_duration(Duration::from_secs(
                        (delay - waited).as_secs().max(1)
                    ))
                ));
                return;
            }
        }
        p.faults.push(Fault {
            target: member.to_string(),
            detail: format!("{what}; restarting under failure policy `restart`"),
        });
        p.steps.push(Step::RestartContainer {
            member: member.to_string(),
            attempt: recent.len() as u32 + 1,
        });
    } else {
        let how = if restartable {
            "failure policy `observe`: reported and left alone"
        } else {
            "left alone"
        };
        p.faults.push(Fault {
            target: member.to_string(),
            detail: format!("{what}; {how}"),
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_pd(
    spec: &ClusterSpec,
    obs: &Observed,
    cls: &Classified<'_>,
    topo: &Topology<'_>,
    names: &Names,
    volumes: &Volumes<'_>,
    foreign: &BTreeSet<&str>,
    now: SystemTime,
    p: &mut Plan,
) {
    let desired = spec.spec.pd.replicas;
    let members = &cls.pd;
    let pd = obs.pd.as_ref();
    let hash = topo.spec_hash(Component::Pd);

    // Bootstrap mode for members that do not exist yet.
    let recorded_initial: Option<Vec<u32>> = members.values().find_map(|m| {
        m.container
            .label(labels::PD_BOOTSTRAP)
            .and_then(|b| b.strip_prefix("initial:"))
            .map(|list| list.split(',').filter_map(|o| o.parse().ok()).collect())
    });
    let running_urls: Vec<String> = members
        .iter()
        .filter(|(o, m)| m.running() && **o < desired.max(1))
        .map(|(o, _)| names.pd_client_url(*o))
        .collect();

    for o in 0..desired {
        if members.contains_key(&o) {
            continue;
        }
        let member = Names::member(Component::Pd, Some(o));
        let container = names.container(&member);
        let volume = names.volume(&member);
        if foreign.contains(container.as_str()) || foreign.contains(volume.as_str()) {
            for n in [&container, &volume] {
                if foreign.contains(n.as_str()) {
                    p.faults.push(foreign_name_fault(
                        n,
                        &format!("{member} cannot be created"),
                    ));
                }
            }
            continue;
        }
        let bootstrap = if members.is_empty() {
            PdBootstrap::Initial((0..desired).collect())
        } else if let Some(list) = recorded_initial.as_ref().filter(|l| l.contains(&o)) {
            // Part of the initial cluster whose container was never created (the
            // operator stopped mid-create): it must start with the same list.
            let listed_in_pd = pd.is_some_and(|v| v.members.iter().any(|m| m.name == member));
            if pd.is_none() || listed_in_pd || !pd.is_some_and(|v| v.bootstrapped) {
                PdBootstrap::Initial(list.clone())
            } else {
                PdBootstrap::Join(running_urls.clone())
            }
        } else if pd.is_some() && !running_urls.is_empty() {
            PdBootstrap::Join(running_urls.clone())
        } else {
            p.waits.push(format!(
                "{member}: waiting for PD to answer before it can join"
            ));
            continue;
        };
        if !volumes.contains(volume.as_str()) {
            p.steps.push(Step::CreateVolume {
                name: volume.clone(),
                spec: topo.volume(Component::Pd, &member),
            });
        }
        let reason = match &bootstrap {
            PdBootstrap::Initial(_) => "initial PD member".to_string(),
            PdBootstrap::Join(_) => "scale out: joins the running PD cluster".to_string(),
        };
        p.steps.push(Step::CreateContainer {
            member,
            spec: Box::new(topo.pd_container(o, &bootstrap)),
            reason,
        });
    }

    // Existing members: never-started containers, faults.
    for (o, m) in members {
        if *o >= desired {
            continue;
        }
        let member = Names::member(Component::Pd, Some(*o));
        if m.container.status == ContainerStatus::Created {
            let bootstrap = bootstrap_of(m.container, &running_urls);
            p.steps.push(Step::RecreateContainer {
                member,
                spec: Box::new(topo.pd_container(*o, &bootstrap)),
                reason: "created but never started (the operator stopped mid-step)".into(),
            });
            continue;
        }
        handle_not_running(spec, obs, &member, m.container, now, p);
    }

    let all_healthy = pd.is_some_and(|v| {
        !v.members.is_empty()
            && v.leader.is_some()
            && v.members.iter().all(|m| m.healthy == Some(true))
            && members.values().all(|m| m.running())
    });

    // Scale in: highest ordinal first, one member at a time, only while all are healthy.
    if let Some((&o, _)) = members.iter().rev().find(|(o, _)| **o >= desired) {
        let member = Names::member(Component::Pd, Some(o));
        let Some(view) = pd else {
            p.waits.push(format!(
                "{member}: PD does not answer; scale-in of PD waits for it"
            ));
            return;
        };
        let listed = view.members.iter().any(|x| x.name == member);
        if !listed {
            p.steps.push(Step::RemoveContainer {
                member: member.clone(),
                reason: "no longer a PD member".into(),
            });
            let volume = names.volume(&member);
            if volumes.contains(volume.as_str()) {
                p.steps.push(Step::RemoveVolume {
                    name: volume,
                    reason: "a removed PD member's data cannot rejoin the cluster".into(),
                });
            }
        } else if !all_healthy {
            p.waits.push(format!(
                "{member}: scale-in waits until every PD member is healthy"
            ));
        } else if view.leader.as_deref() == Some(member.as_str()) {
            match (0..desired)
                .map(|o| Names::member(Component::Pd, Some(o)))
                .find(|n| view.members.iter().any(|x| &x.name == n))
            {
                Some(to) => p.steps.push(Step::TransferPdLeader { from: member, to }),
                None => p.refusals.push(format!(
                    "{member} is the PD leader and no remaining member can take over"
                )),
            }
        } else {
            p.steps.push(Step::DeletePdMember { name: member });
        }
        return;
    }

    // Rolling upgrade of PD: followers first, the leader last, one at a time.
    let outdated: Vec<u32> = members
        .iter()
        .filter(|(o, m)| **o < desired && m.running() && m.hash() != Some(hash.as_str()))
        .map(|(o, _)| *o)
        .collect();
    if outdated.is_empty() {
        return;
    }
    if !all_healthy {
        p.waits
            .push("PD upgrade waits until every PD member is healthy".into());
        return;
    }
    let view = pd.expect("all_healthy implies PD answered");
    let leader = view.leader.clone().unwrap_or_default();
    let target = outdated
        .iter()
        .copied()
        .find(|o| Names::member(Component::Pd, Some(*o)) != leader)
        .unwrap_or(outdated[0]);
    let member = Names::member(Component::Pd, Some(target));
    if member == leader && desired > 1 {
        let to = (0..desired)
            .filter(|o| *o != target)
            .map(|o| Names::member(Component::Pd, Some(o)))
            .find(|n| {
                view.members
                    .iter()
                    .any(|x| &x.name == n && x.healthy == Some(true))
            });
        match to {
            Some(to) => p.steps.push(Step::TransferPdLeader { from: member, to }),
            None => p
                .waits
                .push(format!("{member}: no healthy member to take PD leadership")),
        }
        return;
    }
    let m = &members[&target];
    let bootstrap = bootstrap_of(m.container, &running_urls);
    p.steps.push(Step::RecreateContainer {
        member,
        spec: Box::new(topo.pd_container(target, &bootstrap)),
        reason: format!("rolling upgrade to {}", topo.image(Component::Pd)),
    });
}

fn bootstrap_of(c: &ObservedContainer, running_urls: &[String]) -> PdBootstrap {
    match c
        .label(labels::PD_BOOTSTRAP)
        .and_then(|b| b.strip_prefix("initial:"))
    {
        Some(list) => {
            PdBootstrap::Initial(list.split(',').filter_map(|o| o.parse().ok()).collect())
        }
        None => PdBootstrap::Join(running_urls.to_vec()),
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_tikv(
    spec: &ClusterSpec,
    obs: &Observed,
    cls: &Classified<'_>,
    topo: &Topology<'_>,
    names: &Names,
    volumes: &Volumes<'_>,
    foreign: &BTreeSet<&str>,
    pd_ready: bool,
    now: SystemTime,
    p: &mut Plan,
) {
    let desired = spec.spec.tikv.replicas;
    let members = &cls.tikv;
    let pd = obs.pd.as_ref();
    let pd_ordinals: Vec<u32> = (0..spec.spec.pd.replicas).collect();
    let hash = topo.spec_hash(Component::Tikv);
    let policy = spec.spec.tikv.volume_policy;
    let index = StoreIndex::new(pd, spec.name());

    // Create missing stores (only once PD has a leader).
    for o in 0..desired {
        if members.contains_key(&o) {
            continue;
        }
        let member = Names::member(Component::Tikv, Some(o));
        if !pd_ready {
            p.waits.push(format!(
                "{member}: waiting for PD to elect a leader before creating TiKV stores"
            ));
            continue;
        }
        let container = names.container(&member);
        let volume = names.volume(&member);
        if let Some(n) = [&container, &volume]
            .into_iter()
            .find(|n| foreign.contains(n.as_str()))
        {
            p.faults.push(foreign_name_fault(
                n,
                &format!("{member} cannot be created"),
            ));
            continue;
        }
        let address = names.tikv_address(o);
        let store = index.get(&address);
        if volumes.contains(volume.as_str()) {
            let fresh = obs.memory.fresh_volumes.contains(&volume);
            if let Some(s) = store.filter(|s| s.state == StoreState::Tombstone && !fresh) {
                p.steps.push(Step::RemoveVolume {
                    name: volume.clone(),
                    reason: format!("it holds store {} which PD reports Tombstone; a new store needs a fresh data directory", s.id),
                });
                continue;
            }
        } else {
            p.steps.push(Step::CreateVolume {
                name: volume.clone(),
                spec: topo.volume(Component::Tikv, &member),
            });
        }
        p.steps.push(Step::CreateContainer {
            member,
            spec: Box::new(topo.tikv_container(o, &pd_ordinals)),
            reason: if pd.is_some_and(|v| {
                v.stores
                    .iter()
                    .filter(|s| s.state != StoreState::Tombstone)
                    .count()
                    < 3
            }) {
                "initial TiKV store".into()
            } else {
                "scale out".into()
            },
        });
    }

    // Existing desired stores: never started, faults, cancelled deletions.
    for (o, m) in members {
        if *o >= desired {
            continue;
        }
        let member = || Names::member(Component::Tikv, Some(*o));
        if m.container.status == ContainerStatus::Created {
            p.steps.push(Step::RecreateContainer {
                member: member(),
                spec: Box::new(topo.tikv_container(*o, &pd_ordinals)),
                reason: "created but never started (the operator stopped mid-step)".into(),
            });
            continue;
        }
        if m.container.status != ContainerStatus::Running {
            handle_not_running(spec, obs, &member(), m.container, now, p);
        }
        if let Some(s) = index.of_ordinal(*o) {
            if s.state == StoreState::Offline && !s.physically_destroyed {
                p.steps.push(Step::CancelStoreDelete {
                    store_id: s.id,
                    member: member(),
                });
            }
        }
    }

    // Scale in: highest ordinal first, one store draining at a time.
    let excess: Vec<u32> = members
        .keys()
        .rev()
        .copied()
        .filter(|o| *o >= desired)
        .collect();
    if !excess.is_empty() {
        match pd {
            None => p.waits.push(format!(
                "scale-in of TiKV waits for PD ({}): a store is removed only once PD reports it Tombstone",
                obs.pd_error.as_deref().unwrap_or("not answering")
            )),
            Some(view) => plan_tikv_scale_in(view, &index, &excess, names, volumes, policy, p),
        }
    }

    // Leftover evict-leader schedulers for stores not being upgraded.
    let Some(view) = pd else { return };
    let outdated: Vec<u32> = members
        .iter()
        .filter(|(o, m)| {
            **o < desired
                && m.container.status != ContainerStatus::Created
                && m.hash() != Some(hash.as_str())
        })
        .map(|(o, _)| *o)
        .collect();
    let store_of = |o: u32| index.of_ordinal(o);
    for &sid in &view.evict_leader_stores {
        let ordinal = index.by_id(sid).and_then(|s| {
            members
                .keys()
                .copied()
                .find(|o| index.of_ordinal(*o).is_some_and(|x| x.id == s.id))
        });
        let upgrading = ordinal.is_some_and(|o| outdated.contains(&o));
        if upgrading {
            continue;
        }
        let store_up = ordinal.is_some_and(|o| {
            store_of(o).is_some_and(|s| {
                s.state == StoreState::Up && registered_since_start(s, members[&o].container)
            })
        });
        let container_running = ordinal.is_some_and(|o| members[&o].running());
        if ordinal.is_some()
            && (!store_up || !container_running)
            && obs.memory.own_evictions.contains(&sid)
        {
            p.waits.push(format!(
                "store {sid}: waiting for it to be Up before releasing its leaders"
            ));
            continue;
        }
        let reason = if obs.memory.own_evictions.contains(&sid) {
            "store upgraded and Up".to_string()
        } else {
            p.faults.push(Fault {
                target: format!("store/{sid}"),
                detail: format!("an evict-leader scheduler for store {sid} was left behind (no upgrade of it is in progress); removing it"),
            });
            "left behind: no upgrade of this store is in progress".to_string()
        };
        p.steps.push(Step::RemoveEvictLeader {
            store_id: sid,
            reason,
        });
    }

    // Rolling upgrade: PD first, then one store at a time.
    if outdated.is_empty() {
        return;
    }
    let pd_hash = topo.spec_hash(Component::Pd);
    let pd_outdated = cls.pd.values().any(|m| m.hash() != Some(pd_hash.as_str()));
    if pd_outdated {
        p.waits
            .push("TiKV upgrade waits for the PD upgrade to finish".into());
        return;
    }
    let all_up = (0..desired).all(|o| {
        members.get(&o).is_some_and(|m| {
            m.running()
                && store_of(o).is_some_and(|s| {
                    s.state == StoreState::Up && registered_since_start(s, m.container)
                })
        })
    });
    let in_progress = outdated
        .iter()
        .copied()
        .find(|o| store_of(*o).is_some_and(|s| view.evict_leader_stores.contains(&s.id)));
    let ops = &spec.spec.operations;
    // Wait for leaders to return to the last upgraded store before the next one.
    if in_progress.is_none() {
        for (sid, since) in &obs.memory.leader_return_started {
            let store = view.stores.iter().find(|s| s.id == *sid);
            if let Some(s) = store {
                if s.leader_count == 0 && elapsed(now, *since) < ops.leader_return_timeout.get() {
                    p.waits.push(format!(
                        "store {sid}: waiting for leaders to return after its upgrade"
                    ));
                    return;
                }
            }
        }
    }
    let target = in_progress.unwrap_or(outdated[0]);
    let member = Names::member(Component::Tikv, Some(target));
    let Some(store) = store_of(target) else {
        p.waits
            .push(format!("{member}: not registered in PD yet; upgrade waits"));
        return;
    };
    if in_progress.is_none() {
        if !all_up {
            p.waits.push(format!(
                "{member}: rolling upgrade waits until every store is Up"
            ));
            return;
        }
        if view.region_health.is_some_and(|h| h.down_peer > 0) {
            p.waits.push(format!(
                "{member}: rolling upgrade waits while regions have down peers"
            ));
            return;
        }
        p.steps.push(Step::AddEvictLeader {
            store_id: store.id,
            member,
        });
        return;
    }
    let started = obs
        .memory
        .evict_started
        .get(&store.id)
        .copied()
        .unwrap_or(now);
    let waited = elapsed(now, started);
    if store.leader_count == 0 || waited >= ops.evict_leader_timeout.get() {
        let reason = if store.leader_count == 0 {
            format!(
                "rolling upgrade to {} (leaders evicted)",
                topo.image(Component::Tikv)
            )
        } else {
            p.faults.push(Fault {
                target: member.clone(),
                detail: format!(
                    "{} leaders still on store {} after {}; restarting anyway",
                    store.leader_count,
                    store.id,
                    humantime::format_duration(ops.evict_leader_timeout.get())
                ),
            });
            format!(
                "rolling upgrade to {} (leader eviction timed out)",
                topo.image(Component::Tikv)
            )
        };
        p.steps.push(Step::RecreateContainer {
            member,
            spec: Box::new(topo.tikv_container(target, &pd_ordinals)),
            reason,
        });
    } else {
        p.waits.push(format!(
            "store {}: evicting leaders before its upgrade, {} left ({}s of {}s)",
            store.id,
            store.leader_count,
            waited.as_secs(),
            ops.evict_leader_timeout.get().as_secs()
        ));
    }
}

fn plan_tikv_scale_in(
    view: &PdView,
    index: &StoreIndex<'_>,
    excess: &[u32],
    names: &Names,
    volumes: &Volumes<'_>,
    policy: VolumePolicy,
    p: &mut Plan,
) {
    let addr_of = |o: u32| names.tikv_address(o);
    let excess_addresses: BTreeSet<String> = excess.iter().map(|o| addr_of(*o)).collect();
    let mut draining = false;
    for &o in excess {
        let member = Names::member(Component::Tikv, Some(o));
        let volume = names.volume(&member);
        let remove_volume = |p: &mut Plan, why: &str| {
            if policy == VolumePolicy::Delete && volumes.contains(volume.as_str()) {
                p.steps.push(Step::RemoveVolume {
                    name: volume.clone(),
                    reason: format!("{why}; volumePolicy is delete"),
                });
            }
        };
        match index.get(&addr_of(o)) {
            None if view.bootstrapped => {
                p.steps.push(Step::RemoveContainer {
                    member: member.clone(),
                    reason: "scale in: this container never registered a store with PD".into(),
                });
                remove_volume(p, "it holds no store");
            }
            None => p.waits.push(format!(
                "{member}: PD is not bootstrapped yet; scale-in waits"
            )),
            Some(s) if s.state == StoreState::Tombstone => {
                p.steps.push(Step::RemoveContainer {
                    member: member.clone(),
                    reason: format!("scale in: store {} is Tombstone", s.id),
                });
                remove_volume(p, &format!("store {} is Tombstone", s.id));
            }
            Some(s) if s.state == StoreState::Offline => {
                draining = true;
                p.waits.push(format!(
                    "store {} ({member}) is Offline and draining: {} regions left, {} leaders",
                    s.id, s.region_count, s.leader_count
                ));
            }
            Some(s) => {
                if draining {
                    continue;
                }
                let remaining_up = view
                    .stores
                    .iter()
                    .filter(|x| x.state == StoreState::Up && !excess_addresses.contains(&x.address))
                    .count() as u64;
                if remaining_up < view.max_replicas {
                    p.refusals.push(format!(
                        "scale-in of store {} ({member}) refused: only {remaining_up} Up stores would remain, fewer than PD's max-replicas {}",
                        s.id, view.max_replicas
                    ));
                } else {
                    p.steps.push(Step::DeleteStore {
                        store_id: s.id,
                        member: member.clone(),
                    });
                }
                draining = true;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_monitoring(
    spec: &ClusterSpec,
    obs: &Observed,
    cls: &Classified<'_>,
    topo: &Topology<'_>,
    names: &Names,
    volumes: &Volumes<'_>,
    foreign: &BTreeSet<&str>,
    p: &mut Plan,
) {
    let mon = &spec.spec.monitoring;
    for (component, enabled) in [
        (Component::Prometheus, mon.prometheus.enabled),
        (Component::Grafana, mon.grafana.enabled),
    ] {
        let member = Names::member(component, None);
        let existing = cls.single(component);
        let template = || match component {
            Component::Prometheus => topo.prometheus_container(),
            _ => topo.grafana_container(),
        };
        match (enabled, existing) {
            (true, None) => {
                let container = names.container(&member);
                if foreign.contains(container.as_str()) {
                    p.faults.push(foreign_name_fault(
                        &container,
                        &format!("{member} cannot be created"),
                    ));
                    continue;
                }
                let spec_c = template();
                for m in &spec_c.mounts {
                    if !volumes.contains(m.volume.as_str()) {
                        p.steps.push(Step::CreateVolume {
                            name: m.volume.clone(),
                            spec: topo.volume(component, &member),
                        });
                    }
                }
                p.steps.push(Step::CreateContainer {
                    member,
                    spec: Box::new(spec_c),
                    reason: "monitoring enabled".into(),
                });
            }
            (true, Some(c)) => {
                if c.status == ContainerStatus::Created
                    || c.label(labels::SPEC_HASH) != Some(topo.spec_hash(component).as_str())
                {
                    p.steps.push(Step::RecreateContainer {
                        member,
                        spec: Box::new(template()),
                        reason: if c.status == ContainerStatus::Created {
                            "created but never started".into()
                        } else {
                            "configuration changed (image or scrape targets)".into()
                        },
                    });
                } else {
                    handle_not_running(
                        spec,
                        obs,
                        &member,
                        c,
                        obs.at.unwrap_or(SystemTime::UNIX_EPOCH),
                        p,
                    );
                    if component == Component::Prometheus && c.status == ContainerStatus::Running {
                        let ordinals = |comp: Component, n: u32| -> Vec<u32> {
                            ordinals_with(n, cls.of(comp).keys().copied())
                        };
                        let pd = ordinals(Component::Pd, spec.spec.pd.replicas);
                        let tikv = ordinals(Component::Tikv, spec.spec.tikv.replicas);
                        let hash = super::topology::targets_hash(spec.name(), &pd, &tikv);
                        let current = obs
                            .memory
                            .scrape_targets_hash
                            .as_deref()
                            .or_else(|| c.label(labels::SCRAPE_HASH));
                        if current != Some(hash.as_str()) {
                            p.steps.push(Step::WriteScrapeTargets {
                                files: topo.scrape_targets(&pd, &tikv),
                                hash,
                                targets: pd.len() + tikv.len(),
                            });
                        }
                    }
                }
            }
            (false, Some(_)) => p.steps.push(Step::RemoveContainer {
                member,
                reason: "monitoring component disabled in the spec".into(),
            }),
            (false, None) => {}
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
