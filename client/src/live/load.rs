//! From a version to a model ready to predict: [`Loader`] resolves a ref over HTTP, pulls
//! the artifact through the content-addressed cache (the client's download, resume and
//! verify logic — nothing of it is repeated here), checks the bytes against the digest
//! the registry named once more as it reads them, and loads them with the runtime.

use std::sync::Arc;
use std::time::SystemTime;

use super::error::LiveError;
use crate::cache::{BlobCache, Silent};
use crate::digest::Digest;
use crate::error::Error;
use crate::http::Client;
use crate::names::ModelName;
use crate::reference::{ModelRef, VersionRef};
use crate::runtime::{self, Predictor, RuntimeError};
use crate::types::Version;

/// A loaded version: what a [`super::LiveModel`] serves.
#[derive(Clone)]
pub struct Loaded {
    pub model: ModelName,
    pub version: i64,
    pub digest: Digest,
    pub format: String,
    pub predictor: Arc<dyn Predictor>,
    /// When it was loaded.
    pub loaded_at: SystemTime,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("model", &self.model)
            .field("version", &self.version)
            .field("digest", &self.digest)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Loaded {
    /// The same model under another version number (the same bytes registered twice).
    fn renumbered(&self, version: i64) -> Self {
        Loaded {
            version,
            loaded_at: SystemTime::now(),
            ..self.clone()
        }
    }
}

/// Resolves refs and loads versions from one registry through one cache.
#[derive(Clone, Debug)]
pub struct Loader {
    client: Client,
    cache: BlobCache,
}

impl Loader {
    pub fn new(client: Client, cache: BlobCache) -> Self {
        Loader { client, cache }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// What `reference` names now.
    pub async fn resolve(&self, reference: &ModelRef) -> Result<Version, LiveError> {
        Ok(self
            .client
            .get_version(&reference.model, &reference.version)
            .await?)
    }

    /// `version` loaded: reused from `current` when it holds the same bytes, else
    /// fetched through the cache, verified and loaded.
    pub async fn load(
        &self,
        version: &Version,
        current: Option<&Loaded>,
    ) -> Result<Loaded, LiveError> {
        let digest = version.digest.ok_or_else(|| LiveError::NotReady {
            model: version.model.clone(),
            version: version.version,
        })?;
        if let Some(current) = current.filter(|c| c.digest == digest) {
            return Ok(current.renumbered(version.version));
        }
        let subject = format!("{} version {}", version.model, version.version);
        let numbered = ModelRef {
            model: version.model.clone(),
            version: VersionRef::Number(version.version),
        };
        let (entry, blob) = self
            .client
            .pull(&numbered, &self.cache, Box::new(Silent))
            .await?;
        if entry.digest != digest {
            return Err(mismatch(&subject, digest, entry.digest).into());
        }
        // A tree is pulled whole (every file verified into the cache); the runtime loads
        // its served file.
        let served = version.served_artifact().ok_or_else(|| LiveError::Load {
            model: version.model.clone(),
            version: version.version,
            source: RuntimeError::invalid_artifact(
                &version.format,
                version
                    .unservable_reason
                    .clone()
                    .unwrap_or_else(|| "the version has nothing to serve".to_owned()),
            ),
        })?;
        let path = match served.path {
            None => blob.path,
            Some(_) => self.cache.blob_path(&served.digest),
        };
        let bytes = tokio::fs::read(&path).await.map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let actual = Digest::of(&bytes);
        if actual != served.digest {
            return Err(mismatch(&subject, served.digest, actual).into());
        }
        let format = served.format;
        let signature = version.signature.clone();
        let predictor =
            tokio::task::spawn_blocking(move || runtime::load(&format, &bytes, signature.as_ref()))
                .await
                .unwrap_or_else(|panic| {
                    Err(RuntimeError::invalid_artifact(
                        &version.format,
                        format!("the loader panicked: {panic}"),
                    ))
                })
                .map_err(|source| LiveError::Load {
                    model: version.model.clone(),
                    version: version.version,
                    source,
                })?;
        Ok(Loaded {
            model: version.model.clone(),
            version: version.version,
            digest,
            format: version.format.clone(),
            predictor,
            loaded_at: SystemTime::now(),
        })
    }
}

fn mismatch(subject: &str, expected: Digest, actual: Digest) -> Error {
    Error::Digest {
        subject: format!("the artifact of {subject}"),
        expected,
        actual,
        hint: "; not loading it".into(),
    }
}
