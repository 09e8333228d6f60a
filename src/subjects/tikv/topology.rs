//! Topology templates: the containers, volumes and network a `ClusterSpec` asks for.
//!
//! This is where the spec becomes concrete Docker objects: names, labels, the real
//! `pd-server`/`tikv-server` command lines (INTERFACES.md §4: advertise addresses set,
//! data on named volumes), generated config files and the Prometheus scrape config.
//! Pure: the same spec always yields the same templates and the same spec hashes, so a
//! changed hash on a running container is drift.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::runtime::labels;
use crate::runtime::{ContainerSpec, FileUpload, Mount, NetworkSpec, PortPublish, VolumeSpec};
use crate::spec::ClusterSpec;

/// PD client port.
pub(crate) const PD_CLIENT_PORT: u16 = 2379;
/// PD peer port.
pub(crate) const PD_PEER_PORT: u16 = 2380;
/// TiKV gRPC port.
pub(crate) const TIKV_PORT: u16 = 20160;
/// TiKV status port.
pub(crate) const TIKV_STATUS_PORT: u16 = 20180;
/// Prometheus port.
pub(crate) const PROMETHEUS_PORT: u16 = 9090;
/// Grafana port.
pub(crate) const GRAFANA_PORT: u16 = 3000;
/// Where Prometheus reads its file-SD target files.
pub(crate) const SCRAPE_TARGETS_DIR: &str = "/etc/prometheus/targets";

/// The kinds of member a TiKV cluster has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    /// Placement Driver.
    Pd,
    /// TiKV store.
    Tikv,
    /// Prometheus.
    Prometheus,
    /// Grafana.
    Grafana,
}

impl Component {
    /// Label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pd => "pd",
            Self::Tikv => "tikv",
            Self::Prometheus => "prometheus",
            Self::Grafana => "grafana",
        }
    }
}

/// Naming scheme of a cluster's Docker objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    cluster: String,
}

impl Names {
    /// Names for `cluster`.
    pub fn new(cluster: &str) -> Self {
        Self {
            cluster: cluster.to_string(),
        }
    }
    /// Member name within the cluster (`pd-0`, `tikv-3`, `prometheus`).
    pub fn member(component: Component, ordinal: Option<u32>) -> String {
        match ordinal {
            Some(i) => format!("{}-{i}", component.as_str()),
            None => component.as_str().to_string(),
        }
    }
    /// Container name of a member (`demo-pd-0`); also its DNS name on the network.
    pub(crate) fn container(&self, member: &str) -> String {
        format!("{}-{member}", self.cluster)
    }
    /// Data volume of a member (`demo-tikv-0-data`).
    pub(crate) fn volume(&self, member: &str) -> String {
        format!("{}-{member}-data", self.cluster)
    }
    /// TiKV advertised gRPC address of an ordinal (what PD stores as `address`).
    pub fn tikv_address(&self, ordinal: u32) -> String {
        format!("{}-tikv-{ordinal}:{TIKV_PORT}", self.cluster)
    }
    /// TiKV advertised status address.
    pub fn tikv_status_address(&self, ordinal: u32) -> String {
        format!(
            "{}:{TIKV_STATUS_PORT}",
            self.container(&Names::member(Component::Tikv, Some(ordinal)))
        )
    }
    /// PD advertised client URL.
    pub(crate) fn pd_client_url(&self, ordinal: u32) -> String {
        format!(
            "http://{}:{PD_CLIENT_PORT}",
            self.container(&Names::member(Component::Pd, Some(ordinal)))
        )
    }
    /// PD advertised peer URL.
    pub(crate) fn pd_peer_url(&self, ordinal: u32) -> String {
        format!(
            "http://{}:{PD_PEER_PORT}",
            self.container(&Names::member(Component::Pd, Some(ordinal)))
        )
    }
}

/// How a PD member enters the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PdBootstrap {
    /// Part of the initial cluster (`--initial-cluster`), listing these ordinals.
    Initial(Vec<u32>),
    /// Joins a running cluster through these client URLs (`--join`).
    Join(Vec<String>),
}

/// Parses the member ordinal from a member name (`tikv-3` → 3).
pub(crate) fn ordinal_of(member: &str) -> Option<u32> {
    member.rsplit_once('-').and_then(|(_, n)| n.parse().ok())
}

