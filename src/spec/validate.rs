//! Semantic checks that serde's types cannot express: replica limits, names, image
//! references, durations, ports. Each finding carries the dotted path of the offending
//! field so the caller can point at its line and column.

use super::types::{ClusterSpec, API_VERSION, KIND};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The spec is rejected.
    Error,
    /// The spec is accepted; the user should know.
    Warning,
}

/// One problem found in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Dotted path of the field (`spec.tikv.replicas`).
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

/// What the validator knows about the cluster the spec is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationContext {
    /// True when no container of this cluster exists yet: a new cluster must start
    /// with at least 3 TiKV stores so that PD's default 3 replicas fit.
    pub new_cluster: bool,
}

impl Default for ValidationContext {
    fn default() -> Self {
        Self { new_cluster: true }
    }
}

/// The largest replica count accepted per component (containers on one Docker host).
pub const MAX_REPLICAS: u32 = 64;

/// Checks a deserialized spec. Returns every finding, errors and warnings.
pub fn validate(spec: &ClusterSpec, ctx: ValidationContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut err = |path: &str, message: String| {
        out.push(Finding {
            severity: Severity::Error,
            path: path.into(),
            message,
        })
    };

    if spec.api_version != API_VERSION {
        err(
            "apiVersion",
            format!(
                "unsupported apiVersion {:?}; expected {API_VERSION:?}",
                spec.api_version
            ),
        );
    }
    if spec.kind != KIND {
        err(
            "kind",
            format!("unsupported kind {:?}; expected {KIND:?}", spec.kind),
        );
    }
    if let Err(e) = check_name(&spec.metadata.name) {
        err("metadata.name", e);
    }
    if let Some(net) = &spec.spec.network {
        if let Err(e) = check_docker_name(net) {
            err("spec.network", e);
        }
    }
    for (k, _) in spec.metadata.labels.iter() {
        if crate::runtime::labels::RESERVED.contains(&k.as_str()) {
            err(
                &format!("metadata.labels.{k}"),
                format!("label {k:?} is set by the operator itself; expected a label of your own"),
            );
        }
    }

    let pd = &spec.spec.pd;
    if pd.replicas < 1 || pd.replicas > MAX_REPLICAS {
        err(
            "spec.pd.replicas",
            format!(
                "{} is out of range; expected a whole number from 1 to {MAX_REPLICAS}",
                pd.replicas
            ),
        );
    }
    let tikv = &spec.spec.tikv;
    let min_tikv = if ctx.new_cluster { 3 } else { 1 };
    if tikv.replicas < min_tikv || tikv.replicas > MAX_REPLICAS {
        let why = if ctx.new_cluster {
            " (a new cluster needs at least 3 stores for PD's 3 replicas)"
        } else {
            ""
        };
        err(
            "spec.tikv.replicas",
            format!(
                "{} is out of range; expected a whole number from {min_tikv} to {MAX_REPLICAS}{why}",
                tikv.replicas
            ),
        );
    }
    for (path, env) in [("spec.pd.env", &pd.env), ("spec.tikv.env", &tikv.env)] {
        for k in env.keys() {
            if k.is_empty() || k.contains('=') || k.chars().any(char::is_whitespace) {
                err(
                    &format!("{path}.{k}"),
                    format!(
                        "invalid environment variable name {}; expected a name without '=' or spaces",
                        super::schema::quote(k)
                    ),
                );
            }
        }
    }

    let policy = &spec.spec.failure_policy;
    if policy.window.get().is_zero() {
        err(
            "spec.failurePolicy.window",
            "0 is too short; expected a positive duration".into(),
        );
    }
    let rec = &spec.spec.reconcile;
    if rec.interval.get() < std::time::Duration::from_millis(100) {
        err(
            "spec.reconcile.interval",
            format!(
                "{} is too short; expected at least 100ms",
                humantime::format_duration(rec.interval.get())
            ),
        );
    }
    if rec.max_backoff.get() < std::time::Duration::from_millis(500) {
        err(
            "spec.reconcile.maxBackoff",
            format!(
                "{} is too short; expected at least 500ms (the first backoff step)",
                humantime::format_duration(rec.max_backoff.get())
            ),
        );
    }
    let ops = &spec.spec.operations;
    for (path, d) in [
        (
            "spec.operations.evictLeaderTimeout",
            ops.evict_leader_timeout,
        ),
        (
            "spec.operations.leaderReturnTimeout",
            ops.leader_return_timeout,
        ),
        ("spec.operations.pdReadyTimeout", ops.pd_ready_timeout),
    ] {
        if d.get().is_zero() {
            err(path, "0 is too short; expected a positive duration".into());
        }
    }

    let mut ports = Vec::new();
    for (path, p) in [
        ("spec.pd.hostPort", pd.host_port),
        (
            "spec.monitoring.prometheus.hostPort",
            spec.spec.monitoring.prometheus.host_port,
        ),
        (
            "spec.monitoring.grafana.hostPort",
            spec.spec.monitoring.grafana.host_port,
        ),
    ] {
        if let Some(p) = p {
            if p == 0 {
                err(
                    path,
                    "0 is out of range; expected a port from 1 to 65535".into(),
                );
            } else if ports.contains(&p) {
                err(
                    path,
                    format!(
                        "port {p} is already used by another hostPort; expected distinct ports"
                    ),
                );
            }
            ports.push(p);
        }
    }

    if pd.replicas >= 2 && pd.replicas % 2 == 0 {
        out.push(Finding {
            severity: Severity::Warning,
            path: "spec.pd.replicas".into(),
            message: even_members(pd.replicas),
        });
    }
    out
}

