//! `capstan policy show|set|delete` (a model's promotion policy) and `capstan requests
//! list|show|approve|reject` (promotions waiting for approvals); and how `promote`,
//! `rollback` and `alias set` print a promotion request a policy opened instead of moving.

use std::path::PathBuf;

use clap::Subcommand;

use super::output::{or_dash, time, write_fields, write_json, OutputFormat, Table};
use super::{CliError, Context};
use crate::http::api::PromotionRequestQuery;
use crate::names::ModelName;
use crate::types::{
    ModelPolicy, PromotionPolicy, PromotionRequest, PromotionStatus, ReviewPromotion,
};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show a model's promotion policy.
    #[command(
        after_help = "Examples:\n  capstan policy show bc\n  capstan policy show bc --output json"
    )]
    Show { name: ModelName },
    /// Set (create or replace) a model's promotion policy from a JSON file (or stdin).
    #[command(after_help = "\
Examples:
  capstan policy set bc --file policy.json
  echo '{\"stages\":{\"production\":{\"from\":\"staging\",\"approvals\":1}}}' | capstan policy set bc

policy.json:
  {\"stages\": {\"production\": {\"from\": \"staging\",
                              \"metrics\": {\"accuracy\": {\"min\": 0.95}, \"latency_ms\": {\"max\": 20}},
                              \"approvals\": 1}},
   \"aliases\": {\"champion\": {\"approvals\": 1}}}")]
    Set {
        name: ModelName,
        /// The policy as JSON; without it, read from stdin.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Remove a model's promotion policy: promotions move at once again.
    #[command(after_help = "Examples:\n  capstan policy delete bc")]
    Delete { name: ModelName },
}

#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// List promotion requests, newest first.
    #[command(after_help = "\
Examples:
  capstan requests list
  capstan requests list --model bc --status pending --output json")]
    List {
        /// Only this model's requests.
        #[arg(long)]
        model: Option<ModelName>,
        /// pending, approved, rejected, expired or failed.
        #[arg(long, value_parser = parse_status)]
        status: Option<PromotionStatus>,
        /// At most this many requests.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Show a promotion request and its approvals.
    #[command(
        after_help = "Examples:\n  capstan requests show 0b6f2c1e-9a4d-4c53-8f0e-2d7f1b9c6a10"
    )]
    Show { id: String },
    /// Approve a promotion request (not your own); the last approval needed moves it.
    #[command(after_help = "\
Examples:
  capstan requests approve 0b6f2c1e-9a4d-4c53-8f0e-2d7f1b9c6a10
  capstan requests approve 0b6f2c1e-9a4d-4c53-8f0e-2d7f1b9c6a10 --reason 'holdout looks good'")]
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject a promotion request (or withdraw your own).
    #[command(after_help = "\
Examples:
  capstan requests reject 0b6f2c1e-9a4d-4c53-8f0e-2d7f1b9c6a10 --reason 'recall dropped on small tumours'")]
    Reject {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

fn parse_status(text: &str) -> Result<PromotionStatus, String> {
    PromotionStatus::parse(text)
        .ok_or_else(|| "expected pending, approved, rejected, expired or failed".to_owned())
}

pub async fn policy(command: PolicyCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        PolicyCommand::Show { name } => show_policy(ctx, &client.get_policy(&name).await?),
        PolicyCommand::Set { name, file } => {
            let text = match &file {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| CliError::Input(format!("cannot read {}: {e}", path.display())))?,
                None => std::io::read_to_string(std::io::stdin())
                    .map_err(|e| CliError::Input(format!("cannot read stdin: {e}")))?,
            };
            let policy: PromotionPolicy = serde_json::from_str(&text)
                .map_err(|e| CliError::Input(format!("the policy is not valid: {e}")))?;
            show_policy(ctx, &client.put_policy(&name, &policy).await?)
        }
        PolicyCommand::Delete { name } => {
            client.delete_policy(&name).await?;
            if ctx.output == OutputFormat::Json {
                return Ok(write_json(
                    ctx.out,
                    &serde_json::json!({ "model": name, "deleted_policy": true }),
                )?);
            }
            Ok(writeln!(ctx.out, "deleted the promotion policy of {name}")?)
        }
    }
}

