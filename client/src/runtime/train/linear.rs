//! Training a linear regression into a `linfa-linear` artifact (`capstan train linear`):
//! ordinary least squares with linfa-linear when `alpha` is 0, otherwise an elastic net
//! with linfa-elasticnet on standardised features; held-out R², MAE and RMSE.

use std::io::Read;

use linfa::traits::Fit;
use linfa::Dataset;
use linfa_elasticnet::ElasticNet;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2, Axis};

use super::{
    check_test_fraction, standardization_of, train_test_split, NumericTable, TrainError,
    TrainedModel,
};
use crate::runtime::linfa::{LinearEnvelope, LinearKind, LinearModel};
use crate::runtime::metrics::regression_metrics;
use crate::runtime::LINFA_LINEAR;

/// How to train a linear regression. `Default` gives the documented defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearOptions {
    /// Name of the column to predict. Default `target`.
    pub target: String,
    /// Share of rows held out for the metrics, in `(0, 1)`. Default `0.25`.
    pub test_fraction: f64,
    /// Seed of the shuffle that picks the held-out rows. Default `42`.
    pub seed: u64,
    /// Penalty strength `α` of the elastic net, which minimises
    /// `1/(2n) · ‖y − Xw − b‖² + α · l1_ratio · ‖w‖₁ + α/2 · (1 − l1_ratio) · ‖w‖²`
    /// (scikit-learn's `ElasticNet(alpha, l1_ratio)`) on standardised features. `0` fits
    /// ordinary least squares on the raw features instead. Default `0`.
    pub alpha: f64,
    /// Share of the penalty that is L1 (lasso), in `[0, 1]`; `0` is ridge. Default `0.5`.
    pub l1_ratio: f64,
    /// Most coordinate-descent passes of the elastic net. Default `1000`.
    pub max_iterations: u32,
    /// The elastic net stops when its duality gap is below `tolerance · ‖y‖²`.
    /// Default `1e-4`.
    pub tolerance: f64,
}

impl Default for LinearOptions {
    fn default() -> Self {
        LinearOptions {
            target: "target".into(),
            test_fraction: 0.25,
            seed: 42,
            alpha: 0.0,
            l1_ratio: 0.5,
            max_iterations: 1000,
            tolerance: 1e-4,
        }
    }
}

/// Reads a CSV table (see `NumericTable::from_csv`) and trains on it.
pub fn train_linear_csv(
    reader: impl Read,
    options: &LinearOptions,
) -> Result<TrainedModel, TrainError> {
    let table = NumericTable::from_csv(reader, &options.target)?;
    train_linear(&table, options)
}

/// Fits a linear regression on a shuffled `1 - test_fraction` of the rows (the same
/// split `train_test_split` gives every trainer) and measures it on the rest.
pub fn train_linear(
    table: &NumericTable,
    options: &LinearOptions,
) -> Result<TrainedModel, TrainError> {
    check_options(options)?;
    let rows = table.features.nrows();
    if rows < 2 {
        return Err(TrainError::TooFewRows(rows));
    }
    let (train, test) = train_test_split(rows, options.test_fraction, options.seed);
    let train_x = table.features.select(Axis(0), &train);
    let train_y: Array1<f64> = train.iter().map(|&row| table.targets[row]).collect();
    let envelope = if options.alpha == 0.0 {
        fit_ols(train_x, train_y, table.feature_names.clone())?
    } else {
        fit_elastic_net(train_x, train_y, table.feature_names.clone(), options)?
    };

    let test_x = table.features.select(Axis(0), &test);
    let test_y: Vec<f64> = test.iter().map(|&row| table.targets[row]).collect();
    let predicted = envelope.predict_values(test_x.view());
    Ok(TrainedModel {
        format: LINFA_LINEAR,
        artifact: envelope.to_bytes()?,
        signature: envelope.signature(),
        metrics: regression_metrics(&test_y, &predicted.to_vec()),
        train_rows: train.len(),
        test_rows: test.len(),
    })
}

fn check_options(options: &LinearOptions) -> Result<(), TrainError> {
    check_test_fraction(options.test_fraction)?;
    if !(options.alpha.is_finite() && options.alpha >= 0.0) {
        return Err(TrainError::BadOption(format!(
            "alpha must be a finite number ≥ 0, got {}",
            options.alpha
        )));
    }
    if !(0.0..=1.0).contains(&options.l1_ratio) {
        return Err(TrainError::BadOption(format!(
            "l1_ratio must be between 0 and 1, got {}",
            options.l1_ratio
        )));
    }
    if options.max_iterations == 0 {
        return Err(TrainError::BadOption(
            "max_iterations must be at least 1".into(),
        ));
    }
    if !(options.tolerance.is_finite() && options.tolerance > 0.0) {
        return Err(TrainError::BadOption(format!(
            "tolerance must be a finite number > 0, got {}",
            options.tolerance
        )));
    }
    Ok(())
}

/// Least squares on the raw features (standardising would not change the predictions).
fn fit_ols(
    train_x: Array2<f64>,
    train_y: Array1<f64>,
    feature_names: Vec<String>,
) -> Result<LinearEnvelope, TrainError> {
    let fitted = LinearRegression::new()
        .fit(&Dataset::new(train_x, train_y))
        .map_err(|e| TrainError::Fit(e.to_string()))?;
    let model = LinearModel {
        coefficients: fitted.params().to_vec(),
        intercept: fitted.intercept(),
    };
    Ok(LinearEnvelope::new(
        LinearKind::Ols,
        model,
        feature_names,
        None,
    )?)
}

/// An elastic net on standardised features. Standardising is not optional: the penalty
/// depends on each feature's scale, and linfa-elasticnet centres only the target, so its
/// intercept is right only for centred features.
fn fit_elastic_net(
    train_x: Array2<f64>,
    train_y: Array1<f64>,
    feature_names: Vec<String>,
    options: &LinearOptions,
) -> Result<LinearEnvelope, TrainError> {
    let standardization = standardization_of(train_x.view());
    let records = standardization.apply(train_x.view());
    let fitted = ElasticNet::params()
        .penalty(options.alpha)
        .l1_ratio(options.l1_ratio)
        .max_iterations(options.max_iterations)
        .tolerance(options.tolerance)
        .fit(&Dataset::new(records, train_y))
        .map_err(|e| TrainError::Fit(e.to_string()))?;
    let model = LinearModel {
        coefficients: fitted.hyperplane().to_vec(),
        intercept: fitted.intercept(),
    };
    Ok(LinearEnvelope::new(
        LinearKind::ElasticNet,
        model,
        feature_names,
        Some(standardization),
    )?)
}
