//! A slow disk on a real container: a cgroup v1 blkio throttle on the block device
//! under its data volume.
//!
//! Why this way, and not another (both were tried on Docker 20.10 with the cgroupfs
//! driver): Docker's container update API accepts `BlkioDeviceWriteIOps` on a running
//! container, answers `{"Warnings":null}`, and applies nothing (neither the cgroup
//! file nor `HostConfig` changes), so the limit has to be written where the kernel reads
//! it. A short-lived helper (owned, labelled like every chaos helper, no network, no
//! extra capability) bind-mounts the host's `/sys/fs/cgroup` and the member's data
//! volume, and:
//!
//! 1. checks that the host has cgroup v1's blkio controller (a cgroup v2 host is
//!    refused: its `io.max` is a different interface this module does not drive);
//! 2. finds the volume's device (`stat -c %d`) and checks sysfs knows it as a block
//!    device (tmpfs, overlay or a network filesystem cannot be throttled: refused),
//!    taking the whole disk when it is a partition (the kernel throttles disks only);
//! 3. finds the container's cgroup by its full id (`docker/<id>`, or systemd's
//!    `docker-<id>.scope`), reads the current limits, records a
//!    [`RevertStep::CgroupWrite`] restoring them, then writes `major:minor value` into
//!    `blkio.throttle.write_iops_device` / `write_bps_device` and reads it back.
//!
//! The target's buffered writes still land in the page cache at memory speed; what the
//! throttle slows is what a database waits for: `fsync` (etcd's WAL, a store's
//! raft log). A restart of the container drops the throttle (Docker recreates its
//! cgroup), which the experiment's notes say; the revert then finds nothing to undo.

use super::*;

impl Chaos {
    /// The owned data volume of `target` (`<cluster>-<member>-data`), or why not.
    pub(super) fn data_volume(
        &self,
        owned: &Owned,
        target: &ObservedContainer,
        fault: &'static str,
    ) -> Result<String, ChaosError> {
        let member = target
            .label(labels::MEMBER)
            .unwrap_or_else(|| short_name(&self.cluster, &target.name));
        let volume = format!("{}-{member}-data", self.cluster);
        if owned.volumes.iter().any(|v| v.name == volume) {
            Ok(volume)
        } else {
            Err(ChaosError::Unsupported {
                fault,
                target: target.name.clone(),
                reason: format!("it has no data volume {volume:?} owned by the cluster"),
            })
        }
    }

