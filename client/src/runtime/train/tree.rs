//! Training a decision tree classifier into a `linfa-tree` artifact (`capstan train
//! tree`): fit with linfa-trees on the raw features, flatten the fitted tree into the
//! envelope's node list with the training rows' class counts at each leaf, and report
//! held-out classification metrics.

use std::io::Read;

use linfa::traits::Fit;
use linfa::Dataset;
use linfa_trees::{DecisionTree, SplitQuality as LinfaSplitQuality};
use ndarray::{Array1, ArrayView2, Axis};

use super::{
    check_test_fraction, class_indices, count_distinct, sorted_classes, train_test_split,
    LabelledTable, TrainError, TrainedModel,
};
use crate::runtime::linfa::{TreeEnvelope, TreeNode};
use crate::runtime::metrics::classification_metrics;
use crate::runtime::LINFA_TREE;

/// The impurity a split minimises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SplitQuality {
    /// Gini impurity (scikit-learn's `criterion="gini"`).
    #[default]
    Gini,
    /// Shannon entropy (`criterion="entropy"`).
    Entropy,
}

/// How to train a decision tree. `Default` gives the documented defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct TreeOptions {
    /// Name of the label column. Default `target`.
    pub target: String,
    /// Share of rows held out for the metrics, in `(0, 1)`. Default `0.25`.
    pub test_fraction: f64,
    /// Seed of the shuffle that picks the held-out rows. Default `42`.
    pub seed: u64,
    /// Deepest level a node may have (the root is level 0); `None` grows until the leaves
    /// are pure or too small to split. Default `None`.
    pub max_depth: Option<usize>,
    /// Fewest training rows a node needs to be split. Default `2`.
    pub min_samples_split: usize,
    /// Fewest training rows each side of a split must keep. Default `1`.
    pub min_samples_leaf: usize,
    /// Least impurity decrease a split must bring (linfa-trees needs it above 0).
    /// Default `1e-5`.
    pub min_impurity_decrease: f64,
    /// Default Gini.
    pub split_quality: SplitQuality,
}

impl Default for TreeOptions {
    fn default() -> Self {
        TreeOptions {
            target: "target".into(),
            test_fraction: 0.25,
            seed: 42,
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            min_impurity_decrease: 1e-5,
            split_quality: SplitQuality::Gini,
        }
    }
}

/// Reads a CSV table (see `LabelledTable::from_csv`) and trains on it.
pub fn train_tree_csv(
    reader: impl Read,
    options: &TreeOptions,
) -> Result<TrainedModel, TrainError> {
    let table = LabelledTable::from_csv(reader, &options.target)?;
    train_tree(&table, options)
}

/// Grows a decision tree on a shuffled `1 - test_fraction` of the rows and measures it on
/// the rest.
pub fn train_tree(
    table: &LabelledTable,
    options: &TreeOptions,
) -> Result<TrainedModel, TrainError> {
    check_options(options)?;
    let rows = table.features.nrows();
    if rows < 2 {
        return Err(TrainError::TooFewRows(rows));
    }
    let classes = sorted_classes(&table.targets);
    if classes.len() < 2 {
        return Err(TrainError::TooFewClasses(classes.len()));
    }
    let class_indices = class_indices(&table.targets, &classes);
    let (train, test) = train_test_split(rows, options.test_fraction, options.seed);
    let train_x = table.features.select(Axis(0), &train);
    let train_y: Array1<usize> = train.iter().map(|&row| class_indices[row]).collect();
    if count_distinct(train_y.iter()) < classes.len() {
        return Err(TrainError::ClassMissingFromTraining);
    }

    let fitted = fit(&train_x, &train_y, options)?;
    let nodes = flatten(&fitted, train_x.view(), &train_y.to_vec(), classes.len())?;
    let envelope = TreeEnvelope::new(nodes, table.feature_names.clone(), classes)?;

    let test_x = table.features.select(Axis(0), &test);
    let test_y: Vec<usize> = test.iter().map(|&row| class_indices[row]).collect();
    let probabilities = envelope.predict_probabilities(test_x.view());
    Ok(TrainedModel {
        format: LINFA_TREE,
        artifact: envelope.to_bytes()?,
        signature: envelope.signature(),
        metrics: classification_metrics(&test_y, probabilities.view()),
        train_rows: train.len(),
        test_rows: test.len(),
    })
}

