//! Extraction: the typed paths handlers take (`web::Path<VersionPath>`, …), the extractor
//! configurations, and the one place an extractor failure becomes a problem document.
//!
//! Path segments and query filters parse into the client crate's newtypes during
//! extraction; when one does not, the error handlers below re-parse the raw values to name
//! the one that failed with its own code (`invalid_name`, `invalid_ref`, `invalid_stage`,
//! `invalid_alias`, `invalid_kind`), so a handler never sees an unchecked string.

use actix_web::dev::Payload;
use actix_web::error::JsonPayloadError;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

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

/// `/datasets/{id}`.
#[derive(Debug, Deserialize)]
pub struct DatasetPath {
    pub id: String,
}

/// `/batch-jobs/{id}`.
#[derive(Debug, Deserialize)]
pub struct JobPath {
    pub id: String,
}

/// `/deployments/{name}/instances/{instance}`: instance ids follow the model-name rules.
#[derive(Debug, Deserialize)]
pub struct InstancePath {
    pub name: ModelName,
    pub instance: ModelName,
}

/// `/batch-schedules/{name}`.
#[derive(Debug, Deserialize)]
pub struct SchedulePath {
    pub name: String,
}

/// `/webhooks/{id}[/…]`.
#[derive(Debug, Deserialize)]
pub struct WebhookPath {
    pub id: String,
}

/// `/batch-jobs/{id}/predictions/{key}`.
#[derive(Debug, Deserialize)]
pub struct JobKeyPath {
    pub id: String,
    pub key: String,
}

/// `/models/{name}/predictions/{key}`.
#[derive(Debug, Deserialize)]
pub struct ModelKeyPath {
    pub name: ModelName,
    pub key: String,
}

/// Who is calling, as the event log records it. Without authentication every caller is
/// `anonymous`; with it, the token's name (see `api::auth` and docs/security.md).
#[derive(Debug, Clone)]
pub struct Actor(pub String);

impl FromRequest for Actor {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = crate::domain::access::Caller::from_request(request, payload).into_inner();
        std::future::ready(caller.map(|caller| Actor(caller.name)))
    }
}

/// Why the path segment `key` holding `value` does not parse, if it is one of the typed
/// segments and does not.
fn invalid_segment(key: &str, value: &str) -> Option<RegistryError> {
    let (code, error) = match key {
        "name" => ("invalid_name", ModelName::parse(value).err()?.to_string()),
        "ref" => ("invalid_ref", VersionRef::parse(value).err()?.to_string()),
        "stage" => ("invalid_stage", value.parse::<Stage>().err()?.to_string()),
        "alias" => ("invalid_alias", AliasName::parse(value).err()?.to_string()),
        "instance" => (
            "invalid_instance",
            ModelName::parse(value).err()?.to_string(),
        ),
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
    instance: Option<String>,
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
            "instance" => raw.instance.as_deref(),
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

/// A JSON request body that must be an object (serde alone would also build a struct from
/// an array), with numbers written as `7.0` read as the integers JSON Schema says they
/// are. For the small command bodies (create, update, promote, alias), not for bulk data.
pub struct JsonObject<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let object = web::Json::<Map<String, Value>>::from_request(request, payload);
        let request = request.clone();
        Box::pin(async move {
            let mut body = Value::Object(object.await?.into_inner());
            integral_numbers_as_integers(&mut body);
            serde_json::from_value(body).map(JsonObject).map_err(|e| {
                let error = RegistryError::bad_request(
                    "invalid_body",
                    format!("request body is not valid: {e}"),
                );
                rejection(&request, error)
            })
        })
    }
}

/// An optional JSON object body (a reason, say): no body at all, or `null`, is `None`; a
/// body that is there must be a valid object, as for [`JsonObject`] (an
/// `Option<JsonObject<T>>` would read an invalid body as none and accept it).
pub struct OptionalJsonObject<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJsonObject<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let headers = request.headers();
        let absent = match headers.get(header::CONTENT_LENGTH) {
            Some(length) => length.to_str().is_ok_and(|l| l.trim() == "0"),
            None => {
                !headers.contains_key(header::CONTENT_TYPE)
                    && !headers.contains_key(header::TRANSFER_ENCODING)
            }
        };
        if absent {
            return Box::pin(std::future::ready(Ok(OptionalJsonObject(None))));
        }
        let body = web::Json::<Value>::from_request(request, payload);
        let request = request.clone();
        Box::pin(async move {
            let mut body = body.await?.into_inner();
            if body.is_null() {
                return Ok(OptionalJsonObject(None));
            }
            let invalid = |detail: String| {
                rejection(&request, RegistryError::bad_request("invalid_body", detail))
            };
            if !body.is_object() {
                return Err(invalid(
                    "request body is not valid: expected a JSON object".to_owned(),
                ));
            }
            integral_numbers_as_integers(&mut body);
            serde_json::from_value(body)
                .map(|value| OptionalJsonObject(Some(value)))
                .map_err(|e| invalid(format!("request body is not valid: {e}")))
        })
    }
}

/// Rewrites every number with no fractional part that an `i64` holds exactly (`7.0`) as an
/// integer, so integer fields accept it as JSON Schema does.
fn integral_numbers_as_integers(value: &mut Value) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => {
            if let Some(float) = number.as_f64() {
                if float.fract() == 0.0 && float.abs() <= EXACT {
                    *value = Value::from(float as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}
