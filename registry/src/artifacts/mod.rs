//! Artifact storage: content-addressed blobs in an object store (local disk or S3).
//!
//! Owns object keys, streaming uploads with sha256 computed on the fly, and downloads.
//! Knows nothing of models or versions: a blob is named only by its digest. Layout under
//! the configured prefix:
//!
//! - `blobs/sha256/<2 hex>/<64 hex>`: verified, immutable content;
//! - `staging/<uuid>`: uploads in flight; moved into `blobs/` only after verification,
//!   so a crash or a disconnect never leaves a visible blob with the wrong bytes;
//! - `batch-jobs/<id>/`: a batch job's output parts, manifest and key index
//!   ([`objects`]).

mod objects;
mod open;
mod upload;

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt};

use capstan_client::Digest;

pub use objects::{BlockingObjectReader, BlockingObjectWriter, ObjectKey};
pub use open::{open_store, ObjectStoreConfig};
pub use upload::StagedBlob;

/// Read size when streaming a blob from local disk. object_store's own stream for local
/// files reads 8 KiB per blocking task, which caps a download at ~200 MB/s on two cores
/// (see docs/performance.md); 1 MiB per read keeps memory small and the disk busy.
const FILE_READ_CHUNK: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("artifact is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload stream broke off: {0}")]
    ClientStream(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("blob {0} is missing from the object store")]
    Missing(Digest),
    #[error("invalid object store URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
}

/// A blob's bytes (or a range of them) as a stream.
pub struct BlobRead {
    pub stream: BoxStream<'static, Result<Bytes, ArtifactError>>,
    pub range: Range<u64>,
    pub total_size: u64,
}

/// Where the store is, for checking the URLs jobs name (see [`ArtifactStore::resolve_url`]).
#[derive(Clone, Debug)]
enum Location {
    /// A local directory (absolute path, no trailing slash).
    Local {
        root: String,
    },
    S3 {
        bucket: String,
    },
}

#[derive(Clone)]
pub struct ArtifactStore {
    store: Arc<dyn ObjectStore>,
    signer: Option<Arc<dyn Signer>>,
    root: Path,
    location: Location,
}

impl ArtifactStore {
    fn new(
        store: Arc<dyn ObjectStore>,
        signer: Option<Arc<dyn Signer>>,
        root: Path,
        location: Location,
    ) -> Self {
        Self {
            store,
            signer,
            root,
            location,
        }
    }

    fn key(&self, relative: &str) -> Path {
        Path::from(format!("{}/{}", self.root, relative).trim_start_matches('/'))
    }

    pub fn blob_key(&self, digest: &Digest) -> Path {
        self.key(&Self::blob_relative_key(digest))
    }

    /// A blob's key relative to the store's prefix (what [`ObjectKey::Named`] takes).
    pub fn blob_relative_key(digest: &Digest) -> String {
        let hex = digest.hex();
        format!("blobs/sha256/{}/{}", &hex[..2], hex)
    }

