//! Webhooks as users manage them: create, list, change, rotate the secret, delete, read
//! the delivery log. Receiver addresses are checked here ([`Registry::check_receiver`]),
//! at creation and change and again before every delivery (see `domain::webhooks`); the
//! delivery loop's side is in [`super::webhook_delivery`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::NaiveDateTime;

use capstan_client::http::api::PageQuery;
use capstan_client::types::{
    CreateWebhook, UpdateWebhook, Webhook, WebhookDelivery, WebhookDeliveryPage, WebhookPage,
    WebhookStatus,
};
use capstan_client::ModelName;

use super::views::utc;
use super::{now, Registry};
use crate::domain::metadata::check_text;
use crate::domain::paging::{
    decode_number_token, decode_token, encode_number_token, encode_token, page_limit,
};
use crate::domain::webhooks::{first_internal, EventSelection, ReceiverUrl, WebhookRuleError};
use crate::error::{RegistryError, RegistryResult};
use crate::store::webhook_rows::{DeliveryRow, WebhookChanges, WebhookRow};
use crate::store::{events, webhooks, DbConn, StoreError};

/// How long the secret before a rotation keeps signing deliveries.
pub const ROTATION_GRACE: Duration = Duration::from_secs(24 * 60 * 60);
/// How long resolving a receiver's host may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Random bytes in a secret (the spec asks for 24 to 64).
const SECRET_BYTES: usize = 32;

fn webhook_not_found(id: &str) -> RegistryError {
    RegistryError::not_found(
        "webhook_not_found",
        format!("no webhook {:?}", id.chars().take(64).collect::<String>()),
    )
}

fn find_webhook(conn: &mut DbConn, id: &str) -> RegistryResult<WebhookRow> {
    webhooks::find(conn, id)?.ok_or_else(|| webhook_not_found(id))
}

pub(super) fn stored_status(row: &WebhookRow) -> Result<WebhookStatus, StoreError> {
    WebhookStatus::parse(&row.status)
        .ok_or_else(|| StoreError::Invalid(format!("webhook status {:?}", row.status)))
}

pub(super) fn stored_selection(row: &WebhookRow) -> Result<EventSelection, StoreError> {
    let names: Vec<String> = serde_json::from_str(&row.events)?;
    EventSelection::parse(&names)
        .map_err(|e| StoreError::Invalid(format!("webhook {} events: {e}", row.id)))
}

fn webhook_view(row: &WebhookRow, at: NaiveDateTime) -> RegistryResult<Webhook> {
    Ok(Webhook {
        id: row.id.clone(),
        url: row.url.clone(),
        events: stored_selection(row)?.names(),
        model: row
            .model
            .as_deref()
            .map(ModelName::parse)
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?,
        description: row.description.clone(),
        status: stored_status(row)?,
        disabled_reason: row.disabled_reason.clone(),
        cursor: row.cursor_seq,
        failed_attempts: row.attempts,
        next_attempt_at: row.next_attempt_at.map(utc),
        previous_secret_expires_at: row
            .previous_secret_until
            .filter(|until| *until > at)
            .map(utc),
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        secret: None,
    })
}

fn delivery_view(row: DeliveryRow) -> WebhookDelivery {
    WebhookDelivery {
        webhook_id: row.webhook_id,
        seq: row.seq,
        message_id: row.message_id,
        attempt: row.attempt,
        attempted_at: utc(row.attempted_at),
        status_code: row.status_code,
        error: row.error,
        latency_ms: row.latency_ms,
        next_retry_at: row.next_retry_at.map(utc),
    }
}

/// `whsec_` and the base64 of 32 random bytes.
fn new_secret() -> RegistryResult<String> {
    let mut key = [0u8; SECRET_BYTES];
    getrandom::fill(&mut key).map_err(|e| StoreError::Invalid(format!("no randomness: {e}")))?;
    Ok(format!("whsec_{}", STANDARD.encode(key)))
}

fn events_json(selection: &EventSelection) -> RegistryResult<String> {
    Ok(serde_json::to_string(&selection.names()).map_err(StoreError::from)?)
}

