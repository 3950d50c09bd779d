//! Finishing a job: the output is the header (CSV) and the chunks' parts in order, listed
//! in a manifest with the digest of them all, the way Spark and Hive write part files; a
//! Parquet output is merged into one file (one row group per part), since Parquet files do
//! not concatenate. The chunks' key sidecars are merged into the job's key index
//! (`keys.idx`), which serves its predictions by key.
//!
//! The output and the key index are written at once (two cores busy). Memory stays flat:
//! parts are streamed through the hash one at a time, the key merge reads every sidecar a
//! window at a time straight from the store and uploads the index in parts; the Parquet
//! merge writes a local file.

use futures::TryStreamExt;
use sha2::{Digest as _, Sha256};

use capstan_client::types::DataFormat;
use capstan_client::Digest;

use super::plan::StoredPlan;
use crate::artifacts::ObjectKey;
use crate::batch::keys::KeyIndexError;
use crate::batch::{merge_key_sidecars, output, parquet_output};
use crate::error::{RegistryError, RegistryResult};
use crate::service::batch::{job_prefix, keys_key};
use crate::service::Registry;
use crate::store::batch_rows::{BatchJobRow, ChunkRow};
use crate::store::StoreError;
use bytes::Bytes;

use capstan_client::types::EventKind;
use capstan_client::ModelName;

use super::{failure, ClaimedJob, PredictorSource, WORKER};
use crate::service::batch::{find_job, job_event, manifest_key, Manifest, ManifestPart};
use crate::service::now;
use crate::store::batch::{self, JobOutput};
use crate::store::batch_chunks;
use crate::store::batch_rows::chunk_status;
use crate::store::events;

/// A written output: its parts in order (key relative to the store's prefix, size).
pub(crate) struct WrittenOutput {
    pub digest: Digest,
    pub size: i64,
    pub rows: i64,
    pub parts: Vec<(String, i64)>,
}

fn task_failed(_: tokio::task::JoinError) -> RegistryError {
    RegistryError::Store(StoreError::TaskJoin)
}

fn io_error(error: std::io::Error) -> RegistryError {
    RegistryError::Artifact(crate::artifacts::ArtifactError::Store(
        object_store::Error::Generic {
            store: "local temporary file",
            source: Box::new(error),
        },
    ))
}

/// Memory the key merge may spend on read windows, across all sidecars.
const MERGE_WINDOWS: u64 = 8 * 1024 * 1024;

impl Registry {
    /// Writes a job's output and its key index, at once: the key merge keeps one core
    /// busy, the output digest (or Parquet merge) the other.
    pub(crate) async fn write_output(
        &self,
        job: &BatchJobRow,
        plan: &StoredPlan,
        chunks: &[ChunkRow],
    ) -> RegistryResult<WrittenOutput> {
        let began = std::time::Instant::now();
        let rows: i64 = chunks.iter().filter_map(|c| c.written).sum();
        let parts: Vec<(String, i64)> = chunks
            .iter()
            .filter_map(|c| Some((c.part.clone()?, c.part_size?)))
            .collect();
        let output = async {
            let written = match job.output_format {
                DataFormat::Parquet => self.merge_parquet(&job_prefix(&job.id), parts, rows).await,
                _ => self.concatenate_text(job, plan, parts, rows).await,
            };
            tracing::debug!(job = %job.id, took = ?began.elapsed(), "output written");
            written
        };
        let keys = async {
            let written = self.write_key_index(job, plan, chunks).await;
            tracing::debug!(job = %job.id, took = ?began.elapsed(), "key index written");
            written
        };
        let (written, ()) = tokio::try_join!(output, keys)?;
        Ok(written)
    }

    /// A CSV or JSONL output: the header (CSV) and the parts, hashed in order.
    async fn concatenate_text(
        &self,
        job: &BatchJobRow,
        plan: &StoredPlan,
        parts: Vec<(String, i64)>,
        rows: i64,
    ) -> RegistryResult<WrittenOutput> {
        let mut header = Vec::new();
        output::write_header(
            job.output_format,
            &plan.columns,
            &plan.predicts(),
            &mut header,
        );
        let mut all = Vec::with_capacity(parts.len() + 1);
        if !header.is_empty() {
            let key = format!(
                "{}/header.{}",
                job_prefix(&job.id),
                job.output_format.extension()
            );
            let size = header.len() as i64;
            self.artifacts
                .put_object(&ObjectKey::Named(key.clone()), header.into())
                .await?;
            all.push((key, size));
        }
        all.extend(parts);
        let mut hasher = Sha256::new();
        let mut size = 0;
        for (key, _) in &all {
            let mut read = self
                .artifacts
                .stream_object(&ObjectKey::Named(key.clone()), None)
                .await?;
            while let Some(bytes) = read.stream.try_next().await? {
                size += bytes.len() as i64;
                hasher.update(&bytes);
            }
        }
        Ok(WrittenOutput {
            digest: Digest::from_bytes(hasher.finalize().into()),
            size,
            rows,
            parts: all,
        })
    }

