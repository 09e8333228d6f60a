//! Rendering tickets and events for the terminal (`-o table|json|yaml`).
//!
//! Tables are for people (ages instead of timestamps, one line per ticket, summaries
//! truncated); JSON and YAML are for scripts and carry the full records with RFC 3339
//! times. Rendering takes `now` explicitly so ages are deterministic in tests.

use std::fmt::Write as _;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;

use super::model::{format_time, Evidence, Ticket, TicketEvent, TicketSummary};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Human table / detailed view.
    #[default]
    Table,
    /// The human table with every column and nothing truncated (`-o wide`).
    Wide,
    /// JSON (pretty).
    Json,
    /// YAML.
    Yaml,
}

impl FromStr for OutputFormat {
    type Err = RenderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "table" | "text" => Ok(Self::Table),
            "wide" => Ok(Self::Wide),
            "json" => Ok(Self::Json),
            "yaml" | "yml" => Ok(Self::Yaml),
            other => Err(RenderError::UnknownFormat(other.to_string())),
        }
    }
}

impl OutputFormat {
    /// True for the formats people read (`table`, `wide`).
    pub(crate) fn is_human(self) -> bool {
        matches!(self, Self::Table | Self::Wide)
    }

    /// Text cut to `width` characters in a table, whole in a wide one.
    fn cut(self, s: &str, width: usize) -> String {
        if self == Self::Wide {
            s.to_string()
        } else {
            truncate(s, width)
        }
    }
}

/// Rendering errors.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// `-o` value not understood.
    #[error("unknown output format {0:?}: expected table, json or yaml")]
    UnknownFormat(String),
    /// JSON encoding failed.
    #[error("cannot encode as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// YAML encoding failed.
    #[error("cannot encode as YAML: {0}")]
    Yaml(#[from] yaml_serde::Error),
}

const SUMMARY_WIDTH: usize = 80;

fn structured<T: Serialize + ?Sized>(v: &T, fmt: OutputFormat) -> Result<String, RenderError> {
    match fmt {
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(v)?;
            s.push('\n');
            Ok(s)
        }
        OutputFormat::Yaml => Ok(yaml_serde::to_string(v)?),
        OutputFormat::Table | OutputFormat::Wide => {
            unreachable!("tables are rendered by the callers")
        }
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    t
}

