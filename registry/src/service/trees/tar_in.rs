//! A tree that arrives as one tar stream, unpacked as it streams in: each regular file is
//! staged, hashed and stored in turn (memory stays at one file's buffer), directories are
//! implied, links that stay inside the tree become copies of files met before them, and
//! everything else is refused: absolute paths and `..` (via `TreePath`), links that leave
//! the tree, duplicate paths, device files, FIFOs, sparse files. Any refusal fails the
//! version; files already stored stay as unreferenced blobs (content-addressed, shared).

use std::collections::HashMap;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio_tar::{Archive, EntryType};
use tokio_util::io::{ReaderStream, StreamReader};

use capstan_client::manifest::{Manifest, ManifestEntry, TreePath};
use capstan_client::types::Version;
use capstan_client::{ModelName, VersionRef};

use super::Registry;
use crate::error::{RegistryError, RegistryResult};

fn refused(detail: impl Into<String>) -> RegistryError {
    RegistryError::unprocessable("invalid_tar", detail)
}

/// The entry's path as a tree path: `./` prefixes dropped (`tar -C dir .`).
fn entry_path(raw: &[u8]) -> RegistryResult<Option<TreePath>> {
    let text = std::str::from_utf8(raw).map_err(|_| refused("a tar entry's path is not UTF-8"))?;
    let mut text = text;
    while let Some(rest) = text.strip_prefix("./") {
        text = rest;
    }
    let text = text.trim_end_matches('/');
    if text.is_empty() || text == "." {
        return Ok(None);
    }
    TreePath::parse(text)
        .map(Some)
        .map_err(|e| refused(format!("tar entry refused: {e}")))
}

impl Registry {
    /// Two-step tree upload without a manifest: unpacks the tar `body` into the store,
    /// writes the manifest, then completes the version as `commit_tree` does. Any failure
    /// marks the version `failed`.
    pub(in crate::service) async fn upload_tree_tar<S, E>(
        &self,
        name: ModelName,
        number: i64,
        body: S,
        actor: &str,
    ) -> RegistryResult<Version>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let outcome = async {
            let manifest = self.unpack_tar(body).await?;
            self.store_manifest(&manifest).await?;
            let version = self
                .get_version(name.clone(), VersionRef::Number(number))
                .await?;
            self.finish_tree(&version, &manifest, actor).await
        }
        .await;
        if outcome.is_err() {
            self.fail_version(&name, number, actor).await?;
        }
        outcome
    }

    async fn unpack_tar<S, E>(&self, body: S) -> RegistryResult<Manifest>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let limit = self.limits.max_artifact_bytes;
        let reader = StreamReader::new(body.map_err(|e| std::io::Error::other(e.to_string())));
        let mut archive = Archive::new(reader);
        let mut entries = archive
            .entries()
            .map_err(|e| refused(format!("not a tar stream: {e}")))?;
        let mut files: HashMap<TreePath, ManifestEntry> = HashMap::new();
        let mut total: u64 = 0;
        while let Some(entry) = entries.next().await {
            let entry = entry.map_err(|e| refused(format!("the tar stream is malformed: {e}")))?;
            let kind = entry.header().entry_type();
            let raw_path = entry
                .path_bytes()
                .map_err(|e| refused(format!("a tar entry's path is unreadable: {e}")))?;
            let Some(path) = entry_path(&raw_path)? else {
                continue;
            };
            let file = match kind {
                EntryType::Directory => continue,
                EntryType::Regular | EntryType::Continuous => {
                    let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
                    total = total.saturating_add(entry.effective_size());
                    if total > limit {
                        return Err(RegistryError::TooLarge {
                            detail: format!("the tree is larger than the limit of {limit} bytes"),
                        });
                    }
                    let stream = ReaderStream::new(entry);
                    let staged = self.stage_artifact(stream).await?;
                    let size = staged.size();
                    let digest = staged.commit().await?;
                    ManifestEntry {
                        path: path.clone(),
                        digest,
                        size,
                        executable,
                    }
                }
                EntryType::Symlink | EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .ok()
                        .flatten()
                        .ok_or_else(|| refused(format!("link {path} has no target")))?;
                    let target = std::str::from_utf8(&target)
                        .map_err(|_| refused(format!("link {path}'s target is not UTF-8")))?;
                    let resolved = if kind == EntryType::Symlink {
                        if target.starts_with('/') { None } else { path.sibling(target) }
                    } else {
                        entry_path(target.as_bytes()).ok().flatten()
                    };
                    let resolved = resolved.ok_or_else(|| {
                        refused(format!("link {path} → {target:?} leaves the tree"))
                    })?;
                    let linked = files.get(&resolved).ok_or_else(|| {
                        refused(format!(
                            "link {path} → {target:?} names no file stored before it in the stream"
                        ))
                    })?;
                    ManifestEntry {
                        path: path.clone(),
                        ..linked.clone()
                    }
                }
                other => {
                    return Err(refused(format!(
                        "{path} is a {other:?} entry; a tree holds regular files, directories and links inside it"
                    )))
                }
            };
            if files.insert(path.clone(), file).is_some() {
                return Err(refused(format!("the tar stream holds {path} twice")));
            }
        }
        Manifest::new(files.into_values().collect()).map_err(|e| refused(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::entry_path;

    #[test]
    fn entry_paths_drop_dot_prefixes_and_refuse_escapes() {
        assert_eq!(
            entry_path(b"./MLmodel").unwrap().unwrap().as_str(),
            "MLmodel"
        );
        assert_eq!(entry_path(b"model/").unwrap().unwrap().as_str(), "model");
        assert!(entry_path(b"./").unwrap().is_none());
        assert!(entry_path(b"../etc/passwd").is_err());
        assert!(entry_path(b"/etc/passwd").is_err());
        assert!(entry_path(b"a/../../b").is_err());
        assert!(entry_path(b"\xff").is_err());
    }
}
