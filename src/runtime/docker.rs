//! The Docker adapter: [`ContainerRuntime`] over bollard.
//!
//! This is the only code in the crate that speaks the Docker API. It exists to uphold
//! one promise the rest of the operator leans on: *nothing without this cluster's
//! ownership labels is ever changed*. Every mutating call therefore inspects its target
//! first, checks [`labels::is_owned_by`], and then acts on the **id** it inspected, so a
//! container swapped under the same name between the check and the act is not touched.
//!
//! Idempotence follows Docker where it can: removing or stopping something already gone
//! succeeds, starting something running succeeds (Docker answers 304), pausing something
//! paused succeeds. Network and volume creation inspect first because Docker 20.10 does
//! not refuse duplicate network names and silently reuses an existing volume; an owned
//! object of that name is success, a foreign one is [`RuntimeError::Conflict`].
//!
//! Extra DNS aliases are also recorded on the container as the label
//! [`ALIASES_LABEL`], so [`ContainerRuntime::connect`] can restore them when a
//! partition heals (Docker forgets a container's aliases on disconnect).
//!
//! The daemon here has no registry, so images are never pulled implicitly: a missing
//! image is [`RuntimeError::ImageMissing`]. Users with registries opt in to pulling with
//! `OPERATOR_ALLOW_PULL=1`.

mod convert;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerInspectResponse, NetworkConnectRequest, NetworkCreateRequest,
    NetworkDisconnectRequest, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, DownloadFromContainerOptionsBuilder,
    EventsOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder, RestartContainerOptionsBuilder,
    StopContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use futures::stream::{BoxStream, StreamExt};

#[cfg(any(test, feature = "test-support"))]
pub(crate) use convert::action_from_docker;

use super::labels;
use super::{
    ContainerRuntime, ContainerSpec, ExecOutput, FileUpload, LogLine, NetworkSpec, ObservedNetwork,
    ObservedVolume, Owned, RuntimeError, RuntimeEvent, VolumeSpec,
};

/// Environment variable that allows pulling a missing image (off by default: the
/// operator's own machines have no registry).
pub(crate) const ALLOW_PULL_ENV: &str = "OPERATOR_ALLOW_PULL";

/// The largest archive `download` reads: it fetches small generated files (scrape
/// targets), never data.
const MAX_DOWNLOAD_BYTES: usize = 4 << 20;

/// [`ContainerRuntime`] backed by a Docker daemon.
#[derive(Clone, Debug)]
pub struct DockerRuntime {
    docker: Docker,
}

