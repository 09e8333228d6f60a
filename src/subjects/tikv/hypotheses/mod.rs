//! TiKV's hypotheses for the rules engine's differential diagnosis: for every cause of
//! [`CATALOG`] and every store (or PD, or the cluster) it could sit on, weighted findings
//! for and against it, from [`facts::Facts`].
//!
//! # How the predicates are written
//!
//! Causes that share symptoms are told apart by the signals the PD/TiKV reference says
//! each one moves, compared with the store's peers (their median), never with a threshold
//! tuned to a scenario:
//!
//! - a slow disk raises the store's raft *append* (fsync) latency and slow score;
//! - a degraded network raises propose/message wait, commit and gRPC latency while the
//!   store's append latency stays in line with its peers;
//! - a saturated CPU raises thread CPU and scheduler/read-pool wait, not append latency,
//!   without the store carrying more than its share of requests;
//! - a hot region concentrates requests (and CPU) on the store holding its leader;
//! - a process exit stops the container; the OOM killer stops it with `OOMKilled`; a
//!   partition leaves it running while PD stops hearing from it;
//! - a PD leader loss leaves a majority healthy (the survivors elect a new leader); a
//!   quorum loss leaves fewer than a majority, and no leader.
//!
//! Weights: about 0.5 for a hint, 1 for a typical sign, 2–3 for a defining fact (see
//! [`crate::diagnose::differential`]).

mod evidence;
mod facts;
mod writeup;

use crate::diagnose::backend::rules::{Reasoner, RulesBackend, RulesConfig, WriteUp};
use crate::diagnose::catalog::{Cause, CauseCatalog};
use crate::diagnose::differential::{Candidate, Decision};
use crate::diagnose::model::{normalize_invariant, ContextSection, DiagnosisOutput, TicketBrief};
use facts::{Facts, Signal, StoreFacts};
use std::sync::Arc;

use super::actions::TikvTarget;
use super::catalog::CATALOG;

/// The TiKV reasoner.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TikvReasoner;

/// The TiKV reasoner, shared.
pub fn reasoner() -> Arc<dyn Reasoner> {
    Arc::new(TikvReasoner)
}

/// A rules backend reasoning about TiKV.
pub fn rules_backend(cfg: RulesConfig) -> RulesBackend {
    RulesBackend::new(cfg, reasoner())
}

/// Diagnoses a ticket from its evidence alone (no extra context).
pub fn diagnose_evidence(brief: &TicketBrief, cfg: &RulesConfig) -> DiagnosisOutput {
    crate::diagnose::backend::rules::diagnose_with(&TikvReasoner, brief, &[], cfg)
}

/// Whether the ticket says the operator cannot reach PD or Prometheus.
pub(crate) fn blind_ticket(brief: &TicketBrief) -> bool {
    normalize_invariant(&brief.invariant).ends_with("_unreachable")
}

impl Reasoner for TikvReasoner {
    fn catalog(&self) -> &'static CauseCatalog {
        &CATALOG
    }

    fn candidates(
        &self,
        brief: &TicketBrief,
        sections: &[ContextSection],
        cfg: &RulesConfig,
    ) -> Vec<Candidate> {
        let ev = evidence::Ev::new(brief);
        let f = facts::gather(&ev, sections);
        hypotheses(&f, cfg)
    }

    fn canonical_target(&self, brief: &TicketBrief, sections: &[ContextSection]) -> String {
        let ev = evidence::Ev::with_sections(brief, sections);
        match (ev.target_store(), TikvTarget::parse(&brief.target)) {
            (Some(id), _) => format!("store/{id}"),
            (None, TikvTarget::Member(m)) if m.starts_with("pd") => "pd".into(),
            (None, TikvTarget::Other(o)) if o.starts_with("pd") => "pd".into(),
            _ => brief.target.clone(),
        }
    }

    fn write_up(
        &self,
        decision: &Decision,
        brief: &TicketBrief,
        sections: &[ContextSection],
        cfg: &RulesConfig,
    ) -> WriteUp {
        let mut ev = evidence::Ev::with_sections(brief, sections);
        let f = facts::gather(&evidence::Ev::new(brief), sections);
        if let Some(st) = decision
            .cause
            .target
            .strip_prefix("store/")
            .and_then(|id| id.parse().ok())
            .and_then(|id| f.store(id))
        {
            let exit = matches!(
                decision.cause.category.as_str(),
                "process-exit" | "oom-kill"
            );
            if exit && (st.exited() || st.deaths > 0) {
                ev.decided_exit = Some(st.exit_code);
            }
        }
        writeup::write(decision, &mut ev, cfg)
    }
}

