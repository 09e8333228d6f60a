//! `operator`: the thin binary. Parses arguments, sets up telemetry, wires the Docker
//! runtime and the PD client into the library, and maps errors to exit codes
//! (2 = bad input, 1 = failure).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use futures::FutureExt;

use operator::cli::{self, Cli, CliError, Env};
use operator::diagnose::backend::{select_backend, BackendSettings};
use operator::diagnose::decision_log::DecisionLog;
use operator::diagnose::reconciler::ReconcilerConfig;
use operator::reconcile::Controller;
use operator::runtime::docker::DockerRuntime;
use operator::runtime::{ContainerRuntime, RuntimeError};
use operator::subjects::tikv::cli::{RunContext, TikvCommands};
use operator::subjects::tikv::pd_adapter::PdAdapter;
use operator::subjects::tikv::subject::{PdApi, TikvSubject};
use operator::subjects::tikv::window::PromMetricsWindow;
use operator::tickets::monitor::LatestSnapshot;
use operator::tickets::TicketStore;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let guard = match operator::telemetry::init(&cli.log_filter(), "operator") {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let env = Env {
        runtime: Arc::new(|| {
            async {
                match DockerRuntime::connect().await {
                    Ok(rt) => Ok(Arc::new(rt) as Arc<dyn ContainerRuntime>),
                    Err(RuntimeError::Unreachable(detail)) => {
                        Err(RuntimeError::Unreachable(docker_unreachable(&detail).await))
                    }
                    Err(e) => Err(e),
                }
            }
            .boxed()
        }),
        subjects: operator::subjects::commands(TikvCommands {
            pd_factory: Arc::new(|endpoints| {
                let client: Arc<dyn PdApi> = Arc::new(PdAdapter::new(endpoints));
                client
            }),
            serve: Some(Arc::new(|ctx: RunContext| serve(ctx).boxed())),
        }),
    };
    let result = rt.block_on(cli::execute(cli, env));
    drop(rt);
    drop(guard);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            for m in e.messages() {
                eprintln!("error: {m}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// Docker did not answer: name the address tried (DOCKER_HOST, or the default socket)
/// and why.
async fn docker_unreachable(detail: &str) -> String {
    let host = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    if let Some(path) = host.strip_prefix("unix://") {
        return if std::path::Path::new(path).exists() {
            format!("{host}: {detail}")
        } else {
            format!(
                "{host}: no socket at {path} (is the Docker daemon running? is DOCKER_HOST right?)"
            )
        };
    }
    let line = cli::reach::explain("Docker", &host, detail).await;
    line.strip_prefix("Docker at ").unwrap_or(&line).to_string()
}

/// `operator run`: the controller loop and its HTTP surface until SIGINT/SIGTERM.
async fn serve(ctx: RunContext) -> Result<(), CliError> {
    let RunContext {
        controller,
        listen,
        api_token,
        state_dir,
        spec_file,
        backend,
    } = ctx;
    let _watch = operator::reconcile::triggers::watch_spec_file(&spec_file, controller.waker())
        .map_err(|source| CliError::Watch {
            context: format!("cannot watch {}", spec_file.display()),
            source,
        })?;
    std::fs::create_dir_all(&state_dir).map_err(|source| CliError::Io {
        context: format!("cannot create state dir {}", state_dir.display()),
        source,
    })?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| CliError::Io {
            context: format!("cannot listen on {listen}"),
            source,
        })?;
    tracing::info!(%listen, "serving /metrics, /healthz, /readyz, /api/v1");
    let store = TicketStore::open(state_dir.join("tickets")).map_err(|source| {
        CliError::OpenTicketStore {
            context: format!("cannot open the ticket store in {}", state_dir.display()),
            source,
        }
    })?;
    let store = Arc::new(store);
    let token = api_token.map(|t| t.expose().to_owned());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let router = operator::server::router(
        controller.clone(),
        operator::tickets::api::router((*store).clone(), token).merge(
            operator::tickets::api::incidents_router(
                (*store).clone(),
                Arc::new(operator::subjects::tikv::incidents::TikvLinks),
            ),
        ),
    );
    let server = tokio::spawn(operator::server::serve(
        listener,
        router,
        stopped(stop_rx.clone()),
    ));
    let latest: LatestSnapshot = Arc::default();
    let monitor = tokio::spawn(operator::tickets::monitor::run(
        controller.subject().clone(),
        store.clone(),
        controller.metrics().clone(),
        latest.clone(),
        stopped(stop_rx.clone()),
    ));
    let cancel = tokio_util::sync::CancellationToken::new();
    let investigation = backend.investigation.clone();
    let backend = select_backend(&BackendSettings {
        reasoner: Some(operator::subjects::tikv::hypotheses::reasoner()),
        ..backend
    })?;
    // The same wiring `operator eval` uses: the subject's registry entry builds it.
    let (diagnoser, queue) =
        operator::subjects::diagnosis("tikv").reconciler(operator::subjects::ReconcilerParts {
            backend,
            store: store.clone(),
            latest,
            cluster: controller.subject().spec().name().to_string(),
            related_window: operator::diagnose::store_queue::RELATED_WINDOW,
            extra_context: vec![Arc::new(PromMetricsWindow::new(
                operator::subject::Subject::runtime(&**controller.subject()),
                controller.subject().spec().name(),
                &controller.subject().spec().network_name(),
            ))],
            config: ReconcilerConfig::default(),
            memory: None,
        });
    let diagnoser = diagnoser
        .with_metrics(controller.metrics().clone())
        .with_dependencies(controller.metrics().dependencies())
        .with_decision_log(DecisionLog::new(state_dir.join("decisions.jsonl")));
    // A model backend investigates with TiKV's read-only tools and the ticket memory.
    let diagnoser = match investigation {
        Some(budget) => {
            let spec = controller.subject().spec();
            let tools =
                operator::subjects::tikv::tools::TikvTools::new(spec.name(), &spec.network_name())
                    .with_containers(operator::runtime::readonly::ContainerReader::new(
                        operator::subject::Subject::runtime(&**controller.subject()),
                    ));
            diagnoser.with_investigation(
                Arc::new(operator::diagnose::investigate::Toolboxes(vec![
                    Arc::new(tools),
                    Arc::new(operator::diagnose::investigate::HistoryTools::new(queue)),
                ])),
                budget,
            )
        }
        None => diagnoser,
    };
    // Experiments injected by `operator chaos` are reverted on time, and on restart.
    let spec = controller.subject().spec();
    let chaos = operator::chaos::Chaos::new(
        operator::subject::Subject::runtime(&**controller.subject()),
        spec.name(),
        &spec.network_name(),
        &state_dir,
    )?
    .with_simulator(operator::subjects::tikv::chaos::SIMULATOR);
    let chaos_cancel = cancel.clone();
    let reverter = tokio::spawn(async move {
        chaos
            .run_reverter(chaos_cancel, std::time::Duration::from_secs(1))
            .await
    });
    let diag_cancel = cancel.clone();
    let diagnosis = tokio::spawn(async move { diagnoser.run(diag_cancel).await });
    let looping: tokio::task::JoinHandle<()> =
        tokio::spawn(run_loop(controller, stopped(stop_rx.clone())));
    cli::shutdown_signal().await;
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

async fn run_loop(
    controller: Controller<TikvSubject>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    controller.run(shutdown).await
}
