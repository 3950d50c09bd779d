use capstan_tests::{spawn_app, spawn_model_server};

/// The committed document must match the code; regenerate with
/// `cargo run -p capstan-registry -- openapi > openapi/openapi.json`.
#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = capstan_registry::api::openapi().to_pretty_json().unwrap();
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    ))
    .unwrap();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is stale: run `cargo run -p capstan-registry -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn document_covers_the_whole_api() {
    let api: serde_json::Value =
        serde_json::from_str(&capstan_registry::api::openapi().to_json().unwrap()).unwrap();
    let paths = api["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/readyz",
        "/api/v1/models",
        "/api/v1/models/{name}",
        "/api/v1/models/{name}/versions",
        "/api/v1/models/{name}/versions/{ref}",
        "/api/v1/models/{name}/versions/{ref}/artifact",
        "/api/v1/models/{name}/versions/{ref}/archive",
        "/api/v1/models/{name}/rename",
        "/api/v1/models/{name}/stages/{stage}",
        "/api/v1/models/{name}/stages/{stage}/rollback",
        "/api/v1/models/{name}/aliases/{alias}",
        "/api/v1/events",
        "/api/v1/events/stream",
        "/api/v1/models/{name}/versions/{ref}/predict",
        "/v2/models/{name}/infer",
        "/metrics",
        "/api/v1/datasets",
        "/api/v1/datasets/{id}",
        "/api/v1/datasets/{id}/content",
        "/api/v1/batch-jobs",
        "/api/v1/batch-jobs/{id}",
        "/api/v1/batch-jobs/{id}/cancel",
        "/api/v1/batch-jobs/{id}/approve",
        "/api/v1/batch-jobs/{id}/reject",
        "/api/v1/batch-jobs/{id}/output",
        "/api/v1/batch-jobs/{id}/predictions/{key}",
        "/api/v1/batch-schedules",
        "/api/v1/batch-schedules/{name}",
        "/api/v1/deployments",
        "/api/v1/deployments/{name}",
        "/api/v1/deployments/{name}/instances/{instance}",
        "/api/v1/models/{name}/predictions/{key}",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{id}",
        "/api/v1/webhooks/{id}/rotate-secret",
        "/api/v1/webhooks/{id}/deliveries",
        "/api/v1/tokens",
        "/api/v1/tokens/{name}",
        "/api/v1/whoami",
        "/api/v1/models/{name}/policy",
        "/api/v1/promotion-requests",
        "/api/v1/promotion-requests/{id}",
        "/api/v1/promotion-requests/{id}/approve",
        "/api/v1/promotion-requests/{id}/reject",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(api["components"]["schemas"]["Problem"].is_object());
    // The MLflow-compatible API is MLflow's, not Capstan's: it stays out of the document.
    assert!(
        !paths.keys().any(|p| p.contains("mlflow")),
        "MLflow routes leaked into the OpenAPI document"
    );
    let version = &paths["/api/v1/models/{name}/versions/{ref}"];
    assert!(version["patch"].is_object() && version["delete"].is_object());
    assert!(paths["/api/v1/models/{name}/stages/{stage}"]["delete"].is_object());
}

#[tokio::test]
async fn document_and_swagger_ui_are_served() {
    let app = spawn_app().await;
    let (status, served) = app.get_json("/api-docs/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(served["info"]["title"], "Capstan registry API");
    let response = app.get("/docs/").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("swagger-ui"),
        "Swagger UI page not served: {html}"
    );
    let response = app.get("/docs/swagger-ui.css").await;
    assert_eq!(
        response.status(),
        200,
        "Swagger UI assets must be vendored (offline)"
    );
}

/// The model server serves its own document — its routes only: prediction over both
/// protocols, health and metrics — so a fuzzer driven by it can be pointed at a model
/// server too.
#[tokio::test]
async fn the_model_server_serves_its_own_document() {
    let app = spawn_app().await;
    // Nothing needs to be loaded: a model server starts even when its ref fails to load.
    let server = spawn_model_server(&app.base, &["bc@production"], 60_000).await;
    let response = reqwest::get(format!("{}/api-docs/openapi.json", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let served: serde_json::Value = response.json().await.unwrap();
    assert_eq!(served["info"]["title"], "Capstan model server API");
    let expected: serde_json::Value = serde_json::from_str(
        &capstan_registry::api::model_server_openapi()
            .to_json()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(served, expected);
    let paths = served["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/models/{name}/versions/{ref}/predict",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{name}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}",
        "/v2/models/{name}/versions/{version}/ready",
        "/v2/models/{name}/versions/{version}/infer",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the model server's document"
        );
    }
    assert_eq!(
        paths.len(),
        12,
        "only the model server's routes: {:?}",
        paths.keys()
    );
    assert!(served["components"]["schemas"]["Problem"].is_object());
}
