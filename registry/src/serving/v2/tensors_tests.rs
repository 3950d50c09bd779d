//! Property tests of the V2 tensor decoder: rows sent as JSON `data`, as one binary
//! `[rows, features]` tensor (FP64, FP32, INT64) or as one binary BYTES column per
//! feature all decode to the rows sent; any tensors with any binary bytes are answered
//! with rows or a refusal naming the tensor or the shape, never a panic.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use proptest::prelude::*;
use serde_json::{json, Value};

use capstan_client::inference::V2Tensor;
use capstan_client::{DataType, Feature, Signature};

use super::rows_from_inputs;
use crate::serving::ServeError;

fn signature(features: usize, text_column: Option<usize>) -> Signature {
    Signature {
        inputs: (0..features)
            .map(|i| {
                let dtype = if Some(i) == text_column {
                    DataType::String
                } else {
                    DataType::Float64
                };
                Feature::new(format!("f{i}"), dtype)
            })
            .collect(),
        input_tensor: None,
        classes: None,
        targets: None,
    }
}

fn tensor(
    name: &str,
    shape: Vec<i64>,
    datatype: &str,
    binary_size: Option<usize>,
    data: Option<Value>,
) -> V2Tensor {
    V2Tensor {
        name: name.to_owned(),
        shape,
        datatype: datatype.to_owned(),
        parameters: binary_size.map(|size| json!({ "binary_data_size": size })),
        data,
    }
}

/// `rows` × `width` finite numbers that survive every encoding (integers, so INT64 and
/// FP32 carry them exactly too).
fn table() -> impl Strategy<Value = Vec<Vec<f64>>> {
    (1usize..6, 1usize..5).prop_flat_map(|(rows, width)| {
        prop::collection::vec(
            prop::collection::vec((-1_000_000i32..1_000_000).prop_map(f64::from), width),
            rows,
        )
    })
}

fn numbers_of(rows: &capstan_client::runtime::Rows<'_>) -> Vec<Vec<f64>> {
    rows.numbers()
        .rows()
        .into_iter()
        .map(|r| r.to_vec())
        .collect()
}

proptest! {
    #[test]
    fn rows_sent_in_any_encoding_decode_to_themselves(table in table(), nested in any::<bool>()) {
        let (n, width) = (table.len(), table[0].len());
        let signature = signature(width, None);
        let shape = vec![n as i64, width as i64];
        let flat: Vec<f64> = table.iter().flatten().copied().collect();

        let data = if nested { json!(table) } else { json!(flat) };
        let rows = rows_from_inputs(&[tensor("input", shape.clone(), "FP64", None, Some(data))], &[], &signature).unwrap();
        prop_assert_eq!(numbers_of(&rows), table.clone());

        let fp64: Vec<u8> = flat.iter().flat_map(|v| v.to_le_bytes()).collect();
        let fp32: Vec<u8> = flat.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect();
        let int64: Vec<u8> = flat.iter().flat_map(|v| (*v as i64).to_le_bytes()).collect();
        for (datatype, bytes) in [("FP64", fp64), ("FP32", fp32), ("INT64", int64)] {
            let input = tensor("input", shape.clone(), datatype, Some(bytes.len()), None);
            let rows = rows_from_inputs(&[input], &bytes, &signature).unwrap();
            prop_assert_eq!(numbers_of(&rows), table.clone(), "{}", datatype);
        }
    }

    #[test]
    fn string_columns_sent_as_bytes_decode_to_themselves(
        names in prop::collection::vec("[^\0]{0,12}", 1..6),
        numbers in prop::collection::vec(-1000i32..1000, 6),
    ) {
        let n = names.len();
        let signature = signature(2, Some(1));
        let text: Vec<u8> = names
            .iter()
            .flat_map(|s| (s.len() as u32).to_le_bytes().into_iter().chain(s.bytes()))
            .collect();
        let column: Vec<f64> = numbers[..n].iter().map(|v| f64::from(*v)).collect();
        let inputs = [
            tensor("f0", vec![n as i64], "FP64", None, Some(json!(column))),
            tensor("f1", vec![n as i64, 1], "BYTES", Some(text.len()), None),
        ];
        let rows = rows_from_inputs(&inputs, &text, &signature).unwrap();
        prop_assert_eq!(rows.text(1).unwrap(), names.as_slice());
        prop_assert_eq!(rows.numbers().column(0).to_vec(), column);
    }

    #[test]
    fn any_tensors_and_bytes_are_answered(
        tensors in prop::collection::vec(
            (
                "f[0-3]|input|[a-z]{0,3}",
                prop::collection::vec(-2i64..8, 0..4),
                prop::sample::select(vec!["FP64", "FP32", "INT64", "BYTES", "BOOL", ""]),
                prop::option::of(0usize..80),
                prop::option::of(prop_oneof![
                    Just(json!(null)),
                    Just(json!([1, "a", null, [2.5, [3]], {"x": 1}])),
                    prop::collection::vec(any::<f64>(), 0..12).prop_map(|v| json!(v)),
                ]),
            ),
            0..4,
        ),
        binary in prop::collection::vec(any::<u8>(), 0..80),
        features in 1usize..4,
        text_column in prop::option::of(0usize..4),
    ) {
        let inputs: Vec<V2Tensor> = tensors
            .into_iter()
            .map(|(name, shape, datatype, size, data)| tensor(&name, shape, datatype, size, data))
            .collect();
        match rows_from_inputs(&inputs, &binary, &signature(features, text_column)) {
            Ok(rows) => {
                prop_assert_eq!(rows.width(), features);
                prop_assert!(rows.numbers().iter().all(|v| v.is_finite()));
            }
            Err(ServeError::BadInput(message)) => prop_assert!(!message.is_empty()),
            Err(ServeError::Runtime(error)) => prop_assert!(!error.to_string().is_empty()),
            Err(other) => prop_assert!(false, "unexpected error kind: {other}"),
        }
    }
}
