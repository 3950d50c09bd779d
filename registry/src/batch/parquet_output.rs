//! Parquet output: each chunk's rows become one Parquet file (a part), and
//! [`merge_parquet_parts`] joins the parts into the one file users download by copying
//! their encoded column chunks, never decoding them, so memory is one part at a time.
//!
//! Columns: the id (`Utf8`, the id's text, under its input name) or `row` (`Int64`);
//! `prediction` (`Int64` when every class is an integer, else `Utf8`); one `p_<class>`
//! (`Float64`) per class; `version` (`Int64`). Parts are Snappy-compressed.

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use capstan_client::signature::ClassLabel;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use super::output::{output_columns, OutputId};
use super::score::{ChunkError, Scorer};

/// A column of text or of integers.
enum TextOrInt {
    Text(StringBuilder),
    Int(Int64Builder),
}

impl TextOrInt {
    fn finish(&mut self) -> ArrayRef {
        match self {
            TextOrInt::Text(builder) => Arc::new(builder.finish()),
            TextOrInt::Int(builder) => Arc::new(builder.finish()),
        }
    }

    fn data_type(&self) -> DataType {
        match self {
            TextOrInt::Text(_) => DataType::Utf8,
            TextOrInt::Int(_) => DataType::Int64,
        }
    }
}

/// One chunk's output rows, collected column by column.
pub struct ParquetRows {
    ids: TextOrInt,
    predictions: TextOrInt,
    probabilities: Vec<Float64Builder>,
    versions: Int64Builder,
    classes: Vec<ClassLabel>,
    version: i64,
    schema: SchemaRef,
}

impl ParquetRows {
    pub(super) fn new(scorer: &Scorer<'_>) -> Result<Self, ChunkError> {
        let classes = scorer.classes().to_vec();
        let ids = match scorer.plan.id {
            Some(_) => TextOrInt::Text(StringBuilder::new()),
            None => TextOrInt::Int(Int64Builder::new()),
        };
        let predictions = if classes.iter().all(|c| matches!(c, ClassLabel::Int(_))) {
            TextOrInt::Int(Int64Builder::new())
        } else {
            TextOrInt::Text(StringBuilder::new())
        };
        let names = output_columns(scorer.plan, &classes);
        let mut types = vec![ids.data_type(), predictions.data_type()];
        types.extend(classes.iter().map(|_| DataType::Float64));
        types.push(DataType::Int64);
        let fields: Vec<Field> = names
            .into_iter()
            .zip(types)
            .map(|(name, data_type)| Field::new(name, data_type, false))
            .collect();
        Ok(ParquetRows {
            ids,
            predictions,
            probabilities: classes.iter().map(|_| Float64Builder::new()).collect(),
            versions: Int64Builder::new(),
            version: scorer.version,
            classes,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    pub(super) fn push(&mut self, id: OutputId<'_>, class: usize, probabilities: &[f64]) {
        match (&mut self.ids, id) {
            (TextOrInt::Int(ids), OutputId::Row(row)) => {
                ids.append_value(i64::try_from(row).unwrap_or(i64::MAX))
            }
            (TextOrInt::Text(ids), OutputId::Text(text) | OutputId::Number(text)) => {
                ids.append_value(text)
            }
            (TextOrInt::Text(ids), OutputId::Row(row)) => ids.append_value(row.to_string()),
            (TextOrInt::Int(ids), OutputId::Text(text) | OutputId::Number(text)) => {
                ids.append_value(text.parse().unwrap_or_default())
            }
        }
        match (&mut self.predictions, &self.classes[class]) {
            (TextOrInt::Int(labels), ClassLabel::Int(label)) => labels.append_value(*label),
            (TextOrInt::Text(labels), label) => labels.append_value(label.to_string()),
            (TextOrInt::Int(labels), ClassLabel::Text(_)) => labels.append_null(),
        }
        for (column, probability) in self.probabilities.iter_mut().zip(probabilities) {
            column.append_value(*probability);
        }
        self.versions.append_value(self.version);
    }

    /// Writes the collected rows as one Parquet file (a part) to `out`.
    pub(super) fn write_part(&mut self, out: &mut Vec<u8>) -> Result<(), ChunkError> {
        let mut columns = vec![self.ids.finish(), self.predictions.finish()];
        for column in &mut self.probabilities {
            columns.push(Arc::new(column.finish()));
        }
        columns.push(Arc::new(self.versions.finish()));
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| ChunkError::Parquet(e.to_string()))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let parquet = |e: ParquetError| ChunkError::Parquet(e.to_string());
        let mut writer =
            ArrowWriter::try_new(out, self.schema.clone(), Some(properties)).map_err(parquet)?;
        if batch.num_rows() > 0 {
            writer.write(&batch).map_err(parquet)?;
        }
        writer.close().map_err(parquet)?;
        Ok(())
    }
}

/// Joins Parquet parts of the same schema (one per chunk, in order) into one file with
/// their row groups, in order, written to `out`. Returns the number of rows.
pub fn merge_parquet_parts(
    parts: impl IntoIterator<Item = Bytes>,
    out: impl Write + Send,
) -> Result<u64, ParquetError> {
    let mut parts = parts.into_iter();
    let first = parts
        .next()
        .ok_or_else(|| ParquetError::General("there are no parts to merge".into()))?;
    let first_metadata = ParquetMetaDataReader::new().parse_and_finish(&first)?;
    let file_metadata = first_metadata.file_metadata();
    let schema = file_metadata.schema_descr().root_schema_ptr();
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut writer = SerializedFileWriter::new(out, schema, properties)?;
    for key_value in file_metadata.key_value_metadata().into_iter().flatten() {
        writer.append_key_value_metadata(key_value.clone());
    }
    let mut rows = 0;
    for part in std::iter::once(first).chain(parts) {
        let metadata = ParquetMetaDataReader::new().parse_and_finish(&part)?;
        if metadata.file_metadata().schema_descr().root_schema()
            != first_metadata.file_metadata().schema_descr().root_schema()
        {
            return Err(ParquetError::General(
                "the parts do not share one schema".into(),
            ));
        }
        for group in metadata.row_groups() {
            let mut group_writer = writer.next_row_group()?;
            for column in group.columns() {
                let result = ColumnCloseResult {
                    bytes_written: column.compressed_size() as u64,
                    rows_written: group.num_rows() as u64,
                    metadata: column.clone(),
                    bloom_filter: None,
                    column_index: None,
                    offset_index: None,
                };
                group_writer.append_column(&part, result)?;
            }
            group_writer.close()?;
            rows += group.num_rows() as u64;
        }
    }
    writer.close()?;
    Ok(rows)
}
