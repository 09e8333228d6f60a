//! A parser for the unified log format TiKV and PD write (INTERFACES.md §6), and a
//! classifier that turns records into the events diagnosis cares about.
//!
//! ```text
//! [2026/07/01 09:12:40.308 +00:00] [INFO] [raft.rs:1266] ["became leader at term 6"] [term=6] [raft_id=21] [region_id=20] [thread_id=92]
//! ```
//!
//! # Design
//!
//! - **Nothing is dropped.** Container logs are evidence. A line that starts with a
//!   timestamp but does not parse becomes [`LogEntry::Raw`]; a line that does not start
//!   with `[` and a timestamp continues the previous record (panics, multi-line errors) or
//!   is `Raw` when there is none.
//! - **Field order is not meaning.** TiKV writes fields in reverse declaration order,
//!   PD in declaration order; fields are kept in a `Vec` in file order and looked up by
//!   key.
//! - **Allocation-light.** Records borrow from the input (`Cow`): a quoted message or
//!   value is only copied when it contains escapes. The input may be arbitrary bytes
//!   decoded lossily; the parser never panics on any `&str` (it is fuzzed).

use std::borrow::Cow;

use crate::subjects::tikv::pd::types::GoDuration;

/// Log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// FATAL.
    Fatal,
    /// ERROR.
    Error,
    /// WARN.
    Warn,
    /// INFO.
    Info,
    /// DEBUG.
    Debug,
    /// TRACE.
    Trace,
}

impl Level {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "FATAL" => Self::Fatal,
            "ERROR" => Self::Error,
            "WARN" | "WARNING" => Self::Warn,
            "INFO" => Self::Info,
            "DEBUG" => Self::Debug,
            "TRACE" => Self::Trace,
            _ => return None,
        })
    }
}

/// One parsed log record.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord<'a> {
    /// Unix time in milliseconds (the line's offset applied).
    pub unix_millis: i64,
    /// Level.
    pub level: Level,
    /// `file.rs:line`.
    pub source: Cow<'a, str>,
    /// The message, unquoted.
    pub message: Cow<'a, str>,
    /// `k=v` fields in file order, unquoted.
    pub fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Text after the fields that did not parse as fields (normally `None`).
    pub unparsed_tail: Option<Cow<'a, str>>,
    /// Continuation lines that followed the record.
    pub continuation: Vec<Cow<'a, str>>,
}

impl<'a> LogRecord<'a> {
    /// The first field named `key`.
    pub(crate) fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// The first field named `key`, parsed as an unsigned integer.
    pub(crate) fn field_u64(&self, key: &str) -> Option<u64> {
        self.field(key)?.trim().parse().ok()
    }

    #[cfg(test)]
    /// Copies every borrowed part, detaching the record from its input.
    pub(crate) fn into_owned(self) -> LogRecord<'static> {
        let own = |c: Cow<'a, str>| Cow::Owned(c.into_owned());
        LogRecord {
            unix_millis: self.unix_millis,
            level: self.level,
            source: own(self.source),
            message: own(self.message),
            fields: self
                .fields
                .into_iter()
                .map(|(k, v)| (own(k), own(v)))
                .collect(),
            unparsed_tail: self.unparsed_tail.map(own),
            continuation: self.continuation.into_iter().map(own).collect(),
        }
    }
}

/// One element of a parsed log.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEntry<'a> {
    /// A record.
    Record(LogRecord<'a>),
    /// A line that could not be parsed, verbatim.
    Raw(Cow<'a, str>),
}

/// What a single line is, on its own.
#[derive(Debug, Clone, PartialEq)]
pub enum LineKind<'a> {
    /// A record header (a complete record unless continuation lines follow).
    Record(LogRecord<'a>),
    /// Starts like a record (`[` + timestamp) but does not parse.
    Malformed,
    /// Does not start like a record: continues the previous one.
    Continuation,
}

// ---------------------------------------------------------------------------------------
// Line parsing
// ---------------------------------------------------------------------------------------

/// Length of `[YYYY/MM/DD HH:MM:SS.mmm ±HH:MM]`.
const TIMESTAMP_LEN: usize = 32;

fn digits(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0')),
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `[YYYY/MM/DD HH:MM:SS.mmm ±HH:MM]` at the start of `line` into unix millis.
fn parse_timestamp(line: &[u8]) -> Option<i64> {
    let b = line.get(..TIMESTAMP_LEN)?;
    if b[0] != b'['
        || b[5] != b'/'
        || b[8] != b'/'
        || b[11] != b' '
        || b[14] != b':'
        || b[17] != b':'
        || b[20] != b'.'
        || b[24] != b' '
        || !(b[25] == b'+' || b[25] == b'-')
        || b[28] != b':'
        || b[31] != b']'
    {
        return None;
    }
    let year = digits(&b[1..5])?;
    let month = digits(&b[6..8])?;
    let day = digits(&b[9..11])?;
    let hour = digits(&b[12..14])?;
    let minute = digits(&b[15..17])?;
    let second = digits(&b[18..20])?;
    let millis = digits(&b[21..24])?;
    let off_h = digits(&b[26..28])?;
    let off_m = digits(&b[29..31])?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let sign = if b[25] == b'-' { -1 } else { 1 };
    let offset_secs = sign * (off_h * 3600 + off_m * 60);
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1000 + millis)
}

/// Unquotes a token: a JSON string is decoded (borrowed when it has no escapes),
/// anything else is returned as is.
fn unquote(token: &str) -> Cow<'_, str> {
    if token.len() >= 2 && token.starts_with('"') && token.ends_with('"') {
        let inner = &token[1..token.len() - 1];
        if !inner.contains('\\') {
            return Cow::Borrowed(inner);
        }
        match serde_json::from_str::<String>(token) {
            Ok(s) => Cow::Owned(s),
            Err(_) => Cow::Borrowed(inner),
        }
    } else {
        Cow::Borrowed(token)
    }
}

