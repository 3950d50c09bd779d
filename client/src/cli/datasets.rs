//! `capstan dataset upload|list|show|delete|download`: the input files of batch jobs.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::download::deliver;
use super::output::{human_size, or_dash, short_digest, time, write_fields, write_json};
use super::output::{OutputFormat, Table};
use super::progress::transfer_progress;
use super::{CliError, Context};
use crate::http::{format_of_path, Client};
use crate::types::{DataFormat, Dataset};

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Upload a CSV, JSON Lines or Parquet file as a dataset (streamed).
    Upload(UploadArgs),
    /// List datasets, newest first.
    #[command(
        after_help = "Examples:\n  capstan dataset list\n  capstan dataset list --output json"
    )]
    List {
        /// At most this many datasets.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one dataset: format, rows, size, digest.
    #[command(
        after_help = "Examples:\n  capstan dataset show 527175ad-62fc-43f5-be96-9d4de97dd258"
    )]
    Show { id: String },
    /// Delete a dataset (refused, exit 4, while a queued or running job reads it).
    #[command(
        after_help = "Examples:\n  capstan dataset delete 527175ad-62fc-43f5-be96-9d4de97dd258"
    )]
    Delete { id: String },
    /// Download a dataset's bytes, verified against its digest.
    #[command(after_help = "\
Examples:
  capstan dataset download 527175ad-62fc-43f5-be96-9d4de97dd258 -o patients.csv
  capstan dataset download 527175ad-62fc-43f5-be96-9d4de97dd258 | head")]
    Download {
        id: String,
        /// Write to this file (default: stdout).
        #[arg(short = 'o', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan dataset upload patients.csv
  capstan dataset upload patients.csv --name patients-2026-12
  capstan dataset upload export.txt --format jsonl --output json

The format comes from the extension (.csv, .jsonl, .ndjson, .parquet) unless --format
names it; the name defaults to the file's name. Jobs take the printed id as --input.")]
pub struct UploadArgs {
    /// The file (streamed; never read into memory).
    pub file: PathBuf,
    /// A name for people (default: the file's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The file's format (default: from its extension).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
}

/// A data format on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Csv,
    Jsonl,
    Parquet,
}

impl From<FormatArg> for DataFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Csv => DataFormat::Csv,
            FormatArg::Jsonl => DataFormat::Jsonl,
            FormatArg::Parquet => DataFormat::Parquet,
        }
    }
}

pub async fn run(command: DatasetCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let client = ctx.client()?;
    match command {
        DatasetCommand::Upload(args) => {
            let name = args.name.unwrap_or_else(|| default_name(&args.file));
            let format = args.format.map(DataFormat::from);
            let dataset = upload(&client, &args.file, &name, format, ctx.quiet).await?;
            show(ctx, &dataset)
        }
        DatasetCommand::List { limit } => {
            let datasets = client.list_all_datasets(limit).await?;
            list(ctx, &datasets)
        }
        DatasetCommand::Show { id } => {
            let dataset = client.get_dataset(&id).await?;
            show(ctx, &dataset)
        }
        DatasetCommand::Delete { id } => {
            client.delete_dataset(&id).await?;
            if ctx.output == OutputFormat::Json {
                return Ok(write_json(ctx.out, &serde_json::json!({ "deleted": id }))?);
            }
            Ok(writeln!(ctx.out, "deleted dataset {id}")?)
        }
        DatasetCommand::Download { id, file } => {
            let download = client.download_dataset(&id).await?;
            deliver(download, file, ctx).await
        }
    }
}

/// Uploads `file` with a progress bar; a missing file or an unknown extension is bad
/// input before anything is sent.
pub async fn upload(
    client: &Client,
    file: &Path,
    name: &str,
    format: Option<DataFormat>,
    quiet: bool,
) -> Result<Dataset, CliError> {
    if !file.is_file() {
        return Err(CliError::Input(format!(
            "{} is not a readable file",
            file.display()
        )));
    }
    if format.is_none() && format_of_path(file).is_none() {
        return Err(CliError::Input(format!(
            "cannot tell the format of {} from its extension: name it with --format \
             csv|jsonl|parquet",
            file.display()
        )));
    }
    Ok(client
        .upload_dataset(name, file, format, transfer_progress(quiet))
        .await?)
}

/// The file's name, the dataset's name when none is given.
pub fn default_name(file: &Path) -> String {
    file.file_name().map_or_else(
        || "dataset".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn list(ctx: &mut Context<'_>, datasets: &[Dataset]) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &datasets)?);
    }
    let mut table = Table::new(&["ID", "NAME", "FORMAT", "ROWS", "SIZE", "DIGEST", "CREATED"]);
    for d in datasets {
        table.row(vec![
            d.id.clone(),
            d.name.clone(),
            d.format.as_str().to_owned(),
            or_dash(d.rows),
            human_size(d.size.unsigned_abs()),
            short_digest(&d.digest),
            time(&d.created_at),
        ]);
    }
    Ok(table.write(ctx.out)?)
}

fn show(ctx: &mut Context<'_>, d: &Dataset) -> Result<(), CliError> {
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, d)?);
    }
    Ok(write_fields(
        ctx.out,
        &[
            ("id", d.id.clone()),
            ("name", d.name.clone()),
            ("format", d.format.as_str().to_owned()),
            ("rows", or_dash(d.rows)),
            (
                "size",
                format!("{} ({} bytes)", human_size(d.size.unsigned_abs()), d.size),
            ),
            ("digest", d.digest.to_string()),
            ("created", time(&d.created_at)),
        ],
    )?)
}
