//! Use cases that edit or remove an existing version: its description and tags (the
//! artifact never changes), and deleting it. Each is one transaction with its event
//! (`version_updated`, `version_deleted`), whichever API asked.

use capstan_client::types::{EventKind, UpdateVersion, Version};
use capstan_client::{ModelName, VersionRef};

use super::models::lock_model;
use super::resolve::resolve_row;
use super::views::{load_version_view, to_json};
use super::{event, Registry};
use crate::domain::metadata::{check_text, normalize_tags};
use crate::domain::policy::check_archivable;
use crate::error::RegistryResult;
use crate::store::rows::{ModelRow, VersionRow};
use crate::store::{aliases, events, stages, versions, DbConn};

/// Sets a version's description and tags (already checked) and records the change.
pub(super) fn edit_version(
    conn: &mut DbConn,
    model: &ModelRow,
    row: &VersionRow,
    description: Option<&str>,
    tags: &[String],
    actor: &str,
) -> RegistryResult<()> {
    versions::set_metadata(conn, row.id, description, &to_json(&tags)?)?;
    events::append(
        conn,
        event(
            EventKind::VersionUpdated,
            &model.name,
            Some(row.version),
            actor,
        ),
    )?;
    Ok(())
}

/// Removes the aliases pointing at `row`, each with its `alias_removed` event (saying
/// `reason`).
pub(super) fn remove_aliases_of(
    conn: &mut DbConn,
    model: &ModelRow,
    row: &VersionRow,
    reason: Option<&str>,
    actor: &str,
) -> RegistryResult<()> {
    for alias in aliases::of_model(conn, model.id)?
        .into_iter()
        .filter(|a| a.version == row.version)
    {
        aliases::delete(conn, model.id, &alias.alias)?;
        let mut removed = event(
            EventKind::AliasRemoved,
            &model.name,
            Some(row.version),
            actor,
        );
        removed.alias = Some(alias.alias);
        removed.reason = reason.map(str::to_owned);
        events::append(conn, removed)?;
    }
    Ok(())
}

/// Deletes `row`: refused while it holds a stage; its aliases are removed and it leaves
/// the stages' rollback history. Its blobs stay (content-addressed, maybe shared).
pub(super) fn delete_row(
    conn: &mut DbConn,
    model: &ModelRow,
    row: &VersionRow,
    actor: &str,
) -> RegistryResult<()> {
    let view = load_version_view(conn, model, row)?;
    check_archivable(row.version, &view.stages)?;
    remove_aliases_of(conn, model, row, Some("version deleted"), actor)?;
    stages::forget(conn, model.id, row.version)?;
    versions::delete(conn, row.id)?;
    let mut deleted = event(
        EventKind::VersionDeleted,
        &model.name,
        Some(row.version),
        actor,
    );
    deleted.digest = row.digest.clone();
    events::append(conn, deleted)?;
    Ok(())
}

impl Registry {
    /// Changes a version's description and/or tags (tags replace the old ones).
    pub async fn update_version(
        &self,
        name: ModelName,
        reference: VersionRef,
        update: UpdateVersion,
        actor: &str,
    ) -> RegistryResult<Version> {
        let actor = actor.to_owned();
        check_text("description", update.description.as_deref())?;
        let tags = update.tags.map(|t| normalize_tags(Some(t))).transpose()?;
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = resolve_row(conn, &model, &reference)?;
            let description = update.description.or_else(|| row.description.clone());
            let tags = match tags {
                Some(tags) => tags,
                None => serde_json::from_str(&row.tags).map_err(crate::store::StoreError::from)?,
            };
            edit_version(conn, &model, &row, description.as_deref(), &tags, &actor)?;
            let row = resolve_row(conn, &model, &VersionRef::Number(row.version))?;
            Ok(load_version_view(conn, &model, &row)?)
        })
        .await
    }

    /// Deletes a version (see [`delete_row`]); its number is never reused.
    pub async fn delete_version(
        &self,
        name: ModelName,
        reference: VersionRef,
        actor: &str,
    ) -> RegistryResult<()> {
        let actor = actor.to_owned();
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = resolve_row(conn, &model, &reference)?;
            delete_row(conn, &model, &row, &actor)
        })
        .await
    }
}
