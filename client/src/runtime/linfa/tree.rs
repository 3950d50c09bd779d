//! The `linfa-tree` format: a decision tree classifier (fitted with linfa-trees) in
//! Capstan's own flat, versioned JSON envelope, and the `Predictor` that serves it.
//!
//! ```json
//! { "capstan_envelope": 1,
//!   "kind": "classifier",
//!   "feature_names": ["mean_radius", …],
//!   "classes": [0, 1],
//!   "nodes": [ { "split": { "feature": 27, "threshold": 0.142, "left": 1, "right": 2 } },
//!              { "leaf": { "counts": [3.0, 250.0] } }, … ] }
//! ```
//!
//! Node 0 is the root. A row goes to `left` when its value of feature `feature` (an
//! index into `feature_names`) is `<= threshold`, to `right` otherwise. A leaf holds the
//! training rows' count of each class (in `classes` order); its class probabilities are
//! those counts over their sum, as scikit-learn's `predict_proba` reports them. The
//! layout is ours, not linfa-trees' serde form, so it stays stable across linfa versions
//! and can be checked: every child comes after its parent and has no other parent, so
//! the nodes form one tree and a walk from the root always ends at a leaf. This module
//! owns the layout, its validation and the walk; it knows nothing of requests.

use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::envelope::{check_version, ENVELOPE_VERSION};
use crate::runtime::{
    check_rows, reconcile_signature, NamePolicy, Prediction, Predictor, Rows, RuntimeError,
    LINFA_TREE,
};
use crate::signature::{ClassLabel, DataType, Feature, Signature};

/// What the tree predicts. Only classifiers exist so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeKind {
    Classifier,
}

/// One node of the flat tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TreeNode {
    /// Rows with `x[feature] <= threshold` go to node `left`, the others to `right`.
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    /// The training rows' weight of each class at this leaf.
    Leaf { counts: Vec<f64> },
}

/// A validated `linfa-tree` artifact.
#[derive(Clone, Debug, PartialEq)]
pub struct TreeEnvelope {
    feature_names: Vec<String>,
    classes: Vec<ClassLabel>,
    nodes: Vec<TreeNode>,
}

/// The envelope as it is on the wire.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEnvelope {
    capstan_envelope: u32,
    kind: TreeKind,
    feature_names: Vec<String>,
    classes: Vec<ClassLabel>,
    nodes: Vec<TreeNode>,
}

fn invalid(reason: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::invalid_artifact(LINFA_TREE, reason)
}

impl TreeEnvelope {
    /// Wraps a flat tree (node 0 the root), checking that it is one well-formed tree over
    /// these features and classes.
    pub fn new(
        nodes: Vec<TreeNode>,
        feature_names: Vec<String>,
        classes: Vec<ClassLabel>,
    ) -> Result<Self, RuntimeError> {
        let envelope = TreeEnvelope {
            feature_names,
            classes,
            nodes,
        };
        envelope.check()?;
        Ok(envelope)
    }