fn show_policy(ctx: &mut Context<'_>, policy: &ModelPolicy) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, policy)?);
    }
    write_fields(
        ctx.out,
        &[
            ("model", policy.model.to_string()),
            ("updated", time(&policy.updated_at)),
            ("updated by", policy.updated_by.clone()),
        ],
    )?;
    let mut table = Table::new(&["TARGET", "FROM", "METRICS", "APPROVALS"]);
    let rules = policy
        .policy
        .stages
        .iter()
        .map(|(stage, rule)| (format!("stage:{stage}"), rule))
        .chain(
            policy
                .policy
                .aliases
                .iter()
                .map(|(alias, rule)| (format!("alias:{alias}"), rule)),
        );
    for (target, rule) in rules {
        let metrics: Vec<String> = rule
            .metrics
            .iter()
            .map(|(name, bound)| match (bound.min, bound.max) {
                (Some(min), Some(max)) => format!("{min}<={name}<={max}"),
                (Some(min), None) => format!("{name}>={min}"),
                (None, Some(max)) => format!("{name}<={max}"),
                (None, None) => name.clone(),
            })
            .collect();
        table.row(vec![
            target,
            or_dash(rule.from),
            if metrics.is_empty() {
                "-".to_owned()
            } else {
                metrics.join(",")
            },
            rule.approvals.to_string(),
        ]);
    }
    Ok(table.write(ctx.out)?)
}

pub async fn requests(command: RequestsCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        RequestsCommand::List {
            model,
            status,
            limit,
        } => {
            let query = PromotionRequestQuery {
                model,
                status,
                limit: Some(limit),
                page_token: None,
            };
            let page = client.list_promotion_requests(&query).await?;
            if ctx.output == OutputFormat::Json {
                return Ok(write_json(ctx.out, &page.requests)?);
            }
            let mut table = Table::new(&[
                "ID",
                "STATUS",
                "MODEL",
                "TARGET",
                "VERSION",
                "APPROVALS",
                "REQUESTED BY",
                "CREATED",
            ]);
            for request in &page.requests {
                table.row(vec![
                    request.id.clone(),
                    request.status.to_string(),
                    request.model.to_string(),
                    request.target.clone(),
                    request.version.to_string(),
                    format!("{}/{}", request.approvals.len(), request.approvals_required),
                    request.requested_by.clone(),
                    time(&request.created_at),
                ]);
            }
            Ok(table.write(ctx.out)?)
        }
        RequestsCommand::Show { id } => {
            show_request(ctx, &client.get_promotion_request(&id).await?)
        }
        RequestsCommand::Approve { id, reason } => {
            let request = client
                .approve_promotion(&id, &ReviewPromotion { reason })
                .await?;
            show_request(ctx, &request)
        }
        RequestsCommand::Reject { id, reason } => {
            let request = client
                .reject_promotion(&id, &ReviewPromotion { reason })
                .await?;
            show_request(ctx, &request)
        }
    }
}

/// A request as `requests show` prints it.
pub fn show_request(ctx: &mut Context<'_>, request: &PromotionRequest) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, request)?);
    }
    let approvals: Vec<String> = request
        .approvals
        .iter()
        .map(|a| match &a.reason {
            Some(reason) => format!("{} ({reason})", a.by),
            None => a.by.clone(),
        })
        .collect();
    write_fields(
        ctx.out,
        &[
            ("id", request.id.clone()),
            ("status", request.status.to_string()),
            ("model", request.model.to_string()),
            ("target", request.target.clone()),
            ("version", request.version.to_string()),
            ("rollback", request.rollback.to_string()),
            (
                "approvals",
                format!(
                    "{}/{} {}",
                    request.approvals.len(),
                    request.approvals_required,
                    approvals.join(", ")
                )
                .trim_end()
                .to_owned(),
            ),
            ("requested by", request.requested_by.clone()),
            ("reason", or_dash(request.reason.as_ref())),
            ("created", time(&request.created_at)),
            ("expires", time(&request.expires_at)),
            ("decided by", or_dash(request.decided_by.as_ref())),
            (
                "rejection reason",
                or_dash(request.rejection_reason.as_ref()),
            ),
            ("failure reason", or_dash(request.failure_reason.as_ref())),
        ],
    )?;
    Ok(())
}

/// How `promote`, `rollback` and `alias set` report a request a policy opened: the
/// request (as JSON with `--output json`), then a line saying what to do next.
pub fn print_requested(ctx: &mut Context<'_>, request: &PromotionRequest) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, request)?);
    }
    writeln!(
        ctx.out,
        "approval needed: request {} ({}{} of {}@{} needs {} approval{}; \
         another promoter runs `capstan requests approve {}`)",
        request.id,
        if request.rollback { "rollback of " } else { "" },
        request.target,
        request.model,
        request.version,
        request.approvals_required,
        if request.approvals_required == 1 {
            ""
        } else {
            "s"
        },
        request.id
    )?;
    Ok(())
}
