//! Validation and grounding of a backend's answer.
//!
//! # Why
//!
//! A model can return JSON that parses but does not follow the schema (local models), a
//! confidence of 7, or a citation of a metric value it never saw. Parsing is therefore
//! strict — the JSON is first checked against the very schema that was sent
//! ([`validate_against_schema`]), then deserialized with unknown fields denied — and every
//! citation is looked up in the context that was actually sent. Ungrounded citations do not
//! fail the diagnosis; they are listed in [`GroundingReport::ungrounded`] so a reader knows
//! which claims to distrust.

use super::backend::RawDiagnosis;
use super::context::{unescape_untrusted, PreparedPrompt};
use super::model::{CitationRef, Diagnosis, DiagnosisOutput, GroundingReport};
use regex::Regex;
use serde_json::Value;

/// Validation failures.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum GroundError {
    /// The text is not JSON.
    #[error("the model's output is not valid JSON: {0}")]
    MalformedJson(String),
    /// The JSON does not follow the output schema.
    #[error("schema violation at {path}: {message}")]
    SchemaViolation {
        /// JSON pointer-like path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Confidence outside 0..=1 (or not finite).
    #[error("confidence {0} is outside 0..=1")]
    ConfidenceOutOfRange(f64),
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// Validates `v` against the JSON-schema subset used by structured outputs (`type`,
/// `properties`, `required`, `additionalProperties: false`, `items`, `minItems`, `anyOf`,
/// `const`, `enum`), and the bounds a grammar-constrained server enforces (`maxItems`,
/// `maxLength`, in characters).
pub(crate) fn validate_against_schema(
    schema: &Value,
    v: &Value,
    path: &str,
) -> Result<(), GroundError> {
    let err = |m: String| GroundError::SchemaViolation {
        path: if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
        message: m,
    };
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let mut last = None;
        for alt in any {
            match validate_against_schema(alt, v, path) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        // Report the most specific failure of the alternative whose `const` matched, if any.
        for alt in any {
            if let (Some(props), Some(obj)) = (
                alt.get("properties").and_then(Value::as_object),
                v.as_object(),
            ) {
                let consts_match = props.iter().all(|(k, p)| match p.get("const") {
                    Some(c) => obj.get(k) == Some(c),
                    None => true,
                });
                if consts_match && props.values().any(|p| p.get("const").is_some()) {
                    return validate_against_schema(alt, v, path);
                }
            }
        }
        return Err(last.unwrap_or_else(|| err("no alternative matched".into())));
    }
    if let Some(ty) = schema.get("type").and_then(Value::as_str) {
        if !type_matches(ty, v) {
            return Err(err(format!("expected {ty}, got {v}")));
        }
    }
    if let Some(c) = schema.get("const") {
        if v != c {
            return Err(err(format!("expected {c}, got {v}")));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return Err(err(format!(
                "{v} is not one of {}",
                Value::Array(e.clone())
            )));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(req) = schema.get("required").and_then(Value::as_array) {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(err(format!("missing required property {r}")));
                }
            }
        }
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate_against_schema(ps, val, &format!("{path}/{k}"))?,
                None => {
                    if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                        return Err(err(format!("unexpected property {k}")));
                    }
                }
            }
        }
    }
    if let (Some(s), Some(max)) = (v.as_str(), schema.get("maxLength").and_then(Value::as_u64)) {
        if s.chars().count() as u64 > max {
            return Err(err(format!("longer than {max} characters")));
        }
    }
    if let Some(arr) = v.as_array() {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if (arr.len() as u64) < min {
                return Err(err(format!("needs at least {min} items")));
            }
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if arr.len() as u64 > max {
                return Err(err(format!("has more than {max} items")));
            }
        }
        if let Some(items) = schema.get("items") {
            for (i, it) in arr.iter().enumerate() {
                validate_against_schema(items, it, &format!("{path}/{i}"))?;
            }
        }
    }
    Ok(())
}

