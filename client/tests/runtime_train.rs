//! Training (`runtime::train`): the breast cancer data reaches the accuracy it allows,
//! training is reproducible, `l2` and `seed` matter, the defaults converge, multinomial
//! training works with string labels, and bad input says where it is bad.
// Helpers outside #[test] fns unwrap too; clippy.toml only covers the test fns.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "runtime")]

mod runtime_support;

use capstan_client::runtime::linfa::{LogisticEnvelope, LogisticModel};
use capstan_client::runtime::ndarray::array;
use capstan_client::runtime::train::{self, TrainError, TrainOptions};
use capstan_client::runtime::{self, LINFA_LOGISTIC};
use runtime_support::{
    breast_cancer, classify, ints, metric, rows_of_csv, texts, three_blobs_csv, BREAST_CANCER,
};

#[test]
fn training_on_breast_cancer_reaches_093_accuracy() {
    let trained = train::train_logistic_csv(breast_cancer(), &TrainOptions::default()).unwrap();
    let names: Vec<&str> = trained.metrics.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["accuracy", "precision", "recall", "roc_auc"]);
    let accuracy = metric(&trained.metrics, "accuracy");
    assert!(accuracy >= 0.93, "held-out accuracy {accuracy}");
    assert!(
        metric(&trained.metrics, "roc_auc") > 0.97,
        "{:?}",
        trained.metrics
    );
    assert_eq!((trained.train_rows, trained.test_rows), (426, 143));
    assert_eq!(trained.format, LINFA_LOGISTIC);
    assert_eq!(trained.signature.inputs.len(), 30);
    assert_eq!(trained.signature.inputs[0].name, "mean_radius");
    assert_eq!(trained.signature.classes, Some(ints(&[0, 1])));
    assert_eq!(
        runtime::derive_signature(LINFA_LOGISTIC, &trained.artifact).unwrap(),
        trained.signature
    );
}

#[test]
fn training_is_reproducible_and_l2_and_seed_change_the_model() {
    let defaults = TrainOptions::default();
    let first = train::train_logistic_csv(breast_cancer(), &defaults).unwrap();
    let again = train::train_logistic_csv(breast_cancer(), &defaults).unwrap();
    assert_eq!(first.artifact, again.artifact);
    assert_eq!(first.metrics, again.metrics);

    let stronger = TrainOptions {
        l2: 25.0,
        ..defaults.clone()
    };
    let stronger = train::train_logistic_csv(breast_cancer(), &stronger).unwrap();
    assert_ne!(first.artifact, stronger.artifact);
    let first = LogisticEnvelope::from_bytes(&first.artifact).unwrap();
    let stronger = LogisticEnvelope::from_bytes(&stronger.artifact).unwrap();
    let norm = |envelope: &LogisticEnvelope| match envelope.model() {
        LogisticModel::Binary(model) => model.params().dot(model.params()),
        LogisticModel::Multinomial(_) => unreachable!(),
    };
    assert!(
        norm(&stronger) < norm(&first),
        "a larger l2 must shrink the coefficients"
    );

    let reseeded = TrainOptions {
        seed: 7,
        ..defaults
    };
    let reseeded = train::train_logistic_csv(breast_cancer(), &reseeded).unwrap();
    assert_ne!(
        first,
        LogisticEnvelope::from_bytes(&reseeded.artifact).unwrap()
    );
}

#[test]
fn default_iterations_converge_on_breast_cancer() {
    let default = train::train_logistic_csv(breast_cancer(), &TrainOptions::default()).unwrap();
    let longer = TrainOptions {
        max_iterations: 1_000,
        ..TrainOptions::default()
    };
    let longer = train::train_logistic_csv(breast_cancer(), &longer).unwrap();
    let (a, b) = (
        LogisticEnvelope::from_bytes(&default.artifact).unwrap(),
        LogisticEnvelope::from_bytes(&longer.artifact).unwrap(),
    );
    let rows = rows_of_csv(BREAST_CANCER);
    let difference = (&a.predict_probabilities(rows.view())
        - &b.predict_probabilities(rows.view()))
        .iter()
        .fold(0.0f64, |max, d| max.max(d.abs()));
    assert!(
        difference < 1e-3,
        "probabilities still move by {difference} after 100 iterations"
    );
}

#[test]
fn multinomial_training_with_string_labels() {
    let trained = train::train_logistic_csv(
        three_blobs_csv().as_bytes(),
        &TrainOptions {
            target: "species".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let names: Vec<&str> = trained.metrics.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "accuracy",
            "precision_macro",
            "recall_macro",
            "roc_auc_ovr_macro"
        ]
    );
    assert!(
        metric(&trained.metrics, "accuracy") > 0.9,
        "{:?}",
        trained.metrics
    );
    assert_eq!(
        trained.signature.classes,
        Some(texts(&["apple", "banana", "cherry"]))
    );

    let predictor = runtime::load(LINFA_LOGISTIC, &trained.artifact, None).unwrap();
    let prediction = classify(
        &*predictor,
        array![[4.0, 0.1], [0.1, 4.0], [0.0, 0.0]].view(),
    );
    assert_eq!(
        prediction.predictions,
        texts(&["apple", "banana", "cherry"])
    );
    for row in &prediction.probabilities {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn training_errors_say_where() {
    let error =
        train::train_logistic_csv("a,b\n1,2\n".as_bytes(), &TrainOptions::default()).unwrap_err();
    assert!(
        matches!(error, TrainError::NoTargetColumn(ref c) if c == "target"),
        "{error}"
    );

    let csv = "a,b,target\n1,2,0\n3,oops,1\n";
    let error = train::train_logistic_csv(csv.as_bytes(), &TrainOptions::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"line 3, column "b": "oops" is not a finite number"#
    );

    let one_class = "a,target\n1,0\n2,0\n3,0\n";
    let error =
        train::train_logistic_csv(one_class.as_bytes(), &TrainOptions::default()).unwrap_err();
    assert!(matches!(error, TrainError::TooFewClasses(1)), "{error}");

    let bad = TrainOptions {
        test_fraction: 1.0,
        ..Default::default()
    };
    let error = train::train_logistic_csv(breast_cancer(), &bad).unwrap_err();
    assert!(matches!(error, TrainError::BadOption(_)), "{error}");
}
