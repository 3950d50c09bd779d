//! `Signature`: the named, typed input features a model expects (in column order) and,
//! for classifiers, its class labels. Stored with each version; the runtime checks
//! prediction input against it.

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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Feature {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub name: String,
    #[serde(default)]
    pub dtype: DataType,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    #[default]
    Float64,
    Float32,
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
        }
        Ok(())
    }

    pub fn feature_names(&self) -> impl Iterator<Item = &str> {
        self.inputs.iter().map(|f| f.name.as_str())
    }
}
