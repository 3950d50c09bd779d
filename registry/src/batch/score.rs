//! Chunk scoring: the rows of one chunk (CSV or JSONL lines, or one Parquet row group)
//! predicted in batches and written as output rows, with their keys for the key index.
//!
//! A [`Scorer`] is made once per job (plan, predictor, version, output format) and is
//! shared by every thread; [`Scorer::score_chunk`] scores one chunk into a caller's
//! buffer. It serves every model the runtime serves: classifiers and regressors, over
//! numeric, whole-number, nullable and string features (see `values`). A bad row (wrong
//! field count, a value that is empty, not a number where one is expected, a string
//! where one is not, NaN or infinite, a JSONL line that is not an object or lacks a
//! feature) is left out of the output and counted in [`ChunkOutcome`]; it never fails the
//! chunk. Only the predictor or the Parquet codec fails a chunk. No I/O, no async: bytes
//! in, bytes out.

use std::borrow::Cow;

use capstan_client::runtime::ndarray::{Array2, ArrayView2, Axis};
use capstan_client::runtime::{Prediction, Predictor, Rows, RuntimeError, MAX_ROWS};
use capstan_client::signature::ClassLabel;
use capstan_client::types::batch::DataFormat;
use serde::{Deserialize, Serialize};

use super::columns::ColumnPlan;
use super::csv::{self, CsvLayout};
use super::jsonl::{self, JsonlLayout};
use super::keys::{EntryShape, KeySink};
use super::output::{self, OutputId, TextRows};
use super::parquet::{self, ParquetRows, RowGroupInput};
use super::values::{FeatureKind, Predicts};

/// Most rows given to one `Predictor::predict` call.
pub const BATCH_ROWS: usize = 4096;
/// Most feature values buffered for one call (bounds memory for very wide models).
const BATCH_VALUES: usize = BATCH_ROWS * 64;
/// How many bad rows a chunk reports in detail (all are counted).
pub const MAX_ROW_ERRORS: usize = 20;

const _: () = assert!(BATCH_ROWS <= MAX_ROWS);

/// A bad row: left out of the output, reported to the job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// The 1-based data row (the header is not a row; blank lines are not rows).
    pub row: u64,
    /// The row's id value, when there is an id column and the row had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The input column concerned, when the problem is with one value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub reason: String,
}

/// What scoring one chunk did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkOutcome {
    /// Data rows read (good and bad).
    pub rows: u64,
    /// Rows written to the output.
    pub written: u64,
    pub bad_rows: u64,
    /// The first [`MAX_ROW_ERRORS`] bad rows, in row order.
    pub errors: Vec<RowError>,
}

/// Why a chunk could not be scored at all.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("the model failed to predict: {0}")]
    Predict(#[from] RuntimeError),
    #[error("the model predicted class {0}, which is not among its classes")]
    UnknownClass(String),
    #[error("the plan does not fit the model: {0}")]
    Plan(String),
    #[error("Parquet: {0}")]
    Parquet(String),
}

