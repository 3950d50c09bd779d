//! `capstan batch submit|list|status|cancel|approve|reject|download|predictions` and
//! `capstan batch schedule …` (in `batch_schedules.rs`): pattern 4 from the command line.
//! How jobs are printed is in `batch_view.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};

use super::batch_schedules::{self, ScheduleCommand};
use super::batch_view::{ended_badly, show_job, show_jobs, show_prediction};
use super::datasets::{self, FormatArg};
use super::download::deliver;
use super::progress::RowsProgress;
use super::{CliError, Context};
use crate::http::{format_of_path, BatchJobQuery, Client};
use crate::names::ModelName;
use crate::reference::ModelRef;
use crate::types::{BatchInput, BatchJob, BatchJobStatus, ReviewBatchJob, SubmitBatchJob};

/// How often `--wait` asks the registry how the job is doing.
const POLL_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Submit a job scoring a file, a dataset or an object-store URL with a model ref.
    Submit(SubmitArgs),
    /// List jobs, newest first.
    #[command(after_help = "\
Examples:
  capstan batch list
  capstan batch list --status succeeded --model bc
  capstan batch list --schedule nightly --output json")]
    List {
        /// Only jobs in this status: queued, running, succeeded, failed, cancelled,
        /// approved, rejected.
        #[arg(long, value_parser = parse_status)]
        status: Option<BatchJobStatus>,
        /// Only jobs of this model.
        #[arg(long)]
        model: Option<ModelName>,
        /// Only jobs this schedule created.
        #[arg(long)]
        schedule: Option<String>,
        /// At most this many jobs.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show a job: status, exact version, progress, bad rows, output, review.
    #[command(after_help = "\
Examples:
  capstan batch status 4d030f4f-31a1-4808-a9e8-4a50c90e39b1
  capstan batch status 4d030f4f-31a1-4808-a9e8-4a50c90e39b1 --wait   # exit 1 if it fails")]
    Status {
        id: String,
        /// Follow the job until it finishes, as `submit --wait` does.
        #[arg(long)]
        wait: bool,
    },
    /// Cancel a queued or running job (exit 4 once it has finished).
    #[command(
        after_help = "Examples:\n  capstan batch cancel 4d030f4f-31a1-4808-a9e8-4a50c90e39b1"
    )]
    Cancel { id: String },
    /// Approve a succeeded job: its model serves its predictions by key from now on.
    #[command(after_help = "\
