use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use capstan_registry::service::Limits;
use capstan_tests::{
    assert_problem, cut_off_upload, digest_of, raw_request, spawn_app, spawn_with, TestOptions,
};

#[tokio::test]
async fn multipart_upload_creates_a_ready_version_with_its_metadata() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let artifact = b"model bytes".to_vec();
    let metadata = json!({
        "format": "joblib",
        "sha256": digest_of(&artifact).trim_start_matches("sha256:"),
        "signature": {"inputs": [{"name": "x", "dtype": "float32"}]},
        "metrics": {"accuracy": 0.958},
        "params": {"l2": 1.0, "solver": "lbfgs"},
        "tags": ["nightly"],
        "source": "git:abc123",
        "description": "first"
    });
    let (status, version) = app.upload_with("bc", &metadata, artifact.clone()).await;
    assert_eq!(status, 201, "{version}");
    assert_eq!(version["version"], 1);
    assert_eq!(version["status"], "ready");
    assert_eq!(version["digest"], digest_of(&artifact));
    assert_eq!(version["size"], artifact.len());
    assert_eq!(version["format"], "joblib");
    assert_eq!(version["metrics"], json!({"accuracy": 0.958}));
    assert_eq!(version["params"], json!({"l2": 1.0, "solver": "lbfgs"}));
    assert_eq!(version["signature"]["inputs"][0]["name"], "x");
    assert_eq!(version["tags"], json!(["nightly"]));
    assert_eq!(version["source"], "git:abc123");
    assert_eq!(version["stages"], json!([]));
    assert_eq!(version["aliases"], json!([]));
    assert!(version["created_at"].is_string());

    let (_, shown) = app.get_json("/api/v1/models/bc/versions/1").await;
    assert_eq!(shown, version);
    let (_, latest) = app.get_json("/api/v1/models/bc/versions/latest").await;
    assert_eq!(latest["version"], 1);
}

#[tokio::test]
async fn prefixed_digest_is_accepted_and_mismatch_is_422_without_a_version() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let (status, _) = app
        .upload_with(
            "bc",
            &json!({"format": "opaque", "sha256": digest_of(b"abc")}),
            b"abc".to_vec(),
        )
        .await;
    assert_eq!(status, 201);

    let wrong = digest_of(b"something else");
    let (status, body) = app
        .upload_with(
            "bc",
            &json!({"format": "opaque", "sha256": wrong}),
            b"abc".to_vec(),
        )
        .await;
    assert_problem(status, &body, 422, "digest_mismatch");
    let (_, page) = app.get_json("/api/v1/models/bc/versions").await;
    assert_eq!(
        page["versions"].as_array().unwrap().len(),
        1,
        "a rejected upload must create no version"
    );
    assert_eq!(app.staged_uploads().await, 0);
    // The next version still gets number 2: the rejected upload took no number.
    assert_eq!(app.upload("bc", b"def").await, 2);
}

#[tokio::test]
async fn bad_sha256_values_are_400() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    for bad in [
        "abc",
        "SHA256:00",
        &"A".repeat(64),
        "md5:d41d8cd98f00b204e9800998ecf8427e",
    ] {
        let (status, body) = app
            .upload_with(
                "bc",
                &json!({"format": "opaque", "sha256": bad}),
                b"x".to_vec(),
            )
            .await;
        assert_problem(status, &body, 400, "invalid_metadata");
    }
}

#[tokio::test]
async fn two_step_upload() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let artifact = vec![7u8; 10_000];
    let (status, pending) = app
        .post_json(
            "/api/v1/models/bc/versions",
            &json!({"format": "opaque", "sha256": digest_of(&artifact)}),
        )
        .await;
    assert_eq!(status, 201, "{pending}");
    assert_eq!(pending["status"], "pending");
    let upload_url = pending["upload_url"].as_str().unwrap();
    assert_eq!(upload_url, "/api/v1/models/bc/versions/1/artifact");
    let (status, body) = app.get_json("/api/v1/models/bc/versions/1/artifact").await;
    assert_problem(status, &body, 409, "version_not_ready");

    let response = app
        .http
        .put(app.url(upload_url))
        .body(artifact.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let ready: Value = response.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["digest"], digest_of(&artifact));
    assert!(ready.get("upload_url").is_none());

    let response = app
        .http
        .put(app.url(upload_url))
        .body(artifact)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409, "a ready version is immutable");
}

