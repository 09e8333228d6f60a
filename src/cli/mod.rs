//! The command line: clap arguments (as typed) → validated configuration → actions.
//!
//! Two layers, as ripgrep does it: [`Cli`] is exactly what the user typed; each command
//! turns it into validated inputs (a loaded spec, parsed durations) before anything
//! touches Docker, so bad input exits with code 2 and no partial action. The ports
//! (container runtime, PD client) are injected through [`Env`], which keeps this module
//! testable and the binary thin.

pub mod api_access;
pub mod backend_args;
mod controller_status;
pub mod eval;
pub mod incidents;
pub mod output;
pub mod reach;
pub mod state;
pub mod tickets;
pub mod version;

pub(crate) use controller_status::StatusApiError;
pub(crate) use output::{OutputArgs, OutputFormat};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::chaos::cli::ChaosCliError;
use crate::chaos::ChaosError;
use crate::diagnose::backend::BackendError;
use crate::diagnose::reconciler::DiagnoseTicketError;
use crate::reconcile::{Controller, Metrics};
use crate::runtime::{ContainerRuntime, RuntimeError};
use crate::spec::{self, LoadedSpec, SpecError, ValidationContext};
use crate::subject::{Subject, SubjectError};
use crate::tickets::api::AccessError;
use crate::tickets::render::RenderError;
use crate::tickets::StoreError as TicketStoreError;

/// `operator`: runs a TiKV cluster on Docker from a declarative cluster.yaml.
#[derive(Debug, Parser)]
#[command(name = "operator", version = env!("OPERATOR_VERSION_LINE"), about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing EnvFilter syntax: a level such as `info`, or directives such
    /// as `operator=debug,warn`). Logs go to standard error [default: `info` for `run`,
    /// `off` for the other commands].
    #[arg(long, global = true, env = "OPERATOR_LOG", value_parser = parse_log_filter)]
    pub log: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The log filter in force: `--log`, else `info` for the long-running controller and
    /// `off` for interactive commands (their output is the answer, not log lines).
    pub fn log_filter(&self) -> String {
        match (&self.log, &self.command) {
            (Some(l), _) => l.clone(),
            (None, Command::Run(_)) => "info".into(),
            (None, _) => "off".into(),
        }
    }
}

/// The levels a bare `--log` word may be.
const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// Validates `--log`: each comma-separated directive is a level, or `target=level`.
pub(crate) fn parse_log_filter(s: &str) -> Result<String, String> {
    let expected = "expected a level (off, error, warn, info, debug, trace) or directives such as operator=debug,warn";
    for d in s.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = d.rsplit_once('=').map_or(d, |(_, l)| l);
        if !LOG_LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!("{d:?} is not a log level; {expected}"));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(s)
        .map_err(|e| format!("{e}; {expected}"))?;
    Ok(s.to_string())
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a spec without touching Docker (exit 2 when invalid); -o yaml prints it with defaults.
    Validate(ValidateArgs),
    /// Print the plan that `apply` would execute, without acting.
    Diff(SpecArgs),
    /// Converge the cluster once and exit when it is converged.
    Apply(ApplyArgs),
    /// Run the controller: converge and keep converging (resync, Docker events, file edits).
    Run(RunArgs),
    /// Show the cluster like `tiup cluster display`, and where its state lives.
    Status(StatusArgs),
    /// Remove every container and the network the cluster owns (volumes with --volumes).
    Down(DownArgs),
    /// Tickets: list, show, ack, resolve.
    Tickets(tickets::TicketsArgs),
    /// Incidents: tickets grouped by shared cause (list, show, resolve --cause).
    Incidents(incidents::IncidentsArgs),
    /// The timeline of ticket events.
    Events(tickets::EventsArgs),
    /// Diagnose one ticket now and print the diagnosis.
    Diagnose(tickets::DiagnoseArgs),
    /// Inject faults into the cluster's own containers (reverted after their duration).
    Chaos(ChaosCmd),
    /// Score detection and diagnosis over the fault scenarios (in-process simulator).
    Eval(eval::EvalArgs),
    /// Run one fault scenario on the in-process simulator, showing detection and diagnosis.
    Demo(eval::DemoArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion(CompletionArgs),
    /// Print the version and build information.
    Version(VersionArgs),
    /// Write man pages generated from this command line (`make man`).
    #[command(hide = true)]
    Man(ManArgs),
}