    /// Throttles writes of `target` to its data volume's disk.
    pub(super) async fn throttle_disk(
        &self,
        owned: &Owned,
        exp: &mut Experiment,
        target: &ObservedContainer,
        write_iops: Option<u64>,
        write_bps: Option<u64>,
    ) -> Result<(), ChaosError> {
        const FAULT: &str = "disk-throttle";
        let unsupported = |reason: String| ChaosError::Unsupported {
            fault: FAULT,
            target: target.name.clone(),
            reason,
        };
        // The id becomes a `find -name` pattern and a path segment: no globs, no `/`.
        let plain = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        if target.id.is_empty() || !target.id.bytes().all(plain) {
            return Err(unsupported(format!(
                "its container id {:?} cannot name a cgroup",
                target.id
            )));
        }
        let volume = self.data_volume(owned, target, FAULT)?;
        let helper = self
            .cgroup_helper(&exp.id, &target.name, Some(&volume), "i")
            .await?;
        let result = async {
            let blkio = format!("{HOST_CGROUP_MOUNT}/blkio");
            let probe = strings(&["cat", &format!("{blkio}/blkio.throttle.write_iops_device")]);
            if self.exec(&helper, &probe).await?.exit_code != 0 {
                let v2 = strings(&["cat", &format!("{HOST_CGROUP_MOUNT}/cgroup.controllers")]);
                let why = if self.exec(&helper, &v2).await?.exit_code == 0 {
                    "the host runs cgroup v2 (io.max), and only cgroup v1's blkio throttle is \
                     implemented"
                } else {
                    "the host has no cgroup v1 blkio controller with throttling at \
                     /sys/fs/cgroup/blkio (a kernel without CONFIG_BLK_DEV_THROTTLING?)"
                };
                return Err(unsupported(why.into()));
            }
            let stat = strings(&["stat", "-c", "%d", VOLUME_MOUNT]);
            let out = self.exec_ok(&helper, &stat).await?;
            let device = commands::device_of_stat(&out.output)
                .ok_or_else(|| self.failed(&helper, &stat, out.clone()))?;
            let sysfs = format!("/sys/dev/block/{device}");
            if self
                .exec(&helper, &strings(&["cat", &format!("{sysfs}/dev")]))
                .await?
                .exit_code
                != 0
            {
                return Err(unsupported(format!(
                    "its data volume {volume:?} is on device {device}, which is not a block \
                     device (tmpfs, overlay or a network filesystem): blkio cannot throttle it"
                )));
            }
            let partition = strings(&["cat", &format!("{sysfs}/partition")]);
            let disk = if self.exec(&helper, &partition).await?.exit_code == 0 {
                let parent = strings(&["cat", &format!("{sysfs}/../dev")]);
                let out = self.exec_ok(&helper, &parent).await?;
                let disk = out.output.trim().to_string();
                if !commands::is_device(&disk) {
                    return Err(self.failed(&helper, &parent, out));
                }
                exp.notes
                    .push(format!("partition {device} is on disk {disk}"));
                disk
            } else {
                device
            };
            let find = commands::find_cgroup(&blkio, &target.id);
            let out = self.exec_ok(&helper, &find).await?;
            let Some(dir) = out.output.lines().map(str::trim).find(|l| !l.is_empty()) else {
                return Err(unsupported(format!(
                    "no blkio cgroup of container {} under the host's /sys/fs/cgroup/blkio",
                    target.id
                )));
            };
            let cgroup = dir
                .strip_prefix(HOST_CGROUP_MOUNT)
                .unwrap_or(dir)
                .trim_start_matches('/')
                .to_string();
            let lines = commands::blkio_lines(&disk, write_iops, write_bps);
            let mut previous = Vec::new();
            for (file, _) in &lines {
                let out = self
                    .exec_ok(&helper, &strings(&["cat", &format!("{dir}/{file}")]))
                    .await?;
                let was = commands::throttle_of(&out.output, &disk);
                previous.push((file.clone(), format!("{disk} {was}")));
            }
            self.record(
                exp,
                vec![RevertStep::CgroupWrite {
                    container: target.name.clone(),
                    container_id: target.id.clone(),
                    cgroup: cgroup.clone(),
                    writes: previous.clone(),
                }],
            )?;
            for ((file, line), (_, was)) in lines.iter().zip(&previous) {
                let path = format!("{dir}/{file}");
                self.exec_ok(&helper, &commands::write_line(&path, line))
                    .await?;
                let read = strings(&["cat", &path]);
                let out = self.exec_ok(&helper, &read).await?;
                let (_, wanted) = line.split_once(' ').unwrap_or_default();
                if commands::throttle_of(&out.output, &disk).to_string() != wanted {
                    return Err(self.failed(&helper, &read, out));
                }
                exp.notes.push(format!(
                    "{cgroup}/{file}: {line} (was {was}); a restart of the container drops it"
                ));
            }
            Ok(())
        }
        .await;
        self.remove_helper(&helper).await;
        result
    }

    /// Undoes a [`RevertStep::CgroupWrite`].
    pub(super) async fn revert_cgroup(
        &self,
        id: &str,
        container: &str,
        container_id: &str,
        cgroup: &str,
        writes: &[(String, String)],
    ) -> Result<(), ChaosError> {
        // Only while an owned container still has that id: otherwise its cgroup went
        // with it, and nothing else is ever written.
        let owned = self
            .runtime
            .list_owned(&self.cluster, &self.network)
            .await?;
        let alive = owned.containers.iter().any(|c| {
            c.id == container_id
                && matches!(
                    c.status,
                    ContainerStatus::Running
                        | ContainerStatus::Paused
                        | ContainerStatus::Restarting
                )
        });
        if !alive {
            return Ok(());
        }
        let helper = self.cgroup_helper(id, container, None, "r").await?;
        let result = async {
            let dir = format!("{HOST_CGROUP_MOUNT}/{cgroup}");
            if self
                .exec(&helper, &strings(&["test", "-d", &dir]))
                .await?
                .exit_code
                != 0
            {
                return Ok(());
            }
            for (file, line) in writes {
                self.exec_ok(
                    &helper,
                    &commands::write_line(&format!("{dir}/{file}"), line),
                )
                .await?;
            }
            Ok(())
        }
        .await;
        self.remove_helper(&helper).await;
        result
    }
}
