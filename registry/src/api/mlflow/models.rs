//! MLflow's `registered-models/*`: create, get, rename, update, delete, search, tags,
//! aliases and the latest versions per stage, over Capstan's models.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use capstan_client::types::{CreateModel, PromoteRequest, UpdateModel};
use capstan_client::VersionRef;

use super::errors::MlflowError;
use super::shapes::{ModelVersion, Params, RegisteredModel};
use super::visible;
use crate::domain::access::Caller;
use crate::domain::mlflow::{mlflow_alias, tag_of, version_number, MlflowAlias, MlflowStage};
use crate::domain::mlflow_search::{order_by, Filter, Page, Searched};
use crate::error::RegistryError;
use crate::service::mlflow::MlflowSearch;
use crate::service::promotions::Promotion;
use crate::service::Registry;

type Answer = Result<HttpResponse, MlflowError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/registered-models/create", web::post().to(create))
        .route("/registered-models/get", web::get().to(get))
        .route("/registered-models/rename", web::post().to(rename))
        .route("/registered-models/update", web::patch().to(update))
        .route("/registered-models/delete", web::delete().to(delete))
        .route("/registered-models/search", web::get().to(search))
        .route(
            "/registered-models/get-latest-versions",
            web::post().to(latest_versions),
        )
        .route(
            "/registered-models/get-latest-versions",
            web::get().to(latest_versions),
        )
        .route("/registered-models/set-tag", web::post().to(set_tag))
        .route(
            "/registered-models/delete-tag",
            web::delete().to(delete_tag),
        )
        .route("/registered-models/alias", web::post().to(set_alias))
        .route("/registered-models/alias", web::delete().to(delete_alias))
        .route("/registered-models/alias", web::get().to(get_alias));
}

fn model_answer(model: &crate::service::mlflow::MlflowModel) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "registered_model": RegisteredModel::of_mlflow(model) }))
}

fn empty() -> HttpResponse {
    HttpResponse::Ok().json(json!({}))
}

async fn create(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    let tags = params
        .tags()?
        .iter()
        .map(|(key, value)| tag_of(key, value))
        .collect::<Result<Vec<_>, _>>()?;
    let create = CreateModel {
        name,
        description: params.string("description")?.filter(|d| !d.is_empty()),
        tags: Some(tags),
    };
    let model = registry.create_model(create, &caller).await?;
    Ok(HttpResponse::Ok().json(json!({ "registered_model": RegisteredModel::of(&model, &[]) })))
}

async fn get(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let name = Params::of(&request, &body)?.model("name")?;
    visible(&caller, &name)?;
    Ok(model_answer(&registry.mlflow_model(name).await?))
}

async fn rename(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    let new_name = params.model("new_name")?;
    let model = registry
        .mlflow_rename_model(name, new_name, &caller)
        .await?;
    Ok(model_answer(&model))
}

async fn update(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    visible(&caller, &name)?;
    let update = UpdateModel {
        description: Some(params.string("description")?.unwrap_or_default()),
        tags: None,
    };
    let model = registry
        .mlflow_update_model(name, update, &caller.name)
        .await?;
    Ok(model_answer(&model))
}

async fn delete(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let name = Params::of(&request, &body)?.model("name")?;
    visible(&caller, &name)?;
    registry.delete_model(name, &caller.name).await?;
    Ok(empty())
}

/// The parsed `filter`, `order_by`, `max_results` and `page_token` of a search.
pub(super) fn search_of(
    params: &Params,
    searched: Searched,
    default_size: i64,
    max_size: i64,
) -> Result<MlflowSearch, MlflowError> {
    let kind = match searched {
        Searched::Models => "mlflow-models",
        Searched::Versions => "mlflow-versions",
    };
    Ok(MlflowSearch {
        filter: Filter::parse(&params.string("filter")?.unwrap_or_default(), searched)?,
        order: order_by(&params.strings("order_by")?, searched)?,
        page: Page::parse(
            kind,
            params.int("max_results")?,
            params.string("page_token")?.as_deref(),
            default_size,
            max_size,
        )?,
    })
}

async fn search(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let search = search_of(&params, Searched::Models, 100, 1000)?;
    let (models, next) = registry
        .mlflow_search_models(search, caller.scope.clone())
        .await?;
    let models: Vec<_> = models.iter().map(RegisteredModel::of_mlflow).collect();
    let mut answer = json!({ "registered_models": models });
    if let Some(token) = next {
        answer["next_page_token"] = json!(token);
    }
    Ok(HttpResponse::Ok().json(answer))
}

async fn latest_versions(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    visible(&caller, &name)?;
    let stages = params
        .strings("stages")?
        .iter()
        .map(|s| MlflowStage::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let versions = registry.mlflow_latest_versions(name, stages).await?;
    let versions: Vec<_> = versions.iter().map(ModelVersion::of).collect();
    Ok(HttpResponse::Ok().json(json!({ "model_versions": versions })))
}

async fn set_tag(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    visible(&caller, &name)?;
    let key = params.required("key")?;
    let value = params.string("value")?.unwrap_or_default();
    registry
        .mlflow_model_tag(name, key, Some(value), &caller.name)
        .await?;
    Ok(empty())
}

async fn delete_tag(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    visible(&caller, &name)?;
    let key = params.required("key")?;
    registry
        .mlflow_model_tag(name, key, None, &caller.name)
        .await?;
    Ok(empty())
}

async fn set_alias(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    visible(&caller, &name)?;
    let alias = mlflow_alias(&params.required("alias")?)?;
    let version = version_number(&params.required("version")?)?;
    let requested = match alias {
        // `production` and `staging` are Capstan's stages: setting one promotes.
        MlflowAlias::Stage(stage) => {
            let promote = PromoteRequest {
                version,
                reason: Some(format!("MLflow alias {stage} set")),
                expected_version: None,
            };
            match registry.promote(name, stage, promote, &caller.name).await? {
                Promotion::Done(_) => None,
                Promotion::Requested(request) => Some(request.id),
            }
        }
        MlflowAlias::Alias(alias) => {
            let reason = Some(format!("MLflow alias {alias} set"));
            match registry
                .set_alias(name, alias, version, reason, &caller.name)
                .await?
            {
                Promotion::Done(_) => None,
                Promotion::Requested(request) => Some(request.id),
            }
        }
    };
    match requested {
        None => Ok(empty()),
        Some(id) => Err(RegistryError::conflict(
            "promotion_requested",
            format!(
                "the promotion policy needs approvals: promotion request {id} is waiting for them"
            ),
        )
        .into()),
    }
}

async fn delete_alias(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    visible(&caller, &name)?;
    match mlflow_alias(&params.required("alias")?)? {
        MlflowAlias::Stage(stage) => {
            let reason = Some(format!("MLflow alias {stage} deleted"));
            registry
                .remove_from_stage(name, stage, reason, &caller.name)
                .await?;
        }
        MlflowAlias::Alias(alias) => {
            let reason = Some(format!("MLflow alias {alias} deleted"));
            registry
                .delete_alias(name, alias, reason, &caller.name)
                .await?
        }
    }
    Ok(empty())
}

async fn get_alias(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    visible(&caller, &name)?;
    let reference = match mlflow_alias(&params.required("alias")?)? {
        MlflowAlias::Stage(stage) => VersionRef::Stage(stage),
        MlflowAlias::Alias(alias) => VersionRef::Alias(alias),
    };
    let version = registry.get_version(name, reference).await?;
    Ok(HttpResponse::Ok().json(json!({ "model_version": ModelVersion::of(&version) })))
}
