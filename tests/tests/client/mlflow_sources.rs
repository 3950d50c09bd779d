//! MLflow's `create_model_version` (what `mlflow.register_model` calls) with an `http(s)`
//! URL of another MLflow server's artifact proxy as the source: refused, naming the
//! setting, by a registry not told of that server; read — every file downloaded into
//! the store, the version served — by one started with its origin in
//! `--mlflow-source-hosts`. Run inside the import test, on its populated server.

use capstan_registry::service::MlflowSources;
use capstan_tests::mlflow::MlflowServer;
use capstan_tests::{spawn_with, TestApp, TestOptions};
use serde_json::{json, Value};

use crate::mlflow::check_predictions_of;

/// Where MLflow keeps the files of `name`/`version`, under its proxy.
async fn proxy_path(uri: &str, name: &str, version: i64) -> String {
    let located: Value = reqwest::Client::new()
        .get(format!(
            "{uri}/api/2.0/mlflow/model-versions/get-download-uri?name={name}&version={version}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    located["artifact_uri"]
        .as_str()
        .and_then(|u| u.strip_prefix("mlflow-artifacts:/"))
        .unwrap_or_else(|| panic!("not behind the proxy: {located}"))
        .trim_start_matches('/')
        .to_owned()
}

async fn create_model(app: &TestApp, model: &str) {
    let (status, body) = app
        .post_json(
            "/api/2.0/mlflow/registered-models/create",
            &json!({ "name": model }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn create_version(app: &TestApp, model: &str, source: &str) -> (u16, Value) {
    app.post_json(
        "/api/2.0/mlflow/model-versions/create",
        &json!({"name": model, "source": source}),
    )
    .await
}

fn assert_refused(status: u16, body: &Value, says: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], "INVALID_PARAMETER_VALUE", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{says:?} not in {message:?}");
}

async fn version_count(app: &TestApp, model: &str) -> usize {
    let (status, page) = app
        .get_json(&format!("/api/v1/models/{model}/versions"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["versions"].as_array().unwrap().len()
}

/// `imported` holds MLflow's bc/4 (imported by `capstan import mlflow`) and does not know
/// `mlflow`'s origin.
pub(crate) async fn register_from_another_servers_proxy(
    imported: &TestApp,
    mlflow: &MlflowServer,
    populated: &Value,
) {
    let uri = mlflow.uri.as_str();
    let directory = proxy_path(uri, "bc", 4).await;
    let source = format!("{uri}/api/2.0/mlflow-artifacts/artifacts/{directory}");
    // Not told of the server: its URL would name Capstan's own proxy, where nothing is.
    create_model(imported, "remote").await;
    let (status, body) = create_version(imported, "remote", &source).await;
    assert_refused(status, &body, "--mlflow-source-hosts");
    assert_eq!(version_count(imported, "remote").await, 0);

    // Told of it (as `--mlflow-source-hosts`, written with its default-less origin).
    let sources = MlflowSources::new(&[format!("{uri}/")], None).unwrap();
    let app = spawn_with(TestOptions {
        mlflow_sources: Some(sources),
        ..TestOptions::default()
    })
    .await;
    create_model(&app, "remote").await;
    let (status, body) = create_version(&app, "remote", &source).await;
    assert_eq!(status, 200, "{body}\nmlflow log:\n{}", mlflow.log());
    let version = &body["model_version"];
    assert_eq!(version["version"], "1", "{body}");
    assert_eq!(version["status"], "READY", "{body}");
    assert_eq!(version["source"], source.as_str());

    // Every file, byte for byte: the same manifest the import built from the same files.
    let (_, ours) = app.get_json("/api/v1/models/remote/versions/1").await;
    let (_, theirs) = imported.get_json("/api/v1/models/bc/versions/4").await;
    assert_eq!(ours["layout"], "tree", "{ours}");
    assert_eq!(ours["digest"], theirs["digest"], "{ours}\n{theirs}");
    let manifest: Value = app
        .get("/api/v1/models/remote/versions/1/manifest")
        .await
        .json()
        .await
        .unwrap();
    let files = manifest["files"].as_array().unwrap();
    assert!(files.len() >= 2, "{manifest}");
    for file in files {
        let path = file["path"].as_str().unwrap();
        let mlflows = reqwest::get(format!("{source}/{path}"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let capstans = app
            .get(&format!("/api/v1/models/remote/versions/1/files/{path}"))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(capstans, mlflows, "{path}");
    }
    check_predictions_of(&app, populated, "remote", "1", 1).await;

    // What the server does not hold, or a path out of the directory: refused, nothing
    // created.
    let missing = format!("{uri}/api/2.0/mlflow-artifacts/artifacts/no/such/model");
    let (status, body) = create_version(&app, "remote", &missing).await;
    assert_refused(status, &body, "no files there");
    let escape = format!("{source}/%2e%2e/%2e%2e");
    let (status, body) = create_version(&app, "remote", &escape).await;
    assert_refused(status, &body, "..");
    let elsewhere = format!("{uri}/api/2.0/mlflow/registered-models/get");
    let (status, body) = create_version(&app, "remote", &elsewhere).await;
    assert_refused(status, &body, "artifact-proxy URL");
    assert_eq!(version_count(&app, "remote").await, 1);
}
