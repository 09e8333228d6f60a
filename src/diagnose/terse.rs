//! Terse values: what a compact prompt prints for an observed number, byte count, clock
//! reading or record, so that a small model reads fewer tokens and compares meaning, not
//! digits.
//!
//! # Why
//!
//! The tokenizers of the small open models spend one token per digit. A metric sampled as
//! `0.18500734246575323`, a heartbeat as `1796558894476000000` nanoseconds and a disk as
//! `915150156595` bytes cost 12-19 tokens each and say less to a reader than `0.1850`,
//! `0.06 s before observed_at` and `852.3 GiB`. A compact prompt of a three-store TiKV
//! ticket spent ~2,400 tokens on its user message, most of them digits and keys repeated
//! once per record (BENCHMARKS.md): on two CPU cores that is half a minute of reading
//! before the model writes anything.
//!
//! # What changes and what does not
//!
//! - Floats keep four significant digits (within the 1 % that grounding allows a cited
//!   value, [`super::ground`]). Integers are kept exactly: they are ids and counts.
//! - A key ending in `_bytes` is printed in binary units; a key ending in `_unix_nanos`,
//!   `_unix_ms` or `_unix_secs` (Prometheus' and PD's unit suffixes) is printed without
//!   the suffix, as its distance from the evidence's `observed_at`: a store whose
//!   heartbeat is 40 s old then says so in words.
//! - An array of records is printed as one `key=value` row per record, after the values
//!   every record shares, so what differs between members stands out.
//!
//! Only the rendering changes: the facts a compact answer cites keep their typed
//! citations (the metric's exact value, the state's path), and grounding reads the
//! sections as they were observed, so nothing a model cites is checked against a rounded
//! copy. Nothing here names a subject: the rules follow unit suffixes and JSON shapes.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A reference instant for clock readings: the evidence's `observed_at`, in nanoseconds
/// since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Now(pub(crate) Option<i128>);

impl Now {
    /// The instant of an RFC 3339 timestamp (none when it does not parse).
    pub(crate) fn parse(rfc3339: &str) -> Self {
        Self(
            OffsetDateTime::parse(rfc3339, &Rfc3339)
                .ok()
                .map(|t| t.unix_timestamp_nanos()),
        )
    }

    /// The `observed_at` of a ticket's evidence (none when it has none).
    pub(crate) fn observed(evidence: &Value) -> Self {
        evidence
            .get("observed_at")
            .and_then(Value::as_str)
            .map(Self::parse)
            .unwrap_or_default()
    }
}

/// `v` with four significant digits, without trailing zeros; integers as they are.
pub(crate) fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-5..15).contains(&mag) {
        return format!("{v:.3e}");
    }
    let decimals = (3 - mag).max(0) as usize;
    let s = format!("{v:.decimals$}");
    match s.contains('.') {
        true => s.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => s,
    }
}

/// A byte count in binary units: `512 B`, `852.3 GiB`.
fn bytes(n: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n;
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{} B", number(v)),
        _ => format!("{:.1} {}", v, UNITS[unit]),
    }
}

/// A duration in seconds, in the unit that keeps it short.
fn duration(secs: f64) -> String {
    let a = secs.abs();
    match a {
        a if a < 120.0 => format!("{} s", number((secs * 100.0).round() / 100.0)),
        a if a < 7_200.0 => format!("{:.1} min", secs / 60.0),
        a if a < 172_800.0 => format!("{:.1} h", secs / 3_600.0),
        _ => format!("{:.1} d", secs / 86_400.0),
    }
}

/// The clock suffixes and how many nanoseconds one unit of each is.
const CLOCKS: [(&str, f64); 6] = [
    ("_unix_nanos", 1.0),
    ("_unix_nanoseconds", 1.0),
    ("_unix_ms", 1e6),
    ("_unix_millis", 1e6),
    ("_unix_secs", 1e9),
    ("_unix_seconds", 1e9),
];

