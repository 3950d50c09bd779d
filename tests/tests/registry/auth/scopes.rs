//! Tokens limited to some models: outside them a model does not exist (404, the same
//! answer as for a model that really does not exist), lists leave it out, and nothing of
//! it can be changed.

use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};

use capstan_tests::{client_with, TestApp};

use super::{auth_app, get_as, send_as};

async fn names(app: &TestApp, token: &str, path: &str, list: &str, field: &str) -> Vec<String> {
    let (status, _, page) = get_as(app, Some(token), path).await;
    assert_eq!(status, 200, "{path}: {page}");
    page[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

/// Models `bc`, `fraud-a`, `fraud-b` and `fraud_c` (whose `_` a `LIKE` would read as a
/// wildcard), each with a version, and an `api` deployment of each.
async fn fleet(app: &TestApp) {
    for model in ["bc", "fraud-a", "fraud-b", "fraud_c"] {
        app.create_model(model).await;
        app.upload(model, model.as_bytes()).await;
        let (status, body) = app
            .put_json(
                &format!("/api/v1/deployments/{model}-api"),
                &json!({"model": format!("{model}@latest"), "pattern": "api"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

#[tokio::test]
async fn outside_its_models_a_scoped_token_sees_nothing() {
    let app = auth_app(Duration::from_secs(1)).await;
    fleet(&app).await;
    let token = app
        .create_token("fraud-team", "reader", Some(&["fraud-*"]))
        .await;
    let underscore = app
        .create_token("c-only", "reader", Some(&["fraud_*"]))
        .await;

    assert_eq!(
        names(&app, &token, "/api/v1/models", "models", "name").await,
        ["fraud-a", "fraud-b"]
    );
    assert_eq!(
        names(&app, &underscore, "/api/v1/models", "models", "name").await,
        ["fraud_c"]
    );
    assert_eq!(
        names(&app, &token, "/api/v1/deployments", "deployments", "name").await,
        ["fraud-a-api", "fraud-b-api"]
    );
    let events: Vec<String> =
        names(&app, &token, "/api/v1/events?limit=1000", "events", "model").await;
    assert!(
        !events.is_empty() && events.iter().all(|m| m.starts_with("fraud-")),
        "{events:?}"
    );

    // A model outside the scope answers exactly as a model that does not exist.
    let (_, _, missing) = get_as(&app, app.admin_token.as_deref(), "/api/v1/models/nope").await;
    for path in [
        "/api/v1/models/bc",
        "/api/v1/models/bc/versions",
        "/api/v1/models/bc/versions/1",
        "/api/v1/models/bc/versions/1/artifact",
        "/v2/models/bc",
        "/api/v1/models/fraud_c",
    ] {
        let (status, _, problem) = get_as(&app, Some(&token), path).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (404, Some("model_not_found")),
            "{path}: {problem}"
        );
        if path == "/api/v1/models/bc" {
            assert_eq!(
                problem["detail"],
                missing["detail"].as_str().unwrap().replace("nope", "bc")
            );
        }
    }
    let (status, _, problem) = get_as(&app, Some(&token), "/api/v1/deployments/bc-api").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("deployment_not_found"))
    );
    let report = json!({"status": "loading"});
    let (status, _) = send_as(
        &app,
        Some(&token),
        Method::PUT,
        "/api/v1/deployments/bc-api/instances/i-1",
        &report,
    )
    .await;
    assert_eq!(status, 404, "reporting to another model's deployment");
    let (status, _) = send_as(
        &app,
        Some(&token),
        Method::PUT,
        "/api/v1/deployments/fraud-a-api/instances/i-1",
        &report,
    )
    .await;
    assert_eq!(status, 201, "reporting to its own");
    let (status, _, _) = get_as(
        &app,
        Some(&token),
        "/api/v1/models/fraud-a/versions/1/artifact",
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_scoped_token_changes_nothing_outside_and_manages_no_tokens() {
    let app = auth_app(Duration::from_secs(1)).await;
    fleet(&app).await;
    let admin = app
        .create_token("fraud-admin", "admin", Some(&["fraud-*"]))
        .await;

    let (status, problem) = send_as(
        &app,
        Some(&admin),
        Method::POST,
        "/api/v1/models",
        &json!({"name": "bc2"}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("model_out_of_scope")),
        "{problem}"
    );
    let (status, _) = send_as(
        &app,
        Some(&admin),
        Method::POST,
        "/api/v1/models",
        &json!({"name": "fraud-z"}),
    )
    .await;
    assert_eq!(status, 201);
    for (method, path) in [
        (Method::DELETE, "/api/v1/models/bc"),
        (Method::POST, "/api/v1/models/bc/stages/production"),
        (Method::PUT, "/api/v1/models/bc/aliases/champion"),
        (Method::DELETE, "/api/v1/deployments/bc-api"),
        (Method::PUT, "/api/v1/deployments/bc-api"),
    ] {
        let body = if path.starts_with("/api/v1/deployments") {
            json!({"model": "fraud-a@latest", "pattern": "api"})
        } else {
            json!({"version": 1})
        };
        let (status, problem) = send_as(&app, Some(&admin), method.clone(), path, &body).await;
        assert_eq!(status, 404, "{method} {path}: {problem}");
    }
    for (method, path) in [
        (Method::GET, "/api/v1/tokens"),
        (Method::POST, "/api/v1/tokens"),
        (Method::DELETE, "/api/v1/tokens/admin"),
        (Method::GET, "/api/v1/webhooks"),
    ] {
        let (status, problem) = send_as(
            &app,
            Some(&admin),
            method.clone(),
            path,
            &json!({"name": "x", "role": "admin"}),
        )
        .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (403, Some("scoped_token")),
            "{method} {path}"
        );
    }
    // Nothing of bc changed.
    let (_, version) = app.get_json("/api/v1/models/bc/versions/1").await;
    assert_eq!(version["stages"], json!([]), "{version}");
    let (status, _) = app.get_json("/api/v1/deployments/bc-api").await;
    assert_eq!(status, 200);
    let (_, tokens) = app.get_json("/api/v1/tokens").await;
    assert_eq!(tokens["tokens"].as_array().unwrap().len(), 2);
}

/// The event stream of a scoped token carries its models' events only, replayed or live.
#[tokio::test]
async fn a_scoped_event_stream_carries_its_models_only() {
    let app = auth_app(Duration::from_secs(1)).await;
    fleet(&app).await;
    let token = app
        .create_token("fraud-team", "reader", Some(&["fraud-a"]))
        .await;
    let response = client_with(Some(&token))
        .get(app.url("/api/v1/events/stream?after=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    app.upload("bc", b"two").await;
    app.upload("fraud-a", b"two").await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    // fraud-a: created, version 1 created + ready, deployment created, version 2 created + ready.
    while text.matches("\ndata: ").count() + usize::from(text.starts_with("data: ")) < 6 {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("six events")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let models: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| {
            serde_json::from_str::<Value>(data).unwrap()["model"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(models.iter().all(|m| m == "fraud-a"), "{models:?}");
}