    /// Streams the blob, or the byte `range` of it.
    pub async fn get(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> Result<BlobRead, ArtifactError> {
        self.get_path(&self.blob_key(digest), range)
            .await
            .map_err(|e| match e {
                ArtifactError::Store(object_store::Error::NotFound { .. }) => {
                    ArtifactError::Missing(*digest)
                }
                other => other,
            })
    }

    /// Reads the byte `range` of a blob into memory.
    pub async fn read_blob_range(
        &self,
        digest: &Digest,
        range: Range<u64>,
    ) -> Result<Bytes, ArtifactError> {
        self.store
            .get_range(&self.blob_key(digest), range)
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => ArtifactError::Missing(*digest),
                other => ArtifactError::Store(other),
            })
    }

    async fn get_path(
        &self,
        path: &Path,
        range: Option<Range<u64>>,
    ) -> Result<BlobRead, ArtifactError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(path, options).await?;
        let total_size = result.meta.size;
        let range = result.range.clone();
        let stream = match result.payload {
            GetResultPayload::File(file, _) => read_file(file, range.clone()),
            GetResultPayload::Stream(stream) => stream.map_err(ArtifactError::Store).boxed(),
        };
        Ok(BlobRead {
            stream,
            range,
            total_size,
        })
    }

    /// A stored blob's size.
    pub async fn blob_size(&self, digest: &Digest) -> Result<u64, ArtifactError> {
        match self.store.head(&self.blob_key(digest)).await {
            Ok(meta) => Ok(meta.size),
            Err(object_store::Error::NotFound { .. }) => Err(ArtifactError::Missing(*digest)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn exists(&self, digest: &Digest) -> Result<bool, ArtifactError> {
        match self.store.head(&self.blob_key(digest)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A presigned GET URL for the blob, when the backend can sign (S3).
    pub async fn presigned_url(
        &self,
        digest: &Digest,
        ttl: Duration,
    ) -> Result<Option<String>, ArtifactError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let url = signer
            .signed_url(
                object_store::signer::Method::GET,
                &self.blob_key(digest),
                ttl,
            )
            .await?;
        Ok(Some(url.to_string()))
    }

    /// Checks the store answers: a listing of the blob prefix (empty is fine).
    pub async fn ping(&self) -> Result<(), ArtifactError> {
        let prefix = self.key("blobs");
        let mut listing = self.store.list(Some(&prefix));
        if let Some(entry) = listing.next().await {
            entry?;
        }
        Ok(())
    }

    /// Deletes staged uploads older than `max_age`: what a crash mid-upload left behind.
    pub async fn sweep_staging(&self, max_age: Duration) -> Result<usize, ArtifactError> {
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
        let prefix = self.key("staging");
        let stale: Vec<Path> = self
            .store
            .list(Some(&prefix))
            .try_filter(|meta| futures::future::ready(meta.last_modified < cutoff))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        for location in &stale {
            match self.store.delete(location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(stale.len())
    }
}

/// Streams `range` of a local file in [`FILE_READ_CHUNK`] reads on the blocking pool.
fn read_file(
    file: std::fs::File,
    range: Range<u64>,
) -> BoxStream<'static, Result<Bytes, ArtifactError>> {
    let end = range.end;
    futures::stream::try_unfold(
        (file, range.start),
        move |(mut file, position)| async move {
            if position >= end {
                return Ok(None);
            }
            let len = (end - position).min(FILE_READ_CHUNK);
            let (bytes, file) = tokio::task::spawn_blocking(move || {
                use std::io::{Read, Seek, SeekFrom};
                file.seek(SeekFrom::Start(position))?;
                let mut buffer = Vec::with_capacity(len as usize);
                (&mut file).take(len).read_to_end(&mut buffer)?;
                if buffer.len() as u64 != len {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the blob is shorter than its recorded size",
                    ));
                }
                Ok((Bytes::from(buffer), file))
            })
            .await
            .map_err(|e| ArtifactError::Store(e.into()))?
            .map_err(|e| {
                ArtifactError::Store(object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(e),
                })
            })?;
            Ok(Some((bytes, (file, position + len))))
        },
    )
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_file_ranges_across_chunks() {
        let path = std::env::temp_dir().join(format!("capstan-read-file-{}", uuid::Uuid::new_v4()));
        let data: Vec<u8> = (0..FILE_READ_CHUNK * 2 + 12_345)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let size = data.len() as u64;
        for range in [0..size, 5..FILE_READ_CHUNK + 7, FILE_READ_CHUNK..size, 9..9] {
            let file = std::fs::File::open(&path).unwrap();
            let chunks: Vec<Bytes> = read_file(file, range.clone()).try_collect().await.unwrap();
            assert!(chunks.iter().all(|c| c.len() as u64 <= FILE_READ_CHUNK));
            assert_eq!(
                chunks.concat(),
                &data[range.start as usize..range.end as usize]
            );
        }
        // A blob shorter than the range asked for is an error, not a short body.
        let file = std::fs::File::open(&path).unwrap();
        let result: Result<Vec<Bytes>, _> = read_file(file, 0..size + 1).try_collect().await;
        assert!(result.is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
