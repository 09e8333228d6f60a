//! A parser for the Prometheus text exposition format (version 0.0.4), and histogram
//! quantiles computed like PromQL's `histogram_quantile`.
//!
//! Used to read a member's `/metrics` directly (a TiKV status port, PD, an etcd member)
//! when Prometheus is down or has not scraped yet, so invariants (slow score, store
//! size, leader count, WAL fsync latency) can still be checked, and by the evaluation
//! harnesses. It names no subject. One bad line does not discard a scrape: the parser keeps going and
//! reports per-line errors beside the families it could read.

use std::collections::HashMap;

/// A metric family's declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram` (`_bucket{le}`, `_sum`, `_count`).
    Histogram,
    /// `summary` (`{quantile}`, `_sum`, `_count`).
    Summary,
    /// `untyped`, or no `# TYPE` line.
    #[default]
    Untyped,
}

impl MetricType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" => Self::Histogram,
            "summary" => Self::Summary,
            "untyped" | "unknown" => Self::Untyped,
            _ => return None,
        })
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Full sample name (`tikv_grpc_msg_duration_seconds_bucket`).
    pub name: String,
    /// Labels in line order, unescaped.
    pub labels: Vec<(String, String)>,
    /// Value (NaN and infinities included).
    pub value: f64,
    /// Optional timestamp, unix milliseconds.
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of label `name`.
    pub(crate) fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A family: `# HELP`, `# TYPE` and its samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricFamily {
    /// Family name (histogram/summary suffixes removed).
    pub name: String,
    /// Help text, unescaped.
    pub help: Option<String>,
    /// Declared type.
    pub kind: MetricType,
    /// Samples in file order.
    pub samples: Vec<Sample>,
}

/// A histogram series: cumulative buckets of one label set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Labels without `le`.
    pub labels: Vec<(String, String)>,
    /// `(upper bound, cumulative count)` sorted by bound; `+Inf` last when present.
    pub buckets: Vec<(f64, f64)>,
    /// `_sum`.
    pub sum: Option<f64>,
    /// `_count`.
    pub count: Option<f64>,
}

impl Histogram {
    /// The `q`-quantile (see [`histogram_quantile`]).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        histogram_quantile(q, &self.buckets)
    }

    /// Adds several series bucket by bucket (PromQL `sum by (le)`); series whose bucket
    /// bounds differ contribute to the bounds they share.
    pub(crate) fn merge<'a>(series: impl IntoIterator<Item = &'a Histogram>) -> Histogram {
        let mut totals: Vec<(f64, f64)> = Vec::new();
        let (mut sum, mut count) = (None, None);
        for h in series {
            for &(le, c) in &h.buckets {
                match totals.iter_mut().find(|(b, _)| *b == le) {
                    Some(slot) => slot.1 += c,
                    None => totals.push((le, c)),
                }
            }
            if let Some(s) = h.sum {
                sum = Some(sum.unwrap_or(0.0) + s);
            }
            if let Some(c) = h.count {
                count = Some(count.unwrap_or(0.0) + c);
            }
        }
        totals.sort_by(|a, b| a.0.total_cmp(&b.0));
        Histogram {
            labels: Vec::new(),
            buckets: totals,
            sum,
            count,
        }
    }
}

impl MetricFamily {
    /// Groups `_bucket`/`_sum`/`_count` samples into histogram series (by the labels
    /// other than `le`), in order of first appearance.
    pub fn histograms(&self) -> Vec<Histogram> {
        let mut out: Vec<Histogram> = Vec::new();
        let bucket_name = format!("{}_bucket", self.name);
        let sum_name = format!("{}_sum", self.name);
        let count_name = format!("{}_count", self.name);
        for sample in &self.samples {
            let labels: Vec<(String, String)> = sample
                .labels
                .iter()
                .filter(|(k, _)| k != "le")
                .cloned()
                .collect();
            let index = match out.iter().position(|h| same_labels(&h.labels, &labels)) {
                Some(i) => i,
                None => {
                    out.push(Histogram {
                        labels,
                        ..Histogram::default()
                    });
                    out.len() - 1
                }
            };
            let series = &mut out[index];
            if sample.name == bucket_name {
                if let Some(le) = sample.label("le").and_then(parse_value) {
                    series.buckets.push((le, sample.value));
                }
            } else if sample.name == sum_name {
                series.sum = Some(sample.value);
            } else if sample.name == count_name {
                series.count = Some(sample.value);
            }
        }
        for h in &mut out {
            h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        out.retain(|h| !h.buckets.is_empty());
        out
    }

    /// Samples whose labels include every `(name, value)` in `matchers`.
    pub(crate) fn select<'a>(
        &'a self,
        matchers: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> {
        self.samples
            .iter()
            .filter(move |s| matchers.iter().all(|(k, v)| s.label(k) == Some(*v)))
    }
}

fn same_labels(a: &[(String, String)], b: &[(String, String)]) -> bool {
    a.len() == b.len() && a.iter().all(|pair| b.contains(pair))
}

/// A line that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// The result of parsing an exposition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition {
    /// Families in order of first appearance.
    pub families: Vec<MetricFamily>,
    /// Lines that did not parse (skipped).
    pub errors: Vec<LineError>,
}

