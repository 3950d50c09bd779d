//! Wire types of the prediction endpoints: Capstan's JSON `predict` protocol and the Open
//! Inference Protocol (KServe V2) JSON tensor format.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;
use crate::names::ModelName;
use crate::signature::ClassLabel;

/// `POST /api/v1/models/{name}/versions/{ref}/predict`: rows in signature order
/// (`instances`) or records by feature name (`inputs`); exactly one of the two.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(min_properties = 1, max_properties = 1))]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// Rows, each an array with one value per feature in signature order: a number, a
    /// string for a `string` feature, `null` for a missing value of a nullable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<f64>>, required = false, min_items = 1))]
    pub instances: Option<Vec<Value>>,
    /// Records, each an object mapping every feature name to its value (a nullable
    /// feature may be left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>, required = false, min_items = 1))]
    pub inputs: Option<Vec<Value>>,
}

/// The version that answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelIdentity {
    pub name: ModelName,
    pub version: i64,
    pub digest: Digest,
}

/// A prediction answer. A classifier's has `classes`, one label per row in
/// `predictions` and `probabilities`; a regressor's has only `predictions`: one number per
/// row, or one array of numbers per row for a model with several targets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PredictResponse {
    pub model: ModelIdentity,
    /// Class labels, in the order of each row's probabilities (classifiers only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassLabel>,
    /// Per row: the predicted label, or the predicted value(s).
    pub predictions: Predictions,
    /// Per row, one probability per class (in `classes` order; classifiers only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probabilities: Vec<Vec<f64>>,
}

/// What each row was predicted to be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Predictions {
    /// A classifier's labels.
    Labels(Vec<ClassLabel>),
    /// A single-target regressor's values.
    Values(Vec<f64>),
    /// A multi-target regressor's values: one array per row, one number per target.
    Targets(Vec<Vec<f64>>),
}

impl Predictions {
    /// How many rows were predicted.
    pub fn len(&self) -> usize {
        match self {
            Predictions::Labels(labels) => labels.len(),
            Predictions::Values(values) => values.len(),
            Predictions::Targets(rows) => rows.len(),
        }
    }

    /// Whether no row was predicted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An Open Inference Protocol tensor (request input or response output).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct V2Tensor {
    pub name: String,
    pub shape: Vec<i64>,
    /// `FP32`, `FP64`, `INT64`, `BYTES`, …
    pub datatype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub parameters: Option<Value>,
    /// The elements, row-major (nested arrays are accepted and flattened). Absent when
    /// the tensor travels in the binary extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub data: Option<Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct V2RequestedOutput {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub parameters: Option<Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct V2InferRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub parameters: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub inputs: Vec<V2Tensor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<V2RequestedOutput>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct V2InferResponse {
    pub model_name: String,
    pub model_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub outputs: Vec<V2Tensor>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct V2TensorMetadata {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct V2ModelMetadata {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: String,
    pub inputs: Vec<V2TensorMetadata>,
    pub outputs: Vec<V2TensorMetadata>,
}
