//! `/api/v1/webhooks`: endpoints that receive the event log as signed POSTs (Standard
//! Webhooks), and their delivery log.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse};

use capstan_client::http::api::{self, PageQuery};
use capstan_client::types::{
    CreateWebhook, UpdateWebhook, Webhook, WebhookDeliveryPage, WebhookPage,
};
use capstan_client::Problem;

use super::extract::{JsonObject, WebhookPath};
use crate::error::RegistryResult;
use crate::service::Registry;

/// Create a webhook. The answer carries its signing secret (`whsec_…`), shown this once.
///
/// It receives the events appended from now on (not the history) whose kind it selects,
/// of its model only if it names one. Receivers on internal addresses (loopback, private,
/// link-local, …) are refused unless the registry runs with `--webhooks-allow-private`.
#[utoipa::path(
    security(("bearer" = ["admin", "unscoped"])),
    tag = "webhooks",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Created; the only answer with the secret", body = Webhook),
        (status = 400, description = "Invalid body or URL, or a URL on an internal address (`webhook_url_not_allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown event kind, or no event kinds", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/webhooks")]
pub async fn create_webhook(
    registry: web::Data<Registry>,
    body: JsonObject<CreateWebhook>,
) -> RegistryResult<HttpResponse> {
    let webhook = registry.create_webhook(body.0).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, api::webhook(&webhook.id)))
        .json(webhook))
}

/// List webhooks by id (without their secrets).
#[utoipa::path(
    security(("bearer" = ["admin", "unscoped"])),
    tag = "webhooks",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of webhooks", body = WebhookPage),
        (status = 400, description = "Invalid limit or page token", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    registry: web::Data<Registry>,
    query: web::Query<PageQuery>,
) -> RegistryResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(registry.list_webhooks(query.into_inner()).await?))
}

#[utoipa::path(
    security(("bearer" = ["admin", "unscoped"])),
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The webhook (without its secret)", body = Webhook),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    registry: web::Data<Registry>,
    path: web::Path<WebhookPath>,
) -> RegistryResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(registry.get_webhook(path.into_inner().id).await?))
}

/// Pause, resume, re-target or re-filter a webhook. `{"paused": false}` also re-enables a
/// disabled webhook; delivery resumes at the first event not yet delivered.
#[utoipa::path(
    security(("bearer" = ["admin", "unscoped"])),
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The webhook", body = Webhook),
        (status = 400, description = "Invalid body or URL, or a URL on an internal address", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown event kind, or no event kinds", body = Problem, content_type = "application/problem+json")
    )
)]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    registry: web::Data<Registry>,
    path: web::Path<WebhookPath>,
    body: JsonObject<UpdateWebhook>,
) -> RegistryResult<HttpResponse> {
    let webhook = registry
        .update_webhook(path.into_inner().id, body.0)
        .await?;
    Ok(HttpResponse::Ok().json(webhook))
}

/// Delete a webhook and its delivery log.
#[utoipa::path(
    security(("bearer" = ["admin", "unscoped"])),
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    registry: web::Data<Registry>,
    path: web::Path<WebhookPath>,
) -> RegistryResult<HttpResponse> {
    registry.delete_webhook(path.into_inner().id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replace the signing secret. The answer carries the new one, once; the previous one
/// keeps signing too (a second signature in `webhook-signature`) for 24 hours, so
/// receivers can roll over.
#[utoipa::path(
    security(("bearer" = ["admin", "unscoped"])),
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The webhook with its new secret", body = Webhook),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_secret(
    registry: web::Data<Registry>,
    path: web::Path<WebhookPath>,
) -> RegistryResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(registry.rotate_webhook_secret(path.into_inner().id).await?))
}

/// The webhook's delivery attempts, newest first (the newest 1000 are kept).
#[utoipa::path(
    security(("bearer" = ["admin", "unscoped"])),
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id"), PageQuery),
    responses(
        (status = 200, description = "A page of attempts", body = WebhookDeliveryPage),
        (status = 400, description = "Invalid limit or page token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    registry: web::Data<Registry>,
    path: web::Path<WebhookPath>,
    query: web::Query<PageQuery>,
) -> RegistryResult<HttpResponse> {
    let page = registry
        .webhook_deliveries(path.into_inner().id, query.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
