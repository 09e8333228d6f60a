//! The parsers of untrusted input never panic: the ClusterSpec parser, the PD JSON
//! decoders, the unified-log parser and the Prometheus text (and query-response) parsers,
//! fed arbitrary bytes, arbitrary text, and real inputs with random edits.
//!
//! This is the cheap, always-on companion of the cargo-fuzz targets in `fuzz/` (run with
//! `make fuzz`): the same entry points, a few hundred cases each, so a parser change that
//! panics on bad input fails `make test` too. Seeds are the shipped examples and the PD /
//! TiKV reference fixtures; mutations keep the input close to the real grammar so the
//! deep paths (locations in the spec, histogram grouping, log fields) are reached.

use std::path::PathBuf;

use proptest::prelude::*;

use operator::promtext;
use operator::spec::{parse_str, ValidationContext};
use operator::subjects::tikv::logs::{classify, parse_line, parse_log, LogEntry};
use operator::subjects::tikv::pd::types::*;
use operator::subjects::tikv::prom;

fn spec(text: &str) {
    for new_cluster in [true, false] {
        if let Err(e) = parse_str(text, "prop.yaml", ValidationContext { new_cluster }) {
            let _ = e.to_string();
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(data: &[u8]) {
    let _ = serde_json::from_slice::<T>(data);
}

fn pd_json(data: &[u8]) {
    decode::<StoresInfo>(data);
    decode::<StoreInfo>(data);
    decode::<StoreProgress>(data);
    decode::<MembersInfo>(data);
    decode::<PdMember>(data);
    decode::<Vec<MemberHealth>>(data);
    decode::<ClusterInfo>(data);
    decode::<ClusterStatus>(data);
    decode::<VersionInfo>(data);
    decode::<StatusInfo>(data);
    decode::<ReplicationConfig>(data);
    decode::<ScheduleConfig>(data);
    decode::<PdConfig>(data);
    decode::<RegionInfo>(data);
    decode::<RegionsInfo>(data);
    decode::<HotRegions>(data);
    decode::<HotStores>(data);
    decode::<Vec<OperatorObject>>(data);
    if let Ok(c) = serde_json::from_slice::<EvictLeaderConfig>(data) {
        let _ = c.store_ids();
    }
    let _ = PdErrorBody::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ByteSize::parse(text).map(|b| b.to_pd_string());
        let _ = GoDuration::parse(text).map(|d| d.to_go_string());
    }
}

fn logs(text: &str) {
    for entry in parse_log(text) {
        if let LogEntry::Record(record) = &entry {
            let _ = classify(record);
        }
    }
    for line in text.lines() {
        let _ = parse_line(line);
    }
}

fn metrics(data: &[u8]) {
    let _ = prom::parse_query_response(data);
    let text = String::from_utf8_lossy(data);
    let exposition = promtext::parse(&text);
    for family in &exposition.families {
        for h in family.histograms() {
            for q in [0.0, 0.5, 0.99, 1.0] {
                let _ = h.quantile(q);
            }
        }
    }
    let _ = promtext::parse_value(&text);
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture(name: &str) -> Vec<u8> {
    read(
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/pd-tikv/fixtures"
        ))
        .join(name),
    )
}

fn example(name: &str) -> Vec<u8> {
    read(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/examples")).join(name))
}

/// One random edit: at a position (a fraction of the length), delete a run, insert a
/// byte, or overwrite a byte — structure-breaking edits a real truncated or corrupted
/// answer makes.
#[derive(Debug, Clone)]
enum Edit {
    Delete(f64, usize),
    Insert(f64, u8),
    Overwrite(f64, u8),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let interesting = prop_oneof![
        any::<u8>(),
        Just(b'{'),
        Just(b'}'),
        Just(b'"'),
        Just(b'\n'),
        Just(b':'),
        Just(b' '),
        Just(b'['),
        Just(b'-'),
        Just(b'#'),
        Just(b'='),
        Just(0xff),
    ];
    let edit = prop_oneof![
        (0.0..1.0f64, 1usize..64).prop_map(|(p, n)| Edit::Delete(p, n)),
        (0.0..1.0f64, interesting.clone()).prop_map(|(p, b)| Edit::Insert(p, b)),
        (0.0..1.0f64, interesting).prop_map(|(p, b)| Edit::Overwrite(p, b)),
    ];
    proptest::collection::vec(edit, 1..8)
}

fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for e in edits {
        let at = |p: f64, len: usize| ((p * len as f64) as usize).min(len);
        match *e {
            Edit::Delete(p, n) => {
                let start = at(p, out.len());
                let end = (start + n).min(out.len());
                out.drain(start..end);
            }
            Edit::Insert(p, b) => {
                let i = at(p, out.len());
                out.insert(i, b);
            }
            Edit::Overwrite(p, b) => {
                if !out.is_empty() {
                    let i = at(p, out.len() - 1);
                    out[i] = b;
                }
            }
        }
    }
    out
}

const PD_FIXTURES: &[&str] = &[
    "stores.json",
    "store.json",
    "members.json",
    "health.json",
    "config.json",
    "config_schedule.json",
    "config_replicate.json",
    "regions.json",
    "region.json",
    "hotspot_write.json",
    "hotspot_stores.json",
    "operators_object.json",
    "scheduler_config_evict_leader.json",
    "cluster_status.json",
    "status.json",
    "version.json",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_spec_parser_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        spec(&text);
    }

    #[test]
    fn the_spec_parser_never_panics_on_an_edited_example(
        which in 0usize..3,
        edits in edits(),
    ) {
        let seed = example(["cluster.yaml", "minimal.yaml", "sim-cluster.yaml"][which]);
        let edited = mutate(&seed, &edits);
        spec(&String::from_utf8_lossy(&edited));
    }

    #[test]
    fn the_pd_decoders_never_panic_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        pd_json(&data);
    }

    #[test]
    fn the_pd_decoders_never_panic_on_an_edited_fixture(
        which in 0..PD_FIXTURES.len(),
        edits in edits(),
    ) {
        pd_json(&mutate(&fixture(PD_FIXTURES[which]), &edits));
    }

    #[test]
    fn the_log_parser_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        logs(&text);
    }

    #[test]
    fn the_log_parser_never_panics_on_an_edited_log(
        which in 0usize..2,
        edits in edits(),
    ) {
        let seed = fixture(["tikv.log", "pd.log"][which]);
        logs(&String::from_utf8_lossy(&mutate(&seed, &edits)));
    }

    #[test]
    fn the_metrics_parsers_never_panic_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        metrics(&data);
    }

    #[test]
    fn the_metrics_parsers_never_panic_on_an_edited_exposition(
        which in 0usize..2,
        edits in edits(),
    ) {
        let seed = fixture(["tikv_metrics.txt", "pd_metrics.txt"][which]);
        metrics(&mutate(&seed, &edits));
    }
}

/// The seeds themselves parse: the mutations start from real, accepted input (so a
/// missing or renamed fixture cannot quietly turn the edits into noise).
#[test]
fn the_seeds_are_accepted_as_they_are() {
    for name in ["cluster.yaml", "minimal.yaml", "sim-cluster.yaml"] {
        let text = String::from_utf8(example(name)).unwrap();
        parse_str(&text, name, ValidationContext::default()).unwrap();
    }
    serde_json::from_slice::<StoresInfo>(&fixture("stores.json")).unwrap();
    serde_json::from_slice::<MembersInfo>(&fixture("members.json")).unwrap();
    let log = String::from_utf8(fixture("tikv.log")).unwrap();
    assert!(parse_log(&log)
        .iter()
        .any(|e| matches!(e, LogEntry::Record(_))));
    let text = String::from_utf8(fixture("tikv_metrics.txt")).unwrap();
    let exposition = promtext::parse(&text);
    assert!(!exposition.families.is_empty() && exposition.errors.is_empty());
}
