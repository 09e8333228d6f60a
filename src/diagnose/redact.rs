//! Secret redaction for everything that leaves the process: prompts, logs, the decision
//! log, tickets.
//!
//! # Why pattern *and* registry
//!
//! Patterns catch secrets we have never seen (an `sk-ant-…` key pasted into a TiKV label,
//! a `password=` in a log line, `AWS_SECRET_ACCESS_KEY=…` in a container's env). The
//! registry catches secrets we *know* (the configured API key) even when they do not
//! look like one. Both run on every string before it is sent or written.

use parking_lot::RwLock;
use regex::Regex;
use std::sync::OnceLock;

/// The replacement text.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// Exact secret strings registered at startup, shared by the whole process.
fn registry() -> &'static RwLock<Vec<String>> {
    static REG: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    REG.get_or_init(|| RwLock::new(Vec::new()))
}

/// Registers an exact secret (e.g. the configured API key). Strings shorter than 8
/// characters are ignored: redacting them would mangle ordinary text.
pub fn register_secret(secret: &str) {
    let s = secret.trim();
    if s.len() < 8 {
        return;
    }
    let mut reg = registry().write();
    if !reg.iter().any(|x| x == s) {
        reg.push(s.to_string());
        // Longest first so a secret containing another is replaced whole.
        reg.sort_by_key(|b| std::cmp::Reverse(b.len()));
    }
}

struct Patterns {
    anthropic: Regex,
    generic_sk: Regex,
    bearer: Regex,
    secret_env: Regex,
    key_value: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        anthropic: Regex::new(r"sk-ant-[A-Za-z0-9_\-]{8,}").expect("static regex"),
        generic_sk: Regex::new(r"\bsk-[A-Za-z0-9_\-]{16,}").expect("static regex"),
        bearer: Regex::new(r"(?i)\b(bearer)\s+[A-Za-z0-9_\-\.=+/~]{8,}").expect("static regex"),
        // FOO_KEY=..., FOO_TOKEN: ..., DB_PASSWORD="...", X_SECRET=...
        secret_env: Regex::new(
            r#"\b([A-Z0-9_]*(?:_KEY|_TOKEN|_PASSWORD|_SECRET|_SECRET_KEY|_ACCESS_KEY|APIKEY|_PASS))(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;"'\]\}]+)"#,
        )
        .expect("static regex"),
        // password=..., token: ..., secret="...", api_key=..., passwd=...
        key_value: Regex::new(
            r#"(?i)\b(password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key|auth)(\"?\s*[=:]\s*\"?)([^\s,;"'&\]\}]+)"#,
        )
        .expect("static regex"),
    })
}

/// Redacts secrets from `text`.
///
/// # Guarantees
/// - Every registered secret (exact match) is replaced by `[REDACTED]`.
/// - `sk-ant-…`, `sk-…` (16+ chars), `Bearer <token>`, `*_KEY/_TOKEN/_PASSWORD/_SECRET=value`
///   and `password=/token=/secret=/api_key=` values are replaced; the key name is kept so
///   the text still reads.
/// - Idempotent: `redact(redact(x)) == redact(x)`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for s in registry().read().iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    let p = patterns();
    out = p.anthropic.replace_all(&out, REDACTED).into_owned();
    out = p.generic_sk.replace_all(&out, REDACTED).into_owned();
    out = p
        .bearer
        .replace_all(&out, format!("$1 {REDACTED}").as_str())
        .into_owned();
    out = p
        .secret_env
        .replace_all(&out, |c: &regex::Captures<'_>| {
            if c[3].starts_with("[REDACTED") {
                c[0].to_string()
            } else {
                format!("{}{}{}", &c[1], &c[2], REDACTED)
            }
        })
        .into_owned();
    out = p
        .key_value
        .replace_all(&out, |c: &regex::Captures<'_>| {
            if c[3].starts_with("[REDACTED") {
                c[0].to_string()
            } else {
                format!("{}{}{}", &c[1], &c[2], REDACTED)
            }
        })
        .into_owned();
    out
}

