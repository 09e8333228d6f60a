//! An in-memory [`ContainerRuntime`] with Docker's semantics, for tests.
//!
//! The reconcile core, the chaos engine and the CLI are tested against this fake, so
//! it must fail where Docker fails: it checks ownership labels before every mutation
//! ([`RuntimeError::NotOwned`]), refuses taken names ([`RuntimeError::Conflict`]),
//! refuses missing images ([`RuntimeError::ImageMissing`]), is idempotent where Docker
//! is (stop/remove of something gone, start of something running), auto-creates an
//! unlabelled volume when a container mounts one that does not exist (as Docker does),
//! and refuses a host port another running container holds.
//!
//! It is deterministic: ids and IP addresses are allocated in order, and time comes
//! from a logical clock (see [`FakeRuntime::set_clock`]) that ticks one millisecond per
//! state change. Events go through a broadcast channel, in the order Docker emits them
//! (`kill` → `die` → `stop` for a stop, for example).
//!
//! Test controls: [`FakeRuntime::set_status`], [`FakeRuntime::oom_kill`],
//! [`FakeRuntime::add_foreign_container`], [`FakeRuntime::fail_next`],
//! [`FakeRuntime::set_unreachable`], [`FakeRuntime::set_exec_handler`],
//! [`FakeRuntime::push_log`], [`FakeRuntime::calls`] and [`FakeRuntime::snapshot`].

use crate::runtime::FileUpload;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::{BoxStream, StreamExt};
use parking_lot::Mutex;
use tokio::sync::broadcast;

use super::labels;
use super::{
    ContainerRuntime, ContainerSpec, ContainerStatus, ExecOutput, LogLine, NetworkSpec,
    ObservedContainer, ObservedNetwork, ObservedVolume, Owned, RuntimeError, RuntimeEvent,
    VolumeSpec,
};

/// The operations of [`ContainerRuntime`], for failure injection and the call log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FakeOp {
    /// [`ContainerRuntime::list_owned`].
    ListOwned,
    /// [`ContainerRuntime::create_network`].
    CreateNetwork,
    /// [`ContainerRuntime::remove_network`].
    RemoveNetwork,
    /// [`ContainerRuntime::create_volume`].
    CreateVolume,
    /// [`ContainerRuntime::remove_volume`].
    RemoveVolume,
    /// [`ContainerRuntime::create_and_start`].
    CreateAndStart,
    /// [`ContainerRuntime::start`].
    Start,
    /// [`ContainerRuntime::stop`].
    Stop,
    /// [`ContainerRuntime::restart`].
    Restart,
    /// [`ContainerRuntime::kill`].
    Kill,
    /// [`ContainerRuntime::remove`].
    Remove,
    /// [`ContainerRuntime::pause`].
    Pause,
    /// [`ContainerRuntime::unpause`].
    Unpause,
    /// [`ContainerRuntime::connect`].
    Connect,
    /// [`ContainerRuntime::disconnect`].
    Disconnect,
    /// [`ContainerRuntime::download`].
    Download,
    /// [`ContainerRuntime::exec`].
    Exec,
    /// [`ContainerRuntime::upload`].
    Upload,
    /// [`ContainerRuntime::logs`].
    Logs,
    /// [`ContainerRuntime::image_exists`].
    ImageExists,
}

impl FakeOp {
    /// True for operations that change state (and so appear in [`FakeRuntime::calls`]).
    pub(crate) fn is_mutating(self) -> bool {
        !matches!(self, FakeOp::ListOwned | FakeOp::Logs | FakeOp::ImageExists)
    }
}

/// One mutating call made against the fake, successful or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCall {
    /// Which operation.
    pub op: FakeOp,
    /// The cluster named by the call (from the spec's labels for creations).
    pub cluster: String,
    /// The container, network or volume acted on.
    pub target: String,
    /// Operation detail: the network for connect/disconnect, the signal for kill,
    /// the command for exec.
    pub detail: Option<String>,
    /// `Ok` or the error's message.
    pub outcome: Result<(), String>,
}

/// One container as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FakeContainer {
    /// Docker-style id (`fake-000001`).
    pub id: String,
    /// The spec it was created from (foreign containers get a minimal one).
    pub spec: ContainerSpec,
    /// State.
    pub status: ContainerStatus,
    /// Exit code of the last run.
    pub exit_code: Option<i64>,
    /// Killed by the OOM killer.
    pub oom_killed: bool,
    /// Attached networks and the IPv4 address on each.
    pub networks: BTreeMap<String, String>,
    /// Last start.
    pub started_at: Option<SystemTime>,
    /// Last exit.
    pub finished_at: Option<SystemTime>,
    /// Files uploaded before start, by path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Output lines with the time they were written.
    pub logs: Vec<(SystemTime, LogLine)>,
    /// How many times it was started.
    pub starts: u32,
}

/// A copy of the fake's whole state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FakeSnapshot {
    /// Containers by name.
    pub containers: BTreeMap<String, FakeContainer>,
    /// Networks by name, with their labels.
    pub networks: BTreeMap<String, BTreeMap<String, String>>,
    /// Volumes by name, with their labels.
    pub volumes: BTreeMap<String, BTreeMap<String, String>>,
}

impl FakeSnapshot {
    #[cfg(test)]
    /// The container called `name`.
    pub(crate) fn container(&self, name: &str) -> Option<&FakeContainer> {
        self.containers.get(name)
    }
}

type ExecHandler = Arc<dyn Fn(&str, &[String]) -> ExecOutput + Send + Sync>;

#[derive(Clone, Debug)]
enum Broadcast {
    Event(RuntimeEvent),
    DaemonGone,
}

struct State {
    world: FakeSnapshot,
    network_index: BTreeMap<String, (u8, u8)>,
    missing_images: BTreeSet<String>,
    next_id: u64,
    clock: SystemTime,
    calls: Vec<FakeCall>,
    failures: BTreeMap<FakeOp, VecDeque<RuntimeError>>,
    unreachable: bool,
    exec_handler: Option<ExecHandler>,
}

/// The in-memory runtime. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<Broadcast>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for FakeRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRuntime")
            .field("world", &self.state.lock().world)
            .finish()
    }
}

/// The logical clock's starting point: 2026-01-01T00:00:00Z.
const CLOCK_START_SECS: u64 = 1_767_225_600;

/// Signal names and numbers, as Docker reports them in `kill` events.
fn signal_number(signal: &str) -> Option<i64> {
    let name = signal.trim().to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    if let Ok(n) = name.parse::<i64>() {
        return Some(n);
    }
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "KILL" => 9,
        "USR1" => 10,
        "USR2" => 12,
        "TERM" => 15,
        "CONT" => 18,
        "STOP" => 19,
        _ => return None,
    })
}

/// Signals whose default action ends the process (others are assumed handled).
fn signal_terminates(number: i64) -> bool {
    matches!(number, 2 | 3 | 9 | 15)
}

#[cfg(test)]
fn injected(op: FakeOp) -> RuntimeError {
    RuntimeError::Api(format!("injected failure of {op:?}"))
}

