//! File-tree versions from a directory and back: [`Client::push_tree`] hashes a directory
//! into a manifest, creates the pending version, sends only the files the registry lacks
//! (a bounded number at once, each streamed) and commits; [`Client::resume_push`] picks a
//! cut-off push up again. [`Client::pull_tree`] writes a tree into a directory, file by
//! file, each verified against the manifest before it takes its name; files already there
//! with the right digest are kept, so an interrupted pull resumes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use futures::TryStreamExt;
use reqwest::{Body, Method};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::api;
use super::client::{checked, transport_error};
use super::Client;
use crate::cache::hash_reader;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, ManifestEntry, TreePath};
use crate::names::ModelName;
use crate::reference::VersionRef;
use crate::types::{ArtifactLayout, MissingFiles, NewVersion, Version};

/// Files sent or fetched at once.
pub const TRANSFERS_IN_FLIGHT: usize = 8;
const CHUNK: usize = 256 * 1024;

/// What a push did.
#[derive(Debug, Clone)]
pub struct PushedTree {
    pub version: Version,
    /// Files the tree holds.
    pub files: usize,
    /// Files sent (the others' contents were in the registry already).
    pub files_sent: usize,
    pub bytes_sent: u64,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PulledTree {
    pub version: Version,
    pub files: usize,
    /// Files downloaded (the others were in the directory already, verified).
    pub files_fetched: usize,
    pub bytes_fetched: u64,
}

/// A directory hashed: its manifest, and where each content lies on disk.
pub struct ScannedTree {
    pub manifest: Manifest,
    sources: HashMap<Digest, PathBuf>,
}

/// Hashes every regular file under `dir` (symbolic links are followed when they stay
/// inside `dir`; one that leaves it, or a device file, is an error).
pub fn scan_dir(dir: &Path) -> Result<ScannedTree> {
    let root = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    if !root.is_dir() {
        return Err(Error::Invalid(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let mut files = Vec::new();
    let mut sources = HashMap::new();
    let mut pending = vec![root.clone()];
    while let Some(folder) = pending.pop() {
        let listing = std::fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))?;
        for item in listing {
            let item = item.map_err(|e| Error::io(&folder, e))?;
            let path = item.path();
            let real = path.canonicalize().map_err(|e| Error::io(&path, e))?;
            if !real.starts_with(&root) {
                return Err(Error::Invalid(format!(
                    "{} links outside {}",
                    path.display(),
                    dir.display()
                )));
            }
            let meta = std::fs::metadata(&real).map_err(|e| Error::io(&path, e))?;
            if meta.is_dir() {
                pending.push(path);
                continue;
            }
            if !meta.is_file() {
                return Err(Error::Invalid(format!(
                    "{} is neither a file nor a directory",
                    path.display()
                )));
            }
            let relative = path
                .strip_prefix(&root)
                .ok()
                .and_then(|p| p.to_str())
                .ok_or_else(|| Error::Invalid(format!("{} is not a UTF-8 path", path.display())))?
                .replace(std::path::MAIN_SEPARATOR, "/");
            let tree_path =
                TreePath::parse(&relative).map_err(|e| Error::Invalid(e.to_string()))?;
            let file = std::fs::File::open(&real).map_err(|e| Error::io(&path, e))?;
            let digest = hash_reader(file).map_err(|e| Error::io(&path, e))?;
            sources.entry(digest).or_insert(real);
            files.push(ManifestEntry {
                path: tree_path,
                digest,
                size: meta.len(),
                executable: is_executable(&meta),
            });
        }
    }
    let manifest = Manifest::new(files).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(ScannedTree { manifest, sources })
}

/// The format a tree is recorded as when none is given: `mlflow` when the directory has
/// an `MLmodel`, `onnx` when it holds exactly one `.onnx` file, else `files`.
pub fn tree_format(dir: &Path) -> String {
    if dir.join("MLmodel").is_file() {
        return "mlflow".to_owned();
    }
    let onnx = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(std::result::Result::ok)
                .filter(|e| {
                    e.path()
                        .extension()
                        .is_some_and(|x| x.eq_ignore_ascii_case("onnx"))
                })
                .count()
        })
        .unwrap_or(0);
    if onnx == 1 { "onnx" } else { "files" }.to_owned()
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

/// A file's bytes as a request body, read in chunks as the request is sent.
async fn file_body(path: &Path) -> Result<Body> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::io(path, e))?;
    let chunks = futures::stream::try_unfold(file, |mut file| async move {
        let mut buffer = vec![0; CHUNK];
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buffer.truncate(n);
        Ok(Some((Bytes::from(buffer), file)))
    });
    Ok(Body::wrap_stream(chunks))
}

