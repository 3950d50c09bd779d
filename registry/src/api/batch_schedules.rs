//! `/api/v1/batch-schedules`: batch jobs created on a cron (pattern 4).

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse};

use capstan_client::http::api::{self, PageQuery};
use capstan_client::types::{
    BatchSchedule, BatchSchedulePage, CreateBatchSchedule, UpdateBatchSchedule,
};
use capstan_client::Problem;

use super::extract::{JsonObject, SchedulePath};
use crate::domain::access::Caller;
use crate::error::RegistryResult;
use crate::service::Registry;

/// Create a schedule: a batch job queued at every cron time, its ref resolved when the job
/// starts.
///
/// A fire time is queued once however many replicas run; a registry that was down over
/// fire times queues the latest of them when it comes back.
#[utoipa::path(
    security(("bearer" = ["promoter"])),
    tag = "batch-schedules",
    request_body = CreateBatchSchedule,
    responses(
        (status = 201, description = "Created", body = BatchSchedule),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model, version, dataset, input object or deployment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken, or the version is not ready", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid cron or time zone, a format that cannot be served, a URL outside the object store, or a deployment that is not a batch deployment of the model", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/batch-schedules")]
pub async fn create_schedule(
    registry: web::Data<Registry>,
    caller: Caller,
    body: JsonObject<CreateBatchSchedule>,
) -> RegistryResult<HttpResponse> {
    let schedule = registry
        .create_batch_schedule(body.0, &caller.scope)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, api::batch_schedule(&schedule.name)))
        .json(schedule))
}

/// List schedules by name.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "batch-schedules",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of schedules", body = BatchSchedulePage),
        (status = 400, description = "Invalid limit or page token", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/batch-schedules")]
pub async fn list_schedules(
    registry: web::Data<Registry>,
    caller: Caller,
    query: web::Query<PageQuery>,
) -> RegistryResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        registry
            .list_batch_schedules(query.into_inner(), &caller.scope)
            .await?,
    ))
}

#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "batch-schedules",
    params(("name" = String, Path, description = "Schedule name")),
    responses(
        (status = 200, description = "The schedule, with its next fire time", body = BatchSchedule),
        (status = 404, description = "No such schedule", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/batch-schedules/{name}")]
pub async fn get_schedule(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<SchedulePath>,
) -> RegistryResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        registry
            .get_batch_schedule(path.into_inner().name, &caller.scope)
            .await?,
    ))
}

/// Pause, resume, re-time or change auto-approval. Resuming and a new cron count from now:
/// fire times that passed meanwhile are skipped.
#[utoipa::path(
    security(("bearer" = ["promoter"])),
    tag = "batch-schedules",
    params(("name" = String, Path, description = "Schedule name")),
    request_body = UpdateBatchSchedule,
    responses(
        (status = 200, description = "The schedule", body = BatchSchedule),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such schedule", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid cron or time zone", body = Problem, content_type = "application/problem+json")
    )
)]
#[patch("/batch-schedules/{name}")]
pub async fn update_schedule(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<SchedulePath>,
    body: JsonObject<UpdateBatchSchedule>,
) -> RegistryResult<HttpResponse> {
    let schedule = registry
        .update_batch_schedule(path.into_inner().name, body.0, &caller.scope)
        .await?;
    Ok(HttpResponse::Ok().json(schedule))
}

/// Delete a schedule; the jobs it created stay.
#[utoipa::path(
    security(("bearer" = ["promoter"])),
    tag = "batch-schedules",
    params(("name" = String, Path, description = "Schedule name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such schedule", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/batch-schedules/{name}")]
pub async fn delete_schedule(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<SchedulePath>,
) -> RegistryResult<HttpResponse> {
    registry
        .delete_batch_schedule(path.into_inner().name, &caller.scope)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
