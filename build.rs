//! Build information for `operator version`, and the fault scenarios shipped inside the
//! binary (so `operator demo` and `operator eval` work from any directory).

use std::path::Path;
use std::process::Command;

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let commit =
        run("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=OPERATOR_GIT_COMMIT={commit}");
    let rustc_version = run(&rustc, &["--version"]).unwrap_or_else(|| "unknown".into());
    let target = std::env::var("TARGET").unwrap_or_default();
    let profile = std::env::var("PROFILE").unwrap_or_default();
    println!("cargo:rustc-env=OPERATOR_RUSTC={rustc_version}");
    println!("cargo:rustc-env=OPERATOR_TARGET={target}");
    println!("cargo:rustc-env=OPERATOR_PROFILE={profile}");
    // What `operator --version` prints after the name: the same build information as
    // `operator version`, so a bug report made with either names the exact binary.
    println!(
        "cargo:rustc-env=OPERATOR_VERSION_LINE={} (commit {commit}, {target} {profile}, {rustc_version})",
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default()
    );
    // Rebuild when HEAD moves (a commit on the branch or a checkout).
    if let Some(dir) = run("git", &["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(head) = run("git", &["symbolic-ref", "-q", "HEAD"]) {
            let common = run("git", &["rev-parse", "--git-common-dir"]).unwrap_or(dir);
            println!("cargo:rerun-if-changed={common}/{head}");
        }
    }

    // Every examples/scenarios/*.yaml, embedded with include_str!.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("examples/scenarios");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut code = String::from("&[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        code.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            f.file_name().unwrap_or_default().to_string_lossy(),
            f.display().to_string()
        ));
    }
    code.push(']');
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("scenarios.rs");
    std::fs::write(out, code).expect("write scenarios.rs");
}
