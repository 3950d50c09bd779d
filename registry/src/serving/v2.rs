//! The Open Inference Protocol (KServe V2) over HTTP/JSON: health, model metadata and
//! readiness, and `infer`. Existing V2 clients work unchanged: a body without a
//! `Content-Type` is read as JSON, the binary tensor extension is accepted on input
//! (`Inference-Header-Content-Length`), answers are always JSON (a client asking for
//! binary outputs reads JSON data just as well), and errors carry V2's `error` member.

mod tensors;

use std::sync::Arc;
use std::time::Instant;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use capstan_client::inference::{
    V2InferRequest, V2InferResponse, V2ModelMetadata, V2Tensor, V2TensorMetadata,
};
use capstan_client::{ClassLabel, DataType, ModelName, VersionRef};

use self::tensors::rows_from_inputs;
use super::predict::run_prediction;
use super::table::TableMode;
use super::{LoadedModel, ServeError, Serving};
use crate::api::extract::read_limited;
use crate::error::RegistryError;

/// Largest infer request body.
const MAX_INFER_BYTES: usize = 64 * 1024 * 1024;
const LABEL_OUTPUT: &str = "label";
const PROBABILITIES_OUTPUT: &str = "probabilities";

fn v2_result(result: Result<HttpResponse, ServeError>) -> HttpResponse {
    result.unwrap_or_else(|error| error.v2_response())
}

fn version_number(raw: &str) -> Result<VersionRef, ServeError> {
    match VersionRef::parse(raw) {
        Ok(VersionRef::Number(n)) => Ok(VersionRef::Number(n)),
        _ => Err(ServeError::BadInput(format!(
            "model version {:?} must be a version number",
            raw.chars().take(64).collect::<String>()
        ))),
    }
}

async fn resolve(
    serving: &Serving,
    name: &str,
    version: Option<&str>,
) -> Result<Arc<LoadedModel>, ServeError> {
    let name = ModelName::parse(name)
        .map_err(|e| RegistryError::bad_request("invalid_name", e.to_string()))?;
    match version {
        Some(raw) => serving.refs.get(&name, &version_number(raw)?).await,
        None => serving.refs.default_for(&name).await,
    }
}

/// Server liveness.
#[utoipa::path(tag = "open-inference", path = "/v2/health/live", responses((status = 200, description = "Live")))]
#[get("/v2/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "live": true }))
}

/// Server readiness: every configured model is loaded (model server), or the registry answers.
#[utoipa::path(tag = "open-inference", path = "/v2/health/ready", responses((status = 200, description = "Ready"), (status = 503, description = "Not ready")))]
#[get("/v2/health/ready")]
pub async fn ready(serving: web::Data<Serving>) -> HttpResponse {
    let ready = serving.refs.mode() == TableMode::Lazy || serving.refs.all_configured_loaded();
    if ready {
        HttpResponse::Ok().json(json!({ "ready": true }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "ready": false, "error": "models are still loading", "failures": serving.refs.failures() }))
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

fn metadata(model: &LoadedModel) -> V2ModelMetadata {
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

/// Model metadata (the default version: production, else latest; or the served ref).
#[utoipa::path(tag = "open-inference", path = "/v2/models/{name}", params(("name" = String, Path, description = "Model name")), responses((status = 200, description = "Metadata", body = V2ModelMetadata)))]
#[get("/v2/models/{name}")]
pub async fn model_metadata(serving: web::Data<Serving>, path: web::Path<String>) -> HttpResponse {
    v2_result(
        resolve(&serving, &path, None)
            .await
            .map(|m| HttpResponse::Ok().json(metadata(&m))),
    )
}

/// Metadata of one version.
#[utoipa::path(tag = "open-inference", path = "/v2/models/{name}/versions/{version}", params(("name" = String, Path, description = "Model name"), ("version" = i64, Path, description = "Version number")), responses((status = 200, description = "Metadata", body = V2ModelMetadata)))]
#[get("/v2/models/{name}/versions/{version}")]
pub async fn version_metadata(
    serving: web::Data<Serving>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (name, version) = path.into_inner();
    v2_result(
        resolve(&serving, &name, Some(&version))
            .await
            .map(|m| HttpResponse::Ok().json(metadata(&m))),
    )
}

fn ready_body(model: &LoadedModel) -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({ "name": model.name, "version": model.version.to_string(), "ready": true }))
}