/// How far above its peers a value is, as a weight: 0 at the peers' level, 1 at twice,
/// 2 at four times, at most 2.
fn lift(ratio: f64) -> f64 {
    if ratio.is_finite() {
        ratio.max(1.0).log2().min(2.0)
    } else {
        2.0
    }
}

/// A ratio to peers that counts as elevated.
const ELEVATED: f64 = 1.5;
/// A ratio to peers that counts as in line with them.
const IN_LINE: f64 = 1.25;

fn ms(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.1} s")
    } else {
        format!("{:.0} ms", v * 1000.0)
    }
}

fn signal_words(s: Signal) -> &'static str {
    match s {
        Signal::Append => "raft append (fsync) p99",
        Signal::Commit => "raft commit p99",
        Signal::Apply => "raft apply p99",
        Signal::ProposeWait => "raft propose/message wait",
        Signal::QueueWait => "scheduler/read-pool wait",
        Signal::Cpu => "thread CPU",
        Signal::Memory => "resident memory",
        Signal::Grpc => "gRPC p99",
        Signal::Load => "request rate",
        Signal::LoadShare => "share of requests",
        Signal::SlowScore => "slow score",
    }
}

fn fmt_value(s: Signal, v: f64) -> String {
    match s {
        Signal::Append
        | Signal::Commit
        | Signal::Apply
        | Signal::ProposeWait
        | Signal::QueueWait
        | Signal::Grpc => ms(v),
        Signal::LoadShare => format!("{:.0}%", v * 100.0),
        Signal::Memory => format!("{:.1} GiB", v / 1024f64.powi(3)),
        Signal::Cpu => format!("{} cores", plain(v)),
        Signal::Load => format!("{} req/s", plain(v)),
        Signal::SlowScore => plain(v),
    }
}

/// A number with the digits a reader needs: `0.15`, `2.4`, `31`. Rounding every value
/// to a whole number wrote a 0.15-core median as `0` beside a `62×` ratio.
fn plain(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else if a >= 1.0 {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        format!("{v:.2}")
    }
}

/// `store 5 (tikv-2) raft append (fsync) p99 is 1.8 s, 400× its peers' median 4 ms`.
fn compared(st: &StoreFacts, s: Signal, r: f64, v: f64, med: f64) -> String {
    let times = if r.is_finite() {
        if r >= 10.0 {
            format!("{r:.0}×")
        } else {
            format!("{r:.1}×")
        }
    } else {
        "far above".into()
    };
    format!(
        "{} {} is {}, {times} its peers' median {}",
        st.name(),
        signal_words(s),
        fmt_value(s, v),
        fmt_value(s, med)
    )
}

/// The least excess over the peers' median that matters, in the signal's unit: the
/// noise floors the store-outlier invariant applies (a few milliseconds of latency, a
/// third of a core), so the hypotheses call "elevated" only what the monitor would call
/// an outlier. Without it a ratio of two tiny values (3 ms against 1 ms, right after a
/// peer died) reads as a slow disk.
fn noise_floor(s: Signal) -> f64 {
    match s {
        Signal::Append | Signal::Commit | Signal::Apply | Signal::Grpc => 0.008,
        Signal::ProposeWait => 0.005,
        Signal::QueueWait => 0.002,
        Signal::Cpu => 0.3,
        Signal::Memory => 256.0 * 1024.0 * 1024.0,
        Signal::Load | Signal::LoadShare | Signal::SlowScore => 0.0,
    }
}

/// Whether a signal is elevated on a store (at least [`ELEVATED`] times its peers'
/// median and more than the signal's noise floor above it), with its comparison.
fn elevated(f: &Facts, st: &StoreFacts, s: Signal) -> Option<(f64, String)> {
    let (r, v, med) = f.ratio(st.id, s)?;
    (r >= ELEVATED && v - med > noise_floor(s)).then(|| (r, compared(st, s, r, v, med)))
}

/// Whether a signal is known and in line with the peers.
fn in_line(f: &Facts, st: &StoreFacts, s: Signal) -> Option<String> {
    let (r, v, med) = f.ratio(st.id, s)?;
    (r < IN_LINE).then(|| {
        format!(
            "{} {} is {}, in line with its peers' median {}",
            st.name(),
            signal_words(s),
            fmt_value(s, v),
            fmt_value(s, med)
        )
    })
}

