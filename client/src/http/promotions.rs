//! Governed promotion: a model's policy (`/api/v1/models/{name}/policy`), promotions that
//! may answer with a promotion request instead of moving (`202`), and the requests
//! themselves (`/api/v1/promotion-requests[/{id}[/approve|/reject]]`).

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::api::{self, PromotionRequestQuery};
use super::client::decode;
use super::Client;
use crate::error::Result;
use crate::names::{AliasName, ModelName};
use crate::reference::Stage;
use crate::types::{
    Alias, ModelPolicy, PromoteRequest, PromotionPolicy, PromotionRequest, PromotionRequestPage,
    ReviewPromotion, RollbackRequest, SetAlias, Version,
};

/// What a promotion did: moved the pointer (`200`), or opened a promotion request that
/// waits for approvals (`202`, under a policy that needs them).
#[derive(Clone, Debug)]
pub enum Promotion<T> {
    Done(T),
    Requested(Box<PromotionRequest>),
}

impl Client {
    /// Sends a promotion; a `202` answer is the request the policy opened.
    async fn send_promotion<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Promotion<T>> {
        // Never retried, not even a PUT: a retry after a lost `202` would open a second
        // promotion request.
        let response = self
            .send(false, || {
                self.request(method.clone(), path)
                    .timeout(self.config().timeout)
                    .json(body)
            })
            .await?;
        if response.status() == StatusCode::ACCEPTED {
            Ok(Promotion::Requested(Box::new(decode(response).await?)))
        } else {
            Ok(Promotion::Done(decode(response).await?))
        }
    }

    /// [`Client::promote`] under a policy: the promoted version, or the promotion request
    /// waiting for approvals.
    pub async fn promote_governed(
        &self,
        name: &ModelName,
        stage: Stage,
        request: &PromoteRequest,
    ) -> Result<Promotion<Version>> {
        self.send_promotion(Method::POST, &api::stage(name, stage), request)
            .await
    }

    /// [`Client::rollback`] under a policy.
    pub async fn rollback_governed(
        &self,
        name: &ModelName,
        stage: Stage,
        request: &RollbackRequest,
    ) -> Result<Promotion<Version>> {
        self.send_promotion(Method::POST, &api::rollback(name, stage), request)
            .await
    }

    /// [`Client::set_alias`] under a policy, with a reason for the event log.
    pub async fn set_alias_governed(
        &self,
        name: &ModelName,
        alias: &AliasName,
        request: &SetAlias,
    ) -> Result<Promotion<Alias>> {
        self.send_promotion(Method::PUT, &api::alias(name, alias), request)
            .await
    }

    /// The model's promotion policy (`policy_not_found` when it has none).
    pub async fn get_policy(&self, name: &ModelName) -> Result<ModelPolicy> {
        self.get_json(&api::policy(name)).await
    }

    /// Sets (creates or replaces) the model's promotion policy.
    pub async fn put_policy(
        &self,
        name: &ModelName,
        policy: &PromotionPolicy,
    ) -> Result<ModelPolicy> {
        self.send_json(Method::PUT, &api::policy(name), policy)
            .await
    }

    pub async fn delete_policy(&self, name: &ModelName) -> Result<()> {
        self.delete(&api::policy(name)).await
    }

    /// One page of promotion requests, newest first.
    pub async fn list_promotion_requests(
        &self,
        query: &PromotionRequestQuery,
    ) -> Result<PromotionRequestPage> {
        self.get_json(&query.path()).await
    }

    pub async fn get_promotion_request(&self, id: &str) -> Result<PromotionRequest> {
        self.get_json(&api::promotion_request(id)).await
    }

    /// Approves a request; the last approval needed moves the pointer.
    pub async fn approve_promotion(
        &self,
        id: &str,
        review: &ReviewPromotion,
    ) -> Result<PromotionRequest> {
        self.send_json(
            Method::POST,
            &api::promotion_request_action(id, "approve"),
            review,
        )
        .await
    }

    pub async fn reject_promotion(
        &self,
        id: &str,
        review: &ReviewPromotion,
    ) -> Result<PromotionRequest> {
        self.send_json(
            Method::POST,
            &api::promotion_request_action(id, "reject"),
            review,
        )
        .await
    }
}
