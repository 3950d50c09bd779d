//! The `capstan` command-line tool as a library (feature `cli`): the argument grammar
//! (clap), one file per command group, human tables or `--output json`, and the exit
//! codes. `src/bin/capstan.rs` only calls [`main`]; tests and other tools can call [`run`]
//! with parsed arguments and their own output.
//!
//! The registry and token come from `--url`/`--token`, else `CAPSTAN_URL`/`CAPSTAN_TOKEN`,
//! else the client config file (`CAPSTAN_CLIENT_CONFIG`, default `~/.config/capstan/config.toml`).
//!
//! Exit codes: 0 ok, 1 other failure (also: a batch job `--wait` followed failed or was
//! cancelled; `import mlflow` could not copy something), 2 bad input or usage, 3 not
//! found, 4 conflict, 5 registry unavailable (network, 5xx, or offline without the needed
//! bytes), 6 digest verification failed,
//! 7 no valid token (401), 8 the token may not do this (403);
//! `deployments status|wait`: 10 rolling out, 11 drifted, 12 no instances, 124 `wait`
//! timed out.

mod aliases;
mod batch;
mod batch_schedules;
mod batch_view;
mod datasets;
mod deployment_view;
mod deployments;
mod download;
mod duration;
mod events;
mod import;
mod models;
mod output;
mod progress;
mod promotions;
mod pull;
mod stages;
mod tokens;
mod train;
mod trees;
mod versions;
mod webhooks;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::http::Client;
use crate::runtime::train::TrainError;
use crate::types::DeploymentState;

pub use output::OutputFormat;

/// The process exit codes of `capstan`.
pub mod exit {
    pub const OK: u8 = 0;
    /// Anything not covered below (e.g. writing the output failed), a batch job
    /// `--wait` followed that failed or was cancelled, and an `import mlflow` that could
    /// not copy something (its report says what and why).
    pub const FAILURE: u8 = 1;
    /// Invalid arguments, file or input (also clap's usage errors).
    pub const BAD_INPUT: u8 = 2;
    /// The model, version or alias does not exist.
    pub const NOT_FOUND: u8 = 3;
    /// The registry's state forbids it: the name exists, the stage moved, the version
    /// is not ready.
    pub const CONFLICT: u8 = 4;
    /// The registry failed or could not be reached, or offline without the bytes.
    pub const UNAVAILABLE: u8 = 5;
    /// Bytes did not match their digest.
    pub const VERIFICATION: u8 = 6;
    /// The registry wants a token and got none, or one it does not know (401): set
    /// `CAPSTAN_TOKEN` or `--token`.
    pub const UNAUTHENTICATED: u8 = 7;
    /// The token is known but may not do this (403): its role is too low, or it is
    /// limited to some models.
    pub const FORBIDDEN: u8 = 8;
    /// `deployments status|wait`: the deployment is rolling out (an instance differs,
    /// within the grace period).
    pub const ROLLING_OUT: u8 = 10;
    /// `deployments status|wait`: the deployment drifted (an instance differs after the
    /// grace period, or failed to load the desired version).
    pub const DRIFTED: u8 = 11;
    /// `deployments status|wait`: no live instance reports.
    pub const NO_INSTANCES: u8 = 12;
    /// `deployments wait`: the timeout passed before the deployment was in sync (124,
    /// as `timeout(1)` exits).
    pub const TIMED_OUT: u8 = 124;
}

const EXAMPLES: &str = "\
Examples:
  capstan models create bc --description 'breast cancer classifier'
  capstan versions upload model.json --model bc --format linfa-logistic
  capstan promote bc@3 --to production --reason 'better recall'
  capstan pull bc@production -o model.bin
  capstan events --model bc --follow
  capstan batch submit bc@production --input patients.csv --id-column patient --wait
  capstan batch predictions --model bc p5
  capstan deployments wait scorer --timeout 120s
  CAPSTAN_TOKEN=capstan_… capstan whoami
  capstan token create ci-deployer --role promoter --output json
  capstan import mlflow --tracking-uri http://mlflow.internal:5000 --dry-run

The registry is --url, else $CAPSTAN_URL, else `url` in the client config file
($CAPSTAN_CLIENT_CONFIG, default ~/.config/capstan/config.toml), else http://127.0.0.1:8080.
The token is --token, else $CAPSTAN_TOKEN, else `token` in that file.
Exit codes: 0 ok, 1 failure (also a batch job that failed or was cancelled under
--wait, an import that could not copy everything), 2 bad input, 3 not found,
4 conflict, 5 registry unavailable, 6 digest mismatch, 7 no valid token (401),
8 token not allowed (403);
deployments status and wait: 10 rolling out, 11 drifted, 12 no instances, 124 timed out.";

