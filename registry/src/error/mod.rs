//! The one error type of the request path, and its one mapping to HTTP.
//!
//! Store, artifact, serving and domain-rule errors convert into [`RegistryError`] (a
//! refused rule gets its status and `code` in [`rules`]); use cases raise its variants directly.
//! The one [`ResponseError`] implementation turns every one into
//! `application/problem+json` with a stable `code`; an error wrapped by
//! [`RegistryError::open_inference`] is rendered with the `error` member the Open Inference
//! Protocol (KServe V2) specifies beside the problem fields. Internal details are logged,
//! never sent to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use capstan_client::problem::PROBLEM_CONTENT_TYPE;
use capstan_client::runtime::RuntimeError;
use capstan_client::Problem;

use crate::artifacts::ArtifactError;
use crate::serving::ServeError;
use crate::store::StoreError;

mod rules;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{detail}")]
    NotFound { code: &'static str, detail: String },
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("{detail}")]
    TooLarge { detail: String },
    /// No token, or one the registry does not know (revoked tokens included); answered
    /// with `WWW-Authenticate: Bearer`.
    #[error("{detail}")]
    Unauthorized { detail: String },
    /// A known token without the role (or the scope) the request needs.
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("{detail}")]
    UnsupportedMediaType { detail: String },
    #[error("{method} is not allowed here; this route answers {allowed}")]
    MethodNotAllowed { method: String, allowed: String },
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    #[error("range not satisfiable for an artifact of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// A prediction or a model load failed (see [`ServeError`]).
    #[error(transparent)]
    Serving(Box<ServeError>),
    /// An error answered on an Open Inference Protocol route: the same problem document,
    /// plus V2's `error` member.
    #[error(transparent)]
    OpenInference(Box<RegistryError>),
}

impl From<ServeError> for RegistryError {
    fn from(error: ServeError) -> Self {
        match error {
            ServeError::Registry(error) => error,
            other => RegistryError::Serving(Box::new(other)),
        }
    }
}

pub type RegistryResult<T> = Result<T, RegistryError>;

impl RegistryError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        RegistryError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        RegistryError::NotFound {
            code,
            detail: detail.into(),
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        RegistryError::Unauthorized {
            detail: detail.into(),
        }
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        RegistryError::Forbidden {
            code,
            detail: detail.into(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        RegistryError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        RegistryError::Unprocessable {
            code,
            detail: detail.into(),
        }
    }

    /// This error, answered on an Open Inference Protocol route (see the module header).
    pub fn open_inference(error: impl Into<RegistryError>) -> Self {
        match error.into() {
            wrapped @ RegistryError::OpenInference(_) => wrapped,
            error => RegistryError::OpenInference(Box::new(error)),
        }
    }

    /// The problem document for this error: status, stable code, and a safe detail.
    pub fn problem(&self) -> Problem {
        let (status, code, detail) = match self {
            RegistryError::OpenInference(error) => return error.problem(),
            RegistryError::Serving(error) => return serving_problem(error),
            RegistryError::BadRequest { code, detail } => {
                (StatusCode::BAD_REQUEST, *code, detail.clone())
            }
            RegistryError::NotFound { code, detail } => {
                (StatusCode::NOT_FOUND, *code, detail.clone())
            }
            RegistryError::Unauthorized { detail } => {
                (StatusCode::UNAUTHORIZED, "unauthorized", detail.clone())
            }
            RegistryError::Forbidden { code, detail } => {
                (StatusCode::FORBIDDEN, *code, detail.clone())
            }
            RegistryError::Conflict { code, detail } => {
                (StatusCode::CONFLICT, *code, detail.clone())
            }
            RegistryError::MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                self.to_string(),
            ),
            RegistryError::UnsupportedMediaType { detail } => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                detail.clone(),
            ),
            RegistryError::TooLarge { detail } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                detail.clone(),
            ),
            RegistryError::Unprocessable { code, detail } => {
                (StatusCode::UNPROCESSABLE_ENTITY, *code, detail.clone())
            }
            RegistryError::RangeNotSatisfiable { .. } => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                self.to_string(),
            ),
            RegistryError::Store(StoreError::NotFound) => (
                StatusCode::NOT_FOUND,
                "not_found",
                "the resource does not exist".to_owned(),
            ),
            RegistryError::Store(StoreError::Pool(_) | StoreError::Unavailable(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is not reachable; try again".to_owned(),
            ),
            RegistryError::Store(StoreError::Full(_)) => (
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                "the database's storage is full; nothing was written".to_owned(),
            ),
            RegistryError::Store(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred; it has been logged".to_owned(),
            ),
            RegistryError::Artifact(ArtifactError::TooLarge { .. }) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                self.to_string(),
            ),
            RegistryError::Artifact(ArtifactError::ClientStream(_)) => (
                StatusCode::BAD_REQUEST,
                "upload_interrupted",
                self.to_string(),
            ),
            RegistryError::Artifact(error) if storage_full(error) => (
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                "the object store is full; nothing was written".to_owned(),
            ),
            RegistryError::Artifact(_) => (
                StatusCode::BAD_GATEWAY,
                "object_store_error",
                "the object store failed; it has been logged".to_owned(),
            ),
        };
        problem(status, code, detail)
    }
}

