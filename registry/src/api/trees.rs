//! Versions that hold a file tree: the upload steps (`missing`, `blobs/{digest}`,
//! `commit`) and the downloads (`manifest`, `files/{path}`, `archive`).

use actix_web::http::header;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use serde::Deserialize;

use capstan_client::http::api::VERSION_HEADER;
use capstan_client::manifest::{Manifest, MANIFEST_MEDIA_TYPE};
use capstan_client::types::{MissingFiles, Version};
use capstan_client::{Digest, ModelName, Problem, VersionRef};

use super::artifacts::{bytes_response, if_none_match, requested_range};
use super::extract::{Actor, VersionPath};
use crate::error::{RegistryError, RegistryResult};
use crate::service::{ArtifactContent, ArtifactRequest, Registry};

/// `/models/{name}/versions/{ref}/files/{path}`.
#[derive(Debug, Deserialize)]
pub struct FilePath {
    pub name: ModelName,
    #[serde(rename = "ref")]
    pub reference: VersionRef,
    pub path: String,
}

/// `/models/{name}/versions/{ref}/blobs/{digest}`.
#[derive(Debug, Deserialize)]
pub struct BlobPath {
    pub name: ModelName,
    #[serde(rename = "ref")]
    pub reference: VersionRef,
    pub digest: Digest,
}

fn pending_number(reference: VersionRef) -> RegistryResult<i64> {
    match reference {
        VersionRef::Number(number) => Ok(number),
        _ => Err(RegistryError::bad_request(
            "invalid_ref",
            "a pending file tree is named by its version number",
        )),
    }
}

/// Which files a pending tree still needs.
///
/// Each distinct content once, by digest: the files the object store lacks. A push that
/// differs from an earlier version in one file sends one file; a push cut off midway
/// resumes from here.
#[utoipa::path(
    security(("bearer" = ["editor"])),
    tag = "trees",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = i64, Path, minimum = 1, description = "Version number of a pending tree")
    ),
    responses(
        (status = 200, description = "The files still to send", body = MissingFiles),
        (status = 400, description = "Invalid path, query or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a pending file tree", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/models/{name}/versions/{ref}/missing")]
pub async fn missing_files(
    registry: web::Data<Registry>,
    path: web::Path<VersionPath>,
) -> RegistryResult<web::Json<MissingFiles>> {
    let VersionPath { name, reference } = path.into_inner();
    let number = pending_number(reference)?;
    Ok(web::Json(registry.missing_files(name, number).await?))
}

/// Upload one file of a pending tree, by its digest.
#[utoipa::path(
    security(("bearer" = ["editor"])),
    tag = "trees",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = i64, Path, minimum = 1, description = "Version number of a pending tree"),
        ("digest" = String, Path, description = "The file's sha256, as the manifest lists it")
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "The manifest lists no such digest, or an invalid path", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a pending file tree", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The bytes do not match the digest or size", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/models/{name}/versions/{ref}/blobs/{digest}")]
pub async fn upload_blob(
    registry: web::Data<Registry>,
    path: web::Path<BlobPath>,
    payload: web::Payload,
) -> RegistryResult<HttpResponse> {
    let BlobPath {
        name,
        reference,
        digest,
    } = path.into_inner();
    let number = pending_number(reference)?;
    registry
        .upload_tree_file(name, number, digest, payload)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Complete a pending tree: every file must have arrived.
///
/// The served file is chosen (an MLflow `onnx` flavor, or a lone `.onnx` file) and loaded
/// as serving will; a tree that cannot be served is stored all the same, with the reason.
#[utoipa::path(
    security(("bearer" = ["editor"])),
    tag = "trees",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = i64, Path, minimum = 1, description = "Version number of a pending tree")
    ),
    responses(
        (status = 200, description = "The version, now `ready`", body = Version),
        (status = 400, description = "Invalid path, query or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a pending tree, or files are missing", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/models/{name}/versions/{ref}/commit")]
pub async fn commit_tree(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<VersionPath>,
) -> RegistryResult<web::Json<Version>> {
    let VersionPath { name, reference } = path.into_inner();
    let number = pending_number(reference)?;
    Ok(web::Json(
        registry.commit_tree(name, number, &actor.0).await?,
    ))
}

/// A tree version's manifest: every file's path, digest, size and executable bit.
///
/// Its digest is the version's (`ETag`).
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "trees",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = inline(VersionRef), Path, description = "Version number, stage, alias or `latest`")
    ),
    responses(
        (status = 200, description = "The manifest", body = Manifest, content_type = "application/vnd.capstan.manifest.v1+json"),
        (status = 304, description = "The client's copy is current"),
        (status = 400, description = "Invalid path, query or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version, or not a tree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version has no artifact yet", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/models/{name}/versions/{ref}/manifest")]
pub async fn get_manifest(
    registry: web::Data<Registry>,
    path: web::Path<VersionPath>,
    request: HttpRequest,
) -> RegistryResult<HttpResponse> {
    let VersionPath { name, reference } = path.into_inner();
    let (version, manifest) = registry.open_tree(name, reference).await?;
    let digest = version.digest.unwrap_or_else(|| manifest.digest());
    let etag = format!("\"{digest}\"");
    let version_header = (VERSION_HEADER, version.version.to_string());
    if if_none_match(request.headers())
        .iter()
        .any(|t| *t == etag || t == "*")
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header(version_header)
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, MANIFEST_MEDIA_TYPE))
        .insert_header((header::ETAG, etag))
        .insert_header(version_header)
        .body(manifest.to_bytes()))
}

