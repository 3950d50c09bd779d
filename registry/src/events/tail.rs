//! The shared tail of the event log: one task per process reads rows after the last one
//! it saw — woken by `Registry::changes()` after a local commit, and every poll interval
//! for other replicas' writes — encodes each as an [`OutboundEvent`] once, and broadcasts
//! it to every SSE subscriber. It also publishes the newest `seq` it has seen, which
//! wakes the relays.
//!
//! Subscribers that fall behind the broadcast buffer read the table by their own cursor
//! (see [`super::stream`]); the tail never waits for a subscriber.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::message::OutboundEvent;
use crate::error::RegistryResult;
use crate::service::events::MessageQuery;
use crate::service::Registry;

/// Rows read per query.
pub const READ_BATCH: i64 = 500;

/// The tail's output, shared by the SSE handler and the relays.
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<HubInner>,
}

struct HubInner {
    registry: Registry,
    sender: broadcast::Sender<Arc<OutboundEvent>>,
    head: watch::Sender<i64>,
    public_url: Option<Arc<str>>,
    heartbeat: Duration,
}

impl EventHub {
    /// `capacity`: events buffered for slow subscribers before they must read the
    /// table instead.
    pub fn new(
        registry: Registry,
        public_url: Option<&str>,
        heartbeat: Duration,
        capacity: usize,
    ) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        let (head, _) = watch::channel(0);
        Self {
            inner: Arc::new(HubInner {
                registry,
                sender,
                head,
                public_url: public_url.map(Arc::from),
                heartbeat,
            }),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// How often an idle SSE stream sends a keep-alive comment.
    pub fn heartbeat(&self) -> Duration {
        self.inner.heartbeat
    }

    /// Events the tail reads from now on, in `seq` order.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<OutboundEvent>> {
        self.inner.sender.subscribe()
    }

    /// The newest `seq` the tail has seen; changes whenever the log grows.
    pub fn head(&self) -> watch::Receiver<i64> {
        self.inner.head.subscribe()
    }

    /// Reads and encodes the events `query` selects (from the table, not the broadcast).
    pub async fn read(&self, query: MessageQuery) -> RegistryResult<Vec<OutboundEvent>> {
        let messages = self
            .inner
            .registry
            .event_messages(query, self.inner.public_url.clone())
            .await?;
        let mut events = Vec::with_capacity(messages.len());
        for message in &messages {
            events.push(OutboundEvent::encode(message).map_err(crate::store::StoreError::from)?);
        }
        Ok(events)
    }

    /// Runs the tail until `shutdown` is cancelled; dropping out closes every
    /// subscriber's receiver.
    pub async fn run_tail(self, poll: Duration, shutdown: CancellationToken) {
        let mut changes = self.inner.registry.changes();
        let mut cursor = None;
        loop {
            if cursor.is_none() {
                match self.inner.registry.last_event_seq().await {
                    Ok(seq) => {
                        self.inner.head.send_replace(seq);
                        cursor = Some(seq);
                    }
                    Err(error) => tracing::warn!(%error, "event tail cannot read the log"),
                }
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = changes.next() => {}
                () = tokio::time::sleep(poll) => {}
            }
            if let Some(seq) = cursor {
                cursor = Some(self.catch_up(seq).await);
            }
        }
        tracing::debug!("event tail stopped");
    }

    /// Broadcasts every event after `cursor`; returns the new cursor.
    async fn catch_up(&self, mut cursor: i64) -> i64 {
        loop {
            if self.inner.sender.receiver_count() == 0 {
                // Nobody listens: only move the head (the relays read the table).
                match self.inner.registry.last_event_seq().await {
                    Ok(seq) => {
                        self.inner.head.send_if_modified(|head| {
                            let moved = *head != seq;
                            *head = seq;
                            moved
                        });
                        return seq;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "event tail cannot read the log");
                        return cursor;
                    }
                }
            }
            let query = MessageQuery {
                models_like: None,
                after: cursor,
                limit: READ_BATCH,
                ..MessageQuery::default()
            };
            let events = match self.read(query).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(%error, "event tail cannot read the log");
                    return cursor;
                }
            };
            let full = events.len() as i64 == READ_BATCH;
            for event in events {
                cursor = event.seq;
                // An error only means every subscriber left meanwhile.
                let _ = self.inner.sender.send(Arc::new(event));
            }
            self.inner.head.send_if_modified(|head| {
                let moved = *head != cursor;
                *head = cursor;
                moved
            });
            if !full {
                return cursor;
            }
        }
    }
}
