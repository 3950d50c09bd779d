//! MLflow's error shape: `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "…"}` with
//! the HTTP status MLflow gives each code (`mlflow/exceptions.py`). Every error of the
//! MLflow routes, the gate's `401`/`403` included, is rendered here from the one
//! `RegistryError`; nothing here decides what is an error.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::domain::DomainError;
use crate::error::RegistryError;

/// A `RegistryError` answered in MLflow's shape.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MlflowError(pub RegistryError);

impl From<RegistryError> for MlflowError {
    fn from(error: RegistryError) -> Self {
        MlflowError(error)
    }
}

impl From<DomainError> for MlflowError {
    fn from(error: DomainError) -> Self {
        MlflowError(error.into())
    }
}

impl MlflowError {
    /// `INVALID_PARAMETER_VALUE` with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        MlflowError(RegistryError::from(DomainError::InvalidMlflowRequest {
            detail: message.into(),
        }))
    }

    /// MLflow's error code and HTTP status of this error.
    pub fn code_and_status(&self) -> (&'static str, StatusCode) {
        let problem = self.0.problem();
        match (problem.status, problem.code.as_str()) {
            (404, _) => ("RESOURCE_DOES_NOT_EXIST", StatusCode::NOT_FOUND),
            // MLflow answers an existing resource with 400 (`exceptions.py`).
            (409, "model_exists") => ("RESOURCE_ALREADY_EXISTS", StatusCode::BAD_REQUEST),
            (409, _) => ("RESOURCE_CONFLICT", StatusCode::CONFLICT),
            (401, _) => ("UNAUTHENTICATED", StatusCode::UNAUTHORIZED),
            (403, _) => ("PERMISSION_DENIED", StatusCode::FORBIDDEN),
            (400..=499, _) => ("INVALID_PARAMETER_VALUE", StatusCode::BAD_REQUEST),
            _ => ("INTERNAL_ERROR", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl ResponseError for MlflowError {
    fn status_code(&self) -> StatusCode {
        self.code_and_status().1
    }

    fn error_response(&self) -> HttpResponse {
        let (code, status) = self.code_and_status();
        let mut response = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, r#"Bearer realm="capstan""#));
        }
        response.json(serde_json::json!({
            "error_code": code,
            "message": self.0.problem().detail,
        }))
    }
}
