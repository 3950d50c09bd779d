//! The registry's operations: each public method is one use case (create a model,
//! upload a version, promote…), applying `domain` rules to `store` and `artifacts` in
//! one transaction and writing the matching event in that same transaction.
//!
//! Handlers call exactly one of these; nothing here knows about HTTP.

mod aliases;
pub mod batch;
mod batch_keys;
mod batch_schedules;
mod batch_views;
pub mod batch_work;
mod body;
pub mod datasets;
mod deployment_views;
pub mod deployments;
pub mod download;
pub mod events;
pub mod mlflow;
pub mod mlflow_artifacts;
mod mlflow_sources;
mod mlflow_stages;
pub mod models;
mod policies;
mod promotion_views;
pub mod promotions;
mod resolve;
mod stages;
pub mod tokens;
pub mod trees;
pub mod upload;
mod version_edits;
mod versions;
mod views;
pub mod webhook_delivery;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use tokio::sync::watch;

use capstan_client::Digest;

use crate::artifacts::ArtifactStore;
use crate::error::RegistryResult;
use crate::store::rows::EventRow;
use crate::store::Db;

pub use body::read_limited;
pub use download::{ArtifactContent, ArtifactRequest, ByteRange, OpenedArtifact};
pub use mlflow_sources::{MlflowSources, SourceVersion};
pub use upload::{parse_new_version, UploadPart};

/// Size limits applied to request bodies.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest artifact accepted, in bytes.
    pub max_artifact_bytes: u64,
    /// Largest dataset accepted, in bytes.
    pub max_dataset_bytes: u64,
    /// Largest JSON body (and multipart `metadata` part), in bytes.
    pub max_json_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_artifact_bytes: 16 * 1024 * 1024 * 1024,
            max_dataset_bytes: 16 * 1024 * 1024 * 1024,
            max_json_bytes: 1024 * 1024,
        }
    }
}

#[derive(Clone)]
pub struct Registry {
    db: Db,
    artifacts: ArtifactStore,
    limits: Limits,
    /// Counts committed writes that may have appended an event; each watcher holds a
    /// receiver of its own ([`Changes`]).
    changes: Arc<watch::Sender<u64>>,
    /// Size of one chunk of a CSV or JSONL batch input.
    batch_chunk_bytes: u64,
    /// Footers of batch jobs' key indexes (predictions by key).
    key_footers: Arc<batch_keys::FooterCache>,
    /// Buffers scoring chunks reuse (see `batch_work::ChunkBuffers`).
    chunk_buffers: Arc<batch_work::BufferPool>,
    /// Behind an `Arc`: the registry is cloned into every task and handler.
    deployment_settings: Arc<deployments::DeploymentSettings>,
    /// Whether webhooks may deliver to internal addresses (see `service::webhooks`).
    webhooks_allow_private: bool,
    /// Verified API tokens (see `service::tokens`).
    tokens: Arc<tokens::TokenCache>,
    /// Parsed manifests of file trees (see `service::trees`).
    manifests: Arc<trees::ManifestCache>,
    /// Other MLflow servers `register_model` may read files from (see
    /// `service::mlflow_sources`).
    mlflow_sources: Arc<MlflowSources>,
    /// How long a promotion request may wait for approvals (see `service::promotions`);
    /// behind an `Arc` like the other settings, to keep the registry small to clone.
    promotion_request_ttl: Arc<Duration>,
}

/// One watcher's wake-up on the registry's commits ([`Registry::changes`]). Every
/// holder sees every commit made since it last waited, even one made while it was busy:
/// a shared `Notify` left one permit for several watchers, so the event tail could sleep
/// until its next poll while the serving watcher took the wake-up.
pub struct Changes(watch::Receiver<u64>);

impl Changes {
    /// Resolves at once if a write committed since the last call (or since this was
    /// taken), otherwise at the next commit.
    pub async fn next(&mut self) {
        if self.0.changed().await.is_err() {
            // The registry is gone: nothing will commit again.
            std::future::pending::<()>().await;
        }
    }
}