/// The store's share of requests and the fair share, when known.
fn load_share(f: &Facts, st: &StoreFacts) -> Option<(f64, f64)> {
    let serving: Vec<&StoreFacts> = f
        .stores
        .iter()
        .filter(|s| !s.pd_lost_it() && s.signals.contains_key(&Signal::Load))
        .collect();
    if serving.len() < 2 {
        return st.signals.get(&Signal::LoadShare).map(|s| (*s, 0.5));
    }
    let total: f64 = serving.iter().map(|s| s.signals[&Signal::Load]).sum();
    let mine = *st.signals.get(&Signal::Load)?;
    (total > 0.0).then(|| (mine / total, 1.0 / serving.len() as f64))
}

/// The store's share of the leaders of the stores serving requests.
fn leader_share(f: &Facts, st: &StoreFacts) -> Option<f64> {
    let serving: Vec<f64> = f
        .stores
        .iter()
        .filter(|s| !s.pd_lost_it() && s.signals.contains_key(&Signal::Load))
        .filter_map(|s| s.leaders)
        .collect();
    let total: f64 = serving.iter().sum();
    (serving.len() >= 2 && total > 0.0).then_some(st.leaders? / total)
}

/// A store's CPU per request over its peers' median, with words (None without CPU and
/// request rates on it and on at least one peer).
fn cpu_per_request(f: &Facts, st: &StoreFacts) -> Option<(f64, String)> {
    let per = |s: &StoreFacts| {
        let (c, l) = (
            *s.signals.get(&Signal::Cpu)?,
            *s.signals.get(&Signal::Load)?,
        );
        (l > 0.0).then(|| c / l)
    };
    let mine = per(st)?;
    let mut peers: Vec<f64> = f
        .stores
        .iter()
        .filter(|s| s.id != st.id && !s.pd_lost_it())
        .filter_map(per)
        .collect();
    if peers.is_empty() {
        return None;
    }
    peers.sort_by(f64::total_cmp);
    let med = peers[peers.len() / 2];
    if med <= 0.0 {
        return None;
    }
    let r = mine / med;
    Some((
        r,
        format!(
            "{}'s CPU per request is {:.1}× its peers' median: more than its load explains",
            st.name(),
            r
        ),
    ))
}

/// All candidates.
fn hypotheses(f: &Facts, cfg: &RulesConfig) -> Vec<Candidate> {
    let mut out = vec![];
    for st in &f.stores {
        let focus = f.target_store == Some(st.id);
        out.extend(down_hypotheses(f, st));
        out.extend(slowness_hypotheses(f, st, focus));
        out.extend(disk_full(st, focus, cfg));
        out.extend(placement_hypotheses(f, st));
    }
    let lost = lost_with_others(f);
    out.extend(pd_hypotheses(
        f,
        lost.as_ref().is_some_and(|l| !l.pd_outage.is_empty()),
    ));
    out.extend(leader_imbalance(f));
    if let Some(l) = lost {
        incident(f, &l, &mut out);
    }
    out
}

/// A store that PD lost while its process runs, and what else went wrong at that moment
/// (from the related tickets).
struct Lost<'a> {
    store: &'a StoreFacts,
    /// Other stores lost within the window, their processes running too.
    others: Vec<&'a StoreFacts>,
    /// PD tickets that say PD itself was unavailable then.
    pd_outage: Vec<&'a facts::Related>,
}

/// PD's own trouble that cuts every store off: no leader, no quorum, unreachable, or a
/// member failing at the same moment.
fn pd_outage(r: &facts::Related) -> bool {
    matches!(
        r.invariant.as_str(),
        "pd_unreachable" | "pd_no_leader" | "pd_quorum_lost"
    ) || (r.invariant == "pd_member_unhealthy" && r.together)
}

fn lost_with_others(f: &Facts) -> Option<Lost<'_>> {
    let store = f.store(f.target_store?)?;
    if !store.pd_lost_it() || store.exited() || store.deaths > 0 {
        return None;
    }
    let mut others: Vec<&StoreFacts> = vec![];
    for r in f
        .related
        .iter()
        .filter(|r| r.together && r.invariant == "store_down")
    {
        let Some(o) = f.store_of_name(&r.target).and_then(|id| f.store(id)) else {
            continue;
        };
        if o.id != store.id && !o.exited() && o.deaths == 0 && !others.contains(&o) {
            others.push(o);
        }
    }
    let pd_outage: Vec<&facts::Related> = f.related.iter().filter(|r| pd_outage(r)).collect();
    (!others.is_empty() || !pd_outage.is_empty()).then_some(Lost {
        store,
        others,
        pd_outage,
    })
}