fn not_owned(kind: &'static str, name: &str, cluster: &str) -> RuntimeError {
    RuntimeError::NotOwned {
        kind,
        name: name.to_string(),
        cluster: cluster.to_string(),
    }
}

fn not_found(kind: &'static str, name: &str) -> RuntimeError {
    RuntimeError::NotFound {
        kind,
        name: name.to_string(),
    }
}

fn spec_cluster(labels_map: &BTreeMap<String, String>) -> Option<String> {
    let cluster = labels_map.get(labels::CLUSTER)?;
    labels::is_owned_by_btree(labels_map, cluster).then(|| cluster.clone())
}

impl State {
    fn tick(&mut self) -> SystemTime {
        self.clock += Duration::from_millis(1);
        self.clock
    }

    fn event(
        &mut self,
        name: &str,
        raw: &str,
        exit_code: Option<i64>,
        signal: Option<String>,
    ) -> RuntimeEvent {
        let time = self.tick();
        let labels = self
            .world
            .containers
            .get(name)
            .map(|c| c.spec.labels.clone())
            .unwrap_or_default();
        RuntimeEvent {
            container: name.to_string(),
            action: super::docker::action_from_docker(raw),
            raw_action: raw.to_string(),
            exit_code,
            signal,
            time,
            labels,
        }
    }

    /// The container if `cluster` owns it; `Ok(None)` when absent.
    fn owned(&self, cluster: &str, name: &str) -> Result<Option<&FakeContainer>, RuntimeError> {
        match self.world.containers.get(name) {
            None => Ok(None),
            Some(c) if labels::is_owned_by_btree(&c.spec.labels, cluster) => Ok(Some(c)),
            Some(_) => Err(not_owned("container", name, cluster)),
        }
    }

    fn require_owned(&self, cluster: &str, name: &str) -> Result<&FakeContainer, RuntimeError> {
        self.owned(cluster, name)?
            .ok_or_else(|| not_found("container", name))
    }

    fn owned_network(&self, cluster: &str, name: &str) -> Result<bool, RuntimeError> {
        match self.world.networks.get(name) {
            None => Ok(false),
            Some(l) if labels::is_owned_by_btree(l, cluster) => Ok(true),
            Some(_) => Err(not_owned("network", name, cluster)),
        }
    }

    fn allocate_ip(&mut self, network: &str) -> String {
        let count = self.network_index.len();
        let entry = self
            .network_index
            .entry(network.to_string())
            .or_insert_with(|| {
                // 172.18.0.0/16 onwards, one /16 per network, .1 is the gateway.
                (u8::try_from(18 + count % 200).unwrap_or(18), 1)
            });
        entry.1 = entry.1.wrapping_add(1).max(2);
        format!("172.{}.0.{}", entry.0, entry.1)
    }

    fn container_mut(&mut self, name: &str) -> &mut FakeContainer {
        self.world
            .containers
            .get_mut(name)
            .expect("checked by the caller")
    }

    /// Moves a live container to `Exited`, emitting `die` (and `destroy` for
    /// auto-remove containers).
    fn exit(&mut self, name: &str, exit_code: i64, out: &mut Vec<RuntimeEvent>) {
        let now = self.tick();
        let container = self.container_mut(name);
        container.status = ContainerStatus::Exited;
        container.exit_code = Some(exit_code);
        container.finished_at = Some(now);
        let auto_remove = container.spec.auto_remove;
        out.push(self.event(name, "die", Some(exit_code), None));
        if auto_remove {
            out.push(self.event(name, "destroy", None, None));
            self.world.containers.remove(name);
        }
    }

    fn host_port_holder(&self, port: u16, except: &str) -> Option<String> {
        self.world
            .containers
            .values()
            .filter(|c| c.spec.name != except)
            .filter(|c| matches!(c.status, ContainerStatus::Running | ContainerStatus::Paused))
            .find(|c| c.spec.ports.iter().any(|p| p.host_port == port))
            .map(|c| c.spec.name.clone())
    }

    /// Starts a created or exited container.
    fn start(&mut self, name: &str, out: &mut Vec<RuntimeEvent>) -> Result<(), RuntimeError> {
        let container = &self.world.containers[name];
        match container.status {
            ContainerStatus::Running | ContainerStatus::Restarting => return Ok(()),
            ContainerStatus::Paused => {
                return Err(RuntimeError::Api(format!(
                    "409: cannot start a paused container {name:?}, try unpause instead"
                )))
            }
            ContainerStatus::Removing | ContainerStatus::Dead => {
                return Err(RuntimeError::Api(format!(
                    "409: container {name:?} is marked for removal"
                )))
            }
            ContainerStatus::Created | ContainerStatus::Exited => {}
        }
        for port in container.spec.ports.clone() {
            if let Some(holder) = self.host_port_holder(port.host_port, name) {
                return Err(RuntimeError::Api(format!(
                    "500: driver failed programming external connectivity on {name:?}: \
                     Bind for 127.0.0.1:{} failed: port is already allocated (held by {holder:?})",
                    port.host_port
                )));
            }
        }
        // Only `container:<name>` shares another container's namespace; `none`,
        // `host` and network names do not need a live peer.
        if let Some(target) = container
            .spec
            .network_mode
            .as_deref()
            .and_then(|m| m.strip_prefix("container:"))
            .map(str::to_string)
        {
            let target = target.as_str();
            let live = self.world.containers.get(target).map(|t| t.status)
                == Some(ContainerStatus::Running);
            if !live {
                return Err(RuntimeError::Api(format!(
                    "409: cannot join network of a non running container: {target}"
                )));
            }
        }
        let now = self.tick();
        let container = self.container_mut(name);
        container.status = ContainerStatus::Running;
        container.oom_killed = false;
        container.started_at = Some(now);
        container.starts += 1;
        out.push(self.event(name, "start", None, None));
        Ok(())
    }

    fn take_failure(&mut self, op: FakeOp) -> Option<RuntimeError> {
        if self.unreachable {
            return Some(RuntimeError::Unreachable("fake daemon is down".to_string()));
        }
        let queue = self.failures.get_mut(&op)?;
        let error = queue.pop_front();
        if queue.is_empty() {
            self.failures.remove(&op);
        }
        error
    }
}

