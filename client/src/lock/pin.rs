//! From a ref to verified bytes in the cache, through the lockfile: what a build script's
//! `fetch`, `capstan pull` and `capstan lock update` share.
//!
//! With a lock entry, the pinned digest is fetched (by version number, checked against
//! the digest) and the registry is not asked what the ref means now; without one, or
//! when updating, the ref is resolved and the entry (re)written. Offline, nothing but the
//! lockfile and the cache is used. Blocking code over a [`RegistryReader`]; the
//! transports (blocking `ureq`, async `reqwest`) live elsewhere.

use crate::cache::{BlobCache, BlobSource, CachedBlob, Progress};
use crate::error::{Error, Result};
use crate::manifest::{Manifest, TreePath};
use crate::names::ModelName;
use crate::reference::ModelRef;
use crate::types::{ArtifactLayout, Version};

use super::{LockEntry, Lockfile};

/// A registry, as the fetch logic needs it.
pub trait RegistryReader {
    /// What `reference` names now.
    fn resolve(&mut self, reference: &ModelRef) -> Result<Version>;
    /// The artifact bytes of one version (a tree's: its manifest).
    fn artifact(&mut self, model: &ModelName, version: i64) -> Box<dyn BlobSource + '_>;
    /// One file of a tree version.
    fn file(
        &mut self,
        model: &ModelName,
        version: i64,
        file: &TreePath,
    ) -> Box<dyn BlobSource + '_>;
}

/// How [`pin`] may use the registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PinOptions {
    /// Use only the lockfile and the cache (`CAPSTAN_OFFLINE=1`).
    pub offline: bool,
    /// Re-resolve the ref even when it is locked (`CAPSTAN_UPDATE=1`).
    pub update: bool,
}

/// A ref pinned and its bytes in the cache.
#[derive(Clone, Debug)]
pub struct Pinned {
    pub entry: LockEntry,
    pub blob: CachedBlob,
    /// The lock entry before this call (`None`: the ref was not locked).
    pub previous: Option<LockEntry>,
    /// Whether the lockfile's entry for the ref changed (the caller saves the file).
    pub lock_changed: bool,
}

/// Pins `reference` in `lock` (resolving it when it has no entry, or when updating) and
/// makes sure its bytes are in the cache. The lockfile is changed in memory only; save it
/// once everything succeeded.
pub fn pin(
    source: &mut dyn RegistryReader,
    cache: &BlobCache,
    lock: &mut Lockfile,
    reference: &ModelRef,
    options: PinOptions,
    progress: &mut dyn Progress,
) -> Result<Pinned> {
    let previous = lock.get(reference).cloned();
    let entry = match &previous {
        Some(entry) if !options.update => entry.clone(),
        _ if options.offline => {
            return Err(Error::Offline(match previous {
                None => format!(
                    "{reference} has no entry in {}, and resolving it needs the registry; \
                     build once online (or run `capstan lock update {reference}`)",
                    lock.path().display()
                ),
                Some(_) => format!("re-resolving {reference} (CAPSTAN_UPDATE) needs the registry"),
            }));
        }
        _ => LockEntry::resolved(reference, &source.resolve(reference)?)?,
    };
    let blob = fetch_entry(source, cache, &entry, options.offline, progress)?;
    let lock_changed = lock.set(entry.clone());
    Ok(Pinned {
        entry,
        blob,
        previous,
        lock_changed,
    })
}