/// `5s`, `3m`, `2h`, `4d` (the largest whole unit).
pub(crate) fn age(now: SystemTime, then: SystemTime) -> String {
    let d = now.duration_since(then).unwrap_or_default().as_secs();
    match d {
        0..=119 => format!("{d}s"),
        120..=7199 => format!("{}m", d / 60),
        7200..=172_799 => format!("{}h", d / 3600),
        _ => format!("{}d", d / 86_400),
    }
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A list of tickets.
pub fn render_list<T: AsRef<TicketSummary>>(
    tickets: &[T],
    fmt: OutputFormat,
    now: SystemTime,
) -> Result<String, RenderError> {
    if !fmt.is_human() {
        let refs: Vec<&TicketSummary> = tickets.iter().map(AsRef::as_ref).collect();
        return structured(&refs, fmt);
    }
    if tickets.is_empty() {
        return Ok("No tickets.\n".to_string());
    }
    let wide = fmt == OutputFormat::Wide;
    let mut header = vec![
        "ID",
        "SEVERITY",
        "STATUS",
        "INVARIANT",
        "TARGET",
        "AGE",
        "LAST SEEN",
        "COUNT",
    ];
    if wide {
        header.extend(["SUBJECT", "FIRST SEEN", "RESOLVED", "DIAGNOSED"]);
    }
    header.push("SUMMARY");
    let mut t = table(&header);
    for s in tickets.iter().map(AsRef::as_ref) {
        let status = if s.reopened_count > 0 {
            format!("{} (reopened {}x)", s.status, s.reopened_count)
        } else {
            s.status.to_string()
        };
        let mut row = vec![
            s.id.to_string(),
            s.severity.to_string(),
            status,
            s.invariant.clone(),
            s.target.clone(),
            age(now, s.first_seen),
            format!("{} ago", age(now, s.last_seen)),
            s.occurrences.to_string(),
        ];
        if wide {
            row.extend([
                s.subject.clone(),
                format_time(s.first_seen),
                s.resolved_at.map(format_time).unwrap_or_else(|| "-".into()),
                if s.diagnosed { "yes" } else { "no" }.to_string(),
            ]);
        }
        row.push(fmt.cut(&s.summary, SUMMARY_WIDTH));
        t.add_row(row);
    }
    Ok(trim_lines(&t.to_string()))
}

/// One ticket in detail: header, timeline, evidence and diagnosis.
pub fn render_ticket(
    t: &Ticket,
    fmt: OutputFormat,
    now: SystemTime,
) -> Result<String, RenderError> {
    if !fmt.is_human() {
        return structured(t, fmt);
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Ticket #{}  {}  [{}] {}",
        t.id, t.dedupe_key, t.severity, t.status
    );
    let _ = writeln!(o, "Summary:     {}", t.summary);
    let _ = writeln!(o, "Subject:     {}", t.subject);
    let _ = writeln!(o, "Invariant:   {}", t.invariant);
    let _ = writeln!(o, "Target:      {}", t.target);
    let _ = writeln!(
        o,
        "First seen:  {} ({} ago)",
        format_time(t.first_seen),
        age(now, t.first_seen)
    );
    let _ = writeln!(
        o,
        "Last seen:   {} ({} ago)",
        format_time(t.last_seen),
        age(now, t.last_seen)
    );
    let _ = writeln!(o, "Occurrences: {}", t.occurrences);
    let _ = writeln!(o, "Grace:       {}", humantime::format_duration(t.grace));
    if t.reopened_count > 0 {
        let _ = writeln!(o, "Reopened:    {} time(s)", t.reopened_count);
    }
    if let Some(r) = t.resolved_at {
        let _ = writeln!(o, "Resolved:    {} ({} ago)", format_time(r), age(now, r));
    }
    if let Some(l) = &t.lease {
        let left = l.until.duration_since(now).unwrap_or(Duration::ZERO);
        let _ = writeln!(
            o,
            "Lease:       {} until {} ({}s left)",
            l.holder,
            format_time(l.until),
            left.as_secs()
        );
    }

    let _ = writeln!(o, "\nTimeline:");
    let mut tl = table(&["AT", "EVENT", "DETAIL"]);
    for e in &t.timeline {
        tl.add_row(vec![
            format_time(e.at),
            e.kind.to_string(),
            e.detail.clone(),
        ]);
    }
    o.push_str(&indent(&trim_lines(&tl.to_string())));

    let _ = writeln!(
        o,
        "\nEvidence (latest, observed {}):",
        format_time(t.evidence.observed_at)
    );
    o.push_str(&render_evidence(&t.evidence));
    if t.first_evidence != t.evidence {
        let _ = writeln!(
            o,
            "\nEvidence (first, observed {}):",
            format_time(t.first_evidence.observed_at)
        );
        o.push_str(&render_evidence(&t.first_evidence));
    }

    // The diagnosis is rendered by the caller with the diagnose module's renderer (one
    // human rendering); its JSON is under `-o json`.
    Ok(o)
}

fn render_evidence(e: &Evidence) -> String {
    let mut o = String::new();
    if !e.metrics.is_empty() {
        let _ = writeln!(o, "  Metrics:");
        let mut t = table(&["SERIES", "VALUE", "AT"]);
        for m in &e.metrics {
            t.add_row(vec![
                m.series.clone(),
                format_value(m.value),
                format_time(m.at),
            ]);
        }
        o.push_str(&indent(&indent(&trim_lines(&t.to_string()))));
    }
    if !e.state.is_null() {
        let _ = writeln!(o, "  State:");
        let text = serde_json::to_string_pretty(&rounded(&e.state)).unwrap_or_default();
        o.push_str(&indent(&indent(&text)));
    }
    if !e.events.is_empty() {
        let _ = writeln!(o, "  Events:");
        for ev in &e.events {
            let _ = writeln!(o, "    {}  {}  {}", format_time(ev.at), ev.source, ev.what);
        }
    }
    if !e.logs.is_empty() {
        let _ = writeln!(o, "  Logs:");
        for l in &e.logs {
            let _ = writeln!(o, "    {}  {}", l.source, l.line);
        }
    }
    if o.is_empty() {
        o.push_str("  (none)\n");
    }
    o
}

/// A JSON document with every fractional number rounded as [`format_value`] rounds it,
/// for people: the state a ticket carries is free-form (a subject's own snapshot), so
/// its numbers arrive with every digit the computation left (`0.30000000000000004`).
/// Only the human rendering rounds; `-o json` keeps the stored values.
pub(crate) fn rounded(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => n
            .as_f64()
            .and_then(|f| format_value(f).parse::<f64>().ok())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(rounded).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), rounded(v))).collect()),
        _ => v.clone(),
    }
}

