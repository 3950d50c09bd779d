//! Hostile paths and bodies: each gets a problem document and changes nothing.

use serde_json::{json, Value};

use capstan_tests::{assert_problem, raw_request, spawn_app};

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
async fn each_path_segment_that_does_not_parse_is_named_by_its_code() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    app.upload("bc", b"x").await;
    for (method, path, code) in [
        ("GET", "/api/v1/models/Upper", "invalid_name"),
        ("DELETE", "/api/v1/models/a..b", "invalid_name"),
        ("GET", "/api/v1/models/-x/versions", "invalid_name"),
        ("GET", "/api/v1/models/bc/versions/0", "invalid_ref"),
        (
            "GET",
            "/api/v1/models/bc/versions/Prod/artifact",
            "invalid_ref",
        ),
        (
            "POST",
            "/api/v1/models/bc/versions/a..b/archive",
            "invalid_ref",
        ),
        (
            "PUT",
            "/api/v1/models/bc/versions/champion/artifact",
            "invalid_ref",
        ),
        ("POST", "/api/v1/models/bc/stages/canary", "invalid_stage"),
        (
            "POST",
            "/api/v1/models/bc/stages/Prod/rollback",
            "invalid_stage",
        ),
        ("PUT", "/api/v1/models/bc/aliases/latest", "invalid_alias"),
        ("DELETE", "/api/v1/models/bc/aliases/7", "invalid_alias"),
        // The name is checked first.
        ("GET", "/api/v1/models/Upper/versions/0", "invalid_name"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = app
            .http
            .request(method.clone(), app.url(path))
            .json(&json!({"version": 1}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        let body: Value = response.json().await.unwrap();
        assert_problem(status, &body, 400, code);
    }
}

#[tokio::test]
async fn query_parameters_that_do_not_parse_are_400_problems() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    for (path, code) in [
        ("/api/v1/models?limit=abc", "invalid_query"),
        ("/api/v1/models?limit=1001", "invalid_limit"),
        ("/api/v1/models/bc/versions?limit=abc", "invalid_query"),
        ("/api/v1/models/bc/versions?limit=0", "invalid_limit"),
        ("/api/v1/events?limit=x", "invalid_query"),
        ("/api/v1/events?model=..%2fx", "invalid_name"),
        ("/api/v1/events?after=1&kind=bogus", "invalid_kind"),
        ("/api/v1/events?kind=", "invalid_kind"),
        (
            "/api/v1/models/bc/versions/1/artifact?redirect=maybe",
            "invalid_query",
        ),
    ] {
        let (status, body) = app.get_json(path).await;
        assert_problem(status, &body, 400, code);
    }
}

#[tokio::test]
async fn version_upload_that_is_neither_multipart_nor_json_is_415() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    for content_type in ["text/plain", "application/octet-stream", "application/xml"] {
        let response = app
            .http
            .post(app.url("/api/v1/models/bc/versions"))
            .header("content-type", content_type)
            .body(r#"{"format":"opaque"}"#)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_problem(status, &body, 415, "unsupported_media_type");
    }
    let (_, page) = app.get_json("/api/v1/models/bc/versions").await;
    assert_eq!(page["versions"], json!([]));
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
