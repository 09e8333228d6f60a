//! Where a cluster's state lives, and the flags every command shares to find it.
//!
//! The operator's state (ticket database, decision log, chaos experiments) lives in
//! **one directory per cluster: `$XDG_STATE_HOME/operator/<cluster>`** (by default
//! `~/.local/state/operator/<cluster>`), whatever directory a command runs from, as
//! TiUP keeps `~/.tiup/storage/cluster/clusters/<name>`. Beside the spec was the other
//! candidate; it was rejected because specs often sit in read-only places (a mounted
//! ConfigMap, `/etc/operator`, a git checkout) and because two specs naming the same
//! cluster must share one ticket history. `--state-dir` (or `OPERATOR_STATE_DIR`)
//! overrides it, as the compose deployment does with its `/data` volume.
//!
//! Which cluster: the name in `-f cluster.yaml`, else `--cluster NAME`, else the only
//! cluster with state on this machine. The directory is created only by commands that
//! write (`run`, `chaos` injections, `diagnose`); read-only commands never create it.
//! `run` records the cluster's name and network in `cluster.json` there, so commands
//! that need them (`chaos list`) work without `-f`.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

use super::CliError;
use crate::spec::{self, ValidationContext};

/// The default address of the running controller's API.
pub(crate) const DEFAULT_API: &str = "http://127.0.0.1:9464";

/// The flags that say where a cluster's state and running controller are.
#[derive(Debug, Args, Clone, Default)]
pub struct StateArgs {
    /// Which cluster (its name picks the state directory), by its cluster.yaml (`-` reads
    /// standard input).
    #[arg(short = 'f', long = "file", global = true)]
    pub file: Option<PathBuf>,
    /// Which cluster, by name (instead of -f).
    #[arg(long, global = true, conflicts_with = "file")]
    pub cluster: Option<String>,
    /// The state directory [default: $XDG_STATE_HOME/operator/<cluster>, i.e.
    /// ~/.local/state/operator/<cluster>].
    #[arg(long, env = "OPERATOR_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// The running controller's API (http:// or https://).
    #[arg(long, env = "OPERATOR_API", default_value = DEFAULT_API, global = true, value_parser = parse_http_url)]
    pub api: String,
}

/// A resolved state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateDir {
    /// The directory.
    pub path: PathBuf,
    /// The cluster, when known.
    pub cluster: Option<String>,
}

impl StateDir {
    /// The ticket database.
    pub(crate) fn tickets(&self) -> PathBuf {
        self.path.join("tickets")
    }
    /// True when the directory exists (something wrote state there).
    pub(crate) fn exists(&self) -> bool {
        self.path.is_dir()
    }
    /// What `cluster.json` says, when the directory has one.
    pub(crate) fn record(&self) -> Option<ClusterRecord> {
        let text = std::fs::read_to_string(self.path.join(RECORD)).ok()?;
        serde_json::from_str(&text).ok()
    }
    /// Creates the directory (commands that write) and records the cluster.
    pub(crate) fn create(&self, record: &ClusterRecord) -> Result<(), CliError> {
        std::fs::create_dir_all(&self.path).map_err(|source| CliError::Io {
            context: format!("cannot create the state directory {}", self.path.display()),
            source,
        })?;
        let text = serde_json::to_string_pretty(record).unwrap_or_default();
        std::fs::write(self.path.join(RECORD), text).map_err(|source| CliError::Io {
            context: format!("cannot write {}", self.path.join(RECORD).display()),
            source,
        })
    }
    /// The error a read-only command gives when there is no state yet.
    pub(crate) fn missing(&self) -> CliError {
        CliError::NoState {
            path: self.path.clone(),
        }
    }
}

const RECORD: &str = "cluster.json";

/// What `run` records about its cluster in the state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClusterRecord {
    /// Cluster name.
    pub name: String,
    /// Docker network.
    pub network: String,
    /// The spec file it was started with.
    pub spec_file: String,
}