/// Makes sure the bytes a lock entry pins are in the cache, verified.
pub fn fetch_entry(
    source: &mut dyn RegistryReader,
    cache: &BlobCache,
    entry: &LockEntry,
    offline: bool,
    progress: &mut dyn Progress,
) -> Result<CachedBlob> {
    let subject = format!("{} (version {})", entry.reference, entry.version);
    let blob = if offline {
        match cache.get(&entry.digest)? {
            Some(path) => CachedBlob {
                path,
                cached: true,
                downloaded: 0,
                resumed_from: 0,
            },
            None => {
                return Err(Error::Offline(format!(
                    "{subject}, {}, is not in the cache ({} is missing); build once online \
                     or run `capstan pull {}@{}`",
                    entry.digest,
                    cache.blob_path(&entry.digest).display(),
                    entry.reference.model,
                    entry.version
                )))
            }
        }
    } else {
        let mut artifact = source.artifact(&entry.reference.model, entry.version);
        let size = (entry.layout == ArtifactLayout::Blob).then_some(entry.size);
        cache.fetch(&entry.digest, size, &subject, artifact.as_mut(), progress)?
    };
    if entry.layout == ArtifactLayout::Tree {
        fetch_tree_files(source, cache, entry, &blob, offline, progress)?;
        return Ok(blob);
    }
    let size = std::fs::metadata(&blob.path)
        .map_err(|e| Error::io(&blob.path, e))?
        .len();
    if size != entry.size {
        return Err(Error::Invalid(format!(
            "{subject}: the blob {} has {size} bytes but the lock entry says {}; fix or \
             delete the entry",
            entry.digest, entry.size
        )));
    }
    Ok(blob)
}

/// Makes sure every file of a tree entry (its manifest at `manifest`) is in the cache,
/// verified against the manifest; the files' sizes must add up to the entry's.
fn fetch_tree_files(
    source: &mut dyn RegistryReader,
    cache: &BlobCache,
    entry: &LockEntry,
    manifest: &CachedBlob,
    offline: bool,
    progress: &mut dyn Progress,
) -> Result<()> {
    let manifest = read_manifest(&manifest.path)?;
    let subject = format!("{} (version {})", entry.reference, entry.version);
    if manifest.total_size() != entry.size {
        return Err(Error::Invalid(format!(
            "{subject}: the tree's files hold {} bytes but the lock entry says {}; fix or \
             delete the entry",
            manifest.total_size(),
            entry.size
        )));
    }
    for file in manifest.files() {
        let file_subject = format!("{} of {subject}", file.path);
        if offline {
            if cache.get(&file.digest)?.is_none() {
                return Err(Error::Offline(format!(
                    "{file_subject}, {}, is not in the cache; build once online",
                    file.digest
                )));
            }
            continue;
        }
        let mut blob = source.file(&entry.reference.model, entry.version, &file.path);
        cache.fetch(
            &file.digest,
            Some(file.size),
            &file_subject,
            blob.as_mut(),
            progress,
        )?;
    }
    Ok(())
}

/// The manifest cached at `path` (already verified against its digest).
pub fn read_manifest(path: &std::path::Path) -> Result<Manifest> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Manifest::parse(&bytes).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// Re-resolves `refs` (every entry of the lockfile when empty; refs that are not locked
/// yet are added) and fetches what they now name. The lockfile is changed in memory.
pub fn update(
    source: &mut dyn RegistryReader,
    cache: &BlobCache,
    lock: &mut Lockfile,
    refs: &[ModelRef],
    progress: &mut dyn Progress,
) -> Result<Vec<Pinned>> {
    let targets: Vec<ModelRef> = if refs.is_empty() {
        lock.entries().iter().map(|e| e.reference.clone()).collect()
    } else {
        refs.to_vec()
    };
    if targets.is_empty() {
        return Err(Error::Invalid(format!(
            "{} has no entries to update; name the refs to lock (e.g. `bc@production`)",
            lock.path().display()
        )));
    }
    let options = PinOptions {
        offline: false,
        update: true,
    };
    targets
        .iter()
        .map(|reference| pin(source, cache, lock, reference, options, progress))
        .collect()
}

/// Resolves `reference` and makes sure its bytes are in the cache, without a lockfile.
pub fn pull(
    source: &mut dyn RegistryReader,
    cache: &BlobCache,
    reference: &ModelRef,
    progress: &mut dyn Progress,
) -> Result<(LockEntry, CachedBlob)> {
    let entry = LockEntry::resolved(reference, &source.resolve(reference)?)?;
    let blob = fetch_entry(source, cache, &entry, false, progress)?;
    Ok((entry, blob))
}
