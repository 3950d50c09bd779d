//! `/api/v1/models/{name}/versions/{ref}/artifact`: upload (two-step) and download.

use actix_web::http::header::{self, HeaderMap};
use actix_web::{get, put, web, HttpRequest, HttpResponse};
use futures::TryStreamExt;
use serde::Deserialize;

use capstan_client::http::api::VERSION_HEADER;
use capstan_client::types::Version;
use capstan_client::{ModelName, Problem, VersionRef};

use super::extract::Actor;
use super::extract::VersionPath;
use crate::artifacts::BlobRead;
use crate::error::{RegistryError, RegistryResult};
use crate::service::{ArtifactContent, ArtifactRequest, ByteRange, Registry};

/// Upload the bytes of a `pending` version (step two of a two-step upload).
#[utoipa::path(
    security(("bearer" = ["editor"])),
    tag = "artifacts",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = i64, Path, minimum = 1, description = "Version number")
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "The version, now `ready`", body = Version),
        (status = 409, description = "The version is not pending", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large; the version is now `failed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Digest mismatch; the version is now `failed`", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Invalid path, query or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/models/{name}/versions/{ref}/artifact")]
pub async fn upload_artifact(
    registry: web::Data<Registry>,
    actor: Actor,
    path: web::Path<VersionPath>,
    payload: web::Payload,
) -> RegistryResult<HttpResponse> {
    let VersionPath { name, reference } = path.into_inner();
    let VersionRef::Number(number) = reference else {
        return Err(RegistryError::bad_request(
            "invalid_ref",
            "upload to a version number (the `upload_url` of a pending version)",
        ));
    };
    let version = registry
        .upload_pending_artifact(name, number, payload, &actor.0)
        .await?;
    Ok(HttpResponse::Ok().json(version))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadParams {
    /// On S3, answer 307 with a presigned URL instead of streaming the bytes.
    #[serde(default)]
    redirect: bool,
}

/// Download a version's artifact.
///
/// `ETag` is the digest; `If-None-Match` answers 304, a single `Range` 206. On S3,
/// `?redirect=true` answers 307 to a presigned URL.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "artifacts",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = inline(VersionRef), Path, description = "Version number, stage, alias or `latest`"),
        DownloadParams
    ),
    responses(
        (status = 200, description = "The bytes", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range", content_type = "application/octet-stream"),
        (status = 304, description = "The client's copy is current"),
        (status = 307, description = "Redirect to a presigned URL (S3, `redirect=true`)"),
        (status = 404, description = "No such model or version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version has no artifact yet", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "Range not satisfiable", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Invalid path, query or body", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/models/{name}/versions/{ref}/artifact")]
pub async fn download_artifact(
    registry: web::Data<Registry>,
    path: web::Path<VersionPath>,
    query: web::Query<DownloadParams>,
    request: HttpRequest,
) -> RegistryResult<HttpResponse> {
    let VersionPath { name, reference } = path.into_inner();
    let wanted = ArtifactRequest {
        range: requested_range(request.headers()),
        redirect: query.redirect,
        if_none_match: if_none_match(request.headers()),
    };
    let opened = registry.open_artifact(name, reference, wanted).await?;
    let etag = opened.etag();
    let version_header = (VERSION_HEADER, opened.version.version.to_string());
    let (blob, partial) = match opened.content {
        ArtifactContent::NotModified => {
            return Ok(HttpResponse::NotModified()
                .insert_header((header::ETAG, etag))
                .insert_header(version_header)
                .finish())
        }
        ArtifactContent::Redirect(url) => {
            return Ok(HttpResponse::TemporaryRedirect()
                .insert_header((header::LOCATION, url))
                .insert_header((header::ETAG, etag))
                .finish())
        }
        ArtifactContent::Bytes { blob, partial } => (blob, partial),
    };
    let mut response = bytes_response(blob, partial, "application/octet-stream", etag);
    response.headers_mut().insert(
        header::HeaderName::from_static(VERSION_HEADER),
        header::HeaderValue::from(opened.version.version),
    );
    Ok(response)
}

/// Streams stored bytes: the whole object (200) or one range of it (206 with
/// `Content-Range`), with its entity tag, `Accept-Ranges` and its exact length.
pub(super) fn bytes_response(
    blob: BlobRead,
    partial: bool,
    content_type: &str,
    etag: String,
) -> HttpResponse {
    let length = blob.range.end - blob.range.start;
    let mut response = if partial {
        let mut partial = HttpResponse::PartialContent();
        partial.insert_header((
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                blob.range.start,
                blob.range.end - 1,
                blob.total_size
            ),
        ));
        partial
    } else {
        HttpResponse::Ok()
    };
    let body = blob
        .stream
        .map_err(actix_web::error::ErrorInternalServerError);
    response
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .no_chunking(length)
        .streaming(body)
}

/// The entity tags `If-None-Match` names (weak ones compared as strong), `*` included.
pub(super) fn if_none_match(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|candidate| candidate.trim().trim_start_matches("W/").to_owned())
        .collect()
}

/// The single byte range a `Range` header asks for (checked against the size by the
/// service: one beyond it is 416). A syntactically odd header is ignored (RFC 9110);
/// multiple ranges are served as the whole body.
pub(super) fn requested_range(headers: &HeaderMap) -> Option<ByteRange> {
    let value = headers.get(header::RANGE).and_then(|v| v.to_str().ok())?;
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    match (start.trim(), end.trim()) {
        ("", "") => None,
        ("", suffix) => suffix.parse().ok().map(ByteRange::Suffix),
        (start, "") => start.parse().ok().map(ByteRange::From),
        (start, end) => match (start.parse::<u64>(), end.parse::<u64>()) {
            (Ok(start), Ok(end)) if end >= start => Some(ByteRange::FromTo(start, end)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    /// The range served for a `Range` header on an artifact of `size` bytes.
    fn served(value: &str, size: u64) -> RegistryResult<Option<std::ops::Range<u64>>> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        requested_range(&headers)
            .map(|range| range.within(size))
            .transpose()
    }

    #[test]
    fn ranges() {
        assert_eq!(served("bytes=0-9", 100).unwrap(), Some(0..10));
        assert_eq!(served("bytes=90-", 100).unwrap(), Some(90..100));
        assert_eq!(served("bytes=-10", 100).unwrap(), Some(90..100));
        assert_eq!(served("bytes=50-1000", 100).unwrap(), Some(50..100));
        assert!(served("bytes=100-", 100).is_err());
        assert_eq!(served("items=0-1", 100).unwrap(), None);
        assert_eq!(served("bytes=0-1,5-6", 100).unwrap(), None);
        assert_eq!(served("bytes=9-1", 100).unwrap(), None);
    }
}
