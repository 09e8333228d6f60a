//! `operator chaos …` arguments and their execution (the lead wires them into the CLI).
//!
//! By default an inject command holds the experiment: it waits out `--duration`, then
//! reverts (Ctrl-C reverts early). If it dies instead, the holder check in
//! [`Chaos::recover`] reverts the experiment at the operator's next tick or the next
//! chaos command. `--detach` returns at once and leaves the revert to the operator's
//! reverter loop or to `operator chaos revert`. Every command first reverts what has
//! expired, so chaos never outlives its duration by more than one command or tick.

use std::io::Write;
use std::time::{Duration, SystemTime};

use super::{Chaos, ChaosError, Experiment, Fault, RevertReport, Target};

/// Options shared by inject commands.
#[derive(Debug, Clone, clap::Args)]
pub struct InjectOptions {
    /// How long the fault lasts.
    #[arg(long, default_value = "60s")]
    pub duration: humantime::Duration,
    /// Return at once; the operator's reverter (or `chaos revert`) undoes the fault.
    #[arg(long)]
    pub detach: bool,
}

/// `operator chaos`.
#[derive(Debug, Clone, clap::Args)]
pub struct ChaosArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ChaosCommand,
}

/// Chaos subcommands. TARGET is a member (`tikv-0`), or `container:<name>`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ChaosCommand {
    /// SIGKILL a member; the revert leaves it to the failure policy unless
    /// --restart-on-revert.
    Kill {
        /// Member or container.
        target: String,
        /// Start the container again when the experiment ends.
        #[arg(long)]
        restart_on_revert: bool,
        #[command(flatten)]
        options: InjectOptions,
    },
    /// Stop a member (revert: start it).
    Stop {
        /// Member or container.
        target: String,
        /// Time between SIGTERM and SIGKILL.
        #[arg(long, default_value = "10s")]
        grace: humantime::Duration,
        #[command(flatten)]
        options: InjectOptions,
    },
    /// Freeze a member with the cgroup freezer (revert: thaw).
    Pause {
        /// Member or container.
        target: String,
        #[command(flatten)]
        options: InjectOptions,
    },
    /// Restart a member (nothing to revert).
    Restart {
        /// Member or container.
        target: String,
    },
    /// Disconnect a member from the cluster network (revert: reconnect with its aliases).
    Disconnect {
        /// Member or container.
        target: String,
        #[command(flatten)]
        options: InjectOptions,
    },
    /// Members in --a cannot reach members in --b, and the reverse.
    Partition {
        /// One side (comma-separated members).
        #[arg(long, value_delimiter = ',', required = true)]
        a: Vec<String>,
        /// The other side.
        #[arg(long, value_delimiter = ',', required = true)]
        b: Vec<String>,
        #[command(flatten)]
        options: InjectOptions,
    },
    /// Delay egress packets (needs the netem qdisc in the kernel).
    Latency {
        /// Member or container.
        target: String,
        /// Added delay.
        #[arg(long)]
        delay: humantime::Duration,
        /// Jitter.
        #[arg(long, default_value = "0ms")]
        jitter: humantime::Duration,
        #[command(flatten)]
        options: InjectOptions,
    },
    /// Drop a share of packets in both directions.
    Loss {
        /// Member or container.
        target: String,
        /// Drop probability in (0, 1].
        #[arg(long)]
        probability: f64,
        #[command(flatten)]
        options: InjectOptions,
    },
    /// Limit egress bandwidth (tc tbf).
    Bandwidth {
        /// Member or container.
        target: String,
        /// Rate (`1mbit`).
        #[arg(long)]
        rate: String,
        /// Bucket size.
        #[arg(long, default_value = "32kbit")]
        burst: String,
        /// Queueing latency bound.
        #[arg(long, default_value = "400ms")]
        latency: String,
        #[command(flatten)]
        options: InjectOptions,
    },
    /// Fill a member's data volume to a ratio.
    DiskFill {
        /// Member or container.
        target: String,
        /// Fill ratio in (0, 1).
        #[arg(long)]
        ratio: f64,
        #[command(flatten)]
        options: InjectOptions,
    },
    /// Slow a member's disk: a per-operation delay on a simulated TiKV (--delay), or a
    /// blkio write throttle on its data volume's disk for a real process (--write-iops,
    /// --write-bps; cgroup v1 hosts).
    SlowDisk {
        /// Member or container.
        target: String,
        /// Added latency per disk operation (simulated TiKV).
        #[arg(long, required_unless_present_any = ["write_iops", "write_bps"], conflicts_with_all = ["write_iops", "write_bps"])]
        delay: Option<humantime::Duration>,
        /// Cap on write operations per second (blkio throttle).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        write_iops: Option<u64>,
        /// Cap on written bytes per second (blkio throttle).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        write_bps: Option<u64>,
        #[command(flatten)]
        options: InjectOptions,
    },
    /// Saturate a member's CPU.
    Cpu {
        /// Member or container.
        target: String,
        /// Saturation in (0, 1].
        #[arg(long)]
        ratio: f64,
        #[command(flatten)]
        options: InjectOptions,
    },
    /// Aim a hot workload at a key range (simulated PD).
    HotRange {
        /// PD member to ask (default: any running PD).
        #[arg(long)]
        pd: Option<String>,
        /// Start key.
        #[arg(long)]
        start_key: String,
        /// End key (empty: to the end).
        #[arg(long, default_value = "")]
        end_key: String,
        /// Requests per second.
        #[arg(long, default_value_t = 5000)]
        qps: u64,
        #[command(flatten)]
        options: InjectOptions,
    },
    /// List experiments (active ones unless --all).
    List {
        /// Include reverted and failed experiments.
        #[arg(long)]
        all: bool,
    },
    /// Revert one experiment, or all active ones.
    Revert {
        /// Experiment id.
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        /// Revert every active experiment.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

fn ms(d: humantime::Duration) -> u64 {
    u64::try_from(Duration::from(d).as_millis()).unwrap_or(u64::MAX)
}

fn members(names: &[String]) -> Vec<Target> {
    names
        .iter()
        .map(|n| {
            n.parse()
                .unwrap_or_else(|e: std::convert::Infallible| match e {})
        })
        .collect()
}

/// The target, fault and options an inject command asks for; `None` for list/revert.
pub(crate) fn inject_request(
    command: &ChaosCommand,
) -> Option<(Target, Fault, Option<InjectOptions>)> {
    let t = |s: &String| members(std::slice::from_ref(s)).remove(0);
    Some(match command {
        ChaosCommand::Kill {
            target,
            restart_on_revert,
            options,
        } => (
            t(target),
            Fault::Kill {
                restart_on_revert: *restart_on_revert,
            },
            Some(options.clone()),
        ),
        ChaosCommand::Stop {
            target,
            grace,
            options,
        } => (
            t(target),
            Fault::Stop {
                grace_secs: Duration::from(*grace).as_secs(),
            },
            Some(options.clone()),
        ),
        ChaosCommand::Pause { target, options } => (t(target), Fault::Pause, Some(options.clone())),
        ChaosCommand::Restart { target } => (t(target), Fault::Restart, None),
        ChaosCommand::Disconnect { target, options } => {
            (t(target), Fault::Disconnect, Some(options.clone()))
        }
        ChaosCommand::Partition { a, b, options } => (
            Target::Cluster,
            Fault::Partition {
                a: members(a),
                b: members(b),
            },
            Some(options.clone()),
        ),
        ChaosCommand::Latency {
            target,
            delay,
            jitter,
            options,
        } => (
            t(target),
            Fault::Latency {
                delay_ms: ms(*delay),
                jitter_ms: ms(*jitter),
            },
            Some(options.clone()),
        ),
        ChaosCommand::Loss {
            target,
            probability,
            options,
        } => (
            t(target),
            Fault::Loss {
                probability: *probability,
            },
            Some(options.clone()),
        ),
        ChaosCommand::Bandwidth {
            target,
            rate,
            burst,
            latency,
            options,
        } => (
            t(target),
            Fault::Bandwidth {
                rate: rate.clone(),
                burst: burst.clone(),
                latency: latency.clone(),
            },
            Some(options.clone()),
        ),
        ChaosCommand::DiskFill {
            target,
            ratio,
            options,
        } => (
            t(target),
            Fault::DiskFill { ratio: *ratio },
            Some(options.clone()),
        ),
        ChaosCommand::SlowDisk {
            target,
            delay,
            write_iops,
            write_bps,
            options,
        } => (
            t(target),
            match delay {
                Some(delay) => Fault::SlowDisk {
                    delay_ms: ms(*delay),
                },
                None => Fault::DiskThrottle {
                    write_iops: *write_iops,
                    write_bps: *write_bps,
                },
            },
            Some(options.clone()),
        ),
        ChaosCommand::Cpu {
            target,
            ratio,
            options,
        } => (
            t(target),
            Fault::CpuSaturation { ratio: *ratio },
            Some(options.clone()),
        ),
        ChaosCommand::HotRange {
            pd,
            start_key,
            end_key,
            qps,
            options,
        } => (
            pd.as_ref().map_or(Target::Cluster, t),
            Fault::HotRange {
                start_key: start_key.clone(),
                end_key: end_key.clone(),
                qps: *qps,
            },
            Some(options.clone()),
        ),
        ChaosCommand::List { .. } | ChaosCommand::Revert { .. } => return None,
    })
}

fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// One line describing an experiment.
pub(crate) fn describe(e: &Experiment) -> String {
    let mut line = format!(
        "{id}  {state:<8}  {fault:<14}  {target}  [{containers}]  {start} → {end}",
        id = e.id,
        state = format!("{:?}", e.state).to_lowercase(),
        fault = e.fault.name(),
        target = e.target,
        containers = e.containers.join(","),
        start = time(e.started_at),
        end = time(e.planned_end),
    );
    for note in &e.notes {
        line.push_str(&format!("\n    {note}"));
    }
    if let Some(error) = &e.error {
        line.push_str(&format!("\n    error: {error}"));
    }
    line
}

fn print_report(out: &mut dyn Write, what: &str, report: &RevertReport) -> std::io::Result<()> {
    for e in &report.reverted {
        writeln!(out, "{what}: {}", describe(e))?;
    }
    for (id, e) in &report.failed {
        writeln!(out, "revert of {id} failed (will be retried): {e}")?;
    }
    Ok(())
}

/// Errors of a chaos command.
#[derive(Debug, thiserror::Error)]
pub enum ChaosCliError {
    /// The chaos engine failed.
    #[error(transparent)]
    Chaos(#[from] ChaosError),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// Some reverts failed.
    #[error("{0} experiment(s) could not be reverted; see above")]
    RevertsFailed(usize),
}

/// Runs one `operator chaos` command, writing human-readable lines to `out`.
///
/// # Errors
///
/// Injection or revert failures, and output errors.
pub(crate) async fn run(
    args: ChaosArgs,
    chaos: &Chaos,
    out: &mut (dyn Write + Send),
) -> Result<(), ChaosCliError> {
    let expired = chaos.recover(SystemTime::now()).await;
    print_report(out, "reverted (expired)", &expired)?;
    match &args.command {
        ChaosCommand::List { all } => {
            for e in chaos.list()?.iter().filter(|e| *all || e.is_active()) {
                writeln!(out, "{}", describe(e))?;
            }
            Ok(())
        }
        ChaosCommand::Revert { id: Some(id), .. } => {
            let e = chaos.revert(id).await?;
            writeln!(out, "reverted: {}", describe(&e))?;
            Ok(())
        }
        ChaosCommand::Revert { id: None, .. } => {
            let report = chaos.revert_all().await;
            print_report(out, "reverted", &report)?;
            if report.failed.is_empty() {
                Ok(())
            } else {
                Err(ChaosCliError::RevertsFailed(report.failed.len()))
            }
        }
        command => {
            let (target, fault, options) =
                inject_request(command).expect("list and revert are handled above");
            let duration = options
                .as_ref()
                .map_or(Duration::ZERO, |o| Duration::from(o.duration));
            let detach = options.as_ref().is_none_or(|o| o.detach);
            let e = if detach {
                chaos.inject(&target, fault, duration).await?
            } else {
                chaos.inject_held(&target, fault, duration).await?
            };
            writeln!(out, "injected: {}", describe(&e))?;
            if !e.is_active() {
                return Ok(());
            }
            if detach {
                writeln!(
                    out,
                    "detached: the operator reverts it at {}, or run `operator chaos revert {}`",
                    time(e.planned_end),
                    e.id
                )?;
                return Ok(());
            }
            out.flush()?;
            tokio::select! {
                () = tokio::time::sleep(duration) => {}
                _ = tokio::signal::ctrl_c() => { writeln!(out, "interrupted: reverting now")?; }
            }
            let e = chaos.revert(&e.id).await?;
            writeln!(out, "reverted: {}", describe(&e))?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        chaos: ChaosArgs,
    }

    #[test]
    fn command_lines_become_faults() {
        let cli = Cli::parse_from([
            "op",
            "latency",
            "tikv-0",
            "--delay",
            "100ms",
            "--duration",
            "5s",
        ]);
        let (target, fault, options) = inject_request(&cli.chaos.command).unwrap();
        assert_eq!(target, Target::Member("tikv-0".into()));
        assert_eq!(
            fault,
            Fault::Latency {
                delay_ms: 100,
                jitter_ms: 0
            }
        );
        assert_eq!(
            Duration::from(options.unwrap().duration),
            Duration::from_secs(5)
        );

        let cli = Cli::parse_from([
            "op",
            "partition",
            "--a",
            "pd-0,tikv-0",
            "--b",
            "tikv-1",
            "--detach",
        ]);
        let (target, fault, options) = inject_request(&cli.chaos.command).unwrap();
        assert_eq!(target, Target::Cluster);
        assert_eq!(
            fault,
            Fault::Partition {
                a: vec![
                    Target::Member("pd-0".into()),
                    Target::Member("tikv-0".into())
                ],
                b: vec![Target::Member("tikv-1".into())],
            }
        );
        assert!(options.unwrap().detach);

        let cli = Cli::parse_from(["op", "slow-disk", "etcd-1", "--write-iops", "20"]);
        let (_, fault, _) = inject_request(&cli.chaos.command).unwrap();
        assert_eq!(
            fault,
            Fault::DiskThrottle {
                write_iops: Some(20),
                write_bps: None
            }
        );
        let cli = Cli::parse_from(["op", "slow-disk", "tikv-1", "--delay", "20ms"]);
        let (_, fault, _) = inject_request(&cli.chaos.command).unwrap();
        assert_eq!(fault, Fault::SlowDisk { delay_ms: 20 });
        for bad in [
            &["op", "slow-disk", "etcd-1"][..],
            &[
                "op",
                "slow-disk",
                "etcd-1",
                "--delay",
                "5ms",
                "--write-iops",
                "9",
            ],
            &["op", "slow-disk", "etcd-1", "--write-bps", "0"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }

        let cli = Cli::parse_from(["op", "revert", "--all"]);
        assert!(inject_request(&cli.chaos.command).is_none());
        assert!(Cli::try_parse_from(["op", "revert"]).is_err());
        assert!(Cli::try_parse_from(["op", "revert", "abc", "--all"]).is_err());
    }

    #[tokio::test]
    async fn inject_list_and_revert_all_through_the_command_line() {
        use crate::runtime::fake::FakeRuntime;
        use crate::runtime::{
            labels, ContainerRuntime, ContainerSpec, ContainerStatus, NetworkSpec,
        };
        let fake = FakeRuntime::new();
        fake.create_network(&NetworkSpec {
            name: "demo-net".into(),
            labels: labels::ownership("demo"),
        })
        .await
        .unwrap();
        let mut l = labels::ownership("demo");
        l.insert(labels::MEMBER.into(), "tikv-0".into());
        fake.create_and_start(&ContainerSpec {
            name: "demo-tikv-0".into(),
            image: "real:test".into(),
            labels: l,
            network: "demo-net".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let chaos = Chaos::new(
            std::sync::Arc::new(fake.clone()),
            "demo",
            "demo-net",
            dir.path(),
        )
        .unwrap();
        let status = || fake.snapshot().containers["demo-tikv-0"].status;
        let go = |line: &[&str]| {
            Cli::parse_from(std::iter::once("op").chain(line.iter().copied())).chaos
        };

        let mut out = Vec::new();
        run(
            go(&["pause", "tikv-0", "--detach", "--duration", "1h"]),
            &chaos,
            &mut out,
        )
        .await
        .unwrap();
        assert_eq!(status(), ContainerStatus::Paused);
        let text = String::from_utf8(std::mem::take(&mut out)).unwrap();
        assert!(
            text.contains("injected:") && text.contains("detached:"),
            "{text}"
        );

        run(go(&["list"]), &chaos, &mut out).await.unwrap();
        let text = String::from_utf8(std::mem::take(&mut out)).unwrap();
        assert!(
            text.contains("active") && text.contains("pause") && text.contains("demo-tikv-0"),
            "{text}"
        );

        run(go(&["revert", "--all"]), &chaos, &mut out)
            .await
            .unwrap();
        assert_eq!(status(), ContainerStatus::Running);
        let text = String::from_utf8(std::mem::take(&mut out)).unwrap();
        assert!(text.starts_with("reverted: "), "{text}");
        run(go(&["list"]), &chaos, &mut out).await.unwrap();
        let text = String::from_utf8(std::mem::take(&mut out)).unwrap();
        assert!(text.is_empty(), "nothing is active any more: {text}");

        // Held: waits out the duration, then reverts by itself.
        run(
            go(&["disconnect", "tikv-0", "--duration", "50ms"]),
            &chaos,
            &mut out,
        )
        .await
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("reverted:"), "{text}");
        assert!(fake.snapshot().containers["demo-tikv-0"]
            .networks
            .contains_key("demo-net"));
        assert!(chaos.list().unwrap().iter().all(|e| !e.is_active()));
    }
}
