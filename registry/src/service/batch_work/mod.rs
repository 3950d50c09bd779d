//! Batch jobs as workers drive them: claim work, start a job (resolve its ref, plan its
//! columns, split its input into chunks), score a chunk, and write a finished job's
//! output. The loop that calls these is `crate::batch::worker`; the CPU work (parsing,
//! scoring, writing rows, the key index) is `crate::batch`'s engine.
//!
//! Every step is claimed under a lease (see `store::batch`) and committed with one
//! conditional write, so a worker that dies or stalls loses only the step it held, and
//! another worker redoes it; a chunk's part counts only if its commit won.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::NaiveDateTime;

use capstan_client::runtime::Predictor;
use capstan_client::types::{BatchFailure, BatchInput, BatchJobStatus, DataFormat, EventKind};
use capstan_client::{ModelName, VersionRef};

use super::batch::{find_job, job_event};
use super::{now, Registry};
use crate::artifacts::{ArtifactStore, ObjectKey};
use crate::batch::KeySink;

mod output;
mod plan;
mod score;
use crate::error::{RegistryError, RegistryResult};
use crate::store::batch::{self, Transition};
use crate::store::batch_chunks;
use crate::store::batch_rows::{BatchJobRow, ChunkRow};
use crate::store::events;

/// The actor batch workers' events name.
const WORKER: &str = "worker";

/// A step of batch work a worker holds the lease of.
pub enum BatchWork {
    /// A queued job to start.
    Start(ClaimedJob),
    /// A chunk to score.
    Chunk(ClaimedChunk),
    /// A running job whose chunks are all done: write its output.
    Finish(ClaimedJob),
}

/// A job leased to a worker (to start or to finish).
pub struct ClaimedJob(BatchJobRow);

/// A chunk leased to a worker.
pub struct ClaimedChunk(ChunkRow);

impl ClaimedChunk {
    /// `job/chunk`, for logs.
    pub fn name(&self) -> String {
        format!("{}/{}", self.0.job_id, self.0.chunk)
    }
}

/// What scoring a chunk fills, kept for the next chunk: its input, output part, keys and
/// key sidecar (about 15 MiB for an 8 MiB chunk). Allocated afresh for every chunk, these
/// buffers come from whichever blocking thread's glibc arena, and the arenas keep them: a
/// worker's memory then grows with its threads rather than its slots.
#[derive(Default)]
pub(crate) struct ChunkBuffers {
    pub input: Vec<u8>,
    pub output: Vec<u8>,
    pub keys: KeySink,
    pub sidecar: Vec<u8>,
}

/// Idle [`ChunkBuffers`]: at most one set per chunk scored at once.
#[derive(Default)]
pub(crate) struct BufferPool(std::sync::Mutex<Vec<ChunkBuffers>>);

impl BufferPool {
    pub(crate) fn take(&self) -> ChunkBuffers {
        self.0
            .lock()
            .map(|mut idle| idle.pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    pub(crate) fn give_back(&self, buffers: ChunkBuffers) {
        if let Ok(mut idle) = self.0.lock() {
            idle.push(buffers);
        }
    }
}

/// The buffer behind `bytes` once nothing else holds it (an object-store write is done
/// with it), else a new one.
pub(crate) fn reclaim(bytes: Bytes) -> Vec<u8> {
    bytes.try_into_mut().map(Vec::from).unwrap_or_default()
}

/// Where a job's input is, and what it is.
pub(crate) struct InputObject {
    pub key: ObjectKey,
    pub format: DataFormat,
    pub size: u64,
    /// Row checkpoints found when the dataset was uploaded (CSV, JSONL).
    pub row_index: Option<String>,
}

fn lease_until(at: NaiveDateTime, lease: Duration) -> NaiveDateTime {
    at + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30))
}

/// A job-level failure before or while running.
fn failure(code: &str, detail: impl Into<String>) -> BatchFailure {
    BatchFailure {
        code: code.to_owned(),
        detail: detail.into(),
    }
}

impl Registry {
    /// Claims the next step of batch work for `holder`: finishing a job comes first (its
    /// output is what users wait for), then scoring a chunk, then starting a job.
    pub async fn claim_batch_work(
        &self,
        holder: String,
        lease: Duration,
    ) -> RegistryResult<Option<BatchWork>> {
        // Most polls find nothing: look before taking the write lock.
        if !self
            .db
            .read(|conn| Ok::<_, RegistryError>(batch::has_work(conn, now())?))
            .await?
        {
            return Ok(None);
        }
        self.db
            .write(move |conn| {
                let at = now();
                let until = lease_until(at, lease);
                if let Some(job) = batch::claim_finishable(conn, &holder, at, until)? {
                    return Ok(Some(BatchWork::Finish(ClaimedJob(job))));
                }
                if let Some(chunk) = batch_chunks::claim_chunk(conn, &holder, at, until)? {
                    return Ok(Some(BatchWork::Chunk(ClaimedChunk(chunk))));
                }
                Ok::<_, RegistryError>(
                    batch::claim_queued(conn, &holder, at, until)?
                        .map(|job| BatchWork::Start(ClaimedJob(job))),
                )
            })
            .await
    }

