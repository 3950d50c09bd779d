//! `Rows`: the checked input of one prediction, one column per signature feature.
//!
//! Numbers (every `float64`, `float32` and `int64` feature) live in one row-major
//! `rows × features` matrix of `f64`, so a model of numeric features predicts straight
//! from it without a copy; a `string` feature's column of that matrix holds zeros and its
//! values are kept beside it. A missing value of a nullable feature is NaN. `int64`
//! values are whole numbers within ±2^53, so the `f64` holds them exactly.

use ndarray::{Array2, ArrayView2, CowArray, Ix2};

use super::input::{check_batch_size, InputError};
use crate::signature::{DataType, Signature};

/// The rows of one prediction request.
#[derive(Clone, Debug, PartialEq)]
pub struct Rows<'a> {
    numbers: CowArray<'a, f64, Ix2>,
    /// `(column, values)` of every string feature, in column order.
    text: Vec<(usize, Vec<String>)>,
}

impl<'a> Rows<'a> {
    /// Rows of numbers only, borrowed.
    pub fn numeric(numbers: ArrayView2<'a, f64>) -> Self {
        Rows {
            numbers: CowArray::from(numbers),
            text: Vec::new(),
        }
    }

    /// Rows of numbers only, owned.
    pub fn from_matrix(numbers: Array2<f64>) -> Rows<'static> {
        Rows {
            numbers: CowArray::from(numbers),
            text: Vec::new(),
        }
    }

    /// Rows with string columns: `text` holds `(column, values)` for each string feature,
    /// one value per row; `numbers` holds zeros in those columns.
    pub fn with_text(
        numbers: Array2<f64>,
        mut text: Vec<(usize, Vec<String>)>,
    ) -> Result<Rows<'static>, InputError> {
        text.sort_by_key(|(column, _)| *column);
        for (column, values) in &text {
            if *column >= numbers.ncols() || values.len() != numbers.nrows() {
                return Err(InputError {
                    row: 0,
                    field: None,
                    reason: format!(
                        "string column {column} has {} values for {} rows of {} columns",
                        values.len(),
                        numbers.nrows(),
                        numbers.ncols()
                    ),
                });
            }
        }
        Ok(Rows {
            numbers: CowArray::from(numbers),
            text,
        })
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.numbers.nrows()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many columns (features).
    pub fn width(&self) -> usize {
        self.numbers.ncols()
    }

    /// The numeric matrix (string columns hold zeros).
    pub fn numbers(&self) -> ArrayView2<'_, f64> {
        self.numbers.view()
    }

    /// The values of string column `column`, when it is one.
    pub fn text(&self, column: usize) -> Option<&[String]> {
        self.text
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, values)| values.as_slice())
    }

    /// Checks the rows against `signature`: the batch size, one column per feature, a
    /// string column exactly where the feature is a string, finite numbers (NaN only in
    /// nullable features) and whole numbers in `int64` features. The checks the input
    /// parsers make, for callers that build rows themselves.
    pub fn check(&self, signature: &Signature) -> Result<(), InputError> {
        check_batch_size(self.len())?;
        let features = signature.inputs.len();
        if self.width() != features {
            return Err(InputError {
                row: 0,
                field: None,
                reason: format!("expected {features} values per row, got {}", self.width()),
            });
        }
        // One pass over the features: are they all plain floats, and do the string
        // columns sit where the string features are (`text` is sorted by column)?
        let mut plain = true;
        let mut texts = self.text.iter().map(|(column, _)| *column).peekable();
        for (column, feature) in signature.inputs.iter().enumerate() {
            plain &= feature.dtype.is_float() && !feature.nullable;
            let is_text = texts.next_if_eq(&column).is_some();
            if is_text != (feature.dtype == DataType::String) {
                return Err(InputError {
                    row: 0,
                    field: Some(feature.name.clone()),
                    reason: format!("expected {}", expected(feature.dtype)),
                });
            }
        }
        // Floats that must be present (every feature of most models): one tight pass.
        if plain && self.numbers.iter().all(|x| x.is_finite()) {
            return Ok(());
        }
        for (row, values) in self.numbers.outer_iter().enumerate() {
            for (value, feature) in values.iter().zip(&signature.inputs) {
                if let Err(reason) = check_number(*value, feature.dtype, feature.nullable) {
                    return Err(InputError {
                        row,
                        field: Some(feature.name.clone()),
                        reason,
                    });
                }
            }
        }
        Ok(())
    }
}

/// The largest magnitude an `int64` feature accepts: every whole number up to it is
/// exact in an `f64`.
pub const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// What a value of `dtype` is called in an error.
pub(crate) fn expected(dtype: DataType) -> &'static str {
    match dtype {
        DataType::Float64 | DataType::Float32 => "a number",
        DataType::Int64 => "a whole number",
        DataType::String => "a string",
    }
}

/// Checks one number for a feature of `dtype` (strings hold 0 and pass).
pub(crate) fn check_number(value: f64, dtype: DataType, nullable: bool) -> Result<(), String> {
    if value.is_nan() && nullable {
        return Ok(());
    }
    if !value.is_finite() {
        return Err("not a finite number".into());
    }
    if dtype == DataType::Int64 && (value.fract() != 0.0 || value.abs() > MAX_EXACT_INT) {
        return Err(format!("expected a whole number within ±2^53, got {value}"));
    }
    Ok(())
}
