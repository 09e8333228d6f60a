//! Helpers for tests that talk to a real Docker engine.
//!
//! The rules these encode (from the developer guide): tests use only locally built
//! images, label everything they create with `io.tikv-operator.test-run=<uuid>` and
//! remove it afterwards, and when Docker is unreachable they fail under `CI=true` and
//! print a loud SKIP line otherwise — never pass silently.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use operator::runtime::docker::DockerRuntime;
use operator::runtime::labels;
use operator::runtime::{ContainerSpec, NetworkSpec, RuntimeError, VolumeSpec};

/// Label carried by every object a test creates.
pub const TEST_RUN_LABEL: &str = "io.tikv-operator.test-run";

/// A tiny image (static busybox) for tests that need a process, not a simulator.
pub const BUSYBOX_IMAGE: &str = "operator-test-busybox:local";

/// Where the static busybox comes from (Debian's `busybox-static`, `make deps`).
const HOST_BUSYBOX: &str = "/bin/busybox";

/// Applets linked into the test image.
const APPLETS: &[&str] = &[
    "sh", "sleep", "echo", "cat", "ls", "true", "false", "kill", "env", "stat", "wc", "head",
    "tail", "grep", "nslookup", "ping", "ip", "hostname", "mkdir", "rm", "touch", "date",
];

/// Connects to Docker, or explains loudly why the test is skipped.
///
/// # Panics
///
/// When Docker is unreachable and `CI=true`: CI must never skip Docker tests.
pub async fn docker_or_skip(test: &str) -> Option<DockerRuntime> {
    match DockerRuntime::connect().await {
        Ok(runtime) => Some(runtime),
        Err(e) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{test}: Docker is unreachable under CI=true: {e}");
            }
            eprintln!();
            eprintln!("==================================================================");
            eprintln!("SKIP {test}: Docker is unreachable ({e}).");
            eprintln!("     This test did NOT run. Start Docker (or set DOCKER_HOST).");
            eprintln!("==================================================================");
            None
        }
    }
}

/// A random 128-bit id in hex.
pub fn random_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

static BUSYBOX_READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Makes sure [`BUSYBOX_IMAGE`] exists, importing it from the host's static busybox
/// the first time (once per test binary; concurrent callers wait).
///
/// # Panics
///
/// When the host has no static busybox or the import fails.
pub async fn ensure_busybox_image(docker: &Docker) {
    BUSYBOX_READY
        .get_or_init(|| async {
            if docker.inspect_image(BUSYBOX_IMAGE).await.is_ok() {
                return;
            }
            let busybox = std::fs::read(HOST_BUSYBOX).unwrap_or_else(|e| {
                panic!("{HOST_BUSYBOX} is needed to build {BUSYBOX_IMAGE} (make deps): {e}")
            });
            let archive = busybox_rootfs(&busybox);
            let (repo, tag) = BUSYBOX_IMAGE.split_once(':').expect("image has a tag");
            let options = CreateImageOptionsBuilder::default()
                .from_src("-")
                .repo(repo)
                .tag(tag)
                .changes(vec![
                    "ENV PATH=/bin".to_string(),
                    r#"CMD ["sleep", "3600"]"#.to_string(),
                ])
                .build();
            let mut progress = docker.create_image(
                Some(options),
                Some(bollard::body_full(archive.into())),
                None,
            );
            while let Some(step) = progress.next().await {
                step.unwrap_or_else(|e| panic!("importing {BUSYBOX_IMAGE} failed: {e}"));
            }
            docker
                .inspect_image(BUSYBOX_IMAGE)
                .await
                .unwrap_or_else(|e| panic!("{BUSYBOX_IMAGE} missing after import: {e}"));
        })
        .await;
}

/// A root filesystem with busybox at `/bin/busybox`, applet links, `/tmp` and `/data`.
fn busybox_rootfs(busybox: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let dir = |builder: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(mode);
        header.set_size(0);
        builder
            .append_data(&mut header, path, std::io::empty())
            .expect("tar dir");
    };
    dir(&mut builder, "bin", 0o755);
    dir(&mut builder, "tmp", 0o1777);
    dir(&mut builder, "data", 0o755);
    dir(&mut builder, "etc", 0o755);
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o755);
    header.set_size(busybox.len() as u64);
    builder
        .append_data(&mut header, "bin/busybox", busybox)
        .expect("tar busybox");
    for applet in APPLETS {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        builder
            .append_link(&mut header, format!("bin/{applet}"), "busybox")
            .expect("tar link");
    }
    builder.into_inner().expect("tar finish")
}

/// One test's namespace on the engine: a unique cluster name, a unique test-run label,
/// and removal of everything carrying that label when dropped.
pub struct TestRun {
    /// The test-run id (the value of [`TEST_RUN_LABEL`]).
    pub id: String,
    /// A cluster name unique to this run (`rt<8 hex>`).
    pub cluster: String,
    /// The runtime under test.
    pub runtime: DockerRuntime,
}

