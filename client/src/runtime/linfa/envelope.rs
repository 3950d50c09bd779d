//! The `linfa-logistic` artifact: a small, versioned JSON envelope around a serde-serialised
//! linfa logistic regression.
//!
//! ```json
//! { "capstan_envelope": 1,
//!   "kind": "binary" | "multinomial",
//!   "feature_names": ["mean_radius", …],
//!   "classes": [0, 1],
//!   "standardization": { "mean": […], "scale": […] },   // optional
//!   "model": <FittedLogisticRegression<f64, usize> | MultiFittedLogisticRegression<f64, usize>> }
//! ```
//!
//! The linfa model's own class labels are indices into `classes` (so `classes` may hold
//! integers or strings). When `standardization` is present, the model was fitted on
//! `(x - mean) / scale` and predictions apply the same transform to raw rows. This module
//! owns the layout, its validation and the arithmetic of a prediction; it knows nothing
//! of requests.

use linfa_logistic::{FittedLogisticRegression, MultiFittedLogisticRegression};
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::runtime::{RuntimeError, LINFA_LOGISTIC};
use crate::signature::{ClassLabel, DataType, Feature, Signature};

/// The envelope version this build writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// A fitted linfa logistic regression whose class labels are indices into the envelope's
/// `classes`.
#[derive(Clone, Debug, PartialEq)]
pub enum LogisticModel {
    Binary(FittedLogisticRegression<f64, usize>),
    Multinomial(MultiFittedLogisticRegression<f64, usize>),
}

/// Per-feature standardisation baked into the artifact: the model sees
/// `(x - mean) / scale`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standardization {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

/// A validated `linfa-logistic` artifact.
#[derive(Clone, Debug, PartialEq)]
pub struct LogisticEnvelope {
    feature_names: Vec<String>,
    classes: Vec<ClassLabel>,
    standardization: Option<Standardization>,
    model: LogisticModel,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Binary,
    Multinomial,
}

/// The envelope as it is on the wire; `model` stays a JSON value until `kind` says what
/// it is.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEnvelope {
    capstan_envelope: u32,
    kind: Kind,
    feature_names: Vec<String>,
    classes: Vec<ClassLabel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    standardization: Option<Standardization>,
    model: serde_json::Value,
}

fn invalid(reason: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::invalid_artifact(LINFA_LOGISTIC, reason)
}

/// Refuses an envelope of another version than this build reads.
pub(super) fn check_version(version: u32, format: &str) -> Result<(), RuntimeError> {
    if version == ENVELOPE_VERSION {
        return Ok(());
    }
    Err(RuntimeError::invalid_artifact(
        format,
        format!(
            "envelope version {version} is not supported (this build reads {ENVELOPE_VERSION})"
        ),
    ))
}

impl LogisticEnvelope {
    /// Wraps a fitted model, checking that its shape agrees with the feature names,
    /// classes and standardisation.
    pub fn new(
        model: LogisticModel,
        feature_names: Vec<String>,
        classes: Vec<ClassLabel>,
        standardization: Option<Standardization>,
    ) -> Result<Self, RuntimeError> {
        let envelope = LogisticEnvelope {
            feature_names,
            classes,
            standardization,
            model,
        };
        envelope.check()?;
        Ok(envelope)
    }

