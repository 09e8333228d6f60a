//! The experiment store: an append-only JSON-lines file under `<state_dir>/chaos`.
//!
//! Why not sled: the running operator (whose reverter loop reverts expired experiments)
//! and a short-lived `operator chaos …` CLI both need the store at the same time, and
//! sled allows one process per database. A JSON-lines log with an advisory file lock
//! (`flock`, through `fs2`) lets both read and write it safely.
//!
//! # Guarantees
//!
//! - Every write is one full [`Experiment`] record on one line, appended and
//!   `fsync`ed before [`ExperimentStore::put`] returns; the last record of an id wins.
//! - Writers hold an exclusive lock, readers a shared one, so records never interleave.
//! - A torn last line (crash mid-append) is skipped on load; earlier records survive.
//! - The log is compacted (rewritten to a temporary file, `fsync`ed, renamed over the
//!   log) when it holds many superseded records.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use super::model::Experiment;

/// Errors of the experiment store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// File-system failure.
    #[error("chaos store {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be encoded.
    #[error("chaos store: cannot encode experiment: {0}")]
    Encode(#[from] serde_json::Error),
}

const LOG: &str = "experiments.jsonl";
const LOCK: &str = "lock";

/// The durable experiment store (cheap to clone; holds only paths).
#[derive(Debug, Clone)]
pub(crate) struct ExperimentStore {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl ExperimentStore {
    /// Opens (creating) the store in `<state_dir>/chaos`.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created.
    pub(crate) fn open(state_dir: &Path) -> Result<Self, StoreError> {
        let dir = state_dir.join("chaos");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Self { dir })
    }

    #[cfg(test)]
    /// The store's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock_file(&self) -> Result<File, StoreError> {
        let path = self.dir.join(LOCK);
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))
    }

    fn read_log(&self) -> Result<(BTreeMap<String, Experiment>, usize), StoreError> {
        let path = self.dir.join(LOG);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((BTreeMap::new(), 0)),
            Err(e) => return Err(io(&path)(e)),
        };
        let mut all = BTreeMap::new();
        let mut lines = 0;
        for line in BufReader::new(file).lines() {
            let line = line.map_err(io(&path))?;
            if line.trim().is_empty() {
                continue;
            }
            lines += 1;
            match serde_json::from_str::<Experiment>(&line) {
                Ok(e) => {
                    all.insert(e.id.clone(), e);
                }
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable chaos store record"),
            }
        }
        Ok((all, lines))
    }

    /// Every experiment, by id.
    ///
    /// # Errors
    ///
    /// File-system failures.
    pub(crate) fn load(&self) -> Result<BTreeMap<String, Experiment>, StoreError> {
        let lock = self.lock_file()?;
        fs2::FileExt::lock_shared(&lock).map_err(io(&self.dir))?;
        let result = self.read_log().map(|(all, _)| all);
        drop(lock);
        result
    }

    /// One experiment.
    ///
    /// # Errors
    ///
    /// File-system failures.
    pub(crate) fn get(&self, id: &str) -> Result<Option<Experiment>, StoreError> {
        Ok(self.load()?.remove(id))
    }

    /// Records `experiment` durably (see the module guarantees).
    ///
    /// # Errors
    ///
    /// Encoding or file-system failures; nothing is recorded then.
    pub(crate) fn put(&self, experiment: &Experiment) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(experiment)?;
        line.push(b'\n');
        let lock = self.lock_file()?;
        fs2::FileExt::lock_exclusive(&lock).map_err(io(&self.dir))?;
        let path = self.dir.join(LOG);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        file.write_all(&line).map_err(io(&path))?;
        file.sync_data().map_err(io(&path))?;
        drop(file);
        let (all, lines) = self.read_log()?;
        if lines > 4 * all.len() + 64 {
            self.compact(&all)?;
        }
        drop(lock);
        Ok(())
    }

    fn compact(&self, all: &BTreeMap<String, Experiment>) -> Result<(), StoreError> {
        let tmp = self.dir.join(format!("{LOG}.tmp"));
        let mut out = Vec::new();
        for e in all.values() {
            out.extend(serde_json::to_vec(e)?);
            out.push(b'\n');
        }
        let mut file = File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(&out).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        let path = self.dir.join(LOG);
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::model::{ExperimentState, Fault, Target};
    use std::time::{Duration, SystemTime};

    fn experiment(id: &str) -> Experiment {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        Experiment {
            id: id.into(),
            cluster: "demo".into(),
            target: Target::Member("tikv-0".into()),
            containers: vec!["demo-tikv-0".into()],
            fault: Fault::Pause,
            started_at: now,
            planned_end: now + Duration::from_secs(10),
            state: ExperimentState::Active,
            revert_info: vec![],
            holder: None,
            ended_at: None,
            error: None,
            notes: vec![],
        }
    }

    #[test]
    fn the_last_record_of_an_id_wins_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = ExperimentStore::open(dir.path()).unwrap();
        let mut e = experiment("a1");
        store.put(&e).unwrap();
        store.put(&experiment("b2")).unwrap();
        e.state = ExperimentState::Reverted;
        store.put(&e).unwrap();
        let reopened = ExperimentStore::open(dir.path()).unwrap();
        let all = reopened.load().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all["a1"].state, ExperimentState::Reverted);
        assert_eq!(all["b2"].state, ExperimentState::Active);
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_earlier_records_survive() {
        let dir = tempfile::tempdir().unwrap();
        let store = ExperimentStore::open(dir.path()).unwrap();
        store.put(&experiment("a1")).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(store.dir().join(LOG))
            .unwrap();
        f.write_all(b"{\"id\":\"b2\",\"clus").unwrap();
        drop(f);
        let all = store.load().unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), vec!["a1"]);
    }

    #[test]
    fn many_updates_compact_the_log_without_losing_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = ExperimentStore::open(dir.path()).unwrap();
        let mut e = experiment("a1");
        for i in 0..100 {
            e.notes = vec![format!("update {i}")];
            store.put(&e).unwrap();
        }
        let text = std::fs::read_to_string(store.dir().join(LOG)).unwrap();
        assert!(text.lines().count() < 100, "log was never compacted");
        assert_eq!(store.get("a1").unwrap().unwrap().notes, vec!["update 99"]);
    }
}
