//! `/api/v1/datasets`: input files for batch jobs (pattern 4).

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;

use capstan_client::http::api::{self, PageQuery};
use capstan_client::schema::RawBytes;
use capstan_client::types::{Dataset, DatasetPage};
use capstan_client::Problem;

use super::artifacts::{bytes_response, if_none_match, requested_range};
use super::extract::DatasetPath;
use crate::error::RegistryResult;
use crate::service::datasets::dataset_format;
use crate::service::{ArtifactContent, ArtifactRequest, Registry};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadDatasetParams {
    /// A name for people (1–256 characters).
    #[param(min_length = 1, max_length = 256)]
    name: String,
}

/// Upload a dataset: the raw file as the body, streamed and stored content-addressed.
#[utoipa::path(
    security(("bearer" = ["editor"])),
    tag = "datasets",
    params(UploadDatasetParams),
    request_body(description = "The file: CSV with a header row, JSON Lines, or Parquet", content(
        (RawBytes = "text/csv"),
        (RawBytes = "application/x-ndjson"),
        (RawBytes = "application/vnd.apache.parquet")
    )),
    responses(
        (status = 201, description = "Stored", body = Dataset),
        (status = 400, description = "Invalid name, or an empty body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than the dataset limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not CSV, JSON Lines or Parquet", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The bytes are not a file of the declared format", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/datasets")]
pub async fn upload_dataset(
    registry: web::Data<Registry>,
    query: web::Query<UploadDatasetParams>,
    request: HttpRequest,
    payload: web::Payload,
) -> RegistryResult<HttpResponse> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let format = dataset_format(content_type)?;
    let dataset = registry
        .upload_dataset(query.into_inner().name, format, payload)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, api::dataset(&dataset.id)))
        .json(dataset))
}

/// List datasets, newest first.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "datasets",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of datasets", body = DatasetPage),
        (status = 400, description = "Invalid limit or page token", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/datasets")]
pub async fn list_datasets(
    registry: web::Data<Registry>,
    query: web::Query<PageQuery>,
) -> RegistryResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(registry.list_datasets(query.into_inner()).await?))
}

#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "datasets",
    params(("id" = String, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "The dataset", body = Dataset),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/datasets/{id}")]
pub async fn get_dataset(
    registry: web::Data<Registry>,
    path: web::Path<DatasetPath>,
) -> RegistryResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(registry.get_dataset(path.into_inner().id).await?))
}

/// Download a dataset's bytes. `ETag` is the digest; `If-None-Match` answers 304, a
/// single `Range` 206.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "datasets",
    params(("id" = String, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "The bytes"),
        (status = 206, description = "The requested range"),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "Range not satisfiable", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/datasets/{id}/content")]
pub async fn download_dataset(
    registry: web::Data<Registry>,
    path: web::Path<DatasetPath>,
    request: HttpRequest,
) -> RegistryResult<HttpResponse> {
    let wanted = ArtifactRequest {
        range: requested_range(request.headers()),
        redirect: false,
        if_none_match: if_none_match(request.headers()),
    };
    let opened = registry.open_dataset(path.into_inner().id, wanted).await?;
    let etag = opened.etag();
    let content_type = opened.dataset.format.content_type();
    let (blob, partial) = match opened.content {
        ArtifactContent::Bytes { blob, partial } => (blob, partial),
        ArtifactContent::NotModified | ArtifactContent::Redirect(_) => {
            return Ok(HttpResponse::NotModified()
                .insert_header((header::ETAG, etag))
                .finish())
        }
    };
    Ok(bytes_response(blob, partial, content_type, etag))
}

/// Delete a dataset (refused while a job that has not finished reads it).
#[utoipa::path(
    security(("bearer" = ["editor"])),
    tag = "datasets",
    params(("id" = String, Path, description = "Dataset id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A queued or running job reads it", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/datasets/{id}")]
pub async fn delete_dataset(
    registry: web::Data<Registry>,
    path: web::Path<DatasetPath>,
) -> RegistryResult<HttpResponse> {
    registry.delete_dataset(path.into_inner().id).await?;
    Ok(HttpResponse::NoContent().finish())
}