impl Client {
    /// Pushes the directory `dir` as a new tree version of `model` (see the module
    /// header).
    pub async fn push_tree(
        &self,
        model: &ModelName,
        dir: &Path,
        meta: NewVersion,
    ) -> Result<PushedTree> {
        self.push_tree_with(model, dir, meta, &|_| {}).await
    }

    /// [`Client::push_tree`], reporting each file sent (its size) to `on_sent`.
    pub async fn push_tree_with(
        &self,
        model: &ModelName,
        dir: &Path,
        mut meta: NewVersion,
        on_sent: &(dyn Fn(u64) + Sync),
    ) -> Result<PushedTree> {
        let scanned = scan(dir).await?;
        meta.layout = Some(ArtifactLayout::Tree);
        meta.manifest = Some(scanned.manifest.clone());
        let version = self.create_pending_version(model, &meta).await?;
        self.send_tree(model, version.version, &scanned, on_sent)
            .await
    }

    /// Which contents pending tree version `number` still lacks, and how many files its
    /// manifest lists.
    pub async fn missing_files(&self, model: &ModelName, number: i64) -> Result<MissingFiles> {
        self.get_json(&api::tree_missing(model, number)).await
    }

    /// Continues a push of `dir` into pending version `number` (after a cut-off push).
    pub async fn resume_push(
        &self,
        model: &ModelName,
        number: i64,
        dir: &Path,
        on_sent: &(dyn Fn(u64) + Sync),
    ) -> Result<PushedTree> {
        // The registry names the contents it still lacks by digest; a directory that
        // changed since cannot supply them, and the registry refuses any other bytes.
        let scanned = scan(dir).await?;
        self.send_tree(model, number, &scanned, on_sent).await
    }

    async fn send_tree(
        &self,
        model: &ModelName,
        number: i64,
        scanned: &ScannedTree,
        on_sent: &(dyn Fn(u64) + Sync),
    ) -> Result<PushedTree> {
        let missing: MissingFiles = self.get_json(&api::tree_missing(model, number)).await?;
        let sent_files = AtomicUsize::new(0);
        let sent_bytes = AtomicU64::new(0);
        futures::stream::iter(missing.missing.iter().map(Ok))
            .try_for_each_concurrent(TRANSFERS_IN_FLIGHT, |blob| {
                let (sent_files, sent_bytes) = (&sent_files, &sent_bytes);
                async move {
                    let source = scanned.sources.get(&blob.digest).ok_or_else(|| {
                        Error::Invalid(format!(
                            "the registry asks for {}, which the directory does not hold",
                            blob.digest
                        ))
                    })?;
                    self.put_blob(model, number, &blob.digest, blob.size, source)
                        .await?;
                    sent_files.fetch_add(1, Ordering::Relaxed);
                    sent_bytes.fetch_add(blob.size, Ordering::Relaxed);
                    on_sent(blob.size);
                    Ok::<_, Error>(())
                }
            })
            .await?;
        let version: Version = self
            .send_json(
                Method::POST,
                &api::tree_commit(model, number),
                &serde_json::json!({}),
            )
            .await?;
        Ok(PushedTree {
            version,
            files: scanned.manifest.files().len(),
            files_sent: sent_files.into_inner(),
            bytes_sent: sent_bytes.into_inner(),
        })
    }

    async fn put_blob(
        &self,
        model: &ModelName,
        number: i64,
        digest: &Digest,
        size: u64,
        source: &Path,
    ) -> Result<()> {
        let path = api::tree_blob(model, number, digest);
        let response = self
            .request(Method::PUT, &path)
            .header("content-type", "application/octet-stream")
            .header("content-length", size)
            .body(file_body(source).await?)
            .send()
            .await
            .map_err(|e| transport_error(&self.config().endpoint(&path), &e))?;
        checked(response).await?;
        Ok(())
    }

    /// A tree version's manifest, checked against the version's digest.
    pub async fn tree_manifest(&self, model: &ModelName, version: &Version) -> Result<Manifest> {
        let path = api::tree_manifest(model, &VersionRef::Number(version.version));
        let response = self.send(true, || self.request(Method::GET, &path)).await?;
        let bytes = checked(response)
            .await?
            .bytes()
            .await
            .map_err(|e| transport_error(&self.config().endpoint(&path), &e))?;
        let actual = Digest::of(&bytes);
        if Some(actual) != version.digest {
            return Err(Error::Digest {
                subject: format!("the manifest of {model} version {}", version.version),
                expected: version.digest.unwrap_or(actual),
                actual,
                hint: String::new(),
            });
        }
        Manifest::parse(&bytes).map_err(|e| Error::Invalid(e.to_string()))
    }