    /// Merges Parquet parts into one file, stored content-addressed like an artifact.
    async fn merge_parquet(
        &self,
        prefix: &str,
        parts: Vec<(String, i64)>,
        rows: i64,
    ) -> RegistryResult<WrittenOutput> {
        let file = tempfile::NamedTempFile::new().map_err(io_error)?;
        let path = file.path().to_owned();
        let artifacts = self.artifacts.clone();
        let runtime = tokio::runtime::Handle::current();
        let merged = tokio::task::spawn_blocking(move || {
            let fetched = parts.into_iter().map(|(key, size)| {
                runtime
                    .block_on(artifacts.read_object_range(&ObjectKey::Named(key), 0..size as u64))
            });
            let mut failed = None;
            let parts = fetched.map_while(|part| match part {
                Ok(bytes) => Some(bytes),
                Err(error) => {
                    failed = Some(error);
                    None
                }
            });
            let out = std::fs::File::create(&path).map_err(io_error)?;
            let merged = parquet_output::merge_parquet_parts(parts, std::io::BufWriter::new(out));
            if let Some(error) = failed {
                return Err(error.into());
            }
            merged.map_err(|e| RegistryError::unprocessable("output_unwritable", e.to_string()))
        })
        .await
        .map_err(task_failed)??;
        debug_assert_eq!(merged as i64, rows);
        let key = format!("{prefix}/output.parquet");
        let (digest, size) = self
            .artifacts
            .put_file(&ObjectKey::Named(key.clone()), file.path())
            .await?;
        Ok(WrittenOutput {
            digest,
            size: size as i64,
            rows,
            parts: vec![(key, size as i64)],
        })
    }

    /// Merges the chunks' key sidecars into the job's key index, reading them from the
    /// store a window at a time and uploading the index as it is written (no local files).
    async fn write_key_index(
        &self,
        job: &BatchJobRow,
        plan: &StoredPlan,
        chunks: &[ChunkRow],
    ) -> RegistryResult<()> {
        let mut sidecars = Vec::new();
        for key in chunks.iter().filter_map(|chunk| chunk.keys.clone()) {
            let key = ObjectKey::Named(key);
            let size = self.artifacts.object_size(&key).await?.ok_or_else(|| {
                RegistryError::Store(StoreError::Invalid(format!(
                    "a key sidecar is missing: {key:?}"
                )))
            })?;
            sidecars.push((key, size));
        }
        let window = (MERGE_WINDOWS / sidecars.len().max(1) as u64).clamp(64 * 1024, 1024 * 1024);
        let runtime = tokio::runtime::Handle::current();
        let readers: Vec<_> = sidecars
            .into_iter()
            .map(|(key, size)| {
                self.artifacts
                    .blocking_reader(key, size, window, runtime.clone())
            })
            .collect();
        let mut index = self
            .artifacts
            .blocking_writer(&keys_key(&job.id), runtime)
            .await?;
        let predicts = plan.predicts();
        let rows = job.rows_total.unwrap_or(0).max(0) as u64;
        tokio::task::spawn_blocking(move || {
            match merge_key_sidecars(readers, &predicts, rows, &mut index) {
                Ok(_) => Ok(index.finish()?),
                Err(error) => {
                    index.abort();
                    Err(match error {
                        // Reading or writing the store: a passing fault, retried.
                        KeyIndexError::Io(error) => io_error(error),
                        corrupt => {
                            RegistryError::unprocessable("output_unwritable", corrupt.to_string())
                        }
                    })
                }
            }
        })
        .await
        .map_err(task_failed)??;
        Ok(())
    }
}

