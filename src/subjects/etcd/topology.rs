//! The Docker objects an etcd spec asks for: names, labels and the real `etcd` command
//! line. Pure: the same spec gives the same templates and the same spec hash, so a
//! member whose hash differs from the template's is drift (a rolling restart).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::spec::EtcdClusterSpec;
use crate::runtime::labels;
use crate::runtime::{ContainerSpec, Mount, NetworkSpec, VolumeSpec};

/// Component label value of members.
pub const COMPONENT: &str = "etcd";
/// Client port.
pub const CLIENT_PORT: u16 = 2379;
/// Peer port.
pub const PEER_PORT: u16 = 2380;
/// Where the data volume is mounted; the data dir is a subdirectory (etcd wants 0700).
pub const DATA_MOUNT: &str = "/var/lib/etcd";
/// The data directory inside the volume.
pub const DATA_DIR: &str = "/var/lib/etcd/data";

/// How a member joins: part of the first `--initial-cluster`, or added later through
/// the member API (`--initial-cluster-state existing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bootstrap {
    /// `--initial-cluster-state new`.
    New,
    /// `--initial-cluster-state existing`.
    Existing,
}

/// Naming scheme of one cluster's objects.
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
    /// Member name (`etcd-2`): etcd's `--name` and the operator's member label.
    pub fn member(ordinal: u32) -> String {
        format!("etcd-{ordinal}")
    }
    /// The ordinal of a member name.
    pub fn ordinal(member: &str) -> Option<u32> {
        member.strip_prefix("etcd-")?.parse().ok()
    }
    /// Container name, also its DNS name (`demo-etcd-2`).
    pub fn container(&self, ordinal: u32) -> String {
        format!("{}-{}", self.cluster, Self::member(ordinal))
    }
    /// Data volume.
    pub fn volume(&self, ordinal: u32) -> String {
        format!("{}-data", self.container(ordinal))
    }
    /// Advertised peer URL.
    pub fn peer_url(&self, ordinal: u32) -> String {
        format!("http://{}:{PEER_PORT}", self.container(ordinal))
    }
    /// Advertised client URL.
    pub fn client_url(&self, ordinal: u32) -> String {
        format!("http://{}:{CLIENT_PORT}", self.container(ordinal))
    }
    /// The ordinal whose peer URL this is.
    pub fn ordinal_of_peer_url(&self, url: &str) -> Option<u32> {
        let host = url
            .trim_start_matches("http://")
            .split(':')
            .next()
            .unwrap_or_default();
        let prefix = format!("{}-", self.cluster);
        Self::ordinal(host.strip_prefix(&prefix)?)
    }
}

/// The templates of one spec.
#[derive(Debug, Clone)]
pub struct Topology<'a> {
    spec: &'a EtcdClusterSpec,
    names: Names,
}

impl<'a> Topology<'a> {
    /// Templates for `spec`.
    pub fn new(spec: &'a EtcdClusterSpec) -> Self {
        Self {
            names: Names::new(spec.name()),
            spec,
        }
    }

    /// The naming scheme.
    pub fn names(&self) -> &Names {
        &self.names
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let mut l = self.spec.metadata.labels.clone();
        l.extend(labels::ownership(self.spec.name()));
        l
    }

    /// The cluster network.
    pub fn network(&self) -> NetworkSpec {
        NetworkSpec {
            name: self.spec.network_name(),
            labels: self.labels(),
        }
    }

    /// A member's data volume.
    pub fn volume(&self, ordinal: u32) -> VolumeSpec {
        let mut l = self.labels();
        l.insert(labels::COMPONENT.into(), COMPONENT.into());
        l.insert(labels::MEMBER.into(), Names::member(ordinal));
        VolumeSpec {
            name: self.names.volume(ordinal),
            labels: l,
        }
    }

