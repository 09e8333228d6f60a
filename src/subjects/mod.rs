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

use std::time::Duration;

use crate::cli::SubjectCommands;
use crate::diagnose::backend::rules::{Reasoner, RulesBackend};
use crate::diagnose::backend::DiagnosisBackend;
use crate::diagnose::catalog::CauseCatalog;
use crate::diagnose::context::PastTicket;
use crate::diagnose::investigate::Toolbox;
use crate::diagnose::reconciler::{ContextSource, DiagnosisReconciler, ReconcilerConfig, Sources};
use crate::diagnose::remembering::Remembering;
use crate::diagnose::runbook::RunbookSource;
use crate::diagnose::store_queue::{RelatedTickets, SnapshotContext, SnapshotSection, StoreQueue};
use crate::eval::{EvalError, Suite};
use crate::runtime::readonly::ContainerReader;
use crate::tickets::incidents::{CausalLinks, IncidentTicket};
use crate::tickets::monitor::LatestSnapshot;
use crate::tickets::TicketStore;

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
    /// Its runbooks, when it writes them, for the cluster named (when known).
    pub runbooks: Option<RunbooksFor>,
    /// The fields of its monitoring snapshot that are context sections of their own
    /// (TiKV's `pd_state`); the generic ones are the core's.
    pub context_sections: &'static [SnapshotSection],
    /// Its causal links between tickets.
    pub links: fn() -> Arc<dyn CausalLinks>,
    /// Its read-only investigation tools for model backends, for the cluster and network
    /// named, reading containers through the view given (when there is a runtime).
    pub tools: Option<ToolsFor>,
}

/// Builds a subject's runbooks for the cluster named (when known).
pub(crate) type RunbooksFor = fn(Option<&str>) -> Arc<dyn RunbookSource>;

/// Loads `(origin, text)` scenario files into a subject's evaluation suite.
pub(crate) type LoadSuite = fn(&[(String, String)]) -> Result<Box<dyn Suite>, EvalError>;

/// Builds a subject's toolbox for a cluster and its network, reading containers through
/// the view given.
pub(crate) type ToolsFor = fn(&str, &str, Option<ContainerReader>) -> Arc<dyn Toolbox>;

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

fn tikv_runbooks(cluster: Option<&str>) -> Arc<dyn RunbookSource> {
    Arc::new(tikv::runbook::TikvRunbooks {
        cluster: cluster.map(str::to_string),
    })
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
pub(crate) const DIAGNOSIS: &[SubjectDiagnosis] = &[
    SubjectDiagnosis {
        subject: "tikv",
        catalog: &tikv::catalog::CATALOG,
        reasoner: tikv::hypotheses::reasoner,
        runbooks: Some(tikv_runbooks),
        context_sections: tikv::snapshot::CONTEXT_SECTIONS,
        links: tikv_links,
        tools: Some(tikv_tools),
    },
    SubjectDiagnosis {
        subject: etcd::invariants::SUBJECT,
        catalog: &etcd::catalog::CATALOG,
        reasoner: etcd_reasoner,
        runbooks: None,
        context_sections: &[],
        links: no_links,
        tools: Some(etcd_tools),
    },
];

/// What a diagnosis reconciler over one cluster's tickets is built from, besides the
/// subject's registry entry.
pub struct ReconcilerParts {
    /// The backend under use (a model, or the rules engine with the subject's reasoner).
    pub backend: Arc<dyn DiagnosisBackend>,
    /// The cluster's ticket store.
    pub store: Arc<TicketStore>,
    /// The monitor's latest snapshot (context).
    pub latest: LatestSnapshot,
    /// The cluster's name (runbooks name it).
    pub cluster: String,
    /// How long after a ticket opens its evidence is taken to be still arriving, and
    /// which tickets are related ([`crate::diagnose::store_queue::RELATED_WINDOW`]).
    pub related_window: Duration,
    /// Context sources beyond the snapshot and the related tickets (TiKV's Prometheus
    /// metrics window under `operator run`).
    pub extra_context: Vec<Arc<dyn ContextSource>>,
    /// Loop settings.
    pub config: ReconcilerConfig,
    /// Past tickets with confirmed causes the loop remembers besides the store's own
    /// (`operator eval --memory`'s second pass), or none.
    pub memory: Option<Arc<[PastTicket]>>,
}

impl SubjectDiagnosis {
    /// The diagnosis reconciler for one cluster of this subject, as `operator run` and
    /// `operator eval` both build it: the queue over the ticket store, context from the
    /// latest snapshot (with the subject's own sections), the related tickets and any
    /// extra source; the queue remembering `memory`'s past tickets besides the store's
    /// own ([`Remembering`]); the schema restricted to the subject's catalog; the rules
    /// engine with the subject's reasoning as the fallback when a model fails; the
    /// subject's runbooks. Callers add what only they have (decision log, metrics, dependencies,
    /// investigation tools). Also returns the queue (the investigation's memory reads it).
    pub fn reconciler(&self, p: ReconcilerParts) -> (DiagnosisReconciler, Arc<StoreQueue>) {
        let queue = Arc::new(StoreQueue::new(p.store.clone()).with_window(p.related_window));
        let mut sources: Vec<Arc<dyn ContextSource>> = vec![
            Arc::new(SnapshotContext::new(p.latest, self.context_sections)),
            Arc::new(RelatedTickets::new(p.store, p.related_window)),
        ];
        sources.extend(p.extra_context);
        let mut r = DiagnosisReconciler::new(
            p.backend,
            Remembering::wrap(queue.clone(), p.memory),
            Arc::new(Sources(sources)),
            p.config,
        )
        .with_catalog(self.catalog)
        .with_fallback(Arc::new(RulesBackend::new(
            Default::default(),
            (self.reasoner)(),
        )));
        if let Some(runbooks) = self.runbooks {
            r = r.with_runbooks(runbooks(Some(&p.cluster)));
        }
        (r, queue)
    }
}

/// A subject's evaluation: how its scenario files are loaded into a runnable suite (its
/// [`crate::eval::subject::EvalHarness`] behind [`crate::eval::load_suite`]).
#[derive(Clone, Copy)]
pub(crate) struct SubjectEval {
    /// The subject name (`subject:` in scenario files).
    pub subject: &'static str,
    /// Parses `(origin, text)` files into its suite.
    pub load: LoadSuite,
}

/// The registry of evaluation harnesses, TiKV first (the default for files that name no
/// subject).
pub(crate) const EVAL: &[SubjectEval] = &[
    SubjectEval {
        subject: "tikv",
        load: crate::eval::load_suite::<tikv::eval::harness::SimHarness>,
    },
    SubjectEval {
        subject: etcd::invariants::SUBJECT,
        load: crate::eval::load_suite::<etcd::eval::EtcdHarness>,
    },
];

/// The evaluation harness of the subject named `subject`.
pub(crate) fn eval(subject: &str) -> Option<&'static SubjectEval> {
    EVAL.iter().find(|e| e.subject == subject)
}

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
pub(crate) struct AllLinks(Vec<Arc<dyn CausalLinks>>);

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
