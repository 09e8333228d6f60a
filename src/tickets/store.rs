//! The sled-backed ticket store.
//!
//! # Layout
//!
//! | tree        | key                                   | value                          |
//! |-------------|---------------------------------------|--------------------------------|
//! | `tickets`   | id, big-endian u64                    | [`Ticket`] as JSON             |
//! | `summaries` | id, big-endian u64                    | [`TicketSummary`] as JSON      |
//! | `dedupe`    | dedupe key (`subject/invariant/target`) | id of its latest ticket      |
//! | `events`    | unix nanos (BE u64) ++ sequence (BE u64) | [`TicketEvent`] as JSON     |
//!
//! Big-endian keys make sled's byte order the numeric order, so listings come out sorted
//! by id and `events(since)` is a range scan.
//!
//! # Why an in-memory index
//!
//! The controller reports the same violations every few seconds. The [`Tracker`] keeps
//! every active ticket in memory, so a repeated observation is a hash lookup, never a
//! read of sled. The tracker is loaded on the first [`TicketStore::observe`], not at open,
//! so the CLI opening the database to list or ack pays only for the summary index.
//! Listings are served from an in-memory map of shared [`TicketSummary`]s (loaded from the
//! compact `summaries` tree at open), which makes listing 100,000 tickets a matter of
//! milliseconds; `get` reads the full record from sled.
//!
//! # Durability
//!
//! sled fsyncs in the background every 500 ms; a write acknowledged before that can be
//! lost on SIGKILL. Every method here that makes a reportable change (a ticket opened,
//! reopened, updated, resolved, acknowledged, leased or diagnosed, and every event) calls
//! [`sled::Db::flush`] before it returns, so whatever a caller reports (an id printed, an
//! HTTP 200) is on disk. Methods block on that fsync: call them from
//! `tokio::task::spawn_blocking` in async code.
//!
//! Refresh-only changes (a repeated observation bumping `occurrences`, `last_seen` and the
//! latest evidence) are coalesced: written with the next reportable change, or at most
//! one refresh interval (default 1 s) later, and by [`TicketStore::flush`]. Reads (`get`,
//! `list`) serve what is on disk, so nothing unflushed is ever shown; a crash loses at most
//! one interval of counter updates, never a reported transition.
//!
//! sled allows one process per database. [`StoreError::Locked`] says so explicitly, so the
//! CLI can fall back to the controller's HTTP API (see [`super::api::TicketAccess`]).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::lifecycle::{self, LifecycleConfig, RoundOutcome, Tracker, TransitionError};
use super::model::{Severity, Status, Ticket, TicketEvent, TicketSummary, Violation};

/// Errors of the ticket store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (normally the running controller) holds the database.
    #[error(
        "the ticket database {path} is locked by another process (is the controller running?)"
    )]
    Locked {
        /// Database path.
        path: PathBuf,
    },
    /// sled failed.
    #[error("ticket database {path}: {source}")]
    Sled {
        /// Database path.
        path: PathBuf,
        /// The error.
        #[source]
        source: sled::Error,
    },
    /// A record could not be decoded (or encoded).
    #[error("ticket database {path}: corrupt record {what}: {message}")]
    Codec {
        /// Database path.
        path: PathBuf,
        /// Which record.
        what: String,
        /// The decoder's message.
        message: String,
    },
    /// No ticket with this id.
    #[error("ticket {0} not found")]
    NotFound(u64),
    /// The lifecycle refused the transition.
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

/// Which tickets a listing returns. Empty vectors and `None` mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketFilter {
    /// Any of these statuses.
    #[serde(default)]
    pub statuses: Vec<Status>,
    /// Any of these severities.
    #[serde(default)]
    pub severities: Vec<Severity>,
    /// Seen at or after this time (`last_seen >= since`).
    #[serde(default, with = "super::model::rfc3339_opt")]
    pub since: Option<SystemTime>,
    /// First seen at or before this time (`first_seen <= until`).
    #[serde(default, with = "super::model::rfc3339_opt")]
    pub until: Option<SystemTime>,
    /// This invariant.
    #[serde(default)]
    pub invariant: Option<String>,
    /// This subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// This target.
    #[serde(default)]
    pub target: Option<String>,
    /// At most this many (newest first).
    #[serde(default)]
    pub limit: Option<usize>,
}

