//! Extraction: the typed paths handlers take (`web::Path<VersionPath>`, …), the extractor
//! configurations, and the one place an extractor failure becomes a problem document.
//!
//! Path segments and query filters parse into the client crate's newtypes during
//! extraction; when one does not, the error handlers below re-parse the raw values to name
//! the one that failed with its own code (`invalid_name`, `invalid_ref`, `invalid_stage`,
//! `invalid_alias`, `invalid_kind`), so a handler never sees an unchecked string.

use actix_web::error::JsonPayloadError;
use actix_web::{web, HttpRequest};
use serde::Deserialize;

use capstan_client::types::EventKind;
use capstan_client::{AliasName, ModelName, Stage, VersionRef};

use crate::error::RegistryError;

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

/// `/v2/models/{name}` (Open Inference Protocol).
#[derive(Debug, Deserialize)]
pub struct InferenceModelPath {
    pub name: ModelName,
}

/// `/v2/models/{name}/versions/{version}`: V2 names a version by number only; the number
/// is checked by the route, which answers in V2's terms.
#[derive(Debug, Deserialize)]
pub struct InferenceVersionPath {
    pub name: ModelName,
    pub version: String,
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

/// An extractor failure as the one error type, rendered the Open Inference Protocol's way
/// on its routes (`/v2/…`), as a plain problem document elsewhere.
fn rejection(request: &HttpRequest, error: RegistryError) -> actix_web::Error {
    if request.path().starts_with("/v2/") {
        RegistryError::open_inference(error).into()
    } else {
        error.into()
    }
}

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(false)
        .error_handler(|error, request| {
            let error = match error {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => RegistryError::TooLarge {
                    detail: error.to_string(),
                },
                JsonPayloadError::ContentType => RegistryError::UnsupportedMediaType {
                    detail: error.to_string(),
                },
                JsonPayloadError::Deserialize(e) => RegistryError::bad_request(
                    "invalid_body",
                    format!("request body is not valid: {e}"),
                ),
                other => RegistryError::bad_request("invalid_body", other.to_string()),
            };
            rejection(request, error)
        })
}

/// Path failures: the segment that did not parse, with its own code; `invalid_path`
/// for anything else.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, request| {
        let error = first_invalid_segment(request)
            .unwrap_or_else(|| RegistryError::bad_request("invalid_path", error.to_string()));
        rejection(request, error)
    })
}

/// Query failures: a filter that did not parse (`model`, `kind`) with its own code;
/// `invalid_query` for anything else (a number that is not one, a repeated key, …).
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, request| {
        let error = first_invalid_filter(request)
            .unwrap_or_else(|| RegistryError::bad_request("invalid_query", error.to_string()));
        rejection(request, error)
    })
}
