//! The cause catalog: the closed set of root causes a subject's diagnoses may name.
//!
//! # Why a closed catalog
//!
//! A diagnosis is scored, compared across backends and remembered across incidents by
//! *what* it blames (`cause.category`) and *where* (`cause.target`), never by its prose.
//! That only works when every backend picks the category from the same closed list, so
//! the list is part of the output schema sent to a model, and an answer outside it is a
//! schema violation. The catalog belongs to the subject (TiKV and etcd fail in different
//! ways); the core only knows its shape. The acceptable actions of each category are
//! defined here once, not per scenario, so that the benchmark and the operator agree on
//! what a sensible recommendation is.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The category every catalog accepts for "no cause in the catalog explains the
/// evidence". Asserting it asserts no root cause.
pub const UNKNOWN_CATEGORY: &str = "unknown";

/// One root-cause category of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CauseSpec {
    /// Kebab-case name (`disk-slow`).
    pub category: &'static str,
    /// One line for people and for the model's schema description.
    pub description: &'static str,
    /// The kind of entity the cause is located on (`store`, `pd`, `member`, `cluster`).
    pub target_kind: &'static str,
    /// Action kinds (kebab-case names of the subject's action vocabulary) that are an
    /// appropriate response once this cause is diagnosed.
    pub actions: &'static [&'static str],
    /// Whether the evidence a deployment collects can confirm this cause. When it
    /// cannot, gathering more evidence (`investigate-further`) is also appropriate.
    pub confirmable: bool,
}

/// A subject's catalog of causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CauseCatalog {
    /// The subject it belongs to (`tikv`).
    pub subject: &'static str,
    /// The causes, in a stable order.
    pub causes: &'static [CauseSpec],
}

impl CauseCatalog {
    /// The cause named `category`, if the catalog has it.
    pub fn get(&self, category: &str) -> Option<&'static CauseSpec> {
        self.causes.iter().find(|c| c.category == category)
    }

    /// Whether `category` is in the catalog or is [`UNKNOWN_CATEGORY`].
    pub fn accepts(&self, category: &str) -> bool {
        category == UNKNOWN_CATEGORY || self.get(category).is_some()
    }

    /// Every category name, [`UNKNOWN_CATEGORY`] last.
    pub fn categories(&self) -> Vec<&'static str> {
        self.causes
            .iter()
            .map(|c| c.category)
            .chain(std::iter::once(UNKNOWN_CATEGORY))
            .collect()
    }

    /// Whether `action` is an appropriate response to `category`: one of its actions,
    /// or `investigate-further` where the category cannot be confirmed from evidence
    /// (and for [`UNKNOWN_CATEGORY`]).
    pub fn action_appropriate(&self, category: &str, action: &str) -> bool {
        match self.get(category) {
            Some(c) => {
                c.actions.contains(&action) || (!c.confirmable && action == "investigate-further")
            }
            None => category == UNKNOWN_CATEGORY && action == "investigate-further",
        }
    }

    /// The JSON schema of a [`Cause`] whose category is restricted to this catalog.
    pub fn cause_schema(&self) -> Value {
        let described: Vec<String> = self
            .causes
            .iter()
            .map(|c| format!("{}: {}", c.category, c.description))
            .collect();
        json!({
            "type": "object",
            "description": format!(
                "The root cause: a category from the catalog and the entity it is located on. \
                 Categories: {}; {UNKNOWN_CATEGORY}: nothing in the catalog explains the evidence.",
                described.join("; ")
            ),
            "properties": {
                "category": {"type": "string", "enum": self.categories()},
                "target": {"type": "string",
                    "description": "The entity the cause is located on, as named in the context (store/4, tikv-1, pd, cluster)."}
            },
            "required": ["category", "target"],
            "additionalProperties": false
        })
    }
}

