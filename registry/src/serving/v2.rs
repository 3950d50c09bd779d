//! The Open Inference Protocol (KServe V2) over the served refs: which model a V2 route
//! names, its metadata, and `infer` — a JSON request, optionally followed by the binary
//! tensor extension's bytes. Answers are always JSON. The routes are in
//! `api/open_inference.rs`.

mod tensors;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::Stream;
use serde_json::Value;

use capstan_client::inference::{
    V2InferRequest, V2InferResponse, V2ModelMetadata, V2Tensor, V2TensorMetadata,
};
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
        result
    }
}

fn datatype_of(dtype: DataType) -> &'static str {
    match dtype {
        DataType::Float64 => "FP64",
        DataType::Float32 => "FP32",
    }
}

fn label_datatype(classes: &[ClassLabel]) -> &'static str {
    if classes.iter().all(|c| matches!(c, ClassLabel::Int(_))) {
        "INT64"
    } else {
        "BYTES"
    }
}

/// A model's V2 metadata: one input tensor `[-1, features]`, outputs `label` and
/// `probabilities`.
pub fn metadata(model: &LoadedModel) -> V2ModelMetadata {
    let signature = model.predictor.signature();
    let classes = model.predictor.classes();
    let dtype = signature
        .inputs
        .first()
        .map_or(DataType::Float64, |f| f.dtype);
    V2ModelMetadata {
        name: model.name.to_string(),
        versions: vec![model.version.to_string()],
        platform: format!("capstan-{}", model.format),
        inputs: vec![V2TensorMetadata {
            name: signature
                .input_tensor
                .clone()
                .unwrap_or_else(|| "input".to_owned()),
            datatype: datatype_of(dtype).to_owned(),
            shape: vec![-1, signature.inputs.len() as i64],
        }],
        outputs: vec![
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
        ],
    }
}

async fn infer_with<S, E>(
    model: &Arc<LoadedModel>,
    body: S,
    json_length: Option<&[u8]>,
) -> Result<V2InferResponse, ServeError>
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
    let request_body: V2InferRequest = serde_json::from_slice(json_part)
        .map_err(|e| ServeError::BadInput(format!("the infer request is not valid JSON: {e}")))?;
    let signature = model.predictor.signature();
    let rows = rows_from_inputs(&request_body.inputs, binary, signature)?;
    let n_rows = rows.nrows();
    let prediction = run_prediction(model, rows).await?;
    let classes = model.predictor.classes();
    let all_outputs = [
        V2Tensor {
            name: LABEL_OUTPUT.to_owned(),
            shape: vec![n_rows as i64],
            datatype: label_datatype(classes).to_owned(),
            parameters: None,
            data: Some(serde_json::to_value(&prediction.predictions).unwrap_or(Value::Null)),
        },
        V2Tensor {
            name: PROBABILITIES_OUTPUT.to_owned(),
            shape: vec![n_rows as i64, classes.len() as i64],
            datatype: "FP64".to_owned(),
            parameters: None,
            data: Some(Value::from(prediction.probabilities.concat())),
        },
    ];
    let outputs = match &request_body.outputs {
        None => all_outputs.to_vec(),
        Some(requested) => requested
            .iter()
            .map(|wanted| {
                all_outputs.iter().find(|o| o.name == wanted.name).cloned().ok_or_else(|| {
                    ServeError::BadInput(format!(
                        "unknown output {:?}: this model has `{LABEL_OUTPUT}` and `{PROBABILITIES_OUTPUT}`",
                        wanted.name
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(V2InferResponse {
        model_name: model.name.to_string(),
        model_version: model.version.to_string(),
        id: request_body.id,
        outputs,
    })
}
