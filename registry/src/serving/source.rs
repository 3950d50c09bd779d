//! Where served models come from: the [`VersionLoader`] trait, and its implementation over
//! this registry's own store (`LocalSource`, reading through the service's `open_artifact`).
//! The model server's loader, over another registry's HTTP API, is
//! `super::remote::RemoteSource`.

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use sha2::{Digest as _, Sha256};

use capstan_client::types::Version;
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
    /// The artifact bytes of a ready version, verified against its digest.
    async fn fetch(&self, version: &Version) -> Result<Bytes, ServeError>;
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
    let expected = digest_of_version(version)?;
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

pub(super) fn check_servable_size(version: &Version) -> Result<(), ServeError> {
    if version.size.unwrap_or(0) as u64 > MAX_SERVED_ARTIFACT {
        return Err(ServeError::BadInput(format!(
            "version {} is {} bytes; models above {MAX_SERVED_ARTIFACT} bytes are not served",
            version.version,
            version.size.unwrap_or(0)
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
        check_servable_size(version)?;
        let opened = self
            .registry
            .open_artifact(
                version.model.clone(),
                VersionRef::Number(version.version),
                ArtifactRequest::default(),
            )
            .await?;
        let ArtifactContent::Bytes { blob, .. } = opened.content else {
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