/// Incident-level evidence for a store PD lost while its process runs: the tickets of
/// the same moment. A store that loses PD while PD itself is unavailable lost it because
/// of PD; several stores lost together point at the PD side or the network between, not
/// at as many separate partitions.
fn incident(f: &Facts, l: &Lost<'_>, out: &mut Vec<Candidate>) {
    let name = l.store.name();
    let mine = l.store.target();
    if !l.pd_outage.is_empty() {
        let what: Vec<String> = l
            .pd_outage
            .iter()
            .map(|r| format!("ticket {}: {}", r.id, r.summary))
            .collect();
        let w = format!(
            "PD was itself unavailable when {name} was lost ({}): a store cannot heartbeat while PD has no leader",
            what.join("; ")
        );
        for c in out.iter_mut() {
            match (c.cause.category.as_str(), c.cause.target.as_str()) {
                ("pd-leader-loss" | "pd-quorum-loss", "pd") => c.support(2.0, w.clone()),
                ("network-partition", t) if t == mine => c.contradict(1.5, w.clone()),
                _ => {}
            }
        }
        return;
    }
    let mut names: Vec<String> = vec![name.clone()];
    names.extend(l.others.iter().map(|o| o.name()));
    let n = names.len();
    let w = format!(
        "{n} stores lost PD together while their processes run ({}): one cause on the PD side or the network between is likelier than {n} separate partitions",
        names.join(", ")
    );
    for c in out.iter_mut() {
        if c.cause.category == "network-partition" && c.cause.target == mine {
            c.contradict(2.0, w.clone());
        }
    }
    let mut side = Candidate::new(
        Cause::new("network-partition", "pd"),
        "whether PD's hosts reach the stores' addresses, and PD's own logs of the stores' heartbeat streams",
    );
    side.support(1.0 + 0.75 * n as f64, w);
    if let Some((h, m)) = f.pd.healthy() {
        if h == m {
            side.support(
                0.5,
                format!("all {m} PD members are healthy: PD runs but does not hear the stores"),
            );
        }
    }
    out.push(side);
}

fn cand(st: &StoreFacts, category: &str, check: String) -> Candidate {
    Candidate::new(Cause::new(category, st.target()), check)
}

