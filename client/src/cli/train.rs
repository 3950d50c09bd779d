//! `capstan train logistic|linear|tree`: train with `runtime::train` on a CSV table,
//! print the held-out metrics, optionally save the artifact and register it as a new
//! version (creating the model first when it does not exist).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use super::output::{write_json, OutputFormat};
use super::versions::ensure_model;
use super::{CliError, Context};
use crate::cache::Silent;
use crate::digest::Digest;
use crate::http::Upload;
use crate::names::ModelName;
use crate::runtime::train::{
    train_linear_csv, train_logistic_csv, train_tree_csv, LinearOptions, SplitQuality, TrainError,
    TrainOptions, TrainedModel, TreeOptions,
};
use crate::types::{NewVersion, Version};

#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// Logistic regression (linfa): binary or multinomial, standardised features.
    Logistic(LogisticArgs),
    /// Linear regression (linfa): least squares, or an elastic net with --alpha.
    Linear(LinearArgs),
    /// Decision tree classifier (linfa-trees).
    Tree(TreeArgs),
}

/// The flags every `capstan train` command takes.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The training table: a header row, numeric feature columns and a target column.
    #[arg(long)]
    pub csv: PathBuf,
    /// The target column (the label, or the value to predict).
    #[arg(long, value_name = "COLUMN")]
    pub target: String,
    /// Share of rows held out for the metrics.
    #[arg(long, default_value_t = 0.25)]
    pub test_fraction: f64,
    /// Seed of the shuffle that picks the held-out rows.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
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
    #[command(flatten)]
    pub common: TrainArgs,
    /// L2 penalty (scikit-learn's 1/C).
    #[arg(long, default_value_t = 1.0)]
    pub l2: f64,
    /// Most L-BFGS iterations.
    #[arg(long, default_value_t = 100)]
    pub max_iterations: u64,
    /// Fit on raw features instead of standardised ones.
    #[arg(long)]
    pub no_standardize: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan train linear --csv tests/data/diabetes.csv --target target
  capstan train linear --csv tests/data/diabetes.csv --target target --alpha 0.1 --l1-ratio 0.5
  capstan train linear --csv tests/data/diabetes.csv --target target --register diabetes

With --alpha 0 (the default), fits ordinary least squares (linfa-linear) on the raw
features. With --alpha > 0, fits an elastic net (linfa-elasticnet) on standardised
features, minimising 1/(2n)·‖y − Xw − b‖² + alpha·l1_ratio·‖w‖₁ + alpha/2·(1 − l1_ratio)·‖w‖²
(scikit-learn's ElasticNet(alpha, l1_ratio)); --l1-ratio 1 is the lasso, 0 ridge.

Prints one `name: value` line per held-out metric: r2 (coefficient of determination), mae
(mean absolute error) and rmse (root mean squared error). With --register, uploads the
model as a new version (format linfa-linear) with its signature, metrics and parameters.")]
pub struct LinearArgs {
    #[command(flatten)]
    pub common: TrainArgs,
    /// Penalty strength of the elastic net; 0 fits ordinary least squares.
    #[arg(long, default_value_t = 0.0)]
    pub alpha: f64,
    /// Share of the elastic net's penalty that is L1, between 0 (ridge) and 1 (lasso).
    #[arg(long, default_value_t = 0.5)]
    pub l1_ratio: f64,
    /// Most coordinate-descent passes of the elastic net.
    #[arg(long, default_value_t = 1000)]
    pub max_iterations: u32,
    /// Convergence tolerance of the elastic net (its duality gap, relative to ‖y‖²).
    #[arg(long, default_value_t = 1e-4)]
    pub tolerance: f64,
}

/// The impurity a tree's splits minimise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplitQualityArg {
    Gini,
    Entropy,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  capstan train tree --csv tests/data/breast_cancer.csv --target target
  capstan train tree --csv tests/data/breast_cancer.csv --target target --max-depth 4 --split-quality entropy
  capstan train tree --csv tests/data/breast_cancer.csv --target target --register bc-tree

Grows a decision tree classifier (linfa-trees) on the raw features; its class
probabilities are the training rows' class frequencies at the leaf a row reaches. Prints
the same held-out metrics as `capstan train logistic`. With --register, uploads the model
as a new version (format linfa-tree) with its signature, metrics and parameters.")]
pub struct TreeArgs {
    #[command(flatten)]
    pub common: TrainArgs,
    /// Deepest level of a node (the root is level 0); unlimited when absent.
    #[arg(long)]
    pub max_depth: Option<usize>,
    /// Fewest training rows a node needs to be split.
    #[arg(long, default_value_t = 2)]
    pub min_samples_split: usize,
    /// Fewest training rows each side of a split must keep.
    #[arg(long, default_value_t = 1)]
    pub min_samples_leaf: usize,
    /// Least impurity decrease a split must bring (above 0).
    #[arg(long, default_value_t = 1e-5)]
    pub min_impurity_decrease: f64,
    /// The impurity the splits minimise.
    #[arg(long, value_enum, default_value_t = SplitQualityArg::Gini)]
    pub split_quality: SplitQualityArg,
}

/// One training run: the estimator and its options.
#[derive(Clone, Debug)]
enum Estimator {
    Logistic(TrainOptions),
    Linear(LinearOptions),
    Tree(TreeOptions),
}

impl Estimator {
    /// The `capstan train` subcommand, as recorded in a registered version's `source`.
    fn command(&self) -> &'static str {
        match self {
            Estimator::Logistic(_) => "logistic",
            Estimator::Linear(_) => "linear",
            Estimator::Tree(_) => "tree",
        }
    }

    fn train(&self, reader: impl std::io::Read) -> Result<TrainedModel, TrainError> {
        match self {
            Estimator::Logistic(options) => train_logistic_csv(reader, options),
            Estimator::Linear(options) => train_linear_csv(reader, options),
            Estimator::Tree(options) => train_tree_csv(reader, options),
        }
    }

    /// The options stored as the version's parameters (beside target, split and seed).
    fn params(&self) -> Vec<(&'static str, serde_json::Value)> {
        use serde_json::json;
        match self {
            Estimator::Logistic(o) => vec![
                ("l2", json!(o.l2)),
                ("max_iterations", json!(o.max_iterations)),
                ("standardize", json!(o.standardize)),
            ],
            Estimator::Linear(o) => vec![
                ("alpha", json!(o.alpha)),
                ("l1_ratio", json!(o.l1_ratio)),
                ("max_iterations", json!(o.max_iterations)),
                ("tolerance", json!(o.tolerance)),
            ],
            Estimator::Tree(o) => {
                let mut params = vec![
                    ("min_samples_split", json!(o.min_samples_split)),
                    ("min_samples_leaf", json!(o.min_samples_leaf)),
                    ("min_impurity_decrease", json!(o.min_impurity_decrease)),
                    ("split_quality", json!(split_quality_name(o.split_quality))),
                ];
                if let Some(depth) = o.max_depth {
                    params.push(("max_depth", json!(depth)));
                }
                params
            }
        }
    }
}