    /// Writes tree version `reference` of `model` into `dir` (see the module header).
    /// `on_fetched` hears of each file downloaded, with its size.
    pub async fn pull_tree(
        &self,
        model: &ModelName,
        reference: &VersionRef,
        dir: &Path,
        on_fetched: &(dyn Fn(u64) + Sync),
    ) -> Result<PulledTree> {
        let version = self.get_version(model, reference).await?;
        if version.layout != ArtifactLayout::Tree {
            return Err(Error::Invalid(format!(
                "{model} version {} holds one file, not a tree",
                version.version
            )));
        }
        let manifest = self.tree_manifest(model, &version).await?;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| Error::io(dir, e))?;
        let fetched_files = AtomicUsize::new(0);
        let fetched_bytes = AtomicU64::new(0);
        let number = VersionRef::Number(version.version);
        futures::stream::iter(manifest.files().iter().map(Ok))
            .try_for_each_concurrent(TRANSFERS_IN_FLIGHT, |entry| {
                let (fetched_files, fetched_bytes, number) =
                    (&fetched_files, &fetched_bytes, &number);
                async move {
                    let target = dir.join(entry.path.as_str());
                    if already_there(&target, entry).await {
                        return Ok(());
                    }
                    self.fetch_file(model, number, entry, &target).await?;
                    fetched_files.fetch_add(1, Ordering::Relaxed);
                    fetched_bytes.fetch_add(entry.size, Ordering::Relaxed);
                    on_fetched(entry.size);
                    Ok::<_, Error>(())
                }
            })
            .await?;
        Ok(PulledTree {
            version,
            files: manifest.files().len(),
            files_fetched: fetched_files.into_inner(),
            bytes_fetched: fetched_bytes.into_inner(),
        })
    }

    /// Downloads one file to a temporary name beside `target`, verifies it, renames it.
    async fn fetch_file(
        &self,
        model: &ModelName,
        reference: &VersionRef,
        entry: &ManifestEntry,
        target: &Path,
    ) -> Result<()> {
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| Error::io(parent, e))?;
        }
        let temp = crate::cache::sibling_temp(target);
        let written = async {
            let mut download = self
                .download_file(model, reference, &entry.path, 0, None)
                .await?;
            let mut file = tokio::fs::File::create(&temp)
                .await
                .map_err(|e| Error::io(&temp, e))?;
            let mut hasher = Sha256::new();
            while let Some(chunk) = download.chunk().await? {
                hasher.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(|e| Error::io(&temp, e))?;
            }
            file.flush().await.map_err(|e| Error::io(&temp, e))?;
            let actual = Digest::from_bytes(hasher.finalize().into());
            if actual != entry.digest {
                return Err(Error::Digest {
                    subject: format!("{} of {model}", entry.path),
                    expected: entry.digest,
                    actual,
                    hint: String::new(),
                });
            }
            set_executable(&temp, entry.executable).await?;
            tokio::fs::rename(&temp, target)
                .await
                .map_err(|e| Error::io(target, e))
        }
        .await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        written
    }
}

async fn scan(dir: &Path) -> Result<ScannedTree> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || scan_dir(&dir))
        .await
        .map_err(|e| Error::Invalid(format!("hashing the directory failed: {e}")))?
}

/// Whether `target` already holds `entry`'s bytes (same size, same digest).
async fn already_there(target: &Path, entry: &ManifestEntry) -> bool {
    let Ok(meta) = tokio::fs::metadata(target).await else {
        return false;
    };
    if !meta.is_file() || meta.len() != entry.size {
        return false;
    }
    let target = target.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(&target).and_then(hash_reader).ok())
        .await
        .ok()
        .flatten()
        == Some(entry.digest)
}

#[cfg(unix)]
async fn set_executable(path: &Path, executable: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .await
        .map_err(|e| Error::io(path, e))
}

#[cfg(not(unix))]
async fn set_executable(_: &Path, _: bool) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanning_a_directory_gives_its_manifest() {
        let dir = std::env::temp_dir().join(format!("capstan-scan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data/deep")).unwrap();
        std::fs::write(dir.join("MLmodel"), b"flavors: {}\n").unwrap();
        std::fs::write(dir.join("data/deep/w.bin"), b"weights").unwrap();
        std::fs::write(dir.join("data/copy.bin"), b"weights").unwrap();
        let scanned = scan_dir(&dir).unwrap();
        let paths: Vec<&str> = scanned
            .manifest
            .files()
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(paths, ["MLmodel", "data/copy.bin", "data/deep/w.bin"]);
        assert_eq!(scanned.sources.len(), 2, "equal contents are one source");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/passwd", dir.join("escape")).unwrap();
            assert!(
                scan_dir(&dir).is_err(),
                "a link leaving the tree is refused"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
