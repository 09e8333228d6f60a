//! `operator tickets list|show|ack|resolve`, `operator events` and `operator diagnose N`.
//!
//! sled allows one process per database, so while the controller runs it owns the
//! ticket store and these commands go through its HTTP API; when it does not run they
//! open the database directly ([`TicketAccess`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand};

use super::CliError;
use crate::diagnose::backend::{select_backend, BackendSettings};
use crate::diagnose::decision_log::DecisionLog;
use crate::diagnose::reconciler::{
    DiagnosisReconciler, MemoryQueue, NoExtraContext, ReconcilerConfig,
};
use crate::diagnose::store_queue::brief_of;
use crate::tickets::api::{TicketAccess, TicketsClient};
use crate::tickets::render::{render_events, render_list, render_ticket, OutputFormat};
use crate::tickets::{Severity, Status, TicketFilter, TicketStore};

/// Where the tickets are.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// The operator's state directory (used when the controller is not running).
    #[arg(
        long,
        default_value = ".operator",
        env = "OPERATOR_STATE_DIR",
        global = true
    )]
    pub state_dir: PathBuf,
    /// The running controller's API.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9464",
        env = "OPERATOR_API",
        global = true
    )]
    pub api: String,
    /// File whose first line is the API token for ack/resolve (when OPERATOR_API_TOKEN
    /// is not set).
    #[arg(long, env = "OPERATOR_API_TOKEN_FILE", global = true)]
    pub api_token_file: Option<PathBuf>,
    /// Output: table, json or yaml.
    #[arg(short = 'o', long, default_value = "table", global = true)]
    pub output: String,
}

/// `operator tickets ...`.
#[derive(Debug, Args)]
pub struct TicketsArgs {
    /// Where the tickets are.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The action.
    #[command(subcommand)]
    pub command: TicketsCommand,
}

/// Ticket actions.
#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// List tickets.
    List {
        /// Only these statuses (open, diagnosing, diagnosed, acknowledged, resolved).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// Only these severities (critical, warning, info).
        #[arg(long, value_delimiter = ',')]
        severity: Vec<String>,
        /// Only tickets seen within this long (e.g. 1h).
        #[arg(long, value_parser = super::parse_duration)]
        since: Option<Duration>,
    },
    /// Show one ticket: timeline, evidence and its diagnosis.
    Show {
        /// Ticket id.
        id: u64,
    },
    /// Acknowledge a ticket.
    Ack {
        /// Ticket id.
        id: u64,
        /// A note for the timeline.
        #[arg(long)]
        note: Option<String>,
    },
    /// Resolve a ticket by hand (with --cause: record the confirmed root cause, which
    /// later diagnoses draw on as history).
    Resolve {
        /// Ticket id.
        id: u64,
        /// A note for the timeline.
        #[arg(long)]
        note: Option<String>,
        /// The confirmed cause category (from the catalog).
        #[arg(long)]
        cause: Option<String>,
        /// The entity it was on (defaults to the diagnosed target, else the ticket's).
        #[arg(long, requires = "cause")]
        target: Option<String>,
    },
}

/// `operator events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Where the tickets are.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only events within this long (e.g. 30m).
    #[arg(long, value_parser = super::parse_duration)]
    pub since: Option<Duration>,
    /// At most this many events.
    #[arg(long)]
    pub limit: Option<usize>,
}

/// `operator diagnose N`.
#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// Where the tickets are.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Ticket id.
    pub id: u64,
    /// Which model diagnoses.
    #[command(flatten)]
    pub diagnosis: super::backend_args::BackendArgs,
}

fn format(s: &str) -> Result<OutputFormat, CliError> {
    s.parse().map_err(|e| CliError::Input(format!("{e}")))
}

pub(crate) async fn access(a: &StoreArgs) -> Result<TicketAccess, CliError> {
    let token = super::api_access::ApiToken::from_env_or_file(a.api_token_file.as_deref())?
        .map(|t| t.expose().to_owned());
    let client = TicketsClient::new(&a.api, token, Duration::from_secs(5))
        .map_err(|e| CliError::Input(e.to_string()))?;
    TicketAccess::connect(client, &a.state_dir.join("tickets"))
        .await
        .map_err(|e| CliError::Failed(e.to_string()))
}

fn parse_status(s: &str) -> Result<Status, CliError> {
    Ok(match s {
        "open" => Status::Open,
        "diagnosing" => Status::Diagnosing,
        "diagnosed" => Status::Diagnosed,
        "acknowledged" | "acked" => Status::Acknowledged,
        "resolved" => Status::Resolved,
        other => {
            return Err(CliError::Input(format!(
                "unknown status {other:?}; expected open, diagnosing, diagnosed, acknowledged or resolved"
            )))
        }
    })
}

fn parse_severity(s: &str) -> Result<Severity, CliError> {
    Ok(match s {
        "critical" => Severity::Critical,
        "warning" => Severity::Warning,
        "info" => Severity::Info,
        other => {
            return Err(CliError::Input(format!(
                "unknown severity {other:?}; expected critical, warning or info"
            )))
        }
    })
}

