//! Rows → wire types.

use chrono::{DateTime, NaiveDateTime, Utc};

use capstan_client::types::{Event, EventKind, Model, StagePointers, Version, VersionStatus};
use capstan_client::{Digest, ModelName, Stage};

use crate::store::rows::{AliasRow, EventRow, ModelRow, VersionRow};
use crate::store::{aliases, models, versions, DbConn, StoreError, StoreResult};

pub(crate) fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

fn stored_name(name: &str) -> StoreResult<ModelName> {
    ModelName::parse(name)
        .map_err(|e| StoreError::Migration(format!("stored model name is invalid: {e}")))
}

pub(crate) fn stage_pointers(row: &ModelRow) -> StagePointers {
    StagePointers {
        staging: row.staging_version,
        production: row.production_version,
    }
}

pub(crate) fn status_of(row: &VersionRow) -> VersionStatus {
    match row.status.as_str() {
        "ready" => VersionStatus::Ready,
        "failed" => VersionStatus::Failed,
        _ => VersionStatus::Pending,
    }
}

/// The model as the API shows it: with its tags, stages, aliases and latest version.
pub(crate) fn model_view(conn: &mut DbConn, row: &ModelRow) -> StoreResult<Model> {
    let tags = models::tags_of(conn, row.id)?;
    let aliases = aliases::of_model(conn, row.id)?
        .into_iter()
        .map(|a| (a.alias, a.version))
        .collect();
    let latest_version = versions::latest_ready(conn, row.id)?;
    Ok(Model {
        name: stored_name(&row.name)?,
        description: row.description.clone(),
        tags,
        stages: stage_pointers(row),
        aliases,
        latest_version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    })
}

/// The version as the API shows it; `aliases` are the model's aliases (any order).
pub(crate) fn version_view(
    model: &ModelRow,
    aliases: &[AliasRow],
    row: &VersionRow,
) -> StoreResult<Version> {
    let pointers = stage_pointers(model);
    let stages = Stage::ALL
        .into_iter()
        .filter(|stage| pointers.get(*stage) == Some(row.version))
        .collect();
    let aliases = aliases
        .iter()
        .filter(|a| a.version == row.version)
        .map(|a| a.alias.clone())
        .collect();
    Ok(Version {
        model: stored_name(&model.name)?,
        version: row.version,
        status: status_of(row),
        digest: row.digest.as_deref().and_then(|d| Digest::parse(d).ok()),
        size: row.size,
        format: row.format.clone(),
        stages,
        aliases,
        archived_at: row.archived_at.map(utc),
        signature: row
            .signature
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?,
        metrics: serde_json::from_str(&row.metrics)?,
        params: serde_json::from_str(&row.params)?,
        tags: serde_json::from_str(&row.tags)?,
        source: row.source.clone(),
        description: row.description.clone(),
        created_at: utc(row.created_at),
        upload_url: (status_of(row) == VersionStatus::Pending).then(|| {
            format!(
                "/api/v1/models/{}/versions/{}/artifact",
                model.name, row.version
            )
        }),
    })
}

/// Loads the aliases and builds the view of one version.
pub(crate) fn load_version_view(
    conn: &mut DbConn,
    model: &ModelRow,
    row: &VersionRow,
) -> StoreResult<Version> {
    let aliases = aliases::of_model(conn, model.id)?;
    version_view(model, &aliases, row)
}

pub(crate) fn event_view(row: EventRow) -> StoreResult<Event> {
    let kind = EventKind::parse(&row.kind).ok_or_else(|| {
        StoreError::Migration(format!("unknown stored event kind {:?}", row.kind))
    })?;
    Ok(Event {
        seq: row.seq,
        kind,
        model: stored_name(&row.model)?,
        version: row.version,
        stage: row.stage.as_deref().and_then(|s| s.parse().ok()),
        from_version: row.from_version,
        to_version: row.to_version,
        reason: row.reason,
        alias: row.alias,
        digest: row.digest.as_deref().and_then(|d| Digest::parse(d).ok()),
        created_at: utc(row.created_at),
    })
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    Ok(serde_json::to_string(value)?)
}
