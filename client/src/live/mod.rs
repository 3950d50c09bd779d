//! Model as data (pattern 3): follow a ref and always predict with what it names now.
//!
//! [`LiveModel::follow`]`("bc@production")` subscribes to the model's events, loads the
//! version the ref names, then keeps it current: on each event that may have moved the
//! ref it asks the registry what the ref names now, pulls that artifact through the
//! content-addressed cache, verifies its digest, loads it with the runtime and swaps it
//! in behind an atomic pointer. A version that cannot be fetched, verified or loaded is
//! reported ([`LiveUpdate::Failed`]) and skipped; the last good model keeps serving.
//! Connections are resumed from the last `seq` with backoff, and the ref is re-resolved
//! after every reconnection, so a gap never hides a promotion.
//!
//! Events come from an [`EventSource`]: the registry's server-sent events ([`SseSource`],
//! the default), NATS JetStream (`NatsSource`, feature `live-nats`) or Kafka
//! (`KafkaSource`, feature `live-kafka`). [`EventFeed`] (one model's events, reconnected
//! and de-duplicated by `seq`) is public so other followers — the model server — reuse
//! it. This module never writes to the registry.

mod backoff;
mod error;
mod feed;
mod follow;
#[cfg(feature = "live-kafka")]
mod kafka;
mod load;
mod model;
#[cfg(feature = "live-nats")]
mod nats;
mod relevance;
mod report;
mod source;
mod sse;
mod sse_frames;

use std::sync::Arc;
use std::time::Duration;

pub use backoff::Backoff;
pub use error::LiveError;
pub use feed::{EventFeed, FeedItem};
pub use follow::Status;
#[cfg(feature = "live-kafka")]
pub use kafka::KafkaSource;
pub use load::{Loaded, Loader};
pub use model::{LiveModel, LiveModelBuilder, LivePrediction};
#[cfg(feature = "live-nats")]
pub use nats::{subject_token, NatsSource};
pub use relevance::concerns;
pub use source::{Checkpoint, Delivery, EventSource, EventStream, Position};
pub use sse::SseSource;

use crate::config::non_empty_var;
use crate::digest::Digest;
use crate::http::Client;
use crate::types::EventKind;

/// The environment variables that choose the event source.
pub mod env {
    /// `sse` (default), `nats` or `kafka`.
    pub const SOURCE: &str = "CAPSTAN_LIVE_SOURCE";
    /// NATS server(s), comma-separated (default `nats://127.0.0.1:4222`).
    pub const NATS_URL: &str = "CAPSTAN_NATS_URL";
    /// The JetStream stream the registry publishes to (default `CAPSTAN`).
    pub const NATS_STREAM: &str = "CAPSTAN_NATS_STREAM";
    /// The subjects' prefix (default `capstan.models`).
    pub const NATS_SUBJECT_PREFIX: &str = "CAPSTAN_NATS_SUBJECT_PREFIX";
    /// Kafka bootstrap brokers, `host:port`, comma-separated.
    pub const KAFKA_BROKERS: &str = "CAPSTAN_KAFKA_BROKERS";
    /// The topic the registry publishes to (default `capstan.events`).
    pub const KAFKA_TOPIC: &str = "CAPSTAN_KAFKA_TOPIC";
}

/// What a follower reports, in order, to [`LiveModel::updates`] receivers.
#[derive(Clone, Debug)]
pub enum LiveUpdate {
    /// The event subscription is (again) in place; `resumed_after` is the `seq` it
    /// resumed after (`None`: new events only).
    Connected {
        source: String,
        resumed_after: Option<i64>,
    },
    /// The subscription broke or could not be made; retried after `retry_in`.
    Disconnected {
        source: String,
        error: String,
        retry_in: Duration,
    },
    /// An event of the followed model arrived (each `seq` once); `relevant` when it may
    /// have moved the ref.
    Event {
        seq: i64,
        kind: Option<EventKind>,
        relevant: bool,
    },
    /// A new model serves from now on. `seq` is the event that led to it (`None`: a
    /// reconnection, a retry or a periodic check).
    Swapped {
        seq: Option<i64>,
        from: Arc<Loaded>,
        to: Arc<Loaded>,
    },
    /// What the ref names could not be resolved, fetched, verified or loaded; the
    /// previous model keeps serving. With `retry_in` it is tried again (the failure may
    /// pass); without, the version is skipped until the ref moves.
    Failed {
        seq: Option<i64>,
        version: Option<i64>,
        digest: Option<Digest>,
        error: Arc<LiveError>,
        retry_in: Option<Duration>,
    },
}

/// The event source `CAPSTAN_LIVE_SOURCE` names: server-sent events from `client`'s
/// registry by default, or NATS / Kafka (with the `live-nats` / `live-kafka` features).
pub fn source_from_env(client: &Client) -> Result<Arc<dyn EventSource>, LiveError> {
    let choice = non_empty_var(env::SOURCE).unwrap_or_else(|| "sse".to_owned());
    match choice.trim().to_ascii_lowercase().as_str() {
        "sse" => Ok(Arc::new(SseSource::new(client.clone()))),
        #[cfg(feature = "live-nats")]
        "nats" => Ok(Arc::new(NatsSource::from_env())),
        #[cfg(feature = "live-kafka")]
        "kafka" => Ok(Arc::new(KafkaSource::from_env()?)),
        other => Err(LiveError::Config(format!(
            "{}={other:?}: expected `sse`{}{}",
            env::SOURCE,
            if cfg!(feature = "live-nats") {
                ", `nats`"
            } else {
                ""
            },
            if cfg!(feature = "live-kafka") {
                ", `kafka`"
            } else {
                ""
            },
        ))),
    }
}
