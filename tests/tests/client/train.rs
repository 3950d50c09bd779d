//! `capstan train logistic|linear|tree`: trains on the breast-cancer and diabetes tables,
//! prints the held-out metrics, registers the model with its signature and metrics, and
//! the registry serves what was registered.

use capstan_tests::example::workspace_root;
use capstan_tests::{spawn_app, TestApp};
use serde_json::json;

use crate::support::{breast_cancer_csv, capstan, first_row_features, train_bc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trains_breast_cancer_and_registers_it() {
    let app = spawn_app().await;
    let cache = tempfile::tempdir().unwrap();
    let trained = train_bc(&app, cache.path(), &[]).await.ok();
    let names: Vec<&str> = trained
        .stdout
        .lines()
        .filter_map(|line| line.split_once(": ").map(|(name, _)| name))
        .collect();
    assert_eq!(
        names,
        [
            "accuracy",
            "precision",
            "recall",
            "roc_auc",
            "registered",
            "digest"
        ],
        "{trained:#?}"
    );
    let accuracy: f64 = trained.field("accuracy").parse().unwrap();
    assert!(accuracy >= 0.93, "accuracy {accuracy}");
    assert_eq!(trained.field("registered"), "bc@1");

    let version = capstan(
        &app,
        cache.path(),
        &["versions", "show", "bc@1", "--output", "json"],
    )
    .await
    .ok()
    .json();
    assert_eq!(version["format"], "linfa-logistic");
    assert_eq!(version["signature"]["inputs"].as_array().unwrap().len(), 30);
    assert_eq!(version["signature"]["classes"], serde_json::json!([0, 1]));
    let stored = version["metrics"]["accuracy"].as_f64().unwrap();
    assert!(
        (stored - accuracy).abs() <= 0.0005,
        "printed {accuracy}, stored {stored}"
    );
    assert_eq!(version["params"]["seed"], 42);
    assert_eq!(version["digest"].as_str().unwrap(), trained.field("digest"));

    // The model exists now: a second run adds a version.
    let again = train_bc(&app, cache.path(), &["--l2", "0.1", "--output", "json"])
        .await
        .ok()
        .json();
    assert_eq!(again["version"]["version"], 2);
    assert!(
        again["metrics"]["accuracy"].as_f64().unwrap() >= 0.93,
        "{again}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_training_input_is_exit_code_2() {
    let app = spawn_app().await;
    let cache = tempfile::tempdir().unwrap();
    let csv = breast_cancer_csv().display().to_string();
    let no_column = capstan(
        &app,
        cache.path(),
        &["train", "logistic", "--csv", &csv, "--target", "label"],
    )
    .await;
    assert_eq!(no_column.code, 2, "{no_column:#?}");
    assert!(no_column.stderr.contains("label"), "{no_column:#?}");
    let no_file = capstan(
        &app,
        cache.path(),
        &[
            "train",
            "logistic",
            "--csv",
            "/no/such.csv",
            "--target",
            "t",
        ],
    )
    .await;
    assert_eq!(no_file.code, 2, "{no_file:#?}");
}

/// The first two rows of a table's features, as `instances` of a predict request.
fn instances(csv: &str, target_column: usize) -> serde_json::Value {
    let text = std::fs::read_to_string(workspace_root().join(csv)).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .take(2)
        .map(|line| {
            line.split(',')
                .enumerate()
                .filter(|(column, _)| *column != target_column)
                .map(|(_, value)| value.parse().unwrap())
                .collect()
        })
        .collect();
    json!(rows)
}

async fn predict(app: &TestApp, model: &str, instances: serde_json::Value) -> serde_json::Value {
    let (status, body) = app
        .post_json(
            &format!("/api/v1/models/{model}/versions/latest/predict"),
            &json!({ "instances": instances }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trains_a_linear_regression_on_diabetes_and_serves_values() {
    let app = spawn_app().await;
    let cache = tempfile::tempdir().unwrap();
    let csv = workspace_root().join("tests/data/diabetes.csv");
    let csv = csv.display().to_string();
    let args = [
        "train",
        "linear",
        "--csv",
        &csv,
        "--target",
        "target",
        "--register",
        "diabetes",
        "--output",
        "json",
    ];
    let trained = capstan(&app, cache.path(), &args).await.ok().json();
    assert_eq!(trained["format"], "linfa-linear", "{trained}");
    assert_eq!(trained["version"]["version"], 1, "{trained}");

    let version = capstan(
        &app,
        cache.path(),
        &["versions", "show", "diabetes@1", "--output", "json"],
    )
    .await
    .ok()
    .json();
    assert_eq!(version["format"], "linfa-linear");
    assert_eq!(version["signature"]["targets"], 1, "{version}");
    assert!(version["signature"].get("classes").is_none(), "{version}");
    assert_eq!(version["signature"]["inputs"][2]["name"], "bmi");
    let metric = |name: &str| version["metrics"][name].as_f64().unwrap();
    let (r2, mae, rmse) = (metric("r2"), metric("mae"), metric("rmse"));
    assert!(r2 > 0.4 && r2 < 0.7, "r2 {r2}");
    assert!(
        mae > 20.0 && mae <= rmse && rmse < 70.0,
        "mae {mae}, rmse {rmse}"
    );
    assert_eq!(r2, trained["metrics"]["r2"].as_f64().unwrap());
    assert_eq!(version["params"]["alpha"], 0.0);
    assert_eq!(version["source"], "capstan train linear --csv diabetes.csv");

    let body = predict(&app, "diabetes", instances("tests/data/diabetes.csv", 10)).await;
    let predictions = body["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 2, "{body}");
    // The first two patients' targets are 151 and 75; a fit explaining half the variance
    // lands in the right region, in the target's unit.
    for prediction in predictions {
        let value = prediction.as_f64().unwrap_or_else(|| panic!("{body}"));
        assert!((25.0..350.0).contains(&value), "{body}");
    }
    assert!(body.get("probabilities").is_none(), "{body}");
    assert!(body.get("classes").is_none(), "{body}");

    // An elastic net is the same format, a second version.
    let args = [
        "train",
        "linear",
        "--csv",
        &csv,
        "--target",
        "target",
        "--register",
        "diabetes",
        "--alpha",
        "0.5",
        "--l1-ratio",
        "0.9",
    ];
    let again = capstan(&app, cache.path(), &args).await.ok();
    assert_eq!(again.field("registered"), "diabetes@2", "{again:#?}");
    assert!(
        again.field("r2").parse::<f64>().unwrap() > 0.3,
        "{again:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trains_a_tree_on_breast_cancer_and_serves_labels_with_probabilities() {
    let app = spawn_app().await;
    let cache = tempfile::tempdir().unwrap();
    let csv = breast_cancer_csv().display().to_string();
    let args = [
        "train",
        "tree",
        "--csv",
        &csv,
        "--target",
        "target",
        "--register",
        "bc-tree",
        "--max-depth",
        "5",
        "--split-quality",
        "entropy",
    ];
    let trained = capstan(&app, cache.path(), &args).await.ok();
    let accuracy: f64 = trained.field("accuracy").parse().unwrap();
    assert!(accuracy >= 0.9, "{trained:#?}");
    assert_eq!(trained.field("registered"), "bc-tree@1");

    let version = capstan(
        &app,
        cache.path(),
        &["versions", "show", "bc-tree@1", "--output", "json"],
    )
    .await
    .ok()
    .json();
    assert_eq!(version["format"], "linfa-tree");
    assert_eq!(version["signature"]["classes"], json!([0, 1]));
    for name in ["accuracy", "precision", "recall", "roc_auc"] {
        let value = version["metrics"][name].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&value), "{name} {value}");
    }
    assert_eq!(version["params"]["max_depth"], 5);
    assert_eq!(version["params"]["split_quality"], "entropy");

    let row: Vec<f64> = first_row_features()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    let body = predict(&app, "bc-tree", json!([row])).await;
    // The first row is malignant (0), and deep in its class.
    assert_eq!(body["predictions"], json!([0]), "{body}");
    let probabilities = body["probabilities"][0].as_array().unwrap();
    let sum: f64 = probabilities.iter().map(|p| p.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-9, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_linear_and_tree_options_are_exit_code_2() {
    let app = spawn_app().await;
    let cache = tempfile::tempdir().unwrap();
    let csv = breast_cancer_csv().display().to_string();
    let negative_alpha = capstan(
        &app,
        cache.path(),
        &[
            "train",
            "linear",
            "--csv",
            &csv,
            "--target",
            "target",
            "--alpha=-1",
        ],
    )
    .await;
    assert_eq!(negative_alpha.code, 2, "{negative_alpha:#?}");
    assert!(
        negative_alpha.stderr.contains("alpha"),
        "{negative_alpha:#?}"
    );
    let text_target = capstan(
        &app,
        cache.path(),
        &[
            "train",
            "linear",
            "--csv",
            &csv,
            "--target",
            "mean_radius",
            "--l1-ratio",
            "2",
        ],
    )
    .await;
    assert_eq!(text_target.code, 2, "{text_target:#?}");
    let no_depth = capstan(
        &app,
        cache.path(),
        &[
            "train",
            "tree",
            "--csv",
            &csv,
            "--target",
            "target",
            "--max-depth",
            "0",
        ],
    )
    .await;
    assert_eq!(no_depth.code, 2, "{no_depth:#?}");
}
