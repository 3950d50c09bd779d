//! Where events come from: an [`EventSource`] subscribes to one model's events from a
//! [`Checkpoint`] and yields [`Delivery`]s — the registry's `seq`, the [`EventMessage`]
//! and the transport's own position (a JetStream stream sequence, a Kafka offset), which
//! is what a resumed subscription starts from. Sources only transport; de-duplication,
//! reconnecting and applying events are the [`super::EventFeed`]'s and the follower's.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use futures::stream::BoxStream;

use super::error::LiveError;
use crate::names::ModelName;
use crate::types::EventMessage;

/// One event as a source delivered it.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// The registry's sequence number: the idempotency key.
    pub seq: i64,
    /// The event; `None` when its body could not be decoded (the follower then treats it
    /// as relevant and asks the registry what changed).
    pub message: Option<EventMessage>,
    /// Where the transport is in its own log, when that differs from `seq`.
    pub position: Option<Position>,
}

impl Delivery {
    /// A received body as a delivery: `seq` from the decoded message, else from the
    /// transport's own copy of it (`id` — the SSE `id:` line, `Nats-Msg-Id`, Kafka's `seq`
    /// header); `None` when there is neither, so it is not one of the registry's events.
    pub(crate) fn decode(
        body: &[u8],
        id: Option<&str>,
        position: Option<Position>,
    ) -> Option<Self> {
        let message = serde_json::from_slice::<EventMessage>(body).ok();
        let seq = message
            .as_ref()
            .map(|m| m.event.seq)
            .or_else(|| id?.trim().parse().ok())?;
        Some(Delivery {
            seq,
            message,
            position,
        })
    }
}

/// A transport's own position of a delivered event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// A NATS JetStream stream sequence (not the registry's `seq`).
    Nats { stream_sequence: u64 },
    /// A Kafka record's partition and offset.
    Kafka { partition: i32, offset: i64 },
}

/// How far a subscriber has got: the newest `seq` it has seen, and the transports'
/// positions to resume from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    seq: Option<i64>,
    nats_sequence: Option<u64>,
    kafka_offsets: BTreeMap<i32, i64>,
}

impl Checkpoint {
    /// A checkpoint after `seq` (`None`: nothing seen; subscribe to new events only).
    pub fn after(seq: Option<i64>) -> Self {
        Checkpoint {
            seq,
            ..Checkpoint::default()
        }
    }

    /// The newest `seq` seen.
    pub fn seq(&self) -> Option<i64> {
        self.seq
    }

    /// The JetStream stream sequence of the newest message seen.
    pub fn nats_sequence(&self) -> Option<u64> {
        self.nats_sequence
    }

    /// The offset of the newest record seen in a Kafka partition.
    pub fn kafka_offset(&self, partition: i32) -> Option<i64> {
        self.kafka_offsets.get(&partition).copied()
    }

    /// Records a delivery; returns `false` when its `seq` was seen already (a
    /// duplicate, to be skipped). Positions only move forward.
    pub fn record(&mut self, delivery: &Delivery) -> bool {
        match delivery.position {
            Some(Position::Nats { stream_sequence }) => {
                self.nats_sequence = self.nats_sequence.max(Some(stream_sequence));
            }
            Some(Position::Kafka { partition, offset }) => {
                let entry = self.kafka_offsets.entry(partition).or_insert(offset);
                *entry = (*entry).max(offset);
            }
            None => {}
        }
        if self.seq.is_some_and(|seen| delivery.seq <= seen) {
            return false;
        }
        self.seq = Some(delivery.seq);
        true
    }
}

/// A subscription's deliveries; an error ends it (the feed then reconnects).
pub type EventStream = BoxStream<'static, Result<Delivery, LiveError>>;

/// A transport of the registry's events: server-sent events, NATS JetStream or Kafka.
pub trait EventSource: Send + Sync + 'static {
    /// Names the source in reports (`sse http://…`, `nats nats://…/CAPSTAN`).
    fn describe(&self) -> String;

    /// Subscribes to the events of `model` after `from` (only new ones when it has no
    /// position). Resolves once the subscription is in place, so that whatever happens
    /// after this returns is delivered.
    fn subscribe<'a>(
        &'a self,
        model: &'a ModelName,
        from: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<EventStream, LiveError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(seq: i64, position: Option<Position>) -> Delivery {
        Delivery {
            seq,
            message: None,
            position,
        }
    }

    #[test]
    fn duplicates_are_refused_and_positions_only_advance() {
        let mut checkpoint = Checkpoint::default();
        assert!(checkpoint.record(&delivery(5, Some(Position::Nats { stream_sequence: 9 }))));
        assert!(!checkpoint.record(&delivery(5, Some(Position::Nats { stream_sequence: 9 }))));
        assert!(!checkpoint.record(&delivery(4, Some(Position::Nats { stream_sequence: 3 }))));
        assert!(checkpoint.record(&delivery(7, None)));
        assert_eq!(checkpoint.seq(), Some(7));
        assert_eq!(checkpoint.nats_sequence(), Some(9));

        let mut kafka = Checkpoint::after(Some(10));
        assert!(!kafka.record(&delivery(
            10,
            Some(Position::Kafka {
                partition: 0,
                offset: 4
            })
        )));
        assert!(kafka.record(&delivery(
            11,
            Some(Position::Kafka {
                partition: 0,
                offset: 5
            })
        )));
        assert_eq!(kafka.kafka_offset(0), Some(5));
        assert_eq!(kafka.kafka_offset(1), None);
    }
}
