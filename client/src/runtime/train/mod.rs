//! Training linfa models into servable artifacts (the library behind `capstan train`):
//! read a CSV table, split it reproducibly, fit, and report held-out metrics. One file
//! per estimator: `logistic` (`linfa-logistic`), `linear` (`linfa-linear`: least squares
//! or elastic net) and `tree` (`linfa-tree`: a decision tree classifier); this file holds
//! what they share. It returns bytes and numbers; writing files or registering versions
//! is the caller's business.

mod linear;
mod logistic;
mod split;
mod table;
mod tree;

use ndarray::{ArrayView2, Axis};

pub use linear::{train_linear, train_linear_csv, LinearOptions};
pub use logistic::{train_logistic, train_logistic_csv, TrainOptions};
pub use split::{train_test_split, SplitMix64};
pub use table::{LabelledTable, NumericTable};
pub use tree::{train_tree, train_tree_csv, SplitQuality, TreeOptions};

use super::linfa::Standardization;
use super::RuntimeError;
use crate::signature::{ClassLabel, Signature};

/// A trained model ready to register.
#[derive(Clone, Debug)]
pub struct TrainedModel {
    /// The artifact's format: `linfa-logistic`, `linfa-linear` or `linfa-tree`.
    pub format: &'static str,
    /// The artifact bytes (an envelope of `format`).
    pub artifact: Vec<u8>,
    /// Feature names (float64) and classes or targets, as `derive_signature` would
    /// report them.
    pub signature: Signature,
    /// Held-out metrics, in a stable order (see `metrics::classification_metrics` and
    /// `metrics::regression_metrics`).
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

/// The share of held-out rows must be in `(0, 1)`.
fn check_test_fraction(test_fraction: f64) -> Result<(), TrainError> {
    if test_fraction > 0.0 && test_fraction < 1.0 {
        Ok(())
    } else {
        Err(TrainError::BadOption(format!(
            "test_fraction must be between 0 and 1 (exclusive), got {test_fraction}"
        )))
    }
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