/// process-exit, oom-kill, network-partition.
fn down_hypotheses(f: &Facts, st: &StoreFacts) -> Vec<Candidate> {
    let name = st.name();
    let down_signal = st.pd_lost_it() || st.exited() || st.deaths > 0 || st.probe_ok == Some(false);
    if !down_signal {
        return vec![];
    }
    let mut exit = cand(
        st,
        "process-exit",
        format!("the container state and exit code of {name}"),
    );
    let mut oom = cand(
        st,
        "oom-kill",
        format!("whether Docker reports {name} OOMKilled, and its memory before it died"),
    );
    let mut part = cand(
        st,
        "network-partition",
        format!(
            "whether {name}'s container runs and its process still logs while PD cannot reach it"
        ),
    );
    if st.pd_lost_it() {
        let w = format!("PD shows {name} {}", st.state);
        exit.support(0.5, w.clone());
        oom.support(0.5, w.clone());
        part.support(1.0, w);
    } else if st.state == "Up" {
        let w = format!("PD shows {name} Up");
        // PD calls a silent store Disconnected only after 20 s without a heartbeat: right
        // after a death its view lags the runtime's, which knows the process is gone, so
        // "Up" then contradicts nothing about how it died.
        if !st.exited() && st.deaths == 0 {
            exit.contradict(1.0, w.clone());
            oom.contradict(1.0, w.clone());
        }
        part.contradict(1.5, w);
    }
    let oomed = st.oom_killed || st.oom_events > 0;
    // A process that logged failing PD heartbeats was alive and cut off; if it died since,
    // its death does not undo that: a cascade on one store.
    let cut_off_before = st.own_heartbeat_failures > 0 && (st.exited() || st.deaths > 0);
    if st.exited() {
        let code = st
            .exit_code
            .map(|c| format!(" with exit code {c}"))
            .unwrap_or_default();
        let w = format!("{name}'s container has exited{code}");
        exit.support(2.0, w.clone());
        oom.support(1.0, w.clone());
        if !cut_off_before {
            part.contradict(2.5, format!("{w}; a partition leaves the process running"));
        }
    } else if st.deaths > 0 {
        let code = st
            .exit_code
            .map(|c| format!(" with exit code {c}"))
            .unwrap_or_default();
        let w = format!("the container of {name} died{code}");
        exit.support(1.5, w.clone());
        oom.support(0.5, w.clone());
        if st.running() != Some(true) && !cut_off_before {
            part.contradict(2.0, format!("{w}; a partition leaves the process running"));
        }
    }
    if oomed {
        let w = format!("Docker reports {name} killed by the OOM killer");
        oom.support(3.0, w.clone());
        exit.contradict(2.0, w);
    } else if st.exited() || st.deaths > 0 {
        oom.contradict(1.5, format!("Docker does not report {name} OOM-killed"));
    }
    if st.oom_logs > 0 {
        oom.support(1.0, format!("{name} logged running out of memory"));
    }
    if st.deaths >= 2 && st.starts >= 1 {
        oom.support(
            0.5,
            format!("{name} died {} times and was restarted: a loop", st.deaths),
        );
    }
    if let Some((r, w)) = elevated(f, st, Signal::Memory) {
        oom.support(0.5 * lift(r), w);
    }
    if st.running() == Some(true) {
        let w = format!("{name}'s container is running");
        if st.pd_lost_it() || st.probe_ok == Some(false) {
            part.support(1.0, w.clone());
        }
        if st.deaths == 0 {
            exit.contradict(2.0, w.clone());
            oom.contradict(2.0, w);
        }
    }
    if cut_off_before {
        part.support(
            2.0,
            format!(
                "{name}'s process logged {} failed PD heartbeat(s) before it died: it was cut off while alive",
                st.own_heartbeat_failures
            ),
        );
    } else if st.own_heartbeat_failures > 0 {
        let w = format!(
            "{name}'s own process logs {} failed PD heartbeat(s): it is alive",
            st.own_heartbeat_failures
        );
        part.support(1.0, w.clone());
        if st.deaths == 0 && !st.exited() {
            exit.contradict(1.0, w.clone());
            oom.contradict(1.0, w);
        }
    }
    if st.connection_failures > 0 && st.deaths == 0 && !st.exited() {
        part.support(
            0.5,
            format!(
                "{} connection failure line(s) name {name}",
                st.connection_failures
            ),
        );
    }
    if st.probe_ok == Some(true) && !st.pd_lost_it() {
        part.contradict(1.0, format!("{name}'s status port answers"));
    }
    vec![exit, oom, part]
}

