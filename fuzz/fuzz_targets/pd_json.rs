//! Every PD wire type the client decodes, plus PD's error bodies and its size and
//! duration strings, on arbitrary bytes. Decoding errors are fine; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use operator::subjects::tikv::pd::types::*;

fn decode<T: serde::de::DeserializeOwned>(data: &[u8]) {
    let _ = serde_json::from_slice::<T>(data);
}

fuzz_target!(|data: &[u8]| {
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
    decode::<EvictLeaderConfig>(data);
    if let Ok(c) = serde_json::from_slice::<EvictLeaderConfig>(data) {
        let _ = c.store_ids();
    }
    let _ = PdErrorBody::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ByteSize::parse(text).map(|b| b.to_pd_string());
        let _ = GoDuration::parse(text).map(|d| d.to_go_string());
    }
});
