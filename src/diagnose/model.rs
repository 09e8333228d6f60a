//! The diagnosis data model: what the model must return ([`DiagnosisOutput`]), what the
//! operator stores ([`Diagnosis`]), and the seam with tickets ([`DiagnosisRequest`]).
//!
//! # Why typed
//!
//! The model's answer is a *recommendation*, never a command. Keeping the recommended
//! action inside a closed vocabulary with typed parameters means nothing the model writes
//! can become an arbitrary shell command, and the rules backend and the LLM backends
//! produce the same structure. Citations are typed too ([`CitationRef`]), so
//! [`super::ground`] can check each one against the context that was sent.
//!
//! # Whose vocabulary
//!
//! The vocabulary is the subject's: its [`CauseCatalog`] lists its action kinds with their
//! typed parameters ([`super::catalog::ActionSpec`]), its citation kinds beyond the core's
//! `metric`, `log` and `event` ([`super::catalog::CitationSpec`]) and the kinds of entity
//! its causes sit on. The core holds an action as `{kind, params}` ([`ActionKind`]) and a
//! subject citation as an entity by id or a state path ([`CitationRef`]); the schema built
//! from the catalog ([`diagnosis_output_schema_for`]) is what makes them closed and typed
//! for a model, and a subject authors and reads its actions through its own typed enum
//! ([`ActionKind::from_typed`], [`ActionKind::typed`]). The JSON of a diagnosis is the
//! same as when the vocabulary was one PD enum, so stored tickets still read.
//!
//! The JSON schema sent to the model ([`diagnosis_output_schema`]) is hand-written in the
//! subset that Anthropic structured outputs and OpenAI `strict` json_schema accept
//! (`additionalProperties: false` everywhere, no numeric bounds, `minItems` 0 or 1). The
//! range of `confidence` is therefore validated locally.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};

pub(crate) use super::catalog::{Cause, CauseCatalog, Hypothesis};

/// Where a cited fact came from: the core's own kinds (a metric sample, a log line, an
/// event) or one of the subject's ([`super::catalog::CitationSpec`]): an entity by id or a
/// value in a state section by path.
///
/// On the wire each is an object tagged by `kind`: `{"kind": "metric", "series": …,
/// "value": …}`, `{"kind": "store", "id": 4}`, `{"kind": "pd_state", "path": …}`.
#[derive(Debug, Clone, PartialEq)]
pub enum CitationRef {
    /// A metric sample: series (as printed in the context) and value.
    Metric {
        /// Series name with labels, e.g. `tikv_store_size_bytes{store="4",type="available"}`.
        series: String,
        /// The value cited.
        value: f64,
    },
    /// A log line (verbatim or a verbatim substring).
    Log {
        /// The quoted line.
        line: String,
    },
    /// An event (Docker event, operator event, timeline entry).
    Event {
        /// What happened, as in the context.
        what: String,
    },
    /// An entity of the subject by kind and id (`store` 4, `region` 12).
    Entity {
        /// The subject's citation kind.
        kind: String,
        /// Its id.
        id: u64,
    },
    /// A value in one of the subject's state sections, by dotted path
    /// (`pd_state`: `stores.4.state`).
    State {
        /// The subject's citation kind (also the context section's name).
        kind: String,
        /// Dotted path.
        path: String,
    },
}

/// The kinds of citation the core itself knows.
pub(crate) const CORE_CITATIONS: &[&str] = &["metric", "log", "event"];

impl CitationRef {
    /// An entity citation (`store` 4).
    pub fn entity(kind: &str, id: u64) -> Self {
        Self::Entity {
            kind: kind.into(),
            id,
        }
    }

    /// A state-path citation (`pd_state`, `stores.4.state`).
    pub fn state(kind: &str, path: impl Into<String>) -> Self {
        Self::State {
            kind: kind.into(),
            path: path.into(),
        }
    }
}

