//! [`StagedUpload`]: a staged upload that is deleted unless it is committed — the one
//! place a staged upload is cleaned up.
//!
//! A failed check deletes it before the error is returned ([`StagedUpload::check`],
//! [`StagedUpload::discard`]), so the staging area is clean by the time the client reads
//! the answer. When the request is dropped instead (the client went away while a check or
//! the object store was pending), `Drop` cannot await: it spawns the delete on the
//! runtime. Without a runtime left (the process is exiting) the start-up sweep removes
//! the staged object after 24 h.

use capstan_client::Digest;

use crate::artifacts::{ArtifactError, ArtifactStore, StagedBlob};
use crate::error::RegistryResult;

pub(crate) struct StagedUpload {
    artifacts: ArtifactStore,
    blob: StagedBlob,
    /// Whether dropping this still has to delete the staged object.
    armed: bool,
}

impl StagedUpload {
    pub(crate) fn new(artifacts: ArtifactStore, blob: StagedBlob) -> Self {
        Self {
            artifacts,
            blob,
            armed: true,
        }
    }

    pub(crate) fn size(&self) -> u64 {
        self.blob.size
    }

    /// Runs `check` on the staged bytes; when it fails the upload is deleted, then the
    /// error returned.
    pub(crate) async fn check<T>(
        self,
        check: impl AsyncFnOnce(&ArtifactStore, &StagedBlob) -> RegistryResult<T>,
    ) -> RegistryResult<(Self, T)> {
        match check(&self.artifacts, &self.blob).await {
            Ok(value) => Ok((self, value)),
            Err(error) => {
                self.discard().await;
                Err(error)
            }
        }
    }

    /// Moves the verified upload to its content address.
    pub(crate) async fn commit(mut self) -> Result<Digest, ArtifactError> {
        // Not deleted from here on, even if this is dropped midway: the object may be
        // being renamed, and a staged object left behind is swept at start-up.
        self.armed = false;
        self.artifacts.commit(&self.blob).await
    }

    /// Deletes the staged upload now.
    pub(crate) async fn discard(mut self) {
        self.armed = false;
        self.artifacts.discard(&self.blob).await;
    }
}

impl Drop for StagedUpload {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(digest = %self.blob.digest, "a staged upload was abandoned; the start-up sweep will delete it");
            return;
        };
        let artifacts = self.artifacts.clone();
        let blob = self.blob.clone();
        runtime.spawn(async move { artifacts.discard(&blob).await });
    }
}
