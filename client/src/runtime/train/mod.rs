//! Training a logistic regression into a `linfa-logistic` artifact (the library behind
//! `capstan train logistic`): read a labelled CSV table, split it reproducibly, standardise
//! the features, fit with linfa (binary for two classes, multinomial for more), and report
//! held-out metrics. It returns bytes and numbers; writing files or registering versions
//! is the caller's business.

mod split;
mod table;

use std::io::Read;

use linfa::traits::Fit;
use linfa::Dataset;
use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2, ArrayView2, Axis};

pub use split::{train_test_split, SplitMix64};
pub use table::LabelledTable;

use super::linfa::{LogisticEnvelope, LogisticModel, Standardization};
use super::metrics::classification_metrics;
use super::{RuntimeError, LINFA_LOGISTIC};
use crate::signature::{ClassLabel, Signature};

/// How to train. `Default` gives the documented defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainOptions {
    /// Name of the label column. Default `target`.
    pub target: String,
    /// Share of rows held out for the metrics, in `(0, 1)`. Default `0.25`.
    pub test_fraction: f64,
    /// Seed of the shuffle that picks the held-out rows. Default `42`.
    pub seed: u64,
    /// L2 penalty `λ`: linfa minimises the summed log-loss plus `λ/2 · ‖w‖²` (intercepts
    /// are not penalised), the objective of scikit-learn's `LogisticRegression(C = 1/λ)`.
    /// Default `1.0`.
    pub l2: f64,
    /// Most L-BFGS iterations. Default `100`, which converges on standardised features.
    pub max_iterations: u64,
    /// Standardise features (mean 0, variance 1 on the training rows) before fitting; the
    /// means and scales are stored in the artifact, so it predicts on raw features.
    /// Default `true`.
    pub standardize: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            target: "target".into(),
            test_fraction: 0.25,
            seed: 42,
            l2: 1.0,
            max_iterations: 100,
            standardize: true,
        }
    }
}

/// A trained model ready to register.
#[derive(Clone, Debug)]
pub struct TrainedModel {
    /// Always `linfa-logistic`.
    pub format: &'static str,
    /// The artifact bytes (a `linfa-logistic` envelope).
    pub artifact: Vec<u8>,
    /// Feature names (float64) and classes, as `derive_signature` would report them.
    pub signature: Signature,
    /// Held-out metrics, in a stable order (see `metrics::classification_metrics`).
    pub metrics: Vec<(String, f64)>,
    pub train_rows: usize,
    pub test_rows: usize,
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("reading CSV: {0}")]
    Csv(String),
    #[error("the CSV has no column named {0:?}")]
    NoTargetColumn(String),
    #[error("the CSV has no feature columns besides the target")]
    NoFeatures,
    #[error("line {line}, column {column:?}: {value:?} is not a finite number")]
    NotANumber {
        line: u64,
        column: String,
        value: String,
    },
    #[error("the target column {0:?} has an empty value")]
    EmptyLabel(String),
    #[error("{0}")]
    BadOption(String),
    #[error("training needs at least two classes, found {0}")]
    TooFewClasses(usize),
    #[error("a class has no rows in the training split; use more data or a smaller test_fraction")]
    ClassMissingFromTraining,
    #[error("need at least 2 rows to split into training and test rows, got {0}")]
    TooFewRows(usize),
    #[error("fitting failed: {0}")]
    Fit(String),
    #[error(transparent)]
    Artifact(#[from] RuntimeError),
}

impl From<csv::Error> for TrainError {
    fn from(error: csv::Error) -> Self {
        TrainError::Csv(error.to_string())
    }
}

/// Reads a CSV table (see `LabelledTable::from_csv`) and trains on it.
pub fn train_logistic_csv(
    reader: impl Read,
    options: &TrainOptions,
) -> Result<TrainedModel, TrainError> {
    let table = LabelledTable::from_csv(reader, &options.target)?;
    train_logistic(&table, options)
}

