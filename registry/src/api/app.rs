//! The HTTP app of both processes, assembled in one place: the registry (its API, event
//! stream and health, plus serving its own models) and the model server (serving only).
//! Both get the same extractor error handlers, problem+json fallback and OpenAPI document
//! at `/api-docs/openapi.json` (with Swagger UI at `/docs/`), each listing its own routes.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress, Condition, Logger};
use actix_web::{web, App, HttpServer};
use tokio_util::sync::CancellationToken;
use utoipa_swagger_ui::SwaggerUi;

use super::auth::{self, AccessTable, Gate, Verifier};
use crate::config::AuthConfig;
use crate::events::{EventHub, RelayMonitor};
use crate::service::{Limits, Registry};
use crate::serving::Serving;
use crate::webhooks::WebhookMetrics;

/// What a process serves besides predictions.
// Built once per process and moved into `serve`: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Serves {
    /// The registry: its API over `registry`, the event stream (ended by `shutdown`),
    /// the relays' lag in `/readyz` and `/metrics`, and webhook attempts in `/metrics`.
    Registry {
        registry: Registry,
        hub: EventHub,
        relays: Arc<RelayMonitor>,
        /// Webhook delivery attempts, in `/metrics`.
        webhooks: Arc<WebhookMetrics>,
        shutdown: CancellationToken,
    },
    /// The model server: predictions, health and metrics only; with authentication on,
    /// `verifier` checks the secrets it is presented.
    ModelServer { verifier: Verifier },
}

/// Everything the app is built from.
pub struct AppSpec {
    pub serves: Serves,
    pub serving: Serving,
    pub limits: Limits,
    /// HTTP worker threads (default: one per core).
    pub workers: Option<usize>,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: std::time::Duration,
    /// Who may call what.
    pub auth: AuthConfig,
}

/// The registry's shared state, as app data.
#[derive(Clone)]
struct RegistryData {
    registry: web::Data<Registry>,
    hub: web::Data<EventHub>,
    relays: web::Data<RelayMonitor>,
    webhooks: web::Data<WebhookMetrics>,
    shutdown: web::Data<CancellationToken>,
}

/// Builds the app described by `spec` and starts serving it on `listener`; the returned
/// server runs until stopped (finishing in-flight requests for up to 30 s).
pub fn serve(listener: TcpListener, spec: AppSpec) -> std::io::Result<Server> {
    let mut verifier = Verifier::Nobody;
    let registry = match spec.serves {
        Serves::Registry {
            registry,
            hub,
            relays,
            webhooks,
            shutdown,
        } => Some(RegistryData {
            registry: web::Data::new(registry),
            hub: web::Data::new(hub),
            relays: web::Data::from(relays),
            webhooks: web::Data::from(webhooks),
            shutdown: web::Data::new(shutdown),
        }),
        Serves::ModelServer { verifier: checks } => {
            verifier = checks;
            None
        }
    };
    let is_registry = registry.is_some();
    let declared = if is_registry {
        super::declared_openapi()
    } else {
        super::declared_model_server_openapi()
    };
    let gate = web::Data::new(Gate {
        enabled: spec.auth.enabled,
        open_docs: spec.auth.open_docs,
        open_metrics: spec.auth.open_metrics,
        table: if is_registry {
            AccessTable::of(&declared)
                .with_routes(super::mlflow::access_routes())
                .with_routes(super::ui::access_routes())
        } else {
            AccessTable::of(&declared)
        },
        verifier: match &registry {
            Some(data) => Verifier::Registry(Box::new(data.registry.get_ref().clone())),
            None => verifier,
        },
    });
    let openapi = auth::document_for(declared, spec.auth.enabled);
    let routes = web::Data::new(super::fallback::RouteTable::of(&openapi));
    let serving = web::Data::new(spec.serving);
    let limits = spec.limits;
    let mut server = HttpServer::new(move || {
        let registry = registry.clone();
        App::new()
            // Innermost: every request passes the gate before routing and extraction.
            .wrap(from_fn(auth::authorize))
            // The model server answers predictions only: no compression, no access log.
            .wrap(Condition::new(is_registry, Compress::default()))
            .wrap(Condition::new(
                is_registry,
                Logger::new("%r %s %b %Dms").exclude("/healthz"),
            ))
            .app_data(serving.clone())
            .app_data(gate.clone())
            .configure(|cfg| {
                if let Some(data) = registry {
                    cfg.app_data(data.registry)
                        .app_data(data.hub)
                        .app_data(data.relays)
                        .app_data(data.webhooks)
                        .app_data(data.shutdown);
                }
            })
            .configure(|cfg| super::extractor_config(cfg, limits))
            .configure(|cfg| {
                let mut utoipa_cfg = utoipa_actix_web::service_config::ServiceConfig::new(cfg);
                if is_registry {
                    super::routes(&mut utoipa_cfg);
                } else {
                    super::model_server_routes(&mut utoipa_cfg);
                }
            })
            // MLflow's API: outside the OpenAPI document, behind the same gate.
            .configure(|cfg| {
                if is_registry {
                    super::mlflow::routes(cfg);
                }
            })
            // The web UI: HTML pages outside the OpenAPI document, behind the same gate.
            .configure(|cfg| {
                if is_registry {
                    super::ui::routes(cfg);
                }
            })
            .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", openapi.clone()))
            .app_data(routes.clone())
            .default_service(web::to(super::fallback::unmatched))
    })
    // Without it a response written in two parts (headers, then a small body) waits for
    // the client's delayed ACK, up to 40 ms on Linux: a 2 KiB file took 28 ms to fetch.
    .tcp_nodelay(true)
    .listen(listener)?
    .keep_alive(spec.keep_alive)
    .shutdown_timeout(30);
    if let Some(workers) = spec.workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}
