//! Scoring one chunk: its bytes are read from the input, scored on the blocking pool by
//! the engine (`crate::batch::Scorer`), and handed back as an output part and a key
//! sidecar for the caller to store and commit.

use std::sync::Arc;

use bytes::Bytes;

use capstan_client::runtime::Predictor;
use capstan_client::types::{BatchFailure, DataFormat, RowError};

use super::plan::StoredPlan;
use super::InputObject;
use crate::batch::parquet::{ParquetLayout, RowGroupInput};
use crate::batch::{ChunkInput, Scorer};
use crate::error::{RegistryError, RegistryResult};
use crate::service::Registry;
use crate::store::batch_rows::ChunkRow;
use crate::store::StoreError;
use capstan_client::types::{BatchJobStatus, EventKind};
use capstan_client::ModelName;

use super::{failure, reclaim, ChunkBuffers, ClaimedChunk, PredictorSource, WORKER};
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
    /// Scores `chunk` into `buffers` (its output and key sidecar are taken out of them);
    /// `Ok(Err(why))` when the job must fail (the model cannot predict it, the input
    /// changed under the job). The buffers come back whatever happened.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn score_chunk(
        &self,
        input: &InputObject,
        plan: &StoredPlan,
        chunk: &ChunkRow,
        predictor: Arc<dyn Predictor>,
        version: i64,
        output: DataFormat,
        mut buffers: ChunkBuffers,
    ) -> (
        ChunkBuffers,
        RegistryResult<Result<ScoredChunk, BatchFailure>>,
    ) {
        let range = chunk.start_offset as u64..chunk.end_offset as u64;
        let read = self
            .artifacts
            .read_object_range_into(&input.key, range, std::mem::take(&mut buffers.input))
            .await;
        buffers.input = match read {
            Ok(bytes) => bytes,
            Err(error) => return (buffers, Err(error.into())),
        };
        let layout = match plan.format {
            DataFormat::Parquet => match self.parquet_layout(input).await {
                Ok(layout) => Some(layout),
                Err(error) => return (buffers, Err(error)),
            },
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
        let scored = tokio::task::spawn_blocking(move || {
            let scored = score_on_this_thread(
                &plan,
                predictor.as_ref(),
                version,
                output,
                layout.as_ref().zip(group),
                first_row,
                &mut buffers,
            );
            (buffers, scored)
        })
        .await;
        match scored {
            Ok((buffers, scored)) => (buffers, Ok(scored)),
            Err(_) => (
                ChunkBuffers::default(),
                Err(RegistryError::Store(StoreError::TaskJoin)),
            ),
        }
    }
}

/// The CPU part of scoring a chunk whose input is in `buffers.input`.
fn score_on_this_thread(
    plan: &StoredPlan,
    predictor: &dyn Predictor,
    version: i64,
    output: DataFormat,
    row_group: Option<(&ParquetLayout, usize)>,
    first_row: u64,
    buffers: &mut ChunkBuffers,
) -> Result<ScoredChunk, BatchFailure> {
    let fail = |detail: String| BatchFailure {
        code: "scoring_failed".into(),
        detail,
    };
    let scorer =
        Scorer::new(&plan.columns, predictor, version, output).map_err(|e| fail(e.to_string()))?;
    let parquet_bytes;
    let chunk_input = match (plan.format, row_group) {
        (DataFormat::Csv, _) => ChunkInput::Csv(&buffers.input),
        (DataFormat::Jsonl, _) => ChunkInput::Jsonl(&buffers.input),
        (DataFormat::Parquet, Some((layout, index))) => {
            // The Parquet reader keeps its input as `Bytes`: this buffer is not reused.
            parquet_bytes = Bytes::from(std::mem::take(&mut buffers.input));
            ChunkInput::Parquet(RowGroupInput {
                layout,
                index,
                bytes: parquet_bytes.clone(),
            })
        }
        (DataFormat::Parquet, None) => {
            return Err(fail(
                "the Parquet input no longer has this row group".into(),
            ))
        }
    };
    let out = &mut buffers.output;
    out.clear();
    buffers.keys.reset(scorer.key_shape());
    let outcome = scorer
        .score_chunk(chunk_input, first_row, out, &mut buffers.keys)
        .map_err(|e| fail(e.to_string()))?;
    buffers.keys.take_sidecar_into(&mut buffers.sidecar);
    Ok(ScoredChunk {
        output: Bytes::from(std::mem::take(&mut buffers.output)),
        keys: Bytes::from(std::mem::take(&mut buffers.sidecar)),
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
    })
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
        let began = std::time::Instant::now();
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
        let input = self.chunk_input(&job, chunk).await?;
        let set_up = began.elapsed();
        let buffers = self.chunk_buffers.take();
        let (mut buffers, scored) = self
            .score_chunk(
                &input,
                &plan,
                chunk,
                predictor,
                version,
                job.output_format,
                buffers,
            )
            .await;
        let scored = match scored {
            Ok(Ok(scored)) => scored,
            Ok(Err(why)) => {
                self.chunk_buffers.give_back(buffers);
                return self.fail_batch_job(id, None, why).await;
            }
            Err(error) => {
                self.chunk_buffers.give_back(buffers);
                return Err(error);
            }
        };
        let scored_at = began.elapsed();
        let prefix = job_prefix(&id);
        let attempt = chunk.attempts;
        let part = format!(
            "{prefix}/parts/part-{:05}-{attempt}.{}",
            chunk.chunk,
            job.output_format.extension()
        );
        let keys = format!("{prefix}/keys/keys-{:05}-{attempt}.bin", chunk.chunk);
        let part_size = scored.output.len() as i64;
        let stored = async {
            self.artifacts
                .put_object(&ObjectKey::Named(part.clone()), scored.output.clone())
                .await?;
            self.artifacts
                .put_object(&ObjectKey::Named(keys.clone()), scored.keys.clone())
                .await
        }
        .await;
        buffers.output = reclaim(scored.output);
        buffers.sidecar = reclaim(scored.keys);
        self.chunk_buffers.give_back(buffers);
        stored?;
        let stored_at = began.elapsed();
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
        tracing::debug!(
            job = %id, chunk = number, committed,
            set_up = ?set_up, scored = ?(scored_at - set_up), stored = ?(stored_at - scored_at),
            committed_in = ?(began.elapsed() - stored_at),
            "chunk done"
        );
        if !committed {
            for key in [part, keys] {
                let _ = self.artifacts.delete_object(&ObjectKey::Named(key)).await;
            }
        }
        Ok(())
    }
}