/// `operator chaos [-f FILE] <fault>`.
#[derive(Debug, Args)]
pub struct ChaosCmd {
    /// Which cluster and where its state is (-f is optional once `operator run` has
    /// recorded the cluster in its state directory).
    #[command(flatten)]
    pub state: state::StateArgs,
    /// Output format (`chaos list`).
    #[command(flatten)]
    pub output: OutputArgs,
    /// The fault.
    #[command(flatten)]
    pub args: crate::chaos::cli::ChaosArgs,
}

/// `-f FILE`.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Path of cluster.yaml (`-` reads standard input).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// PD client URLs to use instead of the PD containers' addresses (http:// or https://).
    #[arg(long = "pd", value_delimiter = ',', value_parser = state::parse_http_url)]
    pub pd: Vec<String>,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Path of cluster.yaml (`-` reads standard input).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Validate as a change to an existing cluster (the 3-store minimum applies to new clusters only).
    #[arg(long)]
    pub existing: bool,
    /// Output format (json/yaml: the spec with every default filled in).
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Spec and PD override.
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Give up (exit 1) if not converged within this time.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Spec and PD override.
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Address of the HTTP surface (/metrics, /healthz, /readyz, API). Loopback only
    /// unless --allow-remote-api is given.
    #[arg(long, default_value = "127.0.0.1:9464", env = "OPERATOR_LISTEN")]
    pub listen: SocketAddr,
    /// Allow --listen on a non-loopback address (e.g. 0.0.0.0 inside a container).
    #[arg(long)]
    pub allow_remote_api: bool,
    /// File whose first line is the token mutating API routes require (when
    /// OPERATOR_API_TOKEN is not set). Without a token, mutating routes are refused.
    #[arg(long, env = "OPERATOR_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,
    /// The state directory (tickets database, decision log, chaos experiments)
    /// [default: $XDG_STATE_HOME/operator/<cluster>, i.e. ~/.local/state/operator/<cluster>].
    #[arg(long, env = "OPERATOR_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Which model diagnoses tickets.
    #[command(flatten)]
    pub diagnosis: backend_args::BackendArgs,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Path of cluster.yaml (containers + PD; `-` reads standard input).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// A PD client URL (http:// or https://): show any reachable cluster, even one this
    /// operator did not create.
    #[arg(long = "pd", value_delimiter = ',', value_parser = state::parse_http_url)]
    pub pd: Vec<String>,
    /// The state directory to show [default: $XDG_STATE_HOME/operator/<cluster>].
    #[arg(long, env = "OPERATOR_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// A running operator's API (http:// or https://): show what the controller reports
    /// about its last pass (converged, waiting for, refused, faults, spec errors).
    #[arg(long, value_parser = state::parse_http_url, conflicts_with_all = ["file", "pd"])]
    pub api: Option<String>,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Path of cluster.yaml (`-` reads standard input).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Also remove the data volumes (all data is lost; asks for confirmation).
    #[arg(long)]
    pub volumes: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

/// `completion SHELL`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `man --out DIR`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory the pages are written to.
    #[arg(long, default_value = "target/man")]
    pub out: PathBuf,
}

pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| {
        format!(
            "{}; expected a duration such as 30s, 5m or 1h",
            crate::spec::schema::duration_words(s, &e)
        )
    })
}

/// Connects to the container runtime.
pub(crate) type RuntimeFactory = Arc<
    dyn Fn() -> futures::future::BoxFuture<'static, Result<Arc<dyn ContainerRuntime>, RuntimeError>>
        + Send
        + Sync,
>;

/// What the CLI needs of a subject: the spec `kind` it answers to, the name its tickets
/// carry, and its commands about a cluster (`validate`, `diff`, `apply`, `run`,
/// `status`, `down`, `chaos -f`). The binary registers one per subject
/// (`subjects::commands`); the CLI names none.
#[async_trait::async_trait]
pub trait SubjectCommands: Send + Sync {
    /// The spec `kind` (`TikvCluster`).
    fn spec_kind(&self) -> &'static str;
    /// Runs one command about a cluster of this subject.
    async fn execute(&self, command: Command, env: Env) -> Result<(), CliError>;
    /// Where the subject's simulated members take fault knobs (`chaos slow-disk
    /// --delay`, `hot-range`), when it has a simulator.
    fn simulator(&self) -> Option<crate::chaos::SimKnobs> {
        None
    }
}

