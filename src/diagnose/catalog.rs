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
pub(crate) const UNKNOWN_CATEGORY: &str = "unknown";

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

/// The type of one parameter of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// A JSON integer (an id, a count, minutes).
    Integer,
    /// A JSON number (a weight, a ratio).
    Number,
    /// A free string (a member name, a key).
    String,
    /// One of a fixed set of strings.
    OneOf(&'static [&'static str]),
}

/// One parameter of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    /// Its name in `params` (`store_id`).
    pub name: &'static str,
    /// Its type.
    pub ty: ParamType,
}

/// One action kind of a subject's vocabulary: what a diagnosis may recommend, with its
/// typed parameters. The subject's own typed enum serializes to the same
/// `{"kind", "params"}` shape (see [`crate::diagnose::model::ActionKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionSpec {
    /// Kebab-case name (`evict-leader`).
    pub kind: &'static str,
    /// One line for people and for the model's schema description.
    pub description: &'static str,
    /// The parameters, all required.
    pub params: &'static [ParamSpec],
}

/// Take no action now and look again later: in every subject's vocabulary.
pub(crate) const WAIT_AND_WATCH: ActionSpec = ActionSpec {
    kind: "wait-and-watch",
    description: "Take no action now and look again after some minutes.",
    params: &[ParamSpec {
        name: "minutes",
        ty: ParamType::Integer,
    }],
};

/// The evidence is not enough to act: in every subject's vocabulary (see
/// [`CauseCatalog::action_appropriate`]).
pub(crate) const INVESTIGATE_FURTHER: ActionSpec = ActionSpec {
    kind: "investigate-further",
    description: "The evidence is not enough to act; say what to look at.",
    params: &[ParamSpec {
        name: "what",
        ty: ParamType::String,
    }],
};

/// Restart a member's container: every subject runs on the core's container runtime,
/// so a subject lists this one when a restart is a remedy it accepts.
pub(crate) const RESTART_CONTAINER: ActionSpec = ActionSpec {
    kind: "restart-container",
    description: "Restart the container of a member (by member name).",
    params: &[ParamSpec {
        name: "member",
        ty: ParamType::String,
    }],
};

/// The actions every catalog has, whatever the subject lists.
pub(crate) const GENERIC_ACTIONS: &[ActionSpec] = &[WAIT_AND_WATCH, INVESTIGATE_FURTHER];

/// How a subject's citation kind points into the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CitationShape {
    /// An entity by numeric id (`{"kind": "store", "id": 4}`): grounded when the context
    /// names `<kind> <id>`, the ticket's target is `<kind>/<id>`, or the evidence's state
    /// lists it.
    Id,
    /// A value in a state section by dotted path (`{"kind": "pd_state", "path":
    /// "stores.4.state"}`): grounded when the path resolves in the evidence's state or in
    /// the sent context section named like the kind.
    Path,
}

/// One citation kind of a subject, beyond the core's `metric`, `log` and `event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CitationSpec {
    /// Its `kind` on the wire (`store`, `region`, `pd_state`).
    pub kind: &'static str,
    /// One line for the model's schema description.
    pub description: &'static str,
    /// What it carries.
    pub shape: CitationShape,
}

/// One kind of entity a cause may be located on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetSpec {
    /// The kind (`store`, `member`, `pd`, `cluster`): what [`CauseSpec::target_kind`] names.
    pub kind: &'static str,
    /// How a target of this kind is spelled (`store/4`), for the model's schema.
    pub example: &'static str,
}

/// A subject's diagnosis vocabulary: its causes, the actions a diagnosis may recommend,
/// the citation kinds it may use beyond the core's, the kinds of entity causes sit on,
/// and the system prompt that teaches a model the subject. The core builds the output
/// schema, grounds citations and scores actions from it; it knows no subject's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CauseCatalog {
    /// The subject it belongs to (`tikv`).
    pub subject: &'static str,
    /// The causes, in a stable order.
    pub causes: &'static [CauseSpec],
    /// The subject's actions ([`GENERIC_ACTIONS`] are added by [`Self::actions`]).
    pub actions: &'static [ActionSpec],
    /// The subject's citation kinds (the core's `metric`, `log`, `event` come first).
    pub citations: &'static [CitationSpec],
    /// The kinds of entity its causes are located on.
    pub targets: &'static [TargetSpec],
    /// The system prompt a model backend sends for this subject's tickets.
    pub system_prompt: &'static str,
}

