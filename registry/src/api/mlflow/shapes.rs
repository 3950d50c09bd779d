//! MLflow's JSON: the request parameters (query string for `GET`, JSON body otherwise,
//! as the `mlflow` client sends them) and the `RegisteredModel` / `ModelVersion` shapes
//! of `model_registry.proto`, built from Capstan's wire types.

use actix_web::http::Method;
use actix_web::HttpRequest;
use serde::Serialize;
use serde_json::{Map, Value};

use capstan_client::types::{Model, Version};
use capstan_client::{ModelName, Stage};

use super::errors::MlflowError;
use crate::domain::mlflow::{
    aliases_with_stages, key_value, model_name, run_id_of, stage_of, status_of,
};
use crate::service::mlflow::{version_updated_at, MlflowModel};

/// A request's parameters, by name.
pub struct Params(Map<String, Value>);

impl Params {
    /// `GET`: the query string (a repeated key is a list); otherwise the JSON body (empty
    /// is `{}`), with query parameters the body lacks.
    pub fn of(request: &HttpRequest, body: &[u8]) -> Result<Self, MlflowError> {
        let mut map = if request.method() == Method::GET || body.iter().all(u8::is_ascii_whitespace)
        {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(map)) => map,
                _ => {
                    return Err(MlflowError::invalid(
                        "the request body must be a JSON object",
                    ))
                }
            }
        };
        let get = request.method() == Method::GET;
        for (key, value) in url::form_urlencoded::parse(request.query_string().as_bytes()) {
            let value = Value::String(value.into_owned());
            match map.entry(key.into_owned()) {
                serde_json::map::Entry::Vacant(entry) => {
                    entry.insert(value);
                }
                // A key repeated in a query string is a list (`order_by`, `stages`).
                serde_json::map::Entry::Occupied(mut entry) if get => match entry.get_mut() {
                    Value::Array(values) => values.push(value),
                    first => *first = Value::Array(vec![first.take(), value]),
                },
                serde_json::map::Entry::Occupied(_) => {}
            }
        }
        Ok(Params(map))
    }

    /// A string parameter (a number is taken as its text).
    pub fn string(&self, key: &str) -> Result<Option<String>, MlflowError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(MlflowError::invalid(format!(
                "parameter '{key}' must be a string"
            ))),
        }
    }

    pub fn required(&self, key: &str) -> Result<String, MlflowError> {
        self.string(key)?.filter(|s| !s.is_empty()).ok_or_else(|| {
            MlflowError::invalid(format!("Missing value for required parameter '{key}'."))
        })
    }

    /// The `name` parameter as a Capstan model name (refused naming the rule).
    pub fn model(&self, key: &str) -> Result<ModelName, MlflowError> {
        Ok(model_name(&self.required(key)?)?)
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, MlflowError> {
        match self.string(key)? {
            None => Ok(None),
            Some(text) => text.trim().parse().map(Some).map_err(|_| {
                MlflowError::invalid(format!(
                    "parameter '{key}' must be an integer, got {text:?}"
                ))
            }),
        }
    }

    pub fn boolean(&self, key: &str) -> Result<bool, MlflowError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(MlflowError::invalid(format!(
                "parameter '{key}' must be true or false"
            ))),
        }
    }

    /// A repeated string parameter (one value is a list of one).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, MlflowError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(values)) => values
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        MlflowError::invalid(format!("parameter '{key}' must list strings"))
                    })
                })
                .collect(),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(_) => Err(MlflowError::invalid(format!(
                "parameter '{key}' must list strings"
            ))),
        }
    }

    /// `tags`: a list of `{key, value}`.
    pub fn tags(&self) -> Result<Vec<(String, String)>, MlflowError> {
        let Some(Value::Array(tags)) = self.0.get("tags") else {
            return match self.0.get("tags") {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(_) => Err(MlflowError::invalid("tags must be a list of {key, value}")),
            };
        };
        tags.iter()
            .map(|tag| {
                let key = tag.get("key").and_then(Value::as_str);
                let value = tag.get("value").and_then(Value::as_str).unwrap_or("");
                key.map(|k| (k.to_owned(), value.to_owned()))
                    .ok_or_else(|| MlflowError::invalid("every tag needs a key"))
            })
            .collect()
    }
}

#[derive(Serialize)]
pub struct Tag {
    key: String,
    value: String,
}

fn tags_of(tags: &[String]) -> Vec<Tag> {
    tags.iter()
        .map(|t| {
            let (key, value) = key_value(t);
            Tag {
                key: key.to_owned(),
                value: value.to_owned(),
            }
        })
        .collect()
}

#[derive(Serialize)]
pub struct AliasShape {
    alias: String,
    version: String,
}

/// `RegisteredModel` of `model_registry.proto`.
#[derive(Serialize)]
pub struct RegisteredModel {
    name: String,
    creation_timestamp: i64,
    last_updated_timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    latest_versions: Vec<ModelVersion>,
    tags: Vec<Tag>,
    aliases: Vec<AliasShape>,
}

impl RegisteredModel {
    pub fn of(model: &Model, latest: &[Version]) -> Self {
        RegisteredModel {
            name: model.name.to_string(),
            creation_timestamp: model.created_at.timestamp_millis(),
            last_updated_timestamp: model.updated_at.timestamp_millis(),
            description: model.description.clone(),
            latest_versions: latest.iter().map(ModelVersion::of).collect(),
            tags: tags_of(&model.tags),
            // Capstan's stages are MLflow aliases too (`models:/bc@production`).
            aliases: Stage::ALL
                .iter()
                .filter_map(|stage| Some((stage.as_str().to_owned(), model.stages.get(*stage)?)))
                .chain(model.aliases.iter().map(|(alias, v)| (alias.clone(), *v)))
                .map(|(alias, version)| AliasShape {
                    alias,
                    version: version.to_string(),
                })
                .collect(),
        }
    }

    pub fn of_mlflow(model: &MlflowModel) -> Self {
        Self::of(&model.model, &model.latest_versions)
    }
}

/// `ModelVersion` of `model_registry.proto`.
#[derive(Serialize)]
pub struct ModelVersion {
    name: String,
    version: String,
    creation_timestamp: i64,
    last_updated_timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    current_stage: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: Option<String>,
    status: &'static str,
    tags: Vec<Tag>,
    aliases: Vec<String>,
}

impl ModelVersion {
    pub fn of(version: &Version) -> Self {
        ModelVersion {
            name: version.model.to_string(),
            version: version.version.to_string(),
            creation_timestamp: version.created_at.timestamp_millis(),
            last_updated_timestamp: version_updated_at(version).timestamp_millis(),
            user_id: version.created_by.clone(),
            current_stage: stage_of(version).as_str(),
            description: version.description.clone(),
            source: version.source.clone(),
            run_id: run_id_of(version).map(str::to_owned),
            status: status_of(version),
            tags: tags_of(&version.tags),
            aliases: aliases_with_stages(&version.stages, &version.aliases),
        }
    }
}
