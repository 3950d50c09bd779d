//! The relay: for one broker publisher, reads the event table after the publisher's
//! persisted cursor, in `seq` order, publishes each event and advances the cursor once the
//! broker acknowledged it. At least once, in order, `seq` as the idempotency key:
//!
//! - a broker that is down makes the relay retry the same events with backoff; the events
//!   wait in the table, nothing is skipped;
//! - a restart resumes at the stored cursor (a batch published but not yet recorded is
//!   published again, with the same `seq`);
//! - among replicas sharing a database, only the holder of the publisher's lease row
//!   publishes; it renews the lease every third of its duration, advances the cursor
//!   only while it still holds it, and gives it up on shutdown. Another replica takes
//!   over from the cursor when the lease expires.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::message::OutboundEvent;
use super::monitor::RelayMonitor;
use super::tail::EventHub;
use crate::error::RegistryError;
use crate::service::events::MessageQuery;

/// Events published per batch (and per cursor update).
const PUBLISH_BATCH: i64 = 100;
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// What went wrong talking to a broker.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("cannot create or inspect {what}: {detail}")]
    Setup { what: String, detail: String },
    #[error("publish failed: {0}")]
    Publish(String),
    #[error("no acknowledgement within {0:?}")]
    TimedOut(Duration),
}

/// A failed batch: the first `published` events were acknowledged, the rest were not.
#[derive(Debug)]
pub struct PublishFailure {
    pub published: usize,
    pub error: PublishError,
}

/// A broker the relay publishes to.
#[async_trait]
pub trait Publisher: Send {
    /// Stable name of the destination, the key of its cursor: `nats/<stream>`,
    /// `kafka/<topic>`.
    fn name(&self) -> &str;
    /// Connects unless connected, and makes sure the stream or topic exists.
    async fn connect(&mut self) -> Result<(), PublishError>;
    /// Publishes `events` in order, returning once the broker acknowledged all of them.
    async fn publish(&mut self, events: &[OutboundEvent]) -> Result<(), PublishFailure>;
    /// Drops the connection after a failure; the next [`Publisher::connect`] starts afresh.
    fn disconnect(&mut self);
}

