//! The model zoo against scikit-learn: every model in `testdata/zoo` (made by
//! `make_zoo.py`: classifiers, regressors, a ColumnTransformer pipeline with numbers,
//! whole numbers, strings and missing values, and tree ensembles covering the ONNX spec)
//! must give scikit-learn's labels exactly and its numbers within 1e-5 (float32 models:
//! 1e-4), relative above 1 and absolute below.
// Helpers outside #[test] fns unwrap too; clippy.toml only covers the test fns.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "onnx")]

use capstan_client::runtime::input::rows_from_instances;
use capstan_client::runtime::{self, Prediction, Predictor, Rows, RuntimeError, ONNX};
use capstan_client::{ClassLabel, DataType, Feature, Signature};
use serde::Deserialize;
use serde_json::Value;

const ZOO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/zoo");

#[derive(Deserialize)]
struct Zoo {
    models: Vec<Model>,
    unsupported: Vec<Unsupported>,
}

#[derive(Deserialize)]
struct Model {
    file: String,
    features: Vec<Feature>,
    float32: bool,
    inputs: Vec<Value>,
    task: String,
    #[serde(default)]
    classes: Vec<ClassLabel>,
    #[serde(default)]
    labels: Vec<ClassLabel>,
    #[serde(default)]
    probabilities: Vec<Vec<f64>>,
    /// One number per row, or one array per row.
    #[serde(default)]
    values: Vec<Value>,
}

#[derive(Deserialize)]
struct Unsupported {
    file: String,
    operator: String,
}

