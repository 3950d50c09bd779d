//! Publishing events to NATS JetStream.
//!
//! One stream (default `CAPSTAN`, created if missing) captures `<prefix>.>`; each event
//! goes to `<prefix>.<model token>.<kind>`, e.g. `capstan.models.fraud.stage_changed`.
//! A subject token cannot contain `.` (NATS's separator) while model names may, so the
//! token is the model name with every `.` written as `%2E` (`fraud.v2` →
//! `fraud%2Ev2`); names never contain `%`, so [`model_from_token`] undoes it exactly.
//!
//! Each message carries `Nats-Msg-Id: <seq>`, so JetStream drops a repeat within its
//! duplicate window, plus `Capstan-Seq`, `Capstan-Kind` and `Capstan-Model` headers. A
//! batch is published one message at a time, each acknowledged before the next, so the
//! stream holds events in `seq` order.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use async_trait::async_trait;

use capstan_client::types::EventKind;
use capstan_client::ModelName;

use super::message::OutboundEvent;
use super::relay::{PublishError, PublishFailure, Publisher};
use super::NatsConfig;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// The subject token of a model name: `.` written as `%2E`.
pub fn model_token(model: &ModelName) -> String {
    model.as_str().replace('.', "%2E")
}

/// The model name a subject token stands for.
pub fn model_from_token(token: &str) -> String {
    token.replace("%2E", ".")
}

/// `<prefix>.<model token>.<kind>`.
pub fn subject(prefix: &str, model: &ModelName, kind: EventKind) -> String {
    format!("{prefix}.{}.{}", model_token(model), kind.as_str())
}

pub struct NatsPublisher {
    config: NatsConfig,
    name: String,
    jetstream: Option<jetstream::Context>,
}

impl NatsPublisher {
    pub fn new(config: NatsConfig) -> Self {
        Self {
            name: format!("nats/{}", config.stream),
            config,
            jetstream: None,
        }
    }
}

#[async_trait]
impl Publisher for NatsPublisher {
    fn name(&self) -> &str {
        &self.name
    }

    async fn connect(&mut self) -> Result<(), PublishError> {
        if self.jetstream.is_some() {
            return Ok(());
        }
        let client = async_nats::ConnectOptions::new()
            .name("capstan-registry event relay")
            .connection_timeout(CONNECT_TIMEOUT)
            .connect(self.config.url.as_str())
            .await
            .map_err(|e| PublishError::Connect(format!("{}: {e}", self.config.url)))?;
        let mut context = jetstream::new(client);
        context.set_timeout(ACK_TIMEOUT);
        context
            .get_or_create_stream(stream::Config {
                name: self.config.stream.clone(),
                subjects: vec![format!("{}.>", self.config.subject_prefix)],
                description: Some("Capstan registry events (model as data)".to_owned()),
                ..stream::Config::default()
            })
            .await
            .map_err(|e| PublishError::Setup {
                what: format!("the JetStream stream {}", self.config.stream),
                detail: e.to_string(),
            })?;
        self.jetstream = Some(context);
        Ok(())
    }

    async fn publish(&mut self, events: &[OutboundEvent]) -> Result<(), PublishFailure> {
        let Some(context) = &self.jetstream else {
            return Err(PublishFailure {
                published: 0,
                error: PublishError::Connect("not connected".to_owned()),
            });
        };
        for (published, event) in events.iter().enumerate() {
            let seq = event.seq.to_string();
            let message = PublishMessage::build()
                .payload(event.json.clone())
                .message_id(&seq)
                .header("Capstan-Seq", seq.as_str())
                .header("Capstan-Kind", event.kind.as_str())
                .header("Capstan-Model", event.model.as_str());
            let subject = subject(&self.config.subject_prefix, &event.model, event.kind);
            let acknowledged = match context.send_publish(subject, message).await {
                Ok(ack) => ack.await.map(drop),
                Err(error) => Err(error),
            };
            if let Err(error) = acknowledged {
                return Err(PublishFailure {
                    published,
                    error: PublishError::Publish(error.to_string()),
                });
            }
        }
        Ok(())
    }

    fn disconnect(&mut self) {
        self.jetstream = None;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn model_token_has_no_dots_and_round_trips() {
        for name in ["fraud", "fraud.v2", "a.b.c", "x-1_y", "..a"] {
            let Ok(model) = ModelName::parse(name) else {
                continue;
            };
            let token = model_token(&model);
            assert!(!token.contains('.'), "{token}");
            assert_eq!(model_from_token(&token), name);
        }
        let model = ModelName::parse("fraud.v2").unwrap();
        assert_eq!(
            subject("capstan.models", &model, EventKind::StageChanged),
            "capstan.models.fraud%2Ev2.stage_changed"
        );
    }
}