/// disk-slow, network-degradation, cpu-saturation, hot-region.
fn slowness_hypotheses(f: &Facts, st: &StoreFacts, focus: bool) -> Vec<Candidate> {
    let name = st.name();
    let append = elevated(f, st, Signal::Append);
    let append_ok = in_line(f, st, Signal::Append);
    let cpu = elevated(f, st, Signal::Cpu);
    let cpu_ok = in_line(f, st, Signal::Cpu);
    let queue = elevated(f, st, Signal::QueueWait);
    let propose = elevated(f, st, Signal::ProposeWait);
    let commit = elevated(f, st, Signal::Commit);
    let grpc = elevated(f, st, Signal::Grpc);
    let apply = elevated(f, st, Signal::Apply);
    let share = load_share(f, st);
    let hot = share.filter(|(s, fair)| *s >= fair * 1.5);
    let even = share.filter(|(s, fair)| *s < fair * 1.2);
    let slow_score = st.signals.get(&Signal::SlowScore).copied();
    let hot_listed: Vec<u64> =
        f.pd.hot_regions
            .iter()
            .filter(|(_, s)| *s == st.id)
            .map(|(r, _)| *r)
            .collect::<std::collections::BTreeSet<u64>>()
            .into_iter()
            .collect();
    let any_signal = append.is_some()
        || cpu.is_some()
        || queue.is_some()
        || propose.is_some()
        || commit.is_some()
        || grpc.is_some()
        || apply.is_some()
        || hot.is_some()
        || slow_score.is_some_and(|s| s >= 80.0)
        || !hot_listed.is_empty()
        || st.slow_writes > 0;
    if !any_signal && !focus {
        return vec![];
    }
    if st.pd_lost_it() || st.exited() {
        // A store that is down is not slow; its latency series are stale.
        return vec![];
    }
    let mut disk = cand(
        st,
        "disk-slow",
        format!("{name}'s raft append (fsync) p99 against its peers'"),
    );
    let mut net = cand(st, "network-degradation", format!("raft propose/message wait on {name} and its peers' commit latency, with its fsync normal"));
    let mut cpuc = cand(
        st,
        "cpu-saturation",
        format!("{name}'s thread CPU against its peers' at the same request rate"),
    );
    let mut hotc = cand(
        st,
        "hot-region",
        format!("PD's hot regions on {name} (GET /pd/api/v1/hotspot/regions/write and /read)"),
    );
    let share_words = |(s, fair): (f64, f64)| {
        format!(
            "{name} serves {:.0}% of the requests (an even share is {:.0}%)",
            s * 100.0,
            fair * 100.0
        )
    };
    // The disk's write path.
    if let Some((r, w)) = &append {
        disk.support(0.5 + lift(*r), w.clone());
        net.contradict(1.5, format!("{w}: the disk's own write path is slow"));
        cpuc.contradict(1.0, w.clone());
    } else if let Some(w) = &append_ok {
        disk.contradict(1.5, w.clone());
        if propose.is_some() || commit.is_some() || grpc.is_some() {
            net.support(
                1.0,
                format!("{w} while its other latencies rise: not the disk"),
            );
        }
    }
    if let Some(s) = slow_score {
        if s >= 80.0 {
            disk.support(
                1.0,
                format!("{name} slow score is {s:.0} (PD treats 80 and above as slow)"),
            );
        }
    }
    if st.slow_writes > 0 {
        disk.support(0.5, format!("{name} logs slow raft writes"));
    }
    if let Some((r, w)) = &apply {
        if append.is_none() {
            disk.support(0.25 * lift(*r), w.clone());
        }
    }
    // The network.
    if let Some((r, w)) = &propose {
        net.support(0.5 + lift(*r), w.clone());
    }
    if let Some((r, w)) = &commit {
        net.support(0.5 * lift(*r), w.clone());
    }
    if let Some((r, w)) = &grpc {
        net.support(0.25 * lift(*r), w.clone());
        cpuc.support(0.25 * lift(*r), w.clone());
    }
    if st.connection_failures > 0 && st.state == "Up" {
        net.support(
            0.5,
            format!(
                "{} connection failure line(s) name {name} while it is Up",
                st.connection_failures
            ),
        );
    }
    // CPU.
    if let Some((r, w)) = &cpu {
        cpuc.support(0.5 + lift(*r), w.clone());
        net.contradict(0.5, w.clone());
    } else if let Some(w) = &cpu_ok {
        cpuc.contradict(1.5, w.clone());
    }
    if let Some((r, w)) = &queue {
        cpuc.support(0.5 * lift(*r).max(1.0), w.clone());
    }
    // Load.
    if let Some(h) = hot {
        let w = share_words(h);
        hotc.support(1.0 + lift(h.0 / h.1), w.clone());
        // Requests go to leaders: a store holding most leaders serves most requests with
        // no hot region at all. Its load is a hot region's only when it exceeds what its
        // leaders bring.
        if let Some(ls) = leader_share(f, st).filter(|ls| h.0 <= ls * IN_LINE) {
            hotc.contradict(
                2.0,
                format!(
                    "{name} holds {:.0}% of the leaders and serves {:.0}% of the requests: its load follows its leaders",
                    ls * 100.0,
                    h.0 * 100.0
                ),
            );
        }
        // A hot store burns CPU in proportion to its requests; CPU per request above its
        // peers' is more than the load explains: a CPU problem of its own.
        match cpu_per_request(f, st).filter(|(r, _)| *r >= ELEVATED) {
            Some((r, words)) => cpuc.support(0.5 + lift(r), words),
            None => cpuc.contradict(1.0, format!("{w}: the load, not the CPU, is the anomaly")),
        }
        net.contradict(0.5, w.clone());
        disk.contradict(0.5, w);
    } else if let Some(e) = even {
        hotc.contradict(1.5, share_words(e));
    }
    if !hot_listed.is_empty() {
        let list: Vec<String> = hot_listed.iter().map(|r| format!("region {r}")).collect();
        let listed = format!("PD lists {} hot on {name}", list.join(", "));
        hotc.support(1.0, listed.clone());
        // A hot leader that has just moved here brings its CPU with it before the
        // store's request share catches up: busy threads with a listed hot region are
        // that region's load unless each request costs more here than on the peers.
        if hot.is_none() && cpu.is_some() {
            match cpu_per_request(f, st).filter(|(r, _)| *r >= ELEVATED) {
                Some((r, words)) => cpuc.support(0.5 + lift(r), words),
                None => cpuc.contradict(1.0, format!("{listed}: its CPU follows that load")),
            }
        }
    }
    vec![disk, net, cpuc, hotc]
}

