//! Use cases on aliases: set (create or move) and delete. Under a promotion policy
//! (`service::promotions`) the version must meet the alias's rule, and a rule that needs
//! approvals turns the move into a promotion request.

use capstan_client::types::{Alias, EventKind, PromotionTarget};
use capstan_client::{AliasName, ModelName, VersionRef};

use super::models::lock_model;
use super::policies::govern;
use super::promotions::{open_request, NewRequest, Promotion};
use super::resolve::resolve_row;
use super::stages::state_of;
use super::{event, now, Registry};
use crate::domain::metadata::check_text;
use crate::domain::policy::check_assignable;
use crate::error::{RegistryError, RegistryResult};
use crate::store::rows::{AliasRow, ModelRow, VersionRow};
use crate::store::{aliases, events, DbConn};

/// Points `alias` at `target` and records the change, why, and the promotion request that
/// caused it, if any.
pub(super) fn assign_alias(
    conn: &mut DbConn,
    model: &ModelRow,
    alias: &AliasName,
    target: &VersionRow,
    reason: Option<String>,
    actor: &str,
    request: Option<&str>,
) -> RegistryResult<()> {
    check_assignable(&state_of(target), &format!("alias {:?}", alias.as_str()))?;
    let version = target.version;
    let previous = aliases::upsert(
        conn,
        &AliasRow {
            model_id: model.id,
            alias: alias.as_str().to_owned(),
            version,
            updated_at: now(),
        },
    )?;
    if previous != Some(version) {
        let mut set = event(EventKind::AliasSet, &model.name, Some(version), actor);
        set.alias = Some(alias.as_str().to_owned());
        set.from_version = previous;
        set.to_version = Some(version);
        set.request = request.map(str::to_owned);
        set.reason = reason;
        events::append(conn, set)?;
    }
    Ok(())
}

impl Registry {
    /// Points `alias` at `version` (`reason` goes into the event log), or opens a
    /// promotion request when the alias's policy needs approvals.
    pub async fn set_alias(
        &self,
        name: ModelName,
        alias: AliasName,
        version: i64,
        reason: Option<String>,
        actor: &str,
    ) -> RegistryResult<Promotion<Alias>> {
        let actor = actor.to_owned();
        check_text("reason", reason.as_deref())?;
        let ttl = *self.promotion_request_ttl;
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let target = resolve_row(conn, &model, &VersionRef::Number(version))?;
            check_assignable(&state_of(&target), &format!("alias {:?}", alias.as_str()))?;
            let current = aliases::find(conn, model.id, alias.as_str())?;
            if current != Some(version) {
                let goal = PromotionTarget::Alias(alias.clone());
                let approvals = govern(conn, &model, &target, &goal, false)?;
                if approvals > 0 {
                    let new = NewRequest {
                        target: goal,
                        rollback: false,
                        version,
                        expected_version: None,
                        approvals,
                        reason,
                    };
                    return Ok(Promotion::Requested(Box::new(open_request(
                        conn, &model, new, &actor, ttl,
                    )?)));
                }
            }
            assign_alias(conn, &model, &alias, &target, reason, &actor, None)?;
            Ok(Promotion::Done(Alias {
                model: name,
                alias,
                version,
            }))
        })
        .await
    }

    pub async fn delete_alias(
        &self,
        name: ModelName,
        alias: AliasName,
        reason: Option<String>,
        actor: &str,
    ) -> RegistryResult<()> {
        let actor = actor.to_owned();
        check_text("reason", reason.as_deref())?;
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let version = aliases::find(conn, model.id, alias.as_str())?.ok_or_else(|| {
                RegistryError::not_found(
                    "alias_not_found",
                    format!("model {:?} has no alias {:?}", model.name, alias.as_str()),
                )
            })?;
            aliases::delete(conn, model.id, alias.as_str())?;
            let mut removed = event(EventKind::AliasRemoved, &model.name, Some(version), &actor);
            removed.alias = Some(alias.as_str().to_owned());
            removed.reason = reason;
            events::append(conn, removed)?;
            Ok(())
        })
        .await
    }
}