/// The relay's failures; each is retried with backoff.
#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("event log: {0}")]
    Log(#[from] RegistryError),
    #[error(transparent)]
    Broker(#[from] PublishError),
}

/// What one step of the relay leaves to do next.
enum Step {
    /// Caught up, or not the lease holder: wait for new events or the next renewal.
    Idle,
    /// Published a batch; go on at once.
    Busy,
}

/// The lease this replica holds, and where publishing stands.
struct Leadership {
    cursor: i64,
    renewed_at: Instant,
}

pub struct Relay {
    hub: EventHub,
    publisher: Box<dyn Publisher>,
    monitor: Arc<RelayMonitor>,
    name: String,
    lease: Duration,
    leadership: Option<Leadership>,
}

impl Relay {
    pub fn new(
        hub: EventHub,
        publisher: Box<dyn Publisher>,
        monitor: Arc<RelayMonitor>,
        lease: Duration,
    ) -> Self {
        let name = publisher.name().to_owned();
        Self {
            hub,
            publisher,
            monitor,
            name,
            lease,
            leadership: None,
        }
    }

    fn renew_every(&self) -> Duration {
        self.lease / 3
    }

    /// Runs until `shutdown` is cancelled, then gives the lease up.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut head = self.hub.head();
        let mut retry = FIRST_RETRY;
        let mut registered = false;
        while !shutdown.is_cancelled() {
            let step = if registered {
                self.step().await
            } else {
                self.register().await.map(|()| {
                    registered = true;
                    Step::Busy
                })
            };
            let (wait, wake_on_events) = match step {
                Ok(Step::Busy) => {
                    retry = FIRST_RETRY;
                    continue;
                }
                // Only the lease holder wakes for new events; the others retry the lease.
                Ok(Step::Idle) => {
                    retry = FIRST_RETRY;
                    (self.renew_every(), self.leadership.is_some())
                }
                Err(error) => {
                    tracing::warn!(publisher = %self.name, %error, retry_in = ?retry, "event relay failed; retrying");
                    self.monitor.record_error(&self.name, error.to_string());
                    // Never so long that the lease lapses while waiting.
                    let wait = retry.min(self.renew_every());
                    retry = (retry * 2).min(LAST_RETRY);
                    (wait, false)
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                changed = head.changed(), if wake_on_events => if changed.is_err() { break },
                () = tokio::time::sleep(wait) => {}
            }
        }
        self.release().await;
    }

    async fn register(&mut self) -> Result<(), RelayError> {
        self.hub.registry().register_relay(&self.name, 0).await?;
        Ok(())
    }

    /// Holds the lease, then publishes the next batch after the cursor, if any.
    async fn step(&mut self) -> Result<Step, RelayError> {
        if !self.hold_lease().await? {
            return Ok(Step::Idle);
        }
        let Some(cursor) = self.leadership.as_ref().map(|l| l.cursor) else {
            return Ok(Step::Idle);
        };
        let events = self
            .hub
            .read(MessageQuery {
                models_like: None,
                after: cursor,
                limit: PUBLISH_BATCH,
                ..MessageQuery::default()
            })
            .await?;
        if events.is_empty() {
            return Ok(Step::Idle);
        }
        if let Err(error) = self.publisher.connect().await {
            self.publisher.disconnect();
            return Err(error.into());
        }
        // Bounded, so the lease is renewed in time even if the broker stops answering.
        let deadline = self.lease / 2;
        let published = tokio::time::timeout(deadline, self.publisher.publish(&events))
            .await
            .unwrap_or(Err(PublishFailure {
                published: 0,
                error: PublishError::TimedOut(deadline),
            }));
        match published {
            Ok(()) => {
                self.advance(&events).await?;
                self.monitor.record_published(&self.name, events.len());
                Ok(Step::Busy)
            }
            Err(failure) => {
                self.publisher.disconnect();
                self.advance(&events[..failure.published]).await?;
                self.monitor.record_published(&self.name, failure.published);
                Err(failure.error.into())
            }
        }
    }

    /// Takes or renews the lease when due; `false` when another replica holds it.
    async fn hold_lease(&mut self) -> Result<bool, RelayError> {
        let due = self
            .leadership
            .as_ref()
            .is_none_or(|l| l.renewed_at.elapsed() >= self.renew_every());
        if !due {
            return Ok(true);
        }
        let registry = self.hub.registry();
        let holder = self.monitor.holder();
        let renewed_at = Instant::now();
        if !registry
            .acquire_relay_lease(&self.name, holder, self.lease)
            .await?
        {
            if self.leadership.take().is_some() {
                tracing::info!(publisher = %self.name, "event relay lost its lease to another replica");
            }
            self.monitor.record_publishing(&self.name, false);
            return Ok(false);
        }
        match &mut self.leadership {
            Some(leadership) => leadership.renewed_at = renewed_at,
            None => {
                let cursor = registry.relay_cursor(&self.name).await?;
                tracing::info!(publisher = %self.name, cursor, "event relay took the lease; publishing");
                self.leadership = Some(Leadership { cursor, renewed_at });
                self.monitor.record_publishing(&self.name, true);
            }
        }
        Ok(true)
    }

    /// Records that `events` (a prefix of the batch) were acknowledged.
    async fn advance(&mut self, events: &[OutboundEvent]) -> Result<(), RelayError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let holds = self
            .hub
            .registry()
            .advance_relay_cursor(&self.name, self.monitor.holder(), last.seq)
            .await?;
        if holds {
            if let Some(leadership) = &mut self.leadership {
                leadership.cursor = last.seq;
            }
            self.monitor.clear_error(&self.name);
        } else {
            tracing::warn!(publisher = %self.name, "event relay lost its lease while publishing; another replica continues from the stored cursor");
            self.leadership = None;
            self.monitor.record_publishing(&self.name, false);
        }
        Ok(())
    }

    async fn release(&mut self) {
        if self.leadership.take().is_none() {
            return;
        }
        let registry = self.hub.registry();
        if let Err(error) = registry
            .release_relay_lease(&self.name, self.monitor.holder())
            .await
        {
            tracing::warn!(publisher = %self.name, %error, "event relay could not give its lease up; it expires by itself");
        }
        self.monitor.record_publishing(&self.name, false);
        tracing::info!(publisher = %self.name, "event relay stopped");
    }
}
