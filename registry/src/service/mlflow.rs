//! The use cases of the MLflow model-registry API that Capstan's own ones do not cover
//! as MLflow sees them: a registered model with its latest version per stage, the two
//! searches, tags as `{key, value}` (stage transitions are in `mlflow_stages.rs`). Each
//! write is one transaction with its events, so a change made through MLflow is seen
//! through `/api/v1` and in the event log.

use capstan_client::types::{EventKind, Model, Version};
use capstan_client::{ModelName, VersionRef};

use super::models::{lock_model, model_not_found};
use super::resolve::resolve_row;
use super::version_edits::edit_version;
use super::views::{model_view, model_views, version_view};
use super::{event, Registry};
use crate::domain::access::ModelScope;
use crate::domain::metadata::normalize_tags;
use crate::domain::mlflow::{key_value, run_id_of, stage_of, with_tag, without_tag, MlflowStage};
use crate::domain::mlflow_search::{compare, Field, Filter, Page, Searchable, Sortable};
use crate::error::{RegistryError, RegistryResult};
use crate::store::models::{self, ModelFilter};
use crate::store::rows::ModelRow;
use crate::store::{aliases, events, versions, DbConn, StoreError, StoreResult};

/// A registered model as MLflow shows it: the model, and its newest version in each
/// MLflow stage (`latest_versions`).
#[derive(Debug, Clone)]
pub struct MlflowModel {
    pub model: Model,
    pub latest_versions: Vec<Version>,
}

/// The page of a search the API asked for, parsed.
pub struct MlflowSearch {
    pub filter: Filter,
    pub order: Vec<crate::domain::mlflow_search::OrderKey>,
    pub page: Page,
}

/// The newest version of each MLflow stage among `versions` (newest first), of the
/// stages asked for (all when empty).
fn latest_per_stage(versions: &[Version], stages: &[MlflowStage]) -> Vec<Version> {
    MlflowStage::ALL
        .into_iter()
        .filter(|stage| stages.is_empty() || stages.contains(stage))
        .filter_map(|stage| versions.iter().find(|v| stage_of(v) == stage).cloned())
        .collect()
}

/// Every version of `model`, newest first.
fn all_versions(conn: &mut DbConn, model: &ModelRow) -> StoreResult<Vec<Version>> {
    let model_aliases = aliases::of_model(conn, model.id)?;
    versions::all_of(conn, model.id)?
        .iter()
        .map(|row| version_view(model, &model_aliases, row))
        .collect()
}

fn find_model(conn: &mut DbConn, name: &str) -> RegistryResult<ModelRow> {
    models::find(conn, name)?.ok_or_else(|| model_not_found(name))
}

/// The models `scope` reaches, or just the one `name` names.
fn models_in(
    conn: &mut DbConn,
    scope: &ModelScope,
    name: Option<&str>,
) -> StoreResult<Vec<ModelRow>> {
    if let Some(name) = name {
        let row = models::find(conn, name)?;
        return Ok(row.into_iter().filter(|r| scope.allows(&r.name)).collect());
    }
    let names_like = scope.like_patterns();
    models::list(
        conn,
        &ModelFilter {
            name_prefix: None,
            tag: None,
            names_like: names_like.as_deref(),
            after: None,
            limit: i64::MAX,
        },
    )
}

fn ms(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis()
}

/// A tag's value by MLflow key.
fn tag_value(tags: &[String], key: &str) -> Option<String> {
    tags.iter()
        .map(|t| key_value(t))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_owned())
}

struct SearchedModel<'a>(&'a Model);

impl Searchable for SearchedModel<'_> {
    fn field(&self, field: &Field) -> Option<String> {
        match field {
            Field::Name => Some(self.0.name.to_string()),
            Field::Tag(key) => tag_value(&self.0.tags, key),
            Field::RunId | Field::Source | Field::Version => None,
        }
    }
}

impl Sortable for SearchedModel<'_> {
    fn name(&self) -> &str {
        self.0.name.as_str()
    }
    fn created_ms(&self) -> i64 {
        ms(self.0.created_at)
    }
    fn updated_ms(&self) -> i64 {
        ms(self.0.updated_at)
    }
    fn version(&self) -> i64 {
        0
    }
}

struct SearchedVersion<'a>(&'a Version);

/// When a version last changed, as far as Capstan records it (created or archived).
pub fn version_updated_at(version: &Version) -> chrono::DateTime<chrono::Utc> {
    version.archived_at.map_or(version.created_at, |archived| {
        archived.max(version.created_at)
    })
}

impl Searchable for SearchedVersion<'_> {
    fn field(&self, field: &Field) -> Option<String> {
        match field {
            Field::Name => Some(self.0.model.to_string()),
            Field::RunId => run_id_of(self.0).map(str::to_owned),
            Field::Source => self.0.source.clone(),
            Field::Version => Some(self.0.version.to_string()),
            Field::Tag(key) => tag_value(&self.0.tags, key),
        }
    }
}

impl Sortable for SearchedVersion<'_> {
    fn name(&self) -> &str {
        self.0.model.as_str()
    }
    fn created_ms(&self) -> i64 {
        ms(self.0.created_at)
    }
    fn updated_ms(&self) -> i64 {
        ms(version_updated_at(self.0))
    }
    fn version(&self) -> i64 {
        self.0.version
    }
}

fn mlflow_model(conn: &mut DbConn, row: &ModelRow) -> RegistryResult<MlflowModel> {
    let model = model_view(conn, row)?;
    let versions = all_versions(conn, row)?;
    Ok(MlflowModel {
        model,
        latest_versions: latest_per_stage(&versions, &[]),
    })
}

