//! Batch jobs as users drive them: submit, read, list, cancel, approve or reject, and
//! download the output. Each change is one transaction with its event; the workers that
//! score jobs (`crate::batch`) go through [`super::batch_work`].

use std::collections::HashMap;

use chrono::NaiveDateTime;
use futures::{StreamExt, TryStreamExt};

use capstan_client::http::api::BatchJobQuery;
use capstan_client::runtime;
use capstan_client::types::{
    BatchInput, BatchJob, BatchJobPage, BatchJobStatus, DataFormat, EventKind, ReviewBatchJob,
    SubmitBatchJob,
};
use capstan_client::{Digest, ModelRef};

use super::batch_views::job_view;
use super::datasets::dataset_not_found;
use super::deployments::{check_job_deployment, record_job_deployment};
use super::download::etag;
use super::models::model_not_found;
use super::{event, now, Registry};
use crate::artifacts::{BlobRead, ObjectKey};
use crate::domain::access::{Caller, ModelScope};
use crate::domain::batch::{check_cancellable, check_label, check_reviewable, format_of_url};
use crate::domain::metadata::check_text;
use crate::domain::paging::{decode_number_token, encode_number_token, page_limit};
use crate::error::{RegistryError, RegistryResult};
use crate::store::batch::{self, JobFilter, Transition};
use crate::store::batch_rows::{BatchJobRow, NewBatchJobRow};
use crate::store::{datasets, deployments, events, DbConn};

pub(crate) fn job_not_found(id: &str) -> RegistryError {
    RegistryError::not_found(
        "job_not_found",
        format!("no batch job {:?}", id.chars().take(64).collect::<String>()),
    )
}

/// The event row of a job transition.
pub(crate) fn job_event(
    kind: EventKind,
    job: &BatchJobRow,
    actor: &str,
) -> crate::store::rows::EventRow {
    let mut row = event(kind, &job.model, job.version, actor);
    row.job = Some(job.id.clone());
    row.digest = job.digest.clone();
    row
}

/// A finished job's output, opened for download.
pub struct OpenedOutput {
    pub job: BatchJob,
    pub digest: Digest,
    /// `None` when the client's copy is current.
    pub content: Option<BlobRead>,
}

impl OpenedOutput {
    pub fn etag(&self) -> String {
        etag(&self.digest)
    }
}

/// Where a job's objects live.
pub(crate) fn job_prefix(id: &str) -> String {
    format!("batch-jobs/{id}")
}

/// The job's key index: its predictions by key (see `crate::batch::keys`).
pub(crate) fn keys_key(id: &str) -> ObjectKey {
    ObjectKey::Named(format!("{}/keys.idx", job_prefix(id)))
}

pub(crate) fn manifest_key(id: &str) -> ObjectKey {
    ObjectKey::Named(format!("{}/manifest.json", job_prefix(id)))
}

/// The output's parts, in order, as the manifest lists them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Manifest {
    pub format: DataFormat,
    pub rows: i64,
    pub size: i64,
    pub digest: Digest,
    pub parts: Vec<ManifestPart>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ManifestPart {
    /// Relative to the registry's object-store prefix.
    pub key: String,
    pub size: i64,
}

impl Registry {
    /// Checks a job (its model ref resolves to a servable version, its input exists) and
    /// queues it.
    pub async fn submit_batch_job(
        &self,
        request: SubmitBatchJob,
        caller: &Caller,
    ) -> RegistryResult<BatchJob> {
        if !caller.sees(request.model.model.as_str()) {
            return Err(model_not_found(request.model.model.as_str()));
        }
        let actor = caller.name.clone();
        if let Some(column) = &request.id_column {
            check_label("id_column", column)?;
        }
        let max_bad_rows = i64::try_from(request.max_bad_rows.unwrap_or(0)).unwrap_or(i64::MAX);
        let dataset_id = self
            .check_job_source(&request.model, &request.input)
            .await?;
        let row = NewBatchJobRow {
            id: uuid::Uuid::new_v4().to_string(),
            status: BatchJobStatus::Queued,
            model: request.model.model.to_string(),
            model_ref: request.model.to_string(),
            input: serde_json::to_string(&request.input).map_err(crate::store::StoreError::from)?,
            dataset_id,
            output_format: request.output_format.unwrap_or(DataFormat::Csv),
            id_column: request.id_column,
            max_bad_rows,
            rows_total: None,
            rows_done: 0,
            bad_rows: 0,
            errors: "[]".into(),
            schedule: None,
            fire_time: None,
            created_by: Some(actor.clone()),
            created_at: now(),
        };
        let deployment = request.deployment.map(|d| d.to_string());
        self.write(move |conn| {
            if let Some(deployment) = &deployment {
                check_job_deployment(conn, deployment, &row.model)?;
            }
            let job = queue_job(conn, row, &actor)?;
            if let Some(deployment) = &deployment {
                deployments::link_job(conn, &job.id, deployment)?;
            }
            Ok(job_view(&job, deployment.as_deref(), now())?)
        })
        .await
    }

