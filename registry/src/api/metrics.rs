//! `GET /metrics`: the prediction metrics in Prometheus text format, and on the registry
//! the event relays' lag and webhook delivery attempts.

use actix_web::{get, web, HttpResponse};

use crate::events::RelayMonitor;
use crate::serving::Serving;
use crate::webhooks::WebhookMetrics;

/// Prometheus metrics.
///
/// On the registry, also the event relays' lag and cursor per publisher, and webhook
/// delivery attempts by result.
#[utoipa::path(security(()), tag = "serving", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(
    serving: web::Data<Serving>,
    relays: Option<web::Data<RelayMonitor>>,
    webhooks: Option<web::Data<WebhookMetrics>>,
) -> HttpResponse {
    let mut body = serving.render_metrics();
    if let Some(relays) = relays {
        body.push_str(&relays.render_prometheus().await);
    }
    if let Some(webhooks) = webhooks {
        body.push_str(&webhooks.render_prometheus());
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}
