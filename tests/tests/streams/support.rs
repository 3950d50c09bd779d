//! What the stream tests share: the SSE reader (`capstan_tests::sse`), relay probes (`/readyz`), and the
//! environment's brokers (or a skip notice when one is not configured outside CI).

use std::time::Duration;

use serde_json::{json, Value};

use capstan_tests::TestApp;

/// How long any single wait in these tests may take before it fails.
pub const WAIT: Duration = Duration::from_secs(30);

pub use capstan_tests::sse::{SseItem, SseReader};

/// The app's `/readyz` `relays` entry for `publisher`.
pub async fn relay_status(app: &TestApp, publisher: &str) -> Value {
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    body["relays"]
        .as_array()
        .unwrap_or_else(|| panic!("no relays in /readyz: {body}"))
        .iter()
        .find(|r| r["publisher"] == publisher)
        .cloned()
        .unwrap_or_else(|| panic!("{publisher} missing from /readyz: {body}"))
}

/// Waits until `publisher` has published the whole event log (lag 0 at the newest seq).
pub async fn wait_until_relayed(app: &TestApp, publisher: &str) {
    let latest = app.registry.last_event_seq().await.unwrap();
    let caught_up = app
        .eventually(WAIT, || async {
            let status = relay_status(app, publisher).await;
            status["cursor"].as_i64() >= Some(latest) && status["lag"] == 0
        })
        .await;
    assert!(
        caught_up,
        "{publisher} did not publish up to seq {latest}: {}",
        relay_status(app, publisher).await
    );
}

/// The counter `name{publisher="…"}` from the app's `/metrics`.
pub async fn relay_metric(app: &TestApp, name: &str, publisher: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    let prefix = format!("{name}{{publisher=\"{publisher}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{prefix} missing from /metrics:\n{text}"))
        .parse()
        .unwrap()
}

/// Creates `name` and uploads one opaque version; returns the version's body.
pub async fn model_with_version(app: &TestApp, name: &str, bytes: &[u8]) -> Value {
    app.create_model(name).await;
    let (status, body) = app
        .upload_with(name, &json!({"format": "opaque"}), bytes.to_vec())
        .await;
    assert_eq!(status, 201, "{body}");
    body
}
