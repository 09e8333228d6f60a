//! The shape of a spec, checked over the YAML tree before serde sees it.
//!
//! serde stops at the first problem and words it in Rust (`expected u32`, `struct
//! PdSpec`), with the path of the enclosing mapping rather than the field. Users of
//! kubectl expect every problem at once, at the field's own path, in their words. So
//! the document is first walked against a [`Shape`] that mirrors the types of
//! [`super::types`]: each problem becomes one [`Problem`] with its exact dotted path,
//! and the offending entry is removed (a required one replaced by a placeholder) so
//! that the cleaned tree still deserializes and the semantic checks can run over the
//! rest. A test keeps the shape and the types in step (every shipped example and the
//! serialized defaults pass the walk and deserialize).
//!
//! The shape is a parameter, not a global: another `kind` (etcd) brings its own.

use yaml_serde::{Mapping, Value};

use super::types::{API_VERSION, DEFAULT_PD_IMAGE, KIND};
use super::validate::check_image_ref;

/// What a value must look like.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// A mapping with these fields and no others.
    Struct(&'static [Field]),
    /// A mapping from names (strings) to values of one shape.
    Map(&'static Shape),
    /// Text.
    Text,
    /// `true` or `false`.
    Bool,
    /// A whole number within bounds; `hint` says what is expected, in words.
    Int {
        min: i64,
        max: i64,
        hint: &'static str,
    },
    /// One of these words.
    Word(&'static [&'static str]),
    /// A duration such as `30s`.
    Duration,
    /// A container image reference.
    Image,
    /// Anything (free-form sections).
    Any,
}

/// One field of a [`Shape::Struct`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// The key as written (camelCase).
    pub name: &'static str,
    /// Its shape.
    pub shape: Shape,
    /// Required (no default).
    pub required: bool,
}

const fn opt(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: false,
    }
}

const fn req(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: true,
    }
}

const REPLICAS: Shape = Shape::Int {
    min: 0,
    max: u32::MAX as i64,
    hint: "a whole number from 1 to 64",
};
const PORT: Shape = Shape::Int {
    min: 0,
    max: u16::MAX as i64,
    hint: "a port from 1 to 65535",
};
const COUNT: Shape = Shape::Int {
    min: 0,
    max: u32::MAX as i64,
    hint: "a whole number (0 or more)",
};
const TEXT_MAP: Shape = Shape::Map(&Shape::Text);
const ANY_MAP: Shape = Shape::Map(&Shape::Any);

const COMPONENT: Shape = Shape::Struct(&[
    opt("enabled", Shape::Bool),
    req("image", Shape::Image),
    opt("hostPort", PORT),
]);

/// The `TikvCluster` document (mirrors [`super::types::ClusterSpec`]).
pub(crate) const TIKV_CLUSTER: Shape = Shape::Struct(&[
    req("apiVersion", Shape::Text),
    req("kind", Shape::Text),
    req(
        "metadata",
        Shape::Struct(&[req("name", Shape::Text), opt("labels", TEXT_MAP)]),
    ),
    opt(
        "spec",
        Shape::Struct(&[
            opt("network", Shape::Text),
            opt(
                "pd",
                Shape::Struct(&[
                    opt("replicas", REPLICAS),
                    opt("image", Shape::Image),
                    opt("config", ANY_MAP),
                    opt("env", TEXT_MAP),
                    opt("hostPort", PORT),
                ]),
            ),
            opt(
                "tikv",
                Shape::Struct(&[
                    opt("replicas", REPLICAS),
                    opt("image", Shape::Image),
                    opt("config", ANY_MAP),
                    opt("env", TEXT_MAP),
                    opt("volumePolicy", Shape::Word(&["retain", "delete"])),
                ]),
            ),
            opt(
                "monitoring",
                Shape::Struct(&[opt("prometheus", COMPONENT), opt("grafana", COMPONENT)]),
            ),
            opt(
                "failurePolicy",
                Shape::Struct(&[
                    opt("mode", Shape::Word(&["observe", "restart"])),
                    opt("maxRestarts", COUNT),
                    opt("window", Shape::Duration),
                    opt("backoff", Shape::Duration),
                ]),
            ),
            opt(
                "reconcile",
                Shape::Struct(&[
                    opt("interval", Shape::Duration),
                    opt("maxBackoff", Shape::Duration),
                ]),
            ),
            opt(
                "operations",
                Shape::Struct(&[
                    opt("evictLeaderTimeout", Shape::Duration),
                    opt("leaderReturnTimeout", Shape::Duration),
                    opt("pdReadyTimeout", Shape::Duration),
                ]),
            ),
            opt("invariants", ANY_MAP),
            opt("diagnosis", ANY_MAP),
        ]),
    ),
]);

