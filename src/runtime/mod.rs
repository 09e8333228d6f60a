//! The container runtime port and its adapters.
//!
//! The controller talks to Docker only through [`ContainerRuntime`], so the reconcile
//! core can be tested against [`fake::FakeRuntime`] and the plan stays a pure function.
//! The Docker adapter ([`docker::DockerRuntime`]) is the only code that knows bollard.
//!
//! # Guarantees
//!
//! Every mutating method takes the owning cluster's name and checks the target's
//! ownership labels ([`labels`]) immediately before acting. A container, network or
//! volume without this cluster's labels is never stopped, removed, restarted, paused,
//! disconnected or exec'd into, whatever its name. Such a call fails with
//! [`RuntimeError::NotOwned`].
//!
//! Mutations are idempotent where Docker allows: removing something already gone and
//! starting something already running succeed.

pub mod docker;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod labels;
pub mod readonly;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use futures::stream::BoxStream;

/// Errors from the container runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The Docker daemon could not be reached.
    #[error("docker is unreachable: {0}")]
    Unreachable(String),
    /// The object exists but does not carry this cluster's ownership labels.
    #[error("refusing to touch {kind} {name:?}: it is not owned by cluster {cluster:?}")]
    NotOwned {
        /// `container`, `network` or `volume`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The cluster that asked.
        cluster: String,
    },
    /// The object does not exist.
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// `container`, `network`, `volume` or `image`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A name is already taken.
    #[error("{kind} name {name:?} is already in use")]
    Conflict {
        /// `container`, `network` or `volume`.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// The image is not present locally (this operator never pulls implicitly when
    /// offline; the error says which image and how to build or pull it).
    #[error("image {0:?} is not available locally and could not be pulled")]
    ImageMissing(String),
    /// Any other Docker API error.
    #[error("docker API error: {0}")]
    Api(String),
}

/// A volume mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Named volume.
    pub volume: String,
    /// Path inside the container.
    pub target: String,
}

/// A host directory bind-mounted into a container, read-write.
///
/// Only chaos helpers use it: throttling a member's disk writes the host's blkio cgroup
/// files, which no named volume reaches. The runtime checks nothing about the path; the
/// caller names a fixed, well-known host directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMount {
    /// Absolute path on the Docker host (must exist; never created).
    pub source: String,
    /// Path inside the container.
    pub target: String,
}

/// A file written into a container after create and before start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUpload {
    /// Absolute path inside the container.
    pub path: String,
    /// Contents.
    pub contents: Vec<u8>,
    /// Unix mode bits.
    pub mode: u32,
}

/// A container port published on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortPublish {
    /// TCP port inside the container.
    pub container_port: u16,
    /// Host port (bound on 127.0.0.1 unless `all_interfaces`).
    pub host_port: u16,
}

/// Everything needed to create one container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSpec {
    /// Container name (also its DNS alias on the network).
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Entrypoint override.
    pub entrypoint: Option<Vec<String>>,
    /// Arguments.
    pub cmd: Vec<String>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// Labels; must include the ownership labels.
    pub labels: BTreeMap<String, String>,
    /// Network to attach to.
    pub network: String,
    /// Extra DNS aliases on that network.
    pub aliases: Vec<String>,
    /// Named volumes.
    pub mounts: Vec<Mount>,
    /// Host directories bind-mounted read-write (chaos helpers only).
    pub host_mounts: Vec<HostMount>,
    /// Files to upload before start.
    pub files: Vec<FileUpload>,
    /// Published ports.
    pub ports: Vec<PortPublish>,
    /// Linux capabilities to add (chaos helpers need NET_ADMIN).
    pub cap_add: Vec<String>,
    /// `container:<name>` network mode (chaos helpers share a target's namespace).
    pub network_mode: Option<String>,
    /// Remove the container when it exits.
    pub auto_remove: bool,
}

/// A Docker network to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    /// Network name.
    pub name: String,
    /// Labels; must include the ownership labels.
    pub labels: BTreeMap<String, String>,
}

/// A named volume to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    /// Volume name.
    pub name: String,
    /// Labels; must include the ownership labels.
    pub labels: BTreeMap<String, String>,
}

/// Docker's view of a container's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerStatus {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Frozen by the cgroup freezer.
    Paused,
    /// Being restarted by Docker.
    Restarting,
    /// Exited (or killed) with this code.
    Exited,
    /// Being removed.
    Removing,
    /// Dead.
    Dead,
}

impl ContainerStatus {
    /// Docker's lower-case name for the state (`running`, `exited`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Exited => "exited",
            Self::Removing => "removing",
            Self::Dead => "dead",
        }
    }
}

/// One owned container as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    /// Docker id.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Image as Docker reports it.
    pub image: String,
    /// All labels.
    pub labels: BTreeMap<String, String>,
    /// State.
    pub status: ContainerStatus,
    /// Exit code of the last run (meaningful when exited).
    pub exit_code: Option<i64>,
    /// Killed by the OOM killer.
    pub oom_killed: bool,
    /// IPv4 address on the cluster network, when attached.
    pub ip: Option<String>,
    /// Networks it is attached to.
    pub networks: Vec<String>,
    /// When it last started.
    pub started_at: Option<SystemTime>,
    /// When it last finished.
    pub finished_at: Option<SystemTime>,
}

