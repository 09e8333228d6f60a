//! The investigation loop: a model backend diagnoses a ticket by calling read-only tools
//! (PD's API, Prometheus, container logs and state, the cluster's past incidents) before
//! it answers, instead of answering once from a fixed context.
//!
//! # Flow
//!
//! ```text
//! PreparedPrompt ──▶ engine::investigate
//!     step 1..=max_steps: ToolChat::turn(conversation, tools offered)
//!        ├─ tool calls ──▶ allow-list, repeat check ──▶ Toolbox::call (read-only)
//!        │                 ──▶ redact ──▶ truncate ──▶ <untrusted_data> ──▶ next turn
//!        └─ no call ──▶ the answer (step 1: recorded as a single shot)
//!     budget spent (steps, input tokens, repeated calls) ──▶ one turn without tools:
//!        "answer now" ──▶ the answer (recorded as forced)
//!     the server rejects tools on step 1 ──▶ the backend's single shot (recorded)
//! ──▶ RawDiagnosis + Investigation record + the tool results the model saw
//! ──▶ ground::with_tool_results (citations of tool results are evidence)
//! ```
//!
//! # Why this shape
//!
//! - **Subject-free.** The core defines the port ([`tools::Toolbox`]); each subject
//!   supplies its tools (the TiKV toolbox names PD paths and PromQL, the core never
//!   does). The past-incidents tool is the core's own ([`history::HistoryTools`]): the
//!   ticket store is generic.
//! - **Read-only by construction.** A toolbox only has `tools()` and `call()`, which
//!   return text; the subjects' implementations hold read-only handles (GET-only
//!   clients, the runtime's `readonly::ContainerReader`; this module never names the
//!   runtime). A call to a tool that was not offered is refused before any toolbox
//!   sees it.
//! - **Tool output is data.** Every result is redacted, cut to the per-call byte budget
//!   (saying so), and wrapped in an escaped `<untrusted_data>` block, exactly like the
//!   first context: text inside cannot close the block or become an instruction, and the
//!   loop's own decisions (what to call, when to stop) never read it.
//! - **Budgets are the loop's, not the model's.** Steps (default 12, at most 30), bytes
//!   per tool result, total input tokens; an identical call is refused (the model is
//!   told, and the refusal is counted as a model failure kind); when a budget runs out
//!   the model is asked for its final answer with no tools.
//! - **Everything is recorded** ([`record::Investigation`]): each call, its arguments
//!   (redacted) and a one-line summary of its result, whether the loop fell back to a
//!   single shot and why. The reconciler stores it on the diagnosis, the decision log
//!   and the ticket's timeline; `tickets show` renders it.

pub mod budget;
pub mod chat;
pub mod engine;
pub mod history;
pub mod record;
pub mod tools;

pub use budget::Budget;
pub(crate) use chat::{Call, ModelTurn, ToolChat, Turn};
pub(crate) use engine::investigate;
pub use history::HistoryTools;
pub use record::{CallOutcome, CallRecord, Investigation, Mode};
pub use tools::{ToolError, ToolOutput, ToolSpec, Toolbox, Toolboxes};