impl Serialize for CitationRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = match self {
            Self::Metric { series, value } => {
                json!({"kind": "metric", "series": series, "value": value})
            }
            Self::Log { line } => json!({"kind": "log", "line": line}),
            Self::Event { what } => json!({"kind": "event", "what": what}),
            Self::Entity { kind, id } => json!({"kind": kind, "id": id}),
            Self::State { kind, path } => json!({"kind": kind, "path": path}),
        };
        v.serialize(s)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CitationWire {
    kind: String,
    series: Option<String>,
    value: Option<f64>,
    line: Option<String>,
    what: Option<String>,
    id: Option<u64>,
    path: Option<String>,
}

impl<'de> Deserialize<'de> for CitationRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let w = CitationWire::deserialize(d)?;
        let fields = [
            w.series.is_some(),
            w.value.is_some(),
            w.line.is_some(),
            w.what.is_some(),
            w.id.is_some(),
            w.path.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        let bad = || D::Error::custom(format!("citation of kind {} has the wrong fields", w.kind));
        let r = match (w.kind.as_str(), &w) {
            (
                "metric",
                CitationWire {
                    series: Some(series),
                    value: Some(value),
                    ..
                },
            ) if fields == 2 => Self::Metric {
                series: series.clone(),
                value: *value,
            },
            (
                "log",
                CitationWire {
                    line: Some(line), ..
                },
            ) if fields == 1 => Self::Log { line: line.clone() },
            (
                "event",
                CitationWire {
                    what: Some(what), ..
                },
            ) if fields == 1 => Self::Event { what: what.clone() },
            (k, _) if CORE_CITATIONS.contains(&k) => return Err(bad()),
            (k, CitationWire { id: Some(id), .. }) if fields == 1 => Self::entity(k, *id),
            (
                k,
                CitationWire {
                    path: Some(path), ..
                },
            ) if fields == 1 => Self::state(k, path.clone()),
            _ => return Err(bad()),
        };
        Ok(r)
    }
}

/// One piece of evidence: a claim and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Citation {
    /// The claim, in words.
    pub claim: String,
    /// Its source.
    pub source: CitationRef,
}

/// An alternative that was considered and rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionConsidered {
    /// The alternative cause or action.
    pub option: String,
    /// Why it was rejected.
    pub why_not: String,
}

impl super::context::PreparedPrompt {
    /// The prompt in `catalog`'s vocabulary: the schema restricted to its causes, actions
    /// and citations, and its system prompt (the token estimate follows the prompt; build
    /// it with [`budget_for_vocabulary`] to keep within a budget).
    pub fn with_vocabulary(mut self, catalog: &CauseCatalog) -> Self {
        use super::context::estimate_tokens;
        self.estimated_tokens = self.estimated_tokens + estimate_tokens(catalog.system_prompt)
            - estimate_tokens(&self.system).min(self.estimated_tokens);
        self.schema = diagnosis_output_schema_for(catalog);
        self.system = catalog.system_prompt.to_string();
        self
    }
}

/// A recommended action: a kind of the subject's vocabulary
/// ([`super::catalog::ActionSpec`]) and its parameters. Serialized as `{"kind":
/// "transfer-leader", "params": {...}}`, the shape a subject's typed enum with
/// `#[serde(tag = "kind", content = "params", rename_all = "kebab-case")]` has too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionKind {
    /// Kebab-case kind (`evict-leader`).
    pub kind: String,
    /// Its parameters by name.
    #[serde(default)]
    pub params: Map<String, Value>,
}

