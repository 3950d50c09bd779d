//! The model runtime: one `Predictor` per servable format, loaded from artifact bytes.
//!
//! Embedded applications, stream subscribers and the registry's model server all predict
//! through this module, so a model answers the same everywhere. It owns format dispatch
//! (`load`, `derive_signature`), the `Predictor` trait and its `Prediction`, and the
//! reconciliation of an artifact with the signature declared for its version. It does no
//! I/O and knows nothing of HTTP: callers hand it bytes and rows.
//!
//! Servable formats: `linfa-logistic`, `linfa-linear` and `linfa-tree` (feature
//! `runtime`) and `onnx` (feature `onnx`).
//! Every other format is stored and fetched like any artifact, but `load` refuses it with
//! `RuntimeError::UnservableFormat`.

mod error;
pub mod input;
pub mod linfa;
pub mod metrics;
#[cfg(feature = "onnx")]
pub mod onnx;
mod rows;
pub mod train;

use std::sync::Arc;

use ndarray::{Array2, ArrayView2, Axis};

/// The ndarray version of this API (linfa's); tract's own ndarray never appears in it.
pub use ndarray;

pub use error::RuntimeError;
pub use input::{InputError, MAX_ROWS};
pub use rows::{Rows, MAX_EXACT_INT};

use crate::signature::{ClassLabel, Signature};

/// Format name of a serde-serialised linfa logistic regression in a Capstan envelope.
pub const LINFA_LOGISTIC: &str = "linfa-logistic";
/// Format name of a linear regression (least squares or elastic net) fitted with linfa,
/// in a Capstan envelope.
pub const LINFA_LINEAR: &str = "linfa-linear";
/// Format name of a decision tree classifier fitted with linfa-trees, in a Capstan
/// envelope.
pub const LINFA_TREE: &str = "linfa-tree";
/// Format name of an ONNX model (served with tract).
pub const ONNX: &str = "onnx";

/// A loaded model, ready to predict. Cheap to share between threads.
pub trait Predictor: Send + Sync {
    /// The input features (in column order) and what the model predicts: its `classes`
    /// (a classifier) or its number of `targets` (a regressor). A loaded predictor's
    /// signature always has exactly one of the two.
    fn signature(&self) -> &Signature;
    /// Predicts every row (one column per signature input, in order; see `Rows`).
    fn predict(&self, rows: &Rows<'_>) -> Result<Prediction, RuntimeError>;

    /// Class labels, in the order of each row's probabilities; empty for a regressor.
    fn classes(&self) -> &[ClassLabel] {
        self.signature().classes.as_deref().unwrap_or_default()
    }

    /// The number of values predicted per row, for a regressor; `None` for a classifier.
    fn targets(&self) -> Option<usize> {
        self.signature().targets
    }
}

/// What a model predicts for a batch of rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Prediction {
    /// A classifier's answer.
    Classes(ClassPrediction),
    /// A regressor's answer.
    Values(ValuePrediction),
}

/// What a classifier predicts for a batch of rows.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassPrediction {
    /// The most probable class of each row (the first one on a tie).
    pub predictions: Vec<ClassLabel>,
    /// Per row, the probability of each class, in `Predictor::classes` order.
    pub probabilities: Vec<Vec<f64>>,
}

/// What a regressor predicts for a batch of rows: `rows × targets` numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct ValuePrediction {
    pub values: Array2<f64>,
}

impl Prediction {
    /// Builds a classifier's prediction from a `rows × classes` probability matrix.
    pub fn from_probabilities(
        probabilities: ArrayView2<f64>,
        classes: &[ClassLabel],
    ) -> Result<Self, RuntimeError> {
        if probabilities.ncols() != classes.len() {
            return Err(RuntimeError::Inference(format!(
                "the model produced {} probabilities per row for {} classes",
                probabilities.ncols(),
                classes.len()
            )));
        }
        if probabilities.iter().any(|p| !p.is_finite()) {
            return Err(RuntimeError::Inference(
                "the model produced a probability that is not a finite number".into(),
            ));
        }
        let mut predictions = Vec::with_capacity(probabilities.nrows());
        let mut rows = Vec::with_capacity(probabilities.nrows());
        for row in probabilities.axis_iter(Axis(0)) {
            predictions.push(classes[index_of_max(row.iter().copied())].clone());
            rows.push(row.to_vec());
        }
        Ok(Prediction::Classes(ClassPrediction {
            predictions,
            probabilities: rows,
        }))
    }

