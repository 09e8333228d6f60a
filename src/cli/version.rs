//! `operator version`: what was built, from which commit, with which compiler (set by
//! `build.rs`), so a bug report names the exact binary.

use serde::Serialize;

/// Build information.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BuildInfo {
    /// Package version.
    pub version: &'static str,
    /// Git commit of HEAD when built (`unknown` outside git).
    pub git_commit: &'static str,
    /// Target triple.
    pub target: &'static str,
    /// Cargo profile (`debug` or `release`).
    pub profile: &'static str,
    /// The compiler.
    pub rustc: &'static str,
}

/// This binary's build information.
pub(crate) const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    git_commit: env!("OPERATOR_GIT_COMMIT"),
    target: env!("OPERATOR_TARGET"),
    profile: env!("OPERATOR_PROFILE"),
    rustc: env!("OPERATOR_RUSTC"),
};

impl BuildInfo {
    /// One line for people (what `operator --version` prints too).
    pub(crate) fn line(&self) -> String {
        format!("operator {}", env!("OPERATOR_VERSION_LINE"))
    }
}
