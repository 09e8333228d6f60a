//! `operator tickets list|show|ack|resolve`, `operator events` and `operator diagnose N`.
//!
//! sled allows one process per database, so while the controller runs it owns the
//! ticket store and these commands go through its HTTP API; when it does not run they
//! open the database directly ([`TicketAccess`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand};

use super::output::{self, OutputArgs, OutputFormat};
use super::state::StateArgs;
use super::CliError;
use crate::diagnose::backend::{select_backend, BackendSettings};
use crate::diagnose::decision_log::DecisionLog;
use crate::diagnose::reconciler::{
    DiagnosisReconciler, MemoryQueue, NoExtraContext, ReconcilerConfig,
};
use crate::diagnose::store_queue::brief_of;
use crate::tickets::api::{AccessError, ClientError, TicketAccess, TicketsClient};
use crate::tickets::render::{render_events, render_list, render_ticket};
use crate::tickets::{Severity, Status, TicketFilter, TicketStore};

/// Where the tickets are, and how to print them: the same flags on every tickets
/// command.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// Which cluster and where its state and controller are.
    #[command(flatten)]
    pub state: StateArgs,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The API token, for the commands that change tickets.
#[derive(Debug, Args, Clone)]
pub struct TokenArgs {
    /// File whose first line is the API token (when OPERATOR_API_TOKEN is not set).
    #[arg(long, env = "OPERATOR_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,
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
        /// The API token.
        #[command(flatten)]
        token: TokenArgs,
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
        /// The API token.
        #[command(flatten)]
        token: TokenArgs,
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

/// The running controller's API when it answers, else the cluster's ticket database.
/// A database that does not exist is not created (read-only commands create nothing).
pub(crate) async fn access(
    a: &StoreArgs,
    token: Option<&TokenArgs>,
) -> Result<TicketAccess, CliError> {
    let token = match token {
        Some(t) => super::api_access::ApiToken::from_env_or_file(t.api_token_file.as_deref())?
            .map(|t| t.expose().to_owned()),
        None => None,
    };
    let client = TicketsClient::new(&a.state.api, token, Duration::from_secs(5))
        .map_err(|e| CliError::Input(e.to_string()))?;
    let state = match a.state.resolve() {
        Ok(s) => s,
        // No cluster named and none found: the controller may still answer.
        Err(e) => {
            return match client.ping().await {
                Ok(()) => Ok(TicketAccess::Remote(client)),
                Err(_) => Err(e),
            }
        }
    };
    if !state.tickets().is_dir() {
        return match client.ping().await {
            Ok(()) => Ok(TicketAccess::Remote(client)),
            Err(_) => Err(state.missing()),
        };
    }
    Ok(TicketAccess::connect(client, &state.tickets()).await?)
}

/// A ticket that does not exist is bad input (exit 2) however it was asked for.
fn access_err(e: AccessError) -> CliError {
    match e {
        AccessError::Client(ClientError::NotFound(id)) => not_found(id),
        AccessError::Store(crate::tickets::StoreError::NotFound(id)) => not_found(id),
        other => CliError::Tickets(other),
    }
}

fn not_found(id: u64) -> CliError {
    CliError::Input(format!("ticket {id} does not exist"))
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

/// `operator tickets ...`.
pub(crate) async fn tickets(a: TicketsArgs) -> Result<(), CliError> {
    let fmt = a.store.output.output;
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
            let list = access(&a.store, None)
                .await?
                .list(&filter)
                .await
                .map_err(access_err)?;
            match fmt {
                OutputFormat::Name => {
                    print!(
                        "{}",
                        output::names("ticket", list.iter().map(|t| t.as_ref().id.to_string()))
                    )
                }
                OutputFormat::Json | OutputFormat::Yaml => {
                    let summaries: Vec<_> = list.iter().map(|t| t.as_ref()).collect();
                    print!("{}", output::structured(&summaries, fmt)?)
                }
                _ => print!("{}", render_list(&list, fmt.tickets(), now)?),
            }
        }
        TicketsCommand::Show { id } => {
            let t = access(&a.store, None)
                .await?
                .get(id)
                .await
                .map_err(access_err)?
                .ok_or_else(|| not_found(id))?;
            match fmt {
                OutputFormat::Name => println!("ticket/{}", t.id),
                OutputFormat::Json | OutputFormat::Yaml => {
                    print!("{}", output::structured(&t, fmt)?)
                }
                _ => {
                    print!("{}", render_ticket(&t, fmt.tickets(), now)?);
                    print!("{}", diagnosis_section(t.diagnosis.as_ref()));
                    let all = super::incidents::all_tickets(&access(&a.store, None).await?).await?;
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
                }
            }
        }
        TicketsCommand::Ack { id, note, token } => {
            let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            let t = access(&a.store, Some(&token))
                .await?
                .ack(id, &who, note.as_deref())
                .await
                .map_err(access_err)?;
            println!("ticket {} acknowledged", t.id);
        }
        TicketsCommand::Resolve {
            id,
            note,
            cause: None,
            token,
            ..
        } => {
            let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            let t = access(&a.store, Some(&token))
                .await?
                .resolve(id, &who, note.as_deref())
                .await
                .map_err(access_err)?;
            println!("ticket {} resolved", t.id);
        }
        TicketsCommand::Resolve {
            id,
            note,
            cause: Some(category),
            target,
            token,
        } => {
            let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            let acc = access(&a.store, Some(&token)).await?;
            let t = acc
                .get(id)
                .await?
                .ok_or_else(|| CliError::Input(format!("ticket {id} does not exist")))?;
            let target = target
                .or_else(|| {
                    crate::tickets::incidents::IncidentTicket::of(&t)
                        .cause
                        .map(|c| c.target)
                })
                .unwrap_or(t.target.clone());
            let cause = super::incidents::confirmed_cause(&category, &target)?;
            let t = acc.confirm_cause(id, &cause, &who, note.as_deref()).await?;
            println!("ticket {} resolved; confirmed cause {cause}", t.id);
        }
    }
    Ok(())
}

