//! Webhooks as the delivery loop (`crate::webhooks::delivery`) drives them: which
//! webhooks deliver, where each stands, the events it is sent, and recording each attempt
//! with its consequence (cursor moved, retry scheduled, webhook disabled) in one
//! transaction, only while the loop's replica holds the delivery lease.

use std::time::Duration;

use chrono::NaiveDateTime;

use capstan_client::http::EventQuery;
use capstan_client::types::{Event, WebhookStatus};
use capstan_client::ModelName;

use super::views::utc;
use super::webhooks::{stored_selection, stored_status};
use super::{now, Registry};
use crate::domain::access::ModelScope;
use crate::domain::webhooks::EventSelection;
use crate::error::RegistryResult;
use crate::store::webhook_rows::{NewDeliveryRow, WebhookChanges};
use crate::store::{relay, webhooks, StoreError};

/// What the delivery loop needs of one webhook.
#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub id: String,
    pub url: String,
    pub selection: EventSelection,
    pub model: Option<ModelName>,
    /// The current secret, then the previous one while its grace period lasts.
    pub secrets: Vec<String>,
    pub active: bool,
    pub cursor: i64,
    /// Failed attempts of the event after the cursor.
    pub attempts: i64,
    pub next_attempt_at: Option<NaiveDateTime>,
}

/// How one attempt ended.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    /// 2xx: the cursor moves to the event.
    Delivered,
    /// 410 Gone: the receiver wants no more; the webhook is disabled.
    Gone,
    /// Anything else: retried at `retry_at`, unless the event has been failing for
    /// `give_up` already, which disables the webhook.
    Failed {
        retry_at: NaiveDateTime,
        give_up: Duration,
    },
}

/// One attempt, as the delivery loop reports it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub webhook: String,
    pub seq: i64,
    pub message_id: String,
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub outcome: AttemptOutcome,
}

/// Who holds the delivery lease: attempts are recorded only while it is held.
#[derive(Debug, Clone, Copy)]
pub struct LeaseHolder<'a> {
    pub lease: &'a str,
    pub holder: &'a str,
}

/// The delivery loop's side. These bypass [`Registry::write`]'s wake-up: they record no
/// event.
impl Registry {
    /// The ids of the webhooks that deliver (neither paused nor disabled).
    pub async fn active_webhooks(&self) -> RegistryResult<Vec<String>> {
        self.db
            .read(|conn| {
                Ok(webhooks::ids_with_status(
                    conn,
                    WebhookStatus::Active.as_str(),
                )?)
            })
            .await
    }

    /// Where delivery to `id` stands; `None` once it was deleted.
    pub async fn delivery_target(&self, id: String) -> RegistryResult<Option<DeliveryTarget>> {
        self.db
            .read(move |conn| {
                let Some(row) = webhooks::find(conn, &id)? else {
                    return Ok(None);
                };
                let at = now();
                let mut secrets = vec![row.secret.clone()];
                if let (Some(previous), Some(until)) =
                    (&row.previous_secret, row.previous_secret_until)
                {
                    if until > at {
                        secrets.push(previous.clone());
                    }
                }
                Ok(Some(DeliveryTarget {
                    selection: stored_selection(&row)?,
                    model: row
                        .model
                        .as_deref()
                        .map(ModelName::parse)
                        .transpose()
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                    active: stored_status(&row)? == WebhookStatus::Active,
                    id: row.id,
                    url: row.url,
                    secrets,
                    cursor: row.cursor_seq,
                    attempts: row.attempts,
                    next_attempt_at: row.next_attempt_at,
                }))
            })
            .await
    }

    /// Up to `limit` events after `after` (of `model` only, if given), oldest first, as
    /// `GET /api/v1/events` shows them.
    pub async fn events_for_webhook(
        &self,
        after: i64,
        model: Option<ModelName>,
        limit: i64,
    ) -> RegistryResult<Vec<Event>> {
        Ok(self
            .list_events(
                EventQuery {
                    after: Some(after),
                    model,
                    limit: Some(limit),
                    ..EventQuery::default()
                },
                &ModelScope::All,
            )
            .await?
            .events)
    }