/// Whether an object-store error comes from a full disk (`ENOSPC` anywhere in its causes).
fn storage_full(error: &ArtifactError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::StorageFull {
                return true;
            }
        }
        if error.to_string().contains("No space left on device") {
            return true;
        }
        cause = error.source();
    }
    false
}

fn serving_problem(error: &ServeError) -> Problem {
    let (status, code, detail) = match error {
        ServeError::Registry(error) => return error.problem(),
        ServeError::Runtime(error) => {
            let (status, code) = match error {
                RuntimeError::Input(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
                RuntimeError::UnservableFormat { .. } | RuntimeError::FeatureDisabled { .. } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "unservable_format")
                }
                RuntimeError::InvalidArtifact { .. } | RuntimeError::SignatureMismatch(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "invalid_artifact")
                }
                RuntimeError::UnsupportedOperator { .. } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "unsupported_operator")
                }
                RuntimeError::Inference(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "inference_failed")
                }
            };
            (status, code, error.to_string())
        }
        ServeError::BadInput(detail) => (StatusCode::BAD_REQUEST, "invalid_input", detail.clone()),
        ServeError::NotServed(detail) => {
            (StatusCode::NOT_FOUND, "model_not_served", detail.clone())
        }
        ServeError::NotServable(detail) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_servable",
            detail.clone(),
        ),
        ServeError::Upstream(detail) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "registry_unavailable",
            detail.clone(),
        ),
        ServeError::DigestMismatch { .. } => (
            StatusCode::BAD_GATEWAY,
            "digest_mismatch",
            error.to_string(),
        ),
    };
    problem(status, code, detail)
}

/// Builds a problem document; `type` is derived from the code.
pub fn problem(status: StatusCode, code: &str, detail: impl Into<String>) -> Problem {
    Problem {
        type_uri: format!("https://capstan.dev/problems/{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.into(),
        code: code.to_owned(),
    }
}

/// The problem document plus the `error` member the Open Inference Protocol specifies.
fn open_inference_response(problem: &Problem) -> HttpResponse {
    let mut body = serde_json::to_value(problem).unwrap_or_default();
    body["error"] = serde_json::Value::String(problem.detail.clone());
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE))
        .json(body)
}

/// The response for a problem document.
pub fn problem_response(problem: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE))
        .json(problem)
}

/// `Retry-After` of a `503`: dependencies that restart are back within seconds.
const RETRY_AFTER_SECONDS: &str = "1";

impl ResponseError for RegistryError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let problem = self.problem();
        if problem.status >= 500 {
            tracing::error!(error = %self, code = %problem.code, "request failed");
        }
        if let RegistryError::OpenInference(_) = self {
            return open_inference_response(&problem);
        }
        let mut response = problem_response(&problem);
        let extra_header = match self {
            RegistryError::RangeNotSatisfiable { size } => {
                Some((header::CONTENT_RANGE, format!("bytes */{size}")))
            }
            RegistryError::MethodNotAllowed { allowed, .. } => {
                Some((header::ALLOW, allowed.clone()))
            }
            RegistryError::Unauthorized { .. } => Some((
                header::WWW_AUTHENTICATE,
                r#"Bearer realm="capstan""#.to_owned(),
            )),
            // A dependency is down or restarting: say when to try again.
            _ if problem.status == 503 => {
                Some((header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_owned()))
            }
            _ => None,
        };
        if let Some((name, value)) = extra_header {
            if let Ok(value) = header::HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}
