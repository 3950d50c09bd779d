//! Datasets, the inputs of batch jobs (pattern 4): stored content-addressed, served back
//! with ETag and Range, refused with a problem when bad.

use serde_json::json;

use capstan_tests::{assert_problem, spawn_app, spawn_with, TestOptions};

use super::batch::{table_with_ids, upload_dataset};

#[tokio::test]
async fn a_dataset_is_stored_content_addressed_and_served_back() {
    let app = spawn_app().await;
    let (csv, _) = table_with_ids();
    let (status, dataset) =
        upload_dataset(&app, "bc%20table", "text/csv", csv.clone().into_bytes()).await;
    assert_eq!(status, 201, "{dataset}");
    assert_eq!(dataset["name"], "bc table");
    assert_eq!(dataset["format"], "csv");
    assert_eq!(dataset["size"], csv.len());
    assert_eq!(dataset["digest"], capstan_tests::digest_of(csv.as_bytes()));
    let id = dataset["id"].as_str().unwrap();

    let (status, listed) = app.get_json("/api/v1/datasets").await;
    assert_eq!(status, 200);
    assert_eq!(listed["datasets"][0]["id"], id);
    let (_, got) = app.get_json(&format!("/api/v1/datasets/{id}")).await;
    assert_eq!(got, dataset);

    let content = app.get(&format!("/api/v1/datasets/{id}/content")).await;
    assert_eq!(content.status(), 200);
    assert_eq!(content.headers()["content-type"], "text/csv");
    let etag = content.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(content.text().await.unwrap(), csv);
    let ranged = app
        .http
        .get(app.url(&format!("/api/v1/datasets/{id}/content")))
        .header("range", "bytes=0-1")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.text().await.unwrap(), "id");
    let cached = app
        .http
        .get(app.url(&format!("/api/v1/datasets/{id}/content")))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    let (status, _) = app.delete(&format!("/api/v1/datasets/{id}")).await;
    assert_eq!(status, 204);
    let (status, body) = app.get_json(&format!("/api/v1/datasets/{id}")).await;
    assert_problem(status, &body, 404, "dataset_not_found");
}

#[tokio::test]
async fn bad_datasets_are_refused_and_nothing_is_stored() {
    let app = spawn_with(TestOptions {
        limits: Some(capstan_registry::service::Limits {
            max_dataset_bytes: 64,
            ..Default::default()
        }),
        ..TestOptions::default()
    })
    .await;
    let (status, body) = upload_dataset(&app, "x", "application/json", b"{}".to_vec()).await;
    assert_problem(status, &body, 415, "unsupported_media_type");
    let (status, body) = upload_dataset(&app, "x", "text/csv", Vec::new()).await;
    assert_problem(status, &body, 400, "empty_dataset");
    let (status, body) = upload_dataset(&app, "x", "text/csv", vec![b'1'; 65]).await;
    assert_problem(status, &body, 413, "payload_too_large");
    let (status, body) = upload_dataset(&app, "a%0Ab", "text/csv", b"a\n1\n".to_vec()).await;
    assert_problem(status, &body, 400, "invalid_dataset_name");
    let (_, listed) = app.get_json("/api/v1/datasets").await;
    assert_eq!(listed["datasets"], json!([]));
    assert_eq!(app.staged_uploads().await, 0);
}
