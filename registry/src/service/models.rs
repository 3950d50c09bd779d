//! Use cases on models: create, list, show, update, delete.

use capstan_client::http::ModelQuery;
use capstan_client::types::{CreateModel, EventKind, Model, ModelPage, UpdateModel};
use capstan_client::ModelName;

use super::views::{model_view, model_views};
use super::{event, now, Registry};
use crate::domain::access::{Caller, ModelScope};
use crate::domain::metadata::{check_text, normalize_tags};
use crate::domain::paging::{decode_token, encode_token, page_limit};
use crate::error::{RegistryError, RegistryResult};
use crate::store::models::{self, ModelFilter};
use crate::store::rows::NewModelRow;
use crate::store::{events, DbConn, StoreError};

pub(crate) fn model_not_found(name: &str) -> RegistryError {
    RegistryError::not_found("model_not_found", format!("model {name:?} does not exist"))
}

/// Locks the model's row for this transaction, or fails with 404.
pub(crate) fn lock_model(
    conn: &mut DbConn,
    name: &str,
) -> RegistryResult<crate::store::rows::ModelRow> {
    models::lock(conn, name, now())?.ok_or_else(|| model_not_found(name))
}

impl Registry {
    /// Creates a model, by `caller` (whose scope must reach its name).
    pub async fn create_model(
        &self,
        request: CreateModel,
        caller: &Caller,
    ) -> RegistryResult<Model> {
        caller.scope.check_creates(request.name.as_str())?;
        let actor = caller.name.as_str();
        let actor = actor.to_owned();
        check_text("description", request.description.as_deref())?;
        let tags = normalize_tags(request.tags)?;
        self.write(move |conn| {
            let name = request.name.as_str();
            if models::find(conn, name)?.is_some() {
                return Err(RegistryError::conflict(
                    "model_exists",
                    format!("model {name:?} already exists"),
                ));
            }
            let at = now();
            let row = models::insert(
                conn,
                &NewModelRow {
                    name,
                    description: request.description.as_deref(),
                    next_version: 1,
                    created_at: at,
                    updated_at: at,
                },
            )?;
            models::replace_tags(conn, row.id, &tags)?;
            events::append(conn, event(EventKind::ModelCreated, name, None, &actor))?;
            Ok(model_view(conn, &row)?)
        })
        .await
        .map_err(|e| match e {
            // Two creators raced past the existence check: the unique index decides.
            RegistryError::Store(StoreError::UniqueViolation { .. }) => {
                RegistryError::conflict("model_exists", "model already exists")
            }
            other => other,
        })
    }

    /// Models by name, of those `scope` reaches.
    pub async fn list_models(
        &self,
        query: ModelQuery,
        scope: &ModelScope,
    ) -> RegistryResult<ModelPage> {
        let limit = page_limit(query.limit)?;
        let names_like = scope.like_patterns();
        let after = query
            .page_token
            .as_deref()
            .map(|token| decode_token("models", token))
            .transpose()?;
        if let Some(prefix) = &query.name_prefix {
            if prefix.len() > 128 {
                return Err(RegistryError::bad_request(
                    "invalid_prefix",
                    "name_prefix is longer than a name can be",
                ));
            }
        }
        self.db
            .read(move |conn| {
                let rows = models::list(
                    conn,
                    &ModelFilter {
                        name_prefix: query.name_prefix.as_deref(),
                        tag: query.tag.as_deref(),
                        names_like: names_like.as_deref(),
                        after: after.as_deref(),
                        limit: limit + 1,
                    },
                )?;
                let has_more = rows.len() as i64 > limit;
                let page = model_views(conn, &rows[..rows.len().min(limit as usize)])?;
                let next_page_token = has_more
                    .then(|| page.last().map(|m| encode_token("models", m.name.as_str())))
                    .flatten();
                Ok(ModelPage {
                    models: page,
                    next_page_token,
                })
            })
            .await
    }

