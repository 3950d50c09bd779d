//! `capstan train logistic`: train with `runtime::train` on a CSV table, print the
//! held-out metrics, optionally save the artifact and register it as a new version
//! (creating the model first when it does not exist).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{write_json, OutputFormat};
use super::versions::ensure_model;
use super::{CliError, Context};
use crate::cache::Silent;
use crate::digest::Digest;
use crate::http::Upload;
use crate::names::ModelName;
use crate::runtime::train::{train_logistic_csv, TrainOptions, TrainedModel};
use crate::types::{NewVersion, Version};

#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// Logistic regression (linfa): binary or multinomial, standardised features.
    Logistic(LogisticArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan train logistic --csv tests/data/breast_cancer.csv --target target
  capstan train logistic --csv data.csv --target label --l2 0.1 --seed 7 --artifact model.json
  capstan train logistic --csv tests/data/breast_cancer.csv --target target --register bc

Prints one `name: value` line per held-out metric (accuracy, precision, recall, roc_auc
for two classes; macro averages for more). With --register, uploads the model as a new
version (format linfa-logistic) with its signature, metrics and parameters.")]
pub struct LogisticArgs {
    /// The training table: a header row, numeric feature columns and a label column.
    #[arg(long)]
    pub csv: PathBuf,
    /// The label column.
    #[arg(long, value_name = "COLUMN")]
    pub target: String,
    /// Share of rows held out for the metrics.
    #[arg(long, default_value_t = 0.25)]
    pub test_fraction: f64,
    /// Seed of the shuffle that picks the held-out rows.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// L2 penalty (scikit-learn's 1/C).
    #[arg(long, default_value_t = 1.0)]
    pub l2: f64,
    /// Most L-BFGS iterations.
    #[arg(long, default_value_t = 100)]
    pub max_iterations: u64,
    /// Fit on raw features instead of standardised ones.
    #[arg(long)]
    pub no_standardize: bool,
    /// Also write the artifact to this file.
    #[arg(long, value_name = "FILE")]
    pub artifact: Option<PathBuf>,
    /// Register the model as a new version of this model (created if missing) in the
    /// registry of --registry / $CAPSTAN_URL.
    #[arg(long, value_name = "NAME")]
    pub register: Option<ModelName>,
    /// Description of the registered version.
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Serialize)]
struct Trained {
    format: &'static str,
    metrics: BTreeMap<String, f64>,
    train_rows: usize,
    test_rows: usize,
    digest: Digest,
    size: usize,
    artifact: Option<PathBuf>,
    version: Option<Version>,
}

pub async fn run(command: TrainCommand, ctx: &mut Context<'_>) -> Result<(), CliError> {
    let TrainCommand::Logistic(args) = command;
    let options = TrainOptions {
        target: args.target.clone(),
        test_fraction: args.test_fraction,
        seed: args.seed,
        l2: args.l2,
        max_iterations: args.max_iterations,
        standardize: !args.no_standardize,
    };
    let model = train(args.csv.clone(), options.clone()).await?;
    if let Some(path) = &args.artifact {
        std::fs::write(path, &model.artifact)
            .map_err(|e| CliError::Input(format!("cannot write {}: {e}", path.display())))?;
    }
    if ctx.output == OutputFormat::Table {
        for (name, value) in &model.metrics {
            writeln!(ctx.out, "{name}: {value:.3}")?;
        }
        ctx.out.flush()?;
    }
    let version = match &args.register {
        Some(name) => Some(register(ctx, name, &model, &args, &options).await?),
        None => None,
    };
    if ctx.output == OutputFormat::Json {
        let trained = Trained {
            format: model.format,
            metrics: model.metrics.iter().cloned().collect(),
            train_rows: model.train_rows,
            test_rows: model.test_rows,
            digest: Digest::of(&model.artifact),
            size: model.artifact.len(),
            artifact: args.artifact,
            version,
        };
        return Ok(write_json(ctx.out, &trained)?);
    }
    if let Some(version) = version {
        writeln!(ctx.out, "registered: {}@{}", version.model, version.version)?;
        if let Some(digest) = version.digest {
            writeln!(ctx.out, "digest: {digest}")?;
        }
    }
    Ok(())
}

/// Trains on the blocking pool (it is CPU-bound).
async fn train(csv: PathBuf, options: TrainOptions) -> Result<TrainedModel, CliError> {
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&csv)
            .map_err(|e| CliError::Input(format!("cannot read {}: {e}", csv.display())))?;
        Ok(train_logistic_csv(std::io::BufReader::new(file), &options)?)
    })
    .await
    .map_err(|e| CliError::Input(format!("training failed: {e}")))?
}

async fn register(
    ctx: &mut Context<'_>,
    name: &ModelName,
    model: &TrainedModel,
    args: &LogisticArgs,
    options: &TrainOptions,
) -> Result<Version, CliError> {
    let client = ctx.client()?;
    ensure_model(&client, name).await?;
    let params = BTreeMap::from([
        ("target".to_owned(), serde_json::json!(options.target)),
        (
            "test_fraction".to_owned(),
            serde_json::json!(options.test_fraction),
        ),
        ("seed".to_owned(), serde_json::json!(options.seed)),
        ("l2".to_owned(), serde_json::json!(options.l2)),
        (
            "max_iterations".to_owned(),
            serde_json::json!(options.max_iterations),
        ),
        (
            "standardize".to_owned(),
            serde_json::json!(options.standardize),
        ),
        ("train_rows".to_owned(), serde_json::json!(model.train_rows)),
        ("test_rows".to_owned(), serde_json::json!(model.test_rows)),
    ]);
    let file_name = args
        .csv
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let meta = NewVersion {
        format: model.format.to_owned(),
        signature: Some(model.signature.clone()),
        metrics: Some(model.metrics.iter().cloned().collect()),
        params: Some(params),
        source: Some(format!("capstan train logistic --csv {file_name}")),
        description: args.description.clone(),
        ..NewVersion::default()
    };
    Ok(client
        .upload_version(
            name,
            meta,
            Upload::Bytes(model.artifact.clone()),
            Box::new(Silent),
        )
        .await?)
}
