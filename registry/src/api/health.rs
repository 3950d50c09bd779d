//! Liveness and readiness probes: `/healthz` for both processes; `/readyz` of the
//! registry (its dependencies) and of the model server (its served refs).

use actix_web::{get, web, HttpResponse};

use capstan_client::types::Readiness;

use crate::events::RelayMonitor;
use crate::service::Registry;
use crate::serving::Serving;

/// The process is up.
#[utoipa::path(security(()), tag = "health", responses((status = 200, description = "The process is up")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database and the object store both answer.
///
/// `relays` (when brokers are configured) shows how far each event relay has published;
/// a lagging relay does not make the registry unready.
#[utoipa::path(
    security(()),
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

/// Every configured ref is loaded (the model server's readiness).
///
/// `served` lists each served ref with the version and digest answering for it;
/// `failures` the refs that could not be loaded (the previous version keeps serving).
#[utoipa::path(
    security(()),
    tag = "health",
    path = "/readyz",
    responses(
        (status = 200, description = "Every configured ref is loaded", content_type = "application/json"),
        (status = 503, description = "A configured ref is not loaded yet", content_type = "application/json")
    )
)]
#[get("/readyz")]
pub async fn served_readyz(serving: web::Data<Serving>) -> HttpResponse {
    let served: Vec<_> = serving
        .refs
        .served()
        .into_iter()
        .map(|(reference, model)| serde_json::json!({"ref": reference, "version": model.version, "digest": model.digest}))
        .collect();
    let body = serde_json::json!({ "served": served, "failures": serving.refs.failures() });
    if serving.refs.all_configured_loaded() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
