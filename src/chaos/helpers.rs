//! The helper containers the chaos toolkit starts (in a target's network namespace, or
//! with its volume), and running commands in them.

use super::*;

impl Chaos {
    pub(super) fn helper_labels(&self, id: &str) -> BTreeMap<String, String> {
        let mut l = self.extra_labels.clone();
        l.extend(labels::ownership(&self.cluster));
        l.insert(labels::COMPONENT.into(), HELPER_COMPONENT.into());
        l.insert(EXPERIMENT_LABEL.into(), id.into());
        l
    }

    pub(super) async fn start_helper(&self, spec: ContainerSpec) -> Result<String, ChaosError> {
        // A helper left by a crashed run under the same name goes first.
        self.runtime.remove(&self.cluster, &spec.name).await?;
        match self.runtime.create_and_start(&spec).await {
            Ok(_) => Ok(spec.name),
            Err(RuntimeError::ImageMissing(image)) => Err(ChaosError::HelperImageMissing(image)),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn netns_helper(
        &self,
        id: &str,
        container: &str,
        phase: &str,
    ) -> Result<String, ChaosError> {
        let name = format!(
            "{}-chaos-{id}-{}-{phase}",
            self.cluster,
            short_name(&self.cluster, container)
        );
        self.start_helper(ContainerSpec {
            name,
            image: self.helper_image.clone(),
            labels: self.helper_labels(id),
            cap_add: vec!["NET_ADMIN".into()],
            network_mode: Some(format!("container:{container}")),
            ..Default::default()
        })
        .await
    }

    pub(super) async fn volume_helper(
        &self,
        id: &str,
        volume: &str,
        phase: &str,
    ) -> Result<String, ChaosError> {
        let name = format!(
            "{}-chaos-{id}-{}-{phase}",
            self.cluster,
            short_name(&self.cluster, volume)
        );
        self.offline_helper(
            name,
            id,
            vec![Mount {
                volume: volume.to_string(),
                target: VOLUME_MOUNT.into(),
            }],
            vec![],
        )
        .await
    }

    /// A helper on no network (`network_mode: none`) with the mounts given: what the
    /// volume and cgroup helpers share.
    async fn offline_helper(
        &self,
        name: String,
        id: &str,
        mounts: Vec<Mount>,
        host_mounts: Vec<HostMount>,
    ) -> Result<String, ChaosError> {
        self.start_helper(ContainerSpec {
            name,
            image: self.helper_image.clone(),
            labels: self.helper_labels(id),
            network_mode: Some("none".into()),
            mounts,
            host_mounts,
            ..Default::default()
        })
        .await
    }

    /// A helper with the host's cgroup tree at [`HOST_CGROUP_MOUNT`] (read-write) and,
    /// when given, a member's data volume at the volume mount. Unprivileged: writing
    /// cgroup files needs only root's file permissions on the bind mount.
    pub(super) async fn cgroup_helper(
        &self,
        id: &str,
        container: &str,
        volume: Option<&str>,
        phase: &str,
    ) -> Result<String, ChaosError> {
        let name = format!(
            "{}-chaos-{id}-{}-cg{phase}",
            self.cluster,
            short_name(&self.cluster, container)
        );
        self.offline_helper(
            name,
            id,
            volume
                .map(|v| Mount {
                    volume: v.to_string(),
                    target: VOLUME_MOUNT.into(),
                })
                .into_iter()
                .collect(),
            vec![HostMount {
                source: HOST_CGROUP_ROOT.into(),
                target: HOST_CGROUP_MOUNT.into(),
            }],
        )
        .await
    }

    pub(super) async fn remove_helper(&self, name: &str) {
        if let Err(e) = self.runtime.remove(&self.cluster, name).await {
            tracing::warn!(helper = name, error = %e, "could not remove a chaos helper; `operator down` or the next revert removes it");
        }
    }

    /// Removes every helper of experiment `id` (best effort).
    pub(super) async fn sweep_helpers(&self, id: &str) {
        let Ok(owned) = self.runtime.list_owned(&self.cluster, &self.network).await else {
            return;
        };
        for c in owned
            .containers
            .iter()
            .filter(|c| is_helper(c) && c.label(EXPERIMENT_LABEL) == Some(id))
        {
            self.remove_helper(&c.name).await;
        }
    }

    pub(super) async fn exec(
        &self,
        container: &str,
        cmd: &[String],
    ) -> Result<ExecOutput, ChaosError> {
        Ok(self.runtime.exec(&self.cluster, container, cmd).await?)
    }

    pub(super) fn failed(&self, container: &str, cmd: &[String], out: ExecOutput) -> ChaosError {
        ChaosError::CommandFailed {
            container: container.to_string(),
            command: command_text(cmd),
            exit_code: out.exit_code,
            output: out.output.trim().to_string(),
        }
    }

    pub(super) async fn exec_ok(
        &self,
        container: &str,
        cmd: &[String],
    ) -> Result<ExecOutput, ChaosError> {
        let out = self.exec(container, cmd).await?;
        if out.exit_code != 0 {
            return Err(self.failed(container, cmd, out));
        }
        Ok(out)
    }

    pub(super) async fn exec_all(
        &self,
        container: &str,
        cmds: &[Vec<String>],
    ) -> Result<(), ChaosError> {
        for cmd in cmds {
            self.exec_ok(container, cmd).await?;
        }
        Ok(())
    }
}
