//! `capstan webhooks create|list|show|pause|resume|rotate-secret|delete|deliveries`: the
//! endpoints that receive the event log as signed POSTs. Pausing and resuming (also
//! re-enabling a disabled webhook) are updates.

use clap::{Args, Subcommand};

use super::output::{or_dash, time, write_fields, write_json, OutputFormat, Table};
use super::{CliError, Context};
use crate::http::api::PageQuery;
use crate::http::Client;
use crate::names::ModelName;
use crate::types::{CreateWebhook, UpdateWebhook, Webhook, WebhookDelivery};

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Create a webhook; prints its secret, which is never shown again.
    Create(CreateArgs),
    /// List webhooks.
    #[command(
        after_help = "Examples:\n  capstan webhooks list\n  capstan webhooks list --output json"
    )]
    List {
        /// At most this many webhooks.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show a webhook: its status, cursor and failures.
    #[command(
        after_help = "Examples:\n  capstan webhooks show 8d2ca770-6fd6-422d-bd0c-6108890cb0ca"
    )]
    Show { id: String },
    /// Stop delivering until resumed (events wait).
    #[command(
        after_help = "Examples:\n  capstan webhooks pause 8d2ca770-6fd6-422d-bd0c-6108890cb0ca"
    )]
    Pause { id: String },
    /// Deliver again, from the first event not delivered; also re-enables a disabled
    /// webhook.
    #[command(
        after_help = "Examples:\n  capstan webhooks resume 8d2ca770-6fd6-422d-bd0c-6108890cb0ca"
    )]
    Resume { id: String },
    /// Replace the secret (printed once); the previous one signs too for 24 h.
    #[command(
        after_help = "Examples:\n  capstan webhooks rotate-secret 8d2ca770-6fd6-422d-bd0c-6108890cb0ca --output json"
    )]
    RotateSecret { id: String },
    /// Delete a webhook and its delivery log.
    #[command(
        after_help = "Examples:\n  capstan webhooks delete 8d2ca770-6fd6-422d-bd0c-6108890cb0ca"
    )]
    Delete { id: String },
    /// The webhook's delivery attempts, newest first.
    #[command(
        after_help = "Examples:\n  capstan webhooks deliveries 8d2ca770-6fd6-422d-bd0c-6108890cb0ca --limit 20"
    )]
    Deliveries {
        id: String,
        /// At most this many attempts.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan webhooks create https://hooks.example.com/capstan --events stage_changed,version_ready
  capstan webhooks create https://ci.example.com/hook --events '*' --model fraud --output json

Deliveries follow Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature);
verify them with the printed whsec_ secret.")]
pub struct CreateArgs {
    /// The receiver: an http or https URL (not `url`: that is the registry's, `--url`).
    #[arg(value_name = "URL")]
    pub receiver: String,
    /// Event kinds, comma-separated, or '*' for all.
    #[arg(long, value_delimiter = ',', required = true)]
    pub events: Vec<String>,
    /// Only this model's events.
    #[arg(long, value_name = "NAME")]
    pub model: Option<ModelName>,
    #[arg(long)]
    pub description: Option<String>,
}

pub async fn run(command: WebhooksCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        WebhooksCommand::Create(args) => {
            let request = CreateWebhook {
                url: args.receiver,
                events: args.events,
                model: args.model,
                description: args.description,
            };
            show(ctx, &client.create_webhook(&request).await?)
        }
        WebhooksCommand::List { limit } => list(ctx, &client.list_all_webhooks(limit).await?),
        WebhooksCommand::Show { id } => show(ctx, &client.get_webhook(&id).await?),
        WebhooksCommand::Pause { id } => set_paused(&client, ctx, &id, true).await,
        WebhooksCommand::Resume { id } => set_paused(&client, ctx, &id, false).await,
        WebhooksCommand::RotateSecret { id } => {
            show(ctx, &client.rotate_webhook_secret(&id).await?)
        }
        WebhooksCommand::Delete { id } => {
            client.delete_webhook(&id).await?;
            if ctx.output == OutputFormat::Json {
                return Ok(write_json(ctx.out, &serde_json::json!({ "deleted": id }))?);
            }
            Ok(writeln!(ctx.out, "deleted webhook {id}")?)
        }
        WebhooksCommand::Deliveries { id, limit } => {
            let query = PageQuery {
                limit: Some(limit),
                page_token: None,
            };
            deliveries(
                ctx,
                &client.webhook_deliveries(&id, &query).await?.deliveries,
            )
        }
    }
}

async fn set_paused(
    client: &Client,
    ctx: &mut Context<'_>,
    id: &str,
    paused: bool,
) -> Result<(), CliError> {
    let update = UpdateWebhook {
        paused: Some(paused),
        ..UpdateWebhook::default()
    };
    show(ctx, &client.update_webhook(id, &update).await?)
}

fn list(ctx: &mut Context<'_>, webhooks: &[Webhook]) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &webhooks)?);
    }
    let mut table = Table::new(&["ID", "URL", "EVENTS", "MODEL", "STATUS", "CURSOR", "FAILED"]);
    for w in webhooks {
        table.row(vec![
            w.id.clone(),
            w.url.clone(),
            w.events.join(","),
            or_dash(w.model.as_ref()),
            w.status.as_str().to_owned(),
            w.cursor.to_string(),
            w.failed_attempts.to_string(),
        ]);
    }
    Ok(table.write(ctx.out)?)
}

fn show(ctx: &mut Context<'_>, w: &Webhook) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, w)?);
    }
    let mut fields = vec![
        ("id", w.id.clone()),
        ("url", w.url.clone()),
        ("events", w.events.join(",")),
        ("model", or_dash(w.model.as_ref())),
        ("description", or_dash(w.description.as_ref())),
        ("status", w.status.as_str().to_owned()),
        ("disabled reason", or_dash(w.disabled_reason.as_ref())),
        ("cursor", w.cursor.to_string()),
        ("failed attempts", w.failed_attempts.to_string()),
        (
            "next attempt",
            or_dash(w.next_attempt_at.as_ref().map(time)),
        ),
        (
            "previous secret until",
            or_dash(w.previous_secret_expires_at.as_ref().map(time)),
        ),
        ("created", time(&w.created_at)),
        ("updated", time(&w.updated_at)),
    ];
    if let Some(secret) = &w.secret {
        fields.push(("secret (shown once)", secret.clone()));
    }
    Ok(write_fields(ctx.out, &fields)?)
}

fn deliveries(ctx: &mut Context<'_>, attempts: &[WebhookDelivery]) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &attempts)?);
    }
    let mut table = Table::new(&[
        "SEQ",
        "ATTEMPT",
        "AT",
        "STATUS",
        "ERROR",
        "MS",
        "NEXT RETRY",
    ]);
    for a in attempts {
        table.row(vec![
            a.seq.to_string(),
            a.attempt.to_string(),
            time(&a.attempted_at),
            or_dash(a.status_code),
            or_dash(a.error.as_ref()),
            a.latency_ms.to_string(),
            or_dash(a.next_retry_at.as_ref().map(time)),
        ]);
    }
    Ok(table.write(ctx.out)?)
}
