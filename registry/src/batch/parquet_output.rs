//! Parquet output: each chunk's rows become one Parquet file (a part), and
//! [`merge_parquet_parts`] joins the parts into the one file users download by copying
//! their encoded column chunks, never decoding them, so memory is one part at a time.
//!
//! Columns: the id (`Utf8`, the id's text, under its input name) or `row` (`Int64`); for
//! a classifier `prediction` (`Int64` when every class is an integer, else `Utf8`) and
//! one `p_<class>` (`Float64`) per class, for a regressor `prediction` or
//! `prediction_0` … `prediction_{k-1}` (`Float64`); `version` (`Int64`). Parts are
//! Snappy-compressed.

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
use super::values::Predicts;

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
    /// A classifier's labels (`None` for a regressor).
    predictions: Option<TextOrInt>,
    /// A classifier's probabilities, or a regressor's values: one column each.
    numbers: Vec<Float64Builder>,
    versions: Int64Builder,
    classes: Vec<ClassLabel>,
    version: i64,
    schema: SchemaRef,
}

impl ParquetRows {
    pub(super) fn new(scorer: &Scorer<'_>) -> Result<Self, ChunkError> {
        let predicts = scorer.predicts();
        let classes = predicts.classes().to_vec();
        let ids = match scorer.plan.id {
            Some(_) => TextOrInt::Text(StringBuilder::new()),
            None => TextOrInt::Int(Int64Builder::new()),
        };
        let (predictions, numbers) = match predicts {
            Predicts::Classes(_) if classes.iter().all(|c| matches!(c, ClassLabel::Int(_))) => {
                (Some(TextOrInt::Int(Int64Builder::new())), classes.len())
            }
            Predicts::Classes(_) => (Some(TextOrInt::Text(StringBuilder::new())), classes.len()),
            Predicts::Values(targets) => (None, *targets),
        };
        let names = output_columns(scorer.plan, predicts);
        let mut types = vec![ids.data_type()];
        types.extend(predictions.as_ref().map(TextOrInt::data_type));
        types.extend((0..numbers).map(|_| DataType::Float64));
        types.push(DataType::Int64);
        let fields: Vec<Field> = names
            .into_iter()
            .zip(types)
            .map(|(name, data_type)| Field::new(name, data_type, false))
            .collect();
        Ok(ParquetRows {
            ids,
            predictions,
            numbers: (0..numbers).map(|_| Float64Builder::new()).collect(),
            versions: Int64Builder::new(),
            version: scorer.version,
            classes,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// Adds a classifier's row: `class` is the index of the predicted class.
    pub(super) fn push(&mut self, id: OutputId<'_>, class: usize, probabilities: &[f64]) {
        self.push_id(id);
        match (&mut self.predictions, &self.classes[class]) {
            (Some(TextOrInt::Int(labels)), ClassLabel::Int(label)) => labels.append_value(*label),
            (Some(TextOrInt::Text(labels)), label) => labels.append_value(label.to_string()),
            (Some(TextOrInt::Int(labels)), ClassLabel::Text(_)) => labels.append_null(),
            (None, _) => {}
        }
        self.push_numbers(probabilities);
    }

    /// Adds a regressor's row: one value per target.
    pub(super) fn push_values(&mut self, id: OutputId<'_>, values: &[f64]) {
        self.push_id(id);
        self.push_numbers(values);
    }

    fn push_numbers(&mut self, numbers: &[f64]) {
        for (column, number) in self.numbers.iter_mut().zip(numbers) {
            column.append_value(*number);
        }
        self.versions.append_value(self.version);
    }

    fn push_id(&mut self, id: OutputId<'_>) {
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
    }

    /// Writes the collected rows as one Parquet file (a part) to `out`.
    pub(super) fn write_part(&mut self, out: &mut Vec<u8>) -> Result<(), ChunkError> {
        let mut columns = vec![self.ids.finish()];
        columns.extend(self.predictions.as_mut().map(TextOrInt::finish));
        for column in &mut self.numbers {
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
