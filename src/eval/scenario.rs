//! Scenarios as data: one YAML file per scenario, naming the faults to inject, benign
//! noise, and the root causes a correct diagnosis names. Adding a scenario is adding a
//! file.
//!
//! # Who reads what
//!
//! The core reads what every subject's scenario has; the subject reads the rest through
//! its [`ScenarioSchema`]:
//!
//! ```yaml
//! name: slow-disk-and-hot-region          # core
//! description: two independent causes     # core
//! subject: tikv                           # core: picks the subject (default: the first registered)
//! control: false                          # core: `true` asserts the file is a control
//! cluster: {pd: 1, tikv: 4}               # the subject's cluster shape
//! faults:                                 # core: a list; each entry's `at` and `duration`
//!   - {kind: slow-disk, store: 1, ms: 20} #   the rest of the entry is the subject's fault
//!   - {kind: hot-region, store: 2, qps: 4000, at: 60s, duration: 10m}
//! noise:                                  # core: a list, timed like faults; the subject's kinds
//!   - {kind: load-spike, qps: 1500, at: 0s, duration: 2m}
//! expect:
//!   root_causes:                          # core: categories of the subject's catalog;
//!     - {category: disk-slow, target: tikv-1}   # targets checked by the subject
//! ```
//!
//! `fault:` (one fault, format v1) is still read. `expect.root_causes` may be left out:
//! each fault implies its category and target ([`ScenarioSchema::implied_cause`]). A
//! scenario with no fault is a *control*: any ticket it opens is a false positive.
//! Acceptable actions are not part of a scenario: they come from the catalog.
//!
//! # Errors
//!
//! Unknown keys, fault or noise kinds (serde, with the file's line and column),
//! categories outside the subject's catalog and targets the subject rejects (located by
//! their text in the file) fail the whole file with `file:line:column`.

use std::fmt::Debug;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::EvalError;
use crate::diagnose::catalog::CauseCatalog;

/// What a subject supplies to read its scenario files: its cluster shape, fault and
/// noise kinds, its catalog, and how it checks targets.
pub trait ScenarioSchema: Send + Sync + 'static {
    /// The subject name, as `subject:` in a file and tickets carry it.
    const SUBJECT: &'static str;
    /// The `cluster:` section.
    type Shape: Serialize + DeserializeOwned + Default + Clone + Debug + Ord + Send + Sync;
    /// One fault (the entry of `faults:` without `at`/`duration`), tagged by `kind`.
    type Fault: Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync;
    /// One benign event, tagged by `kind`.
    type Noise: Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync;

    /// The subject's cause catalog (categories of `expect.root_causes`).
    fn catalog() -> &'static CauseCatalog;
    /// A fault's kebab-case kind.
    fn fault_kind(f: &Self::Fault) -> &'static str;
    /// A noise event's kebab-case kind.
    fn noise_kind(n: &Self::Noise) -> &'static str;
    /// The shape in words (`1 PD, 3 TiKV`).
    fn describe_shape(shape: &Self::Shape) -> String;
    /// Checks the shape, the faults and the noise against each other (targets in range,
    /// parameters sound).
    ///
    /// # Errors
    ///
    /// The first problem, with the text that locates it in the file.
    fn validate(
        shape: &Self::Shape,
        faults: &[Timed<Self::Fault>],
        noise: &[Timed<Self::Noise>],
    ) -> Result<(), Problem>;
    /// The root cause a fault is: its catalog category and its target (canonical).
    fn implied_cause(f: &Self::Fault) -> (&'static str, String);
    /// The canonical name of the entity a scenario target names, on this shape.
    ///
    /// # Errors
    ///
    /// Why the name names no entity of the cluster.
    fn target(shape: &Self::Shape, name: &str) -> Result<String, String>;
}

/// A problem a subject found in a scenario, located by text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The text to point at (`store: 5`).
    pub needle: String,
    /// Search from the line holding this text (the fault's kind), when given.
    pub after: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem at `needle`, searched from the line holding `after`.
    pub fn at(needle: impl Into<String>, after: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            needle: needle.into(),
            after: after.map(str::to_string),
            message: message.into(),
        }
    }
}

/// A duration in a scenario (`30s`, `2m`): simulated time for a simulated subject, wall
/// time for a real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SimDuration(pub Duration);

impl TryFrom<String> for SimDuration {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        humantime::parse_duration(s.trim())
            .map(SimDuration)
            .map_err(|e| format!("{s:?} is not a duration (30s, 2m): {e}"))
    }
}

