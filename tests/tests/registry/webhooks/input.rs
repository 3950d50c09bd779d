//! What the webhook API refuses, with which problem, and that nothing is written then.

use serde_json::{json, Value};

use capstan_tests::spawn_app;

use super::create_webhook;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_receivers_are_refused_without_allow_private() {
    let app = spawn_app().await;
    for url in [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.1.1/",
        "http://172.16.5.4/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
    ] {
        let response = app
            .http
            .post(app.url("/api/v1/webhooks"))
            .json(&json!({"url": url, "events": ["*"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{url}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{url}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(
            problem["code"], "webhook_url_not_allowed",
            "{url}: {problem}"
        );
    }
    let (_, listed) = app.get_json("/api/v1/webhooks").await;
    assert_eq!(listed["webhooks"], json!([]), "nothing created");

    // Nor can an existing webhook be pointed at one.
    let public = "http://93.184.215.14/hook";
    let webhook = create_webhook(&app, json!({"url": public, "events": ["stage_changed"]})).await;
    let id = webhook["id"].as_str().unwrap();
    let (status, problem) = app
        .patch_json(
            &format!("/api/v1/webhooks/{id}"),
            &json!({"url": "http://169.254.169.254/"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem["code"], "webhook_url_not_allowed");
    let (_, shown) = app.get_json(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(shown["url"], public);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhook_input_is_refused_and_nothing_written() {
    let app = spawn_app().await;
    let public = "http://93.184.215.14/hook";
    let cases = [
        (
            json!({"url": public, "events": ["model_exploded"]}),
            422,
            "unknown_event_kind",
        ),
        (json!({"url": public, "events": []}), 422, "invalid_events"),
        (
            json!({"url": public, "events": ["*", "stage_changed"]}),
            422,
            "invalid_events",
        ),
        (
            json!({"url": "ftp://example.com/x", "events": ["*"]}),
            400,
            "invalid_webhook_url",
        ),
        (
            json!({"url": "file:///etc/passwd", "events": ["*"]}),
            400,
            "invalid_webhook_url",
        ),
        (
            json!({"url": "http://user:pw@93.184.215.14/", "events": ["*"]}),
            400,
            "invalid_webhook_url",
        ),
        (
            json!({"url": "not a url", "events": ["*"]}),
            400,
            "invalid_webhook_url",
        ),
        (
            json!({"url": public, "events": ["*"], "model": "bad name!"}),
            400,
            "invalid_body",
        ),
        (
            json!({"url": public, "events": ["*"], "secret": "whsec_mine"}),
            400,
            "invalid_body",
        ),
        (json!({"url": public}), 400, "invalid_body"),
        (json!({"url": public, "events": "*"}), 400, "invalid_body"),
        (
            json!({"url": public, "events": ["*"], "description": "a\u{0}b"}),
            400,
            "invalid_text",
        ),
    ];
    for (body, status, code) in cases {
        let (got, problem) = app.post_json("/api/v1/webhooks", &body).await;
        assert_eq!(got, status, "{body}: {problem}");
        assert_eq!(problem["code"], code, "{body}: {problem}");
    }
    let huge = json!({"url": public, "events": ["*"], "description": "x".repeat(2 << 20)});
    let (status, _) = app.post_json("/api/v1/webhooks", &huge).await;
    assert_eq!(status, 413);
    let empty = app
        .http
        .post(app.url("/api/v1/webhooks"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status().as_u16(), 400);
    let (_, listed) = app.get_json("/api/v1/webhooks").await;
    assert_eq!(listed["webhooks"], json!([]), "nothing created");

    let webhook = create_webhook(&app, json!({"url": public, "events": ["stage_changed"]})).await;
    let id = webhook["id"].as_str().unwrap();
    let (status, problem) = app
        .patch_json(
            &format!("/api/v1/webhooks/{id}"),
            &json!({"events": ["nope"]}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("unknown_event_kind"))
    );
    let (_, shown) = app.get_json(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(shown["events"], json!(["stage_changed"]));
    for path in [
        "/api/v1/webhooks/nope".to_owned(),
        "/api/v1/webhooks/nope/deliveries".to_owned(),
    ] {
        let (status, problem) = app.get_json(&path).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (404, Some("webhook_not_found"))
        );
    }
    let (status, _) = app.delete(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, 204);
    let (status, _) = app.delete(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, 404);
}
