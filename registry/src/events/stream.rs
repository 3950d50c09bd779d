//! `GET /api/v1/events/stream`: the event log as server-sent events.
//!
//! Each event is `id: <seq>\nevent: <kind>\ndata: <EventMessage JSON>\n\n`; an idle stream
//! sends `: keep-alive` comments. Without `Last-Event-ID` or `after` a stream carries only
//! events recorded after it opened; with one of them it first replays the table from the
//! next `seq`, then continues live, so a reconnecting client misses nothing.
//!
//! A subscriber follows the tail's broadcast and keeps its own cursor (the last `seq` it
//! has considered); when it lags behind the broadcast buffer, or sees a gap, it reads the
//! table from that cursor instead. Streams end when the server shuts down.

use std::collections::VecDeque;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use capstan_client::types::{EventKind, EventMessage};
use capstan_client::{ModelName, Problem};

use super::message::{OutboundEvent, SSE_KEEP_ALIVE};
use super::tail::{EventHub, READ_BATCH};
use crate::error::{RegistryError, RegistryResult};
use crate::service::events::MessageQuery;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamEventsParams {
    /// Only events of this model.
    model: Option<ModelName>,
    /// Only events of this kind (`stage_changed`, `version_ready`, …).
    kind: Option<EventKind>,
    /// Replay events with a greater `seq` from the log first (`Last-Event-ID` wins when
    /// both are given). Without either, only new events are sent.
    after: Option<i64>,
}

/// Follow the event log as server-sent events.
///
/// Frames: `id: <seq>`, `event: <kind>`, `data: <EventMessage as one line of JSON>`, then a
/// blank line; `: keep-alive` comments while idle. Delivery is in `seq` order; after a
/// reconnect with `Last-Event-ID` (or `after`) the stream resumes at the next `seq`.
#[utoipa::path(
    tag = "events",
    params(
        StreamEventsParams,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this seq (sent by EventSource on reconnect)")
    ),
    responses(
        (status = 200, description = "A stream of events; each `data:` line is one EventMessage", body = EventMessage, content_type = "text/event-stream"),
        (status = 400, description = "Invalid filter or position", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/events/stream")]
pub async fn stream_events(
    hub: web::Data<EventHub>,
    shutdown: web::Data<CancellationToken>,
    query: web::Query<StreamEventsParams>,
    request: HttpRequest,
) -> RegistryResult<HttpResponse> {
    let query = query.into_inner();
    let filter = StreamFilter {
        model: query.model,
        kind: query.kind,
    };
    let resume = match request.headers().get("Last-Event-ID") {
        Some(value) => Some(parse_last_event_id(value)?),
        None => query.after,
    };
    if resume.is_some_and(|seq| seq < 0) {
        return Err(RegistryError::bad_request(
            "invalid_after",
            "after must be a sequence number ≥ 0",
        ));
    }
    // Subscribe before reading the position, so nothing recorded in between is missed.
    let receiver = hub.subscribe();
    let cursor = match resume {
        Some(seq) => seq,
        None => hub.registry().last_event_seq().await?,
    };
    let subscription = Subscription::new(
        hub.get_ref().clone(),
        filter,
        cursor,
        resume.is_some(),
        receiver,
        shutdown.get_ref().clone(),
    );
    let body = futures::stream::unfold(subscription, |mut subscription| async move {
        let chunk = subscription.next_chunk().await?;
        Some((chunk, subscription))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Compression would hold frames back in the encoder's buffer.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        // A finished stream's connection is not reused, so a shutdown is not held up by it.
        .force_close()
        .streaming(body))
}

fn parse_last_event_id(value: &header::HeaderValue) -> RegistryResult<i64> {
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<i64>().ok())
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| {
            RegistryError::bad_request(
                "invalid_last_event_id",
                "Last-Event-ID must be a sequence number ≥ 0",
            )
        })
}

#[derive(Debug, Clone, Default)]
struct StreamFilter {
    model: Option<ModelName>,
    kind: Option<EventKind>,
}

impl StreamFilter {
    fn matches(&self, event: &OutboundEvent) -> bool {
        self.model.as_ref().is_none_or(|m| *m == event.model)
            && self.kind.is_none_or(|k| k == event.kind)
    }
}

/// The stream's error: the log could not be read while catching up.
#[derive(Debug, thiserror::Error)]
#[error("event stream interrupted: {0}")]
struct StreamInterrupted(RegistryError);

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