/// Command-line client of a Capstan model registry.
#[derive(Parser)]
#[command(name = "capstan", version, after_help = EXAMPLES)]
pub struct Cli {
    /// Base URL of the registry.
    #[arg(
        long,
        global = true,
        env = "CAPSTAN_URL",
        visible_alias = "registry",
        value_name = "URL"
    )]
    pub url: Option<String>,
    /// API token sent as `Authorization: Bearer` (prefer $CAPSTAN_TOKEN or the config
    /// file: a flag shows in the process list and shell history).
    #[arg(
        long,
        global = true,
        env = "CAPSTAN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// How to print results: human-readable tables or JSON.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// No progress bars (they are only drawn on a terminal, and never when $CI is set).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

impl std::fmt::Debug for Cli {
    /// Everything but the token, which shows as `<redacted>` when given.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cli")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("output", &self.output)
            .field("quiet", &self.quiet)
            .field("command", &self.command)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register, list, show and delete models.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// List, show, upload and archive versions.
    #[command(subcommand)]
    Versions(versions::VersionsCommand),
    /// Put a version in a stage.
    Promote(stages::PromoteArgs),
    /// Return a stage to the version that held it before.
    Rollback(stages::RollbackArgs),
    /// Set or delete an alias (a free pointer such as `champion`).
    #[command(subcommand)]
    Alias(aliases::AliasCommand),
    /// Show, set or delete a model's promotion policy (rules and approvals per stage or alias).
    #[command(subcommand)]
    Policy(promotions::PolicyCommand),
    /// Promotion requests waiting for approvals: list, show, approve, reject.
    #[command(subcommand, visible_alias = "request")]
    Requests(promotions::RequestsCommand),
    /// Download an artifact into the cache (verified, resumable), optionally to a file;
    /// a tree of files into a directory.
    Pull(pull::PullArgs),
    /// Upload a directory as a new version holding its tree of files (only the files
    /// the registry lacks are sent).
    Push(trees::PushArgs),
    /// Manage capstan.lock, the models a crate embeds pinned by digest.
    #[command(subcommand)]
    Lock(pull::LockCommand),
    /// Read the event log (the audit trail), optionally following it.
    Events(events::EventsArgs),
    /// Train a model from a CSV table, optionally registering it.
    #[command(subcommand)]
    Train(train::TrainCommand),
    /// Upload, list, show, download and delete datasets (the inputs of batch jobs).
    #[command(subcommand, visible_alias = "datasets")]
    Dataset(datasets::DatasetCommand),
    /// Offline predictions: batch jobs, their review, predictions by key, schedules.
    #[command(subcommand)]
    Batch(batch::BatchCommand),
    /// Deployments: who consumes a ref, what their instances run, whether they are in sync.
    #[command(subcommand, visible_alias = "deployment")]
    Deployments(deployments::DeploymentsCommand),
    /// Endpoints that receive the event log as signed POSTs (Standard Webhooks).
    #[command(subcommand, visible_alias = "webhook")]
    Webhooks(webhooks::WebhooksCommand),
    /// Create, list and revoke API tokens (admins).
    #[command(subcommand, visible_alias = "tokens")]
    Token(tokens::TokenCommand),
    /// Show the token the CLI presents: its name, role and models.
    Whoami,
    /// Copy models from another registry (MLflow) into this one.
    #[command(subcommand)]
    Import(import::ImportCommand),
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] Error),
    #[error(transparent)]
    Train(#[from] TrainError),
    /// Invalid arguments or input files.
    #[error("{0}")]
    Input(String),
    #[error("writing the output failed: {0}")]
    Output(#[from] std::io::Error),
    /// A batch job `--wait` followed failed or was cancelled: why, and its first bad rows.
    #[error("{0}")]
    BatchJob(String),
    /// `deployments status|wait`: the deployment is not in sync; its state picks the code.
    #[error("deployment {name} is {}: {reason}", state.as_str())]
    NotInSync {
        name: String,
        state: DeploymentState,
        reason: String,
    },
    /// Reading MLflow failed (`import mlflow`).
    #[error(transparent)]
    Mlflow(#[from] crate::mlflow::MlflowError),
    /// `import mlflow` finished but could not copy everything.
    #[error("{0}")]
    Incomplete(String),
    /// `deployments wait`: the timeout passed first.
    #[error("deployment {name} is still {} after {waited}: {reason}", state.as_str())]
    WaitTimedOut {
        name: String,
        state: DeploymentState,
        reason: String,
        waited: String,
    },
}

impl CliError {
    /// The process exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Client(error) => match error.kind() {
                ErrorKind::NotFound => exit::NOT_FOUND,
                ErrorKind::Conflict => exit::CONFLICT,
                ErrorKind::BadInput | ErrorKind::Io => exit::BAD_INPUT,
                ErrorKind::Unavailable => exit::UNAVAILABLE,
                ErrorKind::Verification => exit::VERIFICATION,
                ErrorKind::Unauthorized => exit::UNAUTHENTICATED,
                ErrorKind::Forbidden => exit::FORBIDDEN,
            },
            CliError::Train(TrainError::Fit(_)) => exit::FAILURE,
            CliError::Train(_) | CliError::Input(_) => exit::BAD_INPUT,
            CliError::Output(_) | CliError::BatchJob(_) | CliError::Incomplete(_) => exit::FAILURE,
            CliError::Mlflow(error) => mlflow_exit_code(error),
            CliError::NotInSync { state, .. } => match state {
                DeploymentState::InSync => exit::OK,
                DeploymentState::RollingOut => exit::ROLLING_OUT,
                DeploymentState::Drifted => exit::DRIFTED,
                DeploymentState::NoInstances => exit::NO_INSTANCES,
            },
            CliError::WaitTimedOut { .. } => exit::TIMED_OUT,
        }
    }
}

