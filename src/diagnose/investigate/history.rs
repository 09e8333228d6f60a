//! The one tool the core supplies itself: the cluster's past tickets with their
//! diagnosed and (where a person confirmed it with `tickets resolve N --cause`) confirmed
//! causes, most similar first. It reads the same memory as the first context's
//! `similar_past_tickets` section, but lets the model ask for more of it, or for the
//! confirmed ones only.

use super::tools::{args, ToolError, ToolOutput, ToolSpec, Toolbox};
use crate::diagnose::context::select_similar;
use crate::diagnose::model::TicketBrief;
use crate::diagnose::reconciler::TicketQueue;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;

/// The tool's name.
pub(crate) const PAST_INCIDENTS: &str = "past_incidents";
/// The most past tickets one call returns.
pub(crate) const MAX_PAST: u64 = 10;

/// `past_incidents` over a ticket queue's memory.
#[derive(Clone)]
pub struct HistoryTools {
    queue: Arc<dyn TicketQueue>,
}

impl HistoryTools {
    /// The tool over `queue`'s past tickets.
    pub fn new(queue: Arc<dyn TicketQueue>) -> Self {
        Self { queue }
    }
}

#[async_trait]
impl Toolbox for HistoryTools {
    fn tools(&self) -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: PAST_INCIDENTS.into(),
            description: "Past tickets of this cluster that resemble this one, most similar first, with the root cause each was diagnosed with and, when a person confirmed it, the confirmed cause. History, not evidence about this ticket: use it to decide what to check.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "limit": {"type": "integer", "description": "How many (1-10, default 5)."},
                    "confirmed_only": {"type": "boolean", "description": "Only tickets whose cause a person confirmed."}
                },
                "additionalProperties": false
            }),
        }]
    }

    async fn call(
        &self,
        ticket: &TicketBrief,
        name: &str,
        a: &Value,
    ) -> Result<ToolOutput, ToolError> {
        if name != PAST_INCIDENTS {
            return Err(ToolError::Unknown(name.to_string()));
        }
        let limit = args::opt_u64(a, "limit")?.unwrap_or(5).clamp(1, MAX_PAST) as usize;
        let confirmed_only = a
            .get("confirmed_only")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut past = self.queue.similar(ticket).await;
        if confirmed_only {
            past.retain(|p| p.confirmed_cause.is_some());
        }
        let chosen = select_similar(ticket, &past, limit);
        if chosen.is_empty() {
            return Ok(ToolOutput::with_summary(
                "No similar past tickets.",
                "no similar past tickets",
            ));
        }
        let confirmed = chosen
            .iter()
            .filter(|p| p.confirmed_cause.is_some())
            .count();
        let mut text = String::from("HISTORY, NOT EVIDENCE about the current ticket.\n");
        for p in &chosen {
            text.push_str(&format!(
                "ticket {} [{} {}] {}\n  diagnosed root cause: {}\n  action: {}\n",
                p.id, p.invariant, p.target, p.summary, p.root_cause, p.action
            ));
            if let Some(c) = &p.confirmed_cause {
                text.push_str(&format!("  confirmed cause (by a person): {c}\n"));
            }
        }
        Ok(ToolOutput::with_summary(
            text,
            format!(
                "{} past ticket(s), {confirmed} with a confirmed cause",
                chosen.len()
            ),
        ))
    }
}
