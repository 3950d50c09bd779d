//! The async client as a [`RegistryReader`] for the blocking fetch logic (cache + lockfile),
//! so `capstan pull` and `capstan lock update` run exactly the code `build.rs` runs, with
//! reqwest instead of ureq underneath. The blocking logic runs on tokio's blocking pool
//! and waits on the async client with `Handle::block_on`.

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use tokio::runtime::Handle;

use super::Client;
use super::Download;
use crate::cache::{BlobCache, BlobSource, BlobStream, CachedBlob, Progress};
use crate::error::{Error, Result};
use crate::lock::pin::{self, PinOptions, Pinned, RegistryReader};
use crate::lock::{LockEntry, Lockfile};
use crate::manifest::TreePath;
use crate::names::ModelName;
use crate::reference::{ModelRef, VersionRef};
use crate::types::Version;

impl Client {
    /// Resolves `reference` and makes sure its artifact is in `cache` (verified, resumed
    /// if an earlier download broke off); no lockfile involved.
    pub async fn pull(
        &self,
        reference: &ModelRef,
        cache: &BlobCache,
        mut progress: Box<dyn Progress>,
    ) -> Result<(LockEntry, CachedBlob)> {
        let reference = reference.clone();
        self.blocking(cache, move |source, cache| {
            pin::pull(source, cache, &reference, progress.as_mut())
        })
        .await
    }

    /// Pins `reference` in `lock` like a build does (see [`pin::pin`]); the caller saves
    /// the returned lockfile.
    pub async fn pin(
        &self,
        mut lock: Lockfile,
        reference: &ModelRef,
        options: PinOptions,
        cache: &BlobCache,
        mut progress: Box<dyn Progress>,
    ) -> Result<(Lockfile, Pinned)> {
        let reference = reference.clone();
        self.blocking(cache, move |source, cache| {
            let pinned = pin::pin(
                source,
                cache,
                &mut lock,
                &reference,
                options,
                progress.as_mut(),
            )?;
            Ok((lock, pinned))
        })
        .await
    }

    /// Re-resolves `refs` in `lock` (all entries when empty) and fetches what they name
    /// now (see [`pin::update`]); the caller saves the returned lockfile.
    pub async fn update_lock(
        &self,
        mut lock: Lockfile,
        refs: Vec<ModelRef>,
        cache: &BlobCache,
        mut progress: Box<dyn Progress>,
    ) -> Result<(Lockfile, Vec<Pinned>)> {
        self.blocking(cache, move |source, cache| {
            let pinned = pin::update(source, cache, &mut lock, &refs, progress.as_mut())?;
            Ok((lock, pinned))
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        cache: &BlobCache,
        work: impl FnOnce(&mut dyn RegistryReader, &BlobCache) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let mut bridge = Bridge {
            client: self.clone(),
            handle: Handle::current(),
        };
        let cache = cache.clone();
        tokio::task::spawn_blocking(move || work(&mut bridge, &cache))
            .await
            .map_err(|e| Error::Invalid(format!("the fetch task failed: {e}")))?
    }
}

struct Bridge {
    client: Client,
    handle: Handle,
}

impl RegistryReader for Bridge {
    fn resolve(&mut self, reference: &ModelRef) -> Result<Version> {
        self.handle.block_on(
            self.client
                .get_version(&reference.model, &reference.version),
        )
    }

    fn artifact(&mut self, model: &ModelName, version: i64) -> Box<dyn BlobSource + '_> {
        Box::new(Artifact {
            bridge: self,
            model: model.clone(),
            version: VersionRef::Number(version),
            file: None,
        })
    }

    fn file(
        &mut self,
        model: &ModelName,
        version: i64,
        file: &TreePath,
    ) -> Box<dyn BlobSource + '_> {
        Box::new(Artifact {
            bridge: self,
            model: model.clone(),
            version: VersionRef::Number(version),
            file: Some(file.clone()),
        })
    }
}

struct Artifact<'a> {
    bridge: &'a Bridge,
    model: ModelName,
    version: VersionRef,
    /// One file of a tree instead of the artifact.
    file: Option<TreePath>,
}

impl BlobSource for Artifact<'_> {
    fn open(&mut self, offset: u64) -> Result<BlobStream> {
        let client = &self.bridge.client;
        let download = self.bridge.handle.block_on(async {
            match &self.file {
                None => {
                    client
                        .download(&self.model, &self.version, offset, None)
                        .await
                }
                Some(file) => {
                    client
                        .download_file(&self.model, &self.version, file, offset, None)
                        .await
                }
            }
        })?;
        Ok(BlobStream {
            start: download.start,
            total: download.total,
            etag: download.etag,
            body: Box::new(ChunkReader {
                download,
                handle: self.bridge.handle.clone(),
                pending: Bytes::new(),
            }),
        })
    }

    fn retry_after(&self, attempt: u32) -> Option<Duration> {
        let config = self.bridge.client.config();
        (attempt < config.retries).then(|| config.backoff_delay(attempt))
    }
}

/// A download's body as `std::io::Read`, waiting on each chunk.
struct ChunkReader {
    download: Download,
    handle: Handle,
    pending: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.is_empty() {
            match self.handle.block_on(self.download.chunk()) {
                Ok(Some(chunk)) => self.pending = chunk,
                Ok(None) => return Ok(0),
                Err(error) => return Err(std::io::Error::other(error.to_string())),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending.split_to(n));
        Ok(n)
    }
}
