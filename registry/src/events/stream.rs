//! The event log as server-sent events, for `GET /api/v1/events/stream`
//! (`api/event_stream.rs`): [`EventHub::sse_stream`] produces the response body.
//!
//! Each event is `id: <seq>\nevent: <kind>\ndata: <EventMessage JSON>\n\n`; an idle stream
//! sends `: keep-alive` comments. Without a resume position a stream carries only events
//! recorded after it opened; with one it first replays the table from the next `seq`, then
//! continues live, so a reconnecting client misses nothing.
//!
//! A subscriber follows the tail's broadcast and keeps its own cursor (the last `seq` it
//! has considered); when it lags behind the broadcast buffer, or sees a gap, it reads the
//! table from that cursor instead. Streams end when the server shuts down.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use capstan_client::types::EventKind;
use capstan_client::ModelName;

use super::message::{OutboundEvent, SSE_KEEP_ALIVE};
use super::tail::{EventHub, READ_BATCH};
use crate::domain::access::ModelScope;
use crate::error::{RegistryError, RegistryResult};
use crate::service::events::MessageQuery;

impl EventHub {
    /// A subscriber's stream of SSE frames: events matching `filter` after `resume` (the
    /// table first, then live), or without `resume` only events recorded from now on.
    /// Ends when `shutdown` is cancelled.
    pub async fn sse_stream(
        &self,
        filter: StreamFilter,
        resume: Option<i64>,
        shutdown: CancellationToken,
    ) -> RegistryResult<impl Stream<Item = Result<Bytes, StreamInterrupted>> + 'static> {
        // Subscribe before reading the position, so nothing recorded in between is missed.
        let receiver = self.subscribe();
        let cursor = match resume {
            Some(seq) => seq,
            None => self.registry().last_event_seq().await?,
        };
        let subscription = Subscription::new(
            self.clone(),
            filter,
            cursor,
            resume.is_some(),
            receiver,
            shutdown,
        );
        Ok(futures::stream::unfold(
            subscription,
            |mut subscription| async move {
                let chunk = subscription.next_chunk().await?;
                Some((chunk, subscription))
            },
        ))
    }
}

/// Which events a stream carries.
#[derive(Debug, Clone, Default)]
pub struct StreamFilter {
    pub model: Option<ModelName>,
    pub kind: Option<EventKind>,
    /// The models the subscriber's token reaches (events of others are never sent).
    pub scope: ModelScope,
}

impl StreamFilter {
    fn matches(&self, event: &OutboundEvent) -> bool {
        self.model.as_ref().is_none_or(|m| *m == event.model)
            && self.kind.is_none_or(|k| k == event.kind)
            && self.scope.allows(event.model.as_str())
    }
}

/// The stream's error: the log could not be read while catching up.
#[derive(Debug, thiserror::Error)]
#[error("event stream interrupted: {0}")]
pub struct StreamInterrupted(RegistryError);

/// One subscriber's position and its way of catching up.
struct Subscription {
    hub: EventHub,
    filter: StreamFilter,
    /// Every event with `seq <= cursor` has been sent or filtered out.
    cursor: i64,
    /// Read from the table, waiting to be sent.
    backlog: VecDeque<OutboundEvent>,
    /// Read the table from `cursor` before following the broadcast again.
    catching_up: bool,
    receiver: broadcast::Receiver<Arc<OutboundEvent>>,
    heartbeat: Interval,
    shutdown: CancellationToken,
}

impl Subscription {
    fn new(
        hub: EventHub,
        filter: StreamFilter,
        cursor: i64,
        catching_up: bool,
        receiver: broadcast::Receiver<Arc<OutboundEvent>>,
        shutdown: CancellationToken,
    ) -> Self {
        let period = hub.heartbeat();
        let mut heartbeat = tokio::time::interval_at(Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            hub,
            filter,
            cursor,
            backlog: VecDeque::new(),
            catching_up,
            receiver,
            heartbeat,
            shutdown,
        }
    }

    /// The next chunk of the response; `None` ends the stream.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, StreamInterrupted>> {
        loop {
            if self.shutdown.is_cancelled() {
                return None;
            }
            if let Some(event) = self.backlog.pop_front() {
                self.heartbeat.reset();
                return Some(Ok(event.sse_frame()));
            }
            if self.catching_up {
                if let Err(error) = self.read_table().await {
                    return Some(Err(StreamInterrupted(error)));
                }
                continue;
            }
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return None,
                received = self.receiver.recv() => match received {
                    Ok(event) if event.seq <= self.cursor => {}
                    Ok(event) if event.seq > self.cursor + 1 => self.catching_up = true,
                    Ok(event) => {
                        self.cursor = event.seq;
                        if self.filter.matches(&event) {
                            self.heartbeat.reset();
                            return Some(Ok(event.sse_frame()));
                        }
                    }
                    Err(RecvError::Lagged(_)) => self.catching_up = true,
                    Err(RecvError::Closed) => return None,
                },
                _ = self.heartbeat.tick() => return Some(Ok(Bytes::from_static(SSE_KEEP_ALIVE))),
            }
        }
    }

    /// Reads the next page of matching events from the table into the backlog; leaves
    /// catch-up once the table has nothing after the cursor.
    async fn read_table(&mut self) -> RegistryResult<()> {
        let until = self.hub.registry().last_event_seq().await?;
        let events = self
            .hub
            .read(MessageQuery {
                model: self.filter.model.clone(),
                models_like: self.filter.scope.like_patterns(),
                kind: self.filter.kind,
                after: self.cursor,
                until: Some(until),
                limit: READ_BATCH,
            })
            .await?;
        let full = events.len() as i64 == READ_BATCH;
        self.cursor = match (full, events.last()) {
            (true, Some(last)) => last.seq,
            _ => until.max(self.cursor),
        };
        self.catching_up = full;
        self.backlog.extend(events);
        Ok(())
    }
}
