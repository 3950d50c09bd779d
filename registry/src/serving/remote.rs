//! The model server's link to a registry: refs resolved and artifacts downloaded over the
//! registry's HTTP API by `capstan_client`'s async client — its paths, retries, problem
//! decoding and verified download; nothing of it is repeated here.
//!
//! Artifacts are read into memory, not through the client's content-addressed cache: the
//! model server keeps no state on disk (it has no data directory, and a restart loads its
//! refs afresh), and the runtime loads models from bytes in memory anyway. A cache would
//! add a directory to configure and disk to clean for no saved download.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use capstan_client::http::Client;
use capstan_client::types::Version;
use capstan_client::{Config, Error as ClientError, ModelName, VersionRef};

use super::source::{check_servable_size, served_artifact, VersionLoader, MAX_SERVED_ARTIFACT};
use super::ServeError;
use crate::error::RegistryError;

/// A registry reached over HTTP; the model server has no database of its own.
pub struct RemoteSource {
    client: Client,
}

impl RemoteSource {
    /// Reads the registry at `base`, presenting `token` (a reader's is enough) if any.
    pub fn new(base: &str, token: Option<String>) -> Result<Self, ServeError> {
        let mut config = Config::new(base).map_err(upstream)?.with_token(token);
        config.connect_timeout = Duration::from_secs(5);
        let client = Client::new(config).map_err(upstream)?;
        Ok(Self { client })
    }
}

/// The registry's refusals keep their meaning (404: nothing to serve, 409: not ready);
/// anything else means the registry cannot be used right now.
fn upstream(error: ClientError) -> ServeError {
    match error {
        // The message says which token to fix (never the token itself).
        ClientError::Api {
            status: 401 | 403, ..
        } => ServeError::Upstream(error.to_string()),
        ClientError::Api {
            status: 404,
            detail,
            ..
        } => ServeError::NotServed(detail),
        ClientError::Api {
            status: 409,
            detail,
            ..
        } => ServeError::Registry(RegistryError::conflict("version_not_ready", detail)),
        ClientError::Api { detail, .. } => ServeError::Upstream(detail),
        other => ServeError::Upstream(other.to_string()),
    }
}

#[async_trait]
impl VersionLoader for RemoteSource {
    async fn resolve(
        &self,
        name: &ModelName,
        reference: &VersionRef,
    ) -> Result<Version, ServeError> {
        self.client
            .get_version(name, reference)
            .await
            .map_err(upstream)
    }

    async fn fetch(&self, version: &Version) -> Result<Bytes, ServeError> {
        let served = served_artifact(version)?;
        check_servable_size(&served, version)?;
        self.client
            .download_verified(
                &version.model,
                version.version,
                served.path.as_ref(),
                &served.digest,
                MAX_SERVED_ARTIFACT,
            )
            .await
            .map_err(|error| match error {
                ClientError::Digest {
                    expected, actual, ..
                } => ServeError::DigestMismatch {
                    model: version.model.to_string(),
                    version: version.version,
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                },
                other => upstream(other),
            })
    }
}
