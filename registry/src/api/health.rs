//! Liveness and readiness probes.

use actix_web::{get, web, HttpResponse};

use capstan_client::types::Readiness;

use crate::events::RelayMonitor;
use crate::service::Registry;

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, description = "The process is up")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database and the object store both answer.
///
/// `relays` (when brokers are configured) shows how far each event relay has published;
/// a lagging relay does not make the registry unready.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "A dependency is unreachable", body = Readiness)
    )
)]
#[get("/readyz")]
pub async fn readyz(
    registry: web::Data<Registry>,
    relays: Option<web::Data<RelayMonitor>>,
) -> HttpResponse {
    let mut readiness = registry.readiness().await;
    if let Some(relays) = relays {
        readiness.relays = relays.readiness().await;
    }
    if readiness.status == "ready" {
        HttpResponse::Ok().json(readiness)
    } else {
        HttpResponse::ServiceUnavailable().json(readiness)
    }
}
