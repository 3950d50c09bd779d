//! Scoring one chunk: its bytes are read from the input, scored on the blocking pool by
//! the engine (`crate::batch::Scorer`), and handed back as an output part and a key
//! sidecar for the caller to store and commit.

use std::sync::Arc;

use bytes::Bytes;

use capstan_client::runtime::Predictor;
use capstan_client::types::{BatchFailure, DataFormat, RowError};

use super::plan::StoredPlan;
use super::InputObject;
use crate::batch::parquet::RowGroupInput;
use crate::batch::{ChunkInput, KeySink, Scorer};
use crate::error::{RegistryError, RegistryResult};
use crate::service::Registry;
use crate::store::batch_rows::ChunkRow;
use crate::store::StoreError;
use capstan_client::types::{BatchJobStatus, EventKind};
use capstan_client::ModelName;

use super::{failure, ClaimedChunk, PredictorSource, WORKER};
use crate::artifacts::ObjectKey;
use crate::domain::batch::{merge_errors, too_many_bad_rows};
use crate::service::batch::{find_job, job_event, job_prefix};
use crate::service::now;
use crate::store::batch::{self, Transition};
use crate::store::batch_chunks::{self, ChunkDone};
use crate::store::events;

/// What scoring a chunk produced.
pub(crate) struct ScoredChunk {
    pub output: Bytes,
    pub keys: Bytes,
    pub rows: u64,
    pub written: u64,
    pub bad_rows: u64,
    pub errors: Vec<RowError>,
}

impl Registry {
    /// Scores `chunk`; `Ok(Err(why))` when the job must fail (the model cannot predict
    /// it, the input changed under the job).
    pub(crate) async fn score_chunk(
        &self,
        input: &InputObject,
        plan: &StoredPlan,
        chunk: &ChunkRow,
        predictor: Arc<dyn Predictor>,
        version: i64,
        output: DataFormat,
    ) -> RegistryResult<Result<ScoredChunk, BatchFailure>> {
        let range = chunk.start_offset as u64..chunk.end_offset as u64;
        let bytes = self.read_input(&input.key, range).await?;
        let layout = match plan.format {
            DataFormat::Parquet => Some(self.parquet_layout(input).await?),
            _ => None,
        };
        let plan = plan.clone();
        let first_row = chunk.first_row as u64;
        let group = layout.as_ref().and_then(|layout| {
            layout
                .row_groups
                .iter()
                .position(|group| group.bytes.start == chunk.start_offset as u64)
        });
        tokio::task::spawn_blocking(move || {
            let fail = |detail: String| {
                Ok(Err(BatchFailure {
                    code: "scoring_failed".into(),
                    detail,
                }))
            };
            let scorer = match Scorer::new(&plan.columns, predictor.as_ref(), version, output) {
                Ok(scorer) => scorer,
                Err(error) => return fail(error.to_string()),
            };
            let chunk_input = match (plan.format, &layout, group) {
                (DataFormat::Csv, ..) => ChunkInput::Csv(&bytes),
                (DataFormat::Jsonl, ..) => ChunkInput::Jsonl(&bytes),
                (DataFormat::Parquet, Some(layout), Some(index)) => {
                    ChunkInput::Parquet(RowGroupInput {
                        layout,
                        index,
                        bytes: bytes.clone(),
                    })
                }
                (DataFormat::Parquet, ..) => {
                    return fail("the Parquet input no longer has this row group".into())
                }
            };
            let mut out = Vec::with_capacity(bytes.len() / 2);
            let mut keys = KeySink::new(scorer.classes().len());
            match scorer.score_chunk(chunk_input, first_row, &mut out, &mut keys) {
                Ok(outcome) => Ok(Ok(ScoredChunk {
                    output: Bytes::from(out),
                    keys: Bytes::from(keys.take_sidecar()),
                    rows: outcome.rows,
                    written: outcome.written,
                    bad_rows: outcome.bad_rows,
                    errors: outcome
                        .errors
                        .into_iter()
                        .map(|e| RowError {
                            row: e.row as i64,
                            id: e.id,
                            field: e.field,
                            reason: e.reason,
                        })
                        .collect(),
                })),
                Err(error) => fail(error.to_string()),
            }
        })
        .await
        .map_err(|_| RegistryError::Store(StoreError::TaskJoin))?
    }
}

impl Registry {
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
                if !batch_chunks::commit_chunk(conn, &commit_id, number, &holder, &done)? {
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
}
