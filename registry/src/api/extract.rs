//! Extraction: the typed paths handlers take (`web::Path<VersionPath>`, …), the extractor
//! configurations, and the one place an extractor failure becomes a problem document.
//!
//! Path segments and query filters parse into the client crate's newtypes during
//! extraction; when one does not, the error handlers below re-parse the raw values to name
//! the one that failed with its own code (`invalid_name`, `invalid_ref`, `invalid_stage`,
//! `invalid_alias`, `invalid_kind`), so a handler never sees an unchecked string.

use actix_web::error::{InternalError, JsonPayloadError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use serde::Deserialize;

use capstan_client::types::EventKind;
use capstan_client::{AliasName, ModelName, Stage, VersionRef};

use crate::error::{problem, problem_response, RegistryError, RegistryResult};

/// `/models/{name}`.
#[derive(Debug, Deserialize)]
pub struct ModelPath {
    pub name: ModelName,
}

/// `/models/{name}/versions/{ref}`.
#[derive(Debug, Deserialize)]
pub struct VersionPath {
    pub name: ModelName,
    #[serde(rename = "ref")]
    pub reference: VersionRef,
}

/// `/models/{name}/stages/{stage}`.
#[derive(Debug, Deserialize)]
pub struct StagePath {
    pub name: ModelName,
    pub stage: Stage,
}

/// `/models/{name}/aliases/{alias}`.
#[derive(Debug, Deserialize)]
pub struct AliasPath {
    pub name: ModelName,
    pub alias: AliasName,
}

/// Why the path segment `key` holding `value` does not parse, if it is one of the typed
/// segments and does not.
fn invalid_segment(key: &str, value: &str) -> Option<RegistryError> {
    let (code, error) = match key {
        "name" => ("invalid_name", ModelName::parse(value).err()?.to_string()),
        "ref" => ("invalid_ref", VersionRef::parse(value).err()?.to_string()),
        "stage" => ("invalid_stage", value.parse::<Stage>().err()?.to_string()),
        "alias" => ("invalid_alias", AliasName::parse(value).err()?.to_string()),
        _ => return None,
    };
    Some(RegistryError::bad_request(code, error))
}

/// The typed segments of a path, decoded exactly as the path extractors decode them.
#[derive(Debug, Deserialize)]
struct RawSegments {
    name: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
    stage: Option<String>,
    alias: Option<String>,
}

/// The first segment of the request's path, in route order, that does not parse.
fn first_invalid_segment(request: &HttpRequest) -> Option<RegistryError> {
    let raw: RawSegments = request.match_info().load().ok()?;
    request.match_info().iter().find_map(|(key, _)| {
        let value = match key {
            "name" => raw.name.as_deref(),
            "ref" => raw.reference.as_deref(),
            "stage" => raw.stage.as_deref(),
            "alias" => raw.alias.as_deref(),
            _ => None,
        };
        invalid_segment(key, value?)
    })
}

/// Why the query filter `key=value` does not parse, if it is a typed filter and does not.
fn invalid_filter(key: &str, value: &str) -> Option<RegistryError> {
    match key {
        "model" => invalid_segment("name", value),
        "kind" if EventKind::parse(value).is_none() => Some(RegistryError::bad_request(
            "invalid_kind",
            format!(
                "unknown event kind {:?}",
                value.chars().take(64).collect::<String>()
            ),
        )),
        _ => None,
    }
}

/// The first typed filter of the request's query string that does not parse.
fn first_invalid_filter(request: &HttpRequest) -> Option<RegistryError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(request.query_string()).ok()?;
    pairs
        .iter()
        .find_map(|(key, value)| invalid_filter(key, value))
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

/// Path failures: the segment that did not parse, with its own code; `invalid_path`
/// for anything else.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, request| {
        let problem = match first_invalid_segment(request) {
            Some(invalid) => invalid.problem(),
            None => problem(StatusCode::BAD_REQUEST, "invalid_path", error.to_string()),
        };
        InternalError::from_response(error, problem_response(&problem)).into()
    })
}

/// Query failures: a filter that did not parse (`model`, `kind`) with its own code;
/// `invalid_query` for anything else (a number that is not one, a repeated key, …).
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, request| {
        let problem = match first_invalid_filter(request) {
            Some(invalid) => invalid.problem(),
            None => problem(StatusCode::BAD_REQUEST, "invalid_query", error.to_string()),
        };
        InternalError::from_response(error, problem_response(&problem)).into()
    })
}

/// Reads a body of at most `limit` bytes.
pub async fn read_limited<S, E>(mut body: S, limit: usize) -> RegistryResult<Vec<u8>>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use futures::StreamExt;
    let mut buffer = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            RegistryError::bad_request(
                "upload_interrupted",
                format!("the request body broke off: {e}"),
            )
        })?;
        if buffer.len() + chunk.len() > limit {
            return Err(RegistryError::TooLarge {
                detail: format!("the body is larger than the limit of {limit} bytes"),
            });
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer)
}
