//! The compact answer: the diagnosis a small local model writes when its prompt budget is
//! small.
//!
//! # Why
//!
//! On a CPU, a small model writes ~12 tokens/s on 2 idle cores, ~5 on busy ones. The full
//! answer ([`super::model::DiagnosisOutput`]) has seven free-text fields, hypotheses and
//! options; Qwen2.5-Coder-0.5B filled them with 500-900 tokens (45-180 s), mostly copies
//! of the prompt, and a diagnosis took more than a minute for the writing alone. The
//! compact answer asks only for what is scored and checked:
//!
//! - `cause`: `category` from the catalog and `target` from the entities the context
//!   that was sent actually names (an enum built per prompt: [`targets_in`]);
//! - `confidence`;
//! - `evidence`: 1 to [`MAX_CITED`] ids of facts marked `[F1]`, `[F2]`, … in the
//!   ticket's evidence. Each id stands for a typed citation the operator built from the
//!   evidence itself ([`Fact`]), so a model cannot misquote a metric or invent a line;
//! - `analysis`: one sentence, at most [`ANALYSIS_MAX_CHARS`] characters;
//! - `recommended_action`: a kind of the vocabulary with its typed parameters (strings
//!   at most [`PARAM_MAX_CHARS`] characters), without a rationale of its own.
//!
//! Every field is closed or bounded by the schema, which grammar-constrained servers
//! (llama.cpp, Ollama, vLLM) enforce, so the answer cannot run long; `max_tokens`
//! ([`COMPACT_MAX_TOKENS`]) is sized from those bounds.
//!
//! # Same contract downstream
//!
//! [`expand`] turns a compact answer into the full answer's JSON (the analysis is the
//! observation summary and the action's rationale; the cited facts are the evidence;
//! root cause in words is the cause's category and target; no hypotheses, options or
//! "would change" were asked, and the diagnosis says so). That JSON is then validated
//! against the full schema, grounded and stored like any other answer
//! ([`super::ground::finalize`]): validation, grounding, the fallback and scoring of
//! `cause.category`/`cause.target` do not know the answer was compact.
//!
//! Nothing here names a subject: target spellings come from the catalog's target kinds
//! ([`super::catalog::TargetSpec::example`]), the state citation kind from its citation
//! kinds.

use super::catalog::{CauseCatalog, CitationShape, GENERIC_ACTIONS};
use super::ground::{validate_against_schema, GroundError};
use super::model::CitationRef;
use super::terse;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Budgets (estimated prompt tokens) at or below which a local backend asks for the
/// compact answer by default: the budgets of small models on CPUs.
pub const COMPACT_BUDGET_MAX: usize = 4_096;

/// Longest `analysis`, in characters.
pub const ANALYSIS_MAX_CHARS: usize = 160;

/// Longest string parameter of the recommended action, in characters.
pub const PARAM_MAX_CHARS: usize = 40;

/// Most facts one compact answer may cite.
pub const MAX_CITED: usize = 3;

/// Most targets offered (the ticket's own first): enough for every entity of a cluster
/// of a dozen members under two spellings.
pub const MAX_TARGETS: usize = 32;

/// `max_tokens` of a compact answer. What the schema allows: the analysis and two string
/// parameters at two characters per token (prose runs nearer four), the category, target,
/// ids and confidence, and ~100 tokens of keys, punctuation and the whitespace the
/// grammar lets a model put between them. An answer the schema allows fits; a server
/// that does not enforce the schema is cut here, which is reported as a truncation.
pub const COMPACT_MAX_TOKENS: u32 =
    (ANALYSIS_MAX_CHARS / 2 + 2 * PARAM_MAX_CHARS / 2 + 16 * MAX_CITED + 128) as u32;

