//! The etcd subject: a real etcd (Debian's `etcd-server` 3.4.23) on Docker.
//!
//! Everything etcd-specific lives in this folder, so the core needs only wiring:
//!
//! | file | concern | pure? |
//! |---|---|---|
//! | `spec.rs` | `kind: EtcdCluster`: types, defaults, validation | yes |
//! | `topology.rs` | names, labels, the `etcd` command line, the spec hash | yes |
//! | `wire.rs` | the v3 JSON gateway's messages | yes |
//! | `client.rs` | `/health`, `/metrics`, the gateway, through [`crate::http`] | no |
//! | `model.rs` | one observation | yes |
//! | `plan.rs` | **the planner** (quorum arithmetic, membership order) | yes |
//! | `subject.rs` | observe / apply / snapshot: the [`crate::subject::Subject`] impl | no |
//! | `snapshot.rs` | what a monitoring pass sees; windows over scrape history | reduction: yes |
//! | `invariants.rs` | etcd's alert rules as pure checks | yes |
//! | `catalog.rs` | the cause catalog | yes |
//! | `diagnose.rs` | rules diagnoses over the catalog, and the system prompt | yes |
//! | `status.rs` | the `operator status` table | yes |
//! | `chaos.rs` | etcd's fault knobs (kill the leader, a majority, slow disk, fill the quota) | no |
//! | `tools.rs` | read-only investigation tools for model backends (members, status, alarms, health, metrics, containers) | no |
//! | `cli.rs` | the commands for an `EtcdCluster` spec | no |

pub mod catalog;
pub mod chaos;
pub mod cli;
pub mod client;
pub mod diagnose;
pub mod eval;
pub mod invariants;
pub mod model;
pub mod plan;
pub mod snapshot;
pub mod spec;
pub mod status;
pub mod subject;
pub mod tools;
pub mod topology;
pub mod wire;
