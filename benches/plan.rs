//! `cargo bench --bench plan`: plan computation over an observed state of 5 PD members
//! and 1,000 TiKV stores (target: < 1 ms per pass), for a converged cluster, a
//! scale-out by one store and a rolling upgrade in progress.

use std::time::{Duration, Instant, SystemTime};

use operator::runtime::{
    labels, ContainerStatus, ObservedContainer, ObservedNetwork, ObservedVolume, Owned,
};
use operator::spec::{parse_str, ImageRef, ValidationContext};
use operator::subjects::tikv::model::{Member, NodeState, PdView, RegionHealth, Store, StoreState};
use operator::subjects::tikv::plan::{plan, Memory, Observed};
use operator::subjects::tikv::topology::{Component, Names, PdBootstrap, Topology};

fn observed(spec: &operator::spec::ClusterSpec, pd: u32, tikv: u32) -> Observed {
    let topo = Topology::new(spec);
    let names = Names::new(spec.name());
    let mut owned = Owned::default();
    owned.networks.push(ObservedNetwork {
        name: spec.network_name(),
        labels: labels::ownership(spec.name()),
    });
    let mut push = |c: operator::runtime::ContainerSpec| {
        for m in &c.mounts {
            owned.volumes.push(ObservedVolume {
                name: m.volume.clone(),
                labels: c.labels.clone(),
            });
        }
        owned.containers.push(ObservedContainer {
            id: c.name.clone(),
            name: c.name.clone(),
            image: c.image.clone(),
            labels: c.labels.clone(),
            status: ContainerStatus::Running,
            exit_code: None,
            oom_killed: false,
            ip: Some("10.0.0.1".into()),
            networks: vec![c.network.clone()],
            started_at: None,
            finished_at: None,
        });
    };
    for o in 0..pd {
        push(topo.pd_container(o, &PdBootstrap::Initial((0..pd).collect())));
    }
    let pd_ordinals: Vec<u32> = (0..pd).collect();
    for o in 0..tikv {
        push(topo.tikv_container(o, &pd_ordinals));
    }
    push(topo.prometheus_container());
    let stores = (0..tikv)
        .map(|o| Store {
            id: u64::from(o) + 1,
            address: names.tikv_address(o),
            status_address: names.tikv_status_address(o),
            state: StoreState::Up,
            node_state: NodeState::Serving,
            version: "8.5.7".into(),
            leader_count: 1000,
            region_count: 3000,
            capacity_bytes: 1 << 40,
            available_bytes: 1 << 39,
            used_bytes: 1 << 39,
            slow_score: Some(1),
            last_heartbeat_unix_nanos: 0,
            start_unix_secs: 0,
            physically_destroyed: false,
            pending_peer_count: 0,
        })
        .collect();
    let members = (0..pd)
        .map(|o| Member {
            name: Names::member(Component::Pd, Some(o)),
            member_id: u64::from(o),
            client_urls: vec![],
            peer_urls: vec![],
            healthy: Some(true),
        })
        .collect();
    let memory = Memory::default();
    Observed {
        at: Some(SystemTime::now()),
        owned,
        pd: Some(PdView {
            endpoint: "http://10.0.0.1:2379".into(),
            cluster_id: 1,
            members,
            leader: Some("pd-0".into()),
            stores,
            bootstrapped: true,
            max_replicas: 3,
            schedulers: vec![],
            evict_leader_stores: vec![],
            region_health: Some(RegionHealth::default()),
            max_store_down_time_secs: 1800,
            low_space_ratio: 0.8,
            hot_regions: vec![],
        }),
        pd_error: None,
        memory,
    }
}

fn measure(label: &str, f: impl Fn() -> usize) {
    for _ in 0..20 {
        f();
    }
    let mut samples: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "{label:<58} p50 {:>9.3} ms   p99 {:>9.3} ms   ({} steps)",
        p(0.5).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        f()
    );
}

fn main() {
    let text = "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: bench\nspec:\n  pd:\n    replicas: 5\n  monitoring:\n    grafana:\n      enabled: false\n      image: grafana/grafana:12.1.0\n";
    let mut spec = parse_str(text, "bench.yaml", ValidationContext { new_cluster: false })
        .unwrap()
        .0;
    spec.spec.tikv.replicas = 1000;
    let obs = observed(&spec, 5, 1000);
    let now = SystemTime::now();
    println!("plan(spec, observed) over 5 PD members and 1,000 TiKV stores, 200 samples each:");
    measure("converged cluster", || plan(&spec, &obs, now).steps.len());
    let mut out = spec.clone();
    out.spec.tikv.replicas = 1001;
    measure("scale out 1000 -> 1001 stores", || {
        plan(&out, &obs, now).steps.len()
    });
    let mut inn = spec.clone();
    inn.spec.tikv.replicas = 999;
    measure("scale in 1000 -> 999 stores", || {
        plan(&inn, &obs, now).steps.len()
    });
    let mut up = spec.clone();
    up.spec.tikv.image = ImageRef::parse("pingcap/tikv:v8.5.8").unwrap();
    measure("rolling upgrade of 1,000 stores (first step)", || {
        plan(&up, &obs, now).steps.len()
    });
}
