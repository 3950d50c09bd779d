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
use crate::batch::{plan_columns, ColumnPlan, PlanError, RowIndex, RowIndexer};
use crate::error::{RegistryError, RegistryResult};
use crate::service::Registry;

/// Bytes read at a time while indexing an input that was not indexed on upload.
const INDEX_READ: u64 = 8 * 1024 * 1024;
/// Bytes read from the end of a Parquet file first: usually the whole footer.
const PARQUET_TAIL: u64 = 64 * 1024;

/// What a job's row says of its plan (`batch_jobs.plan`): the column plan, the classes
/// the output's header names, and the input's format.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredPlan {
    #[serde(flatten)]
    pub columns: ColumnPlan,
    pub classes: Vec<ClassLabel>,
    pub format: DataFormat,
}

/// A chunk of input: a byte range of whole lines, or a Parquet row group.
#[derive(Debug, Clone)]
pub(crate) struct PlannedChunk {
    pub start: u64,
    pub end: u64,
    pub first_row: u64,
}

pub(crate) struct InputPlan {
    pub stored: StoredPlan,
    pub rows_total: Option<i64>,
    pub chunks: Vec<PlannedChunk>,
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
    /// Plans a job over `input` for `predictor`.
    pub(crate) async fn plan_input(
        &self,
        input: &InputObject,
        predictor: &Arc<dyn Predictor>,
        id_column: Option<&str>,
    ) -> Result<InputPlan, PlanFailure> {
        let signature = predictor.signature();
        let classes = predictor.classes().to_vec();
        match input.format {
            DataFormat::Csv | DataFormat::Jsonl => {
                let index = self.row_index(input).await?;
                let columns =
                    plan_columns(&index.columns, signature, id_column).map_err(plan_failure)?;
                let chunks = index
                    .chunks()
                    .filter(|chunk| chunk.rows > 0)
                    .map(|chunk| PlannedChunk {
                        start: chunk.bytes.start,
                        end: chunk.bytes.end,
                        first_row: chunk.first_row,
                    })
                    .collect();
                Ok(InputPlan {
                    stored: StoredPlan {
                        columns,
                        classes,
                        format: input.format,
                    },
                    rows_total: Some(index.rows as i64),
                    chunks,
                })
            }
            DataFormat::Parquet => {
                let layout = self.parquet_layout(input).await.map_err(|e| match e {
                    RegistryError::Unprocessable { detail, .. } => {
                        job_fails("input_unreadable", detail)
                    }
                    other => PlanFailure::Registry(other),
                })?;
                let columns =
                    plan_columns(&layout.columns, signature, id_column).map_err(plan_failure)?;
                parquet::check_types(&layout, &columns).map_err(plan_failure)?;
                let chunks = layout
                    .row_groups
                    .iter()
                    .filter(|group| group.rows > 0)
                    .map(|group| PlannedChunk {
                        start: group.bytes.start,
                        end: group.bytes.end,
                        first_row: group.first_row,
                    })
                    .collect();
                Ok(InputPlan {
                    stored: StoredPlan {
                        columns,
                        classes,
                        format: input.format,
                    },
                    rows_total: Some(layout.rows as i64),
                    chunks,
                })
            }
        }
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
