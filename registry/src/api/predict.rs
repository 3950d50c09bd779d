//! `POST /api/v1/models/{name}/versions/{ref}/predict`: Capstan's JSON prediction protocol.

use actix_web::{post, web, HttpResponse};

use capstan_client::http::api::VERSION_HEADER;
use capstan_client::inference::{PredictRequest, PredictResponse};
use capstan_client::{ModelName, Problem, VersionRef};

use super::extract::VersionPath;
use crate::error::RegistryResult;
use crate::serving::Serving;

/// Predict with a version.
///
/// Send rows in signature order (`instances`) or records by feature name (`inputs`). The
/// answer and the `X-Capstan-Model-Version` header name the version that answered.
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "serving",
    params(
        ("name" = ModelName, Path, description = "Model name"),
        ("ref" = inline(VersionRef), Path, description = "Version number, stage, alias or `latest`")
    ),
    request_body = PredictRequest,
    responses(
        (status = 200, description = "Predictions", body = PredictResponse),
        (status = 400, description = "Input does not fit the signature (names the row and field)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model, version or served ref", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The version's format cannot be served", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/api/v1/models/{name}/versions/{ref}/predict")]
pub async fn predict(
    serving: web::Data<Serving>,
    path: web::Path<VersionPath>,
    body: web::Json<PredictRequest>,
) -> RegistryResult<HttpResponse> {
    let VersionPath { name, reference } = path.into_inner();
    let (model, response) = serving
        .predict(&name, &reference, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((VERSION_HEADER, model.version.to_string()))
        .json(response))
}
