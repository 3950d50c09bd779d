//! A model's promotion policy (see docs/security.md, "Governed promotion"): set, show,
//! delete, and judging a move against it ([`govern`], called by the stage and alias use
//! cases inside their transaction). The requests a rule with approvals opens are
//! `service::promotions`.

use capstan_client::types::{EventKind, ModelPolicy, PromotionPolicy, PromotionTarget};
use capstan_client::{ModelName, Stage};

use super::models::{lock_model, model_not_found};
use super::promotion_views::{policy_view, stored_policy};
use super::views::{stage_pointers, to_json};
use super::{event, now, Registry};
use crate::domain::promotion::{check_candidate, check_policy, rule_for, Candidate};
use crate::error::{RegistryError, RegistryResult};
use crate::store::promotions::{self, PolicyRow};
use crate::store::rows::{ModelRow, VersionRow};
use crate::store::{events, models, DbConn, StoreError};

fn policy_not_found(model: &str) -> RegistryError {
    RegistryError::not_found(
        "policy_not_found",
        format!("model {model:?} has no promotion policy"),
    )
}

/// Judges moving `target` to `goal` (returning it there, for a `rollback`) against the
/// model's policy: refused (422) when the version breaks the goal's rule; otherwise the
/// approvals the rule needs (0: move now).
pub(super) fn govern(
    conn: &mut DbConn,
    model: &ModelRow,
    target: &VersionRow,
    goal: &PromotionTarget,
    rollback: bool,
) -> RegistryResult<u32> {
    let Some(row) = promotions::find_policy(conn, model.id)? else {
        return Ok(0);
    };
    let policy = stored_policy(&row)?;
    let Some(rule) = rule_for(&policy, goal) else {
        return Ok(0);
    };
    let metrics = serde_json::from_str(&target.metrics).map_err(StoreError::from)?;
    let pointers = stage_pointers(model);
    let held: Vec<Stage> = [Stage::Staging, Stage::Production]
        .into_iter()
        .filter(|stage| pointers.get(*stage) == Some(target.version))
        .collect();
    check_candidate(
        rule,
        goal,
        &Candidate {
            version: target.version,
            metrics: &metrics,
            stages: &held,
            rollback,
        },
    )?;
    Ok(rule.approvals)
}

impl Registry {
    /// The model's policy; 404 `policy_not_found` when it has none.
    pub async fn get_policy(&self, name: ModelName) -> RegistryResult<ModelPolicy> {
        self.db
            .read(move |conn| {
                let model = models::find(conn, name.as_str())?
                    .ok_or_else(|| model_not_found(name.as_str()))?;
                let row = promotions::find_policy(conn, model.id)?
                    .ok_or_else(|| policy_not_found(name.as_str()))?;
                Ok(policy_view(&model.name, &row)?)
            })
            .await
    }

    /// Sets (creates or replaces) the model's policy; records `policy_set`.
    pub async fn put_policy(
        &self,
        name: ModelName,
        policy: PromotionPolicy,
        actor: &str,
    ) -> RegistryResult<ModelPolicy> {
        check_policy(&policy)?;
        let actor = actor.to_owned();
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = PolicyRow {
                model_id: model.id,
                policy: to_json(&policy)?,
                updated_at: now(),
                updated_by: actor.clone(),
            };
            promotions::put_policy(conn, &row)?;
            events::append(conn, event(EventKind::PolicySet, &model.name, None, &actor))?;
            Ok(policy_view(&model.name, &row)?)
        })
        .await
    }

    /// Removes the model's policy (promotions move at once again); records
    /// `policy_deleted`. Pending requests stay and can still be decided.
    pub async fn delete_policy(&self, name: ModelName, actor: &str) -> RegistryResult<()> {
        let actor = actor.to_owned();
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            if !promotions::delete_policy(conn, model.id)? {
                return Err(policy_not_found(&model.name));
            }
            let deleted = event(EventKind::PolicyDeleted, &model.name, None, &actor);
            events::append(conn, deleted)?;
            Ok(())
        })
        .await
    }
}
