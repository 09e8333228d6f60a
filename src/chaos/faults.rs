//! Injecting each kind of fault: process and network faults through the runtime and
//! netns helpers (partition groups, qdisc loss/bandwidth/latency), disk fill and CPU burn
//! through helpers, the disk throttle ([`super::blkio`]), and the simulator's knobs. Each returns the revert steps it needs,
//! recorded before the fault is applied (see the module docs of [`super`]).

use super::*;

impl Chaos {
    pub(super) async fn apply(
        &self,
        owned: &Owned,
        exp: &mut Experiment,
    ) -> Result<(), ChaosError> {
        let fault = exp.fault.clone();
        if let Fault::Partition { a, b } = &fault {
            return self.partition(owned, exp, a, b).await;
        }
        if let Fault::HotRange {
            start_key,
            end_key,
            qps,
        } = &fault
        {
            return self.hot_range(owned, exp, start_key, end_key, *qps).await;
        }
        let target = resolve(owned, &self.cluster, &exp.target)?.clone();
        let name = target.name.clone();
        exp.containers = vec![name.clone()];
        match fault {
            Fault::Kill { restart_on_revert } => {
                // A target already down would be *started* by the revert: refuse.
                self.require_running(&target, &fault)?;
                let steps = if restart_on_revert {
                    vec![RevertStep::Start {
                        container: name.clone(),
                    }]
                } else {
                    vec![]
                };
                self.record(exp, steps)?;
                self.runtime.kill(&self.cluster, &name, "SIGKILL").await?;
            }
            Fault::Stop { grace_secs } => {
                self.require_running(&target, &fault)?;
                self.record(
                    exp,
                    vec![RevertStep::Start {
                        container: name.clone(),
                    }],
                )?;
                self.runtime
                    .stop(&self.cluster, &name, Duration::from_secs(grace_secs))
                    .await?;
            }
            Fault::Pause => {
                self.require_running(&target, &fault)?;
                self.record(
                    exp,
                    vec![RevertStep::Unpause {
                        container: name.clone(),
                    }],
                )?;
                self.runtime.pause(&self.cluster, &name).await?;
            }
            Fault::Restart => {
                self.record(exp, vec![])?;
                self.runtime.restart(&self.cluster, &name).await?;
            }
            Fault::Disconnect => {
                if !target.networks.contains(&self.network) {
                    return Err(ChaosError::NoAddress {
                        container: name,
                        network: self.network.clone(),
                    });
                }
                self.record(
                    exp,
                    vec![RevertStep::Reconnect {
                        container: name.clone(),
                        network: self.network.clone(),
                    }],
                )?;
                self.runtime
                    .disconnect(&self.cluster, &self.network, &name)
                    .await?;
            }
            Fault::Loss { probability } => {
                self.require_running(&target, &fault)?;
                let (apply, undo) = commands::loss_rules(&exp.id, probability);
                self.record(
                    exp,
                    vec![RevertStep::NetnsCommands {
                        container: name.clone(),
                        commands: undo,
                    }],
                )?;
                let helper = self.netns_helper(&exp.id, &name, "i").await?;
                let result = self.exec_all(&helper, &apply).await;
                self.remove_helper(&helper).await;
                result?;
            }
            Fault::Latency {
                delay_ms,
                jitter_ms,
            } => {
                self.require_running(&target, &fault)?;
                self.qdisc(exp, &target, |dev| {
                    commands::netem_add(dev, delay_ms, jitter_ms)
                })
                .await?;
            }
            Fault::Bandwidth {
                ref rate,
                ref burst,
                ref latency,
            } => {
                self.require_running(&target, &fault)?;
                self.qdisc(exp, &target, |dev| {
                    commands::tbf_add(dev, rate, burst, latency)
                })
                .await?;
            }
            Fault::DiskFill { ratio } => {
                if let Some(knobs) = self.simulator_of(&target).await {
                    self.sim_knob(
                        knobs,
                        exp,
                        &target,
                        "disk_fill_ratio",
                        serde_json::json!(ratio),
                    )
                    .await?;
                } else {
                    self.disk_fill(owned, exp, &target, ratio).await?;
                }
            }
            Fault::SlowDisk { delay_ms } => {
                let Some(knobs) = self.simulator_of(&target).await else {
                    return Err(ChaosError::Unsupported {
                        fault: fault.name(),
                        target: name,
                        reason: "a per-operation delay is a knob of the TiKV simulator; a real \
                                 process's disk is slowed by a blkio throttle instead \
                                 (`slow-disk --write-iops N` / `--write-bps N`)"
                            .into(),
                    });
                };
                self.sim_knob(
                    knobs,
                    exp,
                    &target,
                    "slow_disk_ms",
                    serde_json::json!(delay_ms),
                )
                .await?;
            }
            Fault::DiskThrottle {
                write_iops,
                write_bps,
            } => {
                self.require_running(&target, &fault)?;
                self.throttle_disk(owned, exp, &target, write_iops, write_bps)
                    .await?;
            }
            Fault::CpuSaturation { ratio } => {
                self.require_running(&target, &fault)?;
                if let Some(knobs) = self.simulator_of(&target).await {
                    self.sim_knob(
                        knobs,
                        exp,
                        &target,
                        "cpu_saturation",
                        serde_json::json!(ratio),
                    )
                    .await?;
                } else {
                    self.cpu_burn(exp, &target, ratio).await?;
                }
            }
            Fault::Partition { .. } | Fault::HotRange { .. } => unreachable!("handled above"),
        }
        Ok(())
    }

