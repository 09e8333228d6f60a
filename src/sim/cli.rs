//! Command lines of the simulator binary. The program is chosen by the basename of
//! `argv[0]` (`pd-server`, `tikv-server`; the image hard-links the binary under both
//! names) or by a subcommand (`tikv-sim pd ...`, `tikv-sim tikv ...`). Flags follow the
//! real binaries (Go-style `-flag`/`--flag`, `=value` or separate value); unknown flags
//! are rejected with exit code 2 like the real ones.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::pd::{start_pd, PdConfig};
use super::tikv::{start_tikv, TikvConfig};
use super::wire::{self, LogSink, TomlValue};

/// A command-line problem (exit code 2).
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub(crate) struct CliError(pub String);

/// What to run.
#[derive(Debug)]
pub(crate) enum Command {
    /// pd-server.
    Pd(PdConfig),
    /// tikv-server.
    Tikv(TikvConfig),
    /// `--version` output.
    Version(String),
}

struct Args {
    items: Vec<String>,
    pos: usize,
}

impl Args {
    /// The next flag as (name without dashes, inline value).
    fn next_flag(&mut self) -> Option<Result<(String, Option<String>), CliError>> {
        let a = self.items.get(self.pos)?.clone();
        self.pos += 1;
        if !a.starts_with('-') || a == "-" {
            return Some(Err(CliError(format!("unexpected argument {a:?}"))));
        }
        let body = a.trim_start_matches('-');
        Some(Ok(match body.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        }))
    }
    fn value(&mut self, flag: &str, inline: Option<String>) -> Result<String, CliError> {
        if let Some(v) = inline {
            return Ok(v);
        }
        let v = self
            .items
            .get(self.pos)
            .cloned()
            .ok_or_else(|| CliError(format!("flag needs an argument: -{flag}")))?;
        self.pos += 1;
        Ok(v)
    }
}

fn env_f64(k: &str) -> Option<f64> {
    std::env::var(k).ok().and_then(|v| v.parse().ok())
}
fn env_u64(k: &str) -> Option<u64> {
    std::env::var(k).ok().and_then(|v| v.parse().ok())
}

fn log_sink(file: &Option<String>) -> LogSink {
    match file {
        Some(f) if !f.is_empty() => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(f)
        {
            Ok(h) => LogSink::File(Arc::new(parking_lot::Mutex::new(h))),
            Err(_) => LogSink::Stderr,
        },
        _ => LogSink::Stderr,
    }
}

fn read_config(path: &str) -> Result<BTreeMap<String, TomlValue>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError(format!("cannot read config {path}: {e}")))?;
    wire::parse_toml(path, &text).map_err(|e| CliError(e.to_string()))
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses a pd-server command line (without argv[0]).
pub(crate) fn parse_pd(argv: &[String]) -> Result<Command, CliError> {
    let mut cfg = PdConfig::new("pd");
    cfg.time_factor = env_f64("TIKV_SIM_TIME_FACTOR").unwrap_or(1.0);
    cfg.seed = env_u64("TIKV_SIM_SEED").unwrap_or(0);
    cfg.initial_regions = env_u64("TIKV_SIM_INITIAL_REGIONS").unwrap_or(24);
    let mut args = Args {
        items: argv.to_vec(),
        pos: 0,
    };
    let mut log_file = None;
    let mut name_set = false;
    let (mut stores, mut regions, mut down) = (0u64, 0u64, 1u64);
    while let Some(f) = args.next_flag() {
        let (flag, inline) = f?;
        match flag.as_str() {
            "name" => {
                cfg.name = args.value(&flag, inline)?;
                name_set = true;
            }
            "data-dir" => cfg.data_dir = Some(PathBuf::from(args.value(&flag, inline)?)),
            "client-urls" => cfg.client_urls = split_list(&args.value(&flag, inline)?),
            "advertise-client-urls" => cfg.advertise_client_urls = split_list(&args.value(&flag, inline)?),
            "peer-urls" => cfg.peer_urls = split_list(&args.value(&flag, inline)?),
            "advertise-peer-urls" => cfg.advertise_peer_urls = split_list(&args.value(&flag, inline)?),
            "initial-cluster" => {
                let v = args.value(&flag, inline)?;
                cfg.initial_cluster = split_list(&v)
                    .into_iter()
                    .map(|p| p.split_once('=').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| CliError(format!("invalid --initial-cluster entry {p:?}"))))
                    .collect::<Result<_, _>>()?;
            }
            "join" => cfg.join = split_list(&args.value(&flag, inline)?),
            "config" => cfg.overrides = read_config(&args.value(&flag, inline)?)?,
            "L" | "log-level" => {
                args.value(&flag, inline)?;
            }
            "log-file" => log_file = Some(args.value(&flag, inline)?),
            "metrics-addr" | "cacert" | "cert" | "key" | "initial-cluster-state" | "initial-cluster-token" => {
                args.value(&flag, inline)?;
            }
            "force-new-cluster" | "config-check" => {}
            "V" | "version" => {
                return Ok(Command::Version(format!(
                    "Release Version: {}\nEdition: Community\nGit Commit Hash: {}\nGit Branch: HEAD\nUTC Build Time:  2026-06-17 01:52:10",
                    super::pd::PD_VERSION,
                    super::pd::PD_GIT_HASH
                )))
            }
            "sim-time-factor" => cfg.time_factor = args.value(&flag, inline)?.parse().map_err(|_| CliError("invalid --sim-time-factor".into()))?,
            "sim-seed" => cfg.seed = args.value(&flag, inline)?.parse().map_err(|_| CliError("invalid --sim-seed".into()))?,
            "sim-initial-regions" => cfg.initial_regions = args.value(&flag, inline)?.parse().map_err(|_| CliError("invalid --sim-initial-regions".into()))?,
            "sim-stores" => stores = args.value(&flag, inline)?.parse().map_err(|_| CliError("invalid --sim-stores".into()))?,
            "sim-regions" => regions = args.value(&flag, inline)?.parse().map_err(|_| CliError("invalid --sim-regions".into()))?,
            "sim-down-stores" => down = args.value(&flag, inline)?.parse().map_err(|_| CliError("invalid --sim-down-stores".into()))?,
            other => return Err(CliError(format!("flag provided but not defined: -{other}"))),
        }
    }
    if !cfg.initial_cluster.is_empty() && !cfg.join.is_empty() {
        return Err(CliError(
            "-initial-cluster and -join can not be provided at the same time".into(),
        ));
    }
    if !name_set {
        cfg.name = "pd".into();
    }
    if stores > 0 {
        cfg.scale = Some((stores, regions.max(1), down));
    }
    cfg.log = log_sink(&log_file);
    Ok(Command::Pd(cfg))
}

