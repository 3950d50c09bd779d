//! `/v2/…`: the Open Inference Protocol (KServe V2) over HTTP/JSON — health, model
//! metadata and readiness, and `infer`. Existing V2 clients work unchanged: a body without
//! a `Content-Type` is read as JSON, the binary tensor extension is accepted on input
//! (`Inference-Header-Content-Length`), answers are always JSON (a client asking for
//! binary outputs reads JSON data just as well), and errors carry V2's `error` member
//! (every error here is wrapped by [`RegistryError::open_inference`]).

use std::sync::Arc;
use std::time::Instant;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::json;

use capstan_client::http::api::VERSION_HEADER;
use capstan_client::inference::{V2InferRequest, V2InferResponse, V2ModelMetadata};
use capstan_client::{ModelName, Problem};

use super::extract::{InferenceModelPath, InferenceVersionPath};
use crate::error::{RegistryError, RegistryResult};
use crate::serving::{v2, LoadedModel, Serving};

/// The model a V2 route names (`version` is the raw path segment).
async fn resolve(
    serving: &Serving,
    name: &ModelName,
    version: Option<&str>,
) -> RegistryResult<Arc<LoadedModel>> {
    let resolved = async {
        let version = version.map(v2::version_number).transpose()?;
        serving.v2_model(name, version.as_ref()).await
    };
    resolved.await.map_err(RegistryError::open_inference)
}

/// Server liveness.
#[utoipa::path(security(()), tag = "open-inference", path = "/v2/health/live", responses((status = 200, description = "Live")))]
#[get("/v2/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "live": true }))
}

/// Server readiness: every configured model is loaded (model server), or the registry answers.
#[utoipa::path(security(()), tag = "open-inference", path = "/v2/health/ready", responses((status = 200, description = "Ready"), (status = 503, description = "Not ready")))]
#[get("/v2/health/ready")]
pub async fn ready(serving: web::Data<Serving>) -> HttpResponse {
    if serving.v2_ready() {
        HttpResponse::Ok().json(json!({ "ready": true }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "ready": false, "error": "models are still loading", "failures": serving.refs.failures() }))
    }
}

/// Model metadata (the default version: production, else latest; or the served ref).
#[utoipa::path(security(("bearer" = ["reader"])), tag = "open-inference", path = "/v2/models/{name}", params(("name" = ModelName, Path, description = "Model name")), responses((status = 200, description = "Metadata", body = V2ModelMetadata), (status = 400, description = "Invalid name, version or tensors; the body has V2's `error`", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such model or version; the body has V2's `error`", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The version's format cannot be served", body = Problem, content_type = "application/problem+json")))]
#[get("/v2/models/{name}")]
pub async fn model_metadata(
    serving: web::Data<Serving>,
    path: web::Path<InferenceModelPath>,
) -> RegistryResult<HttpResponse> {
    let model = resolve(&serving, &path.name, None).await?;
    Ok(HttpResponse::Ok().json(v2::metadata(&model)))
}

/// Metadata of one version.
#[utoipa::path(security(("bearer" = ["reader"])), tag = "open-inference", path = "/v2/models/{name}/versions/{version}", params(("name" = ModelName, Path, description = "Model name"), ("version" = i64, Path, minimum = 1, description = "Version number")), responses((status = 200, description = "Metadata", body = V2ModelMetadata), (status = 400, description = "Invalid name, version or tensors; the body has V2's `error`", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such model or version; the body has V2's `error`", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The version's format cannot be served", body = Problem, content_type = "application/problem+json")))]
#[get("/v2/models/{name}/versions/{version}")]
pub async fn version_metadata(
    serving: web::Data<Serving>,
    path: web::Path<InferenceVersionPath>,
) -> RegistryResult<HttpResponse> {
    let InferenceVersionPath { name, version } = path.into_inner();
    let model = resolve(&serving, &name, Some(&version)).await?;
    Ok(HttpResponse::Ok().json(v2::metadata(&model)))
}

fn ready_body(model: &LoadedModel) -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({ "name": model.name, "version": model.version.to_string(), "ready": true }))
}

