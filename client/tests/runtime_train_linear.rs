//! The `linfa-linear` and `linfa-tree` formats and their trainers: least squares on the
//! diabetes table matches a closed-form solution on the same split, the elastic net
//! shrinks, a tree classifies breast cancer, envelopes round-trip, and malformed
//! envelopes are refused as invalid artifacts rather than served or panicking.
// Helpers outside #[test] fns unwrap too; clippy.toml only covers the test fns.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "runtime")]

mod runtime_support;

use capstan_client::runtime::linfa::{LinearEnvelope, LinearKind, TreeEnvelope, TreeNode};
use capstan_client::runtime::ndarray::{Array1, Array2, Axis};
use capstan_client::runtime::train::{
    self, LinearOptions, NumericTable, SplitQuality, TreeOptions,
};
use capstan_client::runtime::{self, Prediction, Rows, RuntimeError, LINFA_LINEAR, LINFA_TREE};
use runtime_support::{breast_cancer, classify, ints, metric, rows_of_csv, BREAST_CANCER};

const DIABETES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/diabetes.csv");

fn diabetes() -> NumericTable {
    NumericTable::from_csv(std::fs::File::open(DIABETES).unwrap(), "target").unwrap()
}

/// Least squares with an intercept by the normal equations `(AᵀA) β = Aᵀy`, `A = [X 1]`,
/// solved by Gaussian elimination with partial pivoting.
fn normal_equations(x: &Array2<f64>, y: &Array1<f64>) -> (Vec<f64>, f64) {
    let ones = Array2::ones((x.nrows(), 1));
    let a =
        capstan_client::runtime::ndarray::concatenate(Axis(1), &[x.view(), ones.view()]).unwrap();
    let mut m = a.t().dot(&a);
    let mut b = a.t().dot(y);
    let n = m.nrows();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| m[(i, col)].abs().total_cmp(&m[(j, col)].abs()))
            .unwrap();
        for k in 0..n {
            m.swap((col, k), (pivot, k));
        }
        b.swap(col, pivot);
        for row in col + 1..n {
            let factor = m[(row, col)] / m[(col, col)];
            for k in col..n {
                m[(row, k)] -= factor * m[(col, k)];
            }
            b[row] -= factor * b[col];
        }
    }
    let mut beta = vec![0.0; n];
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|k| m[(row, k)] * beta[k]).sum();
        beta[row] = (b[row] - rest) / m[(row, row)];
    }
    let intercept = beta.pop().unwrap();
    (beta, intercept)
}

fn r2(truth: &[f64], predicted: &[f64]) -> f64 {
    let mean = truth.iter().sum::<f64>() / truth.len() as f64;
    let total: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    let residual: f64 = truth
        .iter()
        .zip(predicted)
        .map(|(t, p)| (t - p).powi(2))
        .sum();
    1.0 - residual / total
}

fn close(a: f64, b: f64, relative: f64) -> bool {
    (a - b).abs() <= relative * a.abs().max(b.abs()).max(1e-12)
}

#[test]
fn least_squares_on_diabetes_matches_the_closed_form_solution() {
    let table = diabetes();
    assert_eq!(table.features.dim(), (442, 10));
    let options = LinearOptions::default();
    let trained = train::train_linear(&table, &options).unwrap();
    assert_eq!(trained.format, LINFA_LINEAR);
    assert_eq!((trained.train_rows, trained.test_rows), (331, 111));
    let names: Vec<&str> = trained.metrics.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["r2", "mae", "rmse"]);

    // The same split the trainer makes, solved independently.
    let (train_rows, test_rows) = train::train_test_split(442, options.test_fraction, options.seed);
    let x = table.features.select(Axis(0), &train_rows);
    let y: Array1<f64> = train_rows.iter().map(|&r| table.targets[r]).collect();
    let (coefficients, intercept) = normal_equations(&x, &y);

    let envelope = LinearEnvelope::from_bytes(&trained.artifact).unwrap();
    assert_eq!(envelope.kind(), LinearKind::Ols);
    assert!(envelope.standardization().is_none());
    for (ours, closed_form) in envelope.model().coefficients.iter().zip(&coefficients) {
        assert!(
            close(*ours, *closed_form, 1e-6),
            "coefficient {ours} vs {closed_form}"
        );
    }
    assert!(close(envelope.model().intercept, intercept, 1e-6));

    let test_x = table.features.select(Axis(0), &test_rows);
    let test_y: Vec<f64> = test_rows.iter().map(|&r| table.targets[r]).collect();
    let expected: Vec<f64> = test_x
        .axis_iter(Axis(0))
        .map(|row| {
            row.iter()
                .zip(&coefficients)
                .map(|(x, w)| x * w)
                .sum::<f64>()
                + intercept
        })
        .collect();
    let expected_r2 = r2(&test_y, &expected);
    let ours = metric(&trained.metrics, "r2");
    assert!(
        (ours - expected_r2).abs() <= 0.01,
        "r2 {ours} vs {expected_r2}"
    );
    assert!(
        ours > 0.4,
        "diabetes least squares explains about half the variance: {ours}"
    );
    let (mae, rmse) = (
        metric(&trained.metrics, "mae"),
        metric(&trained.metrics, "rmse"),
    );
    assert!(
        mae > 0.0 && mae <= rmse && rmse < 80.0,
        "mae {mae}, rmse {rmse}"
    );
}

