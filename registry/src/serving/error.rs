//! Serving errors and their problem documents. V2 clients read an `error` member, so
//! [`ServeError::v2_response`] adds one beside the problem fields.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use capstan_client::problem::PROBLEM_CONTENT_TYPE;
use capstan_client::runtime::RuntimeError;

use crate::error::{problem, RegistryError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    NotServed(String),
    #[error("cannot reach the registry: {0}")]
    Upstream(String),
    #[error("the artifact of {model} version {version} does not match its digest {expected} (got {actual})")]
    DigestMismatch {
        model: String,
        version: i64,
        expected: String,
        actual: String,
    },
}

impl ServeError {
    pub fn problem(&self) -> capstan_client::Problem {
        match self {
            ServeError::Registry(error) => error.problem(),
            ServeError::Runtime(error) => {
                let (status, code) = match error {
                    RuntimeError::Input(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
                    RuntimeError::UnservableFormat { .. }
                    | RuntimeError::FeatureDisabled { .. } => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "unservable_format")
                    }
                    RuntimeError::InvalidArtifact { .. } | RuntimeError::SignatureMismatch(_) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_artifact")
                    }
                    RuntimeError::Inference(_) => {
                        (StatusCode::INTERNAL_SERVER_ERROR, "inference_failed")
                    }
                };
                problem(status, code, error.to_string())
            }
            ServeError::BadInput(detail) => {
                problem(StatusCode::BAD_REQUEST, "invalid_input", detail.clone())
            }
            ServeError::NotServed(detail) => {
                problem(StatusCode::NOT_FOUND, "model_not_served", detail.clone())
            }
            ServeError::Upstream(detail) => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "registry_unavailable",
                detail.clone(),
            ),
            ServeError::DigestMismatch { .. } => {
                problem(StatusCode::BAD_GATEWAY, "digest_mismatch", self.to_string())
            }
        }
    }

    /// The problem document plus the `error` member the Open Inference Protocol specifies.
    pub fn v2_response(&self) -> HttpResponse {
        let problem = self.problem();
        let mut body = serde_json::to_value(&problem).unwrap_or_default();
        body["error"] = serde_json::Value::String(problem.detail.clone());
        HttpResponse::build(
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
        .insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE))
        .json(body)
    }
}

impl ResponseError for ServeError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let problem = self.problem();
        if problem.status >= 500 {
            tracing::error!(error = %self, "prediction failed");
        }
        crate::error::problem_response(&problem)
    }
}