impl Exposition {
    /// The family named `name`.
    pub(crate) fn family(&self, name: &str) -> Option<&MetricFamily> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The first sample named `name` (full sample name) with all `matchers`.
    pub(crate) fn value(&self, name: &str, matchers: &[(&str, &str)]) -> Option<f64> {
        self.families
            .iter()
            .flat_map(|f| f.samples.iter())
            .find(|s| s.name == name && matchers.iter().all(|(k, v)| s.label(k) == Some(*v)))
            .map(|s| s.value)
    }
}

/// Parses a sample value: a float, `NaN`, `+Inf`, `-Inf` (`Inf` too).
pub fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

fn unescape(text: &str, allow_quote: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('"') if allow_quote => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_name_char(b: u8) -> bool {
    is_name_start(b) || b.is_ascii_digit()
}

/// Parses `{k="v",...}` starting at `pos` (which holds `{`); returns labels and the
/// position after `}`.
fn parse_labels(line: &str, mut pos: usize) -> Result<(Vec<(String, String)>, usize), String> {
    let bytes = line.as_bytes();
    pos += 1;
    let mut labels = Vec::new();
    loop {
        while pos < bytes.len() && bytes[pos] == b' ' {
            pos += 1;
        }
        match bytes.get(pos) {
            Some(b'}') => return Ok((labels, pos + 1)),
            Some(&b) if is_name_start(b) => {}
            _ => return Err("expected a label name or '}'".into()),
        }
        let start = pos;
        while pos < bytes.len() && is_name_char(bytes[pos]) {
            pos += 1;
        }
        let name = &line[start..pos];
        while pos < bytes.len() && bytes[pos] == b' ' {
            pos += 1;
        }
        if bytes.get(pos) != Some(&b'=') {
            return Err(format!("expected '=' after label {name}"));
        }
        pos += 1;
        while pos < bytes.len() && bytes[pos] == b' ' {
            pos += 1;
        }
        if bytes.get(pos) != Some(&b'"') {
            return Err(format!("expected '\"' to open the value of label {name}"));
        }
        pos += 1;
        let value_start = pos;
        loop {
            match bytes.get(pos) {
                None => return Err(format!("unterminated value of label {name}")),
                Some(b'\\') => pos += 2,
                Some(b'"') => break,
                Some(_) => pos += 1,
            }
        }
        let raw = &line[value_start..pos];
        labels.push((name.to_owned(), unescape(raw, true)));
        pos += 1;
        while pos < bytes.len() && bytes[pos] == b' ' {
            pos += 1;
        }
        match bytes.get(pos) {
            Some(b',') => pos += 1,
            Some(b'}') => return Ok((labels, pos + 1)),
            _ => return Err("expected ',' or '}' after a label".into()),
        }
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let bytes = line.as_bytes();
    if !bytes.first().copied().is_some_and(is_name_start) {
        return Err("a sample must start with a metric name".into());
    }
    let mut pos = 0;
    while pos < bytes.len() && is_name_char(bytes[pos]) {
        pos += 1;
    }
    let name = line[..pos].to_owned();
    let labels = if bytes.get(pos) == Some(&b'{') {
        let (labels, next) = parse_labels(line, pos)?;
        pos = next;
        labels
    } else {
        Vec::new()
    };
    let mut rest = line[pos..].split_ascii_whitespace();
    let value_text = rest.next().ok_or("missing value")?;
    let value = parse_value(value_text).ok_or_else(|| format!("invalid value {value_text:?}"))?;
    let timestamp_ms = match rest.next() {
        Some(ts) => Some(
            ts.parse::<i64>()
                .map_err(|_| format!("invalid timestamp {ts:?}"))?,
        ),
        None => None,
    };
    if rest.next().is_some() {
        return Err("unexpected text after the timestamp".into());
    }
    Ok(Sample {
        name,
        labels,
        value,
        timestamp_ms,
    })
}

/// The family a sample belongs to: `x_bucket`/`x_sum`/`x_count` belong to a declared
/// histogram or summary `x`.
fn family_of<'a>(sample_name: &'a str, types: &HashMap<String, MetricType>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample_name.strip_suffix(suffix) {
            match types.get(base) {
                Some(MetricType::Histogram) => return base,
                Some(MetricType::Summary) if suffix != "_bucket" => return base,
                _ => {}
            }
        }
    }
    sample_name
}