fn check_options(options: &TreeOptions) -> Result<(), TrainError> {
    check_test_fraction(options.test_fraction)?;
    if options.max_depth == Some(0) {
        return Err(TrainError::BadOption("max_depth must be at least 1".into()));
    }
    if options.min_samples_split < 2 || options.min_samples_leaf < 1 {
        return Err(TrainError::BadOption(format!(
            "min_samples_split must be at least 2 and min_samples_leaf at least 1, got {} \
             and {}",
            options.min_samples_split, options.min_samples_leaf
        )));
    }
    if !(options.min_impurity_decrease.is_finite() && options.min_impurity_decrease > 0.0) {
        return Err(TrainError::BadOption(format!(
            "min_impurity_decrease must be a finite number > 0, got {}",
            options.min_impurity_decrease
        )));
    }
    Ok(())
}

fn fit(
    train_x: &ndarray::Array2<f64>,
    train_y: &Array1<usize>,
    options: &TreeOptions,
) -> Result<DecisionTree<f64, usize>, TrainError> {
    let split_quality = match options.split_quality {
        SplitQuality::Gini => LinfaSplitQuality::Gini,
        SplitQuality::Entropy => LinfaSplitQuality::Entropy,
    };
    DecisionTree::params()
        .split_quality(split_quality)
        .max_depth(options.max_depth)
        .min_weight_split(options.min_samples_split as f32)
        .min_weight_leaf(options.min_samples_leaf as f32)
        .min_impurity_decrease(options.min_impurity_decrease)
        .fit(&Dataset::new(train_x.clone(), train_y.clone()))
        .map_err(|e| TrainError::Fit(e.to_string()))
}

/// The fitted tree as the envelope's node list: the root first and every child after its
/// parent. Each leaf counts the training rows that reach it, routed with the envelope's
/// rule (`<=` goes left, the rule linfa-trees partitions its training rows with).
fn flatten(
    tree: &DecisionTree<f64, usize>,
    train_x: ArrayView2<f64>,
    train_y: &[usize],
    classes: usize,
) -> Result<Vec<TreeNode>, TrainError> {
    let placeholder = || TreeNode::Leaf { counts: Vec::new() };
    let mut nodes = vec![placeholder()];
    let mut pending = vec![(tree.root_node(), 0, (0..train_y.len()).collect::<Vec<_>>())];
    while let Some((node, slot, rows)) = pending.pop() {
        let children = node.children();
        let (left, right) = match children.as_slice() {
            [Some(left), Some(right)] if !node.is_leaf() => (left, right),
            _ => {
                nodes[slot] = TreeNode::Leaf {
                    counts: class_counts(rows.iter().map(|&row| train_y[row]), classes),
                };
                continue;
            }
        };
        let (feature, threshold, _) = node.split();
        if feature >= train_x.ncols() {
            return Err(TrainError::Fit(format!(
                "linfa-trees split on feature {feature} of {}",
                train_x.ncols()
            )));
        }
        let (left_rows, right_rows): (Vec<usize>, Vec<usize>) = rows
            .into_iter()
            .partition(|&row| train_x[(row, feature)] <= threshold);
        let (left_slot, right_slot) = (nodes.len(), nodes.len() + 1);
        nodes.extend([placeholder(), placeholder()]);
        nodes[slot] = TreeNode::Split {
            feature,
            threshold,
            left: left_slot,
            right: right_slot,
        };
        pending.push((right, right_slot, right_rows));
        pending.push((left, left_slot, left_rows));
    }
    Ok(nodes)
}

fn class_counts(labels: impl Iterator<Item = usize>, classes: usize) -> Vec<f64> {
    let mut counts = vec![0.0; classes];
    for label in labels {
        counts[label] += 1.0;
    }
    counts
}
