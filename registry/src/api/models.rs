//! `/api/v1/models` and `/api/v1/models/{name}` (and its `rename`).

use actix_web::{delete, get, patch, post, web, HttpResponse};

use capstan_client::http::ModelQuery;
use capstan_client::types::{CreateModel, Model, ModelPage, RenameModel, UpdateModel};
use capstan_client::{ModelName, Problem};

use super::extract::Actor;
use super::extract::{JsonObject, ModelPath};
use crate::domain::access::Caller;
use crate::error::RegistryResult;
use crate::service::Registry;

/// Register a model.
#[utoipa::path(
    security(("bearer" = ["editor"])),
    tag = "models",
    request_body = CreateModel,
    responses(
        (status = 201, description = "Created", body = Model),
        (status = 400, description = "Invalid name or body", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A model with this name exists", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/models")]
pub async fn create_model(
    registry: web::Data<Registry>,
    caller: Caller,
    body: JsonObject<CreateModel>,
) -> RegistryResult<HttpResponse> {
    let model = registry.create_model(body.0, &caller).await?;
    Ok(HttpResponse::Created().json(model))
}

/// List models, by name, a page at a time.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "models",
    params(ModelQuery),
    responses(
        (status = 200, description = "A page of models", body = ModelPage),
        (status = 400, description = "Invalid limit or page token", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/models")]
pub async fn list_models(
    registry: web::Data<Registry>,
    caller: Caller,
    query: web::Query<ModelQuery>,
) -> RegistryResult<HttpResponse> {
    let page = registry
        .list_models(query.into_inner(), &caller.scope)
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Show a model with its stages, aliases and latest version.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "models",
    params(("name" = ModelName, Path, description = "Model name")),
    responses(
        (status = 200, description = "The model", body = Model),
        (status = 400, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/models/{name}")]
pub async fn get_model(
    registry: web::Data<Registry>,
    path: web::Path<ModelPath>,
) -> RegistryResult<HttpResponse> {
    let model = registry.get_model(path.into_inner().name).await?;
    Ok(HttpResponse::Ok().json(model))
}

/// Update a model's description or tags.
#[utoipa::path(
    security(("bearer" = ["editor"])),
    tag = "models",
    params(("name" = ModelName, Path, description = "Model name")),
    request_body = UpdateModel,
    responses(
        (status = 200, description = "The updated model", body = Model),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[patch("/models/{name}")]
pub async fn update_model(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<ModelPath>,
    body: JsonObject<UpdateModel>,
) -> RegistryResult<HttpResponse> {
    let model = registry
        .update_model(path.into_inner().name, body.0, &actor.0)
        .await?;
    Ok(HttpResponse::Ok().json(model))
}

/// Delete a model and its versions. Refused while a version is in staging or production.
#[utoipa::path(
    security(("bearer" = ["admin"])),
    tag = "models",
    params(("name" = ModelName, Path, description = "Model name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such model", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A version holds a stage", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Invalid path, query or body", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/models/{name}")]
pub async fn delete_model(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<ModelPath>,
) -> RegistryResult<HttpResponse> {
    registry
        .delete_model(path.into_inner().name, &actor.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Give a model another name. Its versions, stages, aliases, policy and history go with
/// it; the `model_renamed` event is recorded under the new name. Refused while a
/// deployment, batch schedule, webhook or pending promotion request names the model.
#[utoipa::path(
    security(("bearer" = ["admin"])),
    tag = "models",
    params(("name" = ModelName, Path, description = "Model name")),
    request_body = RenameModel,
    responses(
        (status = 200, description = "The model under its new name", body = Model),
        (status = 400, description = "Invalid name or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The new name is taken (`model_exists`), or something names the model (`model_in_use`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/models/{name}/rename")]
pub async fn rename_model(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<ModelPath>,
    body: JsonObject<RenameModel>,
) -> RegistryResult<HttpResponse> {
    let model = registry
        .rename_model(path.into_inner().name, body.0.name, &caller)
        .await?;
    Ok(HttpResponse::Ok().json(model))
}
