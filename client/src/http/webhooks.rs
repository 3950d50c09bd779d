//! Webhooks: `/api/v1/webhooks[/{id}[/rotate-secret|/deliveries]]`. Pausing and resuming
//! are updates (`{"paused": true|false}`).

use reqwest::Method;

use super::api::{self, PageQuery};
use super::Client;
use crate::error::Result;
use crate::types::{CreateWebhook, UpdateWebhook, Webhook, WebhookDeliveryPage, WebhookPage};

impl Client {
    /// Creates a webhook; the answer holds its secret, which is never shown again.
    pub async fn create_webhook(&self, webhook: &CreateWebhook) -> Result<Webhook> {
        self.send_json(Method::POST, api::WEBHOOKS, webhook).await
    }

    /// One page of webhooks, by id.
    pub async fn list_webhooks(&self, query: &PageQuery) -> Result<WebhookPage> {
        self.get_json(&query.path(api::WEBHOOKS)).await
    }

    /// Webhooks by id (following page tokens), at most `max`.
    pub async fn list_all_webhooks(&self, max: usize) -> Result<Vec<Webhook>> {
        let mut query = PageQuery::default();
        let mut webhooks = Vec::new();
        loop {
            let page = self.list_webhooks(&query).await?;
            webhooks.extend(page.webhooks);
            match page.next_page_token {
                Some(token) if webhooks.len() < max => query.page_token = Some(token),
                _ => break,
            }
        }
        webhooks.truncate(max);
        Ok(webhooks)
    }

    pub async fn get_webhook(&self, id: &str) -> Result<Webhook> {
        self.get_json(&api::webhook(id)).await
    }

    /// Changes the fields `update` names, leaving the others as they are.
    pub async fn update_webhook(&self, id: &str, update: &UpdateWebhook) -> Result<Webhook> {
        self.send_json(Method::PATCH, &api::webhook(id), update)
            .await
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<()> {
        self.delete(&api::webhook(id)).await
    }

    /// A new secret (in the answer, once); the previous one keeps signing for 24 h.
    pub async fn rotate_webhook_secret(&self, id: &str) -> Result<Webhook> {
        self.send_json(
            Method::POST,
            &api::webhook_action(id, "rotate-secret"),
            &serde_json::json!({}),
        )
        .await
    }

    /// One page of the webhook's delivery attempts, newest first.
    pub async fn webhook_deliveries(
        &self,
        id: &str,
        query: &PageQuery,
    ) -> Result<WebhookDeliveryPage> {
        self.get_json(&query.path(&api::webhook_action(id, "deliveries")))
            .await
    }
}