impl TicketFilter {
    /// True when `t` passes the filter (limit aside).
    pub(crate) fn matches(&self, t: &TicketSummary) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&t.status))
            && (self.severities.is_empty() || self.severities.contains(&t.severity))
            && self.since.is_none_or(|s| t.last_seen >= s)
            && self.until.is_none_or(|u| t.first_seen <= u)
            && self.invariant.as_deref().is_none_or(|i| t.invariant == i)
            && self.subject.as_deref().is_none_or(|s| t.subject == s)
            && self.target.as_deref().is_none_or(|s| t.target == s)
    }
}

/// How long `open` retries a database that is locked (see [`TicketStore::open_with`]).
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(1);

/// Default longest delay before a refresh-only change is written.
pub(crate) const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

struct State {
    tracker: Tracker,
    /// The tracker holds every active ticket (false until the first observation).
    tracker_loaded: bool,
    index: BTreeMap<u64, Arc<TicketSummary>>,
    event_seq: u64,
    /// Active tickets refreshed in memory but not yet written.
    unwritten: HashSet<u64>,
    last_refresh_write: Instant,
    refresh_interval: Duration,
}

struct Inner {
    path: PathBuf,
    config: LifecycleConfig,
    db: sled::Db,
    tickets: sled::Tree,
    summaries: sled::Tree,
    dedupe: sled::Tree,
    events: sled::Tree,
    state: Mutex<State>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Best effort: write coalesced refreshes on a clean shutdown.
        let st = self.state.get_mut();
        if !st.unwritten.is_empty() {
            let ids: Vec<u64> = st.unwritten.drain().collect();
            let tickets: Vec<Ticket> = ids
                .iter()
                .filter_map(|id| st.tracker.active_by_id(*id).cloned())
                .collect();
            let refs: Vec<&Ticket> = tickets.iter().collect();
            let _ = write(
                &self.path,
                (
                    &self.db,
                    &self.tickets,
                    &self.summaries,
                    &self.dedupe,
                    &self.events,
                ),
                st,
                &refs,
                &[],
                &[],
            );
        }
    }
}

/// The ticket store. Cheap to clone (shared handle).
#[derive(Clone)]
pub struct TicketStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TicketStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// Counts after a mutation, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Tickets in the store.
    pub tickets: usize,
    /// Active (not resolved) tickets.
    pub active: usize,
    /// Violations waiting for their grace.
    pub pending: usize,
}