/// Parses the model's JSON strictly into a [`DiagnosisOutput`].
///
/// # Guarantees
/// Returns `Ok` only if the text is JSON, follows `schema` exactly (no extra properties),
/// deserializes, and has a finite confidence in 0..=1.
pub(crate) fn parse_output(text: &str, schema: &Value) -> Result<DiagnosisOutput, GroundError> {
    let v: Value =
        serde_json::from_str(text.trim()).map_err(|e| GroundError::MalformedJson(e.to_string()))?;
    validate_against_schema(schema, &v, "")?;
    let out: DiagnosisOutput =
        serde_json::from_value(v).map_err(|e| GroundError::SchemaViolation {
            path: "/".into(),
            message: e.to_string(),
        })?;
    if !out.confidence.is_finite() || !(0.0..=1.0).contains(&out.confidence) {
        return Err(GroundError::ConfidenceOutOfRange(out.confidence));
    }
    Ok(out)
}

fn numbers_in(line: &str) -> Vec<f64> {
    static NUM: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re =
        NUM.get_or_init(|| Regex::new(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?").expect("static regex"));
    re.find_iter(line)
        .filter_map(|m| m.as_str().parse().ok())
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 + 0.01 * a.abs().max(b.abs())
}

/// `name{k="v",…}` → (name, [`k="v"`…]).
fn split_series(series: &str) -> (String, Vec<String>) {
    match series.split_once('{') {
        Some((name, rest)) => {
            let labels = rest
                .trim_end_matches('}')
                .split(',')
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            (name.trim().to_string(), labels)
        }
        None => (series.trim().to_string(), vec![]),
    }
}

fn metric_grounded(ctx: &str, series: &str, value: f64) -> bool {
    let (name, labels) = split_series(series);
    ctx.lines().any(|line| {
        let series_here = line.contains(series.trim())
            || (!name.is_empty()
                && line.contains(&name)
                && labels.iter().all(|l| line.contains(l.as_str())));
        if !series_here {
            return false;
        }
        // Only numbers after the series text count as the value.
        let after = line
            .find(series.trim())
            .map(|i| &line[i + series.trim().len()..])
            .or_else(|| line.find('}').map(|i| &line[i + 1..]))
            .unwrap_or(line);
        numbers_in(after).into_iter().any(|n| close(n, value))
    })
}

fn id_grounded(ctx: &str, word: &str, id: u64) -> bool {
    let re = Regex::new(&format!(
        r#"(?i)\b{word}(?:_id|s)?[\s/=:"'\-#]*(?:id[\s=:"']*)?{id}\b"#
    ))
    .expect("built regex");
    re.is_match(ctx)
}

fn resolve_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    let mut parent = "";
    for seg in path.split(['.', '/']).filter(|s| !s.is_empty()) {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) => {
                let n: u64 = seg.parse().ok()?;
                // An id match first (`stores.4` = the store with id 4, also as a record
                // `{store: {id: 4}}`), else an index.
                let nested = format!("/{}/id", parent.strip_suffix('s').unwrap_or(parent));
                a.iter()
                    .find(|e| {
                        e.get("id").and_then(Value::as_u64) == Some(n)
                            || e.pointer(&nested).and_then(Value::as_u64) == Some(n)
                    })
                    .or_else(|| a.get(n as usize))?
            }
            _ => return None,
        };
        parent = seg;
    }
    Some(cur)
}

/// Whether the evidence's state lists an entity of `kind` with `id` (`stores: [{id: 4}]`,
/// or `{store: {id: 4}}` records as PD writes them).
fn state_has_entity(state: &Value, kind: &str, id: u64) -> bool {
    state
        .get(format!("{kind}s"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter().any(|s| {
                s.get("id").and_then(Value::as_u64) == Some(id)
                    || s.pointer(&format!("/{kind}/id")).and_then(Value::as_u64) == Some(id)
            })
        })
        .unwrap_or(false)
}

/// Whether `path` resolves in the state section named `section` as sent (a ticket about
/// one member carries that member's record only; the cluster's view comes from the
/// latest snapshot). A section cut from the prompt does not count.
fn sent_state(prompt: &PreparedPrompt, section: &str, path: &str) -> bool {
    let dropped = |name: &str| {
        prompt
            .context_cut
            .iter()
            .any(|c| c.starts_with(&format!("section '{name}'")) && c.contains("dropped"))
    };
    prompt
        .facts
        .iter()
        .filter(|s| (s.name == section && !dropped(&s.name)) || s.name.starts_with("tool:"))
        .filter_map(|s| serde_json::from_str::<Value>(&s.content).ok())
        .any(|v| resolve_path(&v, path).is_some())
}

