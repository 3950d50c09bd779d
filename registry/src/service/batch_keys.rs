//! Predictions by key: a job's key index (`batch-jobs/<id>/keys.idx`, see
//! `crate::batch::keys`) is read with two range reads per lookup — the bucket's offsets,
//! then its entries — after its footer, which is kept in memory per job. The model's
//! served predictions are those of its most recently approved job.

use std::sync::{Arc, Mutex};

use capstan_client::types::{BatchJobStatus, KeyedPrediction};
use capstan_client::{Digest, ModelName};

use super::batch::{find_visible_job, keys_key};
use super::models::model_not_found;
use super::views::utc;
use super::Registry;
use crate::batch::KeyIndexFooter;
use crate::domain::access::ModelScope;
use crate::error::{RegistryError, RegistryResult};
use crate::store::batch_rows::BatchJobRow;
use crate::store::{batch, models, StoreError};

/// Key index footers kept in memory at once.
const CACHED_FOOTERS: usize = 64;

/// Footers of recently read key indexes, by job id.
#[derive(Default)]
pub(crate) struct FooterCache {
    entries: Mutex<Vec<(String, Arc<KeyIndexFooter>)>>,
}

impl FooterCache {
    fn get(&self, job: &str) -> Option<Arc<KeyIndexFooter>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .find(|(id, _)| id == job)
            .map(|(_, f)| f.clone())
    }

    fn insert(&self, job: String, footer: Arc<KeyIndexFooter>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(id, _)| *id != job);
        if entries.len() >= CACHED_FOOTERS {
            entries.remove(0);
        }
        entries.push((job, footer));
    }
}

fn no_prediction(key: &str, whose: &str) -> RegistryError {
    RegistryError::not_found(
        "no_prediction",
        format!(
            "{whose} has no prediction for the key {:?}",
            key.chars().take(128).collect::<String>()
        ),
    )
}

fn corrupt(error: impl std::fmt::Display) -> RegistryError {
    RegistryError::Store(StoreError::Invalid(format!(
        "a key index is unreadable: {error}"
    )))
}

impl Registry {
    /// One job's prediction for `key`, whatever its review (for reviewers).
    pub async fn job_prediction(
        &self,
        id: String,
        key: String,
        scope: &ModelScope,
    ) -> RegistryResult<KeyedPrediction> {
        let scope = scope.clone();
        let job = self
            .db
            .read(move |conn| find_visible_job(conn, &id, &scope))
            .await?;
        if job.output_digest.is_none() {
            return Err(RegistryError::conflict(
                "output_not_ready",
                format!(
                    "the job is {}; only a succeeded job has predictions",
                    job.status.as_str()
                ),
            ));
        }
        self.prediction_of(&job, &key)
            .await?
            .ok_or_else(|| no_prediction(&key, "the job"))
    }

    /// The prediction for `key` from the model's most recently approved job.
    pub async fn approved_prediction(
        &self,
        name: ModelName,
        key: String,
    ) -> RegistryResult<KeyedPrediction> {
        let model = name.to_string();
        let job = self
            .db
            .read(move |conn| {
                if models::find(conn, &model)?.is_none() {
                    return Err(model_not_found(&model));
                }
                Ok(batch::latest_approved(conn, &model)?)
            })
            .await?;
        let whose = format!("model {:?}", name.as_str());
        let Some(job) = job else {
            return Err(no_prediction(
                &key,
                &format!("{whose} (no approved batch job)"),
            ));
        };
        self.prediction_of(&job, &key)
            .await?
            .ok_or_else(|| no_prediction(&key, &whose))
    }

    async fn prediction_of(
        &self,
        job: &BatchJobRow,
        key: &str,
    ) -> RegistryResult<Option<KeyedPrediction>> {
        let index = keys_key(&job.id);
        let footer = match self.key_footers.get(&job.id) {
            Some(footer) => footer,
            None => {
                let size = self
                    .artifacts
                    .object_size(&index)
                    .await?
                    .ok_or_else(|| corrupt("the job's key index is missing"))?;
                let trailer = self
                    .artifacts
                    .read_object_range(
                        &index,
                        size.saturating_sub(KeyIndexFooter::TRAILER_LEN)..size,
                    )
                    .await?;
                let len = KeyIndexFooter::footer_len(&trailer).map_err(corrupt)?;
                let bytes = self
                    .artifacts
                    .read_object_range(&index, size.saturating_sub(len)..size)
                    .await?;
                let footer = Arc::new(KeyIndexFooter::parse(&bytes).map_err(corrupt)?);
                self.key_footers.insert(job.id.clone(), footer.clone());
                footer
            }
        };
        let table = self
            .artifacts
            .read_object_range(&index, footer.table_range(key))
            .await?;
        let bucket = footer.bucket_range(&table).map_err(corrupt)?;
        if bucket.is_empty() {
            return Ok(None);
        }
        let entries = self.artifacts.read_object_range(&index, bucket).await?;
        let Some(found) = footer.find(&entries, key).map_err(corrupt)? else {
            return Ok(None);
        };
        let digest = job
            .digest
            .as_deref()
            .map(Digest::parse)
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?
            .ok_or_else(|| StoreError::Invalid("a finished job has no digest".into()))?;
        Ok(Some(KeyedPrediction {
            key: key.to_owned(),
            prediction: found.prediction,
            probabilities: found
                .probabilities
                .into_iter()
                .map(|(class, p)| (class.to_string(), p))
                .collect(),
            job: job.id.clone(),
            version: job.version.unwrap_or_default(),
            digest,
            approved_at: (job.status == BatchJobStatus::Approved)
                .then_some(job.reviewed_at)
                .flatten()
                .map(utc),
        }))
    }
}