impl TicketStore {
    /// Opens (or creates) the database at `path` with the default lifecycle.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, LifecycleConfig::default())
    }

    /// Opens (or creates) the database at `path`.
    ///
    /// # Guarantees
    /// Fails with [`StoreError::Locked`] when another process holds the database (after
    /// retrying for [`LOCK_WAIT`], since sled frees its lock a moment after a close). Only
    /// the summary index is loaded here; on the first observation, active tickets and the
    /// latest resolved ticket of each key (if resolved within the reopen window) are loaded
    /// into the tracker. Pending violations start from scratch.
    pub(crate) fn open_with(
        path: impl AsRef<Path>,
        config: LifecycleConfig,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let sled_err = |source: sled::Error| map_sled(&path, source);
        // sled releases its file lock from background threads a moment after the last
        // handle drops, so a lock seen right after a close is retried briefly; one still
        // held after LOCK_WAIT belongs to a live handle (normally another process).
        let started = Instant::now();
        let db = loop {
            match sled::Config::new()
                .path(&path)
                .mode(sled::Mode::HighThroughput)
                .open()
                .map_err(sled_err)
            {
                Err(StoreError::Locked { .. }) if started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        let tickets = db.open_tree("tickets").map_err(sled_err)?;
        let summaries = db.open_tree("summaries").map_err(sled_err)?;
        let dedupe = db.open_tree("dedupe").map_err(sled_err)?;
        let events = db.open_tree("events").map_err(sled_err)?;

        let mut index = BTreeMap::new();
        for item in summaries.iter() {
            let (k, v) = item.map_err(sled_err)?;
            let s: TicketSummary = decode(&path, "summary", &v)?;
            index.insert(id_of(&k), Arc::new(s));
        }
        // A ticket record always precedes its summary in the log; recover any summary
        // lost to a crash between the two from the record itself.
        let last_ticket = tickets.last().map_err(sled_err)?;
        if let Some((k, _)) = &last_ticket {
            let last = id_of(k);
            let have = index.keys().next_back().copied().unwrap_or(0);
            if last > have {
                for item in tickets.range(be(have + 1)..) {
                    let (k, v) = item.map_err(sled_err)?;
                    let t: Ticket = decode(&path, "ticket", &v)?;
                    index.insert(id_of(&k), Arc::new(t.summary_view()));
                }
            }
        }
        let next_id = last_ticket.map(|(k, _)| id_of(&k) + 1).unwrap_or(1);
        let tracker = Tracker::new(config, next_id);
        let event_seq = match events.last().map_err(sled_err)? {
            Some((k, _)) if k.len() == 16 => {
                u64::from_be_bytes(k[8..16].try_into().expect("8 bytes")) + 1
            }
            _ => 0,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                config,
                db,
                tickets,
                summaries,
                dedupe,
                events,
                state: Mutex::new(State {
                    tracker,
                    tracker_loaded: false,
                    index,
                    event_seq,
                    unwritten: HashSet::new(),
                    last_refresh_write: Instant::now(),
                    refresh_interval: DEFAULT_REFRESH_INTERVAL,
                }),
            }),
        })
    }

    /// Applies one observation round (see [`Tracker::observe`]) and persists it.
    ///
    /// # Guarantees
    /// When this returns `Ok`, every ticket in the outcome and every event is flushed to
    /// disk. Repeated observations of active tickets do not read sled. When it returns an
    /// error the in-memory lifecycle has still advanced (nothing was reported, so nothing
    /// is lost to a caller); the next successful round rewrites every ticket it touches.
    pub fn observe(
        &self,
        violations: &[Violation],
        holding: &[String],
        now: SystemTime,
    ) -> Result<RoundOutcome, StoreError> {
        let inner = &*self.inner;
        let mut st = inner.state.lock();
        ensure_tracker(inner, &mut st)?;
        let out = st.tracker.observe(violations, holding, now);
        st.unwritten.extend(out.refreshed.iter().copied());
        let reportable = !(out.is_quiet() && out.events.is_empty());
        if !reportable && st.last_refresh_write.elapsed() < st.refresh_interval {
            return Ok(out);
        }
        let notable: Vec<&Ticket> = out
            .opened
            .iter()
            .chain(&out.reopened)
            .chain(&out.updated)
            .chain(&out.resolved)
            .collect();
        let opened: Vec<&Ticket> = out.opened.iter().chain(&out.reopened).collect();
        self.write_with_refreshes(&mut st, &notable, &opened, &out.events)?;
        Ok(out)
    }

    /// Writes `notable` plus every coalesced refresh, then flushes.
    fn write_with_refreshes(
        &self,
        st: &mut State,
        notable: &[&Ticket],
        opened: &[&Ticket],
        events: &[TicketEvent],
    ) -> Result<(), StoreError> {
        let inner = &*self.inner;
        for t in notable {
            st.unwritten.remove(&t.id);
        }
        let ids: Vec<u64> = st.unwritten.drain().collect();
        let refreshed: Vec<Ticket> = ids
            .into_iter()
            .filter_map(|id| st.tracker.active_by_id(id).cloned())
            .collect();
        let mut all: Vec<&Ticket> = notable.to_vec();
        all.extend(refreshed.iter());
        write(
            &inner.path,
            (
                &inner.db,
                &inner.tickets,
                &inner.summaries,
                &inner.dedupe,
                &inner.events,
            ),
            st,
            &all,
            opened,
            events,
        )?;
        st.last_refresh_write = Instant::now();
        Ok(())
    }

    /// Sets the longest delay before a refresh-only change is written (0 = write every
    /// observation).
    pub fn set_refresh_interval(&self, interval: Duration) {
        self.inner.state.lock().refresh_interval = interval;
    }

    /// One ticket, with evidence and timeline, as written on disk.
    pub fn get(&self, id: u64) -> Result<Option<Ticket>, StoreError> {
        self.read(id)
    }

    fn read(&self, id: u64) -> Result<Option<Ticket>, StoreError> {
        let raw = self
            .inner
            .tickets
            .get(be(id))
            .map_err(|e| map_sled(&self.inner.path, e))?;
        raw.map(|raw| decode(&self.inner.path, "ticket", &raw))
            .transpose()
    }

    /// Ticket summaries matching `filter`, newest (highest id) first. Summaries are
    /// shared, immutable snapshots: listing copies pointers, not strings.
    pub fn list(&self, filter: &TicketFilter) -> Vec<Arc<TicketSummary>> {
        let st = self.inner.state.lock();
        let limit = filter.limit.unwrap_or(usize::MAX);
        st.index
            .values()
            .rev()
            .filter(|s| filter.matches(s))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Counts.
    pub fn stats(&self) -> StoreStats {
        let st = self.inner.state.lock();
        StoreStats {
            tickets: st.index.len(),
            active: st.tracker.active_count(),
            pending: st.tracker.pending_count(),
        }
    }

    /// Global events at or after `since` (all when `None`), oldest first, at most `limit`.
    pub fn events(
        &self,
        since: Option<SystemTime>,
        limit: Option<usize>,
    ) -> Result<Vec<TicketEvent>, StoreError> {
        let start = event_key(since.unwrap_or(UNIX_EPOCH), 0);
        let mut out = Vec::new();
        for item in self.inner.events.range(start..) {
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            let (_, v) = item.map_err(|e| map_sled(&self.inner.path, e))?;
            out.push(decode(&self.inner.path, "event", &v)?);
        }
        Ok(out)
    }

    /// Applies a human or diagnoser transition to ticket `id` and persists it.
    fn mutate<R>(
        &self,
        id: u64,
        f: impl FnOnce(&mut Ticket) -> Result<(R, Option<TicketEvent>), TransitionError>,
    ) -> Result<(Ticket, R), StoreError> {
        let mut st = self.inner.state.lock();
        let mut t = match st.tracker.active_by_id(id) {
            Some(t) => t.clone(),
            None => self.read(id)?.ok_or(StoreError::NotFound(id))?,
        };
        let (r, event) = f(&mut t)?;
        if let Some(event) = event {
            let events = [event];
            st.tracker.replace(t.clone());
            self.write_with_refreshes(&mut st, &[&t], &[], &events)?;
        }
        Ok((t, r))
    }

    /// A human acknowledges ticket `id` (no-op when already acknowledged).
    pub fn ack(&self, id: u64, by: &str, note: Option<&str>) -> Result<Ticket, StoreError> {
        self.ack_at(id, by, note, SystemTime::now())
    }

    /// [`Self::ack`] at a given time.
    pub fn ack_at(
        &self,
        id: u64,
        by: &str,
        note: Option<&str>,
        now: SystemTime,
    ) -> Result<Ticket, StoreError> {
        self.mutate(id, |t| Ok(((), lifecycle::acknowledge(t, by, note, now)?)))
            .map(|(t, ())| t)
    }

    /// A human resolves ticket `id` (no-op when already resolved).
    pub(crate) fn resolve(
        &self,
        id: u64,
        by: &str,
        note: Option<&str>,
    ) -> Result<Ticket, StoreError> {
        self.resolve_at(id, by, note, SystemTime::now())
    }

    /// [`Self::resolve`] at a given time.
    pub fn resolve_at(
        &self,
        id: u64,
        by: &str,
        note: Option<&str>,
        now: SystemTime,
    ) -> Result<Ticket, StoreError> {
        self.mutate(id, |t| Ok(((), lifecycle::resolve(t, by, note, now))))
            .map(|(t, ())| t)
    }

    /// A human confirms ticket `id`'s root cause (and resolves it); see
    /// [`lifecycle::confirm_cause`].
    pub(crate) fn confirm_cause(
        &self,
        id: u64,
        cause: &crate::diagnose::catalog::Cause,
        by: &str,
        note: Option<&str>,
    ) -> Result<Ticket, StoreError> {
        let now = SystemTime::now();
        self.mutate(id, |t| {
            Ok(((), lifecycle::confirm_cause(t, cause, by, note, now)))
        })
        .map(|(t, ())| t)
    }

    /// A diagnoser leases ticket `id` for `ttl` (see [`lifecycle::try_lease`]).
    pub(crate) fn try_lease(
        &self,
        id: u64,
        holder: &str,
        ttl: Duration,
    ) -> Result<Ticket, StoreError> {
        self.try_lease_at(id, holder, ttl, SystemTime::now())
    }

    /// [`Self::try_lease`] at a given time.
    pub fn try_lease_at(
        &self,
        id: u64,
        holder: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<Ticket, StoreError> {
        self.mutate(id, |t| {
            Ok(((), Some(lifecycle::try_lease(t, holder, ttl, now)?)))
        })
        .map(|(t, ())| t)
    }

    /// A diagnoser takes diagnosed ticket `id` back to diagnose it again (see
    /// [`lifecycle::try_revisit`]).
    pub(crate) fn try_revisit(
        &self,
        id: u64,
        holder: &str,
        ttl: Duration,
        reason: &str,
    ) -> Result<Ticket, StoreError> {
        let now = SystemTime::now();
        self.mutate(id, |t| {
            Ok((
                (),
                Some(lifecycle::try_revisit(t, holder, ttl, reason, now)?),
            ))
        })
        .map(|(t, ())| t)
    }

    /// The lease holder attaches its diagnosis (see [`lifecycle::complete_diagnosis`]).
    pub(crate) fn complete_diagnosis(
        &self,
        id: u64,
        holder: &str,
        diagnosis: serde_json::Value,
    ) -> Result<Ticket, StoreError> {
        self.complete_diagnosis_at(id, holder, diagnosis, SystemTime::now())
    }

    /// [`Self::complete_diagnosis`] at a given time.
    pub fn complete_diagnosis_at(
        &self,
        id: u64,
        holder: &str,
        diagnosis: serde_json::Value,
        now: SystemTime,
    ) -> Result<Ticket, StoreError> {
        self.mutate(id, |t| {
            Ok((
                (),
                Some(lifecycle::complete_diagnosis(t, holder, diagnosis, now)?),
            ))
        })
        .map(|(t, ())| t)
    }

    /// The lease holder gives the ticket back (see [`lifecycle::release_lease`]).
    pub(crate) fn release_lease(
        &self,
        id: u64,
        holder: &str,
        reason: &str,
    ) -> Result<Ticket, StoreError> {
        self.release_lease_at(id, holder, reason, SystemTime::now())
    }

    /// [`Self::release_lease`] at a given time.
    pub(crate) fn release_lease_at(
        &self,
        id: u64,
        holder: &str,
        reason: &str,
        now: SystemTime,
    ) -> Result<Ticket, StoreError> {
        self.mutate(id, |t| {
            Ok(((), Some(lifecycle::release_lease(t, holder, reason, now)?)))
        })
        .map(|(t, ())| t)
    }

    /// Ids of active tickets a diagnoser may lease now: Open, or Diagnosing with an
    /// expired lease. Oldest first.
    pub fn diagnosable(&self, now: SystemTime) -> Result<Vec<u64>, StoreError> {
        let mut st = self.inner.state.lock();
        ensure_tracker(&self.inner, &mut st)?;
        let mut ids: Vec<u64> = st
            .index
            .values()
            .filter(|s| matches!(s.status, Status::Open | Status::Diagnosing))
            .filter_map(|s| {
                let t = st.tracker.active_by_id(s.id)?;
                let ok = match (t.status, &t.lease) {
                    (Status::Open, _) => true,
                    (Status::Diagnosing, Some(l)) => l.until <= now,
                    (Status::Diagnosing, None) => true,
                    _ => false,
                };
                ok.then_some(s.id)
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Writes coalesced refreshes and flushes (reportable changes are always flushed
    /// already; call this at shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        let mut st = self.inner.state.lock();
        self.write_with_refreshes(&mut st, &[], &[], &[])
    }
}

type Trees<'a> = (
    &'a sled::Db,
    &'a sled::Tree,
    &'a sled::Tree,
    &'a sled::Tree,
    &'a sled::Tree,
);

/// Loads the tracker from disk once (active tickets and reopen candidates).
fn ensure_tracker(inner: &Inner, st: &mut State) -> Result<(), StoreError> {
    if st.tracker_loaded {
        return Ok(());
    }
    let path = &inner.path;
    let sled_err = |source: sled::Error| map_sled(path, source);
    let now = SystemTime::now();
    let window = inner.config.reopen_window;
    for item in inner.dedupe.iter() {
        let (_, v) = item.map_err(sled_err)?;
        let id = id_of(&v);
        let Some(s) = st.index.get(&id) else { continue };
        let wanted = s.status.is_active()
            || s.resolved_at
                .is_some_and(|r| now.duration_since(r).unwrap_or_default() <= window);
        if !wanted || st.tracker.active_by_id(id).is_some() {
            continue;
        }
        let raw = inner
            .tickets
            .get(be(id))
            .map_err(sled_err)?
            .ok_or(StoreError::NotFound(id))?;
        st.tracker.load(decode(path, "ticket", &raw)?);
    }
    st.tracker_loaded = true;
    Ok(())
}

/// Writes tickets (record then summary), dedupe entries and events, then flushes.
fn write(
    path: &Path,
    (db, tickets_tree, summaries_tree, dedupe_tree, events_tree): Trees<'_>,
    st: &mut State,
    dirty: &[&Ticket],
    opened: &[&Ticket],
    events: &[TicketEvent],
) -> Result<(), StoreError> {
    let sled_err = |source: sled::Error| map_sled(path, source);
    let mut tickets = sled::Batch::default();
    let mut summaries = sled::Batch::default();
    let mut new_index = Vec::with_capacity(dirty.len());
    for t in dirty {
        let summary = t.summary_view();
        tickets.insert(&be(t.id), encode(path, "ticket", t)?);
        summaries.insert(&be(t.id), encode(path, "summary", &summary)?);
        new_index.push((t.id, Arc::new(summary)));
    }
    let mut dedupe = sled::Batch::default();
    for t in opened {
        dedupe.insert(t.dedupe_key.as_bytes(), &be(t.id));
    }
    let mut ev = sled::Batch::default();
    for e in events {
        let key = event_key(e.at, st.event_seq);
        st.event_seq += 1;
        ev.insert(&key, encode(path, "event", e)?);
    }
    // Ticket records first: a crash between trees leaves a record without its summary
    // (recovered at open), never a summary or event without its record.
    tickets_tree.apply_batch(tickets).map_err(sled_err)?;
    summaries_tree.apply_batch(summaries).map_err(sled_err)?;
    dedupe_tree.apply_batch(dedupe).map_err(sled_err)?;
    events_tree.apply_batch(ev).map_err(sled_err)?;
    db.flush().map_err(sled_err)?;
    // Only now is it on disk, so only now is it listed.
    st.index.extend(new_index);
    Ok(())
}

fn map_sled(path: &Path, source: sled::Error) -> StoreError {
    if let sled::Error::Io(io) = &source {
        if io.to_string().contains("could not acquire lock") {
            return StoreError::Locked {
                path: path.to_path_buf(),
            };
        }
    }
    StoreError::Sled {
        path: path.to_path_buf(),
        source,
    }
}

fn be(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn id_of(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = k.len().min(8);
    b[8 - n..].copy_from_slice(&k[..n]);
    u64::from_be_bytes(b)
}

fn event_key(at: SystemTime, seq: u64) -> [u8; 16] {
    let nanos = at
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&nanos.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn encode<T: Serialize>(path: &Path, what: &str, v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Codec {
        path: path.to_path_buf(),
        what: what.to_string(),
        message: e.to_string(),
    })
}

fn decode<T: for<'de> Deserialize<'de>>(
    path: &Path,
    what: &str,
    raw: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Codec {
        path: path.to_path_buf(),
        what: what.to_string(),
        message: e.to_string(),
    })
}