/// Injected ports.
#[derive(Clone)]
pub struct Env {
    /// Connects to the container runtime.
    pub runtime: RuntimeFactory,
    /// The subjects, by spec `kind`; the first is the default for a spec without one
    /// and for commands that name no spec.
    pub subjects: Vec<Arc<dyn SubjectCommands>>,
}

/// The `kind:` at the top level of a YAML spec, if the file has one.
pub(crate) fn spec_kind(file: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let v = l.strip_prefix("kind:")?;
        let v = v.split('#').next().unwrap_or("").trim();
        Some(v.trim_matches(|c| c == '"' || c == '\'').to_string())
    })
}

impl Env {
    /// The subject of the spec in `file` (by its `kind`), the default one when there is
    /// no file or the kind is none of the registered ones (its own loader then reports
    /// the spec's errors).
    pub(crate) fn subject_for(
        &self,
        file: Option<&std::path::Path>,
    ) -> Result<Arc<dyn SubjectCommands>, CliError> {
        let kind = file.and_then(spec_kind);
        self.subjects
            .iter()
            .find(|s| kind.as_deref() == Some(s.spec_kind()))
            .or_else(|| self.subjects.first())
            .cloned()
            .ok_or(CliError::NoSubject)
    }
}

/// Errors of a command, with their exit codes.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input: exit 2.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Bad input discovered before acting (e.g. a missing image): exit 2.
    #[error("{0}")]
    Input(String),
    /// The container runtime failed: exit 1.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The subject could not observe or act on its cluster: exit 1.
    #[error(transparent)]
    Subject(#[from] SubjectError),
    /// A subject's own command failed (its client, its fault knobs): the subject's
    /// typed error, boxed so that the core names no subject. Exit 1.
    #[error(transparent)]
    SubjectCommand(Box<dyn std::error::Error + Send + Sync>),
    /// The chaos toolkit failed: exit 1.
    #[error(transparent)]
    Chaos(#[from] ChaosError),
    /// A chaos command failed (injection, revert, output): exit 1.
    #[error(transparent)]
    ChaosCommand(#[from] ChaosCliError),
    /// Reading or changing tickets (the database or the running controller's API)
    /// failed: exit 1.
    #[error(transparent)]
    Tickets(#[from] AccessError),
    /// The ticket database failed: exit 1.
    #[error(transparent)]
    TicketStore(#[from] TicketStoreError),
    /// The ticket database could not be opened: exit 1.
    #[error("{context}: {source}")]
    OpenTicketStore {
        /// What was being done (`cannot open the ticket store in DIR`).
        context: String,
        /// Why.
        #[source]
        source: TicketStoreError,
    },
    /// `diagnose` could not open the ticket database, most likely because `operator run`
    /// holds it: exit 1.
    #[error("{source}; while `operator run` owns the ticket store it diagnoses open tickets itself — see `operator tickets show {id}`")]
    DiagnoseStoreBusy {
        /// The ticket asked for.
        id: u64,
        /// Why the store did not open.
        #[source]
        source: TicketStoreError,
    },
    /// Tickets or incidents could not be rendered: exit 1.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The diagnosis backend could not be built: exit 1.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Diagnosing a ticket failed: exit 1.
    #[error(transparent)]
    Diagnose(#[from] DiagnoseTicketError),
    /// The `status --api` request failed: exit 1.
    #[error(transparent)]
    StatusApi(#[from] StatusApiError),
    /// A file, directory, socket or terminal operation failed: exit 1.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (`cannot listen on ADDR`).
        context: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The spec file could not be watched: exit 1.
    #[error("{context}: {source}")]
    Watch {
        /// What was being done (`cannot watch FILE`).
        context: String,
        /// Why.
        #[source]
        source: notify::Error,
    },
    /// The output could not be encoded as JSON: exit 1.
    #[error("cannot encode the output: {0}")]
    EncodeJson(#[source] serde_json::Error),
    /// The output could not be encoded as YAML: exit 1.
    #[error("cannot encode the output as YAML: {0}")]
    EncodeYaml(#[source] yaml_serde::Error),
    /// A read-only command found no state directory: exit 1.
    #[error("no operator state at {}: `operator run -f cluster.yaml` creates it (or pass --state-dir DIR)", .path.display())]
    NoState {
        /// The directory looked for.
        path: PathBuf,
    },
    /// A service did not answer; one line each on which, where and the likely cause:
    /// exit 1.
    #[error("{}", .0.join("\n"))]
    Unreachable(Vec<String>),
    /// The binary registered no subject: exit 1.
    #[error("no subject is registered")]
    NoSubject,
    /// A subject was given a command it does not run: exit 1.
    #[error("{command} is not a command about a {subject} cluster")]
    NotASubjectCommand {
        /// The command, as debug-printed.
        command: String,
        /// The subject (`TiKV`).
        subject: &'static str,
    },
    /// Every remaining step of the plan is refused (printed before): exit 1.
    #[error("the spec asks for an operation that is refused (see above)")]
    Refused,
    /// `apply` gave up: exit 1.
    #[error(
        "not converged after {}; last state: waiting for {waits:?}, refused {refusals:?}",
        humantime::format_duration(*.timeout)
    )]
    NotConverged {
        /// The `--timeout`.
        timeout: Duration,
        /// What the last pass waited for.
        waits: Vec<String>,
        /// What the last pass refused.
        refusals: Vec<String>,
    },
    /// The scenarios could not be loaded or run: exit 1.
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    /// The eval's picture could not be drawn: exit 1.
    #[error("cannot draw the picture: {0}")]
    Plot(#[from] crate::eval::report::PlotError),
    /// The binary embeds no scenario and none was given: exit 1.
    #[error("this binary was built without scenarios (examples/scenarios was empty); pass --scenarios DIR")]
    NoShippedScenarios,
    /// `eval --check`: the targets are missed: exit 1.
    #[error("the evaluation targets are not met")]
    TargetsMissed,
    /// `demo`: the scenario's run failed (its harness' reason): exit 1.
    #[error("the demo could not complete: {0}")]
    RunFailed(String),
    /// `demo`: no ticket was diagnosed before the detection deadline: exit 1.
    #[error("not detected within {0:?}")]
    NotDetected(Duration),
}

impl CliError {
    /// What to print, one `error: ` line each: every problem of an invalid spec on its
    /// own line (compiler-style), anything else as one message.
    pub fn messages(&self) -> Vec<String> {
        match self {
            CliError::Spec(SpecError::Invalid(list)) => {
                list.iter().map(ToString::to_string).collect()
            }
            other => vec![other.to_string()],
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Spec(_) | CliError::Input(_) => 2,
            _ => 1,
        }
    }
}

pub(crate) fn load(file: &std::path::Path, ctx: ValidationContext) -> Result<LoadedSpec, CliError> {
    let loaded = spec::load_file(file, ctx)?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    Ok(loaded)
}

impl Command {
    /// The spec file a command reads, when it takes one.
    pub(crate) fn spec_file(&self) -> Option<&std::path::Path> {
        match self {
            Command::Validate(a) => Some(&a.file),
            Command::Diff(a) => Some(&a.file),
            Command::Apply(a) => Some(&a.spec.file),
            Command::Run(a) => Some(&a.spec.file),
            Command::Status(a) => a.file.as_deref(),
            Command::Down(a) => Some(&a.file),
            Command::Chaos(a) => a.state.file.as_deref(),
            _ => None,
        }
    }
}

/// Runs a command: the subject-free ones here, those about a cluster by the subject
/// whose spec `kind` the file names.
pub async fn execute(cli: Cli, env: Env) -> Result<(), CliError> {
    match cli.command {
        Command::Tickets(a) => tickets::tickets(a).await,
        Command::Incidents(a) => incidents::run(a).await,
        Command::Events(a) => tickets::events(a).await,
        Command::Diagnose(a) => tickets::diagnose(a, &env).await,
        Command::Eval(a) => eval::eval(a).await,
        Command::Demo(a) => eval::demo(a).await,
        Command::Chaos(a) if a.state.file.is_none() => {
            let simulator = env.subjects.first().and_then(|s| s.simulator());
            chaos(&env, a, None, simulator).await
        }
        Command::Status(StatusArgs {
            api: Some(api),
            output,
            ..
        }) => {
            let doc = controller_status::fetch(&api).await?;
            match output.output {
                OutputFormat::Table | OutputFormat::Wide => {
                    print!("{}", controller_status::render(&api, &doc))
                }
                OutputFormat::Name => println!("operator/{api}"),
                fmt => print!("{}", output::structured(&doc, fmt)?),
            }
            Ok(())
        }
        // The spec's `kind` selects the subject; commands without a spec go to the
        // first registered one (the default kind).
        cmd @ (Command::Validate(_)
        | Command::Diff(_)
        | Command::Apply(_)
        | Command::Run(_)
        | Command::Status(_)
        | Command::Down(_)
        | Command::Chaos(_)) => {
            let subject = env.subject_for(cmd.spec_file())?;
            subject.execute(cmd, env.clone()).await
        }
        Command::Completion(a) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(a.shell, &mut cmd, "operator", &mut std::io::stdout());
            Ok(())
        }
        Command::Version(a) => {
            let b = version::BUILD;
            match a.output.output {
                OutputFormat::Table | OutputFormat::Wide => println!("{}", b.line()),
                OutputFormat::Name => println!("operator/{}", b.version),
                fmt => print!("{}", output::structured(&b, fmt)?),
            }
            Ok(())
        }
        Command::Man(a) => write_man_pages(&a.out),
    }
}

/// `<stdin>` for `-`, else the path.
pub(crate) fn display_file(file: &std::path::Path) -> String {
    if file.as_os_str() == "-" {
        "<stdin>".into()
    } else {
        file.display().to_string()
    }
}

/// `down --volumes` destroys data: ask, as `tiup cluster destroy` does. Without a
/// terminal to ask on, refuse unless `--yes`.
pub(crate) fn confirm_volume_removal(cluster: &str) -> Result<(), CliError> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Input(format!(
            "down --volumes deletes every data volume of cluster {cluster:?}; pass --yes to confirm (standard input is not a terminal to ask on)"
        )));
    }
    eprint!("This removes cluster {cluster:?} and ALL its data volumes. Type the cluster name to confirm: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|source| CliError::Io {
            context: "cannot read the confirmation".into(),
            source,
        })?;
    if answer.trim() == cluster {
        Ok(())
    } else {
        Err(CliError::Input("not confirmed; nothing was removed".into()))
    }
}

/// `operator man`: one page for `operator` and one per subcommand (`operator-status.1`).
fn write_man_pages(out: &std::path::Path) -> Result<(), CliError> {
    let fail = |source| CliError::Io {
        context: out.display().to_string(),
        source,
    };
    std::fs::create_dir_all(out).map_err(fail)?;
    let cmd = <Cli as clap::CommandFactory>::command().version(version::BUILD.version);
    clap_mangen::generate_to(cmd, out).map_err(fail)?;
    println!("man pages written to {}", out.display());
    Ok(())
}

/// `operator chaos`: the cluster named by the subject from -f (`from_spec`: name and
/// network), or from what `run` recorded in the state; `simulator` is where the
/// subject's simulated members take fault knobs.
pub(crate) async fn chaos(
    env: &Env,
    a: ChaosCmd,
    from_spec: Option<(String, String)>,
    simulator: Option<crate::chaos::SimKnobs>,
) -> Result<(), CliError> {
    let state = a.state.resolve()?;
    let list = matches!(a.args.command, crate::chaos::cli::ChaosCommand::List { .. });
    if list && !state.exists() {
        // Read-only: nothing recorded, nothing created.
        if a.output.output.is_human() {
            println!("No experiments.");
        } else {
            print!(
                "{}",
                output::structured(&Vec::<()>::new(), a.output.output)?
            );
        }
        return Ok(());
    }
    let (name, network) = match from_spec {
        Some(n) => n,
        None => match state.record() {
            Some(r) => (r.name, r.network),
            None => {
                return Err(CliError::Input(format!(
                    "no cluster is recorded in {}: pass -f cluster.yaml",
                    state.path.display()
                )))
            }
        },
    };
    let rt = (env.runtime)().await?;
    let mut chaos = crate::chaos::Chaos::new(rt, &name, &network, &state.path)?;
    if let Some(knobs) = simulator {
        chaos = chaos.with_simulator(knobs);
    }
    if let crate::chaos::cli::ChaosCommand::List { all } = a.args.command {
        if !a.output.output.is_human() {
            let _ = chaos.recover(std::time::SystemTime::now()).await;
            let list: Vec<_> = chaos
                .list()?
                .into_iter()
                .filter(|e| all || e.is_active())
                .collect();
            match a.output.output {
                OutputFormat::Name => {
                    print!(
                        "{}",
                        output::names("experiment", list.into_iter().map(|e| e.id))
                    )
                }
                fmt => print!("{}", output::structured(&list, fmt)?),
            }
            return Ok(());
        }
    }
    let mut out = std::io::stdout();
    Ok(crate::chaos::cli::run(a.args, &chaos, &mut out).await?)
}

/// Converges once: passes until converged, refused, or `timeout` (any subject).
pub(crate) async fn apply_until_converged<S: Subject>(
    s: Arc<S>,
    timeout: Duration,
) -> Result<(), CliError> {
    let controller = Controller::new(s, Metrics::new());
    let started = Instant::now();
    let mut backoff =
        crate::reconcile::ErrorBackoff::new(Duration::from_millis(500), Duration::from_secs(10));
    let mut last_wait = String::new();
    loop {
        let res = controller
            .reconcile_once(&|step| println!("[{:>6.1}s] {step}", started.elapsed().as_secs_f64()))
            .await;
        let st = controller.status();
        match res {
            Ok(action) => {
                backoff.reset();
                if st.converged {
                    for f in &st.faults {
                        println!("fault: {}: {}", f.target, f.detail);
                    }
                    println!("converged in {:.1}s", started.elapsed().as_secs_f64());
                    return Ok(());
                }
                if st.pending.is_empty() && !st.refusals.is_empty() && st.waits.is_empty() {
                    for r in &st.refusals {
                        eprintln!("refused: {r}");
                    }
                    return Err(CliError::Refused);
                }
                let w = st.waits.join("; ");
                let f = st
                    .faults
                    .iter()
                    .map(|f| format!("{}: {}", f.target, f.detail))
                    .collect::<Vec<_>>()
                    .join("; ");
                let now_state = format!("{w}|{f}");
                if now_state != last_wait {
                    if !w.is_empty() {
                        println!("[{:>6.1}s] waiting: {w}", started.elapsed().as_secs_f64());
                    }
                    for fault in &st.faults {
                        println!(
                            "[{:>6.1}s] fault: {}: {}",
                            started.elapsed().as_secs_f64(),
                            fault.target,
                            fault.detail
                        );
                    }
                    last_wait = now_state;
                }
                tokio::time::sleep(action.requeue_after().min(Duration::from_millis(500))).await;
            }
            Err(e) => {
                let d = backoff.next_delay();
                eprintln!(
                    "[{:>6.1}s] error: {e} (retrying in {d:?})",
                    started.elapsed().as_secs_f64()
                );
                tokio::time::sleep(d).await;
            }
        }
        if started.elapsed() > timeout {
            return Err(CliError::NotConverged {
                timeout,
                waits: st.waits,
                refusals: st.refusals,
            });
        }
    }
}

/// Removes everything `cluster` owns: containers, then the network, then (only when
/// asked) volumes. Objects without the cluster's labels are never touched.
pub(crate) async fn down(
    rt: &dyn ContainerRuntime,
    cluster: &str,
    network: &str,
    volumes: bool,
) -> Result<(), CliError> {
    let owned = rt.list_owned(cluster, network).await?;
    for c in &owned.containers {
        rt.remove(cluster, &c.name).await?;
        println!("removed container {}", c.name);
    }
    for n in &owned.networks {
        rt.remove_network(cluster, &n.name).await?;
        println!("removed network {}", n.name);
    }
    if volumes {
        for v in &owned.volumes {
            rt.remove_volume(cluster, &v.name).await?;
            println!("removed volume {}", v.name);
        }
    } else if !owned.volumes.is_empty() {
        println!(
            "kept {} volumes (use --volumes to remove them)",
            owned.volumes.len()
        );
    }
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