fn render_err(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

/// `operator tickets ...`.
pub async fn tickets(a: TicketsArgs) -> Result<(), CliError> {
    let fmt = format(&a.store.output)?;
    let now = SystemTime::now();
    match a.command {
        TicketsCommand::List {
            status,
            severity,
            since,
        } => {
            let filter = TicketFilter {
                statuses: status
                    .iter()
                    .map(|s| parse_status(s))
                    .collect::<Result<_, _>>()?,
                severities: severity
                    .iter()
                    .map(|s| parse_severity(s))
                    .collect::<Result<_, _>>()?,
                since: since.map(|d| now - d),
                ..TicketFilter::default()
            };
            let list = access(&a.store)
                .await?
                .list(&filter)
                .await
                .map_err(render_err)?;
            print!("{}", render_list(&list, fmt, now).map_err(render_err)?);
        }
        TicketsCommand::Show { id } => {
            let t = access(&a.store)
                .await?
                .get(id)
                .await
                .map_err(render_err)?
                .ok_or_else(|| CliError::Input(format!("ticket {id} does not exist")))?;
            print!("{}", render_ticket(&t, fmt, now).map_err(render_err)?);
            if fmt == OutputFormat::Table {
                let all = super::incidents::all_tickets(&access(&a.store).await?).await?;
                let incidents = super::incidents::incidents(&all);
                if let Some(i) = crate::tickets::incidents::incident_of(&incidents, id) {
                    if i.tickets.len() > 1 {
                        println!(
                            "\nPart of incident {} with ticket(s) {} (operator incidents show {}).",
                            i.id,
                            i.tickets
                                .iter()
                                .filter(|x| **x != id)
                                .map(u64::to_string)
                                .collect::<Vec<_>>()
                                .join(", "),
                            i.id
                        );
                    }
                }
                if let Some(d) = t.diagnosis.as_ref().and_then(|v| {
                    serde_json::from_value::<crate::diagnose::model::Diagnosis>(v.clone()).ok()
                }) {
                    println!();
                    print!("{}", crate::diagnose::render::render_markdown(&d));
                }
            }
        }
        TicketsCommand::Ack { id, note } => {
            let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            let t = access(&a.store)
                .await?
                .ack(id, &who, note.as_deref())
                .await
                .map_err(render_err)?;
            println!("ticket {} acknowledged", t.id);
        }
        TicketsCommand::Resolve {
            id,
            note,
            cause: None,
            ..
        } => {
            let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            let t = access(&a.store)
                .await?
                .resolve(id, &who, note.as_deref())
                .await
                .map_err(render_err)?;
            println!("ticket {} resolved", t.id);
        }
        TicketsCommand::Resolve {
            id,
            note,
            cause: Some(category),
            target,
        } => {
            let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            let acc = access(&a.store).await?;
            let t = acc
                .get(id)
                .await
                .map_err(render_err)?
                .ok_or_else(|| CliError::Input(format!("ticket {id} does not exist")))?;
            let target = target
                .or_else(|| {
                    crate::tickets::incidents::IncidentTicket::of(&t)
                        .cause
                        .map(|c| c.target)
                })
                .unwrap_or(t.target.clone());
            let cause = super::incidents::confirmed_cause(&category, &target)?;
            let t = acc
                .confirm_cause(id, &cause, &who, note.as_deref())
                .await
                .map_err(render_err)?;
            println!("ticket {} resolved; confirmed cause {cause}", t.id);
        }
    }
    Ok(())
}

/// `operator events`.
pub async fn events(a: EventsArgs) -> Result<(), CliError> {
    let fmt = format(&a.store.output)?;
    let since = a.since.map(|d| SystemTime::now() - d);
    let ev = access(&a.store)
        .await?
        .events(since, a.limit)
        .await
        .map_err(render_err)?;
    print!("{}", render_events(&ev, fmt).map_err(render_err)?);
    Ok(())
}

/// `operator diagnose N`: diagnoses one ticket now, with the configured backend (Claude
/// when a key is set, the offline rules engine otherwise), stores the diagnosis,
/// appends it to the decision log, and prints it.
pub async fn diagnose(a: DiagnoseArgs) -> Result<(), CliError> {
    let store = TicketStore::open(a.store.state_dir.join("tickets")).map_err(|e| {
        CliError::Failed(format!(
            "{e}; while `operator run` owns the ticket store it diagnoses open tickets itself — see `operator tickets show {}`",
            a.id
        ))
    })?;
    let t = store
        .get(a.id)
        .map_err(render_err)?
        .ok_or_else(|| CliError::Input(format!("ticket {} does not exist", a.id)))?;
    let settings = a.diagnosis.settings().map_err(CliError::Input)?;
    let backend = select_backend(&BackendSettings {
        reasoner: Some(crate::subject::tikv::hypotheses::reasoner()),
        ..settings
    })
    .map_err(render_err)?;
    let queue = Arc::new(MemoryQueue::new(vec![]));
    let rec = DiagnosisReconciler::new(
        backend,
        queue,
        Arc::new(NoExtraContext),
        ReconcilerConfig::default(),
    )
    .with_catalog(&crate::subject::tikv::catalog::CATALOG)
    .with_fallback(Arc::new(crate::subject::tikv::hypotheses::rules_backend(
        Default::default(),
    )))
    .with_runbooks(Arc::new(
        crate::subject::tikv::runbook::TikvRunbooks::default(),
    ))
    .with_decision_log(DecisionLog::new(a.store.state_dir.join("decisions.jsonl")));
    let d = rec
        .diagnose_brief(&brief_of(&t))
        .await
        .map_err(render_err)?;
    let value = serde_json::to_value(&d).map_err(render_err)?;
    let holder = "operator-diagnose-cli";
    let _ = store.try_lease(a.id, holder, Duration::from_secs(60));
    let _ = store.complete_diagnosis(a.id, holder, value);
    print!("{}", crate::diagnose::render::render_markdown(&d));
    Ok(())
}
