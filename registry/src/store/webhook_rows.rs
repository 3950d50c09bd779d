//! Row types of the webhook tables: endpoints and their delivery attempts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{webhook_deliveries, webhooks};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    pub id: String,
    pub url: String,
    /// JSON array of event kinds, or `["*"]`.
    pub events: String,
    pub model: Option<String>,
    pub description: Option<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<NaiveDateTime>,
    /// `active`, `paused` or `disabled`.
    pub status: String,
    pub disabled_reason: Option<String>,
    pub cursor_seq: i64,
    pub attempts: i64,
    pub failing_since: Option<NaiveDateTime>,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A partial update of a webhook's settings; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = webhooks)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<String>,
    pub model: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub secret: Option<String>,
    pub previous_secret: Option<Option<String>>,
    pub previous_secret_until: Option<Option<NaiveDateTime>>,
    pub status: Option<String>,
    pub disabled_reason: Option<Option<String>>,
    pub attempts: Option<i64>,
    pub failing_since: Option<Option<NaiveDateTime>>,
    pub next_attempt_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook_id: String,
    pub seq: i64,
    pub message_id: String,
    pub attempt: i64,
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub next_retry_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct NewDeliveryRow {
    pub webhook_id: String,
    pub seq: i64,
    pub message_id: String,
    pub attempt: i64,
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub next_retry_at: Option<NaiveDateTime>,
}
