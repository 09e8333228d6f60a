//! Ownership labels: the only way the operator decides that a Docker object is its own.
//!
//! A container, network or volume belongs to cluster `C` when it carries both
//! `io.tikv-operator.managed-by=tikv-operator` and `io.tikv-operator.cluster=C`.
//! Names are never trusted: a foreign container called `demo-pd-0` is left alone.

use std::collections::{BTreeMap, HashMap};

/// `managed-by` label key.
pub const MANAGED_BY: &str = "io.tikv-operator.managed-by";
/// The value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "tikv-operator";
/// The owning cluster's name.
pub const CLUSTER: &str = "io.tikv-operator.cluster";
/// Component: `pd`, `tikv`, `prometheus`, `grafana`, or `chaos-helper`.
pub const COMPONENT: &str = "io.tikv-operator.component";
/// Member name within the cluster (`pd-0`, `tikv-2`, `prometheus`).
pub const MEMBER: &str = "io.tikv-operator.member";
/// Ordinal of a PD or TiKV member.
pub const ORDINAL: &str = "io.tikv-operator.ordinal";
/// Hash of the container template (image, config, env): a change means drift.
pub(crate) const SPEC_HASH: &str = "io.tikv-operator.spec-hash";
/// How a PD member was started: `initial` (part of --initial-cluster) or `join`.
pub(crate) const PD_BOOTSTRAP: &str = "io.tikv-operator.pd-bootstrap";
/// Hash of the scrape targets Prometheus was created with.
pub(crate) const SCRAPE_HASH: &str = "io.tikv-operator.scrape-hash";
/// The image the container was created from, as written in the spec.
pub(crate) const IMAGE: &str = "io.tikv-operator.image";

/// Labels the operator sets and a spec may not: ownership, identity and drift tracking.
pub(crate) const RESERVED: &[&str] = &[
    MANAGED_BY,
    CLUSTER,
    COMPONENT,
    MEMBER,
    ORDINAL,
    SPEC_HASH,
    PD_BOOTSTRAP,
    IMAGE,
    SCRAPE_HASH,
    "io.tikv-operator.network-aliases",
    "io.tikv-operator.experiment",
];

/// The labels that mark an object as owned by `cluster`.
pub fn ownership(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (CLUSTER.to_string(), cluster.to_string()),
    ])
}

/// True when `labels` mark an object as owned by `cluster`.
pub(crate) fn is_owned_by<S: std::hash::BuildHasher>(
    labels: &HashMap<String, String, S>,
    cluster: &str,
) -> bool {
    labels.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
        && labels.get(CLUSTER).map(String::as_str) == Some(cluster)
}

/// Same as [`is_owned_by`] for ordered maps.
pub(crate) fn is_owned_by_btree(labels: &BTreeMap<String, String>, cluster: &str) -> bool {
    labels.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
        && labels.get(CLUSTER).map(String::as_str) == Some(cluster)
}

/// The Docker label filter (`label=k=v`) selecting objects owned by `cluster`.
pub(crate) fn filter(cluster: &str) -> Vec<String> {
    vec![
        format!("{MANAGED_BY}={MANAGED_BY_VALUE}"),
        format!("{CLUSTER}={cluster}"),
    ]
}
