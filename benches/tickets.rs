//! Ticket store throughput: deduplicating violation observations into tickets, and
//! listing 100,000 tickets. Prints figures (targets: ≥ 10,000 observations/s, list of
//! 100,000 tickets < 100 ms); run with `cargo bench --bench tickets`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use operator::tickets::{
    Evidence, MetricEvidence, Severity, Status, TicketFilter, TicketStore, Violation,
};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_782_898_000 + secs)
}

fn violation(target: String, round: u64) -> Violation {
    let mut evidence = Evidence::at(at(round));
    evidence.metrics.push(MetricEvidence {
        series: format!("histogram_quantile(0.99, tikv_grpc_msg_duration_seconds_bucket{{instance=\"{target}\"}})"),
        value: 0.5 + round as f64 / 1000.0,
        at: at(round),
    });
    evidence.state = serde_json::json!({"store_id": 5, "state_name": "Up", "leader_count": 120});
    Violation {
        subject: "bench".into(),
        invariant: "grpc-p99-high".into(),
        target,
        severity: if round % 3 == 0 {
            Severity::Critical
        } else {
            Severity::Warning
        },
        summary: "gRPC p99 over threshold".into(),
        evidence,
        grace: Duration::ZERO,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// `rounds` rounds of `per_round` violations over `keys` distinct keys.
fn observe_case(name: &str, keys: usize, rounds: u64, per_round: usize, refresh: Option<Duration>) {
    let dir = tempfile::tempdir().unwrap();
    let store = TicketStore::open(dir.path()).unwrap();
    if let Some(r) = refresh {
        store.set_refresh_interval(r);
    }
    let mut next = 0usize;
    let batches: Vec<Vec<Violation>> = (0..rounds)
        .map(|r| {
            (0..per_round)
                .map(|_| {
                    let k = next % keys;
                    next += 1;
                    violation(format!("store-{k}"), r)
                })
                .collect()
        })
        .collect();
    let total: usize = batches.iter().map(Vec::len).sum();
    let start = Instant::now();
    let mut opened = 0;
    let mut refreshed = 0;
    for (r, b) in batches.iter().enumerate() {
        let out = store.observe(b, &[], at(r as u64)).unwrap();
        opened += out.opened.len();
        refreshed += out.refreshed.len() + out.updated.len();
    }
    store.flush().unwrap();
    let el = start.elapsed();
    println!(
        "observe  {name:<44} {total:>6} observations in {:>8.1} ms = {:>9.0} obs/s ({opened} opened, {refreshed} deduplicated, {rounds} rounds)",
        el.as_secs_f64() * 1e3,
        total as f64 / el.as_secs_f64()
    );
}

fn list_case() {
    const N: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    {
        let store = TicketStore::open(dir.path()).unwrap();
        let fill = Instant::now();
        for r in 0..(N / 1000) as u64 {
            let batch: Vec<Violation> = (0..1000)
                .map(|i| violation(format!("t-{r}-{i}"), r))
                .collect();
            store.observe(&batch, &[], at(r)).unwrap();
        }
        // Resolve a third of them so status filters have something to do.
        let holding: Vec<String> = (0..(N / 1000) as u64)
            .flat_map(|r| (0..333).map(move |i| format!("bench/grpc-p99-high/t-{r}-{i}")))
            .collect();
        store.observe(&[], &holding, at(1000)).unwrap();
        println!(
            "fill     {N} tickets in {:.1} s",
            fill.elapsed().as_secs_f64()
        );
    }
    let open_start = Instant::now();
    let store = TicketStore::open(dir.path()).unwrap();
    println!(
        "open     database holding {N} tickets (loads the summary index) in {:.1} ms",
        open_start.elapsed().as_secs_f64() * 1e3
    );
    let load = Instant::now();
    store.observe(&[], &[], at(2000)).unwrap();
    println!(
        "load     lifecycle tracker on first observe ({} active tickets) in {:.1} ms",
        store.stats().active,
        load.elapsed().as_secs_f64() * 1e3
    );
    for (name, filter) in [
        ("all", TicketFilter::default()),
        (
            "status=open,severity=critical",
            TicketFilter {
                statuses: vec![Status::Open],
                severities: vec![Severity::Critical],
                ..Default::default()
            },
        ),
        (
            "since (last 50 rounds)",
            TicketFilter {
                since: Some(at(50)),
                ..Default::default()
            },
        ),
    ] {
        let mut times = Vec::new();
        let mut count = 0;
        for _ in 0..30 {
            let s = Instant::now();
            let l = store.list(&filter);
            times.push(s.elapsed());
            count = l.len();
            std::hint::black_box(l);
        }
        times.sort();
        println!(
            "list     {name:<30} of {N} tickets -> {count:>6} rows: p50 {:>6.1} ms, p99 {:>6.1} ms (30 runs)",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too, so keep the
    // test-mode run short.
    let quick = !std::env::args().any(|a| a == "--bench");
    if quick {
        observe_case("smoke: 100 distinct keys, 1 round", 100, 1, 100, None);
        return;
    }
    // TICKETS_BENCH=list runs only the listing case (for profiling).
    if std::env::var("TICKETS_BENCH").as_deref() == Ok("list") {
        list_case();
        return;
    }
    observe_case(
        "distinct keys: 10,000 keys, 100 rounds of 100",
        10_000,
        100,
        100,
        None,
    );
    observe_case(
        "repeated keys: 100 keys, 100 rounds of 100",
        100,
        100,
        100,
        None,
    );
    observe_case(
        "repeated keys: 1,000 keys, 10 rounds of 1,000",
        1_000,
        10,
        1_000,
        None,
    );
    observe_case("one round of 10,000 distinct keys", 10_000, 1, 10_000, None);
    observe_case(
        "repeated, refresh interval 0 (every round written)",
        100,
        100,
        100,
        Some(Duration::ZERO),
    );
    list_case();
}
