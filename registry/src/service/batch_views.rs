//! Rows → wire types for pattern 4: datasets and batch jobs as the API shows them.

use chrono::NaiveDateTime;

use capstan_client::types::{
    BatchFailure, BatchInput, BatchJob, BatchModel, BatchOutput, BatchProgress, BatchReview,
    Dataset, Matching, RowError,
};
use capstan_client::{Digest, ModelName, ModelRef};

use super::views::utc;
use crate::domain::batch::rows_per_second;
use crate::store::batch_rows::{BatchJobRow, DatasetRow};
use crate::store::{StoreError, StoreResult};

fn stored_digest(digest: &str) -> StoreResult<Digest> {
    Digest::parse(digest).map_err(|e| StoreError::Invalid(format!("stored digest: {e}")))
}

pub(crate) fn dataset_view(row: &DatasetRow) -> StoreResult<Dataset> {
    Ok(Dataset {
        id: row.id.clone(),
        name: row.name.clone(),
        digest: stored_digest(&row.digest)?,
        format: row.format,
        size: row.size,
        rows: row.rows,
        created_at: utc(row.created_at),
    })
}

/// The part of a job's stored plan its document shows.
#[derive(serde::Deserialize)]
struct PlanSummary {
    matching: Matching,
}

/// The document of `row`; `deployment` is the deployment it runs for, if any.
pub(crate) fn job_view(
    row: &BatchJobRow,
    deployment: Option<&str>,
    now: NaiveDateTime,
) -> StoreResult<BatchJob> {
    let reference = ModelRef::parse(&row.model_ref)
        .map_err(|e| StoreError::Invalid(format!("stored model ref: {e}")))?;
    let name = ModelName::parse(&row.model)
        .map_err(|e| StoreError::Invalid(format!("stored model name: {e}")))?;
    let input: BatchInput = serde_json::from_str(&row.input)?;
    let errors: Vec<RowError> = serde_json::from_str(&row.errors)?;
    let failure: Option<BatchFailure> = row
        .failure
        .as_deref()
        .map(serde_json::from_str)
        .transpose()?;
    let matching = match row.plan.as_deref() {
        Some(plan) => Some(serde_json::from_str::<PlanSummary>(plan)?.matching),
        None => None,
    };
    let elapsed = row
        .started_at
        .map(|started| {
            let end = row.finished_at.unwrap_or(now);
            (end - started).num_microseconds().unwrap_or(0) as f64 / 1e6
        })
        .unwrap_or(0.0);
    let output = match (&row.output_digest, row.output_size, row.output_rows) {
        (Some(digest), Some(size), Some(rows)) => Some(BatchOutput {
            digest: stored_digest(digest)?,
            size,
            rows,
        }),
        _ => None,
    };
    let review = match (&row.review_by, row.reviewed_at) {
        (Some(by), Some(at)) => Some(BatchReview {
            by: by.clone(),
            reason: row.review_reason.clone(),
            at: utc(at),
        }),
        _ => None,
    };
    Ok(BatchJob {
        id: row.id.clone(),
        status: row.status,
        model: BatchModel {
            reference,
            name,
            version: row.version,
            digest: row.digest.as_deref().map(stored_digest).transpose()?,
        },
        input,
        output_format: row.output_format,
        id_column: row.id_column.clone(),
        max_bad_rows: row.max_bad_rows,
        matching,
        progress: BatchProgress {
            rows_done: row.rows_done,
            rows_total: row.rows_total,
            rows_per_second: rows_per_second(row.rows_done, elapsed),
        },
        bad_rows: row.bad_rows,
        errors,
        failure,
        created_at: utc(row.created_at),
        started_at: row.started_at.map(utc),
        finished_at: row.finished_at.map(utc),
        output,
        review,
        schedule: row.schedule.clone(),
        deployment: deployment
            .map(ModelName::parse)
            .transpose()
            .map_err(|e| StoreError::Invalid(format!("stored deployment name: {e}")))?,
    })
}
