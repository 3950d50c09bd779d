//! `/api/v1/models/{name}/versions/{ref}/artifact`: upload (two-step) and download.

use std::ops::Range;
use std::time::Duration;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{get, put, web, HttpRequest, HttpResponse};
use futures::TryStreamExt;
use serde::Deserialize;

use capstan_client::types::Version;
use capstan_client::{ModelName, Problem, VersionRef};

use super::extract::VersionPath;
use crate::error::{RegistryError, RegistryResult};
use crate::service::Registry;

/// How long a presigned download URL stays valid.
const PRESIGNED_TTL: Duration = Duration::from_secs(15 * 60);

/// Upload the bytes of a `pending` version (step two of a two-step upload).
#[utoipa::path(
    tag = "artifacts",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = i64, Path, description = "Version number")
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "The version, now `ready`", body = Version),
        (status = 409, description = "The version is not pending", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large; the version is now `failed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Digest mismatch; the version is now `failed`", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/models/{name}/versions/{ref}/artifact")]
pub async fn upload_artifact(
    registry: web::Data<Registry>,
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
        .upload_pending_artifact(name, number, payload)
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
        (status = 416, description = "Range not satisfiable", body = Problem, content_type = "application/problem+json")
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
    let resolved = registry.resolve_artifact(name, reference).await?;
    let etag = format!("\"{}\"", resolved.digest);
    let version_header = (
        "X-Capstan-Model-Version",
        resolved.version.version.to_string(),
    );
    if if_none_match(request.headers(), &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header(version_header)
            .finish());
    }
    if query.redirect {
        if let Some(url) = registry
            .artifacts()
            .presigned_url(&resolved.digest, PRESIGNED_TTL)
            .await?
        {
            return Ok(HttpResponse::TemporaryRedirect()
                .insert_header((header::LOCATION, url))
                .insert_header((header::ETAG, etag))
                .finish());
        }
    }
    let range = requested_range(request.headers(), resolved.size)?;
    let blob = registry
        .artifacts()
        .get(&resolved.digest, range.clone())
        .await?;
    let length = blob.range.end - blob.range.start;
    let body = blob
        .stream
        .map_err(actix_web::error::ErrorInternalServerError);
    let mut response = match range {
        Some(_) => {
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
        }
        None => HttpResponse::Ok(),
    };
    Ok(response
        .insert_header((header::CONTENT_TYPE, "application/octet-stream"))
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(version_header)
        .no_chunking(length)
        .streaming(body))
}

/// Whether `If-None-Match` names this ETag (or `*`).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|candidate| candidate.trim().trim_start_matches("W/"))
        .any(|candidate| candidate == "*" || candidate == etag)
}

/// The single byte range a `Range` header asks for, clamped to `size`. A syntactically
/// odd header is ignored (RFC 9110); an unsatisfiable one is 416. Multiple ranges are
/// served as the whole body.
fn requested_range(headers: &HeaderMap, size: u64) -> RegistryResult<Option<Range<u64>>> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = || RegistryError::RangeNotSatisfiable { size };
    let range = match (start.trim(), end.trim()) {
        ("", "") => return Ok(None),
        ("", suffix) => {
            let Ok(suffix) = suffix.parse::<u64>() else {
                return Ok(None);
            };
            if suffix == 0 || size == 0 {
                return Err(unsatisfiable());
            }
            size.saturating_sub(suffix)..size
        }
        (start, end) => {
            let Ok(start) = start.parse::<u64>() else {
                return Ok(None);
            };
            let end = match end {
                "" => size,
                end => match end.parse::<u64>() {
                    Ok(end) if end >= start => end.saturating_add(1).min(size),
                    _ => return Ok(None),
                },
            };
            if start >= size {
                return Err(unsatisfiable());
            }
            start..end
        }
    };
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn with_range(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn ranges() {
        assert_eq!(
            requested_range(&with_range("bytes=0-9"), 100).unwrap(),
            Some(0..10)
        );
        assert_eq!(
            requested_range(&with_range("bytes=90-"), 100).unwrap(),
            Some(90..100)
        );
        assert_eq!(
            requested_range(&with_range("bytes=-10"), 100).unwrap(),
            Some(90..100)
        );
        assert_eq!(
            requested_range(&with_range("bytes=50-1000"), 100).unwrap(),
            Some(50..100)
        );
        assert!(requested_range(&with_range("bytes=100-"), 100).is_err());
        assert_eq!(
            requested_range(&with_range("items=0-1"), 100).unwrap(),
            None
        );
        assert_eq!(
            requested_range(&with_range("bytes=0-1,5-6"), 100).unwrap(),
            None
        );
        assert_eq!(
            requested_range(&with_range("bytes=9-1"), 100).unwrap(),
            None
        );
    }
}