/// `$XDG_STATE_HOME/operator`, else `$HOME/.local/state/operator`.
pub(crate) fn state_root() -> Result<PathBuf, CliError> {
    root_from(
        std::env::var_os("XDG_STATE_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

fn root_from(xdg: Option<PathBuf>, home: Option<PathBuf>) -> Result<PathBuf, CliError> {
    // The XDG spec: a relative value is invalid and ignored.
    if let Some(x) = xdg.filter(|x| x.is_absolute()) {
        return Ok(x.join("operator"));
    }
    match home {
        Some(h) if !h.as_os_str().is_empty() => Ok(h.join(".local/state/operator")),
        _ => Err(CliError::Input(
            "cannot place the operator's state: neither XDG_STATE_HOME nor HOME is set; pass --state-dir DIR".into(),
        )),
    }
}

/// The state directory of `cluster` (explicit `--state-dir` wins).
pub(crate) fn for_cluster(explicit: Option<&Path>, cluster: &str) -> Result<StateDir, CliError> {
    Ok(StateDir {
        path: match explicit {
            Some(p) => p.to_path_buf(),
            None => state_root()?.join(cluster),
        },
        cluster: Some(cluster.to_string()),
    })
}

impl StateArgs {
    /// Resolves the state directory: `--state-dir`, else the cluster of `-f` or
    /// `--cluster`, else the only cluster with state here.
    pub(crate) fn resolve(&self) -> Result<StateDir, CliError> {
        let cluster = match (&self.file, &self.cluster) {
            (Some(f), _) => Some(
                spec::load_file(f, ValidationContext { new_cluster: false })?
                    .spec
                    .name()
                    .to_string(),
            ),
            (None, Some(c)) => {
                spec::check_name(c).map_err(|e| CliError::Input(format!("--cluster: {e}")))?;
                Some(c.clone())
            }
            (None, None) => None,
        };
        if let Some(dir) = &self.state_dir {
            let mut s = StateDir {
                path: dir.clone(),
                cluster,
            };
            if s.cluster.is_none() {
                s.cluster = s.record().map(|r| r.name);
            }
            return Ok(s);
        }
        if let Some(c) = cluster {
            return for_cluster(None, &c);
        }
        let root = state_root()?;
        let mut names: Vec<String> = std::fs::read_dir(&root)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        match names.as_slice() {
            [one] => for_cluster(None, one),
            [] => Err(CliError::Input(format!(
                "no cluster state under {}: name the cluster with -f cluster.yaml or --cluster NAME, or pass --state-dir DIR",
                root.display()
            ))),
            many => Err(CliError::Input(format!(
                "several clusters have state under {} ({}): name one with -f cluster.yaml or --cluster NAME",
                root.display(),
                many.join(", ")
            ))),
        }
    }
}

/// Accepts `http://` and `https://` URLs (a bare `host:port` means `http://host:port`).
pub(crate) fn parse_http_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    let with_scheme = if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    let (scheme, rest) = with_scheme
        .split_once("://")
        .unwrap_or(("", with_scheme.as_str()));
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Err(format!(
            "unsupported URL scheme {scheme:?}; expected http://HOST:PORT or https://HOST:PORT"
        ));
    }
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err("the URL has no host; expected http://HOST:PORT or https://HOST:PORT".into());
    }
    Ok(with_scheme.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_root_follows_xdg_and_falls_back_to_home() {
        let root = |x: Option<&str>, h: Option<&str>| {
            root_from(x.map(PathBuf::from), h.map(PathBuf::from)).map_err(|e| e.to_string())
        };
        assert_eq!(
            root(Some("/x/state"), Some("/home/u")),
            Ok(PathBuf::from("/x/state/operator"))
        );
        assert_eq!(
            root(Some("relative"), Some("/home/u")),
            Ok(PathBuf::from("/home/u/.local/state/operator"))
        );
        assert!(root(None, None).unwrap_err().contains("--state-dir"));
    }

    #[test]
    fn urls_must_be_http_or_https() {
        assert_eq!(
            parse_http_url("127.0.0.1:2379"),
            Ok("http://127.0.0.1:2379".into())
        );
        assert_eq!(
            parse_http_url("https://pd:2379/"),
            Ok("https://pd:2379".into())
        );
        assert_eq!(
            parse_http_url("ftp://pd:2379"),
            Err(
                "unsupported URL scheme \"ftp\"; expected http://HOST:PORT or https://HOST:PORT"
                    .into()
            )
        );
        assert!(parse_http_url("http://").is_err());
    }
}
