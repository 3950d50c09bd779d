//! Rows → wire types: the views the API shows of models, versions and events.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};

use capstan_client::http::api;
use capstan_client::manifest::TreePath;
use capstan_client::runtime;
use capstan_client::types::{
    ArtifactLayout, DeploymentState, Event, Model, ServedFile, StagePointers, Version,
    VersionStatus,
};
use capstan_client::{Digest, ModelName, Stage, VersionRef};

use crate::store::rows::{AliasRow, EventRow, ModelRow, VersionRow};
use crate::store::{aliases, models, versions, DbConn, StoreError, StoreResult};

pub(crate) fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

fn stored_name(name: &str) -> StoreResult<ModelName> {
    ModelName::parse(name)
        .map_err(|e| StoreError::Invalid(format!("stored model name is invalid: {e}")))
}

pub(crate) fn stage_pointers(row: &ModelRow) -> StagePointers {
    StagePointers {
        staging: row.staging_version,
        production: row.production_version,
    }
}

/// The model as the API shows it: with its tags, stages, aliases and latest version.
pub(crate) fn model_view(conn: &mut DbConn, row: &ModelRow) -> StoreResult<Model> {
    let mut views = model_views(conn, std::slice::from_ref(row))?;
    views.pop().ok_or(StoreError::NotFound)
}

/// [`model_view`] of each row, in order: three queries for the whole page, whatever its
/// length.
pub(crate) fn model_views(conn: &mut DbConn, rows: &[ModelRow]) -> StoreResult<Vec<Model>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let mut tags = models::tags_of_many(conn, &ids)?;
    let mut aliases: HashMap<i64, BTreeMap<String, i64>> = HashMap::new();
    for alias in aliases::of_models(conn, &ids)? {
        aliases
            .entry(alias.model_id)
            .or_default()
            .insert(alias.alias, alias.version);
    }
    let latest = versions::latest_ready_of_many(conn, &ids)?;
    rows.iter()
        .map(|row| {
            Ok(Model {
                name: stored_name(&row.name)?,
                description: row.description.clone(),
                tags: tags.remove(&row.id).unwrap_or_default(),
                stages: stage_pointers(row),
                aliases: aliases.remove(&row.id).unwrap_or_default(),
                latest_version: latest.get(&row.id).copied(),
                created_at: utc(row.created_at),
                updated_at: utc(row.updated_at),
            })
        })
        .collect()
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
    let name = stored_name(&model.name)?;
    let layout = ArtifactLayout::parse(&row.layout).unwrap_or_default();
    let served_file = served_file(row);
    let unservable_reason = (row.status == VersionStatus::Ready)
        .then(|| unservable_reason(row, layout, served_file.is_some()))
        .flatten();
    // A tree created with its manifest takes its files one by one, not on this URL.
    let awaits_bytes = layout == ArtifactLayout::Blob || row.expected_digest.is_none();
    let upload_url = (row.status == VersionStatus::Pending && awaits_bytes)
        .then(|| api::artifact(&name, &VersionRef::Number(row.version)));
    Ok(Version {
        model: name,
        version: row.version,
        status: row.status,
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
        created_by: row.created_by.clone(),
        upload_url,
        layout,
        files: row.tree.file_count,
        served_file,
        servable: row.status == VersionStatus::Ready && unservable_reason.is_none(),
        unservable_reason,
    })
}

/// The file of a tree that serving loads, as recorded at upload.
fn served_file(row: &VersionRow) -> Option<ServedFile> {
    let tree = &row.tree;
    Some(ServedFile {
        path: TreePath::parse(tree.served_path.as_deref()?).ok()?,
        digest: Digest::parse(tree.served_digest.as_deref()?).ok()?,
        size: u64::try_from(tree.served_size?).ok()?,
        format: "onnx".to_owned(),
    })
}

/// Why a ready version cannot be served: a format the runtime does not run, or a tree's
/// recorded reason.
fn unservable_reason(row: &VersionRow, layout: ArtifactLayout, served: bool) -> Option<String> {
    match layout {
        ArtifactLayout::Tree if served => None,
        ArtifactLayout::Tree => Some(
            row.tree
                .unservable_reason
                .clone()
                .unwrap_or_else(|| "the tree has no file Capstan can serve".to_owned()),
        ),
        ArtifactLayout::Blob if runtime::servable_formats().contains(&row.format.as_str()) => None,
        ArtifactLayout::Blob => Some(format!(
            "Capstan stores the format {:?} but does not run it; it serves {}",
            row.format,
            runtime::servable_formats().join(", ")
        )),
    }
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
    Ok(Event {
        seq: row.seq,
        kind: row.kind,
        model: stored_name(&row.model)?,
        version: row.version,
        stage: row.stage.as_deref().and_then(|s| s.parse().ok()),
        from_version: row.from_version,
        to_version: row.to_version,
        reason: row.reason,
        alias: row.alias,
        digest: row.digest.as_deref().and_then(|d| Digest::parse(d).ok()),
        job: row.job,
        deployment: row.deployment,
        from_state: row.from_state.as_deref().and_then(DeploymentState::parse),
        to_state: row.to_state.as_deref().and_then(DeploymentState::parse),
        request: row.request,
        previous_name: row
            .previous_name
            .as_deref()
            .and_then(|name| ModelName::parse(name).ok()),
        actor: row.actor,
        created_at: utc(row.created_at),
    })
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    Ok(serde_json::to_string(value)?)
}