    /// The hash of everything a running member must match (image, quota, timing).
    /// Membership flags are left out: they only matter on the first start.
    pub fn spec_hash(&self) -> String {
        let s = &self.spec.spec;
        let mut h = Sha256::new();
        h.update(self.spec.image().as_bytes());
        h.update(format!(
            "|{}|{}|{}",
            s.quota_backend_bytes, s.heartbeat_ms, s.election_ms
        ));
        h.finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The container of member `ordinal`. `initial` lists the `(ordinal)` members of
    /// `--initial-cluster` (this one included); `bootstrap` says whether the cluster is
    /// new or the member joins an existing one.
    pub fn container(&self, ordinal: u32, initial: &[u32], bootstrap: Bootstrap) -> ContainerSpec {
        let s = &self.spec.spec;
        let n = &self.names;
        let initial_cluster = initial
            .iter()
            .map(|o| format!("{}={}", Names::member(*o), n.peer_url(*o)))
            .collect::<Vec<_>>()
            .join(",");
        let state = match bootstrap {
            Bootstrap::New => "new",
            Bootstrap::Existing => "existing",
        };
        let cmd = vec![
            format!("--name={}", Names::member(ordinal)),
            format!("--data-dir={DATA_DIR}"),
            format!("--listen-client-urls=http://0.0.0.0:{CLIENT_PORT}"),
            format!("--advertise-client-urls={}", n.client_url(ordinal)),
            format!("--listen-peer-urls=http://0.0.0.0:{PEER_PORT}"),
            format!("--initial-advertise-peer-urls={}", n.peer_url(ordinal)),
            format!("--initial-cluster={initial_cluster}"),
            format!("--initial-cluster-state={state}"),
            format!("--initial-cluster-token={}", self.spec.name()),
            format!("--quota-backend-bytes={}", s.quota_backend_bytes),
            format!("--heartbeat-interval={}", s.heartbeat_ms),
            format!("--election-timeout={}", s.election_ms),
            "--logger=zap".into(),
            "--log-outputs=stderr".into(),
        ];
        let mut l = self.labels();
        l.insert(labels::COMPONENT.into(), COMPONENT.into());
        l.insert(labels::MEMBER.into(), Names::member(ordinal));
        l.insert(labels::ORDINAL.into(), ordinal.to_string());
        l.insert(labels::SPEC_HASH.into(), self.spec_hash());
        l.insert(labels::PD_BOOTSTRAP.into(), state.into());
        l.insert(labels::IMAGE.into(), self.spec.image());
        ContainerSpec {
            name: n.container(ordinal),
            image: self.spec.image(),
            entrypoint: None,
            cmd,
            env: BTreeMap::new(),
            labels: l,
            network: self.spec.network_name(),
            aliases: vec![],
            mounts: vec![Mount {
                volume: n.volume(ordinal),
                target: DATA_MOUNT.into(),
            }],
            host_mounts: vec![],
            files: vec![],
            ports: vec![],
            cap_add: vec![],
            network_mode: None,
            auto_remove: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> EtcdClusterSpec {
        super::super::spec::parse_str(
            "apiVersion: tikv-operator.dev/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: e1\nspec:\n  quotaBackendBytes: 16777216\n",
            "t",
        )
        .unwrap()
    }

    #[test]
    fn a_new_member_lists_every_initial_peer_and_the_quota() {
        let s = spec();
        let c = Topology::new(&s).container(1, &[0, 1, 2], Bootstrap::New);
        assert_eq!(c.name, "e1-etcd-1");
        assert!(c.cmd.contains(&"--initial-cluster=etcd-0=http://e1-etcd-0:2380,etcd-1=http://e1-etcd-1:2380,etcd-2=http://e1-etcd-2:2380".to_string()));
        assert!(c.cmd.contains(&"--initial-cluster-state=new".to_string()));
        assert!(c
            .cmd
            .contains(&"--quota-backend-bytes=16777216".to_string()));
        assert_eq!(c.labels[labels::CLUSTER], "e1");
    }

    #[test]
    fn peer_urls_map_back_to_ordinals_of_this_cluster_only() {
        let n = Names::new("e1");
        assert_eq!(n.ordinal_of_peer_url("http://e1-etcd-4:2380"), Some(4));
        assert_eq!(n.ordinal_of_peer_url("http://e2-etcd-4:2380"), None);
    }

    #[test]
    fn the_spec_hash_changes_with_the_quota_and_not_with_the_member_count() {
        let a = spec();
        let mut b = a.clone();
        b.spec.members = 5;
        assert_eq!(Topology::new(&a).spec_hash(), Topology::new(&b).spec_hash());
        b.spec.quota_backend_bytes += 1;
        assert_ne!(Topology::new(&a).spec_hash(), Topology::new(&b).spec_hash());
    }
}
