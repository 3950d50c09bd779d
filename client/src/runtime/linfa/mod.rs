//! The linfa formats, each a versioned JSON envelope and its `Predictor`:
//! `linfa-logistic` (this file over `envelope`: binary or multinomial logistic
//! regression), `linfa-linear` (`linear`: least squares or elastic net, a regressor) and
//! `linfa-tree` (`tree`: a decision tree classifier). The artifact layouts live in those
//! modules; this file only adapts the logistic one to the `Predictor` trait.

mod envelope;
pub mod linear;
pub mod tree;

pub use envelope::{LogisticEnvelope, LogisticModel, Standardization, ENVELOPE_VERSION};
pub use linear::{LinearEnvelope, LinearKind, LinearModel, LinearPredictor};
pub use tree::{TreeEnvelope, TreeKind, TreeNode, TreePredictor};

use super::{
    check_rows, reconcile_signature, NamePolicy, Prediction, Predictor, Rows, RuntimeError,
};
use crate::signature::{ClassLabel, Signature};

/// Serves a `linfa-logistic` artifact.
#[derive(Debug)]
pub struct LinfaPredictor {
    envelope: LogisticEnvelope,
    signature: Signature,
}

impl LinfaPredictor {
    /// Loads an artifact; a declared signature must list the envelope's feature names in
    /// the same order and, if it lists classes, the same classes.
    pub fn from_bytes(bytes: &[u8], declared: Option<&Signature>) -> Result<Self, RuntimeError> {
        let envelope = LogisticEnvelope::from_bytes(bytes)?;
        let signature =
            reconcile_signature(envelope.signature(), declared, NamePolicy::ArtifactNames)?;
        Ok(LinfaPredictor {
            envelope,
            signature,
        })
    }

    pub fn envelope(&self) -> &LogisticEnvelope {
        &self.envelope
    }
}

impl Predictor for LinfaPredictor {
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

/// The `linfa-logistic` artifact of a fitted model: `LogisticEnvelope::new` then
/// `to_bytes`. The model's labels must be indices into `classes`.
pub fn envelope_bytes(
    model: LogisticModel,
    feature_names: Vec<String>,
    classes: Vec<ClassLabel>,
    standardization: Option<Standardization>,
) -> Result<Vec<u8>, RuntimeError> {
    LogisticEnvelope::new(model, feature_names, classes, standardization)?.to_bytes()
}

/// The signature of a `linfa-logistic` artifact: its feature names and classes.
pub fn derive_signature(bytes: &[u8]) -> Result<Signature, RuntimeError> {
    Ok(LogisticEnvelope::from_bytes(bytes)?.signature())
}
