//! TiKV's commands about a cluster (`validate`, `diff`, `apply`, `run`, `status`,
//! `down`, `chaos -f`): the spec loaded and checked, the subject built over PD and
//! Docker, the controller handed to the binary's server wiring for `run`. The core CLI
//! (`cli/`) dispatches here by the spec's `kind` through [`crate::cli::SubjectCommands`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::subject::{PdFactory, TikvSubject};
use crate::cli::{
    api_access, apply_until_converged, chaos, confirm_volume_removal, display_file, down, load,
    output, shutdown_signal, state, CliError, Command, Env, OutputFormat, SubjectCommands,
};
use crate::reconcile::{Controller, Metrics};
use crate::runtime::ContainerRuntime;
use crate::spec::{self, LoadedSpec, SpecError, ValidationContext};
use crate::subject::Subject;

/// Serves the controller's HTTP surface and loops for `run`.
pub(crate) type ServeFn = Arc<
    dyn Fn(RunContext) -> futures::future::BoxFuture<'static, Result<(), CliError>> + Send + Sync,
>;

/// TiKV's ports for the CLI: PD clients, and the server wiring for `run`.
#[derive(Clone)]
pub struct TikvCommands {
    /// Builds PD clients.
    pub pd_factory: PdFactory,
    /// Serves the controller's HTTP surface for `run` (wired by the binary).
    pub serve: Option<ServeFn>,
}

/// What `run` hands to the server wiring.
pub struct RunContext {
    /// The controller.
    pub controller: Controller<TikvSubject>,
    /// Parsed arguments.
    pub listen: SocketAddr,
    /// The token mutating API routes require (`None`: they are refused).
    pub api_token: Option<api_access::ApiToken>,
    /// State directory.
    pub state_dir: PathBuf,
    /// The spec file (watched for edits).
    pub spec_file: PathBuf,
    /// The diagnosis backend (from --backend/--model/--base-url and the environment).
    pub backend: crate::diagnose::backend::BackendSettings,
}

fn subject(
    rt: Arc<dyn ContainerRuntime>,
    tikv: &TikvCommands,
    loaded: &LoadedSpec,
    pd: &[String],
) -> Arc<TikvSubject> {
    let mut s = TikvSubject::new(
        loaded.spec.clone(),
        Some(loaded.file.clone()),
        rt,
        tikv.pd_factory.clone(),
    );
    if !pd.is_empty() {
        s = s.with_pd_endpoints(pd.to_vec());
    }
    Arc::new(s)
}

/// Loads and fully validates a spec *before* any Docker call; then asks Docker
/// (read-only) whether the cluster exists, because a new cluster must start with at
/// least 3 TiKV stores.
async fn load_for_cluster(
    env: &Env,
    file: &std::path::Path,
) -> Result<(LoadedSpec, Arc<dyn ContainerRuntime>), CliError> {
    let loaded = load(file, ValidationContext { new_cluster: false })?;
    let rt = (env.runtime)().await?;
    let owned = rt
        .list_owned(loaded.spec.name(), &loaded.spec.network_name())
        .await?;
    if owned.containers.is_empty() {
        let text = std::fs::read_to_string(file).map_err(|source| SpecError::Read {
            file: file.display().to_string(),
            source,
        })?;
        spec::parse_str(
            &text,
            &file.display().to_string(),
            ValidationContext { new_cluster: true },
        )?;
    }
    Ok((loaded, rt))
}

