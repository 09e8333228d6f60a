//! The experiment model: what was injected where, until when, and exactly how to undo it.
//!
//! An [`Experiment`] is written to the store *before* the fault is applied, together
//! with the [`RevertStep`]s that undo it. A crash between "written" and "applied" is
//! therefore harmless: recovery runs the steps, and every step tolerates finding
//! nothing to undo. The steps are concrete (container names, iptables rule specs with
//! the experiment's comment, file paths, previous knob values), so a revert never
//! depends on re-deriving what the inject did from a spec that may have changed since.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// What a fault is aimed at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum Target {
    /// A member of the cluster by its member name (`tikv-0`, `pd-2`), or an owned
    /// container by its full name (`demo-tikv-0`).
    Member(String),
    /// An owned container by its exact Docker name.
    Container(String),
    /// The cluster as a whole (partitions between groups, workload hot spots).
    Cluster,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Member(m) => write!(f, "{m}"),
            Self::Container(c) => write!(f, "container:{c}"),
            Self::Cluster => write!(f, "cluster"),
        }
    }
}

impl std::str::FromStr for Target {
    type Err = std::convert::Infallible;
    /// `container:<name>` names a container, `cluster` the whole cluster, anything
    /// else a member.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(if let Some(name) = s.strip_prefix("container:") {
            Self::Container(name.to_string())
        } else if s == "cluster" {
            Self::Cluster
        } else {
            Self::Member(s.to_string())
        })
    }
}

/// A fault the chaos toolkit can inject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// SIGKILL the container. By default the revert does nothing: what happens next is
    /// the operator's failure policy's business (restart, replace or leave it), which is
    /// usually what the experiment is about. With `restart_on_revert` the revert starts
    /// the container again.
    Kill {
        /// Start the container again on revert.
        #[serde(default)]
        restart_on_revert: bool,
    },
    /// Stop the container (SIGTERM, SIGKILL after `grace_secs`); revert starts it.
    Stop {
        /// Seconds between SIGTERM and SIGKILL.
        grace_secs: u64,
    },
    /// Freeze the container with the cgroup freezer; revert thaws it.
    Pause,
    /// Restart the container; nothing to revert.
    Restart,
    /// Disconnect the container from the cluster network; revert reconnects it with
    /// its name and aliases, so its DNS name resolves again.
    Disconnect,
    /// Members of `a` cannot exchange packets with members of `b` (iptables DROP by
    /// peer IP in every involved member's namespace, both directions). The target is
    /// [`Target::Cluster`].
    Partition {
        /// One side.
        a: Vec<Target>,
        /// The other side.
        b: Vec<Target>,
    },
    /// Add `delay_ms` (± `jitter_ms`) to every packet leaving the container (tc netem).
    Latency {
        /// Added delay.
        delay_ms: u64,
        /// Jitter.
        #[serde(default)]
        jitter_ms: u64,
    },
    /// Drop incoming and outgoing packets with this probability (iptables statistic).
    Loss {
        /// In `(0, 1]`.
        probability: f64,
    },
    /// Limit egress bandwidth with a token bucket (tc tbf).
    Bandwidth {
        /// tc rate (`1mbit`, `500kbit`).
        rate: String,
        /// tc burst (`32kbit`).
        burst: String,
        /// tc latency (`400ms`).
        latency: String,
    },
    /// Fill the member's data volume until it is `ratio` full.
    DiskFill {
        /// Target fill ratio of the filesystem, in `(0, 1)`.
        ratio: f64,
    },
    /// Slow every disk operation by `delay_ms` (simulated TiKV only).
    SlowDisk {
        /// Added latency per disk operation.
        delay_ms: u64,
    },
    /// Cap the container's writes to its data volume's block device (blkio throttle in
    /// the container's cgroup v1, written by a helper with the host's cgroup tree):
    /// every `fsync` then waits for the capped device, as on a slow or saturated disk.
    /// At least one limit is set.
    DiskThrottle {
        /// Write operations per second.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        write_iops: Option<u64>,
        /// Write bytes per second.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        write_bps: Option<u64>,
    },
    /// Saturate the container's CPU to `ratio`.
    CpuSaturation {
        /// In `(0, 1]`.
        ratio: f64,
    },
    /// Send `qps` requests to one key range (simulated PD only). The target is a PD
    /// member or [`Target::Cluster`] (any running PD).
    HotRange {
        /// Start key (hex as PD shows it, or raw).
        start_key: String,
        /// End key (empty: to the end).
        end_key: String,
        /// Requests per second on the range.
        qps: u64,
    },
}

