//! etcd's scenario files (`examples/scenarios-etcd/*.yaml`, `subject: etcd`): the
//! cluster shape, the fault kinds (the etcd chaos knobs: a member, `leader` or
//! `majority` killed; a member disconnected; the keyspace filled to NOSPACE; a member's
//! disk throttled), the noise (a spec change the operator rolls out), and the entities.
//!
//! ```yaml
//! subject: etcd
//! cluster: {members: 3, quotaBackendBytes: 16777216}
//! faults:
//!   - {kind: kill, member: leader}                  # etcd-N | leader | majority
//!   - {kind: disconnect, member: etcd-2, at: 5s, duration: 40s}
//!   - {kind: disk-fill, member: quota, ratio: 1.0}  # the keyspace against the quota
//!   - {kind: slow-disk, member: etcd-1, write_iops: 20}
//! noise:
//!   - {kind: spec-change, quotaBackendBytes: 33554432}   # a rolling restart
//! ```
//!
//! Targets: `etcd-N` (or `<cluster>-etcd-N`), `cluster`, and `leader`, which names the
//! member that led when the fault was injected (resolved then).

use serde::{Deserialize, Serialize};

use super::super::catalog::CATALOG;
use super::super::topology::Names;
use crate::diagnose::catalog::CauseCatalog;
use crate::eval::scenario::{Problem, ScenarioSchema, Timed};

/// etcd's scenario vocabulary, for the core's scenario reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct EtcdScenarios;

/// An etcd scenario.
pub type Scenario = crate::eval::scenario::Scenario<EtcdScenarios>;

/// The symbolic target resolved at injection.
pub const LEADER: &str = "leader";
/// The fault target that names a quorum's worth of members.
pub const MAJORITY: &str = "majority";
/// The `disk-fill` target that names the keyspace against `--quota-backend-bytes`.
pub const QUOTA: &str = "quota";

/// The cluster a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EtcdShape {
    /// Members.
    #[serde(default = "three")]
    pub members: u32,
    /// `--quota-backend-bytes` (default: the spec's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_backend_bytes: Option<u64>,
}

fn three() -> u32 {
    3
}

impl Default for EtcdShape {
    fn default() -> Self {
        Self {
            members: 3,
            quota_backend_bytes: None,
        }
    }
}

/// A fault, through etcd's chaos knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EtcdFault {
    /// SIGKILL a member (`etcd-N`), the `leader`, or a `majority` (the leader first).
    Kill {
        /// `etcd-N`, `leader` or `majority`.
        member: String,
    },
    /// Disconnect a member from the cluster network (its process keeps running).
    Disconnect {
        /// `etcd-N` or `leader`.
        member: String,
    },
    /// Fill the keyspace until the backend holds `ratio` of the quota (≥ 1: NOSPACE).
    DiskFill {
        /// `quota`.
        member: String,
        /// Fraction of `--quota-backend-bytes`.
        ratio: f64,
    },
    /// Throttle a member's data device (blkio write IOPS).
    SlowDisk {
        /// `etcd-N` or `leader`.
        member: String,
        /// Write operations per second allowed.
        write_iops: u64,
    },
}

impl EtcdFault {
    /// Kebab-case kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Kill { .. } => "kill",
            Self::Disconnect { .. } => "disconnect",
            Self::DiskFill { .. } => "disk-fill",
            Self::SlowDisk { .. } => "slow-disk",
        }
    }

    /// The member (or symbolic target) it names.
    pub fn member(&self) -> &str {
        match self {
            Self::Kill { member }
            | Self::Disconnect { member }
            | Self::DiskFill { member, .. }
            | Self::SlowDisk { member, .. } => member,
        }
    }
}

/// Benign events the operator itself causes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EtcdNoise {
    /// The spec's quota changes: the operator rolls every member, one at a time.
    SpecChange {
        /// The new `--quota-backend-bytes`.
        #[serde(rename = "quotaBackendBytes")]
        quota_backend_bytes: u64,
    },
}

/// The ordinal of `etcd-N` or `<cluster>-etcd-N`.
pub fn ordinal(name: &str) -> Option<u32> {
    let n = name.trim();
    Names::ordinal(n).or_else(|| n.rsplit_once("-etcd-").and_then(|(_, o)| o.parse().ok()))
}

