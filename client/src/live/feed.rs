//! [`EventFeed`]: one model's events from an [`EventSource`], kept flowing. It subscribes,
//! resumes from its [`Checkpoint`] after a broken connection (with backoff), drops events
//! whose `seq` it has seen, and tells its user when it (re)connected — the moment to ask
//! the registry for the current state, since a source may have nothing to replay (a first
//! subscription, a broker that lost its log).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::source::{Checkpoint, Delivery, EventSource, EventStream};
use crate::names::ModelName;

/// A connection that lasted this long was healthy: the next failure starts the backoff
/// over.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// What [`EventFeed::next`] yields.
#[derive(Debug)]
pub enum FeedItem {
    /// A new event (never one whose `seq` was seen before).
    Event(Box<Delivery>),
    /// The subscription is (again) in place, resuming after `resumed_after` (`None`: new
    /// events only). Whatever happened while it was not may have no event to show for it:
    /// re-read the state.
    Connected { resumed_after: Option<i64> },
    /// The subscription could not be made or broke; the next call retries after
    /// `retry_in`.
    Disconnected { error: String, retry_in: Duration },
}

pub struct EventFeed {
    source: Arc<dyn EventSource>,
    model: ModelName,
    checkpoint: Checkpoint,
    backoff: Backoff,
    stream: Option<EventStream>,
    connected_at: Option<Instant>,
    retry_at: Option<Instant>,
}

impl EventFeed {
    /// A feed of `model`'s events; nothing happens until [`EventFeed::next`].
    pub fn new(source: Arc<dyn EventSource>, model: ModelName, from: Checkpoint) -> Self {
        EventFeed {
            source,
            model,
            checkpoint: from,
            backoff: Backoff::default(),
            stream: None,
            connected_at: None,
            retry_at: None,
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    pub fn source(&self) -> &dyn EventSource {
        self.source.as_ref()
    }

    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    /// The next thing that happened. Cancel-safe: dropping the future loses nothing but
    /// a subscription attempt in progress, which the next call makes again.
    pub async fn next(&mut self) -> FeedItem {
        loop {
            let Some(stream) = self.stream.as_mut() else {
                if let Some(at) = self.retry_at {
                    tokio::time::sleep_until(at).await;
                }
                return match self.source.subscribe(&self.model, &self.checkpoint).await {
                    Ok(stream) => {
                        self.stream = Some(stream);
                        self.retry_at = None;
                        self.connected_at = Some(Instant::now());
                        FeedItem::Connected {
                            resumed_after: self.checkpoint.seq(),
                        }
                    }
                    Err(error) => self.disconnected(error.to_string()),
                };
            };
            match stream.next().await {
                Some(Ok(delivery)) => {
                    if self.checkpoint.record(&delivery) {
                        self.backoff.reset();
                        return FeedItem::Event(Box::new(delivery));
                    }
                }
                Some(Err(error)) => return self.disconnected(error.to_string()),
                None => return self.disconnected("the subscription ended".to_owned()),
            }
        }
    }

    fn disconnected(&mut self, error: String) -> FeedItem {
        self.stream = None;
        if self
            .connected_at
            .take()
            .is_some_and(|at| at.elapsed() >= HEALTHY_AFTER)
        {
            self.backoff.reset();
        }
        let retry_in = self.backoff.next_delay();
        self.retry_at = Some(Instant::now() + retry_in);
        FeedItem::Disconnected { error, retry_in }
    }
}