/// One chunk of input.
pub enum ChunkInput<'a> {
    /// CSV data lines (no header).
    Csv(&'a [u8]),
    /// JSONL lines.
    Jsonl(&'a [u8]),
    /// One row group of a Parquet file.
    Parquet(RowGroupInput<'a>),
}

/// Everything that is the same for every chunk of a job.
pub struct Scorer<'a> {
    pub(super) plan: &'a ColumnPlan,
    pub(super) predictor: &'a dyn Predictor,
    pub(super) version: i64,
    pub(super) output: DataFormat,
    predicts: Predicts,
    /// Per feature (signature order), how its values are read.
    kinds: Vec<FeatureKind>,
    /// How many features are strings (the text slots of a row).
    text_features: usize,
    text_rows: Option<TextRows>,
    csv: CsvLayout,
    jsonl: JsonlLayout,
}

impl<'a> Scorer<'a> {
    pub fn new(
        plan: &'a ColumnPlan,
        predictor: &'a dyn Predictor,
        version: i64,
        output: DataFormat,
    ) -> Result<Self, ChunkError> {
        let signature = predictor.signature();
        let predicts = Predicts::of(predictor).ok_or_else(|| {
            ChunkError::Plan("the model predicts neither classes nor values".into())
        })?;
        let names: Vec<&str> = signature.feature_names().collect();
        if plan.features != names {
            return Err(ChunkError::Plan(format!(
                "it was made for features {:?}, the model takes {names:?}",
                plan.features
            )));
        }
        let kinds = FeatureKind::of(signature);
        let text_features = kinds
            .iter()
            .filter(|kind| matches!(kind, FeatureKind::Text { .. }))
            .count();
        Ok(Scorer {
            plan,
            predictor,
            version,
            output,
            text_rows: TextRows::new(output, plan, &predicts, version),
            csv: CsvLayout::new(plan, &kinds),
            jsonl: JsonlLayout::new(plan, &kinds),
            predicts,
            kinds,
            text_features,
        })
    }

    /// A classifier's classes; empty for a regressor.
    pub fn classes(&self) -> &[ClassLabel] {
        self.predicts.classes()
    }

    /// What the model predicts per row.
    pub fn predicts(&self) -> &Predicts {
        &self.predicts
    }

    /// The entries of this job's key sidecars (see [`KeySink::reset`]).
    pub fn key_shape(&self) -> EntryShape {
        EntryShape::from(&self.predicts)
    }

    /// What the output starts with (a CSV header line; nothing for JSONL or Parquet parts).
    pub fn write_header(&self, out: &mut Vec<u8>) {
        output::write_header(self.output, self.plan, &self.predicts, out);
    }

    /// Scores one chunk whose first data row is `first_row` (1-based), appending its
    /// output rows to `out` (a whole Parquet file for Parquet output) and its keys to
    /// `keys`.
    pub fn score_chunk(
        &self,
        input: ChunkInput<'_>,
        first_row: u64,
        out: &mut Vec<u8>,
        keys: &mut KeySink,
    ) -> Result<ChunkOutcome, ChunkError> {
        let mut state = ChunkState::new(self, out, keys)?;
        match input {
            ChunkInput::Csv(data) => csv::read_rows(data, first_row, &self.csv, &mut state)?,
            ChunkInput::Jsonl(data) => jsonl::read_rows(data, first_row, &self.jsonl, &mut state)?,
            ChunkInput::Parquet(group) => parquet::read_rows(group, first_row, &mut state)?,
        }
        state.finish()
    }

    fn class_index(&self, label: &ClassLabel) -> Result<usize, ChunkError> {
        self.classes()
            .iter()
            .position(|class| class == label)
            .ok_or_else(|| ChunkError::UnknownClass(label.to_string()))
    }
}

/// Whether an id is text or a JSON number (written back as a number in JSONL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IdKind {
    Text,
    Number,
}

/// The id of the row being read.
#[derive(Debug, Default)]
pub(super) struct IdScratch {
    text: String,
    kind: Option<IdKind>,
}

impl IdScratch {
    pub(super) fn set(&mut self, text: &str, kind: IdKind) {
        self.text.clear();
        self.text.push_str(text);
        self.kind = Some(kind);
    }

    pub(super) fn is_set(&self) -> bool {
        self.kind.is_some()
    }
}

/// Where a parser puts the row it is reading: numbers by feature, the strings of string
/// features by text slot (see `FeatureKind::Text`), and the id.
pub(super) struct RowSlot<'s> {
    pub(super) values: &'s mut [f64],
    pub(super) text: &'s mut [String],
    pub(super) id: &'s mut IdScratch,
}

/// Where rows go: text formats are written as they are predicted, Parquet is collected
/// into columns and written when the chunk ends.
enum RowSink {
    Text,
    Parquet(Box<ParquetRows>),
}

/// One chunk being scored: the batch of rows waiting for a prediction, and the outcome.
pub(super) struct ChunkState<'s> {
    scorer: &'s Scorer<'s>,
    features: usize,
    batch_rows: usize,
    values: Vec<f64>,
    /// Per text slot, the batch's strings.
    text: Vec<Vec<String>>,
    rows: Vec<u64>,
    ids: String,
    id_ends: Vec<(usize, IdKind)>,
    current_id: IdScratch,
    current_text: Vec<String>,
    outcome: ChunkOutcome,
    sink: RowSink,
    out: &'s mut Vec<u8>,
    keys: &'s mut KeySink,
}

