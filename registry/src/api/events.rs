//! `/api/v1/events`: the append-only event log.

use actix_web::{get, web, HttpResponse};
use serde::Deserialize;

use capstan_client::types::{EventKind, EventPage};
use capstan_client::Problem;

use super::extract::model_name;
use crate::error::{RegistryError, RegistryResult};
use crate::service::events::EventQuery;
use crate::service::Registry;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListEventsParams {
    /// Only events of this model.
    model: Option<String>,
    /// Only events of this kind (`stage_changed`, `version_ready`, …).
    kind: Option<String>,
    /// Only events with a greater `seq` (default 0: from the start).
    after: Option<i64>,
    /// Page size, 1–1000 (default 100).
    limit: Option<i64>,
}

/// Read the event log in `seq` order.
#[utoipa::path(
    tag = "events",
    params(ListEventsParams),
    responses(
        (status = 200, description = "Events after `after`, oldest first", body = EventPage),
        (status = 400, description = "Invalid filter", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/events")]
pub async fn list_events(
    registry: web::Data<Registry>,
    query: web::Query<ListEventsParams>,
) -> RegistryResult<HttpResponse> {
    let query = query.into_inner();
    let kind = query
        .kind
        .as_deref()
        .map(|k| {
            EventKind::parse(k).ok_or_else(|| {
                RegistryError::bad_request(
                    "invalid_kind",
                    format!(
                        "unknown event kind {:?}",
                        k.chars().take(64).collect::<String>()
                    ),
                )
            })
        })
        .transpose()?;
    let model = query.model.as_deref().map(model_name).transpose()?;
    let page = registry
        .list_events(EventQuery {
            model,
            kind,
            after: query.after,
            limit: query.limit,
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
