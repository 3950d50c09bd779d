//! Training a logistic regression into a `linfa-logistic` artifact (`capstan train
//! logistic`): standardise the features, fit with linfa (binary for two classes,
//! multinomial for more), and report held-out classification metrics.

use std::io::Read;

use linfa::traits::Fit;
use linfa::Dataset;
use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2, Axis};

use super::{
    check_test_fraction, class_indices, count_distinct, sorted_classes, standardization_of,
    train_test_split, LabelledTable, TrainError, TrainedModel,
};
use crate::runtime::linfa::{LogisticEnvelope, LogisticModel, Standardization};
use crate::runtime::metrics::classification_metrics;
use crate::runtime::LINFA_LOGISTIC;

/// How to train a logistic regression. `Default` gives the documented defaults.
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
    check_test_fraction(options.test_fraction)?;
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
