//! Publishing events to Kafka (rskafka: pure Rust, no consumer groups needed here).
//!
//! Records go to one topic (default `capstan.events`; created with one partition if
//! missing). The key is the model name, so a compacted topic keeps each model's latest
//! event and every event of a model lands in the same partition (Kafka's own murmur2
//! partitioner, when the topic has several). The value is the `EventMessage` JSON; the
//! headers `seq` (the idempotency key) and `kind` are decimal/UTF-8 text.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use rskafka::BackoffConfig;

use super::message::OutboundEvent;
use super::relay::{PublishError, PublishFailure, Publisher};
use super::KafkaConfig;

/// How long rskafka itself retries a request before giving the error to the relay.
const REQUEST_DEADLINE: Duration = Duration::from_secs(4);
const CREATE_TOPIC_TIMEOUT_MS: i32 = 5_000;

pub struct KafkaPublisher {
    config: KafkaConfig,
    name: String,
    /// One client per partition of the topic, by partition index.
    partitions: Vec<PartitionClient>,
}

impl KafkaPublisher {
    pub fn new(config: KafkaConfig) -> Self {
        Self {
            name: format!("kafka/{}", config.topic),
            config,
            partitions: Vec::new(),
        }
    }

    async fn partition_count(&self, client: &Client) -> Result<i32, PublishError> {
        let setup = |detail: String| PublishError::Setup {
            what: format!("the Kafka topic {}", self.config.topic),
            detail,
        };
        let topics = client
            .list_topics()
            .await
            .map_err(|e| setup(e.to_string()))?;
        if let Some(topic) = topics.iter().find(|t| t.name == self.config.topic) {
            return Ok(i32::try_from(topic.partitions.len().max(1)).unwrap_or(1));
        }
        let controller = client
            .controller_client()
            .map_err(|e| setup(e.to_string()))?;
        match controller
            .create_topic(&self.config.topic, 1, 1, CREATE_TOPIC_TIMEOUT_MS)
            .await
        {
            Ok(()) => Ok(1),
            // Another replica created it meanwhile.
            Err(KafkaError::ServerError {
                protocol_error: ProtocolError::TopicAlreadyExists,
                ..
            }) => Ok(1),
            Err(error) => Err(setup(error.to_string())),
        }
    }
}

/// The partition a key goes to: Kafka's default partitioner (murmur2, positive, modulo).
pub fn partition_of(key: &[u8], partitions: usize) -> usize {
    if partitions <= 1 {
        return 0;
    }
    (murmur2(key) & 0x7fff_ffff) as usize % partitions
}

/// Kafka's murmur2 (seed 0x9747b28c), as its Java client computes it.
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

fn record_of(event: &OutboundEvent) -> Record {
    Record {
        key: Some(event.model.as_str().as_bytes().to_vec()),
        value: Some(event.json.to_vec()),
        headers: BTreeMap::from([
            ("seq".to_owned(), event.seq.to_string().into_bytes()),
            ("kind".to_owned(), event.kind.as_str().as_bytes().to_vec()),
        ]),
        timestamp: event.created_at,
    }
}

#[async_trait]
impl Publisher for KafkaPublisher {
    fn name(&self) -> &str {
        &self.name
    }

    async fn connect(&mut self) -> Result<(), PublishError> {
        if !self.partitions.is_empty() {
            return Ok(());
        }
        let client = ClientBuilder::new(self.config.brokers.clone())
            .client_id("capstan-registry")
            .backoff_config(BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
                deadline: Some(REQUEST_DEADLINE),
            })
            .build()
            .await
            .map_err(|e| {
                PublishError::Connect(format!("{}: {e}", self.config.brokers.join(",")))
            })?;
        let count = self.partition_count(&client).await?;
        let mut partitions = Vec::new();
        for partition in 0..count {
            partitions.push(
                client
                    .partition_client(
                        self.config.topic.clone(),
                        partition,
                        UnknownTopicHandling::Retry,
                    )
                    .await
                    .map_err(|e| PublishError::Setup {
                        what: format!("partition {partition} of {}", self.config.topic),
                        detail: e.to_string(),
                    })?,
            );
        }
        self.partitions = partitions;
        Ok(())
    }

    /// Produces runs of consecutive events bound for the same partition as one batch
    /// each, in order, so a failure leaves an acknowledged prefix.
    async fn publish(&mut self, events: &[OutboundEvent]) -> Result<(), PublishFailure> {
        let count = self.partitions.len();
        if count == 0 {
            return Err(PublishFailure {
                published: 0,
                error: PublishError::Connect("not connected".to_owned()),
            });
        }
        let mut published = 0;
        while published < events.len() {
            let partition = partition_of(events[published].model.as_str().as_bytes(), count);
            let run = events[published..]
                .iter()
                .take_while(|e| partition_of(e.model.as_str().as_bytes(), count) == partition)
                .count();
            let records = events[published..published + run]
                .iter()
                .map(record_of)
                .collect();
            if let Err(error) = self.partitions[partition]
                .produce(records, Compression::NoCompression)
                .await
            {
                return Err(PublishFailure {
                    published,
                    error: PublishError::Publish(error.to_string()),
                });
            }
            published += run;
        }
        Ok(())
    }

    fn disconnect(&mut self) {
        self.partitions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
        assert_eq!(murmur2(b"abc") as i32, 479470107);
        assert_eq!(partition_of(b"anything", 1), 0);
    }
}
