//! Held-out metrics. Classification, over class indices and probability matrices:
//! accuracy, precision, recall and ROC AUC (binary), or their macro averages (multiclass,
//! AUC one class against the rest). Regression, over true and predicted values: R², MAE
//! and RMSE. Pure arithmetic; training reports them, nothing here trains.

use ndarray::{ArrayView2, Axis};

use super::index_of_max;

/// Metrics of a classifier on labelled rows, in a stable order, named as they are stored
/// with a version: `accuracy`, `precision`, `recall`, `roc_auc` for two classes (class
/// index 1 is the positive class); `accuracy`, `precision_macro`, `recall_macro`,
/// `roc_auc_ovr_macro` for more.
///
/// `truth[i]` is the class index of row `i`; `probabilities` is `rows × classes`.
pub fn classification_metrics(
    truth: &[usize],
    probabilities: ArrayView2<f64>,
) -> Vec<(String, f64)> {
    let predicted: Vec<usize> = probabilities
        .axis_iter(Axis(0))
        .map(|row| index_of_max(row.iter().copied()))
        .collect();
    let classes = probabilities.ncols();
    let mut metrics = vec![("accuracy".to_string(), accuracy(truth, &predicted))];
    if classes == 2 {
        let (precision, recall) = precision_recall(truth, &predicted, 1);
        metrics.push(("precision".into(), precision));
        metrics.push(("recall".into(), recall));
        if let Some(auc) = roc_auc_of_class(truth, probabilities, 1) {
            metrics.push(("roc_auc".into(), auc));
        }
    } else {
        let (precisions, recalls): (Vec<f64>, Vec<f64>) = (0..classes)
            .map(|class| precision_recall(truth, &predicted, class))
            .unzip();
        metrics.push(("precision_macro".into(), mean(&precisions)));
        metrics.push(("recall_macro".into(), mean(&recalls)));
        let aucs: Vec<f64> = (0..classes)
            .filter_map(|class| roc_auc_of_class(truth, probabilities, class))
            .collect();
        if !aucs.is_empty() {
            metrics.push(("roc_auc_ovr_macro".into(), mean(&aucs)));
        }
    }
    metrics
}

/// Metrics of a single-target regressor on labelled rows, in a stable order, named as
/// they are stored with a version: `r2` (the coefficient of determination, as
/// scikit-learn's `r2_score`: 1 is perfect, 0 is as good as predicting the mean of the
/// held-out rows, and it can be negative), `mae` (mean absolute error) and `rmse` (root
/// mean squared error, in the target's unit).
pub fn regression_metrics(truth: &[f64], predicted: &[f64]) -> Vec<(String, f64)> {
    let count = truth.len().min(predicted.len());
    let pairs = || truth.iter().zip(predicted);
    let absolute: Vec<f64> = pairs().map(|(t, p)| (t - p).abs()).collect();
    let squared: Vec<f64> = pairs().map(|(t, p)| (t - p).powi(2)).collect();
    let mean_truth = mean(&truth[..count]);
    let total: f64 = truth[..count]
        .iter()
        .map(|t| (t - mean_truth).powi(2))
        .sum();
    let residual: f64 = squared.iter().sum();
    vec![
        ("r2".to_string(), r2_of(residual, total)),
        ("mae".to_string(), mean(&absolute)),
        ("rmse".to_string(), mean(&squared).sqrt()),
    ]
}

/// `1 - residual / total`; scikit-learn's convention when the truth is constant: 1 for a
/// perfect fit, 0 otherwise.
fn r2_of(residual: f64, total: f64) -> f64 {
    if total > 0.0 {
        1.0 - residual / total
    } else if residual == 0.0 {
        1.0
    } else {
        0.0
    }
}

/// Share of rows whose predicted class is the true one.
pub fn accuracy(truth: &[usize], predicted: &[usize]) -> f64 {
    let correct = truth.iter().zip(predicted).filter(|(t, p)| t == p).count();
    ratio(correct, truth.len())
}

/// Precision and recall of `class` (0 when undefined, as scikit-learn reports them).
pub fn precision_recall(truth: &[usize], predicted: &[usize], class: usize) -> (f64, f64) {
    let pairs = || truth.iter().zip(predicted);
    let true_positives = pairs()
        .filter(|(t, p)| **t == class && **p == class)
        .count();
    let predicted_positives = predicted.iter().filter(|p| **p == class).count();
    let actual_positives = truth.iter().filter(|t| **t == class).count();
    (
        ratio(true_positives, predicted_positives),
        ratio(true_positives, actual_positives),
    )
}

/// Area under the ROC curve of `scores` for `positive` rows, ties counted as half
/// (Mann–Whitney). `None` when all rows are positive or all negative.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let positives = positive.iter().filter(|p| **p).count();
    let negatives = positive.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let ranks = average_ranks(scores);
    let positive_rank_sum: f64 = ranks
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(rank, _)| rank)
        .sum();
    let p = positives as f64;
    Some((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

fn roc_auc_of_class(truth: &[usize], probabilities: ArrayView2<f64>, class: usize) -> Option<f64> {
    let scores = probabilities.column(class).to_vec();
    let positive: Vec<bool> = truth.iter().map(|t| *t == class).collect();
    roc_auc(&scores, &positive)
}

/// 1-based ranks of `values`, tied values sharing their average rank.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let average = (start + 1 + end) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = average;
        }
        start = end;
    }
    ranks
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_as_half_and_orders_correctly() {
        assert_eq!(
            roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(roc_auc(&[0.2, 0.9], &[true, true]), None);
    }

    #[test]
    fn regression_metrics_match_hand_computed_values() {
        // residuals 0.5, -0.5, 0, 1; truth mean 2.5, total sum of squares 5.
        let metrics = regression_metrics(&[1.0, 2.0, 3.0, 4.0], &[0.5, 2.5, 3.0, 3.0]);
        assert_eq!(
            metrics,
            [
                ("r2".to_string(), 1.0 - 1.5 / 5.0),
                ("mae".to_string(), 0.5),
                ("rmse".to_string(), (1.5f64 / 4.0).sqrt()),
            ]
        );
        assert_eq!(regression_metrics(&[2.0, 2.0], &[2.0, 2.0])[0].1, 1.0);
        assert_eq!(regression_metrics(&[2.0, 2.0], &[1.0, 2.0])[0].1, 0.0);
    }

    #[test]
    fn precision_and_recall_of_the_positive_class() {
        let truth = [1, 1, 0, 0, 1];
        let predicted = [1, 0, 1, 0, 1];
        assert_eq!(
            precision_recall(&truth, &predicted, 1),
            (2.0 / 3.0, 2.0 / 3.0)
        );
        assert_eq!(accuracy(&truth, &predicted), 0.6);
    }
}
