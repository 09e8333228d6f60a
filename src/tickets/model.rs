//! The generic ticket model: violations (what an invariant check reports in one round) and
//! tickets (what a human or the diagnosis reconciler works with).
//!
//! Nothing here names a subject. A subject's invariants produce [`Violation`]s whose
//! `subject`, `invariant` and `target` strings are opaque to this module; the
//! [`dedupe key`](Violation::dedupe_key) built from them is what makes "one open ticket per
//! invariant and target" possible.
//!
//! Times are [`SystemTime`]s serialized as RFC 3339 strings (UTC) so that JSON/YAML output,
//! the HTTP API and the sled records all read the same way; durations are serialized in
//! humantime form (`30s`, `5m`).

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// How bad a violation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Data or availability at risk now.
    Critical,
    /// Degraded or heading for trouble.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    /// Lower is more severe (Critical = 0); used to pick the worst of several reports.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Self::Critical => 0,
            Self::Warning => 1,
            Self::Info => 2,
        }
    }
    /// Lowercase name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
    /// Parses a lowercase or capitalized name.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "critical" => Self::Critical,
            "warning" => Self::Warning,
            "info" => Self::Info,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A ticket's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Opened, waiting for diagnosis or a human.
    Open,
    /// A diagnoser holds the lease and is working on it.
    Diagnosing,
    /// A diagnosis is attached.
    Diagnosed,
    /// A human has acknowledged it (still open: it resolves when the invariant holds).
    Acknowledged,
    /// Closed, automatically (the invariant held for its grace) or by a human.
    Resolved,
}

impl Status {
    /// Lowercase name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Diagnosing => "diagnosing",
            Self::Diagnosed => "diagnosed",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }
    /// Parses a name (case-insensitive).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "open" => Self::Open,
            "diagnosing" => Self::Diagnosing,
            "diagnosed" => Self::Diagnosed,
            "acknowledged" | "ack" => Self::Acknowledged,
            "resolved" => Self::Resolved,
            _ => return None,
        })
    }
    /// Every status but Resolved.
    pub(crate) fn is_active(self) -> bool {
        self != Self::Resolved
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One metric value that supports a violation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricEvidence {
    /// The PromQL expression or metric name with labels the value came from.
    pub series: String,
    /// The value.
    pub value: f64,
    /// When it was sampled.
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
}

/// One log line that supports a violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEvidence {
    /// The container (or file) the line came from.
    pub source: String,
    /// When it was logged.
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// The line, verbatim.
    pub line: String,
}

/// One runtime event that supports a violation (a container died, was OOM-killed, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventEvidence {
    /// What emitted it (container name, `docker`, `pd`).
    pub source: String,
    /// When it happened.
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// What happened, in words (`die exit_code=137 oom_killed=true`).
    pub what: String,
}

/// Timestamped facts that support a violation; diagnosis cites these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// When the observation pass that produced them ran.
    #[serde(with = "rfc3339")]
    pub observed_at: SystemTime,
    /// Metric values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricEvidence>,
    /// Structured state (for example the PD store record); `null` when none.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub state: serde_json::Value,
    /// Relevant log lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogEvidence>,
    /// Relevant runtime events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventEvidence>,
}

impl Evidence {
    /// Empty evidence observed at `at`.
    pub fn at(at: SystemTime) -> Self {
        Self {
            observed_at: at,
            metrics: Vec::new(),
            state: serde_json::Value::Null,
            logs: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// What an invariant check reports for one target in one observation round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// The subject that owns the invariant (`tikv`).
    pub subject: String,
    /// The invariant's stable name (`store-down`).
    pub invariant: String,
    /// What it is about (`tikv-2`, `store-5`, `cluster`).
    pub target: String,
    /// How bad.
    pub severity: Severity,
    /// One human sentence with the concrete values.
    pub summary: String,
    /// Supporting facts.
    pub evidence: Evidence,
    /// How long the violation must persist before a ticket opens, and how long the
    /// invariant must hold again before the ticket resolves itself.
    #[serde(with = "humantime_serde_compat")]
    pub grace: Duration,
}

impl Violation {
    /// `subject/invariant/target`: one open ticket per key.
    pub fn dedupe_key(&self) -> String {
        dedupe_key(&self.subject, &self.invariant, &self.target)
    }
}

/// Builds the dedupe key `subject/invariant/target`.
pub fn dedupe_key(subject: &str, invariant: &str, target: &str) -> String {
    let mut k = String::with_capacity(subject.len() + invariant.len() + target.len() + 2);
    k.push_str(subject);
    k.push('/');
    k.push_str(invariant);
    k.push('/');
    k.push_str(target);
    k
}

/// What kind of thing happened to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimelineKind {
    /// The ticket was opened.
    Opened,
    /// The violation's severity changed.
    SeverityChanged,
    /// The violation's summary changed (new values).
    SummaryChanged,
    /// The invariant held for its grace; the ticket resolved itself.
    AutoResolved,
    /// A human resolved it.
    Resolved,
    /// It broke again within the reopen window.
    Reopened,
    /// A human acknowledged it.
    Acknowledged,
    /// A diagnoser took the lease.
    DiagnosisStarted,
    /// A diagnoser took over an expired lease.
    LeaseExpired,
    /// A diagnosis was attached.
    Diagnosed,
    /// A diagnoser gave the lease back without a diagnosis.
    LeaseReleased,
    /// A model backend's investigation: one tool call and a summary of its result, or
    /// how the investigation ended (a single shot, a forced final answer).
    Investigation,
}

impl TimelineKind {
    /// Kebab-case name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::SeverityChanged => "severity-changed",
            Self::SummaryChanged => "summary-changed",
            Self::AutoResolved => "auto-resolved",
            Self::Resolved => "resolved",
            Self::Reopened => "reopened",
            Self::Acknowledged => "acknowledged",
            Self::DiagnosisStarted => "diagnosis-started",
            Self::LeaseExpired => "lease-expired",
            Self::Diagnosed => "diagnosed",
            Self::LeaseReleased => "lease-released",
            Self::Investigation => "investigation",
        }
    }
}