/// Model readiness.
#[utoipa::path(tag = "open-inference", path = "/v2/models/{name}/ready", params(("name" = String, Path, description = "Model name")), responses((status = 200, description = "Ready")))]
#[get("/v2/models/{name}/ready")]
pub async fn model_ready(serving: web::Data<Serving>, path: web::Path<String>) -> HttpResponse {
    v2_result(resolve(&serving, &path, None).await.map(|m| ready_body(&m)))
}

/// Version readiness.
#[utoipa::path(tag = "open-inference", path = "/v2/models/{name}/versions/{version}/ready", params(("name" = String, Path, description = "Model name"), ("version" = i64, Path, description = "Version number")), responses((status = 200, description = "Ready")))]
#[get("/v2/models/{name}/versions/{version}/ready")]
pub async fn version_ready(
    serving: web::Data<Serving>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (name, version) = path.into_inner();
    v2_result(
        resolve(&serving, &name, Some(&version))
            .await
            .map(|m| ready_body(&m)),
    )
}

/// Inference with the default version.
#[utoipa::path(tag = "open-inference", path = "/v2/models/{name}/infer", params(("name" = String, Path, description = "Model name")), request_body = V2InferRequest, responses((status = 200, description = "Outputs `label` and `probabilities`", body = V2InferResponse), (status = 400, description = "Bad tensors; body has `error`")))]
#[post("/v2/models/{name}/infer")]
pub async fn infer(
    serving: web::Data<Serving>,
    path: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let started = Instant::now();
    let outcome = async {
        let model = resolve(&serving, &path, None).await?;
        Ok::<_, ServeError>((infer_with(&model, &request, payload).await, model))
    }
    .await;
    respond(&serving, outcome, started)
}

/// Inference with one version.
#[utoipa::path(tag = "open-inference", path = "/v2/models/{name}/versions/{version}/infer", params(("name" = String, Path, description = "Model name"), ("version" = i64, Path, description = "Version number")), request_body = V2InferRequest, responses((status = 200, description = "Outputs `label` and `probabilities`", body = V2InferResponse), (status = 400, description = "Bad tensors; body has `error`")))]
#[post("/v2/models/{name}/versions/{version}/infer")]
pub async fn infer_version(
    serving: web::Data<Serving>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let started = Instant::now();
    let (name, version) = path.into_inner();
    let outcome = async {
        let model = resolve(&serving, &name, Some(&version)).await?;
        Ok::<_, ServeError>((infer_with(&model, &request, payload).await, model))
    }
    .await;
    respond(&serving, outcome, started)
}

fn respond(
    serving: &Serving,
    outcome: Result<(Result<V2InferResponse, ServeError>, Arc<LoadedModel>), ServeError>,
    started: Instant,
) -> HttpResponse {
    match outcome {
        Err(error) => error.v2_response(),
        Ok((result, model)) => {
            serving
                .metrics
                .observe(&model, "v2", result.is_ok(), started.elapsed());
            match result {
                Ok(response) => HttpResponse::Ok()
                    .insert_header(("X-Capstan-Model-Version", model.version.to_string()))
                    .json(response),
                Err(error) => error.v2_response(),
            }
        }
    }
}

async fn infer_with(
    model: &Arc<LoadedModel>,
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<V2InferResponse, ServeError> {
    let body = read_limited(payload, MAX_INFER_BYTES).await?;
    let header_length = request
        .headers()
        .get("Inference-Header-Content-Length")
        .map(|v| {
            v.to_str()
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