impl Fault {
    /// Short kebab-case name (`pause`, `disk-fill`).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Kill { .. } => "kill",
            Self::Stop { .. } => "stop",
            Self::Pause => "pause",
            Self::Restart => "restart",
            Self::Disconnect => "disconnect",
            Self::Partition { .. } => "partition",
            Self::Latency { .. } => "latency",
            Self::Loss { .. } => "loss",
            Self::Bandwidth { .. } => "bandwidth",
            Self::DiskFill { .. } => "disk-fill",
            Self::SlowDisk { .. } => "slow-disk",
            Self::DiskThrottle { .. } => "disk-throttle",
            Self::CpuSaturation { .. } => "cpu-saturation",
            Self::HotRange { .. } => "hot-range",
        }
    }

    /// Checks the parameters (ranges, tc unit syntax) before anything is touched.
    ///
    /// # Errors
    ///
    /// A message naming the bad parameter.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let unit = regex::Regex::new(r"^[0-9]+(\.[0-9]+)?[a-zA-Z]*$").expect("static regex");
        match self {
            Self::Partition { a, b } => {
                if a.is_empty() || b.is_empty() {
                    return Err("a partition needs at least one member on each side".into());
                }
                if a.iter().any(|t| b.contains(t)) {
                    return Err("a member cannot be on both sides of a partition".into());
                }
                if a.iter().chain(b).any(|t| *t == Target::Cluster) {
                    return Err("partition sides list members, not the cluster".into());
                }
            }
            Self::Loss { probability } if !(*probability > 0.0 && *probability <= 1.0) => {
                return Err(format!("loss probability {probability} is not in (0, 1]"));
            }
            Self::DiskFill { ratio } if !(*ratio > 0.0 && *ratio < 1.0) => {
                return Err(format!("disk fill ratio {ratio} is not in (0, 1)"));
            }
            Self::CpuSaturation { ratio } if !(*ratio > 0.0 && *ratio <= 1.0) => {
                return Err(format!("cpu saturation {ratio} is not in (0, 1]"));
            }
            Self::Latency { delay_ms: 0, .. } => return Err("latency of 0 ms".into()),
            Self::Bandwidth {
                rate,
                burst,
                latency,
            } => {
                for (what, value) in [("rate", rate), ("burst", burst), ("latency", latency)] {
                    if !unit.is_match(value) {
                        return Err(format!(
                            "bandwidth {what} {value:?} is not a tc quantity like 1mbit, 32kbit, 400ms"
                        ));
                    }
                }
            }
            Self::HotRange { qps: 0, .. } => return Err("hot range with 0 qps".into()),
            Self::DiskThrottle {
                write_iops,
                write_bps,
            } => {
                if write_iops.is_none() && write_bps.is_none() {
                    return Err("a disk throttle needs write IOPS, write bytes/s, or both".into());
                }
                if *write_iops == Some(0) || *write_bps == Some(0) {
                    return Err(
                        "a disk throttle of 0 would stop every write; give a rate above 0".into(),
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Lifecycle of an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExperimentState {
    /// The fault is (or may be) in effect; revert steps are pending.
    Active,
    /// Reverted (or nothing was left to revert).
    Reverted,
    /// Injection failed; whatever had been applied was reverted.
    Failed,
}

/// The process that promised to revert an experiment itself (a CLI waiting out the
/// duration). If it dies, recovery reverts the experiment at once instead of waiting
/// for the planned end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22), so a
    /// recycled pid is not mistaken for the holder.
    pub start_ticks: u64,
}

/// One concrete undo action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum RevertStep {
    /// Thaw a paused container.
    Unpause {
        /// Container name.
        container: String,
    },
    /// Start a stopped or killed container.
    Start {
        /// Container name.
        container: String,
    },
    /// Reconnect a container to a network (with its name and aliases).
    Reconnect {
        /// Container name.
        container: String,
        /// Network name.
        network: String,
    },
    /// Run commands in a helper sharing the container's network namespace. Commands
    /// that find nothing to undo (rule or qdisc already gone) count as done; a stopped
    /// target has lost its namespace, and with it the fault.
    NetnsCommands {
        /// Container whose namespace the helper joins.
        container: String,
        /// The commands.
        commands: Vec<Vec<String>>,
    },
    /// Delete a file from a volume (through a helper mounting it).
    RemoveVolumeFile {
        /// Volume name.
        volume: String,
        /// Path relative to the volume root.
        file: String,
    },
    /// Write values back into cgroup files of a container (through a helper that
    /// mounts the host's cgroup tree). Nothing to undo when no owned container has that
    /// id any more, or its cgroup is gone: a stopped or removed container's cgroup, and
    /// the throttle in it, went with it.
    CgroupWrite {
        /// Container name (for messages).
        container: String,
        /// Its full Docker id: the cgroup is only written while an owned container
        /// still has it.
        container_id: String,
        /// The cgroup directory, relative to the host's cgroup root (`blkio/docker/<id>`).
        cgroup: String,
        /// `(file, line)` pairs written in order (`blkio.throttle.write_iops_device`,
        /// `254:0 0`).
        writes: Vec<(String, String)>,
    },
    /// Run a command in the target itself.
    ExecInTarget {
        /// Container name.
        container: String,
        /// The command.
        command: Vec<String>,
    },
    /// `PUT` this JSON to a simulator endpoint (restores previous knob values).
    HttpPut {
        /// Full URL.
        url: String,
        /// Body.
        body: serde_json::Value,
    },
    /// `DELETE` a simulator endpoint.
    HttpDelete {
        /// Full URL.
        url: String,
    },
}

/// One fault injection and its undo plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// Unique id (lower-case hex, usable in container names).
    pub id: String,
    /// Cluster name.
    pub cluster: String,
    /// What was asked for.
    pub target: Target,
    /// The owned containers it resolved to.
    pub containers: Vec<String>,
    /// The fault.
    pub fault: Fault,
    /// When the injection began.
    pub started_at: SystemTime,
    /// When it must be reverted.
    pub planned_end: SystemTime,
    /// Lifecycle.
    pub state: ExperimentState,
    /// Undo plan, run in order.
    pub revert_info: Vec<RevertStep>,
    /// Process holding the experiment, if one promised to revert it.
    #[serde(default)]
    pub holder: Option<Holder>,
    /// When it was reverted or failed.
    #[serde(default)]
    pub ended_at: Option<SystemTime>,
    /// Last error (injection or revert).
    #[serde(default)]
    pub error: Option<String>,
    /// Facts observed while injecting (achieved fill ratio, simulated target, …).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Experiment {
    /// True while the fault may be in effect.
    pub(crate) fn is_active(&self) -> bool {
        self.state == ExperimentState::Active
    }

    /// True when active and its planned end is at or before `now`.
    pub(crate) fn is_expired(&self, now: SystemTime) -> bool {
        self.is_active() && self.planned_end <= now
    }
}

/// A new experiment id: seconds since the epoch and 16 random bits, in hex, so ids
/// sort by start time and fit in a container name.
pub(crate) fn new_id(now: SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{secs:x}{:04x}", rand::random::<u16>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn targets_parse_members_containers_and_the_cluster() {
        assert_eq!(
            "tikv-0".parse::<Target>().unwrap(),
            Target::Member("tikv-0".into())
        );
        assert_eq!(
            "container:demo-pd-1".parse::<Target>().unwrap(),
            Target::Container("demo-pd-1".into())
        );
        assert_eq!("cluster".parse::<Target>().unwrap(), Target::Cluster);
        assert_eq!(Target::Container("x".into()).to_string(), "container:x");
    }

    #[test]
    fn fault_parameters_out_of_range_are_refused_before_injection() {
        assert!(Fault::Loss { probability: 0.0 }.validate().is_err());
        assert!(Fault::Loss { probability: 1.0 }.validate().is_ok());
        assert!(Fault::DiskFill { ratio: 1.0 }.validate().is_err());
        assert!(Fault::CpuSaturation { ratio: 0.5 }.validate().is_ok());
        let bad = Fault::Bandwidth {
            rate: "1mbit; reboot".into(),
            burst: "32kbit".into(),
            latency: "400ms".into(),
        };
        assert!(bad.validate().unwrap_err().contains("rate"));
        let overlap = Fault::Partition {
            a: vec![Target::Member("tikv-0".into())],
            b: vec![Target::Member("tikv-0".into())],
        };
        assert!(overlap.validate().is_err());
        let none = Fault::DiskThrottle {
            write_iops: None,
            write_bps: None,
        };
        assert!(none.validate().unwrap_err().contains("IOPS"));
        let zero = Fault::DiskThrottle {
            write_iops: Some(0),
            write_bps: None,
        };
        assert!(zero.validate().is_err());
        let iops = Fault::DiskThrottle {
            write_iops: Some(20),
            write_bps: None,
        };
        assert!(iops.validate().is_ok());
    }

    #[test]
    fn experiments_round_trip_through_json() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let e = Experiment {
            id: new_id(now),
            cluster: "demo".into(),
            target: Target::Member("tikv-1".into()),
            containers: vec!["demo-tikv-1".into()],
            fault: Fault::Loss { probability: 0.25 },
            started_at: now,
            planned_end: now + Duration::from_secs(30),
            state: ExperimentState::Active,
            revert_info: vec![RevertStep::NetnsCommands {
                container: "demo-tikv-1".into(),
                commands: vec![vec!["iptables".into(), "-D".into()]],
            }],
            holder: Some(Holder {
                pid: 7,
                start_ticks: 9,
            }),
            ended_at: None,
            error: None,
            notes: vec![],
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Experiment>(&json).unwrap(), e);
        assert!(e.id.starts_with(&format!("{:x}", 1_800_000_000u64)));
        assert!(!e.is_expired(now));
        assert!(e.is_expired(now + Duration::from_secs(30)));
    }
}