/// Redacts every string inside a JSON value (keys are kept; values whose key looks
/// secret are replaced whole).
pub(crate) fn redact_json(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(redact(s)),
        Value::Array(a) => Value::Array(a.iter().map(redact_json).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let secret_key = key_looks_secret(k);
                    let nv = match v {
                        Value::String(_) | Value::Number(_) if secret_key => {
                            Value::String(REDACTED.into())
                        }
                        other => redact_json(other),
                    };
                    (k.clone(), nv)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Redacts every string inside a JSON value by pattern and registry only (keys and the
/// value types are kept, so the value still deserializes into its type).
pub(crate) fn redact_strings(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(redact(s)),
        Value::Array(a) => Value::Array(a.iter().map(redact_strings).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), redact_strings(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// True for names like `ANTHROPIC_API_KEY`, `db_password`, `token`, `client_secret`.
pub(crate) fn key_looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with("_key")
        || n.ends_with("_token")
        || n.ends_with("_password")
        || n.ends_with("_secret")
        || matches!(
            n.as_str(),
            "password" | "passwd" | "token" | "secret" | "api_key" | "apikey" | "authorization"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anthropic_key_in_a_log_line_is_redacted() {
        let r = redact("calling api with sk-ant-api03-AbCdEf0123456789_xyz-QQ done");
        assert!(!r.contains("sk-ant-api03"), "{r}");
        assert!(r.contains(REDACTED));
        assert!(r.ends_with("done"));
    }

    #[test]
    fn generic_sk_keys_and_bearer_tokens_are_redacted() {
        let r = redact(
            "key sk-proj1234567890abcdefXYZ and Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc",
        );
        assert!(!r.contains("sk-proj1234567890"), "{r}");
        assert!(!r.contains("eyJhbGci"), "{r}");
        assert!(r.contains("Bearer [REDACTED]"), "{r}");
    }

    #[test]
    fn password_token_and_secret_key_values_are_redacted_but_keys_kept() {
        let r = redact(
            "connect password=hunter2hunter token: abcdef123 secret=\"s3cr3t\" url=http://x",
        );
        assert!(!r.contains("hunter2hunter"), "{r}");
        assert!(!r.contains("abcdef123"), "{r}");
        assert!(!r.contains("s3cr3t"), "{r}");
        assert!(r.contains("password=[REDACTED]"), "{r}");
        assert!(r.contains("url=http://x"), "{r}");
    }

    #[test]
    fn env_values_of_secret_looking_variables_are_redacted() {
        let r = redact("env: AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI DB_PASSWORD=pa55 GITHUB_TOKEN=ghp_abc PATH=/usr/bin X_SECRET='q q'");
        for s in ["wJalrXUtnFEMI", "pa55", "ghp_abc", "'q q'"] {
            assert!(!r.contains(s), "{s} leaked: {r}");
        }
        assert!(r.contains("PATH=/usr/bin"), "{r}");
    }

    #[test]
    fn a_registered_secret_is_redacted_even_when_it_looks_harmless() {
        register_secret("plain-looking-value-42");
        let r = redact("label value plain-looking-value-42 here");
        assert_eq!(r, "label value [REDACTED] here");
    }

    #[test]
    fn redaction_is_idempotent() {
        let once =
            redact("password=abc DB_TOKEN=zzz sk-ant-api03-0123456789abcdef Bearer abcdefghijkl");
        assert_eq!(redact(&once), once);
    }

    #[test]
    fn json_values_under_secret_looking_keys_are_replaced() {
        let v = serde_json::json!({"env": {"ANTHROPIC_API_KEY": "anything", "HOME": "/root"}, "line": "token=abc123"});
        let r = redact_json(&v);
        assert_eq!(r["env"]["ANTHROPIC_API_KEY"], REDACTED);
        assert_eq!(r["env"]["HOME"], "/root");
        assert_eq!(r["line"], "token=[REDACTED]");
    }
}
