//! Stages, aliases and the event log: `/stages/{stage}`, `/aliases/{alias}`,
//! `/api/v1/events`.

use reqwest::Method;

use super::api::{self, EventQuery};
use super::Client;
use crate::error::Result;
use crate::names::{AliasName, ModelName};
use crate::reference::Stage;
use crate::types::{Alias, EventPage, PromoteRequest, RollbackRequest, SetAlias, Version};

impl Client {
    /// Puts a version in a stage; returns the promoted version. Not retried (a retry
    /// after a lost answer would record a second promotion).
    pub async fn promote(
        &self,
        name: &ModelName,
        stage: Stage,
        request: &PromoteRequest,
    ) -> Result<Version> {
        self.send_json(Method::POST, &api::stage(name, stage), request)
            .await
    }

    /// Returns a stage to the version that held it before the last promotion.
    pub async fn rollback(
        &self,
        name: &ModelName,
        stage: Stage,
        request: &RollbackRequest,
    ) -> Result<Version> {
        self.send_json(Method::POST, &api::rollback(name, stage), request)
            .await
    }

    /// Creates or moves an alias.
    pub async fn set_alias(
        &self,
        name: &ModelName,
        alias: &AliasName,
        version: i64,
    ) -> Result<Alias> {
        self.send_json(
            Method::PUT,
            &api::alias(name, alias),
            &SetAlias {
                version,
                reason: None,
            },
        )
        .await
    }

    pub async fn delete_alias(&self, name: &ModelName, alias: &AliasName) -> Result<()> {
        self.delete(&api::alias(name, alias)).await
    }

    /// Removes an alias, saying why (kept in the event log).
    pub async fn delete_alias_because(
        &self,
        name: &ModelName,
        alias: &AliasName,
        reason: &str,
    ) -> Result<()> {
        let request = RollbackRequest {
            reason: Some(reason.to_owned()),
        };
        self.delete_with(&api::alias(name, alias), &request).await
    }

    /// Events after `query.after`, oldest first.
    pub async fn list_events(&self, query: &EventQuery) -> Result<EventPage> {
        self.get_json(&query.path()).await
    }
}
