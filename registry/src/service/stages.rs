//! Use cases on stages: promote (with optimistic concurrency) and roll back. Under a
//! promotion policy (`service::promotions`) the version must meet the stage's rule, and a
//! rule that needs approvals turns the move into a promotion request.

use capstan_client::types::{EventKind, PromoteRequest, PromotionTarget, Version};
use capstan_client::{ModelName, Stage, VersionRef};

use super::models::lock_model;
use super::policies::govern;
use super::promotions::{open_request, NewRequest, Promotion};
use super::resolve::resolve_row;
use super::views::{load_version_view, stage_pointers};
use super::{event, Registry};
use crate::domain::metadata::check_text;
use crate::domain::policy::{check_assignable, check_expected_holder, VersionState};
use crate::error::{RegistryError, RegistryResult};
use crate::store::rows::{ModelRow, VersionRow};
use crate::store::{events, models, stages, DbConn};

pub(super) fn state_of(row: &VersionRow) -> VersionState {
    VersionState {
        version: row.version,
        status: row.status,
        archived: row.archived_at.is_some(),
    }
}

/// Points `stage` at `to` and records the change (from the current holder), with the
/// promotion request that caused it, if any.
pub(super) fn move_stage(
    conn: &mut DbConn,
    model: &ModelRow,
    stage: Stage,
    to: i64,
    reason: Option<String>,
    actor: &str,
    request: Option<&str>,
) -> RegistryResult<()> {
    let from = stage_pointers(model).get(stage);
    models::set_stage_pointer(conn, model.id, stage, Some(to))?;
    let mut changed = event(EventKind::StageChanged, &model.name, Some(to), actor);
    changed.stage = Some(stage.as_str().to_owned());
    changed.from_version = from;
    changed.to_version = Some(to);
    changed.reason = reason;
    changed.request = request.map(str::to_owned);
    events::append(conn, changed)?;
    Ok(())
}

/// Puts `target` in `stage` (pushing the current holder on the stage's history).
pub(super) fn promote_row(
    conn: &mut DbConn,
    model: &ModelRow,
    stage: Stage,
    target: &VersionRow,
    reason: Option<String>,
    actor: &str,
    request: Option<&str>,
) -> RegistryResult<()> {
    let current = stage_pointers(model).get(stage);
    if current != Some(target.version) {
        if let Some(previous) = current {
            stages::push_previous(conn, model.id, stage, previous)?;
        }
        move_stage(conn, model, stage, target.version, reason, actor, request)?;
    }
    Ok(())
}

/// Empties `stage` (its holder goes on the stage's history, so a rollback puts it back)
/// and records the change; returns the version it held, if any.
pub(super) fn clear_stage(
    conn: &mut DbConn,
    model: &ModelRow,
    stage: Stage,
    reason: Option<String>,
    actor: &str,
) -> RegistryResult<Option<i64>> {
    let Some(holder) = stage_pointers(model).get(stage) else {
        return Ok(None);
    };
    stages::push_previous(conn, model.id, stage, holder)?;
    models::set_stage_pointer(conn, model.id, stage, None)?;
    // No `version`: the stage names no version now (a message's artifact is none).
    let mut changed = event(EventKind::StageChanged, &model.name, None, actor);
    changed.stage = Some(stage.as_str().to_owned());
    changed.from_version = Some(holder);
    changed.to_version = None;
    changed.reason = reason;
    events::append(conn, changed)?;
    Ok(Some(holder))
}

pub(super) fn no_previous_version(model: &ModelRow, stage: Stage) -> RegistryError {
    RegistryError::conflict(
        "no_previous_version",
        format!(
            "{stage} of {:?} has no previous version to roll back to",
            model.name
        ),
    )
}

impl Registry {
    /// Moves `stage` to `request.version` in one transaction. With `expected_version`,
    /// fails with 409 unless the stage still holds what the caller saw. Under a policy
    /// the version must meet the stage's rule (422), and a rule with approvals answers a
    /// pending promotion request instead.
    pub async fn promote(
        &self,
        name: ModelName,
        stage: Stage,
        request: PromoteRequest,
        actor: &str,
    ) -> RegistryResult<Promotion<Version>> {
        let actor = actor.to_owned();
        let ttl = *self.promotion_request_ttl;
        check_text("reason", request.reason.as_deref())?;
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let current = stage_pointers(&model).get(stage);
            check_expected_holder(stage, current, request.expected_version)?;
            let target = resolve_row(conn, &model, &VersionRef::Number(request.version))?;
            check_assignable(&state_of(&target), stage.as_str())?;
            if current != Some(target.version) {
                let goal = PromotionTarget::Stage(stage);
                let approvals = govern(conn, &model, &target, &goal, false)?;
                if approvals > 0 {
                    let new = NewRequest {
                        target: goal,
                        rollback: false,
                        version: target.version,
                        expected_version: request.expected_version,
                        approvals,
                        reason: request.reason,
                    };
                    return Ok(Promotion::Requested(Box::new(open_request(
                        conn, &model, new, &actor, ttl,
                    )?)));
                }
            }
            promote_row(conn, &model, stage, &target, request.reason, &actor, None)?;
            let model = lock_model(conn, name.as_str())?;
            Ok(Promotion::Done(load_version_view(conn, &model, &target)?))
        })
        .await
    }

    /// Empties `stage`: no version holds it afterwards (a rollback puts its holder back).
    /// Returns the version that held it; `404 stage_empty` when none did.
    pub async fn remove_from_stage(
        &self,
        name: ModelName,
        stage: Stage,
        reason: Option<String>,
        actor: &str,
    ) -> RegistryResult<i64> {
        let actor = actor.to_owned();
        check_text("reason", reason.as_deref())?;
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            clear_stage(conn, &model, stage, reason, &actor)?.ok_or_else(|| {
                RegistryError::not_found(
                    "stage_empty",
                    format!("no version of {:?} is in {stage}", model.name),
                )
            })
        })
        .await
    }

    /// Returns `stage` to the version that held it before the last promotion. Under a
    /// policy the previous holder must meet the stage's rule, and a rule with approvals
    /// answers a pending promotion request (expecting the current holder) instead.
    pub async fn rollback(
        &self,
        name: ModelName,
        stage: Stage,
        reason: Option<String>,
        actor: &str,
    ) -> RegistryResult<Promotion<Version>> {
        let actor = actor.to_owned();
        let ttl = *self.promotion_request_ttl;
        check_text("reason", reason.as_deref())?;
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let previous = stages::peek_previous(conn, model.id, stage)?
                .ok_or_else(|| no_previous_version(&model, stage))?;
            let target = resolve_row(conn, &model, &VersionRef::Number(previous))?;
            check_assignable(&state_of(&target), stage.as_str())?;
            let goal = PromotionTarget::Stage(stage);
            let approvals = govern(conn, &model, &target, &goal, true)?;
            if approvals > 0 {
                let new = NewRequest {
                    target: goal,
                    rollback: true,
                    version: target.version,
                    expected_version: Some(stage_pointers(&model).get(stage)),
                    approvals,
                    reason,
                };
                return Ok(Promotion::Requested(Box::new(open_request(
                    conn, &model, new, &actor, ttl,
                )?)));
            }
            stages::pop_previous(conn, model.id, stage)?;
            let reason = reason.or_else(|| Some("rollback".to_owned()));
            move_stage(conn, &model, stage, target.version, reason, &actor, None)?;
            let model = lock_model(conn, name.as_str())?;
            Ok(Promotion::Done(load_version_view(conn, &model, &target)?))
        })
        .await
    }
}