/// Parses an exposition.
///
/// # Guarantees
/// Never panics; every line is either used or reported in [`Exposition::errors`].
pub fn parse(text: &str) -> Exposition {
    let mut exposition = Exposition::default();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut types: HashMap<String, MetricType> = HashMap::new();
    let mut family_index = |name: &str, families: &mut Vec<MetricFamily>| -> usize {
        if let Some(&i) = index.get(name) {
            return i;
        }
        families.push(MetricFamily {
            name: name.to_owned(),
            ..MetricFamily::default()
        });
        index.insert(name.to_owned(), families.len() - 1);
        families.len() - 1
    };
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let error = |message: String| LineError {
            line: number + 1,
            message,
        };
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start();
            let (keyword, rest) = comment.split_once(' ').unwrap_or((comment, ""));
            match keyword {
                "HELP" => {
                    let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                    if name.is_empty() {
                        exposition.errors.push(error("HELP without a name".into()));
                        continue;
                    }
                    let i = family_index(name, &mut exposition.families);
                    exposition.families[i].help = Some(unescape(help, false));
                }
                "TYPE" => {
                    let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
                    match MetricType::parse(kind.trim()) {
                        Some(kind) if !name.is_empty() => {
                            types.insert(name.to_owned(), kind);
                            let i = family_index(name, &mut exposition.families);
                            exposition.families[i].kind = kind;
                        }
                        _ => exposition
                            .errors
                            .push(error(format!("invalid TYPE line {line:?}"))),
                    }
                }
                _ => {} // Other comments are allowed and ignored.
            }
            continue;
        }
        match parse_sample(line) {
            Ok(sample) => {
                let family = family_of(&sample.name, &types).to_owned();
                let i = family_index(&family, &mut exposition.families);
                exposition.families[i].samples.push(sample);
            }
            Err(message) => exposition.errors.push(error(message)),
        }
    }
    exposition
}