/// One file of a tree version, by its path in the tree.
///
/// `ETag` is the file's digest; `If-None-Match` answers 304, a single `Range` 206.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "trees",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = inline(VersionRef), Path, description = "Version number, stage, alias or `latest`"),
        ("path" = String, Path, description = "The file's path in the tree (`MLmodel`, `data/model.onnx`)")
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range", content_type = "application/octet-stream"),
        (status = 304, description = "The client's copy is current"),
        (status = 400, description = "Invalid path (absolute, `..`, …)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model, version or file", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version has no artifact yet", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "Range not satisfiable", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/models/{name}/versions/{ref}/files/{path:.*}")]
pub async fn download_file(
    registry: web::Data<Registry>,
    path: web::Path<FilePath>,
    request: HttpRequest,
) -> RegistryResult<HttpResponse> {
    let FilePath {
        name,
        reference,
        path,
    } = path.into_inner();
    let wanted = ArtifactRequest {
        range: requested_range(request.headers()),
        redirect: false,
        if_none_match: if_none_match(request.headers()),
    };
    let file = registry
        .open_tree_file(name, reference, &path, wanted)
        .await?;
    let etag = file.opened.etag();
    let version = file.opened.version.version;
    let mut response = match file.opened.content {
        ArtifactContent::Bytes { blob, partial } => {
            bytes_response(blob, partial, "application/octet-stream", etag)
        }
        ArtifactContent::NotModified | ArtifactContent::Redirect(_) => HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish(),
    };
    response.headers_mut().insert(
        header::HeaderName::from_static(VERSION_HEADER),
        header::HeaderValue::from(version),
    );
    Ok(response)
}

/// Every file of a tree version as one tar stream.
///
/// Sorted paths, modes 0644/0755, mtime 0: equal trees give byte-equal archives.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "trees",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = inline(VersionRef), Path, description = "Version number, stage, alias or `latest`")
    ),
    responses(
        (status = 200, description = "The tar stream", content_type = "application/x-tar"),
        (status = 400, description = "Invalid path, query or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version, or not a tree", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version has no artifact yet", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/models/{name}/versions/{ref}/archive")]
pub async fn download_archive(
    registry: web::Data<Registry>,
    path: web::Path<VersionPath>,
) -> RegistryResult<HttpResponse> {
    let VersionPath { name, reference } = path.into_inner();
    let (version, stream) = registry.tree_archive(name, reference).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/x-tar"))
        .insert_header((VERSION_HEADER, version.version.to_string()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}-{}.tar\"",
                version.model, version.version
            ),
        ))
        .streaming(stream))
}
