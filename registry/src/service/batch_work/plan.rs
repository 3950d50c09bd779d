//! Starting a job: where its input's rows are (the dataset's row index, or one read of an
//! input named by URL; a Parquet footer), which columns feed which feature, and the
//! chunks workers claim.

use std::sync::Arc;

use bytes::Bytes;

use capstan_client::runtime::Predictor;
use capstan_client::types::{BatchFailure, DataFormat};
use capstan_client::ClassLabel;

use super::InputObject;
use crate::batch::parquet::{self, ParquetLayout};
use crate::batch::{plan_columns, ColumnPlan, PlanError, Predicts, RowIndex, RowIndexer};
use crate::error::{RegistryError, RegistryResult};
use crate::service::Registry;
use capstan_client::types::EventKind;
use capstan_client::ModelRef;

use super::{failure, ClaimedJob, PredictorSource, WORKER};
use crate::service::batch::{find_job, job_event};
use crate::service::now;
use crate::store::batch::{self, JobStart};
use crate::store::batch_rows::{chunk_status, BatchJobRow, ChunkRow};
use crate::store::events;

/// Bytes read at a time while indexing an input that was not indexed on upload.
const INDEX_READ: u64 = 8 * 1024 * 1024;
/// Bytes read from the end of a Parquet file first: usually the whole footer.
const PARQUET_TAIL: u64 = 64 * 1024;

/// What a job's row says of its plan (`batch_jobs.plan`): the column plan, what the
/// model predicts (a classifier's `classes`, which the output's header names, or a
/// regressor's number of `targets`), and the input's format. Plans stored before
/// regressors were served have no `targets`: they are classifiers'.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredPlan {
    #[serde(flatten)]
    pub columns: ColumnPlan,
    /// A classifier's classes; empty for a regressor.
    pub classes: Vec<ClassLabel>,
    /// A regressor's number of targets; absent for a classifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<usize>,
    pub format: DataFormat,
}

impl StoredPlan {
    /// What the planned model predicts.
    pub fn predicts(&self) -> Predicts {
        match self.targets {
            Some(targets) => Predicts::Values(targets),
            None => Predicts::Classes(self.classes.clone()),
        }
    }
}

/// A chunk of input: a byte range of whole lines, or a Parquet row group.
#[derive(Debug, Clone)]
pub(crate) struct PlannedChunk {
    pub start: u64,
    pub end: u64,
    pub first_row: u64,
    /// The file it is in, when the job reads several.
    pub input_key: Option<String>,
}

pub(crate) struct InputPlan {
    pub stored: StoredPlan,
    pub rows_total: Option<i64>,
    pub chunks: Vec<PlannedChunk>,
}

/// One input file as planning sees it: its columns, its chunks (byte range, first row)
/// and rows, and its footer when it is Parquet.
struct FileLayout {
    columns: Vec<String>,
    ranges: Vec<(std::ops::Range<u64>, u64)>,
    rows: u64,
    parquet: Option<ParquetLayout>,
}

/// Why a job cannot start: its own fault (it fails with this), or the registry's.
pub(crate) enum PlanFailure {
    Job(BatchFailure),
    Registry(RegistryError),
}

impl From<RegistryError> for PlanFailure {
    fn from(error: RegistryError) -> Self {
        PlanFailure::Registry(error)
    }
}

fn job_fails(code: &str, detail: impl Into<String>) -> PlanFailure {
    PlanFailure::Job(BatchFailure {
        code: code.to_owned(),
        detail: detail.into(),
    })
}

fn plan_failure(error: PlanError) -> PlanFailure {
    let code = match &error {
        PlanError::MissingFeatures { .. } => "missing_columns",
        PlanError::ColumnCount { .. } => "column_count",
        PlanError::MissingIdColumn { .. } => "missing_id_column",
        PlanError::IdIsFeature { .. } => "id_is_feature",
        PlanError::DuplicateColumn { .. } => "duplicate_column",
        PlanError::ColumnType { .. } => "column_type",
    };
    job_fails(code, error.to_string())
}

