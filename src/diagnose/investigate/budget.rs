//! The investigation's budgets: model turns, bytes per tool result, input tokens, and
//! how many repeated calls are tolerated before the loop stops offering tools.
//!
//! # Why these limits
//!
//! A step costs a whole model turn (the conversation is re-sent each time), so steps
//! bound latency and cost together: 12 by default, 30 at most, which the issue fixes. A
//! tool result is cut to a byte budget (PD's `/regions` or a log can be megabytes; the
//! model's context window is not), and the cut is said in the result so the model knows
//! to narrow its query. The token budget is the sum over turns of the input tokens,
//! the figure a bill is made of: counted as each server reported it (its prompt tokens),
//! the estimate only for a turn that reported none and for the turn about to be sent.

use serde::{Deserialize, Serialize};

/// Default model turns with tools.
pub(crate) const DEFAULT_STEPS: u32 = 12;
/// The most turns any configuration gets.
pub(crate) const MAX_STEPS: u32 = 30;
/// Default bytes of one tool result shown to the model.
pub(crate) const DEFAULT_OUTPUT_BYTES: usize = 6_000;
/// Default total input tokens over the whole investigation (estimated before each turn).
pub(crate) const DEFAULT_INPUT_TOKENS: usize = 200_000;
/// Identical calls refused before the loop asks for the final answer.
pub(crate) const DEFAULT_REPEATS_TOLERATED: u32 = 2;

/// The limits of one investigation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Model turns that may call tools (1..=[`MAX_STEPS`]).
    pub max_steps: u32,
    /// Bytes of one tool result shown to the model.
    pub max_output_bytes: usize,
    /// Estimated input tokens over all turns.
    pub max_input_tokens: usize,
    /// Identical calls refused before the investigation is ended.
    pub repeats_tolerated: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            max_steps: DEFAULT_STEPS,
            max_output_bytes: DEFAULT_OUTPUT_BYTES,
            max_input_tokens: DEFAULT_INPUT_TOKENS,
            repeats_tolerated: DEFAULT_REPEATS_TOLERATED,
        }
    }
}

impl Budget {
    /// The default budget with `steps` turns, clamped to 1..=[`MAX_STEPS`].
    pub fn with_steps(steps: u32) -> Self {
        Self {
            max_steps: steps.clamp(1, MAX_STEPS),
            ..Self::default()
        }
    }

    /// The same budget with its fields brought into range (steps 1..=30, at least 256
    /// bytes per result, at least 1 000 tokens).
    pub(crate) fn clamped(mut self) -> Self {
        self.max_steps = self.max_steps.clamp(1, MAX_STEPS);
        self.max_output_bytes = self.max_output_bytes.max(256);
        self.max_input_tokens = self.max_input_tokens.max(1_000);
        self
    }
}

/// Cuts `text` to at most `max` bytes (on a character boundary, at a line end when one
/// is near) and says so at the end. Returns the text and whether it was cut.
pub(crate) fn truncate_output(text: &str, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text.to_string(), false);
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    // Prefer a whole line when the last newline is in the last quarter.
    if let Some(nl) = text[..end].rfind('\n') {
        if nl >= end * 3 / 4 {
            end = nl;
        }
    }
    (
        format!(
            "{}\n[output truncated: {} of {} bytes shown; narrow the query to see the rest]",
            &text[..end],
            end,
            text.len()
        ),
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_clamped_to_thirty_and_at_least_one() {
        assert_eq!(Budget::with_steps(100).max_steps, MAX_STEPS);
        assert_eq!(Budget::with_steps(0).max_steps, 1);
        assert_eq!(Budget::default().max_steps, 12);
    }

    #[test]
    fn a_long_output_is_cut_on_a_char_boundary_and_says_so() {
        let text = "é".repeat(1000);
        let (cut, truncated) = truncate_output(&text, 101);
        assert!(truncated);
        assert!(
            cut.contains("output truncated: 100 of 2000 bytes shown"),
            "{cut}"
        );
        let (same, t) = truncate_output("short", 100);
        assert_eq!((same.as_str(), t), ("short", false));
    }

    #[test]
    fn a_cut_prefers_a_line_end() {
        let text = format!("{}\n{}", "a".repeat(90), "b".repeat(50));
        let (cut, _) = truncate_output(&text, 100);
        assert!(
            cut.starts_with(&"a".repeat(90)) && !cut.contains("bb"),
            "{cut}"
        );
    }
}
