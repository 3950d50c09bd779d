//! The batch worker: a few slots, each claiming the next step of batch work (start a
//! job, score a chunk, finish a job) and doing it, until shutdown. `capstan-registry
//! serve` runs one in-process (`--batch-workers`); `capstan-registry worker` runs one on
//! another machine against the same database and object store, without the HTTP API.
//!
//! Slots score chunks concurrently, so a worker keeps every core busy; each holds its own
//! lease token, renewed while a chunk is scored. Nothing here touches the database or
//! the object store: it goes through `Registry` (see `service::batch_work`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use capstan_client::runtime::Predictor;
use capstan_client::ModelName;
use tokio_util::sync::CancellationToken;

use crate::error::RegistryError;
use crate::service::batch_work::{version_ref, BatchWork, ClaimedChunk, PredictorSource};
use crate::service::Registry;
use crate::serving::{load_predictor, served_artifact, LocalSource, PredictorCache, VersionLoader};

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Steps worked on at once (default: one per core).
    pub slots: usize,
    /// How long a claimed step is a worker's before another may take it over; renewed
    /// every third of it while the step runs.
    pub lease: Duration,
    /// How often an idle slot looks for work that another replica queued (local
    /// submissions wake it at once).
    pub poll: Duration,
    /// Names this worker in lease tokens and logs (default: process id and a random suffix).
    pub name: String,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            slots: std::thread::available_parallelism().map_or(2, |n| n.get()),
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            // Unique per worker, so chunks record which worker scored them even when
            // several run in one process.
            name: format!(
                "worker-{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
        }
    }
}

/// Predictors by digest, loaded from this registry's store.
struct LocalPredictors {
    source: LocalSource,
    cache: PredictorCache,
}

#[async_trait]
impl PredictorSource for LocalPredictors {
    async fn predictor(
        &self,
        model: &ModelName,
        version: i64,
    ) -> Result<Arc<dyn Predictor>, RegistryError> {
        let version = self
            .source
            .resolve(model, &version_ref(version))
            .await
            .map_err(serve_error)?;
        let served = served_artifact(&version).map_err(serve_error)?;
        if let Some(cached) = self.cache.get(&served.digest) {
            return Ok(cached);
        }
        let bytes = self.source.fetch(&version).await.map_err(serve_error)?;
        let predictor = load_predictor(&version, bytes).await.map_err(serve_error)?;
        self.cache.insert(served.digest, predictor.clone());
        Ok(predictor)
    }
}

fn serve_error(error: crate::serving::ServeError) -> RegistryError {
    RegistryError::unprocessable("model_unavailable", error.to_string())
}

/// Runs `config.slots` slots until `stop` is cancelled; returns when they all stopped.
pub async fn run(registry: Registry, config: WorkerConfig, stop: CancellationToken) {
    let predictors = Arc::new(LocalPredictors {
        source: LocalSource::new(registry.clone()),
        cache: PredictorCache::default(),
    });
    tracing::info!(worker = %config.name, slots = config.slots, "batch worker started");
    let slots: Vec<_> = (0..config.slots.max(1))
        .map(|slot| {
            tokio::spawn(run_slot(
                registry.clone(),
                config.clone(),
                slot,
                predictors.clone(),
                stop.clone(),
            ))
        })
        .collect();
    for slot in slots {
        let _ = slot.await;
    }
}

async fn run_slot(
    registry: Registry,
    config: WorkerConfig,
    slot: usize,
    predictors: Arc<LocalPredictors>,
    stop: CancellationToken,
) {
    let mut changes = registry.changes();
    while !stop.is_cancelled() {
        let holder = format!("{}/{slot}/{}", config.name, uuid::Uuid::new_v4());
        let work = match registry
            .claim_batch_work(holder.clone(), config.lease)
            .await
        {
            Ok(work) => work,
            Err(error) => {
                tracing::warn!(%error, "batch worker cannot claim work; retrying");
                None
            }
        };
        let Some(work) = work else {
            tokio::select! {
                _ = stop.cancelled() => break,
                () = changes.next() => {}
                _ = tokio::time::sleep(config.poll) => {}
            }
            continue;
        };
        let outcome = match work {
            BatchWork::Start(job) => {
                registry
                    .start_batch_job(job, holder, predictors.as_ref())
                    .await
            }
            BatchWork::Chunk(chunk) => {
                let renewing = renew_while_scoring(&registry, &chunk, &holder, config.lease);
                tokio::select! {
                    outcome = registry.score_batch_chunk(&chunk, holder.clone(), predictors.as_ref()) => outcome,
                    () = renewing => {
                        tracing::info!(chunk = %chunk.name(), "gave a chunk up: its lease was lost or its job stopped");
                        Ok(())
                    }
                }
            }
            BatchWork::Finish(job) => {
                registry
                    .finish_batch_job(job, holder, predictors.as_ref())
                    .await
            }
        };
        if let Err(error) = outcome {
            tracing::warn!(%error, "batch work failed; its lease will expire and it is retried");
            tokio::time::sleep(config.poll).await;
        }
    }
}

/// Renews a chunk's lease every third of its length; returns when the lease is lost or
/// the job stopped (the chunk's work is then abandoned).
async fn renew_while_scoring(
    registry: &Registry,
    chunk: &ClaimedChunk,
    holder: &str,
    lease: Duration,
) {
    loop {
        tokio::time::sleep(lease / 3).await;
        match registry
            .renew_chunk_lease(chunk, holder.to_owned(), lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => tracing::warn!(%error, "cannot renew a chunk lease"),
        }
    }
}
