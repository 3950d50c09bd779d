//! `/api/v1/models/{name}/stages/{stage}`: promotion and rollback.

use actix_web::{post, web, HttpResponse};

use capstan_client::types::{PromoteRequest, RollbackRequest, Version};
use capstan_client::{ModelName, Problem, Stage};

use super::extract::Actor;
use super::extract::{JsonObject, StagePath};
use crate::error::RegistryResult;
use crate::service::Registry;

/// Put a version in a stage (`staging` or `production`).
///
/// With `expected_version`, the promotion only happens if the stage still holds that
/// version (`null`: holds none), so two people promoting at once cannot both win.
#[utoipa::path(
    security(("bearer" = ["promoter"])),
    tag = "stages",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("stage" = Stage, Path, description = "`staging` or `production`")
    ),
    request_body = PromoteRequest,
    responses(
        (status = 200, description = "The promoted version", body = Version),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`expected_version` did not match, or the version is not ready or archived", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/models/{name}/stages/{stage}")]
pub async fn promote(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<StagePath>,
    body: JsonObject<PromoteRequest>,
) -> RegistryResult<HttpResponse> {
    let StagePath { name, stage } = path.into_inner();
    let version = registry.promote(name, stage, body.0, &actor.0).await?;
    Ok(HttpResponse::Ok().json(version))
}

/// Return a stage to the version that held it before the last promotion.
#[utoipa::path(
    security(("bearer" = ["promoter"])),
    tag = "stages",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("stage" = Stage, Path, description = "`staging` or `production`")
    ),
    request_body(content = Option<RollbackRequest>, description = "Optional reason"),
    responses(
        (status = 200, description = "The version the stage holds now", body = Version),
        (status = 404, description = "No such model", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing to roll back to", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Invalid path, query or body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/models/{name}/stages/{stage}/rollback")]
pub async fn rollback(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<StagePath>,
    body: Option<JsonObject<RollbackRequest>>,
) -> RegistryResult<HttpResponse> {
    let StagePath { name, stage } = path.into_inner();
    let reason = body.and_then(|b| b.0.reason);
    let version = registry.rollback(name, stage, reason, &actor.0).await?;
    Ok(HttpResponse::Ok().json(version))
}
