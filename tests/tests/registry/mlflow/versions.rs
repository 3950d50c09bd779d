//! `model-versions/*` and the latest versions: shapes, stage transitions (one version per
//! Capstan stage, `archive_existing_versions`), edits and deletes seen through both APIs
//! and in the event log, searches, the download URI.

use reqwest::Method;
use serde_json::{json, Value};

use capstan_tests::{spawn_app, TestApp};

use super::{assert_mlflow_error, call, event_kinds};

async fn version(app: &TestApp, name: &str, v: i64) -> Value {
    let (status, got) = call(
        app,
        Method::GET,
        "model-versions/get",
        &json!({"name": name, "version": v.to_string()}),
    )
    .await;
    assert_eq!(status, 200, "{got}");
    got["model_version"].clone()
}

async fn stage_of(app: &TestApp, name: &str, v: i64) -> String {
    version(app, name, v).await["current_stage"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn transition(app: &TestApp, v: i64, stage: &str, archive: bool) -> (u16, Value) {
    call(
        app,
        Method::POST,
        "model-versions/transition-stage",
        &json!({"name": "bc", "version": v.to_string(), "stage": stage,
                "archive_existing_versions": archive}),
    )
    .await
}

#[tokio::test]
async fn get_shows_a_capstan_version_as_mlflow_does() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let (status, created) = app
        .upload_with(
            "bc",
            &json!({"format": "opaque", "description": "first", "tags": ["team=risk"],
                    "source": "runs:/abc/model", "params": {"mlflow.run_id": "abc"}}),
            b"1".to_vec(),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let v = version(&app, "bc", 1).await;
    assert_eq!(v["name"], "bc");
    assert_eq!(v["version"], "1");
    assert_eq!(v["current_stage"], "None");
    assert_eq!(v["status"], "READY");
    assert_eq!(v["description"], "first");
    assert_eq!(v["source"], "runs:/abc/model");
    assert_eq!(v["run_id"], "abc");
    assert_eq!(v["user_id"], "anonymous");
    assert_eq!(v["tags"], json!([{"key": "team", "value": "risk"}]));
    assert!(v["creation_timestamp"].as_i64().unwrap() > 1_700_000_000_000);

    for (params, code, status) in [
        (
            json!({"name": "bc", "version": "7"}),
            "RESOURCE_DOES_NOT_EXIST",
            404,
        ),
        (
            json!({"name": "nope", "version": "1"}),
            "RESOURCE_DOES_NOT_EXIST",
            404,
        ),
        (
            json!({"name": "bc", "version": "one"}),
            "INVALID_PARAMETER_VALUE",
            400,
        ),
        (json!({"name": "bc"}), "INVALID_PARAMETER_VALUE", 400),
    ] {
        let (got, body) = call(&app, Method::GET, "model-versions/get", &params).await;
        assert_mlflow_error(got, &body, status, code);
    }

    let (status, uri) = call(
        &app,
        Method::GET,
        "model-versions/get-download-uri",
        &json!({"name": "bc", "version": "1"}),
    )
    .await;
    assert_eq!(status, 200, "{uri}");
    assert_eq!(
        uri["artifact_uri"],
        format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/models/bc/versions/1",
            app.base
        )
    );
}

#[tokio::test]
async fn create_from_a_source_capstan_cannot_read_is_refused() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let (status, body) = call(
        &app,
        Method::POST,
        "model-versions/create",
        &json!({"name": "bc", "source": "dbfs:/somewhere/model", "run_id": "r"}),
    )
    .await;
    assert_mlflow_error(status, &body, 400, "INVALID_PARAMETER_VALUE");
    let (_, versions) = app.get_json("/api/v1/models/bc/versions").await;
    assert_eq!(versions["versions"], json!([]));
}

