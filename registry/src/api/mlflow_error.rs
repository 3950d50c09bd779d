//! Errors of the MLflow-compatible routes in MLflow's shape: `{"error_code", "message"}`
//! with the status MLflow gives each code, mapped from the registry's own error.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error::RegistryError;

/// A registry error answered the way an MLflow server answers.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MlflowError(pub RegistryError);

pub type MlflowResult<T> = Result<T, MlflowError>;

#[derive(Serialize)]
struct Body<'a> {
    error_code: &'a str,
    message: String,
}

impl MlflowError {
    /// MLflow's code (and its status) for the registry's answer.
    fn code(&self) -> (&'static str, StatusCode) {
        let problem = self.0.problem();
        match problem.status {
            404 => ("RESOURCE_DOES_NOT_EXIST", StatusCode::NOT_FOUND),
            409 if problem.code.ends_with("_exists") => {
                ("RESOURCE_ALREADY_EXISTS", StatusCode::BAD_REQUEST)
            }
            409 => ("RESOURCE_CONFLICT", StatusCode::CONFLICT),
            401 => ("UNAUTHENTICATED", StatusCode::UNAUTHORIZED),
            403 => ("PERMISSION_DENIED", StatusCode::FORBIDDEN),
            413 => ("INVALID_PARAMETER_VALUE", StatusCode::PAYLOAD_TOO_LARGE),
            400..=499 => ("INVALID_PARAMETER_VALUE", StatusCode::BAD_REQUEST),
            503 => ("TEMPORARILY_UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE),
            _ => ("INTERNAL_ERROR", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl ResponseError for MlflowError {
    fn status_code(&self) -> StatusCode {
        self.code().1
    }

    fn error_response(&self) -> HttpResponse {
        let (error_code, status) = self.code();
        if status.is_server_error() {
            tracing::error!(error = %self.0, "MLflow request failed");
        }
        HttpResponse::build(status).json(Body {
            error_code,
            message: self.0.to_string(),
        })
    }
}
