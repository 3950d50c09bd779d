//! [`NatsSource`]: the registry's events from NATS JetStream. The registry publishes each
//! event to `<prefix>.<model token>.<kind>` (the token is the model name with `.` written
//! `%2E`) in one stream; a subscription is an ordered push consumer on the model's
//! subjects (the server pushes each message as it is stored; with a pull consumer, one
//! delivery in a few thousand waited ~5 s for the next pull request under load), starting
//! after the last stream sequence seen (`ByStartSequence`) or at new messages. The stream
//! sequence is JetStream's and differs from the registry's `seq`, so both are tracked.
//! When the connection to the server drops, the subscription ends, so the feed
//! resubscribes from its checkpoint and the follower re-reads the state.

use std::time::Duration;

use async_nats::jetstream::consumer::push::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::{Event, ServerAddr};
use futures::future::BoxFuture;
use futures::StreamExt;
use tokio::sync::{watch, Mutex};

use super::env;
use super::error::LiveError;
use super::source::{Checkpoint, Delivery, EventSource, EventStream, Position};
use crate::config::non_empty_var;
use crate::names::ModelName;

const DEFAULT_URL: &str = "nats://127.0.0.1:4222";
const DEFAULT_STREAM: &str = "CAPSTAN";
const DEFAULT_SUBJECT_PREFIX: &str = "capstan.models";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A model name as one subject token: `.` separates tokens, so it is written `%2E`.
pub fn subject_token(model: &ModelName) -> String {
    model.as_str().replace('.', "%2E")
}

/// Events from a NATS JetStream stream.
pub struct NatsSource {
    url: String,
    stream: String,
    subject_prefix: String,
    connection: Mutex<Option<Connection>>,
}

/// A client, and a counter of its disconnections.
#[derive(Clone)]
struct Connection {
    client: async_nats::Client,
    drops: watch::Receiver<u64>,
}

impl NatsSource {
    /// Events from the server(s) at `url` (comma-separated), stream `CAPSTAN`, subjects
    /// under `capstan.models`.
    pub fn new(url: impl Into<String>) -> Self {
        NatsSource {
            url: url.into(),
            stream: DEFAULT_STREAM.to_owned(),
            subject_prefix: DEFAULT_SUBJECT_PREFIX.to_owned(),
            connection: Mutex::new(None),
        }
    }

    /// From `CAPSTAN_NATS_URL`, `CAPSTAN_NATS_STREAM` and `CAPSTAN_NATS_SUBJECT_PREFIX`.
    pub fn from_env() -> Self {
        let mut source =
            NatsSource::new(non_empty_var(env::NATS_URL).unwrap_or_else(|| DEFAULT_URL.into()));
        if let Some(stream) = non_empty_var(env::NATS_STREAM) {
            source.stream = stream;
        }
        if let Some(prefix) = non_empty_var(env::NATS_SUBJECT_PREFIX) {
            source.subject_prefix = prefix;
        }
        source
    }

    pub fn with_stream(mut self, stream: impl Into<String>) -> Self {
        self.stream = stream.into();
        self
    }

    pub fn with_subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.subject_prefix = prefix.into();
        self
    }

    fn error(&self, message: impl std::fmt::Display) -> LiveError {
        LiveError::unavailable(self.describe(), message)
    }

    /// The shared connection, made on first use (the client reconnects by itself).
    async fn connection(&self) -> Result<Connection, LiveError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let servers = self
            .url
            .split(',')
            .map(|url| url.trim().parse::<ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LiveError::Config(format!("NATS URL {:?}: {e}", self.url)))?;
        let (drops_tx, drops) = watch::channel(0u64);
        let options = async_nats::ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((attempts as u64 * 100).min(2000))
            })
            .event_callback(move |event| {
                if matches!(event, Event::Disconnected) {
                    drops_tx.send_modify(|n| *n += 1);
                }
                async {}
            });
        let client = tokio::time::timeout(CONNECT_TIMEOUT, options.connect(servers))
            .await
            .map_err(|_| self.error("timed out connecting"))?
            .map_err(|e| self.error(e))?;
        let connection = Connection { client, drops };
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn open(&self, model: &ModelName, from: &Checkpoint) -> Result<EventStream, LiveError> {
        let Connection { client, mut drops } = self.connection().await?;
        drops.mark_unchanged();
        let deliver_subject = client.new_inbox();
        let jetstream = async_nats::jetstream::new(client);
        let stream = jetstream
            .get_stream(&self.stream)
            .await
            .map_err(|e| self.error(format!("stream {}: {e}", self.stream)))?;
        let last = stream.cached_info().state.last_sequence;
        // After the last message seen, else after the stream's end (new messages only). A
        // position beyond the end means the stream was recreated: its old positions mean
        // nothing (the state is re-read on every subscription).
        let after = from
            .nats_sequence()
            .filter(|seen| *seen <= last)
            .unwrap_or(last);
        let deliver_policy = DeliverPolicy::ByStartSequence {
            start_sequence: after + 1,
        };
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_subject,
                filter_subject: format!("{}.{}.*", self.subject_prefix, subject_token(model)),
                deliver_policy,
                ..OrderedConfig::default()
            })
            .await
            .map_err(|e| self.error(format!("cannot create a consumer: {e}")))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| self.error(format!("cannot pull messages: {e}")))?;
        let name = self.describe();
        let state = (messages, drops, name, false);
        Ok(Box::pin(futures::stream::unfold(
            state,
            move |(mut messages, mut drops, name, done)| async move {
                if done {
                    return None;
                }
                loop {
                    let item = tokio::select! {
                        message = messages.next() => match message {
                            // An ordered consumer that recreates itself before its first
                            // message starts over at the stream's beginning: drop that.
                            Some(Ok(message)) => match delivery(&message) {
                                Some(delivery) if stream_sequence(&delivery) > after => Ok(delivery),
                                _ => continue,
                            },
                            Some(Err(e)) => Err(e.to_string()),
                            None => Err("the consumer ended".to_owned()),
                        },
                        _ = drops.changed() => Err("the connection to the server dropped".to_owned()),
                    };
                    let done = item.is_err();
                    let item = item.map_err(|e| LiveError::unavailable(name.clone(), e));
                    return Some((item, (messages, drops, name, done)));
                }
            },
        )))
    }
}

impl EventSource for NatsSource {
    fn describe(&self) -> String {
        format!("nats {} stream {}", self.url, self.stream)
    }

    fn subscribe<'a>(
        &'a self,
        model: &'a ModelName,
        from: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<EventStream, LiveError>> {
        Box::pin(self.open(model, from))
    }
}

fn stream_sequence(delivery: &Delivery) -> u64 {
    match delivery.position {
        Some(Position::Nats { stream_sequence }) => stream_sequence,
        _ => 0,
    }
}

/// A JetStream message as a delivery: `seq` from the body, else from `Nats-Msg-Id`.
fn delivery(message: &async_nats::jetstream::Message) -> Option<Delivery> {
    let stream_sequence = message.info().ok()?.stream_sequence;
    let id = message
        .headers
        .as_ref()
        .and_then(|headers| headers.get("Nats-Msg-Id"))
        .map(|v| v.as_str());
    Delivery::decode(
        &message.payload,
        id,
        Some(Position::Nats { stream_sequence }),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn dots_are_escaped_in_subject_tokens() {
        assert_eq!(subject_token(&"fraud.v2".parse().unwrap()), "fraud%2Ev2");
        assert_eq!(subject_token(&"bc".parse().unwrap()), "bc");
    }
}