#[tokio::test]
async fn stages_hold_one_version_and_archive_existing_archives_the_holder() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload("bc", b"1").await;
    let v2 = app.upload("bc", b"2").await;
    let v3 = app.upload("bc", b"3").await;

    let (status, moved) = transition(&app, v1, "Production", false).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["model_version"]["current_stage"], "Production");
    let (_, own) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(own["stages"]["production"], v1);

    // v2 takes production: v1 reads None (Capstan holds one version per stage).
    let (status, _) = transition(&app, v2, "production", false).await;
    assert_eq!(status, 200);
    assert_eq!(stage_of(&app, "bc", v1).await, "None");
    assert_eq!(stage_of(&app, "bc", v2).await, "Production");

    // v2 moves to Staging: it leaves production (a version is in one MLflow stage).
    let (status, _) = transition(&app, v2, "Staging", false).await;
    assert_eq!(status, 200);
    let (_, own) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(own["stages"], json!({"staging": v2, "production": null}));

    // With archive_existing_versions, the previous holder of the stage is archived.
    let (status, _) = transition(&app, v3, "Staging", true).await;
    assert_eq!(status, 200);
    assert_eq!(stage_of(&app, "bc", v2).await, "Archived");
    let (_, own_v2) = app
        .get_json(&format!("/api/v1/models/bc/versions/{v2}"))
        .await;
    assert!(own_v2["archived_at"].is_string(), "{own_v2}");

    // Archived takes the version out of its stage, then archives it; None only leaves.
    let (status, _) = transition(&app, v3, "Archived", false).await;
    assert_eq!(status, 200);
    let (_, own) = app.get_json("/api/v1/models/bc").await;
    assert_eq!(own["stages"], json!({"staging": null, "production": null}));
    assert_eq!(stage_of(&app, "bc", v3).await, "Archived");
    transition(&app, v1, "Staging", false).await;
    let (status, _) = transition(&app, v1, "None", false).await;
    assert_eq!(status, 200);
    assert_eq!(stage_of(&app, "bc", v1).await, "None");

    // Archived versions stay archived; unknown stages are refused.
    let (status, body) = transition(&app, v3, "Production", false).await;
    assert_mlflow_error(status, &body, 409, "RESOURCE_CONFLICT");
    let (status, body) = transition(&app, v1, "Prod", false).await;
    assert_mlflow_error(status, &body, 400, "INVALID_PARAMETER_VALUE");

    // Latest per stage, and filtered by stage.
    let (status, latest) = call(
        &app,
        Method::POST,
        "registered-models/get-latest-versions",
        &json!({"name": "bc"}),
    )
    .await;
    assert_eq!(status, 200, "{latest}");
    let stages: Vec<(String, String)> = latest["model_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["current_stage"].as_str().unwrap().to_owned(),
                v["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [("None".into(), "1".into()), ("Archived".into(), "3".into())]
    );
    let (_, archived) = call(
        &app,
        Method::GET,
        "registered-models/get-latest-versions",
        &json!({"name": "bc", "stages": ["Archived"]}),
    )
    .await;
    assert_eq!(archived["model_versions"].as_array().unwrap().len(), 1);

    // Every move is in the event log, as Capstan's own moves are.
    let (_, events) = app
        .get_json("/api/v1/events?model=bc&kind=stage_changed&limit=100")
        .await;
    let moves: Vec<(String, Value, Value)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["stage"].as_str().unwrap().to_owned(),
                e["from_version"].clone(),
                e["to_version"].clone(),
            )
        })
        .collect();
    assert_eq!(
        moves[..4],
        [
            ("production".into(), Value::Null, json!(v1)),
            ("production".into(), json!(v1), json!(v2)),
            ("production".into(), json!(v2), Value::Null),
            ("staging".into(), Value::Null, json!(v2)),
        ]
    );
    let kinds = event_kinds(&app, "bc").await;
    assert_eq!(kinds.iter().filter(|k| *k == "version_archived").count(), 2);
}

