//! The JSON shapes of the MLflow REST API that the import reads (MLflow 2.x and 3.x
//! answer the same; see `mlflow/protos/model_registry.proto` and `service.proto`).
//! Deserialisation only: proto3 JSON leaves out empty fields, so everything defaults.

use serde::{Deserialize, Deserializer};

#[derive(Clone, Debug, Default, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RegisteredModelAlias {
    pub alias: String,
    pub version: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RegisteredModel {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
    #[serde(default)]
    pub aliases: Vec<RegisteredModelAlias>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ModelVersion {
    pub name: String,
    /// A number, as a string.
    pub version: String,
    #[serde(default)]
    pub current_stage: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
    /// `READY`, `PENDING_REGISTRATION` or `FAILED_REGISTRATION`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchRegisteredModels {
    #[serde(default)]
    pub registered_models: Vec<RegisteredModel>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct GetRegisteredModel {
    pub registered_model: RegisteredModel,
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchModelVersions {
    #[serde(default)]
    pub model_versions: Vec<ModelVersion>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DownloadUri {
    pub artifact_uri: String,
}

/// A run's metric: the latest value logged under `key`. Proto JSON writes NaN and the
/// infinities as strings, hence the untyped value.
#[derive(Clone, Debug, Deserialize)]
pub struct Metric {
    pub key: String,
    pub value: serde_json::Value,
}

#[derive(Debug, Default, Deserialize)]
pub struct RunData {
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default)]
    pub params: Vec<KeyValue>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RunInfo {
    #[serde(default)]
    pub artifact_uri: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Run {
    #[serde(default)]
    pub info: RunInfo,
    #[serde(default)]
    pub data: RunData,
}

#[derive(Debug, Deserialize)]
pub struct GetRun {
    pub run: Run,
}

#[derive(Debug, Default, Deserialize)]
pub struct LoggedModelInfo {
    #[serde(default)]
    pub artifact_uri: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct LoggedModel {
    #[serde(default)]
    pub info: LoggedModelInfo,
}

#[derive(Debug, Deserialize)]
pub struct GetLoggedModel {
    pub model: LoggedModel,
}

/// One entry of an `mlflow-artifacts` listing: a name inside the listed directory.
#[derive(Clone, Debug, Deserialize)]
pub struct FileInfo {
    pub path: String,
    #[serde(default)]
    pub is_dir: bool,
    #[serde(default, deserialize_with = "int64")]
    pub file_size: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListArtifacts {
    #[serde(default)]
    pub files: Vec<FileInfo>,
}

/// MLflow's error body: `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "…"}`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error_code: String,
    #[serde(default)]
    pub message: String,
}

/// Proto3 JSON may write an int64 as a number or as a string.
fn int64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int64 {
        Number(u64),
        Text(String),
    }
    Ok(match Option::<Int64>::deserialize(deserializer)? {
        None => None,
        Some(Int64::Number(n)) => Some(n),
        Some(Int64::Text(text)) => Some(text.parse().map_err(serde::de::Error::custom)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_take_sizes_as_numbers_or_strings() {
        let listing: ListArtifacts = serde_json::from_str(
            r#"{"files":[{"path":"MLmodel","is_dir":false,"file_size":671},
                        {"path":"model.onnx","file_size":"1066"},{"path":"data","is_dir":true}]}"#,
        )
        .unwrap();
        let sizes: Vec<Option<u64>> = listing.files.iter().map(|f| f.file_size).collect();
        assert_eq!(sizes, [Some(671), Some(1066), None]);
        assert!(listing.files[2].is_dir);
        let empty: ListArtifacts = serde_json::from_str("{}").unwrap();
        assert!(empty.files.is_empty());
    }
}
