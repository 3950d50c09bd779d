//! Hostile paths and bodies: each gets a problem document and changes nothing.

use serde_json::{json, Value};

use capstan_tests::{raw_request, spawn_app};

#[tokio::test]
async fn traversal_and_odd_names_in_paths_are_rejected() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    app.upload("bc", b"x").await;
    let hostile = [
        "..",
        "%2e%2e",
        "%2E%2E",
        "%252e%252e",
        ".%2e",
        "..%2f..%2fetc",
        "..%5c..%5cwindows",
        "a%5cb",
        "%2fetc%2fpasswd",
        "bc%23x",
        "bc%3bx",
        "bc%00",
        "%ef%bd%82%ef%bd%83",
        "b%d1%81",
        "BC",
        "%20",
    ];
    for segment in hostile {
        for path in [
            format!("/api/v1/models/{segment}"),
            format!("/api/v1/models/{segment}/versions"),
            format!("/api/v1/models/{segment}/versions/1/artifact"),
            format!("/api/v1/models/bc/versions/{segment}"),
            format!("/api/v1/models/bc/versions/{segment}/artifact"),
        ] {
            let (status, body) = raw_request(app.addr, &format!("GET {path} HTTP/1.1"), b"").await;
            assert!(
                status == 400 || status == 404,
                "GET {path} answered {status}: {body}"
            );
            let problem: Value = serde_json::from_str(&body)
                .unwrap_or_else(|_| panic!("GET {path}: not JSON: {body}"));
            assert!(problem["code"].is_string(), "{path}: {problem}");
            assert!(!body.contains("root:"), "{path} leaked a file");
        }
    }
    // Absolute paths and literal dot segments sent raw.
    for path in [
        "/api/v1/models/../../etc/passwd",
        "/api/v1/models/bc/../../../etc/passwd",
        "//etc/passwd",
    ] {
        let (status, body) = raw_request(app.addr, &format!("GET {path} HTTP/1.1"), b"").await;
        assert!(
            status == 400 || status == 404,
            "GET {path} answered {status}: {body}"
        );
    }
    // Writes with hostile names create nothing.
    for segment in ["..", "%2e%2e", "%252e", "a%5cb", "x%23y"] {
        let (status, _) = raw_request(
            app.addr,
            &format!(
                "POST /api/v1/models/{segment}/versions HTTP/1.1\r\nContent-Type: application/json"
            ),
            br#"{"format":"opaque"}"#,
        )
        .await;
        assert_eq!(status, 400, "POST versions of {segment}");
    }
    let (_, models) = app.get_json("/api/v1/models").await;
    assert_eq!(models["models"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn malformed_json_bodies_are_400_problems() {
    let app = spawn_app().await;
    for body in [
        &b"{"[..],
        b"",
        b"null",
        b"[]",
        b"{\"name\": 5}",
        b"{\"name\": \"ok\", \"extra\": 1}",
        b"\xff\xfe",
        b"{\"name\": \"\\u0000\"}",
    ] {
        let response = app
            .http
            .post(app.url("/api/v1/models"))
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "invalid_body");
    }
    let (_, models) = app.get_json("/api/v1/models").await;
    assert_eq!(models["models"], json!([]));
}

#[tokio::test]
async fn huge_json_body_is_413() {
    let app = spawn_app().await;
    let big = json!({"name": "bc", "description": "x".repeat(2 * 1024 * 1024)});
    let (status, body) = app.post_json("/api/v1/models", &big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "payload_too_large");
}

#[tokio::test]
async fn unicode_and_control_characters_in_text_fields() {
    let app = spawn_app().await;
    let (status, model) = app
        .post_json(
            "/api/v1/models",
            &json!({"name": "bc", "description": "Ünïcödé ✓ 模型", "tags": ["日本"]}),
        )
        .await;
    assert_eq!(status, 201, "{model}");
    assert_eq!(model["description"], "Ünïcödé ✓ 模型");
    let (status, body) = app
        .post_json(
            "/api/v1/models",
            &json!({"name": "bd", "tags": ["a\u{0007}b"]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_tags");
    let (status, body) = app
        .post_json(
            "/api/v1/models",
            &json!({"name": "be", "description": "nul\u{0000}"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn unknown_routes_are_problem_documents() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/nothing-here").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "route_not_found");
}
