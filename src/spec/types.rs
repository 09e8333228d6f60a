//! The `ClusterSpec` types: what the user writes in `cluster.yaml`.
//!
//! Every struct rejects unknown fields, so a typo (`replcas: 3`) is an error with a
//! position rather than a silently ignored line. Every field has a default, so a file
//! holding only a name and replica counts is a complete spec.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `apiVersion` this build understands.
pub(crate) const API_VERSION: &str = "tikv-operator.dev/v1alpha1";
/// The only `kind` this build understands.
pub(crate) const KIND: &str = "TikvCluster";

/// Default PD image: the real PingCAP image.
pub(crate) const DEFAULT_PD_IMAGE: &str = "pingcap/pd:v8.5.7";
/// Default TiKV image: the real PingCAP image.
pub(crate) const DEFAULT_TIKV_IMAGE: &str = "pingcap/tikv:v8.5.7";
/// Default Prometheus image.
pub(crate) const DEFAULT_PROMETHEUS_IMAGE: &str = "prom/prometheus:v3.5.0";
/// Default Grafana image.
pub(crate) const DEFAULT_GRAFANA_IMAGE: &str = "grafana/grafana:12.1.0";

/// The whole document: Kubernetes-style envelope around [`TikvClusterSpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Must be [`API_VERSION`].
    pub api_version: String,
    /// Must be [`KIND`].
    pub kind: String,
    /// Name and labels.
    pub metadata: Metadata,
    /// The desired cluster.
    #[serde(default)]
    pub spec: TikvClusterSpec,
}

/// `metadata`: the cluster's name is the root of every resource name and ownership label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// DNS-label-like: lowercase letters, digits and `-`, at most 40 characters.
    pub name: String,
    /// Extra labels copied onto every container, network and volume the cluster owns.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `spec`: the desired state of one PD + TiKV cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TikvClusterSpec {
    /// Docker network the cluster lives on. Default: `<name>-net`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Placement Driver members.
    #[serde(default)]
    pub pd: PdSpec,
    /// TiKV stores.
    #[serde(default)]
    pub tikv: TikvSpec,
    /// Prometheus and Grafana.
    #[serde(default)]
    pub monitoring: MonitoringSpec,
    /// What to do when a container the spec wants has exited or was killed.
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// Loop timing.
    #[serde(default)]
    pub reconcile: ReconcileSpec,
    /// Rolling-upgrade and scale-in timeouts.
    #[serde(default)]
    pub operations: OperationsSpec,
    /// Thresholds of the invariants watched by the controller (free-form until the
    /// invariants issue fixes their names; validated there).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub invariants: BTreeMap<String, yaml_serde::Value>,
    /// Diagnosis settings (backend, model, budget); free-form here, validated by `diagnose`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub diagnosis: BTreeMap<String, yaml_serde::Value>,
}

/// PD members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PdSpec {
    /// Number of PD members (≥ 1; an even count works but tolerates no more failures
    /// than the odd count below it).
    #[serde(default = "default_pd_replicas")]
    pub replicas: u32,
    /// Image holding `/pd-server`.
    #[serde(default = "default_pd_image")]
    pub image: ImageRef,
    /// pd-server configuration overrides, written as TOML to `/etc/pd/pd.toml`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, yaml_serde::Value>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Publish the first member's client port (2379) on this host port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
}

impl Default for PdSpec {
    fn default() -> Self {
        Self {
            replicas: default_pd_replicas(),
            image: default_pd_image(),
            config: BTreeMap::new(),
            env: BTreeMap::new(),
            host_port: None,
        }
    }
}

/// What happens to a TiKV data volume when its store is scaled in or the cluster is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VolumePolicy {
    /// Keep the volume (default): data survives scale-in and `down`.
    #[default]
    Retain,
    /// Remove the volume once its store is Tombstone.
    Delete,
}

/// TiKV stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TikvSpec {
    /// Number of TiKV stores (≥ 3 for a new cluster, so that 3 replicas fit).
    #[serde(default = "default_tikv_replicas")]
    pub replicas: u32,
    /// Image holding `/tikv-server`.
    #[serde(default = "default_tikv_image")]
    pub image: ImageRef,
    /// tikv-server configuration overrides, written as TOML to `/etc/tikv/tikv.toml`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, yaml_serde::Value>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// What happens to a store's volume after scale-in.
    #[serde(default)]
    pub volume_policy: VolumePolicy,
}

impl Default for TikvSpec {
    fn default() -> Self {
        Self {
            replicas: default_tikv_replicas(),
            image: default_tikv_image(),
            config: BTreeMap::new(),
            env: BTreeMap::new(),
            volume_policy: VolumePolicy::Retain,
        }
    }
}

/// Prometheus and Grafana.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Prometheus, scraping every PD and TiKV (config generated from the spec).
    #[serde(default = "default_prometheus")]
    pub prometheus: ComponentSpec,
    /// Grafana, provisioned with a Prometheus datasource.
    #[serde(default = "default_grafana")]
    pub grafana: ComponentSpec,
}

