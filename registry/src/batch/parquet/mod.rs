//! Parquet input, read with the `parquet` crate (arrow-rs) one row group at a time from
//! bytes the caller fetched with range reads: first the footer ([`FOOTER_TAIL_LEN`] tail
//! bytes say how long it is, [`parse_footer`] turns it into row-group byte ranges, row
//! counts and column names), then each row group's bytes ([`RowGroupInput`]).
//!
//! A numeric feature's column must be Float64, Float32, Int32 or Int64, a string
//! feature's Utf8 or LargeUtf8 (checked by [`check_types`] when the job is planned). A
//! null is missing (NaN) in a nullable feature's column, and a bad row elsewhere, as are
//! NaN or infinite values where the feature is not nullable and a fraction or a value
//! beyond ±2^53 in an `int64` feature's. The id column may be a string column (written
//! as text) or an integer column (written as a number in JSONL). Rows are numbered across
//! row groups in file order, from 1. No I/O here.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::DataType;
use bytes::{Buf, Bytes};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::reader::{ChunkReader, Length};

use capstan_client::signature::{DataType as FeatureType, Signature};

mod columns;

use self::columns::{FeatureColumn, Ids};
use super::columns::{ColumnPlan, PlanError};
use super::score::{ChunkError, ChunkState, BATCH_ROWS};
use super::values::FeatureKind;

pub use super::parquet_output::merge_parquet_parts;
pub(super) use super::parquet_output::ParquetRows;

/// Bytes at the end of a Parquet file that say how long its footer is.
pub const FOOTER_TAIL_LEN: u64 = 8;
const MAGIC: &[u8; 4] = b"PAR1";

/// Why a Parquet input cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ParquetInputError {
    #[error("not a Parquet file: {0}")]
    NotParquet(&'static str),
    #[error("the Parquet footer cannot be read: {0}")]
    Footer(#[from] ParquetError),
}

/// How many bytes at the end of the file to fetch for [`parse_footer`], from its last
/// [`FOOTER_TAIL_LEN`] bytes.
pub fn footer_len(tail: &[u8]) -> Result<u64, ParquetInputError> {
    let tail = tail
        .get(tail.len().saturating_sub(8)..)
        .filter(|tail| tail.len() == 8)
        .ok_or(ParquetInputError::NotParquet("shorter than 8 bytes"))?;
    if &tail[4..] != MAGIC {
        return Err(ParquetInputError::NotParquet(
            "it does not end with PAR1 (encrypted files are not supported)",
        ));
    }
    let metadata_len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    Ok(u64::from(metadata_len) + FOOTER_TAIL_LEN)
}

/// One row group: where its bytes are and which rows it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowGroupRange {
    pub bytes: Range<u64>,
    pub rows: u64,
    /// The 1-based number of its first row in the file.
    pub first_row: u64,
}

/// What the footer says: the columns, the row groups, and the metadata to decode them.
#[derive(Clone, Debug)]
pub struct ParquetLayout {
    metadata: ArrowReaderMetadata,
    /// Top-level column names, in file order.
    pub columns: Vec<String>,
    pub row_groups: Vec<RowGroupRange>,
    /// Rows in the file.
    pub rows: u64,
}

/// Parses the footer: the last [`footer_len`] bytes of the file.
pub fn parse_footer(footer: &[u8]) -> Result<ParquetLayout, ParquetInputError> {
    let metadata_len = footer_len(footer)? - FOOTER_TAIL_LEN;
    let start = (footer.len() as u64)
        .checked_sub(metadata_len + FOOTER_TAIL_LEN)
        .ok_or(ParquetInputError::NotParquet("the footer is cut short"))? as usize;
    let metadata = ParquetMetaDataReader::decode_metadata(&footer[start..footer.len() - 8])?;
    let metadata = ArrowReaderMetadata::try_new(Arc::new(metadata), ArrowReaderOptions::new())?;
    let columns = metadata
        .schema()
        .fields()
        .iter()
        .map(|field| field.name().clone())
        .collect();
    let mut row_groups = Vec::new();
    let mut next_row = 1;
    for group in metadata.metadata().row_groups() {
        let ranges = group.columns().iter().map(|column| {
            let (start, len) = column.byte_range();
            start..start + len
        });
        let bytes = ranges
            .reduce(|a, b| a.start.min(b.start)..a.end.max(b.end))
            .unwrap_or(0..0);
        let rows = u64::try_from(group.num_rows()).unwrap_or(0);
        row_groups.push(RowGroupRange {
            bytes,
            rows,
            first_row: next_row,
        });
        next_row += rows;
    }
    Ok(ParquetLayout {
        metadata,
        columns,
        row_groups,
        rows: next_row - 1,
    })
}

