//! Prediction input validation: every refusal names the row and, where there is one, the
//! feature; nothing that is not a finite number gets through.
// Helpers outside #[test] fns unwrap too; clippy.toml only covers the test fns.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "runtime")]

use capstan_client::runtime::input::{
    rows_from_instances, rows_from_records, rows_from_tensor, rows_from_tensor_values,
};
use capstan_client::runtime::ndarray::array;
use capstan_client::runtime::{InputError, MAX_ROWS};
use capstan_client::{DataType, Feature, Signature};
use serde_json::{json, Value};

fn signature() -> Signature {
    Signature {
        inputs: ["mean_radius", "mean_texture", "mean_area"]
            .into_iter()
            .map(|name| Feature::new(name, DataType::Float64))
            .collect(),
        input_tensor: None,
        classes: None,
        targets: None,
    }
}

fn values(json: Value) -> Vec<Value> {
    json.as_array().unwrap().clone()
}

fn instances_error(json: Value) -> InputError {
    rows_from_instances(&values(json), &signature()).unwrap_err()
}

fn records_error(json: Value) -> InputError {
    rows_from_records(&values(json), &signature()).unwrap_err()
}

fn at(error: &InputError) -> (usize, Option<&str>) {
    (error.row, error.field.as_deref())
}

#[test]
fn instances_become_rows_in_signature_order() {
    let rows = rows_from_instances(&values(json!([[1, 2.5, 3], [4, 5, -6e3]])), &signature());
    assert_eq!(
        rows.unwrap().numbers(),
        array![[1.0, 2.5, 3.0], [4.0, 5.0, -6000.0]]
    );
}