/// A root cause as a diagnosis asserts it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cause {
    /// A category of the subject's catalog, or [`UNKNOWN_CATEGORY`].
    pub category: String,
    /// The entity it is located on (`store/4`, `tikv-1`, `pd`, `cluster`).
    pub target: String,
}

impl Cause {
    /// A cause.
    pub fn new(category: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            category: category.into(),
            target: target.into(),
        }
    }

    /// The "nothing in the catalog explains it" cause.
    pub fn unknown(target: impl Into<String>) -> Self {
        Self::new(UNKNOWN_CATEGORY, target)
    }

    /// Whether this asserts a real cause (not [`UNKNOWN_CATEGORY`]).
    pub fn is_known(&self) -> bool {
        self.category != UNKNOWN_CATEGORY
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.category, self.target)
    }
}

/// What the diagnosis concluded about one hypothesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The root cause (or one of several independent ones).
    RootCause,
    /// Supported, but not enough to conclude; the discriminating check would decide.
    Undecided,
    /// Contradicted by the evidence.
    Rejected,
}

/// One hypothesis of a differential diagnosis, with the evidence for and against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hypothesis {
    /// The cause hypothesised.
    pub cause: Cause,
    /// What was concluded about it.
    pub verdict: Verdict,
    /// Observations that support it, in words, each following from a cited fact.
    #[serde(default)]
    pub supporting: Vec<String>,
    /// Observations that contradict it ("why not").
    #[serde(default)]
    pub contradicting: Vec<String>,
}

/// The JSON schema of the hypotheses list, categories restricted to `catalog`.
pub fn hypotheses_schema(catalog: &CauseCatalog) -> Value {
    json!({
        "type": "array",
        "description": "Every cause considered, with the evidence for and against it.",
        "items": {
            "type": "object",
            "properties": {
                "cause": catalog.cause_schema(),
                "verdict": {"type": "string", "enum": ["root-cause", "undecided", "rejected"]},
                "supporting": {"type": "array", "items": {"type": "string"}},
                "contradicting": {"type": "array", "items": {"type": "string"}}
            },
            "required": ["cause", "verdict", "supporting", "contradicting"],
            "additionalProperties": false
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAUSES: &[CauseSpec] = &[
        CauseSpec {
            category: "process-exit",
            description: "the process exited",
            target_kind: "member",
            actions: &["restart-container"],
            confirmable: true,
        },
        CauseSpec {
            category: "network-partition",
            description: "cut off",
            target_kind: "member",
            actions: &["wait-and-watch"],
            confirmable: false,
        },
    ];
    const CATALOG: CauseCatalog = CauseCatalog {
        subject: "test",
        causes: CAUSES,
    };

    #[test]
    fn a_catalog_accepts_its_categories_and_unknown_but_nothing_else() {
        assert!(CATALOG.accepts("process-exit"));
        assert!(CATALOG.accepts(UNKNOWN_CATEGORY));
        assert!(!CATALOG.accepts("disk-slow"));
        assert_eq!(
            CATALOG.categories(),
            vec!["process-exit", "network-partition", "unknown"]
        );
    }

    #[test]
    fn investigate_further_is_appropriate_only_where_the_cause_cannot_be_confirmed() {
        assert!(CATALOG.action_appropriate("process-exit", "restart-container"));
        assert!(!CATALOG.action_appropriate("process-exit", "investigate-further"));
        assert!(CATALOG.action_appropriate("network-partition", "investigate-further"));
        assert!(CATALOG.action_appropriate(UNKNOWN_CATEGORY, "investigate-further"));
        assert!(!CATALOG.action_appropriate("disk-slow", "investigate-further"));
    }

    #[test]
    fn the_cause_schema_restricts_the_category_to_the_catalog() {
        let s = CATALOG.cause_schema();
        assert_eq!(
            s["properties"]["category"]["enum"],
            json!(["process-exit", "network-partition", "unknown"])
        );
        assert_eq!(s["additionalProperties"], json!(false));
    }
}