    pub(super) async fn partition(
        &self,
        owned: &Owned,
        exp: &mut Experiment,
        a: &[Target],
        b: &[Target],
    ) -> Result<(), ChaosError> {
        let side = |targets: &[Target]| -> Result<Vec<(String, String)>, ChaosError> {
            targets
                .iter()
                .map(|t| {
                    let c = resolve(owned, &self.cluster, t)?;
                    self.require_running(c, &exp.fault)?;
                    let ip = c.ip.clone().ok_or_else(|| ChaosError::NoAddress {
                        container: c.name.clone(),
                        network: self.network.clone(),
                    })?;
                    Ok((c.name.clone(), ip))
                })
                .collect()
        };
        let (side_a, side_b) = (side(a)?, side(b)?);
        let mut plans = Vec::new();
        for (mine, theirs) in [(&side_a, &side_b), (&side_b, &side_a)] {
            let peers: Vec<String> = theirs.iter().map(|(_, ip)| ip.clone()).collect();
            for (container, _) in mine {
                let (apply, undo) = commands::partition_rules(&exp.id, &peers);
                plans.push((container.clone(), apply, undo));
            }
        }
        exp.containers = plans.iter().map(|(c, _, _)| c.clone()).collect();
        self.record(
            exp,
            plans
                .iter()
                .map(|(container, _, undo)| RevertStep::NetnsCommands {
                    container: container.clone(),
                    commands: undo.clone(),
                })
                .collect(),
        )?;
        for (container, apply, _) in &plans {
            let helper = self.netns_helper(&exp.id, container, "i").await?;
            let result = self.exec_all(&helper, apply).await;
            self.remove_helper(&helper).await;
            result?;
        }
        Ok(())
    }

    /// Installs a root qdisc built by `build(dev)` on the target's cluster interface.
    pub(super) async fn qdisc(
        &self,
        exp: &mut Experiment,
        target: &ObservedContainer,
        build: impl FnOnce(&str) -> Vec<String>,
    ) -> Result<(), ChaosError> {
        let helper = self.netns_helper(&exp.id, &target.name, "i").await?;
        let result = async {
            let dev = match &target.ip {
                Some(ip) => {
                    let out = self
                        .exec(&helper, &strings(&["ip", "-o", "-4", "addr", "show"]))
                        .await?;
                    commands::interface_of(&out.output, ip).unwrap_or_else(|| "eth0".into())
                }
                None => "eth0".to_string(),
            };
            self.record(
                exp,
                vec![RevertStep::NetnsCommands {
                    container: target.name.clone(),
                    commands: vec![commands::qdisc_del(&dev)],
                }],
            )?;
            let cmd = build(&dev);
            let out = self.exec(&helper, &cmd).await?;
            if out.exit_code != 0 {
                if cmd.iter().any(|p| p == "netem") && commands::netem_unavailable(&out.output) {
                    // Nothing was installed: drop the undo step.
                    exp.revert_info.clear();
                    return Err(ChaosError::NetemUnavailable {
                        detail: out.output.trim().to_string(),
                    });
                }
                return Err(self.failed(&helper, &cmd, out));
            }
            exp.notes
                .push(format!("qdisc on {dev}: {}", command_text(&cmd)));
            Ok(())
        }
        .await;
        self.remove_helper(&helper).await;
        result
    }

