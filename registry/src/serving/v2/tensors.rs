//! Turning a V2 infer request's input tensors into feature rows: JSON `data` or the
//! binary tensor extension (little-endian FP32/FP64 after the JSON header), either one
//! `[rows, features]` tensor or one column tensor per named feature.

use serde_json::Value;

use capstan_client::inference::V2Tensor;
use capstan_client::runtime::input::{rows_from_tensor, rows_from_tensor_values};
use capstan_client::runtime::ndarray::Array2;
use capstan_client::runtime::RuntimeError;
use capstan_client::Signature;

use crate::serving::ServeError;

fn input_error(error: capstan_client::runtime::InputError) -> ServeError {
    ServeError::Runtime(RuntimeError::Input(error))
}

/// One `[rows, features]` tensor, or one `[rows]` / `[rows, 1]` tensor per named feature.
pub(super) fn rows_from_inputs(
    inputs: &[V2Tensor],
    binary: &[u8],
    signature: &Signature,
) -> Result<Array2<f64>, ServeError> {
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
) -> Result<Array2<f64>, ServeError> {
    if columns.len() != signature.inputs.len() {
        return Err(ServeError::BadInput(format!(
            "send one [rows, {}] tensor, or one tensor per feature ({} features, got {} tensors)",
            signature.inputs.len(),
            signature.inputs.len(),
            columns.len()
        )));
    }
    let n_rows = columns[0].1.first().copied().unwrap_or(0);
    let mut rows = Array2::<f64>::zeros((n_rows, signature.inputs.len()));
    for (index, feature) in signature.inputs.iter().enumerate() {
        let (_, shape, values) = columns
            .iter()
            .find(|(tensor, _, _)| tensor.name == feature.name)
            .ok_or_else(|| {
                ServeError::BadInput(format!("no input tensor for feature {:?}", feature.name))
            })?;
        if shape.iter().product::<usize>() != n_rows || shape.first() != Some(&n_rows) {
            return Err(ServeError::BadInput(format!(
                "tensor {:?} has shape {shape:?}; every feature tensor must be [{n_rows}] or [{n_rows}, 1]",
                feature.name
            )));
        }
        let single = Signature {
            inputs: vec![feature.clone()],
            input_tensor: None,
            classes: None,
        };
        let column = values.to_rows(&[n_rows, 1], &single)?;
        rows.column_mut(index).assign(&column.column(0));
    }
    Ok(rows)
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

/// A tensor's elements: JSON values, or decoded binary.
enum TensorValues {
    Json(Vec<Value>),
    Binary(Vec<f64>),
}

impl TensorValues {
    fn to_rows(&self, shape: &[usize], signature: &Signature) -> Result<Array2<f64>, ServeError> {
        match self {
            TensorValues::Json(values) => {
                rows_from_tensor_values(values, shape, signature).map_err(input_error)
            }
            TensorValues::Binary(values) => {
                rows_from_tensor(values, shape, signature).map_err(input_error)
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
        "FP64" => 8,
        "FP32" => 4,
        other => {
            return Err(ServeError::BadInput(format!(
                "tensor {:?} has datatype {other:?}; send FP32 or FP64",
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
        if size % width != 0 {
            return Err(ServeError::BadInput(format!(
                "tensor {:?}: {size} bytes is not a whole number of elements",
                tensor.name
            )));
        }
        let values = bytes
            .chunks_exact(width)
            .map(|chunk| match chunk.try_into() {
                Ok(eight) => f64::from_le_bytes(eight),
                Err(_) => f64::from(f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])),
            })
            .collect();
        return Ok(TensorValues::Binary(values));
    }
    let data = tensor
        .data
        .as_ref()
        .ok_or_else(|| ServeError::BadInput(format!("tensor {:?} has no data", tensor.name)))?;
    let mut flat = Vec::new();
    flatten(data, &mut flat);
    Ok(TensorValues::Json(flat))
}

fn flatten(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        other => out.push(other.clone()),
    }
}