/// A clock reading (`t` in units of `scale` ns) relative to `now`, or as a timestamp.
fn clock(t: f64, scale: f64, now: Now) -> String {
    let at = t * scale;
    match now.0 {
        Some(n) => {
            let d = (n as f64 - at) / 1e9;
            match d >= 0.0 {
                true => format!("{} before observed_at", duration(d)),
                false => format!("{} after observed_at", duration(-d)),
            }
        }
        None => OffsetDateTime::from_unix_timestamp_nanos(at as i128)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| number(t)),
    }
}

/// A scalar or nested value, tersely: strings bare (quoted when they hold a space, `=`
/// or `,`), floats rounded, nested values as JSON with their floats rounded.
pub(crate) fn plain(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() || s.contains([' ', '=', ',']) => format!("{s:?}"),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => number(f),
            _ => n.to_string(),
        },
        Value::Array(_) | Value::Object(_) => rounded(v).to_string(),
        other => other.to_string(),
    }
}

/// `v` with every float rounded to four significant digits.
fn rounded(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => n
            .as_f64()
            .and_then(|f| number(f).parse::<f64>().ok())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(rounded).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), rounded(v))).collect()),
        other => other.clone(),
    }
}

/// One keyed value as printed: the key (a clock's unit suffix dropped) and the value.
pub(crate) fn field(key: &str, v: &Value, now: Now) -> (String, String) {
    if let Some(n) = v.as_f64() {
        if let Some((suffix, scale)) = CLOCKS.iter().find(|(s, _)| key.ends_with(s)) {
            return (
                key.trim_end_matches(suffix).to_string(),
                clock(n, *scale, now),
            );
        }
        if key.ends_with("_bytes") {
            return (key.to_string(), bytes(n));
        }
    }
    (key.to_string(), plain(v))
}

/// A record's fields, nested objects flattened to dotted keys.
fn flatten(prefix: &str, m: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (k, v) in m {
        let key = match prefix.is_empty() {
            true => k.clone(),
            false => format!("{prefix}.{k}"),
        };
        match v {
            Value::Object(inner) if !inner.is_empty() => flatten(&key, inner, out),
            other => out.push((key, other.clone())),
        }
    }
}

/// `key=value` pairs of fields, separated by spaces.
fn pairs(fields: &[(String, Value)], now: Now) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let (k, v) = field(k, v, now);
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A record's fields, nested objects flattened to dotted keys.
fn fields(m: &Map<String, Value>) -> Vec<(String, Value)> {
    let mut f = Vec::new();
    flatten("", m, &mut f);
    f
}

/// One record as a row of `key=value` pairs (nested objects flattened to dotted keys).
pub(crate) fn row(v: &Value, now: Now) -> String {
    match v {
        Value::Object(m) => pairs(&fields(m), now),
        other => plain(other),
    }
}

/// An array of records: the fields every record shares on one line, then one row per
/// record with the rest. A single record is one row.
fn records(key: &str, a: &[&Map<String, Value>], now: Now) -> String {
    let rows: Vec<Vec<(String, Value)>> = a.iter().map(|m| fields(m)).collect();
    let shared: Vec<(String, Value)> = match rows.len() {
        0 | 1 => Vec::new(),
        _ => rows[0]
            .iter()
            .filter(|kv| rows[1..].iter().all(|r| r.contains(kv)))
            .cloned()
            .collect(),
    };
    // "(N records": a count right after the key would read as an id (`stores: 2`).
    let mut out = match shared.is_empty() {
        true => format!("{key} ({} records):\n", rows.len()),
        false => format!(
            "{key} ({} records, all with {}):\n",
            rows.len(),
            pairs(&shared, now)
        ),
    };
    for (i, r) in rows.iter().enumerate() {
        let own: Vec<(String, Value)> = r
            .iter()
            .filter(|kv| !shared.contains(kv))
            .cloned()
            .collect();
        out.push_str(&format!("  {key}[{i}] {}\n", pairs(&own, now)));
    }
    out
}

/// The elements of `a` when it is a non-empty array of records.
fn objects(a: &[Value]) -> Option<Vec<&Map<String, Value>>> {
    let rs: Option<Vec<_>> = a.iter().map(Value::as_object).collect();
    rs.filter(|rs| !rs.is_empty())
}