    pub(super) async fn disk_fill(
        &self,
        owned: &Owned,
        exp: &mut Experiment,
        target: &ObservedContainer,
        ratio: f64,
    ) -> Result<(), ChaosError> {
        let volume = self.data_volume(owned, target, "disk-fill")?;
        let file = format!(".chaos-fill-{}", exp.id);
        let path = format!("{VOLUME_MOUNT}/{file}");
        let helper = self.volume_helper(&exp.id, &volume, "i").await?;
        let result = async {
            let df = strings(&["df", "-P", "-k", VOLUME_MOUNT]);
            let before = self.exec_ok(&helper, &df).await?;
            let (_, used, avail) = commands::parse_df(&before.output)
                .ok_or_else(|| self.failed(&helper, &df, before.clone()))?;
            let bytes = commands::bytes_to_fill(used, avail, ratio);
            self.record(
                exp,
                vec![RevertStep::RemoveVolumeFile {
                    volume: volume.clone(),
                    file: file.clone(),
                }],
            )?;
            if bytes > 0 {
                let fallocate = vec![
                    "fallocate".into(),
                    "-l".into(),
                    bytes.to_string(),
                    path.clone(),
                ];
                let out = self.exec(&helper, &fallocate).await?;
                if out.exit_code != 0 {
                    // Filesystems without fallocate: write zeros instead.
                    let mib = bytes.div_ceil(1024 * 1024);
                    let dd = vec![
                        "dd".into(),
                        "if=/dev/zero".into(),
                        format!("of={path}"),
                        "bs=1048576".into(),
                        format!("count={mib}"),
                    ];
                    let out = self.exec(&helper, &dd).await?;
                    // dd stops with ENOSPC when the estimate overshoots: that is full.
                    if out.exit_code != 0 && !out.output.contains("No space left") {
                        return Err(self.failed(&helper, &dd, out));
                    }
                }
            }
            let after = self.exec_ok(&helper, &df).await?;
            if let Some((_, used, avail)) = commands::parse_df(&after.output) {
                let achieved = used as f64 / (used + avail).max(1) as f64;
                exp.notes.push(format!(
                    "volume {volume}: wrote {bytes} bytes to {file}; now {:.1}% full",
                    achieved * 100.0
                ));
            }
            Ok(())
        }
        .await;
        self.remove_helper(&helper).await;
        result
    }

    pub(super) async fn cpu_burn(
        &self,
        exp: &mut Experiment,
        target: &ObservedContainer,
        ratio: f64,
    ) -> Result<(), ChaosError> {
        let unsupported = |why: String| ChaosError::Unsupported {
            fault: "cpu-saturation",
            target: target.name.clone(),
            reason: format!(
                "{why}; CPU stress on a real TiKV runs busy loops through `docker exec sh` in \
                 the target, and stress-ng in a helper is out of reach without a registry"
            ),
        };
        let probe = strings(&[
            "sh",
            "-c",
            "nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo",
        ]);
        let out = match self.runtime.exec(&self.cluster, &target.name, &probe).await {
            Ok(out) if out.exit_code == 0 => out,
            Ok(out) => {
                return Err(unsupported(format!(
                    "the target cannot run sh ({})",
                    out.output.trim()
                )))
            }
            Err(RuntimeError::Api(e)) => {
                return Err(unsupported(format!("the target has no sh ({e})")))
            }
            Err(e) => return Err(e.into()),
        };
        let cpus: u64 = out
            .output
            .trim()
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(1);
        let loops = ((cpus as f64) * ratio).ceil().max(1.0) as u64;
        let pids = format!("/tmp/.chaos-cpu-{}.pids", exp.id);
        self.record(
            exp,
            vec![RevertStep::ExecInTarget {
                container: target.name.clone(),
                command: vec![
                    "sh".into(),
                    "-c".into(),
                    format!("[ -f {pids} ] && kill $(cat {pids}) 2>/dev/null; rm -f {pids}; true"),
                ],
            }],
        )?;
        let script = format!(
            "i=0; : > {pids}; while [ $i -lt {loops} ]; do (while :; do :; done) >/dev/null 2>&1 & \
             echo $! >> {pids}; i=$((i+1)); done"
        );
        let cmd = vec!["sh".into(), "-c".into(), script];
        let out = self.runtime.exec(&self.cluster, &target.name, &cmd).await?;
        if out.exit_code != 0 {
            return Err(self.failed(&target.name, &cmd, out));
        }
        exp.notes.push(format!("{loops} busy loops on {cpus} CPUs"));
        Ok(())
    }