impl ObservedContainer {
    /// A label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// An owned network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedNetwork {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// An owned volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedVolume {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// Everything a cluster owns, plus same-prefix names it does not own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Owned {
    /// Owned containers (any state).
    pub containers: Vec<ObservedContainer>,
    /// Owned networks.
    pub networks: Vec<ObservedNetwork>,
    /// Owned volumes.
    pub volumes: Vec<ObservedVolume>,
    /// Names of containers, networks or volumes that look like this cluster's
    /// (`<cluster>-…` or the spec's network name) but lack its labels: never touched,
    /// and reported when they block a name the cluster needs.
    pub foreign_names: Vec<String>,
}

/// What happened to a container, from Docker's event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    /// Created.
    Create,
    /// Started.
    Start,
    /// Process exited.
    Die,
    /// OOM killer fired.
    Oom,
    /// A signal was sent.
    Kill,
    /// Restarted.
    Restart,
    /// Stopped.
    Stop,
    /// Paused.
    Pause,
    /// Unpaused.
    Unpause,
    /// Removed.
    Destroy,
    /// Network connect/disconnect, or anything else.
    Other,
}

/// One Docker event about an owned container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeEvent {
    /// Container name.
    pub container: String,
    /// What happened.
    pub action: EventAction,
    /// Raw action string (`die`, `kill`, `network:disconnect`, …).
    pub raw_action: String,
    /// Exit code for `die`.
    pub exit_code: Option<i64>,
    /// Signal for `kill`.
    pub signal: Option<String>,
    /// When Docker says it happened.
    pub time: SystemTime,
    /// The container's labels (component, member, …).
    pub labels: BTreeMap<String, String>,
}

/// One line of container output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// The line without its trailing newline.
    pub text: String,
}

/// Output of a command run inside a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit code.
    pub exit_code: i64,
    /// Combined stdout and stderr.
    pub output: String,
}

/// The container runtime the controller drives. See the module docs for the
/// ownership guarantee every implementation upholds.
#[async_trait::async_trait]
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Containers (all states), networks and volumes owned by `cluster`, and foreign
    /// objects whose names collide with the cluster's naming scheme.
    async fn list_owned(&self, cluster: &str, network: &str) -> Result<Owned, RuntimeError>;
    /// Creates a network (idempotent when an owned one of that name exists).
    async fn create_network(&self, spec: &NetworkSpec) -> Result<(), RuntimeError>;
    /// Removes an owned network.
    async fn remove_network(&self, cluster: &str, name: &str) -> Result<(), RuntimeError>;
    /// Creates a volume (idempotent when an owned one of that name exists).
    async fn create_volume(&self, spec: &VolumeSpec) -> Result<(), RuntimeError>;
    /// Removes an owned volume.
    async fn remove_volume(&self, cluster: &str, name: &str) -> Result<(), RuntimeError>;
    /// Creates a container, uploads its files and starts it. Returns its id.
    async fn create_and_start(&self, spec: &ContainerSpec) -> Result<String, RuntimeError>;
    /// Starts an owned, stopped container.
    async fn start(&self, cluster: &str, name: &str) -> Result<(), RuntimeError>;
    /// Stops an owned container (SIGTERM, then SIGKILL after `grace`).
    async fn stop(&self, cluster: &str, name: &str, grace: Duration) -> Result<(), RuntimeError>;
    /// Restarts an owned container.
    async fn restart(&self, cluster: &str, name: &str) -> Result<(), RuntimeError>;
    /// Sends a signal to an owned container.
    async fn kill(&self, cluster: &str, name: &str, signal: &str) -> Result<(), RuntimeError>;
    /// Force-removes an owned container (idempotent).
    async fn remove(&self, cluster: &str, name: &str) -> Result<(), RuntimeError>;
    /// Freezes an owned container.
    async fn pause(&self, cluster: &str, name: &str) -> Result<(), RuntimeError>;
    /// Thaws an owned container.
    async fn unpause(&self, cluster: &str, name: &str) -> Result<(), RuntimeError>;
    /// Connects an owned container to an owned network.
    async fn connect(&self, cluster: &str, network: &str, name: &str) -> Result<(), RuntimeError>;
    /// Disconnects an owned container from an owned network.
    async fn disconnect(
        &self,
        cluster: &str,
        network: &str,
        name: &str,
    ) -> Result<(), RuntimeError>;
    /// Reads one file from an owned container (running or not), as `docker cp` does;
    /// `None` when the file does not exist.
    async fn download(
        &self,
        cluster: &str,
        name: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, RuntimeError>;
    /// Writes files into an owned container (running or not), as `docker cp` does.
    async fn upload(
        &self,
        cluster: &str,
        name: &str,
        files: &[FileUpload],
    ) -> Result<(), RuntimeError>;
    /// Runs a command in an owned, running container.
    async fn exec(
        &self,
        cluster: &str,
        name: &str,
        cmd: &[String],
    ) -> Result<ExecOutput, RuntimeError>;
    /// The last `tail` lines of an owned container's output, optionally since a time.
    async fn logs(
        &self,
        cluster: &str,
        name: &str,
        since: Option<SystemTime>,
        tail: usize,
    ) -> Result<Vec<LogLine>, RuntimeError>;
    /// True when the image exists locally.
    async fn image_exists(&self, image: &str) -> Result<bool, RuntimeError>;
    /// A stream of events about containers owned by `cluster`. The stream ends when
    /// the daemon goes away; callers resubscribe with backoff.
    fn events(&self, cluster: &str) -> BoxStream<'static, Result<RuntimeEvent, RuntimeError>>;
}
