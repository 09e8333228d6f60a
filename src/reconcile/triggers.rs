//! Wake-up sources other than the resync timer and Docker events: edits of the spec
//! file. Editors replace files by rename, so the parent directory is watched and events
//! are filtered by file name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::{RecursiveMode, Watcher};
use tokio::sync::Notify;

/// Keeps the file watch alive; dropping it stops watching.
pub struct SpecWatch {
    _watcher: notify::RecommendedWatcher,
}

/// Wakes `wake` whenever `file` is written, created, renamed or removed.
pub fn watch_spec_file(file: &Path, wake: Arc<Notify>) -> notify::Result<SpecWatch> {
    let file: PathBuf = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let name = file.file_name().map(|n| n.to_os_string());
    let dir = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            // Reading the spec (every pass does) produces access events: waking on those
            // would make the loop spin. Only writes, creations, renames and removals count.
            let change = matches!(
                ev.kind,
                notify::EventKind::Create(_)
                    | notify::EventKind::Modify(_)
                    | notify::EventKind::Remove(_)
            ) && !matches!(
                ev.kind,
                notify::EventKind::Modify(notify::event::ModifyKind::Metadata(_))
            );
            let ours = ev
                .paths
                .iter()
                .any(|p| p.file_name().map(|n| n.to_os_string()) == name);
            if change && ours {
                wake.notify_one();
            }
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    Ok(SpecWatch { _watcher: watcher })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn editing_the_spec_file_wakes_the_loop() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cluster.yaml");
        std::fs::write(&f, "a").unwrap();
        let wake = Arc::new(Notify::new());
        let _w = watch_spec_file(&f, wake.clone()).unwrap();
        std::fs::write(dir.path().join("other.yaml"), "x").unwrap();
        let _ = std::fs::read_to_string(&f).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), wake.notified())
                .await
                .is_err(),
            "other files do not wake it"
        );
        std::fs::write(&f, "b").unwrap();
        tokio::time::timeout(Duration::from_secs(5), wake.notified())
            .await
            .expect("woken by the edit");
    }
}
