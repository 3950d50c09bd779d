//! `capstan promote` and `capstan rollback`: moving the governed stage pointers.

use clap::Args;

use super::output::{write_json, OutputFormat};
use super::promotions::print_requested;
use super::{CliError, Context};
use crate::http::{Client, Promotion};
use crate::names::ModelName;
use crate::reference::{ModelRef, Stage, VersionRef};
use crate::types::{PromoteRequest, RollbackRequest};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan promote bc@3 --to production --reason 'better recall on the holdout'
  capstan promote bc@staging --to production
  capstan promote bc@4 --to production --expect 3   # only if production still holds 3

Under a promotion policy that needs approvals, nothing moves yet: the command prints
`approval needed: request <id>` and exits 0; another promoter runs
`capstan requests approve <id>`.")]
pub struct PromoteArgs {
    /// NAME@VERSION (or any ref: `bc@staging`, `bc@champion`, `bc@latest`).
    pub reference: ModelRef,
    /// The stage: `staging` or `production`.
    #[arg(long)]
    pub to: Stage,
    /// Why (kept in the audit trail).
    #[arg(long)]
    pub reason: Option<String>,
    /// Promote only if the stage holds this version now (`none`: holds none).
    #[arg(long, value_name = "VERSION|none")]
    pub expect: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan rollback bc --stage production
  capstan rollback bc --stage production --reason 'v4 misclassifies small tumours'")]
pub struct RollbackArgs {
    pub name: ModelName,
    /// The stage: `staging` or `production`.
    #[arg(long)]
    pub stage: Stage,
    /// Why (kept in the audit trail).
    #[arg(long)]
    pub reason: Option<String>,
}

/// The version number a ref names now (no request for a plain number).
pub async fn version_number(client: &Client, reference: &ModelRef) -> Result<i64, CliError> {
    match reference.version {
        VersionRef::Number(number) => Ok(number),
        _ => Ok(client
            .get_version(&reference.model, &reference.version)
            .await?
            .version),
    }
}

pub async fn promote(args: PromoteArgs, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    let expected_version = match args.expect.as_deref() {
        None => None,
        Some("none") => Some(None),
        Some(number) => Some(Some(number.parse::<i64>().map_err(|_| {
            CliError::Input(format!(
                "--expect takes a version number or `none`, not {number:?}"
            ))
        })?)),
    };
    let version = version_number(&client, &args.reference).await?;
    let promotion = client
        .promote_governed(
            &args.reference.model,
            args.to,
            &PromoteRequest {
                version,
                reason: args.reason,
                expected_version,
            },
        )
        .await?;
    let promoted = match promotion {
        Promotion::Done(version) => version,
        Promotion::Requested(request) => return print_requested(ctx, &request),
    };
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &promoted)?);
    }
    writeln!(
        ctx.out,
        "promoted {}@{} to {}",
        promoted.model, promoted.version, args.to
    )?;
    Ok(())
}

pub async fn rollback(args: RollbackArgs, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    let rolled_back = client
        .rollback_governed(
            &args.name,
            args.stage,
            &RollbackRequest {
                reason: args.reason,
            },
        )
        .await?;
    let version = match rolled_back {
        Promotion::Done(version) => version,
        Promotion::Requested(request) => return print_requested(ctx, &request),
    };
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &version)?);
    }
    writeln!(
        ctx.out,
        "rolled back {} {} to version {}",
        args.name, args.stage, version.version
    )?;
    Ok(())
}