/// disk-full.
fn disk_full(st: &StoreFacts, focus: bool, cfg: &RulesConfig) -> Option<Candidate> {
    let used = st.used_ratio()?;
    let lsr = cfg.low_space_ratio;
    if used < lsr * 0.9 && !focus {
        return None;
    }
    let name = st.name();
    let mut c = cand(
        st,
        "disk-full",
        format!("{name}'s available space against PD's low-space ratio"),
    );
    let w = format!(
        "{name} is {:.0}% used (PD's low-space ratio is {:.0}%)",
        used * 100.0,
        lsr * 100.0
    );
    if used >= lsr {
        // Fuller is more likely the store that fills first: 2 at the ratio, 3 when full.
        c.support(2.0 + (used - lsr) / (1.0 - lsr).max(0.01), w);
    } else if used >= lsr * 0.9 {
        c.support(0.75, w);
    } else {
        c.contradict(1.5, w);
    }
    Some(c)
}

/// leftover-scheduler, store-stuck-offline.
fn placement_hypotheses(f: &Facts, st: &StoreFacts) -> Vec<Candidate> {
    let name = st.name();
    let mut out = vec![];
    if f.pd.evict_leader_stores.contains(&st.id) {
        let mut c = cand(
            st,
            "leftover-scheduler",
            format!("whether a maintenance on {name} is still in progress"),
        );
        c.support(
            1.0,
            format!("{name} is still listed in evict-leader-scheduler"),
        );
        if f.planned.contains(&st.id) {
            c.contradict(
                2.5,
                format!("the operator is restarting {name} as planned: the scheduler is its own step, not left over"),
            );
        }
        if st.state == "Up" {
            c.support(0.75, format!("{name} is Up"));
        } else if !st.state.is_empty() {
            c.contradict(
                1.5,
                format!(
                    "{name} is {}: evicting its leaders may be deliberate",
                    st.state
                ),
            );
        }
        if let Some(l) = st.leaders {
            if l == 0.0 {
                c.support(0.5, format!("{name} holds no leaders"));
            }
        }
        out.push(c);
    }
    if st.state == "Offline" {
        let mut c = cand(
            st,
            "store-stuck-offline",
            format!("whether {name}'s region count still falls"),
        );
        c.support(1.5, format!("{name} is Offline (being removed)"));
        let up = f.stores.iter().filter(|s| s.state == "Up").count() as u64;
        if up < f.pd.max_replicas {
            c.support(
                1.0,
                format!(
                    "only {up} Up store(s) remain for max-replicas {}: no store can take its replicas",
                    f.pd.max_replicas
                ),
            );
        }
        out.push(c);
    }
    out
}