fn split_quality_name(quality: SplitQuality) -> &'static str {
    match quality {
        SplitQuality::Gini => "gini",
        SplitQuality::Entropy => "entropy",
    }
}

/// The estimator a command asks for, and the flags all commands share.
fn estimator_of(command: TrainCommand) -> (TrainArgs, Estimator) {
    match command {
        TrainCommand::Logistic(args) => {
            let options = TrainOptions {
                target: args.common.target.clone(),
                test_fraction: args.common.test_fraction,
                seed: args.common.seed,
                l2: args.l2,
                max_iterations: args.max_iterations,
                standardize: !args.no_standardize,
            };
            (args.common, Estimator::Logistic(options))
        }
        TrainCommand::Linear(args) => {
            let options = LinearOptions {
                target: args.common.target.clone(),
                test_fraction: args.common.test_fraction,
                seed: args.common.seed,
                alpha: args.alpha,
                l1_ratio: args.l1_ratio,
                max_iterations: args.max_iterations,
                tolerance: args.tolerance,
            };
            (args.common, Estimator::Linear(options))
        }
        TrainCommand::Tree(args) => {
            let options = TreeOptions {
                target: args.common.target.clone(),
                test_fraction: args.common.test_fraction,
                seed: args.common.seed,
                max_depth: args.max_depth,
                min_samples_split: args.min_samples_split,
                min_samples_leaf: args.min_samples_leaf,
                min_impurity_decrease: args.min_impurity_decrease,
                split_quality: match args.split_quality {
                    SplitQualityArg::Gini => SplitQuality::Gini,
                    SplitQualityArg::Entropy => SplitQuality::Entropy,
                },
            };
            (args.common, Estimator::Tree(options))
        }
    }
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
    let (args, estimator) = estimator_of(command);
    let model = train(args.csv.clone(), estimator.clone()).await?;
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
        Some(name) => Some(register(ctx, name, &model, &args, &estimator).await?),
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
async fn train(csv: PathBuf, estimator: Estimator) -> Result<TrainedModel, CliError> {
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&csv)
            .map_err(|e| CliError::Input(format!("cannot read {}: {e}", csv.display())))?;
        Ok(estimator.train(std::io::BufReader::new(file))?)
    })
    .await
    .map_err(|e| CliError::Input(format!("training failed: {e}")))?
}

async fn register(
    ctx: &mut Context<'_>,
    name: &ModelName,
    model: &TrainedModel,
    args: &TrainArgs,
    estimator: &Estimator,
) -> Result<Version, CliError> {
    let client = ctx.client()?;
    ensure_model(&client, name).await?;
    let mut params = BTreeMap::from([
        ("target".to_owned(), serde_json::json!(args.target)),
        (
            "test_fraction".to_owned(),
            serde_json::json!(args.test_fraction),
        ),
        ("seed".to_owned(), serde_json::json!(args.seed)),
        ("train_rows".to_owned(), serde_json::json!(model.train_rows)),
        ("test_rows".to_owned(), serde_json::json!(model.test_rows)),
    ]);
    params.extend(
        estimator
            .params()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value)),
    );
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
        source: Some(format!(
            "capstan train {} --csv {file_name}",
            estimator.command()
        )),
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