    /// Checks what a job (or a schedule's jobs) will score and read: the ref names a
    /// servable version, and the input exists. Returns the dataset's id, for a dataset.
    pub(crate) async fn check_job_source(
        &self,
        model: &ModelRef,
        input: &BatchInput,
    ) -> RegistryResult<Option<String>> {
        let version = self
            .get_version(model.model.clone(), model.version.clone())
            .await?;
        if !runtime::servable_formats().contains(&version.format.as_str()) {
            return Err(RegistryError::unprocessable(
                "unservable_format",
                format!(
                    "version {} of {:?} is stored as {:?}; batch jobs score {}",
                    version.version,
                    version.model.as_str(),
                    version.format,
                    runtime::servable_formats().join(", ")
                ),
            ));
        }
        let dataset_id = match input {
            BatchInput::Dataset { dataset } => {
                self.dataset_row(dataset.clone()).await?;
                Some(dataset.clone())
            }
            BatchInput::Url { url } => {
                if !url.ends_with('/') {
                    // Say what is wrong with the name before looking the object up.
                    format_of_url(url)?;
                }
                self.url_inputs(url).await?;
                None
            }
        };
        Ok(dataset_id)
    }

    pub async fn get_batch_job(&self, id: String, scope: &ModelScope) -> RegistryResult<BatchJob> {
        let scope = scope.clone();
        self.db
            .read(move |conn| {
                find_visible_job(conn, &id, &scope)?;
                find_job_view(conn, &id, now())
            })
            .await
    }

    /// Jobs newest first, of the models `scope` reaches.
    pub async fn list_batch_jobs(
        &self,
        query: BatchJobQuery,
        scope: &ModelScope,
    ) -> RegistryResult<BatchJobPage> {
        let limit = page_limit(query.limit)?;
        let models_like = scope.like_patterns();
        if query
            .schedule
            .as_ref()
            .is_some_and(|s| s.chars().count() > 128)
        {
            return Err(RegistryError::bad_request(
                "invalid_schedule",
                "schedule is longer than a schedule name can be (128 characters)",
            ));
        }
        let before = query
            .page_token
            .as_deref()
            .map(|token| decode_number_token("batch-jobs", token))
            .transpose()?;
        self.db
            .read(move |conn| {
                let model = query.model.as_ref().map(|m| m.to_string());
                let rows = batch::list(
                    conn,
                    &JobFilter {
                        status: query.status,
                        model: model.as_deref(),
                        models_like: models_like.as_deref(),
                        schedule: query.schedule.as_deref(),
                        before,
                        limit: limit + 1,
                    },
                )?;
                let has_more = rows.len() as i64 > limit;
                let page = &rows[..rows.len().min(limit as usize)];
                let next_page_token = has_more
                    .then(|| {
                        page.last()
                            .map(|row| encode_number_token("batch-jobs", row.number))
                    })
                    .flatten();
                let at = now();
                let ids: Vec<&str> = page.iter().map(|row| row.id.as_str()).collect();
                let links: HashMap<String, String> = deployments::job_deployments(conn, &ids)?
                    .into_iter()
                    .collect();
                Ok(BatchJobPage {
                    jobs: page
                        .iter()
                        .map(|row| job_view(row, links.get(&row.id).map(String::as_str), at))
                        .collect::<Result<_, _>>()?,
                    next_page_token,
                })
            })
            .await
    }

    /// Cancels a queued or running job; its workers stop at their next lease renewal.
    pub async fn cancel_batch_job(&self, id: String, caller: &Caller) -> RegistryResult<BatchJob> {
        let (actor, scope) = (caller.name.clone(), caller.scope.clone());
        let job = self
            .write(move |conn| {
                let job = find_visible_job(conn, &id, &scope)?;
                check_cancellable(job.status)?;
                let at = now();
                let changed = batch::transition(
                    conn,
                    &id,
                    &Transition {
                        from: &[BatchJobStatus::Queued, BatchJobStatus::Running],
                        to: BatchJobStatus::Cancelled,
                        holder: None,
                        at,
                        failure: None,
                    },
                )?;
                if !changed {
                    // A worker finished or failed it in between: say what it is now.
                    check_cancellable(find_job(conn, &id)?.status)?;
                }
                events::append(conn, job_event(EventKind::BatchJobCancelled, &job, &actor))?;
                find_job_view(conn, &id, at)
            })
            .await?;
        self.discard_job_objects(&job.id).await;
        Ok(job)
    }