impl fmt::Display for TimelineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One entry of a ticket's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When.
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// What.
    pub kind: TimelineKind,
    /// Details in words.
    pub detail: String,
}

/// A diagnoser's claim on a ticket, valid until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it.
    pub holder: String,
    /// When it expires.
    #[serde(with = "rfc3339")]
    pub until: SystemTime,
}

/// A ticket: one problem on one target, however many times it was observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// Stable id (never reused once reported).
    pub id: u64,
    /// Subject.
    pub subject: String,
    /// Invariant.
    pub invariant: String,
    /// Target.
    pub target: String,
    /// `subject/invariant/target`.
    pub dedupe_key: String,
    /// Latest severity.
    pub severity: Severity,
    /// Status.
    pub status: Status,
    /// When the violation was first seen (before the grace elapsed).
    #[serde(with = "rfc3339")]
    pub first_seen: SystemTime,
    /// When it was last seen.
    #[serde(with = "rfc3339")]
    pub last_seen: SystemTime,
    /// Rounds in which the violation was observed.
    pub occurrences: u64,
    /// Latest summary.
    pub summary: String,
    /// Grace of the violation (for opening and auto-resolving).
    #[serde(with = "humantime_serde_compat")]
    pub grace: Duration,
    /// Evidence of the observation that opened the ticket.
    pub first_evidence: Evidence,
    /// Evidence of the latest observation.
    pub evidence: Evidence,
    /// What happened, in order (bounded, see [`TIMELINE_LIMIT`]).
    pub timeline: Vec<TimelineEntry>,
    /// The latest diagnosis, as the diagnosis reconciler wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<serde_json::Value>,
    /// The diagnoser's lease, while one is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// When it was resolved (None while active).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rfc3339_opt")]
    pub resolved_at: Option<SystemTime>,
    /// How many times it was reopened.
    pub reopened_count: u32,
    /// The root cause a person confirmed when resolving it (memory for later diagnoses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_cause: Option<crate::diagnose::catalog::Cause>,
}

/// A ticket keeps at most this many timeline entries: the first (opened) and the latest
/// ones, so a flapping invariant cannot grow a record without bound.
pub(crate) const TIMELINE_LIMIT: usize = 200;

impl Ticket {
    /// The compact view used by listings.
    pub(crate) fn summary_view(&self) -> TicketSummary {
        TicketSummary {
            id: self.id,
            subject: self.subject.clone(),
            invariant: self.invariant.clone(),
            target: self.target.clone(),
            severity: self.severity,
            status: self.status,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            occurrences: self.occurrences,
            summary: self.summary.clone(),
            reopened_count: self.reopened_count,
            resolved_at: self.resolved_at,
            diagnosed: self.diagnosis.is_some(),
        }
    }
}

/// The compact view of a ticket that listings return (no evidence, no timeline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketSummary {
    /// Id.
    pub id: u64,
    /// Subject.
    pub subject: String,
    /// Invariant.
    pub invariant: String,
    /// Target.
    pub target: String,
    /// Severity.
    pub severity: Severity,
    /// Status.
    pub status: Status,
    /// First seen.
    #[serde(with = "rfc3339")]
    pub first_seen: SystemTime,
    /// Last seen.
    #[serde(with = "rfc3339")]
    pub last_seen: SystemTime,
    /// Occurrences.
    pub occurrences: u64,
    /// Latest summary.
    pub summary: String,
    /// Reopen count.
    pub reopened_count: u32,
    /// Resolution time.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rfc3339_opt")]
    pub resolved_at: Option<SystemTime>,
    /// Whether a diagnosis is attached.
    pub diagnosed: bool,
}

impl AsRef<TicketSummary> for TicketSummary {
    fn as_ref(&self) -> &TicketSummary {
        self
    }
}

/// One entry of the global event timeline (`operator events`): a ticket timeline entry
/// with the ticket it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketEvent {
    /// When.
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// The ticket.
    pub ticket_id: u64,
    /// Its dedupe key.
    pub dedupe_key: String,
    /// Its severity at the time.
    pub severity: Severity,
    /// What happened.
    pub kind: TimelineKind,
    /// Details.
    pub detail: String,
}

/// RFC 3339 formatting of [`SystemTime`] (UTC, nanosecond precision when non-zero).
pub(crate) fn format_time(t: SystemTime) -> String {
    let odt = time::OffsetDateTime::from(t);
    odt.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("{:?}", t))
}

/// Parses an RFC 3339 timestamp.
pub(crate) fn parse_time(s: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

/// Serde helper: [`SystemTime`] as an RFC 3339 string.
pub mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes.
    pub(crate) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*t))
    }
    /// Deserializes.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_time(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid RFC 3339 timestamp {s:?}")))
    }
}

/// Serde helper: `Option<SystemTime>` as an optional RFC 3339 string.
pub mod rfc3339_opt {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes.
    pub(crate) fn serialize<S: Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&super::format_time(*t)),
            None => s.serialize_none(),
        }
    }
    /// Deserializes.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        match s {
            None => Ok(None),
            Some(s) => super::parse_time(&s).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("invalid RFC 3339 timestamp {s:?}"))
            }),
        }
    }
}

/// Serde helper: [`Duration`] in humantime form (`30s`, `5m`).
pub mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes.
    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
    /// Deserializes.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim())
            .map_err(|e| serde::de::Error::custom(format!("invalid duration {s:?}: {e}")))
    }
}