/// The answer format closing the system message of a compact prompt (the rules and the
/// catalog's causes come before it, unchanged).
pub const COMPACT_ANSWER_FORMAT: &str = "# Output
Return one JSON object: analysis (the observation that decides the cause, one sentence of at most 160 characters), cause ({category, target}: a category listed above, and the target it is on, from the targets listed after the ticket), confidence (0.0-1.0), evidence (1 to 3 ids of the facts marked [F1], [F2], ... in the ticket's evidence that support the cause), recommended_action ({kind, params}: one of the fixed action kinds with its parameters).
";

/// The note a diagnosis from a compact answer carries in its `context_cut`.
pub const COMPACT_NOTE: &str = "compact answer (small prompt budget): cause, confidence, cited fact ids, a one-sentence analysis and the action were asked; hypotheses, options considered and what would change the conclusion were not";

/// The text standing for `would_change_conclusion`, which a compact answer does not ask.
pub const NOT_ASKED: &str = "not asked (compact answer)";

/// One fact of the ticket's evidence, as marked in the prompt: its id, the typed citation
/// it stands for, and its text as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// `F1`, `F2`, …
    pub id: String,
    /// The citation the id expands to.
    pub source: CitationRef,
    /// The line as sent (the claim of the expanded citation).
    pub text: String,
}

/// What a compact prompt asks for: the schema, the targets and facts it offers, and the
/// answer's token bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompactAnswer {
    /// The compact answer's JSON schema (what the server enforces).
    pub schema: Value,
    /// The targets offered, the ticket's own first.
    pub targets: Vec<String>,
    /// The facts marked in the prompt.
    pub facts: Vec<Fact>,
    /// `max_tokens` for the answer.
    pub max_tokens: u32,
}

impl CompactAnswer {
    /// The compact answer over `targets` and `facts`, in `catalog`'s vocabulary.
    pub fn new(catalog: Option<&CauseCatalog>, targets: Vec<String>, facts: Vec<Fact>) -> Self {
        let ids: Vec<String> = facts.iter().map(|f| f.id.clone()).collect();
        Self {
            schema: schema(catalog, &targets, &ids),
            targets,
            facts,
            max_tokens: COMPACT_MAX_TOKENS,
        }
    }
}

/// Collects the facts of a rendering and marks their lines.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub(crate) facts: Vec<Fact>,
}

impl Facts {
    /// Marks `line` (its leading indentation kept) as a fact citing `source`.
    fn mark(&mut self, indent: &str, line: String, source: CitationRef) -> String {
        let id = format!("F{}", self.facts.len() + 1);
        let out = format!("{indent}[{id}] {line}\n");
        self.facts.push(Fact {
            id,
            source,
            text: line,
        });
        out
    }

    /// The ticket's evidence rendered as [`super::context::render_evidence`] does, each
    /// metric, log line, event and state line marked as a fact. State lines cite
    /// `state_kind` (the catalog's state-path citation kind) by path; without one they
    /// are sent unmarked.
    pub(crate) fn render_evidence(&mut self, evidence: &Value, state_kind: Option<&str>) -> String {
        let mut out = String::new();
        if let Some(at) = evidence.get("observed_at").and_then(Value::as_str) {
            out.push_str(&format!("observed_at: {at}\n"));
        }
        let now = terse::Now::observed(evidence);
        if let Some(ms) = evidence.get("metrics").and_then(Value::as_array) {
            // Series sampled at one instant (a scrape) say so once, above them.
            let mut scrape: Option<&str> = None;
            for m in ms {
                let at = m.get("at").and_then(Value::as_str).unwrap_or("");
                if scrape != Some(at) {
                    match at.is_empty() {
                        true => out.push_str("metrics:\n"),
                        false => out.push_str(&format!("metrics @ {at}:\n")),
                    }
                    scrape = Some(at);
                }
                let series = m.get("series").and_then(Value::as_str).unwrap_or("?");
                let value = m.get("value").map(terse::plain).unwrap_or_default();
                let line = format!("{series} = {value}");
                match m.get("value").and_then(Value::as_f64) {
                    Some(v) => out.push_str(&self.mark(
                        "  ",
                        line,
                        CitationRef::Metric {
                            series: series.to_string(),
                            value: v,
                        },
                    )),
                    None => out.push_str(&format!("  {line}\n")),
                }
            }
        }
        if let Some(ls) = evidence
            .get("logs")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        {
            out.push_str("logs:\n");
            for l in ls {
                let src = l.get("source").and_then(Value::as_str).unwrap_or("?");
                let line = l.get("line").and_then(Value::as_str).unwrap_or("");
                let cite = CitationRef::Log {
                    line: line.to_string(),
                };
                out.push_str(&self.mark("  ", format!("[{src}] {line}"), cite));
            }
        }
        if let Some(es) = evidence
            .get("events")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        {
            out.push_str("events:\n");
            for e in es {
                let src = e.get("source").and_then(Value::as_str).unwrap_or("?");
                let at = e.get("at").and_then(Value::as_str).unwrap_or("");
                let what = e.get("what").and_then(Value::as_str).unwrap_or("");
                let cite = CitationRef::Event {
                    what: what.to_string(),
                };
                out.push_str(&self.mark("  ", format!("{at} [{src}] {what}"), cite));
            }
        }
        if let Some(state) = evidence.get("state").filter(|s| !s.is_null()) {
            out.push_str("state:\n");
            match (state, state_kind) {
                (Value::Object(m), Some(kind)) => {
                    for (k, v) in m {
                        match v {
                            Value::Array(a) if a.iter().any(Value::is_object) => {
                                for (i, e) in a.iter().enumerate() {
                                    let key = e
                                        .get("id")
                                        .and_then(Value::as_u64)
                                        .map(|id| id.to_string())
                                        .unwrap_or_else(|| i.to_string());
                                    let cite = CitationRef::state(kind, format!("{k}.{key}"));
                                    let line = format!("{k}[{i}]: {}", terse::row(e, now));
                                    out.push_str(&self.mark("  ", line, cite));
                                }
                            }
                            other => {
                                let cite = CitationRef::state(kind, k.clone());
                                let (key, value) = terse::field(k, other, now);
                                out.push_str(&self.mark("  ", format!("{key}: {value}"), cite));
                            }
                        }
                    }
                }
                _ => out.push_str(&super::context::render_state(state)),
            }
        }
        out
    }

