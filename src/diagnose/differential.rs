//! Differential diagnosis: weighs every cause of a subject's catalog against the evidence
//! and decides which one (or which independent ones) the evidence supports.
//!
//! # Why a differential instead of a lookup table
//!
//! A ticket names a symptom (a store's p99 is high), not a cause: a slow disk, a degraded
//! network, a saturated CPU and a hot region all raise it. Choosing the cause from the
//! ticket's invariant answers the same thing whatever the evidence says. Here the subject
//! supplies, for each cause of its catalog and each entity it could sit on, weighted
//! findings *for* and *against* it ([`Candidate`]); this module, which knows no subject,
//! ranks them and decides:
//!
//! - the root cause is the best-supported hypothesis, if its net support reaches
//!   [`SUPPORTED`]; otherwise the diagnosis says `unknown`;
//! - a runner-up within [`DECISIVE_MARGIN`] is *undecided*: the confidence drops and the
//!   check that would tell the two apart becomes "what would change the conclusion";
//! - a second hypothesis on *another* target with at least [`INDEPENDENT`] net support is
//!   a second root cause (`other_causes`), not a footnote; so is one on the *same* target
//!   when it rests on other evidence: none of its supporting findings is the root
//!   cause's, and neither hypothesis is contradicted by what supports the other (a slow
//!   disk and a full disk on one store are two causes; an OOM kill and a process exit
//!   that cite the same exit are rivals);
//! - everything else is *rejected*, listed with the evidence that contradicts it.
//!
//! Confidence is a monotone function of the winner's net support and of its margin, so
//! it can be calibrated (the benchmark reports its Brier score): strong, unopposed support
//! with a clear margin approaches 0.9; a narrow win stays near one half.

use crate::diagnose::catalog::{Cause, Hypothesis, Verdict};

/// Net support a hypothesis needs to be named as the root cause.
pub(crate) const SUPPORTED: f64 = 1.0;
/// A runner-up closer than this to the winner leaves the decision open.
pub(crate) const DECISIVE_MARGIN: f64 = 1.0;
/// How much a hypothesis on the ticket's own target is preferred when ranking.
pub(crate) const TICKET_PREFERENCE: f64 = 0.5;
/// Net support a hypothesis on another target needs to be a second, independent cause.
pub(crate) const INDEPENDENT: f64 = 2.5;

/// One observation bearing on a hypothesis, with its weight (how strongly it
/// discriminates: about 0.5 for a hint, 1 for a typical sign, 2–3 for a defining fact).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Weight, > 0.
    pub weight: f64,
    /// What was observed, in words, following from a fact of the evidence.
    pub claim: String,
}

impl Finding {
    /// A finding.
    pub(crate) fn new(weight: f64, claim: impl Into<String>) -> Self {
        Self {
            weight,
            claim: claim.into(),
        }
    }
}

/// A hypothesis as the subject assessed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The cause hypothesised.
    pub cause: Cause,
    /// Findings that support it.
    pub supporting: Vec<Finding>,
    /// Findings that contradict it.
    pub contradicting: Vec<Finding>,
    /// The observation that would confirm or refute it (used when the decision is close).
    pub check: String,
}

impl Candidate {
    /// A hypothesis with no findings yet.
    pub(crate) fn new(cause: Cause, check: impl Into<String>) -> Self {
        Self {
            cause,
            supporting: vec![],
            contradicting: vec![],
            check: check.into(),
        }
    }

    /// Adds a supporting finding.
    pub(crate) fn support(&mut self, weight: f64, claim: impl Into<String>) {
        self.supporting.push(Finding::new(weight, claim));
    }

    /// Adds a contradicting finding.
    pub(crate) fn contradict(&mut self, weight: f64, claim: impl Into<String>) {
        self.contradicting.push(Finding::new(weight, claim));
    }

    /// Supporting minus contradicting weight.
    pub(crate) fn net(&self) -> f64 {
        let s: f64 = self.supporting.iter().map(|f| f.weight).sum();
        let c: f64 = self.contradicting.iter().map(|f| f.weight).sum();
        s - c
    }

    fn has_findings(&self) -> bool {
        !self.supporting.is_empty() || !self.contradicting.is_empty()
    }
}

/// What the differential concluded.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The root cause (`unknown` on `fallback_target` when nothing is supported).
    pub cause: Cause,
    /// Independent causes on other targets.
    pub other_causes: Vec<Cause>,
    /// Every hypothesis with findings, best first, with its verdict.
    pub hypotheses: Vec<Hypothesis>,
    /// Net support of the root cause.
    pub support: f64,
    /// Net support of the root cause minus that of the best rival on the same question.
    pub margin: f64,
    /// The closest rival, when it is within [`DECISIVE_MARGIN`].
    pub runner_up: Option<Cause>,
    /// The check that would tell the root cause from the closest rival.
    pub discriminating_check: Option<String>,
    /// Calibrated confidence in the root cause, 0..=1.
    pub confidence: f64,
}

