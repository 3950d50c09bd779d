//! The delivery loop. Among replicas sharing a database, only the holder of the
//! `webhooks` lease (a `relay_leases` row, taken and renewed like a relay's) delivers; it
//! renews the lease every third of its duration and gives it up on shutdown, and another
//! replica takes over from the stored cursors when it expires. An attempt is recorded
//! (and a cursor moved) only while the lease is held.
//!
//! The holder runs one task per active webhook, so a slow or dead receiver delays only
//! its own webhook. Each task delivers the first event after its cursor that the webhook
//! selects, waits for a 2xx, moves the cursor and goes on: in `seq` order, at least once,
//! `webhook-id: evt_<seq>` the same on every attempt. A failure schedules the next
//! attempt with exponential backoff and jitter; `410 Gone`, or failing for the whole
//! give-up window, disables the webhook (nothing is skipped: re-enabling resumes at the
//! cursor). Tasks wake on local commits (the event hub's head) and on every poll.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::attempt;
use super::metrics::WebhookMetrics;
use super::WebhooksConfig;
use crate::error::RegistryResult;
use crate::service::webhook_delivery::LeaseHolder;
use crate::service::Registry;

/// The lease (and `relay_leases` row) of webhook delivery.
pub const LEASE: &str = "webhooks";
/// Events read per query when looking for the next one a webhook selects.
const EVENTS_PER_READ: i64 = 100;
/// The wait after the loop itself failed (database unreachable, …).
const ERROR_WAIT: Duration = Duration::from_secs(1);
/// Tasks wake on new events (the event hub's head, which also follows other replicas'
/// writes) and at their retry time; this many poll intervals wakes them regardless (a
/// changed URL is tried at once).
const POLLS_PER_WAKE: u32 = 20;

/// A running task of one webhook.
struct Worker {
    wake: Arc<Notify>,
    stop: CancellationToken,
    handle: JoinHandle<()>,
}

/// What a webhook's task needs, shared by all of them.
pub(super) struct Context {
    pub(super) registry: Registry,
    pub(super) config: WebhooksConfig,
    holder: String,
    pub(super) metrics: Arc<WebhookMetrics>,
}

impl Context {
    fn lease(&self) -> LeaseHolder<'_> {
        LeaseHolder {
            lease: LEASE,
            holder: &self.holder,
        }
    }
}

pub struct Dispatcher {
    context: Arc<Context>,
    head: watch::Receiver<i64>,
    workers: HashMap<String, Worker>,
    /// When the lease was last taken or renewed, while this replica holds it.
    renewed_at: Option<Instant>,
}

impl Dispatcher {
    pub fn new(
        registry: Registry,
        head: watch::Receiver<i64>,
        config: WebhooksConfig,
        metrics: Arc<WebhookMetrics>,
    ) -> Self {
        let instance = uuid::Uuid::new_v4().simple().to_string();
        Self {
            context: Arc::new(Context {
                registry,
                config,
                holder: format!("webhooks/{}/{}", std::process::id(), &instance[..12]),
                metrics,
            }),
            head,
            workers: HashMap::new(),
            renewed_at: None,
        }
    }

    fn renew_every(&self) -> Duration {
        self.context.config.lease / 3
    }