#[tokio::test]
async fn two_step_digest_mismatch_marks_the_version_failed() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let (_, pending) = app
        .post_json(
            "/api/v1/models/bc/versions",
            &json!({"format": "opaque", "sha256": digest_of(b"expected")}),
        )
        .await;
    let response = app
        .http
        .put(app.url(pending["upload_url"].as_str().unwrap()))
        .body("actual")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let (_, version) = app.get_json("/api/v1/models/bc/versions/1").await;
    assert_eq!(version["status"], "failed");
    assert_eq!(version["digest"], Value::Null);
    // latest only names ready versions.
    let (status, _) = app.get_json("/api/v1/models/bc/versions/latest").await;
    assert_eq!(status, 404);
    let (_, events) = app
        .get_json("/api/v1/events?model=bc&kind=version_failed")
        .await;
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_uploads_get_distinct_consecutive_numbers() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let uploads = (0..24).map(|i| {
        let app = &app;
        async move { app.upload("bc", format!("artifact {i}").as_bytes()).await }
    });
    let numbers: BTreeSet<i64> = futures::future::join_all(uploads)
        .await
        .into_iter()
        .collect();
    assert_eq!(numbers, (1..=24).collect::<BTreeSet<i64>>());
    let (_, page) = app.get_json("/api/v1/models/bc/versions").await;
    let listed: Vec<i64> = page["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, (1..=24).rev().collect::<Vec<_>>(), "newest first");
}