/// Confidence from net support and margin.
///
/// # Guarantees
/// In `[0.05, 0.92]`; increasing in both arguments; 0.2 for no support.
pub(crate) fn confidence(support: f64, margin: f64) -> f64 {
    if support < SUPPORTED {
        return 0.2;
    }
    let strength = 1.0 - (-support / 1.5).exp();
    let separation = margin.max(0.0) / (margin.max(0.0) + 1.0);
    (0.2 + 0.75 * strength * (0.35 + 0.65 * separation)).clamp(0.05, 0.92)
}

/// Ranks the candidates and decides.
///
/// # Guarantees
/// Deterministic (ranked by net support, the ticket's own target `fallback_target`
/// preferred by [`TICKET_PREFERENCE`], ties broken by category and target). The root cause has the highest
/// rank of all candidates; every other cause named has at least [`INDEPENDENT`]
/// net support, and either a target no other named cause has, or the root cause's
/// target and evidence independent of every cause named there.
pub(crate) fn decide(mut candidates: Vec<Candidate>, fallback_target: &str) -> Decision {
    candidates.retain(Candidate::has_findings);
    // The entity the ticket is about is preferred by [`TICKET_PREFERENCE`]: a cause on
    // another entity becomes the root cause only when clearly better supported (it is
    // still named as an independent cause when strong enough).
    let rank = |c: &Candidate| {
        c.net()
            + if c.cause.target == fallback_target {
                TICKET_PREFERENCE
            } else {
                0.0
            }
    };
    candidates.sort_by(|a, b| {
        rank(b)
            .total_cmp(&rank(a))
            .then_with(|| a.cause.cmp(&b.cause))
    });
    let best = candidates.iter().find(|c| c.net() >= SUPPORTED).cloned();
    let Some(best) = best else {
        let hypotheses = candidates
            .iter()
            .map(|c| hypothesis(c, Verdict::Rejected))
            .collect();
        return Decision {
            cause: Cause::unknown(fallback_target),
            other_causes: vec![],
            hypotheses,
            support: candidates.first().map(Candidate::net).unwrap_or(0.0),
            margin: 0.0,
            runner_up: None,
            discriminating_check: candidates.first().map(|c| c.check.clone()),
            confidence: confidence(0.0, 0.0),
        };
    };
    let mut others: Vec<Cause> = vec![];
    let mut named: Vec<&Candidate> = vec![&best];
    for c in candidates.iter().filter(|c| c.cause != best.cause) {
        if c.net() < INDEPENDENT {
            continue;
        }
        // One cause per other target; on a target already named, only a cause that
        // rests on evidence of its own.
        let free = named
            .iter()
            .filter(|n| n.cause.target == c.cause.target)
            .all(|n| n.cause.target == best.cause.target && independent(n, c));
        if free {
            others.push(c.cause.clone());
            named.push(c);
        }
    }
    // The rival that competes with the root cause: the best other hypothesis that is not
    // an independent cause in its own right.
    let rival = candidates
        .iter()
        .find(|c| c.cause != best.cause && !others.contains(&c.cause));
    let margin = rival
        .map(|r| (best.net() - r.net()).max(0.0))
        .unwrap_or(best.net());
    let close = rival.filter(|r| best.net() - r.net() < DECISIVE_MARGIN && r.net() > 0.0);
    let hypotheses = candidates
        .iter()
        .map(|c| {
            let verdict = if c.cause == best.cause || others.contains(&c.cause) {
                Verdict::RootCause
            } else if close.is_some_and(|r| r.cause == c.cause) {
                Verdict::Undecided
            } else {
                Verdict::Rejected
            };
            hypothesis(c, verdict)
        })
        .collect();
    Decision {
        cause: best.cause.clone(),
        other_causes: others,
        hypotheses,
        support: best.net(),
        margin,
        runner_up: close.map(|r| r.cause.clone()),
        discriminating_check: close.map(|r| r.check.clone()),
        confidence: confidence(best.net(), margin),
    }
}

/// A finding at least this heavy for either hypothesis is defining, not a shared symptom.
const DEFINING: f64 = 1.5;

/// Whether two hypotheses rest on separate evidence: no defining supporting finding in
/// common (a shared symptom, such as the store being unreachable, does not make two
/// causes rivals), and no supporting finding of one among (or quoted by) the other's
/// contradictions.
fn independent(a: &Candidate, b: &Candidate) -> bool {
    let same = |f: &Finding, x: &Finding| x.claim.contains(&f.claim) || f.claim.contains(&x.claim);
    let shared_defining = a.supporting.iter().any(|f| {
        b.supporting
            .iter()
            .any(|x| same(f, x) && f.weight.max(x.weight) >= DEFINING)
    });
    let quoted = |f: &Finding, against: &[Finding]| against.iter().any(|x| same(f, x));
    !shared_defining
        && !a.supporting.iter().any(|f| quoted(f, &b.contradicting))
        && !b.supporting.iter().any(|f| quoted(f, &a.contradicting))
}