    /// Extends `holder`'s lease on a chunk; false when the worker should give it up (the
    /// lease went to another worker, or the job was cancelled or failed).
    pub async fn renew_chunk_lease(
        &self,
        chunk: &ClaimedChunk,
        holder: String,
        lease: Duration,
    ) -> RegistryResult<bool> {
        let (job, number) = (chunk.0.job_id.clone(), chunk.0.chunk);
        self.db
            .write(move |conn| {
                Ok::<_, RegistryError>(batch_chunks::renew_chunk(
                    conn,
                    &job,
                    number,
                    &holder,
                    lease_until(now(), lease),
                )?)
            })
            .await
    }

    /// Fails a job that `holder` (or nobody in particular, `None`) is working on.
    pub(crate) async fn fail_batch_job(
        &self,
        id: String,
        holder: Option<String>,
        why: BatchFailure,
    ) -> RegistryResult<()> {
        let detail = serde_json::to_string(&why).map_err(crate::store::StoreError::from)?;
        let failed = self
            .write(move |conn| {
                let job = find_job(conn, &id)?;
                let changed = batch::transition(
                    conn,
                    &id,
                    &Transition {
                        from: &[BatchJobStatus::Queued, BatchJobStatus::Running],
                        to: BatchJobStatus::Failed,
                        holder: holder.as_deref(),
                        at: now(),
                        failure: Some(&detail),
                    },
                )?;
                if changed {
                    let mut row = job_event(EventKind::BatchJobFailed, &job, WORKER);
                    row.reason = Some(why.detail.clone());
                    events::append(conn, row)?;
                }
                Ok(changed.then_some(job.id))
            })
            .await?;
        if let Some(id) = failed {
            self.discard_job_objects(&id).await;
        }
        Ok(())
    }

    /// The files a job reads: its dataset, or the object or objects its URL names.
    pub(crate) async fn job_inputs(&self, job: &BatchJobRow) -> RegistryResult<Vec<InputObject>> {
        let input: BatchInput =
            serde_json::from_str(&job.input).map_err(crate::store::StoreError::from)?;
        match input {
            BatchInput::Dataset { dataset } => {
                let row = self.dataset_row(dataset).await?;
                let digest = capstan_client::Digest::parse(&row.digest)
                    .map_err(|e| crate::store::StoreError::Invalid(e.to_string()))?;
                Ok(vec![InputObject {
                    key: ObjectKey::Named(ArtifactStore::blob_relative_key(&digest)),
                    format: row.format,
                    size: row.size as u64,
                    row_index: row.row_index,
                }])
            }
            BatchInput::Url { url } => self.url_inputs(&url).await,
        }
    }

    /// The files an input URL names (at least one, all of one format).
    pub(crate) async fn url_inputs(&self, url: &str) -> RegistryResult<Vec<InputObject>> {
        let files = self.artifacts.input_files(url).await.map_err(|e| match e {
            crate::artifacts::ArtifactError::BadUrl { .. } => {
                RegistryError::unprocessable("invalid_input_url", e.to_string())
            }
            other => other.into(),
        })?;
        if files.is_empty() {
            return Err(RegistryError::not_found(
                "input_not_found",
                format!("there is no object at {url:?}"),
            ));
        }
        let format =
            crate::domain::batch::format_of_files(url, files.iter().map(|(key, _)| key.name()))?;
        Ok(files
            .into_iter()
            .map(|(key, size)| InputObject {
                key,
                format,
                size,
                row_index: None,
            })
            .collect())
    }

    /// The file a chunk reads: its own, when the job reads several.
    pub(crate) async fn chunk_input(
        &self,
        job: &BatchJobRow,
        chunk: &ChunkRow,
    ) -> RegistryResult<InputObject> {
        let mut inputs = self.job_inputs(job).await?;
        match &chunk.input_key {
            None if inputs.len() == 1 => Ok(inputs.remove(0)),
            key => inputs
                .into_iter()
                .find(|input| Some(input.key.name()) == key.as_deref())
                .ok_or_else(|| {
                    RegistryError::unprocessable(
                        "input_changed",
                        format!("the file {key:?} of the job's input is gone"),
                    )
                }),
        }
    }

    /// Reads a byte range of a job's input.
    pub(crate) async fn read_input(
        &self,
        input: &ObjectKey,
        range: std::ops::Range<u64>,
    ) -> RegistryResult<Bytes> {
        Ok(self.artifacts.read_object_range(input, range).await?)
    }
}
/// Loads (and caches) the predictor of a version.
#[async_trait::async_trait]
pub trait PredictorSource: Send + Sync {
    async fn predictor(
        &self,
        model: &ModelName,
        version: i64,
    ) -> Result<Arc<dyn Predictor>, RegistryError>;
}

/// Used by [`PredictorSource`] implementors: the version as a ref.
pub fn version_ref(version: i64) -> VersionRef {
    VersionRef::Number(version)
}
