//! The `onnx` format against scikit-learn: every model in `testdata/onnx` (made by
//! `make_models.py`) must reproduce scikit-learn's probabilities to 1e-5 and its labels.
// Helpers outside #[test] fns unwrap too; clippy.toml only covers the test fns.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "onnx")]

use capstan_client::runtime::ndarray::{Array2, ArrayView2, Axis};
use capstan_client::runtime::{
    self, ClassPrediction, Prediction, Predictor, Rows, RuntimeError, ONNX,
};
use capstan_client::{ClassLabel, DataType, Feature, Signature};
use serde_json::Value;

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/onnx");

struct Reference {
    file: String,
    features: Vec<String>,
    classes: Vec<ClassLabel>,
    inputs: Array2<f64>,
    probabilities: Vec<Vec<f64>>,
    labels: Vec<ClassLabel>,
}

fn references() -> Vec<Reference> {
    let text = std::fs::read_to_string(format!("{TESTDATA}/reference.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    json["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|model| {
            let inputs: Vec<Vec<f64>> = serde_json::from_value(model["inputs"].clone()).unwrap();
            let width = inputs[0].len();
            Reference {
                file: model["file"].as_str().unwrap().to_string(),
                features: serde_json::from_value(model["features"].clone()).unwrap(),
                classes: serde_json::from_value(model["classes"].clone()).unwrap(),
                inputs: Array2::from_shape_vec(
                    (inputs.len(), width),
                    inputs.into_iter().flatten().collect(),
                )
                .unwrap(),
                probabilities: serde_json::from_value(model["probabilities"].clone()).unwrap(),
                labels: serde_json::from_value(model["labels"].clone()).unwrap(),
            }
        })
        .collect()
}

/// A classifier's answer for numeric rows.
fn classify(predictor: &dyn Predictor, rows: ArrayView2<f64>) -> ClassPrediction {
    match predictor.predict(&Rows::numeric(rows)).unwrap() {
        Prediction::Classes(classes) => classes,
        other => panic!("expected a classifier's answer, got {other:?}"),
    }
}

fn model_bytes(file: &str) -> Vec<u8> {
    std::fs::read(format!("{TESTDATA}/{file}")).unwrap()
}

#[test]
fn reference_covers_every_export_shape() {
    let files: Vec<String> = references().into_iter().map(|r| r.file).collect();
    for expected in [
        "lr_zipmap.onnx",
        "lr_nozipmap.onnx",
        "scaler_lr.onnx",
        "iris_strings.onnx",
    ] {
        assert!(
            files.iter().any(|f| f == expected),
            "{expected} missing from reference.json"
        );
    }
}

#[test]
fn every_model_matches_scikit_learn() {
    for reference in references() {
        let predictor = runtime::load(ONNX, &model_bytes(&reference.file), None)
            .unwrap_or_else(|e| panic!("{}: {e}", reference.file));
        assert_eq!(
            predictor.classes(),
            reference.classes.as_slice(),
            "{}",
            reference.file
        );
        let prediction = classify(&*predictor, reference.inputs.view());
        assert_eq!(
            prediction.predictions, reference.labels,
            "{}",
            reference.file
        );
        for (row, (ours, theirs)) in prediction
            .probabilities
            .iter()
            .zip(&reference.probabilities)
            .enumerate()
        {
            assert_eq!(ours.len(), theirs.len());
            for (class, (p, q)) in ours.iter().zip(theirs).enumerate() {
                assert!(
                    (p - q).abs() < 1e-5,
                    "{} row {row} class {class}: tract {p}, scikit-learn {q}",
                    reference.file
                );
            }
        }
    }
}

#[test]
fn single_rows_predict_like_batches() {
    for reference in references() {
        let predictor = runtime::load(ONNX, &model_bytes(&reference.file), None).unwrap();
        let batch = classify(&*predictor, reference.inputs.view());
        for row in 0..reference.inputs.nrows() {
            let one = classify(&*predictor, reference.inputs.row(row).insert_axis(Axis(0)));
            assert_eq!(one.predictions[0], batch.predictions[row]);
            // tract picks different f32 kernels for 1 and 20 rows: equal to rounding.
            for (p, q) in one.probabilities[0].iter().zip(&batch.probabilities[row]) {
                assert!((p - q).abs() < 1e-6, "{}: {p} vs {q}", reference.file);
            }
        }
    }
}

#[test]
fn derived_signature_has_input_tensor_width_dtype_and_classes() {
    let signature = runtime::derive_signature(ONNX, &model_bytes("lr_zipmap.onnx")).unwrap();
    assert_eq!(signature.inputs.len(), 30);
    assert_eq!(signature.inputs[0], Feature::new("f0", DataType::Float32));
    assert_eq!(signature.inputs[29].name, "f29");
    assert_eq!(signature.input_tensor.as_deref(), Some("float_input"));
    assert_eq!(
        signature.classes,
        Some(vec![ClassLabel::Int(0), ClassLabel::Int(1)])
    );

    let iris = runtime::derive_signature(ONNX, &model_bytes("iris_strings.onnx")).unwrap();
    assert_eq!(iris.inputs.len(), 4);
    let names: Vec<ClassLabel> = ["setosa", "versicolor", "virginica"]
        .into_iter()
        .map(|s| ClassLabel::Text(s.into()))
        .collect();
    assert_eq!(iris.classes, Some(names));
}

#[test]
fn declared_names_replace_placeholders() {
    let reference = references()
        .into_iter()
        .find(|r| r.file == "scaler_lr.onnx")
        .unwrap();
    let declared = Signature {
        inputs: reference
            .features
            .iter()
            .map(|name| Feature::new(name.clone(), DataType::Float64))
            .collect(),
        input_tensor: None,
        classes: None,
        targets: None,
    };
    let predictor = runtime::load(ONNX, &model_bytes(&reference.file), Some(&declared)).unwrap();
    assert_eq!(predictor.signature().inputs[0].name, "mean_radius");
    assert_eq!(predictor.signature().inputs[0].dtype, DataType::Float32);
    assert_eq!(
        predictor.signature().input_tensor.as_deref(),
        Some("float_input")
    );
    assert_eq!(
        predictor.signature().classes,
        Some(reference.classes.clone())
    );
}

#[test]
fn declared_signature_that_disagrees_is_refused() {
    let bytes = model_bytes("lr_nozipmap.onnx");
    let mut declared = runtime::derive_signature(ONNX, &bytes).unwrap();
    declared.inputs.pop();
    let error = runtime::load(ONNX, &bytes, Some(&declared)).err().unwrap();
    assert!(
        matches!(error, RuntimeError::SignatureMismatch(_)),
        "{error}"
    );

    let mut declared = runtime::derive_signature(ONNX, &bytes).unwrap();
    declared.classes = Some(vec![
        ClassLabel::Text("no".into()),
        ClassLabel::Text("yes".into()),
    ]);
    let error = runtime::load(ONNX, &bytes, Some(&declared)).err().unwrap();
    assert!(
        matches!(error, RuntimeError::SignatureMismatch(_)),
        "{error}"
    );

    let mut declared = runtime::derive_signature(ONNX, &bytes).unwrap();
    declared.input_tensor = Some("input".into());
    let error = runtime::load(ONNX, &bytes, Some(&declared)).err().unwrap();
    assert!(
        matches!(error, RuntimeError::SignatureMismatch(_)),
        "{error}"
    );
}

#[test]
fn garbage_and_truncated_graphs_are_invalid_artifacts() {
    for bytes in [
        b"not a model".to_vec(),
        model_bytes("lr_zipmap.onnx")[..100].to_vec(),
    ] {
        let error = runtime::load(ONNX, &bytes, None).err().unwrap();
        assert!(
            matches!(error, RuntimeError::InvalidArtifact { .. }),
            "{error}"
        );
        let error = runtime::derive_signature(ONNX, &bytes).err().unwrap();
        assert!(
            matches!(error, RuntimeError::InvalidArtifact { .. }),
            "{error}"
        );
    }
}

#[test]
fn rows_of_the_wrong_width_or_not_finite_are_input_errors() {
    let predictor = runtime::load(ONNX, &model_bytes("lr_nozipmap.onnx"), None).unwrap();
    let narrow = Array2::<f64>::zeros((2, 29));
    let error = predictor
        .predict(&Rows::numeric(narrow.view()))
        .unwrap_err();
    assert!(matches!(error, RuntimeError::Input(_)), "{error}");

    let mut rows = Array2::<f64>::zeros((3, 30));
    rows[[2, 4]] = f64::NAN;
    let RuntimeError::Input(error) = predictor.predict(&Rows::numeric(rows.view())).unwrap_err()
    else {
        panic!("expected an input error");
    };
    assert_eq!((error.row, error.field.as_deref()), (2, Some("f4")));
}

#[test]
fn an_output_naming_no_tensor_is_refused_not_a_panic() {
    // lr_nozipmap's graph outputs are `label` and `probabilities`; the last `label` in
    // the file is the graph output's name.
    let mut bytes = model_bytes("lr_nozipmap.onnx");
    let at = bytes.windows(5).rposition(|w| w == b"label").unwrap();
    bytes[at..at + 5].copy_from_slice(b"lapel");
    let error = runtime::load(ONNX, &bytes, None).err().unwrap();
    assert!(
        matches!(error, RuntimeError::InvalidArtifact { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("lapel"), "{error}");
}

#[test]
fn corrupted_models_never_panic() {
    let mut rng = capstan_client::runtime::train::SplitMix64::new(1);
    for reference in references() {
        let original = model_bytes(&reference.file);
        for _ in 0..200 {
            let mut bytes = original.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next_u64() as u8;
            }
            let outcome = std::panic::catch_unwind(|| {
                if let Ok(predictor) = runtime::load(ONNX, &bytes, None) {
                    let rows = Array2::<f64>::zeros((2, predictor.signature().inputs.len()));
                    let _ = predictor.predict(&Rows::numeric(rows.view()));
                }
            });
            assert!(
                outcome.is_ok(),
                "{}: a corrupted model panicked",
                reference.file
            );
        }
    }
}
