//! Wire types of webhooks: endpoints that receive the event log as signed HTTP POSTs
//! (Standard Webhooks), and the log of their delivery attempts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::names::ModelName;

/// Longest webhook URL.
pub const MAX_WEBHOOK_URL_LEN: usize = 2048;
/// The `events` entry that selects every kind.
pub const ALL_EVENTS: &str = "*";

/// `POST /api/v1/webhooks`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// The receiver: `http` or `https`, no user name or password. Loopback, private,
    /// link-local and other internal addresses are refused unless the registry runs with
    /// `--webhooks-allow-private`.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 2048))]
    pub url: String,
    /// Event kinds to receive (`stage_changed`, …), or `["*"]` for all of them.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 64))]
    pub events: Vec<String>,
    /// Only this model's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = r"^[^\x00]*$")
    )]
    pub description: Option<String>,
}

/// `PATCH /api/v1/webhooks/{id}`: absent fields are left as they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// `true` pauses delivery; `false` resumes it, also after the webhook was disabled
    /// (410 Gone, or failing for the whole give-up window): delivery starts again at the
    /// first event not yet delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 64))]
    pub events: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 2048))]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = r"^[^\x00]*$")
    )]
    pub description: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    /// Events are delivered.
    Active,
    /// Paused by a user; events wait at the cursor.
    Paused,
    /// Stopped by the registry (see `disabled_reason`); events wait at the cursor.
    Disabled,
}

impl WebhookStatus {
    pub const ALL: [WebhookStatus; 3] = [
        WebhookStatus::Active,
        WebhookStatus::Paused,
        WebhookStatus::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Active => "active",
            WebhookStatus::Paused => "paused",
            WebhookStatus::Disabled => "disabled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// A webhook, as `GET /api/v1/webhooks/{id}` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Event kinds it receives, or `["*"]`.
    pub events: Vec<String>,
    pub model: Option<ModelName>,
    pub description: Option<String>,
    pub status: WebhookStatus,
    /// Why the registry disabled it (`410 Gone`, or failing for the give-up window).
    pub disabled_reason: Option<String>,
    /// Every selected event with `seq <= cursor` has been delivered.
    pub cursor: i64,
    /// Failed attempts of the next event to deliver.
    pub failed_attempts: i64,
    /// When that event is tried again.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs deliveries.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `whsec_…`: only in the answers of creation and `rotate-secret`, never again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookPage {
    pub webhooks: Vec<Webhook>,
    /// Pass as `page_token` to get the next page; absent on the last page.
    pub next_page_token: Option<String>,
}

/// One delivery attempt of one event to one webhook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    pub webhook_id: String,
    /// The event's `seq`.
    pub seq: i64,
    /// The `webhook-id` header sent: `evt_<seq>`, the same for every attempt of the event.
    pub message_id: String,
    /// 1 for the first attempt of this event, 2 for the first retry, …
    pub attempt: i64,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i64>,
    /// Why the attempt failed without a status (timeout, refused address, …), or what the
    /// status meant.
    pub error: Option<String>,
    pub latency_ms: i64,
    /// When the event is tried again (absent after a success or when the webhook was
    /// disabled).
    pub next_retry_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDeliveryPage {
    /// Newest first.
    pub deliveries: Vec<WebhookDelivery>,
    pub next_page_token: Option<String>,
}
