//! Predictions over the runtime: Capstan's JSON protocol (`instances` or `inputs`) and the
//! shared step of both protocols, running a predictor on a batch of rows.

use std::sync::Arc;
use std::time::Instant;

use capstan_client::inference::{ModelIdentity, PredictRequest, PredictResponse, Predictions};
use capstan_client::runtime::input::{rows_from_instances, rows_from_records};
use capstan_client::runtime::{Prediction, Rows};
use capstan_client::{ModelName, VersionRef};

use super::{LoadedModel, ServeError, Serving};

/// Batches up to this many rows are predicted on the request's worker; larger ones on the
/// blocking pool, so a big batch never stalls other requests.
const INLINE_ROWS: usize = 64;

/// Predicts on the blocking pool when the batch is large.
pub(super) async fn run_prediction(
    model: &Arc<LoadedModel>,
    rows: Rows<'static>,
) -> Result<Prediction, ServeError> {
    if rows.len() <= INLINE_ROWS {
        return Ok(model.predictor.predict(&rows)?);
    }
    let predictor = model.predictor.clone();
    tokio::task::spawn_blocking(move || predictor.predict(&rows))
        .await
        .map_err(|e| ServeError::Upstream(format!("prediction task failed: {e}")))?
        .map_err(ServeError::from)
}

impl Serving {
    /// Predicts with the model serving `name@reference` and records the request in the
    /// metrics; returns the model that answered with its answer.
    pub async fn predict(
        &self,
        name: &ModelName,
        reference: &VersionRef,
        request: PredictRequest,
    ) -> Result<(Arc<LoadedModel>, PredictResponse), ServeError> {
        let started = Instant::now();
        let model = self.route(name, reference).await?;
        let outcome = predict_with(&model, request).await;
        self.metrics
            .observe(&model, "predict", outcome.is_ok(), started.elapsed());
        Ok((model, outcome?))
    }

    /// Predicts with `model` (already routed) and records the request under `protocol`.
    pub async fn predict_with(
        &self,
        model: &Arc<LoadedModel>,
        request: PredictRequest,
        protocol: &'static str,
        started: Instant,
    ) -> Result<PredictResponse, ServeError> {
        let outcome = predict_with(model, request).await;
        self.metrics
            .observe(model, protocol, outcome.is_ok(), started.elapsed());
        outcome
    }
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
    let model_identity = ModelIdentity {
        name: model.name.clone(),
        version: model.version,
        digest: model.digest,
    };
    Ok(match prediction {
        Prediction::Classes(classes) => PredictResponse {
            model: model_identity,
            classes: model.predictor.classes().to_vec(),
            predictions: Predictions::Labels(classes.predictions),
            probabilities: classes.probabilities,
        },
        Prediction::Values(values) => PredictResponse {
            model: model_identity,
            classes: Vec::new(),
            predictions: if values.values.ncols() == 1 {
                Predictions::Values(values.values.column(0).to_vec())
            } else {
                Predictions::Targets(values.values.outer_iter().map(|row| row.to_vec()).collect())
            },
            probabilities: Vec::new(),
        },
    })
}
