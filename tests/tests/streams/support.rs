//! What the stream tests share: an SSE reader, relay probes (`/readyz`), and the
//! environment's brokers (or a skip notice when one is not configured outside CI).

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::{json, Value};

use capstan_tests::TestApp;

/// How long any single wait in these tests may take before it fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// One item of a server-sent-event stream.
#[derive(Debug, Clone, PartialEq)]
pub enum SseItem {
    Event { id: i64, kind: String, data: Value },
    Comment(String),
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Reads `GET /api/v1/events/stream` frame by frame.
pub struct SseReader {
    body: Body,
    buffer: String,
}

impl SseReader {
    /// Opens the stream with `query` (e.g. `?after=3`) and an optional `Last-Event-ID`;
    /// returns once the response headers arrived (the subscription exists from then on).
    pub async fn open(app: &TestApp, query: &str, last_event_id: Option<&str>) -> SseReader {
        let response = Self::request(app, query, last_event_id).await;
        assert_eq!(response.status(), 200, "stream not opened");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        SseReader {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    pub async fn request(
        app: &TestApp,
        query: &str,
        last_event_id: Option<&str>,
    ) -> reqwest::Response {
        let mut request =
            reqwest::Client::new().get(app.url(&format!("/api/v1/events/stream{query}")));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        tokio::time::timeout(WAIT, request.send())
            .await
            .expect("no response headers")
            .unwrap()
    }

    /// The next frame, or `None` when the server ended the stream.
    pub async fn next(&mut self) -> Option<SseItem> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse_block(block.trim_end_matches('\n')));
            }
            let chunk = tokio::time::timeout(WAIT, self.body.next())
                .await
                .expect("no frame within the wait");
            match chunk {
                Some(Ok(bytes)) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next event (skipping keep-alive comments): `(seq, kind, message)`.
    pub async fn next_event(&mut self) -> (i64, String, Value) {
        loop {
            match self.next().await {
                Some(SseItem::Event { id, kind, data }) => return (id, kind, data),
                Some(SseItem::Comment(_)) => {}
                None => panic!("the stream ended while an event was expected"),
            }
        }
    }

    /// The next `count` events' seqs.
    pub async fn next_seqs(&mut self, count: usize) -> Vec<i64> {
        let mut seqs = Vec::with_capacity(count);
        for _ in 0..count {
            seqs.push(self.next_event().await.0);
        }
        seqs
    }
}

fn parse_block(block: &str) -> SseItem {
    let mut id = None;
    let mut kind = None;
    let mut data = None;
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            return SseItem::Comment(comment.trim().to_owned());
        }
        let (field, value) = line.split_once(": ").unwrap_or((line, ""));
        match field {
            "id" => id = Some(value.parse().unwrap()),
            "event" => kind = Some(value.to_owned()),
            "data" => {
                assert!(data.is_none(), "data must be one line: {block}");
                data = Some(serde_json::from_str(value).unwrap());
            }
            other => panic!("unexpected SSE field {other:?} in {block:?}"),
        }
    }
    SseItem::Event {
        id: id.expect("frame without id"),
        kind: kind.expect("frame without event"),
        data: data.expect("frame without data"),
    }
}

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