/// Scans one token starting at `pos`: a JSON-quoted string, or an unquoted run that
/// stops before any byte in `stops`. Returns the token's end.
fn scan_token(bytes: &[u8], pos: usize, stops: &[u8]) -> Option<usize> {
    if bytes.get(pos) == Some(&b'"') {
        let mut i = pos + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    } else {
        let mut i = pos;
        while i < bytes.len() && !stops.contains(&bytes[i]) {
            i += 1;
        }
        Some(i)
    }
}

/// Parses `[token]` at `pos`; returns the token and the position after `]`.
fn bracketed(line: &str, pos: usize) -> Option<(&str, usize)> {
    let bytes = line.as_bytes();
    if bytes.get(pos) != Some(&b'[') {
        return None;
    }
    let end = scan_token(bytes, pos + 1, b"]")?;
    if bytes.get(end) != Some(&b']') {
        return None;
    }
    Some((&line[pos + 1..end], end + 1))
}

/// Parses `[key=value]` at `pos`.
fn key_value(line: &str, pos: usize) -> Option<((&str, &str), usize)> {
    let bytes = line.as_bytes();
    if bytes.get(pos) != Some(&b'[') {
        return None;
    }
    let key_end = scan_token(bytes, pos + 1, b"=]")?;
    if bytes.get(key_end) != Some(&b'=') {
        return None;
    }
    let value_end = scan_token(bytes, key_end + 1, b"]")?;
    if bytes.get(value_end) != Some(&b']') {
        return None;
    }
    Some((
        (&line[pos + 1..key_end], &line[key_end + 1..value_end]),
        value_end + 1,
    ))
}

fn skip_spaces(bytes: &[u8], mut pos: usize) -> usize {
    while pos < bytes.len() && bytes[pos] == b' ' {
        pos += 1;
    }
    pos
}

/// Classifies and parses one line (without its newline).
///
/// # Guarantees
/// Never panics, whatever the input.
pub fn parse_line(line: &str) -> LineKind<'_> {
    let line = line.trim_end_matches(['\r', '\n']);
    let Some(unix_millis) = parse_timestamp(line.as_bytes()) else {
        return LineKind::Continuation;
    };
    match parse_after_timestamp(line, unix_millis) {
        Some(record) => LineKind::Record(record),
        None => LineKind::Malformed,
    }
}

fn parse_after_timestamp(line: &str, unix_millis: i64) -> Option<LogRecord<'_>> {
    let bytes = line.as_bytes();
    let pos = skip_spaces(bytes, TIMESTAMP_LEN);
    let (level, pos) = bracketed(line, pos)?;
    let level = Level::parse(level)?;
    let pos = skip_spaces(bytes, pos);
    let (source, pos) = bracketed(line, pos)?;
    let pos = skip_spaces(bytes, pos);
    let (message, mut pos) = bracketed(line, pos)?;
    let mut fields = Vec::new();
    let mut unparsed_tail = None;
    loop {
        pos = skip_spaces(bytes, pos);
        if pos >= bytes.len() {
            break;
        }
        match key_value(line, pos) {
            Some(((k, v), next)) => {
                fields.push((unquote(k), unquote(v)));
                pos = next;
            }
            None => {
                unparsed_tail = Some(Cow::Borrowed(&line[pos..]));
                break;
            }
        }
    }
    Some(LogRecord {
        unix_millis,
        level,
        source: Cow::Borrowed(source),
        message: unquote(message),
        fields,
        unparsed_tail,
        continuation: Vec::new(),
    })
}

