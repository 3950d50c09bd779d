//! The `linfa-linear` format: a linear regression `y = w·x + b` fitted with linfa
//! (ordinary least squares with linfa-linear, or an elastic net with linfa-elasticnet),
//! in a small versioned JSON envelope, and the `Predictor` that serves it.
//!
//! ```json
//! { "capstan_envelope": 1,
//!   "kind": "ols" | "elastic_net",
//!   "feature_names": ["age", "sex", …],
//!   "targets": 1,
//!   "standardization": { "mean": […], "scale": […] },   // optional
//!   "model": { "coefficients": [w₀, w₁, …], "intercept": b } }
//! ```
//!
//! Both kinds predict the same way; `kind` only records how the weights were fitted.
//! When `standardization` is present, the weights apply to `(x - mean) / scale`.
//! Only single-target models exist, so `targets` is always 1. This module owns the
//! layout, its validation and the arithmetic of a prediction; it knows nothing of
//! requests.

use ndarray::{Array1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::envelope::{check_version, Standardization, ENVELOPE_VERSION};
use crate::runtime::{
    check_rows, reconcile_signature, NamePolicy, Prediction, Predictor, Rows, RuntimeError,
    LINFA_LINEAR,
};
use crate::signature::{DataType, Feature, Signature};

/// How the weights were fitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearKind {
    /// Ordinary least squares (linfa-linear).
    Ols,
    /// Least squares with an L1 + L2 penalty (linfa-elasticnet).
    ElasticNet,
}

/// The fitted weights: one coefficient per feature and the intercept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearModel {
    pub coefficients: Vec<f64>,
    pub intercept: f64,
}

/// A validated `linfa-linear` artifact.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearEnvelope {
    kind: LinearKind,
    feature_names: Vec<String>,
    standardization: Option<Standardization>,
    model: LinearModel,
}

/// The envelope as it is on the wire.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEnvelope {
    capstan_envelope: u32,
    kind: LinearKind,
    feature_names: Vec<String>,
    targets: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    standardization: Option<Standardization>,
    model: LinearModel,
}

fn invalid(reason: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::invalid_artifact(LINFA_LINEAR, reason)
}

impl LinearEnvelope {
    /// Wraps fitted weights, checking that they agree with the feature names and
    /// standardisation and are finite.
    pub fn new(
        kind: LinearKind,
        model: LinearModel,
        feature_names: Vec<String>,
        standardization: Option<Standardization>,
    ) -> Result<Self, RuntimeError> {
        let envelope = LinearEnvelope {
            kind,
            feature_names,
            standardization,
            model,
        };
        envelope.check()?;
        Ok(envelope)
    }

    /// Parses and validates an artifact.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RuntimeError> {
        let wire: WireEnvelope = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("not a Capstan linfa-linear envelope: {e}")))?;
        check_version(wire.capstan_envelope, LINFA_LINEAR)?;
        if wire.targets != 1 {
            return Err(invalid(format!(
                "`targets` is {}; only single-target models (1) are served",
                wire.targets
            )));
        }
        Self::new(
            wire.kind,
            wire.model,
            wire.feature_names,
            wire.standardization,
        )
    }

    /// Serialises the artifact (compact JSON; floats round-trip exactly).
    pub fn to_bytes(&self) -> Result<Vec<u8>, RuntimeError> {
        let wire = WireEnvelope {
            capstan_envelope: ENVELOPE_VERSION,
            kind: self.kind,
            feature_names: self.feature_names.clone(),
            targets: 1,
            standardization: self.standardization.clone(),
            model: self.model.clone(),
        };
        serde_json::to_vec(&wire).map_err(invalid)
    }

    pub fn kind(&self) -> LinearKind {
        self.kind
    }

    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    pub fn model(&self) -> &LinearModel {
        &self.model
    }

    pub fn standardization(&self) -> Option<&Standardization> {
        self.standardization.as_ref()
    }

    /// The signature this artifact implies: its feature names (float64) and one target.
    pub fn signature(&self) -> Signature {
        Signature {
            inputs: self
                .feature_names
                .iter()
                .map(|name| Feature::new(name.clone(), DataType::Float64))
                .collect(),
            input_tensor: None,
            classes: None,
            targets: Some(1),
        }
    }

    /// The predicted value of each raw (unstandardised) row; `rows` must have one column
    /// per feature.
    pub fn predict_values(&self, rows: ArrayView2<f64>) -> Array1<f64> {
        let coefficients = Array1::from(self.model.coefficients.clone());
        let dot = match &self.standardization {
            Some(standardization) => standardization.apply(rows).dot(&coefficients),
            None => rows.dot(&coefficients),
        };
        dot + self.model.intercept
    }

    fn check(&self) -> Result<(), RuntimeError> {
        self.signature().validate().map_err(invalid)?;
        let features = self.feature_names.len();
        let coefficients = self.model.coefficients.len();
        if coefficients != features {
            return Err(invalid(format!(
                "the model has {coefficients} coefficients for {features} features"
            )));
        }
        let weights = self
            .model
            .coefficients
            .iter()
            .chain([&self.model.intercept]);
        if !weights.into_iter().all(|w| w.is_finite()) {
            return Err(invalid(
                "the coefficients contain a value that is not finite",
            ));
        }
        if let Some(problem) = self
            .standardization
            .as_ref()
            .and_then(|standardization| standardization.problem(features))
        {
            return Err(invalid(problem));
        }
        Ok(())
    }
}

/// Serves a `linfa-linear` artifact.
#[derive(Debug)]
pub struct LinearPredictor {
    envelope: LinearEnvelope,
    signature: Signature,
}

impl LinearPredictor {
    /// Loads an artifact; a declared signature must list the envelope's feature names in
    /// the same order and, if it declares targets, one target.
    pub fn from_bytes(bytes: &[u8], declared: Option<&Signature>) -> Result<Self, RuntimeError> {
        let envelope = LinearEnvelope::from_bytes(bytes)?;
        let signature =
            reconcile_signature(envelope.signature(), declared, NamePolicy::ArtifactNames)?;
        Ok(LinearPredictor {
            envelope,
            signature,
        })
    }

    pub fn envelope(&self) -> &LinearEnvelope {
        &self.envelope
    }
}

impl Predictor for LinearPredictor {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn predict(&self, rows: &Rows<'_>) -> Result<Prediction, RuntimeError> {
        check_rows(rows, &self.signature)?;
        let values = self.envelope.predict_values(rows.numbers());
        Prediction::from_values(values.insert_axis(Axis(1)), 1)
    }
}

/// The signature of a `linfa-linear` artifact: its feature names and one target.
pub fn derive_signature(bytes: &[u8]) -> Result<Signature, RuntimeError> {
    Ok(LinearEnvelope::from_bytes(bytes)?.signature())
}