    /// Runs until `shutdown` is cancelled, then stops the tasks and gives the lease up.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut registered = false;
        let mut woken_at = Instant::now();
        while !shutdown.is_cancelled() {
            let step = if registered {
                self.step().await
            } else {
                self.context
                    .registry
                    .register_relay(LEASE, 0)
                    .await
                    .map(|()| registered = true)
            };
            let wait = match step {
                Ok(()) => self.context.config.poll_interval.min(self.renew_every()),
                Err(error) => {
                    tracing::warn!(%error, "webhook delivery failed; retrying");
                    ERROR_WAIT.min(self.renew_every())
                }
            };
            let leading = self.renewed_at.is_some();
            let new_events = tokio::select! {
                () = shutdown.cancelled() => break,
                changed = self.head.changed(), if leading => if changed.is_err() { break } else { true },
                () = tokio::time::sleep(wait) => false,
            };
            if new_events
                || woken_at.elapsed() >= self.context.config.poll_interval * POLLS_PER_WAKE
            {
                woken_at = Instant::now();
                for worker in self.workers.values() {
                    worker.wake.notify_one();
                }
            }
        }
        self.stop_workers().await;
        if self.renewed_at.take().is_some() {
            let context = &self.context;
            if let Err(error) = context
                .registry
                .release_relay_lease(LEASE, &context.holder)
                .await
            {
                tracing::warn!(%error, "webhook delivery could not give its lease up; it expires by itself");
            }
            tracing::info!("webhook delivery stopped");
        }
    }

    /// Holds the lease, then runs a task for every active webhook (and none other).
    async fn step(&mut self) -> RegistryResult<()> {
        if !self.hold_lease().await? {
            self.stop_workers().await;
            return Ok(());
        }
        let active = self.context.registry.active_webhooks().await?;
        self.workers
            .retain(|id, worker| active.contains(id) && !worker.handle.is_finished());
        for id in active {
            if !self.workers.contains_key(&id) {
                let worker = spawn_worker(self.context.clone(), id.clone());
                self.workers.insert(id, worker);
            }
        }
        Ok(())
    }

    /// Takes or renews the lease when due; `false` when another replica holds it.
    async fn hold_lease(&mut self) -> RegistryResult<bool> {
        let due = self
            .renewed_at
            .is_none_or(|at| at.elapsed() >= self.renew_every());
        if !due {
            return Ok(true);
        }
        let context = &self.context;
        let at = Instant::now();
        let held = context
            .registry
            .acquire_relay_lease(LEASE, &context.holder, context.config.lease)
            .await?;
        match (held, self.renewed_at.is_some()) {
            (true, false) => tracing::info!("webhook delivery took the lease; delivering"),
            (false, true) => {
                tracing::info!("webhook delivery lost its lease to another replica")
            }
            _ => {}
        }
        self.renewed_at = held.then_some(at);
        Ok(held)
    }

    async fn stop_workers(&mut self) {
        for worker in self.workers.values() {
            worker.stop.cancel();
        }
        for (_, worker) in self.workers.drain() {
            // A task only ends by itself or on `stop`; an error here is a panic, logged.
            if let Err(error) = worker.handle.await {
                tracing::warn!(%error, "a webhook delivery task failed");
            }
        }
    }
}

/// What a task does after one step.
enum Next {
    /// Go on at once.
    Again,
    /// Wait to be woken, or until the given time.
    Wait(Option<Instant>),
    /// The webhook is gone, paused or disabled, or the lease was lost.
    Stop,
}

fn spawn_worker(context: Arc<Context>, id: String) -> Worker {
    let wake = Arc::new(Notify::new());
    let stop = CancellationToken::new();
    let handle = tokio::spawn(run_worker(context, id, wake.clone(), stop.clone()));
    Worker { wake, stop, handle }
}

async fn run_worker(context: Arc<Context>, id: String, wake: Arc<Notify>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        // Shutdown abandons an attempt in flight: it is made again (at least once).
        let step = tokio::select! {
            () = stop.cancelled() => break,
            step = deliver_next(&context, &id) => step,
        };
        let next = match step {
            Ok(next) => next,
            Err(error) => {
                tracing::warn!(webhook = %id, %error, "webhook delivery step failed; retrying");
                Next::Wait(Some(Instant::now() + ERROR_WAIT))
            }
        };
        let until = match next {
            Next::Again => continue,
            Next::Stop => break,
            Next::Wait(until) => until,
        };
        tokio::select! {
            () = stop.cancelled() => break,
            () = wake.notified() => {}
            () = sleep_until(until) => {}
        }
    }
}

async fn sleep_until(until: Option<Instant>) {
    match until {
        Some(until) => tokio::time::sleep_until(until).await,
        None => std::future::pending().await,
    }
}

/// Delivers (or retries) the first event after the webhook's cursor that it selects.
async fn deliver_next(context: &Context, id: &str) -> RegistryResult<Next> {
    let registry = &context.registry;
    let Some(target) = registry.delivery_target(id.to_owned()).await? else {
        return Ok(Next::Stop);
    };
    if !target.active {
        return Ok(Next::Stop);
    }
    if let Some(at) = target.next_attempt_at {
        let wait = (at.and_utc() - Utc::now()).to_std().unwrap_or_default();
        if !wait.is_zero() {
            return Ok(Next::Wait(Some(Instant::now() + wait)));
        }
    }
    let events = registry
        .events_for_webhook(target.cursor, target.model.clone(), EVENTS_PER_READ)
        .await?;
    let Some(event) = events.iter().find(|e| target.selection.selects(e.kind)) else {
        return match events.last() {
            // Only events it does not select: move past them.
            Some(last) => Ok(
                if registry
                    .skip_webhook_events(context.lease(), id, last.seq)
                    .await?
                {
                    Next::Again
                } else {
                    Next::Stop
                },
            ),
            None => Ok(Next::Wait(None)),
        };
    };
    // After a failure, the next step waits for the retry time it recorded.
    let attempt = attempt::attempt(context, &target, event).await;
    if !registry
        .record_webhook_attempt(context.lease(), attempt)
        .await?
    {
        return Ok(Next::Stop);
    }
    Ok(Next::Again)
}
