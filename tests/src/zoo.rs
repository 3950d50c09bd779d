//! The model zoo (`client/testdata/zoo`, made by `make_zoo.py`): scikit-learn models
//! exported with skl2onnx and scikit-learn's answers for held-out rows, and the checks
//! every serving path (JSON predict, V2 infer, `LiveModel`, embedded builds) applies to
//! its answers: labels exactly, numbers within 1e-5 (float32 models 1e-4), relative
//! above 1 and absolute below.

use serde_json::{json, Value};

/// Where the zoo lives.
pub fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../client/testdata/zoo")
}

/// `reference.json`.
pub fn reference() -> Value {
    let text = std::fs::read_to_string(dir().join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every model's reference entry.
pub fn models() -> Vec<Value> {
    reference()["models"].as_array().unwrap().clone()
}

/// One model's reference entry, by its name (`pipeline_ridge`).
pub fn model(name: &str) -> Value {
    models()
        .into_iter()
        .find(|m| m["file"] == format!("{name}.onnx"))
        .unwrap_or_else(|| panic!("{name} is not in the zoo"))
}

/// A model's ONNX bytes.
pub fn bytes(model: &Value) -> Vec<u8> {
    std::fs::read(dir().join(model["file"].as_str().unwrap())).unwrap()
}

/// The upload metadata that names the model's features as scikit-learn does.
pub fn upload_metadata(model: &Value) -> Value {
    json!({"format": "onnx", "signature": {"inputs": model["features"]}})
}

pub fn is_regressor(model: &Value) -> bool {
    model["task"] == "regression"
}

fn tolerance(model: &Value) -> f64 {
    if model["float32"].as_bool().unwrap() {
        1e-4
    } else {
        1e-5
    }
}

fn assert_close(model: &Value, ours: f64, theirs: f64, what: &str) {
    assert!(
        (ours - theirs).abs() <= tolerance(model) * theirs.abs().max(1.0),
        "{} {what}: Capstan {ours}, scikit-learn {theirs}",
        model["file"]
    );
}

/// Flattens nested number arrays.
fn numbers(value: &Value) -> Vec<f64> {
    match value {
        Value::Array(items) => items.iter().flat_map(numbers).collect(),
        other => vec![other.as_f64().unwrap()],
    }
}

/// Checks a JSON `predict` answer for the model's reference rows.
pub fn check_predict_answer(model: &Value, answer: &Value) {
    let file = &model["file"];
    if is_regressor(model) {
        assert!(answer.get("classes").is_none(), "{file}: {answer}");
        assert!(answer.get("probabilities").is_none(), "{file}: {answer}");
        // Same shape as scikit-learn's: numbers, or one array per row.
        assert_eq!(
            answer["predictions"].as_array().unwrap().len(),
            model["values"].as_array().unwrap().len(),
            "{file}"
        );
        assert_eq!(
            answer["predictions"][0].is_array(),
            model["values"][0].is_array(),
            "{file}: {answer}"
        );
        check_numbers(model, &answer["predictions"], &model["values"]);
    } else {
        assert_eq!(answer["classes"], model["classes"], "{file}");
        assert_eq!(answer["predictions"], model["labels"], "{file}");
        check_numbers(model, &answer["probabilities"], &model["probabilities"]);
    }
}

/// Checks a V2 infer answer (JSON outputs) for the model's reference rows.
pub fn check_v2_answer(model: &Value, answer: &Value) {
    let output = |name: &str| {
        answer["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("{}: no output {name}: {answer}", model["file"]))
            .clone()
    };
    let rows = model["inputs"].as_array().unwrap().len() as i64;
    if is_regressor(model) {
        let value = output("value");
        assert_eq!(value["datatype"], "FP64");
        let expected_shape = match model["values"][0].as_array() {
            Some(targets) => json!([rows, targets.len()]),
            None => json!([rows]),
        };
        assert_eq!(value["shape"], expected_shape, "{}", model["file"]);
        check_numbers(model, &value["data"], &model["values"]);
    } else {
        assert_eq!(
            output("label")["data"],
            model["labels"],
            "{}",
            model["file"]
        );
        check_numbers(
            model,
            &output("probabilities")["data"],
            &model["probabilities"],
        );
    }
}

fn check_numbers(model: &Value, ours: &Value, theirs: &Value) {
    let (ours, theirs) = (numbers(ours), numbers(theirs));
    assert_eq!(ours.len(), theirs.len(), "{}", model["file"]);
    for (index, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_close(model, *a, *b, &format!("value {index}"));
    }
}

/// The model's reference entry restricted to the reference rows `rows`.
pub fn only_rows(model: &Value, rows: &[usize]) -> Value {
    let mut only = model.clone();
    for key in ["inputs", "labels", "probabilities", "values"] {
        if let Some(all) = model[key].as_array() {
            only[key] = Value::from(rows.iter().map(|&i| all[i].clone()).collect::<Vec<_>>());
        }
    }
    only
}

/// The reference rows as records by feature name (a missing value left out).
pub fn records(model: &Value) -> Vec<Value> {
    let names: Vec<&str> = model["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    model["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let record: serde_json::Map<String, Value> = names
                .iter()
                .zip(row.as_array().unwrap())
                .filter(|(_, value)| !value.is_null())
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect();
            Value::Object(record)
        })
        .collect()
}

/// A V2 infer request for the reference rows: one `[rows, features]` tensor when every
/// feature has one numeric type, else one `[rows, 1]` tensor per feature (BYTES for
/// strings, INT64 for whole numbers).
pub fn v2_request(model: &Value) -> Value {
    let features = model["features"].as_array().unwrap();
    let rows = model["inputs"].as_array().unwrap();
    let datatype = |dtype: &Value| match dtype.as_str().unwrap() {
        "float32" => "FP32",
        "float64" => "FP64",
        "int64" => "INT64",
        _ => "BYTES",
    };
    let first = &features[0]["dtype"];
    let one_type = features
        .iter()
        .all(|f| f["dtype"] == *first && f.get("nullable").is_none());
    if one_type {
        return json!({"inputs": [{
            "name": "input",
            "shape": [rows.len(), features.len()],
            "datatype": datatype(first),
            "data": rows,
        }]});
    }
    let inputs: Vec<Value> = features
        .iter()
        .enumerate()
        .map(|(column, feature)| {
            let data: Vec<Value> = rows.iter().map(|row| row[column].clone()).collect();
            json!({
                "name": feature["name"],
                "shape": [rows.len(), 1],
                "datatype": datatype(&feature["dtype"]),
                "data": data,
            })
        })
        .collect();
    json!({ "inputs": inputs })
}
