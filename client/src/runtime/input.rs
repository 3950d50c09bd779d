//! Prediction input: turns request rows into the `rows × features` matrix a `Predictor`
//! takes, checked against the model's `Signature`.
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

use crate::signature::Signature;

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

/// Positional rows: each instance is an array with one number per feature, in the
/// signature's order.
pub fn rows_from_instances(
    instances: &[Value],
    signature: &Signature,
) -> Result<Array2<f64>, InputError> {
    check_batch_size(instances.len())?;
    let names: Vec<&str> = signature.feature_names().collect();
    let mut rows = Array2::zeros((instances.len(), names.len()));
    for (row, instance) in instances.iter().enumerate() {
        let values = instance.as_array().ok_or_else(|| {
            InputError::in_row(row, format!("expected an array of {} numbers", names.len()))
        })?;
        if values.len() != names.len() {
            return Err(InputError::in_row(
                row,
                format!("expected {} values, got {}", names.len(), values.len()),
            ));
        }
        for (column, (value, name)) in values.iter().zip(&names).enumerate() {
            rows[[row, column]] =
                finite_number(value).map_err(|reason| InputError::in_field(row, name, reason))?;
        }
    }
    Ok(rows)
}

/// Named records: each input is an object mapping every feature name to a number.
pub fn rows_from_records(
    records: &[Value],
    signature: &Signature,
) -> Result<Array2<f64>, InputError> {
    check_batch_size(records.len())?;
    let column_of: HashMap<&str, usize> = signature
        .feature_names()
        .enumerate()
        .map(|(column, name)| (name, column))
        .collect();
    let mut rows = Array2::zeros((records.len(), column_of.len()));
    for (row, record) in records.iter().enumerate() {
        let record = record.as_object().ok_or_else(|| {
            InputError::in_row(row, "expected an object mapping feature names to numbers")
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
        for name in signature.feature_names() {
            let value = record
                .get(name)
                .ok_or_else(|| InputError::in_field(row, name, "missing"))?;
            rows[[row, column_of[name]]] =
                finite_number(value).map_err(|reason| InputError::in_field(row, name, reason))?;
        }
    }
    Ok(rows)
}

/// A flat, row-major tensor of already-typed numbers (`f64` or `f32`) with
/// `shape == [rows, features]`.
pub fn rows_from_tensor<T: Copy + Into<f64>>(
    data: &[T],
    shape: &[usize],
    signature: &Signature,
) -> Result<Array2<f64>, InputError> {
    rows_from_flat(data, shape, signature, |value| {
        let value: f64 = (*value).into();
        if value.is_finite() {
            Ok(value)
        } else {
            Err(NOT_FINITE.to_string())
        }
    })
}

/// A flat, row-major tensor of JSON values with `shape == [rows, features]`, as the
/// Open Inference Protocol's `data` arrives before its values are checked.
pub fn rows_from_tensor_values(
    data: &[Value],
    shape: &[usize],
    signature: &Signature,
) -> Result<Array2<f64>, InputError> {
    rows_from_flat(data, shape, signature, finite_number)
}

fn rows_from_flat<T>(
    data: &[T],
    shape: &[usize],
    signature: &Signature,
    to_number: impl Fn(&T) -> Result<f64, String>,
) -> Result<Array2<f64>, InputError> {
    let names: Vec<&str> = signature.feature_names().collect();
    let row_count = tensor_row_count(data.len(), shape, names.len())?;
    check_batch_size(row_count)?;
    let mut rows = Array2::zeros((row_count, names.len()));
    for (index, value) in data.iter().enumerate() {
        let (row, column) = (index / names.len(), index % names.len());
        rows[[row, column]] =
            to_number(value).map_err(|reason| InputError::in_field(row, names[column], reason))?;
    }
    Ok(rows)
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

pub(crate) fn check_batch_size(row_count: usize) -> Result<(), InputError> {
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

/// A JSON number that is finite as an `f64`. Strings (including `"NaN"` and `"inf"`),
/// booleans, null and nested values are refused, as are numbers too large for an `f64`.
fn finite_number(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(number) => number
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| NOT_FINITE.to_string()),
        Value::String(_) => Err("expected a number, got a string".to_string()),
        Value::Bool(_) => Err("expected a number, got a boolean".to_string()),
        Value::Null => Err("expected a number, got null".to_string()),
        Value::Array(_) => Err("expected a number, got an array".to_string()),
        Value::Object(_) => Err("expected a number, got an object".to_string()),
    }
}
