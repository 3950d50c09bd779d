//! MLflow's `model-versions/*`: create (from a source), get, update, delete, search,
//! transition-stage, tags and get-download-uri, over Capstan's versions.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use capstan_client::types::UpdateVersion;
use capstan_client::VersionRef;

use super::errors::MlflowError;
use super::models::search_of;
use super::shapes::{ModelVersion, Params};
use super::visible;
use crate::domain::access::Caller;
use crate::domain::mlflow::{tag_of, version_artifact_uri, version_number, MlflowStage};
use crate::domain::mlflow_search::Searched;
use crate::service::{Registry, SourceVersion};

type Answer = Result<HttpResponse, MlflowError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/model-versions/create", web::post().to(create))
        .route("/model-versions/get", web::get().to(get))
        .route("/model-versions/update", web::patch().to(update))
        .route("/model-versions/delete", web::delete().to(delete))
        .route("/model-versions/search", web::get().to(search))
        .route(
            "/model-versions/transition-stage",
            web::post().to(transition_stage),
        )
        .route("/model-versions/set-tag", web::post().to(set_tag))
        .route("/model-versions/delete-tag", web::delete().to(delete_tag))
        .route(
            "/model-versions/get-download-uri",
            web::get().to(download_uri),
        );
}

fn version_answer(version: &capstan_client::types::Version) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "model_version": ModelVersion::of(version) }))
}

async fn create(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    visible(&caller, &name)?;
    let source = params.required("source")?;
    let tags = params
        .tags()?
        .iter()
        .map(|(key, value)| tag_of(key, value))
        .collect::<Result<Vec<_>, _>>()?;
    let meta = SourceVersion {
        description: params.string("description")?.filter(|d| !d.is_empty()),
        tags,
        run_id: params.string("run_id")?.filter(|r| !r.is_empty()),
    };
    let version = registry
        .create_version_from_source(name, &source, meta, &caller)
        .await?;
    Ok(version_answer(&version))
}

async fn get(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    visible(&caller, &name)?;
    let number = version_number(&params.required("version")?)?;
    let version = registry
        .get_version(name, VersionRef::Number(number))
        .await?;
    Ok(version_answer(&version))
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
    let number = version_number(&params.required("version")?)?;
    let update = UpdateVersion {
        description: Some(params.string("description")?.unwrap_or_default()),
        tags: None,
    };
    let version = registry
        .update_version(name, VersionRef::Number(number), update, &caller.name)
        .await?;
    Ok(version_answer(&version))
}

async fn delete(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    visible(&caller, &name)?;
    let number = version_number(&params.required("version")?)?;
    registry
        .delete_version(name, VersionRef::Number(number), &caller.name)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

async fn search(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let search = search_of(&params, Searched::Versions, 10_000, 200_000)?;
    let (versions, next) = registry
        .mlflow_search_versions(search, caller.scope.clone())
        .await?;
    let versions: Vec<_> = versions.iter().map(ModelVersion::of).collect();
    let mut answer = json!({ "model_versions": versions });
    if let Some(token) = next {
        answer["next_page_token"] = json!(token);
    }
    Ok(HttpResponse::Ok().json(answer))
}

async fn transition_stage(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    visible(&caller, &name)?;
    let number = version_number(&params.required("version")?)?;
    let stage = MlflowStage::parse(&params.required("stage")?)?;
    let archive_existing = params.boolean("archive_existing_versions")?;
    let version = registry
        .mlflow_transition(name, number, stage, archive_existing, &caller.name)
        .await?;
    Ok(version_answer(&version))
}

async fn version_tag(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
    set: bool,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    visible(&caller, &name)?;
    let number = version_number(&params.required("version")?)?;
    let key = params.required("key")?;
    let value = if set {
        Some(params.string("value")?.unwrap_or_default())
    } else {
        None
    };
    registry
        .mlflow_version_tag(name, number, key, value, &caller.name)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

async fn set_tag(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    version_tag(registry, caller, request, body, true).await
}

async fn delete_tag(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    version_tag(registry, caller, request, body, false).await
}

async fn download_uri(
    registry: web::Data<Registry>,
    caller: Caller,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let params = Params::of(&request, &body)?;
    let name = params.model("name")?;
    visible(&caller, &name)?;
    let number = version_number(&params.required("version")?)?;
    let version = registry
        .get_version(name, VersionRef::Number(number))
        .await?;
    let info = request.connection_info();
    let base = format!("{}://{}", info.scheme(), info.host());
    let uri = version_artifact_uri(&base, version.model.as_str(), version.version);
    Ok(HttpResponse::Ok().json(json!({ "artifact_uri": uri })))
}
