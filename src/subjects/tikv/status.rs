//! `operator status` and the rendering of plans: the cluster the way
//! `tiup cluster display` shows it, with the container's state beside PD's.

use std::fmt::Write as _;

use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use serde::Serialize;

use super::cli::TikvCommands;
use super::model::{PdView, StoreState};
use super::plan::Step;
use super::topology::{Names, PD_CLIENT_PORT};
use crate::cli::{output, CliError, Env, OutputFormat, StatusArgs};
use crate::reconcile::Plan;
use crate::runtime::{labels, ContainerStatus, Owned};
use crate::spec::{self, ValidationContext};

/// One row of the status table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Row {
    /// Container name or PD address.
    pub id: String,
    /// `pd`, `tikv`, `prometheus`, `grafana`.
    pub role: String,
    /// Advertised address.
    pub address: String,
    /// Docker state (`running`, `exited(137)`, `-` when not managed here).
    pub container: String,
    /// PD's state (`Up|L`, `Up`, `Disconnected`, `Offline`, `Tombstone`, `N/A`).
    pub state: String,
    /// Store id.
    pub store_id: Option<u64>,
    /// Leaders.
    pub leaders: Option<u64>,
    /// Regions.
    pub regions: Option<u64>,
    /// Capacity, bytes.
    pub capacity: Option<u64>,
    /// Available, bytes.
    pub available: Option<u64>,
}

/// The whole status document (`-o json`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StatusDoc {
    /// Cluster name, when known.
    pub cluster: Option<String>,
    /// PD endpoint that answered.
    pub pd_endpoint: Option<String>,
    /// Why PD's view is missing.
    pub pd_error: Option<String>,
    /// PD leader.
    pub pd_leader: Option<String>,
    /// The cluster's state directory (tickets, decisions, experiments), when known.
    pub state_dir: Option<String>,
    /// Whether that directory exists yet (`operator run` creates it).
    pub state_exists: bool,
    /// Rows.
    pub members: Vec<Row>,
}

fn container_state(status: ContainerStatus, exit: Option<i64>) -> String {
    match status {
        ContainerStatus::Running => "running".into(),
        ContainerStatus::Exited => format!("exited({})", exit.unwrap_or(-1)),
        ContainerStatus::Created => "created".into(),
        ContainerStatus::Paused => "paused".into(),
        ContainerStatus::Restarting => "restarting".into(),
        ContainerStatus::Removing => "removing".into(),
        ContainerStatus::Dead => "dead".into(),
    }
}

