//! `capstan push DIR --model NAME`: a directory (an MLflow model, a Hugging Face
//! snapshot, any folder of files) as a new tree version, sending only the files the
//! registry lacks; and `capstan pull` of a tree version into a directory.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::Args;
use serde::Serialize;

use super::output::{human_size, write_fields, write_json, OutputFormat};
use super::progress::transfer_progress;
use super::versions::{ensure_model, parse_metrics, parse_signature};
use super::{CliError, Context};
use crate::http::tree_format;
use crate::names::ModelName;
use crate::reference::ModelRef;
use crate::types::{NewVersion, Version};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan push ./mlruns/0/abc/artifacts/model --model bc --create
  capstan push ./model --model bc --format mlflow --metrics accuracy=0.96 --source run-42
  capstan push ./model --model bc --resume 7      # finish a push that was cut off

Every file is hashed first; only contents the registry does not hold yet are sent
(8 at a time), so a version that differs from the last in one file sends one file.
A directory with an MLflow `MLmodel` whose `onnx` flavor names a file, or with exactly
one .onnx file, is served; any other tree is stored and can be pulled.")]
pub struct PushArgs {
    /// The directory to push.
    pub dir: PathBuf,
    #[arg(long)]
    pub model: ModelName,
    /// The format recorded (default: `mlflow` when the directory has an MLmodel, `onnx`
    /// when it holds exactly one .onnx file, else `files`).
    #[arg(long)]
    pub format: Option<String>,
    /// The signature: a JSON file, or inline JSON (`{"inputs": [...]}`).
    #[arg(long, value_name = "FILE|JSON")]
    pub signature: Option<String>,
    /// Metrics: `name=value,name=value`, inline JSON, or a JSON file.
    #[arg(long, value_name = "K=V,…|FILE|JSON")]
    pub metrics: Option<String>,
    /// Where the model came from: a run id, a commit, a notebook.
    #[arg(long)]
    pub source: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// A tag (repeat for more).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Create the model first if it does not exist.
    #[arg(long)]
    pub create: bool,
    /// Finish the push into this pending version instead of creating one.
    #[arg(long, value_name = "VERSION")]
    pub resume: Option<i64>,
}

#[derive(Serialize)]
struct Pushed<'a> {
    version: &'a Version,
    files: usize,
    files_sent: usize,
    bytes_sent: u64,
}

/// A byte counter the transfer callbacks feed, drawn as a bar on a terminal.
fn progress_sink(quiet: bool, label: &str) -> Mutex<Box<dyn crate::cache::Progress>> {
    let mut bar = transfer_progress(quiet);
    bar.start(label, None, 0);
    Mutex::new(bar)
}

pub async fn push(args: PushArgs, ctx: &mut Context<'_>) -> Result<(), CliError> {
    if !args.dir.is_dir() {
        return Err(CliError::Input(format!(
            "{} is not a directory",
            args.dir.display()
        )));
    }
    let client = ctx.client()?;
    let bar = progress_sink(ctx.quiet, &args.dir.display().to_string());
    let on_sent = |bytes: u64| {
        bar.lock().unwrap_or_else(|p| p.into_inner()).advance(bytes);
    };
    let pushed = match args.resume {
        Some(number) => {
            client
                .resume_push(&args.model, number, &args.dir, &on_sent)
                .await?
        }
        None => {
            let meta = NewVersion {
                format: args.format.unwrap_or_else(|| tree_format(&args.dir)),
                signature: args.signature.as_deref().map(parse_signature).transpose()?,
                metrics: args.metrics.as_deref().map(parse_metrics).transpose()?,
                tags: (!args.tags.is_empty()).then_some(args.tags),
                source: args.source,
                description: args.description,
                ..NewVersion::default()
            };
            if args.create {
                ensure_model(&client, &args.model).await?;
            }
            client
                .push_tree_with(&args.model, &args.dir, meta, &on_sent)
                .await?
        }
    };
    bar.lock().unwrap_or_else(|p| p.into_inner()).finish();
    let version = &pushed.version;
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(
            ctx.out,
            &Pushed {
                version,
                files: pushed.files,
                files_sent: pushed.files_sent,
                bytes_sent: pushed.bytes_sent,
            },
        )?);
    }
    let serving = match (&version.served_file, &version.unservable_reason) {
        (Some(file), _) => format!("served from {}", file.path),
        (None, Some(reason)) => format!("not served: {reason}"),
        (None, None) => "-".to_owned(),
    };
    Ok(write_fields(
        ctx.out,
        &[
            ("version", format!("{}@{}", version.model, version.version)),
            (
                "digest",
                version.digest.map(|d| d.to_string()).unwrap_or_default(),
            ),
            (
                "files",
                format!(
                    "{} ({} sent, {}; the rest were in the registry already)",
                    pushed.files,
                    pushed.files_sent,
                    human_size(pushed.bytes_sent)
                ),
            ),
            ("serving", serving),
        ],
    )?)
}

#[derive(Serialize)]
struct PulledTreeView<'a> {
    #[serde(rename = "ref")]
    reference: &'a ModelRef,
    version: i64,
    digest: Option<crate::Digest>,
    dir: &'a Path,
    files: usize,
    files_fetched: usize,
    bytes_fetched: u64,
}

/// `capstan pull NAME@REF -o DIR` for a tree version.
pub async fn pull_tree(
    reference: &ModelRef,
    dir: Option<&Path>,
    ctx: &mut Context<'_>,
) -> Result<(), CliError> {
    let dir = dir.ok_or_else(|| {
        CliError::Input(format!(
            "{reference} holds a tree of files: name the directory to write it to with -o DIR"
        ))
    })?;
    let client = ctx.client()?;
    let bar = progress_sink(ctx.quiet, &dir.display().to_string());
    let on_fetched = |bytes: u64| {
        bar.lock().unwrap_or_else(|p| p.into_inner()).advance(bytes);
    };
    let pulled = client
        .pull_tree(&reference.model, &reference.version, dir, &on_fetched)
        .await?;
    bar.lock().unwrap_or_else(|p| p.into_inner()).finish();
    let view = PulledTreeView {
        reference,
        version: pulled.version.version,
        digest: pulled.version.digest,
        dir,
        files: pulled.files,
        files_fetched: pulled.files_fetched,
        bytes_fetched: pulled.bytes_fetched,
    };
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &view)?);
    }
    Ok(write_fields(
        ctx.out,
        &[
            ("ref", reference.to_string()),
            ("version", view.version.to_string()),
            (
                "digest",
                view.digest.map(|d| d.to_string()).unwrap_or_default(),
            ),
            (
                "files",
                format!(
                    "{} in {} ({} downloaded, {}; the rest were there already, verified)",
                    view.files,
                    dir.display(),
                    view.files_fetched,
                    human_size(view.bytes_fetched)
                ),
            ),
        ],
    )?)
}
