//! Batch jobs (pattern 4): submit, list, follow, cancel, review, download the output,
//! and predictions by key — one job's, or a model's from its latest approved job.

use std::time::Duration;

use reqwest::Method;

use super::api::{self, BatchJobQuery};
use super::{Client, Download};
use crate::error::Result;
use crate::names::ModelName;
use crate::types::{BatchJob, BatchJobPage, KeyedPrediction, ReviewBatchJob, SubmitBatchJob};

impl Client {
    /// Queues a job; it comes back `queued`, its ref checked but not yet resolved.
    pub async fn submit_batch_job(&self, job: &SubmitBatchJob) -> Result<BatchJob> {
        self.send_json(Method::POST, api::BATCH_JOBS, job).await
    }

    /// One page of jobs, newest first.
    pub async fn list_batch_jobs(&self, query: &BatchJobQuery) -> Result<BatchJobPage> {
        self.get_json(&query.path()).await
    }

    /// Jobs matching `query`'s filters, newest first (following page tokens), at most
    /// `max`.
    pub async fn list_all_batch_jobs(
        &self,
        query: &BatchJobQuery,
        max: usize,
    ) -> Result<Vec<BatchJob>> {
        let mut query = query.clone();
        let mut jobs = Vec::new();
        loop {
            let page = self.list_batch_jobs(&query).await?;
            jobs.extend(page.jobs);
            match page.next_page_token {
                Some(token) if jobs.len() < max => query.page_token = Some(token),
                _ => break,
            }
        }
        jobs.truncate(max);
        Ok(jobs)
    }

    /// The job now: status, progress, bad rows, output, review.
    pub async fn get_batch_job(&self, id: &str) -> Result<BatchJob> {
        self.get_json(&api::batch_job(id)).await
    }

    /// Polls the job every `every` until it is neither queued nor running, calling
    /// `on_poll` with each state seen (to draw progress); returns the final state. The
    /// job keeps running on the registry if the caller stops waiting.
    pub async fn wait_for_batch_job(
        &self,
        id: &str,
        every: Duration,
        mut on_poll: impl FnMut(&BatchJob),
    ) -> Result<BatchJob> {
        loop {
            let job = self.get_batch_job(id).await?;
            on_poll(&job);
            if !job.status.is_unfinished() {
                return Ok(job);
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Stops a queued or running job (409 once it has finished).
    pub async fn cancel_batch_job(&self, id: &str) -> Result<BatchJob> {
        let path = api::batch_job_action(id, "cancel");
        self.send_json(Method::POST, &path, &serde_json::json!({}))
            .await
    }

    /// Approves a succeeded job: its predictions become the ones its model serves by key.
    pub async fn approve_batch_job(&self, id: &str, review: &ReviewBatchJob) -> Result<BatchJob> {
        let path = api::batch_job_action(id, "approve");
        self.send_json(Method::POST, &path, review).await
    }

    /// Rejects a succeeded job (the registry requires a reason): it is never served.
    pub async fn reject_batch_job(&self, id: &str, review: &ReviewBatchJob) -> Result<BatchJob> {
        let path = api::batch_job_action(id, "reject");
        self.send_json(Method::POST, &path, review).await
    }

    /// Starts downloading a succeeded job's output (409 before it has one);
    /// [`Download::save_to`] or [`Download::copy_to`] check it against its digest.
    pub async fn download_batch_output(&self, id: &str) -> Result<Download> {
        self.get_download(&api::batch_job_action(id, "output"))
            .await
    }

    /// One job's prediction for `key`, approved or not (for reviewers).
    pub async fn batch_job_prediction(&self, id: &str, key: &str) -> Result<KeyedPrediction> {
        self.get_json(&api::batch_job_prediction(id, key)).await
    }

    /// The prediction for `key` that `model` serves: from its most recently approved job
    /// (404 `no_prediction` when there is none).
    pub async fn model_prediction(&self, model: &ModelName, key: &str) -> Result<KeyedPrediction> {
        self.get_json(&api::model_prediction(model, key)).await
    }
}
