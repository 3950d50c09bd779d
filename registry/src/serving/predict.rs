//! Capstan's JSON prediction protocol: `POST /api/v1/models/{name}/versions/{ref}/predict`.

use std::sync::Arc;
use std::time::Instant;

use actix_web::{post, web, HttpResponse};

use capstan_client::inference::{ModelIdentity, PredictRequest, PredictResponse};
use capstan_client::runtime::input::{rows_from_instances, rows_from_records};
use capstan_client::runtime::ndarray::Array2;
use capstan_client::runtime::Prediction;
use capstan_client::Problem;

use super::{LoadedModel, ServeError, Serving};
use crate::api::extract::VersionPath;

/// Batches up to this many rows are predicted on the request's worker; larger ones on the
/// blocking pool, so a big batch never stalls other requests.
const INLINE_ROWS: usize = 64;

/// Predicts on the blocking pool when the batch is large.
pub(super) async fn run_prediction(
    model: &Arc<LoadedModel>,
    rows: Array2<f64>,
) -> Result<Prediction, ServeError> {
    if rows.nrows() <= INLINE_ROWS {
        return Ok(model.predictor.predict(rows.view())?);
    }
    let predictor = model.predictor.clone();
    tokio::task::spawn_blocking(move || predictor.predict(rows.view()))
        .await
        .map_err(|e| ServeError::Upstream(format!("prediction task failed: {e}")))?
        .map_err(ServeError::from)
}

/// Predict with a version.
///
/// Send rows in signature order (`instances`) or records by feature name (`inputs`). The
/// answer and the `X-Capstan-Model-Version` header name the version that answered.
#[utoipa::path(
    tag = "serving",
    params(
        ("name" = String, Path, description = "Model name"),
        ("ref" = String, Path, description = "Version number, stage, alias or `latest`")
    ),
    request_body = PredictRequest,
    responses(
        (status = 200, description = "Predictions", body = PredictResponse),
        (status = 400, description = "Input does not fit the signature (names the row and field)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model, version or served ref", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The version's format cannot be served", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/api/v1/models/{name}/versions/{ref}/predict")]
pub async fn predict(
    serving: web::Data<Serving>,
    path: web::Path<VersionPath>,
    body: web::Json<PredictRequest>,
) -> Result<HttpResponse, ServeError> {
    let started = Instant::now();
    let VersionPath { name, reference } = path.into_inner();
    let model = serving.refs.get(&name, &reference).await?;
    let outcome = predict_with(&model, body.into_inner()).await;
    serving
        .metrics
        .observe(&model, "predict", outcome.is_ok(), started.elapsed());
    let response = outcome?;
    Ok(HttpResponse::Ok()
        .insert_header(("X-Capstan-Model-Version", model.version.to_string()))
        .json(response))
}

async fn predict_with(
    model: &Arc<LoadedModel>,
    request: PredictRequest,
) -> Result<PredictResponse, ServeError> {
    let signature = model.predictor.signature();
    let rows = match (request.instances, request.inputs) {
        (Some(instances), None) => rows_from_instances(&instances, signature),
        (None, Some(records)) => rows_from_records(&records, signature),
        _ => {
            return Err(ServeError::BadInput(
                "send exactly one of `instances` (rows in signature order) or `inputs` (records by feature name)".into(),
            ))
        }
    }
    .map_err(capstan_client::runtime::RuntimeError::from)?;
    let prediction = run_prediction(model, rows).await?;
    Ok(PredictResponse {
        model: ModelIdentity {
            name: model.name.clone(),
            version: model.version,
            digest: model.digest,
        },
        classes: model.predictor.classes().to_vec(),
        predictions: prediction.predictions,
        probabilities: prediction.probabilities,
    })
}
