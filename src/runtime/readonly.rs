//! A read-only view of the container runtime for the investigation's tools
//! (`diagnose::investigate`), so that "tools are read-only" holds by construction: a
//! toolbox given a [`ContainerReader`] cannot stop, kill or remove a container, because
//! the type has no such method and its runtime is private.

use super::{ContainerRuntime, LogLine, Owned, RuntimeError};
use std::sync::Arc;
use std::time::SystemTime;

/// The reading half of a [`ContainerRuntime`]: listing owned containers and their logs.
#[derive(Clone)]
pub struct ContainerReader {
    runtime: Arc<dyn ContainerRuntime>,
}

impl ContainerReader {
    /// A read-only view of `runtime`.
    pub fn new(runtime: Arc<dyn ContainerRuntime>) -> Self {
        Self { runtime }
    }

    /// Containers, networks and volumes owned by `cluster` (see
    /// [`ContainerRuntime::list_owned`]).
    pub(crate) async fn list_owned(
        &self,
        cluster: &str,
        network: &str,
    ) -> Result<Owned, RuntimeError> {
        self.runtime.list_owned(cluster, network).await
    }

    /// The last `tail` lines of an owned container's output, optionally since a time.
    pub(crate) async fn logs(
        &self,
        cluster: &str,
        name: &str,
        since: Option<SystemTime>,
        tail: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        self.runtime.logs(cluster, name, since, tail).await
    }
}
