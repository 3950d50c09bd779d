//! One attempt of one event to one webhook: check the receiver's addresses again (they
//! may have changed since the webhook was created), sign, post, and classify the answer
//! (2xx delivered, 410 gone, anything else failed with its retry time).

use bytes::Bytes;
use chrono::Utc;
use tokio::time::Instant;

use capstan_client::types::Event;

use super::delivery::Context;
use super::metrics::AttemptResult;
use super::sender::{self, Signed};
use super::signing::signature_header;
use super::WebhooksConfig;
use crate::domain::webhooks::{retry_delay, ReceiverUrl};
use crate::service::webhook_delivery::{attempt_time, Attempt, AttemptOutcome, DeliveryTarget};

/// Sends `event` to the webhook once and says how it went.
pub(super) async fn attempt(context: &Context, target: &DeliveryTarget, event: &Event) -> Attempt {
    let config = &context.config;
    let message_id = format!("evt_{}", event.seq);
    let attempted_at = attempt_time();
    let started = Instant::now();
    let answer = tokio::time::timeout(config.timeout, send(context, target, &message_id, event))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {:?}", config.timeout)));
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (status_code, error, outcome) = match answer {
        Ok(status) if (200..300).contains(&status) => {
            (Some(status), None, AttemptOutcome::Delivered)
        }
        Ok(410) => (
            Some(410),
            Some("410 Gone: the receiver wants no more deliveries".to_owned()),
            AttemptOutcome::Gone,
        ),
        Ok(status) => {
            let why = if (300..400).contains(&status) {
                format!("HTTP {status}: redirects are not followed; update the webhook's URL")
            } else {
                format!("HTTP {status}")
            };
            (
                Some(status),
                Some(why),
                failed(config, target, attempted_at),
            )
        }
        Err(error) => (None, Some(error), failed(config, target, attempted_at)),
    };
    context.metrics.record(match outcome {
        AttemptOutcome::Delivered => AttemptResult::Delivered,
        AttemptOutcome::Gone => AttemptResult::Gone,
        AttemptOutcome::Failed { .. } => AttemptResult::Failed,
    });
    if let Some(error) = &error {
        tracing::info!(webhook = %target.id, seq = event.seq, %error, "webhook delivery attempt failed");
    }
    Attempt {
        webhook: target.id.clone(),
        seq: event.seq,
        message_id,
        attempted_at,
        status_code,
        error,
        latency_ms,
        outcome,
    }
}

fn failed(
    config: &WebhooksConfig,
    target: &DeliveryTarget,
    attempted_at: chrono::NaiveDateTime,
) -> AttemptOutcome {
    let delay = retry_delay(
        target.attempts + 1,
        config.retry_first,
        config.retry_max,
        jitter(),
    );
    AttemptOutcome::Failed {
        retry_at: attempted_at
            + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1)),
        give_up: config.give_up,
    }
}

/// Uniform in `[0, 1)`; 0.5 if the system has no randomness to give.
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

/// Checks the receiver's addresses again (they may have changed since the webhook was
/// created), signs and posts.
async fn send(
    context: &Context,
    target: &DeliveryTarget,
    message_id: &str,
    event: &Event,
) -> sender::Answer {
    let url = ReceiverUrl::parse(&target.url).map_err(|e| e.to_string())?;
    let addresses = context
        .registry
        .check_receiver(&url)
        .await
        .map_err(|e| e.to_string())?;
    let body = Bytes::from(serde_json::to_vec(event).map_err(|e| e.to_string())?);
    let timestamp = Utc::now().timestamp();
    let signature = signature_header(&target.secrets, message_id, timestamp, &body)
        .map_err(|e| e.to_string())?;
    sender::post(
        &url,
        &addresses,
        Signed {
            message_id,
            timestamp,
            signature: &signature,
        },
        body,
        context.config.timeout,
    )
    .await
}