impl Registry {
    /// A registered model with its latest version per stage.
    pub async fn mlflow_model(&self, name: ModelName) -> RegistryResult<MlflowModel> {
        self.db
            .read(move |conn| {
                let row = find_model(conn, name.as_str())?;
                mlflow_model(conn, &row)
            })
            .await
    }

    /// Renames a model (see [`Registry::rename_model`]) and shows it as MLflow does.
    pub async fn mlflow_rename_model(
        &self,
        name: ModelName,
        new_name: ModelName,
        caller: &crate::domain::access::Caller,
    ) -> RegistryResult<MlflowModel> {
        let model = self.rename_model(name, new_name, caller).await?;
        self.mlflow_model(model.name).await
    }

    /// Updates a model (see [`Registry::update_model`]) and shows it as MLflow does.
    pub async fn mlflow_update_model(
        &self,
        name: ModelName,
        update: capstan_client::types::UpdateModel,
        actor: &str,
    ) -> RegistryResult<MlflowModel> {
        let model = self.update_model(name, update, actor).await?;
        self.mlflow_model(model.name).await
    }

    /// The newest version of `name` in each of `stages` (every stage when empty).
    pub async fn mlflow_latest_versions(
        &self,
        name: ModelName,
        stages: Vec<MlflowStage>,
    ) -> RegistryResult<Vec<Version>> {
        self.db
            .read(move |conn| {
                let row = find_model(conn, name.as_str())?;
                Ok(latest_per_stage(&all_versions(conn, &row)?, &stages))
            })
            .await
    }

    /// Registered models `search` selects, of those `scope` reaches; and the next page's
    /// token.
    pub async fn mlflow_search_models(
        &self,
        search: MlflowSearch,
        scope: ModelScope,
    ) -> RegistryResult<(Vec<MlflowModel>, Option<String>)> {
        self.db
            .read(move |conn| {
                let rows = models_in(conn, &scope, search.filter.exact_name())?;
                let views = model_views(conn, &rows)?;
                let mut selected: Vec<(Model, &ModelRow)> = views
                    .into_iter()
                    .zip(&rows)
                    .filter(|(model, _)| search.filter.matches(&SearchedModel(model)))
                    .collect();
                selected.sort_by(|a, b| {
                    compare(&search.order, &SearchedModel(&a.0), &SearchedModel(&b.0))
                });
                let (page, next) = search.page.slice("mlflow-models", selected);
                let mut found = Vec::with_capacity(page.len());
                for (model, row) in page {
                    let versions = all_versions(conn, row)?;
                    found.push(MlflowModel {
                        model,
                        latest_versions: latest_per_stage(&versions, &[]),
                    });
                }
                Ok((found, next))
            })
            .await
    }

    /// Model versions `search` selects, of the models `scope` reaches; and the next
    /// page's token.
    pub async fn mlflow_search_versions(
        &self,
        search: MlflowSearch,
        scope: ModelScope,
    ) -> RegistryResult<(Vec<Version>, Option<String>)> {
        self.db
            .read(move |conn| {
                let rows = models_in(conn, &scope, search.filter.exact_name())?;
                let mut selected = Vec::new();
                for row in &rows {
                    selected.extend(
                        all_versions(conn, row)?
                            .into_iter()
                            .filter(|v| search.filter.matches(&SearchedVersion(v))),
                    );
                }
                selected.sort_by(|a, b| {
                    compare(&search.order, &SearchedVersion(a), &SearchedVersion(b))
                });
                Ok(search.page.slice("mlflow-versions", selected))
            })
            .await
    }

    /// Sets (`Some(value)`) or deletes (`None`) the MLflow tag `key` of a model.
    pub async fn mlflow_model_tag(
        &self,
        name: ModelName,
        key: String,
        value: Option<String>,
        actor: &str,
    ) -> RegistryResult<()> {
        let actor = actor.to_owned();
        self.write(move |conn| {
            let row = lock_model(conn, name.as_str())?;
            let tags = models::tags_of_many(conn, &[row.id])?
                .remove(&row.id)
                .unwrap_or_default();
            let tags = match &value {
                Some(value) => with_tag(&tags, &key, value)?,
                None => without_tag(&tags, &key).ok_or_else(|| no_tag(&row.name, &key))?,
            };
            models::replace_tags(conn, row.id, &normalize_tags(Some(tags))?)?;
            events::append(
                conn,
                event(EventKind::ModelUpdated, name.as_str(), None, &actor),
            )?;
            Ok(())
        })
        .await
    }

    /// Sets (`Some(value)`) or deletes (`None`) the MLflow tag `key` of a version.
    pub async fn mlflow_version_tag(
        &self,
        name: ModelName,
        version: i64,
        key: String,
        value: Option<String>,
        actor: &str,
    ) -> RegistryResult<()> {
        let actor = actor.to_owned();
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = resolve_row(conn, &model, &VersionRef::Number(version))?;
            let tags: Vec<String> = serde_json::from_str(&row.tags).map_err(StoreError::from)?;
            let tags = match &value {
                Some(value) => with_tag(&tags, &key, value)?,
                None => without_tag(&tags, &key)
                    .ok_or_else(|| no_tag(&format!("{}/{version}", model.name), &key))?,
            };
            let tags = normalize_tags(Some(tags))?;
            let description = row.description.clone();
            edit_version(conn, &model, &row, description.as_deref(), &tags, &actor)
        })
        .await
    }
}

fn no_tag(owner: &str, key: &str) -> RegistryError {
    RegistryError::not_found(
        "tag_not_found",
        format!("{owner:?} has no tag with key {key:?}"),
    )
}
