//! Predictions of batch jobs by key (pattern 4): the model's served ones (its most
//! recently approved job) and one job's, for reviewers.

use actix_web::{get, web, HttpResponse};

use capstan_client::types::KeyedPrediction;
use capstan_client::{ModelName, Problem};

use super::extract::{JobKeyPath, ModelKeyPath};
use crate::domain::access::Caller;
use crate::error::RegistryResult;
use crate::service::Registry;

/// One job's prediction for a key (approved or not), for reviewers.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "batch-jobs",
    params(
        ("id" = String, Path, description = "Job id"),
        ("key" = String, Path, description = "The id value, or the 1-based row number when the job has no id column")
    ),
    responses(
        (status = 200, description = "The prediction", body = KeyedPrediction),
        (status = 404, description = "No such job, or no prediction for the key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has no output (not succeeded)", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/batch-jobs/{id}/predictions/{key}")]
pub async fn job_prediction(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<JobKeyPath>,
) -> RegistryResult<HttpResponse> {
    let JobKeyPath { id, key } = path.into_inner();
    Ok(HttpResponse::Ok().json(registry.job_prediction(id, key, &caller.scope).await?))
}

/// The prediction for a key from the model's most recently approved batch job.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "batch-jobs",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("key" = String, Path, description = "The id value, or the 1-based row number when the job has no id column")
    ),
    responses(
        (status = 200, description = "The prediction", body = KeyedPrediction),
        (status = 400, description = "Invalid model name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model, or no approved prediction for the key (`no_prediction`)", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/models/{name}/predictions/{key}")]
pub async fn model_prediction(
    registry: web::Data<Registry>,
    path: web::Path<ModelKeyPath>,
) -> RegistryResult<HttpResponse> {
    let ModelKeyPath { name, key } = path.into_inner();
    Ok(HttpResponse::Ok().json(registry.approved_prediction(name, key).await?))
}