#[test]
fn the_elastic_net_shrinks_coefficients_and_alpha_0_is_least_squares() {
    let table = diabetes();
    let norm = |options: &LinearOptions| {
        let trained = train::train_linear(&table, options).unwrap();
        let envelope = LinearEnvelope::from_bytes(&trained.artifact).unwrap();
        let norm = envelope
            .model()
            .coefficients
            .iter()
            .map(|w| w.abs())
            .sum::<f64>();
        (envelope, norm, trained)
    };
    let net = |alpha| LinearOptions {
        alpha,
        ..LinearOptions::default()
    };
    let (light, light_norm, light_trained) = norm(&net(0.01));
    assert_eq!(light.kind(), LinearKind::ElasticNet);
    assert!(light.standardization().is_some());
    assert!(
        metric(&light_trained.metrics, "r2") > 0.4,
        "{:?}",
        light_trained.metrics
    );
    let (_, medium_norm, _) = norm(&net(1.0));
    let (heavy, heavy_norm, heavy_trained) = norm(&net(1_000.0));
    assert!(medium_norm < light_norm, "{medium_norm} !< {light_norm}");
    assert!(
        heavy_norm < 1e-9,
        "a huge alpha leaves coefficients {heavy_norm}"
    );
    // All weights gone, the model predicts the training mean: R² about 0.
    assert!(metric(&heavy_trained.metrics, "r2").abs() < 0.05);
    assert!(heavy.model().intercept > 100.0);

    let (ols, _, _) = norm(&net(0.0));
    assert_eq!(ols.kind(), LinearKind::Ols);
}

#[test]
fn a_linear_envelope_round_trips_and_serves_values() {
    let trained = train::train_linear(
        &diabetes(),
        &LinearOptions {
            alpha: 0.1,
            ..LinearOptions::default()
        },
    )
    .unwrap();
    let envelope = LinearEnvelope::from_bytes(&trained.artifact).unwrap();
    assert_eq!(envelope.to_bytes().unwrap(), trained.artifact);

    let signature = runtime::derive_signature(LINFA_LINEAR, &trained.artifact).unwrap();
    assert_eq!(signature, trained.signature);
    let names: Vec<&str> = signature.feature_names().collect();
    assert_eq!(
        names,
        ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    );
    assert_eq!(
        (signature.targets, signature.classes.as_ref()),
        (Some(1), None)
    );

    let predictor = runtime::load(LINFA_LINEAR, &trained.artifact, Some(&signature)).unwrap();
    assert_eq!(predictor.targets(), Some(1));
    assert!(predictor.classes().is_empty());
    let rows = diabetes().features.select(Axis(0), &[0, 1, 2, 3, 4]);
    let Prediction::Values(values) = predictor.predict(&Rows::from_matrix(rows.clone())).unwrap()
    else {
        panic!("a linear model predicts values");
    };
    assert_eq!(values.values.dim(), (5, 1));
    let direct = envelope.predict_values(rows.view());
    assert_eq!(values.values.column(0).to_vec(), direct.to_vec());
}

/// Every way to break an envelope: each must be `InvalidArtifact`, never a panic.
fn assert_refused(format: &str, bytes: &[u8], what: &str) {
    let loaded = std::panic::catch_unwind(|| runtime::load(format, bytes, None))
        .unwrap_or_else(|_| panic!("{what}: loading panicked"));
    match loaded {
        Err(RuntimeError::InvalidArtifact { format: f, .. }) => assert_eq!(f, format, "{what}"),
        Err(other) => panic!("{what}: expected InvalidArtifact, got {other}"),
        Ok(_) => panic!("{what}: a malformed envelope was loaded"),
    }
    assert!(
        matches!(
            runtime::derive_signature(format, bytes),
            Err(RuntimeError::InvalidArtifact { .. })
        ),
        "{what}"
    );
}

