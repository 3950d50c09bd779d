//! The MLflow model-registry REST API, so the unmodified `mlflow` client works against
//! Capstan: the same handlers under `/api/2.0/mlflow/` and `/ajax-api/2.0/mlflow/`.
//!
//! These routes are MLflow's API, not Capstan's: they are registered as a plain actix
//! scope, outside the OpenAPI document (their errors are MLflow's `{error_code,
//! message}`, not problem+json). The gate ([`super::auth`]) still covers them: [`ACCESS`]
//! is the role each needs, added to the access table beside the document's. A model
//! named in a query or body (not the path) is checked against a scoped token here.

mod artifacts;
mod errors;
mod models;
mod shapes;
mod versions;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use capstan_client::types::Role;
use capstan_client::ModelName;

use crate::domain::access::Caller;
use crate::error::RegistryError;
use crate::service::models::model_not_found;

pub use errors::MlflowError;

/// The two prefixes MLflow serves its REST API under (the UI calls `ajax-api`).
pub const PREFIXES: [&str; 2] = ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"];

/// The prefixes of MLflow's artifact proxy (`artifacts`).
pub const ARTIFACT_PREFIXES: [&str; 2] = [
    "/api/2.0/mlflow-artifacts",
    "/ajax-api/2.0/mlflow-artifacts",
];

/// Each endpoint (method, path under a prefix) and the least role it needs.
pub const ACCESS: [(&str, &str, Role); 22] = [
    ("POST", "/registered-models/create", Role::Editor),
    ("GET", "/registered-models/get", Role::Reader),
    ("POST", "/registered-models/rename", Role::Admin),
    ("PATCH", "/registered-models/update", Role::Editor),
    ("DELETE", "/registered-models/delete", Role::Admin),
    ("GET", "/registered-models/search", Role::Reader),
    (
        "POST",
        "/registered-models/get-latest-versions",
        Role::Reader,
    ),
    (
        "GET",
        "/registered-models/get-latest-versions",
        Role::Reader,
    ),
    ("POST", "/registered-models/set-tag", Role::Editor),
    ("DELETE", "/registered-models/delete-tag", Role::Editor),
    ("POST", "/registered-models/alias", Role::Promoter),
    ("DELETE", "/registered-models/alias", Role::Promoter),
    ("GET", "/registered-models/alias", Role::Reader),
    ("POST", "/model-versions/create", Role::Editor),
    ("GET", "/model-versions/get", Role::Reader),
    ("PATCH", "/model-versions/update", Role::Editor),
    ("DELETE", "/model-versions/delete", Role::Admin),
    ("GET", "/model-versions/search", Role::Reader),
    ("POST", "/model-versions/transition-stage", Role::Promoter),
    ("POST", "/model-versions/set-tag", Role::Editor),
    ("DELETE", "/model-versions/delete-tag", Role::Editor),
    ("GET", "/model-versions/get-download-uri", Role::Reader),
];

/// Every MLflow route under both prefixes, with its method and role: for the gate.
pub fn access_routes() -> Vec<(Method, String, Role)> {
    let mut routes: Vec<(Method, String, Role)> = PREFIXES
        .iter()
        .flat_map(|prefix| {
            ACCESS.iter().filter_map(move |(method, path, role)| {
                Some((
                    Method::from_bytes(method.as_bytes()).ok()?,
                    format!("{prefix}{path}"),
                    *role,
                ))
            })
        })
        .collect();
    routes.extend(artifacts::access_routes());
    routes
}

/// Whether `path` is one of the MLflow API's (its errors are then MLflow's).
pub fn is_mlflow_path(path: &str) -> bool {
    PREFIXES.iter().chain(&ARTIFACT_PREFIXES).any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// `error` as an MLflow route answers it.
pub fn answer(error: RegistryError) -> actix_web::Error {
    MlflowError(error).into()
}

/// Refuses a model a scoped token may not see, as if it did not exist.
fn visible(caller: &Caller, name: &ModelName) -> Result<(), MlflowError> {
    if caller.sees(name.as_str()) {
        Ok(())
    } else {
        Err(model_not_found(name.as_str()).into())
    }
}

/// An endpoint this API does not have (experiments, runs, traces…), as MLflow says it.
async fn unknown_endpoint(request: HttpRequest) -> HttpResponse {
    let message = format!(
        "Capstan serves MLflow's model registry only; no endpoint {} {}",
        request.method(),
        request.path()
    );
    HttpResponse::NotFound().json(serde_json::json!({
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": message,
    }))
}

/// The MLflow routes under both prefixes, and the artifact proxy's.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for prefix in ARTIFACT_PREFIXES {
        artifacts::routes(cfg, prefix);
    }
    for prefix in PREFIXES {
        cfg.service(
            web::scope(prefix)
                .configure(models::routes)
                .configure(versions::routes)
                .default_service(web::to(unknown_endpoint)),
        );
    }
}