impl FakeRuntime {
    /// An empty runtime: no containers, networks or volumes; every image present.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(4096);
        let state = State {
            world: FakeSnapshot::default(),
            network_index: BTreeMap::new(),
            missing_images: BTreeSet::new(),
            next_id: 0,
            clock: UNIX_EPOCH + Duration::from_secs(CLOCK_START_SECS),
            calls: Vec::new(),
            failures: BTreeMap::new(),
            unreachable: false,
            exec_handler: None,
        };
        Self {
            state: Arc::new(Mutex::new(state)),
            events,
        }
    }

    fn publish(&self, events: Vec<RuntimeEvent>) {
        for event in events {
            // No subscribers is fine.
            let _ = self.events.send(Broadcast::Event(event));
        }
    }

    /// Runs one operation: injected failures first, then `body`, then the call log
    /// and event broadcast.
    fn run<T>(
        &self,
        op: FakeOp,
        cluster: &str,
        target: &str,
        detail: Option<String>,
        body: impl FnOnce(&mut State, &mut Vec<RuntimeEvent>) -> Result<T, RuntimeError>,
    ) -> Result<T, RuntimeError> {
        let mut events = Vec::new();
        let result = {
            let mut state = self.state.lock();
            let result = match state.take_failure(op) {
                Some(error) => Err(error),
                None => body(&mut state, &mut events),
            };
            if op.is_mutating() {
                state.calls.push(FakeCall {
                    op,
                    cluster: cluster.to_string(),
                    target: target.to_string(),
                    detail,
                    outcome: result.as_ref().map(|_| ()).map_err(ToString::to_string),
                });
            }
            result
        };
        self.publish(events);
        result
    }

    /// Every mutating call so far, in order, with its outcome.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.state.lock().calls.clone()
    }

    #[cfg(test)]
    /// Forgets the call log.
    pub(crate) fn clear_calls(&self) {
        self.state.lock().calls.clear();
    }

    #[cfg(test)]
    /// A copy of all containers, networks and volumes.
    pub(crate) fn snapshot(&self) -> FakeSnapshot {
        self.state.lock().world.clone()
    }

    #[cfg(test)]
    /// Makes the next call of `op` fail with an API error (calls queue up).
    pub(crate) fn fail_next(&self, op: FakeOp) {
        self.fail_next_with(op, injected(op));
    }

    #[cfg(test)]
    /// Makes the next call of `op` fail with `error`.
    pub(crate) fn fail_next_with(&self, op: FakeOp, error: RuntimeError) {
        self.state
            .lock()
            .failures
            .entry(op)
            .or_default()
            .push_back(error);
    }

    /// Simulates the daemon going away (every call fails with
    /// [`RuntimeError::Unreachable`], open event streams end) or coming back.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.state.lock().unreachable = unreachable;
        if unreachable {
            let _ = self.events.send(Broadcast::DaemonGone);
        }
    }

    #[cfg(test)]
    /// Marks an image as absent (`create_and_start` then fails with
    /// [`RuntimeError::ImageMissing`]) or present again.
    pub(crate) fn set_image_present(&self, image: &str, present: bool) {
        let mut state = self.state.lock();
        if present {
            state.missing_images.remove(image);
        } else {
            state.missing_images.insert(image.to_string());
        }
    }

    /// Sets the logical clock.
    pub fn set_clock(&self, now: SystemTime) {
        self.state.lock().clock = now;
    }

    #[cfg(test)]
    /// The logical clock's current time.
    pub(crate) fn now(&self) -> SystemTime {
        self.state.lock().clock
    }

    #[cfg(test)]
    /// Answers [`ContainerRuntime::exec`] with `handler(container, cmd)`. Without a
    /// handler every command succeeds with no output.
    pub(crate) fn set_exec_handler(
        &self,
        handler: impl Fn(&str, &[String]) -> ExecOutput + Send + Sync + 'static,
    ) {
        self.state.lock().exec_handler = Some(Arc::new(handler));
    }

    /// Appends an output line to a container's log (stamped with the logical clock).
    pub fn push_log(&self, name: &str, stream: &'static str, text: &str) {
        let mut state = self.state.lock();
        let now = state.tick();
        if let Some(container) = state.world.containers.get_mut(name) {
            container.logs.push((
                now,
                LogLine {
                    stream,
                    text: text.to_string(),
                },
            ));
        }
    }

    #[cfg(test)]
    /// Adds a running container that carries `labels` (typically none of ours),
    /// as another tool or user would have created it.
    pub(crate) fn add_foreign_container(&self, name: &str, labels_map: BTreeMap<String, String>) {
        let mut state = self.state.lock();
        state.next_id += 1;
        let id = format!("fake-{:06}", state.next_id);
        let now = state.tick();
        let spec = ContainerSpec {
            name: name.to_string(),
            image: "foreign:latest".to_string(),
            labels: labels_map,
            ..Default::default()
        };
        let ip = state.allocate_ip("bridge");
        state.world.containers.insert(
            name.to_string(),
            FakeContainer {
                id,
                spec,
                status: ContainerStatus::Running,
                exit_code: None,
                oom_killed: false,
                networks: BTreeMap::from([("bridge".to_string(), ip)]),
                started_at: Some(now),
                finished_at: None,
                files: BTreeMap::new(),
                logs: Vec::new(),
                starts: 1,
            },
        );
    }

    #[cfg(test)]
    /// Adds a volume carrying `labels` (typically not ours).
    pub(crate) fn add_foreign_volume(&self, name: &str, labels_map: BTreeMap<String, String>) {
        self.state
            .lock()
            .world
            .volumes
            .insert(name.to_string(), labels_map);
    }

    #[cfg(test)]
    /// Forces a container's state, emitting the events Docker would: `die` (with the
    /// exit code) when a live container becomes exited or dead, `start` when a stopped
    /// one becomes running, `pause`/`unpause` across paused.
    ///
    /// # Panics
    ///
    /// When no container has that name (a broken test, not a runtime condition).
    pub(crate) fn set_status(&self, name: &str, status: ContainerStatus, exit_code: Option<i64>) {
        let mut events = Vec::new();
        {
            let mut state = self.state.lock();
            let before = state
                .world
                .containers
                .get(name)
                .unwrap_or_else(|| panic!("set_status: no container {name:?}"))
                .status;
            let live = |s: ContainerStatus| {
                matches!(s, ContainerStatus::Running | ContainerStatus::Paused)
            };
            match status {
                ContainerStatus::Exited | ContainerStatus::Dead if live(before) => {
                    state.exit(name, exit_code.unwrap_or(0), &mut events);
                    if let Some(container) = state.world.containers.get_mut(name) {
                        container.status = status;
                    }
                    return self.publish(events);
                }
                ContainerStatus::Running if before == ContainerStatus::Paused => {
                    events.push(state.event(name, "unpause", None, None));
                }
                ContainerStatus::Running if !live(before) => {
                    let now = state.tick();
                    let container = state.container_mut(name);
                    container.started_at = Some(now);
                    container.starts += 1;
                    events.push(state.event(name, "start", None, None));
                }
                ContainerStatus::Paused if before != ContainerStatus::Paused => {
                    events.push(state.event(name, "pause", None, None));
                }
                _ => {}
            }
            let container = state.container_mut(name);
            container.status = status;
            if exit_code.is_some() {
                container.exit_code = exit_code;
            }
        }
        self.publish(events);
    }

    /// The OOM killer ends a container: `oom`, then `die` with 137.
    ///
    /// # Panics
    ///
    /// When no container has that name.
    pub fn oom_kill(&self, name: &str) {
        let mut events = Vec::new();
        {
            let mut state = self.state.lock();
            assert!(
                state.world.containers.contains_key(name),
                "oom_kill: no container {name:?}"
            );
            events.push(state.event(name, "oom", None, None));
            state.exit(name, 137, &mut events);
            if let Some(container) = state.world.containers.get_mut(name) {
                container.oom_killed = true;
            }
        }
        self.publish(events);
    }
}