/// Checks one citation against what was sent.
pub(crate) fn citation_grounded(prompt: &PreparedPrompt, source: &CitationRef) -> bool {
    let ctx = &prompt.sent_context;
    let state = prompt
        .ticket
        .evidence
        .get("state")
        .cloned()
        .unwrap_or(Value::Null);
    let quoted = |s: &str| {
        let t = s.trim();
        let u = unescape_untrusted(t);
        t.len() >= 4 && (ctx.contains(t) || ctx.contains(u.as_str()))
    };
    match source {
        CitationRef::Metric { series, value } => metric_grounded(ctx, series, *value),
        CitationRef::Entity { kind, id } => {
            state_has_entity(&state, kind, *id)
                || id_grounded(ctx, kind, *id)
                || crate::diagnose::model::Target::parse(&prompt.ticket.target)
                    == crate::diagnose::model::Target::Entity {
                        kind: kind.clone(),
                        id: *id,
                    }
        }
        CitationRef::Log { line } => quoted(line),
        CitationRef::Event { what } => {
            quoted(what)
                || prompt
                    .ticket
                    .timeline
                    .iter()
                    .any(|(_, t)| t.contains(what.trim()))
        }
        CitationRef::State { kind, path } => {
            let p = path
                .trim_start_matches("state.")
                .trim_start_matches(&format!("{kind}."));
            resolve_path(&state, p).is_some() || sent_state(prompt, kind, p)
        }
    }
}

/// Grounds every citation of `out` in `prompt`.
pub fn ground(prompt: &PreparedPrompt, out: &DiagnosisOutput) -> GroundingReport {
    let mut r = GroundingReport::default();
    for c in &out.evidence {
        if citation_grounded(prompt, &c.source) {
            r.grounded += 1;
        } else {
            r.ungrounded.push(c.claim.clone());
        }
    }
    r
}

/// The prompt as grounding sees it after an investigation: the tool results the model
/// read (`(tool, text)`, redacted and cut as sent) are part of its context, so a citation
/// of one is evidence; JSON results also resolve PD-state paths. Anything in neither the
/// first context nor a tool result stays ungrounded.
pub fn with_tool_results(prompt: &PreparedPrompt, seen: &[(String, String)]) -> PreparedPrompt {
    let mut p = prompt.clone();
    for (tool, text) in seen {
        p.sent_context.push_str(text);
        p.sent_context.push('\n');
        p.facts.push(super::model::ContextSection {
            name: format!("tool:{tool}"),
            relevance: 0,
            content: text.clone(),
        });
    }
    p
}

/// Parses an answer to `prompt` strictly into a [`DiagnosisOutput`], and says whether it
/// was a compact one. A prompt that asked for the compact answer
/// ([`crate::diagnose::compact`]) reads an answer without `observation_summary` as
/// compact: checked against the compact schema, expanded, then checked against the full
/// schema like any other. A full answer (a model that ignored the request, the rules
/// engine answering as the fallback) is read as full.
pub(crate) fn parse_answer(
    prompt: &PreparedPrompt,
    text: &str,
) -> Result<(DiagnosisOutput, bool), GroundError> {
    if let Some(compact) = &prompt.compact {
        let v: Value = serde_json::from_str(text.trim())
            .map_err(|e| GroundError::MalformedJson(e.to_string()))?;
        if v.get("observation_summary").is_none() {
            let full = super::compact::expand(&v, compact)?;
            return Ok((parse_output(&full.to_string(), &prompt.schema)?, true));
        }
    }
    Ok((parse_output(text, &prompt.schema)?, false))
}

