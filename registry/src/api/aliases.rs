//! `/api/v1/models/{name}/aliases/{alias}`.

use actix_web::{delete, put, web, HttpResponse};

use capstan_client::types::{Alias, PromotionRequest, RollbackRequest, SetAlias};
use capstan_client::{AliasName, ModelName, Problem};

use super::extract::Actor;
use super::extract::{AliasPath, JsonObject, OptionalJsonObject};
use super::stages::promotion_response;
use crate::error::RegistryResult;
use crate::service::Registry;

/// Create or move an alias. Aliases cannot be numbers, stage names or `latest`.
///
/// Under the model's promotion policy the version must meet the alias's rule (`422`),
/// and a rule that needs approvals answers `202` with a pending promotion request.
#[utoipa::path(
    security(("bearer" = ["promoter"])),
    tag = "aliases",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("alias" = AliasName, Path, description = "Alias, e.g. `champion`")
    ),
    request_body = SetAlias,
    responses(
        (status = 200, description = "The alias", body = Alias),
        (status = 202, description = "The policy needs approvals: a pending promotion request", body = PromotionRequest),
        (status = 400, description = "Invalid or reserved alias", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version is not ready or archived", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The version breaks the alias's promotion policy (`policy_violation`)", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/models/{name}/aliases/{alias}")]
pub async fn set_alias(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<AliasPath>,
    body: JsonObject<SetAlias>,
) -> RegistryResult<HttpResponse> {
    let AliasPath { name, alias } = path.into_inner();
    let SetAlias { version, reason } = body.0;
    let set = registry
        .set_alias(name, alias, version, reason, &actor.0)
        .await?;
    Ok(promotion_response(set))
}

/// Remove an alias.
#[utoipa::path(
    security(("bearer" = ["promoter"])),
    tag = "aliases",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("alias" = AliasName, Path, description = "Alias")
    ),
    request_body(content = Option<RollbackRequest>, description = "Optional reason"),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such model or alias", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Invalid path, query or body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/models/{name}/aliases/{alias}")]
pub async fn delete_alias(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<AliasPath>,
    body: OptionalJsonObject<RollbackRequest>,
) -> RegistryResult<HttpResponse> {
    let AliasPath { name, alias } = path.into_inner();
    let reason = body.0.and_then(|b| b.reason);
    registry.delete_alias(name, alias, reason, &actor.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