fn observe(container: &FakeContainer, network: &str) -> ObservedContainer {
    ObservedContainer {
        id: container.id.clone(),
        name: container.spec.name.clone(),
        image: container.spec.image.clone(),
        labels: container.spec.labels.clone(),
        status: container.status,
        exit_code: container.exit_code,
        oom_killed: container.oom_killed,
        ip: container.networks.get(network).cloned(),
        networks: container.networks.keys().cloned().collect(),
        started_at: container.started_at,
        finished_at: container.finished_at,
    }
}

#[async_trait::async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn list_owned(&self, cluster: &str, network: &str) -> Result<Owned, RuntimeError> {
        self.run(FakeOp::ListOwned, cluster, network, None, |state, _| {
            let looks_ours =
                |name: &str| name.starts_with(&format!("{cluster}-")) || name == network;
            let mut owned = Owned::default();
            for container in state.world.containers.values() {
                if labels::is_owned_by_btree(&container.spec.labels, cluster) {
                    owned.containers.push(observe(container, network));
                } else if looks_ours(&container.spec.name) {
                    owned.foreign_names.push(container.spec.name.clone());
                }
            }
            for (name, l) in &state.world.networks {
                if labels::is_owned_by_btree(l, cluster) {
                    owned.networks.push(ObservedNetwork {
                        name: name.clone(),
                        labels: l.clone(),
                    });
                } else if looks_ours(name) {
                    owned.foreign_names.push(name.clone());
                }
            }
            for (name, l) in &state.world.volumes {
                if labels::is_owned_by_btree(l, cluster) {
                    owned.volumes.push(ObservedVolume {
                        name: name.clone(),
                        labels: l.clone(),
                    });
                } else if looks_ours(name) {
                    owned.foreign_names.push(name.clone());
                }
            }
            owned.foreign_names.sort();
            owned.foreign_names.dedup();
            Ok(owned)
        })
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<(), RuntimeError> {
        let cluster = spec_cluster(&spec.labels).unwrap_or_default();
        self.run(
            FakeOp::CreateNetwork,
            &cluster,
            &spec.name,
            None,
            |state, _| {
                if cluster.is_empty() {
                    return Err(RuntimeError::Api(format!(
                        "network spec {:?} lacks the ownership labels",
                        spec.name
                    )));
                }
                match state.world.networks.get(&spec.name) {
                    Some(l) if labels::is_owned_by_btree(l, &cluster) => Ok(()),
                    Some(_) => Err(RuntimeError::Conflict {
                        kind: "network",
                        name: spec.name.clone(),
                    }),
                    None => {
                        state
                            .world
                            .networks
                            .insert(spec.name.clone(), spec.labels.clone());
                        Ok(())
                    }
                }
            },
        )
    }

    async fn remove_network(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        self.run(FakeOp::RemoveNetwork, cluster, name, None, |state, _| {
            if !state.owned_network(cluster, name)? {
                return Ok(());
            }
            let attached: Vec<&str> = state
                .world
                .containers
                .values()
                .filter(|c| c.networks.contains_key(name))
                .map(|c| c.spec.name.as_str())
                .collect();
            if !attached.is_empty() {
                return Err(RuntimeError::Api(format!(
                    "403: error while removing network: network {name} has active endpoints ({})",
                    attached.join(", ")
                )));
            }
            state.world.networks.remove(name);
            Ok(())
        })
    }

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<(), RuntimeError> {
        let cluster = spec_cluster(&spec.labels).unwrap_or_default();
        self.run(
            FakeOp::CreateVolume,
            &cluster,
            &spec.name,
            None,
            |state, _| {
                if cluster.is_empty() {
                    return Err(RuntimeError::Api(format!(
                        "volume spec {:?} lacks the ownership labels",
                        spec.name
                    )));
                }
                match state.world.volumes.get(&spec.name) {
                    Some(l) if labels::is_owned_by_btree(l, &cluster) => Ok(()),
                    Some(_) => Err(RuntimeError::Conflict {
                        kind: "volume",
                        name: spec.name.clone(),
                    }),
                    None => {
                        state
                            .world
                            .volumes
                            .insert(spec.name.clone(), spec.labels.clone());
                        Ok(())
                    }
                }
            },
        )
    }

    async fn remove_volume(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        self.run(FakeOp::RemoveVolume, cluster, name, None, |state, _| {
            match state.world.volumes.get(name) {
                None => return Ok(()),
                Some(l) if !labels::is_owned_by_btree(l, cluster) => {
                    return Err(not_owned("volume", name, cluster))
                }
                Some(_) => {}
            }
            if let Some(user) = state
                .world
                .containers
                .values()
                .find(|c| c.spec.mounts.iter().any(|m| m.volume == name))
            {
                return Err(RuntimeError::Api(format!(
                    "409: remove {name}: volume is in use - [{}]",
                    user.id
                )));
            }
            state.world.volumes.remove(name);
            Ok(())
        })
    }

    async fn create_and_start(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        let cluster = spec_cluster(&spec.labels).unwrap_or_default();
        self.run(
            FakeOp::CreateAndStart,
            &cluster,
            &spec.name,
            None,
            |state, events| {
                if cluster.is_empty() {
                    return Err(RuntimeError::Api(format!(
                        "container spec {:?} lacks the ownership labels",
                        spec.name
                    )));
                }
                for file in &spec.files {
                    if !file.path.starts_with('/') || file.path.split('/').any(|p| p == "..") {
                        return Err(RuntimeError::Api(format!(
                            "upload path {:?} is not a plain absolute file path",
                            file.path
                        )));
                    }
                }
                if state.missing_images.contains(&spec.image) {
                    return Err(RuntimeError::ImageMissing(spec.image.clone()));
                }
                if state.world.containers.contains_key(&spec.name) {
                    return Err(RuntimeError::Conflict {
                        kind: "container",
                        name: spec.name.clone(),
                    });
                }
                let attach = spec.network_mode.is_none() && !spec.network.is_empty();
                if attach && !state.world.networks.contains_key(&spec.network) {
                    return Err(not_found("network", &spec.network));
                }
                for mount in &spec.mounts {
                    // Docker creates a missing named volume on the fly, without labels.
                    state.world.volumes.entry(mount.volume.clone()).or_default();
                }
                state.next_id += 1;
                let id = format!("fake-{:06}", state.next_id);
                let networks = if attach {
                    BTreeMap::from([(spec.network.clone(), state.allocate_ip(&spec.network))])
                } else {
                    BTreeMap::new()
                };
                let container = FakeContainer {
                    id: id.clone(),
                    spec: spec.clone(),
                    status: ContainerStatus::Created,
                    exit_code: None,
                    oom_killed: false,
                    networks,
                    started_at: None,
                    finished_at: None,
                    files: spec
                        .files
                        .iter()
                        .map(|f| (f.path.clone(), f.contents.clone()))
                        .collect(),
                    logs: Vec::new(),
                    starts: 0,
                };
                state.world.containers.insert(spec.name.clone(), container);
                let mut created = vec![state.event(&spec.name, "create", None, None)];
                if let Err(e) = state.start(&spec.name, &mut created) {
                    // Like the Docker adapter: a container that cannot start is removed.
                    state.world.containers.remove(&spec.name);
                    return Err(e);
                }
                events.extend(created);
                Ok(id)
            },
        )
    }

    async fn start(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        self.run(FakeOp::Start, cluster, name, None, |state, events| {
            state.require_owned(cluster, name)?;
            state.start(name, events)
        })
    }

    async fn stop(&self, cluster: &str, name: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.run(
            FakeOp::Stop,
            cluster,
            name,
            Some(format!("{}s", grace.as_secs())),
            |state, events| {
                let Some(container) = state.owned(cluster, name)? else {
                    return Ok(());
                };
                if !matches!(
                    container.status,
                    ContainerStatus::Running | ContainerStatus::Paused
                ) {
                    return Ok(());
                }
                let auto_remove = container.spec.auto_remove;
                events.push(state.event(name, "kill", None, Some("15".to_string())));
                state.exit(name, 0, events);
                if !auto_remove {
                    events.push(state.event(name, "stop", None, None));
                }
                Ok(())
            },
        )
    }

    async fn restart(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        self.run(FakeOp::Restart, cluster, name, None, |state, events| {
            let container = state.require_owned(cluster, name)?;
            if matches!(
                container.status,
                ContainerStatus::Running | ContainerStatus::Paused
            ) {
                events.push(state.event(name, "kill", None, Some("15".to_string())));
                let now = state.tick();
                let container = state.container_mut(name);
                container.status = ContainerStatus::Exited;
                container.exit_code = Some(0);
                container.finished_at = Some(now);
                events.push(state.event(name, "die", Some(0), None));
                events.push(state.event(name, "stop", None, None));
            }
            state.start(name, events)?;
            events.push(state.event(name, "restart", None, None));
            Ok(())
        })
    }

    async fn kill(&self, cluster: &str, name: &str, signal: &str) -> Result<(), RuntimeError> {
        self.run(
            FakeOp::Kill,
            cluster,
            name,
            Some(signal.to_string()),
            |state, events| {
                let container = state.require_owned(cluster, name)?;
                if !matches!(
                    container.status,
                    ContainerStatus::Running | ContainerStatus::Paused
                ) {
                    return Ok(());
                }
                let number = signal_number(signal)
                    .ok_or_else(|| RuntimeError::Api(format!("400: invalid signal: {signal}")))?;
                events.push(state.event(name, "kill", None, Some(number.to_string())));
                if signal_terminates(number) {
                    state.exit(name, 128 + number, events);
                }
                Ok(())
            },
        )
    }

    async fn remove(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        self.run(FakeOp::Remove, cluster, name, None, |state, events| {
            let Some(container) = state.owned(cluster, name)? else {
                return Ok(());
            };
            let auto_remove = container.spec.auto_remove;
            if matches!(
                container.status,
                ContainerStatus::Running | ContainerStatus::Paused
            ) {
                events.push(state.event(name, "kill", None, Some("9".to_string())));
                state.exit(name, 137, events);
                if auto_remove {
                    return Ok(());
                }
            }
            events.push(state.event(name, "destroy", None, None));
            state.world.containers.remove(name);
            Ok(())
        })
    }

    async fn pause(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        self.run(
            FakeOp::Pause,
            cluster,
            name,
            None,
            |state, events| match state.require_owned(cluster, name)?.status {
                ContainerStatus::Paused => Ok(()),
                ContainerStatus::Running => {
                    state.container_mut(name).status = ContainerStatus::Paused;
                    events.push(state.event(name, "pause", None, None));
                    Ok(())
                }
                _ => Err(RuntimeError::Api(format!(
                    "409: container {name} is not running"
                ))),
            },
        )
    }

    async fn unpause(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        self.run(FakeOp::Unpause, cluster, name, None, |state, events| {
            if state.require_owned(cluster, name)?.status != ContainerStatus::Paused {
                return Ok(());
            }
            state.container_mut(name).status = ContainerStatus::Running;
            events.push(state.event(name, "unpause", None, None));
            Ok(())
        })
    }

    async fn connect(&self, cluster: &str, network: &str, name: &str) -> Result<(), RuntimeError> {
        self.run(
            FakeOp::Connect,
            cluster,
            name,
            Some(network.to_string()),
            |state, _| {
                let attached = state
                    .require_owned(cluster, name)?
                    .networks
                    .contains_key(network);
                if !state.owned_network(cluster, network)? {
                    return Err(not_found("network", network));
                }
                if !attached {
                    let ip = state.allocate_ip(network);
                    state
                        .container_mut(name)
                        .networks
                        .insert(network.to_string(), ip);
                }
                Ok(())
            },
        )
    }

    async fn disconnect(
        &self,
        cluster: &str,
        network: &str,
        name: &str,
    ) -> Result<(), RuntimeError> {
        self.run(
            FakeOp::Disconnect,
            cluster,
            name,
            Some(network.to_string()),
            |state, _| {
                state.require_owned(cluster, name)?;
                if !state.owned_network(cluster, network)? {
                    return Err(not_found("network", network));
                }
                state.container_mut(name).networks.remove(network);
                Ok(())
            },
        )
    }

    async fn upload(
        &self,
        cluster: &str,
        name: &str,
        files: &[FileUpload],
    ) -> Result<(), RuntimeError> {
        let paths = files
            .iter()
            .map(|f| f.path.clone())
            .collect::<Vec<_>>()
            .join(",");
        self.run(FakeOp::Upload, cluster, name, Some(paths), |state, _| {
            state.require_owned(cluster, name)?;
            let c = state
                .world
                .containers
                .get_mut(name)
                .ok_or_else(|| not_found("container", name))?;
            for f in files {
                c.files.insert(f.path.clone(), f.contents.clone());
            }
            Ok(())
        })
    }

    async fn download(
        &self,
        cluster: &str,
        name: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, RuntimeError> {
        self.run(
            FakeOp::Download,
            cluster,
            name,
            Some(path.to_string()),
            |state, _| {
                state.require_owned(cluster, name)?;
                let c = state
                    .world
                    .containers
                    .get(name)
                    .ok_or_else(|| not_found("container", name))?;
                Ok(c.files.get(path).cloned())
            },
        )
    }

    async fn exec(
        &self,
        cluster: &str,
        name: &str,
        cmd: &[String],
    ) -> Result<ExecOutput, RuntimeError> {
        let handler = self.state.lock().exec_handler.clone();
        self.run(
            FakeOp::Exec,
            cluster,
            name,
            Some(cmd.join(" ")),
            |state, _| {
                match state.require_owned(cluster, name)?.status {
                    ContainerStatus::Running => {}
                    ContainerStatus::Paused => {
                        return Err(RuntimeError::Api(format!(
                            "409: container {name} is paused, unpause the container before exec"
                        )))
                    }
                    _ => {
                        return Err(RuntimeError::Api(format!(
                            "409: container {name} is not running"
                        )))
                    }
                }
                Ok(match &handler {
                    Some(handler) => handler(name, cmd),
                    None => ExecOutput {
                        exit_code: 0,
                        output: String::new(),
                    },
                })
            },
        )
    }

    async fn logs(
        &self,
        cluster: &str,
        name: &str,
        since: Option<SystemTime>,
        tail: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        self.run(FakeOp::Logs, cluster, name, None, |state, _| {
            let container = state.require_owned(cluster, name)?;
            let lines: Vec<LogLine> = container
                .logs
                .iter()
                .filter(|(at, _)| since.is_none_or(|since| *at >= since))
                .map(|(_, line)| line.clone())
                .collect();
            let skip = lines.len().saturating_sub(tail);
            Ok(lines.into_iter().skip(skip).collect())
        })
    }

    async fn image_exists(&self, image: &str) -> Result<bool, RuntimeError> {
        self.run(FakeOp::ImageExists, "", image, None, |state, _| {
            Ok(!state.missing_images.contains(image))
        })
    }

    fn events(&self, cluster: &str) -> BoxStream<'static, Result<RuntimeEvent, RuntimeError>> {
        if self.state.lock().unreachable {
            let gone = RuntimeError::Unreachable("fake daemon is down".to_string());
            return futures::stream::once(futures::future::ready(Err(gone))).boxed();
        }
        let receiver = self.events.subscribe();
        let cluster = cluster.to_string();
        futures::stream::unfold(Some(receiver), move |receiver| {
            let cluster = cluster.clone();
            async move {
                let mut receiver = receiver?;
                loop {
                    match receiver.recv().await {
                        Ok(Broadcast::Event(event)) => {
                            if labels::is_owned_by_btree(&event.labels, &cluster) {
                                return Some((Ok(event), Some(receiver)));
                            }
                        }
                        Ok(Broadcast::DaemonGone) => {
                            let gone = RuntimeError::Unreachable("fake daemon is down".to_string());
                            return Some((Err(gone), None));
                        }
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            let lagged = RuntimeError::Api(format!(
                                "event stream lagged by {missed} events"
                            ));
                            return Some((Err(lagged), None));
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        })
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{EventAction, FileUpload, Mount, PortPublish};

    const CLUSTER: &str = "demo";
    const NET: &str = "demo-net";

    fn spec(name: &str) -> ContainerSpec {
        let mut labels_map = labels::ownership(CLUSTER);
        labels_map.insert(
            labels::MEMBER.to_string(),
            name.trim_start_matches("demo-").to_string(),
        );
        ContainerSpec {
            name: name.to_string(),
            image: "tikv-sim:local".to_string(),
            labels: labels_map,
            network: NET.to_string(),
            ..Default::default()
        }
    }

    async fn with_network() -> FakeRuntime {
        let fake = FakeRuntime::new();
        fake.create_network(&NetworkSpec {
            name: NET.into(),
            labels: labels::ownership(CLUSTER),
        })
        .await
        .unwrap();
        fake
    }

    #[tokio::test]
    async fn a_created_container_is_listed_running_with_an_ip_and_its_files() {
        let fake = with_network().await;
        let mut s = spec("demo-pd-0");
        s.files = vec![FileUpload {
            path: "/etc/pd.toml".into(),
            contents: b"a=1".to_vec(),
            mode: 0o644,
        }];
        let id = fake.create_and_start(&s).await.unwrap();
        let owned = fake.list_owned(CLUSTER, NET).await.unwrap();
        assert_eq!(owned.containers.len(), 1);
        let c = &owned.containers[0];
        assert_eq!(
            (c.id.as_str(), c.status),
            (id.as_str(), ContainerStatus::Running)
        );
        assert_eq!(c.ip.as_deref(), Some("172.18.0.2"));
        assert_eq!(c.networks, vec![NET.to_string()]);
        assert!(c.started_at.is_some());
        assert_eq!(owned.networks.len(), 1);
        assert_eq!(
            fake.snapshot().container("demo-pd-0").unwrap().files["/etc/pd.toml"],
            b"a=1".to_vec()
        );
    }

    #[tokio::test]
    async fn a_foreign_container_with_our_name_is_reported_and_never_touched() {
        let fake = with_network().await;
        fake.add_foreign_container("demo-pd-0", BTreeMap::new());
        fake.clear_calls();
        let owned = fake.list_owned(CLUSTER, NET).await.unwrap();
        assert!(owned.containers.is_empty());
        assert_eq!(owned.foreign_names, vec!["demo-pd-0".to_string()]);

        let n = "demo-pd-0";
        let results = vec![
            fake.stop(CLUSTER, n, Duration::from_secs(1)).await.err(),
            fake.remove(CLUSTER, n).await.err(),
            fake.kill(CLUSTER, n, "SIGKILL").await.err(),
            fake.restart(CLUSTER, n).await.err(),
            fake.pause(CLUSTER, n).await.err(),
            fake.unpause(CLUSTER, n).await.err(),
            fake.start(CLUSTER, n).await.err(),
            fake.disconnect(CLUSTER, NET, n).await.err(),
            fake.connect(CLUSTER, NET, n).await.err(),
            fake.exec(CLUSTER, n, &["true".to_string()]).await.err(),
            fake.logs(CLUSTER, n, None, 10).await.err(),
        ];
        for result in results {
            assert!(
                matches!(
                    result,
                    Some(RuntimeError::NotOwned {
                        kind: "container",
                        ..
                    })
                ),
                "{result:?}"
            );
        }
        assert!(matches!(
            fake.create_and_start(&spec(n)).await,
            Err(RuntimeError::Conflict {
                kind: "container",
                ..
            })
        ));
        let foreign = fake.snapshot().containers[n].clone();
        assert_eq!(foreign.status, ContainerStatus::Running);
        assert_eq!(foreign.starts, 1);
        assert!(fake.calls().iter().all(|c| c.outcome.is_err()));
    }

    #[tokio::test]
    async fn a_container_of_another_cluster_is_not_owned_even_with_our_prefix() {
        let fake = with_network().await;
        fake.add_foreign_container("demo-tikv-0", labels::ownership("other"));
        assert!(matches!(
            fake.remove(CLUSTER, "demo-tikv-0").await,
            Err(RuntimeError::NotOwned { .. })
        ));
        assert!(fake.remove("other", "demo-tikv-0").await.is_ok());
    }

    #[tokio::test]
    async fn stop_and_remove_are_idempotent_and_start_of_a_running_container_succeeds() {
        let fake = with_network().await;
        fake.create_and_start(&spec("demo-tikv-0")).await.unwrap();
        fake.start(CLUSTER, "demo-tikv-0").await.unwrap();
        fake.stop(CLUSTER, "demo-tikv-0", Duration::from_secs(5))
            .await
            .unwrap();
        fake.stop(CLUSTER, "demo-tikv-0", Duration::from_secs(5))
            .await
            .unwrap();
        let c = fake.snapshot().containers["demo-tikv-0"].clone();
        assert_eq!((c.status, c.exit_code), (ContainerStatus::Exited, Some(0)));
        fake.start(CLUSTER, "demo-tikv-0").await.unwrap();
        assert_eq!(fake.snapshot().containers["demo-tikv-0"].starts, 2);
        fake.remove(CLUSTER, "demo-tikv-0").await.unwrap();
        fake.remove(CLUSTER, "demo-tikv-0").await.unwrap();
        fake.stop(CLUSTER, "demo-tikv-0", Duration::ZERO)
            .await
            .unwrap();
        assert!(matches!(
            fake.start(CLUSTER, "demo-tikv-0").await,
            Err(RuntimeError::NotFound {
                kind: "container",
                ..
            })
        ));
        assert!(fake.snapshot().containers.is_empty());
    }

    #[tokio::test]
    async fn events_report_die_with_exit_code_and_kill_with_signal_in_docker_order() {
        let fake = with_network().await;
        let mut events = fake.events(CLUSTER);
        let mut others = fake.events("other");
        fake.create_and_start(&spec("demo-tikv-0")).await.unwrap();
        fake.kill(CLUSTER, "demo-tikv-0", "SIGKILL").await.unwrap();
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(events.next().await.unwrap().unwrap());
        }
        let actions: Vec<&str> = seen.iter().map(|e| e.raw_action.as_str()).collect();
        assert_eq!(actions, vec!["create", "start", "kill", "die"]);
        assert_eq!(seen[2].signal.as_deref(), Some("9"));
        assert_eq!(seen[3].exit_code, Some(137));
        assert_eq!(seen[3].action, EventAction::Die);
        assert_eq!(
            seen[3].labels.get(labels::MEMBER).map(String::as_str),
            Some("tikv-0")
        );
        assert!(seen.windows(2).all(|w| w[0].time < w[1].time));
        // Another cluster's subscriber saw nothing.
        fake.set_unreachable(true);
        assert!(matches!(
            others.next().await,
            Some(Err(RuntimeError::Unreachable(_)))
        ));
        assert!(others.next().await.is_none());
    }

    #[tokio::test]
    async fn an_unreachable_daemon_fails_every_call_and_ends_event_streams() {
        let fake = with_network().await;
        let mut events = fake.events(CLUSTER);
        fake.set_unreachable(true);
        assert!(matches!(
            events.next().await,
            Some(Err(RuntimeError::Unreachable(_)))
        ));
        assert!(events.next().await.is_none());
        assert!(matches!(
            fake.list_owned(CLUSTER, NET).await,
            Err(RuntimeError::Unreachable(_))
        ));
        assert!(matches!(
            fake.events(CLUSTER).next().await,
            Some(Err(RuntimeError::Unreachable(_)))
        ));
        fake.set_unreachable(false);
        assert!(fake.list_owned(CLUSTER, NET).await.is_ok());
    }

    #[tokio::test]
    async fn fail_next_fails_exactly_one_call_of_that_operation() {
        let fake = with_network().await;
        fake.fail_next(FakeOp::CreateAndStart);
        assert!(matches!(
            fake.create_and_start(&spec("demo-pd-0")).await,
            Err(RuntimeError::Api(_))
        ));
        assert!(fake.snapshot().containers.is_empty());
        fake.create_and_start(&spec("demo-pd-0")).await.unwrap();
        fake.fail_next_with(FakeOp::Stop, RuntimeError::Unreachable("x".into()));
        assert!(matches!(
            fake.stop(CLUSTER, "demo-pd-0", Duration::ZERO).await,
            Err(RuntimeError::Unreachable(_))
        ));
        fake.stop(CLUSTER, "demo-pd-0", Duration::ZERO)
            .await
            .unwrap();
        let ops: Vec<(FakeOp, bool)> = fake
            .calls()
            .iter()
            .map(|c| (c.op, c.outcome.is_ok()))
            .collect();
        assert_eq!(
            ops,
            vec![
                (FakeOp::CreateNetwork, true),
                (FakeOp::CreateAndStart, false),
                (FakeOp::CreateAndStart, true),
                (FakeOp::Stop, false),
                (FakeOp::Stop, true),
            ]
        );
    }

    #[tokio::test]
    async fn a_missing_image_fails_creation_before_anything_exists() {
        let fake = with_network().await;
        fake.set_image_present("tikv-sim:local", false);
        assert!(!fake.image_exists("tikv-sim:local").await.unwrap());
        assert!(matches!(
            fake.create_and_start(&spec("demo-pd-0")).await,
            Err(RuntimeError::ImageMissing(ref i)) if i == "tikv-sim:local"
        ));
        assert!(fake.snapshot().containers.is_empty());
    }

    #[tokio::test]
    async fn networks_and_volumes_are_idempotent_for_the_owner_and_conflict_for_others() {
        let fake = FakeRuntime::new();
        let net = NetworkSpec {
            name: NET.into(),
            labels: labels::ownership(CLUSTER),
        };
        fake.create_network(&net).await.unwrap();
        fake.create_network(&net).await.unwrap();
        fake.add_foreign_volume("demo-pd-0-data", BTreeMap::new());
        let vol = VolumeSpec {
            name: "demo-pd-0-data".into(),
            labels: labels::ownership(CLUSTER),
        };
        assert!(matches!(
            fake.create_volume(&vol).await,
            Err(RuntimeError::Conflict { kind: "volume", .. })
        ));
        assert!(matches!(
            fake.remove_volume(CLUSTER, "demo-pd-0-data").await,
            Err(RuntimeError::NotOwned { kind: "volume", .. })
        ));
        let other = NetworkSpec {
            name: NET.into(),
            labels: labels::ownership("other"),
        };
        assert!(matches!(
            fake.create_network(&other).await,
            Err(RuntimeError::Conflict { .. })
        ));
        assert!(matches!(
            fake.remove_network("other", NET).await,
            Err(RuntimeError::NotOwned { .. })
        ));
        let owned = fake.list_owned(CLUSTER, NET).await.unwrap();
        assert_eq!(owned.foreign_names, vec!["demo-pd-0-data".to_string()]);
        fake.remove_network(CLUSTER, NET).await.unwrap();
        fake.remove_network(CLUSTER, NET).await.unwrap();
    }

    #[tokio::test]
    async fn an_in_use_volume_and_a_network_with_endpoints_cannot_be_removed() {
        let fake = with_network().await;
        fake.create_volume(&VolumeSpec {
            name: "demo-pd-0-data".into(),
            labels: labels::ownership(CLUSTER),
        })
        .await
        .unwrap();
        let mut s = spec("demo-pd-0");
        s.mounts = vec![Mount {
            volume: "demo-pd-0-data".into(),
            target: "/data".into(),
        }];
        fake.create_and_start(&s).await.unwrap();
        assert!(matches!(
            fake.remove_volume(CLUSTER, "demo-pd-0-data").await,
            Err(RuntimeError::Api(_))
        ));
        assert!(matches!(
            fake.remove_network(CLUSTER, NET).await,
            Err(RuntimeError::Api(_))
        ));
        fake.remove(CLUSTER, "demo-pd-0").await.unwrap();
        fake.remove_volume(CLUSTER, "demo-pd-0-data").await.unwrap();
        fake.remove_network(CLUSTER, NET).await.unwrap();
    }

    #[tokio::test]
    async fn mounting_a_volume_that_does_not_exist_creates_an_unowned_one_as_docker_does() {
        let fake = with_network().await;
        let mut s = spec("demo-pd-0");
        s.mounts = vec![Mount {
            volume: "demo-pd-0-data".into(),
            target: "/data".into(),
        }];
        fake.create_and_start(&s).await.unwrap();
        let owned = fake.list_owned(CLUSTER, NET).await.unwrap();
        assert!(owned.volumes.is_empty());
        assert_eq!(owned.foreign_names, vec!["demo-pd-0-data".to_string()]);
    }

    #[tokio::test]
    async fn a_taken_host_port_fails_the_start_and_leaves_no_container() {
        let fake = with_network().await;
        let mut a = spec("demo-pd-0");
        a.ports = vec![PortPublish {
            container_port: 2379,
            host_port: 12379,
        }];
        let mut b = spec("demo-pd-1");
        b.ports = a.ports.clone();
        fake.create_and_start(&a).await.unwrap();
        let err = fake.create_and_start(&b).await.unwrap_err();
        assert!(
            err.to_string().contains("port is already allocated"),
            "{err}"
        );
        assert!(!fake.snapshot().containers.contains_key("demo-pd-1"));
    }

    #[tokio::test]
    async fn set_status_and_oom_kill_emit_the_events_docker_would() {
        let fake = with_network().await;
        fake.create_and_start(&spec("demo-tikv-0")).await.unwrap();
        fake.create_and_start(&spec("demo-tikv-1")).await.unwrap();
        let mut events = fake.events(CLUSTER);
        fake.set_status("demo-tikv-0", ContainerStatus::Exited, Some(1));
        fake.oom_kill("demo-tikv-1");
        fake.set_status("demo-tikv-0", ContainerStatus::Running, None);
        let mut seen = Vec::new();
        for _ in 0..4 {
            let e = events.next().await.unwrap().unwrap();
            seen.push((e.container, e.raw_action, e.exit_code));
        }
        assert_eq!(
            seen,
            vec![
                ("demo-tikv-0".to_string(), "die".to_string(), Some(1)),
                ("demo-tikv-1".to_string(), "oom".to_string(), None),
                ("demo-tikv-1".to_string(), "die".to_string(), Some(137)),
                ("demo-tikv-0".to_string(), "start".to_string(), None),
            ]
        );
        let owned = fake.list_owned(CLUSTER, NET).await.unwrap();
        let t1 = owned
            .containers
            .iter()
            .find(|c| c.name == "demo-tikv-1")
            .unwrap();
        assert!(t1.oom_killed);
        assert_eq!(
            (t1.status, t1.exit_code),
            (ContainerStatus::Exited, Some(137))
        );
    }

    #[tokio::test]
    async fn pause_disconnect_and_exec_follow_docker_rules() {
        let fake = with_network().await;
        fake.create_and_start(&spec("demo-tikv-0")).await.unwrap();
        fake.set_exec_handler(|name, cmd| ExecOutput {
            exit_code: 3,
            output: format!("{name}: {}", cmd.join(" ")),
        });
        let out = fake
            .exec(CLUSTER, "demo-tikv-0", &["tc".into(), "qdisc".into()])
            .await
            .unwrap();
        assert_eq!(
            out,
            ExecOutput {
                exit_code: 3,
                output: "demo-tikv-0: tc qdisc".into()
            }
        );
        fake.pause(CLUSTER, "demo-tikv-0").await.unwrap();
        fake.pause(CLUSTER, "demo-tikv-0").await.unwrap();
        assert!(fake
            .exec(CLUSTER, "demo-tikv-0", &["true".into()])
            .await
            .is_err());
        fake.unpause(CLUSTER, "demo-tikv-0").await.unwrap();
        fake.unpause(CLUSTER, "demo-tikv-0").await.unwrap();
        fake.disconnect(CLUSTER, NET, "demo-tikv-0").await.unwrap();
        fake.disconnect(CLUSTER, NET, "demo-tikv-0").await.unwrap();
        let owned = fake.list_owned(CLUSTER, NET).await.unwrap();
        assert_eq!(owned.containers[0].ip, None);
        fake.connect(CLUSTER, NET, "demo-tikv-0").await.unwrap();
        fake.connect(CLUSTER, NET, "demo-tikv-0").await.unwrap();
        let owned = fake.list_owned(CLUSTER, NET).await.unwrap();
        assert!(owned.containers[0].ip.is_some());
        fake.stop(CLUSTER, "demo-tikv-0", Duration::ZERO)
            .await
            .unwrap();
        assert!(fake.pause(CLUSTER, "demo-tikv-0").await.is_err());
        fake.kill(CLUSTER, "demo-tikv-0", "SIGKILL").await.unwrap();
    }

    #[tokio::test]
    async fn logs_return_the_last_lines_since_a_time() {
        let fake = with_network().await;
        fake.create_and_start(&spec("demo-pd-0")).await.unwrap();
        fake.push_log("demo-pd-0", "stdout", "one");
        let mark = fake.now();
        fake.push_log("demo-pd-0", "stderr", "two");
        fake.push_log("demo-pd-0", "stdout", "three");
        let texts = |lines: Vec<LogLine>| lines.into_iter().map(|l| l.text).collect::<Vec<_>>();
        assert_eq!(
            texts(fake.logs(CLUSTER, "demo-pd-0", None, 2).await.unwrap()),
            vec!["two", "three"]
        );
        assert_eq!(
            texts(
                fake.logs(
                    CLUSTER,
                    "demo-pd-0",
                    Some(mark + Duration::from_millis(1)),
                    10
                )
                .await
                .unwrap()
            ),
            vec!["two", "three"]
        );
        assert_eq!(
            fake.logs(CLUSTER, "demo-pd-0", None, 10)
                .await
                .unwrap()
                .len(),
            3
        );
    }

    #[tokio::test]
    async fn auto_remove_containers_disappear_when_they_exit() {
        let fake = with_network().await;
        let mut s = spec("demo-chaos-1");
        s.auto_remove = true;
        fake.create_and_start(&s).await.unwrap();
        fake.kill(CLUSTER, "demo-chaos-1", "TERM").await.unwrap();
        assert!(fake.snapshot().containers.is_empty());
    }

    #[tokio::test]
    async fn a_helper_sharing_a_namespace_needs_its_target_running() {
        let fake = with_network().await;
        let mut helper = spec("demo-chaos-1");
        helper.network_mode = Some("container:demo-tikv-0".into());
        helper.cap_add = vec!["NET_ADMIN".into()];
        assert!(fake.create_and_start(&helper).await.is_err());
        fake.create_and_start(&spec("demo-tikv-0")).await.unwrap();
        fake.create_and_start(&helper).await.unwrap();
        assert!(fake.snapshot().containers["demo-chaos-1"]
            .networks
            .is_empty());
    }

    #[tokio::test]
    async fn the_same_calls_give_the_same_ids_ips_and_times() {
        async fn run() -> FakeSnapshot {
            let fake = with_network().await;
            fake.create_and_start(&spec("demo-pd-0")).await.unwrap();
            fake.create_and_start(&spec("demo-pd-1")).await.unwrap();
            fake.restart(CLUSTER, "demo-pd-0").await.unwrap();
            fake.snapshot()
        }
        assert_eq!(run().await, run().await);
    }

    #[test]
    fn signal_names_and_numbers_are_both_understood() {
        assert_eq!(signal_number("SIGKILL"), Some(9));
        assert_eq!(signal_number("kill"), Some(9));
        assert_eq!(signal_number("15"), Some(15));
        assert_eq!(signal_number("SIGWHAT"), None);
    }
}
