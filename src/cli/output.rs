//! One `-o` flag for every command that prints, as kubectl has it.
//!
//! `-o table|wide|json|yaml|name` is a clap `ValueEnum`, so a wrong value is refused by
//! clap (exit 2, with the accepted values) on every command alike. Commands render
//! `table`/`wide` themselves; `json` and `yaml` go through [`structured`], which writes
//! keys in camelCase, as the spec is written, whatever the Rust field names are (the
//! stored and wire formats stay as they are); `name` prints one `kind/name` per line
//! for scripts. Commands added later (incidents) flatten [`OutputArgs`] and call the
//! same functions.

use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::Value;

use super::CliError;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// A table for people.
    #[default]
    Table,
    /// The table with every column.
    Wide,
    /// JSON, camelCase keys.
    Json,
    /// YAML, camelCase keys.
    Yaml,
    /// One `kind/name` per line.
    Name,
}

/// `-o FORMAT`.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
}

impl OutputFormat {
    /// True for the human formats.
    pub(crate) fn is_human(self) -> bool {
        matches!(self, Self::Table | Self::Wide)
    }

    /// The tickets module's format for this one (`name` is handled by the caller).
    pub(crate) fn tickets(self) -> crate::tickets::render::OutputFormat {
        use crate::tickets::render::OutputFormat as T;
        match self {
            Self::Json => T::Json,
            Self::Yaml => T::Yaml,
            Self::Wide => T::Wide,
            _ => T::Table,
        }
    }
}

/// Keys under which values are data, not fields: their own keys are kept as written.
const DATA_KEYS: &[&str] = &[
    "state",
    "labels",
    "env",
    "config",
    "invariants",
    "diagnosis",
];

/// `first_seen` → `firstSeen`.
fn camel(key: &str) -> String {
    if !key.contains('_') || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return key.to_string();
    }
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Rewrites the keys of `v` in camelCase, leaving the insides of data maps alone.
pub(crate) fn camel_case_keys(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let keep = DATA_KEYS.contains(&k.as_str());
                    let k = camel(&k);
                    (k, if keep { v } else { camel_case_keys(v) })
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(camel_case_keys).collect()),
        other => other,
    }
}

/// `v` as JSON or YAML with camelCase keys.
pub(crate) fn structured<T: Serialize + ?Sized>(
    v: &T,
    fmt: OutputFormat,
) -> Result<String, CliError> {
    let value = serde_json::to_value(v).map_err(CliError::EncodeJson)?;
    let value = camel_case_keys(value);
    match fmt {
        OutputFormat::Yaml => yaml_serde::to_string(&value).map_err(CliError::EncodeYaml),
        _ => {
            let mut s = serde_json::to_string_pretty(&value).map_err(CliError::EncodeJson)?;
            s.push('\n');
            Ok(s)
        }
    }
}

/// `kind/name` lines.
pub(crate) fn names<I: IntoIterator<Item = String>>(kind: &str, items: I) -> String {
    items.into_iter().map(|n| format!("{kind}/{n}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_keys_become_camel_case_and_data_keys_do_not() {
        let v = serde_json::json!({
            "first_seen": 1,
            "pd_endpoint": "x",
            "store-1": 2,
            "evidence": [{"observed_at": 3, "state": {"leader_count": 4}}],
        });
        assert_eq!(
            camel_case_keys(v),
            serde_json::json!({
                "firstSeen": 1,
                "pdEndpoint": "x",
                "store-1": 2,
                "evidence": [{"observedAt": 3, "state": {"leader_count": 4}}],
            })
        );
    }
}