/// Checks every image the spec needs exists locally before anything is created.
async fn preflight_images(rt: &dyn ContainerRuntime, loaded: &LoadedSpec) -> Result<(), CliError> {
    let s = &loaded.spec.spec;
    let mut images = vec![
        ("spec.pd.image", s.pd.image.as_str()),
        ("spec.tikv.image", s.tikv.image.as_str()),
    ];
    if s.monitoring.prometheus.enabled {
        images.push((
            "spec.monitoring.prometheus.image",
            s.monitoring.prometheus.image.as_str(),
        ));
    }
    if s.monitoring.grafana.enabled {
        images.push((
            "spec.monitoring.grafana.image",
            s.monitoring.grafana.image.as_str(),
        ));
    }
    let mut missing = vec![];
    for (path, image) in images {
        if !rt.image_exists(image).await?
            && std::env::var("OPERATOR_ALLOW_PULL").as_deref() != Ok("1")
        {
            missing.push(format!("{path}: image {image:?} is not available locally"));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(CliError::Input(format!(
        "{}: nothing was changed:\n  {}\nbuild the local images with `make images` (tikv-sim:local, operator-prometheus:local), pull the images, or set OPERATOR_ALLOW_PULL=1 to let Docker pull them",
        loaded.file.display(),
        missing.join("\n  ")
    )))
}

#[async_trait::async_trait]
impl SubjectCommands for TikvCommands {
    fn spec_kind(&self) -> &'static str {
        spec::KIND
    }

    fn simulator(&self) -> Option<crate::chaos::SimKnobs> {
        Some(super::chaos::SIMULATOR)
    }

    async fn execute(&self, command: Command, env: Env) -> Result<(), CliError> {
        match command {
            Command::Validate(a) => {
                let loaded = load(
                    &a.file,
                    ValidationContext {
                        new_cluster: !a.existing,
                    },
                )?;
                match a.output.output {
                    OutputFormat::Table | OutputFormat::Wide => println!(
                        "{}: valid ({} PD, {} TiKV)",
                        display_file(&a.file),
                        loaded.spec.spec.pd.replicas,
                        loaded.spec.spec.tikv.replicas
                    ),
                    OutputFormat::Name => {
                        print!(
                            "{}",
                            output::names("tikvcluster", [loaded.spec.name().to_string()])
                        )
                    }
                    // The spec is camelCase already: printed as is, defaults filled in.
                    OutputFormat::Json => println!(
                        "{}",
                        serde_json::to_string_pretty(&loaded.spec).unwrap_or_default()
                    ),
                    OutputFormat::Yaml => {
                        print!(
                            "{}",
                            yaml_serde::to_string(&loaded.spec).unwrap_or_default()
                        )
                    }
                }
                Ok(())
            }
            Command::Diff(a) => {
                let (loaded, rt) = load_for_cluster(&env, &a.file).await?;
                let s = subject(rt, self, &loaded, &a.pd);
                let (obs, plan) = s.observe_and_plan().await?;
                match a.output.output {
                    OutputFormat::Table | OutputFormat::Wide => {
                        print!(
                            "{}",
                            super::status::render_plan(&plan, obs.pd_error.as_deref())
                        )
                    }
                    OutputFormat::Name => print!(
                        "{}",
                        output::names("step", plan.steps.iter().map(|s| s.to_string()))
                    ),
                    fmt => print!("{}", output::structured(&plan, fmt)?),
                }
                Ok(())
            }
            Command::Apply(a) => {
                let (loaded, rt) = load_for_cluster(&env, &a.spec.file).await?;
                let s = subject(rt, self, &loaded, &a.spec.pd);
                preflight_images(&*s.runtime(), &loaded).await?;
                apply_until_converged(s, a.timeout).await
            }
            Command::Run(a) => {
                // Exposure is decided before anything connects to Docker.
                api_access::check_listen(a.listen, a.allow_remote_api)?;
                if a.spec.file.as_os_str() == "-" {
                    return Err(CliError::Input(
                    "run watches its spec file for edits; -f - (standard input) is for one-shot commands".into(),
                ));
                }
                let api_token =
                    api_access::ApiToken::from_env_or_file(a.api_token_file.as_deref())?;
                if api_token.is_none() {
                    tracing::info!(
                    "no API token configured ({} or --api-token-file): mutating API routes are refused",
                    api_access::TOKEN_ENV
                );
                }
                let backend = a.diagnosis.settings().map_err(CliError::Input)?;
                let (loaded, rt) = load_for_cluster(&env, &a.spec.file).await?;
                let state = state::for_cluster(a.state_dir.as_deref(), loaded.spec.name())?;
                let s = subject(rt, self, &loaded, &a.spec.pd);
                preflight_images(&*s.runtime(), &loaded).await?;
                state.create(&state::ClusterRecord {
                    name: loaded.spec.name().to_string(),
                    network: loaded.spec.network_name(),
                    spec_file: std::fs::canonicalize(&a.spec.file)
                        .unwrap_or_else(|_| a.spec.file.clone())
                        .display()
                        .to_string(),
                })?;
                tracing::info!(state_dir = %state.path.display(), "state directory");
                let controller = Controller::new(s, Metrics::new());
                match &self.serve {
                    Some(serve) => {
                        serve(RunContext {
                            controller,
                            listen: a.listen,
                            api_token,
                            state_dir: state.path,
                            spec_file: a.spec.file.clone(),
                            backend,
                        })
                        .await
                    }
                    None => {
                        controller.run(shutdown_signal()).await;
                        Ok(())
                    }
                }
            }
            Command::Status(a) => super::status::run(self, &env, a).await,
            Command::Chaos(a) => {
                let from_spec = match &a.state.file {
                    Some(f) => {
                        let loaded = load(f, ValidationContext { new_cluster: false })?;
                        Some((loaded.spec.name().to_string(), loaded.spec.network_name()))
                    }
                    None => None,
                };
                chaos(&env, a, from_spec, self.simulator()).await
            }
            Command::Down(a) => {
                let loaded = load(&a.file, ValidationContext { new_cluster: false })?;
                if a.volumes && !a.yes {
                    confirm_volume_removal(loaded.spec.name())?;
                }
                down(
                    &*(env.runtime)().await?,
                    loaded.spec.name(),
                    &loaded.spec.network_name(),
                    a.volumes,
                )
                .await
            }
            other => Err(CliError::NotASubjectCommand {
                command: format!("{other:?}"),
                subject: "TiKV",
            }),
        }
    }
}
