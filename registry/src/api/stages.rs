//! `/api/v1/models/{name}/stages/{stage}`: promotion, removal and rollback.

use actix_web::{delete, post, web, HttpResponse};

use capstan_client::types::{PromoteRequest, PromotionRequest, RollbackRequest, Version};
use capstan_client::{ModelName, Problem, Stage};

use super::extract::Actor;
use super::extract::{JsonObject, OptionalJsonObject, StagePath};
use crate::error::RegistryResult;
use crate::service::promotions::Promotion;
use crate::service::Registry;

/// `200` with what moved, or `202` with the promotion request a policy opened.
pub(super) fn promotion_response<T: serde::Serialize>(promotion: Promotion<T>) -> HttpResponse {
    match promotion {
        Promotion::Done(moved) => HttpResponse::Ok().json(moved),
        Promotion::Requested(request) => HttpResponse::Accepted().json(request),
    }
}

/// Put a version in a stage (`staging` or `production`).
///
/// With `expected_version`, the promotion only happens if the stage still holds that
/// version (`null`: holds none), so two people promoting at once cannot both win.
///
/// Under the model's promotion policy the version must meet the stage's rule (`422
/// policy_violation` otherwise, and nothing is created); when the rule needs approvals
/// the answer is `202` with a pending promotion request and the stage does not move yet.
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
        (status = 202, description = "The policy needs approvals: a pending promotion request", body = PromotionRequest),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`expected_version` did not match, or the version is not ready or archived", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The version breaks the stage's promotion policy (`policy_violation`)", body = Problem, content_type = "application/problem+json")
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
    let promotion = registry.promote(name, stage, body.0, &actor.0).await?;
    Ok(promotion_response(promotion))
}

/// Return a stage to the version that held it before the last promotion.
///
/// The model's promotion policy applies as to a promotion of that version: `422` when it
/// breaks the stage's rule, `202` with a pending request when the rule needs approvals.
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
        (status = 202, description = "The policy needs approvals: a pending promotion request", body = PromotionRequest),
        (status = 422, description = "The previous version breaks the stage's promotion policy (`policy_violation`)", body = Problem, content_type = "application/problem+json"),
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
    body: OptionalJsonObject<RollbackRequest>,
) -> RegistryResult<HttpResponse> {
    let StagePath { name, stage } = path.into_inner();
    let reason = body.0.and_then(|b| b.reason);
    let promotion = registry.rollback(name, stage, reason, &actor.0).await?;
    Ok(promotion_response(promotion))
}

/// Take the version out of a stage: the stage then holds no version (a rollback puts it
/// back). No promotion policy applies to leaving a stage.
#[utoipa::path(
    security(("bearer" = ["promoter"])),
    tag = "stages",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("stage" = Stage, Path, description = "`staging` or `production`")
    ),
    request_body(content = Option<RollbackRequest>, description = "Optional reason"),
    responses(
        (status = 204, description = "The stage holds no version now"),
        (status = 400, description = "Invalid path, query or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model, or no version in the stage (`stage_empty`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/models/{name}/stages/{stage}")]
pub async fn remove_from_stage(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<StagePath>,
    body: OptionalJsonObject<RollbackRequest>,
) -> RegistryResult<HttpResponse> {
    let StagePath { name, stage } = path.into_inner();
    let reason = body.0.and_then(|b| b.reason);
    registry
        .remove_from_stage(name, stage, reason, &actor.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
