//! `capstan import mlflow` (the built binary) from a real `mlflow server` filled by the
//! unmodified `mlflow` client (`tests/python/mlflow_populate.py`) into a real registry:
//! what is copied (numbers with their gap, metadata, run metrics and params, stages,
//! archived, aliases, the files byte for byte), what is refused and why (a name Capstan
//! cannot hold, a second version in Production, an alias of an archived version), exit
//! codes, a dry run and a second run that change nothing, `--rename`, a version Capstan
//! holds with other files left alone, and the imported ONNX model served by Capstan with
//! the predictions MLflow's own `pyfunc` gives.

use capstan_tests::mlflow::{python_ready, MlflowServer};
use capstan_tests::{spawn_app, TestApp};
use serde_json::{json, Value};

use crate::support::{capstan, Run};

/// The report's outcomes of `status`, as `(model, item)`.
fn items(report: &Value, status: &str) -> Vec<(String, String)> {
    report["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["status"] == status)
        .map(|o| {
            (
                o["model"].as_str().unwrap().to_owned(),
                o["item"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn detail<'a>(report: &'a Value, model: &str, item: &str) -> &'a str {
    report["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["model"] == model && o["item"] == item)
        .and_then(|o| o["detail"].as_str())
        .unwrap_or_else(|| panic!("no outcome for {model} {item}: {report:#}"))
}

async fn import(app: &TestApp, uri: &str, extra: &[&str]) -> Run {
    let cache = tempfile::tempdir().unwrap();
    let mut args = vec!["import", "mlflow", "--tracking-uri", uri];
    args.extend_from_slice(extra);
    capstan(app, cache.path(), &args).await
}

/// What MLflow refuses to let Capstan copy of the populated registry, every run.
fn expected_refusals() -> Vec<(String, String)> {
    [
        ("Breast Cancer", "model"),
        ("bc", "version 2 in Production"),
        ("bc", "alias old"),
    ]
    .iter()
    .map(|(m, i)| (m.to_string(), i.to_string()))
    .collect()
}

fn sorted(mut items: Vec<(String, String)>) -> Vec<(String, String)> {
    items.sort();
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_mlflow_copies_a_registry_resumably_and_serves_what_pyfunc_predicts() {
    if !python_ready("import_mlflow") {
        return;
    }
    let (mlflow, app) = tokio::join!(MlflowServer::start(), spawn_app());
    let populated = mlflow.populate().await;
    let uri = mlflow.uri.clone();
    let uri = uri.as_str();

    // A dry run plans everything and changes nothing; the refused name already fails it.
    let dry = import(&app, uri, &["--dry-run", "--output", "json"]).await;
    assert_eq!(dry.code, 1, "{dry:#?}");
    let plan = dry.json();
    assert_eq!(plan["dry_run"], true);
    let planned = items(&plan, "planned");
    for item in ["model", "version 1", "version 2", "version 4", "version 5"] {
        assert!(
            planned.contains(&("bc".into(), item.into())),
            "{item} not planned: {plan:#}"
        );
    }
    assert!(!planned.contains(&("bc".into(), "version 3".into())));
    assert_eq!(
        sorted(items(&plan, "not_copied")),
        sorted(expected_refusals())
    );
    assert_eq!(app.get_json("/api/v1/models/bc").await.0, 404, "dry run");
    assert_eq!(app.count_rows("events"), 0, "a dry run writes nothing");

    // The import.
    let run = import(&app, uri, &["--output", "json"]).await;
    assert_eq!(run.code, 1, "a name was refused: {run:#?}");
    assert!(
        run.stderr.contains("could not be copied") || run.stderr.contains("not be copied"),
        "{run:#?}"
    );
    let report = run.json();
    assert_eq!(
        sorted(items(&report, "not_copied")),
        sorted(expected_refusals())
    );
    let refusal = detail(&report, "Breast Cancer", "model");
    assert!(
        refusal.contains("--rename 'Breast Cancer=NEW'"),
        "{refusal}"
    );
    assert!(detail(&report, "bc", "version 2 in Production").contains("the highest, 4"));
    assert!(detail(&report, "bc", "alias old").contains("archived"));
    let copied = items(&report, "copied");
    for item in [
        "model",
        "version 1",
        "version 2",
        "version 4",
        "version 5",
        "stage production",
        "stage staging",
        "archive version 1",
        "alias champion",
    ] {
        assert!(
            copied.contains(&("bc".into(), item.into())),
            "{item}: {report:#}"
        );
    }
    check_copied_state(&app, &populated).await;
    check_files_are_mlflows(&app, uri).await;
    check_predictions(&app, &populated).await;

    // A second run copies nothing (and compares every version's files).
    let events = app.count_rows("events");
    let again = import(&app, uri, &["--output", "json"]).await;
    assert_eq!(again.code, 1, "{again:#?}");
    let report = again.json();
    assert_eq!(report["summary"]["copied"], 0, "{report:#}");
    assert_eq!(
        sorted(items(&report, "not_copied")),
        sorted(expected_refusals())
    );
    for item in [
        "version 1",
        "version 2",
        "version 4",
        "version 5",
        "stage production",
        "alias champion",
    ] {
        assert!(
            items(&report, "unchanged").contains(&("bc".into(), item.into())),
            "{item}: {report:#}"
        );
    }
    assert!(detail(&report, "bc", "version 4").contains("same 5 files"));
    let dry = import(&app, uri, &["--dry-run"]).await;
    assert_eq!(dry.code, 1, "{dry:#?}");
    assert!(dry.stdout.contains("dry run, nothing changed"), "{dry:#?}");
    assert_eq!(app.count_rows("events"), events, "nothing was written");

    // --rename imports the refused model; all of it copied: exit 0. Its one version is
    // the logged model bc@5 came from: equal files, stored once, so none is sent.
    let renamed = import(
        &app,
        uri,
        &[
            "--model",
            "Breast Cancer",
            "--rename",
            "Breast Cancer=breast-cancer",
        ],
    )
    .await;
    assert_eq!(renamed.code, 0, "{renamed:#?}");
    assert!(
        renamed.stdout.contains("Breast Cancer → breast-cancer"),
        "{renamed:#?}"
    );
    assert!(renamed.stdout.contains("0 sent"), "{renamed:#?}");
    let (_, imported) = app
        .get_json("/api/v1/models/breast-cancer/versions/1")
        .await;
    let (_, bc5) = app.get_json("/api/v1/models/bc/versions/5").await;
    assert_eq!(imported["digest"], bc5["digest"]);

    // An import cut off after creating the version (pending, with MLflow's manifest) is
    // finished by the next run.
    app.create_model("cut").await;
    let manifest: Value = app
        .get("/api/v1/models/bc/versions/5/manifest")
        .await
        .json()
        .await
        .unwrap();
    let (status, pending) = app
        .post_json(
            "/api/v1/models/cut/versions",
            &json!({"format": "mlflow", "manifest": manifest, "version": 1}),
        )
        .await;
    assert_eq!(status, 201, "{pending}");
    assert_eq!(pending["status"], "pending");
    let resumed = import(
        &app,
        uri,
        &[
            "--model",
            "Breast Cancer",
            "--rename",
            "Breast Cancer=cut",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(resumed.code, 0, "{resumed:#?}");
    let report = resumed.json();
    assert!(detail(&report, "Breast Cancer", "version 1").contains("finished the pending version"));
    let (_, finished) = app.get_json("/api/v1/models/cut/versions/1").await;
    assert_eq!(finished["status"], "ready", "{finished}");
    assert_eq!(finished["digest"], bc5["digest"]);

    // A version Capstan holds with other files is reported and left alone.
    app.create_model("other").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.txt"), b"not the MLflow model").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().display().to_string();
    capstan(&app, cache.path(), &["push", &dir_arg, "--model", "other"])
        .await
        .ok();
    let (_, before) = app.get_json("/api/v1/models/other/versions/1").await;
    let clash = import(
        &app,
        uri,
        &[
            "--model",
            "Breast Cancer",
            "--rename",
            "Breast Cancer=other",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(clash.code, 1, "{clash:#?}");
    let report = clash.json();
    assert_eq!(
        items(&report, "not_copied"),
        [("Breast Cancer".to_owned(), "version 1".to_owned())]
    );
    assert!(detail(&report, "Breast Cancer", "version 1").contains("other files"));
    let (_, after) = app.get_json("/api/v1/models/other/versions/1").await;
    assert_eq!(before["digest"], after["digest"], "not overwritten");

    // A version registered from an http(s) URL of this server's artifact proxy.
    crate::mlflow_sources::register_from_another_servers_proxy(&app, &mlflow, &populated).await;

    // MLflow unreachable: exit 5 (unavailable), nothing reported as copied.
    drop(mlflow);
    let gone = import(&app, uri, &[]).await;
    assert_eq!(gone.code, 5, "{gone:#?}");
}

/// Capstan's `bc` after the import: numbers with the gap, metadata, metrics, params,
/// stages, archived, aliases.
async fn check_copied_state(app: &TestApp, populated: &Value) {
    let (status, model) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(status, 200, "{model}");
    assert_eq!(model["description"], "breast cancer classifier");
    assert_eq!(model["tags"], json!(["dataset=breast-cancer", "team=ml"]));
    assert_eq!(model["stages"], json!({"staging": 5, "production": 4}));
    assert_eq!(model["aliases"], json!({"champion": 4}));
    let (_, page) = app.get_json("/api/v1/models/bc/versions").await;
    let versions = page["versions"].as_array().unwrap();
    let numbers: Vec<i64> = versions
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        [5, 4, 2, 1],
        "numbers kept, 3 (deleted in MLflow) skipped"
    );
    for version in versions {
        let number = version["version"].to_string();
        let expected = &populated["versions"][&number];
        assert_eq!(version["status"], "ready", "{version}");
        assert_eq!(version["layout"], "tree");
        assert_eq!(version["format"], "mlflow");
        assert_eq!(version["files"], 5, "{version}");
        assert_eq!(version["servable"], true, "{version}");
        assert_eq!(version["served_file"]["path"], "model.onnx");
        assert_eq!(version["description"], expected["description"]);
        assert_eq!(version["source"], expected["source"]);
        let tags = version["tags"].as_array().unwrap();
        let regularisation = format!(
            "regularisation={}",
            expected["tags"]["regularisation"].as_str().unwrap()
        );
        assert!(tags.contains(&json!(regularisation)), "{version}");
        let run = format!("mlflow.run_id={}", expected["run_id"].as_str().unwrap());
        assert!(tags.contains(&json!(run)), "{version}");
        for (name, value) in expected["metrics"].as_object().unwrap() {
            let copied = version["metrics"][name].as_f64().unwrap();
            assert!(
                (copied - value.as_f64().unwrap()).abs() < 1e-12,
                "{name}: {version}"
            );
        }
        assert_eq!(version["params"], expected["params"], "{version}");
        let archived = !version["archived_at"].is_null();
        assert_eq!(
            archived,
            number == "1",
            "only version 1 is archived: {version}"
        );
    }
}

/// The ONNX file Capstan serves for bc@4 is byte for byte the one MLflow's proxy gives.
async fn check_files_are_mlflows(app: &TestApp, uri: &str) {
    let http = reqwest::Client::new();
    let located: Value = http
        .get(format!(
            "{uri}/api/2.0/mlflow/model-versions/get-download-uri?name=bc&version=4"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = located["artifact_uri"]
        .as_str()
        .unwrap()
        .strip_prefix("mlflow-artifacts:/")
        .unwrap()
        .to_owned();
    let theirs = http
        .get(format!(
            "{uri}/api/2.0/mlflow-artifacts/artifacts/{path}/model.onnx"
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let ours = app
        .get("/api/v1/models/bc/versions/4/files/model.onnx")
        .await
        .bytes()
        .await
        .unwrap();
    assert!(!theirs.is_empty());
    assert_eq!(ours, theirs);
}

/// Capstan's predict endpoint on `bc@production` (version 4) answers what
/// `mlflow.pyfunc.load_model("models:/bc/4").predict` gave.
async fn check_predictions(app: &TestApp, populated: &Value) {
    check_predictions_of(app, populated, "bc", "production", 4).await;
}

/// Capstan's predict endpoint on `model@reference` (version `number`, holding MLflow's
/// bc/4) answers what `mlflow.pyfunc.load_model("models:/bc/4").predict` gave.
pub(crate) async fn check_predictions_of(
    app: &TestApp,
    populated: &Value,
    model: &str,
    reference: &str,
    number: i64,
) {
    let pyfunc = &populated["pyfunc"];
    assert_eq!(pyfunc["version"], 4);
    let (status, answer) = app
        .post_json(
            &format!("/api/v1/models/{model}/versions/{reference}/predict"),
            &json!({ "instances": populated["rows"] }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["model"]["version"], number);
    let labels: Vec<i64> = pyfunc["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_i64().unwrap())
        .collect();
    let predicted: Vec<i64> = answer["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_i64().or_else(|| l.as_str()?.parse().ok()).unwrap())
        .collect();
    assert_eq!(predicted, labels);
    assert!(
        labels.contains(&0) && labels.contains(&1),
        "both classes: {labels:?}"
    );
    let theirs = pyfunc["probabilities"].as_array().unwrap();
    let ours = answer["probabilities"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len());
    for (row, (a, b)) in ours.iter().zip(theirs).enumerate() {
        for (x, y) in a.as_array().unwrap().iter().zip(b.as_array().unwrap()) {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-5, "row {row}: Capstan {x}, pyfunc {y}");
        }
    }
}
