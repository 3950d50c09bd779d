//! The HTTP API: actix-web handlers with utoipa annotations, one file per resource.
//!
//! Handlers extract and parse their input, call one `Registry` method and map the result.
//! No SQL, no object-store calls, no business rules here. Every route is registered in
//! [`routes`], which is also where the OpenAPI document is collected from.

mod aliases;
mod artifacts;
mod events;
pub mod extract;
mod health;
mod models;
mod stages;
mod versions;

use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::openapi::OpenApi;
use utoipa_actix_web::{scope, service_config::ServiceConfig, AppExt};

use crate::error::{problem, problem_response};

pub use extract::{json_config, path_config, query_config};

/// Every route of the server.
pub fn routes(cfg: &mut ServiceConfig) {
    crate::serving::routes(cfg);
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(
            scope::scope("/api/v1")
                .service(models::create_model)
                .service(models::list_models)
                .service(models::get_model)
                .service(models::update_model)
                .service(models::delete_model)
                .service(versions::create_version)
                .service(versions::list_versions)
                .service(versions::get_version)
                .service(versions::archive_version)
                .service(artifacts::upload_artifact)
                .service(artifacts::download_artifact)
                .service(stages::promote)
                .service(stages::rollback)
                .service(aliases::set_alias)
                .service(aliases::delete_alias)
                .service(events::list_events)
                .service(crate::events::stream::stream_events),
        );
}

/// The OpenAPI document, generated from the handlers' annotations.
pub fn openapi() -> OpenApi {
    let (_, mut api) = actix_web::App::new()
        .into_utoipa_app()
        .configure(routes)
        .split_for_parts();
    api.info = utoipa::openapi::InfoBuilder::new()
        .title("Capstan registry API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Model registry and deployment control plane: models, versions, content-addressed \
             artifacts, stages, aliases and the event log. Every error is application/problem+json.",
        ))
        .license(Some(utoipa::openapi::License::new("Apache-2.0")))
        .build();
    api
}

/// The fallback for unknown routes: a problem document instead of an empty 404.
pub async fn not_found(request: HttpRequest) -> HttpResponse {
    problem_response(&problem(
        actix_web::http::StatusCode::NOT_FOUND,
        "route_not_found",
        format!("no route for {} {}", request.method(), request.path()),
    ))
}

/// Registers the fallback and extractor error handlers on an app.
pub fn app_data(cfg: &mut web::ServiceConfig, limits: crate::service::Limits) {
    cfg.app_data(json_config(limits.max_json_bytes))
        .app_data(path_config())
        .app_data(query_config());
}