/// A streaming parser over a whole log text: yields entries in order, attaching
/// continuation lines to the record before them.
#[derive(Debug)]
pub(crate) struct LogParser<'a> {
    lines: std::str::Lines<'a>,
    pending: Option<LogEntry<'a>>,
}

impl<'a> LogParser<'a> {
    /// Parses `text` lazily.
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            lines: text.lines(),
            pending: None,
        }
    }
}

impl<'a> Iterator for LogParser<'a> {
    type Item = LogEntry<'a>;

    fn next(&mut self) -> Option<LogEntry<'a>> {
        for line in self.lines.by_ref() {
            match parse_line(line) {
                LineKind::Record(record) => {
                    if let Some(done) = self.pending.replace(LogEntry::Record(record)) {
                        return Some(done);
                    }
                }
                LineKind::Malformed => {
                    let raw = LogEntry::Raw(Cow::Borrowed(line));
                    if let Some(done) = self.pending.replace(raw) {
                        return Some(done);
                    }
                }
                LineKind::Continuation => match &mut self.pending {
                    Some(LogEntry::Record(record)) => {
                        record.continuation.push(Cow::Borrowed(line));
                    }
                    _ => {
                        if line.trim().is_empty() {
                            continue;
                        }
                        let raw = LogEntry::Raw(Cow::Borrowed(line));
                        if let Some(done) = self.pending.replace(raw) {
                            return Some(done);
                        }
                    }
                },
            }
        }
        self.pending.take()
    }
}

impl LogEntry<'_> {
    #[cfg(test)]
    /// Copies every borrowed part, detaching the entry from its input.
    pub(crate) fn into_owned(self) -> LogEntry<'static> {
        match self {
            LogEntry::Record(r) => LogEntry::Record(r.into_owned()),
            LogEntry::Raw(raw) => LogEntry::Raw(Cow::Owned(raw.into_owned())),
        }
    }
}

#[cfg(test)]
/// Assembles owned entries from lines that arrive one at a time (a container log
/// stream), with the same rules as [`LogParser`]: a record is emitted when the next
/// record starts (continuations may still follow until then) or on [`finish`].
///
/// [`finish`]: LineAssembler::finish
#[derive(Debug, Default)]
pub(crate) struct LineAssembler {
    pending: Option<LogEntry<'static>>,
}

#[cfg(test)]
impl LineAssembler {
    /// An empty assembler.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Feeds one line (without its newline); returns the entry it completed, if any.
    pub(crate) fn push(&mut self, line: &str) -> Option<LogEntry<'static>> {
        match parse_line(line) {
            LineKind::Record(record) => self.pending.replace(LogEntry::Record(record.into_owned())),
            LineKind::Malformed => self
                .pending
                .replace(LogEntry::Raw(Cow::Owned(line.to_owned()))),
            LineKind::Continuation => match &mut self.pending {
                Some(LogEntry::Record(record)) => {
                    record.continuation.push(Cow::Owned(line.to_owned()));
                    None
                }
                _ if line.trim().is_empty() => None,
                _ => self
                    .pending
                    .replace(LogEntry::Raw(Cow::Owned(line.to_owned()))),
            },
        }
    }

    /// Returns the entry still being assembled (call at end of stream).
    pub(crate) fn finish(&mut self) -> Option<LogEntry<'static>> {
        self.pending.take()
    }
}

/// Parses a whole log text (see [`LogParser`]).
pub fn parse_log(text: &str) -> Vec<LogEntry<'_>> {
    LogParser::new(text).collect()
}

// ---------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------

/// A raft role a peer became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaftRole {
    /// Leader.
    Leader,
    /// Follower.
    Follower,
    /// Candidate.
    Candidate,
    /// Pre-candidate (pre-vote).
    PreCandidate,
}

/// A step of a snapshot's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapshotPhase {
    /// A follower needs a snapshot (leader side: `requesting snapshot`).
    Requested,
    /// The leader scanned/generated it (`scan snapshot`).
    Generated,
    /// The leader starts sending it.
    Sending,
    /// Sent (`sent snapshot`).
    Sent,
    /// The receiver is saving files (`saving snapshot file`).
    Receiving,
    /// Received completely (`saving all snapshot files`).
    Received,
    /// The receiver begins applying.
    Applying,
    /// Applied.
    Applied,
    /// Generation, sending or applying failed.
    Failed,
}

