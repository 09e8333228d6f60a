//! Dependency faults, in process: the controller loop, the monitor, the ticket store and
//! the HTTP surface run as `operator run` wires them, over the in-memory runtime (which
//! can play an unreachable daemon) and a PD that can be switched off, and the diagnosis
//! loop against the Messages API stand-in answering 529 storms and timing out.
//!
//! For each fault: the loop keeps running, backs off within its cap, a blindness
//! ticket is filed, `/healthz` stays 200 and `/readyz` says why it is not ready (or
//! degraded), and everything recovers on its own when the dependency returns.
//! (A killed PD leader is covered by the PD client's failover, `tests/sim_behaviour.rs`;
//! Prometheus unreachable by the `prometheus-unreachable` invariant and the readiness
//! rule tested here for the model API, which is auxiliary in the same way.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use operator::diagnose::backend::claude::{ApiKey, ClaudeBackend, ClaudeConfig, OutputStrategy};
use operator::diagnose::backend::rules::RulesConfig;
use operator::diagnose::backend::RetryPolicy;
use operator::diagnose::reconciler::{
    DiagnosisReconciler, MemoryQueue, NoExtraContext, ReconcilerConfig,
};
use operator::diagnose::scenarios;
use operator::diagnose::standin::{Reply, Standin, StandinConfig};
use operator::reconcile::deps::{Criticality, Dependencies, MODEL_API};
use operator::reconcile::{Controller, Metrics};
use operator::runtime::fake::FakeRuntime;
use operator::spec::{parse_str, ValidationContext};
use operator::subjects::tikv::hypotheses::{diagnose_evidence, rules_backend};
use operator::subjects::tikv::model::{Member, PdView};
use operator::subjects::tikv::subject::{PdApi, TikvSubject};
use operator::tickets::monitor::blindness_tickets;
use operator::tickets::{Status, TicketFilter, TicketStore};

/// A PD that answers with a healthy one-member view, or refuses while switched off.
struct SwitchPd(Arc<AtomicBool>);

impl SwitchPd {
    fn check(&self) -> Result<(), String> {
        if self.0.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("connection refused (all PD members down)".into())
        }
    }
}

#[async_trait::async_trait]
impl PdApi for SwitchPd {
    async fn observe(&self) -> Result<PdView, String> {
        self.check()?;
        Ok(PdView {
            endpoint: "http://pd-0:2379".into(),
            cluster_id: 1,
            members: vec![Member {
                name: "pd-0".into(),
                member_id: 1,
                client_urls: vec!["http://pd-0:2379".into()],
                peer_urls: vec!["http://pd-0:2380".into()],
                healthy: Some(true),
            }],
            leader: Some("pd-0".into()),
            max_replicas: 3,
            ..Default::default()
        })
    }
    async fn delete_store(&self, _: u64) -> Result<(), String> {
        self.check()
    }
    async fn set_store_up(&self, _: u64) -> Result<(), String> {
        self.check()
    }
    async fn add_evict_leader(&self, _: u64) -> Result<(), String> {
        self.check()
    }
    async fn remove_evict_leader(&self, _: u64) -> Result<(), String> {
        self.check()
    }
    async fn delete_member(&self, _: &str) -> Result<(), String> {
        self.check()
    }
    async fn transfer_leader(&self, _: &str) -> Result<(), String> {
        self.check()
    }
}

const SPEC: &str = "apiVersion: tikv-operator.dev/v1alpha1
kind: TikvCluster
metadata:
  name: blind
spec:
  pd:
    replicas: 1
  tikv:
    replicas: 3
  monitoring:
    prometheus:
      enabled: false
      image: operator-prometheus:local
    grafana:
      enabled: false
      image: grafana/grafana:12.1.0
  reconcile:
    interval: 1s
    maxBackoff: 4s
  invariants:
    pdUnreachableGrace: 1s
";