impl CauseCatalog {
    /// The cause named `category`, if the catalog has it.
    pub(crate) fn get(&self, category: &str) -> Option<&'static CauseSpec> {
        self.causes.iter().find(|c| c.category == category)
    }

    /// Whether `category` is in the catalog or is [`UNKNOWN_CATEGORY`].
    pub(crate) fn accepts(&self, category: &str) -> bool {
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

    /// Every action of the vocabulary: the subject's, then the generic ones it does not
    /// list itself.
    pub(crate) fn actions(&self) -> Vec<&'static ActionSpec> {
        self.actions
            .iter()
            .chain(
                GENERIC_ACTIONS
                    .iter()
                    .filter(|g| !self.actions.iter().any(|a| a.kind == g.kind)),
            )
            .collect()
    }

    #[cfg(test)]
    /// The action named `kind`, if the vocabulary has it.
    pub(crate) fn action(&self, kind: &str) -> Option<&'static ActionSpec> {
        self.actions().into_iter().find(|a| a.kind == kind)
    }

    #[cfg(test)]
    /// Whether `action` is in the vocabulary with exactly its parameters, each of its
    /// type: what a stored diagnosis must hold.
    pub(crate) fn action_valid(&self, action: &crate::diagnose::model::ActionKind) -> bool {
        let Some(spec) = self.action(&action.kind) else {
            return false;
        };
        spec.params.len() == action.params.len()
            && spec.params.iter().all(|p| {
                action.params.get(p.name).is_some_and(|v| match p.ty {
                    ParamType::Integer => v.as_u64().is_some() || v.as_i64().is_some(),
                    ParamType::Number => v.as_f64().is_some_and(f64::is_finite),
                    ParamType::String => v.is_string(),
                    ParamType::OneOf(opts) => v.as_str().is_some_and(|s| opts.contains(&s)),
                })
            })
    }

    #[cfg(test)]
    /// What is inconsistent in the catalog itself: a cause on a target kind the catalog
    /// does not list, an action a cause names that the vocabulary lacks, a name twice.
    /// Each subject's tests assert this is empty.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in self.causes {
            if !self.targets.iter().any(|t| t.kind == c.target_kind) {
                out.push(format!(
                    "{}: target kind {} not listed",
                    c.category, c.target_kind
                ));
            }
            for a in c.actions {
                if self.action(a).is_none() {
                    out.push(format!("{}: action {a} not in the vocabulary", c.category));
                }
            }
        }
        let mut kinds: Vec<&str> = self.actions().iter().map(|a| a.kind).collect();
        kinds.extend(self.citations.iter().map(|c| c.kind));
        kinds.extend(self.causes.iter().map(|c| c.category));
        let mut seen = std::collections::HashSet::new();
        for k in kinds {
            if !seen.insert(k) {
                out.push(format!("{k} named twice"));
            }
        }
        for c in self.citations {
            if ["metric", "log", "event"].contains(&c.kind) {
                out.push(format!("citation {} is the core's", c.kind));
            }
        }
        out
    }

    /// The JSON schema of one action of the vocabulary (`kind` const, typed `params`).
    pub(crate) fn action_schema(spec: &ActionSpec) -> Value {
        let mut props = serde_json::Map::new();
        for p in spec.params {
            props.insert(
                p.name.to_string(),
                match p.ty {
                    ParamType::Integer => json!({"type": "integer"}),
                    ParamType::Number => json!({"type": "number"}),
                    ParamType::String => json!({"type": "string"}),
                    ParamType::OneOf(opts) => json!({"type": "string", "enum": opts}),
                },
            );
        }
        let required: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
        json!({
            "type": "object",
            "description": spec.description,
            "properties": {
                "kind": {"type": "string", "const": spec.kind},
                "params": {
                    "type": "object",
                    "properties": props,
                    "required": required,
                    "additionalProperties": false
                },
                "rationale": {"type": "string", "description": "Why this action follows from the evidence."}
            },
            "required": ["kind", "params", "rationale"],
            "additionalProperties": false
        })
    }

    /// The JSON schema of one of the subject's citation kinds.
    pub(crate) fn citation_schema(spec: &CitationSpec) -> Value {
        let (field, ty) = match spec.shape {
            CitationShape::Id => ("id", "integer"),
            CitationShape::Path => ("path", "string"),
        };
        json!({
            "type": "object",
            "description": spec.description,
            "properties": {
                "kind": {"type": "string", "const": spec.kind},
                field: {"type": ty}
            },
            "required": ["kind", field],
            "additionalProperties": false
        })
    }

    /// Whether `action` is an appropriate response to `category`: one of its actions,
    /// or `investigate-further` where the category cannot be confirmed from evidence
    /// (and for [`UNKNOWN_CATEGORY`]).
    pub(crate) fn action_appropriate(&self, category: &str, action: &str) -> bool {
        match self.get(category) {
            Some(c) => {
                c.actions.contains(&action) || (!c.confirmable && action == "investigate-further")
            }
            None => category == UNKNOWN_CATEGORY && action == "investigate-further",
        }
    }

    /// The JSON schema of a [`Cause`] whose category is restricted to this catalog.
    pub(crate) fn cause_schema(&self) -> Value {
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
                    "description": format!(
                        "The entity the cause is located on, as named in the context ({}).",
                        if self.targets.is_empty() {
                            "kind/id, a member name, cluster".to_string()
                        } else {
                            self.targets.iter().map(|t| t.example).collect::<Vec<_>>().join(", ")
                        }
                    )}
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
    pub(crate) fn unknown(target: impl Into<String>) -> Self {
        Self::new(UNKNOWN_CATEGORY, target)
    }

    /// Whether this asserts a real cause (not [`UNKNOWN_CATEGORY`]).
    pub(crate) fn is_known(&self) -> bool {
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
pub(crate) fn hypotheses_schema(catalog: &CauseCatalog) -> Value {
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

/// A small catalog of a made-up subject for the core's own tests.
#[cfg(test)]
pub(crate) const TEST_CATALOG: CauseCatalog = CauseCatalog {
    subject: "test",
    causes: &[CauseSpec {
        category: "disk-slow",
        description: "slow disk",
        target_kind: "node",
        actions: &["drain-node"],
        confirmable: true,
    }],
    actions: &[
        RESTART_CONTAINER,
        ActionSpec {
            kind: "drain-node",
            description: "Drain a node.",
            params: &[
                ParamSpec {
                    name: "node_id",
                    ty: ParamType::Integer,
                },
                ParamSpec {
                    name: "mode",
                    ty: ParamType::OneOf(&["soft", "hard"]),
                },
            ],
        },
    ],
    citations: &[
        CitationSpec {
            kind: "node",
            description: "A node id.",
            shape: CitationShape::Id,
        },
        CitationSpec {
            kind: "node_state",
            description: "A path in the node state.",
            shape: CitationShape::Path,
        },
    ],
    targets: &[TargetSpec {
        kind: "node",
        example: "node/3",
    }],
    system_prompt: "test",
};

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
        actions: &[RESTART_CONTAINER],
        citations: &[CitationSpec {
            kind: "node",
            description: "a node by id",
            shape: CitationShape::Id,
        }],
        targets: &[TargetSpec {
            kind: "member",
            example: "node-1",
        }],
        system_prompt: "test",
    };

    #[test]
    fn a_consistent_catalog_has_no_problems_and_a_broken_one_names_each() {
        assert!(CATALOG.problems().is_empty(), "{:?}", CATALOG.problems());
        const BROKEN: CauseCatalog = CauseCatalog {
            subject: "broken",
            causes: &[CauseSpec {
                category: "disk-slow",
                description: "d",
                target_kind: "store",
                actions: &["evict-leader"],
                confirmable: true,
            }],
            actions: &[],
            citations: &[CitationSpec {
                kind: "log",
                description: "l",
                shape: CitationShape::Path,
            }],
            targets: &[],
            system_prompt: "",
        };
        let p = BROKEN.problems();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("target kind store"));
        assert!(p[1].contains("evict-leader"));
        assert!(p[2].contains("citation log"));
    }

    #[test]
    fn an_action_is_valid_only_with_its_kind_and_typed_parameters() {
        use crate::diagnose::model::ActionKind;
        let ok = ActionKind::new("restart-container", json!({"member": "node-1"}));
        assert!(CATALOG.action_valid(&ok));
        assert!(CATALOG.action_valid(&ActionKind::new("wait-and-watch", json!({"minutes": 5}))));
        assert!(!CATALOG.action_valid(&ActionKind::new("restart-container", json!({"member": 1}))));
        assert!(!CATALOG.action_valid(&ActionKind::new("restart-container", json!({}))));
        assert!(!CATALOG.action_valid(&ActionKind::new("evict-leader", json!({"store_id": 1}))));
    }

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
