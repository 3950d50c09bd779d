//! MLflow's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts`, also under
//! `/ajax-api/2.0/`): list a directory, download, upload and delete a file, in MLflow's
//! shapes, so the unmodified `mlflow` client's `HttpArtifactRepository` reads versions'
//! files and uploads models here. Errors are MLflow's `{"error_code", "message"}`.

use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::MlflowError;
use crate::api::artifacts::{bytes_response, if_none_match, requested_range};
use capstan_client::types::Role;

use crate::domain::access::Caller;
use crate::service::{ArtifactContent, ArtifactRequest, Registry};

type MlflowResult<T> = Result<T, MlflowError>;

/// The proxy's routes (method, path) and the least role each needs, under every prefix.
pub fn access_routes() -> Vec<(Method, String, Role)> {
    super::ARTIFACT_PREFIXES
        .iter()
        .flat_map(|prefix| {
            let root = format!("{prefix}/artifacts");
            [
                (Method::GET, root.clone(), Role::Reader),
                (Method::GET, format!("{root}/"), Role::Reader),
                (Method::GET, format!("{root}/{{path:.+}}"), Role::Reader),
                (Method::PUT, format!("{root}/{{path:.+}}"), Role::Editor),
                (Method::DELETE, format!("{root}/{{path:.+}}"), Role::Editor),
            ]
        })
        .collect()
}

/// Registers the proxy's routes under `prefix` (`/api/2.0/mlflow-artifacts`, …).
pub fn routes(cfg: &mut web::ServiceConfig, prefix: &str) {
    let root = format!("{prefix}/artifacts");
    cfg.route(&root, web::get().to(list))
        .route(&format!("{root}/"), web::get().to(list))
        .route(&format!("{root}/{{path:.+}}"), web::get().to(download))
        .route(&format!("{root}/{{path:.+}}"), web::put().to(upload))
        .route(&format!("{root}/{{path:.+}}"), web::delete().to(delete));
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    path: Option<String>,
}

#[derive(Debug, Serialize)]
struct FileInfo {
    path: String,
    is_dir: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_size: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Listing {
    files: Vec<FileInfo>,
}

async fn list(
    registry: web::Data<Registry>,
    query: web::Query<ListQuery>,
    caller: Caller,
) -> MlflowResult<web::Json<Listing>> {
    let listed = registry
        .list_proxy(query.path.as_deref(), &caller)
        .await
        .map_err(MlflowError)?;
    Ok(web::Json(Listing {
        files: listed
            .into_iter()
            .map(|entry| FileInfo {
                path: entry.name,
                is_dir: entry.is_dir,
                file_size: entry.size,
            })
            .collect(),
    }))
}

async fn download(
    registry: web::Data<Registry>,
    path: web::Path<String>,
    request: HttpRequest,
    caller: Caller,
) -> MlflowResult<HttpResponse> {
    let wanted = ArtifactRequest {
        range: requested_range(request.headers()),
        redirect: false,
        if_none_match: if_none_match(request.headers()),
    };
    let file = registry
        .open_proxy_file(&path, wanted, &caller)
        .await
        .map_err(MlflowError)?;
    let etag = crate::service::download::etag(&file.digest);
    Ok(match file.content {
        ArtifactContent::Bytes { blob, partial } => {
            let mut response = bytes_response(blob, partial, "application/octet-stream", etag);
            if let Ok(value) = header::HeaderValue::from_str(&format!(
                "attachment; filename=\"{}\"",
                file.name.replace(['"', '\\'], "_")
            )) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        ArtifactContent::NotModified | ArtifactContent::Redirect(_) => HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish(),
    })
}

async fn upload(
    registry: web::Data<Registry>,
    path: web::Path<String>,
    payload: web::Payload,
    caller: Caller,
) -> MlflowResult<HttpResponse> {
    registry
        .put_proxy_file(&path, payload, caller.name.as_str())
        .await
        .map_err(MlflowError)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

async fn delete(
    registry: web::Data<Registry>,
    path: web::Path<String>,
) -> MlflowResult<HttpResponse> {
    registry.delete_proxy(&path).await.map_err(MlflowError)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}
