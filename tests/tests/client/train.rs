//! `capstan train logistic`: trains on the breast-cancer table, prints its held-out
//! metrics, and registers the model with its signature and metrics.

use capstan_tests::spawn_app;

use crate::support::{breast_cancer_csv, capstan, train_bc};

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
