//! Wire-format helpers shared by the simulated PD and TiKV: the exact scalar spellings
//! PD's Go encoders and TiKV's Rust encoders produce (ByteSize strings, Go durations,
//! integral floats without `.0`, RFC 3339 times, memcomparable hex keys), the unified
//! log line format, and a small TOML reader for `--config` overrides.
//!
//! These are pure functions so they can be unit-tested against the reference fixtures.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Serialize, Serializer};

/// `docker/go-units.BytesSize`: `"%.4g"` of the value in the largest binary unit that
/// keeps it below 1024, followed by the unit (`"1007GiB"`, `"845.1GiB"`, `"0B"`).
pub(crate) fn byte_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", format_g4(v), UNITS[i])
}

/// Go's `%.4g` for values in `[0, 1024)`: four significant digits, trailing zeros removed.
fn format_g4(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits_before = if v >= 1.0 {
        (v.log10().floor() as i32) + 1
    } else {
        0
    };
    let decimals = (4 - digits_before).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    // `%.4g` may round up to 1024 -> "1024"; that is what Go prints too.
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    // Enforce 4 significant digits for values >= 1 (e.g. 1007.4 -> "1007").
    if digits_before >= 4 {
        s = format!("{}", v.round() as u64);
    }
    s
}

/// Go's `time.Duration.String()` (`"30m0s"`, `"1h16m9.774919012s"`, `"10ms"`, `"0s"`).
pub(crate) fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim_frac(nanos as f64 / 1e3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_frac(nanos as f64 / 1e6));
    }
    let total_secs = d.as_secs();
    let h = total_secs / 3600;
    let m = (total_secs % 3600) / 60;
    let s = total_secs % 60;
    let frac = d.subsec_nanos();
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    if frac == 0 {
        let _ = write!(out, "{s}s");
    } else {
        let f = format!("{frac:09}");
        let _ = write!(out, "{s}.{}s", f.trim_end_matches('0'));
    }
    out
}

fn trim_frac(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// TiKV's `ReadableDuration` spelling (`"1m"`, `"10s"`, `"1h30m"`, `"0s"`).
pub(crate) fn readable_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 {
        let _ = write!(out, "{m}m");
    }
    if s > 0 {
        let _ = write!(out, "{s}s");
    }
    if ms > 0 {
        let _ = write!(out, "{ms}ms");
    }
    out
}

/// Parses Go (`"30m0s"`, `"1h"`, `"1.5s"`, `"200ms"`) and TiKV (`"10m"`) duration strings.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = String::from(c);
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || n == '.' {
                break;
            }
            unit.push(n);
            chars.next();
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        let mult = match unit.as_str() {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return None,
        };
        total += v * mult;
        any = true;
    }
    if !num.is_empty() || !any {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

/// Parses TiKV `ReadableSize` / PD ByteSize strings (`"96MiB"`, `"1GB"`, `"512"`).
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let idx = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(idx);
    let v: f64 = n.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "K" | "KB" | "KIB" => 1024.0,
        "M" | "MB" | "MIB" => 1024.0 * 1024.0,
        "G" | "GB" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        "T" | "TB" | "TIB" => 1024f64.powi(4),
        "P" | "PB" | "PIB" => 1024f64.powi(5),
        _ => return None,
    };
    Some((v * mult) as u64)
}

/// A float that serializes like Go's `encoding/json`: integral values without `.0`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct GoFloat(pub f64);

impl Serialize for GoFloat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
            s.serialize_i64(v as i64)
        } else if v.is_finite() {
            s.serialize_f64(v)
        } else {
            s.serialize_i64(0)
        }
    }
}

/// Prometheus value spelling of client_golang (`strconv.FormatFloat(v,'g',-1,64)`).
pub(crate) fn prom_go_float(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-4..6).contains(&exp) {
        let s = format!("{v:e}");
        if let Some((m, e)) = s.split_once('e') {
            let e: i32 = e.parse().unwrap_or(0);
            let sign = if e < 0 { '-' } else { '+' };
            return format!("{m}e{sign}{:02}", e.abs());
        }
    }
    format!("{v}")
}

/// RFC 3339 with nanoseconds, trailing zeros trimmed, UTC `Z` (Go `RFC3339Nano`).
pub(crate) fn rfc3339_nano(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let dt = time::OffsetDateTime::from_unix_timestamp(d.as_secs() as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month() as u8,
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        format!("{base}Z")
    } else {
        let f = format!("{nanos:09}");
        format!("{base}.{}Z", f.trim_end_matches('0'))
    }
}

/// RFC 3339 with whole seconds (Go `time.RFC3339`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    rfc3339_nano(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Go's `time.Time.String()` for UTC with a monotonic suffix, as operator strings show.
pub(crate) fn go_time_string(t: SystemTime, mono_secs: f64) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let dt = time::OffsetDateTime::from_unix_timestamp(d.as_secs() as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:09} +0000 UTC m=+{mono_secs:.9}",
        dt.year(),
        dt.month() as u8,
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        d.subsec_nanos()
    )
}