#[test]
fn records_become_rows_in_signature_order_whatever_the_key_order() {
    let records = json!([
        {"mean_area": 3, "mean_radius": 1, "mean_texture": 2},
        {"mean_texture": 5, "mean_radius": 4, "mean_area": 6},
    ]);
    let rows = rows_from_records(&values(records), &signature()).unwrap();
    assert_eq!(rows.numbers(), array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
}

#[test]
fn wrong_feature_count_names_the_row() {
    let error = instances_error(json!([[1, 2, 3], [1, 2, 3], [1, 2]]));
    assert_eq!(at(&error), (2, None));
    assert_eq!(error.to_string(), "row 2: expected 3 values, got 2");
    assert_eq!(at(&instances_error(json!([[1, 2, 3, 4]]))), (0, None));
    assert_eq!(
        at(&instances_error(json!([[1, 2, 3], {"mean_radius": 1}]))),
        (1, None)
    );
}

#[test]
fn non_numbers_name_row_and_field() {
    for bad in [
        json!("1.5"),
        json!("NaN"),
        json!("inf"),
        json!(true),
        json!(null),
        json!([1]),
        json!({"v": 1}),
    ] {
        let error = instances_error(json!([
            [1, 2, 3],
            [1, 2, 3],
            [1, 2, 3],
            [1, bad.clone(), 3]
        ]));
        assert_eq!(at(&error), (3, Some("mean_texture")), "{bad}");
        assert!(
            error
                .to_string()
                .starts_with("row 3, field \"mean_texture\": "),
            "{error}"
        );

        let error = records_error(json!([{"mean_radius": 1, "mean_texture": 2, "mean_area": bad}]));
        assert_eq!(at(&error), (0, Some("mean_area")), "{bad}");
    }
}

#[test]
fn numbers_beyond_f64_never_get_through() {
    // serde_json refuses 1e999 while parsing (unless built with arbitrary_precision, in
    // which case the validator must refuse it instead).
    match serde_json::from_str::<Value>("[[1e999, 0, 0]]") {
        Err(error) => assert!(error.to_string().contains("out of range"), "{error}"),
        Ok(parsed) => {
            let error = rows_from_instances(parsed.as_array().unwrap(), &signature()).unwrap_err();
            assert_eq!(at(&error), (0, Some("mean_radius")));
        }
    }
}

#[test]
fn the_documented_message_shape() {
    let error = instances_error(json!([[1, 2, 3], [1, 2, 3], [1, 2, 3], ["x", 2, 3]]));
    assert_eq!(
        error.to_string(),
        r#"row 3, field "mean_radius": expected a number, got a string"#
    );
}

#[test]
fn unknown_and_missing_features_are_named() {
    let error = records_error(json!([
        {"mean_radius": 1, "mean_texture": 2, "mean_area": 3},
        {"mean_radius": 1, "mean_textur": 2, "mean_area": 3},
    ]));
    assert_eq!(at(&error), (1, Some("mean_textur")));
    assert!(error.reason.contains("unknown"), "{error}");

    let error = records_error(json!([{"mean_radius": 1, "mean_area": 3}]));
    assert_eq!(at(&error), (0, Some("mean_texture")));
    assert_eq!(error.reason, "missing");

    let error = records_error(json!([[1, 2, 3]]));
    assert_eq!(at(&error), (0, None));
}

#[test]
fn empty_and_oversized_batches_are_refused() {
    assert!(instances_error(json!([])).reason.contains("empty"));
    assert!(records_error(json!([])).reason.contains("empty"));

    let too_many = vec![json!([1, 2, 3]); MAX_ROWS + 1];
    let error = rows_from_instances(&too_many, &signature()).unwrap_err();
    assert_eq!(at(&error), (MAX_ROWS, None));
    assert!(error.reason.contains("too many rows"), "{error}");
    assert!(rows_from_instances(&too_many[..MAX_ROWS], &signature()).is_ok());
}

#[test]
fn tensors_need_shape_rows_by_features() {
    let rows = rows_from_tensor(&[1f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3], &signature()).unwrap();
    assert_eq!(rows.numbers(), array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    let rows = rows_from_tensor(&[1f64, 2.0, 3.0], &[1, 3], &signature()).unwrap();
    assert_eq!(rows.numbers(), array![[1.0, 2.0, 3.0]]);

    for shape in [&[6][..], &[3, 2], &[2, 3, 1], &[3, 3]] {
        let error = rows_from_tensor(&[0f64; 6], shape, &signature()).unwrap_err();
        assert_eq!(at(&error), (0, None), "{shape:?}: {error}");
    }
    let error = rows_from_tensor::<f64>(&[], &[0, 3], &signature()).unwrap_err();
    assert!(error.reason.contains("empty"), "{error}");
}

#[test]
fn non_finite_tensor_values_name_row_and_field() {
    let data = [1.0, 2.0, 3.0, 4.0, f64::INFINITY, 6.0];
    let error = rows_from_tensor(&data, &[2, 3], &signature()).unwrap_err();
    assert_eq!(at(&error), (1, Some("mean_texture")));
    let error = rows_from_tensor(&[f32::NAN, 0.0, 0.0], &[1, 3], &signature()).unwrap_err();
    assert_eq!(at(&error), (0, Some("mean_radius")));

    let data = values(json!([1, 2, 3, 4, 5, "NaN"]));
    let error = rows_from_tensor_values(&data, &[2, 3], &signature()).unwrap_err();
    assert_eq!(at(&error), (1, Some("mean_area")));
    let data = values(json!([1, 2, 3, 4, 5, 6]));
    assert_eq!(
        rows_from_tensor_values(&data, &[2, 3], &signature())
            .unwrap()
            .numbers(),
        array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    );
}

mod properties {
    //! The predict body's rows: a table sent as `instances` (arrays), as records
    //! (objects) or as a flat tensor decodes to itself; any JSON is answered with rows of
    //! finite numbers or a refusal naming the row (and the feature where there is one).

    use capstan_client::runtime::input::{
        rows_from_instances, rows_from_records, rows_from_tensor_values,
    };
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::signature;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(|v| json!(v)),
            any::<i64>().prop_map(|v| json!(v)),
            "[ -~]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec!["mean_radius", "mean_texture", "mean_area", "x"])
                        .prop_map(str::to_owned),
                    inner,
                    0..4,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn a_table_in_every_shape_decodes_to_itself(
            table in prop::collection::vec(prop::collection::vec(-1e12f64..1e12, 3), 1..8),
        ) {
            let signature = signature();
            let names: Vec<String> = signature.inputs.iter().map(|f| f.name.clone()).collect();
            let instances: Vec<Value> = table.iter().map(|row| json!(row)).collect();
            let records: Vec<Value> = table
                .iter()
                .map(|row| Value::Object(names.iter().cloned().zip(row.iter().map(|v| json!(v))).collect()))
                .collect();
            let flat: Vec<Value> = table.iter().flatten().map(|v| json!(v)).collect();
            for rows in [
                rows_from_instances(&instances, &signature).unwrap(),
                rows_from_records(&records, &signature).unwrap(),
                rows_from_tensor_values(&flat, &[table.len(), 3], &signature).unwrap(),
            ] {
                let decoded: Vec<Vec<f64>> = rows.numbers().rows().into_iter().map(|r| r.to_vec()).collect();
                prop_assert_eq!(&decoded, &table);
            }
        }

        #[test]
        fn any_json_is_answered_by_row(body in prop::collection::vec(json_value(), 0..6)) {
            let signature = signature();
            for result in [rows_from_instances(&body, &signature), rows_from_records(&body, &signature)] {
                match result {
                    Ok(rows) => {
                        prop_assert_eq!(rows.len(), body.len());
                        prop_assert!(rows.numbers().iter().all(|v| v.is_finite()));
                    }
                    Err(error) => {
                        prop_assert!(error.row <= body.len(), "{:?}", error);
                        prop_assert!(!error.to_string().is_empty());
                    }
                }
            }
        }
    }
}