impl DockerRuntime {
    /// Connects with Docker's defaults (`DOCKER_HOST`, else the local socket) and
    /// negotiates the API version down to the daemon's (1.41 on Docker 20.10).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Unreachable`] when the daemon cannot be reached.
    pub async fn connect() -> Result<Self, RuntimeError> {
        let docker = Docker::connect_with_defaults()
            .map_err(|e| RuntimeError::Unreachable(e.to_string()))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| RuntimeError::Unreachable(e.to_string()))?;
        Ok(Self { docker })
    }

    /// Wraps an existing client (already version-negotiated).
    pub fn from_client(docker: Docker) -> Self {
        Self { docker }
    }

    /// The underlying bollard client, for callers that need API surface the port does
    /// not cover (image builds in test support).
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// Inspects a container and checks that `cluster` owns it.
    ///
    /// Returns `Ok(None)` when no container has that name, `NotOwned` when one exists
    /// without this cluster's labels.
    async fn owned_container(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<ContainerInspectResponse>, RuntimeError> {
        match self.docker.inspect_container(name, None).await {
            Ok(inspect) => {
                let owned = inspect
                    .config
                    .as_ref()
                    .and_then(|c| c.labels.as_ref())
                    .is_some_and(|l| labels::is_owned_by(l, cluster));
                if owned {
                    Ok(Some(inspect))
                } else {
                    Err(not_owned("container", name, cluster))
                }
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(map_err(e)),
        }
    }

    /// Like [`Self::owned_container`], but a missing container is `NotFound`.
    async fn require_owned_container(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<ContainerInspectResponse, RuntimeError> {
        self.owned_container(cluster, name)
            .await?
            .ok_or_else(|| not_found("container", name))
    }

    /// Inspects a network and checks ownership; `Ok(None)` when it does not exist.
    async fn owned_network(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<String>, RuntimeError> {
        match self.docker.inspect_network(name, None).await {
            Ok(network) => {
                if network
                    .labels
                    .as_ref()
                    .is_some_and(|l| labels::is_owned_by(l, cluster))
                {
                    Ok(Some(network.id.unwrap_or_else(|| name.to_string())))
                } else {
                    Err(not_owned("network", name, cluster))
                }
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(map_err(e)),
        }
    }

    /// Makes sure `image` is present locally, pulling only when the user allowed it.
    async fn ensure_image(&self, image: &str) -> Result<(), RuntimeError> {
        if self.image_exists(image).await? {
            return Ok(());
        }
        if std::env::var(ALLOW_PULL_ENV).as_deref() != Ok("1") {
            return Err(RuntimeError::ImageMissing(image.to_string()));
        }
        let (repo, tag) = split_image_reference(image);
        let options = CreateImageOptionsBuilder::default()
            .from_image(repo)
            .tag(tag)
            .build();
        let mut pull = self.docker.create_image(Some(options), None, None);
        while let Some(progress) = pull.next().await {
            if let Err(e) = progress {
                tracing::warn!(image, error = %e, "pulling a missing image failed");
                return Err(RuntimeError::ImageMissing(image.to_string()));
            }
        }
        if self.image_exists(image).await? {
            Ok(())
        } else {
            Err(RuntimeError::ImageMissing(image.to_string()))
        }
    }

    /// Best-effort removal of a container this call just created and could not finish.
    async fn discard(&self, id: &str) {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        if let Err(e) = self.docker.remove_container(id, Some(options)).await {
            tracing::warn!(container = id, error = %e, "could not remove a half-created container");
        }
    }

    async fn list_all_names(&self) -> Result<Vec<(String, HashMap<String, String>)>, RuntimeError> {
        let options = ListContainersOptionsBuilder::default().all(true).build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(map_err)?;
        Ok(containers
            .into_iter()
            .flat_map(|c| {
                let labels = c.labels.unwrap_or_default();
                c.names
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |n| (n.trim_start_matches('/').to_string(), labels.clone()))
            })
            .collect())
    }
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

/// The HTTP status of a daemon error response.
fn status_of(error: &DockerError) -> Option<u16> {
    match error {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Maps a bollard error: transport failures mean the daemon is unreachable,
/// everything the daemon itself answered is an API error.
fn map_err(error: DockerError) -> RuntimeError {
    match error {
        DockerError::DockerResponseServerError {
            status_code,
            message,
        } => RuntimeError::Api(format!("{status_code}: {}", message.trim())),
        DockerError::HyperLegacyError { .. }
        | DockerError::HyperResponseError { .. }
        | DockerError::IOError { .. }
        | DockerError::SocketNotFoundError(_)
        | DockerError::RequestTimeoutError => RuntimeError::Unreachable(error.to_string()),
        other => RuntimeError::Api(other.to_string()),
    }
}

/// Splits `repo[:tag]` (a registry host may carry a port) into repo and tag.
fn split_image_reference(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

fn ownership_of_spec(labels_map: &std::collections::BTreeMap<String, String>) -> Option<&str> {
    let cluster = labels_map.get(labels::CLUSTER)?;
    labels::is_owned_by_btree(labels_map, cluster).then_some(cluster.as_str())
}

fn is_running_like(inspect: &ContainerInspectResponse) -> (bool, bool) {
    let state = inspect.state.as_ref();
    let running = state.and_then(|s| s.running).unwrap_or(false);
    let paused = state.and_then(|s| s.paused).unwrap_or(false);
    (running, paused)
}

fn id_of(inspect: &ContainerInspectResponse, name: &str) -> String {
    inspect.id.clone().unwrap_or_else(|| name.to_string())
}

/// Splits demuxed output chunks into lines, keeping stdout and stderr apart.
#[derive(Default)]
struct LineSplitter {
    lines: Vec<LogLine>,
    partial: [String; 2],
}

impl LineSplitter {
    fn push(&mut self, chunk: LogOutput) {
        let (index, stream, bytes) = match chunk {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (0, "stdout", message)
            }
            LogOutput::StdErr { message } => (1, "stderr", message),
            LogOutput::StdIn { .. } => return,
        };
        let text = String::from_utf8_lossy(&bytes);
        let buffer = &mut self.partial[index];
        buffer.push_str(&text);
        while let Some(newline) = buffer.find('\n') {
            let line: String = buffer.drain(..=newline).collect();
            let line = line
                .trim_end_matches('\n')
                .trim_end_matches('\r')
                .to_string();
            self.lines.push(LogLine { stream, text: line });
        }
    }

    fn finish(mut self) -> Vec<LogLine> {
        for (index, stream) in [(0, "stdout"), (1, "stderr")] {
            let rest = std::mem::take(&mut self.partial[index]);
            if !rest.is_empty() {
                self.lines.push(LogLine { stream, text: rest });
            }
        }
        self.lines
    }
}

#[async_trait::async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn list_owned(&self, cluster: &str, network: &str) -> Result<Owned, RuntimeError> {
        let label_filter = HashMap::from([("label", labels::filter(cluster))]);

        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&label_filter)
            .build();
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(map_err)?;
        let inspections =
            futures::future::join_all(summaries.iter().filter_map(|s| s.id.as_deref()).map(|id| {
                let docker = &self.docker;
                async move { docker.inspect_container(id, None).await }
            }))
            .await;
        let mut containers = Vec::new();
        for inspection in inspections {
            match inspection {
                Ok(inspect) => {
                    let observed = convert::observed_from_inspect(&inspect, network);
                    // The daemon filtered by label; check again so a filter quirk can
                    // never make a foreign container look owned.
                    if labels::is_owned_by_btree(&observed.labels, cluster) {
                        containers.push(observed);
                    }
                }
                // Removed between list and inspect: it is simply gone.
                Err(e) if status_of(&e) == Some(404) => {}
                Err(e) => return Err(map_err(e)),
            }
        }
        containers.sort_by(|a, b| a.name.cmp(&b.name));

        let all_networks = self
            .docker
            .list_networks(Some(ListNetworksOptionsBuilder::default().build()))
            .await
            .map_err(map_err)?;
        let volume_list = self
            .docker
            .list_volumes(Some(ListVolumesOptionsBuilder::default().build()))
            .await
            .map_err(map_err)?;
        let all_containers = self.list_all_names().await?;

        let looks_ours = |name: &str| name.starts_with(&format!("{cluster}-")) || name == network;
        let mut foreign_names = Vec::new();
        let mut networks = Vec::new();
        for n in all_networks {
            let name = n.name.unwrap_or_default();
            let net_labels = n.labels.unwrap_or_default();
            if labels::is_owned_by(&net_labels, cluster) {
                networks.push(ObservedNetwork {
                    name,
                    labels: net_labels.into_iter().collect(),
                });
            } else if looks_ours(&name) {
                foreign_names.push(name);
            }
        }
        let mut volumes = Vec::new();
        for v in volume_list.volumes.unwrap_or_default() {
            if labels::is_owned_by(&v.labels, cluster) {
                volumes.push(ObservedVolume {
                    name: v.name,
                    labels: v.labels.into_iter().collect(),
                });
            } else if looks_ours(&v.name) {
                foreign_names.push(v.name);
            }
        }
        for (name, container_labels) in all_containers {
            if !labels::is_owned_by(&container_labels, cluster) && looks_ours(&name) {
                foreign_names.push(name);
            }
        }
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        volumes.sort_by(|a, b| a.name.cmp(&b.name));
        foreign_names.sort();
        foreign_names.dedup();
        Ok(Owned {
            containers,
            networks,
            volumes,
            foreign_names,
        })
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<(), RuntimeError> {
        let cluster = ownership_of_spec(&spec.labels).ok_or_else(|| {
            RuntimeError::Api(format!(
                "network spec {:?} lacks the ownership labels",
                spec.name
            ))
        })?;
        match self.owned_network(cluster, &spec.name).await {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => {}
            Err(RuntimeError::NotOwned { .. }) => {
                return Err(RuntimeError::Conflict {
                    kind: "network",
                    name: spec.name.clone(),
                })
            }
            Err(e) => return Err(e),
        }
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some("bridge".to_string()),
            attachable: Some(true),
            labels: Some(
                spec.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(409) => Err(RuntimeError::Conflict {
                kind: "network",
                name: spec.name.clone(),
            }),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn remove_network(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        let Some(id) = self.owned_network(cluster, name).await? else {
            return Ok(());
        };
        match self.docker.remove_network(&id).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<(), RuntimeError> {
        let cluster = ownership_of_spec(&spec.labels).ok_or_else(|| {
            RuntimeError::Api(format!(
                "volume spec {:?} lacks the ownership labels",
                spec.name
            ))
        })?;
        match self.docker.inspect_volume(&spec.name).await {
            Ok(existing) if labels::is_owned_by(&existing.labels, cluster) => return Ok(()),
            Ok(_) => {
                return Err(RuntimeError::Conflict {
                    kind: "volume",
                    name: spec.name.clone(),
                })
            }
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(map_err(e)),
        }
        let request = VolumeCreateRequest {
            name: Some(spec.name.clone()),
            labels: Some(
                spec.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            ..Default::default()
        };
        match self.docker.create_volume(request).await {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(409) => Err(RuntimeError::Conflict {
                kind: "volume",
                name: spec.name.clone(),
            }),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn remove_volume(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        match self.docker.inspect_volume(name).await {
            Ok(existing) if labels::is_owned_by(&existing.labels, cluster) => {}
            Ok(_) => return Err(not_owned("volume", name, cluster)),
            Err(e) if status_of(&e) == Some(404) => return Ok(()),
            Err(e) => return Err(map_err(e)),
        }
        let options = RemoveVolumeOptionsBuilder::default().force(false).build();
        match self.docker.remove_volume(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    /// # Guarantees
    ///
    /// The container either ends up created, loaded with its files and started, or is
    /// removed again: a failed upload or start never leaves a half-made container that
    /// would block the name. A missing image is [`RuntimeError::ImageMissing`] before
    /// anything is created; a taken name is [`RuntimeError::Conflict`].
    async fn create_and_start(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        if ownership_of_spec(&spec.labels).is_none() {
            return Err(RuntimeError::Api(format!(
                "container spec {:?} lacks the ownership labels",
                spec.name
            )));
        }
        let archive = if spec.files.is_empty() {
            None
        } else {
            Some(convert::files_tar(&spec.files).map_err(RuntimeError::Api)?)
        };
        self.ensure_image(&spec.image).await?;

        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let created = match self
            .docker
            .create_container(Some(options), convert::create_body(spec))
            .await
        {
            Ok(created) => created,
            Err(e) if status_of(&e) == Some(409) => {
                return Err(RuntimeError::Conflict {
                    kind: "container",
                    name: spec.name.clone(),
                })
            }
            Err(e) if status_of(&e) == Some(404) => {
                // Docker says "No such image: …" or "network … not found".
                let message = e.to_string().to_ascii_lowercase();
                if message.contains("no such image") {
                    return Err(RuntimeError::ImageMissing(spec.image.clone()));
                }
                if message.contains("network") {
                    return Err(not_found("network", &spec.network));
                }
                return Err(map_err(e));
            }
            Err(e) => return Err(map_err(e)),
        };
        let id = created.id;

        if let Some(archive) = archive {
            let options = UploadToContainerOptionsBuilder::default().path("/").build();
            if let Err(e) = self
                .docker
                .upload_to_container(&id, Some(options), bollard::body_full(archive.into()))
                .await
            {
                self.discard(&id).await;
                return Err(map_err(e));
            }
        }
        if let Err(e) = self.docker.start_container(&id, None).await {
            self.discard(&id).await;
            // Docker 20.10 resolves the network only at start.
            if status_of(&e) == Some(404) && e.to_string().contains("network") {
                return Err(not_found("network", &spec.network));
            }
            return Err(map_err(e));
        }
        Ok(id)
    }

    async fn start(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        let inspect = self.require_owned_container(cluster, name).await?;
        self.docker
            .start_container(&id_of(&inspect, name), None)
            .await
            .map_err(map_err)
    }

    async fn stop(&self, cluster: &str, name: &str, grace: Duration) -> Result<(), RuntimeError> {
        let Some(inspect) = self.owned_container(cluster, name).await? else {
            return Ok(());
        };
        let seconds = i32::try_from(grace.as_secs() + u64::from(grace.subsec_nanos() > 0))
            .unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::default().t(seconds).build();
        // Docker answers a stop only after the grace period; the client's request
        // timeout (2 minutes by default) must not cut a long grace short.
        let client = self
            .docker
            .clone()
            .with_timeout(grace + Duration::from_secs(120));
        match client
            .stop_container(&id_of(&inspect, name), Some(options))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn restart(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        let inspect = self.require_owned_container(cluster, name).await?;
        let options = RestartContainerOptionsBuilder::default().build();
        self.docker
            .restart_container(&id_of(&inspect, name), Some(options))
            .await
            .map_err(map_err)
    }

    /// Signalling a container that is not running is a no-op (there is no process to
    /// receive it), which keeps chaos and stop paths idempotent.
    async fn kill(&self, cluster: &str, name: &str, signal: &str) -> Result<(), RuntimeError> {
        let inspect = self.require_owned_container(cluster, name).await?;
        let (running, paused) = is_running_like(&inspect);
        if !running && !paused {
            return Ok(());
        }
        let options = KillContainerOptionsBuilder::default()
            .signal(signal)
            .build();
        match self
            .docker
            .kill_container(&id_of(&inspect, name), Some(options))
            .await
        {
            Ok(()) => Ok(()),
            // Exited between inspect and kill.
            Err(e) if status_of(&e) == Some(409) && e.to_string().contains("not running") => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn remove(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        let Some(inspect) = self.owned_container(cluster, name).await? else {
            return Ok(());
        };
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self
            .docker
            .remove_container(&id_of(&inspect, name), Some(options))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            // Another remove (or auto-remove) is already under way.
            Err(e) if status_of(&e) == Some(409) && e.to_string().contains("in progress") => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn pause(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        let inspect = self.require_owned_container(cluster, name).await?;
        if is_running_like(&inspect).1 {
            return Ok(());
        }
        self.docker
            .pause_container(&id_of(&inspect, name))
            .await
            .map_err(map_err)
    }

    async fn unpause(&self, cluster: &str, name: &str) -> Result<(), RuntimeError> {
        let inspect = self.require_owned_container(cluster, name).await?;
        if !is_running_like(&inspect).1 {
            return Ok(());
        }
        self.docker
            .unpause_container(&id_of(&inspect, name))
            .await
            .map_err(map_err)
    }

    /// Reconnects with the container's name and the extra aliases it was created with,
    /// so DNS works again after a partition heals.
    async fn connect(&self, cluster: &str, network: &str, name: &str) -> Result<(), RuntimeError> {
        let inspect = self.require_owned_container(cluster, name).await?;
        let network_id = self
            .owned_network(cluster, network)
            .await?
            .ok_or_else(|| not_found("network", network))?;
        let attached = inspect
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .is_some_and(|n| n.contains_key(network));
        if attached {
            return Ok(());
        }
        let aliases = inspect
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .map(convert::aliases_from_labels)
            .unwrap_or_default();
        let request = NetworkConnectRequest {
            container: id_of(&inspect, name),
            endpoint_config: Some(convert::endpoint_with_aliases(name, &aliases)),
        };
        self.docker
            .connect_network(&network_id, request)
            .await
            .map_err(map_err)
    }

    async fn upload(
        &self,
        cluster: &str,
        name: &str,
        files: &[FileUpload],
    ) -> Result<(), RuntimeError> {
        let inspect = self.require_owned_container(cluster, name).await?;
        if files.is_empty() {
            return Ok(());
        }
        let archive = convert::files_tar(files).map_err(RuntimeError::Api)?;
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        self.docker
            .upload_to_container(
                &id_of(&inspect, name),
                Some(options),
                bollard::body_full(archive.into()),
            )
            .await
            .map_err(map_err)
    }

    async fn download(
        &self,
        cluster: &str,
        name: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, RuntimeError> {
        let inspect = self.require_owned_container(cluster, name).await?;
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self
            .docker
            .download_from_container(&id_of(&inspect, name), Some(options));
        let mut archive = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    archive.extend_from_slice(&bytes);
                    if archive.len() > MAX_DOWNLOAD_BYTES {
                        return Err(RuntimeError::Api(format!(
                            "{path} in {name} is larger than {MAX_DOWNLOAD_BYTES} bytes"
                        )));
                    }
                }
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(None),
                Err(e) => return Err(map_err(e)),
            }
        }
        convert::first_file_of_tar(&archive).map_err(RuntimeError::Api)
    }

    async fn disconnect(
        &self,
        cluster: &str,
        network: &str,
        name: &str,
    ) -> Result<(), RuntimeError> {
        let inspect = self.require_owned_container(cluster, name).await?;
        let network_id = self
            .owned_network(cluster, network)
            .await?
            .ok_or_else(|| not_found("network", network))?;
        let attached = inspect
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .is_some_and(|n| n.contains_key(network));
        if !attached {
            return Ok(());
        }
        let request = NetworkDisconnectRequest {
            container: id_of(&inspect, name),
            force: Some(false),
        };
        self.docker
            .disconnect_network(&network_id, request)
            .await
            .map_err(map_err)
    }

    async fn exec(
        &self,
        cluster: &str,
        name: &str,
        cmd: &[String],
    ) -> Result<ExecOutput, RuntimeError> {
        let inspect = self.require_owned_container(cluster, name).await?;
        let config = CreateExecOptions {
            cmd: Some(cmd.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = self
            .docker
            .create_exec(&id_of(&inspect, name), config)
            .await
            .map_err(map_err)?;
        let started = self
            .docker
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(map_err)?;
        let mut output = String::new();
        if let StartExecResults::Attached {
            output: mut stream, ..
        } = started
        {
            while let Some(chunk) = stream.next().await {
                match chunk.map_err(map_err)? {
                    LogOutput::StdOut { message }
                    | LogOutput::StdErr { message }
                    | LogOutput::Console { message } => {
                        output.push_str(&String::from_utf8_lossy(&message));
                    }
                    LogOutput::StdIn { .. } => {}
                }
            }
        }
        // The exit code can lag the end of the output stream by a moment.
        for _ in 0..50 {
            let exec = self
                .docker
                .inspect_exec(&created.id)
                .await
                .map_err(map_err)?;
            if exec.running != Some(true) {
                if let Some(exit_code) = exec.exit_code {
                    return Ok(ExecOutput { exit_code, output });
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(RuntimeError::Api(format!(
            "exec in {name:?} did not report an exit code"
        )))
    }

    async fn logs(
        &self,
        cluster: &str,
        name: &str,
        since: Option<SystemTime>,
        tail: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        let inspect = self.require_owned_container(cluster, name).await?;
        let mut options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string());
        if let Some(since) = since {
            let secs = since
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            options = options.since(i32::try_from(secs).unwrap_or(i32::MAX));
        }
        let mut stream = self
            .docker
            .logs(&id_of(&inspect, name), Some(options.build()));
        let mut splitter = LineSplitter::default();
        while let Some(chunk) = stream.next().await {
            splitter.push(chunk.map_err(map_err)?);
        }
        Ok(splitter.finish())
    }

    async fn image_exists(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(map_err(e)),
        }
    }

    fn events(&self, cluster: &str) -> BoxStream<'static, Result<RuntimeEvent, RuntimeError>> {
        let filters = HashMap::from([
            ("type", vec!["container".to_string()]),
            ("label", labels::filter(cluster)),
        ]);
        let options = EventsOptionsBuilder::default().filters(&filters).build();
        let cluster_c = cluster.to_string();
        let containers = self.docker.events(Some(options)).filter_map(move |item| {
            let out = match item {
                Ok(message) => convert::event_from_docker(&message, &cluster_c).map(Ok),
                Err(e) => Some(Err(map_err(e))),
            };
            futures::future::ready(out)
        });
        // Network connect/disconnect events carry the network's attributes, not the
        // container's labels, so they cannot be filtered by label: each one names a
        // container id, which is inspected and kept only when the cluster owns it. A
        // disconnected store then starts a monitoring round at once.
        let net_filters = HashMap::from([
            ("type", vec!["network".to_string()]),
            (
                "event",
                vec!["connect".to_string(), "disconnect".to_string()],
            ),
        ]);
        let net_options = EventsOptionsBuilder::default()
            .filters(&net_filters)
            .build();
        let docker = self.docker.clone();
        let cluster_n = cluster.to_string();
        let networks = self
            .docker
            .events(Some(net_options))
            .filter_map(move |item| {
                let docker = docker.clone();
                let cluster = cluster_n.clone();
                async move {
                    match item {
                        Ok(message) => {
                            let id = message
                                .actor
                                .as_ref()?
                                .attributes
                                .as_ref()?
                                .get("container")?
                                .clone();
                            let inspect = docker.inspect_container(&id, None).await.ok()?;
                            convert::network_event_from_docker(&message, &inspect, &cluster).map(Ok)
                        }
                        Err(e) => Some(Err(map_err(e))),
                    }
                }
            });
        // One subscription for the caller, ended after the first error of either stream
        // (errors pass both filters unchanged): the caller re-lists and resubscribes once.
        futures::stream::select(containers, networks)
            .scan(false, |failed, item| {
                let out = if *failed {
                    None
                } else {
                    *failed = item.is_err();
                    Some(item)
                };
                futures::future::ready(out)
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_split_into_repo_and_tag() {
        assert_eq!(
            split_image_reference("tikv-sim:local"),
            ("tikv-sim", "local")
        );
        assert_eq!(
            split_image_reference("pingcap/pd"),
            ("pingcap/pd", "latest")
        );
        assert_eq!(
            split_image_reference("registry:5000/pd"),
            ("registry:5000/pd", "latest")
        );
        assert_eq!(
            split_image_reference("registry:5000/pd:v8"),
            ("registry:5000/pd", "v8")
        );
    }

    #[test]
    fn daemon_answers_are_api_errors_and_transport_failures_are_unreachable() {
        let answered = map_err(DockerError::DockerResponseServerError {
            status_code: 500,
            message: "boom\n".into(),
        });
        assert!(matches!(answered, RuntimeError::Api(ref m) if m == "500: boom"));
        let gone = map_err(DockerError::SocketNotFoundError(
            "/var/run/docker.sock".into(),
        ));
        assert!(matches!(gone, RuntimeError::Unreachable(_)));
        let timeout = map_err(DockerError::RequestTimeoutError);
        assert!(matches!(timeout, RuntimeError::Unreachable(_)));
    }

    #[test]
    fn output_chunks_split_into_lines_per_stream() {
        let mut splitter = LineSplitter::default();
        splitter.push(LogOutput::StdOut {
            message: "one\ntw".into(),
        });
        splitter.push(LogOutput::StdErr {
            message: "err\n".into(),
        });
        splitter.push(LogOutput::StdOut {
            message: "o\r\nthree".into(),
        });
        let lines: Vec<(&str, String)> = splitter
            .finish()
            .into_iter()
            .map(|l| (l.stream, l.text))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("stdout", "one".to_string()),
                ("stderr", "err".to_string()),
                ("stdout", "two".to_string()),
                ("stdout", "three".to_string()),
            ]
        );
    }

    #[test]
    fn only_specs_with_both_ownership_labels_name_a_cluster() {
        assert_eq!(ownership_of_spec(&labels::ownership("demo")), Some("demo"));
        let mut partial = labels::ownership("demo");
        partial.remove(labels::MANAGED_BY);
        assert_eq!(ownership_of_spec(&partial), None);
    }
}