/// One problem found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Dotted path of the field.
    pub path: String,
    /// Point at the key (unknown field) rather than the value.
    pub at_key: bool,
    /// What is wrong and what was expected.
    pub message: String,
}

/// The longest value quoted in a message; longer ones are cut.
pub(crate) const QUOTE_LIMIT: usize = 60;

/// `s` quoted for a message, cut to [`QUOTE_LIMIT`] characters with its full length
/// said, so a 10 MB scalar is not echoed back.
pub(crate) fn quote(s: &str) -> String {
    let n = s.chars().count();
    if n <= QUOTE_LIMIT {
        return format!("{s:?}");
    }
    let head: String = s.chars().take(QUOTE_LIMIT).collect();
    format!("{:?}… ({} characters)", head, n)
}

/// What a value is, in words (`the text "three"`, `a list`).
pub(crate) fn found(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the text {}", quote(s)),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(!ca.eq_ignore_ascii_case(cb));
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn words(list: &[&str]) -> String {
    match list {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A placeholder for a missing required field, so the cleaned tree deserializes (its
/// findings are suppressed: the field is already reported).
fn placeholder(shape: &Shape, name: &str) -> Value {
    match shape {
        Shape::Struct(fields) => {
            let mut m = Mapping::new();
            for f in fields.iter().filter(|f| f.required) {
                m.insert(Value::String(f.name.into()), placeholder(&f.shape, f.name));
            }
            Value::Mapping(m)
        }
        Shape::Image => Value::String(DEFAULT_PD_IMAGE.into()),
        Shape::Text => Value::String(match name {
            "apiVersion" => API_VERSION.into(),
            "kind" => KIND.into(),
            _ => "placeholder".into(),
        }),
        Shape::Duration => Value::String("1s".into()),
        Shape::Bool => Value::Bool(false),
        Shape::Int { min, .. } => Value::Number((*min).into()),
        Shape::Word(w) => Value::String(w.first().copied().unwrap_or_default().into()),
        Shape::Map(_) => Value::Mapping(Mapping::new()),
        Shape::Any => Value::Null,
    }
}

/// Walks `value` (at `path`) against `shape`, appending problems and cleaning `value`
/// so that it deserializes. Returns false when `value` itself is wrong (the caller
/// removes it).
pub(crate) fn check(value: &mut Value, shape: &Shape, path: &str, out: &mut Vec<Problem>) -> bool {
    let bad = |out: &mut Vec<Problem>, message: String| {
        out.push(Problem {
            path: path.to_string(),
            at_key: false,
            message,
        });
        false
    };
    match shape {
        Shape::Any => true,
        Shape::Struct(fields) => {
            if value.is_null() {
                *value = Value::Mapping(Mapping::new());
            }
            let Value::Mapping(map) = value else {
                return bad(
                    out,
                    format!("expected a mapping of fields, found {}", found(value)),
                );
            };
            let mut remove = Vec::new();
            for (k, v) in map.iter_mut() {
                let Some(key) = k.as_str() else {
                    out.push(Problem {
                        path: path.to_string(),
                        at_key: false,
                        message: format!("field names are text; found {}", found(k)),
                    });
                    remove.push(k.clone());
                    continue;
                };
                let child = join(path, key);
                match fields.iter().find(|f| f.name == key) {
                    None => {
                        let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                        let hint = names
                            .iter()
                            .map(|n| (distance(key, n), *n))
                            .filter(|(d, n)| *d <= 2.max(n.len() / 3))
                            .min();
                        let message = match hint {
                            Some((_, n)) => format!("unknown field; did you mean {n:?}?"),
                            None => format!("unknown field; expected {}", words(&names)),
                        };
                        out.push(Problem {
                            path: child,
                            at_key: true,
                            message,
                        });
                        remove.push(k.clone());
                    }
                    Some(f) => {
                        if !check(v, &f.shape, &child, out) {
                            if f.required {
                                *v = placeholder(&f.shape, f.name);
                            } else {
                                remove.push(k.clone());
                            }
                        }
                    }
                }
            }
            for k in remove {
                map.remove(&k);
            }
            for f in fields.iter().filter(|f| f.required) {
                if !map.contains_key(f.name) {
                    out.push(Problem {
                        path: join(path, f.name),
                        at_key: false,
                        message: "required, but missing".into(),
                    });
                    map.insert(Value::String(f.name.into()), placeholder(&f.shape, f.name));
                }
            }
            true
        }
        Shape::Map(inner) => {
            if value.is_null() {
                *value = Value::Mapping(Mapping::new());
            }
            let Value::Mapping(map) = value else {
                return bad(
                    out,
                    format!(
                        "expected a mapping of names to values, found {}",
                        found(value)
                    ),
                );
            };
            let mut remove = Vec::new();
            for (k, v) in map.iter_mut() {
                let Some(key) = k.as_str() else {
                    out.push(Problem {
                        path: path.to_string(),
                        at_key: false,
                        message: format!("names are text; found {}", found(k)),
                    });
                    remove.push(k.clone());
                    continue;
                };
                if !check(v, inner, &join(path, key), out) {
                    remove.push(k.clone());
                }
            }
            for k in remove {
                map.remove(&k);
            }
            true
        }
        Shape::Text => match value {
            Value::String(_) => true,
            other => bad(out, format!("expected text, found {}", found(other))),
        },
        Shape::Bool => match value {
            Value::Bool(_) => true,
            other => bad(
                out,
                format!("expected true or false, found {}", found(other)),
            ),
        },
        Shape::Int { min, max, hint } => {
            let n = match value {
                Value::Number(n) => n,
                other => return bad(out, format!("expected {hint}, found {}", found(other))),
            };
            match n.as_i64() {
                Some(i) if (*min..=*max).contains(&i) => true,
                _ => bad(out, format!("{n} is out of range; expected {hint}")),
            }
        }
        Shape::Word(allowed) => match value {
            Value::String(s) if allowed.contains(&s.as_str()) => true,
            Value::String(s) => bad(
                out,
                format!("unknown value {}; expected {}", quote(s), words(allowed)),
            ),
            other => bad(
                out,
                format!("expected {}, found {}", words(allowed), found(other)),
            ),
        },
        Shape::Duration => match value {
            Value::String(s) => match humantime::parse_duration(s.trim()) {
                Ok(_) => true,
                Err(e) => bad(out, duration_message(s, &e)),
            },
            other => bad(
                out,
                format!(
                    "expected a duration such as 500ms, 30s, 5m or 1h30m, found {}",
                    found(other)
                ),
            ),
        },
        Shape::Image => match value {
            Value::String(s) => match check_image_ref(s) {
                Ok(()) => true,
                Err(e) => bad(out, e),
            },
            other => bad(
                out,
                format!(
                    "expected an image reference such as pingcap/tikv:v8.5.7, found {}",
                    found(other)
                ),
            ),
        },
    }
}

/// Why `s` is not a duration, in words (humantime says `expected number at 0`).
pub(crate) fn duration_words(s: &str, e: &humantime::DurationError) -> String {
    use humantime::DurationError as E;
    match e {
        E::Empty => "it is empty".into(),
        E::NumberExpected(_) => "it should start with a number".into(),
        E::InvalidCharacter(i) => format!(
            "it has an unexpected character {:?}",
            s.get(*i..).and_then(|r| r.chars().next()).unwrap_or('?')
        ),
        E::UnknownUnit { unit, .. } => {
            format!("{} is not a time unit (use ms, s, m, h or d)", quote(unit))
        }
        E::NumberOverflow => "the number is too large".into(),
    }
}

/// The message for an invalid duration.
pub(crate) fn duration_message(s: &str, e: &humantime::DurationError) -> String {
    format!(
        "invalid duration {}: {}; expected a duration such as 500ms, 30s, 5m or 1h30m",
        quote(s),
        duration_words(s, e)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<(String, String)> {
        let mut v: Value = yaml_serde::from_str(yaml).unwrap();
        let mut out = Vec::new();
        check(&mut v, &TIKV_CLUSTER, "", &mut out);
        out.into_iter().map(|p| (p.path, p.message)).collect()
    }

    #[test]
    fn every_problem_is_reported_at_its_own_path() {
        let got = problems(
            "apiVersion: v\nkind: k\nmetadata: {name: a}\nspec:\n  pd: {replcas: 3, image: 7}\n  tikv: {replicas: three}\n",
        );
        assert_eq!(
            got,
            vec![
                (
                    "spec.pd.replcas".to_string(),
                    "unknown field; did you mean \"replicas\"?".to_string()
                ),
                (
                    "spec.pd.image".to_string(),
                    "expected an image reference such as pingcap/tikv:v8.5.7, found the number 7"
                        .to_string()
                ),
                (
                    "spec.tikv.replicas".to_string(),
                    "expected a whole number from 1 to 64, found the text \"three\"".to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_long_value_is_cut_in_messages() {
        let q = quote(&"x".repeat(10_000));
        assert!(q.len() < 100, "{q}");
        assert!(q.ends_with("… (10000 characters)"), "{q}");
    }

    #[test]
    fn humantime_errors_are_said_in_words() {
        let e = humantime::parse_duration("fast").unwrap_err();
        assert_eq!(
            duration_message("fast", &e),
            "invalid duration \"fast\": it should start with a number; expected a duration such as 500ms, 30s, 5m or 1h30m"
        );
    }
}