#[tokio::test]
async fn updates_tags_and_deletes_are_seen_through_both_apis() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let v1 = app.upload("bc", b"1").await;
    let v2 = app.upload("bc", b"2").await;

    let (status, updated) = call(
        &app,
        Method::PATCH,
        "model-versions/update",
        &json!({"name": "bc", "version": "1", "description": "tuned"}),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["model_version"]["description"], "tuned");
    let (_, own) = app.get_json("/api/v1/models/bc/versions/1").await;
    assert_eq!(own["description"], "tuned");

    let (status, _) = call(
        &app,
        Method::POST,
        "model-versions/set-tag",
        &json!({"name": "bc", "version": "1", "key": "validated", "value": "yes"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, own) = app.get_json("/api/v1/models/bc/versions/1").await;
    assert_eq!(own["tags"], json!(["validated=yes"]));

    // Through Capstan's API: PATCH a version; MLflow sees it.
    let (status, patched) = app
        .patch_json(
            "/api/v1/models/bc/versions/1",
            &json!({"tags": ["validated=no", "reviewed"]}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["description"], "tuned", "absent fields are kept");
    let v = version(&app, "bc", v1).await;
    let mut tags = v["tags"].as_array().unwrap().clone();
    tags.sort_by_key(|t| t["key"].as_str().unwrap().to_owned());
    assert_eq!(
        tags,
        [
            json!({"key": "reviewed", "value": ""}),
            json!({"key": "validated", "value": "no"})
        ]
    );
    let (status, _) = call(
        &app,
        Method::DELETE,
        "model-versions/delete-tag",
        &json!({"name": "bc", "version": "1", "key": "reviewed"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, own) = app.get_json("/api/v1/models/bc/versions/1").await;
    assert_eq!(own["tags"], json!(["validated=no"]));

    // A version holding a stage is not deleted; out of it, it is, through either API.
    app.promote("bc", "production", &json!({"version": v2}))
        .await;
    let (status, body) = call(
        &app,
        Method::DELETE,
        "model-versions/delete",
        &json!({"name": "bc", "version": "2"}),
    )
    .await;
    assert_mlflow_error(status, &body, 409, "RESOURCE_CONFLICT");
    let (status, _) = app.delete("/api/v1/models/bc/stages/production").await;
    assert_eq!(status, 204);
    assert_eq!(version(&app, "bc", v2).await["current_stage"], "None");
    let (status, body) = app.delete("/api/v1/models/bc/stages/production").await;
    capstan_tests::assert_problem(status, &body, 404, "stage_empty");
    let (status, _) = call(
        &app,
        Method::DELETE,
        "model-versions/delete",
        &json!({"name": "bc", "version": "2"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = app.get_json("/api/v1/models/bc/versions/2").await;
    assert_eq!(status, 404);
    let (status, _) = app.delete("/api/v1/models/bc/versions/1").await;
    assert_eq!(status, 204);
    let (status, body) = call(
        &app,
        Method::GET,
        "model-versions/get",
        &json!({"name": "bc", "version": "1"}),
    )
    .await;
    assert_mlflow_error(status, &body, 404, "RESOURCE_DOES_NOT_EXIST");
    // Numbers are never reused.
    assert_eq!(app.upload("bc", b"3").await, 3);

    let kinds = event_kinds(&app, "bc").await;
    for kind in ["version_updated", "version_deleted", "stage_changed"] {
        assert!(kinds.contains(&kind.to_owned()), "{kind} in {kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| *k == "version_deleted").count(), 2);
}

async fn search(app: &TestApp, params: Value) -> (Vec<String>, Option<String>) {
    let (status, found) = call(app, Method::GET, "model-versions/search", &params).await;
    assert_eq!(status, 200, "{params}: {found}");
    let found_versions = found["model_versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    format!(
                        "{}/{}",
                        v["name"].as_str().unwrap(),
                        v["version"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (
        found_versions,
        found["next_page_token"].as_str().map(str::to_owned),
    )
}

#[tokio::test]
async fn version_search_filters_orders_and_pages() {
    let app = spawn_app().await;
    for name in ["bc", "fraud"] {
        app.create_model(name).await;
    }
    app.upload_with(
        "bc",
        &json!({"format": "opaque", "params": {"mlflow.run_id": "r1"}}),
        b"1".to_vec(),
    )
    .await;
    app.upload("bc", b"2").await;
    app.upload("fraud", b"3").await;
    call(
        &app,
        Method::POST,
        "model-versions/set-tag",
        &json!({"name": "fraud", "version": "1", "key": "ok", "value": "1"}),
    )
    .await;

    let (all, _) = search(&app, json!({})).await;
    assert_eq!(all, ["bc/2", "bc/1", "fraud/1"]);
    let (found, _) = search(&app, json!({"filter": "name='bc'"})).await;
    assert_eq!(found, ["bc/2", "bc/1"]);
    let (found, _) = search(&app, json!({"filter": "run_id = 'r1'"})).await;
    assert_eq!(found, ["bc/1"]);
    let (found, _) = search(&app, json!({"filter": "tags.ok = '1'"})).await;
    assert_eq!(found, ["fraud/1"]);
    let (found, _) = search(
        &app,
        json!({"filter": "name = 'bc'", "order_by": ["version_number ASC"]}),
    )
    .await;
    assert_eq!(found, ["bc/1", "bc/2"]);
    let (page, token) = search(&app, json!({"max_results": "2"})).await;
    assert_eq!(page, ["bc/2", "bc/1"]);
    let (page, token) = search(
        &app,
        json!({"max_results": "2", "page_token": token.unwrap()}),
    )
    .await;
    assert_eq!((page, token), (vec!["fraud/1".to_owned()], None));
    let (status, body) = call(
        &app,
        Method::GET,
        "model-versions/search",
        &json!({"filter": "size = 3"}),
    )
    .await;
    assert_mlflow_error(status, &body, 400, "INVALID_PARAMETER_VALUE");
}