/// One way to break an envelope's JSON.
type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;

fn edited(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut json: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    edit(&mut json);
    serde_json::to_vec(&json).unwrap()
}

#[test]
fn corrupted_linear_envelopes_are_invalid_artifacts() {
    let trained = train::train_linear(
        &diabetes(),
        &LinearOptions {
            alpha: 0.1,
            ..LinearOptions::default()
        },
    )
    .unwrap();
    let good = &trained.artifact;
    for cut in [0, 1, good.len() / 3, good.len() / 2, good.len() - 1] {
        assert_refused(LINFA_LINEAR, &good[..cut], &format!("truncated at {cut}"));
    }
    let cases: Vec<(&str, Edit)> = vec![
        ("version 2", Box::new(|j| j["capstan_envelope"] = 2.into())),
        ("two targets", Box::new(|j| j["targets"] = 2.into())),
        ("unknown kind", Box::new(|j| j["kind"] = "ridge_ish".into())),
        ("extra field", Box::new(|j| j["weights"] = 1.into())),
        (
            "one coefficient short",
            Box::new(|j| {
                j["model"]["coefficients"].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "a coefficient that is text",
            Box::new(|j| j["model"]["coefficients"][0] = "1".into()),
        ),
        (
            "no intercept",
            Box::new(|j| j["model"]["intercept"] = serde_json::Value::Null),
        ),
        (
            "zero scale",
            Box::new(|j| j["standardization"]["scale"][3] = 0.0.into()),
        ),
        (
            "short mean",
            Box::new(|j| {
                j["standardization"]["mean"].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "no features",
            Box::new(|j| j["feature_names"] = serde_json::json!([])),
        ),
    ];
    for (what, edit) in cases {
        assert_refused(LINFA_LINEAR, &edited(good, edit), what);
    }
    // A float too large for an f64 is refused while parsing, not served as infinity.
    let text = String::from_utf8(good.clone()).unwrap();
    let huge = text.replacen("\"intercept\":", "\"intercept\":1e999999,\"x\":", 1);
    assert_refused(LINFA_LINEAR, huge.as_bytes(), "infinite intercept");
}

#[test]
fn a_tree_classifies_breast_cancer_with_leaf_frequencies() {
    let trained = train::train_tree_csv(breast_cancer(), &TreeOptions::default()).unwrap();
    assert_eq!(trained.format, LINFA_TREE);
    let names: Vec<&str> = trained.metrics.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["accuracy", "precision", "recall", "roc_auc"]);
    let accuracy = metric(&trained.metrics, "accuracy");
    assert!(accuracy >= 0.9, "held-out accuracy {accuracy}");
    assert_eq!(trained.signature.classes, Some(ints(&[0, 1])));
    assert_eq!(
        runtime::derive_signature(LINFA_TREE, &trained.artifact).unwrap(),
        trained.signature
    );
    let envelope = TreeEnvelope::from_bytes(&trained.artifact).unwrap();
    assert_eq!(envelope.to_bytes().unwrap(), trained.artifact);
    let leaves: f64 = envelope
        .nodes()
        .iter()
        .filter_map(|node| match node {
            TreeNode::Leaf { counts } => Some(counts.iter().sum::<f64>()),
            TreeNode::Split { .. } => None,
        })
        .sum();
    assert_eq!(
        leaves, trained.train_rows as f64,
        "every training row in one leaf"
    );

    let predictor = runtime::load(LINFA_TREE, &trained.artifact, None).unwrap();
    let rows = rows_of_csv(BREAST_CANCER);
    let prediction = classify(&*predictor, rows.view());
    for row in &prediction.probabilities {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{row:?}");
        assert!(row.iter().all(|p| (0.0..=1.0).contains(p)));
    }

    // A shallow tree has impure leaves: probabilities strictly between 0 and 1.
    let shallow = train::train_tree_csv(
        breast_cancer(),
        &TreeOptions {
            max_depth: Some(2),
            split_quality: SplitQuality::Entropy,
            ..TreeOptions::default()
        },
    )
    .unwrap();
    let shallow_envelope = TreeEnvelope::from_bytes(&shallow.artifact).unwrap();
    assert!(shallow_envelope.nodes().len() <= 7);
    let probabilities = shallow_envelope.predict_probabilities(rows.view());
    assert!(probabilities.iter().any(|p| *p > 0.0 && *p < 1.0));
    assert!(
        metric(&shallow.metrics, "accuracy") >= 0.85,
        "{:?}",
        shallow.metrics
    );
}

#[test]
fn malformed_trees_are_invalid_artifacts() {
    let trained = train::train_tree_csv(
        breast_cancer(),
        &TreeOptions {
            max_depth: Some(3),
            ..TreeOptions::default()
        },
    )
    .unwrap();
    let good = &trained.artifact;
    for cut in [0, good.len() / 2, good.len() - 1] {
        assert_refused(LINFA_TREE, &good[..cut], &format!("truncated at {cut}"));
    }
    assert!(matches!(
        TreeEnvelope::from_bytes(good).unwrap().nodes()[0],
        TreeNode::Split { left: 1, .. }
    ));
    let cases: Vec<(&str, Edit)> = vec![
        (
            "child out of range",
            Box::new(|j| j["nodes"][0]["split"]["left"] = 10_000.into()),
        ),
        (
            "a cycle to the root",
            Box::new(|j| j["nodes"][0]["split"]["right"] = 0.into()),
        ),
        (
            "a cycle below the root",
            Box::new(|j| {
                let split = inner_split_index(j);
                j["nodes"][split]["split"]["left"] = split.into();
            }),
        ),
        (
            "a shared subtree",
            Box::new(|j| {
                let left = j["nodes"][0]["split"]["left"].clone();
                j["nodes"][0]["split"]["right"] = left;
            }),
        ),
        (
            "feature out of range",
            Box::new(|j| j["nodes"][0]["split"]["feature"] = 30.into()),
        ),
        (
            "NaN threshold",
            Box::new(|j| j["nodes"][0]["split"]["threshold"] = serde_json::Value::Null),
        ),
        (
            "an unreachable node",
            Box::new(|j| {
                j["nodes"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({"leaf": {"counts": [1.0, 0.0]}}));
            }),
        ),
        ("no nodes", Box::new(|j| j["nodes"] = serde_json::json!([]))),
        (
            "a leaf with one count",
            Box::new(|j| {
                let leaf = leaf_index(j);
                j["nodes"][leaf]["leaf"]["counts"] = serde_json::json!([3.0]);
            }),
        ),
        (
            "a leaf with no rows",
            Box::new(|j| {
                let leaf = leaf_index(j);
                j["nodes"][leaf]["leaf"]["counts"] = serde_json::json!([0.0, 0.0]);
            }),
        ),
        (
            "a negative count",
            Box::new(|j| {
                let leaf = leaf_index(j);
                j["nodes"][leaf]["leaf"]["counts"] = serde_json::json!([-1.0, 5.0]);
            }),
        ),
        (
            "one class",
            Box::new(|j| j["classes"] = serde_json::json!([0])),
        ),
        (
            "a regression tree",
            Box::new(|j| j["kind"] = "regressor".into()),
        ),
    ];
    for (what, edit) in cases {
        let bytes = edited(good, edit);
        assert_refused(LINFA_TREE, &bytes, what);
        let reason = TreeEnvelope::from_bytes(&bytes).unwrap_err().to_string();
        let parse_error = reason.contains("not a Capstan linfa-tree envelope");
        let expect_parse_error = ["NaN threshold", "a regression tree"].contains(&what);
        assert_eq!(parse_error, expect_parse_error, "{what}: {reason}");
    }
}

fn inner_split_index(envelope: &serde_json::Value) -> usize {
    envelope["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .position(|node| node.get("split").is_some())
        .unwrap()
        + 1
}

fn leaf_index(envelope: &serde_json::Value) -> usize {
    envelope["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .position(|node| node.get("leaf").is_some())
        .unwrap()
}

#[test]
fn a_hand_written_tree_routes_rows_by_threshold() {
    let nodes = vec![
        TreeNode::Split {
            feature: 1,
            threshold: 0.5,
            left: 1,
            right: 2,
        },
        TreeNode::Leaf {
            counts: vec![3.0, 1.0],
        },
        TreeNode::Leaf {
            counts: vec![0.0, 2.0],
        },
    ];
    let envelope = TreeEnvelope::new(nodes, vec!["a".into(), "b".into()], ints(&[7, 9])).unwrap();
    let predictor = runtime::load(LINFA_TREE, &envelope.to_bytes().unwrap(), None).unwrap();
    let rows = capstan_client::runtime::ndarray::array![[9.0, 0.5], [-9.0, 0.6]];
    let prediction = classify(&*predictor, rows.view());
    assert_eq!(prediction.predictions, ints(&[7, 9]));
    assert_eq!(prediction.probabilities, [vec![0.75, 0.25], vec![0.0, 1.0]]);
}
