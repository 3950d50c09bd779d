//! [`KafkaSource`]: the registry's events from a Kafka topic. Records are keyed by model
//! name, the value is the event's JSON and a `seq` header carries the registry's `seq`.
//! A subscription reads every partition of the topic from the offset after the last
//! record seen there (offsets are tracked here, not committed to a consumer group), or
//! from the end when there is none, and keeps the records of one model.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::StreamExt;
use rskafka::client::consumer::{StartOffset, StreamConsumerBuilder};
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use rskafka::client::{Client as KafkaClient, ClientBuilder};
use rskafka::record::RecordAndOffset;
use rskafka::BackoffConfig;
use tokio::sync::Mutex;

use super::env;
use super::error::LiveError;
use super::source::{Checkpoint, Delivery, EventSource, EventStream, Position};
use crate::config::non_empty_var;
use crate::names::ModelName;

const DEFAULT_TOPIC: &str = "capstan.events";
/// How long a fetch waits on the broker for new records.
const MAX_WAIT_MS: i32 = 250;

/// Events from a Kafka topic.
pub struct KafkaSource {
    brokers: Vec<String>,
    topic: String,
    client: Mutex<Option<Arc<KafkaClient>>>,
}

impl KafkaSource {
    /// Events from topic `capstan.events` on `brokers` (`host:port` each).
    pub fn new(brokers: Vec<String>) -> Self {
        KafkaSource {
            brokers,
            topic: DEFAULT_TOPIC.to_owned(),
            client: Mutex::new(None),
        }
    }

    /// From `CAPSTAN_KAFKA_BROKERS` (required) and `CAPSTAN_KAFKA_TOPIC`.
    pub fn from_env() -> Result<Self, LiveError> {
        let brokers = non_empty_var(env::KAFKA_BROKERS).ok_or_else(|| {
            LiveError::Config(format!(
                "{}=kafka needs {} (host:port, comma-separated)",
                env::SOURCE,
                env::KAFKA_BROKERS
            ))
        })?;
        let mut source = KafkaSource::new(
            brokers
                .split(',')
                .map(|b| b.trim().to_owned())
                .filter(|b| !b.is_empty())
                .collect(),
        );
        if let Some(topic) = non_empty_var(env::KAFKA_TOPIC) {
            source.topic = topic;
        }
        Ok(source)
    }

    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    fn error(&self, message: impl std::fmt::Display) -> LiveError {
        LiveError::unavailable(self.describe(), message)
    }

    /// The shared client, made on first use. Its own retries are bounded so that a
    /// broker that is down surfaces as an error the feed backs off from.
    async fn client(&self) -> Result<Arc<KafkaClient>, LiveError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = ClientBuilder::new(self.brokers.clone())
            .backoff_config(BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
                deadline: Some(Duration::from_secs(5)),
            })
            .build()
            .await
            .map_err(|e| self.error(e))?;
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
    }

    async fn open(&self, model: &ModelName, from: &Checkpoint) -> Result<EventStream, LiveError> {
        let client = self.client().await?;
        let topics = client.list_topics().await.map_err(|e| self.error(e))?;
        let partitions = topics
            .into_iter()
            .find(|t| t.name == self.topic)
            .map(|t| t.partitions)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| self.error(format!("topic {} does not exist (yet)", self.topic)))?;
        let mut streams = Vec::new();
        for partition in partitions {
            let partition_client = client
                .partition_client(self.topic.clone(), partition, UnknownTopicHandling::Error)
                .await
                .map_err(|e| self.error(e))?;
            let end = partition_client
                .get_offset(OffsetAt::Latest)
                .await
                .map_err(|e| self.error(e))?;
            // An offset beyond the end means the topic was recreated: start at its end
            // (the state is re-read on every subscription).
            let start = from
                .kafka_offset(partition)
                .map(|seen| seen + 1)
                .filter(|next| *next <= end)
                .unwrap_or(end);
            let consumer =
                StreamConsumerBuilder::new(Arc::new(partition_client), StartOffset::At(start))
                    .with_max_wait_ms(MAX_WAIT_MS)
                    .build();
            streams.push(consumer.map(move |item| (partition, item)));
        }
        let key = model.as_str().as_bytes().to_vec();
        let name = self.describe();
        let records = futures::stream::select_all(streams);
        let state = (records, key, name, false);
        Ok(Box::pin(futures::stream::unfold(
            state,
            |(mut records, key, name, done)| async move {
                if done {
                    return None;
                }
                loop {
                    let item = match records.next().await {
                        Some((partition, Ok((record, _high_watermark)))) => {
                            match delivery(&record, partition, &key) {
                                Some(delivery) => Ok(delivery),
                                None => continue,
                            }
                        }
                        Some((partition, Err(e))) => Err(format!("partition {partition}: {e}")),
                        None => Err("the consumer ended".to_owned()),
                    };
                    let done = item.is_err();
                    let item = item.map_err(|e| LiveError::unavailable(name.clone(), e));
                    return Some((item, (records, key, name, done)));
                }
            },
        )))
    }
}

impl EventSource for KafkaSource {
    fn describe(&self) -> String {
        format!("kafka {} topic {}", self.brokers.join(","), self.topic)
    }

    fn subscribe<'a>(
        &'a self,
        model: &'a ModelName,
        from: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<EventStream, LiveError>> {
        Box::pin(self.open(model, from))
    }
}

/// A record of `key`'s model as a delivery: `seq` from the body, else the `seq` header.
fn delivery(record: &RecordAndOffset, partition: i32, key: &[u8]) -> Option<Delivery> {
    if record.record.key.as_deref() != Some(key) {
        return None;
    }
    let id = record
        .record
        .headers
        .get("seq")
        .and_then(|v| std::str::from_utf8(v).ok());
    Delivery::decode(
        record.record.value.as_deref().unwrap_or_default(),
        id,
        Some(Position::Kafka {
            partition,
            offset: record.offset,
        }),
    )
}
