//! A Parquet record batch's columns as the row reader uses them: a feature's numbers
//! (Float64, Float32, Int32, Int64) or text (Utf8, LargeUtf8), and the id column, each
//! read value by value with its nulls.

use arrow_array::{
    Array, ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, LargeStringArray,
    StringArray,
};
use arrow_schema::DataType;

use super::parquet_error;
use crate::batch::score::{ChunkError, IdKind, IdScratch};
use crate::batch::values::{check_whole, FeatureKind};

/// A feature's column of a record batch, and how its values are read.
pub(super) enum FeatureColumn<'a> {
    Numbers {
        numbers: Numbers<'a>,
        whole: bool,
        nullable: bool,
    },
    Text {
        text: Texts<'a>,
        slot: usize,
    },
}

impl<'a> FeatureColumn<'a> {
    pub(super) fn of(
        array: &'a ArrayRef,
        name: &str,
        kind: FeatureKind,
    ) -> Result<Self, ChunkError> {
        Ok(match kind {
            FeatureKind::Number { whole, nullable } => FeatureColumn::Numbers {
                numbers: Numbers::of(array, name)?,
                whole,
                nullable,
            },
            FeatureKind::Text { slot } => FeatureColumn::Text {
                text: Texts::of(array, name)?,
                slot,
            },
        })
    }

    /// Reads row `i` into feature `feature` of a row (`values`, or its text slot).
    pub(super) fn read(
        &self,
        i: usize,
        feature: usize,
        values: &mut [f64],
        text: &mut [String],
    ) -> Result<(), &'static str> {
        match self {
            FeatureColumn::Numbers {
                numbers,
                whole,
                nullable,
            } => {
                let value = match numbers.get(i) {
                    Some(value) if value.is_finite() => value,
                    None if *nullable => f64::NAN,
                    Some(value) if value.is_nan() && *nullable => f64::NAN,
                    Some(_) => return Err("not a finite number"),
                    None => return Err("null"),
                };
                if *whole {
                    check_whole(value)?;
                }
                values[feature] = value;
                Ok(())
            }
            FeatureColumn::Text { text: texts, slot } => {
                let value = texts.get(i).ok_or("null: expected a string")?;
                text[*slot].clear();
                text[*slot].push_str(value);
                Ok(())
            }
        }
    }
}

/// A text column of a record batch.
pub(super) enum Texts<'a> {
    Text(&'a StringArray),
    LargeText(&'a LargeStringArray),
}

impl<'a> Texts<'a> {
    pub(super) fn of(array: &'a ArrayRef, name: &str) -> Result<Self, ChunkError> {
        let any = array.as_any();
        let texts = match array.data_type() {
            DataType::Utf8 => any.downcast_ref().map(Texts::Text),
            DataType::LargeUtf8 => any.downcast_ref().map(Texts::LargeText),
            _ => None,
        };
        texts.ok_or_else(|| {
            parquet_error(format!(
                "column {name:?} holds {}, not text",
                array.data_type()
            ))
        })
    }

    /// The value of row `i`, `None` when it is null.
    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Texts::Text(a) => a.is_valid(i).then(|| a.value(i)),
            Texts::LargeText(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// A numeric column of a record batch.
pub(super) enum Numbers<'a> {
    F64(&'a Float64Array),
    F32(&'a Float32Array),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
}

impl<'a> Numbers<'a> {
    pub(super) fn of(array: &'a ArrayRef, name: &str) -> Result<Self, ChunkError> {
        let any = array.as_any();
        let numbers = match array.data_type() {
            DataType::Float64 => any.downcast_ref().map(Numbers::F64),
            DataType::Float32 => any.downcast_ref().map(Numbers::F32),
            DataType::Int32 => any.downcast_ref().map(Numbers::I32),
            DataType::Int64 => any.downcast_ref().map(Numbers::I64),
            _ => None,
        };
        numbers.ok_or_else(|| {
            parquet_error(format!(
                "column {name:?} holds {}, not numbers",
                array.data_type()
            ))
        })
    }

    /// The value of row `i`, `None` when it is null.
    fn get(&self, i: usize) -> Option<f64> {
        match self {
            Numbers::F64(a) => a.is_valid(i).then(|| a.value(i)),
            Numbers::F32(a) => a.is_valid(i).then(|| f64::from(a.value(i))),
            Numbers::I32(a) => a.is_valid(i).then(|| f64::from(a.value(i))),
            Numbers::I64(a) => a.is_valid(i).then(|| a.value(i) as f64),
        }
    }
}

/// The id column of a record batch.
pub(super) enum Ids<'a> {
    Text(&'a StringArray),
    LargeText(&'a LargeStringArray),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
}

impl<'a> Ids<'a> {
    pub(super) fn of(array: &'a ArrayRef, name: &str) -> Result<Self, ChunkError> {
        let any = array.as_any();
        let ids = match array.data_type() {
            DataType::Utf8 => any.downcast_ref().map(Ids::Text),
            DataType::LargeUtf8 => any.downcast_ref().map(Ids::LargeText),
            DataType::Int32 => any.downcast_ref().map(Ids::I32),
            DataType::Int64 => any.downcast_ref().map(Ids::I64),
            _ => None,
        };
        ids.ok_or_else(|| parquet_error(format!("id column {name:?} holds {}", array.data_type())))
    }

    pub(super) fn set(&self, i: usize, id: &mut IdScratch) -> Result<(), &'static str> {
        let valid = match self {
            Ids::Text(a) => a.is_valid(i),
            Ids::LargeText(a) => a.is_valid(i),
            Ids::I32(a) => a.is_valid(i),
            Ids::I64(a) => a.is_valid(i),
        };
        if !valid {
            return Err("null");
        }
        let mut buffer = itoa::Buffer::new();
        match self {
            Ids::Text(a) => id.set(a.value(i), IdKind::Text),
            Ids::LargeText(a) => id.set(a.value(i), IdKind::Text),
            Ids::I32(a) => id.set(buffer.format(a.value(i)), IdKind::Number),
            Ids::I64(a) => id.set(buffer.format(a.value(i)), IdKind::Number),
        }
        Ok(())
    }
}