    /// Builds a regressor's prediction from a `rows × targets` matrix. A value that is
    /// not finite (the model diverged on this input) is an inference error.
    pub fn from_values(values: Array2<f64>, targets: usize) -> Result<Self, RuntimeError> {
        if values.ncols() != targets {
            return Err(RuntimeError::Inference(format!(
                "the model produced {} values per row for {targets} targets",
                values.ncols()
            )));
        }
        if let Some(row) = values
            .axis_iter(Axis(0))
            .position(|row| row.iter().any(|v| !v.is_finite()))
        {
            return Err(RuntimeError::Inference(format!(
                "the model predicted a value that is not a finite number for row {row}"
            )));
        }
        Ok(Prediction::Values(ValuePrediction { values }))
    }

    /// How many rows were predicted.
    pub fn len(&self) -> usize {
        match self {
            Prediction::Classes(classes) => classes.predictions.len(),
            Prediction::Values(values) => values.values.nrows(),
        }
    }

    /// Whether no row was predicted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The classifier's answer, if this is one.
    pub fn as_classes(&self) -> Option<&ClassPrediction> {
        match self {
            Prediction::Classes(classes) => Some(classes),
            Prediction::Values(_) => None,
        }
    }

    /// The regressor's answer, if this is one.
    pub fn as_values(&self) -> Option<&ValuePrediction> {
        match self {
            Prediction::Values(values) => Some(values),
            Prediction::Classes(_) => None,
        }
    }
}

/// Index of the largest value (the first on a tie; 0 for an empty or all-NaN input).
pub(crate) fn index_of_max(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (index, value) in values.enumerate() {
        if value > best.1 {
            best = (index, value);
        }
    }
    best.0
}

/// The formats this build can serve.
pub fn servable_formats() -> &'static [&'static str] {
    #[cfg(feature = "onnx")]
    {
        &[LINFA_LOGISTIC, LINFA_LINEAR, LINFA_TREE, ONNX]
    }
    #[cfg(not(feature = "onnx"))]
    {
        &[LINFA_LOGISTIC, LINFA_LINEAR, LINFA_TREE]
    }
}

/// Loads an artifact of `format` into a predictor. With a `declared` signature (the one
/// stored with the version), the artifact must agree with it and it becomes the
/// predictor's signature; without one, the signature is derived from the artifact.
pub fn load(
    format: &str,
    bytes: &[u8],
    declared: Option<&Signature>,
) -> Result<Arc<dyn Predictor>, RuntimeError> {
    match format {
        LINFA_LOGISTIC => Ok(Arc::new(linfa::LinfaPredictor::from_bytes(
            bytes, declared,
        )?)),
        LINFA_LINEAR => Ok(Arc::new(linfa::LinearPredictor::from_bytes(
            bytes, declared,
        )?)),
        LINFA_TREE => Ok(Arc::new(linfa::TreePredictor::from_bytes(bytes, declared)?)),
        ONNX => load_onnx(bytes, declared),
        other => Err(unservable(other)),
    }
}

/// The signature an artifact implies, for versions registered without one: feature names,
/// count and dtype, the ONNX input tensor, and class labels or the number of targets
/// where the artifact has them.
pub fn derive_signature(format: &str, bytes: &[u8]) -> Result<Signature, RuntimeError> {
    match format {
        LINFA_LOGISTIC => linfa::derive_signature(bytes),
        LINFA_LINEAR => linfa::linear::derive_signature(bytes),
        LINFA_TREE => linfa::tree::derive_signature(bytes),
        ONNX => derive_onnx_signature(bytes),
        other => Err(unservable(other)),
    }
}

fn unservable(format: &str) -> RuntimeError {
    RuntimeError::UnservableFormat {
        format: format.to_string(),
        servable: servable_formats().to_vec(),
    }
}