#[tokio::test]
async fn versions_paginate_newest_first() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    for i in 0..5 {
        app.upload("bc", &[i]).await;
    }
    let (_, first) = app.get_json("/api/v1/models/bc/versions?limit=2").await;
    let token = first["next_page_token"].as_str().unwrap();
    let (_, second) = app
        .get_json(&format!(
            "/api/v1/models/bc/versions?limit=2&page_token={token}"
        ))
        .await;
    let token = second["next_page_token"].as_str().unwrap();
    let (_, third) = app
        .get_json(&format!(
            "/api/v1/models/bc/versions?limit=2&page_token={token}"
        ))
        .await;
    let numbers = |page: &Value| {
        page["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(numbers(&first), [5, 4]);
    assert_eq!(numbers(&second), [3, 2]);
    assert_eq!(numbers(&third), [1]);
    assert!(third["next_page_token"].is_null());
    let (status, body) = app
        .get_json(&format!(
            "/api/v1/models/bc/versions?page_token={}",
            first["next_page_token"].as_str().unwrap().replace('d', "e")
        ))
        .await;
    assert!(status == 400 || status == 200, "{body}");
}

#[tokio::test]
async fn equal_bytes_are_stored_once() {
    let app = spawn_app().await;
    app.create_model("a").await;
    app.create_model("b").await;
    let v1 = app.upload("a", b"same bytes").await;
    let v2 = app.upload("b", b"same bytes").await;
    let (_, one) = app
        .get_json(&format!("/api/v1/models/a/versions/{v1}"))
        .await;
    let (_, two) = app
        .get_json(&format!("/api/v1/models/b/versions/{v2}"))
        .await;
    assert_eq!(one["digest"], two["digest"]);
    let digest = capstan_client::Digest::parse(one["digest"].as_str().unwrap()).unwrap();
    assert!(app.registry.has_blob(&digest).await.unwrap());
}

#[tokio::test]
async fn oversized_artifact_is_413_and_creates_nothing() {
    let app = spawn_with(TestOptions {
        limits: Some(Limits {
            max_artifact_bytes: 1024,
            max_json_bytes: 4096,
            ..Limits::default()
        }),
        ..TestOptions::default()
    })
    .await;
    app.create_model("bc").await;
    let (status, body) = app
        .upload_with("bc", &json!({"format": "opaque"}), vec![0u8; 4096])
        .await;
    assert_problem(status, &body, 413, "payload_too_large");
    let (_, page) = app.get_json("/api/v1/models/bc/versions").await;
    assert_eq!(page["versions"], json!([]));
    assert_eq!(app.staged_uploads().await, 0);

    let huge_description = "x".repeat(10_000);
    let (status, body) = app
        .post_json(
            "/api/v1/models/bc/versions",
            &json!({"format": "opaque", "description": huge_description}),
        )
        .await;
    assert_problem(status, &body, 413, "payload_too_large");
    let (status, body) = app
        .post_json(
            "/api/v1/models",
            &json!({"name": "x", "description": "y".repeat(10_000)}),
        )
        .await;
    assert_problem(status, &body, 413, "payload_too_large");

    // Two-step: too large marks the pending version failed.
    let (_, pending) = app
        .post_json("/api/v1/models/bc/versions", &json!({"format": "opaque"}))
        .await;
    let response = app
        .http
        .put(app.url(pending["upload_url"].as_str().unwrap()))
        .body(vec![1u8; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let (_, version) = app
        .get_json(&format!(
            "/api/v1/models/bc/versions/{}",
            pending["version"]
        ))
        .await;
    assert_eq!(version["status"], "failed");
}

#[tokio::test]
async fn malformed_multipart_and_metadata_are_400_and_create_nothing() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let path = "/api/v1/models/bc/versions";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("multipart/form-data; boundary=XYZ", b"--XYZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{not json}\r\n--XYZ--\r\n".to_vec()),
        ("multipart/form-data; boundary=XYZ", b"--XYZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"format\":\"opaque\"}\r\n--XYZ--\r\n".to_vec()),
        ("multipart/form-data; boundary=XYZ", b"--XYZ\r\nContent-Disposition: form-data; name=\"artifact\"; filename=\"a\"\r\n\r\nbytes\r\n--XYZ--\r\n".to_vec()),
        ("multipart/form-data; boundary=XYZ", b"garbage without boundaries".to_vec()),
        ("multipart/form-data", b"--XYZ\r\n".to_vec()),
        ("multipart/form-data; boundary=XYZ", b"--XYZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--XYZ--\r\n".to_vec()),
        ("multipart/form-data; boundary=XYZ", b"--XYZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"format\":\"opaque\",\"bogus\":1}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"artifact\"; filename=\"a\"\r\n\r\nbytes\r\n--XYZ--\r\n".to_vec()),
        ("application/json", b"{\"format\": ".to_vec()),
        ("application/json", b"".to_vec()),
        ("application/json", b"[]".to_vec()),
        ("application/json", b"{\"format\": \"../../etc\"}".to_vec()),
        ("application/json", b"{\"format\": \"opaque\", \"metrics\": {\"acc\": \"high\"}}".to_vec()),
    ];
    for (content_type, body) in cases {
        let response = app
            .http
            .post(app.url(path))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{content_type} {}",
            String::from_utf8_lossy(&body)
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(
            status,
            400,
            "{content_type} {} → {problem}",
            String::from_utf8_lossy(&body)
        );
    }
    let (_, page) = app.get_json("/api/v1/models/bc/versions").await;
    assert_eq!(
        page["versions"],
        json!([]),
        "nothing may be created by a bad request"
    );
    assert_eq!(app.staged_uploads().await, 0);

    let response = app
        .http
        .post(app.url(path))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    // Neither multipart nor JSON: 415, as the OpenAPI document says (was 400, issue 9).
    let status = response.status().as_u16();
    assert_problem(
        status,
        &response.json().await.unwrap(),
        415,
        "unsupported_media_type",
    );
}

#[tokio::test]
async fn upload_to_a_missing_model_is_404() {
    let app = spawn_app().await;
    let (status, body) = app
        .upload_with("ghost", &json!({"format": "opaque"}), b"x".to_vec())
        .await;
    assert_problem(status, &body, 404, "model_not_found");
    assert_eq!(app.staged_uploads().await, 0);
}

#[tokio::test]
async fn interrupted_multipart_upload_leaves_no_version_and_no_blob() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let head = "POST /api/v1/models/bc/versions HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=XYZ";
    let mut partial = b"--XYZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"format\":\"opaque\"}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"artifact\"; filename=\"a\"\r\n\r\n".to_vec();
    partial.extend(vec![42u8; 9 * 1024 * 1024]); // past one part: a multipart upload was begun
    cut_off_upload(app.addr, head, 12 * 1024 * 1024, &partial).await;

    // The server learns of the disconnect on its own schedule; wait until it has cleaned up.
    let cleaned = app
        .eventually(Duration::from_secs(10), || async {
            let (_, page) = app.get_json("/api/v1/models/bc/versions").await;
            page["versions"] == json!([]) && app.staged_uploads().await == 0
        })
        .await;
    assert!(
        cleaned,
        "an interrupted upload left a version or a staged blob behind"
    );
    // And the registry still works, with number 1 still free.
    assert_eq!(app.upload("bc", b"after").await, 1);
}

#[tokio::test]
async fn interrupted_two_step_upload_marks_the_version_failed() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let (_, pending) = app
        .post_json("/api/v1/models/bc/versions", &json!({"format": "opaque"}))
        .await;
    let head = format!(
        "PUT {} HTTP/1.1\r\nContent-Type: application/octet-stream",
        pending["upload_url"].as_str().unwrap()
    );
    cut_off_upload(app.addr, &head, 1024 * 1024, &[1u8; 1000]).await;
    let failed = app
        .eventually(Duration::from_secs(10), || async {
            let (_, version) = app.get_json("/api/v1/models/bc/versions/1").await;
            version["status"] == "failed"
        })
        .await;
    assert!(
        failed,
        "an interrupted two-step upload must leave the version failed"
    );
    let (status, _) = raw_request(
        app.addr,
        "GET /api/v1/models/bc/versions/1/artifact HTTP/1.1",
        b"",
    )
    .await;
    assert_eq!(status, 409);
}