struct Harness {
    fake: Arc<FakeRuntime>,
    pd_up: Arc<AtomicBool>,
    controller: Controller<TikvSubject>,
    store: Arc<TicketStore>,
    base: String,
    stop: tokio::sync::watch::Sender<bool>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start() -> Self {
        let spec = parse_str(SPEC, "blind.yaml", ValidationContext::default())
            .unwrap()
            .0;
        let fake = Arc::new(FakeRuntime::new());
        let pd_up = Arc::new(AtomicBool::new(true));
        let up = pd_up.clone();
        let subject = Arc::new(TikvSubject::new(
            spec,
            None,
            fake.clone(),
            Arc::new(move |_| Arc::new(SwitchPd(up.clone())) as Arc<dyn PdApi>),
        ));
        let controller = Controller::new(subject, Metrics::new());
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(TicketStore::open(dir.path().join("tickets")).unwrap());
        let (stop, rx) = tokio::sync::watch::channel(false);
        let stopped = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = operator::server::router(
            controller.clone(),
            operator::tickets::api::router((*store).clone(), None),
        );
        tokio::spawn(operator::server::serve(
            listener,
            router,
            stopped(rx.clone()),
        ));
        tokio::spawn(controller.clone().run(stopped(rx.clone())));
        tokio::spawn(operator::tickets::monitor::run(
            controller.subject().clone(),
            store.clone(),
            controller.metrics().clone(),
            Arc::default(),
            stopped(rx),
        ));
        let h = Self {
            fake,
            pd_up,
            controller,
            store,
            base,
            stop,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            _dir: dir,
        };
        h.wait("ready at start", |code, _| code == 200).await;
        h
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Polls `/readyz` until `f(code, body)` holds (generous deadline, loaded machines).
    async fn wait(&self, what: &str, f: impl Fn(u16, &str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let (code, body) = self.get("/readyz").await;
            if f(code, &body) {
                return body;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{what}: /readyz still {code} {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_ticket(&self, invariant: &str, status: &[Status]) {
        let start = Instant::now();
        loop {
            let found = self
                .store
                .list(&TicketFilter::default())
                .iter()
                .any(|t| t.invariant == invariant && status.contains(&t.status));
            if found {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no {invariant} ticket in {status:?}: {:?}",
                self.store
                    .list(&TicketFilter::default())
                    .iter()
                    .map(|t| (t.invariant.clone(), t.status))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_to_docker_the_controller_stays_up_backs_off_files_a_ticket_says_not_ready_and_recovers(
) {
    let h = Harness::start().await;
    let errors_before = h.controller.metrics().passes("error");
    h.fake.set_unreachable(true);
    let body = h
        .wait("not ready while Docker is unreachable", |code, body| {
            code == 503 && body.contains("runtime")
        })
        .await;
    assert!(
        body.contains("blind") && body.contains("unreachable"),
        "{body}"
    );
    assert_eq!(h.get("/healthz").await.0, 200, "the process is alive");
    h.wait_ticket("runtime-unreachable", &[Status::Open, Status::Diagnosing])
        .await;

    // Backoff within bounds: 500 ms doubling to the 4 s cap. Over a 12 s window a loop
    // without backoff would fail thousands of passes; with it, a handful, and it keeps
    // retrying (at least one every cap).
    let window_start = h.controller.metrics().passes("error");
    tokio::time::sleep(Duration::from_secs(12)).await;
    let in_window = h.controller.metrics().passes("error") - window_start;
    assert!(
        (2..=8).contains(&in_window),
        "{in_window} failed passes in 12 s (before the fault: {errors_before})"
    );
    let (_, metrics) = h.get("/metrics").await;
    assert!(
        metrics
            .contains("operator_dependency_up{dependency=\"runtime\",criticality=\"critical\"} 0"),
        "{metrics}"
    );

    h.fake.set_unreachable(false);
    h.wait("ready again once Docker answers", |code, body| {
        code == 200 && !body.contains("runtime")
    })
    .await;
    let (_, metrics) = h.get("/metrics").await;
    assert!(
        metrics
            .contains("operator_dependency_up{dependency=\"runtime\",criticality=\"critical\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("operator_tokio_alive_tasks "), "{metrics}");
    // The blindness ticket resolves itself once the runtime holds again.
    h.wait_ticket("runtime-unreachable", &[Status::Resolved])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_to_every_pd_member_the_controller_files_pd_unreachable_says_not_ready_and_recovers()
{
    let h = Harness::start().await;
    h.pd_up.store(false, Ordering::SeqCst);
    let body = h
        .wait("not ready while PD is down", |code, body| {
            code == 503 && body.contains("pd:")
        })
        .await;
    assert!(body.contains("all PD members down"), "{body}");
    assert_eq!(h.get("/healthz").await.0, 200);
    h.wait_ticket("pd-unreachable", &[Status::Open, Status::Diagnosing])
        .await;
    h.pd_up.store(true, Ordering::SeqCst);
    h.wait("ready again once PD answers", |code, _| code == 200)
        .await;
    h.wait_ticket("pd-unreachable", &[Status::Resolved]).await;
}

fn claude(s: &Standin) -> ClaudeBackend {
    ClaudeBackend::new(
        ClaudeConfig {
            base_url: s.base_url(),
            model: "claude-sonnet-5-5".into(),
            strategy: OutputStrategy::Auto,
            retry: RetryPolicy {
                initial_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(40),
                ..Default::default()
            },
            timeout: Duration::from_millis(500),
            ..Default::default()
        },
        ApiKey::new(s.api_key()),
    )
    .unwrap()
}

#[tokio::test]
async fn a_model_api_in_a_529_storm_or_timing_out_degrades_to_the_rules_engine_files_a_ticket_and_recovers(
) {
    let output = serde_json::to_value(diagnose_evidence(
        &scenarios::node_death(),
        &RulesConfig::default(),
    ))
    .unwrap();
    let s = Standin::start(StandinConfig {
        output,
        ..Default::default()
    })
    .await
    .unwrap();
    let deps = Arc::new(Dependencies::default());
    let mut second = scenarios::node_death();
    second.id = 42;
    let mut third = scenarios::node_death();
    third.id = 43;
    let q = Arc::new(MemoryQueue::new(vec![scenarios::node_death()]));
    let reconciler = |q: Arc<MemoryQueue>| {
        DiagnosisReconciler::new(
            Arc::new(claude(&s)),
            q,
            Arc::new(NoExtraContext),
            ReconcilerConfig {
                holder: "t".into(),
                ..Default::default()
            },
        )
        .with_catalog(&operator::subjects::tikv::catalog::CATALOG)
        .with_fallback(Arc::new(rules_backend(RulesConfig::default())))
        .with_dependencies(deps.clone())
    };

    // A 529 storm: every attempt overloaded. The ticket is still diagnosed (rules).
    s.push((0..3).map(|_| Reply::overloaded()));
    let r = reconciler(q.clone());
    assert_eq!(r.run_until_idle().await, 1);
    assert_eq!(q.diagnosis(41).unwrap().backend, "rules");
    let attempts = s.count("/v1/messages");
    assert_eq!(
        attempts, 3,
        "bounded retries: three attempts, then the fallback"
    );
    let state = deps.all()[MODEL_API].clone();
    assert_eq!(state.criticality, Criticality::Auxiliary);
    assert!(state.error.is_some());
    let (mut violations, mut holding) = (Vec::new(), Vec::new());
    blindness_tickets("tikv", &deps, &mut violations, &mut holding);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].invariant, "model-api-unreachable");
    assert!(
        violations[0].summary.contains("cannot reach model-api"),
        "{}",
        violations[0].summary
    );
    assert_eq!(
        deps.blind_reasons(Criticality::Critical),
        Vec::<String>::new(),
        "the model is auxiliary: readiness degrades, it does not fail"
    );

    // Timing out: each attempt waits longer than the 500 ms timeout.
    let q2 = Arc::new(MemoryQueue::new(vec![second]));
    s.push((0..3).map(|_| {
        Reply::Delay(
            Duration::from_secs(2),
            Box::new(Reply::Success { thinking: false }),
        )
    }));
    let r = reconciler(q2.clone());
    assert_eq!(r.run_until_idle().await, 1);
    assert_eq!(q2.diagnosis(42).unwrap().backend, "rules");
    assert!(deps.all()[MODEL_API].error.is_some());
    assert_eq!(s.count("/v1/messages"), 6, "three timed-out attempts");

    // The model answers again: the next diagnosis is the model's, and the blindness
    // ticket's key holds (it auto-resolves).
    let q3 = Arc::new(MemoryQueue::new(vec![third]));
    s.push([Reply::Success { thinking: false }]);
    let r = reconciler(q3.clone());
    assert_eq!(r.run_until_idle().await, 1);
    assert_ne!(q3.diagnosis(43).unwrap().backend, "rules");
    assert!(deps.all()[MODEL_API].error.is_none());
    let (mut violations, mut holding) = (Vec::new(), Vec::new());
    blindness_tickets("tikv", &deps, &mut violations, &mut holding);
    assert!(violations.is_empty());
    assert_eq!(holding.len(), 1);
}

#[test]
fn a_dependency_verdict_keeps_its_start_time_until_it_flips() {
    let d = Dependencies::default();
    d.blind("runtime", Criticality::Critical, "refused", true);
    let first = d.all()["runtime"].since;
    std::thread::sleep(Duration::from_millis(5));
    d.blind("runtime", Criticality::Critical, "refused again", true);
    assert_eq!(d.all()["runtime"].since, first);
    assert_eq!(
        d.blind_reasons(Criticality::Critical),
        vec!["runtime: refused again"]
    );
    assert!(d.blind_reasons(Criticality::Auxiliary).is_empty());
    d.ok("runtime", Criticality::Critical, true);
    assert!(d.all()["runtime"].since > first);
    assert!(d.blind_reasons(Criticality::Critical).is_empty());
}