impl Default for MonitoringSpec {
    fn default() -> Self {
        Self {
            prometheus: default_prometheus(),
            grafana: default_grafana(),
        }
    }
}

/// A single auxiliary container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ComponentSpec {
    /// Whether the container exists at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Image to run.
    pub image: ImageRef,
    /// Publish the component's port on this host port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
}

/// Failure mode for containers the spec wants that exited or were killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// Report the fault and leave the container alone (default): a dead container is a
    /// fault to diagnose, not drift to paper over.
    #[default]
    Observe,
    /// Restart it, with backoff, at most `maxRestarts` times per `window`.
    Restart,
}

/// `failurePolicy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FailurePolicy {
    /// observe | restart.
    #[serde(default)]
    pub mode: FailureMode,
    /// Restarts allowed per container within `window`.
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    /// Window over which restarts are counted.
    #[serde(default = "default_restart_window")]
    pub window: HumanDuration,
    /// First restart delay; doubles per restart within the window.
    #[serde(default = "default_restart_backoff")]
    pub backoff: HumanDuration,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        Self {
            mode: FailureMode::Observe,
            max_restarts: default_max_restarts(),
            window: default_restart_window(),
            backoff: default_restart_backoff(),
        }
    }
}

/// `reconcile`: loop timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReconcileSpec {
    /// Resync interval: a pass runs at least this often.
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
    /// Cap of the error backoff (starts at 500 ms, doubles, resets on success).
    #[serde(default = "default_max_backoff")]
    pub max_backoff: HumanDuration,
}

impl Default for ReconcileSpec {
    fn default() -> Self {
        Self {
            interval: default_interval(),
            max_backoff: default_max_backoff(),
        }
    }
}

/// `operations`: timeouts of multi-pass operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OperationsSpec {
    /// How long a rolling upgrade waits for a store's leaders to reach 0 before
    /// restarting it anyway (tidb-operator waits 1500 min, TiUP 600 s; leaders move in
    /// seconds on a healthy cluster).
    #[serde(default = "default_evict_timeout")]
    pub evict_leader_timeout: HumanDuration,
    /// How long to wait for leaders to come back to an upgraded store before moving on.
    #[serde(default = "default_leader_return_timeout")]
    pub leader_return_timeout: HumanDuration,
    /// How long to wait for PD to become healthy before TiKV stores are created.
    #[serde(default = "default_pd_ready_timeout")]
    pub pd_ready_timeout: HumanDuration,
}

impl Default for OperationsSpec {
    fn default() -> Self {
        Self {
            evict_leader_timeout: default_evict_timeout(),
            leader_return_timeout: default_leader_return_timeout(),
            pd_ready_timeout: default_pd_ready_timeout(),
        }
    }
}

/// A container image reference (`[registry/]repo[:tag][@digest]`), checked at parse time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef(String);

impl ImageRef {
    /// Parses and checks an image reference.
    pub fn parse(s: &str) -> Result<Self, String> {
        super::validate::check_image_ref(s).map(|()| Self(s.to_string()))
    }
    /// The reference as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ImageRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ImageRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A duration written the human way (`30s`, `5m`, `1h30m`, `500ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// The duration.
    pub(crate) fn get(self) -> Duration {
        self.0
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim())
            .map(HumanDuration)
            .map_err(|e| serde::de::Error::custom(super::schema::duration_message(&s, &e)))
    }
}

fn default_true() -> bool {
    true
}
fn default_pd_replicas() -> u32 {
    3
}
fn default_tikv_replicas() -> u32 {
    3
}
fn default_pd_image() -> ImageRef {
    ImageRef(DEFAULT_PD_IMAGE.into())
}
fn default_tikv_image() -> ImageRef {
    ImageRef(DEFAULT_TIKV_IMAGE.into())
}
fn default_prometheus() -> ComponentSpec {
    ComponentSpec {
        enabled: true,
        image: ImageRef(DEFAULT_PROMETHEUS_IMAGE.into()),
        host_port: None,
    }
}
fn default_grafana() -> ComponentSpec {
    ComponentSpec {
        enabled: true,
        image: ImageRef(DEFAULT_GRAFANA_IMAGE.into()),
        host_port: None,
    }
}
fn default_max_restarts() -> u32 {
    3
}
fn default_restart_window() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}
fn default_restart_backoff() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}
fn default_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_max_backoff() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}
fn default_evict_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(300))
}
fn default_leader_return_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(120))
}
fn default_pd_ready_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(120))
}

impl ClusterSpec {
    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }
    /// The Docker network name (explicit or `<name>-net`).
    pub fn network_name(&self) -> String {
        self.spec
            .network
            .clone()
            .unwrap_or_else(|| format!("{}-net", self.metadata.name))
    }
}
