//! `Signature`: the named, typed input features a model expects (in column order) and
//! what it predicts: class labels for a classifier, a number of targets for a regressor.
//! Stored with each version; the runtime checks prediction input against it.

use serde::{Deserialize, Serialize};

/// Largest number of input features a signature may declare.
pub const MAX_FEATURES: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Input features, in the column order the model expects.
    pub inputs: Vec<Feature>,
    /// Name of the model's input tensor (an ONNX graph input), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tensor: Option<String>,
    /// Class labels in class order, for classifiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<ClassLabel>>,
    /// For regressors: how many numbers the model predicts per row (1, or one per target
    /// of a multi-target model). A signature has `classes` or `targets`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100_000))]
    pub targets: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Feature {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub name: String,
    #[serde(default)]
    pub dtype: DataType,
    /// Whether the feature may be missing (JSON `null`, an empty CSV field): the model
    /// imputes it (an ONNX `Imputer`) or routes it down its trees. Numeric features only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nullable: bool,
}

impl Feature {
    /// A required feature of type `dtype`.
    pub fn new(name: impl Into<String>, dtype: DataType) -> Self {
        Feature {
            name: name.into(),
            dtype,
            nullable: false,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    #[default]
    Float64,
    Float32,
    /// A whole number (a category code, a count); exact up to ±2^53.
    Int64,
    /// Text (a category such as a city name).
    String,
}

impl DataType {
    /// Whether values of this type are numbers.
    pub fn is_numeric(self) -> bool {
        !matches!(self, DataType::String)
    }

    /// Whether values of this type are floating-point numbers.
    pub fn is_float(self) -> bool {
        matches!(self, DataType::Float64 | DataType::Float32)
    }
}

/// A class label: an integer (`0`, `1`) or a string (`"malignant"`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum ClassLabel {
    Int(i64),
    Text(String),
}

impl std::fmt::Display for ClassLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClassLabel::Int(n) => write!(f, "{n}"),
            ClassLabel::Text(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("a signature needs at least one input feature")]
    NoInputs,
    #[error("a signature may declare at most {MAX_FEATURES} input features")]
    TooManyInputs,
    #[error("input feature {index} has an empty or over-long name (1–256 characters)")]
    BadName { index: usize },
    #[error("input feature name {0:?} appears more than once")]
    Duplicate(String),
    #[error("input feature {0:?} is a string and cannot be nullable")]
    NullableString(String),
    #[error("a signature has `classes` (a classifier) or `targets` (a regressor), not both")]
    ClassesAndTargets,
    #[error("`targets` must be between 1 and {MAX_FEATURES}")]
    BadTargets,
}

impl Signature {
    /// Checks the rules a stored signature must satisfy.
    pub fn validate(&self) -> Result<(), SignatureError> {
        if self.inputs.is_empty() {
            return Err(SignatureError::NoInputs);
        }
        if self.inputs.len() > MAX_FEATURES {
            return Err(SignatureError::TooManyInputs);
        }
        let mut seen = std::collections::HashSet::with_capacity(self.inputs.len());
        for (index, feature) in self.inputs.iter().enumerate() {
            if feature.name.is_empty() || feature.name.chars().count() > 256 {
                return Err(SignatureError::BadName { index });
            }
            if !seen.insert(feature.name.as_str()) {
                return Err(SignatureError::Duplicate(feature.name.clone()));
            }
            if feature.nullable && !feature.dtype.is_numeric() {
                return Err(SignatureError::NullableString(feature.name.clone()));
            }
        }
        match (&self.classes, self.targets) {
            (Some(_), Some(_)) => Err(SignatureError::ClassesAndTargets),
            (_, Some(targets)) if targets == 0 || targets > MAX_FEATURES => {
                Err(SignatureError::BadTargets)
            }
            _ => Ok(()),
        }
    }

    pub fn feature_names(&self) -> impl Iterator<Item = &str> {
        self.inputs.iter().map(|f| f.name.as_str())
    }

    /// Whether every feature is a number that must be present: what a plain
    /// `rows × features` matrix of `f64` can carry.
    pub fn is_numeric(&self) -> bool {
        self.inputs
            .iter()
            .all(|f| f.dtype.is_numeric() && !f.nullable)
    }
}
