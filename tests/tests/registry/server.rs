use serde_json::json;

use capstan_tests::spawn_app;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "ready", "database": "ok", "object_store": "ok"})
    );
}

#[tokio::test]
async fn graceful_stop_finishes_in_flight_uploads() {
    let app = spawn_app().await;
    app.create_model("bc").await;
    let (_, pending) = app
        .post_json("/api/v1/models/bc/versions", &json!({"format": "opaque"}))
        .await;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(receiver));
    let upload = tokio::spawn(
        app.http
            .put(app.url(pending["upload_url"].as_str().unwrap()))
            .body(body)
            .send(),
    );
    sender.send(Ok(vec![1u8; 1024])).await.unwrap();
    // No signal tells when the server has dispatched the request; give it a moment.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let stopped = tokio::spawn(app.stop_gracefully());
    sender.send(Ok(vec![2u8; 1024])).await.unwrap();
    drop(sender);
    let response = upload.await.unwrap().unwrap();
    assert_eq!(
        response.status(),
        200,
        "the in-flight upload must complete during a graceful stop"
    );
    let version: serde_json::Value = response.json().await.unwrap();
    assert_eq!(version["status"], "ready");
    assert_eq!(version["size"], 2048);
    stopped.await.unwrap();
    assert!(
        reqwest::get(app.url("/healthz")).await.is_err(),
        "a stopped server accepts nothing"
    );
}

fn tokio_stream_from(
    mut receiver: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