/// Parses a tikv-server command line (without argv[0]).
pub(crate) fn parse_tikv(argv: &[String]) -> Result<Command, CliError> {
    let mut cfg = TikvConfig::new(&[]);
    cfg.time_factor = env_f64("TIKV_SIM_TIME_FACTOR").unwrap_or(1.0);
    cfg.seed = env_u64("TIKV_SIM_SEED").unwrap_or(0);
    let mut args = Args {
        items: argv.to_vec(),
        pos: 0,
    };
    let mut log_file = None;
    while let Some(f) = args.next_flag() {
        let (flag, inline) = f?;
        match flag.as_str() {
            "A" | "addr" => cfg.addr = args.value(&flag, inline)?,
            "advertise-addr" => cfg.advertise_addr = Some(args.value(&flag, inline)?),
            "status-addr" => cfg.status_addr = args.value(&flag, inline)?,
            "advertise-status-addr" => cfg.advertise_status_addr = Some(args.value(&flag, inline)?),
            "s" | "data-dir" | "store" => cfg.data_dir = Some(PathBuf::from(args.value(&flag, inline)?)),
            "pd-endpoints" | "pd" | "pd-endpoint" => cfg.pd_endpoints = split_list(&args.value(&flag, inline)?),
            "C" | "config" => cfg.overrides = read_config(&args.value(&flag, inline)?)?,
            "labels" => {
                let v = args.value(&flag, inline)?;
                cfg.labels = split_list(&v)
                    .into_iter()
                    .map(|p| p.split_once('=').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| CliError(format!("invalid label {p:?}"))))
                    .collect::<Result<_, _>>()?;
            }
            "L" | "log-level" | "log" => {
                args.value(&flag, inline)?;
            }
            "f" | "log-file" => log_file = Some(args.value(&flag, inline)?),
            "capacity" => {
                let v = args.value(&flag, inline)?;
                cfg.capacity = wire::parse_size(&v).ok_or_else(|| CliError(format!("invalid --capacity {v:?}")))?;
            }
            "metrics-addr" => {
                args.value(&flag, inline)?;
            }
            "config-check" => {}
            "V" | "version" => {
                return Ok(Command::Version(format!(
                    "TiKV \nRelease Version:   {}\nEdition:           Community\nGit Commit Hash:   {}\nGit Commit Branch: HEAD",
                    super::tikv::TIKV_VERSION,
                    super::tikv::TIKV_GIT_HASH
                )))
            }
            "sim-time-factor" => cfg.time_factor = args.value(&flag, inline)?.parse().map_err(|_| CliError("invalid --sim-time-factor".into()))?,
            "sim-seed" => cfg.seed = args.value(&flag, inline)?.parse().map_err(|_| CliError("invalid --sim-seed".into()))?,
            other => return Err(CliError(format!("error: unexpected argument '--{other}' found"))),
        }
    }
    if cfg.pd_endpoints.is_empty() {
        cfg.pd_endpoints = vec!["127.0.0.1:2379".into()];
    }
    // Config-file values for addresses apply when flags did not set them.
    if let Some(v) = cfg.overrides.get("server.advertise-addr") {
        cfg.advertise_addr.get_or_insert(v.as_text());
    }
    if let Some(v) = cfg.overrides.get("server.advertise-status-addr") {
        cfg.advertise_status_addr.get_or_insert(v.as_text());
    }
    if cfg.advertise_addr.is_none() && cfg.addr.starts_with("0.0.0.0") {
        return Err(CliError(
            "invalid advertise-addr: \"\"; the addr 0.0.0.0 needs --advertise-addr".into(),
        ));
    }
    cfg.log = log_sink(&log_file);
    Ok(Command::Tikv(cfg))
}

