//! Reverting experiments: their recorded steps, on request, when their time is up, and
//! on restart for experiments whose owner died; the reverter task.

use super::*;

impl Chaos {
    pub(super) async fn run_steps(&self, id: &str, steps: &[RevertStep]) -> Result<(), ChaosError> {
        let mut first_error = None;
        for step in steps {
            if let Err(e) = self.run_step(id, step).await {
                tracing::warn!(?step, error = %e, "chaos revert step failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// True when the container exists with its processes (and namespaces) alive.
    pub(super) async fn has_live_process(&self, name: &str) -> Result<bool, ChaosError> {
        let owned = self
            .runtime
            .list_owned(&self.cluster, &self.network)
            .await?;
        Ok(owned.containers.iter().any(|c| {
            c.name == name
                && matches!(
                    c.status,
                    ContainerStatus::Running
                        | ContainerStatus::Paused
                        | ContainerStatus::Restarting
                )
        }))
    }

    pub(super) async fn run_step(&self, id: &str, step: &RevertStep) -> Result<(), ChaosError> {
        let gone = |r: Result<(), RuntimeError>| match r {
            Err(RuntimeError::NotFound { .. }) | Ok(()) => Ok(()),
            Err(e) => Err(ChaosError::from(e)),
        };
        match step {
            RevertStep::Unpause { container } => {
                gone(self.runtime.unpause(&self.cluster, container).await)
            }
            RevertStep::Start { container } => {
                gone(self.runtime.start(&self.cluster, container).await)
            }
            RevertStep::Reconnect { container, network } => gone(
                self.runtime
                    .connect(&self.cluster, network, container)
                    .await,
            ),
            RevertStep::NetnsCommands {
                container,
                commands,
            } => {
                // A stopped container has lost its namespace and the fault with it (a
                // paused one keeps it; a paused target fails the exec and is retried).
                if !self.has_live_process(container).await? {
                    return Ok(());
                }
                let helper = self.netns_helper(id, container, "r").await?;
                let result = async {
                    for cmd in commands {
                        let out = self.exec(&helper, cmd).await?;
                        if out.exit_code != 0 && !commands::nothing_to_undo(&out.output) {
                            return Err(self.failed(&helper, cmd, out));
                        }
                    }
                    Ok(())
                }
                .await;
                self.remove_helper(&helper).await;
                result
            }
            RevertStep::RemoveVolumeFile { volume, file } => {
                let owned = self
                    .runtime
                    .list_owned(&self.cluster, &self.network)
                    .await?;
                if !owned.volumes.iter().any(|v| v.name == *volume) {
                    return Ok(());
                }
                let helper = self.volume_helper(id, volume, "r").await?;
                let rm = vec!["rm".into(), "-f".into(), format!("{VOLUME_MOUNT}/{file}")];
                let result = self.exec_ok(&helper, &rm).await.map(|_| ());
                self.remove_helper(&helper).await;
                result
            }
            RevertStep::ExecInTarget { container, command } => {
                if !self.has_live_process(container).await? {
                    return Ok(());
                }
                self.exec_ok(container, command).await.map(|_| ())
            }
            RevertStep::CgroupWrite {
                container,
                container_id,
                cgroup,
                writes,
            } => {
                self.revert_cgroup(id, container, container_id, cgroup, writes)
                    .await
            }
            RevertStep::HttpPut { url, body } => self.sim.revert_put(url, body).await,
            RevertStep::HttpDelete { url } => self.sim.revert_delete(url).await,
        }
    }

    /// Reverts experiment `id`. Reverting one that is no longer active returns it
    /// unchanged.
    ///
    /// # Guarantees
    ///
    /// Runs every revert step even when one fails; steps that find nothing to undo
    /// succeed. The experiment becomes [`ExperimentState::Reverted`] only when all
    /// steps succeeded; otherwise it stays active with the error recorded, and the next
    /// revert retries every step. Helpers of the experiment are removed either way.
    ///
    /// # Errors
    ///
    /// [`ChaosError::UnknownExperiment`], store failures, or the first failed step.
    pub async fn revert(&self, id: &str) -> Result<Experiment, ChaosError> {
        let mut exp = self.get(id)?;
        if !exp.is_active() {
            return Ok(exp);
        }
        let result = self.run_steps(&exp.id, &exp.revert_info).await;
        self.sweep_helpers(&exp.id).await;
        // Another process may have finished it meanwhile; keep its record.
        if let Ok(latest) = self.get(id) {
            if !latest.is_active() {
                return Ok(latest);
            }
        }
        match result {
            Ok(()) => {
                exp.state = ExperimentState::Reverted;
                exp.ended_at = Some(SystemTime::now());
                exp.error = None;
                self.store.put(&exp)?;
                tracing::info!(experiment = %exp.id, fault = exp.fault.name(), "chaos reverted");
                Ok(exp)
            }
            Err(e) => {
                exp.error = Some(format!("revert failed: {e}"));
                self.store.put(&exp)?;
                Err(e)
            }
        }
    }

    pub(super) async fn revert_where(&self, pick: impl Fn(&Experiment) -> bool) -> RevertReport {
        let mut report = RevertReport::default();
        let candidates = match self.list() {
            Ok(all) => all,
            Err(e) => {
                report.failed.push(("*".into(), e));
                return report;
            }
        };
        for exp in candidates.into_iter().filter(|e| e.is_active() && pick(e)) {
            match self.revert(&exp.id).await {
                Ok(done) => report.reverted.push(done),
                Err(e) => report.failed.push((exp.id, e)),
            }
        }
        report
    }

    /// Reverts every active experiment of this cluster.
    pub(crate) async fn revert_all(&self) -> RevertReport {
        self.revert_where(|_| true).await
    }

    #[cfg(test)]
    /// Reverts active experiments whose planned end is at or before `now`.
    pub(crate) async fn revert_expired(&self, now: SystemTime) -> RevertReport {
        self.revert_where(|e| e.is_expired(now)).await
    }

    /// Start-up recovery: reverts experiments past their end and those whose holding
    /// process died (a CLI killed while waiting out the duration).
    pub(crate) async fn recover(&self, now: SystemTime) -> RevertReport {
        self.revert_where(|e| {
            e.is_expired(now) || e.holder.as_ref().is_some_and(|h| !process::holder_alive(h))
        })
        .await
    }

    /// Reverts experiments as they expire until `shutdown` fires, checking every
    /// `tick`; runs [`Chaos::recover`] first. Failed reverts are logged and retried on
    /// the next tick.
    pub async fn run_reverter(&self, shutdown: CancellationToken, tick: Duration) {
        loop {
            let report = self.recover(SystemTime::now()).await;
            for (id, e) in &report.failed {
                tracing::warn!(experiment = %id, error = %e, "chaos revert failed; retrying");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(tick) => {}
            }
        }
    }
}
