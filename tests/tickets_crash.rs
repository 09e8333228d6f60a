//! Durable before reported: a writer process prints every ticket id only after the store
//! has flushed it; the parent SIGKILLs the writer at random moments, reopens the database
//! and checks that every acknowledged id (and acknowledgement) is there.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use operator::tickets::{Evidence, Severity, Status, TicketFilter, TicketStore, Violation};
use rand::{Rng, SeedableRng};

const DB_ENV: &str = "TICKETS_CRASH_WRITER_DB";
const ROUND_ENV: &str = "TICKETS_CRASH_WRITER_ROUND";

fn violation(target: String) -> Violation {
    Violation {
        subject: "crash".into(),
        invariant: "writer".into(),
        target,
        severity: Severity::Warning,
        summary: "written by the crash writer".into(),
        evidence: Evidence::at(SystemTime::now()),
        grace: Duration::ZERO,
    }
}

/// The writer half; runs only when re-executed by the parent with the env vars set.
#[test]
#[ignore = "child process of a_sigkilled_writer_never_loses_an_acknowledged_ticket"]
fn crash_writer_child() {
    let Ok(path) = std::env::var(DB_ENV) else {
        panic!("run by a_sigkilled_writer_never_loses_an_acknowledged_ticket only");
    };
    let round: u64 = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let store = TicketStore::open(&path).unwrap();
    println!("READY");
    let repeated: Vec<Violation> = (0..4).map(|i| violation(format!("hot-{i}"))).collect();
    for n in 0u64.. {
        let mut batch = repeated.clone();
        batch.push(violation(format!("r{round}-{n}")));
        let out = store.observe(&batch, &[], SystemTime::now()).unwrap();
        for t in out.opened.iter().chain(out.reopened.iter()) {
            println!("ID {}", t.id);
        }
        if n % 7 == 3 {
            let id = out.opened.last().unwrap().id;
            store.ack(id, "crash-test", None).unwrap();
            println!("ACK {id}");
        }
    }
}

#[test]
fn a_sigkilled_writer_never_loses_an_acknowledged_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.db");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(_seed());
    let mut acked_ids: Vec<u64> = Vec::new();
    let mut acked_acks: Vec<u64> = Vec::new();
    for round in 0..10u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "crash_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DB_ENV, &path)
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until the writer has opened the database, then let it write for a while.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("writer did not start");
            if line.ends_with("READY") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(20..400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let mut round_ids = 0;
        for line in rx.try_iter() {
            if let Some(id) = line.strip_prefix("ID ") {
                acked_ids.push(id.parse().unwrap());
                round_ids += 1;
            } else if let Some(id) = line.strip_prefix("ACK ") {
                acked_acks.push(id.parse().unwrap());
            }
        }
        // The db must open and hold every acknowledged id, every round.
        let store = TicketStore::open(&path).unwrap();
        for id in &acked_ids {
            let t = store.get(*id).unwrap();
            assert!(t.is_some(), "round {round}: acknowledged ticket {id} lost");
        }
        for id in &acked_acks {
            let t = store.get(*id).unwrap().unwrap();
            assert_eq!(
                t.status,
                Status::Acknowledged,
                "round {round}: ack of {id} lost"
            );
        }
        let listed = store.list(&TicketFilter::default());
        assert!(listed.len() >= acked_ids.len());
        eprintln!(
            "round {round}: {round_ids} ids acknowledged, {} tickets in db",
            listed.len()
        );
    }
    assert!(
        acked_ids.len() > 10,
        "the writer barely wrote: {}",
        acked_ids.len()
    );
    // Ids are unique.
    let mut sorted = acked_ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), acked_ids.len(), "an id was handed out twice");
}

const fn _seed() -> u64 {
    0x5eed_7ac0
}