/// Trains a logistic regression on a shuffled `1 - test_fraction` of the rows and
/// measures it on the rest.
pub fn train_logistic(
    table: &LabelledTable,
    options: &TrainOptions,
) -> Result<TrainedModel, TrainError> {
    check_options(options)?;
    let rows = table.features.nrows();
    if rows < 2 {
        return Err(TrainError::TooFewRows(rows));
    }
    let classes = sorted_classes(&table.targets);
    let class_indices = class_indices(&table.targets, &classes);
    let (train, test) = train_test_split(rows, options.test_fraction, options.seed);

    let train_x = table.features.select(Axis(0), &train);
    let train_y: Array1<usize> = train.iter().map(|&row| class_indices[row]).collect();
    if classes.len() < 2 {
        return Err(TrainError::TooFewClasses(classes.len()));
    }
    if count_distinct(train_y.iter()) < classes.len() {
        return Err(TrainError::ClassMissingFromTraining);
    }
    let standardization = options
        .standardize
        .then(|| standardization_of(train_x.view()));
    let model = fit(
        &train_x,
        train_y,
        standardization.as_ref(),
        classes.len(),
        options,
    )?;
    let envelope =
        LogisticEnvelope::new(model, table.feature_names.clone(), classes, standardization)?;

    let test_x = table.features.select(Axis(0), &test);
    let test_y: Vec<usize> = test.iter().map(|&row| class_indices[row]).collect();
    let probabilities = envelope.predict_probabilities(test_x.view());
    Ok(TrainedModel {
        format: LINFA_LOGISTIC,
        artifact: envelope.to_bytes()?,
        signature: envelope.signature(),
        metrics: classification_metrics(&test_y, probabilities.view()),
        train_rows: train.len(),
        test_rows: test.len(),
    })
}

fn check_options(options: &TrainOptions) -> Result<(), TrainError> {
    if !(options.test_fraction > 0.0 && options.test_fraction < 1.0) {
        return Err(TrainError::BadOption(format!(
            "test_fraction must be between 0 and 1 (exclusive), got {}",
            options.test_fraction
        )));
    }
    if !(options.l2.is_finite() && options.l2 >= 0.0) {
        return Err(TrainError::BadOption(format!(
            "l2 must be a finite number ≥ 0, got {}",
            options.l2
        )));
    }
    if options.max_iterations == 0 {
        return Err(TrainError::BadOption(
            "max_iterations must be at least 1".into(),
        ));
    }
    Ok(())
}

fn fit(
    train_x: &Array2<f64>,
    train_y: Array1<usize>,
    standardization: Option<&Standardization>,
    class_count: usize,
    options: &TrainOptions,
) -> Result<LogisticModel, TrainError> {
    let records = match standardization {
        Some(standardization) => standardization.apply(train_x.view()),
        None => train_x.clone(),
    };
    let dataset = Dataset::new(records, train_y);
    let fitted = if class_count == 2 {
        LogisticRegression::default()
            .alpha(options.l2)
            .max_iterations(options.max_iterations)
            .fit(&dataset)
            .map(LogisticModel::Binary)
    } else {
        MultiLogisticRegression::default()
            .alpha(options.l2)
            .max_iterations(options.max_iterations)
            .fit(&dataset)
            .map(LogisticModel::Multinomial)
    };
    fitted.map_err(|e| TrainError::Fit(e.to_string()))
}

/// Column means and population standard deviations (a constant column gets scale 1).
fn standardization_of(rows: ArrayView2<f64>) -> Standardization {
    let count = rows.nrows() as f64;
    let mean: Vec<f64> = rows.axis_iter(Axis(1)).map(|c| c.sum() / count).collect();
    let scale = rows
        .axis_iter(Axis(1))
        .zip(&mean)
        .map(|(column, mean)| {
            let variance = column.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / count;
            let std = variance.sqrt();
            if std > 0.0 {
                std
            } else {
                1.0
            }
        })
        .collect();
    Standardization { mean, scale }
}

/// The distinct labels, ascending (integers numerically, text lexicographically).
fn sorted_classes(targets: &[ClassLabel]) -> Vec<ClassLabel> {
    let mut classes: Vec<ClassLabel> = targets.to_vec();
    classes.sort_by(compare_labels);
    classes.dedup();
    classes
}

fn compare_labels(a: &ClassLabel, b: &ClassLabel) -> std::cmp::Ordering {
    match (a, b) {
        (ClassLabel::Int(a), ClassLabel::Int(b)) => a.cmp(b),
        (ClassLabel::Text(a), ClassLabel::Text(b)) => a.cmp(b),
        (ClassLabel::Int(_), ClassLabel::Text(_)) => std::cmp::Ordering::Less,
        (ClassLabel::Text(_), ClassLabel::Int(_)) => std::cmp::Ordering::Greater,
    }
}

fn class_indices(targets: &[ClassLabel], classes: &[ClassLabel]) -> Vec<usize> {
    targets
        .iter()
        .map(|label| {
            classes
                .binary_search_by(|class| compare_labels(class, label))
                .unwrap_or_default()
        })
        .collect()
}

fn count_distinct<'a>(values: impl Iterator<Item = &'a usize>) -> usize {
    values.collect::<std::collections::HashSet<_>>().len()
}
