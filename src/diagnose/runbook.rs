//! Runbooks: what a person types to carry out a recommended action, how they check it
//! worked, and what it risks.
//!
//! # Why the subject writes them
//!
//! A recommendation such as `evict-leader store 5` is a label; the person on call needs
//! the exact command for their tools (PD's API, `docker`, an `operator apply` after a
//! named spec edit). Those commands belong to the subject (PD's endpoints, container
//! names), so the core only carries the [`Runbook`] and asks a [`RunbookSource`] the
//! binary wires in. Nothing here is ever executed by the operator.

use serde::{Deserialize, Serialize};

use super::model::{ActionKind, ContextSection, TicketBrief};

/// How to carry out one action by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    /// Commands to copy, in order.
    pub commands: Vec<String>,
    /// The check that shows it worked.
    pub check: String,
    /// What it risks.
    pub risk: String,
}

/// Writes runbooks for a subject's actions.
pub trait RunbookSource: Send + Sync {
    /// The runbook of `action` for the ticket `brief`, with the context that was gathered
    /// (addresses, container names); `None` when there is nothing to run (wait, look).
    fn runbook(
        &self,
        action: &ActionKind,
        brief: &TicketBrief,
        facts: &[ContextSection],
    ) -> Option<Runbook>;
}
