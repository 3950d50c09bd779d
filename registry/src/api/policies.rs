//! `/api/v1/models/{name}/policy`: a model's promotion policy (rules per stage and alias;
//! see docs/security.md, "Governed promotion").

use actix_web::{delete, get, put, web, HttpResponse};

use capstan_client::types::{ModelPolicy, PromotionPolicy};
use capstan_client::{ModelName, Problem};

use super::extract::{Actor, JsonObject, ModelPath};
use crate::error::RegistryResult;
use crate::service::Registry;

/// Show the model's promotion policy; `404 policy_not_found` when it has none (promotions
/// then move at once).
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "policies",
    params(("name" = ModelName, Path, description = "Model name")),
    responses(
        (status = 200, description = "The policy", body = ModelPolicy),
        (status = 400, description = "Invalid model name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model, or no policy", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/models/{name}/policy")]
pub async fn get_policy(
    registry: web::Data<Registry>,
    path: web::Path<ModelPath>,
) -> RegistryResult<HttpResponse> {
    let policy = registry.get_policy(path.into_inner().name).await?;
    Ok(HttpResponse::Ok().json(policy))
}

/// Set (create or replace) the model's promotion policy: per stage and per alias, the
/// stage the version must hold (`from`), thresholds on its metrics (`min`, `max`; a missing
/// metric breaks the rule) and the approvals needed (0–10). Recorded as `policy_set`.
#[utoipa::path(
    security(("bearer" = ["admin", "unscoped"])),
    tag = "policies",
    params(("name" = ModelName, Path, description = "Model name")),
    request_body = PromotionPolicy,
    responses(
        (status = 200, description = "The policy as stored", body = ModelPolicy),
        (status = 400, description = "Invalid policy (unknown stage, invalid alias, thresholds not finite, too many approvals)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/models/{name}/policy")]
pub async fn put_policy(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<ModelPath>,
    body: JsonObject<PromotionPolicy>,
) -> RegistryResult<HttpResponse> {
    let policy = registry
        .put_policy(path.into_inner().name, body.0, &actor.0)
        .await?;
    Ok(HttpResponse::Ok().json(policy))
}

/// Remove the model's promotion policy: promotions move at once again. Pending requests
/// stay and can still be decided. Recorded as `policy_deleted`.
#[utoipa::path(
    security(("bearer" = ["admin", "unscoped"])),
    tag = "policies",
    params(("name" = ModelName, Path, description = "Model name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Invalid model name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model, or no policy", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/models/{name}/policy")]
pub async fn delete_policy(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<ModelPath>,
) -> RegistryResult<HttpResponse> {
    registry
        .delete_policy(path.into_inner().name, &actor.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
