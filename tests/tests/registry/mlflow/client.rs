//! The unmodified `mlflow` Python client (`tests/python/mlflow_registry_client.py`)
//! against Capstan with authentication on (`MLFLOW_TRACKING_TOKEN`): what it sees, and
//! the same state through Capstan's own API and event log.

use std::time::Duration;

use serde_json::{json, Value};

use capstan_tests::spawn_with_auth;

use super::event_kinds;

#[tokio::test]
async fn the_unmodified_mlflow_client_works() {
    let importable = std::process::Command::new("python3")
        .args(["-c", "import mlflow"])
        .status()
        .is_ok_and(|s| s.success());
    if !importable {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install mlflow (see .ci/run)"
        );
        eprintln!(
            "mlflow is not installed: skipping the MLflow client test (pip install mlflow==3.17.2)"
        );
        return;
    }
    let app = spawn_with_auth(Duration::from_secs(1)).await;
    app.create_model("bc").await;
    let v1 = app.upload("bc", b"1").await;
    let v2 = app.upload("bc", b"2").await;
    assert_eq!((v1, v2), (1, 2));

    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/mlflow_registry_client.py");
    let base = app.base.clone();
    let token = app.admin_token.clone().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .arg(&base)
            .env("MLFLOW_TRACKING_TOKEN", token)
            .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(
        report["created"],
        json!({"name": "churn", "tags": {"team": "risk"}, "description": "churn model"})
    );
    assert_eq!(report["search_like"], json!(["churn"]));
    assert_eq!(report["search_tag"], json!(["churn"]));
    assert_eq!(report["search_all"], json!(["churn", "bc"]));
    assert_eq!(report["first_page"], json!(["bc"]));
    assert_eq!(report["second_page"], json!(["churn"]));
    assert_eq!(
        report["updated"],
        json!({"description": "new words", "tags": {"owner": "ana"}})
    );
    assert_eq!(report["renamed"], "churn-v2");
    assert_eq!(report["deleted_get"], "RESOURCE_DOES_NOT_EXIST");
    assert_eq!(report["bad_name"], "INVALID_PARAMETER_VALUE");
    assert_eq!(report["exists"], "RESOURCE_ALREADY_EXISTS");
    assert_eq!(report["by_alias"], "1");
    assert_eq!(
        report["stages"],
        json!({"1": "Production", "2": "Archived"})
    );
    assert_eq!(report["latest_production"], json!(["1"]));
    // Capstan's stages show as MLflow aliases too (`models:/churn@production`).
    assert_eq!(
        report["v1"],
        json!({"description": "the good one", "tags": {"validated": "yes"},
               "aliases": ["production", "champion"], "status": "READY", "stage": "Production"})
    );
    assert_eq!(
        report["searched_versions"],
        json!([["bc", "2"], ["bc", "1"]])
    );
    assert_eq!(
        report["download_uri"],
        format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/models/bc/versions/1",
            app.base
        )
    );
    assert_eq!(report["alias_gone"], "RESOURCE_DOES_NOT_EXIST");
    assert_eq!(report["missing_version"], "RESOURCE_DOES_NOT_EXIST");

    // Capstan's own API sees what the client did, and the event log has it.
    let (_, bc) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(bc["stages"], json!({"staging": null, "production": 1}));
    assert_eq!(bc["aliases"], json!({}));
    let (_, own_v1) = app.get_json("/api/v1/models/bc/versions/1").await;
    assert_eq!(own_v1["description"], "the good one");
    assert_eq!(own_v1["tags"], json!(["validated=yes"]));
    let (_, own_v2) = app.get_json("/api/v1/models/bc/versions/2").await;
    assert!(own_v2["archived_at"].is_string(), "{own_v2}");
    for name in ["churn", "churn-v2"] {
        let (status, _) = app.get_json(&format!("/api/v1/models/{name}")).await;
        assert_eq!(status, 404, "{name}");
    }
    assert_eq!(
        event_kinds(&app, "churn-v2").await,
        ["model_renamed", "model_deleted"]
    );
    let kinds = event_kinds(&app, "bc").await;
    for kind in [
        "alias_set",
        "alias_removed",
        "stage_changed",
        "version_archived",
        "version_updated",
    ] {
        assert!(kinds.contains(&kind.to_owned()), "{kind} in {kinds:?}");
    }
    let (_, events) = app.get_json("/api/v1/events?model=bc&kind=alias_set").await;
    assert_eq!(events["events"][0]["actor"], "admin");
}