/// Metric values: integers without decimals, others with up to 4 significant decimals.
pub(crate) fn format_value(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 0.01 || v == 0.0 {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.3e}")
    }
}

/// The global event timeline.
pub fn render_events(events: &[TicketEvent], fmt: OutputFormat) -> Result<String, RenderError> {
    if !fmt.is_human() {
        return structured(events, fmt);
    }
    if events.is_empty() {
        return Ok("No events.\n".to_string());
    }
    let mut t = table(&["AT", "TICKET", "SEVERITY", "EVENT", "KEY", "DETAIL"]);
    for e in events {
        t.add_row(vec![
            format_time(e.at),
            format!("#{}", e.ticket_id),
            e.severity.to_string(),
            e.kind.to_string(),
            e.dedupe_key.clone(),
            fmt.cut(&e.detail, SUMMARY_WIDTH),
        ]);
    }
    Ok(trim_lines(&t.to_string()))
}

fn trim_lines(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for line in s.lines() {
        let l = line.trim_end();
        // The NOTHING preset still draws a blank separator line under the header.
        if l.is_empty() {
            continue;
        }
        o.push_str(l.strip_prefix(' ').unwrap_or(l));
        o.push('\n');
    }
    o
}

fn indent(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 16);
    for line in s.lines() {
        o.push_str("  ");
        o.push_str(line);
        o.push('\n');
    }
    o
}

/// A list of incidents.
pub(crate) fn render_incidents(
    incidents: &[crate::tickets::incidents::Incident],
    fmt: OutputFormat,
    now: SystemTime,
) -> Result<String, RenderError> {
    if !fmt.is_human() {
        return structured(incidents, fmt);
    }
    if incidents.is_empty() {
        return Ok("No incidents.\n".to_string());
    }
    let wide = fmt == OutputFormat::Wide;
    let mut header = vec!["ID", "STATUS", "TICKETS", "CAUSE", "AGE"];
    if wide {
        header.extend(["FIRST SEEN", "OTHER CAUSES", "GROUPED BECAUSE"]);
    }
    let mut t = table(&header);
    for i in incidents {
        let cause = match &i.cause {
            Some(c) if i.confirmed => format!("{c} (confirmed)"),
            Some(c) => c.to_string(),
            None => "not diagnosed".to_string(),
        };
        let mut row = vec![
            i.id.to_string(),
            i.status.to_string(),
            i.tickets
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(","),
            cause,
            age(now, i.first_seen),
        ];
        if wide {
            let others: Vec<String> = i.other_causes.iter().map(ToString::to_string).collect();
            row.extend([
                format_time(i.first_seen),
                if others.is_empty() {
                    "-".into()
                } else {
                    others.join(", ")
                },
                if i.grouped_because.is_empty() {
                    "-".into()
                } else {
                    i.grouped_because.join("; ")
                },
            ]);
        }
        t.add_row(row);
    }
    Ok(format!("{t}\n"))
}

