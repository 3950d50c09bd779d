//! [`SseSource`]: the registry's own event stream, `GET /api/v1/events/stream?model=…`
//! (server-sent events), over the async client's connection settings. Resumes with
//! `Last-Event-ID: <seq>`; the registry replays the log from the next `seq`. A stream
//! that stays silent — not even a `: keep-alive` — for the idle timeout is treated as
//! broken.

use std::collections::VecDeque;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::{Method, Response};

use super::error::LiveError;
use super::source::{Checkpoint, Delivery, EventSource, EventStream};
use super::sse_frames::{SseEvent, SseParser};
use crate::error::Error;
use crate::http::api::EVENTS;
use crate::http::Client;
use crate::names::ModelName;

/// The registry sends a keep-alive every 15 s by default; three missed ones mean the
/// connection is gone even if TCP has not noticed.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// Largest error body read from a refused subscription.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Server-sent events from the registry the client talks to.
#[derive(Clone, Debug)]
pub struct SseSource {
    client: Client,
    idle_timeout: Duration,
}

impl SseSource {
    pub fn new(client: Client) -> Self {
        SseSource {
            client,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }

    /// How long the stream may stay silent before it is reconnected (default 45 s).
    pub fn with_idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    async fn open(&self, model: &ModelName, from: &Checkpoint) -> Result<EventStream, LiveError> {
        self.open_filtered(&format!("model={model}"), from.seq())
            .await
    }

    /// The stream of every event `filters` selects (`model=…&kind=…`, URL-encoded, or
    /// empty for all), replayed from after `after` when given, else new events only.
    /// One connection: when it breaks the stream ends with an error, and the caller
    /// reconnects after the last `seq` it saw.
    pub async fn open_filtered(
        &self,
        filters: &str,
        after: Option<i64>,
    ) -> Result<EventStream, LiveError> {
        let path = if filters.is_empty() {
            format!("{EVENTS}/stream")
        } else {
            format!("{EVENTS}/stream?{filters}")
        };
        let mut request = self
            .client
            .request(Method::GET, &path)
            .header("accept", "text/event-stream");
        if let Some(seq) = after {
            request = request.header("last-event-id", seq.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| LiveError::unavailable(self.describe(), error_chain(&e)))?;
        let response = refused(response).await?;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !content_type.starts_with("text/event-stream") {
            return Err(LiveError::unavailable(
                self.describe(),
                format!("{path} answered {content_type:?}, not text/event-stream"),
            ));
        }
        let reader = Reader {
            name: self.describe(),
            response,
            parser: SseParser::default(),
            ready: VecDeque::new(),
            idle_timeout: self.idle_timeout,
            done: false,
        };
        Ok(Box::pin(futures::stream::unfold(
            reader,
            |mut reader| async move {
                let item = reader.next().await?;
                Some((item, reader))
            },
        )))
    }
}

impl EventSource for SseSource {
    fn describe(&self) -> String {
        format!("sse {}", self.client.config().url)
    }

    fn subscribe<'a>(
        &'a self,
        model: &'a ModelName,
        from: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<EventStream, LiveError>> {
        Box::pin(self.open(model, from))
    }
}

/// The response if it is a success, else the registry's problem as an error.
async fn refused(mut response: Response) -> Result<Response, LiveError> {
    let status = response.status().as_u16();
    if status < 400 {
        return Ok(response);
    }
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ERROR_BODY {
            break;
        }
    }
    Err(LiveError::Registry(Error::from_response(status, &body)))
}

/// One open event stream: the response body, parsed frame by frame.
struct Reader {
    name: String,
    response: Response,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
    idle_timeout: Duration,
    done: bool,
}

impl Reader {
    /// The next delivery; an error ends the stream, and so does the server.
    async fn next(&mut self) -> Option<Result<Delivery, LiveError>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                match delivery(&event) {
                    Some(delivery) => return Some(Ok(delivery)),
                    None => continue,
                }
            }
            if self.done {
                return None;
            }
            let chunk = tokio::time::timeout(self.idle_timeout, self.response.chunk()).await;
            let failure = match chunk {
                Ok(Ok(Some(bytes))) => match self.parser.feed(&bytes) {
                    Ok(events) => {
                        self.ready.extend(events);
                        continue;
                    }
                    Err(error) => error.to_string(),
                },
                Ok(Ok(None)) => "the registry ended the stream".to_owned(),
                Ok(Err(error)) => error_chain(&error),
                Err(_) => format!(
                    "nothing received for {:?}, not even a keep-alive",
                    self.idle_timeout
                ),
            };
            self.done = true;
            return Some(Err(LiveError::unavailable(self.name.clone(), failure)));
        }
    }
}

/// An event frame as a delivery: `seq` from the body (else the `id:`); frames with
/// neither are not the registry's events and are skipped.
fn delivery(event: &SseEvent) -> Option<Delivery> {
    Delivery::decode(event.data.as_bytes(), event.id.as_deref(), None)
}

/// A reqwest error with its causes, on one line.
fn error_chain(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_deliveries() {
        let body = r#"{"seq":12,"kind":"stage_changed","model":"bc","version":3,"stage":"production","to_version":3,"created_at":"2026-01-01T00:00:00Z","refs":["production","3"],"artifact":null}"#;
        let frame = SseEvent {
            id: Some("12".into()),
            event: Some("stage_changed".into()),
            data: body.into(),
        };
        let delivery = delivery(&frame).expect("a delivery");
        assert_eq!(delivery.seq, 12);
        let message = delivery.message.expect("decoded");
        assert_eq!(message.refs, ["production", "3"]);

        let unknown = SseEvent {
            id: Some("13".into()),
            event: Some("from_the_future".into()),
            data: "{\"seq\": 13, \"kind\": \"from_the_future\"}".into(),
        };
        let delivery = super::delivery(&unknown).expect("kept by its id");
        assert_eq!((delivery.seq, delivery.message), (13, None));

        let stray = SseEvent {
            id: None,
            event: None,
            data: "hello".into(),
        };
        assert!(super::delivery(&stray).is_none());
    }
}