    /// Parses and validates an artifact.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RuntimeError> {
        let wire: WireEnvelope = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("not a Capstan linfa-tree envelope: {e}")))?;
        check_version(wire.capstan_envelope, LINFA_TREE)?;
        let TreeKind::Classifier = wire.kind;
        Self::new(wire.nodes, wire.feature_names, wire.classes)
    }

    /// Serialises the artifact (compact JSON; floats round-trip exactly).
    pub fn to_bytes(&self) -> Result<Vec<u8>, RuntimeError> {
        let wire = WireEnvelope {
            capstan_envelope: ENVELOPE_VERSION,
            kind: TreeKind::Classifier,
            feature_names: self.feature_names.clone(),
            classes: self.classes.clone(),
            nodes: self.nodes.clone(),
        };
        serde_json::to_vec(&wire).map_err(invalid)
    }

    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    pub fn classes(&self) -> &[ClassLabel] {
        &self.classes
    }

    pub fn nodes(&self) -> &[TreeNode] {
        &self.nodes
    }

    /// The signature this artifact implies: its feature names (float64) and classes.
    pub fn signature(&self) -> Signature {
        Signature {
            inputs: self
                .feature_names
                .iter()
                .map(|name| Feature::new(name.clone(), DataType::Float64))
                .collect(),
            input_tensor: None,
            classes: Some(self.classes.clone()),
            targets: None,
        }
    }

    /// Class probabilities, one column per class in `classes` order: the class counts of
    /// the leaf each row reaches, over their sum. `rows` must have one column per feature.
    pub fn predict_probabilities(&self, rows: ArrayView2<f64>) -> Array2<f64> {
        let mut probabilities = Array2::zeros((rows.nrows(), self.classes.len()));
        for (row, mut out) in rows
            .axis_iter(Axis(0))
            .zip(probabilities.axis_iter_mut(Axis(0)))
        {
            let counts = self.leaf_counts(row);
            let total: f64 = counts.iter().sum();
            for (p, count) in out.iter_mut().zip(counts) {
                *p = count / total;
            }
        }
        probabilities
    }

    /// The counts of the leaf `row` reaches. Children come after their parents (checked
    /// when the envelope was made), so the walk ends.
    fn leaf_counts(&self, row: ArrayView1<f64>) -> &[f64] {
        let mut index = 0;
        loop {
            match &self.nodes[index] {
                TreeNode::Leaf { counts } => return counts,
                TreeNode::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    index = if row[*feature] <= *threshold {
                        *left
                    } else {
                        *right
                    }
                }
            }
        }
    }

    fn check(&self) -> Result<(), RuntimeError> {
        self.signature().validate().map_err(invalid)?;
        check_classes(&self.classes)?;
        if self.nodes.is_empty() {
            return Err(invalid("the tree has no nodes"));
        }
        let mut has_parent = vec![false; self.nodes.len()];
        for (index, node) in self.nodes.iter().enumerate() {
            match node {
                TreeNode::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    self.check_split(index, *feature, *threshold)?;
                    for child in [*left, *right] {
                        self.check_child(index, child, &mut has_parent)?;
                    }
                }
                TreeNode::Leaf { counts } => self.check_leaf(index, counts)?,
            }
        }
        match has_parent.iter().skip(1).position(|has| !has) {
            Some(orphan) => Err(invalid(format!(
                "node {} is not reachable from the root",
                orphan + 1
            ))),
            None => Ok(()),
        }
    }

    fn check_split(
        &self,
        index: usize,
        feature: usize,
        threshold: f64,
    ) -> Result<(), RuntimeError> {
        if feature >= self.feature_names.len() {
            return Err(invalid(format!(
                "node {index} splits on feature {feature}, but the model has {} features",
                self.feature_names.len()
            )));
        }
        if !threshold.is_finite() {
            return Err(invalid(format!(
                "node {index} has a threshold that is not a finite number"
            )));
        }
        Ok(())
    }

    /// A child must exist, come after its parent (which rules out cycles) and have no
    /// other parent (which rules out shared subtrees).
    fn check_child(
        &self,
        parent: usize,
        child: usize,
        has_parent: &mut [bool],
    ) -> Result<(), RuntimeError> {
        if child >= self.nodes.len() {
            return Err(invalid(format!(
                "node {parent} has child {child}, but the tree has {} nodes",
                self.nodes.len()
            )));
        }
        if child <= parent {
            return Err(invalid(format!(
                "node {parent} has child {child}, which does not come after it (a cycle or \
                 a node out of order)"
            )));
        }
        if std::mem::replace(&mut has_parent[child], true) {
            return Err(invalid(format!("node {child} has more than one parent")));
        }
        Ok(())
    }

    fn check_leaf(&self, index: usize, counts: &[f64]) -> Result<(), RuntimeError> {
        if counts.len() != self.classes.len() {
            return Err(invalid(format!(
                "leaf {index} has {} counts for {} classes",
                counts.len(),
                self.classes.len()
            )));
        }
        if !counts.iter().all(|c| c.is_finite() && *c >= 0.0) {
            return Err(invalid(format!(
                "leaf {index} has a count that is negative or not a finite number"
            )));
        }
        if counts.iter().sum::<f64>() <= 0.0 {
            return Err(invalid(format!("leaf {index} has no rows")));
        }
        Ok(())
    }
}

fn check_classes(classes: &[ClassLabel]) -> Result<(), RuntimeError> {
    if classes.len() < 2 {
        return Err(invalid("`classes` needs at least two labels"));
    }
    let distinct: std::collections::HashSet<&ClassLabel> = classes.iter().collect();
    if distinct.len() != classes.len() {
        return Err(invalid("`classes` lists a label twice"));
    }
    Ok(())
}

/// Serves a `linfa-tree` artifact.
#[derive(Debug)]
pub struct TreePredictor {
    envelope: TreeEnvelope,
    signature: Signature,
}

impl TreePredictor {
    /// Loads an artifact; a declared signature must list the envelope's feature names in
    /// the same order and, if it lists classes, the same classes.
    pub fn from_bytes(bytes: &[u8], declared: Option<&Signature>) -> Result<Self, RuntimeError> {
        let envelope = TreeEnvelope::from_bytes(bytes)?;
        let signature =
            reconcile_signature(envelope.signature(), declared, NamePolicy::ArtifactNames)?;
        Ok(TreePredictor {
            envelope,
            signature,
        })
    }

    pub fn envelope(&self) -> &TreeEnvelope {
        &self.envelope
    }
}

impl Predictor for TreePredictor {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn classes(&self) -> &[ClassLabel] {
        self.envelope.classes()
    }

    fn predict(&self, rows: &Rows<'_>) -> Result<Prediction, RuntimeError> {
        check_rows(rows, &self.signature)?;
        let probabilities = self.envelope.predict_probabilities(rows.numbers());
        Prediction::from_probabilities(probabilities.view(), self.classes())
    }
}

/// The signature of a `linfa-tree` artifact: its feature names and classes.
pub fn derive_signature(bytes: &[u8]) -> Result<Signature, RuntimeError> {
    Ok(TreeEnvelope::from_bytes(bytes)?.signature())
}
