//! What an investigation did, as stored on the diagnosis: every call with its (redacted)
//! arguments and a one-line summary of its result, how the loop ended, and whether it
//! fell back to a single shot. The decision log, the ticket's timeline and
//! `tickets show` all read this record.

use crate::diagnose::model::Usage;
use serde::{Deserialize, Serialize};

/// How the answer was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The model called tools before answering.
    Investigated,
    /// One request, one answer: the server rejected tools, or the model answered
    /// without calling any. `single_shot_reason` says which.
    SingleShot,
}

/// What became of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// The tool answered.
    Ok,
    /// Refused by the loop: a tool not offered, an identical repeat, or arguments
    /// outside the tool's allow-list.
    Refused,
    /// The tool was run and failed (the system behind it did), or its arguments were
    /// invalid.
    Error,
}

/// One tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The model turn (1-based) that made it.
    pub step: u32,
    /// The tool's name, as the model wrote it.
    pub tool: String,
    /// The arguments as compact JSON, redacted.
    pub arguments: String,
    /// What became of it.
    pub outcome: CallOutcome,
    /// One line about the result (or why it was refused).
    pub summary: String,
    /// Bytes of the result before truncation.
    pub bytes: usize,
    /// Whether the result was cut to the per-call budget.
    #[serde(default)]
    pub truncated: bool,
    /// The call arrived as a JSON body in the message's text rather than as a
    /// structured tool call (small local models do this; see the engine's docs).
    #[serde(default)]
    pub from_text: bool,
}

impl CallRecord {
    /// `step 2 pd_get {"path":"stores"}: ok, 3 stores: …` — the line used by the
    /// timeline and the decision log.
    pub fn line(&self) -> String {
        let outcome = match self.outcome {
            CallOutcome::Ok => "ok",
            CallOutcome::Refused => "refused",
            CallOutcome::Error => "error",
        };
        let via = if self.from_text {
            " (call read from the message text)"
        } else {
            ""
        };
        format!(
            "step {} {} {}{via}: {outcome}, {}",
            self.step, self.tool, self.arguments, self.summary
        )
    }
}

/// The record of one investigation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Investigation {
    /// Investigated, or a single shot.
    pub mode: Mode,
    /// Why the loop fell back to a single shot, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_shot_reason: Option<String>,
    /// Model turns taken (the forced final answer included).
    pub steps: u32,
    /// The step budget.
    pub max_steps: u32,
    /// The tools offered.
    #[serde(default)]
    pub tools_offered: Vec<String>,
    /// Every call, in order.
    #[serde(default)]
    pub calls: Vec<CallRecord>,
    /// Set when the loop asked for the final answer without tools, and why (steps spent,
    /// token budget, repeated calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced_final: Option<String>,
    /// Identical calls refused.
    #[serde(default)]
    pub repeated_calls: u32,
    /// Estimated input tokens sent over all turns.
    #[serde(default)]
    pub estimated_input_tokens: usize,
    /// Input tokens the server reported over the turns that reported them (its prompt
    /// tokens, cached ones included). The token budget counts these where reported and
    /// the estimate only where not: a server's tokenizer, not the estimate, is what fills
    /// its context and what a bill counts.
    #[serde(default)]
    pub reported_input_tokens: usize,
    /// Tokens over all turns as the server reported them.
    #[serde(default)]
    pub usage: Usage,
}

impl Investigation {
    /// One line: "investigated in 4 steps, 5 calls (1 refused)" or "single shot: …".
    pub(crate) fn headline(&self) -> String {
        match self.mode {
            Mode::SingleShot => format!(
                "single shot, no investigation: {}",
                self.single_shot_reason
                    .as_deref()
                    .unwrap_or("no reason recorded")
            ),
            Mode::Investigated => {
                let refused = self
                    .calls
                    .iter()
                    .filter(|c| c.outcome == CallOutcome::Refused)
                    .count();
                let mut s = format!(
                    "investigated in {} of {} steps, {} tool call(s)",
                    self.steps,
                    self.max_steps,
                    self.calls.len()
                );
                if refused > 0 {
                    s.push_str(&format!(" ({refused} refused)"));
                }
                if let Some(f) = &self.forced_final {
                    s.push_str(&format!("; final answer forced: {f}"));
                }
                s
            }
        }
    }
}

/// A one-line summary of a tool result the tool did not summarize itself: its size, line
/// count and first non-empty line (cut to 120 characters).
pub(crate) fn summarize(text: &str) -> String {
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    let first: String = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(empty)")
        .chars()
        .take(120)
        .collect();
    format!("{} bytes, {lines} line(s): {first}", text.len())
}

/// `summary` made safe for one line: control characters (newlines included) become
/// spaces, and it is cut to 200 characters.
pub(crate) fn one_line(summary: &str) -> String {
    let s: String = summary
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    s.trim().to_string()
}
