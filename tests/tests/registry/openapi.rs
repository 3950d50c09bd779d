use capstan_tests::spawn_app;

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
        "/api/v1/models/{name}/stages/{stage}",
        "/api/v1/models/{name}/stages/{stage}/rollback",
        "/api/v1/models/{name}/aliases/{alias}",
        "/api/v1/events",
        "/api/v1/events/stream",
        "/api/v1/models/{name}/versions/{ref}/predict",
        "/v2/models/{name}/infer",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(api["components"]["schemas"]["Problem"].is_object());
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
