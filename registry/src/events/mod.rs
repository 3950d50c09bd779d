//! Model-as-data delivery (pattern 3): the event table is the outbox, and this module
//! carries its rows out of the registry, in `seq` order, as [`EventMessage`]s.
//!
//! - [`tail`]: one task per process reads new rows (woken by local commits, polling for
//!   other replicas' writes) and broadcasts them to the SSE subscribers.
//! - [`stream`]: the server-sent events of `GET /api/v1/events/stream` (its handler is in
//!   `api/event_stream.rs`), resumable by `seq`.
//! - [`relay`]: per broker publisher, a lease-holding loop that publishes rows after its
//!   persisted cursor to [`nats`] JetStream or [`kafka`], at least once and in order.
//! - [`monitor`]: the relays' lag for `/readyz` and `/metrics`.
//!
//! This module reads the event log through the `Registry` and never writes models,
//! versions or events; a write elsewhere never waits for a subscriber or a broker.
//!
//! [`EventMessage`]: capstan_client::types::EventMessage

pub mod kafka;
pub mod message;
pub mod monitor;
pub mod nats;
pub mod relay;
pub mod shutdown;
pub mod stream;
pub mod tail;

use std::sync::Arc;
use std::time::Duration;

use crate::service::Registry;

pub use message::OutboundEvent;
pub use monitor::RelayMonitor;
pub use shutdown::Shutdown;
pub use tail::EventHub;

/// Settings of event delivery (see `docs/patterns/model-as-data.md`).
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// The registry's public base URL (`https://models.example.com`): artifact pointers
    /// are absolute URLs under it; without it they are paths.
    pub public_url: Option<String>,
    /// How often an idle SSE stream sends a `: keep-alive` comment.
    pub heartbeat: Duration,
    /// How often the tail and relays read the event log when no local commit woke them
    /// (this is how other replicas' writes are noticed).
    pub poll_interval: Duration,
    /// How long a relay's lease lasts without renewal; holders renew at a third of it.
    pub relay_lease: Duration,
    /// Events the tail buffers for SSE subscribers; one that falls further behind reads
    /// the table instead (not a flag: tests make it small to exercise that path).
    pub broadcast_capacity: usize,
    pub nats: Option<NatsConfig>,
    pub kafka: Option<KafkaConfig>,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            heartbeat: Duration::from_secs(15),
            poll_interval: Duration::from_millis(250),
            relay_lease: Duration::from_secs(10),
            broadcast_capacity: 1024,
            nats: None,
            kafka: None,
        }
    }
}

/// Publishing to NATS JetStream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// `nats://host:4222` (comma-separated for several servers).
    pub url: String,
    /// The stream, created if missing, capturing `<subject_prefix>.>`.
    pub stream: String,
    /// Subjects are `<subject_prefix>.<model token>.<kind>`.
    pub subject_prefix: String,
}

impl NatsConfig {
    pub const DEFAULT_STREAM: &'static str = "CAPSTAN";
    pub const DEFAULT_SUBJECT_PREFIX: &'static str = "capstan.models";
}

/// Publishing to Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port` each.
    pub brokers: Vec<String>,
    /// The topic, created (one partition) if missing; records are keyed by model name.
    pub topic: String,
}

impl KafkaConfig {
    pub const DEFAULT_TOPIC: &'static str = "capstan.events";
}

/// What [`start`] runs, for the HTTP server's app data.
#[derive(Clone)]
pub struct EventServices {
    pub hub: EventHub,
    pub relays: Arc<RelayMonitor>,
}

/// Starts the tail and one relay per configured broker on the current runtime; all of
/// them stop when `shutdown` begins (relays give their lease up first).
pub fn start(registry: &Registry, config: &EventsConfig, shutdown: &Shutdown) -> EventServices {
    let hub = EventHub::new(
        registry.clone(),
        config.public_url.as_deref(),
        config.heartbeat,
        config.broadcast_capacity,
    );
    shutdown.spawn(hub.clone().run_tail(config.poll_interval, shutdown.token()));
    let mut publishers: Vec<Box<dyn relay::Publisher>> = Vec::new();
    if let Some(nats) = &config.nats {
        publishers.push(Box::new(nats::NatsPublisher::new(nats.clone())));
    }
    if let Some(kafka) = &config.kafka {
        publishers.push(Box::new(kafka::KafkaPublisher::new(kafka.clone())));
    }
    let names = publishers.iter().map(|p| p.name().to_owned()).collect();
    let monitor = Arc::new(RelayMonitor::new(registry.clone(), names));
    for publisher in publishers {
        let relay = relay::Relay::new(hub.clone(), publisher, monitor.clone(), config.relay_lease);
        shutdown.spawn(relay.run(shutdown.token()));
    }
    EventServices {
        hub,
        relays: monitor,
    }
}
