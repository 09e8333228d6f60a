//! `operator incidents list|show N|resolve N --cause C`: tickets grouped by shared cause
//! (see [`crate::tickets::incidents`]), with TiKV's causal links, and
//! `operator tickets resolve N --cause C` (the confirmed cause memory draws on).

use std::time::SystemTime;

use clap::{Args, Subcommand};

use super::tickets::StoreArgs;
use super::CliError;
use crate::diagnose::catalog::Cause;
use crate::tickets::api::TicketAccess;
use crate::tickets::incidents::{group, Incident, IncidentTicket, DEFAULT_WINDOW};
use crate::tickets::render::{render_incident, render_incidents, OutputFormat};
use crate::tickets::{Ticket, TicketFilter};

/// `operator incidents ...`.
#[derive(Debug, Args)]
pub struct IncidentsArgs {
    /// Where the tickets are.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The action.
    #[command(subcommand)]
    pub command: IncidentsCommand,
}

/// Incident actions.
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents.
    List,
    /// Show one incident: cause, why its tickets were grouped, its tickets and the
    /// diagnosis that names its cause.
    Show {
        /// Incident id (its first ticket's id).
        id: u64,
    },
    /// Record the confirmed root cause of every ticket of an incident and resolve them.
    Resolve {
        /// Incident id.
        id: u64,
        /// The confirmed cause category (from the catalog).
        #[arg(long)]
        cause: String,
        /// The entity it was on (defaults to the incident's diagnosed target).
        #[arg(long)]
        target: Option<String>,
        /// A note for the timelines.
        #[arg(long)]
        note: Option<String>,
    },
}

/// Every ticket, with its diagnosis.
pub(crate) async fn all_tickets(access: &TicketAccess) -> Result<Vec<Ticket>, CliError> {
    let list = access.list(&TicketFilter::default()).await?;
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        if let Some(t) = access.get(s.id).await? {
            out.push(t);
        }
    }
    Ok(out)
}

/// The incidents of `tickets`.
pub(crate) fn incidents(tickets: &[Ticket]) -> Vec<Incident> {
    let facts: Vec<IncidentTicket> = tickets.iter().map(IncidentTicket::of).collect();
    group(
        &facts,
        &crate::subjects::AllLinks::default(),
        DEFAULT_WINDOW,
    )
}

/// A confirmed cause from the command line, checked against a registered subject's
/// catalog (the ticket store holds tickets of any subject).
pub(crate) fn confirmed_cause(category: &str, target: &str) -> Result<Cause, CliError> {
    let subjects = crate::subjects::DIAGNOSIS;
    if !subjects.iter().any(|d| d.catalog.accepts(category)) {
        let mut all: Vec<&str> = subjects
            .iter()
            .flat_map(|d| d.catalog.categories())
            .collect();
        all.dedup();
        let mut seen = std::collections::HashSet::new();
        all.retain(|c| seen.insert(*c));
        return Err(CliError::Input(format!(
            "unknown cause {category:?}; expected one of {}",
            all.join(", ")
        )));
    }
    Ok(Cause::new(category, target))
}

/// `operator incidents ...`.
pub(crate) async fn run(a: IncidentsArgs) -> Result<(), CliError> {
    let fmt: OutputFormat = a.store.output.output.tickets();
    // The token (OPERATOR_API_TOKEN) is read for `resolve`, which changes tickets.
    let token = super::tickets::TokenArgs {
        api_token_file: None,
    };
    let access = super::tickets::access(&a.store, Some(&token)).await?;
    let tickets = all_tickets(&access).await?;
    let incidents = incidents(&tickets);
    let now = SystemTime::now();
    let find = |id: u64| {
        incidents
            .iter()
            .find(|i| i.id == id)
            .cloned()
            .ok_or_else(|| CliError::Input(format!("incident {id} does not exist")))
    };
    match a.command {
        IncidentsCommand::List => {
            print!("{}", render_incidents(&incidents, fmt, now)?);
        }
        IncidentsCommand::Show { id } => {
            let inc = find(id)?;
            let members: Vec<Ticket> = tickets
                .iter()
                .filter(|t| inc.tickets.contains(&t.id))
                .cloned()
                .collect();
            print!("{}", render_incident(&inc, &members, fmt, now)?);
            if fmt.is_human() {
                // The diagnosis that names the incident's cause covers its tickets.
                let d = members.iter().find_map(|t| {
                    let d: crate::diagnose::model::Diagnosis =
                        serde_json::from_value(t.diagnosis.clone()?).ok()?;
                    (Some(&d.cause) == inc.cause.as_ref() || inc.cause.is_none()).then_some(d)
                });
                if let Some(d) = d {
                    println!();
                    print!("{}", crate::diagnose::render::render_markdown(&d));
                }
            }
        }
        IncidentsCommand::Resolve {
            id,
            cause,
            target,
            note,
        } => {
            let inc = find(id)?;
            let target = target
                .or_else(|| inc.cause.as_ref().map(|c| c.target.clone()))
                .ok_or_else(|| {
                    CliError::Input(format!(
                        "incident {id} has no diagnosed target: name it with --target"
                    ))
                })?;
            let cause = confirmed_cause(&cause, &target)?;
            let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            for t in &inc.tickets {
                access
                    .confirm_cause(*t, &cause, &who, note.as_deref())
                    .await?;
            }
            println!(
                "incident {id} resolved: {cause} confirmed on ticket(s) {}",
                inc.tickets
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(())
}
