//! The subjects: each folder is one distributed system the operator can run, written
//! against the port in [`crate::subject`] and the diagnosis contract in
//! [`crate::diagnose::catalog`]. The core never names a folder here
//! (`tests/core_names_no_subject.rs`); the binary and the CLI choose one by the spec's
//! `kind`. Adding a third subject is a new folder here plus its wiring (see
//! ARCHITECTURE.md, "Adding a subject").

pub mod container_tools;
pub mod etcd;
pub mod tikv;

use std::sync::Arc;

use crate::cli::SubjectCommands;
use crate::diagnose::backend::rules::Reasoner;
use crate::diagnose::catalog::CauseCatalog;
use crate::diagnose::investigate::Toolbox;
use crate::diagnose::runbook::RunbookSource;
use crate::runtime::readonly::ContainerReader;
use crate::tickets::incidents::{CausalLinks, IncidentTicket};

/// The registry of subjects for the CLI: each one's commands, found by the spec's
/// `kind`. TiKV is first, the default for commands that name no spec. A third subject
/// adds its line here.
pub fn commands(tikv: tikv::cli::TikvCommands) -> Vec<Arc<dyn SubjectCommands>> {
    vec![Arc::new(tikv), Arc::new(etcd::cli::EtcdCommands)]
}

/// What diagnosing and grouping a subject's tickets needs, found by the subject name its
/// tickets carry: its vocabulary, its reasoning for the rules engine, its runbooks and
/// its causal links between tickets.
#[derive(Clone, Copy)]
pub struct SubjectDiagnosis {
    /// The subject name tickets carry (`tikv`).
    pub subject: &'static str,
    /// Its diagnosis vocabulary.
    pub catalog: &'static CauseCatalog,
    /// Its reasoning for the rules engine.
    pub reasoner: fn() -> Arc<dyn Reasoner>,
    /// Its runbooks, when it writes them.
    pub runbooks: Option<fn() -> Arc<dyn RunbookSource>>,
    /// Its causal links between tickets.
    pub links: fn() -> Arc<dyn CausalLinks>,
    /// Its read-only investigation tools for model backends, for the cluster and network
    /// named, reading containers through the view given (when there is a runtime).
    pub tools: Option<ToolsFor>,
}

/// Builds a subject's toolbox for a cluster and its network, reading containers through
/// the view given.
pub type ToolsFor = fn(&str, &str, Option<ContainerReader>) -> Arc<dyn Toolbox>;

fn tikv_tools(cluster: &str, network: &str, reader: Option<ContainerReader>) -> Arc<dyn Toolbox> {
    let tools = tikv::tools::TikvTools::new(cluster, network);
    Arc::new(match reader {
        Some(r) => tools.with_containers(r),
        None => tools,
    })
}

fn etcd_tools(cluster: &str, network: &str, reader: Option<ContainerReader>) -> Arc<dyn Toolbox> {
    Arc::new(etcd::tools::EtcdTools::new(cluster, network, reader))
}

fn tikv_runbooks() -> Arc<dyn RunbookSource> {
    Arc::new(tikv::runbook::TikvRunbooks::default())
}

fn tikv_links() -> Arc<dyn CausalLinks> {
    Arc::new(tikv::incidents::TikvLinks)
}

fn etcd_reasoner() -> Arc<dyn Reasoner> {
    Arc::new(etcd::diagnose::EtcdReasoner)
}

fn no_links() -> Arc<dyn CausalLinks> {
    Arc::new(crate::tickets::incidents::NoLinks)
}

/// The registry of subjects for diagnosis, TiKV first (the default).
pub const DIAGNOSIS: &[SubjectDiagnosis] = &[
    SubjectDiagnosis {
        subject: "tikv",
        catalog: &tikv::catalog::CATALOG,
        reasoner: tikv::hypotheses::reasoner,
        runbooks: Some(tikv_runbooks),
        links: tikv_links,
        tools: Some(tikv_tools),
    },
    SubjectDiagnosis {
        subject: etcd::invariants::SUBJECT,
        catalog: &etcd::catalog::CATALOG,
        reasoner: etcd_reasoner,
        runbooks: None,
        links: no_links,
        tools: Some(etcd_tools),
    },
];

/// The diagnosis wiring of the subject named `subject` (as tickets name it); the
/// default subject's for a name no subject has.
pub fn diagnosis(subject: &str) -> &'static SubjectDiagnosis {
    DIAGNOSIS
        .iter()
        .find(|d| d.subject == subject)
        .unwrap_or(&DIAGNOSIS[0])
}

/// Causal links over tickets of every registered subject: a pair is linked when the
/// subject of either knows why.
pub struct AllLinks(Vec<Arc<dyn CausalLinks>>);

impl Default for AllLinks {
    fn default() -> Self {
        Self(DIAGNOSIS.iter().map(|d| (d.links)()).collect())
    }
}

impl CausalLinks for AllLinks {
    fn link(&self, a: &IncidentTicket, b: &IncidentTicket) -> Option<String> {
        self.0.iter().find_map(|l| l.link(a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_subject_is_found_by_its_name_and_its_catalog_is_its_own() {
        for d in DIAGNOSIS {
            assert_eq!(diagnosis(d.subject).subject, d.subject);
            assert_eq!(d.catalog.subject, d.subject);
            assert!(d.catalog.problems().is_empty(), "{}", d.subject);
            assert_eq!((d.reasoner)().catalog().subject, d.subject);
        }
        assert_eq!(diagnosis("no-such-subject").subject, DIAGNOSIS[0].subject);
    }

    #[tokio::test]
    async fn every_registered_subject_lends_read_only_tools_even_without_a_runtime() {
        for d in DIAGNOSIS {
            let tools = d
                .tools
                .expect("a subject without tools is investigated blind");
            let names: Vec<String> = tools("c", "c-net", None)
                .tools()
                .into_iter()
                .map(|t| t.name)
                .collect();
            assert!(!names.is_empty(), "{}", d.subject);
            assert!(
                !names.iter().any(|n| n.starts_with("container_")),
                "{}: container tools need a runtime: {names:?}",
                d.subject
            );
        }
    }
}