/// Builds the status rows from owned containers (may be empty) and PD's view.
pub(crate) fn build(cluster: Option<&str>, owned: &Owned, pd: Option<&PdView>) -> Vec<Row> {
    let mut rows = Vec::new();
    let names = cluster.map(Names::new);
    let mut seen_members = std::collections::BTreeSet::new();
    let mut seen_stores = std::collections::BTreeSet::new();
    let mut containers: Vec<_> = owned.containers.iter().collect();
    containers.sort_by_key(|c| {
        let order = match c.label(labels::COMPONENT) {
            Some("pd") => 0,
            Some("tikv") => 1,
            _ => 2,
        };
        (
            order,
            c.label(labels::ORDINAL)
                .and_then(|o| o.parse::<u32>().ok())
                .unwrap_or(0),
            c.name.clone(),
        )
    });
    for c in containers {
        let role = c.label(labels::COMPONENT).unwrap_or("?").to_string();
        let member = c.label(labels::MEMBER).unwrap_or("").to_string();
        let mut row = Row {
            id: c.name.clone(),
            role: role.clone(),
            address: String::new(),
            container: container_state(c.status, c.exit_code),
            state: "-".into(),
            store_id: None,
            leaders: None,
            regions: None,
            capacity: None,
            available: None,
        };
        match role.as_str() {
            "pd" => {
                row.address = format!("{}:{PD_CLIENT_PORT}", c.name);
                if let Some(v) = pd {
                    seen_members.insert(member.clone());
                    row.state = match v.members.iter().find(|m| m.name == member) {
                        None => "N/A".into(),
                        Some(m) => {
                            let up = match m.healthy {
                                Some(false) => "Down",
                                _ => "Up",
                            };
                            if v.leader.as_deref() == Some(member.as_str()) {
                                format!("{up}|L")
                            } else {
                                up.into()
                            }
                        }
                    };
                }
            }
            "tikv" => {
                let ordinal = c
                    .label(labels::ORDINAL)
                    .and_then(|o| o.parse().ok())
                    .unwrap_or(0);
                row.address = names
                    .as_ref()
                    .map(|n| n.tikv_address(ordinal))
                    .unwrap_or_default();
                if let Some(v) = pd {
                    match v.store_by_address(&row.address) {
                        Some(s) => {
                            seen_stores.insert(s.id);
                            fill_store(&mut row, s);
                        }
                        None => row.state = "N/A".into(),
                    }
                }
            }
            _ => {}
        }
        rows.push(row);
    }
    // Members and stores PD knows that have no container here (`--pd` on a cluster
    // this operator did not create, or containers removed by hand).
    if let Some(v) = pd {
        for m in &v.members {
            if seen_members.contains(&m.name) {
                continue;
            }
            let leader = v.leader.as_deref() == Some(m.name.as_str());
            rows.push(Row {
                id: m.name.clone(),
                role: "pd".into(),
                address: m.client_urls.first().cloned().unwrap_or_default(),
                container: "-".into(),
                state: match (m.healthy, leader) {
                    (Some(false), _) => "Down".into(),
                    (_, true) => "Up|L".into(),
                    _ => "Up".into(),
                },
                store_id: None,
                leaders: None,
                regions: None,
                capacity: None,
                available: None,
            });
        }
        for s in &v.stores {
            if seen_stores.contains(&s.id) {
                continue;
            }
            let mut row = Row {
                id: s.address.clone(),
                role: "tikv".into(),
                address: s.address.clone(),
                container: "-".into(),
                state: String::new(),
                store_id: None,
                leaders: None,
                regions: None,
                capacity: None,
                available: None,
            };
            fill_store(&mut row, s);
            rows.push(row);
        }
    }
    rows
}

fn fill_store(row: &mut Row, s: &super::model::Store) {
    row.state = match s.state {
        StoreState::Offline => "Pending Offline".into(),
        other => other.name().into(),
    };
    row.store_id = Some(s.id);
    row.leaders = Some(s.leader_count);
    row.regions = Some(s.region_count);
    row.capacity = Some(s.capacity_bytes);
    row.available = Some(s.available_bytes);
}

/// Formats bytes like PD does (binary units, 4 significant digits).
pub(crate) fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    // Go's "%.4g": 4 significant digits, trailing zeros trimmed.
    let int_digits = if v < 1.0 {
        1
    } else {
        (v.log10().floor() as usize) + 1
    };
    let prec = 4usize.saturating_sub(int_digits);
    let mut s = format!("{v:.prec$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[i])
}

/// Renders the status table.
pub(crate) fn render(doc: &StatusDoc) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Cluster: {}   PD: {}   PD leader: {}",
        doc.cluster.as_deref().unwrap_or("-"),
        doc.pd_endpoint.as_deref().unwrap_or("unreachable"),
        doc.pd_leader.as_deref().unwrap_or("-")
    );
    if let Some(dir) = &doc.state_dir {
        let _ = writeln!(
            out,
            "State: {dir}{}",
            if doc.state_exists {
                ""
            } else {
                " (not created yet: `operator run` creates it)"
            }
        );
    }
    if let Some(e) = &doc.pd_error {
        let _ = writeln!(out, "PD: {e}");
    }
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(vec![
        "ID",
        "Role",
        "Address",
        "Container",
        "Status",
        "Store",
        "Leaders",
        "Regions",
        "Capacity",
        "Available",
    ]);
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    let bytes = |v: Option<u64>| v.map(human_bytes).unwrap_or_else(|| "-".into());
    for r in &doc.members {
        t.add_row(vec![
            r.id.clone(),
            r.role.clone(),
            r.address.clone(),
            r.container.clone(),
            r.state.clone(),
            opt(r.store_id),
            opt(r.leaders),
            opt(r.regions),
            bytes(r.capacity),
            bytes(r.available),
        ]);
    }
    let _ = writeln!(out, "{t}");
    out
}

