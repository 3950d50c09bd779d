//! Where served models come from: this registry's own store (`LocalSource`, reading
//! through the service's `open_artifact`), or another registry over its HTTP API
//! (`RemoteSource`, the model server's only link to it).

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use sha2::{Digest as _, Sha256};

use capstan_client::types::Version;
use capstan_client::{Digest, ModelName, Problem, VersionRef};

use super::ServeError;
use crate::error::RegistryError;
use crate::service::{ArtifactContent, ArtifactRequest, Registry};

#[async_trait]
pub trait ModelSource: Send + Sync {
    /// The version `reference` names now.
    async fn resolve(
        &self,
        name: &ModelName,
        reference: &VersionRef,
    ) -> Result<Version, ServeError>;
    /// The artifact bytes of a ready version, verified against its digest.
    async fn fetch(&self, version: &Version) -> Result<Bytes, ServeError>;
}

fn digest_of_version(version: &Version) -> Result<Digest, ServeError> {
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
const MAX_SERVED_ARTIFACT: u64 = 2 * 1024 * 1024 * 1024;

fn check_servable_size(version: &Version) -> Result<(), ServeError> {
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
impl ModelSource for LocalSource {
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

/// A registry reached over HTTP; the model server has no database of its own.
pub struct RemoteSource {
    base: String,
    http: reqwest::Client,
}

impl RemoteSource {
    pub fn new(base: &str) -> Result<Self, ServeError> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(600))
            .build()
            .map_err(|e| ServeError::Upstream(e.to_string()))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    async fn get(&self, path: &str) -> Result<reqwest::Response, ServeError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| ServeError::Upstream(format!("GET {url}: {e}")))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let detail = match response.json::<Problem>().await {
            Ok(problem) => problem.detail,
            Err(_) => format!("GET {url} answered {status}"),
        };
        Err(match status.as_u16() {
            404 => ServeError::NotServed(detail),
            409 => ServeError::Registry(RegistryError::conflict("version_not_ready", detail)),
            _ => ServeError::Upstream(detail),
        })
    }
}

#[async_trait]
impl ModelSource for RemoteSource {
    async fn resolve(
        &self,
        name: &ModelName,
        reference: &VersionRef,
    ) -> Result<Version, ServeError> {
        let response = self
            .get(&format!("/api/v1/models/{name}/versions/{reference}"))
            .await?;
        response.json().await.map_err(|e| {
            ServeError::Upstream(format!("the registry's version JSON is malformed: {e}"))
        })
    }

    async fn fetch(&self, version: &Version) -> Result<Bytes, ServeError> {
        check_servable_size(version)?;
        let response = self
            .get(&format!(
                "/api/v1/models/{}/versions/{}/artifact",
                version.model, version.version
            ))
            .await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ServeError::Upstream(format!("artifact download broke off: {e}")))?;
        verify(version, bytes)
    }
}
