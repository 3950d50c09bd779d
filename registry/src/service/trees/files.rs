//! Reading a tree back: its manifest, one file by path (whole, a range, or `304` by
//! entity tag, like an artifact), or every file as one tar stream written as it is read
//! (no file is held whole; long paths use GNU long-name entries).

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::io::{ReaderStream, StreamReader};

use capstan_client::manifest::{Manifest, ManifestEntry, TreePath};
use capstan_client::types::{ArtifactLayout, Version};
use capstan_client::{ModelName, VersionRef};

use crate::error::{RegistryError, RegistryResult};
use crate::service::download::etag;
use crate::service::{ArtifactContent, ArtifactRequest, OpenedArtifact, Registry};

/// Bytes buffered between the tar writer and the response.
const TAR_PIPE_BYTES: usize = 256 * 1024;

/// One file of a tree, opened.
pub struct TreeFile {
    pub entry: ManifestEntry,
    pub opened: OpenedArtifact,
}

impl Registry {
    /// A ready tree version and its manifest.
    pub async fn open_tree(
        &self,
        name: ModelName,
        reference: VersionRef,
    ) -> RegistryResult<(Version, Arc<Manifest>)> {
        let resolved = self.resolve_artifact(name, reference).await?;
        if resolved.version.layout != ArtifactLayout::Tree {
            return Err(RegistryError::not_found(
                "not_a_tree",
                format!(
                    "version {} holds one blob, not a file tree; download it from …/artifact",
                    resolved.version.version
                ),
            ));
        }
        let manifest = self.stored_manifest(&resolved.digest).await?;
        Ok((resolved.version, manifest))
    }

    /// One file of a ready tree, as `request` asks (range, entity tag).
    pub async fn open_tree_file(
        &self,
        name: ModelName,
        reference: VersionRef,
        path: &str,
        request: ArtifactRequest,
    ) -> RegistryResult<TreeFile> {
        let path = TreePath::parse(path)
            .map_err(|e| RegistryError::bad_request("invalid_path", e.to_string()))?;
        let (version, manifest) = self.open_tree(name, reference).await?;
        let entry = manifest.get(path.as_str()).cloned().ok_or_else(|| {
            RegistryError::not_found(
                "file_not_found",
                format!("version {} holds no file {path}", version.version),
            )
        })?;
        let content = self.open_blob(&entry.digest, entry.size, &request).await?;
        Ok(TreeFile {
            opened: OpenedArtifact {
                version,
                digest: entry.digest,
                content,
            },
            entry,
        })
    }

    /// Every file of a ready tree as one tar stream (sorted paths, mode 0644 or 0755,
    /// mtime 0: equal trees give equal archives).
    pub async fn tree_archive(
        &self,
        name: ModelName,
        reference: VersionRef,
    ) -> RegistryResult<(Version, BoxStream<'static, std::io::Result<Bytes>>)> {
        let (version, manifest) = self.open_tree(name, reference).await?;
        let (writer, reader) = tokio::io::duplex(TAR_PIPE_BYTES);
        let artifacts = self.artifacts.clone();
        tokio::spawn(async move {
            let mut builder = tokio_tar::Builder::new(writer);
            for file in manifest.files() {
                let read = match artifacts.get(&file.digest, None).await {
                    Ok(read) => read,
                    Err(error) => {
                        tracing::warn!(%error, path = %file.path, "tar stream cut off: a file is unreadable");
                        return;
                    }
                };
                let body = StreamReader::new(read.stream.map_err(std::io::Error::other));
                let mut header = tokio_tar::Header::new_gnu();
                header.set_size(file.size);
                header.set_mode(if file.executable { 0o755 } else { 0o644 });
                header.set_mtime(0);
                header.set_entry_type(tokio_tar::EntryType::Regular);
                if let Err(error) = builder
                    .append_data(&mut header, file.path.as_str(), body)
                    .await
                {
                    tracing::debug!(%error, "tar stream ended early (the client went away?)");
                    return;
                }
            }
            if let Ok(mut writer) = builder.into_inner().await {
                let _ = writer.shutdown().await;
            }
        });
        Ok((version, ReaderStream::new(reader).boxed()))
    }

    /// Opens a stored blob of `size` bytes as `request` asks.
    pub(crate) async fn open_blob(
        &self,
        digest: &capstan_client::Digest,
        size: u64,
        request: &ArtifactRequest,
    ) -> RegistryResult<ArtifactContent> {
        let tag = etag(digest);
        if request
            .if_none_match
            .iter()
            .any(|candidate| candidate == "*" || *candidate == tag)
        {
            return Ok(ArtifactContent::NotModified);
        }
        let range = request.range.map(|range| range.within(size)).transpose()?;
        let partial = range.is_some();
        let blob = self.artifacts.get(digest, range).await?;
        Ok(ArtifactContent::Bytes { blob, partial })
    }
}
