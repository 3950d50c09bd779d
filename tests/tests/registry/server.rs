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

/// `serve` caps glibc's malloc arenas (docs/configuration.md): it starts itself again with
/// `MALLOC_ARENA_MAX` set to the number of cores, keeping its process id, and leaves a
/// value the operator set alone.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn serve_caps_malloc_arenas_unless_told_otherwise() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    for (given, expected) in [(None, cores.to_string()), (Some("7"), "7".to_owned())] {
        let data = tempfile::tempdir().unwrap();
        let mut command = std::process::Command::new(capstan_tests::example::registry_bin());
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--batch-workers", "0"])
            .arg("--data-dir")
            .arg(data.path())
            .env("RUST_LOG", "warn")
            .env_remove("MALLOC_ARENA_MAX")
            .stdout(std::process::Stdio::null());
        if let Some(value) = given {
            command.env("MALLOC_ARENA_MAX", value);
        }
        let mut server = command.spawn().unwrap();
        let environ = format!("/proc/{}/environ", server.id());
        let mut seen = None;
        for _ in 0..100 {
            let variables = std::fs::read(&environ).unwrap_or_default();
            seen = variables
                .split(|&byte| byte == 0)
                .find_map(|pair| pair.strip_prefix(b"MALLOC_ARENA_MAX="))
                .map(|value| String::from_utf8_lossy(value).into_owned());
            if seen.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let still_running = server.try_wait().unwrap().is_none();
        server.kill().unwrap();
        server.wait().unwrap();
        assert_eq!(seen.as_deref(), Some(expected.as_str()), "given {given:?}");
        assert!(still_running, "the server exited (given {given:?})");
    }
}