    pub async fn get_model(&self, name: ModelName) -> RegistryResult<Model> {
        self.db
            .read(move |conn| {
                let row = models::find(conn, name.as_str())?
                    .ok_or_else(|| model_not_found(name.as_str()))?;
                Ok(model_view(conn, &row)?)
            })
            .await
    }

    pub async fn update_model(
        &self,
        name: ModelName,
        update: UpdateModel,
        actor: &str,
    ) -> RegistryResult<Model> {
        let actor = actor.to_owned();
        check_text("description", update.description.as_deref())?;
        let tags = update.tags.map(|t| normalize_tags(Some(t))).transpose()?;
        self.write(move |conn| {
            let row = lock_model(conn, name.as_str())?;
            if let Some(description) = &update.description {
                models::set_description(conn, row.id, Some(description))?;
            }
            if let Some(tags) = &tags {
                models::replace_tags(conn, row.id, tags)?;
            }
            events::append(
                conn,
                event(EventKind::ModelUpdated, name.as_str(), None, &actor),
            )?;
            let row =
                models::find(conn, name.as_str())?.ok_or_else(|| model_not_found(name.as_str()))?;
            Ok(model_view(conn, &row)?)
        })
        .await
    }

    /// Gives a model another name, by `caller` (whose scope must reach both names). Its
    /// versions, stages, aliases, policy and history go with it; the `model_renamed`
    /// event is recorded under the new name with the old one. Refused (409) when the new
    /// name is taken, or while a deployment, batch schedule, webhook or pending promotion
    /// request names the model (they would be left naming nothing).
    pub async fn rename_model(
        &self,
        name: ModelName,
        new_name: ModelName,
        caller: &Caller,
    ) -> RegistryResult<Model> {
        if !caller.sees(name.as_str()) {
            return Err(model_not_found(name.as_str()));
        }
        caller.scope.check_creates(new_name.as_str())?;
        let actor = caller.name.clone();
        self.write(move |conn| {
            let row = lock_model(conn, name.as_str())?;
            if new_name == name {
                return Ok(model_view(conn, &row)?);
            }
            if models::find(conn, new_name.as_str())?.is_some() {
                return Err(RegistryError::conflict(
                    "model_exists",
                    format!("model {:?} already exists", new_name.as_str()),
                ));
            }
            if let Some(what) = models::named_elsewhere(conn, name.as_str())? {
                return Err(RegistryError::conflict(
                    "model_in_use",
                    format!(
                        "{what} names model {:?}; change or delete it before renaming",
                        name.as_str()
                    ),
                ));
            }
            models::rename(conn, row.id, new_name.as_str())?;
            let mut renamed = event(EventKind::ModelRenamed, new_name.as_str(), None, &actor);
            renamed.previous_name = Some(name.to_string());
            events::append(conn, renamed)?;
            let row = models::find(conn, new_name.as_str())?
                .ok_or_else(|| model_not_found(new_name.as_str()))?;
            Ok(model_view(conn, &row)?)
        })
        .await
        .map_err(|e| match e {
            RegistryError::Store(StoreError::UniqueViolation { .. }) => {
                RegistryError::conflict("model_exists", "a model with the new name exists")
            }
            other => other,
        })
    }

    /// Deletes the model, its versions and aliases. Refused while a stage is assigned.
    /// Blobs stay: they are content-addressed and may be shared with other versions.
    pub async fn delete_model(&self, name: ModelName, actor: &str) -> RegistryResult<()> {
        let actor = actor.to_owned();
        self
            .write(move |conn| {
                let row = lock_model(conn, name.as_str())?;
                if let Some((stage, version)) = [("staging", row.staging_version), ("production", row.production_version)]
                    .into_iter()
                    .find_map(|(stage, v)| v.map(|v| (stage, v)))
                {
                    return Err(RegistryError::conflict(
                        "model_in_use",
                        format!("model {name:?} has version {version} in {stage}; roll back or archive before deleting"),
                    ));
                }
                models::delete(conn, row.id)?;
                events::append(conn, event(EventKind::ModelDeleted, name.as_str(), None, &actor))?;
                Ok(())
            })
            .await
    }
}
