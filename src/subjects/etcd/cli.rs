//! The commands for an `EtcdCluster` spec: the core CLI reads a spec's `kind` and hands
//! the commands that take `-f FILE` here (`validate`, `diff`, `apply`, `run`, `status`,
//! `down`, `chaos`). Ticket commands are subject-free and stay in the core.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::plan::plan;
use super::spec::{self, EtcdClusterSpec, LoadedEtcdSpec};
use super::subject::EtcdSubject;
use crate::cli::{CliError, Command, Env, OutputFormat, RunArgs};
use crate::reconcile::{Controller, Metrics};
use crate::runtime::ContainerRuntime;
use crate::subject::Subject;

/// Whether `file` holds a document of `kind: EtcdCluster` (unreadable or unparsable
/// files are not: the core loader reports their errors).
/// etcd's commands about a cluster, for the CLI's dispatch by spec `kind`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EtcdCommands;

#[async_trait::async_trait]
impl crate::cli::SubjectCommands for EtcdCommands {
    fn spec_kind(&self) -> &'static str {
        spec::KIND
    }

    async fn execute(&self, command: Command, env: Env) -> Result<(), CliError> {
        execute(command, env).await
    }
}

/// Whether `file` is an etcd spec (its `kind` is `EtcdCluster`).
pub fn is_etcd_spec(file: &std::path::Path) -> bool {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| spec::peek_kind(&t))
        .as_deref()
        == Some(spec::KIND)
}

fn load(file: &std::path::Path) -> Result<LoadedEtcdSpec, CliError> {
    Ok(spec::load_file(file)?)
}

async fn subject(env: &Env, loaded: &LoadedEtcdSpec) -> Result<Arc<EtcdSubject>, CliError> {
    let rt = (env.runtime)().await?;
    Ok(Arc::new(EtcdSubject::new(
        loaded.spec.clone(),
        Some(loaded.file.clone()),
        rt,
    )?))
}

/// Checks the members' image exists locally before anything is created.
async fn preflight(rt: &dyn ContainerRuntime, loaded: &LoadedEtcdSpec) -> Result<(), CliError> {
    let image = loaded.spec.image();
    if rt.image_exists(&image).await? || std::env::var("OPERATOR_ALLOW_PULL").as_deref() == Ok("1")
    {
        return Ok(());
    }
    Err(CliError::Input(format!(
        "{}: nothing was changed: spec.image: image {image:?} is not available locally; build it with `make images-etcd` (Debian's etcd-server {}), or set OPERATOR_ALLOW_PULL=1",
        loaded.file.display(),
        spec::DEFAULT_VERSION
    )))
}

/// Runs one command for an etcd spec.
///
/// # Errors
///
/// [`CliError`] with the exit code the core maps.
pub async fn execute(command: Command, env: Env) -> Result<(), CliError> {
    match command {
        Command::Validate(a) => {
            let l = load(&a.file)?;
            println!(
                "{}: valid (etcd, {} members, image {}, quota {} bytes)",
                a.file.display(),
                l.spec.spec.members,
                l.spec.image(),
                l.spec.spec.quota_backend_bytes
            );
            Ok(())
        }
        Command::Diff(a) => {
            let l = load(&a.file)?;
            let s = subject(&env, &l).await?;
            let (obs, p) = s.observe_and_plan().await?;
            print_status(&l.spec, &obs, &p, a.output.output);
            Ok(())
        }
        Command::Status(a) => {
            let file = a
                .file
                .ok_or_else(|| CliError::Input("status of an etcd cluster needs -f FILE".into()))?;
            let l = load(&file)?;
            let s = subject(&env, &l).await?;
            let obs = s.observe().await?;
            let p = plan(&l.spec, &obs, SystemTime::now());
            print_status(&l.spec, &obs, &p, a.output.output);
            Ok(())
        }
        Command::Apply(a) => {
            let l = load(&a.spec.file)?;
            let s = subject(&env, &l).await?;
            preflight(&*s.runtime(), &l).await?;
            crate::cli::apply_until_converged(s, a.timeout).await
        }
        Command::Run(a) => run(env, a).await,
        Command::Down(a) => {
            let l = load(&a.file)?;
            if a.volumes && !a.yes {
                crate::cli::confirm_volume_removal(l.spec.name())?;
            }
            crate::cli::down(
                &*(env.runtime)().await?,
                l.spec.name(),
                &l.spec.network_name(),
                a.volumes,
            )
            .await
        }
        Command::Chaos(a) => {
            let file =
                a.state.file.clone().ok_or_else(|| {
                    CliError::Input("chaos on an etcd cluster needs -f FILE".into())
                })?;
            let l = load(&file)?;
            let state =
                crate::cli::state::for_cluster(a.state.state_dir.as_deref(), l.spec.name())?;
            let s = subject(&env, &l).await?;
            super::chaos::run(&s, a.args, &state.path).await
        }
        other => Err(CliError::Input(format!(
            "{other:?} does not take an etcd spec"
        ))),
    }
}

fn print_status(
    spec: &EtcdClusterSpec,
    obs: &super::model::Observed,
    p: &super::plan::Plan,
    output: OutputFormat,
) {
    let st = super::status::status(spec, obs, p);
    match output {
        OutputFormat::Json | OutputFormat::Yaml => print!(
            "{}",
            crate::cli::output::structured(&st, output).unwrap_or_default()
        ),
        _ => print!("{}", super::status::render(&st)),
    }
}