impl Registry {
    /// Plans a job over `inputs` (one file, or several of one format and the same columns,
    /// their rows numbered on from file to file) for `predictor`.
    pub(crate) async fn plan_input(
        &self,
        inputs: &[InputObject],
        predictor: &Arc<dyn Predictor>,
        id_column: Option<&str>,
    ) -> Result<InputPlan, PlanFailure> {
        let signature = predictor.signature();
        let format = inputs.first().map_or(DataFormat::Csv, |input| input.format);
        let several = inputs.len() > 1;
        let mut files = Vec::with_capacity(inputs.len());
        for input in inputs {
            files.push(match format {
                DataFormat::Csv | DataFormat::Jsonl => {
                    let index = self.row_index(input).await?;
                    FileLayout {
                        ranges: index
                            .chunks()
                            .filter(|chunk| chunk.rows > 0)
                            .map(|chunk| (chunk.bytes, chunk.first_row))
                            .collect(),
                        rows: index.rows,
                        columns: index.columns,
                        parquet: None,
                    }
                }
                DataFormat::Parquet => {
                    let layout = self.parquet_layout(input).await.map_err(|e| match e {
                        RegistryError::Unprocessable { detail, .. } => {
                            job_fails("input_unreadable", detail)
                        }
                        other => PlanFailure::Registry(other),
                    })?;
                    FileLayout {
                        ranges: layout
                            .row_groups
                            .iter()
                            .filter(|group| group.rows > 0)
                            .map(|group| (group.bytes.clone(), group.first_row))
                            .collect(),
                        rows: layout.rows,
                        columns: layout.columns.clone(),
                        parquet: Some(layout),
                    }
                }
            });
        }
        let Some(first) = files.first() else {
            return Err(job_fails("input_not_found", "the input has no files"));
        };
        let columns = plan_columns(&first.columns, signature, id_column).map_err(plan_failure)?;
        let mut chunks = Vec::new();
        let mut rows = 0;
        for (input, file) in inputs.iter().zip(&files) {
            if file.columns != first.columns {
                return Err(job_fails(
                    "input_files_differ",
                    format!(
                        "{:?} has the columns {:?}, {:?} has {:?}: every file of an input \
                         must have the same columns",
                        inputs[0].key.name(),
                        first.columns,
                        input.key.name(),
                        file.columns
                    ),
                ));
            }
            if let Some(layout) = &file.parquet {
                parquet::check_types(layout, &columns, signature).map_err(plan_failure)?;
            }
            chunks.extend(file.ranges.iter().map(|(bytes, first_row)| PlannedChunk {
                start: bytes.start,
                end: bytes.end,
                first_row: rows + first_row,
                input_key: several.then(|| input.key.name().to_owned()),
            }));
            rows += file.rows;
        }
        Ok(InputPlan {
            stored: StoredPlan {
                columns,
                classes: predictor.classes().to_vec(),
                targets: predictor.targets(),
                format,
            },
            rows_total: Some(rows as i64),
            chunks,
        })
    }

    /// The row index of a CSV or JSONL input: stored when the dataset was uploaded, or
    /// made now with one read of the object.
    async fn row_index(&self, input: &InputObject) -> Result<RowIndex, PlanFailure> {
        if let Some(stored) = &input.row_index {
            return serde_json::from_str(stored)
                .map_err(|e| PlanFailure::Registry(crate::store::StoreError::Json(e).into()));
        }
        let mut indexer = RowIndexer::new(input.format, self.batch_chunk_bytes)
            .map_err(|e| job_fails("input_unreadable", e.to_string()))?;
        let mut at = 0;
        while at < input.size {
            let end = (at + INDEX_READ).min(input.size);
            let bytes = self.read_input(&input.key, at..end).await?;
            indexer.feed(&bytes);
            at = end;
        }
        indexer
            .finish()
            .map_err(|e| job_fails("input_unreadable", e.to_string()))
    }

    /// A Parquet input's footer: its columns and row groups.
    pub(crate) async fn parquet_layout(
        &self,
        input: &InputObject,
    ) -> RegistryResult<ParquetLayout> {
        let unreadable = |detail: String| RegistryError::unprocessable("input_unreadable", detail);
        let tail_start = input.size.saturating_sub(PARQUET_TAIL);
        let mut tail: Bytes = self.read_input(&input.key, tail_start..input.size).await?;
        let footer = parquet::footer_len(&tail).map_err(|e| unreadable(e.to_string()))?;
        if footer > input.size {
            return Err(unreadable(
                "the Parquet footer is longer than the file".into(),
            ));
        }
        if footer > tail.len() as u64 {
            tail = self
                .read_input(&input.key, input.size - footer..input.size)
                .await?;
        }
        let start = tail.len() - footer as usize;
        parquet::parse_footer(&tail[start..]).map_err(|e| unreadable(e.to_string()))
    }
}

impl Registry {
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
        let (version, digest, predictor) = match self.resolve_job_model(&job, predictors).await {
            Ok(resolved) => resolved,
            Err(PlanFailure::Job(why)) => {
                return self.fail_batch_job(job.id, Some(holder), why).await
            }
            Err(PlanFailure::Registry(error)) => return Err(error),
        };
        let plan = match self.plan_job_input(&job, &predictor).await {
            Ok(plan) => plan,
            Err(PlanFailure::Job(why)) => {
                // It ran (and failed on its input) with this version: say so.
                let (id, by) = (job.id.clone(), holder.clone());
                let at = now();
                let run = digest.clone();
                self.write(move |conn| Ok(batch::record_run(conn, &id, &by, version, &run, at)?))
                    .await?;
                return self.fail_batch_job(job.id, Some(holder), why).await;
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
                input_key: chunk.input_key.clone(),
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

    /// The version the job's ref points at now, and its predictor.
    async fn resolve_job_model(
        &self,
        job: &BatchJobRow,
        predictors: &dyn PredictorSource,
    ) -> Result<(i64, String, Arc<dyn Predictor>), PlanFailure> {
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
        Ok((version.version, digest.to_string(), predictor))
    }

    /// The job's input, read and split into chunks for `predictor`.
    async fn plan_job_input(
        &self,
        job: &BatchJobRow,
        predictor: &Arc<dyn Predictor>,
    ) -> Result<InputPlan, PlanFailure> {
        let inputs = self.job_inputs(job).await.map_err(|e| match e {
            RegistryError::NotFound { detail, .. }
            | RegistryError::Unprocessable { detail, .. } => {
                PlanFailure::Job(failure("input_unreadable", detail))
            }
            other => PlanFailure::Registry(other),
        })?;
        self.plan_input(&inputs, predictor, job.id_column.as_deref())
            .await
    }
}