impl ActionKind {
    /// An action from a kind and a JSON object of parameters (anything else gives none).
    pub(crate) fn new(kind: &str, params: Value) -> Self {
        Self {
            kind: kind.to_string(),
            params: match params {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        }
    }

    #[cfg(test)]
    /// Take no action now; look again in `minutes` (in every vocabulary).
    pub(crate) fn wait_and_watch(minutes: u32) -> Self {
        Self::new("wait-and-watch", json!({ "minutes": minutes }))
    }

    /// Gather more evidence about `what` (in every vocabulary).
    pub(crate) fn investigate_further(what: impl Into<String>) -> Self {
        Self::new("investigate-further", json!({ "what": what.into() }))
    }

    /// The action of a subject's typed enum (one that serializes as `{"kind",
    /// "params"}`). A value that does not serialize to that shape gives
    /// `investigate-further` naming the failure, never a silently different action.
    pub(crate) fn from_typed<T: Serialize>(typed: &T) -> Self {
        match serde_json::to_value(typed) {
            Ok(Value::Object(mut m)) => match m.remove("kind") {
                Some(Value::String(kind)) => {
                    Self::new(&kind, m.remove("params").unwrap_or(Value::Null))
                }
                _ => Self::investigate_further("an action without a kind"),
            },
            Ok(_) | Err(_) => Self::investigate_further("an action that does not serialize"),
        }
    }

    /// The action as the subject's typed enum, `None` when it is not one of its kinds
    /// or its parameters do not fit.
    pub fn typed<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(json!({"kind": self.kind, "params": self.params})).ok()
    }

    /// The kebab-case name of the action.
    pub fn name(&self) -> &str {
        &self.kind
    }

    /// A one-line human description: the kind, then its parameters (`evict-leader
    /// store_id=5`; a single parameter by value alone: `restart-container tikv-1`).
    pub fn describe(&self) -> String {
        let val = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match self.params.len() {
            0 => self.kind.clone(),
            1 => {
                let v = self.params.values().next().map(val).unwrap_or_default();
                if self.kind == "investigate-further" {
                    format!("{}: {v}", self.kind)
                } else {
                    format!("{} {v}", self.kind)
                }
            }
            _ => {
                let ps: Vec<String> = self
                    .params
                    .iter()
                    .map(|(k, v)| format!("{k}={}", val(v)))
                    .collect();
                format!("{} {}", self.kind, ps.join(" "))
            }
        }
    }
}

/// The recommended action: a typed kind with parameters, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Kind and parameters (flattened to `kind` + `params`).
    #[serde(flatten)]
    pub kind: ActionKind,
    /// Why this action follows from the evidence.
    pub rationale: String,
}

/// What a backend must return: the model-authored part of a diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagnosisOutput {
    /// What the evidence shows, without interpretation.
    pub observation_summary: String,
    /// The single most likely root cause.
    pub root_cause: String,
    /// The root cause as a catalog category and a target: what scoring and memory read.
    pub cause: Cause,
    /// Further independent root causes the evidence supports equally well (on other
    /// targets); empty for a single cause.
    #[serde(default)]
    pub other_causes: Vec<Cause>,
    /// The differential: every cause considered, with evidence for and against.
    #[serde(default)]
    pub hypotheses: Vec<Hypothesis>,
    /// Cited facts supporting the root cause.
    pub evidence: Vec<Citation>,
    /// Alternatives considered and rejected.
    pub options_considered: Vec<OptionConsidered>,
    /// The recommended action (a recommendation; never executed by the diagnosis engine).
    pub recommended_action: Action,
    /// Confidence in the root cause, 0..=1.
    pub confidence: f64,
    /// What observation would change the conclusion.
    pub would_change_conclusion: String,
}

/// The operator's check of the citations against the context that was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GroundingReport {
    /// Citations found in the context.
    pub grounded: usize,
    /// Claims whose citation was not found in the context.
    pub ungrounded: Vec<String>,
}

/// Tokens and cost of one diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Usage {
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens (thinking included).
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read: u64,
    /// Input tokens written to the prompt cache.
    pub cache_creation: u64,
    /// Cost in USD from the configured price table (0 when the model has no price).
    pub cost_usd: f64,
    /// Wall time of the model call, retries included, in milliseconds (0: not measured).
    #[serde(default)]
    pub wall_ms: u64,
    /// Generation speed in output tokens per second: the server's own measure when it
    /// reports one (llama.cpp `timings`), else output tokens over wall time.
    #[serde(default)]
    pub output_tokens_per_s: f64,
}

