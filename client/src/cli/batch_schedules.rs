//! `capstan batch schedule create|list|show|pause|resume|delete`: jobs the registry
//! submits on a cron. Pausing and resuming are updates of the schedule.

use clap::{Args, Subcommand};

use super::batch_view::input;
use super::datasets::FormatArg;
use super::output::{or_dash, time, write_fields, write_json, OutputFormat, Table};
use super::{CliError, Context};
use crate::http::Client;
use crate::names::ModelName;
use crate::reference::ModelRef;
use crate::types::{BatchInput, BatchSchedule, CreateBatchSchedule, UpdateBatchSchedule};

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Create a schedule: a job of MODEL over INPUT each time the cron fires.
    Create(CreateArgs),
    /// List schedules by name.
    #[command(
        after_help = "Examples:\n  capstan batch schedule list\n  capstan batch schedule list --output json"
    )]
    List {
        /// At most this many schedules.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show a schedule, with when it fires next.
    #[command(after_help = "Examples:\n  capstan batch schedule show nightly")]
    Show { name: String },
    /// Stop firing until resumed.
    #[command(after_help = "Examples:\n  capstan batch schedule pause nightly")]
    Pause { name: String },
    /// Fire again, from now on (firings missed while paused are skipped).
    #[command(after_help = "Examples:\n  capstan batch schedule resume nightly")]
    Resume { name: String },
    /// Delete a schedule; the jobs it created stay.
    #[command(after_help = "Examples:\n  capstan batch schedule delete nightly")]
    Delete { name: String },
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan batch schedule create nightly --cron '0 3 * * *' --model bc@production \\
      --input 527175ad-62fc-43f5-be96-9d4de97dd258 --id-column patient
  capstan batch schedule create hourly --cron '0 * * * *' --timezone Europe/Paris \\
      --model bc@champion --input s3://bucket/exports/latest.parquet --auto-approve

The cron has five fields (minute hour day-of-month month day-of-week) or six with
seconds first. --input is a URL when it contains `://`, else a dataset id (upload a file
with `capstan dataset upload` first).")]
pub struct CreateArgs {
    /// Letters, digits, `.`, `_` and `-`, starting with a letter or digit.
    pub name: String,
    /// When to fire, e.g. '0 3 * * *' (03:00 every day).
    #[arg(long)]
    pub cron: String,
    /// The ref each job scores with, resolved when the job starts.
    #[arg(long, value_name = "REF")]
    pub model: ModelRef,
    /// A dataset id or an object-store URL.
    #[arg(long, value_name = "DATASET_ID|URL")]
    pub input: String,
    /// The IANA time zone the cron is read in (default UTC).
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,
    /// Approve each job as soon as it succeeds (default: a person reviews it).
    #[arg(long)]
    pub auto_approve: bool,
    /// The input column that identifies a row (default: the 1-based row number).
    #[arg(long, value_name = "COLUMN")]
    pub id_column: Option<String>,
    /// The output's format (default csv).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// How many bad rows each job tolerates before it fails (default 0).
    #[arg(long, value_name = "N")]
    pub max_bad_rows: Option<u64>,
    /// The batch deployment (pattern batch, of the same model) each job runs for.
    #[arg(long, value_name = "NAME")]
    pub deployment: Option<ModelName>,
}

pub async fn run(
    command: ScheduleCommand,
    client: &Client,
    ctx: &mut Context<'_>,
) -> Result<(), CliError> {
    match command {
        ScheduleCommand::Create(args) => {
            let schedule = client.create_batch_schedule(&create_request(args)).await?;
            show(ctx, &schedule)
        }
        ScheduleCommand::List { limit } => {
            let schedules = client.list_all_batch_schedules(limit).await?;
            list(ctx, &schedules)
        }
        ScheduleCommand::Show { name } => show(ctx, &client.get_batch_schedule(&name).await?),
        ScheduleCommand::Pause { name } => set_paused(client, ctx, &name, true).await,
        ScheduleCommand::Resume { name } => set_paused(client, ctx, &name, false).await,
        ScheduleCommand::Delete { name } => {
            client.delete_batch_schedule(&name).await?;
            if ctx.output == OutputFormat::Json {
                return Ok(write_json(
                    ctx.out,
                    &serde_json::json!({ "deleted": name }),
                )?);
            }
            Ok(writeln!(ctx.out, "deleted schedule {name}")?)
        }
    }
}

fn create_request(args: CreateArgs) -> CreateBatchSchedule {
    let input = if args.input.contains("://") {
        BatchInput::Url { url: args.input }
    } else {
        BatchInput::Dataset {
            dataset: args.input,
        }
    };
    CreateBatchSchedule {
        name: args.name,
        cron: args.cron,
        model: args.model,
        input,
        output_format: args.format.map(Into::into),
        id_column: args.id_column,
        max_bad_rows: args.max_bad_rows,
        timezone: args.timezone,
        // Absent rather than `false`, so the registry's default applies.
        auto_approve: args.auto_approve.then_some(true),
        deployment: args.deployment,
    }
}

async fn set_paused(
    client: &Client,
    ctx: &mut Context<'_>,
    name: &str,
    paused: bool,
) -> Result<(), CliError> {
    let update = UpdateBatchSchedule {
        paused: Some(paused),
        ..UpdateBatchSchedule::default()
    };
    let schedule = client.update_batch_schedule(name, &update).await?;
    show(ctx, &schedule)
}

fn list(ctx: &mut Context<'_>, schedules: &[BatchSchedule]) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &schedules)?);
    }
    let mut table = Table::new(&[
        "NAME", "CRON", "TIMEZONE", "MODEL", "INPUT", "PAUSED", "NEXT", "LAST",
    ]);
    for s in schedules {
        table.row(vec![
            s.name.clone(),
            s.cron.clone(),
            s.timezone.clone(),
            s.model.clone(),
            input(&s.input),
            yes_no(s.paused),
            or_dash(s.next_fire_at.as_ref().map(time)),
            or_dash(s.last_fire_at.as_ref().map(time)),
        ]);
    }
    Ok(table.write(ctx.out)?)
}

fn show(ctx: &mut Context<'_>, s: &BatchSchedule) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, s)?);
    }
    Ok(write_fields(
        ctx.out,
        &[
            ("name", s.name.clone()),
            ("cron", format!("{} ({})", s.cron, s.timezone)),
            ("model", s.model.clone()),
            ("input", input(&s.input)),
            ("output format", s.output_format.as_str().to_owned()),
            ("id column", or_dash(s.id_column.as_ref())),
            ("max bad rows", s.max_bad_rows.to_string()),
            ("auto approve", yes_no(s.auto_approve)),
            ("paused", yes_no(s.paused)),
            ("deployment", or_dash(s.deployment.as_ref())),
            ("next fire", or_dash(s.next_fire_at.as_ref().map(time))),
            ("last fire", or_dash(s.last_fire_at.as_ref().map(time))),
            ("created", time(&s.created_at)),
            ("updated", time(&s.updated_at)),
        ],
    )?)
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}