/// Memcomparable encoding of a byte string (TiKV `codec::bytes::encode_bytes`): groups of
/// 8 bytes, each followed by `0xFF - padding`.
pub(crate) fn memcomparable(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity((raw.len() / 8 + 1) * 9);
    let mut chunks = raw.chunks(8).peekable();
    if raw.len() % 8 == 0 {
        for c in raw.chunks(8) {
            out.extend_from_slice(c);
            out.push(0xFF);
        }
        out.extend_from_slice(&[0u8; 8]);
        out.push(0xFF - 8);
        return out;
    }
    while let Some(c) = chunks.next() {
        out.extend_from_slice(c);
        if chunks.peek().is_some() {
            out.push(0xFF);
        } else {
            let pad = 8 - c.len();
            out.extend(std::iter::repeat_n(0u8, pad));
            out.push(0xFF - pad as u8);
        }
    }
    out
}

/// Upper-case hex (`core.HexRegionKeyStr`).
pub(crate) fn hex_upper(b: &[u8]) -> String {
    hex::encode_upper(b)
}

/// Where log lines go.
#[derive(Clone)]
pub enum LogSink {
    /// Process stderr (the container log).
    Stderr,
    /// Appended to a file (`--log-file`).
    File(Arc<Mutex<std::fs::File>>),
    /// Kept in memory (in-process clusters), newest last, capped.
    Memory(Arc<Mutex<std::collections::VecDeque<String>>>),
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogSink::Stderr => "Stderr",
            LogSink::File(_) => "File",
            LogSink::Memory(_) => "Memory",
        })
    }
}

/// Which program's flavour of the unified log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFlavor {
    /// TiKV: appends `[thread_id=N]`.
    Tikv,
    /// PD: no thread id.
    Pd,
}

/// A unified-log-format writer (`[time] [LEVEL] [file:line] [message] [k=v]...`).
#[derive(Debug, Clone)]
pub(crate) struct Logger {
    sink: LogSink,
    flavor: LogFlavor,
}

impl Logger {
    /// A logger writing to `sink`.
    pub(crate) fn new(sink: LogSink, flavor: LogFlavor) -> Self {
        Self { sink, flavor }
    }