/// A complete, stored diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// What the evidence shows.
    pub observation_summary: String,
    /// Most likely root cause.
    pub root_cause: String,
    /// The root cause as a catalog category and a target. Diagnoses stored before the
    /// catalog existed read back as `unknown`.
    #[serde(default = "unknown_cause")]
    pub cause: Cause,
    /// Further independent root causes.
    #[serde(default)]
    pub other_causes: Vec<Cause>,
    /// The differential: every cause considered, with evidence for and against.
    #[serde(default)]
    pub hypotheses: Vec<Hypothesis>,
    /// Cited facts.
    pub evidence: Vec<Citation>,
    /// Rejected alternatives.
    pub options_considered: Vec<OptionConsidered>,
    /// Recommended action (observe-only: a recommendation).
    pub recommended_action: Action,
    /// 0..=1.
    pub confidence: f64,
    /// What would change the conclusion.
    pub would_change_conclusion: String,
    /// Filled by the operator, not the model.
    pub grounding: GroundingReport,
    /// `claude`, `openai`, `rules`.
    pub backend: String,
    /// Model id that answered (`rules-v1` for the rules engine).
    pub model: String,
    /// Tokens and cost.
    pub usage: Usage,
    /// What the context builder cut to meet the token budget.
    pub context_cut: Vec<String>,
    /// How a person carries out the recommended action, when the subject wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<super::runbook::Runbook>,
    /// Set when the configured model failed and this diagnosis came from the fallback
    /// backend: what the model did wrong. Scoring counts the model's answer as a miss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_failure: Option<super::failure::ModelFailure>,
    /// What a model backend's investigation did before it answered (every tool call and
    /// a summary of its result), or why it answered in a single shot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investigation: Option<super::investigate::Investigation>,
}

fn unknown_cause() -> Cause {
    Cause::unknown("")
}

impl Diagnosis {
    /// Every root cause asserted: the primary one first, `unknown` left out.
    pub(crate) fn asserted_causes(&self) -> Vec<&Cause> {
        std::iter::once(&self.cause)
            .chain(self.other_causes.iter())
            .filter(|c| c.is_known())
            .collect()
    }

    /// Combines a validated model output with the operator-filled fields.
    pub(crate) fn assemble(
        output: DiagnosisOutput,
        grounding: GroundingReport,
        backend: &str,
        model: &str,
        usage: Usage,
        context_cut: Vec<String>,
    ) -> Self {
        Self {
            observation_summary: output.observation_summary,
            root_cause: output.root_cause,
            cause: output.cause,
            other_causes: output.other_causes,
            hypotheses: output.hypotheses,
            evidence: output.evidence,
            options_considered: output.options_considered,
            recommended_action: output.recommended_action,
            confidence: output.confidence,
            would_change_conclusion: output.would_change_conclusion,
            grounding,
            backend: backend.to_string(),
            model: model.to_string(),
            usage,
            context_cut,
            runbook: None,
            model_failure: None,
            investigation: None,
        }
    }
}

/// The ticket as the diagnosis engine sees it. Timestamps are RFC 3339 strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketBrief {
    /// Ticket id.
    pub id: u64,
    /// Subject (`tikv`).
    pub subject: String,
    /// Violated invariant (`store_down`).
    pub invariant: String,
    /// Target (`store/4`, `member/tikv-1`, `pd`).
    pub target: String,
    /// Severity (`critical`, `warning`, `info`).
    pub severity: String,
    /// One-line summary.
    pub summary: String,
    /// First seen (RFC 3339).
    pub first_seen: String,
    /// Last seen (RFC 3339).
    pub last_seen: String,
    /// How many times the invariant was seen violated.
    pub occurrences: u64,
    /// Evidence snapshot (`{observed_at, metrics, state, logs, events}`).
    pub evidence: Value,
    /// Timeline entries (time, text).
    pub timeline: Vec<(String, String)>,
}

