//! Chaos faults against a real Docker engine: a small owned "cluster" of busybox-based
//! containers (the chaos helper image) on an owned network.
//!
//! Everything created carries `io.tikv-operator.test-run=<uuid>` and is removed at the
//! end, pass or fail. Without Docker the tests panic under `CI=true` and print a loud
//! SKIP line otherwise; the same holds for the locally built helper image
//! (`make images`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use futures::FutureExt;
use operator::chaos::{Chaos, ChaosError, ExperimentState, Fault, Target, HELPER_IMAGE};
use operator::runtime::docker::DockerRuntime;
use operator::runtime::labels;
use operator::runtime::{ContainerRuntime, ContainerSpec, ContainerStatus, Mount, NetworkSpec};

const TEST_RUN_LABEL: &str = "io.tikv-operator.test-run";

fn skip_or_panic(test: &str, why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {why} under CI=true");
    }
    eprintln!();
    eprintln!("==================================================================");
    eprintln!("SKIP {test}: {why}.");
    eprintln!("     This test did NOT run.");
    eprintln!("==================================================================");
}

struct Run {
    id: String,
    cluster: String,
    network: String,
    runtime: DockerRuntime,
    state: tempfile::TempDir,
}

impl Run {
    async fn start(test: &str) -> Option<Self> {
        let runtime = match DockerRuntime::connect().await {
            Ok(r) => r,
            Err(e) => {
                skip_or_panic(test, &format!("Docker is unreachable ({e})"));
                return None;
            }
        };
        if !runtime.image_exists(HELPER_IMAGE).await.unwrap_or(false) {
            skip_or_panic(
                test,
                &format!("image {HELPER_IMAGE} is missing (build it with `make images`)"),
            );
            return None;
        }
        let id = format!("{:032x}", rand::random::<u128>());
        let cluster = format!("ch{}", &id[..8]);
        let network = format!("{cluster}-net");
        Some(Self {
            id,
            cluster,
            network,
            runtime,
            state: tempfile::tempdir().unwrap(),
        })
    }

