//! The model server and tokens: it presents `--registry-token` to a registry that
//! requires one (loads, the event stream, deployment reports), and it can require tokens
//! for its own predictions, from a file of sha256 hashes (`--auth-token-file`) or as the
//! registry's `whoami` vouches (`--auth-from-registry`, with the registry's model scopes),
//! leaving health and the OpenAPI document open.

use std::time::Duration;

use serde_json::{json, Value};
use sha2::Digest as _;

use capstan_registry::model_server::ModelServerAuthArgs;
use capstan_tests::{
    breast_cancer_rows, spawn_deployment_server_with, spawn_model_server_with, train_breast_cancer,
    TestApp,
};

async fn spawn_auth() -> TestApp {
    capstan_tests::spawn_with_auth(std::time::Duration::from_secs(1)).await
}

async fn bc_in_production(app: &TestApp) {
    app.create_model("bc").await;
    let v1 = app.upload_trained("bc", &train_breast_cancer(1.0)).await;
    app.upload_trained("bc", &train_breast_cancer(100.0)).await;
    app.promote("bc", "production", &json!({"version": v1}))
        .await;
}

/// Predicts with `bc@production` on `base`, presenting `token`: status and body.
async fn predict(base: &str, token: Option<&str>) -> (u16, Value, Option<String>) {
    let mut request = reqwest::Client::new()
        .post(format!(
            "{base}/api/v1/models/bc/versions/production/predict"
        ))
        .json(&json!({"instances": breast_cancer_rows(2)}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{body}"
        );
    }
    (status, body, challenge)
}

async fn status_of(url: &str) -> u16 {
    reqwest::get(url).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_server_reads_the_registry_with_its_token() {
    let app = spawn_auth().await;
    bc_in_production(&app).await;
    let reader = app.create_token("scorer", "reader", Some(&["bc"])).await;

    // Without a token the registry refuses it: nothing to serve.
    let blind = spawn_model_server_with(
        &app.base,
        &["bc@production"],
        100,
        None,
        ModelServerAuthArgs::default(),
    )
    .await;
    let (status, body, _) = predict(&blind.base, None).await;
    assert_ne!(status, 200, "{body}");

    let server = spawn_model_server_with(
        &app.base,
        &["bc@production"],
        60_000,
        Some(&reader),
        ModelServerAuthArgs::default(),
    )
    .await;
    let (status, body, _) = predict(&server.base, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"]["version"], 1, "{body}");
    // A move arrives over the event stream (the poll is a minute away): with the token.
    app.promote("bc", "production", &json!({"version": 2}))
        .await;
    let swapped = app
        .eventually(Duration::from_secs(20), || async {
            predict(&server.base, None).await.1["model"]["version"] == 2
        })
        .await;
    assert!(swapped, "the model server did not follow the move");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_server_reports_with_its_token() {
    let app = spawn_auth().await;
    bc_in_production(&app).await;
    let (status, body) = app
        .put_json(
            "/api/v1/deployments/scorer",
            &json!({"model": "bc@production", "pattern": "api"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let reader = app.create_token("scorer", "reader", None).await;
    let _server = spawn_deployment_server_with(&app.base, "scorer", "ms-a", Some(&reader)).await;
    let reported = app
        .eventually(Duration::from_secs(20), || async {
            let (_, d) = app.get_json("/api/v1/deployments/scorer").await;
            d["instances"][0]["id"] == "ms-a" && d["instances"][0]["version"] == 1
        })
        .await;
    assert!(reported, "no report from the model server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_guards_predictions_but_not_health() {
    let app = spawn_auth().await;
    bc_in_production(&app).await;
    let reader = app.create_token("scorer", "reader", None).await;
    let secret = "capstan_0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    std::fs::write(
        &file,
        format!(
            "# who may predict\n{} team-a\n",
            hex::encode(sha2::Sha256::digest(secret.as_bytes()))
        ),
    )
    .unwrap();
    let server = spawn_model_server_with(
        &app.base,
        &["bc@production"],
        60_000,
        Some(&reader),
        ModelServerAuthArgs {
            auth_token_file: Some(file),
            auth_open_metrics: false,
            ..Default::default()
        },
    )
    .await;

    let (status, body, challenge) = predict(&server.base, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["status"], 401, "{body}");
    assert!(challenge.unwrap().starts_with("Bearer"));
    let (status, body, _) = predict(&server.base, Some(&reader)).await;
    assert_eq!(status, 401, "a registry token is not in the file: {body}");
    let (status, body, _) = predict(&server.base, Some(secret)).await;
    assert_eq!(status, 200, "{body}");
    let v2 = reqwest::Client::new()
        .post(format!("{}/v2/models/bc/infer", server.base))
        .json(&json!({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP64", "data": breast_cancer_rows(1).concat()}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status(), 401);

    for open in [
        "/healthz",
        "/readyz",
        "/v2/health/live",
        "/v2/health/ready",
        "/api-docs/openapi.json",
    ] {
        assert_eq!(
            status_of(&format!("{}{open}", server.base)).await,
            200,
            "{open}"
        );
    }
    assert_eq!(status_of(&format!("{}/metrics", server.base)).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_vouches_for_tokens_and_their_model_scopes() {
    let app = spawn_auth().await;
    bc_in_production(&app).await;
    let own = app.create_token("model-server", "reader", None).await;
    let team = app.create_token("team-a", "reader", Some(&["bc"])).await;
    let elsewhere = app
        .create_token("team-b", "editor", Some(&["fraud-*"]))
        .await;
    let server = spawn_model_server_with(
        &app.base,
        &["bc@production"],
        60_000,
        Some(&own),
        ModelServerAuthArgs {
            auth_from_registry: true,
            auth_cache_ms: 0,
            ..Default::default()
        },
    )
    .await;

    let (status, body, challenge) = predict(&server.base, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(challenge.is_some());
    let (status, body, _) = predict(
        &server.base,
        Some("capstan_00000000000000000000000000000000000000000000000000000000deadbeef"),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let (status, body, _) = predict(&server.base, Some(&team)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = predict(&server.base, Some(&elsewhere)).await;
    assert_eq!(status, 404, "bc is outside team-b's models: {body}");
    assert_eq!(
        status_of(&format!("{}/metrics", server.base)).await,
        200,
        "metrics are open by default"
    );

    // Revoked at the registry: refused here (the cache is off).
    let (status, body) = app.delete("/api/v1/tokens/team-a").await;
    assert_eq!(status, 204, "{body}");
    let (status, body, _) = predict(&server.base, Some(&team)).await;
    assert_eq!(status, 401, "{body}");
}
