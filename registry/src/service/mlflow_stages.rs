//! MLflow's `transition-stage` over Capstan's stages: `Staging`/`Production` move
//! Capstan's stage pointer (one version each; the previous holder reads `None`, or is
//! archived with `archive_existing_versions`), `Archived` archives, `None` empties the
//! stage the version holds. One transaction with its events.

use capstan_client::types::{PromotionTarget, Version};
use capstan_client::{ModelName, Stage, VersionRef};

use super::models::{lock_model, model_not_found};
use super::policies::govern;
use super::promotions::{open_request, NewRequest};
use super::resolve::resolve_row;
use super::stages::{clear_stage, promote_row, state_of};
use super::versions::archive_row;
use super::views::{load_version_view, stage_pointers};
use super::Registry;
use crate::domain::mlflow::MlflowStage;
use crate::domain::policy::check_assignable;
use crate::error::{RegistryError, RegistryResult};
use crate::store::rows::{ModelRow, VersionRow};
use crate::store::{models, DbConn};

impl Registry {
    /// Moves a version to an MLflow stage (see `docs/mlflow.md`): `Staging`/`Production`
    /// move Capstan's stage pointer to it (it leaves the other stage; the previous holder
    /// reads `None`, or is archived with `archive_existing`); `Archived` takes it out of
    /// its stages and archives it; `None` takes it out of its stages. Under a promotion
    /// policy that needs approvals, a promotion request is opened and `409
    /// promotion_requested` answered.
    pub async fn mlflow_transition(
        &self,
        name: ModelName,
        version: i64,
        target: MlflowStage,
        archive_existing: bool,
        actor: &str,
    ) -> RegistryResult<Version> {
        let actor = actor.to_owned();
        let ttl = *self.promotion_request_ttl;
        let outcome = self
            .write(move |conn| {
                let model = lock_model(conn, name.as_str())?;
                let row = resolve_row(conn, &model, &VersionRef::Number(version))?;
                if let Some(request) =
                    transition(conn, &model, &row, target, archive_existing, &actor, ttl)?
                {
                    return Ok(Err(request));
                }
                let model = lock_model(conn, name.as_str())?;
                let row = resolve_row(conn, &model, &VersionRef::Number(version))?;
                Ok(Ok(load_version_view(conn, &model, &row)?))
            })
            .await?;
        outcome.map_err(|request| {
            RegistryError::conflict(
                "promotion_requested",
                format!(
                    "the promotion policy needs approvals: promotion request {request} is \
                     waiting for them (see /api/v1/promotion-requests/{request})"
                ),
            )
        })
    }
}

const REASON: &str = "MLflow transition-stage";

/// The transition of [`Registry::mlflow_transition`] in its transaction; the id of the
/// promotion request a policy opened instead, if one did.
fn transition(
    conn: &mut DbConn,
    model: &ModelRow,
    row: &VersionRow,
    target: MlflowStage,
    archive_existing: bool,
    actor: &str,
    ttl: std::time::Duration,
) -> RegistryResult<Option<String>> {
    let held: Vec<Stage> = Stage::ALL
        .into_iter()
        .filter(|s| stage_pointers(model).get(*s) == Some(row.version))
        .collect();
    let stage = match target {
        MlflowStage::Staging => Stage::Staging,
        MlflowStage::Production => Stage::Production,
        MlflowStage::None | MlflowStage::Archived => {
            if target == MlflowStage::None && row.archived_at.is_some() {
                return Err(RegistryError::conflict(
                    "version_archived",
                    format!(
                        "version {} of {:?} is archived; Capstan does not bring archived \
                         versions back",
                        row.version, model.name
                    ),
                ));
            }
            for stage in held {
                let current = reload(conn, model)?;
                clear_stage(conn, &current, stage, Some(REASON.into()), actor)?;
            }
            if target == MlflowStage::Archived {
                let current = reload(conn, model)?;
                archive_row(conn, &current, row, Some(REASON), actor)?;
            }
            return Ok(None);
        }
    };
    check_assignable(&state_of(row), stage.as_str())?;
    let previous = stage_pointers(model).get(stage);
    if previous == Some(row.version) {
        return Ok(None);
    }
    let goal = PromotionTarget::Stage(stage);
    let approvals = govern(conn, model, row, &goal, false)?;
    if approvals > 0 {
        let new = NewRequest {
            target: goal,
            rollback: false,
            version: row.version,
            expected_version: None,
            approvals,
            reason: Some(REASON.into()),
        };
        return Ok(Some(open_request(conn, model, new, actor, ttl)?.id));
    }
    // An MLflow version is in one stage: it leaves the other one.
    for other in held {
        let current = reload(conn, model)?;
        clear_stage(conn, &current, other, Some(REASON.into()), actor)?;
    }
    let model = reload(conn, model)?;
    promote_row(conn, &model, stage, row, Some(REASON.into()), actor, None)?;
    if let (true, Some(previous)) = (archive_existing, previous) {
        let model = reload(conn, &model)?;
        let previous_row = resolve_row(conn, &model, &VersionRef::Number(previous))?;
        // A Capstan version may also hold the other stage: it then stays as it is.
        let still_held = Stage::ALL
            .into_iter()
            .any(|s| stage_pointers(&model).get(s) == Some(previous));
        if !still_held {
            archive_row(conn, &model, &previous_row, Some(REASON), actor)?;
        }
    }
    Ok(None)
}

/// The model's row as it is now (stage pointers move during a transition).
fn reload(conn: &mut DbConn, model: &ModelRow) -> RegistryResult<ModelRow> {
    models::find(conn, &model.name)?.ok_or_else(|| model_not_found(&model.name))
}
