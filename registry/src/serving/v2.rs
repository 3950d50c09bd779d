//! The Open Inference Protocol (KServe V2) over the served refs: which model a V2 route
//! names, its metadata, and `infer` — a JSON request, optionally followed by the binary
//! tensor extension's bytes. An answer is an [`Inference`] with typed outputs: JSON for
//! HTTP (`api/open_inference.rs`), typed or raw contents for gRPC (`api/grpc`), without
//! a JSON value per element on the way.

mod tensors;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::Stream;
use serde_json::Value;

use capstan_client::inference::{
    V2InferRequest, V2InferResponse, V2ModelMetadata, V2Tensor, V2TensorMetadata,
};
use capstan_client::runtime::Prediction;
use capstan_client::{ClassLabel, DataType, ModelName, VersionRef};

use self::tensors::rows_from_inputs;
use super::predict::run_prediction;
use super::table::TableMode;
use super::{LoadedModel, ServeError, Serving};
use crate::service::read_limited;

/// Largest infer request body.
const MAX_INFER_BYTES: usize = 64 * 1024 * 1024;
const LABEL_OUTPUT: &str = "label";
const PROBABILITIES_OUTPUT: &str = "probabilities";
/// A regressor's output.
const VALUE_OUTPUT: &str = "value";
/// What skl2onnx names a regressor's output; a request may ask for it by that name.
const SKL2ONNX_VALUE_OUTPUT: &str = "variable";

/// An output tensor's elements as the model produced them.
#[derive(Debug, Clone)]
pub enum OutputData {
    Fp64(Vec<f64>),
    /// Class labels: `INT64` when every class is an integer, else `BYTES`.
    Labels(Vec<ClassLabel>),
}

/// A V2 output tensor before it is put on a wire.
#[derive(Debug, Clone)]
pub struct OutputTensor {
    pub name: String,
    /// `FP64`, `INT64` or `BYTES`.
    pub datatype: &'static str,
    pub shape: Vec<i64>,
    pub data: OutputData,
}

/// A V2 answer before it is put on a wire.
#[derive(Debug, Clone)]
pub struct Inference {
    pub model_name: String,
    pub model_version: String,
    pub id: Option<String>,
    pub outputs: Vec<OutputTensor>,
}

impl From<Inference> for V2InferResponse {
    fn from(inference: Inference) -> Self {
        let outputs = inference
            .outputs
            .into_iter()
            .map(|output| V2Tensor {
                name: output.name,
                shape: output.shape,
                datatype: output.datatype.to_owned(),
                parameters: None,
                data: Some(match output.data {
                    OutputData::Fp64(values) => Value::from(values),
                    OutputData::Labels(labels) => {
                        serde_json::to_value(labels).unwrap_or(Value::Null)
                    }
                }),
            })
            .collect();
        V2InferResponse {
            model_name: inference.model_name,
            model_version: inference.model_version,
            id: inference.id,
            outputs,
        }
    }
}

impl Serving {
    /// The model a V2 route names: `version`, or without one the default ref (the first
    /// configured ref on a model server; production, else latest, on the registry).
    pub async fn v2_model(
        &self,
        name: &ModelName,
        version: Option<&VersionRef>,
    ) -> Result<Arc<LoadedModel>, ServeError> {
        match version {
            Some(version) => self.route(name, version).await,
            None => {
                let main = self.refs.default_for(name).await?;
                // The default ref is the deployment's main ref when a split is set.
                match self.traffic.get() {
                    Some(split) if split.main.model == *name => {
                        self.route(name, &split.main.version).await
                    }
                    _ => Ok(main),
                }
            }
        }
    }

    /// Whether V2's server readiness holds: every configured model is loaded (model
    /// server), or always (the registry loads on first use).
    pub fn v2_ready(&self) -> bool {
        self.refs.mode() == TableMode::Lazy || self.refs.all_configured_loaded()
    }

