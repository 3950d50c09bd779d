//! Use cases on aliases: set (create or move) and delete.

use capstan_client::types::{Alias, EventKind};
use capstan_client::{AliasName, ModelName, VersionRef};

use super::models::lock_model;
use super::resolve::resolve_row;
use super::{event, now, Registry};
use crate::domain::policy::{check_assignable, VersionState};
use crate::error::{RegistryError, RegistryResult};
use crate::store::rows::AliasRow;
use crate::store::{aliases, events};

impl Registry {
    pub async fn set_alias(
        &self,
        name: ModelName,
        alias: AliasName,
        version: i64,
        actor: &str,
    ) -> RegistryResult<Alias> {
        let actor = actor.to_owned();
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let target = resolve_row(conn, &model, &VersionRef::Number(version))?;
            let state = VersionState {
                version: target.version,
                status: target.status,
                archived: target.archived_at.is_some(),
            };
            check_assignable(&state, &format!("alias {:?}", alias.as_str()))?;
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
                let mut set = event(EventKind::AliasSet, &model.name, Some(version), &actor);
                set.alias = Some(alias.as_str().to_owned());
                set.from_version = previous;
                set.to_version = Some(version);
                events::append(conn, set)?;
            }
            Ok(Alias {
                model: name,
                alias,
                version,
            })
        })
        .await
    }

    pub async fn delete_alias(
        &self,
        name: ModelName,
        alias: AliasName,
        actor: &str,
    ) -> RegistryResult<()> {
        let actor = actor.to_owned();
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
            events::append(conn, removed)?;
            Ok(())
        })
        .await
    }
}