fn member_in(shape: &EtcdShape, name: &str) -> Option<u32> {
    ordinal(name).filter(|o| *o < shape.members)
}

impl ScenarioSchema for EtcdScenarios {
    const SUBJECT: &'static str = super::super::invariants::SUBJECT;
    type Shape = EtcdShape;
    type Fault = EtcdFault;
    type Noise = EtcdNoise;

    fn catalog() -> &'static CauseCatalog {
        &CATALOG
    }

    fn fault_kind(f: &EtcdFault) -> &'static str {
        f.kind()
    }

    fn noise_kind(n: &EtcdNoise) -> &'static str {
        match n {
            EtcdNoise::SpecChange { .. } => "spec-change",
        }
    }

    fn describe_shape(shape: &EtcdShape) -> String {
        format!("{} etcd members on Docker", shape.members)
    }

    fn validate(
        shape: &EtcdShape,
        faults: &[Timed<EtcdFault>],
        noise: &[Timed<EtcdNoise>],
    ) -> Result<(), Problem> {
        if shape.members == 0 {
            return Err(Problem::at(
                "members",
                None,
                "an etcd cluster needs at least one member",
            ));
        }
        for t in faults {
            let f = &t.what;
            let (kind, m) = (f.kind(), f.member());
            let here = |msg: String| Problem::at(format!("member: {m}"), Some(kind), msg);
            let out_of_range = || {
                here(format!(
                    "{kind}: member {m:?} is not etcd-0..etcd-{} (the cluster has {} members){}",
                    shape.members.saturating_sub(1),
                    shape.members,
                    match f {
                        EtcdFault::Kill { .. } => ", `leader` or `majority`",
                        EtcdFault::DiskFill { .. } => "",
                        _ => " or `leader`",
                    }
                ))
            };
            match f {
                EtcdFault::Kill { member } if member == MAJORITY => {
                    if shape.members < 3 {
                        return Err(here(
                            "kill majority needs at least 3 members (a quorum to take away and a survivor)"
                                .into(),
                        ));
                    }
                }
                EtcdFault::DiskFill { member, ratio } => {
                    if member != QUOTA {
                        return Err(here(format!(
                            "disk-fill on etcd fills the keyspace against --quota-backend-bytes: member must be `quota`, not {member:?}"
                        )));
                    }
                    if !(*ratio > 0.0 && *ratio <= 2.0) {
                        return Err(Problem::at(
                            "ratio",
                            Some(kind),
                            format!("disk-fill: ratio {ratio} is not in (0, 2]"),
                        ));
                    }
                }
                EtcdFault::SlowDisk { write_iops: 0, .. } => {
                    return Err(Problem::at(
                        "write_iops",
                        Some(kind),
                        "slow-disk: write_iops must be at least 1",
                    ));
                }
                _ => {
                    if m != LEADER && member_in(shape, m).is_none() {
                        return Err(out_of_range());
                    }
                }
            }
        }
        for n in noise {
            let EtcdNoise::SpecChange {
                quota_backend_bytes,
            } = &n.what;
            if *quota_backend_bytes == 0 {
                return Err(Problem::at(
                    "quotaBackendBytes",
                    Some("spec-change"),
                    "spec-change: quotaBackendBytes must be positive",
                ));
            }
        }
        Ok(())
    }

    fn implied_cause(f: &EtcdFault) -> (&'static str, String) {
        let on = |m: &str| {
            ordinal(m)
                .map(Names::member)
                .unwrap_or_else(|| m.to_string())
        };
        match f {
            EtcdFault::Kill { member } if member == MAJORITY => ("quorum-loss", "cluster".into()),
            EtcdFault::Kill { member } => ("process-exit", on(member)),
            EtcdFault::Disconnect { member } => ("network-partition", on(member)),
            EtcdFault::DiskFill { .. } => ("db-quota", "cluster".into()),
            EtcdFault::SlowDisk { member, .. } => ("disk-slow", on(member)),
        }
    }

    fn target(shape: &EtcdShape, name: &str) -> Result<String, String> {
        match name.trim() {
            "cluster" => Ok("cluster".into()),
            LEADER => Ok(LEADER.into()),
            n => match ordinal(n) {
                Some(o) if o < shape.members => Ok(Names::member(o)),
                Some(_) => Err(format!(
                    "target {n:?} is out of range (the cluster has etcd-0..etcd-{})",
                    shape.members.saturating_sub(1)
                )),
                None => Err(format!(
                    "target {n:?} names no entity (etcd-N, leader, cluster)"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::scenario::{parse, ExpectedCause};
    use crate::eval::EvalError;

    fn p(text: &str) -> Result<Scenario, EvalError> {
        parse::<EtcdScenarios>(text, "e.yaml")
    }

    #[test]
    fn a_compound_file_reads_its_shape_timed_faults_and_root_causes() {
        let s = p("name: a\nsubject: etcd\ncluster: {members: 5, quotaBackendBytes: 16777216}\nfaults:\n  - {kind: disconnect, member: etcd-1, duration: 60s}\n  - {kind: kill, member: etcd-3, at: 5s}\nexpect:\n  root_causes:\n    - {category: network-partition, target: etcd-1}\n    - {category: process-exit, target: eval-etcd-7-etcd-3}\n").unwrap();
        assert_eq!(s.cluster.members, 5);
        assert_eq!(s.cluster.quota_backend_bytes, Some(16_777_216));
        assert_eq!(s.faults[1].at.0, std::time::Duration::from_secs(5));
        assert_eq!(s.kind(), "disconnect+kill");
        assert_eq!(s.root_causes[1].target, "etcd-3");
    }

    #[test]
    fn faults_imply_their_causes_when_expect_is_left_out() {
        let s = p("name: a\nfaults:\n  - {kind: kill, member: majority}\n  - {kind: kill, member: leader}\n  - {kind: disk-fill, member: quota, ratio: 1.0}\n").unwrap();
        let want = |c: &str, t: &str| ExpectedCause {
            category: c.into(),
            target: t.into(),
        };
        assert_eq!(
            s.root_causes,
            vec![
                want("quorum-loss", "cluster"),
                want("process-exit", "leader"),
                want("db-quota", "cluster")
            ]
        );
    }

    #[test]
    fn an_out_of_range_member_is_rejected_with_its_line_and_column() {
        let e = p("name: a\ncluster: {members: 3}\nfaults:\n  - {kind: kill, member: etcd-3}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("e.yaml:4:18"), "{e}");
        assert!(e.contains("etcd-0..etcd-2"), "{e}");
        let e = p("name: a\nfaults:\n  - {kind: kill, member: etcd-1}\nexpect:\n  root_causes:\n    - {category: process-exit, target: etcd-9}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("e.yaml:6:40"), "{e}");
    }

    #[test]
    fn an_unknown_kind_or_category_is_rejected_with_its_line() {
        let e = p("name: a\nfaults:\n  - {kind: meteor, member: etcd-1}\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("scenario: e.yaml:3:"), "{e}");
        assert!(e.contains("meteor"), "{e}");
        let e = p("name: a\nfaults:\n  - {kind: kill, member: etcd-1}\nexpect:\n  root_causes:\n    - {category: hot-region, target: etcd-1}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("e.yaml:6:18"), "{e}");
        assert!(e.contains("the etcd catalog has"), "{e}");
    }

    #[test]
    fn a_control_with_a_fault_and_a_tikv_file_read_as_etcd_are_rejected() {
        let e = p("name: a\ncontrol: true\nfaults:\n  - {kind: kill, member: etcd-1}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("e.yaml:2:1"), "{e}");
        let e = p("name: a\nsubject: tikv\n").unwrap_err().to_string();
        assert!(e.contains("e.yaml:2:1"), "{e}");
        let s = p("name: c\ncontrol: true\nnoise:\n  - {kind: spec-change, quotaBackendBytes: 33554432}\n").unwrap();
        assert!(s.is_control());
        assert_eq!(s.kind(), "noisy-control");
    }

    #[test]
    fn disk_fill_names_the_quota_and_majority_needs_three_members() {
        let e = p("name: a\nfaults:\n  - {kind: disk-fill, member: etcd-1, ratio: 0.5}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be `quota`"), "{e}");
        let e = p("name: a\ncluster: {members: 1}\nfaults:\n  - {kind: kill, member: majority}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 3 members"), "{e}");
    }
}
