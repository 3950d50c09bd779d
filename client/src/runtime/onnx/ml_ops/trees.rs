//! The tree-ensemble engine behind `ai.onnx.ml.TreeEnsembleClassifier` and
//! `TreeEnsembleRegressor`: parsing the nodes and leaf weights from a node's attributes
//! (the float attributes and their double `_as_tensor` twins), walking every tree for a
//! row, aggregating the leaves' weights (SUM, AVERAGE, MIN, MAX), adding the base values
//! and applying the post-transform (NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT), with
//! every branch mode of the ONNX spec and `nodes_missing_value_tracks_true` for NaN.
//!
//! Where the spec is vague — a binary classifier whose leaves vote for one class only,
//! as skl2onnx writes gradient boosting — the engine answers what onnxruntime answers,
//! since that is what exporters are tested against. No tract type appears here: the
//! operators in `tree_ops.rs` adapt it.

use std::collections::HashMap;

use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::{bail, ensure, format_err, TractResult};

use super::attributes::{floats_or_doubles, ints, optional_doubles, strings};
use super::transforms::{logistic, probit, PostTransform};

/// Rows scored together, tree by tree (their scores stay in cache: 512 rows × 8 bytes
/// per output).
const BLOCK_ROWS: usize = 512;

/// How a branch compares a feature with its threshold (`x <op> threshold` goes true).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
}

impl Mode {
    fn parse(text: &str) -> TractResult<Option<Mode>> {
        Ok(Some(match text {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => return Ok(None),
            other => bail!("unknown node mode {other:?}"),
        }))
    }

    #[inline]
    fn holds(self, x: f64, threshold: f64) -> bool {
        match self {
            Mode::Leq => x <= threshold,
            Mode::Lt => x < threshold,
            Mode::Gte => x >= threshold,
            Mode::Gt => x > threshold,
            Mode::Eq => x == threshold,
            Mode::Neq => x != threshold,
        }
    }
}

/// How the votes of the trees for one target (or class) are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

impl Aggregate {
    fn parse(text: &str) -> TractResult<Aggregate> {
        Ok(match text {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            other => bail!("unknown aggregate_function {other:?}"),
        })
    }
}

/// One node of a tree, laid out for the walk: a branch's children are indices into the
/// ensemble's node array; a leaf's votes are `votes[first..end]`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Node {
    Branch {
        feature: u32,
        mode: Mode,
        missing_goes_true: bool,
        threshold: f64,
        if_true: u32,
        if_false: u32,
    },
    Leaf {
        first: u32,
        end: u32,
    },
}

/// A leaf's vote: `weight` for target (or class) `target`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Vote {
    target: u32,
    weight: f64,
}

/// A parsed tree ensemble, ready to score rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Ensemble {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    votes: Vec<Vote>,
    /// Targets of a regressor, classes of a classifier.
    width: usize,
    aggregate: Aggregate,
    base_values: Vec<f64>,
    post_transform: PostTransform,
    /// Thresholds were given as floats: features are compared as `f32`, like them.
    float_thresholds: bool,
    /// The largest feature index any branch reads.
    max_feature: usize,
    /// Classifiers only: how binary models that vote for one class are finished.
    binary: Option<Binary>,
}

/// A two-class classifier whose leaves all vote for the same class id.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Binary {
    weights_all_positive: bool,
}

/// Which operator an ensemble is parsed for: the attribute prefix of its votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Classifier { classes: usize },
    Regressor,
}