/// The one human rendering of a stored diagnosis (the diagnose module's renderer); a
/// diagnosis this build cannot read is pointed at, not dumped.
pub(crate) fn diagnosis_section(d: Option<&serde_json::Value>) -> String {
    let Some(v) = d else {
        return String::new();
    };
    match serde_json::from_value::<crate::diagnose::model::Diagnosis>(v.clone()) {
        Ok(d) => format!("\n{}", crate::diagnose::render::render_markdown(&d)),
        Err(_) => {
            "\nDiagnosis: stored in a form this version cannot render; see it with -o json\n".into()
        }
    }
}

/// `operator events`.
pub(crate) async fn events(a: EventsArgs) -> Result<(), CliError> {
    let fmt = a.store.output.output;
    let since = a.since.map(|d| SystemTime::now() - d);
    let ev = access(&a.store, None)
        .await?
        .events(since, a.limit)
        .await
        .map_err(access_err)?;
    match fmt {
        OutputFormat::Name => print!(
            "{}",
            output::names("ticket", ev.iter().map(|e| e.ticket_id.to_string()))
        ),
        OutputFormat::Json | OutputFormat::Yaml => print!("{}", output::structured(&ev, fmt)?),
        _ => print!("{}", render_events(&ev, fmt.tickets())?),
    }
    Ok(())
}

/// `operator diagnose N`: diagnoses one ticket now, with the configured backend (Claude
/// when a key is set, the offline rules engine otherwise), stores the diagnosis,
/// appends it to the decision log, and prints it.
pub(crate) async fn diagnose(a: DiagnoseArgs, env: &super::Env) -> Result<(), CliError> {
    let state = a.store.state.resolve()?;
    if !state.tickets().is_dir() {
        return Err(state.missing());
    }
    let store = TicketStore::open(state.tickets())
        .map_err(|source| CliError::DiagnoseStoreBusy { id: a.id, source })?;
    let t = store.get(a.id)?.ok_or_else(|| not_found(a.id))?;
    let settings = a.diagnosis.settings().map_err(CliError::Input)?;
    let investigation = settings.investigation.clone();
    // The ticket's subject picks the vocabulary, the reasoning and the runbooks.
    let subject = crate::subjects::diagnosis(&t.subject);
    let backend = select_backend(&BackendSettings {
        reasoner: Some((subject.reasoner)()),
        ..settings
    })?;
    let fallback = Arc::new(crate::diagnose::backend::rules::RulesBackend::new(
        Default::default(),
        (subject.reasoner)(),
    ));
    let queue = Arc::new(MemoryQueue::new(vec![]));
    let mut rec = DiagnosisReconciler::new(
        backend,
        queue,
        Arc::new(NoExtraContext),
        ReconcilerConfig::default(),
    )
    .with_catalog(subject.catalog)
    .with_fallback(fallback)
    .with_decision_log(DecisionLog::new(state.path.join("decisions.jsonl")));
    if let Some(runbooks) = subject.runbooks {
        rec = rec.with_runbooks(runbooks(None));
    }
    // A model backend investigates with the subject's read-only tools (containers through
    // the runtime's read-only view) and the ticket memory; without a runtime or a cluster
    // record it still has the memory.
    let rec = match investigation {
        Some(budget) => {
            let mut boxes: Vec<Arc<dyn crate::diagnose::investigate::Toolbox>> = vec![Arc::new(
                crate::diagnose::investigate::HistoryTools::new(Arc::new(
                    crate::diagnose::store_queue::StoreQueue::new(Arc::new(store.clone())),
                )),
            )];
            if let (Some(tools), Some(record)) = (subject.tools, state.record()) {
                let reader = (env.runtime)()
                    .await
                    .ok()
                    .map(crate::runtime::readonly::ContainerReader::new);
                boxes.insert(0, tools(&record.name, &record.network, reader));
            }
            rec.with_investigation(
                Arc::new(crate::diagnose::investigate::Toolboxes(boxes)),
                budget,
            )
        }
        None => rec,
    };
    let d = rec.diagnose_brief(&brief_of(&t)).await?;
    let value = serde_json::to_value(&d).map_err(CliError::EncodeJson)?;
    let holder = "operator-diagnose-cli";
    let _ = store.try_lease(a.id, holder, Duration::from_secs(60));
    let _ = store.complete_diagnosis(a.id, holder, value);
    match a.store.output.output {
        OutputFormat::Name => println!("ticket/{}", a.id),
        OutputFormat::Json | OutputFormat::Yaml => {
            print!("{}", output::structured(&d, a.store.output.output)?)
        }
        _ => print!("{}", crate::diagnose::render::render_markdown(&d)),
    }
    Ok(())
}
