//! `/api/v1/deployments`: named consumers of a ref, the instances that report what they
//! run, and the state computed from both (the control plane).

use actix_web::http::header;
use actix_web::{delete, get, put, web, HttpResponse};

use capstan_client::http::{api, DeploymentQuery};
use capstan_client::types::{
    Deployment, DeploymentInstance, DeploymentPage, InstanceReport, PutDeployment,
};
use capstan_client::Problem;

use super::extract::{InstancePath, JsonObject, ModelPath};
use crate::domain::access::Caller;
use crate::error::RegistryResult;
use crate::service::Registry;

/// Create or replace a deployment: which ref it consumes, under which pattern, with an
/// optional canary (pattern `api` only) taking `percent` of the traffic.
///
/// Names follow the model-name rules. Creating, replacing with a change and deleting are
/// events (`deployment_created`, `deployment_updated`, `deployment_deleted`); so is every
/// change of the computed state (`deployment_state_changed`).
#[utoipa::path(
    security(("bearer" = ["admin"])),
    tag = "deployments",
    params(("name" = String, Path, description = "Deployment name")),
    request_body = PutDeployment,
    responses(
        (status = 200, description = "Replaced", body = Deployment),
        (status = 201, description = "Created", body = Deployment),
        (status = 400, description = "Invalid name, labels, percent or text", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A canary on a pattern other than api, or of another model", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/deployments/{name}")]
pub async fn put_deployment(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<ModelPath>,
    body: JsonObject<PutDeployment>,
) -> RegistryResult<HttpResponse> {
    let name = path.into_inner().name;
    let location = api::deployment(&name);
    let (created, deployment) = registry.put_deployment(name, body.0, &caller).await?;
    Ok(if created {
        HttpResponse::Created()
            .insert_header((header::LOCATION, location))
            .json(deployment)
    } else {
        HttpResponse::Ok().json(deployment)
    })
}

/// List deployments by name, with their state computed now.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "deployments",
    params(DeploymentQuery),
    responses(
        (status = 200, description = "A page of deployments", body = DeploymentPage),
        (status = 400, description = "Invalid filter, limit or page token", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/deployments")]
pub async fn list_deployments(
    registry: web::Data<Registry>,
    caller: Caller,
    query: web::Query<DeploymentQuery>,
) -> RegistryResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        registry
            .list_deployments(query.into_inner(), &caller.scope)
            .await?,
    ))
}

/// A deployment: desired version (what its ref names now), canary, instances and state
/// (`in_sync`, `rolling_out`, `drifted`, `no_instances`) with the reason.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "deployments",
    params(("name" = String, Path, description = "Deployment name")),
    responses(
        (status = 200, description = "The deployment", body = Deployment),
        (status = 400, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/deployments/{name}")]
pub async fn get_deployment(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<ModelPath>,
) -> RegistryResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        registry
            .get_deployment(path.into_inner().name, &caller.scope)
            .await?,
    ))
}

/// Delete a deployment and what its instances reported.
#[utoipa::path(
    security(("bearer" = ["admin"])),
    tag = "deployments",
    params(("name" = String, Path, description = "Deployment name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/deployments/{name}")]
pub async fn delete_deployment(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<ModelPath>,
) -> RegistryResult<HttpResponse> {
    registry
        .delete_deployment(path.into_inner().name, &caller)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An instance reports what it runs: at start, at once on every swap or failed load, and
/// as a heartbeat (every `heartbeat_ms` of the deployment). One silent for three
/// heartbeats is stale.
///
/// Instance ids are chosen by the instance (the reporters default to `<hostname>-<pid>`)
/// and follow the model-name rules.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "deployments",
    params(
        ("name" = String, Path, description = "Deployment name"),
        ("instance" = String, Path, description = "Instance id")
    ),
    request_body = InstanceReport,
    responses(
        (status = 200, description = "Recorded", body = DeploymentInstance),
        (status = 201, description = "First report of this instance", body = DeploymentInstance),
        (status = 400, description = "Invalid name, instance id or report", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/deployments/{name}/instances/{instance}")]
pub async fn report_instance(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<InstancePath>,
    body: JsonObject<InstanceReport>,
) -> RegistryResult<HttpResponse> {
    let InstancePath { name, instance } = path.into_inner();
    let (created, instance) = registry
        .report_instance(name, instance, body.0, &caller.scope)
        .await?;
    Ok(if created {
        HttpResponse::Created().json(instance)
    } else {
        HttpResponse::Ok().json(instance)
    })
}
