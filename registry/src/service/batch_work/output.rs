//! Finishing a job: the output is the header (CSV) and the chunks' parts in order, listed
//! in a manifest with the digest of them all, the way Spark and Hive write part files; a
//! Parquet output is merged into one file (one row group per part), since Parquet files do
//! not concatenate. The chunks' key sidecars are merged into the job's key index
//! (`keys.idx`), which serves its predictions by key.
//!
//! Memory stays flat: parts are streamed through the hash one at a time, and merges read
//! and write files on local disk.

use std::io::Write as _;

use futures::TryStreamExt;
use sha2::{Digest as _, Sha256};

use capstan_client::types::DataFormat;
use capstan_client::Digest;

use super::plan::StoredPlan;
use crate::artifacts::ObjectKey;
use crate::batch::{merge_key_sidecars, output, parquet_output};
use crate::error::{RegistryError, RegistryResult};
use crate::service::batch::{job_prefix, keys_key};
use crate::service::Registry;
use crate::store::batch_rows::{BatchJobRow, ChunkRow};
use crate::store::StoreError;

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

impl Registry {
    pub(crate) async fn write_output(
        &self,
        job: &BatchJobRow,
        plan: &StoredPlan,
        chunks: &[ChunkRow],
    ) -> RegistryResult<WrittenOutput> {
        let prefix = job_prefix(&job.id);
        let rows: i64 = chunks.iter().filter_map(|c| c.written).sum();
        let parts: Vec<(String, i64)> = chunks
            .iter()
            .filter_map(|c| Some((c.part.clone()?, c.part_size?)))
            .collect();
        self.write_key_index(job, plan, chunks).await?;
        if job.output_format == DataFormat::Parquet {
            return self.merge_parquet(&prefix, parts, rows).await;
        }
        let mut header = Vec::new();
        output::write_header(job.output_format, &plan.columns, &plan.classes, &mut header);
        let mut all = Vec::with_capacity(parts.len() + 1);
        if !header.is_empty() {
            let key = format!("{prefix}/header.{}", job.output_format.extension());
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

    /// Merges the chunks' key sidecars into the job's key index.
    async fn write_key_index(
        &self,
        job: &BatchJobRow,
        plan: &StoredPlan,
        chunks: &[ChunkRow],
    ) -> RegistryResult<()> {
        let dir = tempfile::tempdir().map_err(io_error)?;
        let mut files = Vec::new();
        for (index, chunk) in chunks.iter().enumerate() {
            let Some(key) = &chunk.keys else { continue };
            let path = dir.path().join(format!("{index}.bin"));
            let mut file = std::fs::File::create(&path).map_err(io_error)?;
            let mut read = self
                .artifacts
                .stream_object(&ObjectKey::Named(key.clone()), None)
                .await?;
            while let Some(bytes) = read.stream.try_next().await? {
                file.write_all(&bytes).map_err(io_error)?;
            }
            files.push(path);
        }
        let index_path = dir.path().join("keys.idx");
        let classes = plan.classes.clone();
        let rows = job.rows_total.unwrap_or(0).max(0) as u64;
        let target = index_path.clone();
        tokio::task::spawn_blocking(move || {
            let readers = files
                .iter()
                .map(|path| std::fs::File::open(path).map(std::io::BufReader::new))
                .collect::<Result<Vec<_>, _>>()
                .map_err(io_error)?;
            let out = std::fs::File::create(&target).map_err(io_error)?;
            merge_key_sidecars(readers, &classes, rows, out)
                .map_err(|e| RegistryError::unprocessable("output_unwritable", e.to_string()))
        })
        .await
        .map_err(task_failed)??;
        self.artifacts
            .put_file(&keys_key(&job.id), &index_path)
            .await?;
        Ok(())
    }
}
