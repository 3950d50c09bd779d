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
use capstan_client::types::{
    BatchFailure, BatchInput, BatchJobStatus, DataFormat, EventKind, RowError,
};
use capstan_client::{ModelName, ModelRef, VersionRef};

use super::batch::{find_job, job_event, job_prefix, manifest_key, Manifest, ManifestPart};
use super::{now, Registry};
use crate::artifacts::{ArtifactStore, ObjectKey};
use crate::domain::batch::{merge_errors, too_many_bad_rows};
use plan::{InputPlan, PlanFailure, StoredPlan};

mod output;
mod plan;
mod score;
use crate::error::{RegistryError, RegistryResult};
use crate::store::batch::{self, ChunkDone, JobOutput, JobStart, Transition};
use crate::store::batch_rows::{chunk_status, BatchJobRow, ChunkRow};
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
                if let Some(chunk) = batch::claim_chunk(conn, &holder, at, until)? {
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
                Ok::<_, RegistryError>(batch::renew_chunk(
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

    /// The object a job reads.
    pub(crate) async fn job_input(&self, job: &BatchJobRow) -> RegistryResult<InputObject> {
        let input: BatchInput =
            serde_json::from_str(&job.input).map_err(crate::store::StoreError::from)?;
        match input {
            BatchInput::Dataset { dataset } => {
                let row = self.dataset_row(dataset).await?;
                let digest = capstan_client::Digest::parse(&row.digest)
                    .map_err(|e| crate::store::StoreError::Invalid(e.to_string()))?;
                Ok(InputObject {
                    key: ObjectKey::Named(ArtifactStore::blob_relative_key(&digest)),
                    format: row.format,
                    size: row.size as u64,
                    row_index: row.row_index,
                })
            }
            BatchInput::Url { url } => {
                let key = self.artifacts.resolve_url(&url).map_err(|e| {
                    RegistryError::unprocessable("invalid_input_url", e.to_string())
                })?;
                let format = crate::domain::batch::format_of_url(&url)?;
                let size = self.artifacts.object_size(&key).await?.ok_or_else(|| {
                    RegistryError::not_found("input_not_found", format!("no object at {url:?}"))
                })?;
                Ok(InputObject {
                    key,
                    format,
                    size,
                    row_index: None,
                })
            }
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

    /// Starts a queued job leased to `holder`: the ref is resolved again (the job records
    /// the exact version and digest), the columns are matched to the model's signature and
    /// the input is split into chunks. A job that cannot start fails with the reason.
    pub async fn start_batch_job(
        &self,
        job: ClaimedJob,
        holder: String,
        predictors: &dyn PredictorSource,
    ) -> RegistryResult<()> {
        let job = job.0;
        let (version, digest, plan) = match self.plan_batch_job(&job, predictors).await {
            Ok(planned) => planned,
            Err(PlanFailure::Job(why)) => {
                return self.fail_batch_job(job.id, Some(holder), why).await
            }
            Err(PlanFailure::Registry(error)) => return Err(error),
        };
        let id = job.id.clone();
        let plan_json =
            serde_json::to_string(&plan.stored).map_err(crate::store::StoreError::from)?;
        let chunk_rows: Vec<ChunkRow> = plan
            .chunks
            .iter()
            .enumerate()
            .map(|(index, chunk)| ChunkRow {
                job_id: id.clone(),
                chunk: index as i64,
                start_offset: chunk.start as i64,
                end_offset: chunk.end as i64,
                first_row: chunk.first_row as i64,
                status: chunk_status::PENDING.to_owned(),
                holder: None,
                lease_expires_at: None,
                attempts: 0,
                rows: None,
                written: None,
                bad_rows: None,
                errors: None,
                part: None,
                part_size: None,
                keys: None,
            })
            .collect();
        let rows_total = plan.rows_total;
        let started = self
            .write(move |conn| {
                let started = batch::start(
                    conn,
                    &id,
                    &holder,
                    &JobStart {
                        version,
                        digest: &digest,
                        plan: &plan_json,
                        rows_total,
                        started_at: now(),
                    },
                    &chunk_rows,
                )?;
                if started {
                    let job = find_job(conn, &id)?;
                    events::append(conn, job_event(EventKind::BatchJobStarted, &job, WORKER))?;
                }
                Ok(started)
            })
            .await?;
        if !started {
            tracing::info!(job = %job.id, "the job was cancelled or taken over while it started");
        }
        Ok(())
    }

    async fn plan_batch_job(
        &self,
        job: &BatchJobRow,
        predictors: &dyn PredictorSource,
    ) -> Result<(i64, String, InputPlan), PlanFailure> {
        let unavailable = |detail: String| PlanFailure::Job(failure("model_unavailable", detail));
        let reference = ModelRef::parse(&job.model_ref).map_err(|e| unavailable(e.to_string()))?;
        let version = self
            .get_version(reference.model.clone(), reference.version.clone())
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let digest = version
            .digest
            .ok_or_else(|| unavailable(format!("version {} has no artifact", version.version)))?;
        let predictor = predictors
            .predictor(&reference.model, version.version)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let input = self.job_input(job).await.map_err(|e| match e {
            RegistryError::NotFound { detail, .. }
            | RegistryError::Unprocessable { detail, .. } => {
                PlanFailure::Job(failure("input_unreadable", detail))
            }
            other => PlanFailure::Registry(other),
        })?;
        let plan = self
            .plan_input(&input, &predictor, job.id_column.as_deref())
            .await?;
        Ok((version.version, digest.to_string(), plan))
    }

    /// Scores a chunk leased to `holder` and commits it; a chunk whose lease was lost is
    /// thrown away (another worker's copy counts).
    pub async fn score_batch_chunk(
        &self,
        chunk: &ClaimedChunk,
        holder: String,
        predictors: &dyn PredictorSource,
    ) -> RegistryResult<()> {
        let chunk = &chunk.0;
        let id = chunk.job_id.clone();
        let job = self
            .db
            .read({
                let id = id.clone();
                move |conn| find_job(conn, &id)
            })
            .await?;
        if job.status != BatchJobStatus::Running {
            return Ok(());
        }
        let (Some(version), Some(plan)) = (job.version, job.plan.as_deref()) else {
            return Err(crate::store::StoreError::Invalid(
                "a running job has no version or plan".into(),
            )
            .into());
        };
        let plan: StoredPlan =
            serde_json::from_str(plan).map_err(crate::store::StoreError::from)?;
        let name = ModelName::parse(&job.model)
            .map_err(|e| crate::store::StoreError::Invalid(e.to_string()))?;
        let predictor = match predictors.predictor(&name, version).await {
            Ok(predictor) => predictor,
            Err(error) => {
                let why = failure("model_unavailable", error.to_string());
                return self.fail_batch_job(id, None, why).await;
            }
        };
        let input = self.job_input(&job).await?;
        let scored = match self
            .score_chunk(&input, &plan, chunk, predictor, version, job.output_format)
            .await?
        {
            Ok(scored) => scored,
            Err(why) => return self.fail_batch_job(id, None, why).await,
        };
        let prefix = job_prefix(&id);
        let attempt = chunk.attempts;
        let part = format!(
            "{prefix}/parts/part-{:05}-{attempt}.{}",
            chunk.chunk,
            job.output_format.extension()
        );
        let keys = format!("{prefix}/keys/keys-{:05}-{attempt}.bin", chunk.chunk);
        let part_size = scored.output.len() as i64;
        self.artifacts
            .put_object(&ObjectKey::Named(part.clone()), scored.output)
            .await?;
        self.artifacts
            .put_object(&ObjectKey::Named(keys.clone()), scored.keys)
            .await?;
        let errors =
            serde_json::to_string(&scored.errors).map_err(crate::store::StoreError::from)?;
        let (number, commit_id) = (chunk.chunk, id.clone());
        let (part_key, keys_key) = (part.clone(), keys.clone());
        let committed = self
            .write(move |conn| {
                let done = ChunkDone {
                    rows: scored.rows as i64,
                    written: scored.written as i64,
                    bad_rows: scored.bad_rows as i64,
                    errors: &errors,
                    part: &part_key,
                    part_size,
                    keys: &keys_key,
                };
                if !batch::commit_chunk(conn, &commit_id, number, &holder, &done)? {
                    return Ok(false);
                }
                // The counters first: that update takes the job's row lock, so the errors
                // read next include every chunk committed before this one.
                batch::add_progress(conn, &commit_id, scored.rows as i64, scored.bad_rows as i64)?;
                let job = find_job(conn, &commit_id)?;
                let listed: Vec<RowError> =
                    serde_json::from_str(&job.errors).map_err(crate::store::StoreError::from)?;
                let merged = merge_errors(listed, scored.errors);
                let merged_json =
                    serde_json::to_string(&merged).map_err(crate::store::StoreError::from)?;
                batch::set_errors(conn, &commit_id, &merged_json)?;
                if let Some(why) = too_many_bad_rows(job.bad_rows, job.max_bad_rows, &merged) {
                    let detail =
                        serde_json::to_string(&why).map_err(crate::store::StoreError::from)?;
                    let failed = batch::transition(
                        conn,
                        &commit_id,
                        &Transition {
                            from: &[BatchJobStatus::Running],
                            to: BatchJobStatus::Failed,
                            holder: None,
                            at: now(),
                            failure: Some(&detail),
                        },
                    )?;
                    if failed {
                        let mut row = job_event(EventKind::BatchJobFailed, &job, WORKER);
                        row.reason = Some(why.detail);
                        events::append(conn, row)?;
                    }
                }
                Ok(true)
            })
            .await?;
        if !committed {
            for key in [part, keys] {
                let _ = self.artifacts.delete_object(&ObjectKey::Named(key)).await;
            }
        }
        Ok(())
    }

    /// Writes the output of a job leased to `holder` whose chunks are all done (see
    /// [`output`]), then marks it succeeded.
    pub async fn finish_batch_job(
        &self,
        job: ClaimedJob,
        holder: String,
        predictors: &dyn PredictorSource,
    ) -> RegistryResult<()> {
        let job = job.0;
        let id = job.id.clone();
        let chunks = self
            .db
            .read({
                let id = id.clone();
                move |conn| Ok::<_, RegistryError>(batch::chunks(conn, &id)?)
            })
            .await?;
        let Some(plan) = job.plan.as_deref() else {
            return Err(
                crate::store::StoreError::Invalid("a running job has no plan".into()).into(),
            );
        };
        let plan: StoredPlan =
            serde_json::from_str(plan).map_err(crate::store::StoreError::from)?;
        let mut chunks = chunks;
        if job.output_format == DataFormat::Parquet && chunks.is_empty() {
            // No rows: one empty part still carries the output's schema.
            chunks.push(self.empty_parquet_part(&job, &plan, predictors).await?);
        }
        let written = match self.write_output(&job, &plan, &chunks).await {
            Ok(written) => written,
            // The job's own data cannot be written (not a passing fault): fail it rather
            // than retry it forever.
            Err(RegistryError::Unprocessable { detail, .. }) => {
                let why = failure("output_unwritable", detail);
                return self.fail_batch_job(id, Some(holder), why).await;
            }
            Err(error) => return Err(error),
        };
        let manifest = Manifest {
            format: job.output_format,
            rows: written.rows,
            size: written.size,
            digest: written.digest,
            parts: written
                .parts
                .iter()
                .map(|(key, size)| ManifestPart {
                    key: key.clone(),
                    size: *size,
                })
                .collect(),
        };
        let manifest_json =
            serde_json::to_vec(&manifest).map_err(crate::store::StoreError::from)?;
        self.artifacts
            .put_object(&manifest_key(&id), Bytes::from(manifest_json))
            .await?;
        let digest = written.digest.to_string();
        self.write(move |conn| {
            let output = JobOutput {
                digest: &digest,
                size: written.size,
                rows: written.rows,
            };
            if batch::succeed(conn, &id, &holder, &output, now())? {
                let job = find_job(conn, &id)?;
                events::append(conn, job_event(EventKind::BatchJobSucceeded, &job, WORKER))?;
            }
            Ok(())
        })
        .await
    }
}

impl Registry {
    /// The output part of a job without rows (a Parquet file with the output's schema).
    async fn empty_parquet_part(
        &self,
        job: &BatchJobRow,
        plan: &StoredPlan,
        predictors: &dyn PredictorSource,
    ) -> RegistryResult<ChunkRow> {
        let name = ModelName::parse(&job.model)
            .map_err(|e| crate::store::StoreError::Invalid(e.to_string()))?;
        let version = job.version.unwrap_or_default();
        let predictor = predictors.predictor(&name, version).await?;
        let columns = plan.columns.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            let scorer = crate::batch::Scorer::new(
                &columns,
                predictor.as_ref(),
                version,
                DataFormat::Parquet,
            )
            .map_err(|e| RegistryError::unprocessable("output_unwritable", e.to_string()))?;
            let mut out = Vec::new();
            let mut keys = crate::batch::KeySink::new(scorer.classes().len());
            scorer
                .score_chunk(crate::batch::ChunkInput::Csv(b""), 1, &mut out, &mut keys)
                .map_err(|e| RegistryError::unprocessable("output_unwritable", e.to_string()))?;
            Ok::<_, RegistryError>(out)
        })
        .await
        .map_err(|_| RegistryError::Store(crate::store::StoreError::TaskJoin))??;
        let key = format!("{}/parts/part-empty.parquet", job_prefix(&job.id));
        let size = bytes.len() as i64;
        self.artifacts
            .put_object(&ObjectKey::Named(key.clone()), Bytes::from(bytes))
            .await?;
        Ok(ChunkRow {
            job_id: job.id.clone(),
            chunk: 0,
            start_offset: 0,
            end_offset: 0,
            first_row: 1,
            status: chunk_status::DONE.to_owned(),
            holder: None,
            lease_expires_at: None,
            attempts: 0,
            rows: Some(0),
            written: Some(0),
            bad_rows: Some(0),
            errors: None,
            part: Some(key),
            part_size: Some(size),
            keys: None,
        })
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
