//! Downloads: a version's artifact as a stream — whole, or one byte range — or a
//! presigned URL to fetch it from the object store directly. The download route and the
//! serving loader both read artifacts through [`Registry::open_artifact`].

use std::ops::Range;
use std::time::Duration;

use capstan_client::types::{ArtifactLayout, Version};
use capstan_client::{Digest, ModelName, VersionRef};

use super::Registry;
use crate::artifacts::BlobRead;
use crate::error::{RegistryError, RegistryResult};

/// How long a presigned download URL stays valid.
const PRESIGNED_TTL: Duration = Duration::from_secs(15 * 60);

/// A byte range as a request names it, before it is checked against the artifact's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// From this offset to the end.
    From(u64),
    /// From the first offset to the second, inclusive (`first <= second`).
    FromTo(u64, u64),
    /// The last this many bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The range within an artifact of `size` bytes, clamped to it; 416 when none of it
    /// lies within.
    pub fn within(self, size: u64) -> RegistryResult<Range<u64>> {
        let unsatisfiable = || RegistryError::RangeNotSatisfiable { size };
        match self {
            ByteRange::Suffix(suffix) => {
                if suffix == 0 || size == 0 {
                    return Err(unsatisfiable());
                }
                Ok(size.saturating_sub(suffix)..size)
            }
            ByteRange::From(start) | ByteRange::FromTo(start, _) if start >= size => {
                Err(unsatisfiable())
            }
            ByteRange::From(start) => Ok(start..size),
            ByteRange::FromTo(start, end) => Ok(start..end.saturating_add(1).min(size)),
        }
    }
}

/// What a download asks for.
#[derive(Debug, Clone, Default)]
pub struct ArtifactRequest {
    /// One byte range instead of the whole artifact.
    pub range: Option<ByteRange>,
    /// A presigned URL is welcome instead of the bytes (when the store can sign: S3).
    pub redirect: bool,
    /// Entity tags of copies the client holds (`*`: any copy); when one is the
    /// artifact's, the answer is [`ArtifactContent::NotModified`].
    pub if_none_match: Vec<String>,
}

/// What a download answers with.
pub enum ArtifactContent {
    /// The client's copy is current.
    NotModified,
    /// Fetch the bytes from this presigned URL.
    Redirect(String),
    /// The bytes: the whole artifact, or the requested range of it (`partial`).
    Bytes { blob: BlobRead, partial: bool },
}

/// An artifact opened for download.
pub struct OpenedArtifact {
    pub version: Version,
    pub digest: Digest,
    pub content: ArtifactContent,
}

impl OpenedArtifact {
    /// The artifact's entity tag: its digest, quoted.
    pub fn etag(&self) -> String {
        etag(&self.digest)
    }
}

pub(crate) fn etag(digest: &Digest) -> String {
    format!("\"{digest}\"")
}

impl Registry {
    /// Resolves `reference` to a ready version and opens its artifact as `request` asks.
    pub async fn open_artifact(
        &self,
        name: ModelName,
        reference: VersionRef,
        request: ArtifactRequest,
    ) -> RegistryResult<OpenedArtifact> {
        let mut resolved = self.resolve_artifact(name, reference).await?;
        if resolved.version.layout == ArtifactLayout::Tree {
            // A tree's artifact is its manifest: the blob its digest names.
            resolved.size = self.artifacts.blob_size(&resolved.digest).await?;
        }
        let opened = |content| OpenedArtifact {
            version: resolved.version,
            digest: resolved.digest,
            content,
        };
        let tag = etag(&resolved.digest);
        if request
            .if_none_match
            .iter()
            .any(|candidate| candidate == "*" || *candidate == tag)
        {
            return Ok(opened(ArtifactContent::NotModified));
        }
        if request.redirect {
            if let Some(url) = self
                .artifacts
                .presigned_url(&resolved.digest, PRESIGNED_TTL)
                .await?
            {
                return Ok(opened(ArtifactContent::Redirect(url)));
            }
        }
        let range = request
            .range
            .map(|range| range.within(resolved.size))
            .transpose()?;
        let partial = range.is_some();
        let blob = self.artifacts.get(&resolved.digest, range).await?;
        Ok(opened(ArtifactContent::Bytes { blob, partial }))
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRange;

    #[test]
    fn ranges_are_clamped_to_the_size() {
        assert_eq!(ByteRange::FromTo(0, 9).within(100).unwrap(), 0..10);
        assert_eq!(ByteRange::From(90).within(100).unwrap(), 90..100);
        assert_eq!(ByteRange::Suffix(10).within(100).unwrap(), 90..100);
        assert_eq!(ByteRange::Suffix(1000).within(100).unwrap(), 0..100);
        assert_eq!(ByteRange::FromTo(50, 1000).within(100).unwrap(), 50..100);
        assert!(ByteRange::From(100).within(100).is_err());
        assert!(ByteRange::FromTo(100, 200).within(100).is_err());
        assert!(ByteRange::Suffix(0).within(100).is_err());
        assert!(ByteRange::Suffix(5).within(0).is_err());
    }
}
