//! The HTTP API: actix-web handlers with utoipa annotations, one file per resource; and
//! beside it the other ways a request comes in, with the same rules: gRPC ([`grpc`]) and
//! broker messages ([`messaging`]).
//!
//! Handlers extract and parse their input, call one service method (`Registry`,
//! `Serving`, the `EventHub`) and map the result. No SQL, no object-store calls, no
//! business rules here. Every route is registered in [`routes`] (the registry) or
//! [`model_server_routes`], which is also where each OpenAPI document is collected from;
//! [`app::serve`] builds the app of either process.

mod aliases;
pub mod app;
mod artifacts;
pub mod auth;
mod batch_jobs;
mod batch_schedules;
mod datasets;
mod deployments;
mod event_stream;
mod events;
pub mod extract;
mod fallback;
pub mod grpc;
mod health;
pub mod messaging;
mod metrics;
mod mlflow;
mod models;
mod open_inference;
mod policies;
mod predict;
pub mod prediction_gate;
mod predictions;
mod promotion_requests;
mod stages;
mod tokens;
mod trees;
pub mod ui;
mod versions;
mod webhooks;

use actix_web::web;
use utoipa::openapi::OpenApi;
use utoipa_actix_web::{scope, service_config::ServiceConfig, AppExt};

pub use extract::{json_config, path_config, query_config};

/// The prediction routes (both protocols) and `/metrics`: the registry serves them for
/// its own models, the model server for the refs it was started with.
pub fn serving_routes(cfg: &mut ServiceConfig) {
    cfg.service(predict::predict)
        .service(open_inference::live)
        .service(open_inference::ready)
        .service(open_inference::model_metadata)
        .service(open_inference::version_metadata)
        .service(open_inference::model_ready)
        .service(open_inference::version_ready)
        .service(open_inference::infer)
        .service(open_inference::infer_version)
        .service(metrics::metrics);
}

/// Every route of the model server.
pub fn model_server_routes(cfg: &mut ServiceConfig) {
    serving_routes(cfg);
    cfg.service(health::healthz).service(health::served_readyz);
}

/// Every route of the registry.
pub fn routes(cfg: &mut ServiceConfig) {
    serving_routes(cfg);
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(
            scope::scope("/api/v1")
                .service(models::create_model)
                .service(models::list_models)
                .service(models::get_model)
                .service(models::update_model)
                .service(models::delete_model)
                .service(models::rename_model)
                .service(versions::create_version)
                .service(versions::list_versions)
                .service(versions::get_version)
                .service(versions::update_version)
                .service(versions::delete_version)
                .service(versions::archive_version)
                .service(artifacts::upload_artifact)
                .service(artifacts::download_artifact)
                .service(trees::missing_files)
                .service(trees::upload_blob)
                .service(trees::commit_tree)
                .service(trees::get_manifest)
                .service(trees::download_file)
                .service(trees::download_archive)
                .service(stages::promote)
                .service(stages::remove_from_stage)
                .service(stages::rollback)
                .service(aliases::set_alias)
                .service(aliases::delete_alias)
                .service(events::list_events)
                .service(event_stream::stream_events)
                .service(datasets::upload_dataset)
                .service(datasets::list_datasets)
                .service(datasets::get_dataset)
                .service(datasets::download_dataset)
                .service(datasets::delete_dataset)
                .service(batch_jobs::submit_job)
                .service(batch_jobs::list_jobs)
                .service(batch_jobs::get_job)
                .service(batch_jobs::cancel_job)
                .service(batch_jobs::approve_job)
                .service(batch_jobs::reject_job)
                .service(batch_jobs::download_output)
                .service(batch_schedules::create_schedule)
                .service(batch_schedules::list_schedules)
                .service(batch_schedules::get_schedule)
                .service(batch_schedules::update_schedule)
                .service(batch_schedules::delete_schedule)
                .service(deployments::put_deployment)
                .service(deployments::list_deployments)
                .service(deployments::get_deployment)
                .service(deployments::delete_deployment)
                .service(deployments::report_instance)
                .service(predictions::job_prediction)
                .service(predictions::model_prediction)
                .service(webhooks::create_webhook)
                .service(webhooks::list_webhooks)
                .service(webhooks::get_webhook)
                .service(webhooks::update_webhook)
                .service(webhooks::delete_webhook)
                .service(webhooks::rotate_secret)
                .service(webhooks::list_deliveries)
                .service(tokens::create_token)
                .service(tokens::list_tokens)
                .service(tokens::revoke_token)
                .service(tokens::whoami)
                .service(policies::get_policy)
                .service(policies::put_policy)
                .service(policies::delete_policy)
                .service(promotion_requests::list_requests)
                .service(promotion_requests::get_request)
                .service(promotion_requests::approve_request)
                .service(promotion_requests::reject_request),
        );
}

/// The registry's OpenAPI document as served without authentication (and committed as
/// `openapi/openapi.json`): no operation declares a security requirement.
pub fn openapi() -> OpenApi {
    auth::document_for(declared_openapi(), false)
}

/// The registry's OpenAPI document, generated from the handlers' annotations, with the
/// role each operation declares (see [`auth`]).
pub fn declared_openapi() -> OpenApi {
    let mut api = document(
        routes,
        "Capstan registry API",
        "Model registry and deployment control plane: models, versions, content-addressed \
         artifacts, stages, aliases and the event log. Every error is application/problem+json.",
    );
    // The stream's frames carry an `EventMessage` as JSON text; keep its schema listed.
    use capstan_client::types::EventMessage;
    use utoipa::{PartialSchema, ToSchema};
    let mut schemas = vec![(EventMessage::name().into_owned(), EventMessage::schema())];
    EventMessage::schemas(&mut schemas);
    api.components
        .get_or_insert_with(Default::default)
        .schemas
        .extend(schemas);
    api
}

/// The model server's OpenAPI document as served without authentication.
pub fn model_server_openapi() -> OpenApi {
    auth::document_for(declared_model_server_openapi(), false)
}

/// The model server's OpenAPI document: prediction (both protocols), health, metrics; with
/// the role each operation declares.
pub fn declared_model_server_openapi() -> OpenApi {
    document(
        model_server_routes,
        "Capstan model server API",
        "Predictions with the refs this model server was started with, over Capstan's JSON \
         protocol and the Open Inference Protocol (KServe V2). Every error is \
         application/problem+json; V2 errors also carry an `error` member.",
    )
}

fn document(routes: fn(&mut ServiceConfig), title: &str, description: &str) -> OpenApi {
    let (_, mut api) = actix_web::App::new()
        .into_utoipa_app()
        .configure(routes)
        .split_for_parts();
    api.info = utoipa::openapi::InfoBuilder::new()
        .title(title)
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(description))
        .license(Some(utoipa::openapi::License::new("Apache-2.0")))
        .build();
    api
}

/// Registers the fallback and extractor error handlers on an app.
pub fn extractor_config(cfg: &mut web::ServiceConfig, limits: crate::service::Limits) {
    cfg.app_data(json_config(limits.max_json_bytes))
        .app_data(path_config())
        .app_data(query_config());
}
