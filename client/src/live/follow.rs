//! The follower task behind a [`super::LiveModel`]: it reads the [`EventFeed`], and for
//! each event that may have moved the ref — and after every (re)connection — asks the
//! registry what the ref names now and swaps the new version in if it differs. A version
//! that fails for good (digest mismatch, unloadable, no artifact) is reported and
//! skipped; a failure that may pass (registry unreachable) is retried with backoff.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::backoff::Backoff;
use super::error::LiveError;
use super::feed::{EventFeed, FeedItem};
use super::load::{Loaded, Loader};
use super::relevance::concerns;
use super::LiveUpdate;
use crate::digest::Digest;
use crate::reference::ModelRef;

/// What the follower shares with the [`super::LiveModel`] handles.
pub(crate) struct Shared {
    pub current: watch::Sender<Arc<Loaded>>,
    pub updates: broadcast::Sender<LiveUpdate>,
    pub status: Mutex<Status>,
}

/// Where a follower stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Whether the event subscription is in place.
    pub connected: bool,
    /// The newest event `seq` received.
    pub last_seq: Option<i64>,
    /// The last failure (connection or version), until the next success.
    pub last_error: Option<String>,
}

impl Shared {
    fn update_status(&self, change: impl FnOnce(&mut Status)) {
        change(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn report(&self, update: LiveUpdate) {
        // Nobody listening is fine.
        let _ = self.updates.send(update);
    }
}

/// What the ref named when it was last resolved; a version that failed for good is
/// remembered as one and not tried again while the ref still names it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Target {
    version: i64,
    digest: Option<Digest>,
}

pub(crate) struct Follower {
    pub reference: ModelRef,
    pub loader: Loader,
    pub shared: Arc<Shared>,
    pub feed: EventFeed,
    /// Re-resolve the ref this often even without events (a safety net).
    pub resync_every: Option<Duration>,
    pub retry: Backoff,
    rejected: Option<Target>,
    retry_at: Option<Instant>,
    resync_at: Option<Instant>,
}

impl Follower {
    pub fn new(
        reference: ModelRef,
        loader: Loader,
        shared: Arc<Shared>,
        feed: EventFeed,
        resync_every: Option<Duration>,
        retry: Backoff,
    ) -> Self {
        Follower {
            reference,
            loader,
            shared,
            feed,
            resync_at: resync_every.map(|every| Instant::now() + every),
            resync_every,
            retry,
            rejected: None,
            retry_at: None,
        }
    }

    /// Records what the feed's first step (made before the initial version was loaded)
    /// said about the subscription.
    pub fn initial(&self, item: &FeedItem) {
        self.report_connection_change(item);
    }

    pub async fn run(mut self) {
        loop {
            let wake = [self.retry_at, self.resync_at].into_iter().flatten().min();
            let item = tokio::select! {
                item = self.feed.next() => Some(item),
                () = sleep_until(wake) => None,
            };
            let apply = match &item {
                None => Some(None),
                Some(FeedItem::Event(delivery)) => {
                    let relevant = concerns(&self.reference, delivery.message.as_ref());
                    self.shared
                        .update_status(|s| s.last_seq = s.last_seq.max(Some(delivery.seq)));
                    self.shared.report(LiveUpdate::Event {
                        seq: delivery.seq,
                        kind: delivery.message.as_ref().map(|m| m.event.kind),
                        relevant,
                    });
                    relevant.then_some(Some(delivery.seq))
                }
                Some(connection) => self.report_connection_change(connection).then_some(None),
            };
            if let Some(seq) = apply {
                self.apply(seq).await;
            }
        }
    }

    /// Reports a (dis)connection; `true` when the state must be re-read.
    fn report_connection_change(&self, item: &FeedItem) -> bool {
        let source = self.feed.source().describe();
        match item {
            FeedItem::Connected { resumed_after } => {
                self.shared.update_status(|s| s.connected = true);
                self.shared.report(LiveUpdate::Connected {
                    source,
                    resumed_after: *resumed_after,
                });
                true
            }
            FeedItem::Disconnected { error, retry_in } => {
                self.shared.update_status(|s| {
                    s.connected = false;
                    s.last_error = Some(error.clone());
                });
                self.shared.report(LiveUpdate::Disconnected {
                    source,
                    error: error.clone(),
                    retry_in: *retry_in,
                });
                false
            }
            FeedItem::Event(_) => false,
        }
    }

    /// Re-resolves the ref and swaps in what it names now, if that differs.
    async fn apply(&mut self, seq: Option<i64>) {
        self.resync_at = self.resync_every.map(|every| Instant::now() + every);
        self.retry_at = None;
        let mut target = None;
        let outcome = next_model(
            &self.reference,
            &self.loader,
            &self.shared,
            self.rejected,
            &mut target,
        )
        .await;
        match outcome {
            Ok(None) => self.retry.reset(),
            Ok(Some(loaded)) => {
                self.retry.reset();
                self.rejected = None;
                let to = Arc::new(loaded);
                let from = self.shared.current.send_replace(to.clone());
                self.shared.update_status(|s| s.last_error = None);
                self.shared.report(LiveUpdate::Swapped { seq, from, to });
            }
            Err(error) => {
                let retry_in = error.is_transient().then(|| self.retry.next_delay());
                match retry_in {
                    Some(delay) => self.retry_at = Some(Instant::now() + delay),
                    None => self.rejected = target,
                }
                self.shared
                    .update_status(|s| s.last_error = Some(error.to_string()));
                self.shared.report(LiveUpdate::Failed {
                    seq,
                    version: target.map(|t| t.version),
                    digest: target.and_then(|t| t.digest),
                    error: Arc::new(error),
                    retry_in,
                });
            }
        }
    }
}

/// The model to swap in, or `None` when the ref still names the current one (or one that
/// was rejected already). `target` is set to what the ref names once that is known.
async fn next_model(
    reference: &ModelRef,
    loader: &Loader,
    shared: &Shared,
    rejected: Option<Target>,
    target: &mut Option<Target>,
) -> Result<Option<Loaded>, LiveError> {
    let version = loader.resolve(reference).await?;
    let resolved = Target {
        version: version.version,
        digest: version.digest,
    };
    *target = Some(resolved);
    let current = shared.current.borrow().clone();
    if current.version == version.version && Some(current.digest) == version.digest {
        return Ok(None);
    }
    if rejected == Some(resolved) {
        return Ok(None);
    }
    loader.load(&version, Some(&current)).await.map(Some)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
