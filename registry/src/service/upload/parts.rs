//! The one-step upload: a body of named parts, `metadata` (JSON `NewVersion`) and
//! `artifact` (the bytes), in either order. The HTTP layer turns its multipart body into
//! a stream of [`UploadPart`]s; everything from there on — checking the metadata before
//! any bytes are read, staging the artifact as it streams in, creating the version, and
//! deleting what was staged when anything fails — happens here.

use bytes::Bytes;
use futures::{Stream, StreamExt};

use capstan_client::types::{NewVersion, Version};
use capstan_client::ModelName;

use super::StagedUpload;
use crate::error::{RegistryError, RegistryResult};
use crate::service::{read_limited, Registry};

/// One part of a one-step upload body: its name and its bytes.
pub struct UploadPart<B> {
    pub name: String,
    pub body: B,
}

/// Parses version metadata (a JSON `NewVersion`); 400 `invalid_metadata` when it is not.
pub fn parse_new_version(body: &[u8]) -> RegistryResult<NewVersion> {
    serde_json::from_slice(body).map_err(|e| {
        RegistryError::bad_request(
            "invalid_metadata",
            format!("version metadata is not valid: {e}"),
        )
    })
}

fn malformed(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::bad_request(
        "malformed_multipart",
        format!("the multipart body is malformed: {e}"),
    )
}

/// What the parts read so far carried.
#[derive(Default)]
struct Received {
    metadata: Option<NewVersion>,
    staged: Option<StagedUpload>,
}

impl Registry {
    /// One-step upload: reads the `metadata` and `artifact` parts (either order), checks
    /// the metadata and that the model exists as soon as it arrives, stages the artifact
    /// as it streams in, then creates the version `ready`. Any failure deletes what was
    /// staged, so no version and no staged object is left. A broken part stream (`Err`
    /// items) is a malformed body (400).
    pub async fn create_version_from_parts<P, B, E, F>(
        &self,
        name: ModelName,
        parts: P,
        actor: &str,
    ) -> RegistryResult<Version>
    where
        P: Stream<Item = Result<UploadPart<B>, F>> + Unpin,
        B: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
        F: std::fmt::Display,
    {
        let mut received = Received::default();
        let outcome = self.read_parts(&name, parts, &mut received).await;
        match (outcome, received.metadata, received.staged) {
            (Ok(()), Some(meta), Some(staged)) => {
                self.create_ready_version(name, meta, staged, actor).await
            }
            (outcome, _, staged) => {
                if let Some(staged) = staged {
                    staged.discard().await;
                }
                outcome?;
                Err(malformed(
                    "both a `metadata` part and an `artifact` part are required",
                ))
            }
        }
    }

    async fn read_parts<P, B, E, F>(
        &self,
        name: &ModelName,
        mut parts: P,
        received: &mut Received,
    ) -> RegistryResult<()>
    where
        P: Stream<Item = Result<UploadPart<B>, F>> + Unpin,
        B: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
        F: std::fmt::Display,
    {
        while let Some(part) = parts.next().await {
            let part = part.map_err(malformed)?;
            match part.name.as_str() {
                "metadata" if received.metadata.is_none() => {
                    let body = read_limited(part.body, self.limits.max_json_bytes).await?;
                    let meta = parse_new_version(&body)?;
                    received.metadata = Some(self.check_new_version(name, meta).await?);
                }
                "artifact" if received.staged.is_none() => {
                    received.staged = Some(self.stage_artifact(part.body).await?);
                }
                "metadata" | "artifact" => {
                    return Err(malformed(format!("the `{}` part appears twice", part.name)))
                }
                other => {
                    return Err(malformed(format!(
                        "unexpected part {:?}: expected `metadata` and `artifact`",
                        other.chars().take(64).collect::<String>()
                    )))
                }
            }
        }
        Ok(())
    }
}
