//! `capstan deployments list|show|create|delete|status|wait`: the consumers of a ref the
//! registry tracks, and whether they run what it names. `status` and `wait` end with an
//! exit code per state (see [`super::exit`]), so CI pipelines can wait for a rollout.
//! How deployments are printed is in `deployment_view.rs`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use super::deployment_view as view;
use super::duration::{human_duration, parse_duration};
use super::output::{write_json, write_json_line, OutputFormat};
use super::{CliError, Context};
use crate::http::{Client, DeploymentQuery};
use crate::names::ModelName;
use crate::reference::ModelRef;
use crate::types::{CanarySpec, Deployment, DeploymentPattern, DeploymentState, PutDeployment};

#[derive(Debug, Subcommand)]
pub enum DeploymentsCommand {
    /// List deployments by name, with their state computed now.
    #[command(after_help = "\
Examples:
  capstan deployments list
  capstan deployments list --model bc --state drifted
  capstan deployments list --pattern api --output json")]
    List {
        /// Only deployments of this model.
        #[arg(long)]
        model: Option<ModelName>,
        /// Only deployments of this pattern: embedded, api, stream, batch.
        #[arg(long, value_parser = parse_pattern)]
        pattern: Option<DeploymentPattern>,
        /// Only deployments in this state: in_sync, rolling_out, drifted, no_instances.
        #[arg(long, value_parser = parse_state)]
        state: Option<DeploymentState>,
        /// At most this many deployments.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show a deployment: its ref, desired version, canary, state and why, instances.
    #[command(after_help = "Examples:\n  capstan deployments show scorer --output json")]
    Show { name: ModelName },
    /// Create a deployment, or replace the one of that name whole (PUT).
    Create(CreateArgs),
    /// Delete a deployment and its instances' reports.
    #[command(after_help = "Examples:\n  capstan deployments delete scorer")]
    Delete { name: ModelName },
    /// The deployment's instances and state; the exit code says which state.
    Status(StatusArgs),
    /// Wait until the deployment is in sync: exit 0, or 124 when the timeout passes.
    Wait(WaitArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan deployments create scorer --model bc@production --pattern api \\
      --description 'fraud scoring' --label team=risk --canary bc@canary --percent 10
  capstan deployments create nightly-scores --model bc@production --pattern batch

Creates the deployment, or replaces the one of that name whole: labels, description and
canary not given again are removed. Instances report to
/api/v1/deployments/NAME/instances/ID; a batch deployment observes its latest approved
job (capstan batch submit … --deployment NAME).")]
pub struct CreateArgs {
    /// Letters, digits, `.`, `_` and `-`.
    pub name: ModelName,
    /// The ref it consumes (`bc@production`, `bc@champion`, `bc@3`).
    #[arg(long, value_name = "REF")]
    pub model: ModelRef,
    /// How it gets the model: embedded, api, stream or batch.
    #[arg(long, value_parser = parse_pattern)]
    pub pattern: DeploymentPattern,
    #[arg(long)]
    pub description: Option<String>,
    /// A label `KEY=VALUE` (repeat for several).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Pattern api only: a second ref of the same model taking --percent of the traffic.
    #[arg(long, value_name = "REF", requires = "percent")]
    pub canary: Option<ModelRef>,
    /// The canary's share of prediction requests, 0–100.
    #[arg(long, requires = "canary", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub percent: Option<u8>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan deployments status scorer
  capstan deployments status scorer --watch --interval 5s
  capstan deployments status scorer --output json; echo \"exit $?\"

`*` marks an instance version that is the desired one (or the canary's).
With --watch the block is redrawn every --interval on a terminal; when stdout is not a
terminal (a log, a pipe) a block is printed each time something changes (a state, an
instance's version or status, not a heartbeat). --watch runs until interrupted.

Exit codes: 0 in_sync, 10 rolling_out, 11 drifted, 12 no_instances; 3 no such deployment,
5 registry unavailable.")]
pub struct StatusArgs {
    pub name: ModelName,
    /// Keep showing the status until interrupted.
    #[arg(long)]
    pub watch: bool,
    /// How often --watch asks the registry (500ms, 2s, 1m).
    #[arg(long, default_value = "2s", value_parser = parse_duration, requires = "watch")]
    pub interval: Duration,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan promote bc@7 --to production && capstan deployments wait scorer --timeout 120s
  capstan deployments wait nightly-scores --timeout 2h --interval 30s --ignore-drift

Polls until the deployment is in_sync (exit 0). It stops early on drifted (exit 11): the
registry says drifted only once the grace period after the desired version changed has
passed with an instance still on another version, or when an instance failed to load it —
a failed rollout. --ignore-drift keeps waiting instead (for instances fixed by hand).
When the timeout passes first it prints the last state and reason and exits 124.
State changes are said on stderr as they happen (unless --quiet).

Exit codes: 0 in_sync, 11 drifted, 124 timed out; 3 no such deployment, 5 registry
unavailable.")]
pub struct WaitArgs {
    pub name: ModelName,
    /// How long to wait (500ms, 120s, 2m, 1h).
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// How often to ask the registry.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Keep waiting while the deployment is drifted, until in sync or the timeout.
    #[arg(long)]
    pub ignore_drift: bool,
}

pub async fn run(command: DeploymentsCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        DeploymentsCommand::List {
            model,
            pattern,
            state,
            limit,
        } => {
            let query = DeploymentQuery {
                model,
                pattern,
                state,
                limit: Some(i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000)),
                page_token: None,
            };
            let deployments = client.list_all_deployments(&query, limit).await?;
            if ctx.output == OutputFormat::Json {
                return Ok(write_json(ctx.out, &deployments)?);
            }
            Ok(view::list(ctx.out, &deployments)?)
        }
        DeploymentsCommand::Show { name } => {
            let deployment = client.get_deployment(&name).await?;
            show(ctx, &deployment)
        }
        DeploymentsCommand::Create(args) => {
            let name = args.name.clone();
            let deployment = client.put_deployment(&name, &put_request(args)).await?;
            show(ctx, &deployment)
        }
        DeploymentsCommand::Delete { name } => {
            client.delete_deployment(&name).await?;
            if ctx.output == OutputFormat::Json {
                return Ok(write_json(
                    ctx.out,
                    &serde_json::json!({ "deleted": name }),
                )?);
            }
            Ok(writeln!(ctx.out, "deleted deployment {name}")?)
        }
        DeploymentsCommand::Status(args) if args.watch => watch(&client, args, ctx).await,
        DeploymentsCommand::Status(args) => {
            let deployment = client.get_deployment(&args.name).await?;
            print_status(ctx, &deployment)?;
            state_result(&deployment)
        }
        DeploymentsCommand::Wait(args) => wait(&client, args, ctx).await,
    }
}

fn put_request(args: CreateArgs) -> PutDeployment {
    PutDeployment {
        model: args.model,
        pattern: args.pattern,
        description: args.description,
        labels: (!args.labels.is_empty())
            .then(|| args.labels.into_iter().collect::<BTreeMap<_, _>>()),
        canary: args
            .canary
            .zip(args.percent)
            .map(|(model, percent)| CanarySpec { model, percent }),
    }
}

/// Colour only on a terminal, and never under `$NO_COLOR`.
fn colour(ctx: &Context<'_>) -> bool {
    ctx.output == OutputFormat::Table
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none()
}

fn show(ctx: &mut Context<'_>, deployment: &Deployment) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, deployment)?);
    }
    let colour = colour(ctx);
    Ok(view::show(ctx.out, deployment, colour)?)
}

fn print_status(ctx: &mut Context<'_>, deployment: &Deployment) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, deployment)?);
    }
    let colour = colour(ctx);
    Ok(view::status(ctx.out, deployment, colour)?)
}

/// Ok when in sync, else the error whose exit code is the state's.
fn state_result(deployment: &Deployment) -> Result<(), CliError> {
    match deployment.state {
        DeploymentState::InSync => Ok(()),
        state => Err(CliError::NotInSync {
            name: deployment.name.to_string(),
            state,
            reason: deployment.reason.clone(),
        }),
    }
}

/// `status --watch`: redraws on a terminal, prints a block per change elsewhere; runs
/// until interrupted (or the registry cannot be reached).
async fn watch(client: &Client, args: StatusArgs, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let redraw = ctx.output == OutputFormat::Table && std::io::stdout().is_terminal();
    let mut last: Option<String> = None;
    loop {
        let deployment = client.get_deployment(&args.name).await?;
        let key = view::change_key(&deployment);
        if redraw {
            // Clear the screen and go home, then draw the block again.
            write!(ctx.out, "\x1b[2J\x1b[H")?;
            print_status(ctx, &deployment)?;
        } else if last.as_ref() != Some(&key) {
            if ctx.output == OutputFormat::Json {
                write_json_line(ctx.out, &deployment)?;
            } else {
                if last.is_some() {
                    writeln!(ctx.out)?;
                }
                writeln!(ctx.out, "# {}", super::output::time(&chrono::Utc::now()))?;
                print_status(ctx, &deployment)?;
            }
        }
        ctx.out.flush()?;
        last = Some(key);
        tokio::time::sleep(args.interval).await;
    }
}

/// `wait`: polls until in sync, drifted (unless ignored) or the timeout.
async fn wait(client: &Client, args: WaitArgs, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let started = Instant::now();
    let mut said: Option<(DeploymentState, String)> = None;
    loop {
        let deployment = client.get_deployment(&args.name).await?;
        let now = (deployment.state, deployment.reason.clone());
        if !ctx.quiet && said.as_ref() != Some(&now) {
            eprintln!(
                "[{}] {}: {}",
                human_duration(started.elapsed()),
                deployment.state.as_str(),
                deployment.reason
            );
            said = Some(now);
        }
        let done = match deployment.state {
            DeploymentState::InSync => true,
            DeploymentState::Drifted => !args.ignore_drift,
            DeploymentState::RollingOut | DeploymentState::NoInstances => false,
        };
        if done {
            print_status(ctx, &deployment)?;
            return state_result(&deployment);
        }
        let waited = started.elapsed();
        if waited >= args.timeout {
            print_status(ctx, &deployment)?;
            return Err(CliError::WaitTimedOut {
                name: deployment.name.to_string(),
                state: deployment.state,
                reason: deployment.reason,
                waited: human_duration(args.timeout),
            });
        }
        tokio::time::sleep(args.interval.min(args.timeout - waited)).await;
    }
}

fn parse_pattern(text: &str) -> Result<DeploymentPattern, String> {
    DeploymentPattern::parse(text).ok_or_else(|| {
        let all: Vec<&str> = DeploymentPattern::ALL.iter().map(|p| p.as_str()).collect();
        format!("expected one of {}", all.join(", "))
    })
}

fn parse_state(text: &str) -> Result<DeploymentState, String> {
    DeploymentState::parse(text).ok_or_else(|| {
        let all: Vec<&str> = DeploymentState::ALL.iter().map(|s| s.as_str()).collect();
        format!("expected one of {}", all.join(", "))
    })
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}
