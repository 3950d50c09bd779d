//! Where served models come from: the [`VersionLoader`] trait, and its implementation over
//! this registry's own store (`LocalSource`, reading through the service's `open_artifact`).
//! The model server's loader, over another registry's HTTP API, is
//! `super::remote::RemoteSource`.

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use sha2::{Digest as _, Sha256};

use capstan_client::types::{ServedArtifact, Version, VersionStatus};
use capstan_client::{Digest, ModelName, VersionRef};

use super::ServeError;
use crate::error::RegistryError;
use crate::service::{ArtifactContent, ArtifactRequest, Registry};

#[async_trait]
/// Resolves refs to versions and loads their verified artifact bytes: what the served
/// refs table needs of a registry, local or remote.
pub trait VersionLoader: Send + Sync {
    /// The version `reference` names now.
    async fn resolve(
        &self,
        name: &ModelName,
        reference: &VersionRef,
    ) -> Result<Version, ServeError>;
    /// What serving loads of a ready version (its blob, or its tree's served file),
    /// verified against that artifact's digest.
    async fn fetch(&self, version: &Version) -> Result<Bytes, ServeError>;
}

/// What serving loads for `version`, or why it cannot: not ready yet, or stored but not
/// servable (422 with the version's reason).
pub fn served_artifact(version: &Version) -> Result<ServedArtifact, ServeError> {
    if version.status != VersionStatus::Ready {
        digest_of_version(version)?;
    }
    let not_servable = || {
        ServeError::NotServable(format!(
            "version {} of {:?} cannot be served: {}",
            version.version,
            version.model.as_str(),
            version
                .unservable_reason
                .as_deref()
                .unwrap_or("it has no servable artifact")
        ))
    };
    // A blob of a format the runtime does not run is refused by the runtime itself
    // (`unservable_format`, naming the formats it serves); a tree says why here.
    version.served_artifact().ok_or_else(not_servable)
}

pub(super) fn digest_of_version(version: &Version) -> Result<Digest, ServeError> {
    version.digest.ok_or_else(|| {
        ServeError::Registry(RegistryError::conflict(
            "version_not_ready",
            format!(
                "version {} of {:?} has no artifact yet",
                version.version,
                version.model.as_str()
            ),
        ))
    })
}

fn verify(version: &Version, bytes: Bytes) -> Result<Bytes, ServeError> {
    let expected = served_artifact(version)?.digest;
    let actual = Digest::from_bytes(Sha256::digest(&bytes).into());
    if actual != expected {
        return Err(ServeError::DigestMismatch {
            model: version.model.to_string(),
            version: version.version,
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(bytes)
}

/// Largest artifact loaded into memory for serving.
pub(super) const MAX_SERVED_ARTIFACT: u64 = 2 * 1024 * 1024 * 1024;

pub(super) fn check_servable_size(
    served: &ServedArtifact,
    version: &Version,
) -> Result<(), ServeError> {
    if served.size > MAX_SERVED_ARTIFACT {
        return Err(ServeError::BadInput(format!(
            "version {} is {} bytes; models above {MAX_SERVED_ARTIFACT} bytes are not served",
            version.version, served.size
        )));
    }
    Ok(())
}

pub struct LocalSource {
    registry: Registry,
}

impl LocalSource {
    pub fn new(registry: Registry) -> Self {
        Self { registry }
    }
}

#[async_trait]
impl VersionLoader for LocalSource {
    async fn resolve(
        &self,
        name: &ModelName,
        reference: &VersionRef,
    ) -> Result<Version, ServeError> {
        Ok(self
            .registry
            .get_version(name.clone(), reference.clone())
            .await?)
    }

    async fn fetch(&self, version: &Version) -> Result<Bytes, ServeError> {
        let served = served_artifact(version)?;
        check_servable_size(&served, version)?;
        let content = match &served.path {
            None => {
                self.registry
                    .open_artifact(
                        version.model.clone(),
                        VersionRef::Number(version.version),
                        ArtifactRequest::default(),
                    )
                    .await?
                    .content
            }
            Some(_) => {
                self.registry
                    .open_blob(&served.digest, served.size, &ArtifactRequest::default())
                    .await?
            }
        };
        let ArtifactContent::Bytes { blob, .. } = content else {
            // A request for the whole artifact, without a redirect or a cached copy,
            // is always answered with the bytes.
            return Err(ServeError::Upstream(
                "the artifact was not opened for reading".to_owned(),
            ));
        };
        let chunks: Vec<Bytes> = blob
            .stream
            .try_collect()
            .await
            .map_err(RegistryError::from)?;
        verify(version, chunks.concat().into())
    }
}
