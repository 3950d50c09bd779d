//! Prediction input: turns request rows into the `Rows` a `Predictor` takes, each value
//! checked against its feature in the model's `Signature` (numbers, whole numbers,
//! strings, `null` where the feature is nullable).
//!
//! Three request shapes are understood — positional rows (`{"instances": [[…], …]}`),
//! named records (`{"inputs": [{"feature": value, …}, …]}`) and a flat tensor with a
//! `[rows, features]` shape (the Open Inference Protocol's `data`). Every rejection is an
//! `InputError` naming the row (0-based, as in the request) and, where there is one, the
//! feature. This module parses values only; it knows nothing of HTTP or of models.

use std::collections::HashMap;
use std::fmt;

use ndarray::Array2;
use serde_json::Value;

use super::rows::{check_number, expected, Rows};
use crate::signature::{DataType, Signature};

/// Most rows one prediction request may carry.
pub const MAX_ROWS: usize = 100_000;

/// A prediction input that does not fit the model's signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    /// 0-based index of the offending row in the request.
    pub row: usize,
    /// The feature concerned, when the problem is with one value.
    pub field: Option<String>,
    /// What is wrong, for a human.
    pub reason: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "row {}, field {field:?}: {}", self.row, self.reason),
            None => write!(f, "row {}: {}", self.row, self.reason),
        }
    }
}

impl InputError {
    fn in_row(row: usize, reason: impl Into<String>) -> Self {
        InputError {
            row,
            field: None,
            reason: reason.into(),
        }
    }

    fn in_field(row: usize, field: &str, reason: impl Into<String>) -> Self {
        InputError {
            row,
            field: Some(field.to_string()),
            reason: reason.into(),
        }
    }
}

/// Positional rows: each instance is an array with one value per feature, in the
/// signature's order.
pub fn rows_from_instances(
    instances: &[Value],
    signature: &Signature,
) -> Result<Rows<'static>, InputError> {
    check_batch_size(instances.len())?;
    let width = signature.inputs.len();
    let mut rows = RowsBuilder::new(instances.len(), signature);
    for (row, instance) in instances.iter().enumerate() {
        let values = instance.as_array().ok_or_else(|| {
            InputError::in_row(row, format!("expected an array of {width} values"))
        })?;
        if values.len() != width {
            return Err(InputError::in_row(
                row,
                format!("expected {width} values, got {}", values.len()),
            ));
        }
        for (column, value) in values.iter().enumerate() {
            rows.set(row, column, value)?;
        }
    }
    rows.finish()
}

/// Named records: each input is an object mapping every feature name to a value.
/// A nullable feature may be left out (it is missing, as `null` is).
pub fn rows_from_records(
    records: &[Value],
    signature: &Signature,
) -> Result<Rows<'static>, InputError> {
    check_batch_size(records.len())?;
    let column_of: HashMap<&str, usize> = signature
        .feature_names()
        .enumerate()
        .map(|(column, name)| (name, column))
        .collect();
    let mut rows = RowsBuilder::new(records.len(), signature);
    for (row, record) in records.iter().enumerate() {
        let record = record.as_object().ok_or_else(|| {
            InputError::in_row(row, "expected an object mapping feature names to values")
        })?;
        if let Some(unknown) = record
            .keys()
            .find(|key| !column_of.contains_key(key.as_str()))
        {
            return Err(InputError::in_field(
                row,
                unknown,
                "unknown feature: not in the model's signature",
            ));
        }
        for (column, feature) in signature.inputs.iter().enumerate() {
            match record.get(&feature.name) {
                Some(value) => rows.set(row, column, value)?,
                None if feature.nullable => rows.set(row, column, &Value::Null)?,
                None => return Err(InputError::in_field(row, &feature.name, "missing")),
            }
        }
    }
    rows.finish()
}