    fn test_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(TEST_RUN_LABEL.to_string(), self.id.clone())])
    }

    fn owned_labels(&self) -> BTreeMap<String, String> {
        let mut l = labels::ownership(&self.cluster);
        l.extend(self.test_labels());
        l
    }

    fn chaos(&self) -> Chaos {
        Chaos::new(
            Arc::new(self.runtime.clone()),
            &self.cluster,
            &self.network,
            self.state.path(),
        )
        .unwrap()
        .with_helper_labels(self.test_labels())
    }

    /// The network and one busybox container per member, `data` members with a 16 MiB
    /// tmpfs data volume at /data.
    async fn cluster(&self, members: &[&str], with_data: &[&str]) {
        self.runtime
            .create_network(&NetworkSpec {
                name: self.network.clone(),
                labels: self.owned_labels(),
            })
            .await
            .unwrap();
        for member in with_data {
            let mut l: HashMap<String, String> = self.owned_labels().into_iter().collect();
            l.insert(labels::MEMBER.into(), (*member).into());
            self.runtime
                .client()
                .create_volume(VolumeCreateRequest {
                    name: Some(format!("{}-{member}-data", self.cluster)),
                    driver: Some("local".into()),
                    driver_opts: Some(HashMap::from([
                        ("type".to_string(), "tmpfs".to_string()),
                        ("device".to_string(), "tmpfs".to_string()),
                        ("o".to_string(), "size=16m".to_string()),
                    ])),
                    labels: Some(l),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        for member in members {
            let mut l = self.owned_labels();
            l.insert(labels::MEMBER.into(), (*member).into());
            l.insert(labels::COMPONENT.into(), "tikv".into());
            let mounts = if with_data.contains(member) {
                vec![Mount {
                    volume: format!("{}-{member}-data", self.cluster),
                    target: "/data".into(),
                }]
            } else {
                vec![]
            };
            self.runtime
                .create_and_start(&ContainerSpec {
                    name: self.name(member),
                    image: HELPER_IMAGE.into(),
                    labels: l,
                    network: self.network.clone(),
                    mounts,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
    }

    fn name(&self, member: &str) -> String {
        format!("{}-{member}", self.cluster)
    }

    async fn sh(&self, member: &str, script: &str) -> (i64, String) {
        let out = self
            .runtime
            .exec(
                &self.cluster,
                &self.name(member),
                &["sh".into(), "-c".into(), script.into()],
            )
            .await
            .unwrap();
        (out.exit_code, out.output)
    }

    /// True when `from` gets an answer from `to` (by DNS name) within a second.
    async fn reaches(&self, from: &str, to: &str) -> bool {
        self.sh(from, &format!("ping -c 1 -W 1 {}", self.name(to)))
            .await
            .0
            == 0
    }

    async fn status(&self, member: &str) -> ContainerStatus {
        let owned = self
            .runtime
            .list_owned(&self.cluster, &self.network)
            .await
            .unwrap();
        owned
            .containers
            .iter()
            .find(|c| c.name == self.name(member))
            .unwrap()
            .status
    }

    async fn cleanup(&self) {
        let docker = self.runtime.client();
        let filter = HashMap::from([(
            "label".to_string(),
            vec![format!("{TEST_RUN_LABEL}={}", self.id)],
        )]);
        let containers = docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap_or_default();
        for c in containers {
            if let Some(id) = c.id {
                let _ = docker
                    .remove_container(
                        &id,
                        Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                    )
                    .await;
            }
        }
        let volumes = docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .ok()
            .and_then(|v| v.volumes)
            .unwrap_or_default();
        for v in volumes {
            let _ = docker
                .remove_volume(
                    &v.name,
                    Some(RemoveVolumeOptionsBuilder::default().force(true).build()),
                )
                .await;
        }
        let networks = docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap_or_default();
        for n in networks {
            if let Some(id) = n.id {
                let _ = docker.remove_network(&id).await;
            }
        }
    }

    /// Runs `body`, then removes everything of this run even if `body` panicked.
    async fn scoped(self, body: impl AsyncFnOnce(&Self)) {
        let outcome = std::panic::AssertUnwindSafe(body(&self))
            .catch_unwind()
            .await;
        self.cleanup().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

fn member(m: &str) -> Target {
    Target::Member(m.into())
}

const LONG: Duration = Duration::from_secs(600);

#[tokio::test]
async fn pause_freezes_and_disconnect_breaks_dns_until_reverted() {
    let Some(run) = Run::start("pause_freezes_and_disconnect_breaks_dns_until_reverted").await
    else {
        return;
    };
    run.scoped(async |run| {
        run.cluster(&["tikv-0", "tikv-1"], &[]).await;
        let chaos = run.chaos();

        let paused = chaos
            .inject(&member("tikv-0"), Fault::Pause, LONG)
            .await
            .unwrap();
        assert_eq!(run.status("tikv-0").await, ContainerStatus::Paused);
        chaos.revert(&paused.id).await.unwrap();
        assert_eq!(run.status("tikv-0").await, ContainerStatus::Running);

        assert!(run.reaches("tikv-0", "tikv-1").await, "baseline");
        let cut = chaos
            .inject(&member("tikv-1"), Fault::Disconnect, LONG)
            .await
            .unwrap();
        assert!(
            !run.reaches("tikv-0", "tikv-1").await,
            "disconnected member answered"
        );
        let reverted = chaos.revert(&cut.id).await.unwrap();
        assert_eq!(reverted.state, ExperimentState::Reverted);
        assert!(
            run.reaches("tikv-0", "tikv-1").await,
            "DNS name does not resolve again"
        );
        let owned = run
            .runtime
            .list_owned(&run.cluster, &run.network)
            .await
            .unwrap();
        assert_eq!(
            owned.containers.len(),
            2,
            "helpers left: {:?}",
            owned.containers
        );
    })
    .await;
}

#[tokio::test]
async fn iptables_partitions_and_loss_cut_exactly_the_chosen_paths() {
    let Some(run) = Run::start("iptables_partitions_and_loss_cut_exactly_the_chosen_paths").await
    else {
        return;
    };
    run.scoped(async |run| {
        run.cluster(&["tikv-0", "tikv-1", "tikv-2"], &[]).await;
        let chaos = run.chaos();

        let partition = chaos
            .inject(
                &Target::Cluster,
                Fault::Partition {
                    a: vec![member("tikv-0")],
                    b: vec![member("tikv-1")],
                },
                LONG,
            )
            .await
            .unwrap();
        assert!(!run.reaches("tikv-0", "tikv-1").await, "A reached B");
        assert!(!run.reaches("tikv-1", "tikv-0").await, "B reached A");
        assert!(run.reaches("tikv-1", "tikv-2").await, "B cannot reach C");
        assert!(run.reaches("tikv-0", "tikv-2").await, "A cannot reach C");
        chaos.revert(&partition.id).await.unwrap();
        assert!(
            run.reaches("tikv-0", "tikv-1").await,
            "partition not healed"
        );

        let loss = chaos
            .inject(&member("tikv-2"), Fault::Loss { probability: 1.0 }, LONG)
            .await
            .unwrap();
        assert!(
            !run.reaches("tikv-0", "tikv-2").await,
            "100% loss let a ping through"
        );
        assert!(
            run.reaches("tikv-0", "tikv-1").await,
            "loss hit another member"
        );
        chaos.revert(&loss.id).await.unwrap();
        assert!(run.reaches("tikv-0", "tikv-2").await, "loss not reverted");

        // Only helpers of this run existed, and none is left.
        let owned = run
            .runtime
            .list_owned(&run.cluster, &run.network)
            .await
            .unwrap();
        assert_eq!(owned.containers.len(), 3, "{:?}", owned.containers);
    })
    .await;
}

#[tokio::test]
async fn tbf_applies_and_netem_is_detected() {
    let Some(run) = Run::start("tbf_applies_and_netem_is_detected").await else {
        return;
    };
    run.scoped(async |run| {
        run.cluster(&["tikv-0"], &[]).await;
        let chaos = run.chaos();
        let bandwidth = chaos
            .inject(
                &member("tikv-0"),
                Fault::Bandwidth {
                    rate: "1mbit".into(),
                    burst: "32kbit".into(),
                    latency: "400ms".into(),
                },
                LONG,
            )
            .await
            .unwrap();
        let (_, shown) = run.sh("tikv-0", "tc qdisc show dev eth0").await;
        assert!(
            shown.contains("tbf") && shown.contains("rate 1Mbit"),
            "{shown}"
        );
        chaos.revert(&bandwidth.id).await.unwrap();
        let (_, shown) = run.sh("tikv-0", "tc qdisc show dev eth0").await;
        assert!(!shown.contains("tbf"), "{shown}");

        let latency = chaos
            .inject(
                &member("tikv-0"),
                Fault::Latency {
                    delay_ms: 100,
                    jitter_ms: 0,
                },
                LONG,
            )
            .await;
        match latency {
            Err(ChaosError::NetemUnavailable { detail }) => {
                eprintln!("netem unavailable on this kernel, as detected: {detail}");
                let (_, shown) = run.sh("tikv-0", "tc qdisc show dev eth0").await;
                assert!(!shown.contains("netem"), "{shown}");
            }
            Ok(e) => {
                // A kernel with netem: the fault must really be there, then go away.
                let (_, shown) = run.sh("tikv-0", "tc qdisc show dev eth0").await;
                assert!(shown.contains("netem"), "{shown}");
                chaos.revert(&e.id).await.unwrap();
                let (_, shown) = run.sh("tikv-0", "tc qdisc show dev eth0").await;
                assert!(!shown.contains("netem"), "{shown}");
            }
            Err(e) => panic!("unexpected latency error: {e}"),
        }
    })
    .await;
}

#[tokio::test]
async fn disk_fill_reaches_the_ratio_on_a_small_volume_and_revert_frees_it() {
    let Some(run) =
        Run::start("disk_fill_reaches_the_ratio_on_a_small_volume_and_revert_frees_it").await
    else {
        return;
    };
    run.scoped(async |run| {
        run.cluster(&["tikv-0"], &["tikv-0"]).await;
        let chaos = run.chaos();
        let usage = |out: String| -> f64 {
            let line = out.lines().last().unwrap_or_default().to_string();
            let f: Vec<&str> = line.split_whitespace().collect();
            let used: f64 = f[2].parse().unwrap();
            let avail: f64 = f[3].parse().unwrap();
            used / (used + avail)
        };
        let before = usage(run.sh("tikv-0", "df -P -k /data").await.1);
        assert!(before < 0.1, "{before}");
        let fill = chaos
            .inject(&member("tikv-0"), Fault::DiskFill { ratio: 0.8 }, LONG)
            .await
            .unwrap();
        let during = usage(run.sh("tikv-0", "df -P -k /data").await.1);
        assert!(
            (0.78..=0.85).contains(&during),
            "fill reached {during}: {:?}",
            fill.notes
        );
        chaos.revert(&fill.id).await.unwrap();
        let after = usage(run.sh("tikv-0", "df -P -k /data").await.1);
        assert!(after < 0.1, "revert left {after}");
        let (_, listing) = run.sh("tikv-0", "ls -a /data").await;
        assert!(!listing.contains(".chaos-fill"), "{listing}");
    })
    .await;
}

const SIM_IMAGE: &str = "tikv-sim:local";

#[tokio::test]
async fn simulator_knobs_are_set_and_each_revert_restores_only_its_own_knob() {
    let test = "simulator_knobs_are_set_and_each_revert_restores_only_its_own_knob";
    let Some(run) = Run::start(test).await else {
        return;
    };
    if !run.runtime.image_exists(SIM_IMAGE).await.unwrap_or(false) {
        skip_or_panic(
            test,
            &format!("image {SIM_IMAGE} is missing (`make images`)"),
        );
        return;
    }
    run.scoped(async |run| {
        run.cluster(&[], &[]).await;
        let pd = run.name("pd-0");
        let mut l = run.owned_labels();
        l.insert(labels::MEMBER.into(), "pd-0".into());
        l.insert(labels::COMPONENT.into(), "pd".into());
        run.runtime
            .create_and_start(&ContainerSpec {
                name: pd.clone(),
                image: SIM_IMAGE.into(),
                cmd: [
                    "pd".to_string(),
                    "--name=pd-0".into(),
                    "--data-dir=/tmp/pd".into(),
                    "--client-urls=http://0.0.0.0:2379".into(),
                    format!("--advertise-client-urls=http://{pd}:2379"),
                    "--peer-urls=http://0.0.0.0:2380".into(),
                    format!("--advertise-peer-urls=http://{pd}:2380"),
                    format!("--initial-cluster=pd-0=http://{pd}:2380"),
                ]
                .to_vec(),
                labels: l,
                network: run.network.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        let tikv = run.name("tikv-0");
        let mut l = run.owned_labels();
        l.insert(labels::MEMBER.into(), "tikv-0".into());
        l.insert(labels::COMPONENT.into(), "tikv".into());
        run.runtime
            .create_and_start(&ContainerSpec {
                name: tikv.clone(),
                image: SIM_IMAGE.into(),
                cmd: vec![
                    "tikv".into(),
                    "--addr=0.0.0.0:20160".into(),
                    format!("--advertise-addr={tikv}:20160"),
                    "--status-addr=0.0.0.0:20180".into(),
                    format!("--advertise-status-addr={tikv}:20180"),
                    "--data-dir=/tmp/tikv".into(),
                    format!("--pd-endpoints={pd}:2379"),
                ],
                labels: l,
                network: run.network.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        let owned = run
            .runtime
            .list_owned(&run.cluster, &run.network)
            .await
            .unwrap();
        let ip = |name: &str| {
            owned
                .containers
                .iter()
                .find(|c| c.name == name)
                .and_then(|c| c.ip.clone())
                .unwrap()
        };
        let faults = format!("http://{}:20180/sim/v1/faults", ip(&tikv));
        let workload = format!("http://{}:2379/sim/v1/workload", ip(&pd));
        let http = reqwest::Client::new();
        let get = async |url: &str| -> serde_json::Value {
            for _ in 0..100 {
                if let Ok(r) = http.get(url).send().await {
                    if r.status().is_success() {
                        return r.json().await.unwrap();
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("{url} never answered");
        };
        assert_eq!(get(&faults).await["slow_disk_ms"], 0.0);

        let chaos = run
            .chaos()
            .with_simulator(operator::subjects::tikv::chaos::SIMULATOR);
        let slow = chaos
            .inject(&member("tikv-0"), Fault::SlowDisk { delay_ms: 200 }, LONG)
            .await
            .unwrap();
        let cpu = chaos
            .inject(&member("tikv-0"), Fault::CpuSaturation { ratio: 0.5 }, LONG)
            .await
            .unwrap();
        let now = get(&faults).await;
        assert_eq!(
            (now["slow_disk_ms"].as_f64(), now["cpu_saturation"].as_f64()),
            (Some(200.0), Some(0.5))
        );
        chaos.revert(&slow.id).await.unwrap();
        let now = get(&faults).await;
        assert_eq!(
            (now["slow_disk_ms"].as_f64(), now["cpu_saturation"].as_f64()),
            (Some(0.0), Some(0.5))
        );
        chaos.revert(&cpu.id).await.unwrap();
        assert_eq!(get(&faults).await["cpu_saturation"].as_f64(), Some(0.0));

        // The PD workload knob, once PD has elected itself.
        get(&workload).await;
        let hot = chaos
            .inject(
                &Target::Cluster,
                Fault::HotRange {
                    start_key: "user0000001000".into(),
                    end_key: "user0000002000".into(),
                    qps: 3000,
                },
                LONG,
            )
            .await
            .unwrap();
        assert_eq!(hot.containers, vec![pd.clone()]);
        assert_eq!(
            get(&workload).await["hot_range"]["qps"].as_f64(),
            Some(3000.0)
        );
        chaos.revert(&hot.id).await.unwrap();
        assert!(get(&workload).await["hot_range"].is_null());
    })
    .await;
}

#[tokio::test]
async fn cpu_saturation_on_a_real_container_runs_busy_loops_that_the_revert_ends() {
    let test = "cpu_saturation_on_a_real_container_runs_busy_loops_that_the_revert_ends";
    let Some(run) = Run::start(test).await else {
        return;
    };
    run.scoped(async |run| {
        run.cluster(&["tikv-0"], &[]).await;
        let chaos = run.chaos();
        let burn = chaos
            .inject(&member("tikv-0"), Fault::CpuSaturation { ratio: 0.5 }, LONG)
            .await
            .unwrap();
        let pids_file = format!("/tmp/.chaos-cpu-{}.pids", burn.id);
        let (_, pids) = run.sh("tikv-0", &format!("cat {pids_file}")).await;
        let pids: Vec<u32> = pids
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        assert!(!pids.is_empty(), "no busy loop recorded: {:?}", burn.notes);
        let list = pids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let alive =
            format!("n=0; for p in {list}; do [ -d /proc/$p ] && n=$((n+1)); done; echo $n");
        let (_, count) = run.sh("tikv-0", &alive).await;
        assert_eq!(
            count.trim(),
            pids.len().to_string(),
            "busy loops died with the exec"
        );
        chaos.revert(&burn.id).await.unwrap();
        let (_, count) = run.sh("tikv-0", &alive).await;
        assert_eq!(count.trim(), "0", "busy loops outlived the revert");
    })
    .await;
}