/// A JSON section (`text`) tersely: one line per top-level key, arrays of records as
/// [`records`], other arrays one element per line; `None` when `text` is not a JSON
/// object or array.
pub(crate) fn section(text: &str, now: Now) -> Option<String> {
    let v: Value = serde_json::from_str(text.trim()).ok()?;
    let mut out = String::new();
    match &v {
        Value::Object(m) => {
            for (k, v) in m {
                match v.as_array().and_then(|a| objects(a)) {
                    Some(rs) => out.push_str(&records(k, &rs, now)),
                    None => {
                        let (k, v) = field(k, v, now);
                        out.push_str(&format!("{k}: {v}\n"));
                    }
                }
            }
        }
        Value::Array(a) => match objects(a) {
            Some(rs) => out.push_str(&records("items", &rs, now)),
            None => {
                for e in a {
                    out.push_str(&format!("- {}\n", plain(e)));
                }
            }
        },
        _ => return None,
    }
    Some(out.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn floats_keep_four_significant_digits_and_integers_all_of_theirs() {
        assert_eq!(number(0.18500734246575323), "0.185");
        assert_eq!(number(0.00003993057851239669), "0.00003993");
        assert_eq!(number(0.9498925157534306), "0.9499");
        assert_eq!(number(1234.5678), "1235");
        assert_eq!(number(8449142170439905.0), "8.449e15");
        assert_eq!(number(24.0), "24");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(-2.5), "-2.5");
    }

    #[test]
    fn clocks_read_as_their_distance_from_the_observation() {
        let now = Now::parse("2026-12-06T12:08:14.536944798Z");
        let t = now.0.unwrap();
        let hb = json!((t - 40_000_000_000) as u64);
        assert_eq!(
            field("last_heartbeat_unix_nanos", &hb, now),
            ("last_heartbeat".into(), "40 s before observed_at".into())
        );
        let start = json!((t / 1_000_000_000) - 7_200);
        assert_eq!(
            field("start_unix_secs", &start, now).1,
            "2.0 h before observed_at"
        );
        // Without a reference instant, a timestamp.
        assert_eq!(
            field("start_unix_secs", &json!(0), Now(None)).1,
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn byte_counts_read_in_binary_units() {
        assert_eq!(
            field("available_bytes", &json!(915150156595u64), Now(None)).1,
            "852.3 GiB"
        );
        assert_eq!(field("used_bytes", &json!(512), Now(None)).1, "512 B");
        // Only the suffix decides: a count is left alone.
        assert_eq!(field("region_count", &json!(24), Now(None)).1, "24");
    }

    #[test]
    fn records_print_what_they_share_once_and_what_differs_per_row() {
        let text = json!({
            "leader": "pd-0",
            "stores": [
                {"id": 1, "state": "Up", "leader_count": 8, "version": "8.5.7"},
                {"id": 4, "state": "Down", "leader_count": 0, "version": "8.5.7"}
            ]
        })
        .to_string();
        let out = section(&text, Now(None)).unwrap();
        assert_eq!(
            out,
            "leader: pd-0\nstores (2 records, all with version=8.5.7):\n  stores[0] id=1 leader_count=8 state=Up\n  stores[1] id=4 leader_count=0 state=Down"
        );
    }

    #[test]
    fn nested_fields_flatten_to_dotted_keys() {
        let text =
            json!([{"store": {"id": 1, "state_name": "Up"}, "status": {"used_bytes": 2048}}])
                .to_string();
        assert_eq!(
            section(&text, Now(None)).unwrap(),
            "items (1 records):\n  items[0] status.used_bytes=2.0 KiB store.id=1 store.state_name=Up"
        );
    }

    #[test]
    fn a_section_that_is_not_json_is_left_to_the_caller() {
        assert_eq!(section("level=warn msg=slow", Now(None)), None);
    }

    proptest! {
        #[test]
        fn a_rounded_float_stays_within_the_tolerance_grounding_allows(v in -1e12f64..1e12) {
            let r: f64 = number(v).parse().unwrap();
            prop_assert!((r - v).abs() <= 1e-9 + 0.001 * v.abs(), "{v} -> {r}");
        }
    }
}
