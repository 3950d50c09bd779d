//! Signed webhooks: the event log delivered as HTTP POSTs that follow the Standard
//! Webhooks spec (<https://www.standardwebhooks.com>), to the endpoints users register
//! (`/api/v1/webhooks`, handlers in `api/webhooks.rs`, use cases in `service/webhooks.rs`).
//!
//! - [`delivery`]: the loop only the holder of the `webhooks` lease runs: one task per
//!   active webhook, each reading the log after its webhook's persisted cursor, in `seq`
//!   order, at least once, with exponential backoff and jitter; a slow or dead receiver
//!   only delays itself.
//! - `attempt`: one event to one webhook: the address check again, signing, the POST,
//!   and what the answer means (2xx, 410, a failure and its retry time).
//! - [`sender`]: the POST itself, pinned to the addresses checked just before (no
//!   DNS rebinding between the check and the connection), no redirects, no proxy.
//! - [`signing`]: the `webhook-signature` header.
//! - [`metrics`]: attempts by result, for `/metrics`.
//!
//! This module reads and writes only through the `Registry`; nothing here knows about
//! HTTP requests to the registry itself.

mod attempt;
pub mod delivery;
pub mod metrics;
pub mod sender;
pub mod signing;

use std::sync::Arc;

use std::time::Duration;

use crate::events::{EventHub, Shutdown};
pub use metrics::WebhookMetrics;

/// Settings of webhook delivery (see `docs/control-plane.md#webhooks`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WebhooksConfig {
    /// Deliver to loopback, private, link-local and other internal addresses too
    /// (`--webhooks-allow-private`); refused by default (SSRF).
    pub allow_private: bool,
    /// How long one attempt may take, connecting included.
    pub timeout: Duration,
    /// The wait after an event's first failed attempt; it doubles with each failure.
    pub retry_first: Duration,
    /// The longest wait between two attempts.
    pub retry_max: Duration,
    /// How long an event may keep failing before its webhook is disabled.
    pub give_up: Duration,
    /// How long the delivering replica's lease lasts without renewal (renewed at a third).
    pub lease: Duration,
    /// How often the list of webhooks and the event log are read when no local commit
    /// woke the loop (this is how other replicas' writes are noticed).
    pub poll_interval: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(10),
            retry_first: Duration::from_secs(5),
            retry_max: Duration::from_secs(60 * 60),
            give_up: Duration::from_secs(24 * 60 * 60),
            lease: Duration::from_secs(10),
            poll_interval: Duration::from_millis(250),
        }
    }
}

/// Starts the delivery loop on the current runtime; it stops (giving its lease up) when
/// `shutdown` begins. Returns the counters it keeps for `/metrics`.
pub fn start(hub: &EventHub, config: &WebhooksConfig, shutdown: &Shutdown) -> Arc<WebhookMetrics> {
    let metrics = Arc::new(WebhookMetrics::default());
    let dispatcher =
        delivery::Dispatcher::new(hub.registry().clone(), hub.head(), *config, metrics.clone());
    shutdown.spawn(dispatcher.run(shutdown.token()));
    metrics
}
