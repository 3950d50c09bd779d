//! Streaming uploads: bytes go to a staging key while sha256 and the size are computed,
//! with memory bounded by a few parts, then the verified blob is moved into place.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest as _, Sha256};

use capstan_client::Digest;

use super::{ArtifactError, ArtifactStore};

/// Uploads smaller than this go in one `PUT`; larger ones as a multipart upload in parts
/// of this size (S3 needs parts of at least 5 MiB).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight at once: bounds memory at about `PART_SIZE * (MAX_PARTS_IN_FLIGHT + 1)`.
const MAX_PARTS_IN_FLIGHT: usize = 2;

/// An upload that reached the staging area intact; not yet visible as a blob. (The
/// registry wraps it in `service::upload::StagedUpload`, which deletes it unless it is
/// committed; `Clone` lets that guard's `Drop` hand a copy to the task that deletes it.)
#[derive(Debug, Clone)]
pub struct StagedBlob {
    pub digest: Digest,
    pub size: u64,
    key: Path,
}

impl ArtifactStore {
    /// Streams `body` to a staging key, hashing as it goes. Fails with `TooLarge` as soon
    /// as more than `limit` bytes arrive; on any failure nothing is left behind.
    pub async fn stage<S, E>(&self, body: S, limit: u64) -> Result<StagedBlob, ArtifactError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let key = self.key(&format!("staging/{}", uuid::Uuid::new_v4()));
        let mut body = body;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut head = BytesMut::new();

        // Buffer up to one part: small artifacts are stored with a single PUT.
        while head.len() < PART_SIZE {
            match next_chunk(&mut body, &mut size, limit).await? {
                Some(chunk) => {
                    hasher.update(&chunk);
                    head.extend_from_slice(&chunk);
                }
                None => {
                    self.store
                        .put(&key, PutPayload::from(head.freeze()))
                        .await?;
                    return Ok(StagedBlob {
                        digest: Digest::from_bytes(hasher.finalize().into()),
                        size,
                        key,
                    });
                }
            }
        }

        let upload = self.store.put_multipart(&key).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        writer.put(head.freeze());
        let streamed = async {
            while let Some(chunk) = next_chunk(&mut body, &mut size, limit).await? {
                hasher.update(&chunk);
                writer.wait_for_capacity(MAX_PARTS_IN_FLIGHT).await?;
                writer.put(chunk);
            }
            Ok::<_, ArtifactError>(())
        }
        .await;
        match streamed {
            Ok(()) => {
                writer.finish().await?;
                Ok(StagedBlob {
                    digest: Digest::from_bytes(hasher.finalize().into()),
                    size,
                    key,
                })
            }
            Err(error) => {
                // Best effort: an aborted multipart upload leaves nothing visible anyway.
                let _ = writer.abort().await;
                Err(error)
            }
        }
    }

    /// Moves a verified staged upload to its content address. Equal bytes are stored once:
    /// when the blob already exists the staged copy is simply dropped.
    pub async fn commit(&self, staged: &StagedBlob) -> Result<Digest, ArtifactError> {
        let digest = staged.digest;
        if self.exists(&digest).await? {
            self.discard(staged).await;
        } else {
            self.store
                .rename(&staged.key, &self.blob_key(&digest))
                .await?;
        }
        Ok(digest)
    }

    /// Reads a staged upload back into memory (for inspecting small artifacts before they
    /// are committed).
    pub async fn read_staged(&self, staged: &StagedBlob) -> Result<Bytes, ArtifactError> {
        Ok(self.store.get(&staged.key).await?.bytes().await?)
    }

    /// Reads the byte `range` of a staged upload.
    pub async fn read_staged_range(
        &self,
        staged: &StagedBlob,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, ArtifactError> {
        Ok(self.store.get_range(&staged.key, range).await?)
    }

    /// Deletes a staged upload that will not be committed.
    pub async fn discard(&self, staged: &StagedBlob) {
        if let Err(error) = self.store.delete(&staged.key).await {
            tracing::warn!(key = %staged.key, %error, "could not delete a staged upload; the staging sweep will");
        }
    }
}

async fn next_chunk<S, E>(
    body: &mut S,
    size: &mut u64,
    limit: u64,
) -> Result<Option<Bytes>, ArtifactError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    match body.next().await {
        None => Ok(None),
        Some(Err(e)) => Err(ArtifactError::ClientStream(e.to_string())),
        Some(Ok(chunk)) => {
            *size += chunk.len() as u64;
            if *size > limit {
                return Err(ArtifactError::TooLarge { limit });
            }
            Ok(Some(chunk))
        }
    }
}
