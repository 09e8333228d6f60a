//! `kind: EtcdCluster`: what the user writes for an etcd cluster.
//!
//! The envelope (`apiVersion`, `metadata`) and the shared sections (failure policy,
//! loop timing) are the core spec's own types, so the two kinds read alike; the body is
//! etcd's: a member count, an image (or a version naming the locally built image), the
//! backend quota. Unknown fields are rejected, every field has a default, and semantic
//! checks carry the dotted path that the core's position index turns into
//! `file:line:column`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::spec::{
    check_name, FailurePolicy, HumanDuration, ImageRef, Located, Metadata, PositionIndex,
    ReconcileSpec, SpecError, API_VERSION,
};

/// The `kind` that selects this subject.
pub const KIND: &str = "EtcdCluster";
/// The etcd version `make images` ships (Debian bookworm's `etcd-server`).
pub const DEFAULT_VERSION: &str = "3.4.23";
/// etcd's own default quota (2 GiB).
pub const DEFAULT_QUOTA_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// etcd's suggested maximum quota (8 GiB).
pub const MAX_QUOTA_BYTES: u64 = 8 * 1024 * 1024 * 1024;
/// The largest member count accepted (etcd recommends 3, 5 or 7).
pub const MAX_MEMBERS: u32 = 9;

/// The whole document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EtcdClusterSpec {
    /// Must be the core's `API_VERSION`.
    pub api_version: String,
    /// Must be [`KIND`].
    pub kind: String,
    /// Name and labels.
    pub metadata: Metadata,
    /// The desired cluster.
    #[serde(default)]
    pub spec: EtcdSpec,
}

/// `spec`: the desired etcd cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EtcdSpec {
    /// Number of voting members (1..=9; odd counts are the useful ones).
    #[serde(default = "default_members")]
    pub members: u32,
    /// The etcd version expected on every member; names the default image
    /// `operator-etcd:<version>` and is checked against what members report.
    #[serde(default = "default_version")]
    pub version: String,
    /// Image holding `/usr/bin/etcd`; default `operator-etcd:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
    /// `--quota-backend-bytes`: past it etcd raises the cluster-wide NOSPACE alarm.
    #[serde(default = "default_quota")]
    pub quota_backend_bytes: u64,
    /// `--heartbeat-interval` in ms (etcd default 100).
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// `--election-timeout` in ms (etcd default 1000; at least 5 heartbeats).
    #[serde(default = "default_election_ms")]
    pub election_ms: u64,
    /// Docker network; default `<name>-net`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// What to do with a member container that exited.
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// Loop timing.
    #[serde(default)]
    pub reconcile: ReconcileSpec,
    /// Invariant thresholds (see `invariants::Thresholds`).
    #[serde(default)]
    pub invariants: super::invariants::Thresholds,
}

impl Default for EtcdSpec {
    fn default() -> Self {
        Self {
            members: default_members(),
            version: default_version(),
            image: None,
            quota_backend_bytes: default_quota(),
            heartbeat_ms: default_heartbeat_ms(),
            election_ms: default_election_ms(),
            network: None,
            failure_policy: FailurePolicy::default(),
            reconcile: ReconcileSpec::default(),
            invariants: super::invariants::Thresholds::default(),
        }
    }
}

fn default_members() -> u32 {
    3
}
fn default_version() -> String {
    DEFAULT_VERSION.to_string()
}
fn default_quota() -> u64 {
    DEFAULT_QUOTA_BYTES
}
fn default_heartbeat_ms() -> u64 {
    100
}
fn default_election_ms() -> u64 {
    1000
}

impl EtcdClusterSpec {
    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }
    /// The Docker network (explicit or `<name>-net`).
    pub fn network_name(&self) -> String {
        self.spec
            .network
            .clone()
            .unwrap_or_else(|| format!("{}-net", self.metadata.name))
    }
    /// The image members run.
    pub fn image(&self) -> String {
        match &self.spec.image {
            Some(i) => i.as_str().to_string(),
            None => format!("operator-etcd:{}", self.spec.version),
        }
    }
    /// The resync interval.
    pub fn resync(&self) -> HumanDuration {
        self.spec.reconcile.interval
    }
}

/// A loaded, validated etcd spec.
#[derive(Debug, Clone)]
pub struct LoadedEtcdSpec {
    /// The spec, defaults filled in.
    pub spec: EtcdClusterSpec,
    /// Where it came from.
    pub file: PathBuf,
}

/// The `kind` of a document, read without committing to a schema (the CLI picks the
/// subject with it). `None` when the text is not a mapping with a string `kind`.
pub fn peek_kind(text: &str) -> Option<String> {
    let v: yaml_serde::Value = yaml_serde::from_str(text).ok()?;
    v.get("kind")?.as_str().map(str::to_string)
}