fn zoo() -> Zoo {
    let text = std::fs::read_to_string(format!("{ZOO}/reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn bytes(file: &str) -> Vec<u8> {
    std::fs::read(format!("{ZOO}/{file}")).unwrap()
}

impl Model {
    /// The signature scikit-learn's column names give the model.
    fn declared(&self) -> Signature {
        Signature {
            inputs: self.features.clone(),
            input_tensor: None,
            classes: None,
            targets: None,
        }
    }

    fn tolerance(&self) -> f64 {
        if self.float32 {
            1e-4
        } else {
            1e-5
        }
    }

    /// Scikit-learn's values as `rows × targets`.
    fn expected_values(&self) -> Vec<Vec<f64>> {
        self.values
            .iter()
            .map(|v| match v {
                Value::Array(items) => items.iter().map(|x| x.as_f64().unwrap()).collect(),
                number => vec![number.as_f64().unwrap()],
            })
            .collect()
    }

    fn load(&self) -> std::sync::Arc<dyn Predictor> {
        let bytes = bytes(&self.file);
        let derived = runtime::derive_signature(ONNX, &bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", self.file));
        // A one-input graph names its features f0…; the declared names replace them.
        let declared = if derived.inputs.len() == self.features.len()
            && derived
                .inputs
                .iter()
                .zip(&self.features)
                .all(|(a, b)| a.name == b.name)
        {
            None
        } else {
            Some(self.declared())
        };
        runtime::load(ONNX, &bytes, declared.as_ref())
            .unwrap_or_else(|e| panic!("{}: {e}", self.file))
    }
}

fn close(ours: f64, theirs: f64, tolerance: f64) -> bool {
    (ours - theirs).abs() <= tolerance * theirs.abs().max(1.0)
}

fn check(model: &Model, prediction: &Prediction, rows: std::ops::Range<usize>) {
    let file = &model.file;
    match (model.task.as_str(), prediction) {
        ("classification", Prediction::Classes(answer)) => {
            assert_eq!(
                answer.predictions,
                model.labels[rows.clone()],
                "{file} labels"
            );
            for (row, (ours, theirs)) in answer
                .probabilities
                .iter()
                .zip(&model.probabilities[rows.clone()])
                .enumerate()
            {
                assert_eq!(ours.len(), theirs.len(), "{file}");
                for (class, (p, q)) in ours.iter().zip(theirs).enumerate() {
                    assert!(
                        close(*p, *q, model.tolerance()),
                        "{file} row {} class {class}: Capstan {p}, scikit-learn {q}",
                        rows.start + row
                    );
                }
            }
        }
        ("regression", Prediction::Values(answer)) => {
            let expected = model.expected_values();
            assert_eq!(answer.values.nrows(), rows.len(), "{file}");
            for (row, (ours, theirs)) in answer
                .values
                .outer_iter()
                .zip(&expected[rows.clone()])
                .enumerate()
            {
                assert_eq!(ours.len(), theirs.len(), "{file} targets");
                for (target, (p, q)) in ours.iter().zip(theirs).enumerate() {
                    assert!(
                        close(*p, *q, model.tolerance()),
                        "{file} row {} target {target}: Capstan {p}, scikit-learn {q}",
                        rows.start + row
                    );
                }
            }
        }
        (task, other) => panic!("{file}: a {task} model answered {other:?}"),
    }
}

#[test]
fn the_zoo_covers_every_estimator_the_issue_names() {
    let files: Vec<String> = zoo().models.into_iter().map(|m| m.file).collect();
    for name in [
        "logistic",
        "linear_regression",
        "ridge",
        "decision_tree_classifier",
        "decision_tree_regressor",
        "random_forest_classifier",
        "random_forest_regressor",
        "extra_trees_classifier",
        "extra_trees_regressor",
        "gradient_boosting_classifier",
        "gradient_boosting_regressor",
        "mlp_classifier",
        "mlp_regressor",
        "pipeline_ridge",
        "pipeline_gradient_boosting",
    ] {
        assert!(
            files.contains(&format!("{name}.onnx")),
            "{name} missing from the zoo"
        );
    }
}

#[test]
fn every_model_answers_what_scikit_learn_answers() {
    for model in zoo().models {
        let predictor = model.load();
        let signature = predictor.signature();
        match model.task.as_str() {
            "classification" => {
                assert_eq!(
                    predictor.classes(),
                    model.classes.as_slice(),
                    "{}",
                    model.file
                );
                assert_eq!(predictor.targets(), None, "{}", model.file);
            }
            _ => {
                assert!(predictor.classes().is_empty(), "{}", model.file);
                let targets = model.expected_values()[0].len();
                assert_eq!(predictor.targets(), Some(targets), "{}", model.file);
            }
        }
        let rows = rows_from_instances(&model.inputs, signature)
            .unwrap_or_else(|e| panic!("{}: {e}", model.file));
        let prediction = predictor
            .predict(&rows)
            .unwrap_or_else(|e| panic!("{}: {e}", model.file));
        check(&model, &prediction, 0..model.inputs.len());
    }
}

#[test]
fn single_rows_predict_like_batches() {
    for model in zoo().models {
        let predictor = model.load();
        for row in [0, model.inputs.len() - 1] {
            let rows =
                rows_from_instances(&model.inputs[row..=row], predictor.signature()).unwrap();
            let prediction = predictor.predict(&rows).unwrap();
            check(&model, &prediction, row..row + 1);
        }
    }
}

#[test]
fn the_pipeline_derives_typed_nullable_features_from_its_inputs() {
    let zoo = zoo();
    let model = zoo
        .models
        .iter()
        .find(|m| m.file == "pipeline_ridge.onnx")
        .unwrap();
    let signature = runtime::derive_signature(ONNX, &bytes(&model.file)).unwrap();
    assert_eq!(signature.inputs, model.features);
    assert_eq!(signature.input_tensor, None);
    assert_eq!(signature.targets, Some(1));
    assert_eq!(signature.classes, None);
    assert!(signature.inputs[0].nullable && !signature.inputs[2].nullable);
    assert_eq!(signature.inputs[3].dtype, DataType::String);
}

#[test]
fn a_string_where_a_number_belongs_names_row_and_feature() {
    let zoo = zoo();
    let model = zoo
        .models
        .iter()
        .find(|m| m.file == "pipeline_ridge.onnx")
        .unwrap();
    let predictor = model.load();
    let signature = predictor.signature();
    let mut rows = model.inputs[..3].to_vec();
    rows[1][0] = Value::from("large");
    let error = rows_from_instances(&rows, signature).unwrap_err();
    assert_eq!((error.row, error.field.as_deref()), (1, Some("area")));
    assert!(error.reason.contains("got a string"), "{error}");

    let mut rows = model.inputs[..3].to_vec();
    rows[2][3] = Value::from(7);
    let error = rows_from_instances(&rows, signature).unwrap_err();
    assert_eq!((error.row, error.field.as_deref()), (2, Some("city")));
    assert!(error.reason.contains("expected a string"), "{error}");

    let mut rows = model.inputs[..3].to_vec();
    rows[0][2] = Value::from(2.5);
    let error = rows_from_instances(&rows, signature).unwrap_err();
    assert_eq!((error.row, error.field.as_deref()), (0, Some("rooms")));

    // `null` is a missing value only where the feature is nullable.
    let mut rows = model.inputs[..3].to_vec();
    rows[0][0] = Value::Null;
    assert!(rows_from_instances(&rows, signature).is_ok());
    rows[0][2] = Value::Null;
    let error = rows_from_instances(&rows, signature).unwrap_err();
    assert_eq!(error.field.as_deref(), Some("rooms"));
}

#[test]
fn rows_built_by_hand_are_checked_like_parsed_ones() {
    let zoo = zoo();
    let model = zoo
        .models
        .iter()
        .find(|m| m.file == "pipeline_ridge.onnx")
        .unwrap();
    let predictor = model.load();
    let numbers = capstan_client::runtime::ndarray::Array2::zeros((1, 5));
    // No values for the string columns: refused, not a panic.
    let error = predictor.predict(&Rows::from_matrix(numbers)).unwrap_err();
    assert!(matches!(error, RuntimeError::Input(_)), "{error}");
}

#[test]
fn an_operator_capstan_cannot_run_is_named() {
    for unsupported in zoo().unsupported {
        let bytes = bytes(&unsupported.file);
        for error in [
            runtime::load(ONNX, &bytes, None).err().unwrap(),
            runtime::derive_signature(ONNX, &bytes).unwrap_err(),
        ] {
            match &error {
                RuntimeError::UnsupportedOperator { operator, .. } => {
                    assert_eq!(operator, &unsupported.operator)
                }
                other => panic!("{}: {other}", unsupported.file),
            }
            assert!(error.to_string().contains(&unsupported.operator), "{error}");
        }
    }
}

#[test]
fn corrupted_zoo_models_never_panic() {
    let mut rng = capstan_client::runtime::train::SplitMix64::new(7);
    for model in zoo().models.iter().step_by(3) {
        let original = bytes(&model.file);
        for _ in 0..60 {
            let mut corrupted = original.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(corrupted.len());
                corrupted[at] = rng.next_u64() as u8;
            }
            if rng.below(4) == 0 {
                corrupted.truncate(rng.below(corrupted.len()));
            }
            let outcome = std::panic::catch_unwind(|| {
                if let Ok(predictor) = runtime::load(ONNX, &corrupted, Some(&model.declared())) {
                    if let Ok(rows) = rows_from_instances(&model.inputs[..2], predictor.signature())
                    {
                        let _ = predictor.predict(&rows);
                    }
                }
            });
            assert!(
                outcome.is_ok(),
                "{}: a corrupted model panicked",
                model.file
            );
        }
    }
}