/// Kinds of slow operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlowKind {
    /// `async write too slow`.
    AsyncWrite,
    /// `handle ... pending peers` / `handle ready ... committed entries`.
    Raftstore,
    /// `scheduler handle command`.
    SchedulerCommand,
    /// Coprocessor `slow-query`.
    SlowQuery,
    /// Another WARN with `takes`.
    Other,
}

/// PD leadership events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PdLeaderEventKind {
    /// `campaign PD leader ok`.
    Elected,
    /// `PD leader is ready to serve`.
    Ready,
    /// `pd leader has changed` (seen by a member that lost or observed a change).
    Changed,
    /// Lease expired / etcd leader changed: this member steps down.
    SteppedDown,
}

/// Store state changes PD logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreStateEvent {
    /// `put store ok` (registration or update).
    Registered,
    /// `store has changed to serving`.
    Serving,
    /// `store has been offline`.
    Offline,
    /// `store has been up` (offline cancelled).
    Up,
    /// `store has been Tombstone`.
    Tombstone,
}

/// Operator lifecycle steps PD logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperatorAction {
    /// `add operator`.
    Added,
    /// `operator finish`.
    Finished,
    /// `operator timeout`.
    Timeout,
    /// `operator canceled`.
    Canceled,
    /// `replace old operator`.
    Replaced,
    /// `operator removed`.
    Removed,
}

/// An event recognised in a record.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEvent {
    /// A raft peer changed role (TiKV, raft-rs).
    LeaderChange {
        /// Region.
        region_id: Option<u64>,
        /// New role.
        role: RaftRole,
        /// Term.
        term: Option<u64>,
    },
    /// PD saw a region's leader move between stores.
    RegionLeaderMoved {
        /// Region.
        region_id: Option<u64>,
        /// From store.
        from_store: Option<u64>,
        /// To store.
        to_store: Option<u64>,
    },
    /// A snapshot step.
    Snapshot {
        /// Region.
        region_id: Option<u64>,
        /// Step.
        phase: SnapshotPhase,
    },
    /// A slow operation.
    SlowOperation {
        /// What was slow.
        kind: SlowKind,
        /// Duration in milliseconds, when logged.
        takes_ms: Option<f64>,
        /// Store from a `[store N]` prefix.
        store_id: Option<u64>,
        /// Region from a field or a `[region N]` prefix.
        region_id: Option<u64>,
    },
    /// A heartbeat between TiKV and PD failed.
    HeartbeatFailure {
        /// Store (PD side: the target store).
        store_id: Option<u64>,
        /// The error text.
        error: Option<String>,
    },
    /// A TiKV lost its connection to another store.
    StoreConnectionLost {
        /// Peer store.
        store_id: Option<u64>,
        /// Peer address.
        address: Option<String>,
    },
    /// PD leadership changed.
    PdLeaderChange {
        /// What happened.
        kind: PdLeaderEventKind,
        /// Member name, when logged.
        name: Option<String>,
    },
    /// PD changed a store's state.
    StoreStateChange {
        /// Store.
        store_id: Option<u64>,
        /// New state.
        state: StoreStateEvent,
        /// Address, when logged.
        address: Option<String>,
    },
    /// A PD operator step.
    Operator {
        /// Step.
        action: OperatorAction,
        /// Region.
        region_id: Option<u64>,
        /// Operator description (`balance-leader`, `replace-rule-offline-peer`).
        desc: Option<String>,
    },
    /// Nothing the classifier knows.
    Other,
}

/// `N` from `[store N]`/`[region N]` at the start of a message.
fn bracket_prefix_id(message: &str, word: &str) -> Option<u64> {
    let rest = message
        .strip_prefix('[')?
        .strip_prefix(word)?
        .strip_prefix(' ')?;
    let end = rest.find(']')?;
    rest[..end].parse().ok()
}

/// `takes` as milliseconds: TiKV's slow log writes integer ms, other places Go-style
/// durations (`312.052581ms`, `1.2s`).
fn takes_ms(record: &LogRecord<'_>) -> Option<f64> {
    let takes = record.field("takes")?.trim();
    if let Ok(ms) = takes.parse::<f64>() {
        return Some(ms);
    }
    GoDuration::parse(takes)
        .ok()
        .map(|d| d.0.as_secs_f64() * 1000.0)
}

fn role_change(message: &str) -> Option<(RaftRole, Option<u64>)> {
    let rest = message.strip_prefix("became ")?;
    let (role, rest) = rest.split_once(" at term ")?;
    let role = match role {
        "leader" => RaftRole::Leader,
        "follower" => RaftRole::Follower,
        "candidate" => RaftRole::Candidate,
        "pre-candidate" => RaftRole::PreCandidate,
        _ => return None,
    };
    Some((role, rest.trim().parse().ok()))
}