    /// The subject's simulator knobs when `target` runs the simulator (by its image, or
    /// a simulator answering on the knobs' port); `None` for a real process.
    pub(super) async fn simulator_of(&self, target: &ObservedContainer) -> Option<&SimKnobs> {
        let knobs = self.simulator.as_ref()?;
        let simulated = knobs.runs_simulator(target)
            || match &target.ip {
                Some(ip) => self.sim.probe(&knobs.faults_url(ip)).await,
                None => false,
            };
        simulated.then_some(knobs)
    }

    pub(super) async fn sim_knob(
        &self,
        knobs: &SimKnobs,
        exp: &mut Experiment,
        target: &ObservedContainer,
        knob: &str,
        value: serde_json::Value,
    ) -> Result<(), ChaosError> {
        let ip = target.ip.clone().ok_or_else(|| ChaosError::NoAddress {
            container: target.name.clone(),
            network: self.network.clone(),
        })?;
        let url = knobs.faults_url(&ip);
        let current = self.sim.get(&url).await?;
        let previous = current.get(knob).cloned().unwrap_or(serde_json::json!(0));
        self.record(
            exp,
            vec![RevertStep::HttpPut {
                url: url.clone(),
                body: serde_json::json!({ knob: previous }),
            }],
        )?;
        self.sim
            .put(&url, &serde_json::json!({ knob: value }))
            .await?;
        exp.notes
            .push(format!("simulated: {knob} = {value} (was {previous})"));
        Ok(())
    }

    pub(super) async fn hot_range(
        &self,
        owned: &Owned,
        exp: &mut Experiment,
        start_key: &str,
        end_key: &str,
        qps: u64,
    ) -> Result<(), ChaosError> {
        let unsupported = |target: String| ChaosError::Unsupported {
            fault: "hot-range",
            target,
            reason: "a hot key range is generated by the PD simulator's workload knob; a real \
                     cluster needs a client workload (go-ycsb or similar) aimed at the range"
                .into(),
        };
        let Some(knobs) = &self.simulator else {
            return Err(unsupported(exp.target.to_string()));
        };
        let pd = match &exp.target {
            Target::Cluster => owned
                .containers
                .iter()
                .find(|c| {
                    c.label(labels::COMPONENT) == Some(knobs.workload_component)
                        && c.status == ContainerStatus::Running
                })
                .ok_or_else(|| ChaosError::TargetNotFound {
                    target: format!("a running {} member", knobs.workload_component),
                    cluster: self.cluster.clone(),
                })?,
            t => resolve(owned, &self.cluster, t)?,
        };
        exp.containers = vec![pd.name.clone()];
        let ip = pd.ip.clone().ok_or_else(|| ChaosError::NoAddress {
            container: pd.name.clone(),
            network: self.network.clone(),
        })?;
        let url = knobs.workload_url(&ip);
        if !(knobs.runs_simulator(pd) || self.sim.probe(&url).await) {
            return Err(unsupported(pd.name.clone()));
        }
        self.record(exp, vec![RevertStep::HttpDelete { url: url.clone() }])?;
        self.sim
            .put(
                &url,
                &serde_json::json!({"hot_range": {"start_key": start_key, "end_key": end_key, "qps": qps}}),
            )
            .await?;
        Ok(())
    }
}