impl Ensemble {
    /// Parses the attributes of a `TreeEnsembleClassifier` or `TreeEnsembleRegressor`.
    pub fn from_node(node: &NodeProto, kind: Kind) -> TractResult<Ensemble> {
        let tree_ids = ints(node, "nodes_treeids")?;
        let node_ids = ints(node, "nodes_nodeids")?;
        let feature_ids = ints(node, "nodes_featureids")?;
        let modes = strings(node, "nodes_modes")?;
        let true_ids = ints(node, "nodes_truenodeids")?;
        let false_ids = ints(node, "nodes_falsenodeids")?;
        let (thresholds, float_thresholds) = floats_or_doubles(node, "nodes_values")?;
        let missing = ints(node, "nodes_missing_value_tracks_true")?;
        let count = tree_ids.len();
        ensure!(count > 0, "the ensemble has no nodes");
        for (name, len) in [
            ("nodes_nodeids", node_ids.len()),
            ("nodes_featureids", feature_ids.len()),
            ("nodes_modes", modes.len()),
            ("nodes_truenodeids", true_ids.len()),
            ("nodes_falsenodeids", false_ids.len()),
            ("nodes_values", thresholds.len()),
        ] {
            ensure!(len == count, "{name} has {len} entries for {count} nodes");
        }
        ensure!(
            missing.is_empty() || missing.len() == count,
            "nodes_missing_value_tracks_true has {} entries for {count} nodes",
            missing.len()
        );

        let (prefix, width) = match kind {
            Kind::Classifier { classes } => ("class", classes),
            Kind::Regressor => {
                let targets = ints(node, "n_targets")?.first().copied().unwrap_or(1);
                ensure!(
                    (1..=100_000).contains(&targets),
                    "n_targets must be between 1 and 100000, got {targets}"
                );
                ("target", targets as usize)
            }
        };
        ensure!(width > 0, "the ensemble predicts nothing");
        let vote_trees = ints(node, &format!("{prefix}_treeids"))?;
        let vote_nodes = ints(node, &format!("{prefix}_nodeids"))?;
        let vote_targets = ints(node, &format!("{prefix}_ids"))?;
        let (vote_weights, _) = floats_or_doubles(node, &format!("{prefix}_weights"))?;
        let vote_count = vote_trees.len();
        for (name, len) in [
            ("nodeids", vote_nodes.len()),
            ("ids", vote_targets.len()),
            ("weights", vote_weights.len()),
        ] {
            ensure!(
                len == vote_count,
                "{prefix}_{name} has {len} entries for {vote_count} votes"
            );
        }

        // Index the nodes by (tree, node id) and lay each tree out contiguously.
        let mut order: Vec<usize> = (0..count).collect();
        order.sort_by_key(|&i| (tree_ids[i], node_ids[i]));
        let mut index_of: HashMap<(i64, i64), u32> = HashMap::with_capacity(count);
        for (position, &i) in order.iter().enumerate() {
            ensure!(
                index_of
                    .insert((tree_ids[i], node_ids[i]), position as u32)
                    .is_none(),
                "node {} of tree {} is defined twice",
                node_ids[i],
                tree_ids[i]
            );
        }
        let mut votes_of: HashMap<(i64, i64), Vec<Vote>> = HashMap::new();
        for v in 0..vote_count {
            let target = vote_targets[v];
            ensure!(
                (0..width as i64).contains(&target),
                "{prefix}_ids names {target}, outside 0..{width}"
            );
            ensure!(
                index_of.contains_key(&(vote_trees[v], vote_nodes[v])),
                "a vote names node {} of tree {}, which does not exist",
                vote_nodes[v],
                vote_trees[v]
            );
            votes_of
                .entry((vote_trees[v], vote_nodes[v]))
                .or_default()
                .push(Vote {
                    target: target as u32,
                    weight: vote_weights[v],
                });
        }

        let mut nodes = Vec::with_capacity(count);
        let mut votes = Vec::with_capacity(vote_count);
        let mut roots = Vec::new();
        let mut max_feature = 0;
        let mut previous_tree = None;
        for (position, &i) in order.iter().enumerate() {
            let tree = tree_ids[i];
            if previous_tree != Some(tree) {
                roots.push(position as u32);
                previous_tree = Some(tree);
            }
            let node = match Mode::parse(&modes[i])? {
                None => {
                    let first = votes.len() as u32;
                    if let Some(leaf_votes) = votes_of.remove(&(tree, node_ids[i])) {
                        votes.extend(leaf_votes);
                    }
                    Node::Leaf {
                        first,
                        end: votes.len() as u32,
                    }
                }
                Some(mode) => {
                    let feature = usize::try_from(feature_ids[i])
                        .map_err(|_| format_err!("negative feature id"))?;
                    max_feature = max_feature.max(feature);
                    let child = |id: i64| {
                        index_of.get(&(tree, id)).copied().ok_or_else(|| {
                            format_err!(
                                "node {} of tree {tree} points to node {id}, which does not exist",
                                node_ids[i]
                            )
                        })
                    };
                    Node::Branch {
                        feature: feature as u32,
                        mode,
                        missing_goes_true: missing.get(i).is_some_and(|m| *m != 0),
                        threshold: thresholds[i],
                        if_true: child(true_ids[i])?,
                        if_false: child(false_ids[i])?,
                    }
                }
            };
            nodes.push(node);
        }
        ensure!(
            votes_of.is_empty(),
            "a vote names a node that is a branch, not a leaf"
        );
        check_acyclic(&nodes, &roots)?;

        let base_values = optional_doubles(node, "base_values")?;
        ensure!(
            base_values.is_empty()
                || base_values.len() == width
                || (base_values.len() == 1 && matches!(kind, Kind::Classifier { classes: 2 })),
            "base_values has {} entries for {width} outputs",
            base_values.len()
        );
        let aggregate = match kind {
            Kind::Regressor => {
                let name = strings(node, "aggregate_function")?;
                Aggregate::parse(name.first().map(String::as_str).unwrap_or("SUM"))?
            }
            Kind::Classifier { .. } => Aggregate::Sum,
        };
        // A two-class model whose leaves all vote for class 0 (how skl2onnx writes
        // gradient boosting) carries one score, the positive class's (onnxruntime's
        // reading of a case the spec leaves open).
        let binary = match kind {
            Kind::Classifier { classes: 2 }
                if base_values.len() <= 1 && votes.iter().all(|v| v.target == 0) =>
            {
                Some(Binary {
                    weights_all_positive: votes.iter().all(|v| v.weight >= 0.0),
                })
            }
            _ => None,
        };
        Ok(Ensemble {
            nodes,
            roots,
            votes,
            width,
            aggregate,
            base_values,
            post_transform: PostTransform::parse(node)?,
            float_thresholds,
            max_feature,
            binary,
        })
    }

