//! Bootstrapping, roles, revocation (on this replica and another), and the actor each
//! change is recorded under.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use capstan_tests::spawn_app;

use super::{auth_app, get_as, send_as};

#[tokio::test]
async fn without_auth_every_caller_is_anonymous_and_recorded_so() {
    let app = spawn_app().await;
    let (status, whoami) = app.get_json("/api/v1/whoami").await;
    assert_eq!(status, 200);
    assert_eq!(whoami, json!({"name": "anonymous", "role": "admin"}));
    app.create_model("bc").await;
    app.upload("bc", b"bytes").await;
    let (_, version) = app.get_json("/api/v1/models/bc/versions/1").await;
    assert_eq!(version["created_by"], "anonymous");
    let (_, page) = app.get_json("/api/v1/events").await;
    let actors: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["anonymous"; 3], "{page}");
}

#[tokio::test]
async fn the_first_start_writes_one_admin_token_readable_by_its_owner_only() {
    let mut app = auth_app(Duration::from_secs(1)).await;
    let token = app.admin_token.clone().unwrap();
    assert!(
        token.starts_with("capstan_") && token.len() == 8 + 64,
        "{token}"
    );
    let path = app.data_dir().join("admin-token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "admin-token mode {mode:o}");
    }
    let (status, _, whoami) = get_as(&app, Some(&token), "/api/v1/whoami").await;
    assert_eq!(
        (status, &whoami["name"], &whoami["role"]),
        (200, &json!("admin"), &json!("admin"))
    );

    // A restart finds a token in the database and leaves the file alone.
    std::fs::write(&path, "moved elsewhere\n").unwrap();
    app.restart().await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "moved elsewhere\n");
    let (_, tokens) = app.get_json("/api/v1/tokens").await;
    let listed = tokens["tokens"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{tokens}");
    assert_eq!(listed[0]["created_by"], "bootstrap");
    assert!(listed[0].get("token").is_none() && !tokens.to_string().contains(&token));
}

#[tokio::test]
async fn each_role_includes_the_ones_before_it_and_events_name_the_token() {
    let app = auth_app(Duration::from_secs(1)).await;
    let reader = app.create_token("dashboards", "reader", None).await;
    let editor = app.create_token("trainer", "editor", None).await;
    let promoter = app.create_token("release-manager", "promoter", None).await;

    let create = json!({"name": "bc"});
    let (status, problem) =
        send_as(&app, Some(&reader), Method::POST, "/api/v1/models", &create).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("insufficient_role")),
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("editor"),
        "{problem}"
    );
    let (status, _) = send_as(&app, Some(&editor), Method::POST, "/api/v1/models", &create).await;
    assert_eq!(status, 201);
    let version = capstan_tests::client_with(Some(&editor))
        .post(app.url("/api/v1/models/bc/versions"))
        .multipart(
            reqwest::multipart::Form::new()
                .part(
                    "metadata",
                    reqwest::multipart::Part::text(r#"{"format":"opaque"}"#)
                        .mime_str("application/json")
                        .unwrap(),
                )
                .part(
                    "artifact",
                    reqwest::multipart::Part::bytes(b"bytes".to_vec()).file_name("m"),
                ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(version.status(), 201);

    let promote = json!({"version": 1});
    let path = "/api/v1/models/bc/stages/production";
    let (status, problem) = send_as(&app, Some(&editor), Method::POST, path, &promote).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("insufficient_role"))
    );
    let (status, _) = send_as(&app, Some(&promoter), Method::POST, path, &promote).await;
    assert_eq!(status, 200);
    let (status, _) = send_as(
        &app,
        Some(&promoter),
        Method::DELETE,
        "/api/v1/models/bc",
        &json!({}),
    )
    .await;
    assert_eq!(status, 403, "deleting a model is an admin's");

    let (status, _, version) = get_as(&app, Some(&reader), "/api/v1/models/bc/versions/1").await;
    assert_eq!((status, &version["created_by"]), (200, &json!("trainer")));
    let (_, _, page) = get_as(&app, Some(&reader), "/api/v1/events?actor=release-manager").await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(
        (&events[0]["kind"], &events[0]["actor"]),
        (&json!("stage_changed"), &json!("release-manager"))
    );
    let (_, _, page) = get_as(&app, Some(&reader), "/api/v1/events?actor=trainer").await;
    let kinds: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["model_created", "version_created", "version_ready"]);

    // Only admins manage tokens; a token's last use is recorded.
    let (status, _, _) = get_as(&app, Some(&promoter), "/api/v1/tokens").await;
    assert_eq!(status, 403);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, tokens) = app.get_json("/api/v1/tokens").await;
        let reader_row = tokens["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "dashboards")
            .cloned()
            .unwrap();
        if reader_row.get("last_used_at").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "last_used_at never recorded: {tokens}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn bad_token_requests_are_refused_and_change_nothing() {
    let app = auth_app(Duration::from_secs(1)).await;
    for (body, code) in [
        (
            json!({"name": "Bad Name", "role": "reader"}),
            "invalid_token_name",
        ),
        (
            json!({"name": "anonymous", "role": "reader"}),
            "invalid_token_name",
        ),
        (json!({"name": "x", "role": "root"}), "invalid_body"),
        (
            json!({"name": "x", "role": "reader", "models": []}),
            "invalid_models",
        ),
        (
            json!({"name": "x", "role": "reader", "models": ["../etc"]}),
            "invalid_models",
        ),
        (
            json!({"name": "x", "role": "reader", "models": ["Fraud*"]}),
            "invalid_models",
        ),
    ] {
        let (status, problem) = app.post_json("/api/v1/tokens", &body).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (400, Some(code)),
            "{body}: {problem}"
        );
    }
    app.create_token("ci", "editor", None).await;
    let (status, problem) = app
        .post_json("/api/v1/tokens", &json!({"name": "ci", "role": "admin"}))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("token_exists"))
    );
    let (status, problem) = app.delete("/api/v1/tokens/nobody").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("token_not_found"))
    );
    let (_, tokens) = app.get_json("/api/v1/tokens").await;
    let names: Vec<&str> = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "ci"]);
}

