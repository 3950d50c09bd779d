//! Turning raw path segments, queries and bodies into parsed values, and extractor
//! failures into problem documents.

use actix_web::error::{InternalError, JsonPayloadError};
use actix_web::http::StatusCode;
use actix_web::web;

use capstan_client::{AliasName, ModelName, Stage, VersionRef};

use crate::error::{problem, problem_response, RegistryError, RegistryResult};

pub fn model_name(raw: &str) -> RegistryResult<ModelName> {
    ModelName::parse(raw).map_err(|e| RegistryError::bad_request("invalid_name", e.to_string()))
}

pub fn version_ref(raw: &str) -> RegistryResult<VersionRef> {
    VersionRef::parse(raw).map_err(|e| RegistryError::bad_request("invalid_ref", e.to_string()))
}

pub fn stage(raw: &str) -> RegistryResult<Stage> {
    raw.parse()
        .map_err(|e: capstan_client::reference::RefError| {
            RegistryError::bad_request("invalid_stage", e.to_string())
        })
}

pub fn alias(raw: &str) -> RegistryResult<AliasName> {
    AliasName::parse(raw).map_err(|e| RegistryError::bad_request("invalid_alias", e.to_string()))
}

fn reject(
    status: StatusCode,
    code: &str,
    detail: String,
    cause: impl std::fmt::Debug + std::fmt::Display + 'static,
) -> actix_web::Error {
    InternalError::from_response(cause, problem_response(&problem(status, code, detail))).into()
}

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(false)
        .error_handler(|error, _request| {
            let (status, code) = match &error {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
                }
                JsonPayloadError::ContentType => {
                    (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
                }
                _ => (StatusCode::BAD_REQUEST, "invalid_body"),
            };
            let detail = match &error {
                JsonPayloadError::Deserialize(e) => format!("request body is not valid: {e}"),
                other => other.to_string(),
            };
            reject(status, code, detail, error)
        })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _request| {
        reject(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            error.to_string(),
            error,
        )
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _request| {
        reject(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            error.to_string(),
            error,
        )
    })
}