    /// The ticket's timeline, one marked event per entry.
    pub(crate) fn render_timeline(&mut self, timeline: &[(String, String)]) -> String {
        let mut out = String::new();
        for (at, text) in timeline {
            let cite = CitationRef::Event { what: text.clone() };
            out.push_str(&self.mark("", format!("{at} {text}"), cite));
        }
        out.trim_end().to_string()
    }

    /// Marks the ticket's summary, when the evidence had nothing else to cite.
    pub(crate) fn summary_fact(&mut self, summary: &str) -> String {
        let cite = CitationRef::Event {
            what: summary.to_string(),
        };
        self.mark("", summary.to_string(), cite)
            .trim_end()
            .to_string()
    }
}

/// The catalog's state-path citation kind (TiKV: `pd_state`), if it has one.
pub(crate) fn state_kind(catalog: Option<&CauseCatalog>) -> Option<&'static str> {
    catalog?
        .citations
        .iter()
        .find(|c| c.shape == CitationShape::Path)
        .map(|c| c.kind)
}

/// How a target kind is spelled, read from its example.
enum Spelling {
    /// `store/4`: the kind word and a numeric id.
    Id(String),
    /// `tikv-1`: a name prefix and a number.
    Member(String),
    /// `pd`, `cluster`: the word itself.
    Literal(String),
}

fn spelling(example: &str) -> Spelling {
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let num = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if let Some((w, n)) = example.split_once('/') {
        if word(w) && num(n) {
            return Spelling::Id(w.to_string());
        }
    }
    if let Some((w, n)) = example.rsplit_once('-') {
        if word(w) && num(n) {
            return Spelling::Member(w.to_string());
        }
    }
    Spelling::Literal(example.to_string())
}

/// Ids of entities of kind `word` in a JSON document: elements of `<word>s` arrays (by
/// `id` or `<word>.id`, as PD writes store records) and `<word>_id` / `<word>` values.
fn ids_in_json(v: &Value, word: &str, out: &mut Vec<u64>) {
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                if k == &format!("{word}s") {
                    if let Some(a) = val.as_array() {
                        for e in a {
                            let id = e
                                .get("id")
                                .and_then(Value::as_u64)
                                .or_else(|| e.pointer(&format!("/{word}/id"))?.as_u64());
                            out.extend(id);
                        }
                    }
                }
                if k == word || k == &format!("{word}_id") {
                    out.extend(val.as_u64());
                }
                ids_in_json(val, word, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|e| ids_in_json(e, word, out)),
        _ => {}
    }
}

