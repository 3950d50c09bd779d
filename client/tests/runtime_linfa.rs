//! The `linfa-logistic` format: envelope round trips are exact, the binary class order is
//! right whichever label linfa calls positive, declared signatures are checked, bad
//! artifacts and unservable formats are refused.
// Helpers outside #[test] fns unwrap too; clippy.toml only covers the test fns.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "runtime")]

mod runtime_support;

use capstan_client::runtime::linfa::{
    envelope_bytes, LogisticEnvelope, LogisticModel, Standardization,
};
use capstan_client::runtime::ndarray::{array, Array1, Array2, Axis};
use capstan_client::runtime::train::{self, TrainOptions};
use capstan_client::runtime::{self, RuntimeError, LINFA_LOGISTIC};
use capstan_client::{ClassLabel, Signature};
use linfa::traits::Fit;
use linfa::Dataset;
use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
use runtime_support::{breast_cancer, classify, ints, texts, three_blobs_csv};

fn binary_envelope(labels: Array1<usize>, x: Array2<f64>) -> LogisticEnvelope {
    let model = LogisticRegression::default()
        .fit(&Dataset::new(x, labels))
        .unwrap();
    LogisticEnvelope::new(
        LogisticModel::Binary(model),
        vec!["x".into()],
        ints(&[10, 20]),
        None,
    )
    .unwrap()
}

#[test]
fn binary_probabilities_follow_class_order_whichever_label_linfa_calls_positive() {
    let x = array![[-3.0], [-2.0], [-1.5], [-1.0], [1.0], [2.0], [2.5]];
    // Class index 0 ("10") is the majority, so linfa makes it its positive class.
    let majority_zero = binary_envelope(Array1::from(vec![0, 0, 0, 0, 1, 1, 1]), x.clone());
    // Class index 1 ("20") first and in the majority.
    let majority_one = binary_envelope(Array1::from(vec![1, 1, 1, 1, 0, 0, 0]), -&x);
    let LogisticModel::Binary(model) = majority_zero.model() else {
        unreachable!()
    };
    assert_eq!(model.labels().pos.class, 0);
    let LogisticModel::Binary(model) = majority_one.model() else {
        unreachable!()
    };
    assert_eq!(model.labels().pos.class, 1);

    for envelope in [majority_zero, majority_one] {
        let predictor = runtime::load(LINFA_LOGISTIC, &envelope.to_bytes().unwrap(), None).unwrap();
        let prediction = classify(&*predictor, array![[-4.0], [4.0]].view());
        // In both fits negative x means class "10" and positive x class "20".
        assert_eq!(prediction.predictions, ints(&[10, 20]));
        let p_of_predicted: Vec<f64> = prediction
            .probabilities
            .iter()
            .map(|row| row.iter().cloned().fold(f64::MIN, f64::max))
            .collect();
        assert!(
            p_of_predicted.iter().all(|p| *p > 0.9),
            "{:?}",
            prediction.probabilities
        );
        assert_eq!(predictor.classes(), ints(&[10, 20]).as_slice());
    }
}

#[test]
fn binary_envelope_round_trip_is_exact() {
    let table = train::LabelledTable::from_csv(breast_cancer(), "target").unwrap();
    let labels: Array1<usize> = table
        .targets
        .iter()
        .map(|t| usize::from(*t == ClassLabel::Int(1)))
        .collect();
    let standardization = Standardization {
        mean: table.features.mean_axis(Axis(0)).unwrap().to_vec(),
        scale: table.features.std_axis(Axis(0), 0.0).to_vec(),
    };
    let scaled = standardization.apply(table.features.view());
    let model = LogisticRegression::default()
        .fit(&Dataset::new(scaled, labels))
        .unwrap();
    let envelope = LogisticEnvelope::new(
        LogisticModel::Binary(model),
        table.feature_names.clone(),
        ints(&[0, 1]),
        Some(standardization),
    )
    .unwrap();
    assert_round_trip_exact(&envelope, &table.features);
}

#[test]
fn multinomial_envelope_round_trip_is_exact() {
    let table = train::LabelledTable::from_csv(three_blobs_csv().as_bytes(), "species").unwrap();
    let classes = texts(&["apple", "banana", "cherry"]);
    let labels: Array1<usize> = table
        .targets
        .iter()
        .map(|t| classes.iter().position(|c| c == t).unwrap())
        .collect();
    let model = MultiLogisticRegression::default()
        .fit(&Dataset::new(table.features.clone(), labels))
        .unwrap();
    let envelope = LogisticEnvelope::new(
        LogisticModel::Multinomial(model),
        table.feature_names.clone(),
        classes,
        None,
    )
    .unwrap();
    assert_round_trip_exact(&envelope, &table.features);
}

fn assert_round_trip_exact(envelope: &LogisticEnvelope, rows: &Array2<f64>) {
    let bytes = envelope.to_bytes().unwrap();
    assert_eq!(&LogisticEnvelope::from_bytes(&bytes).unwrap(), envelope);
    let expected = envelope.predict_probabilities(rows.view());
    let predictor = runtime::load(LINFA_LOGISTIC, &bytes, None).unwrap();
    let prediction = classify(&*predictor, rows.view());
    for (ours, theirs) in prediction
        .probabilities
        .iter()
        .zip(expected.axis_iter(Axis(0)))
    {
        assert_eq!(ours.as_slice(), theirs.as_slice().unwrap());
    }
    assert_eq!(
        envelope.to_bytes().unwrap(),
        bytes,
        "serialisation is deterministic"
    );
}