#[tokio::test]
async fn a_revoked_token_is_refused_on_the_next_request() {
    let app = auth_app(Duration::from_secs(60)).await;
    let token = app.create_token("ci", "reader", None).await;
    let (status, _, _) = get_as(&app, Some(&token), "/api/v1/models").await;
    assert_eq!(status, 200, "verified, and now cached for a minute");
    let (status, _) = app.delete("/api/v1/tokens/ci").await;
    assert_eq!(status, 204);
    let (status, challenge, problem) = get_as(&app, Some(&token), "/api/v1/models").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("unauthorized"))
    );
    assert!(challenge.unwrap().starts_with("Bearer"));
}

/// Another replica on the same database stops accepting a revoked token: at once when it
/// looks tokens up on every request, and within its cache time otherwise.
#[tokio::test]
async fn revocation_reaches_another_replica() {
    for cache in [Duration::ZERO, Duration::from_millis(500)] {
        let app = auth_app(cache).await;
        let replica = app.spawn_replica().await;
        let token = app.create_token("ci", "reader", None).await;
        let (status, _, _) = get_as(&replica, Some(&token), "/api/v1/models").await;
        assert_eq!(status, 200);
        let (status, _) = app.delete("/api/v1/tokens/ci").await;
        assert_eq!(status, 204);
        let revoked = Instant::now();
        loop {
            let (status, _, _) = get_as(&replica, Some(&token), "/api/v1/models").await;
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            assert!(
                !cache.is_zero() && revoked.elapsed() < cache + Duration::from_secs(2),
                "the replica still accepts a revoked token {:?} after revocation (cache {cache:?})",
                revoked.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(replica);
    }
}

#[tokio::test]
async fn open_routes_answer_without_a_token_and_the_rest_ask_for_one_first() {
    let app = auth_app(Duration::from_secs(1)).await;
    for path in [
        "/healthz",
        "/readyz",
        "/v2/health/live",
        "/v2/health/ready",
        "/metrics",
        "/api-docs/openapi.json",
    ] {
        let (status, _, _) = get_as(&app, None, path).await;
        assert_eq!(status, 200, "{path}");
    }
    let docs = reqwest::get(app.url("/docs/")).await.unwrap();
    assert_eq!(docs.status(), 200);
    // 401 before the path, the query or the route is looked at.
    for path in [
        "/api/v1/models",
        "/api/v1/models/%2e%2e",
        "/api/v1/models/bc/versions/not-a-ref",
        "/api/v1/events?limit=nan",
        "/api/v1/no-such-route",
        "/v2/models/bc",
        "/v2/models/bc/ready",
    ] {
        let (status, challenge, problem) = get_as(&app, None, path).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (401, Some("unauthorized")),
            "{path}: {problem}"
        );
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer realm="capstan""#),
            "{path}"
        );
        let (status, _, _) = get_as(&app, Some("capstan_not-a-token"), path).await;
        assert_eq!(status, 401, "{path} with a malformed token");
        let unknown = format!("capstan_{}", "0".repeat(64));
        let (status, _, _) = get_as(&app, Some(&unknown), path).await;
        assert_eq!(status, 401, "{path} with an unknown token");
    }
    let response = reqwest::Client::new()
        .get(app.url("/api/v1/models"))
        .header("authorization", "Basic YWRtaW46cGFzc3dvcmQxMjM0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "only bearer tokens");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    // With auth, the served document declares the bearer scheme and each operation's role.
    let (_, _, document) = get_as(&app, None, "/api-docs/openapi.json").await;
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        document["paths"]["/api/v1/models/{name}/stages/{stage}"]["post"]["security"],
        json!([{"bearer": ["promoter"]}])
    );
    // Every operation that needs a token documents the refusals a token can meet.
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation["security"].is_array() {
                for status in ["401", "403"] {
                    assert_eq!(
                        operation["responses"][status]["content"]["application/problem+json"]
                            ["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{method} {path} documents no {status}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn metrics_and_documents_can_require_a_token_too() {
    let app = capstan_tests::spawn_with(capstan_tests::TestOptions {
        auth: Some(capstan_registry::config::AuthConfig {
            enabled: true,
            open_docs: false,
            open_metrics: false,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    for path in ["/metrics", "/api-docs/openapi.json", "/docs/"] {
        let (status, _, _) = get_as(&app, None, path).await;
        assert_eq!(status, 401, "{path}");
        let (status, _, _) = get_as(&app, app.admin_token.as_deref(), path).await;
        assert_eq!(status, 200, "{path} with a token");
    }
    let (status, _, _) = get_as(&app, None, "/healthz").await;
    assert_eq!(status, 200);
}