impl TestRun {
    /// Starts a run and makes sure the busybox image exists.
    pub async fn new(runtime: DockerRuntime) -> Self {
        ensure_busybox_image(runtime.client()).await;
        let id = random_id();
        let cluster = format!("rt{}", &id[..8]);
        Self {
            id,
            cluster,
            runtime,
        }
    }

    /// `<cluster>-<suffix>`: the naming scheme the operator uses.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.cluster)
    }

    /// The cluster's network name.
    pub fn network(&self) -> String {
        self.name("net")
    }

    /// Only the test-run label (for objects that must look foreign).
    pub fn test_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(TEST_RUN_LABEL.to_string(), self.id.clone())])
    }

    /// Ownership labels for this run's cluster plus the test-run label.
    pub fn owned_labels(&self) -> BTreeMap<String, String> {
        let mut l = labels::ownership(&self.cluster);
        l.extend(self.test_labels());
        l
    }

    /// Creates the cluster network (owned).
    pub async fn create_network(&self) -> Result<(), RuntimeError> {
        use operator::runtime::ContainerRuntime;
        self.runtime
            .create_network(&NetworkSpec {
                name: self.network(),
                labels: self.owned_labels(),
            })
            .await
    }

    /// Creates an owned volume `<cluster>-<suffix>`.
    pub async fn create_volume(&self, suffix: &str) -> Result<String, RuntimeError> {
        use operator::runtime::ContainerRuntime;
        let name = self.name(suffix);
        self.runtime
            .create_volume(&VolumeSpec {
                name: name.clone(),
                labels: self.owned_labels(),
            })
            .await?;
        Ok(name)
    }

    /// An owned busybox container spec on the cluster network running `script` with
    /// `sh -c`. The script's process exits promptly on SIGTERM when it uses
    /// [`TestRun::idle_script`].
    pub fn busybox_spec(&self, suffix: &str, script: &str) -> ContainerSpec {
        let mut l = self.owned_labels();
        l.insert(labels::MEMBER.to_string(), suffix.to_string());
        ContainerSpec {
            name: self.name(suffix),
            image: BUSYBOX_IMAGE.to_string(),
            entrypoint: Some(vec!["/bin/sh".to_string(), "-c".to_string()]),
            cmd: vec![script.to_string()],
            labels: l,
            network: self.network(),
            ..Default::default()
        }
    }

    /// A shell script that idles until SIGTERM and then exits 0.
    pub fn idle_script() -> &'static str {
        "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"
    }

    /// Creates and starts a container directly (bypassing the runtime under test)
    /// with only the test-run label: a "foreign" container named like ours.
    pub async fn create_foreign_container(&self, name: &str) -> String {
        use bollard::models::ContainerCreateBody;
        use bollard::query_parameters::CreateContainerOptionsBuilder;
        let docker = self.runtime.client();
        let body = ContainerCreateBody {
            image: Some(BUSYBOX_IMAGE.to_string()),
            cmd: Some(vec!["sh".into(), "-c".into(), Self::idle_script().into()]),
            labels: Some(self.test_labels().into_iter().collect()),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        let created = docker
            .create_container(Some(options), body)
            .await
            .expect("create foreign");
        docker
            .start_container(&created.id, None)
            .await
            .expect("start foreign");
        created.id
    }

    /// Removes everything labelled with this run's id. Called on drop; callable
    /// earlier to check cleanup.
    pub async fn cleanup(&self) {
        cleanup_run(self.runtime.client(), &self.id).await;
    }
}

async fn cleanup_run(docker: &Docker, id: &str) {
    let filter = HashMap::from([("label", vec![format!("{TEST_RUN_LABEL}={id}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filter)
        .build();
    for container in docker
        .list_containers(Some(options))
        .await
        .unwrap_or_default()
    {
        if let Some(cid) = container.id {
            let options = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            let _ = docker.remove_container(&cid, Some(options)).await;
        }
    }
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filter)
        .build();
    for network in docker
        .list_networks(Some(options))
        .await
        .unwrap_or_default()
    {
        if let Some(nid) = network.id {
            let _ = docker.remove_network(&nid).await;
        }
    }
    let options = ListVolumesOptionsBuilder::default()
        .filters(&filter)
        .build();
    let volumes = docker
        .list_volumes(Some(options))
        .await
        .ok()
        .and_then(|v| v.volumes);
    for volume in volumes.unwrap_or_default() {
        let options = RemoveVolumeOptionsBuilder::default().force(true).build();
        let _ = docker.remove_volume(&volume.name, Some(options)).await;
    }
}

impl Drop for TestRun {
    /// Cleans up on a separate thread with its own runtime: drop cannot await, and it
    /// may run inside (or after) the test's runtime.
    fn drop(&mut self) {
        let id = self.id.clone();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            rt.block_on(async move {
                match DockerRuntime::connect().await {
                    Ok(runtime) => {
                        let _ = tokio::time::timeout(
                            Duration::from_secs(30),
                            cleanup_run(runtime.client(), &id),
                        )
                        .await;
                    }
                    Err(e) => eprintln!("test run {id}: cleanup could not reach Docker: {e}"),
                }
            });
        });
        let _ = handle.join();
    }
}