impl Registry {
    /// Whether deliveries may go to internal addresses (`--webhooks-allow-private`).
    pub fn with_webhooks_allow_private(mut self, allow: bool) -> Self {
        self.webhooks_allow_private = allow;
        self
    }

    /// Resolves the URL's host and checks every address (unless private addresses are
    /// allowed); returns the addresses to connect to.
    pub async fn check_receiver(
        &self,
        url: &ReceiverUrl,
    ) -> Result<Vec<SocketAddr>, WebhookRuleError> {
        let host = url.host();
        let port = url.port();
        let addresses: Vec<SocketAddr> = match url.literal_address() {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => tokio::time::timeout(
                LOOKUP_TIMEOUT,
                tokio::net::lookup_host((host.as_str(), port)),
            )
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("no answer within 10 s")))
            .map_err(|e| WebhookRuleError::Unresolvable {
                host: host.clone(),
                reason: e.to_string(),
            })?
            .collect(),
        };
        if addresses.is_empty() {
            return Err(WebhookRuleError::Unresolvable {
                host,
                reason: "no addresses".to_owned(),
            });
        }
        if !self.webhooks_allow_private {
            let ips: Vec<IpAddr> = addresses.iter().map(SocketAddr::ip).collect();
            if let Some(address) = first_internal(&ips) {
                return Err(WebhookRuleError::UrlNotAllowed { host, address });
            }
        }
        Ok(addresses)
    }

    /// Creates a webhook whose cursor is the newest event now: it receives what happens
    /// from here on, not the history. The answer carries the secret, once.
    pub async fn create_webhook(&self, request: CreateWebhook) -> RegistryResult<Webhook> {
        let url = ReceiverUrl::parse(request.url.trim())?;
        let selection = EventSelection::parse(&request.events)?;
        check_text("description", request.description.as_deref())?;
        self.check_receiver(&url).await?;
        let secret = new_secret()?;
        let at = now();
        let mut row = WebhookRow {
            id: uuid::Uuid::new_v4().to_string(),
            url: url.as_str().to_owned(),
            events: events_json(&selection)?,
            model: request.model.map(|m| m.to_string()),
            description: request.description,
            secret: secret.clone(),
            previous_secret: None,
            previous_secret_until: None,
            status: WebhookStatus::Active.as_str().to_owned(),
            disabled_reason: None,
            cursor_seq: 0,
            attempts: 0,
            failing_since: None,
            next_attempt_at: None,
            created_at: at,
            updated_at: at,
        };
        let mut webhook = self
            .write(move |conn| {
                row.cursor_seq = events::last_seq(conn)?;
                let row = webhooks::insert(conn, &row)?;
                webhook_view(&row, at)
            })
            .await?;
        webhook.secret = Some(secret);
        Ok(webhook)
    }

    pub async fn get_webhook(&self, id: String) -> RegistryResult<Webhook> {
        self.db
            .read(move |conn| webhook_view(&find_webhook(conn, &id)?, now()))
            .await
    }

    pub async fn list_webhooks(&self, query: PageQuery) -> RegistryResult<WebhookPage> {
        let limit = page_limit(query.limit)?;
        let after = query
            .page_token
            .as_deref()
            .map(|token| decode_token("webhooks", token))
            .transpose()?;
        self.db
            .read(move |conn| {
                let rows = webhooks::list(conn, after.as_deref(), limit + 1)?;
                let has_more = rows.len() as i64 > limit;
                let page = &rows[..rows.len().min(limit as usize)];
                let next_page_token = has_more
                    .then(|| page.last().map(|row| encode_token("webhooks", &row.id)))
                    .flatten();
                let at = now();
                Ok(WebhookPage {
                    webhooks: page
                        .iter()
                        .map(|row| webhook_view(row, at))
                        .collect::<Result<_, _>>()?,
                    next_page_token,
                })
            })
            .await
    }

    /// Changes a webhook's settings. `paused: false` also re-enables a disabled webhook:
    /// delivery resumes at its cursor, with the failure count of the next event reset.
    pub async fn update_webhook(
        &self,
        id: String,
        update: UpdateWebhook,
    ) -> RegistryResult<Webhook> {
        let url = update
            .url
            .as_deref()
            .map(|url| ReceiverUrl::parse(url.trim()))
            .transpose()?;
        if let Some(url) = &url {
            self.check_receiver(url).await?;
        }
        let events = update
            .events
            .as_deref()
            .map(EventSelection::parse)
            .transpose()?
            .map(|selection| events_json(&selection))
            .transpose()?;
        check_text("description", update.description.as_deref())?;
        self.write(move |conn| {
            let row = find_webhook(conn, &id)?;
            let at = now();
            let url = url.map(|url| url.as_str().to_owned());
            let retarget = url.as_ref().is_some_and(|url| *url != row.url);
            let mut changes = WebhookChanges {
                // A new URL is tried at once rather than at the old one's retry time.
                next_attempt_at: retarget.then_some(None),
                url,
                events,
                model: update.model.map(|m| Some(m.to_string())),
                description: update.description.map(Some),
                updated_at: Some(at),
                ..WebhookChanges::default()
            };
            match update.paused {
                Some(true) => changes.status = Some(WebhookStatus::Paused.as_str().to_owned()),
                Some(false) if row.status != WebhookStatus::Active.as_str() => {
                    changes.status = Some(WebhookStatus::Active.as_str().to_owned());
                    changes.disabled_reason = Some(None);
                    changes.attempts = Some(0);
                    changes.failing_since = Some(None);
                    changes.next_attempt_at = Some(None);
                }
                _ => {}
            }
            webhooks::update(conn, &id, &changes)?;
            webhook_view(&find_webhook(conn, &id)?, at)
        })
        .await
    }

    /// Deletes a webhook and its delivery log.
    pub async fn delete_webhook(&self, id: String) -> RegistryResult<()> {
        self.write(move |conn| {
            if !webhooks::delete(conn, &id)? {
                return Err(webhook_not_found(&id));
            }
            Ok(())
        })
        .await
    }

    /// A new secret, in the answer once; the one it replaces keeps signing (beside it)
    /// for [`ROTATION_GRACE`].
    pub async fn rotate_webhook_secret(&self, id: String) -> RegistryResult<Webhook> {
        let secret = new_secret()?;
        let new = secret.clone();
        let mut webhook = self
            .write(move |conn| {
                let row = find_webhook(conn, &id)?;
                let at = now();
                let grace = chrono::Duration::from_std(ROTATION_GRACE)
                    .unwrap_or(chrono::Duration::hours(24));
                webhooks::update(
                    conn,
                    &id,
                    &WebhookChanges {
                        secret: Some(new),
                        previous_secret: Some(Some(row.secret)),
                        previous_secret_until: Some(Some(at + grace)),
                        updated_at: Some(at),
                        ..WebhookChanges::default()
                    },
                )?;
                webhook_view(&find_webhook(conn, &id)?, at)
            })
            .await?;
        webhook.secret = Some(secret);
        Ok(webhook)
    }

    /// The webhook's delivery attempts, newest first.
    pub async fn webhook_deliveries(
        &self,
        id: String,
        query: PageQuery,
    ) -> RegistryResult<WebhookDeliveryPage> {
        let limit = page_limit(query.limit)?;
        let before = query
            .page_token
            .as_deref()
            .map(|token| decode_number_token("webhook-deliveries", token))
            .transpose()?;
        self.db
            .read(move |conn| {
                find_webhook(conn, &id)?;
                let rows = webhooks::deliveries(conn, &id, before, limit + 1)?;
                let has_more = rows.len() as i64 > limit;
                let page: Vec<DeliveryRow> = rows.into_iter().take(limit as usize).collect();
                let next_page_token = has_more
                    .then(|| {
                        page.last()
                            .map(|row| encode_number_token("webhook-deliveries", row.id))
                    })
                    .flatten();
                Ok(WebhookDeliveryPage {
                    deliveries: page.into_iter().map(delivery_view).collect(),
                    next_page_token,
                })
            })
            .await
    }
}