impl<'s> ChunkState<'s> {
    fn new(
        scorer: &'s Scorer<'s>,
        out: &'s mut Vec<u8>,
        keys: &'s mut KeySink,
    ) -> Result<Self, ChunkError> {
        let features = scorer.plan.features.len();
        let batch_rows = (BATCH_VALUES / features.max(1)).clamp(1, BATCH_ROWS);
        let sink = match scorer.text_rows {
            Some(_) => RowSink::Text,
            None => RowSink::Parquet(Box::new(ParquetRows::new(scorer)?)),
        };
        Ok(ChunkState {
            scorer,
            features,
            batch_rows,
            values: vec![0.0; batch_rows * features],
            text: vec![Vec::new(); scorer.text_features],
            rows: Vec::with_capacity(batch_rows),
            ids: String::new(),
            id_ends: Vec::with_capacity(batch_rows),
            current_id: IdScratch::default(),
            current_text: vec![String::new(); scorer.text_features],
            outcome: ChunkOutcome::default(),
            sink,
            out,
            keys,
        })
    }

    pub(super) fn plan(&self) -> &ColumnPlan {
        self.scorer.plan
    }

    /// Per feature, how its values are read.
    pub(super) fn kinds(&self) -> &[FeatureKind] {
        &self.scorer.kinds
    }

    /// The name of input column `column`, for error reports.
    pub(super) fn column_name(&self, column: usize) -> &str {
        self.scorer
            .plan
            .columns
            .get(column)
            .map_or("", String::as_str)
    }

