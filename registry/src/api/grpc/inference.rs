//! The handlers of `inference.GRPCInferenceService`: the HTTP V2 routes' answers over
//! gRPC. Liveness, readiness and server metadata are open; a model's readiness, metadata
//! and inference need what the HTTP routes need (with tokens required, `authorization:
//! Bearer <token>` metadata from a caller who may see the model). Errors are the HTTP
//! problem's detail (naming the row and field) under the matching gRPC status code.

use std::sync::Arc;
use std::time::Instant;

use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status};

use capstan_client::ModelName;

use super::proto::grpc_inference_service_server::GrpcInferenceService;
use super::proto::model_metadata_response::TensorMetadata;
use super::proto::{
    ModelInferRequest, ModelInferResponse, ModelMetadataRequest, ModelMetadataResponse,
    ModelReadyRequest, ModelReadyResponse, ServerLiveRequest, ServerLiveResponse,
    ServerMetadataRequest, ServerMetadataResponse, ServerReadyRequest, ServerReadyResponse,
};
use super::tensors::{v2_request, wire_response};
use crate::api::prediction_gate::PredictionGate;
use crate::error::RegistryError;
use crate::serving::{v2, LoadedModel, Serving};

pub struct InferenceService {
    serving: Serving,
    gate: PredictionGate,
}

impl InferenceService {
    pub fn new(serving: Serving, gate: PredictionGate) -> Self {
        Self { serving, gate }
    }

    /// The model a call names (an empty version: the default one), once its caller is let in.
    async fn model(
        &self,
        metadata: &MetadataMap,
        name: &str,
        version: &str,
    ) -> Result<Arc<LoadedModel>, Status> {
        let authorization = metadata
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        self.gate
            .admit(authorization, name)
            .await
            .map_err(status_of)?;
        let name = ModelName::parse(name)
            .map_err(|e| Status::invalid_argument(format!("model name {:?}: {e}", clip(name))))?;
        let version = match version {
            "" => None,
            raw => Some(v2::version_number(raw).map_err(status_of)?),
        };
        self.serving
            .v2_model(&name, version.as_ref())
            .await
            .map_err(status_of)
    }
}

#[tonic::async_trait]
impl GrpcInferenceService for InferenceService {
    async fn server_live(
        &self,
        _: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        Ok(Response::new(ServerReadyResponse {
            ready: self.serving.v2_ready(),
        }))
    }

    /// Not served or not loaded is `ready: false`; a bad name or a refused caller is an error.
    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        let ready = match self.model(&metadata, &request.name, &request.version).await {
            Ok(_) => true,
            Err(status) if matches!(status.code(), Code::NotFound | Code::Unavailable) => false,
            Err(status) => return Err(status),
        };
        Ok(Response::new(ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        Ok(Response::new(ServerMetadataResponse {
            name: "capstan".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            extensions: Vec::new(),
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        let model = self
            .model(&metadata, &request.name, &request.version)
            .await?;
        let described = v2::metadata(&model);
        let tensors = |tensors: Vec<capstan_client::inference::V2TensorMetadata>| {
            tensors
                .into_iter()
                .map(|t| TensorMetadata {
                    name: t.name,
                    datatype: t.datatype,
                    shape: t.shape,
                })
                .collect()
        };
        Ok(Response::new(ModelMetadataResponse {
            name: described.name,
            versions: described.versions,
            platform: described.platform,
            inputs: tensors(described.inputs),
            outputs: tensors(described.outputs),
        }))
    }

    /// Typed contents in, typed contents out; raw contents in, raw contents out (what
    /// Triton's clients read).
    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let started = Instant::now();
        let (metadata, _, request) = request.into_parts();
        let model = self
            .model(&metadata, &request.model_name, &request.model_version)
            .await?;
        let raw = !request.raw_input_contents.is_empty();
        let (decoded, binary) = v2_request(request).map_err(status_of)?;
        let answer = self
            .serving
            .v2_infer_decoded(&model, decoded, &binary, "grpc", started)
            .await
            .map_err(status_of)?;
        Ok(Response::new(wire_response(answer, raw)))
    }
}

/// The gRPC status of an error: its problem's detail under the code matching its HTTP
/// status.
pub(super) fn status_of(error: impl Into<RegistryError>) -> Status {
    let error = error.into();
    let problem = error.problem();
    let code = match problem.status {
        400 | 405 | 415 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::Aborted,
        413 | 429 | 507 => Code::ResourceExhausted,
        422 => Code::FailedPrecondition,
        502..=504 => Code::Unavailable,
        _ => Code::Internal,
    };
    if problem.status >= 500 {
        tracing::error!(%error, code = %problem.code, "gRPC call failed");
    }
    Status::new(code, problem.detail)
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}
