//! The chaos toolkit's one error type: every refusal says what was asked, what was
//! found, and, where the kernel or the target cannot do it, what works instead.

use crate::runtime::{ContainerStatus, RuntimeError};

use super::StoreError;

/// Faults that work without netem, for the [`ChaosError::NetemUnavailable`] message.
const WORKING_NETWORK_FAULTS: &str = "loss (iptables statistic), bandwidth (tc tbf), \
     partition (iptables), disconnect, pause (cgroup freezer), disk-throttle (cgroup v1 blkio), \
     and slow-disk on simulated TiKV";

/// Errors of the chaos toolkit.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// The container runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The experiment store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The fault's parameters are invalid.
    #[error("invalid fault: {0}")]
    InvalidFault(String),
    /// No owned container matches the target.
    #[error("no container of cluster {cluster:?} matches target {target}")]
    TargetNotFound {
        /// The target.
        target: String,
        /// The cluster.
        cluster: String,
    },
    /// A container of that name exists but is not owned by the cluster: never touched.
    #[error("{name:?} exists but is not owned by cluster {cluster:?}; chaos only touches the cluster's own containers")]
    TargetNotOwned {
        /// The name.
        name: String,
        /// The cluster.
        cluster: String,
    },
    /// The target must be running for this fault.
    #[error("{container:?} is {status:?}; the {fault} fault needs it running")]
    TargetNotRunning {
        /// Container.
        container: String,
        /// Its state.
        status: ContainerStatus,
        /// Fault name.
        fault: &'static str,
    },
    /// The target has no address on the cluster network.
    #[error("{container:?} has no address on network {network:?}")]
    NoAddress {
        /// Container.
        container: String,
        /// Network.
        network: String,
    },
    /// The kernel has no netem qdisc, so latency cannot be injected.
    #[error(
        "the netem qdisc is unavailable on this kernel (tc said: {detail}), so latency \
             cannot be injected here; faults that work: {WORKING_NETWORK_FAULTS}"
    )]
    NetemUnavailable {
        /// tc's answer.
        detail: String,
    },
    /// The fault cannot be applied to this kind of target.
    #[error("{fault} is not supported on {target}: {reason}")]
    Unsupported {
        /// Fault name.
        fault: &'static str,
        /// Target.
        target: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// The helper image is missing.
    #[error("chaos helper image {0:?} is not available locally; build it with `make images`")]
    HelperImageMissing(String),
    /// A command in a helper or target failed.
    #[error("`{command}` in {container:?} exited with {exit_code}: {output}")]
    CommandFailed {
        /// Container it ran in.
        container: String,
        /// The command.
        command: String,
        /// Exit code.
        exit_code: i64,
        /// Output.
        output: String,
    },
    /// A simulator admin call failed.
    #[error("simulator call {url} failed: {detail}")]
    Http {
        /// URL.
        url: String,
        /// Error.
        detail: String,
    },
    /// No experiment has that id in this cluster.
    #[error("no chaos experiment {0:?} in this cluster")]
    UnknownExperiment(String),
}