/// The templates of one cluster.
#[derive(Debug, Clone)]
pub struct Topology<'a> {
    spec: &'a ClusterSpec,
    names: Names,
}

impl<'a> Topology<'a> {
    /// Templates for `spec`.
    pub fn new(spec: &'a ClusterSpec) -> Self {
        Self {
            spec,
            names: Names::new(spec.name()),
        }
    }

    /// The naming scheme.
    pub(crate) fn names(&self) -> &Names {
        &self.names
    }

    fn base_labels(&self) -> BTreeMap<String, String> {
        let mut l = self.spec.metadata.labels.clone();
        l.extend(labels::ownership(self.spec.name()));
        l
    }

    /// The cluster network.
    pub(crate) fn network(&self) -> NetworkSpec {
        NetworkSpec {
            name: self.spec.network_name(),
            labels: self.base_labels(),
        }
    }

    /// A member's data volume.
    pub(crate) fn volume(&self, component: Component, member: &str) -> VolumeSpec {
        let mut labels = self.base_labels();
        labels.insert(labels::COMPONENT.into(), component.as_str().into());
        labels.insert(labels::MEMBER.into(), member.into());
        VolumeSpec {
            name: self.names.volume(member),
            labels,
        }
    }

    fn member_labels(
        &self,
        component: Component,
        member: &str,
        ordinal: Option<u32>,
    ) -> BTreeMap<String, String> {
        let mut l = self.base_labels();
        l.insert(labels::COMPONENT.into(), component.as_str().into());
        l.insert(labels::MEMBER.into(), member.into());
        if let Some(o) = ordinal {
            l.insert(labels::ORDINAL.into(), o.to_string());
        }
        l
    }

    /// The hash of what defines a component's containers (image, config, env, and for
    /// Prometheus the scrape targets). Bootstrap flags are excluded: a PD member keeps
    /// its `--initial-cluster`/`--join` choice for life.
    pub(crate) fn spec_hash(&self, component: Component) -> String {
        let s = &self.spec.spec;
        let material = match component {
            Component::Pd => {
                serde_json::json!({"image": s.pd.image.as_str(), "config": s.pd.config, "env": s.pd.env, "hostPort": s.pd.host_port})
            }
            Component::Tikv => {
                serde_json::json!({"image": s.tikv.image.as_str(), "config": s.tikv.config, "env": s.tikv.env})
            }
            Component::Prometheus => serde_json::json!({
                "image": s.monitoring.prometheus.image.as_str(),
                "config": self.prometheus_config(),
                "hostPort": s.monitoring.prometheus.host_port,
            }),
            Component::Grafana => serde_json::json!({
                "image": s.monitoring.grafana.image.as_str(),
                "datasource": self.grafana_datasource(),
                "hostPort": s.monitoring.grafana.host_port,
            }),
        };
        let digest = Sha256::digest(material.to_string().as_bytes());
        hex::encode(&digest[..8])
    }

    /// The image a component should run.
    pub(crate) fn image(&self, component: Component) -> &str {
        let s = &self.spec.spec;
        match component {
            Component::Pd => s.pd.image.as_str(),
            Component::Tikv => s.tikv.image.as_str(),
            Component::Prometheus => s.monitoring.prometheus.image.as_str(),
            Component::Grafana => s.monitoring.grafana.image.as_str(),
        }
    }