    /// Targets of a regressor, classes of a classifier.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The number of features a row must have at least.
    pub fn min_features(&self) -> usize {
        self.max_feature + 1
    }

    /// Scores `rows` (row-major, `features` values each) into `out` (row-major, `width`
    /// values each).
    pub fn score<T: Copy + Into<f64>>(&self, rows: &[T], features: usize, out: &mut [f64]) {
        // Tree by tree, then row by row: one tree's nodes stay in cache while every row
        // walks it, where row by row each row would pull all the trees through the cache.
        for (rows, out) in rows
            .chunks(features * BLOCK_ROWS)
            .zip(out.chunks_mut(self.width * BLOCK_ROWS))
        {
            self.score_block(rows, features, out);
        }
    }

    fn score_block<T: Copy + Into<f64>>(&self, rows: &[T], features: usize, out: &mut [f64]) {
        let width = self.width;
        // Features as the thresholds compare them, converted once: float thresholds
        // compare the feature rounded to `f32`.
        let rows: Vec<f64> = rows
            .iter()
            .map(|x| {
                let x: f64 = (*x).into();
                if self.float_thresholds {
                    f64::from(x as f32)
                } else {
                    x
                }
            })
            .collect();
        out.iter_mut().for_each(|s| *s = 0.0);
        let mut voted = vec![false; out.len()];
        for &root in &self.roots {
            for (row, start) in rows.chunks_exact(features).zip((0..).step_by(width)) {
                let (first, end) = self.leaf_of(root, row);
                for vote in &self.votes[first as usize..end as usize] {
                    let slot = start + vote.target as usize;
                    let score = &mut out[slot];
                    *score = match self.aggregate {
                        Aggregate::Sum | Aggregate::Average => *score + vote.weight,
                        Aggregate::Min if voted[slot] => score.min(vote.weight),
                        Aggregate::Max if voted[slot] => score.max(vote.weight),
                        Aggregate::Min | Aggregate::Max => vote.weight,
                    };
                    voted[slot] = true;
                }
            }
        }
        let trees = self.roots.len() as f64;
        for scores in out.chunks_exact_mut(width) {
            if self.aggregate == Aggregate::Average {
                scores.iter_mut().for_each(|s| *s /= trees);
            }
            self.finish(scores);
        }
    }

