//! `operator`: the thin binary. Parses arguments, sets up telemetry, wires the Docker
//! runtime and the PD client into the library, and maps errors to exit codes
//! (2 = bad input, 1 = failure).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use futures::FutureExt;

use operator::cli::{self, Cli, CliError, Env, RunContext};
use operator::reconcile::Controller;
use operator::runtime::docker::DockerRuntime;
use operator::runtime::ContainerRuntime;
use operator::subject::tikv::pd_adapter::PdAdapter;
use operator::subject::tikv::subject::{PdApi, TikvSubject};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let guard = match operator::telemetry::init(&cli.log, "operator") {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let env = Env {
        runtime: Arc::new(|| {
            async {
                let rt: Arc<dyn ContainerRuntime> = Arc::new(DockerRuntime::connect().await?);
                Ok(rt)
            }
            .boxed()
        }),
        pd_factory: Arc::new(|endpoints| {
            let client: Arc<dyn PdApi> = Arc::new(PdAdapter::new(endpoints));
            client
        }),
        serve: Some(Arc::new(|ctx: RunContext| serve(ctx).boxed())),
    };
    let result = rt.block_on(cli::execute(cli, env));
    drop(rt);
    drop(guard);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// `operator run`: the controller loop and its HTTP surface until SIGINT/SIGTERM.
async fn serve(ctx: RunContext) -> Result<(), CliError> {
    let RunContext {
        controller,
        listen,
        state_dir,
        spec_file,
    } = ctx;
    let _watch = operator::reconcile::triggers::watch_spec_file(&spec_file, controller.waker())
        .map_err(|e| CliError::Failed(format!("cannot watch {}: {e}", spec_file.display())))?;
    std::fs::create_dir_all(&state_dir)
        .map_err(|e| CliError::Failed(format!("cannot create state dir {}: {e}", state_dir.display())))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen on {listen}: {e}")))?;
    tracing::info!(%listen, "serving /metrics, /healthz, /readyz, /api/v1");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let router = operator::server::router(controller.clone(), axum::Router::new());
    let mut srv_stop = stop_rx.clone();
    let server = tokio::spawn(operator::server::serve(listener, router, async move {
        let _ = srv_stop.wait_for(|s| *s).await;
    }));
    let mut loop_stop = stop_rx.clone();
    let looping: tokio::task::JoinHandle<()> = tokio::spawn(run_loop(controller, async move {
        let _ = loop_stop.wait_for(|s| *s).await;
    }));
    cli::shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = looping.await;
    let _ = server.await;
    Ok(())
}

async fn run_loop(controller: Controller<TikvSubject>, shutdown: impl std::future::Future<Output = ()>) {
    controller.run(shutdown).await
}
