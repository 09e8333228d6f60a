//! The cluster model's unit tests.

use super::*;

fn put(m: &mut ClusterModel, addr: &str, now: u64) -> u64 {
    m.put_store(
        PutStore {
            address: addr.into(),
            status_address: addr.replace("20160", "20180"),
            version: "8.5.7".into(),
            capacity: 1 << 40,
            start_timestamp: (now / 1000) as i64,
            ..Default::default()
        },
        now,
    )
    .unwrap()
}

fn hb(m: &mut ClusterModel, id: u64, now: u64) {
    m.store_heartbeat(
        StoreHeartbeat {
            store_id: id,
            capacity: 1 << 40,
            available: 1 << 39,
            used: 1 << 30,
            slow_score: 1,
        },
        now,
    )
    .unwrap();
}

fn three_store_cluster() -> (ClusterModel, Vec<u64>, u64) {
    let mut m = ClusterModel::new(1, 100.0, 7, 12);
    let mut now = 1_000_000u64;
    let ids: Vec<u64> = (0..3)
        .map(|i| put(&mut m, &format!("tikv{i}:20160"), now))
        .collect();
    for _ in 0..400 {
        now += 50;
        for id in &ids {
            hb(&mut m, *id, now);
        }
        m.tick(now);
    }
    (m, ids, now)
}

#[test]
fn position_lookup_is_monotonic_with_encoding() {
    let k = encode_key(1234);
    assert_eq!(position_of(&k), 1234);
    let mut k2 = k.clone();
    k2.push(0);
    assert_eq!(position_of(&k2), 1234);
    assert_eq!(position_of(b""), 0);
}

#[test]
fn bootstrap_regions_get_fully_replicated_once_three_stores_exist() {
    let (m, ids, _) = three_store_cluster();
    assert_eq!(m.regions.len(), 12);
    assert!(
        m.check_ids(0).is_empty(),
        "miss-peer left: {:?}",
        m.check_ids(0)
    );
    for id in ids {
        assert_eq!(m.counts(id).region_count, 12);
        assert!(m.counts(id).leader_count >= 3, "leaders balanced");
    }
}

#[test]
fn a_silent_store_loses_its_leaders_and_its_peers_go_down() {
    let (mut m, ids, mut now) = three_store_cluster();
    let dead = ids[0];
    for _ in 0..100 {
        now += 100;
        hb(&mut m, ids[1], now);
        hb(&mut m, ids[2], now);
        m.tick(now);
    }
    let s = &m.stores[&dead];
    assert_eq!(m.state_name(s, now), StateName::Disconnected);
    assert_eq!(m.counts(dead).leader_count, 0);
    assert!(!m.check_ids(2).is_empty(), "down-peer regions");
}

#[test]
fn removing_a_peer_that_was_marked_down_clears_its_down_mark() {
    let (mut m, _, _) = three_store_cluster();
    let region = *m.regions.keys().next().unwrap();
    let (peer, leader) = {
        let r = &m.regions[&region];
        let p = r.peers.iter().find(|p| p.id != r.leader).unwrap().id;
        (p, r.leader)
    };
    m.update_region(region, |r| r.down_peers.push(peer));
    assert!(m.check_ids(2).contains(&region));
    // Any path that drops the peer (here the learner-undo of a cancelled operator
    // and a plain removal look the same) must not leave a dangling down mark.
    m.update_region(region, |r| r.peers.retain(|p| p.id != peer));
    let r = &m.regions[&region];
    assert!(
        r.down_peers.is_empty(),
        "stale down mark: {:?}",
        r.down_peers
    );
    assert_eq!(r.leader, leader);
    assert!(!m.check_ids(2).contains(&region), "down-peer check cleared");
}

#[test]
fn the_model_survives_a_json_round_trip_with_its_indexes() {
    let (m, ids, _) = three_store_cluster();
    let text = serde_json::to_string(&m).unwrap();
    let mut back: ClusterModel = serde_json::from_str(&text).unwrap();
    back.rebuild_indexes();
    for id in ids {
        assert_eq!(back.counts(id), m.counts(id));
    }
    assert_eq!(back.regions, m.regions);
}

#[test]
fn a_region_that_outgrows_region_max_size_splits_on_its_leaders_heartbeat() {
    let (mut m, ids, mut now) = three_store_cluster();
    m.workload.write_qps = 200_000.0;
    let before = m.regions.len();
    now += 5_000; // 500 simulated seconds at time factor 100
    for id in &ids {
        hb(&mut m, *id, now);
        m.region_heartbeat(*id, now).unwrap();
    }
    assert!(m.regions.len() > before, "splits happened");
    // Key ranges still tile the keyspace without gaps.
    let mut expect = KEY_MIN;
    for r in m.scan_regions(KEY_MIN, KEY_MAX, 0) {
        assert_eq!(r.start, expect);
        expect = r.end;
    }
    assert_eq!(expect, KEY_MAX);
    assert_eq!(m.idx.by_start.len(), m.regions.len());
}

#[test]
fn the_same_seed_and_inputs_give_the_same_cluster() {
    let render = |m: &ClusterModel| m.regions_json(m.regions.values(), 0);
    let (a, _, _) = three_store_cluster();
    let (b, _, _) = three_store_cluster();
    assert_eq!(render(&a), render(&b));
}

#[test]
fn delete_is_refused_below_max_replicas() {
    let (mut m, ids, now) = three_store_cluster();
    let e = m.remove_store(ids[0], false, now).unwrap_err();
    assert_eq!(e.to_string(), format!("[PD:core:ErrStoresNotEnough]can not remove store {} since the number of up stores would be 2 while need 3", ids[0]));
    assert_eq!(e.status(), 400);
}

#[test]
fn an_offline_store_drains_to_tombstone() {
    let (mut m, mut ids, mut now) = three_store_cluster();
    ids.push(put(&mut m, "tikv3:20160", now));
    m.remove_store(ids[0], false, now).unwrap();
    for _ in 0..2000 {
        now += 50;
        for id in &ids {
            hb(&mut m, *id, now);
        }
        m.tick(now);
        if m.stores[&ids[0]].state == 2 {
            break;
        }
    }
    assert_eq!(
        m.stores[&ids[0]].state,
        2,
        "tombstone; regions left {}",
        m.counts(ids[0]).region_count
    );
    assert_eq!(m.counts(ids[3]).region_count, 12);
    assert!(m.remove_store(ids[0], false, now).unwrap_err().status() == 410);
}
