//! Named objects beside the blobs, and objects a job reads by URL.
//!
//! Batch jobs write their output parts, manifest and key index under
//! `batch-jobs/<job id>/` (relative to the configured prefix, like `blobs/`), and may read
//! their input from any object of the configured bucket (S3) or directory (local disk)
//! given as a URL. Keys are checked here: a URL outside the store, or one with `..` or
//! empty segments, is refused.

use std::ops::Range;

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};

use super::{ArtifactError, ArtifactStore, BlobRead, Location};

/// Part size of a file upload (S3 needs at least 5 MiB).
const FILE_PART: usize = 8 * 1024 * 1024;

fn local_file(error: std::io::Error) -> ArtifactError {
    ArtifactError::Store(object_store::Error::Generic {
        store: "local file",
        source: Box::new(error),
    })
}

/// An object's key: relative to the registry's prefix (what the registry writes), or a
/// whole key in the bucket (an input a job names by URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectKey {
    Named(String),
    External(Path),
}

impl ArtifactStore {
    fn path_of(&self, key: &ObjectKey) -> Path {
        match key {
            ObjectKey::Named(relative) => self.key(relative),
            ObjectKey::External(path) => path.clone(),
        }
    }

    /// The key of `url` in this store: `s3://<this bucket>/<key>` on S3,
    /// `file://<this directory>/<path>` on local disk.
    pub fn resolve_url(&self, url: &str) -> Result<ObjectKey, ArtifactError> {
        let outside = |reason: &str| ArtifactError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let relative = match &self.location {
            Location::S3 { bucket } => url
                .strip_prefix("s3://")
                .and_then(|rest| rest.strip_prefix(bucket.as_str()))
                .and_then(|rest| rest.strip_prefix('/'))
                .ok_or_else(|| outside(&format!("the registry reads s3://{bucket}/… only")))?,
            Location::Local { root } => url
                .strip_prefix("file://")
                .and_then(|rest| rest.strip_prefix(root.as_str()))
                .and_then(|rest| rest.strip_prefix('/'))
                .ok_or_else(|| outside(&format!("the registry reads file://{root}/… only")))?,
        };
        if relative.is_empty()
            || relative
                .split('/')
                .any(|segment| segment.is_empty() || segment == "." || segment == "..")
        {
            return Err(outside(
                "the key must not be empty or hold empty, . or .. segments",
            ));
        }
        let path = Path::parse(relative).map_err(|e| outside(&e.to_string()))?;
        Ok(ObjectKey::External(path))
    }

    pub async fn put_object(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), ArtifactError> {
        self.store
            .put(&self.path_of(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// Uploads a local file (streamed in parts, as large uploads are), returning its
    /// sha256 and size.
    pub async fn put_file(
        &self,
        key: &ObjectKey,
        path: &std::path::Path,
    ) -> Result<(capstan_client::Digest, u64), ArtifactError> {
        use sha2::{Digest as _, Sha256};
        use tokio::io::AsyncReadExt;
        let mut file = tokio::fs::File::open(path).await.map_err(local_file)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let upload = self.store.put_multipart(&self.path_of(key)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, FILE_PART);
        let mut buffer = vec![0u8; FILE_PART];
        let streamed = async {
            loop {
                let read = file.read(&mut buffer).await.map_err(local_file)?;
                if read == 0 {
                    break;
                }
                hasher.update(&buffer[..read]);
                size += read as u64;
                writer.wait_for_capacity(2).await?;
                writer.write(&buffer[..read]);
            }
            Ok::<_, ArtifactError>(())
        }
        .await;
        match streamed {
            Ok(()) => {
                writer.finish().await?;
                Ok((
                    capstan_client::Digest::from_bytes(hasher.finalize().into()),
                    size,
                ))
            }
            Err(error) => {
                let _ = writer.abort().await;
                Err(error)
            }
        }
    }

    /// The object's size; `None` when it does not exist.
    pub async fn object_size(&self, key: &ObjectKey) -> Result<Option<u64>, ArtifactError> {
        match self.store.head(&self.path_of(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the byte `range` of an object into memory.
    pub async fn read_object_range(
        &self,
        key: &ObjectKey,
        range: Range<u64>,
    ) -> Result<Bytes, ArtifactError> {
        Ok(self.store.get_range(&self.path_of(key), range).await?)
    }

    /// Streams an object, or the byte `range` of it.
    pub async fn stream_object(
        &self,
        key: &ObjectKey,
        range: Option<Range<u64>>,
    ) -> Result<BlobRead, ArtifactError> {
        self.get_path(&self.path_of(key), range).await
    }

    /// Deletes every object under `prefix` (relative to the registry's prefix).
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, ArtifactError> {
        let prefix = self.key(prefix);
        let mut listing = self.store.list(Some(&prefix));
        let mut deleted = 0;
        while let Some(meta) = listing.next().await {
            match self.store.delete(&meta?.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(deleted)
    }

    pub async fn delete_object(&self, key: &ObjectKey) -> Result<(), ArtifactError> {
        match self.store.delete(&self.path_of(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