/// One incident: its cause, why its tickets were grouped, and each ticket in one line.
pub(crate) fn render_incident(
    incident: &crate::tickets::incidents::Incident,
    tickets: &[Ticket],
    fmt: OutputFormat,
    now: SystemTime,
) -> Result<String, RenderError> {
    if !fmt.is_human() {
        #[derive(Serialize)]
        struct Full<'a> {
            #[serde(flatten)]
            incident: &'a crate::tickets::incidents::Incident,
            ticket_details: &'a [Ticket],
        }
        return structured(
            &Full {
                incident,
                ticket_details: tickets,
            },
            fmt,
        );
    }
    let mut s = format!(
        "Incident {} ({}), first seen {} ago\n",
        incident.id,
        incident.status,
        age(now, incident.first_seen)
    );
    match &incident.cause {
        Some(c) => s.push_str(&format!(
            "Cause: {c}{}\n",
            if incident.confirmed {
                " (confirmed by a person)"
            } else {
                " (diagnosed)"
            }
        )),
        None => s.push_str("Cause: not diagnosed yet\n"),
    }
    for c in &incident.other_causes {
        s.push_str(&format!("Also named by its tickets: {c}\n"));
    }
    if !incident.grouped_because.is_empty() {
        s.push_str("\nGrouped because:\n");
        for r in &incident.grouped_because {
            s.push_str(&format!("- {r}\n"));
        }
    }
    s.push_str("\nTickets:\n");
    for t in tickets {
        s.push_str(&format!(
            "- #{} {} {} on {}: {}\n",
            t.id,
            t.status,
            t.invariant,
            t.target,
            truncate(&t.summary, SUMMARY_WIDTH)
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::model::{Severity, Status};
    use serde_json::json;

    fn summary(text: &str) -> TicketSummary {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        TicketSummary {
            id: 7,
            subject: "tikv".into(),
            invariant: "store-down".into(),
            target: "store/4".into(),
            severity: Severity::Critical,
            status: Status::Diagnosed,
            first_seen: t,
            last_seen: t,
            occurrences: 3,
            summary: text.into(),
            reopened_count: 0,
            resolved_at: None,
            diagnosed: true,
        }
    }

    #[test]
    fn wide_lists_every_column_and_the_whole_summary_while_table_cuts_it() {
        let long = format!("store 4 (tikv-1) stopped heartbeating {}", "x".repeat(120));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_060);
        let table = render_list(&[summary(&long)], OutputFormat::Table, now).unwrap();
        let wide = render_list(&[summary(&long)], OutputFormat::Wide, now).unwrap();
        assert!(!table.contains("FIRST SEEN") && !table.contains(&long));
        assert!(table.contains('…'));
        for col in ["SUBJECT", "FIRST SEEN", "RESOLVED", "DIAGNOSED"] {
            assert!(wide.contains(col), "{col} missing from\n{wide}");
        }
        assert!(wide.contains(&long), "wide must not truncate:\n{wide}");
        assert!(wide.contains("2027-01-15T08:00:00Z"), "{wide}");
    }

    #[test]
    fn wide_is_its_own_format_when_parsed() {
        assert_eq!("wide".parse::<OutputFormat>().unwrap(), OutputFormat::Wide);
        assert!(OutputFormat::Wide.is_human() && OutputFormat::Table.is_human());
        assert!(!OutputFormat::Json.is_human());
    }

    #[test]
    fn state_numbers_are_rounded_for_people_and_integers_and_text_are_kept() {
        let state = json!({
            "ratio": 0.30000000000000004,
            "p99_ms": 123.456789,
            "tiny": 0.000123456,
            "stores": [{"id": 4, "score": 2.0000001}],
            "name": "tikv-1"
        });
        let r = rounded(&state);
        assert_eq!(r["ratio"], json!(0.3));
        assert_eq!(r["p99_ms"], json!(123.4568));
        assert_eq!(r["tiny"], json!(0.0001235));
        assert_eq!(r["stores"][0]["id"], json!(4));
        assert_eq!(r["stores"][0]["score"], json!(2.0));
        assert_eq!(r["name"], json!("tikv-1"));
    }
}