#[cfg(feature = "onnx")]
fn load_onnx(
    bytes: &[u8],
    declared: Option<&Signature>,
) -> Result<Arc<dyn Predictor>, RuntimeError> {
    Ok(Arc::new(onnx::OnnxPredictor::from_bytes(bytes, declared)?))
}

#[cfg(feature = "onnx")]
fn derive_onnx_signature(bytes: &[u8]) -> Result<Signature, RuntimeError> {
    onnx::derive_signature(bytes)
}

#[cfg(not(feature = "onnx"))]
fn load_onnx(
    _bytes: &[u8],
    _declared: Option<&Signature>,
) -> Result<Arc<dyn Predictor>, RuntimeError> {
    Err(onnx_feature_disabled())
}

#[cfg(not(feature = "onnx"))]
fn derive_onnx_signature(_bytes: &[u8]) -> Result<Signature, RuntimeError> {
    Err(onnx_feature_disabled())
}

#[cfg(not(feature = "onnx"))]
fn onnx_feature_disabled() -> RuntimeError {
    RuntimeError::FeatureDisabled {
        format: ONNX.to_string(),
        feature: "onnx",
        servable: servable_formats().to_vec(),
    }
}

/// Whose feature names win when an artifact meets a declared signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NamePolicy {
    /// The artifact names its features; a declared signature must repeat them in order.
    ArtifactNames,
    /// The artifact's names are placeholders (`f0`, `f1`, …); declared names replace them.
    #[cfg_attr(not(feature = "onnx"), allow(dead_code))]
    DeclaredNames,
}

/// Checks a declared signature against the one derived from the artifact and returns the
/// signature to serve: the feature count, names (per `policy`), input tensor, classes and
/// targets must agree; dtypes come from the artifact; a feature is nullable when either
/// says so.
pub(crate) fn reconcile_signature(
    derived: Signature,
    declared: Option<&Signature>,
    policy: NamePolicy,
) -> Result<Signature, RuntimeError> {
    let Some(declared) = declared else {
        return Ok(derived);
    };
    declared
        .validate()
        .map_err(|e| RuntimeError::SignatureMismatch(e.to_string()))?;
    if declared.inputs.len() != derived.inputs.len() {
        return Err(RuntimeError::SignatureMismatch(format!(
            "the model takes {} features, the signature declares {}",
            derived.inputs.len(),
            declared.inputs.len()
        )));
    }
    let mut inputs = derived.inputs;
    for (index, (ours, theirs)) in inputs.iter_mut().zip(&declared.inputs).enumerate() {
        match policy {
            NamePolicy::ArtifactNames if ours.name != theirs.name => {
                return Err(RuntimeError::SignatureMismatch(format!(
                    "feature {index} is {:?} in the model but {:?} in the signature",
                    ours.name, theirs.name
                )));
            }
            NamePolicy::ArtifactNames => {}
            NamePolicy::DeclaredNames => ours.name.clone_from(&theirs.name),
        }
        ours.nullable |= theirs.nullable;
    }
    let input_tensor = agree("input tensor", derived.input_tensor, &declared.input_tensor)?;
    let classes = agree("classes", derived.classes, &declared.classes)?;
    let targets = agree("targets", derived.targets, &declared.targets)?;
    let signature = Signature {
        inputs,
        input_tensor,
        classes,
        targets,
    };
    signature
        .validate()
        .map_err(|e| RuntimeError::SignatureMismatch(e.to_string()))?;
    Ok(signature)
}

fn agree<T: PartialEq + Clone + std::fmt::Debug>(
    what: &str,
    derived: Option<T>,
    declared: &Option<T>,
) -> Result<Option<T>, RuntimeError> {
    match (derived, declared) {
        (Some(ours), Some(theirs)) if ours != *theirs => Err(RuntimeError::SignatureMismatch(
            format!("{what}: the model has {ours:?}, the signature declares {theirs:?}"),
        )),
        (Some(ours), _) => Ok(Some(ours)),
        (None, theirs) => Ok(theirs.clone()),
    }
}

/// Checks rows a caller built against the predictor's signature (see `Rows::check`).
pub(crate) fn check_rows(rows: &Rows<'_>, signature: &Signature) -> Result<(), RuntimeError> {
    rows.check(signature).map_err(RuntimeError::from)
}
