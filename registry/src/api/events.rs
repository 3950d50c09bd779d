//! `/api/v1/events`: the append-only event log.

use actix_web::{get, web, HttpResponse};

use capstan_client::http::EventQuery;
use capstan_client::types::EventPage;
use capstan_client::Problem;

use crate::domain::access::Caller;
use crate::error::RegistryResult;
use crate::service::Registry;

/// Read the event log in `seq` order.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "events",
    params(EventQuery),
    responses(
        (status = 200, description = "Events after `after`, oldest first", body = EventPage),
        (status = 400, description = "Invalid filter", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/events")]
pub async fn list_events(
    registry: web::Data<Registry>,
    query: web::Query<EventQuery>,
    caller: Caller,
) -> RegistryResult<HttpResponse> {
    let page = registry
        .list_events(query.into_inner(), &caller.scope)
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
