//! `/api/v1/models` and `/api/v1/models/{name}`.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::Deserialize;

use capstan_client::types::{CreateModel, Model, ModelPage, UpdateModel};
use capstan_client::Problem;

use super::extract::model_name;
use crate::error::RegistryResult;
use crate::service::models::ModelQuery;
use crate::service::Registry;

/// Register a model.
#[utoipa::path(
    tag = "models",
    request_body = CreateModel,
    responses(
        (status = 201, description = "Created", body = Model),
        (status = 400, description = "Invalid name or body", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A model with this name exists", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/models")]
pub async fn create_model(
    registry: web::Data<Registry>,
    body: web::Json<CreateModel>,
) -> RegistryResult<HttpResponse> {
    let model = registry.create_model(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(model))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListModelsParams {
    /// Page size, 1–1000 (default 100).
    limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    page_token: Option<String>,
    /// Only models whose name starts with this.
    name_prefix: Option<String>,
    /// Only models with this tag.
    tag: Option<String>,
}

/// List models, by name, a page at a time.
#[utoipa::path(
    tag = "models",
    params(ListModelsParams),
    responses(
        (status = 200, description = "A page of models", body = ModelPage),
        (status = 400, description = "Invalid limit or page token", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/models")]
pub async fn list_models(
    registry: web::Data<Registry>,
    query: web::Query<ListModelsParams>,
) -> RegistryResult<HttpResponse> {
    let query = query.into_inner();
    let page = registry
        .list_models(ModelQuery {
            limit: query.limit,
            page_token: query.page_token,
            name_prefix: query.name_prefix,
            tag: query.tag,
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Show a model with its stages, aliases and latest version.
#[utoipa::path(
    tag = "models",
    params(("name" = String, Path, description = "Model name")),
    responses(
        (status = 200, description = "The model", body = Model),
        (status = 400, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/models/{name}")]
pub async fn get_model(
    registry: web::Data<Registry>,
    path: web::Path<String>,
) -> RegistryResult<HttpResponse> {
    let model = registry.get_model(model_name(&path)?).await?;
    Ok(HttpResponse::Ok().json(model))
}

/// Update a model's description or tags.
#[utoipa::path(
    tag = "models",
    params(("name" = String, Path, description = "Model name")),
    request_body = UpdateModel,
    responses(
        (status = 200, description = "The updated model", body = Model),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model", body = Problem, content_type = "application/problem+json")
    )
)]
#[patch("/models/{name}")]
pub async fn update_model(
    registry: web::Data<Registry>,
    path: web::Path<String>,
    body: web::Json<UpdateModel>,
) -> RegistryResult<HttpResponse> {
    let model = registry
        .update_model(model_name(&path)?, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(model))
}

/// Delete a model and its versions. Refused while a version is in staging or production.
#[utoipa::path(
    tag = "models",
    params(("name" = String, Path, description = "Model name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such model", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A version holds a stage", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/models/{name}")]
pub async fn delete_model(
    registry: web::Data<Registry>,
    path: web::Path<String>,
) -> RegistryResult<HttpResponse> {
    registry.delete_model(model_name(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