    /// Parses and validates an artifact.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RuntimeError> {
        let wire: WireEnvelope = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("not a Capstan linfa envelope: {e}")))?;
        check_version(wire.capstan_envelope, LINFA_LOGISTIC)?;
        let model = match wire.kind {
            Kind::Binary => serde_json::from_value(wire.model).map(LogisticModel::Binary),
            Kind::Multinomial => serde_json::from_value(wire.model).map(LogisticModel::Multinomial),
        }
        .map_err(|e| invalid(format!("`model` is not a linfa logistic regression: {e}")))?;
        Self::new(
            model,
            wire.feature_names,
            wire.classes,
            wire.standardization,
        )
    }

    /// Serialises the artifact (compact JSON; floats round-trip exactly).
    pub fn to_bytes(&self) -> Result<Vec<u8>, RuntimeError> {
        let (kind, model) = match &self.model {
            LogisticModel::Binary(model) => (Kind::Binary, serde_json::to_value(model)),
            LogisticModel::Multinomial(model) => (Kind::Multinomial, serde_json::to_value(model)),
        };
        let wire = WireEnvelope {
            capstan_envelope: ENVELOPE_VERSION,
            kind,
            feature_names: self.feature_names.clone(),
            classes: self.classes.clone(),
            standardization: self.standardization.clone(),
            model: model.map_err(invalid)?,
        };
        serde_json::to_vec(&wire).map_err(invalid)
    }

    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    pub fn classes(&self) -> &[ClassLabel] {
        &self.classes
    }

    pub fn model(&self) -> &LogisticModel {
        &self.model
    }

    pub fn standardization(&self) -> Option<&Standardization> {
        self.standardization.as_ref()
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

    /// Class probabilities, one column per class in `classes` order, for raw
    /// (unstandardised) rows. `rows` must have one column per feature.
    pub fn predict_probabilities(&self, rows: ArrayView2<f64>) -> Array2<f64> {
        match &self.standardization {
            Some(standardization) => {
                self.probabilities_of_model_inputs(standardization.apply(rows).view())
            }
            None => self.probabilities_of_model_inputs(rows),
        }
    }

    fn probabilities_of_model_inputs(&self, rows: ArrayView2<f64>) -> Array2<f64> {
        match &self.model {
            LogisticModel::Multinomial(model) => model.predict_probabilities(&rows),
            LogisticModel::Binary(model) => {
                // linfa reports P(labels.pos); its positive class is whichever label it
                // chose while fitting, not necessarily the larger one.
                let positive = model.labels().pos.class;
                let p_positive = model.predict_probabilities(&rows);
                let mut probabilities = Array2::zeros((rows.nrows(), 2));
                for (mut out, p) in probabilities.axis_iter_mut(Axis(0)).zip(p_positive) {
                    out[positive] = p;
                    out[1 - positive] = 1.0 - p;
                }
                probabilities
            }
        }
    }

    fn check(&self) -> Result<(), RuntimeError> {
        self.signature().validate().map_err(invalid)?;
        check_classes(&self.classes)?;
        let features = self.feature_names.len();
        match &self.model {
            LogisticModel::Binary(model) => check_binary(model, features, self.classes.len())?,
            LogisticModel::Multinomial(model) => {
                check_multinomial(model, features, self.classes.len())?
            }
        }
        if let Some(standardization) = &self.standardization {
            standardization.check(features)?;
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

fn check_binary(
    model: &FittedLogisticRegression<f64, usize>,
    features: usize,
    classes: usize,
) -> Result<(), RuntimeError> {
    if classes != 2 {
        return Err(invalid(format!(
            "a binary model needs exactly 2 classes, the envelope lists {classes}"
        )));
    }
    let labels = model.labels();
    let mut indices = [labels.pos.class, labels.neg.class];
    indices.sort_unstable();
    if indices != [0, 1] {
        return Err(invalid(
            "a binary model's labels must be the class indices 0 and 1",
        ));
    }
    check_len("coefficients", model.params().len(), features)?;
    check_finite(
        "coefficients",
        model.params().iter().chain([&model.intercept()]),
    )
}

fn check_multinomial(
    model: &MultiFittedLogisticRegression<f64, usize>,
    features: usize,
    classes: usize,
) -> Result<(), RuntimeError> {
    let expected: Vec<usize> = (0..classes).collect();
    if model.classes() != expected.as_slice() {
        return Err(invalid(format!(
            "a multinomial model's labels must be the class indices 0..{classes}"
        )));
    }
    if model.params().dim() != (features, classes) {
        return Err(invalid(format!(
            "coefficients have shape {:?}, expected ({features}, {classes})",
            model.params().dim()
        )));
    }
    check_len("intercepts", model.intercept().len(), classes)?;
    check_finite(
        "coefficients",
        model.params().iter().chain(model.intercept()),
    )
}

impl Standardization {
    /// `(rows - mean) / scale`, column by column.
    pub fn apply(&self, rows: ArrayView2<f64>) -> Array2<f64> {
        let mut scaled = rows.to_owned();
        for mut row in scaled.axis_iter_mut(Axis(0)) {
            for ((x, mean), scale) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *x = (*x - mean) / scale;
            }
        }
        scaled
    }

    fn check(&self, features: usize) -> Result<(), RuntimeError> {
        self.problem(features)
            .map_or(Ok(()), |reason| Err(invalid(reason)))
    }

    /// What is wrong with this standardisation for a model of `features` features, if
    /// anything (shared by the linfa envelopes, each naming its own format).
    pub(crate) fn problem(&self, features: usize) -> Option<String> {
        if self.mean.len() != features || self.scale.len() != features {
            return Some(format!(
                "standardization has {} means and {} scales for {features} features",
                self.mean.len(),
                self.scale.len()
            ));
        }
        if !self.mean.iter().chain(&self.scale).all(|x| x.is_finite()) {
            return Some("standardization contains a value that is not finite".into());
        }
        if self.scale.contains(&0.0) {
            return Some("standardization.scale contains a zero".into());
        }
        None
    }
}

fn check_len(what: &str, actual: usize, expected: usize) -> Result<(), RuntimeError> {
    if actual == expected {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} has {actual} entries, expected {expected} (one per feature or class)"
        )))
    }
}

fn check_finite<'a>(
    what: &str,
    mut values: impl Iterator<Item = &'a f64>,
) -> Result<(), RuntimeError> {
    if values.all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} contain a value that is not finite"
        )))
    }
}
