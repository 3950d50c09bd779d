//! With `--auth`, the MLflow routes pass the same gate as Capstan's: no token is `401
//! UNAUTHENTICATED` (MLflow's shape, `WWW-Authenticate: Bearer`), a reader may read and
//! search but not write, roles apply under both prefixes, and a token limited to some
//! models sees no other model through MLflow either.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use capstan_tests::{client_with, spawn_with_auth};

use super::{assert_mlflow_error, call_on};

#[tokio::test]
async fn mlflow_routes_need_a_token_with_the_role() {
    let app = spawn_with_auth(Duration::ZERO).await;
    app.create_model("bc").await;
    app.create_model("fraud").await;
    let v1 = app.upload("bc", b"1").await;
    let reader = app.create_token("reader", "reader", None).await;
    let editor = app.create_token("editor", "editor", None).await;
    let promoter = app.create_token("promoter", "promoter", None).await;
    let scoped = app.create_token("bc-only", "admin", Some(&["bc"])).await;
    let nobody = client_with(None);
    let as_reader = client_with(Some(&reader));
    let as_editor = client_with(Some(&editor));
    let as_promoter = client_with(Some(&promoter));
    let as_scoped = client_with(Some(&scoped));

    for prefix in ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"] {
        let response = nobody
            .get(app.url(&format!("{prefix}/registered-models/get?name=bc")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
        assert_eq!(
            response.headers()["www-authenticate"].to_str().unwrap(),
            r#"Bearer realm="capstan""#
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_mlflow_error(401, &body, 401, "UNAUTHENTICATED");

        let (status, body) = call_on(
            &app,
            &client_with(Some("capstan_not-a-token")),
            prefix,
            Method::GET,
            "registered-models/search",
            &json!({}),
        )
        .await;
        assert_mlflow_error(status, &body, 401, "UNAUTHENTICATED");

        let (status, found) = call_on(
            &app,
            &as_reader,
            prefix,
            Method::GET,
            "registered-models/search",
            &json!({}),
        )
        .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["registered_models"].as_array().unwrap().len(), 2);

        let (status, body) = call_on(
            &app,
            &as_reader,
            prefix,
            Method::POST,
            "registered-models/create",
            &json!({"name": "new-model"}),
        )
        .await;
        assert_mlflow_error(status, &body, 403, "PERMISSION_DENIED");

        // An editor writes metadata but does not move stages; a promoter does.
        let (status, body) = call_on(
            &app,
            &as_editor,
            prefix,
            Method::POST,
            "model-versions/transition-stage",
            &json!({"name": "bc", "version": v1.to_string(), "stage": "Staging"}),
        )
        .await;
        assert_mlflow_error(status, &body, 403, "PERMISSION_DENIED");
        let (status, body) = call_on(
            &app,
            &as_promoter,
            prefix,
            Method::POST,
            "model-versions/transition-stage",
            &json!({"name": "bc", "version": v1.to_string(), "stage": "Staging"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        // …and not delete a model (admin).
        let (status, body) = call_on(
            &app,
            &as_promoter,
            prefix,
            Method::DELETE,
            "registered-models/delete",
            &json!({"name": "fraud"}),
        )
        .await;
        assert_mlflow_error(status, &body, 403, "PERMISSION_DENIED");

        // A token limited to `bc` sees no other model.
        let (status, found) = call_on(
            &app,
            &as_scoped,
            prefix,
            Method::GET,
            "registered-models/search",
            &json!({}),
        )
        .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["registered_models"][0]["name"], "bc");
        assert_eq!(found["registered_models"].as_array().unwrap().len(), 1);
        let (status, body) = call_on(
            &app,
            &as_scoped,
            prefix,
            Method::GET,
            "registered-models/get",
            &json!({"name": "fraud"}),
        )
        .await;
        assert_mlflow_error(status, &body, 404, "RESOURCE_DOES_NOT_EXIST");
    }
    let (status, _) = call_on(
        &app,
        &as_editor,
        "/api/2.0/mlflow",
        Method::POST,
        "registered-models/create",
        &json!({"name": "new-model"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, events) = app
        .get_json("/api/v1/events?model=new-model&kind=model_created")
        .await;
    assert_eq!(events["events"][0]["actor"], "editor");
}