/// The targets a compact answer may name: the ticket's own target first, then every
/// entity of the catalog's target kinds that `text` (the context as sent) or `docs` (its
/// JSON sections and the evidence's state) name, spelled as the kind's example spells
/// it (`store/4`, `tikv-1`, `pd`, `cluster`), at most [`MAX_TARGETS`] (the kinds spelled
/// as a plain word are always offered). Without a catalog, only the ticket's target.
pub fn targets_in(
    catalog: Option<&CauseCatalog>,
    ticket_target: &str,
    text: &str,
    docs: &[&Value],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // The kinds spelled as a word (`pd`, `cluster`) are always offered, beyond the cap.
    let literals = catalog
        .map(|c| c.targets)
        .unwrap_or(&[])
        .iter()
        .filter(|t| matches!(spelling(t.example), Spelling::Literal(_)))
        .count();
    let mut push = |t: String, always: bool| {
        if !t.is_empty() && !out.contains(&t) && (always || out.len() + literals < MAX_TARGETS) {
            out.push(t);
        }
    };
    push(ticket_target.trim().to_string(), true);
    for spec in catalog.map(|c| c.targets).unwrap_or(&[]) {
        match spelling(spec.example) {
            Spelling::Id(word) => {
                let re = Regex::new(&format!(
                    r#"(?i)\b{}(?:_id|s)?[\s/=:"'\-#]*(\d+)\b"#,
                    regex::escape(&word)
                ))
                .expect("built regex");
                let mut ids: Vec<u64> = re
                    .captures_iter(text)
                    .filter_map(|c| c[1].parse().ok())
                    .collect();
                for d in docs {
                    ids_in_json(d, &word, &mut ids);
                }
                ids.sort_unstable();
                ids.dedup();
                for id in ids {
                    push(format!("{word}/{id}"), false);
                }
            }
            Spelling::Member(prefix) => {
                let re = Regex::new(&format!(r"\b{}-\d+\b", regex::escape(&prefix)))
                    .expect("built regex");
                let mut names: Vec<&str> = re.find_iter(text).map(|m| m.as_str()).collect();
                names.sort_by_key(|n| (n.len(), n.to_string()));
                names.dedup();
                for n in names {
                    push(n.to_string(), false);
                }
            }
            Spelling::Literal(word) => push(word, true),
        }
    }
    out
}

/// The compact answer's schema: `cause` restricted to the catalog and to `targets`,
/// `evidence` to `fact_ids`, the analysis and the action's string parameters bounded.
/// Keys are listed alphabetically, the order a server's grammar makes the model write
/// them in: the analysis comes first, so the cause follows from what it observed.
pub fn schema(catalog: Option<&CauseCatalog>, targets: &[String], fact_ids: &[String]) -> Value {
    let category = match catalog {
        Some(c) => json!({"type": "string", "enum": c.categories()}),
        None => json!({"type": "string", "maxLength": PARAM_MAX_CHARS}),
    };
    let target = if targets.is_empty() {
        json!({"type": "string", "maxLength": PARAM_MAX_CHARS})
    } else {
        json!({"type": "string", "enum": targets})
    };
    // No fact was sent (the evidence itself did not fit): nothing can be cited, and the
    // full answer's validation says so.
    let evidence = if fact_ids.is_empty() {
        json!({"type": "array", "items": {"type": "string"}, "maxItems": 0})
    } else {
        json!({
            "type": "array",
            "items": {"type": "string", "enum": fact_ids},
            "minItems": 1,
            "maxItems": MAX_CITED
        })
    };
    let actions: Vec<Value> = match catalog {
        Some(c) => c.actions().into_iter().map(action_schema).collect(),
        None => GENERIC_ACTIONS.iter().map(action_schema).collect(),
    };
    json!({
        "type": "object",
        "properties": {
            "analysis": {"type": "string", "maxLength": ANALYSIS_MAX_CHARS},
            "cause": {
                "type": "object",
                "properties": {"category": category, "target": target},
                "required": ["category", "target"],
                "additionalProperties": false
            },
            "confidence": {"type": "number"},
            "evidence": evidence,
            "recommended_action": {"anyOf": actions}
        },
        "required": ["analysis", "cause", "confidence", "evidence", "recommended_action"],
        "additionalProperties": false
    })
}