/// `operator run` for an etcd cluster: the reconcile loop, the monitor (invariants →
/// tickets), the diagnosis reconciler with etcd's backend, the chaos reverter and the
/// HTTP surface, until SIGINT/SIGTERM.
async fn run(env: Env, a: RunArgs) -> Result<(), CliError> {
    use crate::diagnose::decision_log::DecisionLog;
    use crate::diagnose::reconciler::ReconcilerConfig;
    use crate::tickets::monitor::LatestSnapshot;
    use crate::tickets::TicketStore;

    crate::cli::api_access::check_listen(a.listen, a.allow_remote_api)?;
    let token = crate::cli::api_access::ApiToken::from_env_or_file(a.api_token_file.as_deref())?
        .map(|t| t.expose().to_owned());
    let l = load(&a.spec.file)?;
    let s = subject(&env, &l).await?;
    preflight(&*s.runtime(), &l).await?;
    let controller = Controller::new(s.clone(), Metrics::new());
    let state_dir = crate::cli::state::for_cluster(a.state_dir.as_deref(), l.spec.name())?.path;
    std::fs::create_dir_all(&state_dir).map_err(|source| CliError::Io {
        context: "state dir".into(),
        source,
    })?;
    let _watch = crate::reconcile::triggers::watch_spec_file(&a.spec.file, controller.waker())
        .map_err(|source| CliError::Watch {
            context: "watch spec".into(),
            source,
        })?;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .map_err(|source| CliError::Io {
            context: format!("listen on {}", a.listen),
            source,
        })?;
    let store = Arc::new(
        TicketStore::open(state_dir.join("tickets")).map_err(|source| {
            CliError::OpenTicketStore {
                context: "ticket store".into(),
                source,
            }
        })?,
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let router = crate::server::router(
        controller.clone(),
        crate::tickets::api::router((*store).clone(), token),
    );
    let server = tokio::spawn(crate::server::serve(
        listener,
        router,
        stopped(stop_rx.clone()),
    ));
    let latest: LatestSnapshot = Arc::default();
    let monitor = tokio::spawn(crate::tickets::monitor::run(
        s.clone(),
        store.clone(),
        controller.metrics().clone(),
        latest.clone(),
        stopped(stop_rx.clone()),
    ));
    let cancel = tokio_util::sync::CancellationToken::new();
    // The backend the flags name (`--backend`, `--model`, `--base-url`, …, as for TiKV),
    // with etcd's rules as its reasoning; the reconciler gives a model etcd's system
    // prompt, catalog and answer format.
    let registry = crate::subjects::diagnosis(super::invariants::SUBJECT);
    let settings = a.diagnosis.settings().map_err(CliError::Input)?;
    let investigation = settings.investigation.clone();
    let backend =
        crate::diagnose::backend::select_backend(&crate::diagnose::backend::BackendSettings {
            reasoner: Some((registry.reasoner)()),
            ..settings
        })
        .map_err(|e| CliError::Input(e.to_string()))?;
    // The same wiring `operator eval` uses: the subject's registry entry builds it.
    let (diagnoser, queue) = registry.reconciler(crate::subjects::ReconcilerParts {
        backend,
        store: store.clone(),
        latest,
        cluster: l.spec.name().to_string(),
        related_window: crate::diagnose::store_queue::RELATED_WINDOW,
        extra_context: vec![],
        config: ReconcilerConfig::default(),
        memory: None,
    });
    let diagnoser = diagnoser
        .with_dependencies(controller.metrics().dependencies())
        .with_decision_log(DecisionLog::new(state_dir.join("decisions.jsonl")));
    // A model backend investigates with etcd's read-only tools and the ticket memory.
    let diagnoser = match investigation {
        Some(budget) => {
            use crate::diagnose::investigate::{HistoryTools, Toolbox, Toolboxes};
            // The registry's toolbox, as `diagnose N` and the eval build it.
            let mut boxes: Vec<Arc<dyn Toolbox>> = registry
                .tools
                .map(|tools| {
                    tools(
                        l.spec.name(),
                        &l.spec.network_name(),
                        Some(crate::runtime::readonly::ContainerReader::new(s.runtime())),
                    )
                })
                .into_iter()
                .collect();
            boxes.push(Arc::new(HistoryTools::new(queue)));
            diagnoser.with_investigation(Arc::new(Toolboxes(boxes)), budget)
        }
        None => diagnoser,
    };
    let chaos = crate::chaos::Chaos::new(
        s.runtime(),
        l.spec.name(),
        &l.spec.network_name(),
        &state_dir,
    )?;
    let chaos_cancel = cancel.clone();
    let reverter = tokio::spawn(async move {
        chaos
            .run_reverter(chaos_cancel, Duration::from_secs(1))
            .await
    });
    let diag_cancel = cancel.clone();
    let diagnosis = tokio::spawn(async move { diagnoser.run(diag_cancel).await });
    let looping = tokio::spawn({
        let c = controller.clone();
        let stop = stopped(stop_rx.clone());
        async move { c.run(stop).await }
    });
    crate::cli::shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    cancel.cancel();
    let _ = looping.await;
    let _ = monitor.await;
    let _ = diagnosis.await;
    let _ = reverter.await;
    let _ = server.await;
    let _ = store.flush();
    Ok(())
}