/// The exit code of a failure to read MLflow: the same classes as the registry's.
fn mlflow_exit_code(error: &crate::mlflow::MlflowError) -> u8 {
    use crate::mlflow::MlflowError;
    match error {
        MlflowError::Transport { .. } | MlflowError::Protocol { .. } => exit::UNAVAILABLE,
        MlflowError::Api { status, .. } => match status {
            401 => exit::UNAUTHENTICATED,
            403 => exit::FORBIDDEN,
            404 => exit::NOT_FOUND,
            500.. => exit::UNAVAILABLE,
            _ => exit::BAD_INPUT,
        },
        MlflowError::Invalid(_) => exit::BAD_INPUT,
        MlflowError::Io { .. } => exit::FAILURE,
    }
}

/// What every command gets: where to print, how, and (on demand) the registry client.
pub struct Context<'a> {
    pub output: OutputFormat,
    pub quiet: bool,
    pub out: &'a mut dyn Write,
    url: Option<String>,
    token: Option<String>,
    client: Option<Client>,
}

impl Context<'_> {
    /// The registry client, configured from `--url` and `--token`, the environment and
    /// the client config file.
    pub fn client(&mut self) -> Result<Client, CliError> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let mut config = Config::from_env()?;
        if let Some(url) = &self.url {
            config = config.with_url(url)?;
        }
        if let Some(token) = self.token.take() {
            config = config.with_token(Some(token));
        }
        let client = Client::new(config)?;
        self.client = Some(client.clone());
        Ok(client)
    }
}

/// Runs one parsed command, printing results to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    let mut ctx = Context {
        output: cli.output,
        quiet: cli.quiet,
        out,
        url: cli.url,
        token: cli.token,
        client: None,
    };
    match cli.command {
        Command::Models(command) => models::run(command, &mut ctx).await,
        Command::Versions(command) => versions::run(command, &mut ctx).await,
        Command::Promote(args) => stages::promote(args, &mut ctx).await,
        Command::Rollback(args) => stages::rollback(args, &mut ctx).await,
        Command::Alias(command) => aliases::run(command, &mut ctx).await,
        Command::Policy(command) => promotions::policy(command, &mut ctx).await,
        Command::Requests(command) => promotions::requests(command, &mut ctx).await,
        Command::Pull(args) => pull::pull(args, &mut ctx).await,
        Command::Push(args) => trees::push(args, &mut ctx).await,
        Command::Lock(command) => pull::lock(command, &mut ctx).await,
        Command::Events(args) => events::run(args, &mut ctx).await,
        Command::Train(command) => train::run(command, &mut ctx).await,
        Command::Dataset(command) => datasets::run(command, &mut ctx).await,
        Command::Batch(command) => batch::run(command, &mut ctx).await,
        Command::Deployments(command) => deployments::run(command, &mut ctx).await,
        Command::Webhooks(command) => webhooks::run(command, &mut ctx).await,
        Command::Token(command) => tokens::run(command, &mut ctx).await,
        Command::Whoami => tokens::whoami(&mut ctx).await,
        Command::Import(command) => import::run(command, &mut ctx).await,
    }?;
    ctx.out.flush()?;
    Ok(())
}

/// The whole program: parses the process's arguments, runs the command on a tokio
/// runtime, prints an error to stderr, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match runtime.block_on(run(cli, &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout stopped reading (`capstan batch download ID | head`): it has
        // what it wanted; like `rg`, end quietly rather than report the pipe.
        Err(CliError::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(error) => {
            let _ = out.flush();
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