fn hypothesis(c: &Candidate, verdict: Verdict) -> Hypothesis {
    let words = |fs: &[Finding]| fs.iter().map(|f| f.claim.clone()).collect::<Vec<_>>();
    Hypothesis {
        cause: c.cause.clone(),
        verdict,
        supporting: words(&c.supporting),
        contradicting: words(&c.contradicting),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(cat: &str, target: &str, s: &[f64], c: &[f64]) -> Candidate {
        let mut x = Candidate::new(Cause::new(cat, target), format!("check {cat}"));
        for w in s {
            x.support(*w, format!("for {cat} {w}"));
        }
        for w in c {
            x.contradict(*w, format!("against {cat} {w}"));
        }
        x
    }

    #[test]
    fn the_best_supported_hypothesis_is_the_root_cause_and_the_others_say_why_not() {
        let d = decide(
            vec![
                cand("disk-slow", "store/4", &[2.0, 1.0], &[]),
                cand("hot-region", "store/4", &[0.5], &[1.5]),
            ],
            "store/4",
        );
        assert_eq!(d.cause, Cause::new("disk-slow", "store/4"));
        assert!(d.other_causes.is_empty());
        let hot = &d.hypotheses[1];
        assert_eq!(hot.verdict, Verdict::Rejected);
        assert_eq!(hot.contradicting, vec!["against hot-region 1.5"]);
        assert!(d.runner_up.is_none());
        assert!(d.confidence > 0.7, "{}", d.confidence);
    }

    #[test]
    fn a_narrow_margin_lowers_confidence_and_names_the_discriminating_check() {
        let clear = decide(
            vec![
                cand("disk-slow", "store/4", &[2.0], &[]),
                cand("cpu-saturation", "store/4", &[0.5], &[]),
            ],
            "store/4",
        );
        let close = decide(
            vec![
                cand("disk-slow", "store/4", &[2.0], &[]),
                cand("cpu-saturation", "store/4", &[1.6], &[]),
            ],
            "store/4",
        );
        assert!(close.confidence < clear.confidence);
        assert_eq!(
            close.runner_up,
            Some(Cause::new("cpu-saturation", "store/4"))
        );
        assert_eq!(
            close.discriminating_check.as_deref(),
            Some("check cpu-saturation")
        );
        assert_eq!(close.hypotheses[1].verdict, Verdict::Undecided);
    }

    #[test]
    fn two_well_supported_hypotheses_on_different_targets_are_two_causes() {
        let d = decide(
            vec![
                cand("process-exit", "store/1", &[3.0], &[]),
                cand("hot-region", "store/4", &[2.0, 1.0], &[]),
                cand("network-partition", "store/1", &[1.0], &[2.0]),
            ],
            "store/1",
        );
        assert_eq!(d.cause, Cause::new("process-exit", "store/1"));
        assert_eq!(d.other_causes, vec![Cause::new("hot-region", "store/4")]);
        // A second cause on the same target citing the same evidence is a rival, not
        // an independent cause.
        let mut exit = cand("process-exit", "store/1", &[], &[]);
        exit.support(3.0, "the container exited");
        let mut oom = cand("oom-kill", "store/1", &[], &[]);
        oom.support(3.0, "the container exited");
        let d = decide(vec![exit, oom], "store/1");
        assert!(d.other_causes.is_empty());
        assert!(d.runner_up.is_some());
    }

    #[test]
    fn two_causes_on_one_target_resting_on_separate_evidence_are_both_named() {
        let mut slow = cand("disk-slow", "store/1", &[], &[]);
        slow.support(2.5, "append p99 is 80 ms, 20× its peers'");
        slow.support(1.0, "slow score 90");
        let mut full = cand("disk-full", "store/1", &[], &[]);
        full.support(2.6, "store 1 is 92% used");
        let mut net = cand("network-degradation", "store/1", &[], &[]);
        net.support(3.0, "propose wait 40 ms");
        net.contradict(
            0.0,
            "append p99 is 80 ms, 20× its peers': the disk's own write path is slow",
        );
        let d = decide(vec![slow, full, net], "store/1");
        assert_eq!(d.cause, Cause::new("disk-slow", "store/1"));
        // The full disk rests on its own evidence; the network is contradicted by the
        // slow disk's own finding, so it is not a second cause.
        assert_eq!(d.other_causes, vec![Cause::new("disk-full", "store/1")]);
    }

    #[test]
    fn nothing_supported_is_unknown_with_low_confidence() {
        let d = decide(
            vec![cand("disk-slow", "store/4", &[0.5], &[1.0])],
            "store/4",
        );
        assert!(!d.cause.is_known());
        assert_eq!(d.cause.target, "store/4");
        assert!(d.confidence <= 0.2);
        assert_eq!(d.hypotheses[0].verdict, Verdict::Rejected);
    }

    #[test]
    fn confidence_grows_with_support_and_margin_and_stays_bounded() {
        assert!(confidence(3.0, 3.0) > confidence(1.5, 3.0));
        assert!(confidence(3.0, 3.0) > confidence(3.0, 0.3));
        assert!(confidence(100.0, 100.0) <= 0.92);
        assert!(confidence(1.0, 0.0) >= 0.05);
    }
}
