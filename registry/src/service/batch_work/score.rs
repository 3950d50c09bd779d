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