/// An action of the vocabulary as the compact answer writes it: kind and parameters,
/// string parameters bounded, no rationale (the analysis is the rationale).
fn action_schema(spec: &super::catalog::ActionSpec) -> Value {
    let mut s = CauseCatalog::action_schema(spec);
    if let Some(props) = s.pointer_mut("/properties/params/properties") {
        if let Some(m) = props.as_object_mut() {
            for p in m.values_mut() {
                if p.get("type") == Some(&json!("string")) && p.get("enum").is_none() {
                    p["maxLength"] = json!(PARAM_MAX_CHARS);
                }
            }
        }
    }
    if let Some(m) = s.get_mut("properties").and_then(Value::as_object_mut) {
        m.remove("rationale");
    }
    s["required"] = json!(["kind", "params"]);
    s
}

/// The full answer's JSON for a compact `answer`, after checking it against the compact
/// schema (a fact id or target the prompt did not offer is a schema violation there).
pub fn expand(answer: &Value, compact: &CompactAnswer) -> Result<Value, GroundError> {
    validate_against_schema(&compact.schema, answer, "")?;
    let analysis = answer["analysis"].as_str().unwrap_or_default().to_string();
    let mut ids: Vec<&str> = Vec::new();
    for id in answer["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let evidence: Vec<Value> = ids
        .iter()
        .filter_map(|id| compact.facts.iter().find(|f| f.id == *id))
        .map(|f| json!({"claim": f.text, "source": f.source}))
        .collect();
    let cause = &answer["cause"];
    let mut action = answer["recommended_action"].clone();
    action["rationale"] = json!(analysis);
    Ok(json!({
        "observation_summary": analysis,
        "root_cause": format!(
            "{} on {}",
            cause["category"].as_str().unwrap_or_default(),
            cause["target"].as_str().unwrap_or_default()
        ),
        "cause": cause,
        "other_causes": [],
        "hypotheses": [],
        "evidence": evidence,
        "options_considered": [],
        "recommended_action": action,
        "confidence": answer["confidence"],
        "would_change_conclusion": NOT_ASKED,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::catalog::TEST_CATALOG;

    fn facts() -> Vec<Fact> {
        let mut f = Facts::default();
        f.render_evidence(
            &json!({
                "observed_at": "t",
                "metrics": [{"series": "disk_used_ratio{node=\"3\"}", "value": 0.93, "at": "t"}],
                "logs": [{"source": "node-3", "line": "[FATAL] no space left"}],
                "events": [{"source": "node-3", "at": "t", "what": "die exitCode=1"}],
                "state": {"nodes": [{"id": 3, "up": false}], "leader": "node-1"}
            }),
            Some("node_state"),
        );
        f.facts
    }

    #[test]
    fn every_evidence_line_is_a_marked_fact_with_its_typed_citation() {
        let mut f = Facts::default();
        let text = f.render_evidence(
            &json!({
                "metrics": [{"series": "m{node=\"3\"}", "value": 7, "at": "t"}],
                "logs": [{"source": "node-3", "line": "boom"}],
                "state": {"nodes": [{"id": 3}], "leader": "node-1"}
            }),
            Some("node_state"),
        );
        assert!(
            text.contains("metrics @ t:\n  [F1] m{node=\"3\"} = 7\n"),
            "{text}"
        );
        assert!(text.contains("  [F2] [node-3] boom\n"), "{text}");
        assert!(text.contains("  [F3] leader: node-1\n"), "{text}");
        assert!(text.contains("  [F4] nodes[0]: id=3\n"), "{text}");
        let sources: Vec<&CitationRef> = f.facts.iter().map(|f| &f.source).collect();
        assert_eq!(
            sources,
            vec![
                &CitationRef::Metric {
                    series: "m{node=\"3\"}".into(),
                    value: 7.0
                },
                &CitationRef::Log {
                    line: "boom".into()
                },
                &CitationRef::state("node_state", "leader"),
                &CitationRef::state("node_state", "nodes.3"),
            ]
        );
        // Without a state citation kind the state is sent unmarked.
        let mut g = Facts::default();
        let text = g.render_evidence(&json!({"state": {"leader": "node-1"}}), None);
        assert!(text.contains("leader") && !text.contains("[F"), "{text}");
        assert!(g.facts.is_empty());
    }

    #[test]
    fn each_scrape_prints_its_instant_once_and_its_values_tersely() {
        let mut f = Facts::default();
        let text = f.render_evidence(
            &json!({
                "observed_at": "2026-12-06T12:16:02Z",
                "metrics": [
                    {"series": "p99{i=\"a\"}", "value": 0.18500734246575323, "at": "t1"},
                    {"series": "p99{i=\"b\"}", "value": 0.0106, "at": "t1"},
                    {"series": "p99{i=\"a\"}", "value": 0.19, "at": "t2"}
                ],
                "state": {"last_heartbeat_unix_nanos": 1796559322000000000u64, "available_bytes": 1073741824u64}
            }),
            Some("node_state"),
        );
        assert!(
            text.contains("metrics @ t1:\n  [F1] p99{i=\"a\"} = 0.185\n  [F2] p99{i=\"b\"} = 0.0106\nmetrics @ t2:\n  [F3] p99{i=\"a\"} = 0.19\n"),
            "{text}"
        );
        assert!(text.contains("  [F4] available_bytes: 1.0 GiB\n"), "{text}");
        assert!(
            text.contains("  [F5] last_heartbeat: 40 s before observed_at\n"),
            "{text}"
        );
        // The citation keeps the exact value and the observed path.
        assert_eq!(
            f.facts[0].source,
            CitationRef::Metric {
                series: "p99{i=\"a\"}".into(),
                value: 0.18500734246575323
            }
        );
        assert_eq!(
            f.facts[4].source,
            CitationRef::state("node_state", "last_heartbeat_unix_nanos".to_string())
        );
    }

    #[test]
    fn targets_are_the_entities_the_context_names_spelled_as_the_catalog_spells_them() {
        const TARGETS: &[crate::diagnose::catalog::TargetSpec] = &[
            crate::diagnose::catalog::TargetSpec {
                kind: "node",
                example: "node/3",
            },
            crate::diagnose::catalog::TargetSpec {
                kind: "member",
                example: "db-1",
            },
            crate::diagnose::catalog::TargetSpec {
                kind: "cluster",
                example: "cluster",
            },
        ];
        let catalog = CauseCatalog {
            targets: TARGETS,
            ..TEST_CATALOG
        };
        let text = "node 7 is slow; m{node=\"2\"} = 1; container eval-db-1 died; db-12 fine; node_count: 9";
        let state = json!({"nodes": [{"id": 5}, {"node": {"id": 6}}], "node_id": 4});
        let t = targets_in(Some(&catalog), "node/7", text, &[&state]);
        assert_eq!(
            t,
            vec!["node/7", "node/2", "node/4", "node/5", "node/6", "db-1", "db-12", "cluster"]
        );
        // No catalog: the ticket's target alone.
        assert_eq!(targets_in(None, "node/7", text, &[]), vec!["node/7"]);
    }

    fn compact() -> CompactAnswer {
        CompactAnswer::new(
            Some(&TEST_CATALOG),
            vec!["node/3".into(), "node/1".into()],
            facts(),
        )
    }

    fn answer() -> Value {
        json!({
            "analysis": "node 3 disk 93% full and its process died",
            "cause": {"category": "disk-slow", "target": "node/3"},
            "confidence": 0.7,
            "evidence": ["F1", "F2", "F1"],
            "recommended_action": {"kind": "drain-node", "params": {"node_id": 3, "mode": "soft"}}
        })
    }

    #[test]
    fn the_compact_schema_closes_the_cause_the_targets_and_the_fact_ids_and_bounds_the_text() {
        let c = compact();
        let s = &c.schema;
        assert_eq!(
            s["properties"]["cause"]["properties"]["category"]["enum"],
            json!(TEST_CATALOG.categories())
        );
        assert_eq!(
            s["properties"]["cause"]["properties"]["target"]["enum"],
            json!(["node/3", "node/1"])
        );
        assert_eq!(
            s["properties"]["evidence"]["items"]["enum"],
            json!(["F1", "F2", "F3", "F4", "F5"])
        );
        assert_eq!(s["properties"]["evidence"]["maxItems"], json!(MAX_CITED));
        assert_eq!(
            s["properties"]["analysis"]["maxLength"],
            json!(ANALYSIS_MAX_CHARS)
        );
        // Every free string is bounded: the answer has a length the grammar enforces.
        fn unbounded_strings(v: &Value, out: &mut Vec<String>) {
            if let Value::Object(m) = v {
                if m.get("type") == Some(&json!("string"))
                    && m.get("enum").is_none()
                    && m.get("const").is_none()
                    && m.get("maxLength").is_none()
                {
                    out.push(v.to_string());
                }
                m.values().for_each(|x| unbounded_strings(x, out));
            } else if let Value::Array(a) = v {
                a.iter().for_each(|x| unbounded_strings(x, out));
            }
        }
        let mut loose = vec![];
        unbounded_strings(s, &mut loose);
        assert!(loose.is_empty(), "{loose:?}");
        assert!(!s.to_string().contains("rationale"));
        let mut ok = answer();
        assert!(validate_against_schema(s, &ok, "").is_ok());
        ok["cause"]["target"] = json!("node/9");
        assert!(validate_against_schema(s, &ok, "").is_err());
    }

    #[test]
    fn a_compact_answer_expands_to_a_full_answer_that_passes_the_full_schema() {
        let full = expand(&answer(), &compact()).unwrap();
        let schema = crate::diagnose::model::diagnosis_output_schema_for(&TEST_CATALOG);
        let out = crate::diagnose::ground::parse_output(&full.to_string(), &schema).unwrap();
        assert_eq!(out.cause.category, "disk-slow");
        assert_eq!(out.cause.target, "node/3");
        assert_eq!(out.confidence, 0.7);
        assert_eq!(
            out.observation_summary,
            "node 3 disk 93% full and its process died"
        );
        assert_eq!(out.recommended_action.rationale, out.observation_summary);
        assert_eq!(
            out.recommended_action.kind.describe(),
            "drain-node mode=soft node_id=3"
        );
        // Cited ids become the facts' typed citations, each once.
        assert_eq!(out.evidence.len(), 2);
        assert_eq!(
            out.evidence[1].source,
            CitationRef::Log {
                line: "[FATAL] no space left".into()
            }
        );
        assert_eq!(out.evidence[1].claim, "[node-3] [FATAL] no space left");
        assert!(out.hypotheses.is_empty() && out.options_considered.is_empty());
        assert_eq!(out.would_change_conclusion, NOT_ASKED);
    }

    #[test]
    fn an_id_or_target_the_prompt_did_not_offer_is_a_schema_violation() {
        let mut a = answer();
        a["evidence"] = json!(["F9"]);
        assert!(matches!(
            expand(&a, &compact()),
            Err(GroundError::SchemaViolation { path, .. }) if path == "/evidence/0"
        ));
        let mut a = answer();
        a["cause"]["category"] = json!("meteor-strike");
        let e = expand(&a, &compact()).unwrap_err();
        assert_eq!(
            crate::diagnose::failure::ModelFailureKind::of_ground(&e),
            crate::diagnose::failure::ModelFailureKind::CauseOutsideCatalog
        );
        // A server that ignores the bounds does not get a longer answer through.
        let mut a = answer();
        a["analysis"] = json!("x".repeat(ANALYSIS_MAX_CHARS + 1));
        assert!(matches!(
            expand(&a, &compact()),
            Err(GroundError::SchemaViolation { path, .. }) if path == "/analysis"
        ));
        let mut a = answer();
        a["evidence"] = json!(["F1", "F2", "F3", "F4"]);
        assert!(expand(&a, &compact()).is_err());
    }

    #[test]
    fn the_answers_token_bound_covers_its_longest_text() {
        let c = compact();
        assert!(c.max_tokens as usize >= ANALYSIS_MAX_CHARS / 2 + PARAM_MAX_CHARS);
        assert!(c.max_tokens <= 512, "{}", c.max_tokens);
    }
}