Examples:
  capstan batch approve 4d030f4f-31a1-4808-a9e8-4a50c90e39b1 --reason 'spot-checked 20 rows'")]
    Approve {
        id: String,
        /// Why (kept in the job's review and the audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject a succeeded job: it is never served.
    #[command(after_help = "\
Examples:
  capstan batch reject 4d030f4f-31a1-4808-a9e8-4a50c90e39b1 --reason 'scores drifted'")]
    Reject {
        id: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
    /// Download a succeeded job's output, verified against its digest.
    #[command(after_help = "\
Examples:
  capstan batch download 4d030f4f-31a1-4808-a9e8-4a50c90e39b1 -o scores.csv
  capstan batch download 4d030f4f-31a1-4808-a9e8-4a50c90e39b1 | head -3")]
    Download {
        id: String,
        /// Write to this file (default: stdout).
        #[arg(short = 'o', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// A prediction by key: one job's (`ID KEY`), or the one a model serves
    /// (`--model NAME KEY`), from its most recently approved job.
    Predictions(PredictionsArgs),
    /// Jobs submitted on a cron.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan batch submit bc@production --input patients.csv --id-column patient --wait
  capstan batch submit bc@3 --input 527175ad-62fc-43f5-be96-9d4de97dd258 --format parquet
  capstan batch submit bc --input s3://bucket/exports/patients.parquet --max-bad-rows 10
  capstan batch submit bc@production --input patients.csv --deployment nightly-scores

--input is a URL when it contains `://` (an object of the registry's own object store),
a local file when one exists at that path (uploaded as a dataset first), else a dataset
id. With --wait the exit code is 0 when the job succeeds and 1 when it fails or is
cancelled (its failure and first bad rows go to stderr).")]
pub struct SubmitArgs {
    /// The model ref to score with: NAME@VERSION, NAME@STAGE, NAME@ALIAS or NAME.
    #[arg(value_name = "REF")]
    pub reference: ModelRef,
    /// A local file, a dataset id, or an object-store URL.
    #[arg(long, value_name = "FILE|DATASET_ID|URL")]
    pub input: String,
    /// The input column that identifies a row (default: the 1-based row number).
    #[arg(long, value_name = "COLUMN")]
    pub id_column: Option<String>,
    /// The output's format (default csv).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// How many bad rows the job tolerates before it fails (default 0).
    #[arg(long, value_name = "N")]
    pub max_bad_rows: Option<u64>,
    /// The batch deployment (pattern batch, of the same model) the job runs for: once
    /// approved, it is what the deployment observes.
    #[arg(long, value_name = "NAME")]
    pub deployment: Option<ModelName>,
    /// Follow the job with a progress bar until it finishes.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
#[command(
    override_usage = "capstan batch predictions [OPTIONS] ID KEY\n       \
                      capstan batch predictions [OPTIONS] --model NAME KEY",
    after_help = "\
Examples:
  capstan batch predictions 4d030f4f-31a1-4808-a9e8-4a50c90e39b1 p5   # any succeeded job
  capstan batch predictions --model bc p5                              # what bc serves

KEY is the row's id-column value, or its 1-based row number when the job had no id
column. Exit 3 when there is no such prediction."
)]
pub struct PredictionsArgs {
    /// The approved prediction this model serves, instead of one job's.
    #[arg(long, value_name = "NAME")]
    pub model: Option<ModelName>,
    /// `ID KEY`, or `KEY` with --model.
    #[arg(value_names = ["ID", "KEY"], num_args = 1..=2, required = true)]
    pub args: Vec<String>,
}

pub async fn run(command: BatchCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        BatchCommand::Submit(args) => submit(args, &client, ctx).await,
        BatchCommand::List {
            status,
            model,
            schedule,
            limit,
        } => {
            let query = BatchJobQuery {
                status,
                model,
                schedule,
                limit: Some(i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000)),
                page_token: None,
            };
            let jobs = client.list_all_batch_jobs(&query, limit).await?;
            show_jobs(ctx, &jobs)
        }
        BatchCommand::Status { id, wait: false } => {
            let job = client.get_batch_job(&id).await?;
            show_job(ctx, &job)
        }
        BatchCommand::Status { id, wait: true } => follow(&client, &id, ctx).await,
        BatchCommand::Cancel { id } => show_job(ctx, &client.cancel_batch_job(&id).await?),
        BatchCommand::Approve { id, reason } => {
            let job = client
                .approve_batch_job(&id, &ReviewBatchJob { reason })
                .await?;
            show_job(ctx, &job)
        }
        BatchCommand::Reject { id, reason } => {
            let review = ReviewBatchJob {
                reason: Some(reason),
            };
            show_job(ctx, &client.reject_batch_job(&id, &review).await?)
        }
        BatchCommand::Download { id, file } => {
            let download = client.download_batch_output(&id).await?;
            deliver(download, file, ctx).await
        }
        BatchCommand::Predictions(args) => predictions(args, &client, ctx).await,
        BatchCommand::Schedule(command) => batch_schedules::run(command, &client, ctx).await,
    }
}

async fn submit(args: SubmitArgs, client: &Client, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let input = resolve_input(client, &args.input, ctx.quiet).await?;
    let job = client
        .submit_batch_job(&SubmitBatchJob {
            model: args.reference,
            input,
            id_column: args.id_column,
            output_format: args.format.map(Into::into),
            max_bad_rows: args.max_bad_rows,
            deployment: args.deployment,
        })
        .await?;
    if args.wait {
        follow(client, &job.id, ctx).await
    } else {
        show_job(ctx, &job)
    }
}

/// What `--input` names: a URL when it contains `://`; a local file when one exists
/// there (uploaded first, its dataset id said on stderr); else a dataset id. Something
/// that looks like a file name (a path separator or a data extension) but is not a file
/// is an error here, not a confusing "no such dataset" from the registry.
pub async fn resolve_input(
    client: &Client,
    input: &str,
    quiet: bool,
) -> Result<BatchInput, CliError> {
    if input.contains("://") {
        return Ok(BatchInput::Url {
            url: input.to_owned(),
        });
    }
    let path = Path::new(input);
    if path.is_file() {
        let name = datasets::default_name(path);
        let dataset = datasets::upload(client, path, &name, None, quiet).await?;
        if !quiet {
            eprintln!(
                "uploaded {input} as dataset {} ({} rows)",
                dataset.id,
                dataset
                    .rows
                    .map_or_else(|| "?".to_owned(), |r| r.to_string())
            );
        }
        return Ok(BatchInput::Dataset {
            dataset: dataset.id,
        });
    }
    if input.contains(std::path::MAIN_SEPARATOR) || format_of_path(path).is_some() {
        return Err(CliError::Input(format!(
            "{input} is not a file (--input takes a file, a dataset id or a URL)"
        )));
    }
    Ok(BatchInput::Dataset {
        dataset: input.to_owned(),
    })
}

/// Waits for the job with a rows bar, prints it, and fails when it did not succeed.
async fn follow(client: &Client, id: &str, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let mut bar = RowsProgress::new(ctx.quiet);
    let waited = client
        .wait_for_batch_job(id, POLL_EVERY, |job: &BatchJob| {
            let progress = &job.progress;
            bar.update(
                job.status.as_str(),
                progress.rows_done,
                progress.rows_total,
                progress.rows_per_second,
            );
        })
        .await;
    bar.finish();
    let job = waited?;
    show_job(ctx, &job)?;
    match ended_badly(&job) {
        Some(why) => Err(CliError::BatchJob(why)),
        None => Ok(()),
    }
}

async fn predictions(
    args: PredictionsArgs,
    client: &Client,
    ctx: &mut Context<'_>,
) -> Result<(), CliError> {
    let prediction =
        match (&args.model, args.args.as_slice()) {
            (Some(model), [key]) => client.model_prediction(model, key).await?,
            (None, [id, key]) => client.batch_job_prediction(id, key).await?,
            (Some(_), _) => {
                return Err(CliError::Input(
                    "with --model, give only the KEY: capstan batch predictions --model NAME KEY"
                        .into(),
                ))
            }
            (None, _) => return Err(CliError::Input(
                "give the job and the key (capstan batch predictions ID KEY), or --model NAME KEY"
                    .into(),
            )),
        };
    show_prediction(ctx, &prediction)
}

fn parse_status(text: &str) -> Result<BatchJobStatus, String> {
    BatchJobStatus::parse(text).ok_or_else(|| {
        let all: Vec<&str> = BatchJobStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!("expected one of {}", all.join(", "))
    })
}
