//! Scale benchmark of the simulated PD: one PD process simulating 1,000 stores and
//! 1,000,000 regions (one silent store, so ~3,000 regions have a down peer). Prints p50/p99
//! latency of `GET /pd/api/v1/stores` and `GET /pd/api/v1/regions/check/down-peer` over
//! HTTP on loopback, and the process RSS.
//!
//! Run: `cargo bench --bench sim_scale` (release build). Targets: `/stores` < 50 ms,
//! `/regions/check/down-peer` < 200 ms, RSS < 2 GB.

use std::time::{Duration, Instant};

use operator::sim::pd::{start_pd, PdConfig};
use operator::sim::wire::LogSink;
use tokio_util::sync::CancellationToken;

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|p| p * 4096)
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(client: &reqwest::Client, url: &str, n: usize) -> (Duration, Duration, usize) {
    let mut lat = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        let body = client
            .get(url)
            .send()
            .await
            .expect("request")
            .bytes()
            .await
            .expect("body");
        lat.push(t.elapsed());
        bytes = body.len();
    }
    lat.sort();
    (percentile(&lat, 0.5), percentile(&lat, 0.99), bytes)
}

fn main() {
    let stores: u64 = std::env::var("SIM_SCALE_STORES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let regions: u64 = std::env::var("SIM_SCALE_REGIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let client_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let peer_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (cp, pp) = (client_l.local_addr().unwrap().port(), peer_l.local_addr().unwrap().port());
        let mut cfg = PdConfig::new("pd0");
        cfg.client_urls = vec![format!("http://127.0.0.1:{cp}")];
        cfg.peer_urls = vec![format!("http://127.0.0.1:{pp}")];
        cfg.log = LogSink::Memory(Default::default());
        cfg.scale = Some((stores, regions, 1));
        let cancel = CancellationToken::new();
        let rss0 = rss_bytes();
        let t = Instant::now();
        let pd = start_pd(cfg, Some((client_l, peer_l)), cancel.clone()).await.expect("start pd");
        let build = t.elapsed();
        let base = format!("http://127.0.0.1:{cp}/pd/api/v1");
        let client = reqwest::Client::new();
        while client.get(format!("{base}/leader")).send().await.ok().map(|r| r.status().as_u16()) != Some(200) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Let the first ticks mark the silent store's peers down.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (s50, s99, sbytes) = measure(&client, &format!("{base}/stores"), 100).await;
        let (d50, d99, dbytes) = measure(&client, &format!("{base}/regions/check/down-peer"), 100).await;
        let down = pd.node.with_model(|m| m.check_ids(2).len());
        let rss = rss_bytes();
        println!("sim_scale: {stores} stores, {regions} regions, model built in {:.2?}", build);
        println!("sim_scale: GET /pd/api/v1/stores                    p50 {:>8.2?}  p99 {:>8.2?}  ({sbytes} bytes)", s50, s99);
        println!("sim_scale: GET /pd/api/v1/regions/check/down-peer   p50 {:>8.2?}  p99 {:>8.2?}  ({dbytes} bytes, {down} regions)", d50, d99);
        println!("sim_scale: RSS {:.0} MiB (before start {:.0} MiB)", rss as f64 / 1048576.0, rss0 as f64 / 1048576.0);
        cancel.cancel();
        drop(pd);
    });
}