/// Model readiness.
#[utoipa::path(security(("bearer" = ["reader"])), tag = "open-inference", path = "/v2/models/{name}/ready", params(("name" = ModelName, Path, description = "Model name")), responses((status = 200, description = "Ready"), (status = 400, description = "Invalid name, version or tensors; the body has V2's `error`", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such model or version; the body has V2's `error`", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The version's format cannot be served", body = Problem, content_type = "application/problem+json")))]
#[get("/v2/models/{name}/ready")]
pub async fn model_ready(
    serving: web::Data<Serving>,
    path: web::Path<InferenceModelPath>,
) -> RegistryResult<HttpResponse> {
    let model = resolve(&serving, &path.name, None).await?;
    Ok(ready_body(&model))
}

/// Version readiness.
#[utoipa::path(security(("bearer" = ["reader"])), tag = "open-inference", path = "/v2/models/{name}/versions/{version}/ready", params(("name" = ModelName, Path, description = "Model name"), ("version" = i64, Path, minimum = 1, description = "Version number")), responses((status = 200, description = "Ready"), (status = 400, description = "Invalid name, version or tensors; the body has V2's `error`", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such model or version; the body has V2's `error`", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The version's format cannot be served", body = Problem, content_type = "application/problem+json")))]
#[get("/v2/models/{name}/versions/{version}/ready")]
pub async fn version_ready(
    serving: web::Data<Serving>,
    path: web::Path<InferenceVersionPath>,
) -> RegistryResult<HttpResponse> {
    let InferenceVersionPath { name, version } = path.into_inner();
    let model = resolve(&serving, &name, Some(&version)).await?;
    Ok(ready_body(&model))
}

/// Inference with the default version.
#[utoipa::path(security(("bearer" = ["reader"])), tag = "open-inference", path = "/v2/models/{name}/infer", params(("name" = ModelName, Path, description = "Model name")), request_body = V2InferRequest, responses((status = 200, description = "Outputs `label` and `probabilities`", body = V2InferResponse), (status = 400, description = "Bad tensors; body has `error`"), (status = 404, description = "No such model or version; the body has V2's `error`", body = Problem, content_type = "application/problem+json"), (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The version's format cannot be served", body = Problem, content_type = "application/problem+json")))]
#[post("/v2/models/{name}/infer")]
pub async fn infer(
    serving: web::Data<Serving>,
    path: web::Path<InferenceModelPath>,
    request: HttpRequest,
    payload: web::Payload,
) -> RegistryResult<HttpResponse> {
    let started = Instant::now();
    let model = resolve(&serving, &path.name, None).await?;
    infer_with(&serving, &model, &request, payload, started).await
}

/// Inference with one version.
#[utoipa::path(security(("bearer" = ["reader"])), tag = "open-inference", path = "/v2/models/{name}/versions/{version}/infer", params(("name" = ModelName, Path, description = "Model name"), ("version" = i64, Path, minimum = 1, description = "Version number")), request_body = V2InferRequest, responses((status = 200, description = "Outputs `label` and `probabilities`", body = V2InferResponse), (status = 400, description = "Bad tensors; body has `error`"), (status = 404, description = "No such model or version; the body has V2's `error`", body = Problem, content_type = "application/problem+json"), (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The version's format cannot be served", body = Problem, content_type = "application/problem+json")))]
#[post("/v2/models/{name}/versions/{version}/infer")]
pub async fn infer_version(
    serving: web::Data<Serving>,
    path: web::Path<InferenceVersionPath>,
    request: HttpRequest,
    payload: web::Payload,
) -> RegistryResult<HttpResponse> {
    let started = Instant::now();
    let InferenceVersionPath { name, version } = path.into_inner();
    let model = resolve(&serving, &name, Some(&version)).await?;
    infer_with(&serving, &model, &request, payload, started).await
}

async fn infer_with(
    serving: &Serving,
    model: &Arc<LoadedModel>,
    request: &HttpRequest,
    payload: web::Payload,
    started: Instant,
) -> RegistryResult<HttpResponse> {
    let json_length = request
        .headers()
        .get("Inference-Header-Content-Length")
        .map(|v| v.as_bytes());
    let response = serving
        .v2_infer(model, payload, json_length, started)
        .await
        .map_err(RegistryError::open_inference)?;
    Ok(HttpResponse::Ok()
        .insert_header((VERSION_HEADER, model.version.to_string()))
        .json(response))
}
