//! Markdown rendering of a diagnosis for `operator tickets show N`.
//!
//! Plain Markdown (headings, lists, code spans) reads well both raw in a terminal and
//! rendered. Every model-written string is redacted and stripped of control characters
//! (no terminal escape sequences reach the user's terminal from a log line).

use super::model::{CitationRef, Diagnosis};
use super::redact::redact;

fn clean(s: &str) -> String {
    redact(s)
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect()
}

fn source(c: &CitationRef) -> String {
    match c {
        CitationRef::Metric { series, value } => format!(
            "metric `{}` = {}",
            clean(series),
            crate::tickets::render::format_value(*value)
        ),
        CitationRef::Entity { kind, id } => format!("{} {id}", clean(kind).replace('_', " ")),
        CitationRef::Log { line } => format!("log `{}`", clean(line).replace('`', "'")),
        CitationRef::Event { what } => format!("event \"{}\"", clean(what)),
        CitationRef::State { kind, path } => {
            format!("{} `{}`", clean(kind).replace('_', " "), clean(path))
        }
    }
}

/// The grounding line, with token counts and cost only when a model was paid for
/// (the offline rules engine uses none: no "0 tokens, $0.0000").
fn footer(d: &Diagnosis) -> String {
    let u = &d.usage;
    let mut line = format!(
        "_Grounding: {} citation(s) found in context, {} not found",
        d.grounding.grounded,
        d.grounding.ungrounded.len()
    );
    let tokens = u.input_tokens + u.output_tokens + u.cache_read + u.cache_creation;
    if tokens > 0 {
        line.push_str(&format!(
            ". Tokens: {} in, {} out, {} cache read, {} cache write",
            u.input_tokens, u.output_tokens, u.cache_read, u.cache_creation
        ));
        if u.cost_usd > 0.0 {
            line.push_str(&format!("; cost ${:.4}", u.cost_usd));
        }
    }
    format!("\n{line}._\n")
}

/// The "Investigation" section: how the model backend reached its answer (every tool
/// call and a one-line summary of its result), or that it answered in a single shot and
/// why. Empty for diagnoses made without an investigation loop.
fn investigation_section(d: &Diagnosis) -> String {
    let Some(inv) = &d.investigation else {
        return String::new();
    };
    let mut s = String::from("### Investigation\n\n");
    if d.model_failure.is_some() {
        s.push_str("_The configured model's investigation, before its answer failed:_\n\n");
    }
    s.push_str(&format!("{}.\n\n", clean(&inv.headline())));
    for c in &inv.calls {
        s.push_str(&format!("- {}\n", clean(&c.line()).replace('`', "'")));
    }
    if !inv.calls.is_empty() {
        s.push('\n');
    }
    s
}

/// Renders `d` as Markdown: an SRE's write-up (seen, decision, hypotheses for and
/// against, evidence, action with its runbook, what would change the conclusion).
pub fn render_markdown(d: &Diagnosis) -> String {
    use super::catalog::Verdict;
    let mut s = String::new();
    s.push_str(&format!(
        "## Diagnosis ({} / {}, confidence {:.0}%)\n\n",
        clean(&d.backend),
        clean(&d.model),
        d.confidence * 100.0
    ));
    s.push_str(&format!("**Seen.** {}\n\n", clean(&d.observation_summary)));
    let mut causes = format!("`{}`", clean(&d.cause.to_string()));
    for o in &d.other_causes {
        causes.push_str(&format!(" and, independently, `{}`", clean(&o.to_string())));
    }
    s.push_str(&format!(
        "**Decision.** {causes}: {}\n\n",
        clean(&d.root_cause)
    ));
    if !d.hypotheses.is_empty() {
        s.push_str("### Hypotheses\n\n");
        for h in &d.hypotheses {
            let verdict = match h.verdict {
                Verdict::RootCause => "root cause",
                Verdict::Undecided => "undecided",
                Verdict::Rejected => "rejected",
            };
            s.push_str(&format!(
                "- **{}** ({verdict})\n",
                clean(&h.cause.to_string())
            ));
            for f in &h.supporting {
                s.push_str(&format!("  - for: {}\n", clean(f)));
            }
            for f in &h.contradicting {
                s.push_str(&format!("  - against: {}\n", clean(f)));
            }
        }
        s.push('\n');
    }
    s.push_str(&investigation_section(d));
    s.push_str("### Evidence\n\n");
    for e in &d.evidence {
        let flag = if d.grounding.ungrounded.contains(&e.claim) {
            " **(not found in context)**"
        } else {
            ""
        };
        s.push_str(&format!(
            "- {} — {}{flag}\n",
            clean(&e.claim),
            source(&e.source)
        ));
    }
    if !d.options_considered.is_empty() {
        s.push_str("\n### Options considered\n\n");
        for o in &d.options_considered {
            s.push_str(&format!(
                "- {}: rejected, {}\n",
                clean(&o.option),
                clean(&o.why_not)
            ));
        }
    }
    s.push_str(&format!(
        "\n### Recommended action (not executed)\n\n`{}`\n\n**Rationale.** {}\n",
        clean(&d.recommended_action.kind.describe()),
        clean(&d.recommended_action.rationale)
    ));
    if let Some(r) = &d.runbook {
        s.push_str("\nTo do it by hand:\n\n```sh\n");
        for c in &r.commands {
            s.push_str(&clean(c));
            s.push('\n');
        }
        s.push_str("```\n\n");
        s.push_str(&format!(
            "**Check.** {}\n\n**Risk.** {}\n",
            clean(&r.check),
            clean(&r.risk)
        ));
    }
    s.push_str(&format!(
        "\n**Would change the conclusion:** {}\n",
        clean(&d.would_change_conclusion)
    ));
    s.push_str(&footer(d));
    if !d.context_cut.is_empty() {
        s.push_str("\n_Context cut to fit the budget:_\n");
        for c in &d.context_cut {
            s.push_str(&format!("- {}\n", clean(c)));
        }
    }
    s
}
