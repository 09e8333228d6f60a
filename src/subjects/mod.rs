//! The subjects: each folder is one distributed system the operator can run, written
//! against the port in [`crate::subject`] and the diagnosis contract in
//! [`crate::diagnose::catalog`]. The core never names a folder here
//! (`tests/core_names_no_subject.rs`); the binary and the CLI choose one by the spec's
//! `kind`. Adding a third subject is a new folder here plus its wiring (see
//! ARCHITECTURE.md, "Adding a subject").

pub mod etcd;
pub mod tikv;