/// A flat, row-major tensor of already-typed numbers (`f64`, `f32` or `i64`) with
/// `shape == [rows, features]`; every feature must be numeric.
pub fn rows_from_tensor<T: Copy + ToF64>(
    data: &[T],
    shape: &[usize],
    signature: &Signature,
) -> Result<Rows<'static>, InputError> {
    let width = signature.inputs.len();
    let row_count = tensor_row_count(data.len(), shape, width)?;
    check_batch_size(row_count)?;
    if let Some(feature) = signature.inputs.iter().find(|f| !f.dtype.is_numeric()) {
        return Err(InputError::in_field(
            0,
            &feature.name,
            "expected a string, got a number",
        ));
    }
    let numbers = Array2::from_shape_vec(
        (row_count, width),
        data.iter().map(|value| value.to_f64()).collect(),
    )
    .map_err(|e| InputError::in_row(0, e.to_string()))?;
    let rows = Rows::from_matrix(numbers);
    rows.check(signature)?;
    Ok(rows)
}

/// Numbers a tensor may hold, as `f64`.
pub trait ToF64 {
    fn to_f64(self) -> f64;
}

impl ToF64 for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

impl ToF64 for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl ToF64 for i64 {
    // Values beyond ±2^53 round here and are then refused by `Rows::check` only when
    // the rounded value is out of range; int64 features document the ±2^53 range.
    #[allow(clippy::cast_precision_loss)]
    fn to_f64(self) -> f64 {
        self as f64
    }
}

/// A flat, row-major tensor of JSON values with `shape == [rows, features]`, as the
/// Open Inference Protocol's `data` arrives before its values are checked.
pub fn rows_from_tensor_values(
    data: &[Value],
    shape: &[usize],
    signature: &Signature,
) -> Result<Rows<'static>, InputError> {
    let width = signature.inputs.len();
    let row_count = tensor_row_count(data.len(), shape, width)?;
    check_batch_size(row_count)?;
    let mut rows = RowsBuilder::new(row_count, signature);
    for (index, value) in data.iter().enumerate() {
        rows.set(index / width, index % width, value)?;
    }
    rows.finish()
}

/// Fills `Rows` value by value, checking each against its feature.
pub struct RowsBuilder<'s> {
    signature: &'s Signature,
    numbers: Array2<f64>,
    /// Per column: its values when the feature is a string.
    text: Vec<Option<Vec<String>>>,
}

impl<'s> RowsBuilder<'s> {
    /// Room for `row_count` rows of `signature`'s features.
    pub fn new(row_count: usize, signature: &'s Signature) -> Self {
        let text = signature
            .inputs
            .iter()
            .map(|f| (f.dtype == DataType::String).then(|| vec![String::new(); row_count]))
            .collect();
        RowsBuilder {
            signature,
            numbers: Array2::zeros((row_count, signature.inputs.len())),
            text,
        }
    }

    /// Sets the value of feature `column` in `row` from JSON.
    pub fn set(&mut self, row: usize, column: usize, value: &Value) -> Result<(), InputError> {
        let feature = &self.signature.inputs[column];
        let outcome = match &mut self.text[column] {
            Some(values) => text_value(value).map(|text| values[row] = text),
            None => number_value(value, feature.dtype, feature.nullable)
                .map(|number| self.numbers[[row, column]] = number),
        };
        outcome.map_err(|reason| InputError::in_field(row, &feature.name, reason))
    }

    /// Sets the value of feature `column` in `row` to a number (a typed tensor's).
    pub fn set_number(&mut self, row: usize, column: usize, value: f64) -> Result<(), InputError> {
        let feature = &self.signature.inputs[column];
        let outcome = match &self.text[column] {
            Some(_) => Err("expected a string, got a number".to_string()),
            None => check_number(value, feature.dtype, feature.nullable)
                .map(|()| self.numbers[[row, column]] = value),
        };
        outcome.map_err(|reason| InputError::in_field(row, &feature.name, reason))
    }