    #[inline]
    fn leaf_of(&self, root: u32, row: &[f64]) -> (u32, u32) {
        let mut index = root as usize;
        loop {
            match self.nodes[index] {
                Node::Leaf { first, end } => return (first, end),
                Node::Branch {
                    feature,
                    mode,
                    missing_goes_true,
                    threshold,
                    if_true,
                    if_false,
                } => {
                    let x = row[feature as usize];
                    let goes_true = if x.is_nan() && missing_goes_true {
                        true
                    } else {
                        mode.holds(x, threshold)
                    };
                    index = if goes_true { if_true } else { if_false } as usize;
                }
            }
        }
    }

    /// Base values and the post-transform, on one row's aggregated scores in place.
    fn finish(&self, scores: &mut [f64]) {
        if let Some(binary) = self.binary {
            self.finish_binary(binary, scores);
            return;
        }
        // Base values: one per output, or (two classes) one for class 0.
        for (score, base) in scores.iter_mut().zip(&self.base_values) {
            *score += base;
        }
        self.post_transform.apply(scores);
    }

    /// A two-class model whose leaves vote for one class: the score `s` is the positive
    /// class's (onnxruntime's reading): probabilities `[1 − s, s]` for positive weights
    /// (random forests' votes), `[σ(−s), σ(s)]` under LOGISTIC (gradient boosting), else
    /// `[−s, s]` with the post-transform applied.
    fn finish_binary(&self, binary: Binary, out: &mut [f64]) {
        let s = out[0] + self.base_values.first().copied().unwrap_or(0.0);
        match self.post_transform {
            PostTransform::Probit => {
                out[0] = probit(s);
                out[1] = 0.0;
            }
            _ if binary.weights_all_positive => {
                out[0] = 1.0 - s;
                out[1] = s;
            }
            PostTransform::Logistic => {
                out[0] = logistic(-s);
                out[1] = logistic(s);
            }
            transform => {
                out[0] = -s;
                out[1] = s;
                transform.apply(out);
            }
        }
    }
}

/// Every walk from a root must reach a leaf: no branch may point back up its tree.
fn check_acyclic(nodes: &[Node], roots: &[u32]) -> TractResult<()> {
    // Trees are laid out contiguously and sorted by node id; a child that is not after
    // its parent could loop, so follow such trees explicitly with a step budget.
    let mut state = vec![0u8; nodes.len()]; // 0 new, 1 on stack, 2 done
    for &root in roots {
        let mut stack = vec![(root as usize, false)];
        while let Some((index, expanded)) = stack.pop() {
            if expanded {
                state[index] = 2;
                continue;
            }
            match state[index] {
                2 => continue,
                1 => bail!("a tree's branches form a cycle"),
                _ => {}
            }
            state[index] = 1;
            stack.push((index, true));
            if let Node::Branch {
                if_true, if_false, ..
            } = nodes[index]
            {
                for child in [if_true as usize, if_false as usize] {
                    if state[child] == 1 {
                        bail!("a tree's branches form a cycle");
                    }
                    if state[child] == 0 {
                        stack.push((child, false));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_modes_compare_as_named() {
        let cases = [
            (Mode::Leq, [true, true, false]),
            (Mode::Lt, [true, false, false]),
            (Mode::Gte, [false, true, true]),
            (Mode::Gt, [false, false, true]),
            (Mode::Eq, [false, true, false]),
            (Mode::Neq, [true, false, true]),
        ];
        for (mode, expected) in cases {
            let got = [0.0, 1.0, 2.0].map(|x| mode.holds(x, 1.0));
            assert_eq!(got, expected, "{mode:?}");
        }
    }
}