/// Checks that the planned feature columns hold what `signature`'s features take
/// (numbers, or text for string features) and the id column is text or integers, so a
/// job with unusable columns fails at once.
pub fn check_types(
    layout: &ParquetLayout,
    plan: &ColumnPlan,
    signature: &Signature,
) -> Result<(), PlanError> {
    let fields = layout.metadata.schema().fields();
    for (&column, feature) in plan.feature_columns.iter().zip(&signature.inputs) {
        let field = &fields[column];
        let (fits, expected) = match feature.dtype {
            FeatureType::String => (
                matches!(field.data_type(), DataType::Utf8 | DataType::LargeUtf8),
                "text (Utf8 or LargeUtf8)",
            ),
            _ => (
                matches!(
                    field.data_type(),
                    DataType::Float64 | DataType::Float32 | DataType::Int32 | DataType::Int64
                ),
                "numbers (Float64, Float32, Int32 or Int64)",
            ),
        };
        if !fits {
            return Err(PlanError::ColumnType {
                column: field.name().clone(),
                expected,
                found: field.data_type().to_string(),
            });
        }
    }
    if let Some(id) = &plan.id {
        let field = &fields[id.index];
        if !matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Int32 | DataType::Int64
        ) {
            return Err(PlanError::ColumnType {
                column: field.name().clone(),
                expected: "text or integers (Utf8, LargeUtf8, Int32 or Int64)",
                found: field.data_type().to_string(),
            });
        }
    }
    Ok(())
}

/// One row group to score: its index in the layout and its bytes (the range
/// `layout.row_groups[index].bytes` of the file).
pub struct RowGroupInput<'a> {
    pub layout: &'a ParquetLayout,
    pub index: usize,
    pub bytes: Bytes,
}

/// A row group's bytes standing in for the whole file: reads outside them fail.
struct RowGroupBytes {
    start: u64,
    bytes: Bytes,
}

impl RowGroupBytes {
    fn slice(&self, start: u64, len: Option<usize>) -> Result<Bytes, ParquetError> {
        let from = start
            .checked_sub(self.start)
            .map(|from| from as usize)
            .filter(|from| *from <= self.bytes.len());
        let to = from.map(|from| len.map_or(self.bytes.len(), |len| from + len));
        match (from, to) {
            (Some(from), Some(to)) if to <= self.bytes.len() => Ok(self.bytes.slice(from..to)),
            _ => Err(ParquetError::General(format!(
                "byte {start} is outside the row group's bytes"
            ))),
        }
    }
}

impl Length for RowGroupBytes {
    fn len(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

impl ChunkReader for RowGroupBytes {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> Result<Self::T, ParquetError> {
        Ok(self.slice(start, None)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes, ParquetError> {
        self.slice(start, Some(length))
    }
}

fn parquet_error(error: impl std::fmt::Display) -> ChunkError {
    ChunkError::Parquet(error.to_string())
}

/// Scores one row group, numbering rows from `first_row`.
pub(super) fn read_rows(
    group: RowGroupInput<'_>,
    first_row: u64,
    state: &mut ChunkState<'_>,
) -> Result<(), ChunkError> {
    let layout = group.layout;
    let range = layout
        .row_groups
        .get(group.index)
        .ok_or_else(|| parquet_error(format!("no row group {}", group.index)))?;
    let plan = state.plan().clone();
    let kinds = state.kinds().to_vec();
    let mut needed = plan.feature_columns.clone();
    needed.extend(plan.id.as_ref().map(|id| id.index));
    let mask = ProjectionMask::roots(layout.metadata.parquet_schema(), needed);
    let reader = RowGroupBytes {
        start: range.bytes.start,
        bytes: group.bytes,
    };
    let batches =
        ParquetRecordBatchReaderBuilder::new_with_metadata(reader, layout.metadata.clone())
            .with_row_groups(vec![group.index])
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(parquet_error)?;
    let mut row = first_row;
    for batch in batches {
        let batch = batch.map_err(parquet_error)?;
        row = read_batch(&batch, &plan, &kinds, row, state)?;
    }
    Ok(())
}

/// Scores one record batch; returns the number of the row after it.
fn read_batch(
    batch: &RecordBatch,
    plan: &ColumnPlan,
    kinds: &[FeatureKind],
    mut row: u64,
    state: &mut ChunkState<'_>,
) -> Result<u64, ChunkError> {
    let column = |index: usize| {
        batch
            .column_by_name(&plan.columns[index])
            .ok_or_else(|| parquet_error(format!("column {:?} was not read", plan.columns[index])))
    };
    let features = plan
        .feature_columns
        .iter()
        .zip(kinds)
        .map(|(&index, kind)| FeatureColumn::of(column(index)?, &plan.columns[index], *kind))
        .collect::<Result<Vec<_>, _>>()?;
    let ids = match &plan.id {
        Some(id) => Some(Ids::of(column(id.index)?, &id.name)?),
        None => None,
    };
    for i in 0..batch.num_rows() {
        let slot = state.begin_row();
        let mut problem = None;
        if let (Some(ids), Some(id)) = (&ids, &plan.id) {
            if let Err(reason) = ids.set(i, slot.id) {
                problem = Some((id.name.clone(), reason));
            }
        }
        for (feature, column) in features.iter().enumerate() {
            if let Err(reason) = column.read(i, feature, slot.values, slot.text) {
                let name = &plan.columns[plan.feature_columns[feature]];
                if problem.is_none() {
                    problem = Some((name.clone(), reason));
                }
            }
        }
        match problem {
            None => state.accept(row)?,
            Some((field, reason)) => state.reject(row, Some(field), reason.to_string()),
        }
        row += 1;
    }
    Ok(row)
}

#[cfg(test)]
mod tests;
