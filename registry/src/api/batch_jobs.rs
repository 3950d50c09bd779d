//! `/api/v1/batch-jobs`: offline predictions (pattern 4) — submit, follow, cancel,
//! review and download batch jobs.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use futures::TryStreamExt;

use capstan_client::http::api::{self, BatchJobQuery};
use capstan_client::types::{
    BatchJob, BatchJobPage, BatchJobStatus, ReviewBatchJob, SubmitBatchJob,
};
use capstan_client::Problem;

use super::artifacts::if_none_match;
use super::extract::{JobPath, JsonObject};
use crate::domain::access::Caller;
use crate::error::RegistryResult;
use crate::service::Registry;

/// Submit a batch job: score a dataset (or an object-store URL) with a model ref.
///
/// The ref is checked now and resolved again when a worker starts the job; the job
/// records the exact version and digest it ran.
#[utoipa::path(
    security(("bearer" = ["editor"])),
    tag = "batch-jobs",
    request_body = SubmitBatchJob,
    responses(
        (status = 201, description = "Queued", body = BatchJob),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model, version, dataset, input object or deployment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version is not ready", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The version's format cannot be served, the URL is outside the object store, or the deployment is not a batch deployment of the job's model", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/batch-jobs")]
pub async fn submit_job(
    registry: web::Data<Registry>,
    caller: Caller,
    body: JsonObject<SubmitBatchJob>,
) -> RegistryResult<HttpResponse> {
    let job = registry.submit_batch_job(body.0, &caller).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, api::batch_job(&job.id)))
        .json(job))
}

/// List batch jobs, newest first.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "batch-jobs",
    params(BatchJobQuery),
    responses(
        (status = 200, description = "A page of jobs", body = BatchJobPage),
        (status = 400, description = "Invalid filter, limit or page token", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/batch-jobs")]
pub async fn list_jobs(
    registry: web::Data<Registry>,
    caller: Caller,
    query: web::Query<BatchJobQuery>,
) -> RegistryResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        registry
            .list_batch_jobs(query.into_inner(), &caller.scope)
            .await?,
    ))
}

#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "batch-jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job, with its progress", body = BatchJob),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/batch-jobs/{id}")]
pub async fn get_job(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<JobPath>,
) -> RegistryResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        registry
            .get_batch_job(path.into_inner().id, &caller.scope)
            .await?,
    ))
}

/// Cancel a queued or running job.
#[utoipa::path(
    security(("bearer" = ["editor"])),
    tag = "batch-jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The cancelled job", body = BatchJob),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has finished", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/batch-jobs/{id}/cancel")]
pub async fn cancel_job(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<JobPath>,
) -> RegistryResult<HttpResponse> {
    let job = registry
        .cancel_batch_job(path.into_inner().id, &caller)
        .await?;
    Ok(HttpResponse::Ok().json(job))
}

/// Approve a succeeded job: its predictions become the ones served by key for its model.
#[utoipa::path(
    security(("bearer" = ["promoter"])),
    tag = "batch-jobs",
    params(("id" = String, Path, description = "Job id")),
    request_body(content = Option<ReviewBatchJob>, description = "Optional reason"),
    responses(
        (status = 200, description = "The approved job", body = BatchJob),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has not succeeded (or was reviewed already)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/batch-jobs/{id}/approve")]
pub async fn approve_job(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<JobPath>,
    body: Option<JsonObject<ReviewBatchJob>>,
) -> RegistryResult<HttpResponse> {
    let review = body.map(|b| b.0).unwrap_or_default();
    let job = registry
        .review_batch_job(
            path.into_inner().id,
            BatchJobStatus::Approved,
            review,
            &caller,
        )
        .await?;
    Ok(HttpResponse::Ok().json(job))
}

/// Reject a succeeded job (a reason is required): it is never served.
#[utoipa::path(
    security(("bearer" = ["promoter"])),
    tag = "batch-jobs",
    params(("id" = String, Path, description = "Job id")),
    request_body = ReviewBatchJob,
    responses(
        (status = 200, description = "The rejected job", body = BatchJob),
        (status = 400, description = "No reason, or an invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has not succeeded (or was reviewed already)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/batch-jobs/{id}/reject")]
pub async fn reject_job(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<JobPath>,
    body: Option<JsonObject<ReviewBatchJob>>,
) -> RegistryResult<HttpResponse> {
    let review = body.map(|b| b.0).unwrap_or_default();
    let job = registry
        .review_batch_job(
            path.into_inner().id,
            BatchJobStatus::Rejected,
            review,
            &caller,
        )
        .await?;
    Ok(HttpResponse::Ok().json(job))
}

/// Download a succeeded job's output: its parts, in order, as one file in the job's
/// output format. `ETag` is the output's digest.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "batch-jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The output (text/csv, application/x-ndjson or application/vnd.apache.parquet)"),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has no output (not succeeded)", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/batch-jobs/{id}/output")]
pub async fn download_output(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<JobPath>,
    request: HttpRequest,
) -> RegistryResult<HttpResponse> {
    let opened = registry
        .open_batch_output(
            path.into_inner().id,
            if_none_match(request.headers()),
            &caller.scope,
        )
        .await?;
    let etag = opened.etag();
    let content_type = opened.job.output_format.content_type();
    let Some(blob) = opened.content else {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    };
    let length = blob.total_size;
    let body = blob
        .stream
        .map_err(actix_web::error::ErrorInternalServerError);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::ETAG, etag))
        .no_chunking(length)
        .streaming(body))
}
