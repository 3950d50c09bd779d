//! `/api/v1/models/{name}/versions`: create (multipart or two-step), list, show, edit,
//! archive, delete.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use futures::StreamExt;

use capstan_client::http::{api, VersionQuery};
use capstan_client::types::{NewVersion, RollbackRequest, UpdateVersion, Version, VersionPage};
use capstan_client::{ModelName, Problem, VersionRef};

use super::extract::Actor;
use super::extract::{JsonObject, ModelPath, OptionalJsonObject, VersionPath};
use crate::error::{RegistryError, RegistryResult};
use crate::service::{parse_new_version, read_limited, Registry, UploadPart};

/// Largest JSON body of a version creation (a tree's manifest is in it).
const MAX_MANIFEST_BODY: usize = 32 * 1024 * 1024;

/// The multipart form of a one-step upload.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the form for the OpenAPI document only
pub struct UploadForm {
    /// JSON metadata (`NewVersion`).
    metadata: NewVersion,
    /// The artifact bytes.
    #[schema(value_type = String, format = Binary, content_media_type = "application/octet-stream")]
    artifact: Vec<u8>,
}

/// Create a version.
///
/// `multipart/form-data` with a `metadata` JSON part and an `artifact` file part creates a
/// `ready` version in one step. A JSON body alone creates a `pending` version with an
/// `upload_url` to `PUT` the bytes to. A JSON body with a `manifest` creates a pending
/// file tree: `GET …/missing`, `PUT …/blobs/{digest}` for each, then `POST …/commit`;
/// with `layout: tree` and no manifest, `PUT` a tar stream to the `upload_url`.
#[utoipa::path(
    security(("bearer" = ["editor"])),
    tag = "versions",
    params(("name" = ModelName, Path, description = "Model name")),
    request_body(content(
        (UploadForm = "multipart/form-data"),
        (NewVersion = "application/json")
    )),
    responses(
        (status = 201, description = "Created: `ready` (multipart) or `pending` (JSON)", body = Version),
        (status = 400, description = "Malformed metadata or multipart body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The requested version number is taken or below the next one (`version_exists`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Artifact or metadata too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither multipart nor JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The bytes do not match the declared sha256", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/models/{name}/versions")]
pub async fn create_version(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<ModelPath>,
    request: HttpRequest,
    payload: web::Payload,
) -> RegistryResult<HttpResponse> {
    let name = path.into_inner().name;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let version = if content_type.starts_with("multipart/form-data") {
        // Each multipart field becomes a named part; the service does the rest.
        let parts = Multipart::new(request.headers(), payload).map(|field| {
            field.map(|field| UploadPart {
                name: field.name().unwrap_or_default().to_owned(),
                body: field,
            })
        });
        registry
            .create_version_from_parts(name, parts, &actor.0)
            .await?
    } else if content_type.is_empty() || content_type.starts_with("application/json") {
        // A file tree's manifest rides in this body (up to 100 000 files): only a body
        // carrying one may pass the configured JSON limit.
        let limit = registry.limits().max_json_bytes;
        let body = read_limited(payload, limit.max(MAX_MANIFEST_BODY)).await?;
        let meta = parse_new_version(&body)?;
        if body.len() > limit && meta.manifest.is_none() {
            return Err(RegistryError::TooLarge {
                detail: format!("the version metadata is larger than {limit} bytes"),
            });
        }
        registry
            .create_pending_version(name, meta, &actor.0)
            .await?
    } else {
        return Err(RegistryError::UnsupportedMediaType {
            detail:
                "send multipart/form-data (metadata + artifact) or application/json (metadata only)"
                    .to_owned(),
        });
    };
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            api::version(&version.model, &VersionRef::Number(version.version)),
        ))
        .json(version))
}

/// List a model's versions, newest first.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "versions",
    params(("name" = ModelName, Path, description = "Model name"), VersionQuery),
    responses(
        (status = 200, description = "A page of versions", body = VersionPage),
        (status = 404, description = "No such model", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Invalid path, query or body", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/models/{name}/versions")]
pub async fn list_versions(
    registry: web::Data<Registry>,
    path: web::Path<ModelPath>,
    query: web::Query<VersionQuery>,
) -> RegistryResult<HttpResponse> {
    let page = registry
        .list_versions(path.into_inner().name, query.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Show a version by ref: a number, `staging`, `production`, an alias, or `latest`.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "versions",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = inline(VersionRef), Path, description = "Version number, stage, alias or `latest`")
    ),
    responses(
        (status = 200, description = "The version", body = Version),
        (status = 400, description = "Invalid name or ref", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/models/{name}/versions/{ref}")]
pub async fn get_version(
    registry: web::Data<Registry>,
    path: web::Path<VersionPath>,
) -> RegistryResult<HttpResponse> {
    let VersionPath { name, reference } = path.into_inner();
    let version = registry.get_version(name, reference).await?;
    Ok(HttpResponse::Ok().json(version))
}

/// Archive (retire) a version. Refused while it holds a stage; its aliases are removed.
#[utoipa::path(
    security(("bearer" = ["promoter"])),
    tag = "versions",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = inline(VersionRef), Path, description = "Version number, alias or `latest`")
    ),
    request_body(content = Option<RollbackRequest>, description = "Optional reason"),
    responses(
        (status = 200, description = "The archived version", body = Version),
        (status = 404, description = "No such model or version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version holds a stage", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Invalid path, query or body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/models/{name}/versions/{ref}/archive")]
pub async fn archive_version(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<VersionPath>,
    body: OptionalJsonObject<RollbackRequest>,
) -> RegistryResult<HttpResponse> {
    let VersionPath { name, reference } = path.into_inner();
    let reason = body.0.and_then(|b| b.reason);
    let version = registry
        .archive_version(name, reference, reason, &actor.0)
        .await?;
    Ok(HttpResponse::Ok().json(version))
}

/// Change a version's description or tags (its artifact never changes).
#[utoipa::path(
    security(("bearer" = ["editor"])),
    tag = "versions",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = inline(VersionRef), Path, description = "Version number, stage, alias or `latest`")
    ),
    request_body = UpdateVersion,
    responses(
        (status = 200, description = "The updated version", body = Version),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[patch("/models/{name}/versions/{ref}")]
pub async fn update_version(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<VersionPath>,
    body: JsonObject<UpdateVersion>,
) -> RegistryResult<HttpResponse> {
    let VersionPath { name, reference } = path.into_inner();
    let version = registry
        .update_version(name, reference, body.0, &actor.0)
        .await?;
    Ok(HttpResponse::Ok().json(version))
}

/// Delete a version. Refused while it holds a stage; its aliases are removed, and its
/// number is never used again. Its files stay in the store (they may be shared).
#[utoipa::path(
    security(("bearer" = ["admin"])),
    tag = "versions",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = inline(VersionRef), Path, description = "Version number, alias or `latest`")
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid path, query or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version holds a stage", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/models/{name}/versions/{ref}")]
pub async fn delete_version(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<VersionPath>,
) -> RegistryResult<HttpResponse> {
    let VersionPath { name, reference } = path.into_inner();
    registry.delete_version(name, reference, &actor.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