    /// Runs an infer request on `model` and records it in the metrics (`started` is when
    /// the request arrived). `body` is the JSON request, followed by binary tensor data
    /// when `json_length` (the `Inference-Header-Content-Length` header) is given.
    pub async fn v2_infer<S, E>(
        &self,
        model: &Arc<LoadedModel>,
        body: S,
        json_length: Option<&[u8]>,
        started: Instant,
    ) -> Result<V2InferResponse, ServeError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let result = infer_with(model, body, json_length).await;
        self.metrics
            .observe(model, "v2", result.is_ok(), started.elapsed());
        result.map(V2InferResponse::from)
    }

    /// Runs a decoded infer request (another transport's: gRPC) on `model` and records it
    /// under `protocol`; `binary` as the binary extension's bytes.
    pub async fn v2_infer_decoded(
        &self,
        model: &Arc<LoadedModel>,
        request: V2InferRequest,
        binary: &[u8],
        protocol: &'static str,
        started: Instant,
    ) -> Result<Inference, ServeError> {
        let result = infer_parsed(model, request, binary).await;
        self.metrics
            .observe(model, protocol, result.is_ok(), started.elapsed());
        result
    }
}

/// A V2 model version: a version number (V2 names no stages or aliases).
pub fn version_number(raw: &str) -> Result<VersionRef, ServeError> {
    match VersionRef::parse(raw) {
        Ok(VersionRef::Number(n)) => Ok(VersionRef::Number(n)),
        _ => Err(ServeError::BadInput(format!(
            "model version {:?} must be a version number",
            raw.chars().take(64).collect::<String>()
        ))),
    }
}

fn datatype_of(dtype: DataType) -> &'static str {
    match dtype {
        DataType::Float64 => "FP64",
        DataType::Float32 => "FP32",
        DataType::Int64 => "INT64",
        DataType::String => "BYTES",
    }
}

fn label_datatype(classes: &[ClassLabel]) -> &'static str {
    if classes.iter().all(|c| matches!(c, ClassLabel::Int(_))) {
        "INT64"
    } else {
        "BYTES"
    }
}

/// A model's V2 metadata. Inputs: one `[-1, features]` tensor when every feature has
/// the same numeric type, else one `[-1, 1]` tensor per feature. Outputs: a classifier's
/// `label` and `probabilities`, or a regressor's `value` (`[-1]`, or `[-1, targets]`).
pub fn metadata(model: &LoadedModel) -> V2ModelMetadata {
    let signature = model.predictor.signature();
    let first = signature
        .inputs
        .first()
        .map_or(DataType::Float64, |f| f.dtype);
    let one_tensor = signature.is_numeric() && signature.inputs.iter().all(|f| f.dtype == first);
    let inputs = if one_tensor {
        vec![V2TensorMetadata {
            name: signature
                .input_tensor
                .clone()
                .unwrap_or_else(|| "input".to_owned()),
            datatype: datatype_of(first).to_owned(),
            shape: vec![-1, signature.inputs.len() as i64],
        }]
    } else {
        signature
            .inputs
            .iter()
            .map(|feature| V2TensorMetadata {
                name: feature.name.clone(),
                datatype: datatype_of(feature.dtype).to_owned(),
                shape: vec![-1, 1],
            })
            .collect()
    };
    V2ModelMetadata {
        name: model.name.to_string(),
        versions: vec![model.version.to_string()],
        platform: format!("capstan-{}", model.format),
        inputs,
        outputs: output_metadata(model),
    }
}

fn output_metadata(model: &LoadedModel) -> Vec<V2TensorMetadata> {
    if let Some(targets) = model.predictor.targets() {
        return vec![V2TensorMetadata {
            name: VALUE_OUTPUT.to_owned(),
            datatype: "FP64".to_owned(),
            shape: value_shape(-1, targets),
        }];
    }
    let classes = model.predictor.classes();
    vec![
        V2TensorMetadata {
            name: LABEL_OUTPUT.to_owned(),
            datatype: label_datatype(classes).to_owned(),
            shape: vec![-1],
        },
        V2TensorMetadata {
            name: PROBABILITIES_OUTPUT.to_owned(),
            datatype: "FP64".to_owned(),
            shape: vec![-1, classes.len() as i64],
        },
    ]
}

