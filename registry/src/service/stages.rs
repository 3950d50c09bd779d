//! Use cases on stages: promote (with optimistic concurrency) and roll back.

use capstan_client::types::{EventKind, PromoteRequest, Version};
use capstan_client::{ModelName, Stage, VersionRef};

use super::models::lock_model;
use super::resolve::resolve_row;
use super::views::{load_version_view, stage_pointers};
use super::{event, Registry};
use crate::domain::metadata::check_text;
use crate::domain::policy::{check_assignable, check_expected_holder, VersionState};
use crate::error::{RegistryError, RegistryResult};
use crate::store::rows::{ModelRow, VersionRow};
use crate::store::{events, models, stages, DbConn};

fn state_of(row: &VersionRow) -> VersionState {
    VersionState {
        version: row.version,
        status: row.status,
        archived: row.archived_at.is_some(),
    }
}

/// Points `stage` at `to` and records the change (from the current holder).
fn move_stage(
    conn: &mut DbConn,
    model: &ModelRow,
    stage: Stage,
    to: i64,
    reason: Option<String>,
    actor: &str,
) -> RegistryResult<()> {
    let from = stage_pointers(model).get(stage);
    models::set_stage_pointer(conn, model.id, stage, Some(to))?;
    let mut changed = event(EventKind::StageChanged, &model.name, Some(to), actor);
    changed.stage = Some(stage.as_str().to_owned());
    changed.from_version = from;
    changed.to_version = Some(to);
    changed.reason = reason;
    events::append(conn, changed)?;
    Ok(())
}

impl Registry {
    /// Moves `stage` to `request.version` in one transaction. With `expected_version`,
    /// fails with 409 unless the stage still holds what the caller saw.
    pub async fn promote(
        &self,
        name: ModelName,
        stage: Stage,
        request: PromoteRequest,
        actor: &str,
    ) -> RegistryResult<Version> {
        let actor = actor.to_owned();
        check_text("reason", request.reason.as_deref())?;
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let current = stage_pointers(&model).get(stage);
            check_expected_holder(stage, current, request.expected_version)?;
            let target = resolve_row(conn, &model, &VersionRef::Number(request.version))?;
            check_assignable(&state_of(&target), stage.as_str())?;
            if current != Some(target.version) {
                if let Some(previous) = current {
                    stages::push_previous(conn, model.id, stage, previous)?;
                }
                move_stage(conn, &model, stage, target.version, request.reason, &actor)?;
            }
            let model = lock_model(conn, name.as_str())?;
            Ok(load_version_view(conn, &model, &target)?)
        })
        .await
    }

    /// Returns `stage` to the version that held it before the last promotion.
    pub async fn rollback(
        &self,
        name: ModelName,
        stage: Stage,
        reason: Option<String>,
        actor: &str,
    ) -> RegistryResult<Version> {
        let actor = actor.to_owned();
        check_text("reason", reason.as_deref())?;
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let previous = stages::pop_previous(conn, model.id, stage)?.ok_or_else(|| {
                RegistryError::conflict(
                    "no_previous_version",
                    format!(
                        "{stage} of {:?} has no previous version to roll back to",
                        model.name
                    ),
                )
            })?;
            let target = resolve_row(conn, &model, &VersionRef::Number(previous))?;
            check_assignable(&state_of(&target), stage.as_str())?;
            let reason = reason.or_else(|| Some("rollback".to_owned()));
            move_stage(conn, &model, stage, target.version, reason, &actor)?;
            let model = lock_model(conn, name.as_str())?;
            Ok(load_version_view(conn, &model, &target)?)
        })
        .await
    }
}