/// Parses, validates and grounds a raw answer into a stored [`Diagnosis`]. A diagnosis
/// from a compact answer says so in its `context_cut`.
pub fn finalize(
    prompt: &PreparedPrompt,
    raw: &RawDiagnosis,
    backend: &str,
) -> Result<Diagnosis, GroundError> {
    let (out, compact) = parse_answer(prompt, &raw.json_text)?;
    let grounding = ground(prompt, &out);
    let mut cut = prompt.context_cut.clone();
    if compact {
        cut.push(super::compact::COMPACT_NOTE.to_string());
    }
    Ok(Diagnosis::assemble(
        out,
        grounding,
        backend,
        &raw.model,
        raw.usage.clone(),
        cut,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::catalog::TEST_CATALOG;
    use crate::diagnose::model::diagnosis_output_schema_for;
    use serde_json::json;

    /// The schema of the core's test subject (see [`TEST_CATALOG`]).
    fn schema() -> Value {
        diagnosis_output_schema_for(&TEST_CATALOG)
    }

    fn valid() -> Value {
        json!({
            "observation_summary": "store 4 Disconnected",
            "root_cause": "container died",
            "cause": {"category": "disk-slow", "target": "node/4"},
            "other_causes": [],
            "hypotheses": [],
            "evidence": [{"claim": "c", "source": {"kind": "node", "id": 4}}],
            "options_considered": [{"option": "partition", "why_not": "exited"}],
            "recommended_action": {"kind": "restart-container", "params": {"member": "tikv-1"}, "rationale": "r"},
            "confidence": 0.8,
            "would_change_conclusion": "container running"
        })
    }

    #[test]
    fn a_valid_answer_parses() {
        let o = parse_output(&valid().to_string(), &schema()).unwrap();
        assert_eq!(o.recommended_action.kind.name(), "restart-container");
    }

    #[test]
    fn malformed_json_is_a_typed_error() {
        let e = parse_output("{\"observation_summary\": ", &schema()).unwrap_err();
        assert!(matches!(e, GroundError::MalformedJson(_)));
    }

    #[test]
    fn extra_properties_and_unknown_actions_are_rejected() {
        let mut v = valid();
        v["extra"] = json!(1);
        assert!(matches!(
            parse_output(&v.to_string(), &schema()),
            Err(GroundError::SchemaViolation { .. })
        ));
        // In a subject's vocabulary (what a model is sent), an action outside it, or an
        // extra parameter, is a schema violation.
        let subject = schema();
        let base = valid();
        assert!(parse_output(&base.to_string(), &subject).is_ok());
        let mut v = base.clone();
        v["recommended_action"] =
            json!({"kind": "shell", "params": {"cmd": "docker rm -f tikv-1"}, "rationale": "x"});
        assert!(matches!(
            parse_output(&v.to_string(), &subject),
            Err(GroundError::SchemaViolation { .. })
        ));
        let mut v = base.clone();
        v["evidence"][0]["source"] = json!({"kind": "store", "id": 4});
        assert!(parse_output(&v.to_string(), &subject).is_err());
        let mut v = base;
        v["recommended_action"]["params"] = json!({"member": "tikv-1", "command": "rm"});
        let e = parse_output(&v.to_string(), &subject).unwrap_err();
        assert!(e.to_string().contains("command"), "{e}");
    }

    #[test]
    fn confidence_outside_the_unit_interval_is_rejected() {
        let mut v = valid();
        v["confidence"] = json!(1.5);
        assert_eq!(
            parse_output(&v.to_string(), &schema()).unwrap_err(),
            GroundError::ConfidenceOutOfRange(1.5)
        );
    }

    #[test]
    fn metric_values_ground_within_tolerance_only() {
        let ctx = "  tikv_store_size_bytes{store=\"4\",type=\"available\"} = 1073741824 @ t\n";
        assert!(metric_grounded(
            ctx,
            "tikv_store_size_bytes{store=\"4\",type=\"available\"}",
            1073741824.0
        ));
        assert!(metric_grounded(
            ctx,
            "tikv_store_size_bytes{type=\"available\",store=\"4\"}",
            1.07e9
        ));
        assert!(!metric_grounded(
            ctx,
            "tikv_store_size_bytes{store=\"4\",type=\"available\"}",
            5e9
        ));
        assert!(!metric_grounded(
            ctx,
            "tikv_store_size_bytes{store=\"5\",type=\"available\"}",
            1073741824.0
        ));
    }

    #[test]
    fn ids_ground_in_common_spellings() {
        assert!(id_grounded("store 4 is down", "store", 4));
        assert!(id_grounded("target store/4", "store", 4));
        assert!(id_grounded("{store=\"4\"}", "store", 4));
        assert!(id_grounded("region_id=12", "region", 12));
        assert!(!id_grounded("store 44", "store", 4));
    }
}