    /// The container of PD member `ordinal`.
    pub fn pd_container(&self, ordinal: u32, bootstrap: &PdBootstrap) -> ContainerSpec {
        let member = Names::member(Component::Pd, Some(ordinal));
        let name = self.names.container(&member);
        let mut cmd = vec![
            format!("--name={member}"),
            "--data-dir=/data/pd".to_string(),
            format!("--client-urls=http://0.0.0.0:{PD_CLIENT_PORT}"),
            format!(
                "--advertise-client-urls={}",
                self.names.pd_client_url(ordinal)
            ),
            format!("--peer-urls=http://0.0.0.0:{PD_PEER_PORT}"),
            format!("--advertise-peer-urls={}", self.names.pd_peer_url(ordinal)),
        ];
        let mut labels = self.member_labels(Component::Pd, &member, Some(ordinal));
        labels.insert(labels::SPEC_HASH.into(), self.spec_hash(Component::Pd));
        labels.insert(labels::IMAGE.into(), self.image(Component::Pd).into());
        match bootstrap {
            PdBootstrap::Initial(ordinals) => {
                let initial = ordinals
                    .iter()
                    .map(|o| format!("pd-{o}={}", self.names.pd_peer_url(*o)))
                    .collect::<Vec<_>>()
                    .join(",");
                cmd.push(format!("--initial-cluster={initial}"));
                labels.insert(
                    labels::PD_BOOTSTRAP.into(),
                    format!(
                        "initial:{}",
                        ordinals
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                );
            }
            PdBootstrap::Join(urls) => {
                cmd.push(format!("--join={}", urls.join(",")));
                labels.insert(labels::PD_BOOTSTRAP.into(), "join".into());
            }
        }
        let mut files = Vec::new();
        if !self.spec.spec.pd.config.is_empty() {
            cmd.push("--config=/etc/pd/pd.toml".into());
            files.push(FileUpload {
                path: "/etc/pd/pd.toml".into(),
                contents: render_toml(&self.spec.spec.pd.config).into_bytes(),
                mode: 0o644,
            });
        }
        let ports = match (ordinal, self.spec.spec.pd.host_port) {
            (0, Some(p)) => vec![PortPublish {
                container_port: PD_CLIENT_PORT,
                host_port: p,
            }],
            _ => vec![],
        };
        ContainerSpec {
            name,
            image: self.image(Component::Pd).into(),
            entrypoint: Some(vec!["/pd-server".into()]),
            cmd,
            env: self.spec.spec.pd.env.clone(),
            labels,
            network: self.spec.network_name(),
            aliases: vec![],
            mounts: vec![Mount {
                volume: self.names.volume(&member),
                target: "/data".into(),
            }],
            files,
            ports,
            ..Default::default()
        }
    }

    /// The container of TiKV store `ordinal`, pointing at the given PD ordinals.
    pub fn tikv_container(&self, ordinal: u32, pd_ordinals: &[u32]) -> ContainerSpec {
        let member = Names::member(Component::Tikv, Some(ordinal));
        let name = self.names.container(&member);
        let pd = pd_ordinals
            .iter()
            .map(|o| {
                self.names
                    .container(&Names::member(Component::Pd, Some(*o)))
                    + ":"
                    + &PD_CLIENT_PORT.to_string()
            })
            .collect::<Vec<_>>()
            .join(",");
        let mut cmd = vec![
            format!("--addr=0.0.0.0:{TIKV_PORT}"),
            format!("--advertise-addr={}", self.names.tikv_address(ordinal)),
            format!("--status-addr=0.0.0.0:{TIKV_STATUS_PORT}"),
            format!(
                "--advertise-status-addr={}",
                self.names.tikv_status_address(ordinal)
            ),
            "--data-dir=/data/tikv".to_string(),
            format!("--pd-endpoints={pd}"),
        ];
        let mut files = Vec::new();
        if !self.spec.spec.tikv.config.is_empty() {
            cmd.push("--config=/etc/tikv/tikv.toml".into());
            files.push(FileUpload {
                path: "/etc/tikv/tikv.toml".into(),
                contents: render_toml(&self.spec.spec.tikv.config).into_bytes(),
                mode: 0o644,
            });
        }
        let mut labels = self.member_labels(Component::Tikv, &member, Some(ordinal));
        labels.insert(labels::SPEC_HASH.into(), self.spec_hash(Component::Tikv));
        labels.insert(labels::IMAGE.into(), self.image(Component::Tikv).into());
        ContainerSpec {
            name,
            image: self.image(Component::Tikv).into(),
            entrypoint: Some(vec!["/tikv-server".into()]),
            cmd,
            env: self.spec.spec.tikv.env.clone(),
            labels,
            network: self.spec.network_name(),
            aliases: vec![],
            mounts: vec![Mount {
                volume: self.names.volume(&member),
                target: "/data".into(),
            }],
            files,
            ..Default::default()
        }
    }

    /// The generated Prometheus configuration. Targets come from file-based service
    /// discovery ([`Topology::scrape_targets`]), so scaling never restarts Prometheus.
    pub(crate) fn prometheus_config(&self) -> String {
        format!(
            "# Generated by the operator for cluster {name}; do not edit.\n\
             global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n  external_labels:\n    cluster: {name}\n\
             scrape_configs:\n\
             \x20 - job_name: pd\n    honor_labels: true\n    file_sd_configs:\n      - files: [\"{dir}/pd.json\"]\n        refresh_interval: 10s\n\
             \x20 - job_name: tikv\n    honor_labels: true\n    file_sd_configs:\n      - files: [\"{dir}/tikv.json\"]\n        refresh_interval: 10s\n",
            name = self.spec.name(),
            dir = SCRAPE_TARGETS_DIR,
        )
    }

    /// The file-SD target files for the given PD and TiKV ordinals: one
    /// `(path, JSON)` pair per job.
    pub(crate) fn scrape_targets(&self, pd: &[u32], tikv: &[u32]) -> Vec<FileUpload> {
        let group = |targets: Vec<String>, component: &str| {
            serde_json::to_vec_pretty(&serde_json::json!([{
                "targets": targets,
                "labels": {"cluster": self.spec.name(), "component": component},
            }]))
            .unwrap_or_default()
        };
        let pd_targets = pd
            .iter()
            .map(|o| {
                format!(
                    "{}:{PD_CLIENT_PORT}",
                    self.names
                        .container(&Names::member(Component::Pd, Some(*o)))
                )
            })
            .collect();
        let tikv_targets = tikv
            .iter()
            .map(|o| self.names.tikv_status_address(*o))
            .collect();
        vec![
            FileUpload {
                path: format!("{SCRAPE_TARGETS_DIR}/pd.json"),
                contents: group(pd_targets, "pd"),
                mode: 0o644,
            },
            FileUpload {
                path: format!("{SCRAPE_TARGETS_DIR}/tikv.json"),
                contents: group(tikv_targets, "tikv"),
                mode: 0o644,
            },
        ]
    }

    /// The Prometheus container.
    pub fn prometheus_container(&self) -> ContainerSpec {
        let member = Names::member(Component::Prometheus, None);
        let mut labels = self.member_labels(Component::Prometheus, &member, None);
        labels.insert(
            labels::SPEC_HASH.into(),
            self.spec_hash(Component::Prometheus),
        );
        let s = &self.spec.spec;
        let pd: Vec<u32> = (0..s.pd.replicas).collect();
        let tikv: Vec<u32> = (0..s.tikv.replicas).collect();
        labels.insert(
            labels::SCRAPE_HASH.into(),
            targets_hash(self.spec.name(), &pd, &tikv),
        );
        labels.insert(
            labels::IMAGE.into(),
            self.image(Component::Prometheus).into(),
        );
        ContainerSpec {
            name: self.names.container(&member),
            image: self.image(Component::Prometheus).into(),
            entrypoint: None,
            cmd: vec![
                "--config.file=/etc/prometheus/prometheus.yml".into(),
                "--storage.tsdb.path=/prometheus".into(),
                format!("--web.listen-address=:{PROMETHEUS_PORT}"),
                "--web.enable-lifecycle".into(),
            ],
            env: BTreeMap::new(),
            labels,
            network: self.spec.network_name(),
            aliases: vec![],
            mounts: vec![Mount {
                volume: self.names.volume(&member),
                target: "/prometheus".into(),
            }],
            files: {
                let mut files = vec![FileUpload {
                    path: "/etc/prometheus/prometheus.yml".into(),
                    contents: self.prometheus_config().into_bytes(),
                    mode: 0o644,
                }];
                let s = &self.spec.spec;
                let pd: Vec<u32> = (0..s.pd.replicas).collect();
                let tikv: Vec<u32> = (0..s.tikv.replicas).collect();
                files.extend(self.scrape_targets(&pd, &tikv));
                files
            },
            ports: self
                .spec
                .spec
                .monitoring
                .prometheus
                .host_port
                .map(|p| PortPublish {
                    container_port: PROMETHEUS_PORT,
                    host_port: p,
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    fn grafana_datasource(&self) -> String {
        format!(
            "apiVersion: 1\ndatasources:\n  - name: Prometheus\n    type: prometheus\n    access: proxy\n    url: http://{}:{PROMETHEUS_PORT}\n    isDefault: true\n",
            self.names.container("prometheus")
        )
    }

    /// The Grafana container, provisioned with the Prometheus datasource.
    pub(crate) fn grafana_container(&self) -> ContainerSpec {
        let member = Names::member(Component::Grafana, None);
        let mut labels = self.member_labels(Component::Grafana, &member, None);
        labels.insert(labels::SPEC_HASH.into(), self.spec_hash(Component::Grafana));
        labels.insert(labels::IMAGE.into(), self.image(Component::Grafana).into());
        ContainerSpec {
            name: self.names.container(&member),
            image: self.image(Component::Grafana).into(),
            labels,
            network: self.spec.network_name(),
            files: vec![FileUpload {
                path: "/etc/grafana/provisioning/datasources/operator.yaml".into(),
                contents: self.grafana_datasource().into_bytes(),
                mode: 0o644,
            }],
            ports: self
                .spec
                .spec
                .monitoring
                .grafana
                .host_port
                .map(|p| PortPublish {
                    container_port: GRAFANA_PORT,
                    host_port: p,
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }
}

/// The member ordinals listed in a file-SD target file written by
/// [`Topology::scrape_targets`] (`<cluster>-<component>-<n>:<port>` targets), sorted;
/// `None` when the file is not such a file.
pub(crate) fn ordinals_in_targets_file(bytes: &[u8]) -> Option<Vec<u32>> {
    let groups: Vec<serde_json::Value> = serde_json::from_slice(bytes).ok()?;
    let mut out = Vec::new();
    for g in &groups {
        for t in g.get("targets")?.as_array()? {
            let host = t.as_str()?.rsplit_once(':')?.0;
            out.push(host.rsplit_once('-')?.1.parse().ok()?);
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// Hash of the scrape targets for these PD and TiKV ordinals (what the planner compares
/// to decide whether Prometheus needs new targets; cheap: no file is rendered).
pub(crate) fn targets_hash(cluster: &str, pd: &[u32], tikv: &[u32]) -> String {
    let mut h = Sha256::new();
    h.update(cluster.as_bytes());
    for (tag, list) in [(b"pd" as &[u8], pd), (b"tikv", tikv)] {
        h.update(tag);
        for o in list {
            h.update(o.to_le_bytes());
        }
    }
    hex::encode(&h.finalize()[..8])
}

/// Renders config overrides (a YAML map, dotted or nested keys) as TOML.
pub(crate) fn render_toml(config: &BTreeMap<String, yaml_serde::Value>) -> String {
    let mut root = toml::Table::new();
    for (k, v) in config {
        let mut table = &mut root;
        let parts: Vec<&str> = k.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            table = table
                .entry(p.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .expect("dotted key collides with a scalar");
        }
        table.insert(parts[parts.len() - 1].to_string(), yaml_to_toml(v));
    }
    toml::to_string(&root).unwrap_or_default()
}

fn yaml_to_toml(v: &yaml_serde::Value) -> toml::Value {
    use yaml_serde::Value as Y;
    match v {
        Y::Null => toml::Value::String(String::new()),
        Y::Bool(b) => toml::Value::Boolean(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                toml::Value::Integer(i)
            } else {
                toml::Value::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        Y::String(s) => toml::Value::String(s.clone()),
        Y::Sequence(seq) => toml::Value::Array(seq.iter().map(yaml_to_toml).collect()),
        Y::Mapping(m) => {
            let mut t = toml::Table::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s.clone(),
                    other => yaml_serde::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                t.insert(key, yaml_to_toml(v));
            }
            toml::Value::Table(t)
        }
        Y::Tagged(t) => yaml_to_toml(&t.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{parse_str, ValidationContext};

    fn spec(extra: &str) -> ClusterSpec {
        let text = format!(
            "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: demo\nspec:\n{extra}"
        );
        parse_str(&text, "t.yaml", ValidationContext::default())
            .unwrap()
            .0
    }

    #[test]
    fn the_ordinals_of_written_target_files_read_back_to_the_same_hash() {
        let s = spec("  pd:\n    replicas: 3\n");
        let topo = Topology::new(&s);
        let files = topo.scrape_targets(&[0, 2], &[0, 1, 7]);
        let pd = ordinals_in_targets_file(&files[0].contents).unwrap();
        let tikv = ordinals_in_targets_file(&files[1].contents).unwrap();
        assert_eq!((pd.clone(), tikv.clone()), (vec![0, 2], vec![0, 1, 7]));
        assert_eq!(
            targets_hash("demo", &pd, &tikv),
            targets_hash("demo", &[0, 2], &[0, 1, 7])
        );
        assert_eq!(ordinals_in_targets_file(b"not json"), None);
        assert_eq!(ordinals_in_targets_file(b"[{\"targets\":[\"x\"]}]"), None);
    }

    #[test]
    fn pd_members_get_the_real_pd_server_flags_with_advertised_urls() {
        let s = spec("  pd:\n    replicas: 3\n");
        let c = Topology::new(&s).pd_container(1, &PdBootstrap::Initial(vec![0, 1, 2]));
        assert_eq!(c.name, "demo-pd-1");
        assert_eq!(
            c.entrypoint.as_deref(),
            Some(&["/pd-server".to_string()][..])
        );
        assert!(c
            .cmd
            .contains(&"--advertise-client-urls=http://demo-pd-1:2379".to_string()));
        assert!(c
            .cmd
            .contains(&"--advertise-peer-urls=http://demo-pd-1:2380".to_string()));
        assert!(c.cmd.contains(
            &"--initial-cluster=pd-0=http://demo-pd-0:2380,pd-1=http://demo-pd-1:2380,pd-2=http://demo-pd-2:2380".to_string()
        ));
        assert_eq!(c.mounts[0].volume, "demo-pd-1-data");
        assert!(labels::is_owned_by_btree(&c.labels, "demo"));
    }

    #[test]
    fn tikv_stores_advertise_their_container_names() {
        let s = spec("  tikv:\n    replicas: 3\n    config:\n      raftstore.pd-store-heartbeat-tick-interval: 1s\n");
        let c = Topology::new(&s).tikv_container(2, &[0, 1, 2]);
        assert!(c
            .cmd
            .contains(&"--advertise-addr=demo-tikv-2:20160".to_string()));
        assert!(c
            .cmd
            .contains(&"--advertise-status-addr=demo-tikv-2:20180".to_string()));
        assert!(c
            .cmd
            .contains(&"--pd-endpoints=demo-pd-0:2379,demo-pd-1:2379,demo-pd-2:2379".to_string()));
        let toml = String::from_utf8(c.files[0].contents.clone()).unwrap();
        assert!(toml.contains("[raftstore]"), "{toml}");
        assert!(
            toml.contains("pd-store-heartbeat-tick-interval = \"1s\""),
            "{toml}"
        );
    }

    #[test]
    fn an_image_change_changes_the_spec_hash_and_a_replica_change_does_not() {
        let a = spec("  tikv:\n    replicas: 3\n");
        let b = spec("  tikv:\n    replicas: 5\n");
        let c = spec("  tikv:\n    replicas: 3\n    image: pingcap/tikv:v8.5.8\n");
        let h = |s: &ClusterSpec| Topology::new(s).spec_hash(Component::Tikv);
        assert_eq!(h(&a), h(&b));
        assert_ne!(h(&a), h(&c));
    }

    #[test]
    fn the_scrape_targets_list_every_member_and_the_config_parses() {
        let s = spec("  pd:\n    replicas: 1\n  tikv:\n    replicas: 4\n");
        let topo = Topology::new(&s);
        let _: yaml_serde::Value = yaml_serde::from_str(&topo.prometheus_config()).unwrap();
        let files = topo.scrape_targets(&[0], &[0, 1, 2, 3]);
        let tikv = String::from_utf8(files[1].contents.clone()).unwrap();
        assert!(tikv.contains("\"demo-tikv-3:20180\""), "{tikv}");
        let pd = String::from_utf8(files[0].contents.clone()).unwrap();
        assert!(pd.contains("\"demo-pd-0:2379\""), "{pd}");
    }
}