/// `[rows]` for one target, `[rows, targets]` for several.
fn value_shape(rows: i64, targets: usize) -> Vec<i64> {
    if targets == 1 {
        vec![rows]
    } else {
        vec![rows, targets as i64]
    }
}

/// Every output tensor of a prediction, by name.
fn output_tensors(model: &LoadedModel, prediction: Prediction) -> Vec<OutputTensor> {
    let n_rows = prediction.len() as i64;
    match prediction {
        Prediction::Values(values) => vec![OutputTensor {
            name: VALUE_OUTPUT.to_owned(),
            shape: value_shape(n_rows, values.values.ncols()),
            datatype: "FP64",
            data: OutputData::Fp64(values.values.iter().copied().collect()),
        }],
        Prediction::Classes(classes) => {
            let labels = model.predictor.classes();
            vec![
                OutputTensor {
                    name: LABEL_OUTPUT.to_owned(),
                    shape: vec![n_rows],
                    datatype: label_datatype(labels),
                    data: OutputData::Labels(classes.predictions),
                },
                OutputTensor {
                    name: PROBABILITIES_OUTPUT.to_owned(),
                    shape: vec![n_rows, labels.len() as i64],
                    datatype: "FP64",
                    data: OutputData::Fp64(classes.probabilities.concat()),
                },
            ]
        }
    }
}

async fn infer_with<S, E>(
    model: &Arc<LoadedModel>,
    body: S,
    json_length: Option<&[u8]>,
) -> Result<Inference, ServeError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let body = read_limited(body, MAX_INFER_BYTES).await?;
    let header_length = json_length
        .map(|v| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .filter(|n| *n <= body.len())
                .ok_or_else(|| {
                    ServeError::BadInput(
                        "Inference-Header-Content-Length is not a length within the body".into(),
                    )
                })
        })
        .transpose()?;
    let (json_part, binary) = body.split_at(header_length.unwrap_or(body.len()));
    let request: V2InferRequest = serde_json::from_slice(json_part)
        .map_err(|e| ServeError::BadInput(format!("the infer request is not valid JSON: {e}")))?;
    infer_parsed(model, request, binary).await
}

/// Runs a decoded infer request: `binary` holds the tensors whose `binary_data_size`
/// parameter says they travel outside the JSON, in the order of the inputs.
async fn infer_parsed(
    model: &Arc<LoadedModel>,
    request_body: V2InferRequest,
    binary: &[u8],
) -> Result<Inference, ServeError> {
    let signature = model.predictor.signature();
    let rows = rows_from_inputs(&request_body.inputs, binary, signature)?;
    let prediction = run_prediction(model, rows).await?;
    let all_outputs = output_tensors(model, prediction);
    let outputs = match &request_body.outputs {
        None => all_outputs,
        Some(requested) => requested
            .iter()
            .map(|wanted| {
                // A regressor's value also answers to skl2onnx's output name.
                let name = match wanted.name.as_str() {
                    SKL2ONNX_VALUE_OUTPUT => VALUE_OUTPUT,
                    other => other,
                };
                let mut tensor = all_outputs
                    .iter()
                    .find(|o| o.name == name)
                    .cloned()
                    .ok_or_else(|| {
                        let names: Vec<&str> =
                            all_outputs.iter().map(|o| o.name.as_str()).collect();
                        ServeError::BadInput(format!(
                            "unknown output {:?}: this model has {}",
                            wanted.name,
                            names.join(" and ")
                        ))
                    })?;
                tensor.name.clone_from(&wanted.name);
                Ok(tensor)
            })
            .collect::<Result<_, ServeError>>()?,
    };
    Ok(Inference {
        model_name: model.name.to_string(),
        model_version: model.version.to_string(),
        id: request_body.id,
        outputs,
    })
}