/// Reads, parses and validates an etcd spec file.
///
/// # Errors
///
/// [`SpecError`] with the file, line and column of the problem.
pub fn load_file(path: &Path) -> Result<LoadedEtcdSpec, SpecError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        file: file.clone(),
        source,
    })?;
    Ok(LoadedEtcdSpec {
        spec: parse_str(&text, &file)?,
        file: path.to_path_buf(),
    })
}

/// Parses and validates `text`, naming `file` in errors.
///
/// # Errors
///
/// [`SpecError::Parse`] for YAML and schema errors, [`SpecError::Invalid`] for broken
/// rules.
pub fn parse_str(text: &str, file: &str) -> Result<EtcdClusterSpec, SpecError> {
    let spec: EtcdClusterSpec = yaml_serde::from_str(text).map_err(|e| {
        SpecError::Parse(Located {
            file: file.to_string(),
            position: e.location().map(|l| crate::spec::Position {
                line: l.line(),
                column: l.column(),
            }),
            path: None,
            message: e.to_string(),
        })
    })?;
    let index = PositionIndex::build(text);
    let errors: Vec<Located> = validate(&spec)
        .into_iter()
        .map(|(path, message)| Located {
            file: file.to_string(),
            position: index.locate(&path),
            path: Some(path),
            message,
        })
        .collect();
    if errors.is_empty() {
        Ok(spec)
    } else {
        Err(SpecError::Invalid(errors))
    }
}

/// The rules a parsed spec must follow: `(dotted path, message)` per broken rule.
pub fn validate(spec: &EtcdClusterSpec) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if spec.api_version != API_VERSION {
        out.push((
            "apiVersion".into(),
            format!("expected {API_VERSION:?}, found {:?}", spec.api_version),
        ));
    }
    if spec.kind != KIND {
        out.push((
            "kind".into(),
            format!("expected {KIND:?}, found {:?}", spec.kind),
        ));
    }
    if let Err(e) = check_name(&spec.metadata.name) {
        out.push(("metadata.name".into(), e));
    }
    let s = &spec.spec;
    if s.members == 0 || s.members > MAX_MEMBERS {
        out.push((
            "spec.members".into(),
            format!(
                "{} members: expected 1 to {MAX_MEMBERS} (3 or 5 tolerate 1 or 2 failures)",
                s.members
            ),
        ));
    }
    let version_ok = !s.version.is_empty()
        && s.version
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !version_ok {
        out.push((
            "spec.version".into(),
            format!("{:?} is not a version like 3.4.23", s.version),
        ));
    }
    if s.quota_backend_bytes < 1024 * 1024 || s.quota_backend_bytes > MAX_QUOTA_BYTES {
        out.push((
            "spec.quotaBackendBytes".into(),
            format!(
                "{} bytes: expected 1 MiB to 8 GiB (etcd's suggested maximum)",
                s.quota_backend_bytes
            ),
        ));
    }
    if s.heartbeat_ms == 0 || s.election_ms < 5 * s.heartbeat_ms {
        out.push((
            "spec.electionMs".into(),
            format!(
                "election timeout {} ms with heartbeat {} ms: etcd needs the election timeout to be at least 5 heartbeats",
                s.election_ms, s.heartbeat_ms
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "apiVersion: tikv-operator.dev/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: e1\n";

    #[test]
    fn a_minimal_spec_gets_three_members_the_shipped_version_and_the_default_quota() {
        let s = parse_str(MINIMAL, "t.yaml").unwrap();
        assert_eq!(s.spec.members, 3);
        assert_eq!(s.image(), "operator-etcd:3.4.23");
        assert_eq!(s.spec.quota_backend_bytes, DEFAULT_QUOTA_BYTES);
        assert_eq!(s.network_name(), "e1-net");
    }

    #[test]
    fn the_kind_is_read_without_the_schema() {
        assert_eq!(peek_kind(MINIMAL).as_deref(), Some("EtcdCluster"));
        assert_eq!(peek_kind("a: [").as_deref(), None);
    }

    #[test]
    fn an_unknown_field_is_an_error_with_a_position() {
        let text = format!("{MINIMAL}spec:\n  membres: 3\n");
        let e = parse_str(&text, "t.yaml").unwrap_err().to_string();
        assert!(e.contains("t.yaml:6"), "{e}");
        assert!(e.contains("membres"), "{e}");
    }

    #[test]
    fn zero_members_and_a_tiny_quota_are_refused_at_their_lines() {
        let text = format!("{MINIMAL}spec:\n  members: 0\n  quotaBackendBytes: 10\n");
        let e = parse_str(&text, "t.yaml").unwrap_err().to_string();
        assert!(e.contains("t.yaml:6:") && e.contains("spec.members"), "{e}");
        assert!(e.contains("t.yaml:7:") && e.contains("1 MiB"), "{e}");
    }
}
