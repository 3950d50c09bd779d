//! Turning a V2 infer request's input tensors into feature rows: JSON `data` or the
//! binary tensor extension (little-endian FP32/FP64/INT64, or BYTES as length-prefixed
//! strings, after the JSON header), either one `[rows, features]` tensor or one column
//! tensor per named feature (what a client sends a model with string features).

use serde_json::Value;

use capstan_client::inference::V2Tensor;
use capstan_client::runtime::input::{
    rows_from_tensor, rows_from_tensor_values, RowsBuilder, ToF64,
};
use capstan_client::runtime::{InputError, Rows, RuntimeError};
use capstan_client::Signature;

use crate::serving::ServeError;

fn input_error(error: InputError) -> ServeError {
    ServeError::Runtime(RuntimeError::Input(error))
}

/// One `[rows, features]` tensor, or one `[rows]` / `[rows, 1]` tensor per named feature.
pub(super) fn rows_from_inputs(
    inputs: &[V2Tensor],
    binary: &[u8],
    signature: &Signature,
) -> Result<Rows<'static>, ServeError> {
    let mut offset = 0;
    let mut columns = Vec::with_capacity(inputs.len());
    for tensor in inputs {
        let shape = tensor_shape(tensor)?;
        let values = tensor_values(tensor, binary, &mut offset)?;
        columns.push((tensor, shape, values));
    }
    match columns.as_slice() {
        [] => Err(ServeError::BadInput(
            "the infer request has no inputs".into(),
        )),
        [(_, shape, values)] if shape.len() == 2 || signature.inputs.len() != 1 => {
            let shape = if shape.len() == 1 {
                vec![1, shape[0]]
            } else {
                shape.clone()
            };
            values.to_rows(&shape, signature)
        }
        _ => rows_from_named_columns(&columns, signature),
    }
}

fn rows_from_named_columns(
    columns: &[(&V2Tensor, Vec<usize>, TensorValues)],
    signature: &Signature,
) -> Result<Rows<'static>, ServeError> {
    if columns.len() != signature.inputs.len() {
        return Err(ServeError::BadInput(format!(
            "send one [rows, {}] tensor, or one tensor per feature ({} features, got {} tensors)",
            signature.inputs.len(),
            signature.inputs.len(),
            columns.len()
        )));
    }
    let n_rows = columns[0].1.first().copied().unwrap_or(0);
    capstan_client::runtime::input::check_batch_size(n_rows).map_err(input_error)?;
    let mut rows = RowsBuilder::new(n_rows, signature);
    for (column, feature) in signature.inputs.iter().enumerate() {
        let (_, shape, values) = columns
            .iter()
            .find(|(tensor, _, _)| tensor.name == feature.name)
            .ok_or_else(|| {
                ServeError::BadInput(format!("no input tensor for feature {:?}", feature.name))
            })?;
        if shape.iter().product::<usize>() != n_rows
            || shape.first() != Some(&n_rows)
            || values.len() != n_rows
        {
            return Err(ServeError::BadInput(format!(
                "tensor {:?} has shape {shape:?}; every feature tensor must be [{n_rows}] or [{n_rows}, 1] with as many values",
                feature.name
            )));
        }
        for row in 0..n_rows {
            values
                .set(&mut rows, row, column, row)
                .map_err(input_error)?;
        }
    }
    rows.finish().map_err(input_error)
}

fn tensor_shape(tensor: &V2Tensor) -> Result<Vec<usize>, ServeError> {
    tensor
        .shape
        .iter()
        .map(|d| {
            usize::try_from(*d).map_err(|_| {
                ServeError::BadInput(format!("tensor {:?} has a negative dimension", tensor.name))
            })
        })
        .collect()
}

/// A tensor's elements: JSON values, or decoded binary numbers or strings.
enum TensorValues {
    Json(Vec<Value>),
    Numbers(Vec<f64>),
    Text(Vec<String>),
}

impl TensorValues {
    fn len(&self) -> usize {
        match self {
            TensorValues::Json(values) => values.len(),
            TensorValues::Numbers(values) => values.len(),
            TensorValues::Text(values) => values.len(),
        }
    }