/// `id:N` at the start of PD's `put store ok` store text.
fn put_store_id(text: &str) -> Option<u64> {
    let rest = text.trim_start().strip_prefix("id:")?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// `balance-leader` from PD's operator field (`"balance-leader {transfer ...} (...)"`).
fn operator_desc(text: &str) -> Option<String> {
    let text = text.trim().trim_matches('"');
    let end = text.find([' ', '{']).unwrap_or(text.len());
    (end > 0).then(|| text[..end].to_owned())
}

/// Recognises the event a record reports.
pub fn classify(record: &LogRecord<'_>) -> LogEvent {
    let message = record.message.as_ref();
    let region_id = || {
        record
            .field_u64("region_id")
            .or_else(|| record.field_u64("region-id"))
    };

    if let Some((role, term)) = role_change(message) {
        return LogEvent::LeaderChange {
            region_id: region_id(),
            role,
            term: record.field_u64("term").or(term),
        };
    }

    let snapshot_phase = match message {
        "requesting snapshot" => Some(SnapshotPhase::Requested),
        "scan snapshot" => Some(SnapshotPhase::Generated),
        "start sending snapshot" => Some(SnapshotPhase::Sending),
        "sent snapshot" => Some(SnapshotPhase::Sent),
        "saving snapshot file" => Some(SnapshotPhase::Receiving),
        "saving all snapshot files" => Some(SnapshotPhase::Received),
        "begin to apply snapshot" | "begin apply snap data" => Some(SnapshotPhase::Applying),
        "apply snapshot with state ok" | "apply new data" => Some(SnapshotPhase::Applied),
        "failed to send snap" | "failed to apply snap!!!" | "failed to try generating snapshot" => {
            Some(SnapshotPhase::Failed)
        }
        _ => None,
    };
    if let Some(phase) = snapshot_phase {
        return LogEvent::Snapshot {
            region_id: region_id(),
            phase,
        };
    }

    match message {
        "store heartbeat failed"
        | "failed to send heartbeat"
        | "send keepalive message fail, store maybe disconnected"
        | "send heartbeat message fail" => {
            return LogEvent::HeartbeatFailure {
                store_id: record
                    .field_u64("target-store-id")
                    .or_else(|| record.field_u64("store_id"))
                    .or_else(|| record.field_u64("store-id")),
                error: record
                    .field("err")
                    .or_else(|| record.field("error"))
                    .map(str::to_owned),
            }
        }
        "connection aborted" | "connection abort" | "wait connect timeout" => {
            return LogEvent::StoreConnectionLost {
                store_id: record.field_u64("store_id"),
                address: record.field("addr").map(str::to_owned),
            }
        }
        "campaign PD leader ok" => {
            return LogEvent::PdLeaderChange {
                kind: PdLeaderEventKind::Elected,
                name: record.field("campaign-leader-name").map(str::to_owned),
            }
        }
        "PD leader is ready to serve" => {
            return LogEvent::PdLeaderChange {
                kind: PdLeaderEventKind::Ready,
                name: record.field("leader-name").map(str::to_owned),
            }
        }
        "pd leader has changed, try to re-campaign a pd leader" => {
            return LogEvent::PdLeaderChange {
                kind: PdLeaderEventKind::Changed,
                name: record.field("leader-name").map(str::to_owned),
            }
        }
        "no longer a leader because lease has expired, pd leader will step down"
        | "etcd leader changed, resigns pd leadership" => {
            return LogEvent::PdLeaderChange {
                kind: PdLeaderEventKind::SteppedDown,
                name: record.field("leader-name").map(str::to_owned),
            }
        }
        "leader changed" => {
            return LogEvent::RegionLeaderMoved {
                region_id: region_id(),
                from_store: record.field_u64("from"),
                to_store: record.field_u64("to"),
            }
        }
        _ => {}
    }

    let store_state = match message {
        "put store ok" => Some(StoreStateEvent::Registered),
        "store has changed to serving" => Some(StoreStateEvent::Serving),
        "store has been offline" => Some(StoreStateEvent::Offline),
        "store has been up" => Some(StoreStateEvent::Up),
        "store has been Tombstone" => Some(StoreStateEvent::Tombstone),
        _ => None,
    };
    if let Some(state) = store_state {
        let store_id = record
            .field_u64("store-id")
            .or_else(|| record.field("store").and_then(put_store_id));
        let address = record
            .field("store-address")
            .map(str::to_owned)
            .or_else(|| {
                let store = record.field("store")?;
                let start = store.find("address:\"")? + "address:\"".len();
                let end = store[start..].find('"')? + start;
                Some(store[start..end].to_owned())
            });
        return LogEvent::StoreStateChange {
            store_id,
            state,
            address,
        };
    }

    let operator_action = match message {
        "add operator" => Some(OperatorAction::Added),
        "operator finish" => Some(OperatorAction::Finished),
        "operator timeout" => Some(OperatorAction::Timeout),
        "operator canceled" => Some(OperatorAction::Canceled),
        "replace old operator" => Some(OperatorAction::Replaced),
        "operator removed" => Some(OperatorAction::Removed),
        _ => None,
    };
    if let Some(action) = operator_action {
        return LogEvent::Operator {
            action,
            region_id: region_id(),
            desc: record.field("operator").and_then(operator_desc),
        };
    }

    let slow_kind = if message == "slow-query" {
        Some(SlowKind::SlowQuery)
    } else if message.contains("async write too slow") {
        Some(SlowKind::AsyncWrite)
    } else if record.level <= Level::Warn && record.field("takes").is_some() {
        Some(if message.contains("scheduler handle command") {
            SlowKind::SchedulerCommand
        } else if message.contains(" pending peers include ")
            || message.contains("committed entries")
        {
            SlowKind::Raftstore
        } else {
            SlowKind::Other
        })
    } else {
        None
    };
    if let Some(kind) = slow_kind {
        let takes = takes_ms(record).or_else(|| {
            // slow-query logs `total_lifetime=1.071s`.
            record
                .field("total_lifetime")
                .and_then(|t| GoDuration::parse(t).ok())
                .map(|d| d.0.as_secs_f64() * 1000.0)
        });
        return LogEvent::SlowOperation {
            kind,
            takes_ms: takes,
            store_id: bracket_prefix_id(message, "store"),
            region_id: region_id().or_else(|| bracket_prefix_id(message, "region")),
        };
    }

    LogEvent::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tikv_line_parses_with_fields_in_file_order() {
        let line = r#"[2026/07/01 09:12:40.308 +00:00] [INFO] [raft.rs:1266] ["became leader at term 6"] [term=6] [raft_id=21] [region_id=20] [thread_id=92]"#;
        let LineKind::Record(r) = parse_line(line) else {
            panic!("not a record")
        };
        assert_eq!(r.level, Level::Info);
        assert_eq!(r.source, "raft.rs:1266");
        assert_eq!(r.message, "became leader at term 6");
        assert!(matches!(r.message, Cow::Borrowed(_)), "no escapes, no copy");
        let keys: Vec<&str> = r.fields.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["term", "raft_id", "region_id", "thread_id"]);
        assert_eq!(r.field_u64("region_id"), Some(20));
        // 2026-07-01T09:12:40.308Z
        assert_eq!(r.unix_millis, 1_782_897_160_308);
        assert_eq!(
            classify(&r),
            LogEvent::LeaderChange {
                region_id: Some(20),
                role: RaftRole::Leader,
                term: Some(6)
            }
        );
    }

    #[test]
    fn offsets_are_applied_to_the_timestamp() {
        let utc = parse_timestamp(b"[2026/07/01 09:12:40.308 +00:00]").unwrap();
        let plus8 = parse_timestamp(b"[2026/07/01 17:12:40.308 +08:00]").unwrap();
        let minus = parse_timestamp(b"[2026/07/01 04:42:40.308 -04:30]").unwrap();
        assert_eq!(utc, plus8);
        assert_eq!(utc, minus);
    }

    #[test]
    fn quoted_values_with_escapes_are_decoded() {
        let line = r#"[2026/07/01 09:25:30.410 +00:00] [WARN] [client.rs:655] ["failed to send heartbeat"] [err="Grpc(RpcFailure(RpcStatus { code: 14-UNAVAILABLE, message: \"Socket closed\", details: [] }))"] [thread_id=34]"#;
        let LineKind::Record(r) = parse_line(line) else {
            panic!()
        };
        assert_eq!(
            r.field("err"),
            Some(
                r#"Grpc(RpcFailure(RpcStatus { code: 14-UNAVAILABLE, message: "Socket closed", details: [] }))"#
            )
        );
        assert_eq!(r.field_u64("thread_id"), Some(34));
    }

    #[test]
    fn unquoted_messages_and_empty_values_parse() {
        let line = "[2026/07/01 08:13:51.402 +00:00] [INFO] [versioninfo.go:116] [PD] [release-version=v8.5.7] [via=]";
        let LineKind::Record(r) = parse_line(line) else {
            panic!()
        };
        assert_eq!(r.message, "PD");
        assert_eq!(r.field("release-version"), Some("v8.5.7"));
        assert_eq!(r.field("via"), Some(""));
    }

    #[test]
    fn continuation_lines_attach_and_garbage_is_kept_raw() {
        let text = "stray first line\n\
[2026/07/01 08:14:05.207 +00:00] [FATAL] [lib.rs:1] [\"panic\"] [backtrace=x]\n   0: std::panicking\n   1: tikv::main\n\
[2026/07/01 08:14:05.207 +00:00] [BOGUS] [x] [y]\n\
[2026/07/01 08:14:05.208 +00:00] [INFO] [a.rs:1] [ok]\n";
        let entries = parse_log(text);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0], LogEntry::Raw(Cow::Borrowed("stray first line")));
        let LogEntry::Record(fatal) = &entries[1] else {
            panic!()
        };
        assert_eq!(fatal.level, Level::Fatal);
        assert_eq!(
            fatal.continuation,
            vec!["   0: std::panicking", "   1: tikv::main"]
        );
        assert!(matches!(entries[2], LogEntry::Raw(_)));
        assert!(matches!(entries[3], LogEntry::Record(_)));
    }

    #[test]
    fn the_line_assembler_matches_the_batch_parser() {
        let text = fixture("tikv.log") + "   continuation of the last record\nnot a record\n";
        let batch: Vec<LogEntry<'static>> = parse_log(&text)
            .into_iter()
            .map(LogEntry::into_owned)
            .collect();
        let mut assembler = LineAssembler::new();
        let mut streamed: Vec<_> = text.lines().filter_map(|l| assembler.push(l)).collect();
        streamed.extend(assembler.finish());
        assert_eq!(streamed, batch);
        let Some(LogEntry::Record(last)) = batch.last() else {
            panic!("last entry is not a record")
        };
        assert_eq!(
            last.continuation,
            vec!["   continuation of the last record", "not a record"]
        );
    }

    #[test]
    fn trailing_text_that_is_not_a_field_is_kept() {
        let line = "[2026/07/01 08:14:05.208 +00:00] [INFO] [a.rs:1] [msg] [k=v] trailing junk";
        let LineKind::Record(r) = parse_line(line) else {
            panic!()
        };
        assert_eq!(r.field("k"), Some("v"));
        assert_eq!(r.unparsed_tail.as_deref(), Some("trailing junk"));
    }

    #[test]
    fn hostile_lines_never_panic() {
        let cases = [
            "",
            "[",
            "[2026/07/01 08:14:05.208 +00:00]",
            "[2026/07/01 08:14:05.208 +00:00] [INFO] [a.rs:1] [\"unterminated",
            "[2026/07/01 08:14:05.208 +00:00] [INFO] [a.rs:1] [m] [k=\"\\",
            "[2026/99/01 08:14:05.208 +00:00] [INFO] [a] [b]",
            "[2026/07/01 08:14:05.208 +00:00] [INFO] [é] [ü] [ß=ñ]",
            "[2026/07/01 08:14:05.208 +00:00]\u{0}[INFO]",
            "[ééé/07/01 08:14:05.208 +00:00] [INFO] [a] [b]",
        ];
        for case in cases {
            let _ = parse_line(case);
            let _ = parse_log(case);
        }
    }

    fn fixture(name: &str) -> String {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/pd-tikv/fixtures/"
        );
        std::fs::read_to_string(format!("{path}{name}")).unwrap()
    }

    fn events(text: &str) -> Vec<LogEvent> {
        parse_log(text)
            .iter()
            .map(|e| match e {
                LogEntry::Record(r) => classify(r),
                LogEntry::Raw(raw) => panic!("fixture line did not parse: {raw}"),
            })
            .collect()
    }

    #[test]
    fn the_tikv_fixture_yields_its_leader_changes_slow_ops_heartbeats_and_snapshots() {
        let text = fixture("tikv.log");
        let entries = parse_log(&text);
        assert_eq!(entries.len(), text.lines().count(), "one record per line");
        let events = events(&text);

        let leader_changes: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                LogEvent::LeaderChange {
                    region_id,
                    role,
                    term,
                } => Some((*region_id, *role, *term)),
                _ => None,
            })
            .collect();
        assert_eq!(
            leader_changes,
            vec![
                (Some(2), RaftRole::Follower, Some(5)),
                (Some(12), RaftRole::Follower, Some(5)),
                (Some(20), RaftRole::Candidate, Some(6)),
                (Some(20), RaftRole::Leader, Some(6)),
            ]
        );

        let slow: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                LogEvent::SlowOperation {
                    kind,
                    takes_ms,
                    store_id,
                    region_id,
                } => Some((*kind, *takes_ms, *store_id, *region_id)),
                _ => None,
            })
            .collect();
        assert_eq!(
            slow,
            vec![
                (SlowKind::AsyncWrite, Some(1203.0), Some(4), None),
                (SlowKind::Raftstore, Some(1214.0), Some(4), None),
                (SlowKind::SchedulerCommand, Some(1219.0), None, Some(12)),
                (SlowKind::SlowQuery, Some(1071.0), None, Some(12)),
            ]
        );

        let heartbeats: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, LogEvent::HeartbeatFailure { .. }))
            .collect();
        assert_eq!(heartbeats.len(), 2);
        assert!(
            matches!(heartbeats[1], LogEvent::HeartbeatFailure { error: Some(e), .. } if e.contains("failed to connect to all addresses"))
        );

        let snapshots: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                LogEvent::Snapshot { region_id, phase } => Some((*region_id, *phase)),
                _ => None,
            })
            .collect();
        assert_eq!(
            snapshots,
            vec![
                (Some(12), SnapshotPhase::Requested),
                (Some(12), SnapshotPhase::Generated),
                (Some(12), SnapshotPhase::Sending),
                (Some(12), SnapshotPhase::Sent),
            ]
        );

        let lost = events
            .iter()
            .filter(|e| matches!(e, LogEvent::StoreConnectionLost { store_id: Some(5), address: Some(a) } if a == "tikv2:20160"))
            .count();
        assert_eq!(lost, 3);
    }

    #[test]
    fn the_pd_fixture_yields_leadership_store_states_and_operators() {
        let text = fixture("pd.log");
        let events = events(&text);
        let pd_leader: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                LogEvent::PdLeaderChange { kind, name } => Some((*kind, name.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            pd_leader,
            vec![
                (PdLeaderEventKind::Elected, Some("pd0".to_owned())),
                (PdLeaderEventKind::Ready, Some("pd0".to_owned())),
            ]
        );
        let states: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                LogEvent::StoreStateChange {
                    store_id,
                    state,
                    address,
                } => Some((*store_id, *state, address.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(states.len(), 9);
        assert_eq!(
            states[0],
            (
                Some(1),
                StoreStateEvent::Registered,
                Some("tikv0:20160".to_owned())
            )
        );
        assert_eq!(
            states.last().unwrap(),
            &(
                Some(6),
                StoreStateEvent::Offline,
                Some("tikv3:20160".to_owned())
            )
        );
        assert_eq!(
            states
                .iter()
                .filter(|s| s.1 == StoreStateEvent::Serving)
                .count(),
            4
        );
        assert!(events.contains(&LogEvent::HeartbeatFailure {
            store_id: Some(5),
            error: Some("EOF".into())
        }));
        assert!(events.contains(&LogEvent::RegionLeaderMoved {
            region_id: Some(16),
            from_store: Some(5),
            to_store: Some(1)
        }));
        let ops: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                LogEvent::Operator {
                    action,
                    region_id,
                    desc,
                } => Some((*action, *region_id, desc.clone().unwrap_or_default())),
                _ => None,
            })
            .collect();
        assert_eq!(
            ops,
            vec![
                (OperatorAction::Added, Some(20), "balance-leader".to_owned()),
                (
                    OperatorAction::Finished,
                    Some(20),
                    "balance-leader".to_owned()
                ),
                (
                    OperatorAction::Added,
                    Some(12),
                    "replace-rule-offline-peer".to_owned()
                ),
                (
                    OperatorAction::Added,
                    Some(2),
                    "admin-transfer-leader".to_owned()
                ),
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn no_non_blank_line_is_ever_dropped(lines in proptest::collection::vec(
            proptest::prop_oneof![
                "[ -~]{0,40}",
                "\\[2026/07/01 08:14:05\\.2[0-9]{2} \\+00:00\\] \\[(INFO|WARN|XX)\\] \\[[a-z.:0-9]{0,8}\\] \\[[ -~]{0,20}\\]( \\[[a-z]{1,4}=[ -~]{0,8}\\]){0,3}[ -~]{0,4}",
                "\\PC{0,20}",
            ],
            0..20,
        )) {
            let text = lines.join("\n");
            let entries = parse_log(&text);
            let non_blank = text.lines().filter(|l| !l.trim().is_empty()).count();
            let mut accounted = 0;
            for entry in &entries {
                match entry {
                    LogEntry::Raw(_) => accounted += 1,
                    LogEntry::Record(r) => {
                        accounted += 1 + r.continuation.iter().filter(|l| !l.trim().is_empty()).count();
                    }
                }
            }
            proptest::prop_assert_eq!(accounted, non_blank);
        }
    }
}