/// Chooses the program from argv[0] or a subcommand and parses the rest.
pub(crate) fn parse(argv: &[String]) -> Result<Command, CliError> {
    let prog = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let rest = argv.get(1..).unwrap_or(&[]);
    match prog.as_str() {
        "pd-server" => parse_pd(rest),
        "tikv-server" => parse_tikv(rest),
        _ => match rest.first().map(String::as_str) {
            Some("pd") | Some("pd-server") => parse_pd(&rest[1..]),
            Some("tikv") | Some("tikv-server") => parse_tikv(&rest[1..]),
            _ => Err(CliError(
                "usage: tikv-sim (pd|tikv) [flags]  (or invoke as pd-server / tikv-server)".into(),
            )),
        },
    }
}

/// Runs the binary: parses `std::env::args`, runs until SIGINT/SIGTERM, returns the exit code.
pub fn main_from_env() -> i32 {
    let argv: Vec<String> = std::env::args().collect();
    let cmd = match parse(&argv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        let cancel = CancellationToken::new();
        let result = match cmd {
            Command::Version(v) => {
                println!("{v}");
                return 0;
            }
            Command::Pd(cfg) => start_pd(cfg, None, cancel.clone())
                .await
                .map(|h| Box::new(h) as Box<dyn std::any::Any + Send>),
            Command::Tikv(cfg) => start_tikv(cfg, None, cancel.clone())
                .await
                .map(|h| Box::new(h) as Box<dyn std::any::Any + Send>),
        };
        let handle = match result {
            Ok(h) => h,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        };
        wait_for_signal().await;
        cancel.cancel();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        drop(handle);
        0
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn pd_server_accepts_the_operator_command_line() {
        let c = parse(&v("/pd-server --name=pd0 --data-dir=/data/pd0 --client-urls=http://0.0.0.0:2379 --advertise-client-urls=http://pd0:2379 --peer-urls=http://0.0.0.0:2380 --advertise-peer-urls=http://pd0:2380 --initial-cluster=pd0=http://pd0:2380,pd1=http://pd1:2380 -L info --metrics-addr x")).unwrap();
        let Command::Pd(c) = c else { panic!("pd") };
        assert_eq!(c.name, "pd0");
        assert_eq!(c.initial_cluster.len(), 2);
        assert_eq!(c.advertise_client_urls, vec!["http://pd0:2379"]);
    }

    #[test]
    fn unknown_flags_are_rejected() {
        assert!(parse(&v("pd-server --bogus 1")).is_err());
        assert!(parse(&v("tikv-server --bogus 1")).is_err());
        assert!(parse(&v("tikv-sim")).is_err());
    }

    #[test]
    fn tikv_server_accepts_aliases_and_the_subcommand_form() {
        let c = parse(&v("tikv-sim tikv --addr 0.0.0.0:20160 --advertise-addr tikv0:20160 -s /var/tikv --pd pd0:2379,pd1:2379 --labels zone=z1,host=h1 --capacity 10GiB")).unwrap();
        let Command::Tikv(c) = c else { panic!("tikv") };
        assert_eq!(c.pd_endpoints.len(), 2);
        assert_eq!(c.labels[0], ("zone".to_string(), "z1".to_string()));
        assert_eq!(c.capacity, 10 << 30);
        assert!(
            parse(&v("tikv-server --addr 0.0.0.0:20160")).is_err(),
            "0.0.0.0 needs advertise-addr"
        );
    }
}