impl From<SimDuration> for String {
    fn from(d: SimDuration) -> String {
        humantime::format_duration(d.0).to_string()
    }
}

/// A fault or a noise event with its timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timed<T> {
    /// What happens (the subject's kind and parameters).
    #[serde(flatten)]
    pub what: T,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: SimDuration,
    /// How long it lasts; unset: until the run ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<SimDuration>,
}

/// One scenario file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = ""))]
struct ScenarioFile<S: ScenarioSchema> {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    control: bool,
    #[serde(default)]
    cluster: S::Shape,
    #[serde(default)]
    fault: Option<S::Fault>,
    #[serde(default)]
    faults: Vec<Timed<S::Fault>>,
    #[serde(default)]
    noise: Vec<Timed<S::Noise>>,
    #[serde(default)]
    expect: Expect,
}

/// A loaded, validated scenario.
#[derive(Debug, Serialize)]
#[serde(bound(serialize = ""))]
pub struct Scenario<S: ScenarioSchema> {
    /// Short name (`node-death`), used by `operator demo --scenario`.
    pub name: String,
    /// One sentence for humans.
    pub description: String,
    /// Cluster shape.
    pub cluster: S::Shape,
    /// Faults, in injection order.
    pub faults: Vec<Timed<S::Fault>>,
    /// Benign events.
    pub noise: Vec<Timed<S::Noise>>,
    /// The true root causes (empty for a control).
    pub root_causes: Vec<ExpectedCause>,
}

impl<S: ScenarioSchema> Clone for Scenario<S> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            description: self.description.clone(),
            cluster: self.cluster.clone(),
            faults: self.faults.clone(),
            noise: self.noise.clone(),
            root_causes: self.root_causes.clone(),
        }
    }
}

impl<S: ScenarioSchema> PartialEq for Scenario<S> {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
            && self.description == o.description
            && self.cluster == o.cluster
            && self.faults == o.faults
            && self.noise == o.noise
            && self.root_causes == o.root_causes
    }
}

impl<S: ScenarioSchema> Scenario<S> {
    /// A control: no fault (noise only, or nothing at all).
    pub fn is_control(&self) -> bool {
        self.faults.is_empty()
    }

    /// The kinds of its faults (`slow-disk+hot-region`), or `control` / `noisy-control`.
    pub fn kind(&self) -> String {
        if self.faults.is_empty() {
            return if self.noise.is_empty() {
                "control".into()
            } else {
                "noisy-control".into()
            };
        }
        self.faults
            .iter()
            .map(|f| S::fault_kind(&f.what))
            .collect::<Vec<_>>()
            .join("+")
    }

    /// A plain control on `shape`.
    pub fn control(shape: S::Shape) -> Self {
        Self {
            name: "control".into(),
            description: "no fault".into(),
            cluster: shape,
            faults: vec![],
            noise: vec![],
            root_causes: vec![],
        }
    }
}

/// A true root cause, as the scenario writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedCauseFile {
    /// A category of the subject's catalog.
    pub category: String,
    /// The entity it is located on.
    pub target: String,
}

/// A true root cause, validated: a catalog category on an entity's canonical name
/// (`tikv-1`, `pd`, `etcd-2`, `cluster`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedCause {
    /// Catalog category.
    pub category: String,
    /// The entity's canonical name.
    pub target: String,
}

/// What a correct outcome is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// v2: the true root causes (default: the faults' implied causes).
    #[serde(default)]
    pub root_causes: Vec<ExpectedCauseFile>,
    /// v1: invariants whose ticket counted as detection (kept for old files; unused).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invariants: Vec<String>,
    /// v1: cause phrases (unused: scoring reads structured fields).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cause: Vec<String>,
    /// v1: acceptable actions (unused: the catalog defines them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

/// The subject a scenario file names (`subject:`), without validating the rest.
pub fn peek_subject(text: &str) -> Option<String> {
    let v: yaml_serde::Value = yaml_serde::from_str(text).ok()?;
    v.get("subject")?.as_str().map(str::to_string)
}

