use serde_json::json;

use capstan_tests::{assert_problem, digest_of, spawn_app};

fn artifact() -> Vec<u8> {
    (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect()
}

#[tokio::test]
async fn download_by_every_kind_of_ref_with_etag_and_length() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let bytes = artifact();
    let v = app.upload("bc", &bytes).await;
    app.promote("bc", "production", &json!({"version": v}))
        .await;
    app.put_json("/api/v1/models/bc/aliases/champion", &json!({"version": v}))
        .await;
    for reference in ["1", "production", "champion", "latest"] {
        let response = app
            .get(&format!("/api/v1/models/bc/versions/{reference}/artifact"))
            .await;
        assert_eq!(response.status(), 200, "{reference}");
        let headers = response.headers().clone();
        assert_eq!(headers["etag"], format!("\"{}\"", digest_of(&bytes)));
        assert_eq!(headers["content-length"], bytes.len().to_string());
        assert_eq!(headers["accept-ranges"], "bytes");
        assert_eq!(headers["x-capstan-model-version"], "1");
        let body = response.bytes().await.unwrap();
        assert_eq!(body.as_ref(), bytes.as_slice());
    }
}

#[tokio::test]
async fn conditional_and_ranged_downloads() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let bytes = artifact();
    app.upload("bc", &bytes).await;
    let url = app.url("/api/v1/models/bc/versions/1/artifact");
    let etag = format!("\"{}\"", digest_of(&bytes));

    let response = app
        .http
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()["etag"], etag.as_str());
    assert!(response.bytes().await.unwrap().is_empty());
    let response = app
        .http
        .get(&url)
        .header("if-none-match", "\"sha256:00\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let response = app
        .http
        .get(&url)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.headers()["content-range"],
        format!("bytes 10-19/{}", bytes.len())
    );
    assert_eq!(response.headers()["content-length"], "10");
    assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[10..20]);

    let response = app
        .http
        .get(&url)
        .header("range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &bytes[bytes.len() - 5..]
    );

    let resume_from = bytes.len() - 1000;
    let response = app
        .http
        .get(&url)
        .header("range", format!("bytes={resume_from}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &bytes[resume_from..]
    );

    let response = app
        .http
        .get(&url)
        .header("range", format!("bytes={}-", bytes.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 416);
    assert_eq!(
        response.headers()["content-range"],
        format!("bytes */{}", bytes.len())
    );
}

#[tokio::test]
async fn redirect_answers_a_presigned_url_on_s3_and_streams_on_disk() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let bytes = artifact();
    app.upload("bc", &bytes).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .get(app.url("/api/v1/models/bc/versions/latest/artifact?redirect=true"))
        .send()
        .await
        .unwrap();
    if app.s3 {
        assert_eq!(response.status(), 307);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.contains("X-Amz-Signature"), "{location}");
        let fetched = reqwest::get(&location).await.unwrap();
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.bytes().await.unwrap().as_ref(), bytes.as_slice());
    } else {
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
}

#[tokio::test]
async fn missing_refs_are_404() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    for reference in ["1", "production", "staging", "champion", "latest"] {
        let (status, body) = app
            .get_json(&format!("/api/v1/models/bc/versions/{reference}/artifact"))
            .await;
        assert_problem(status, &body, 404, "version_not_found");
    }
    let (status, body) = app
        .get_json("/api/v1/models/ghost/versions/1/artifact")
        .await;
    assert_problem(status, &body, 404, "model_not_found");
}

#[tokio::test]
async fn large_artifact_round_trips_through_multipart_parts() {
    let app = spawn_app().await;
    app.create_model("big").await;
    // 20 MiB: larger than two upload parts.
    let bytes: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (status, version) = app
        .upload_with(
            "big",
            &json!({"format": "opaque", "sha256": digest_of(&bytes)}),
            bytes.clone(),
        )
        .await;
    assert_eq!(status, 201, "{version}");
    let body = app
        .get("/api/v1/models/big/versions/1/artifact")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.len(), bytes.len());
    assert_eq!(digest_of(&body), digest_of(&bytes));
}
