//! `RuntimeError`: everything loading a model or predicting with it can fail with.
//!
//! The variants are grouped so a server can map them to HTTP with one `match`; the
//! suggested status is on each variant. This module owns no HTTP code itself.

use super::input::InputError;

/// Why a model could not be loaded, described, or asked for a prediction.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The artifact's format is stored and versioned but cannot be served (pickle, joblib,
    /// PMML, …). Suggested status: 422.
    #[error(
        "format {format:?} cannot be served; servable formats: {}",
        servable.join(", ")
    )]
    UnservableFormat {
        format: String,
        servable: Vec<&'static str>,
    },
    /// The format is servable by Capstan, but this build of `capstan-client` was compiled
    /// without the cargo feature that serves it. Suggested status: 422.
    #[error(
        "format {format:?} needs capstan-client's cargo feature {feature:?}, which this build \
         was compiled without; servable formats here: {}",
        servable.join(", ")
    )]
    FeatureDisabled {
        format: String,
        feature: &'static str,
        servable: Vec<&'static str>,
    },
    /// The bytes are not a valid model of the declared format, or the model is of a shape
    /// the runtime does not serve. Suggested status: 422.
    #[error("invalid {format} artifact: {reason}")]
    InvalidArtifact { format: String, reason: String },
    /// The ONNX graph uses an operator Capstan cannot run (one outside the standard and
    /// ONNX-ML operator sets, or one of them the runtime does not implement). Suggested
    /// status: 422.
    #[error(
        "the ONNX graph uses operator {operator} (node {node:?}), which Capstan cannot run; \
         the supported estimators and operators are listed in docs/runtime.md"
    )]
    UnsupportedOperator { operator: String, node: String },
    /// The model and the signature declared for its version disagree (feature count or
    /// names, class labels). Suggested status: 422.
    #[error("the artifact does not match the declared signature: {0}")]
    SignatureMismatch(String),
    /// The prediction input is malformed. Suggested status: 400.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The model failed while computing a prediction. Suggested status: 500.
    #[error("inference failed: {0}")]
    Inference(String),
}

impl RuntimeError {
    pub(crate) fn invalid_artifact(format: &str, reason: impl std::fmt::Display) -> Self {
        RuntimeError::InvalidArtifact {
            format: format.to_string(),
            reason: reason.to_string(),
        }
    }
}
