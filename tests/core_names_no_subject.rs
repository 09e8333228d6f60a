//! The core is written against the `Subject` port and never names a concrete subject.
//!
//! A second subject must be addable without touching the core (the seeds' first success
//! criterion). This test reads the source tree and fails when a core module refers to a
//! subject's module by path. The wiring that chooses a subject for a spec's `kind` is
//! listed in `WIRING` with the reason it may name subjects.

use std::path::{Path, PathBuf};

/// Modules of the core: they may name the port (`crate::subject::Subject`) but no
/// subject.
const CORE: &[&str] = &[
    "src/chaos",
    "src/cli/mod.rs",
    "src/cli/api_access.rs",
    "src/cli/backend_args.rs",
    "src/cli/controller_status.rs",
    "src/cli/eval.rs",
    "src/cli/incidents.rs",
    "src/cli/output.rs",
    "src/cli/reach.rs",
    "src/cli/state.rs",
    "src/cli/tickets.rs",
    "src/cli/version.rs",
    "src/diagnose",
    "src/eval",
    "src/tickets",
    "src/reconcile",
    "src/server",
    "src/runtime",
    "src/http",
    "src/promtext.rs",
    "src/spec",
    "src/telemetry.rs",
    "src/subject.rs",
];

/// Where subjects are plugged in, and so may name them: the binaries and the simulator.
/// The registry itself is `src/subjects/mod.rs` (it lists
/// each subject's commands, diagnosis and evaluation harness). `src/cli` and `src/eval`
/// are core: they reach subjects only through the registry.
const WIRING: &[&str] = &["src/main.rs", "src/lib.rs", "src/bin", "src/sim"];

fn rust_files(root: &Path) -> Vec<PathBuf> {
    if root.is_file() {
        return vec![root.to_path_buf()];
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out
}

/// The subject folders that exist (`tikv`, `etcd`, …), read from the tree so that a
/// third subject is covered without editing this test.
fn subjects(src: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for dir in ["subject", "subjects"] {
        let Ok(rd) = std::fs::read_dir(src.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            if e.path().is_dir() {
                names.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names
}

fn naming(line: &str, subject: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    [
        format!("subject::{subject}"),
        format!("subjects::{subject}"),
        format!("subject/{subject}/"),
    ]
    .iter()
    .any(|p| code.contains(p.as_str()))
}

#[test]
fn no_core_module_names_a_subject_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let subjects = subjects(&src);
    assert!(
        subjects.iter().any(|s| s == "tikv") && subjects.iter().any(|s| s == "etcd"),
        "expected the tikv and etcd subject folders, found {subjects:?}"
    );
    let mut offences = Vec::new();
    for core in CORE {
        for file in rust_files(&root.join(core)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for s in &subjects {
                    if naming(line, s) {
                        offences.push(format!(
                            "{}:{}: names subject {s}: {}",
                            file.strip_prefix(root).unwrap().display(),
                            n + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "core modules name subjects:\n{}",
        offences.join("\n")
    );
}

#[test]
fn every_top_level_module_is_either_core_wiring_or_a_subject() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut unclassified = Vec::new();
    for e in std::fs::read_dir(root.join("src")).unwrap().flatten() {
        let rel = format!("src/{}", e.file_name().to_string_lossy());
        let rel_mod = format!("{rel}/mod.rs");
        let known = CORE
            .iter()
            .chain(WIRING)
            .any(|k| *k == rel || *k == rel_mod)
            || rel == "src/subject"
            || rel == "src/subjects"
            || rel == "src/cli";
        if !known {
            unclassified.push(rel);
        }
    }
    assert!(
        unclassified.is_empty(),
        "classify these modules as core or wiring in tests/core_names_no_subject.rs: {unclassified:?}"
    );
}

#[test]
fn every_file_of_the_cli_is_either_core_or_wiring() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut unclassified = Vec::new();
    for file in rust_files(&root.join("src/cli")) {
        let rel = file.strip_prefix(root).unwrap().display().to_string();
        if !CORE.iter().chain(WIRING).any(|k| *k == rel) {
            unclassified.push(rel);
        }
    }
    assert!(
        unclassified.is_empty(),
        "classify these CLI files as core or wiring in tests/core_names_no_subject.rs: {unclassified:?}"
    );
}