impl Registry {
    /// Writes the output of a job leased to `holder` whose chunks are all done (see
    /// [`output`]), then marks it succeeded.
    pub async fn finish_batch_job(
        &self,
        job: ClaimedJob,
        holder: String,
        predictors: &dyn PredictorSource,
    ) -> RegistryResult<()> {
        let job = job.0;
        let id = job.id.clone();
        let chunks = self
            .db
            .read({
                let id = id.clone();
                move |conn| Ok::<_, RegistryError>(batch_chunks::chunks(conn, &id)?)
            })
            .await?;
        let Some(plan) = job.plan.as_deref() else {
            return Err(
                crate::store::StoreError::Invalid("a running job has no plan".into()).into(),
            );
        };
        let plan: StoredPlan =
            serde_json::from_str(plan).map_err(crate::store::StoreError::from)?;
        let mut chunks = chunks;
        if job.output_format == DataFormat::Parquet && chunks.is_empty() {
            // No rows: one empty part still carries the output's schema.
            chunks.push(self.empty_parquet_part(&job, &plan, predictors).await?);
        }
        let written = match self.write_output(&job, &plan, &chunks).await {
            Ok(written) => written,
            // The job's own data cannot be written (not a passing fault): fail it rather
            // than retry it forever.
            Err(RegistryError::Unprocessable { detail, .. }) => {
                let why = failure("output_unwritable", detail);
                return self.fail_batch_job(id, Some(holder), why).await;
            }
            Err(error) => return Err(error),
        };
        let manifest = Manifest {
            format: job.output_format,
            rows: written.rows,
            size: written.size,
            digest: written.digest,
            parts: written
                .parts
                .iter()
                .map(|(key, size)| ManifestPart {
                    key: key.clone(),
                    size: *size,
                })
                .collect(),
        };
        let manifest_json =
            serde_json::to_vec(&manifest).map_err(crate::store::StoreError::from)?;
        self.artifacts
            .put_object(&manifest_key(&id), Bytes::from(manifest_json))
            .await?;
        let digest = written.digest.to_string();
        let settings = self.deployment_settings();
        self.write(move |conn| {
            let output = JobOutput {
                digest: &digest,
                size: written.size,
                rows: written.rows,
            };
            if batch::succeed(conn, &id, &holder, &output, now())? {
                let job = find_job(conn, &id)?;
                events::append(conn, job_event(EventKind::BatchJobSucceeded, &job, WORKER))?;
                Registry::auto_approve(conn, &id, settings)?;
            }
            Ok(())
        })
        .await
    }
}

impl Registry {
    /// The output part of a job without rows (a Parquet file with the output's schema).
    async fn empty_parquet_part(
        &self,
        job: &BatchJobRow,
        plan: &StoredPlan,
        predictors: &dyn PredictorSource,
    ) -> RegistryResult<ChunkRow> {
        let name = ModelName::parse(&job.model)
            .map_err(|e| crate::store::StoreError::Invalid(e.to_string()))?;
        let version = job.version.unwrap_or_default();
        let predictor = predictors.predictor(&name, version).await?;
        let columns = plan.columns.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            let scorer = crate::batch::Scorer::new(
                &columns,
                predictor.as_ref(),
                version,
                DataFormat::Parquet,
            )
            .map_err(|e| RegistryError::unprocessable("output_unwritable", e.to_string()))?;
            let mut out = Vec::new();
            let mut keys = crate::batch::KeySink::with_shape(scorer.key_shape());
            scorer
                .score_chunk(crate::batch::ChunkInput::Csv(b""), 1, &mut out, &mut keys)
                .map_err(|e| RegistryError::unprocessable("output_unwritable", e.to_string()))?;
            Ok::<_, RegistryError>(out)
        })
        .await
        .map_err(|_| RegistryError::Store(crate::store::StoreError::TaskJoin))??;
        let key = format!("{}/parts/part-empty.parquet", job_prefix(&job.id));
        let size = bytes.len() as i64;
        self.artifacts
            .put_object(&ObjectKey::Named(key.clone()), Bytes::from(bytes))
            .await?;
        Ok(ChunkRow {
            job_id: job.id.clone(),
            chunk: 0,
            start_offset: 0,
            end_offset: 0,
            first_row: 1,
            status: chunk_status::DONE.to_owned(),
            holder: None,
            lease_expires_at: None,
            attempts: 0,
            rows: Some(0),
            written: Some(0),
            bad_rows: Some(0),
            errors: None,
            part: Some(key),
            part_size: Some(size),
            keys: None,
            input_key: None,
        })
    }
}
