//! The model runtime: one `Predictor` per servable format, loaded from artifact bytes.
//!
//! Embedded applications, stream subscribers and the registry's model server all predict
//! through this module, so a model answers the same everywhere. It owns format dispatch
//! (`load`, `derive_signature`), the `Predictor` trait and its `Prediction`, and the
//! reconciliation of an artifact with the signature declared for its version. It does no
//! I/O and knows nothing of HTTP: callers hand it bytes and rows.
//!
//! Servable formats: `linfa-logistic` (feature `runtime`) and `onnx` (feature `onnx`).
//! Every other format is stored and fetched like any artifact, but `load` refuses it with
//! `RuntimeError::UnservableFormat`.

mod error;
pub mod input;
pub mod linfa;
pub mod metrics;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod train;

use std::sync::Arc;

use ndarray::{ArrayView2, Axis};

/// The ndarray version of this API (linfa's); tract's own ndarray never appears in it.
pub use ndarray;

pub use error::RuntimeError;
pub use input::{InputError, MAX_ROWS};

use crate::signature::{ClassLabel, Signature};

/// Format name of a serde-serialised linfa logistic regression in a Capstan envelope.
pub const LINFA_LOGISTIC: &str = "linfa-logistic";
/// Format name of an ONNX model (served with tract).
pub const ONNX: &str = "onnx";

/// A loaded model, ready to predict. Cheap to share between threads.
pub trait Predictor: Send + Sync {
    /// The input features (in column order) and classes predictions are made against.
    fn signature(&self) -> &Signature;
    /// Class labels, in the order of each row's probabilities.
    fn classes(&self) -> &[ClassLabel];
    /// Predicts every row of `rows` (one column per signature input, in order).
    fn predict(&self, rows: ArrayView2<f64>) -> Result<Prediction, RuntimeError>;
}

/// What a classifier predicts for a batch of rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The most probable class of each row (the first one on a tie).
    pub predictions: Vec<ClassLabel>,
    /// Per row, the probability of each class, in `Predictor::classes` order.
    pub probabilities: Vec<Vec<f64>>,
}

impl Prediction {
    /// Builds a prediction from a `rows × classes` probability matrix.
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
        Ok(Prediction {
            predictions,
            probabilities: rows,
        })
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
        &[LINFA_LOGISTIC, ONNX]
    }
    #[cfg(not(feature = "onnx"))]
    {
        &[LINFA_LOGISTIC]
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
        ONNX => load_onnx(bytes, declared),
        other => Err(unservable(other)),
    }
}

/// The signature an artifact implies, for versions registered without one: feature names,
/// count and dtype, the ONNX input tensor, and class labels where the artifact has them.
pub fn derive_signature(format: &str, bytes: &[u8]) -> Result<Signature, RuntimeError> {
    match format {
        LINFA_LOGISTIC => linfa::derive_signature(bytes),
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
/// signature to serve: the feature count, names (per `policy`), input tensor and classes
/// must agree; dtypes come from the artifact.
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
    }
    let input_tensor = agree("input tensor", derived.input_tensor, &declared.input_tensor)?;
    let classes = agree("classes", derived.classes, &declared.classes)?;
    Ok(Signature {
        inputs,
        input_tensor,
        classes,
    })
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

/// Refuses a batch with no rows, too many rows, rows without one value per feature, or a
/// value that is not finite — the checks `input` makes on requests, for callers that
/// build their matrix themselves.
pub(crate) fn check_rows(rows: ArrayView2<f64>, signature: &Signature) -> Result<(), RuntimeError> {
    input::check_batch_size(rows.nrows())?;
    let features = signature.inputs.len();
    if rows.ncols() != features {
        return Err(InputError {
            row: 0,
            field: None,
            reason: format!("expected {features} values per row, got {}", rows.ncols()),
        }
        .into());
    }
    for (row, values) in rows.axis_iter(Axis(0)).enumerate() {
        if let Some(column) = values.iter().position(|x| !x.is_finite()) {
            return Err(InputError {
                row,
                field: Some(signature.inputs[column].name.clone()),
                reason: "not a finite number".into(),
            }
            .into());
        }
    }
    Ok(())
}