    /// The in-memory lines, when the sink is memory.
    pub(crate) fn lines(&self) -> Vec<String> {
        match &self.sink {
            LogSink::Memory(m) => m.lock().iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Writes one line. `fields` are written in the given order.
    pub(crate) fn log(&self, level: &str, source: &str, msg: &str, fields: &[(&str, String)]) {
        let line = format_log_line(SystemTime::now(), level, source, msg, fields, self.flavor);
        match &self.sink {
            LogSink::Stderr => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
            LogSink::File(f) => {
                let _ = writeln!(f.lock(), "{line}");
            }
            LogSink::Memory(m) => {
                let mut m = m.lock();
                if m.len() >= 20_000 {
                    m.pop_front();
                }
                m.push_back(line);
            }
        }
    }

    /// INFO line.
    pub(crate) fn info(&self, source: &str, msg: &str, fields: &[(&str, String)]) {
        self.log("INFO", source, msg, fields);
    }
    /// WARN line.
    pub(crate) fn warn(&self, source: &str, msg: &str, fields: &[(&str, String)]) {
        self.log("WARN", source, msg, fields);
    }
    /// ERROR line.
    pub(crate) fn error(&self, source: &str, msg: &str, fields: &[(&str, String)]) {
        self.log("ERROR", source, msg, fields);
    }
}

/// Quotes a message or value the way both TiKV's and PD's encoders do: JSON-quoted only
/// if it contains a byte <= 0x20, `"`, `=`, `[`, `]` or `\`.
pub(crate) fn log_quote(s: &str) -> String {
    let needs = s
        .bytes()
        .any(|b| b <= 0x20 || matches!(b, b'"' | b'=' | b'[' | b']' | b'\\'));
    if needs {
        serde_json::to_string(s).unwrap_or_default()
    } else {
        s.to_string()
    }
}

/// Formats one unified-log-format line.
pub(crate) fn format_log_line(
    now: SystemTime,
    level: &str,
    source: &str,
    msg: &str,
    fields: &[(&str, String)],
    flavor: LogFlavor,
) -> String {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let dt = time::OffsetDateTime::from_unix_timestamp(d.as_secs() as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut line = format!(
        "[{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:03} +00:00] [{level}] [{source}] [{}]",
        dt.year(),
        dt.month() as u8,
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        d.subsec_millis(),
        log_quote(msg)
    );
    for (k, v) in fields {
        let _ = write!(line, " [{k}={}]", log_quote(v));
    }
    if flavor == LogFlavor::Tikv {
        let _ = write!(line, " [thread_id={}]", thread_id_number());
    }
    line
}

fn thread_id_number() -> u64 {
    let s = format!("{:?}", std::thread::current().id());
    s.trim_start_matches("ThreadId(")
        .trim_end_matches(')')
        .parse()
        .unwrap_or(1)
}

/// A scalar from the TOML subset the simulator reads.
#[derive(Debug, Clone, PartialEq)]
pub enum TomlValue {
    /// `"text"` or `'text'`.
    Str(String),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// An array rendered as raw text (not interpreted).
    Raw(String),
}

impl TomlValue {
    /// The value as text (strings unquoted, numbers printed).
    pub(crate) fn as_text(&self) -> String {
        match self {
            TomlValue::Str(s) | TomlValue::Raw(s) => s.clone(),
            TomlValue::Int(i) => i.to_string(),
            TomlValue::Float(f) => f.to_string(),
            TomlValue::Bool(b) => b.to_string(),
        }
    }
}

/// Errors reading a TOML override file.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}: {msg}")]
pub(crate) struct TomlError {
    /// File path.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

/// Reads the TOML subset used by PD/TiKV config overrides: `[section]` / `[a.b]` headers
/// and `key = value` lines with strings, numbers and booleans. Keys come back dotted
/// (`schedule.max-store-down-time`). Arrays are kept as raw text.
///
/// # Guarantees
/// Every line is either understood or reported with its line number; nothing is
/// silently skipped except comments and blank lines.
pub(crate) fn parse_toml(path: &str, text: &str) -> Result<BTreeMap<String, TomlValue>, TomlError> {
    let mut out = BTreeMap::new();
    let mut section = String::new();
    for (i, raw) in text.lines().enumerate() {
        let err = |msg: &str| TomlError {
            path: path.into(),
            line: i + 1,
            msg: msg.into(),
        };
        let line = strip_comment(raw).trim().to_string();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            if !line.ends_with(']') {
                return Err(err("unterminated table header"));
            }
            section = line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(err("expected key = value"));
        };
        let key = k.trim().trim_matches('"').to_string();
        let v = v.trim();
        let value = if (v.starts_with('"') && v.ends_with('"') && v.len() >= 2)
            || (v.starts_with('\'') && v.ends_with('\'') && v.len() >= 2)
        {
            TomlValue::Str(v[1..v.len() - 1].to_string())
        } else if v == "true" || v == "false" {
            TomlValue::Bool(v == "true")
        } else if let Ok(n) = v.replace('_', "").parse::<i64>() {
            TomlValue::Int(n)
        } else if let Ok(f) = v.parse::<f64>() {
            TomlValue::Float(f)
        } else if v.starts_with('[') || v.starts_with('{') {
            TomlValue::Raw(v.to_string())
        } else {
            return Err(err(&format!("cannot read value {v:?}")));
        };
        let full = if section.is_empty() {
            key
        } else {
            format!("{section}.{key}")
        };
        out.insert(full, value);
    }
    Ok(out)
}

fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '#' if !in_str => return &line[..i],
            _ => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_match_go_units_spelling() {
        assert_eq!(byte_size(0), "0B");
        assert_eq!(byte_size(1_081_101_176_832), "1007GiB");
        assert_eq!(byte_size(907_425_382_400), "845.1GiB");
        assert_eq!(byte_size(2_523_136_307), "2.35GiB");
        assert_eq!(byte_size(8 * 1024 * 1024 * 1024), "8GiB");
    }

    #[test]
    fn durations_match_go_spelling() {
        assert_eq!(go_duration(Duration::from_secs(1800)), "30m0s");
        assert_eq!(go_duration(Duration::from_secs(48 * 3600)), "48h0m0s");
        assert_eq!(go_duration(Duration::from_millis(10)), "10ms");
        assert_eq!(
            go_duration(Duration::new(4569, 774_919_012)),
            "1h16m9.774919012s"
        );
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(parse_duration("30m0s"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(readable_duration(Duration::from_secs(600)), "10m");
    }

    #[test]
    fn memcomparable_keys_match_the_fixture() {
        assert_eq!(
            hex_upper(&memcomparable(b"user2999")),
            "7573657232393939FF0000000000000000F7"
        );
    }

    #[test]
    fn log_lines_quote_only_when_needed() {
        let l = format_log_line(
            UNIX_EPOCH,
            "INFO",
            "raft.rs:1266",
            "became leader at term 6",
            &[("term", "6".into())],
            LogFlavor::Pd,
        );
        assert_eq!(l, "[1970/01/01 00:00:00.000 +00:00] [INFO] [raft.rs:1266] [\"became leader at term 6\"] [term=6]");
        assert_eq!(log_quote("Welcome"), "Welcome");
    }

    #[test]
    fn go_floats_drop_integral_fraction() {
        assert_eq!(serde_json::to_string(&GoFloat(1.0)).unwrap(), "1");
        assert_eq!(serde_json::to_string(&GoFloat(0.5)).unwrap(), "0.5");
        assert_eq!(prom_go_float(1.081101176832e12), "1.081101176832e+12");
        assert_eq!(prom_go_float(2.0), "2");
    }

    #[test]
    fn toml_overrides_are_read_with_dotted_keys() {
        let m = parse_toml(
            "x",
            "[schedule]\nmax-store-down-time = \"30m\" # c\n[replication]\nmax-replicas = 3\n",
        )
        .unwrap();
        assert_eq!(
            m["schedule.max-store-down-time"],
            TomlValue::Str("30m".into())
        );
        assert_eq!(m["replication.max-replicas"], TomlValue::Int(3));
        assert!(parse_toml("x", "garbage").is_err());
    }
}