/// A ticket target in the core's spellings: `<kind>/<id>` (`store/4`) → an entity;
/// `member/<name>` or a bare member name (`tikv-1`, `etcd-0`) → a member; anything else
/// (`pd`, `cluster`) → other. A subject with more spellings parses them itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// An entity by kind and numeric id (`store/4`).
    Entity {
        /// Its kind (`store`).
        kind: String,
        /// Its id.
        id: u64,
    },
    /// A member (container) name.
    Member(String),
    /// Anything else (`pd`, `cluster`, `prometheus`).
    Other(String),
}

impl Target {
    /// Parses a target string.
    pub(crate) fn parse(target: &str) -> Self {
        let t = target.trim();
        if let Some(m) = t.strip_prefix("member/") {
            return Self::Member(m.to_string());
        }
        if let Some((kind, id)) = t.split_once('/') {
            if let Ok(id) = id.parse() {
                if !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Self::Entity {
                        kind: kind.to_string(),
                        id,
                    };
                }
            }
        }
        if t.contains('-')
            && t.rsplit('-')
                .next()
                .map(|n| n.parse::<u64>().is_ok())
                .unwrap_or(false)
        {
            return Self::Member(t.to_string());
        }
        Self::Other(t.to_string())
    }
}

/// The invariant name in snake_case (`store-down` → `store_down`).
pub(crate) fn normalize_invariant(name: &str) -> String {
    name.trim().replace('-', "_").to_ascii_lowercase()
}

/// One candidate section of context for the prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextSection {
    /// Section name (`metrics`, `logs`, `pd_state`, ...).
    pub name: String,
    /// 0 (least) ..= 255 (most) relevant; cut lowest first.
    pub relevance: u8,
    /// Section text.
    pub content: String,
}

/// What the ticket store hands to the diagnosis engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnosisRequest {
    /// The ticket.
    pub ticket: TicketBrief,
    /// Candidate context sections.
    pub sections: Vec<ContextSection>,
}

fn citation_variant(kind: &str, description: &str, props: Value, required: &[&str]) -> Value {
    let mut properties = json!({"kind": {"type": "string", "const": kind}});
    let mut req = vec!["kind"];
    req.extend_from_slice(required);
    if let (Some(p), Some(extra)) = (properties.as_object_mut(), props.as_object()) {
        for (k, v) in extra {
            p.insert(k.clone(), v.clone());
        }
    }
    json!({
        "type": "object",
        "description": description,
        "properties": properties,
        "required": req,
        "additionalProperties": false
    })
}

/// The schema of [`DiagnosisOutput`] for a prompt whose subject is not known: any
/// category, but only the actions every vocabulary has (`wait-and-watch`,
/// `investigate-further`) and only the core's citations. Closed like a subject's: a
/// prompt nobody gave a vocabulary cannot widen what may be recommended. A subject's
/// tickets get [`diagnosis_output_schema_for`] its catalog
/// ([`crate::diagnose::context::PreparedPrompt::with_vocabulary`]).
pub(crate) fn diagnosis_output_schema() -> Value {
    diagnosis_schema(None)
}

/// The JSON schema of [`DiagnosisOutput`] in `catalog`'s vocabulary, sent to the model as
/// the output format: `cause.category` from its causes, `recommended_action` from its
/// actions with typed parameters, citations of the core's kinds and its own.
///
/// # Guarantees
/// Every object has `additionalProperties: false`; no numeric bounds or length bounds
/// are used (unsupported by structured outputs); the document is stable byte-for-byte
/// across calls (it is part of the cached prompt prefix on the tool path).
pub(crate) fn diagnosis_output_schema_for(catalog: &CauseCatalog) -> Value {
    diagnosis_schema(Some(catalog))
}