    /// Approves (`to` = approved) or rejects a succeeded job.
    pub async fn review_batch_job(
        &self,
        id: String,
        to: BatchJobStatus,
        review: ReviewBatchJob,
        caller: &Caller,
    ) -> RegistryResult<BatchJob> {
        check_text("reason", review.reason.as_deref())?;
        let settings = self.deployment_settings();
        let (actor, scope) = (caller.name.clone(), caller.scope.clone());
        self.write(move |conn| {
            let job = find_visible_job(conn, &id, &scope)?;
            check_reviewable(job.status, to, review.reason.as_deref())?;
            let at = now();
            if !batch::review(conn, &id, to, &actor, review.reason.as_deref(), at)? {
                check_reviewable(find_job(conn, &id)?.status, to, None)?;
            }
            let kind = match to {
                BatchJobStatus::Approved => EventKind::BatchJobApproved,
                _ => EventKind::BatchJobRejected,
            };
            let mut row = job_event(kind, &job, &actor);
            row.reason = review.reason.clone();
            events::append(conn, row)?;
            if to == BatchJobStatus::Approved {
                record_job_deployment(conn, &id, settings)?;
            }
            find_job_view(conn, &id, at)
        })
        .await
    }

    /// Opens a succeeded (or reviewed) job's output: its parts, in order, as one stream.
    pub async fn open_batch_output(
        &self,
        id: String,
        if_none_match: Vec<String>,
        scope: &ModelScope,
    ) -> RegistryResult<OpenedOutput> {
        let job = self.get_batch_job(id.clone(), scope).await?;
        let Some(output) = &job.output else {
            return Err(RegistryError::conflict(
                "output_not_ready",
                format!(
                    "the job is {}; only a succeeded job has an output",
                    job.status.as_str()
                ),
            ));
        };
        let digest = output.digest;
        let tag = etag(&digest);
        if if_none_match.iter().any(|c| c == "*" || *c == tag) {
            return Ok(OpenedOutput {
                job,
                digest,
                content: None,
            });
        }
        let manifest = self.read_manifest(&id).await?;
        let artifacts = self.artifacts.clone();
        let total = manifest.size as u64;
        let parts = manifest.parts;
        let stream = futures::stream::iter(parts)
            .then(move |part| {
                let artifacts = artifacts.clone();
                async move {
                    artifacts
                        .stream_object(&ObjectKey::Named(part.key), None)
                        .await
                        .map(|read| read.stream)
                }
            })
            .try_flatten()
            .boxed();
        Ok(OpenedOutput {
            job,
            digest,
            content: Some(BlobRead {
                stream,
                range: 0..total,
                total_size: total,
            }),
        })
    }

    pub(crate) async fn read_manifest(&self, id: &str) -> RegistryResult<Manifest> {
        let key = manifest_key(id);
        let size = self.artifacts.object_size(&key).await?.ok_or_else(|| {
            RegistryError::not_found("output_missing", "the job's output manifest is missing")
        })?;
        let bytes = self.artifacts.read_object_range(&key, 0..size).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::Store(crate::store::StoreError::Json(e)))
    }

    /// Deletes what a cancelled or failed job wrote (best effort: it is garbage, not
    /// state).
    pub(crate) async fn discard_job_objects(&self, id: &str) {
        if let Err(error) = self.artifacts.delete_prefix(&job_prefix(id)).await {
            tracing::warn!(job = id, %error, "could not delete a stopped job's parts");
        }
    }
}

/// Inserts a queued job with its `batch_job_created` event. A dataset's job knows its
/// row count at once (progress bars have a total before a worker starts it).
pub(crate) fn queue_job(
    conn: &mut DbConn,
    mut row: NewBatchJobRow,
    actor: &str,
) -> RegistryResult<BatchJobRow> {
    if let Some(id) = &row.dataset_id {
        // The dataset may have been deleted since it was checked.
        let dataset = datasets::find(conn, id)?.ok_or_else(|| dataset_not_found(id))?;
        row.rows_total = dataset.rows;
    }
    let job = batch::insert(conn, &row)?;
    events::append(conn, job_event(EventKind::BatchJobCreated, &job, actor))?;
    Ok(job)
}

pub(crate) fn find_job(conn: &mut DbConn, id: &str) -> RegistryResult<BatchJobRow> {
    batch::find(conn, id)?.ok_or_else(|| job_not_found(id))
}

/// Job `id`, if `scope` reaches its model (otherwise it does not exist for the caller).
pub(crate) fn find_visible_job(
    conn: &mut DbConn,
    id: &str,
    scope: &ModelScope,
) -> RegistryResult<BatchJobRow> {
    batch::find(conn, id)?
        .filter(|job| scope.allows(&job.model))
        .ok_or_else(|| job_not_found(id))
}

/// The document of job `id`, with the deployment it runs for.
fn find_job_view(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> RegistryResult<BatchJob> {
    let row = find_job(conn, id)?;
    let deployment = deployments::job_deployment(conn, id)?;
    Ok(job_view(&row, deployment.as_deref(), at)?)
}