    /// Sets feature `column` of `row` from element `index`.
    fn set(
        &self,
        rows: &mut RowsBuilder<'_>,
        row: usize,
        column: usize,
        index: usize,
    ) -> Result<(), InputError> {
        match self {
            TensorValues::Json(values) => rows.set(row, column, &values[index]),
            TensorValues::Numbers(values) => rows.set_number(row, column, values[index]),
            TensorValues::Text(values) => rows.set_string(row, column, values[index].clone()),
        }
    }

    fn to_rows(&self, shape: &[usize], signature: &Signature) -> Result<Rows<'static>, ServeError> {
        match self {
            TensorValues::Json(values) => {
                rows_from_tensor_values(values, shape, signature).map_err(input_error)
            }
            TensorValues::Numbers(values) => {
                rows_from_tensor(values, shape, signature).map_err(input_error)
            }
            TensorValues::Text(values) => {
                let width = signature.inputs.len();
                if shape.len() != 2 || shape[1] != width || shape[0] * width != values.len() {
                    return Err(ServeError::BadInput(format!(
                        "the tensor shape must be [rows, {width}] with as many values, got {shape:?}"
                    )));
                }
                capstan_client::runtime::input::check_batch_size(shape[0]).map_err(input_error)?;
                let mut rows = RowsBuilder::new(shape[0], signature);
                for index in 0..values.len() {
                    self.set(&mut rows, index / width, index % width, index)
                        .map_err(input_error)?;
                }
                rows.finish().map_err(input_error)
            }
        }
    }
}

fn tensor_values(
    tensor: &V2Tensor,
    binary: &[u8],
    offset: &mut usize,
) -> Result<TensorValues, ServeError> {
    let width = match tensor.datatype.as_str() {
        "FP64" | "INT64" => 8,
        "FP32" => 4,
        "BYTES" => 0,
        other => {
            return Err(ServeError::BadInput(format!(
                "tensor {:?} has datatype {other:?}; send FP32, FP64, INT64 or BYTES",
                tensor.name
            )))
        }
    };
    let binary_size = tensor
        .parameters
        .as_ref()
        .and_then(|p| p.get("binary_data_size"))
        .and_then(Value::as_u64);
    if let Some(size) = binary_size {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let end = offset
            .checked_add(size)
            .filter(|end| *end <= binary.len())
            .ok_or_else(|| {
                ServeError::BadInput(format!(
                    "tensor {:?} claims {size} binary bytes the body does not have",
                    tensor.name
                ))
            })?;
        let bytes = &binary[*offset..end];
        *offset = end;
        return binary_values(tensor, bytes, width);
    }
    let data = tensor
        .data
        .as_ref()
        .ok_or_else(|| ServeError::BadInput(format!("tensor {:?} has no data", tensor.name)))?;
    let mut flat = Vec::new();
    flatten(data, &mut flat);
    Ok(TensorValues::Json(flat))
}

/// Decodes the binary extension: little-endian numbers of `width` bytes, or (BYTES,
/// `width` 0) strings each preceded by its 4-byte little-endian length.
fn binary_values(
    tensor: &V2Tensor,
    bytes: &[u8],
    width: usize,
) -> Result<TensorValues, ServeError> {
    let bad = |what: &str| ServeError::BadInput(format!("tensor {:?}: {what}", tensor.name));
    if width == 0 {
        let mut strings = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (length, tail) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("a BYTES element is cut short"))?;
            let length = u32::from_le_bytes(*length) as usize;
            if tail.len() < length {
                return Err(bad("a BYTES element is cut short"));
            }
            let (text, tail) = tail.split_at(length);
            let text =
                std::str::from_utf8(text).map_err(|_| bad("a BYTES element is not UTF-8"))?;
            strings.push(text.to_owned());
            rest = tail;
        }
        return Ok(TensorValues::Text(strings));
    }
    if !bytes.len().is_multiple_of(width) {
        return Err(bad(&format!(
            "{} bytes is not a whole number of elements",
            bytes.len()
        )));
    }
    let values = bytes
        .chunks_exact(width)
        .map(|chunk| match (tensor.datatype.as_str(), chunk.try_into()) {
            ("INT64", Ok(eight)) => i64::from_le_bytes(eight).to_f64(),
            (_, Ok(eight)) => f64::from_le_bytes(eight),
            (_, Err(_)) => f64::from(f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])),
        })
        .collect();
    Ok(TensorValues::Numbers(values))
}

fn flatten(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        other => out.push(other.clone()),
    }
}

#[cfg(test)]
#[path = "tensors_tests.rs"]
mod tests;