/// Parses every file (`(origin, text)`, in order) as a scenario of `S`.
///
/// # Guarantees
/// Fails on the first file that does not parse or validate (naming it, with line and
/// column), on no files, and on duplicate scenario names.
///
/// # Errors
///
/// [`EvalError::Scenario`].
pub fn parse_all<S: ScenarioSchema>(
    files: &[(String, String)],
) -> Result<Vec<Scenario<S>>, EvalError> {
    let mut out: Vec<Scenario<S>> = Vec::new();
    for (origin, text) in files {
        let s = parse::<S>(text, origin)?;
        if out.iter().any(|o| o.name == s.name) {
            let (l, c) = locate(text, None, &s.name);
            return Err(EvalError::Scenario(format!(
                "{origin}:{l}:{c}: duplicate scenario name {:?}",
                s.name
            )));
        }
        out.push(s);
    }
    if out.is_empty() {
        return Err(EvalError::Scenario("no scenario files (*.yaml)".into()));
    }
    Ok(out)
}

/// `line:column` (1-based) of the first occurrence of `needle` in `text` at or after the
/// line holding `after` (when given), else `1:1`.
fn locate(text: &str, after: Option<&str>, needle: &str) -> (usize, usize) {
    let start = after
        .and_then(|a| text.find(a))
        .map(|i| text[..i].rfind('\n').map(|n| n + 1).unwrap_or(0))
        .unwrap_or(0);
    match text[start..].find(needle) {
        Some(i) => {
            let abs = start + i;
            let line = text[..abs].matches('\n').count() + 1;
            let col = abs - text[..abs].rfind('\n').map(|n| n + 1).unwrap_or(0) + 1;
            (line, col)
        }
        None => (1, 1),
    }
}

/// Parses and validates a scenario's text (`origin` names it in errors).
///
/// # Errors
///
/// [`EvalError::Scenario`] with `origin:line:column`.
pub fn parse<S: ScenarioSchema>(text: &str, origin: &str) -> Result<Scenario<S>, EvalError> {
    let f: ScenarioFile<S> = yaml_serde::from_str(text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| format!("{}:{}", l.line(), l.column()))
            .unwrap_or_else(|| "1:1".into());
        EvalError::Scenario(format!("{origin}:{loc}: {e}"))
    })?;
    let err = |needle: &str, after: Option<&str>, msg: String| {
        let (l, c) = locate(text, after, needle);
        EvalError::Scenario(format!("{origin}:{l}:{c}: {msg}"))
    };
    if let Some(sub) = &f.subject {
        if sub != S::SUBJECT {
            return Err(err(
                "subject:",
                None,
                format!(
                    "subject {sub:?} is read here as a {} scenario (one subject per directory)",
                    S::SUBJECT
                ),
            ));
        }
    }
    if f.fault.is_some() && !f.faults.is_empty() {
        return Err(err(
            "fault:",
            None,
            "give either `fault:` (one) or `faults:` (a list), not both".into(),
        ));
    }
    let mut faults = f.faults;
    if let Some(one) = f.fault {
        faults.push(Timed {
            what: one,
            at: SimDuration::default(),
            duration: None,
        });
    }
    if f.control && !faults.is_empty() {
        return Err(err(
            "control:",
            None,
            "a control has no fault (planned work and load go under `noise:`)".into(),
        ));
    }
    if f.control && !f.expect.root_causes.is_empty() {
        return Err(err(
            "root_causes",
            None,
            "a control has no root cause".into(),
        ));
    }
    S::validate(&f.cluster, &faults, &f.noise)
        .map_err(|p| err(&p.needle, p.after.as_deref(), p.message))?;
    let catalog = S::catalog();
    let root_causes = if f.expect.root_causes.is_empty() {
        faults
            .iter()
            .map(|t| {
                let (category, target) = S::implied_cause(&t.what);
                ExpectedCause {
                    category: category.to_string(),
                    target,
                }
            })
            .collect()
    } else {
        let mut out = Vec::new();
        for c in &f.expect.root_causes {
            if !catalog.accepts(&c.category) || c.category == "unknown" {
                return Err(err(
                    &c.category,
                    Some("root_causes"),
                    format!(
                        "unknown cause category {:?} (the {} catalog has: {})",
                        c.category,
                        catalog.subject,
                        catalog
                            .causes
                            .iter()
                            .map(|c| c.category)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            let target = S::target(&f.cluster, &c.target)
                .map_err(|why| err(&c.target, Some("root_causes"), why))?;
            out.push(ExpectedCause {
                category: c.category.clone(),
                target,
            });
        }
        out
    };
    Ok(Scenario {
        name: f.name,
        description: f.description,
        cluster: f.cluster,
        faults,
        noise: f.noise,
        root_causes,
    })
}