#[test]
fn declared_signature_must_repeat_the_envelope_names() {
    let trained = train::train_logistic_csv(breast_cancer(), &TrainOptions::default()).unwrap();
    let predictor =
        runtime::load(LINFA_LOGISTIC, &trained.artifact, Some(&trained.signature)).unwrap();
    assert_eq!(predictor.signature(), &trained.signature);

    let mut swapped: Signature = trained.signature.clone();
    swapped.inputs.swap(0, 1);
    let error = runtime::load(LINFA_LOGISTIC, &trained.artifact, Some(&swapped))
        .err()
        .unwrap();
    assert!(
        matches!(error, RuntimeError::SignatureMismatch(_)),
        "{error}"
    );
    assert!(error.to_string().contains("mean_radius"), "{error}");

    let mut relabelled = trained.signature.clone();
    relabelled.classes = Some(texts(&["malignant", "benign"]));
    let error = runtime::load(LINFA_LOGISTIC, &trained.artifact, Some(&relabelled))
        .err()
        .unwrap();
    assert!(
        matches!(error, RuntimeError::SignatureMismatch(_)),
        "{error}"
    );
}

#[test]
fn invalid_envelopes_are_refused() {
    let trained = train::train_logistic_csv(breast_cancer(), &TrainOptions::default()).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&trained.artifact).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 6] = [
        ("version", |j| j["capstan_envelope"] = 2.into()),
        ("kind", |j| j["kind"] = "ordinal".into()),
        ("feature count", |j| {
            j["feature_names"].as_array_mut().unwrap().pop();
        }),
        ("classes", |j| j["classes"] = serde_json::json!([0, 1, 2])),
        ("zero scale", |j| {
            j["standardization"]["scale"][3] = 0.0.into()
        }),
        ("unknown field", |j| j["extra"] = true.into()),
    ];
    for (what, edit) in edits {
        let mut broken = json.clone();
        edit(&mut broken);
        let bytes = serde_json::to_vec(&broken).unwrap();
        let error = runtime::load(LINFA_LOGISTIC, &bytes, None).err().unwrap();
        assert!(
            matches!(error, RuntimeError::InvalidArtifact { .. }),
            "{what}: {error}"
        );
    }
    let error = runtime::load(LINFA_LOGISTIC, b"\x80\x81 pickle", None)
        .err()
        .unwrap();
    assert!(
        matches!(error, RuntimeError::InvalidArtifact { .. }),
        "{error}"
    );
}

#[test]
fn unservable_formats_name_the_servable_ones() {
    for format in ["pickle", "joblib", "pmml", "opaque", "LINFA-LOGISTIC"] {
        let error = runtime::load(format, b"anything", None).err().unwrap();
        let RuntimeError::UnservableFormat {
            format: named,
            servable,
        } = &error
        else {
            panic!("{format}: {error}");
        };
        assert_eq!(named, format);
        assert_eq!(servable.as_slice(), runtime::servable_formats());
        let message = error.to_string();
        for servable in runtime::servable_formats() {
            assert!(message.contains(servable), "{message}");
        }
        assert!(matches!(
            runtime::derive_signature(format, b"anything"),
            Err(RuntimeError::UnservableFormat { .. })
        ));
    }
    assert!(runtime::servable_formats().contains(&LINFA_LOGISTIC));
    assert_eq!(
        runtime::servable_formats().contains(&runtime::ONNX),
        cfg!(feature = "onnx")
    );
}

#[cfg(not(feature = "onnx"))]
#[test]
fn onnx_without_its_feature_says_which_feature() {
    let error = runtime::load(runtime::ONNX, b"graph", None).err().unwrap();
    assert!(
        matches!(
            error,
            RuntimeError::FeatureDisabled {
                feature: "onnx",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("feature \"onnx\""), "{error}");
    assert!(runtime::derive_signature(runtime::ONNX, b"graph").is_err());
}

#[test]
fn envelope_bytes_checks_the_model_against_names_and_classes() {
    let x = array![[-2.0], [-1.0], [1.0], [2.0]];
    let model = LogisticRegression::default()
        .fit(&Dataset::new(x, Array1::from(vec![0, 0, 1, 1])))
        .unwrap();
    let binary = || LogisticModel::Binary(model.clone());
    let bytes = envelope_bytes(binary(), vec!["x".into()], ints(&[0, 1]), None).unwrap();
    let envelope = LogisticEnvelope::new(binary(), vec!["x".into()], ints(&[0, 1]), None).unwrap();
    assert_eq!(bytes, envelope.to_bytes().unwrap());

    let two_names = envelope_bytes(binary(), vec!["x".into(), "y".into()], ints(&[0, 1]), None);
    assert!(matches!(
        two_names,
        Err(RuntimeError::InvalidArtifact { .. })
    ));
    let three_classes = envelope_bytes(binary(), vec!["x".into()], ints(&[0, 1, 2]), None);
    assert!(matches!(
        three_classes,
        Err(RuntimeError::InvalidArtifact { .. })
    ));
}