fn diagnosis_schema(catalog: Option<&CauseCatalog>) -> Value {
    let open = CauseCatalog {
        subject: "any",
        causes: &[],
        actions: &[],
        citations: &[],
        targets: &[],
        system_prompt: "",
    };
    let cause = match catalog {
        Some(c) => c.cause_schema(),
        None => {
            let mut s = open.cause_schema();
            s["properties"]["category"] = json!({"type": "string",
                "description": "A root-cause category (kebab-case), or unknown."});
            s
        }
    };
    let hypotheses = match catalog {
        Some(c) => super::catalog::hypotheses_schema(c),
        None => {
            let mut h = super::catalog::hypotheses_schema(&open);
            h["items"]["properties"]["cause"] = cause.clone();
            h
        }
    };
    let string = json!({"type": "string"});
    let actions: Vec<Value> = match catalog {
        Some(c) => c
            .actions()
            .into_iter()
            .map(CauseCatalog::action_schema)
            .collect(),
        None => super::catalog::GENERIC_ACTIONS
            .iter()
            .map(CauseCatalog::action_schema)
            .collect(),
    };
    let mut citations = vec![
        citation_variant(
            "metric",
            "A metric sample from the context.",
            json!({"series": string, "value": {"type": "number"}}),
            &["series", "value"],
        ),
        citation_variant(
            "log",
            "A log line (or a verbatim substring of one) from the context.",
            json!({"line": string}),
            &["line"],
        ),
        citation_variant(
            "event",
            "An event or timeline entry from the context.",
            json!({"what": string}),
            &["what"],
        ),
    ];
    if let Some(c) = catalog {
        citations.extend(c.citations.iter().map(CauseCatalog::citation_schema));
    }
    json!({
        "type": "object",
        "properties": {
            "observation_summary": {"type": "string",
                "description": "What the ticket and its telemetry show, without interpretation. Quote numbers and timestamps."},
            "root_cause": {"type": "string", "description": "The single most likely root cause, in words."},
            "cause": cause.clone(),
            "other_causes": {"type": "array",
                "description": "Further independent root causes on other targets, only when the evidence supports them as well as the first.",
                "items": cause},
            "hypotheses": hypotheses,
            "evidence": {
                "type": "array",
                "description": "Facts from the context that support root_cause, each with its source.",
                "items": {
                    "type": "object",
                    "properties": {
                        "claim": {"type": "string"},
                        "source": {"anyOf": citations}
                    },
                    "required": ["claim", "source"],
                    "additionalProperties": false
                },
                "minItems": 1
            },
            "options_considered": {
                "type": "array",
                "description": "Alternative causes or actions that were considered and rejected.",
                "items": {
                    "type": "object",
                    "properties": {"option": {"type": "string"}, "why_not": {"type": "string"}},
                    "required": ["option", "why_not"],
                    "additionalProperties": false
                }
            },
            "recommended_action": {
                "description": "One action from the fixed vocabulary. It is a recommendation for a human; nothing is executed.",
                "anyOf": actions
            },
            "confidence": {"type": "number", "description": "Confidence in root_cause, from 0.0 (guess) to 1.0 (certain)."},
            "would_change_conclusion": {"type": "string",
                "description": "Which observation would change this conclusion."}
        },
        "required": ["observation_summary", "root_cause", "cause", "other_causes", "hypotheses", "evidence", "options_considered",
                     "recommended_action", "confidence", "would_change_conclusion"],
        "additionalProperties": false
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::catalog::Verdict;

    fn all_objects_closed(v: &Value) -> bool {
        match v {
            Value::Object(m) => {
                if m.get("type") == Some(&json!("object"))
                    && m.get("additionalProperties") != Some(&json!(false))
                {
                    return false;
                }
                m.values().all(all_objects_closed)
            }
            Value::Array(a) => a.iter().all(all_objects_closed),
            _ => true,
        }
    }

    use crate::diagnose::catalog::TEST_CATALOG;

    #[test]
    fn every_object_in_the_output_schema_forbids_additional_properties() {
        assert!(all_objects_closed(&diagnosis_output_schema()));
        assert!(all_objects_closed(&diagnosis_output_schema_for(
            &TEST_CATALOG
        )));
    }

    #[test]
    fn without_a_subject_only_the_generic_actions_and_core_citations_are_accepted() {
        let s = diagnosis_output_schema().to_string();
        for k in [
            "wait-and-watch",
            "investigate-further",
            "metric",
            "log",
            "event",
        ] {
            assert!(s.contains(&format!("\"const\":\"{k}\"")), "{k}");
        }
        for k in ["restart-container", "drain-node", "node"] {
            assert!(!s.contains(&format!("\"const\":\"{k}\"")), "{k}");
        }
    }

    #[test]
    fn a_subjects_schema_holds_its_actions_with_typed_parameters_and_its_citations() {
        let s = diagnosis_output_schema_for(&TEST_CATALOG);
        let kinds: Vec<&Value> = s["properties"]["recommended_action"]["anyOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| &a["properties"]["kind"]["const"])
            .collect();
        assert_eq!(
            kinds,
            vec![
                &json!("restart-container"),
                &json!("drain-node"),
                &json!("wait-and-watch"),
                &json!("investigate-further")
            ]
        );
        let ok = json!({"kind": "drain-node", "params": {"node_id": 3, "mode": "soft"}, "rationale": "r"});
        let bad = json!({"kind": "drain-node", "params": {"node_id": 3, "mode": "now"}, "rationale": "r"});
        let action_schema = &s["properties"]["recommended_action"];
        assert!(super::super::ground::validate_against_schema(action_schema, &ok, "").is_ok());
        assert!(super::super::ground::validate_against_schema(action_schema, &bad, "").is_err());
        let cites = s["properties"]["evidence"]["items"]["properties"]["source"].to_string();
        for k in ["metric", "log", "event", "node", "node_state"] {
            assert!(
                cites.contains(&format!("\"const\":\"{k}\"")),
                "{k} in {cites}"
            );
        }
        assert!(!cites.contains("pd_state") && !cites.contains("\"store\""));
    }

    #[test]
    fn the_output_schema_uses_no_numeric_or_length_bounds() {
        let s = format!(
            "{}{}",
            diagnosis_output_schema(),
            diagnosis_output_schema_for(&TEST_CATALOG)
        );
        for banned in ["minimum", "maximum", "minLength", "maxLength", "multipleOf"] {
            assert!(
                !s.contains(banned),
                "{banned} is not supported by structured outputs"
            );
        }
    }

    #[test]
    fn targets_parse_in_the_cores_spellings() {
        assert_eq!(
            Target::parse("node/4"),
            Target::Entity {
                kind: "node".into(),
                id: 4
            }
        );
        assert_eq!(Target::parse("member/4"), Target::Member("4".into()));
        assert_eq!(
            Target::parse("member/tikv-1"),
            Target::Member("tikv-1".into())
        );
        assert_eq!(Target::parse("tikv-2"), Target::Member("tikv-2".into()));
        assert_eq!(Target::parse("cluster"), Target::Other("cluster".into()));
        assert_eq!(normalize_invariant("store-down"), "store_down");
    }

    #[test]
    fn a_stored_diagnosis_round_trips_through_json() {
        let d = Diagnosis::assemble(
            DiagnosisOutput {
                observation_summary: "o".into(),
                root_cause: "r".into(),
                cause: Cause::new("disk-slow", "store/4"),
                other_causes: vec![],
                hypotheses: vec![Hypothesis {
                    cause: Cause::new("network-degradation", "store/4"),
                    verdict: Verdict::Rejected,
                    supporting: vec![],
                    contradicting: vec!["peers' gRPC latency is flat".into()],
                }],
                evidence: vec![Citation {
                    claim: "c".into(),
                    source: CitationRef::Metric {
                        series: "s{store=\"4\"}".into(),
                        value: 1.5,
                    },
                }],
                options_considered: vec![OptionConsidered {
                    option: "x".into(),
                    why_not: "y".into(),
                }],
                recommended_action: Action {
                    kind: ActionKind::new(
                        "set-config",
                        json!({"key": "schedule.max-store-down-time", "value": "1h"}),
                    ),
                    rationale: "z".into(),
                },
                confidence: 0.5,
                would_change_conclusion: "w".into(),
            },
            GroundingReport {
                grounded: 1,
                ungrounded: vec![],
            },
            "claude",
            "claude-sonnet-5-5",
            Usage::default(),
            vec!["cut".into()],
        );
        let text = serde_json::to_string(&d).unwrap();
        let back: Diagnosis = serde_json::from_str(&text).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn an_action_serializes_as_kind_params_and_rationale() {
        let a = Action {
            kind: ActionKind::new("transfer-leader", json!({"region_id": 12, "to_store": 4})),
            rationale: "r".into(),
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(
            v,
            json!({"kind": "transfer-leader", "params": {"region_id": 12, "to_store": 4}, "rationale": "r"})
        );
        let back: Action = serde_json::from_value(v).unwrap();
        assert_eq!(back, a);
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "kind", content = "params", rename_all = "kebab-case")]
    enum Typed {
        DrainNode { node_id: u64, mode: String },
        WaitAndWatch { minutes: u32 },
    }

    #[test]
    fn a_subjects_typed_action_goes_through_the_core_and_back_unchanged() {
        let t = Typed::DrainNode {
            node_id: 3,
            mode: "soft".into(),
        };
        let a = ActionKind::from_typed(&t);
        assert_eq!(a.name(), "drain-node");
        assert!(TEST_CATALOG.action_valid(&a));
        assert_eq!(a.typed::<Typed>(), Some(t));
        assert_eq!(
            ActionKind::wait_and_watch(5).typed::<Typed>(),
            Some(Typed::WaitAndWatch { minutes: 5 })
        );
        assert_eq!(ActionKind::investigate_further("x").typed::<Typed>(), None);
        assert_eq!(a.describe(), "drain-node mode=soft node_id=3");
        assert_eq!(ActionKind::wait_and_watch(5).describe(), "wait-and-watch 5");
    }

    #[test]
    fn a_diagnosis_stored_before_the_vocabulary_moved_to_the_subject_still_reads() {
        // The JSON a PD-only enum wrote: store, region and pd_state citations, a typed action.
        let old = json!({
            "observation_summary": "o", "root_cause": "r",
            "evidence": [
                {"claim": "a", "source": {"kind": "store", "id": 4}},
                {"claim": "b", "source": {"kind": "region", "id": 12}},
                {"claim": "c", "source": {"kind": "pd_state", "path": "stores.4.state"}},
                {"claim": "d", "source": {"kind": "metric", "series": "m", "value": 1.0}},
                {"claim": "e", "source": {"kind": "log", "line": "l"}}
            ],
            "options_considered": [],
            "recommended_action": {"kind": "evict-leader", "params": {"store_id": 4}, "rationale": "z"},
            "confidence": 0.5, "would_change_conclusion": "w",
            "grounding": {"grounded": 5, "ungrounded": []},
            "backend": "rules", "model": "rules-v1",
            "usage": {"input_tokens": 0, "output_tokens": 0, "cache_read": 0, "cache_creation": 0, "cost_usd": 0.0},
            "context_cut": []
        });
        let d: Diagnosis = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(d.evidence[0].source, CitationRef::entity("store", 4));
        assert_eq!(
            d.evidence[2].source,
            CitationRef::state("pd_state", "stores.4.state")
        );
        assert_eq!(
            d.recommended_action.kind,
            ActionKind::new("evict-leader", json!({"store_id": 4}))
        );
        let again = serde_json::to_value(&d).unwrap();
        assert_eq!(again["evidence"], old["evidence"]);
        assert_eq!(again["recommended_action"], old["recommended_action"]);
    }

    #[test]
    fn a_citation_with_fields_of_the_wrong_shape_is_refused() {
        for bad in [
            json!({"kind": "metric", "id": 4}),
            json!({"kind": "log", "line": "l", "id": 4}),
            json!({"kind": "store", "id": 4, "path": "x"}),
            json!({"kind": "store", "name": "x"}),
            json!({"kind": "store"}),
        ] {
            assert!(
                serde_json::from_value::<CitationRef>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