impl Registry {
    pub fn new(db: Db, artifacts: ArtifactStore, limits: Limits) -> Self {
        Self {
            db,
            artifacts,
            limits,
            changes: Arc::new(watch::Sender::new(0)),
            batch_chunk_bytes: 8 * 1024 * 1024,
            key_footers: Arc::default(),
            chunk_buffers: Arc::default(),
            deployment_settings: Arc::default(),
            webhooks_allow_private: false,
            tokens: Arc::default(),
            manifests: Arc::default(),
            mlflow_sources: Arc::default(),
            promotion_request_ttl: Arc::new(promotions::DEFAULT_REQUEST_TTL),
        }
    }

    /// Judges deployments with this grace period and heartbeat.
    pub fn with_deployment_settings(mut self, settings: deployments::DeploymentSettings) -> Self {
        self.deployment_settings = Arc::new(settings);
        self
    }

    /// Lets `register_model` read files behind these MLflow servers' artifact proxies.
    pub fn with_mlflow_sources(mut self, sources: MlflowSources) -> Self {
        self.mlflow_sources = Arc::new(sources);
        self
    }

    /// Splits CSV and JSONL batch inputs into chunks of about this many bytes.
    pub fn with_batch_chunk_bytes(mut self, bytes: u64) -> Self {
        self.batch_chunk_bytes = bytes;
        self
    }

    /// Wakes its holder after every committed write from now on: watchers of the event
    /// log wait on it instead of their next poll. Take it before reading the position it
    /// wakes you to read after, so a commit in between is not missed.
    pub fn changes(&self) -> Changes {
        Changes(self.changes.subscribe())
    }

    /// Runs a write transaction (see [`Db::write`]) and, once it committed, wakes the
    /// watchers of the event log.
    async fn write<T, F>(&self, f: F) -> crate::error::RegistryResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut crate::store::DbConn) -> crate::error::RegistryResult<T> + Send + 'static,
    {
        let result = self.db.write(f).await;
        if result.is_ok() {
            self.notify_changes();
        }
        result
    }

    /// Wakes the watchers of the event log after a commit that appended an event.
    fn notify_changes(&self) {
        self.changes
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Deletes staged uploads older than `max_age` — what a crash mid-upload left behind
    /// (start-up runs it with 24 h) — and says how many there were.
    pub async fn sweep_staged_uploads(&self, max_age: Duration) -> RegistryResult<usize> {
        Ok(self.artifacts.sweep_staging(max_age).await?)
    }

    /// Whether the object store holds the blob with this digest.
    pub async fn has_blob(&self, digest: &Digest) -> RegistryResult<bool> {
        Ok(self.artifacts.exists(digest).await?)
    }
}

/// Now, in UTC, at the microsecond precision both databases keep.
pub(crate) fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// The actor of what the registry does by itself (deployment states it judges).
pub(crate) const SYSTEM: &str = "system";

/// An event row for `kind` on `model` by `actor` (a token's name, `anonymous`, or one of
/// the registry's own: `worker`, `schedule:<name>`, `system`), to be completed and
/// appended.
pub(crate) fn event(
    kind: capstan_client::types::EventKind,
    model: &str,
    version: Option<i64>,
    actor: &str,
) -> EventRow {
    EventRow {
        seq: 0,
        kind,
        model: model.to_owned(),
        version,
        stage: None,
        from_version: None,
        to_version: None,
        reason: None,
        alias: None,
        digest: None,
        job: None,
        actor: Some(actor.to_owned()),
        deployment: None,
        from_state: None,
        to_state: None,
        request: None,
        previous_name: None,
        created_at: now(),
    }
}

impl Registry {
    /// Checks the database and the object store; never fails, reports instead.
    pub async fn readiness(&self) -> capstan_client::types::Readiness {
        let (database, object_store) = tokio::join!(self.db.ping(), self.artifacts.ping());
        let describe = |result: Result<(), String>| match result {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("unreachable: {e}"),
        };
        let ready = database.is_ok() && object_store.is_ok();
        capstan_client::types::Readiness {
            status: if ready { "ready" } else { "unavailable" }.to_owned(),
            database: describe(database.map_err(|e| e.to_string())),
            object_store: describe(object_store.map_err(|e| e.to_string())),
            relays: None,
        }
    }
}
