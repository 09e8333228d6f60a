//! The `ClusterSpec`: parsing, defaults and validation.
//!
//! Everything here is pure: a spec is loaded and validated completely before anything
//! touches Docker, so bad input never causes a partial action. Every error names the
//! file, line and column and says what was expected; the binary maps [`SpecError`] to
//! exit code 2.

mod locate;
mod types;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use locate::{Position, PositionIndex};
pub use types::*;
pub use validate::{
    check_image_ref, check_name, validate, Finding, Severity, ValidationContext, MAX_REPLICAS,
};

/// A spec problem located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file the spec came from (`<stdin>` or a path).
    pub file: String,
    /// Line and column, when the problem has a place in the text.
    pub position: Option<Position>,
    /// Dotted path of the field, when known.
    pub path: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{}:{}:{}: ", self.file, p.line, p.column)?,
            None => write!(f, "{}: ", self.file)?,
        }
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why a spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{file}: cannot read the spec: {source}")]
    Read {
        /// The path given.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML did not parse or did not match the schema.
    #[error("{0}")]
    Parse(Located),
    /// The spec parsed but breaks one or more rules.
    #[error("{}", .0.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Located>),
}

/// A loaded and validated spec, with its warnings.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    /// The spec, defaults filled in.
    pub spec: ClusterSpec,
    /// Where it came from.
    pub file: PathBuf,
    /// Warnings (the spec is valid).
    pub warnings: Vec<Located>,
}

/// Reads, parses and validates the spec in `path`.
pub fn load_file(path: &Path, ctx: ValidationContext) -> Result<LoadedSpec, SpecError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        file: file.clone(),
        source,
    })?;
    let (spec, warnings) = parse_str(&text, &file, ctx)?;
    Ok(LoadedSpec {
        spec,
        file: path.to_path_buf(),
        warnings,
    })
}

/// Parses only (no semantic checks): YAML syntax, schema, unknown fields, types.
pub fn parse_only(text: &str, file: &str) -> Result<ClusterSpec, SpecError> {
    yaml_serde::from_str::<ClusterSpec>(text).map_err(|e| {
        let mut position = e.location().map(|l| Position {
            line: l.line(),
            column: l.column(),
        });
        let mut message = clean_serde_message(&e.to_string());
        // The scanner's words for a tab say neither what is wrong nor what to do.
        if message.starts_with("found character that cannot start any token")
            && position.is_some_and(|p| char_at(text, p) == Some('\t'))
        {
            message =
                "found a tab character; expected spaces (YAML does not allow tabs for indentation)"
                    .into();
        }
        // A custom error (bad image reference, bad duration) is reported by the
        // deserializer at the start of the enclosing mapping; point at the quoted value
        // itself when we can find it.
        if let Some((prefix, quoted)) = custom_error_value(&message) {
            if let Some(p) = PositionIndex::build(text).find_scalar(&prefix, &quoted) {
                position = Some(p);
            }
        }
        SpecError::Parse(Located {
            file: file.to_string(),
            position,
            path: None,
            message,
        })
    })
}

/// `spec.tikv: invalid image reference "x": ...` → (`spec.tikv`, `x`).
fn custom_error_value(message: &str) -> Option<(String, String)> {
    let (prefix, rest) = message.split_once(": ")?;
    if prefix.contains(' ') {
        return None;
    }
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    Some((prefix.to_string(), rest[start..end].to_string()))
}

/// Parses and validates `text`, naming `file` in errors. Returns the spec and warnings.
pub fn parse_str(
    text: &str,
    file: &str,
    ctx: ValidationContext,
) -> Result<(ClusterSpec, Vec<Located>), SpecError> {
    let spec = parse_only(text, file)?;
    let index = PositionIndex::build(text);
    let findings = validate(&spec, ctx);
    let locate = |f: &Finding| Located {
        file: file.to_string(),
        position: index.locate(&f.path),
        path: Some(f.path.clone()),
        message: f.message.clone(),
    };
    let errors: Vec<Located> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(locate)
        .collect();
    if !errors.is_empty() {
        return Err(SpecError::Invalid(errors));
    }
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(locate)
        .collect();
    Ok((spec, warnings))
}

/// yaml_serde appends "at line L column C" to its messages; we print the position in
/// front, compiler-style, so the suffix is dropped.
/// The character at a 1-based line and column, if there is one.
fn char_at(text: &str, p: Position) -> Option<char> {
    text.lines()
        .nth(p.line.checked_sub(1)?)?
        .chars()
        .nth(p.column.checked_sub(1)?)
}

fn clean_serde_message(msg: &str) -> String {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re =
        RE.get_or_init(|| regex::Regex::new(r" at line \d+ column \d+").expect("static regex"));
    re.replace_all(msg, "").to_string()
}

#[cfg(test)]
mod tests;
