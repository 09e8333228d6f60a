//! The diagnosis data model: what the model must return ([`DiagnosisOutput`]), what the
//! operator stores ([`Diagnosis`]), and the seam with tickets ([`DiagnosisRequest`]).
//!
//! # Why typed
//!
//! The model's answer is a *recommendation*, never a command. Keeping the recommended
//! action inside a closed vocabulary ([`ActionKind`]) with typed parameters means nothing
//! the model writes can become an arbitrary shell command, and the rules backend and the
//! LLM backends produce the same structure. Citations are typed too ([`CitationRef`]),
//! so [`super::ground`] can check each one against the context that was sent.
//!
//! The JSON schema sent to the model ([`diagnosis_output_schema`]) is hand-written in the
//! subset that Anthropic structured outputs and OpenAI `strict` json_schema accept
//! (`additionalProperties: false` everywhere, no numeric bounds, `minItems` 0 or 1). The
//! range of `confidence` is therefore validated locally.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use super::catalog::{Cause, CauseCatalog, Hypothesis, Verdict};

/// Where a cited fact came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CitationRef {
    /// A metric sample: series (as printed in the context) and value.
    Metric {
        /// Series name with labels, e.g. `tikv_store_size_bytes{store="4",type="available"}`.
        series: String,
        /// The value cited.
        value: f64,
    },
    /// A TiKV store by id.
    Store {
        /// Store id.
        id: u64,
    },
    /// A region by id.
    Region {
        /// Region id.
        id: u64,
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
    /// A value in PD's state, addressed by a dotted path (`stores.4.state`).
    PdState {
        /// Dotted path.
        path: String,
    },
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

/// The closed vocabulary of PD and Docker actions the diagnosis may recommend.
/// Serialized adjacently: `{"kind": "transfer-leader", "params": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "params", rename_all = "kebab-case")]
pub enum ActionKind {
    /// Move a region's leader to another store.
    TransferLeader {
        /// Region id.
        region_id: u64,
        /// Target store id.
        to_store: u64,
    },
    /// Split a (hot or oversized) region.
    SplitRegion {
        /// Region id.
        region_id: u64,
    },
    /// Add the store to evict-leader-scheduler.
    EvictLeader {
        /// Store id.
        store_id: u64,
    },
    /// Remove the store from evict-leader-scheduler.
    RemoveEvictLeader {
        /// Store id.
        store_id: u64,
    },
    /// Add capacity.
    ScaleOut {
        /// `tikv` or `pd`.
        component: String,
        /// How many members to add.
        count: u32,
    },
    /// Restart a member's container.
    RestartContainer {
        /// Member name (`tikv-1`).
        member: String,
    },
    /// Bring an Offline store back Up.
    CancelStoreDelete {
        /// Store id.
        store_id: u64,
    },
    /// Add a PD scheduler.
    AddScheduler {
        /// Scheduler name.
        name: String,
    },
    /// Remove a PD scheduler.
    RemoveScheduler {
        /// Scheduler name.
        name: String,
    },
    /// Set a PD config key.
    SetConfig {
        /// Key (`schedule.max-store-down-time`).
        key: String,
        /// Value as PD expects it (`"30m"`).
        value: String,
    },
    /// Do nothing now; look again later.
    WaitAndWatch {
        /// Minutes to wait.
        minutes: u32,
    },
    /// Not enough evidence to act; gather more.
    InvestigateFurther {
        /// What to look at.
        what: String,
    },
}

impl ActionKind {
    /// The kebab-case name of the action.
    pub fn name(&self) -> &'static str {
        match self {
            Self::TransferLeader { .. } => "transfer-leader",
            Self::SplitRegion { .. } => "split-region",
            Self::EvictLeader { .. } => "evict-leader",
            Self::RemoveEvictLeader { .. } => "remove-evict-leader",
            Self::ScaleOut { .. } => "scale-out",
            Self::RestartContainer { .. } => "restart-container",
            Self::CancelStoreDelete { .. } => "cancel-store-delete",
            Self::AddScheduler { .. } => "add-scheduler",
            Self::RemoveScheduler { .. } => "remove-scheduler",
            Self::SetConfig { .. } => "set-config",
            Self::WaitAndWatch { .. } => "wait-and-watch",
            Self::InvestigateFurther { .. } => "investigate-further",
        }
    }

    /// A one-line human description (`transfer-leader region 12 → store 4`).
    pub fn describe(&self) -> String {
        match self {
            Self::TransferLeader {
                region_id,
                to_store,
            } => format!("transfer-leader region {region_id} -> store {to_store}"),
            Self::SplitRegion { region_id } => format!("split-region {region_id}"),
            Self::EvictLeader { store_id } => format!("evict-leader store {store_id}"),
            Self::RemoveEvictLeader { store_id } => format!("remove-evict-leader store {store_id}"),
            Self::ScaleOut { component, count } => format!("scale-out {component} +{count}"),
            Self::RestartContainer { member } => format!("restart-container {member}"),
            Self::CancelStoreDelete { store_id } => format!("cancel-store-delete store {store_id}"),
            Self::AddScheduler { name } => format!("add-scheduler {name}"),
            Self::RemoveScheduler { name } => format!("remove-scheduler {name}"),
            Self::SetConfig { key, value } => format!("set-config {key}={value}"),
            Self::WaitAndWatch { minutes } => format!("wait-and-watch {minutes} min"),
            Self::InvestigateFurther { what } => format!("investigate-further: {what}"),
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
    pub fn asserted_causes(&self) -> Vec<&Cause> {
        std::iter::once(&self.cause)
            .chain(self.other_causes.iter())
            .filter(|c| c.is_known())
            .collect()
    }

    /// Combines a validated model output with the operator-filled fields.
    pub fn assemble(
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

/// A ticket target, parsed from the spellings the ticket store uses: `store/4`,
/// `store-4`, `store_4` → a store; `member/tikv-1` or a bare member name (`tikv-1`,
/// `pd-0`) → a member; `pd`, `cluster`, … → other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A TiKV store id.
    Store(u64),
    /// A member (container) name.
    Member(String),
    /// Anything else (`pd`, `cluster`, `prometheus`).
    Other(String),
}

impl Target {
    /// Parses a target string.
    pub fn parse(target: &str) -> Self {
        let t = target.trim();
        for prefix in ["store/", "store-", "store_", "store "] {
            if let Some(id) = t.strip_prefix(prefix).and_then(|r| r.parse().ok()) {
                return Self::Store(id);
            }
        }
        if let Some(m) = t.strip_prefix("member/") {
            return Self::Member(m.to_string());
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
pub fn normalize_invariant(name: &str) -> String {
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

fn action_variant(kind: &str, description: &str, params: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "description": description,
        "properties": {
            "kind": {"type": "string", "const": kind},
            "params": {
                "type": "object",
                "properties": params,
                "required": required,
                "additionalProperties": false
            },
            "rationale": {"type": "string", "description": "Why this action follows from the evidence."}
        },
        "required": ["kind", "params", "rationale"],
        "additionalProperties": false
    })
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

/// The JSON schema of [`DiagnosisOutput`], sent to the model as the output format.
///
/// # Guarantees
/// Every object has `additionalProperties: false`; no numeric bounds or length bounds
/// are used (unsupported by structured outputs); the document is stable byte-for-byte
/// across calls (it is part of the cached prompt prefix on the tool path).
pub fn diagnosis_output_schema() -> Value {
    diagnosis_schema(None)
}

/// [`diagnosis_output_schema`] with `cause.category` restricted to `catalog` (the schema
/// sent to a model for a subject's ticket).
pub fn diagnosis_output_schema_for(catalog: &CauseCatalog) -> Value {
    diagnosis_schema(Some(catalog))
}

fn diagnosis_schema(catalog: Option<&CauseCatalog>) -> Value {
    let open = CauseCatalog {
        subject: "any",
        causes: &[],
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
    let int = json!({"type": "integer"});
    let string = json!({"type": "string"});
    let actions = vec![
        action_variant(
            "transfer-leader",
            "Move a region's leader to another store.",
            json!({"region_id": int, "to_store": int}),
            &["region_id", "to_store"],
        ),
        action_variant(
            "split-region",
            "Split a hot or oversized region.",
            json!({"region_id": int}),
            &["region_id"],
        ),
        action_variant(
            "evict-leader",
            "Evict all leaders from a store (slow or failing store).",
            json!({"store_id": int}),
            &["store_id"],
        ),
        action_variant(
            "remove-evict-leader",
            "Remove a store from evict-leader-scheduler.",
            json!({"store_id": int}),
            &["store_id"],
        ),
        action_variant(
            "scale-out",
            "Add members of a component (tikv or pd).",
            json!({"component": {"type": "string", "enum": ["tikv", "pd"]}, "count": int}),
            &["component", "count"],
        ),
        action_variant(
            "restart-container",
            "Restart the container of a member, e.g. tikv-1.",
            json!({"member": string}),
            &["member"],
        ),
        action_variant(
            "cancel-store-delete",
            "Bring an Offline store back Up.",
            json!({"store_id": int}),
            &["store_id"],
        ),
        action_variant(
            "add-scheduler",
            "Add a PD scheduler.",
            json!({"name": string}),
            &["name"],
        ),
        action_variant(
            "remove-scheduler",
            "Remove a PD scheduler.",
            json!({"name": string}),
            &["name"],
        ),
        action_variant(
            "set-config",
            "Set a PD configuration key.",
            json!({"key": string, "value": string}),
            &["key", "value"],
        ),
        action_variant(
            "wait-and-watch",
            "Take no action now and look again after some minutes.",
            json!({"minutes": int}),
            &["minutes"],
        ),
        action_variant(
            "investigate-further",
            "The evidence is not enough to act; say what to look at.",
            json!({"what": string}),
            &["what"],
        ),
    ];
    let citations = vec![
        citation_variant(
            "metric",
            "A metric sample from the context.",
            json!({"series": string, "value": {"type": "number"}}),
            &["series", "value"],
        ),
        citation_variant(
            "store",
            "A TiKV store id from the context.",
            json!({"id": int}),
            &["id"],
        ),
        citation_variant(
            "region",
            "A region id from the context.",
            json!({"id": int}),
            &["id"],
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
        citation_variant(
            "pd_state",
            "A value in the PD state, as a dotted path.",
            json!({"path": string}),
            &["path"],
        ),
    ];
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

    #[test]
    fn every_object_in_the_output_schema_forbids_additional_properties() {
        assert!(all_objects_closed(&diagnosis_output_schema()));
    }

    #[test]
    fn the_output_schema_uses_no_numeric_or_length_bounds() {
        let s = diagnosis_output_schema().to_string();
        for banned in ["minimum", "maximum", "minLength", "maxLength", "multipleOf"] {
            assert!(
                !s.contains(banned),
                "{banned} is not supported by structured outputs"
            );
        }
    }

    #[test]
    fn targets_parse_in_every_spelling_the_ticket_store_uses() {
        assert_eq!(Target::parse("store/4"), Target::Store(4));
        assert_eq!(Target::parse("store-5"), Target::Store(5));
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
                    kind: ActionKind::SetConfig {
                        key: "schedule.max-store-down-time".into(),
                        value: "1h".into(),
                    },
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
            kind: ActionKind::TransferLeader {
                region_id: 12,
                to_store: 4,
            },
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
}