/// The `q`-quantile of cumulative buckets `(upper bound, count)`, with PromQL
/// `histogram_quantile` semantics: linear interpolation inside the bucket, the lower
/// bound of the first bucket taken as 0, the `+Inf` bucket answered with the highest
/// finite bound.
///
/// # Guarantees
/// `None` when undefined: no `+Inf` bucket, fewer than two buckets, no observations,
/// or `q` NaN. `q < 0` gives `-Inf`, `q > 1` gives `+Inf`, like PromQL.
pub(crate) fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    if q.is_nan() {
        return None;
    }
    if q < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return Some(f64::INFINITY);
    }
    let mut sorted: Vec<(f64, f64)> = buckets.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    if sorted.len() < 2 || sorted.last()?.0 != f64::INFINITY {
        return None;
    }
    // Counts must be cumulative; repair small non-monotonicities like PromQL does.
    for i in 1..sorted.len() {
        if sorted[i].1 < sorted[i - 1].1 {
            sorted[i].1 = sorted[i - 1].1;
        }
    }
    let observations = sorted.last()?.1;
    if observations <= 0.0 || observations.is_nan() {
        return None;
    }
    let mut rank = q * observations;
    let b = sorted
        .iter()
        .position(|&(_, count)| count >= rank)
        .unwrap_or(sorted.len() - 1);
    if b == sorted.len() - 1 {
        return Some(sorted[sorted.len() - 2].0);
    }
    if b == 0 && sorted[0].0 <= 0.0 {
        return Some(sorted[0].0);
    }
    let (mut start, end, mut count) = (0.0, sorted[b].0, sorted[b].1);
    if b > 0 {
        start = sorted[b - 1].0;
        count -= sorted[b - 1].1;
        rank -= sorted[b - 1].1;
    }
    if count <= 0.0 {
        return Some(end);
    }
    Some(start + (end - start) * (rank / count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/pd-tikv/fixtures/"
        );
        std::fs::read_to_string(format!("{dir}{name}")).unwrap()
    }

    #[test]
    fn labels_with_escapes_nan_infinities_and_timestamps_parse() {
        let text = "# HELP x_total A \\\\ help\\nline\n# TYPE x_total counter\n\
x_total{path=\"/a\\\"b\\\\c\\nd\",code=\"200\",} 12 1700000000000\n\
x_total{code=\"500\"} NaN\n\
y +Inf\n\
y{a=\"1\"} -Inf\n";
        let e = parse(text);
        assert!(e.errors.is_empty(), "{:?}", e.errors);
        let x = e.family("x_total").unwrap();
        assert_eq!(x.kind, MetricType::Counter);
        assert_eq!(x.help.as_deref(), Some("A \\ help\nline"));
        assert_eq!(x.samples[0].label("path"), Some("/a\"b\\c\nd"));
        assert_eq!(x.samples[0].timestamp_ms, Some(1_700_000_000_000));
        assert!(x.samples[1].value.is_nan());
        let y = e.family("y").unwrap();
        assert_eq!(y.kind, MetricType::Untyped);
        assert_eq!(y.samples[0].value, f64::INFINITY);
        assert_eq!(y.samples[1].value, f64::NEG_INFINITY);
    }

    #[test]
    fn bad_lines_are_reported_and_the_rest_is_kept() {
        let e =
            parse("ok 1\nbad{x=1} 2\n{} 3\nnovalue\nalso_ok 4 notatime\nfine 5\n# TYPE t wat\n");
        assert_eq!(
            e.errors.iter().map(|l| l.line).collect::<Vec<_>>(),
            vec![2, 3, 4, 5, 7]
        );
        assert_eq!(e.value("ok", &[]), Some(1.0));
        assert_eq!(e.value("fine", &[]), Some(5.0));
    }

    #[test]
    fn quantiles_follow_promql_semantics() {
        let buckets = [(0.1, 10.0), (0.2, 20.0), (0.4, 40.0), (f64::INFINITY, 40.0)];
        assert_eq!(histogram_quantile(0.5, &buckets), Some(0.2));
        assert!((histogram_quantile(0.75, &buckets).unwrap() - 0.3).abs() < 1e-12);
        assert!((histogram_quantile(0.1, &buckets).unwrap() - 0.04).abs() < 1e-12);
        // Falls into +Inf: the highest finite bound.
        let tail = [(1.0, 1.0), (f64::INFINITY, 10.0)];
        assert_eq!(histogram_quantile(0.99, &tail), Some(1.0));
        assert_eq!(
            histogram_quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]),
            None
        );
        assert_eq!(histogram_quantile(0.5, &[(1.0, 5.0)]), None);
        assert_eq!(histogram_quantile(-1.0, &buckets), Some(f64::NEG_INFINITY));
        assert_eq!(histogram_quantile(2.0, &buckets), Some(f64::INFINITY));
        assert_eq!(histogram_quantile(f64::NAN, &buckets), None);
    }

    #[test]
    fn the_tikv_fixture_yields_families_and_grpc_quantiles() {
        let e = parse(&fixture("tikv_metrics.txt"));
        assert!(e.errors.is_empty(), "{:?}", e.errors);
        assert_eq!(e.families.len(), 27);
        let grpc = e.family("tikv_grpc_msg_duration_seconds").unwrap();
        assert_eq!(grpc.kind, MetricType::Histogram);
        let series = grpc.histograms();
        assert_eq!(series.len(), 3);
        let get = series
            .iter()
            .find(|h| h.labels.contains(&("type".into(), "kv_get".into())))
            .unwrap();
        assert_eq!(get.buckets.len(), 23);
        assert_eq!(get.count, Some(2_845_512.0));
        // p99 rank 2817056.88 lies in (0.0016, 0.0032]: 2748449 → 2832003.
        let p99 = get.quantile(0.99).unwrap();
        let expected =
            0.0016 + 0.0016 * ((0.99 * 2_845_512.0 - 2_748_449.0) / (2_832_003.0 - 2_748_449.0));
        assert!((p99 - expected).abs() < 1e-12, "{p99} vs {expected}");
        let all = Histogram::merge(&series);
        assert!(all.quantile(0.99).unwrap() > 0.0);
        assert_eq!(
            e.value("tikv_store_size_bytes", &[("type", "capacity")])
                .map(|v| v > 0.0),
            Some(true)
        );
        assert_eq!(
            e.value("tikv_raftstore_slow_score", &[("type", "raft")]),
            Some(1.0)
        );
        let leaders = e.family("tikv_raftstore_region_count").unwrap();
        assert_eq!(leaders.select(&[("type", "leader")]).count(), 1);
    }

    #[test]
    fn the_pd_fixture_yields_cluster_status_and_exponent_values() {
        let e = parse(&fixture("pd_metrics.txt"));
        assert!(e.errors.is_empty(), "{:?}", e.errors);
        let status = e.family("pd_cluster_status").unwrap();
        assert_eq!(status.samples.len(), 90);
        let down: f64 = status
            .select(&[("type", "store_down_count")])
            .map(|s| s.value)
            .sum();
        assert_eq!(down, 0.0);
        assert_eq!(
            e.value(
                "pd_cluster_status",
                &[("store", "1"), ("type", "storage_capacity")]
            ),
            Some(1_081_101_176_832.0)
        );
        assert_eq!(
            e.value("pd_regions_status", &[("type", "down-peer-region-count")]),
            Some(2.0)
        );
        assert_eq!(
            e.value("service_member_role", &[("service", "PD")]),
            Some(1.0)
        );
        let hb = e
            .family("pd_scheduler_handle_store_heartbeat_duration_seconds")
            .unwrap()
            .histograms();
        assert_eq!(hb.len(), 1);
        assert!(hb[0].quantile(0.99).is_some());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }
    }
}