/// Renders a plan for `operator diff`.
pub(crate) fn render_plan(plan: &Plan<Step>, pd_error: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(e) = pd_error {
        let _ = writeln!(out, "PD: {e}");
    }
    if plan.steps.is_empty() {
        let _ = writeln!(out, "No changes: nothing to do now.");
    } else {
        let _ = writeln!(
            out,
            "Plan ({} steps, applied one at a time with a fresh observation before each):",
            plan.steps.len()
        );
        for (i, s) in plan.steps.iter().enumerate() {
            let _ = writeln!(out, "  {:>2}. {s}", i + 1);
        }
    }
    for w in &plan.waits {
        let _ = writeln!(out, "waiting: {w}");
    }
    for r in &plan.refusals {
        let _ = writeln!(out, "refused: {r}");
    }
    for f in &plan.faults {
        let _ = writeln!(out, "fault: {}: {}", f.target, f.detail);
    }
    out
}

/// `operator status`.
pub(crate) async fn run(tikv: &TikvCommands, env: &Env, a: StatusArgs) -> Result<(), CliError> {
    let doc = match &a.file {
        Some(file) => {
            let loaded = spec::load_file(file, ValidationContext { new_cluster: false })?;
            let state = crate::cli::state::for_cluster(a.state_dir.as_deref(), loaded.spec.name())?;
            let rt = (env.runtime)().await?;
            let mut s = super::subject::TikvSubject::new(
                loaded.spec.clone(),
                None,
                rt,
                tikv.pd_factory.clone(),
            );
            if !a.pd.is_empty() {
                s = s.with_pd_endpoints(a.pd.clone());
            }
            let obs = crate::subject::Subject::observe(&s).await?;
            StatusDoc {
                cluster: Some(loaded.spec.name().to_string()),
                pd_endpoint: obs.pd.as_ref().map(|v| v.endpoint.clone()),
                pd_error: obs.pd_error.clone(),
                pd_leader: obs.pd.as_ref().and_then(|v| v.leader.clone()),
                state_dir: Some(state.path.display().to_string()),
                state_exists: state.exists(),
                members: build(Some(loaded.spec.name()), &obs.owned, obs.pd.as_ref()),
            }
        }
        None if !a.pd.is_empty() => {
            let client = (tikv.pd_factory)(a.pd.clone());
            // Nothing but PD to show: when it does not answer, say why in one line
            // rather than printing an empty table.
            let pd = match client.observe().await {
                Ok(pd) => pd,
                Err(e) => {
                    let mut lines = Vec::new();
                    for url in &a.pd {
                        lines.push(crate::cli::reach::explain("PD", url, &pd_cause(&e)).await);
                    }
                    return Err(CliError::Unreachable(lines));
                }
            };
            StatusDoc {
                cluster: None,
                pd_endpoint: Some(pd.endpoint.clone()),
                pd_error: None,
                pd_leader: pd.leader.clone(),
                state_dir: a.state_dir.as_ref().map(|p| p.display().to_string()),
                state_exists: a.state_dir.as_ref().is_some_and(|p| p.is_dir()),
                members: build(None, &Owned::default(), Some(&pd)),
            }
        }
        None => {
            return Err(CliError::Input(
                "status needs -f cluster.yaml or --pd URL".into(),
            ))
        }
    };
    match a.output.output {
        OutputFormat::Table | OutputFormat::Wide => print!("{}", render(&doc)),
        OutputFormat::Name => print!(
            "{}",
            doc.members
                .iter()
                .map(|r| format!("{}/{}\n", r.role, r.id))
                .collect::<String>()
        ),
        fmt => print!("{}", output::structured(&doc, fmt)?),
    }
    Ok(())
}

/// PD's client error when the address listens: an answer that is not PD's API is said
/// so; anything else is PD's own error.
pub(crate) fn pd_cause(e: &str) -> String {
    let lower = e.to_ascii_lowercase();
    if [
        "decode",
        "expected",
        "404",
        "missing field",
        "not found",
        "invalid type",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        "the server answered, but it is not a PD server (no PD API at /pd/api/v1/members)".into()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_formatted_like_pd_formats_them() {
        assert_eq!(human_bytes(0), "0B");
        assert_eq!(human_bytes(1024), "1KiB");
        assert_eq!(human_bytes(1081101176832), "1007GiB");
        assert_eq!(
            human_bytes((845.1 * 1024.0 * 1024.0 * 1024.0) as u64),
            "845.1GiB"
        );
    }
}