    /// Sets the value of feature `column` in `row` to a string (a BYTES tensor's).
    pub fn set_string(
        &mut self,
        row: usize,
        column: usize,
        value: String,
    ) -> Result<(), InputError> {
        let feature = &self.signature.inputs[column];
        match &mut self.text[column] {
            Some(values) => {
                values[row] = value;
                Ok(())
            }
            None => Err(InputError::in_field(
                row,
                &feature.name,
                format!("expected {}, got a string", expected(feature.dtype)),
            )),
        }
    }

    /// Sets the value of feature `column` in `row` from text (a CSV field): a string
    /// feature takes it as it is, a numeric one parses it (empty = missing).
    pub fn set_text(&mut self, row: usize, column: usize, text: &str) -> Result<(), InputError> {
        let feature = &self.signature.inputs[column];
        let outcome = match &mut self.text[column] {
            Some(values) => {
                values[row] = text.to_owned();
                Ok(())
            }
            None => parse_number(text, feature.dtype, feature.nullable)
                .map(|number| self.numbers[[row, column]] = number),
        };
        outcome.map_err(|reason| InputError::in_field(row, &feature.name, reason))
    }

    /// The rows filled in.
    pub fn finish(self) -> Result<Rows<'static>, InputError> {
        let text = self
            .text
            .into_iter()
            .enumerate()
            .filter_map(|(column, values)| values.map(|values| (column, values)))
            .collect();
        Rows::with_text(self.numbers, text)
    }
}

/// A number parsed from text for a feature of `dtype`: empty (or `NA`/`NaN`) is missing.
pub fn parse_number(text: &str, dtype: DataType, nullable: bool) -> Result<f64, String> {
    let text = text.trim();
    if nullable && (text.is_empty() || text.eq_ignore_ascii_case("nan") || text == "NA") {
        return Ok(f64::NAN);
    }
    if text.is_empty() {
        return Err("empty: expected a number".into());
    }
    let number: f64 = text
        .parse()
        .map_err(|_| format!("expected a number, got {text:?}"))?;
    check_number(number, dtype, false)?;
    Ok(number)
}

fn text_value(value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        other => Err(format!("expected a string, got {}", kind_of(other))),
    }
}

/// A JSON value for a numeric feature: a finite number (whole within ±2^53 for
/// `int64`), or `null` when the feature is nullable (NaN). Strings (including `"NaN"`
/// and `"inf"`), booleans and nested values are refused, as are numbers too large for an
/// `f64`.
fn number_value(value: &Value, dtype: DataType, nullable: bool) -> Result<f64, String> {
    match value {
        Value::Number(number) => {
            let number = number
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| NOT_FINITE.to_string())?;
            check_number(number, dtype, false)?;
            Ok(number)
        }
        Value::Null if nullable => Ok(f64::NAN),
        other => Err(format!(
            "expected {}, got {}",
            expected(dtype),
            kind_of(other)
        )),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn tensor_row_count(len: usize, shape: &[usize], features: usize) -> Result<usize, InputError> {
    let [row_count, columns] = shape else {
        return Err(InputError::in_row(
            0,
            format!("the tensor shape must be [rows, {features}], got {shape:?}"),
        ));
    };
    if *columns != features {
        return Err(InputError::in_row(
            0,
            format!("the tensor shape must be [rows, {features}], got {shape:?}"),
        ));
    }
    if row_count.checked_mul(*columns) != Some(len) {
        return Err(InputError::in_row(
            0,
            format!("the tensor shape {shape:?} does not match its {len} values"),
        ));
    }
    Ok(*row_count)
}

pub fn check_batch_size(row_count: usize) -> Result<(), InputError> {
    if row_count == 0 {
        return Err(InputError::in_row(
            0,
            "the batch is empty: send at least one row",
        ));
    }
    if row_count > MAX_ROWS {
        return Err(InputError::in_row(
            MAX_ROWS,
            format!("too many rows: at most {MAX_ROWS} per request"),
        ));
    }
    Ok(())
}

const NOT_FINITE: &str = "not a finite number";