/// pd-leader-loss, pd-quorum-loss (`forced` when a related ticket says PD was down).
fn pd_hypotheses(f: &Facts, forced: bool) -> Vec<Candidate> {
    let pd = &f.pd;
    let health = pd.healthy();
    let unhealthy: Vec<&str> = pd
        .members
        .iter()
        .filter(|m| m.1 == Some(false))
        .map(|m| m.0.as_str())
        .collect();
    let down_containers: Vec<&str> = pd
        .containers
        .iter()
        .filter(|c| c.1 != "running")
        .map(|c| c.0.as_str())
        .collect();
    let signal = !unhealthy.is_empty()
        || !pd.deaths.is_empty()
        || !down_containers.is_empty()
        || pd.election_lines > 0
        || (pd.leader_known && pd.leader.is_none())
        || pd.unreachable;
    if !signal && !f.target_pd && !forced {
        return vec![];
    }
    let mut loss = Candidate::new(
        Cause::new("pd-leader-loss", "pd"),
        "PD's leader now and the election lines in the PD members' logs",
    );
    let mut quorum = Candidate::new(
        Cause::new("pd-quorum-loss", "pd"),
        "how many PD members are healthy (GET /pd/api/v1/health)",
    );
    if let Some((h, n)) = health {
        let majority = n / 2 + 1;
        let w = format!("{h} of {n} PD members are healthy (a majority is {majority})");
        if h < majority {
            quorum.support(3.0, w.clone());
            loss.contradict(2.0, format!("{w}: no leader can be elected"));
        } else if h < n {
            loss.support(1.0, w.clone());
            quorum.contradict(2.5, w);
        } else {
            quorum.contradict(2.5, w.clone());
            loss.contradict(1.0, w);
        }
    } else if !pd.containers.is_empty() {
        let n = pd.containers.len();
        let down = down_containers.len();
        let w = format!("{down} of {n} PD containers are not running");
        if down > n / 2 {
            quorum.support(2.5, w.clone());
            loss.contradict(1.5, w);
        } else if down > 0 {
            loss.support(1.0, w.clone());
            quorum.contradict(2.0, w);
        }
    }
    if pd.leader_known {
        match &pd.leader {
            Some(l) => {
                let w = format!("PD has a leader ({l})");
                quorum.contradict(1.0, w.clone());
                if !unhealthy.is_empty() || !pd.deaths.is_empty() || pd.election_lines > 0 {
                    loss.support(0.5, format!("{w}: the survivors elected one"));
                }
            }
            None => {
                quorum.support(1.0, "PD has no leader".to_string());
                loss.support(0.5, "PD has no leader".to_string());
            }
        }
    }
    if !pd.deaths.is_empty() {
        let w = format!("Docker reported {} dying", pd.deaths.join(", "));
        loss.support(1.0, w.clone());
        quorum.support(0.5, w);
    }
    if pd.election_lines > 0 {
        loss.support(
            1.0,
            format!(
                "{} PD leadership line(s) logged (campaign, lease, leader change)",
                pd.election_lines
            ),
        );
    }
    if pd.unreachable {
        quorum.support(0.5, "the operator cannot reach PD".to_string());
        loss.support(0.25, "the operator cannot reach PD".to_string());
    }
    vec![loss, quorum]
}

/// leader-imbalance.
fn leader_imbalance(f: &Facts) -> Option<Candidate> {
    let up: Vec<&StoreFacts> = f.stores.iter().filter(|s| s.state == "Up").collect();
    let counts: Vec<(&StoreFacts, f64)> =
        up.iter().filter_map(|s| Some((*s, s.leaders?))).collect();
    if counts.len() < 2 {
        return None;
    }
    let mean = counts.iter().map(|c| c.1).sum::<f64>() / counts.len() as f64;
    let (max_s, max) = counts.iter().max_by(|a, b| a.1.total_cmp(&b.1)).copied()?;
    let (min_s, min) = counts.iter().min_by(|a, b| a.1.total_cmp(&b.1)).copied()?;
    let skewed = mean > 0.0 && (max >= mean * 1.5 || min <= mean * 0.5);
    let missing =
        f.pd.schedulers
            .as_ref()
            .map(|s| !s.iter().any(|x| x == "balance-leader-scheduler"));
    if !skewed && missing != Some(true) {
        return None;
    }
    let mut c = Candidate::new(
        Cause::new("leader-imbalance", "cluster"),
        "whether balance-leader-scheduler is enabled and leader counts converge",
    );
    let spread = format!(
        "leaders range from {min:.0} on {} to {max:.0} on {}",
        min_s.name(),
        max_s.name()
    );
    if skewed {
        c.support(1.0, spread);
    } else {
        c.contradict(1.0, spread);
    }
    match missing {
        Some(true) => c.support(1.5, "balance-leader-scheduler is not enabled".to_string()),
        Some(false) => c.contradict(1.0, "balance-leader-scheduler is enabled".to_string()),
        None => {}
    }
    if !f.pd.evict_leader_stores.is_empty() {
        let ids: Vec<String> =
            f.pd.evict_leader_stores
                .iter()
                .map(|i| {
                    f.store(*i)
                        .map(StoreFacts::name)
                        .unwrap_or(format!("store {i}"))
                })
                .collect();
        c.contradict(
            1.5,
            format!(
                "evict-leader-scheduler keeps leaders off {}",
                ids.join(", ")
            ),
        );
    }
    Some(c)
}

#[cfg(test)]
mod tests;
