//! A reader of the registry's server-sent-event stream (`GET /api/v1/events/stream`),
//! frame by frame, for every test that follows it: the stream tests, the chaos test's
//! replay after the kills, and the replicas test's two subscribers.
//!
//! Every wait is bounded: a frame must come within [`FRAME_WAIT`], and an event (keep-alive
//! comments do not count) within [`EVENT_WAIT`], so a stream that stays open but never
//! sends what is expected fails in a minute, saying what it did send.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio::time::Instant;

use crate::TestApp;

/// How long the reader waits for the response headers or for any one frame.
pub const FRAME_WAIT: Duration = Duration::from_secs(30);

/// How long [`SseReader::next_event`] waits for an event across keep-alive comments.
pub const EVENT_WAIT: Duration = Duration::from_secs(60);

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
    /// The `id` of every event read so far, in order.
    seen: Vec<i64>,
    /// Keep-alive comments read since the last event.
    comments: usize,
}

impl SseReader {
    /// Opens the app's stream with `query` (e.g. `?after=3`) and an optional
    /// `Last-Event-ID`; returns once the response headers arrived (the subscription
    /// exists from then on).
    pub async fn open(app: &TestApp, query: &str, last_event_id: Option<&str>) -> SseReader {
        Self::open_at(&app.base, query, last_event_id).await
    }

    /// [`SseReader::open`] on the registry at `base` (`http://host:port`).
    pub async fn open_at(base: &str, query: &str, last_event_id: Option<&str>) -> SseReader {
        let response = Self::request_at(base, query, last_event_id).await;
        assert_eq!(response.status(), 200, "stream not opened");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        SseReader {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
            seen: Vec::new(),
            comments: 0,
        }
    }

    /// The response to a stream request, whatever its status (for the refusals).
    pub async fn request(
        app: &TestApp,
        query: &str,
        last_event_id: Option<&str>,
    ) -> reqwest::Response {
        Self::request_at(&app.base, query, last_event_id).await
    }

    async fn request_at(base: &str, query: &str, last_event_id: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(format!("{base}/api/v1/events/stream{query}"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        tokio::time::timeout(FRAME_WAIT, request.send())
            .await
            .expect("no response headers")
            .unwrap()
    }

    /// The next frame, or `None` when the server ended the stream.
    pub async fn next(&mut self) -> Option<SseItem> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let item = parse_block(block.trim_end_matches('\n'));
                match &item {
                    SseItem::Event { id, .. } => {
                        self.seen.push(*id);
                        self.comments = 0;
                    }
                    SseItem::Comment(_) => self.comments += 1,
                }
                return Some(item);
            }
            let chunk = tokio::time::timeout(FRAME_WAIT, self.body.next())
                .await
                .unwrap_or_else(|_| panic!("no frame within {FRAME_WAIT:?}; {}", self.so_far()));
            match chunk {
                Some(Ok(bytes)) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next event (skipping keep-alive comments): `(seq, kind, message)`.
    pub async fn next_event(&mut self) -> (i64, String, Value) {
        let deadline = Instant::now() + EVENT_WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.next()).await;
            match next {
                Ok(Some(SseItem::Event { id, kind, data })) => return (id, kind, data),
                Ok(Some(SseItem::Comment(_))) => {}
                Ok(None) => panic!(
                    "the stream ended while an event was expected; {}",
                    self.so_far()
                ),
                Err(_) => panic!("no event within {EVENT_WAIT:?}; {}", self.so_far()),
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

    /// Reads until an event with seq `last` or later has come; returns the seq of every
    /// event this reader has read.
    pub async fn seqs_through(&mut self, last: i64) -> Vec<i64> {
        while self.seen.last().copied().unwrap_or(0) < last {
            self.next_event().await;
        }
        self.seen.clone()
    }

    fn so_far(&self) -> String {
        format!(
            "events read so far: {:?}; keep-alive comments since the last one: {}",
            self.seen, self.comments
        )
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
