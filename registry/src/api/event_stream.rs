//! `GET /api/v1/events/stream`: the event log as server-sent events (the frames and the
//! replay are [`crate::events::stream`]'s).

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use tokio_util::sync::CancellationToken;

use capstan_client::http::EventStreamQuery;
use capstan_client::types::EventKind;
use capstan_client::Problem;

use crate::domain::access::Caller;
use crate::error::{RegistryError, RegistryResult};
use crate::events::stream::StreamFilter;
use crate::events::EventHub;

/// One server-sent event of the stream, as an `EventSource` client reads it (`: keep-alive`
/// comments while idle are not events).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the frames for the OpenAPI document only
pub struct EventStreamFrame {
    /// The event's `seq`: send it back as `Last-Event-ID` to resume after it.
    #[schema(pattern = "^[0-9]+$")]
    id: String,
    /// The event's kind.
    event: EventKind,
    /// The `EventMessage`, as one line of JSON.
    #[schema(content_media_type = "application/json")]
    data: String,
}

/// Follow the event log as server-sent events.
///
/// Frames: `id: <seq>`, `event: <kind>`, `data: <EventMessage as one line of JSON>`, then a
/// blank line; `: keep-alive` comments while idle. Delivery is in `seq` order; after a
/// reconnect with `Last-Event-ID` (or `after`) the stream resumes at the next `seq`.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "events",
    params(
        EventStreamQuery,
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0, description = "Resume after this seq (sent by EventSource on reconnect)")
    ),
    responses(
        (status = 200, description = "A stream of events; each `data:` line is one EventMessage", body = EventStreamFrame, content_type = "text/event-stream"),
        (status = 400, description = "Invalid filter or position", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/events/stream")]
pub async fn stream_events(
    hub: web::Data<EventHub>,
    shutdown: web::Data<CancellationToken>,
    query: web::Query<EventStreamQuery>,
    request: HttpRequest,
    caller: Caller,
) -> RegistryResult<HttpResponse> {
    let query = query.into_inner();
    let filter = StreamFilter {
        model: query.model,
        kind: query.kind,
        scope: caller.scope,
    };
    if query.after.is_some_and(|seq| seq < 0) {
        return Err(RegistryError::bad_request(
            "invalid_after",
            "after must be a sequence number ≥ 0",
        ));
    }
    let resume = match request.headers().get("Last-Event-ID") {
        Some(value) => Some(parse_last_event_id(value)?),
        None => query.after,
    };
    let body = hub
        .sse_stream(filter, resume, shutdown.get_ref().clone())
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Compression would hold frames back in the encoder's buffer.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        // A finished stream's connection is not reused, so a shutdown is not held up by it.
        .force_close()
        .streaming(body))
}

fn parse_last_event_id(value: &header::HeaderValue) -> RegistryResult<i64> {
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<i64>().ok())
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| {
            RegistryError::bad_request(
                "invalid_last_event_id",
                "Last-Event-ID must be a sequence number ≥ 0",
            )
        })
}
