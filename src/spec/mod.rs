//! The `ClusterSpec`: parsing, defaults and validation.
//!
//! Everything here is pure: a spec is loaded and validated completely before anything
//! touches Docker, so bad input never causes a partial action. Every error names the
//! file, line and column and says what was expected; the binary maps [`SpecError`] to
//! exit code 2.

mod locate;
pub(crate) mod schema;
mod types;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub(crate) use locate::{Position, PositionIndex};
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
    /// The file is larger than [`MAX_SPEC_BYTES`].
    #[error("{file}: the spec is larger than 1 MiB; a cluster spec is a few kilobytes (is this the right file?)")]
    TooLarge {
        /// The path given.
        file: String,
    },
    /// The file is not UTF-8 text.
    #[error("{file}: the spec is not UTF-8 text (invalid byte at offset {offset})")]
    NotText {
        /// The path given.
        file: String,
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// The file holds nothing but blank lines and comments.
    #[error("{file}: the file is empty; expected a TikvCluster spec (see examples/minimal.yaml)")]
    Empty {
        /// The path given.
        file: String,
    },
    /// The YAML did not parse.
    #[error("{0}")]
    Parse(Located),
    /// The spec has one or more problems (every one is listed).
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

/// The largest spec accepted, in bytes (a cluster spec is a few kilobytes).
pub(crate) const MAX_SPEC_BYTES: usize = 1 << 20;

/// Reads the spec text from `path`, or from standard input when `path` is `-` (as
/// `kubectl apply -f -`). At most [`MAX_SPEC_BYTES`] are read.
pub(crate) fn read_text(path: &Path) -> Result<(String, String), SpecError> {
    use std::io::Read as _;
    let stdin = path.as_os_str() == "-";
    let file = if stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let read_err = |source| SpecError::Read {
        file: file.clone(),
        source,
    };
    let mut bytes = Vec::new();
    let limit = MAX_SPEC_BYTES as u64 + 1;
    if stdin {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
    } else {
        if path.is_dir() {
            return Err(SpecError::Read {
                file: file.clone(),
                source: std::io::Error::other("is a directory; expected a cluster.yaml file"),
            });
        }
        std::fs::File::open(path)
            .and_then(|f| f.take(limit).read_to_end(&mut bytes))
            .map_err(read_err)?;
    }
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(SpecError::TooLarge { file });
    }
    let text = String::from_utf8(bytes).map_err(|e| SpecError::NotText {
        file: file.clone(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    Ok((text, file))
}

/// Reads, parses and validates the spec in `path` (`-`: standard input).
pub fn load_file(path: &Path, ctx: ValidationContext) -> Result<LoadedSpec, SpecError> {
    let (text, file) = read_text(path)?;
    let (spec, warnings) = parse_str(&text, &file, ctx)?;
    Ok(LoadedSpec {
        spec,
        file: path.to_path_buf(),
        warnings,
    })
}

/// The text without a UTF-8 byte-order mark (editors on Windows write one; YAML
/// parsers would make it part of the first key).
fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// True when the text holds no YAML content: blank lines, comments, document markers.
fn is_empty_document(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

/// The syntax error of a document that does not parse, located.
fn syntax_error(text: &str, file: &str, e: &yaml_serde::Error) -> SpecError {
    let position = e.location().map(|l| Position {
        line: l.line(),
        column: l.column(),
    });
    let raw = clean_serde_message(&e.to_string());
    let message = if raw.starts_with("found character that cannot start any token")
        && position.is_some_and(|p| char_at(text, p) == Some('\t'))
    {
        // The scanner's words for a tab say neither what is wrong nor what to do.
        "found a tab character; expected spaces (YAML does not allow tabs for indentation)"
            .to_string()
    } else if let Some((parent, key)) = duplicate_key(&raw) {
        return SpecError::Invalid(vec![Located {
            file: file.to_string(),
            position,
            path: Some(if parent.is_empty() {
                key
            } else {
                format!("{parent}.{key}")
            }),
            message: "appears twice; expected each field once".into(),
        }]);
    } else {
        format!("syntax error: {raw}")
    };
    SpecError::Parse(Located {
        file: file.to_string(),
        position,
        path: None,
        message: cut(&message),
    })
}

/// `spec: duplicate entry with key "pd"` → (`spec`, `pd`).
fn duplicate_key(raw: &str) -> Option<(String, String)> {
    let (parent, rest) = match raw.split_once(": duplicate entry with key ") {
        Some((p, r)) => (p.to_string(), r),
        None => (
            String::new(),
            raw.strip_prefix("duplicate entry with key ")?,
        ),
    };
    Some((parent, rest.trim_matches('"').to_string()))
}

/// A message cut to a readable length (values quoted by the parser included).
fn cut(message: &str) -> String {
    const MAX: usize = 300;
    if message.chars().count() <= MAX {
        return message.to_string();
    }
    let mut s: String = message.chars().take(MAX).collect();
    s.push('…');
    s
}

/// Parses only (no semantic checks): YAML syntax, then the document's shape (unknown
/// fields, types), every problem at once.
pub fn parse_only(text: &str, file: &str) -> Result<ClusterSpec, SpecError> {
    parse_shape(text, file).and_then(|(spec, problems)| {
        if problems.is_empty() {
            Ok(spec)
        } else {
            Err(SpecError::Invalid(problems))
        }
    })
}

/// Syntax and shape: the spec deserialized from the cleaned tree, and every shape
/// problem located (empty when the document is well-formed).
fn parse_shape(text: &str, file: &str) -> Result<(ClusterSpec, Vec<Located>), SpecError> {
    if text.len() > MAX_SPEC_BYTES {
        return Err(SpecError::TooLarge {
            file: file.to_string(),
        });
    }
    let text = strip_bom(text);
    if is_empty_document(text) {
        return Err(SpecError::Empty {
            file: file.to_string(),
        });
    }
    let mut value: yaml_serde::Value =
        yaml_serde::from_str(text).map_err(|e| syntax_error(text, file, &e))?;
    let mut problems = Vec::new();
    if !schema::check(&mut value, &schema::TIKV_CLUSTER, "", &mut problems) {
        return Err(SpecError::Parse(Located {
            file: file.to_string(),
            position: Some(Position { line: 1, column: 1 }),
            path: None,
            message: format!(
                "expected a TikvCluster spec (a mapping with apiVersion, kind, metadata and spec), found {}",
                schema::found(&value)
            ),
        }));
    }
    let index = PositionIndex::build(text);
    let start = Position { line: 1, column: 1 };
    let mut located: Vec<Located> = problems
        .into_iter()
        .map(|p| {
            let position = if p.at_key {
                index.key(&p.path)
            } else {
                index.locate(&p.path)
            };
            Located {
                file: file.to_string(),
                position: Some(position.unwrap_or(start)),
                path: Some(p.path),
                message: p.message,
            }
        })
        .collect();
    located.sort_by_key(|l| l.position.map(|p| (p.line, p.column)));
    // The cleaned tree has the shape of the types; serde failing here means the shape
    // and the types drifted apart (a test guards against it): say what serde said.
    let spec = yaml_serde::from_value::<ClusterSpec>(value).map_err(|e| {
        SpecError::Parse(Located {
            file: file.to_string(),
            position: None,
            path: None,
            message: cut(&clean_serde_message(&e.to_string())),
        })
    })?;
    Ok((spec, located))
}

/// Parses and validates `text`, naming `file` in errors. Returns the spec and warnings.
/// Every problem is reported at once: shape problems (unknown fields, wrong types) and
/// the semantic checks over the fields that were well-formed.
pub fn parse_str(
    text: &str,
    file: &str,
    ctx: ValidationContext,
) -> Result<(ClusterSpec, Vec<Located>), SpecError> {
    let (spec, mut errors) = parse_shape(text, file)?;
    let index = PositionIndex::build(strip_bom(text));
    let findings = validate(&spec, ctx);
    let reported: Vec<String> = errors.iter().filter_map(|l| l.path.clone()).collect();
    let already = |path: &str| {
        reported
            .iter()
            .any(|r| path == r || path.starts_with(&format!("{r}.")))
    };
    let locate = |f: &Finding| Located {
        file: file.to_string(),
        position: index.locate(&f.path),
        path: Some(f.path.clone()),
        message: f.message.clone(),
    };
    errors.extend(
        findings
            .iter()
            .filter(|f| f.severity == Severity::Error && !already(&f.path))
            .map(locate),
    );
    if !errors.is_empty() {
        errors.sort_by_key(|l| l.position.map(|p| (p.line, p.column)));
        return Err(SpecError::Invalid(errors));
    }
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(locate)
        .collect();
    Ok((spec, warnings))
}

/// The character at a 1-based line and column, if there is one.
fn char_at(text: &str, p: Position) -> Option<char> {
    text.lines()
        .nth(p.line.checked_sub(1)?)?
        .chars()
        .nth(p.column.checked_sub(1)?)
}

/// yaml_serde appends "at line L column C" to its messages; we print the position in
/// front, compiler-style, so the suffix is dropped.
fn clean_serde_message(msg: &str) -> String {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re =
        RE.get_or_init(|| regex::Regex::new(r" at line \d+ column \d+").expect("static regex"));
    re.replace_all(msg, "").to_string()
}

#[cfg(test)]
mod tests;