    /// Starts a row: its values (to be set by the parser) and an empty id.
    pub(super) fn begin_row(&mut self) -> RowSlot<'_> {
        let start = self.rows.len() * self.features;
        self.current_id.kind = None;
        self.current_id.text.clear();
        RowSlot {
            values: &mut self.values[start..start + self.features],
            text: &mut self.current_text,
            id: &mut self.current_id,
        }
    }

    /// The row begun last is good: it joins the batch, which is predicted when full.
    pub(super) fn accept(&mut self, row: u64) -> Result<(), ChunkError> {
        self.outcome.rows += 1;
        self.rows.push(row);
        self.ids.push_str(&self.current_id.text);
        let kind = self.current_id.kind.unwrap_or(IdKind::Text);
        self.id_ends.push((self.ids.len(), kind));
        for (column, text) in self.text.iter_mut().zip(&self.current_text) {
            column.push(text.clone());
        }
        if self.rows.len() == self.batch_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// The row begun last is bad: counted, and reported if among the first bad rows.
    pub(super) fn reject(&mut self, row: u64, field: Option<String>, reason: String) {
        self.outcome.rows += 1;
        self.outcome.bad_rows += 1;
        if self.outcome.errors.len() < MAX_ROW_ERRORS {
            let id = (self.scorer.plan.id.is_some() && self.current_id.is_set())
                .then(|| self.current_id.text.clone());
            self.outcome.errors.push(RowError {
                row,
                id,
                field,
                reason,
            });
        }
    }

    /// Predicts the batch and writes its rows and keys.
    fn flush(&mut self) -> Result<(), ChunkError> {
        let count = self.rows.len();
        if count == 0 {
            return Ok(());
        }
        let numbers = &self.values[..count * self.features];
        let prediction = if self.text.is_empty() {
            // Numbers only: predicted straight from the batch buffer, without a copy.
            let matrix = ArrayView2::from_shape((count, self.features), numbers)
                .map_err(|e| ChunkError::Plan(e.to_string()))?;
            self.scorer.predictor.predict(&Rows::numeric(matrix))?
        } else {
            let matrix = Array2::from_shape_vec((count, self.features), numbers.to_vec())
                .map_err(|e| ChunkError::Plan(e.to_string()))?;
            let text = self
                .scorer
                .kinds
                .iter()
                .enumerate()
                .filter_map(|(column, kind)| match kind {
                    FeatureKind::Text { slot } => {
                        Some((column, std::mem::take(&mut self.text[*slot])))
                    }
                    FeatureKind::Number { .. } => None,
                })
                .collect();
            let rows =
                Rows::with_text(matrix, text).map_err(|e| ChunkError::Plan(e.to_string()))?;
            self.scorer.predictor.predict(&rows)?
        };
        match (prediction, &self.scorer.predicts) {
            (Prediction::Classes(classes), Predicts::Classes(_))
                if classes.predictions.len() == count && classes.probabilities.len() == count =>
            {
                self.write_classes(&classes.predictions, &classes.probabilities)?
            }
            (Prediction::Values(values), Predicts::Values(targets))
                if values.values.nrows() == count && values.values.ncols() == *targets =>
            {
                self.write_values(&values.values)
            }
            (other, predicts) => {
                return Err(ChunkError::Predict(RuntimeError::Inference(format!(
                    "the model answered {} rows of {} for {count} rows of {}",
                    other.len(),
                    if other.as_values().is_some() {
                        "values"
                    } else {
                        "classes"
                    },
                    match predicts {
                        Predicts::Classes(_) => "classes",
                        Predicts::Values(_) => "values",
                    },
                ))))
            }
        }
        self.outcome.written += count as u64;
        self.rows.clear();
        self.ids.clear();
        self.id_ends.clear();
        Ok(())
    }

    /// Writes a classifier's rows and keys for the batch.
    fn write_classes(
        &mut self,
        predictions: &[ClassLabel],
        probabilities: &[Vec<f64>],
    ) -> Result<(), ChunkError> {
        let has_id = self.scorer.plan.id.is_some();
        let mut key_buffer = itoa::Buffer::new();
        let mut id_start = 0;
        for (i, &row) in self.rows.iter().enumerate() {
            let id = output_id(has_id, &self.ids, &mut id_start, self.id_ends[i], row);
            let class = self.scorer.class_index(&predictions[i])?;
            let probabilities = &probabilities[i];
            match (&mut self.sink, &self.scorer.text_rows) {
                (RowSink::Text, Some(rows)) => rows.write_row(self.out, id, class, probabilities),
                (RowSink::Parquet(columns), _) => columns.push(id, class, probabilities),
                (RowSink::Text, None) => {}
            }
            self.keys.push(
                id.key(&mut key_buffer).as_bytes(),
                row,
                class,
                probabilities,
            );
        }
        Ok(())
    }

    /// Writes a regressor's rows and keys for the batch (`values` is rows × targets).
    fn write_values(&mut self, values: &Array2<f64>) {
        let has_id = self.scorer.plan.id.is_some();
        let mut key_buffer = itoa::Buffer::new();
        let mut id_start = 0;
        for ((i, &row), values) in self.rows.iter().enumerate().zip(values.axis_iter(Axis(0))) {
            let id = output_id(has_id, &self.ids, &mut id_start, self.id_ends[i], row);
            let values = match values.as_slice() {
                Some(values) => Cow::Borrowed(values),
                None => Cow::Owned(values.to_vec()),
            };
            let values = values.as_ref();
            match (&mut self.sink, &self.scorer.text_rows) {
                (RowSink::Text, Some(rows)) => rows.write_values(self.out, id, values),
                (RowSink::Parquet(columns), _) => columns.push_values(id, values),
                (RowSink::Text, None) => {}
            }
            self.keys
                .push_values(id.key(&mut key_buffer).as_bytes(), row, values);
        }
    }

    fn finish(mut self) -> Result<ChunkOutcome, ChunkError> {
        self.flush()?;
        if let RowSink::Parquet(columns) = &mut self.sink {
            columns.write_part(self.out)?;
        }
        Ok(self.outcome)
    }
}

/// The output id of the batch's row `row`, whose id text ends at `end` in `ids` (after
/// the previous row's, at `start`, which moves on).
fn output_id<'i>(
    has_id: bool,
    ids: &'i str,
    start: &mut usize,
    (end, kind): (usize, IdKind),
    row: u64,
) -> OutputId<'i> {
    let text = &ids[*start..end];
    *start = end;
    match (has_id, kind) {
        (false, _) => OutputId::Row(row),
        (true, IdKind::Text) => OutputId::Text(text),
        (true, IdKind::Number) => OutputId::Number(text),
    }
}

#[cfg(test)]
#[path = "score_tests.rs"]
mod tests;