    /// Moves the webhook's cursor over events it does not select; `false` when this
    /// replica no longer holds the lease.
    pub async fn skip_webhook_events(
        &self,
        lease: LeaseHolder<'_>,
        id: &str,
        seq: i64,
    ) -> RegistryResult<bool> {
        let (name, holder, id) = (
            lease.lease.to_owned(),
            lease.holder.to_owned(),
            id.to_owned(),
        );
        self.db
            .write(move |conn| {
                let at = now();
                if !relay::holds_lease(conn, &name, &holder, at)? {
                    return Ok(false);
                }
                webhooks::advance_cursor(conn, &id, seq, at)?;
                Ok(true)
            })
            .await
    }

    /// Records an attempt and its consequence (cursor moved, retry scheduled, webhook
    /// disabled) in one transaction; `false` (and nothing recorded) when this replica no
    /// longer holds the lease.
    pub async fn record_webhook_attempt(
        &self,
        lease: LeaseHolder<'_>,
        attempt: Attempt,
    ) -> RegistryResult<bool> {
        let (name, holder) = (lease.lease.to_owned(), lease.holder.to_owned());
        self.db
            .write(move |conn| {
                let at = now();
                if !relay::holds_lease(conn, &name, &holder, at)? {
                    return Ok(false);
                }
                let Some(row) = webhooks::find(conn, &attempt.webhook)? else {
                    return Ok(true);
                };
                // An attempt of an event already delivered (by a replica that lost its lease
                // meanwhile) decides nothing; a failure of a webhook paused or disabled
                // meanwhile changes nothing either; a success moves the cursor anyway.
                let current = row.cursor_seq < attempt.seq;
                let active = row.status == WebhookStatus::Active.as_str();
                let failures = row.attempts + 1;
                let mut changes = WebhookChanges {
                    updated_at: Some(at),
                    ..WebhookChanges::default()
                };
                let mut next_retry_at = None;
                match &attempt.outcome {
                    AttemptOutcome::Delivered => {}
                    AttemptOutcome::Gone => {
                        changes.status = Some(WebhookStatus::Disabled.as_str().to_owned());
                        changes.disabled_reason = Some(Some(format!(
                            "the receiver answered 410 Gone to event {} at {}",
                            attempt.seq,
                            utc(attempt.attempted_at).to_rfc3339()
                        )));
                        changes.attempts = Some(failures);
                        changes.next_attempt_at = Some(None);
                    }
                    AttemptOutcome::Failed { retry_at, give_up } => {
                        let since = row.failing_since.unwrap_or(attempt.attempted_at);
                        let give_up = chrono::Duration::from_std(*give_up)
                            .unwrap_or(chrono::Duration::hours(24));
                        changes.attempts = Some(failures);
                        changes.failing_since = Some(Some(since));
                        if attempt.attempted_at - since >= give_up {
                            changes.status = Some(WebhookStatus::Disabled.as_str().to_owned());
                            changes.disabled_reason = Some(Some(format!(
                                "gave up: event {} failed for longer than the give-up window \
                                 ({} attempts since {}); last error: {}",
                                attempt.seq,
                                failures,
                                utc(since).to_rfc3339(),
                                attempt.error.as_deref().unwrap_or("none")
                            )));
                            changes.next_attempt_at = Some(None);
                        } else {
                            changes.next_attempt_at = Some(Some(*retry_at));
                            next_retry_at = Some(*retry_at);
                        }
                    }
                }
                webhooks::record_delivery(
                    conn,
                    &NewDeliveryRow {
                        webhook_id: attempt.webhook.clone(),
                        seq: attempt.seq,
                        message_id: attempt.message_id.clone(),
                        attempt: failures,
                        attempted_at: attempt.attempted_at,
                        status_code: attempt.status_code.map(i64::from),
                        error: attempt.error.clone(),
                        latency_ms: attempt.latency_ms,
                        next_retry_at: next_retry_at.filter(|_| current && active),
                    },
                )?;
                match attempt.outcome {
                    AttemptOutcome::Delivered if current => {
                        webhooks::advance_cursor(conn, &attempt.webhook, attempt.seq, at)?;
                    }
                    AttemptOutcome::Gone | AttemptOutcome::Failed { .. } if current && active => {
                        webhooks::update(conn, &attempt.webhook, &changes)?;
                    }
                    _ => {}
                }
                Ok(true)
            })
            .await
    }
}

/// Now, as attempts are recorded (UTC, microseconds).
pub fn attempt_time() -> NaiveDateTime {
    now()
}