/// The warning for an even PD count, in plain words: `n` members tolerate as many
/// failures as `n - 1` do.
fn even_members(n: u32) -> String {
    let below = n - 1;
    let tolerated = match (n - 1) / 2 {
        0 => "none".to_string(),
        1 => "1 failure".to_string(),
        f => format!("{f} failures"),
    };
    let members = if below == 1 { "member" } else { "members" };
    format!(
        "{n} is an even count: {n} members tolerate as many failures as {below} {members} would ({tolerated}); an odd count is recommended"
    )
}

/// A cluster name: 1–40 characters, lowercase letters, digits and `-`, starting with a letter.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid name {}; expected 1-40 lowercase letters, digits or '-', starting with a letter and not ending with '-'",
            super::schema::quote(name)
        ))
    }
}

fn check_docker_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid network name {}; expected letters, digits, '_', '.' or '-', starting with a letter or digit",
            super::schema::quote(name)
        ))
    }
}

/// Checks an image reference the way Docker's reference grammar does:
/// `[host[:port]/]path[:tag][@algo:hex]` with lowercase path components.
pub fn check_image_ref(s: &str) -> Result<(), String> {
    let expected = "expected an image reference such as pingcap/tikv:v8.5.7 or registry:5000/repo/name@sha256:<64 hex>";
    let bad = |why: &str| {
        Err(format!(
            "invalid image reference {}: {why}; {expected}",
            super::schema::quote(s)
        ))
    };
    if s.is_empty() {
        return bad("empty");
    }
    if s.len() > 255 {
        return bad("longer than 255 characters");
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        let Some((algo, hex)) = d.split_once(':') else {
            return bad("digest without algorithm");
        };
        if algo.is_empty() || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return bad("malformed digest");
        }
    }
    // The tag is after the last ':' that follows the last '/'.
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return bad("malformed tag");
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
    {
        let host = parts.remove(0);
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
        {
            return bad("malformed registry host");
        }
    }
    for part in parts {
        let ok = !part.is_empty()
            && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && part.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if !ok {
            return bad("repository path must be lowercase letters, digits and separators");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_image_references_are_accepted() {
        for s in [
            "pingcap/tikv:v8.5.7",
            "pingcap/pd",
            "tikv-sim:local",
            "localhost:5000/team/tikv:v1",
            "registry.example.com/pingcap/pd:v8.5.7",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(check_image_ref(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn malformed_image_references_are_rejected() {
        for s in [
            "",
            "PingCAP/tikv",
            "pingcap/tikv:",
            "pingcap//tikv",
            "a b",
            "repo@sha256:zz",
            "repo:tag:tag",
        ] {
            assert!(check_image_ref(s).is_err(), "{s}");
        }
    }

    #[test]
    fn names_must_be_dns_label_like() {
        assert!(check_name("demo-1").is_ok());
        for bad in ["", "Demo", "1demo", "demo-", "de_mo", &"a".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
