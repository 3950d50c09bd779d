//! Named objects beside the blobs, and objects a job reads by URL.
//!
//! Batch jobs write their output parts, manifest and key index under
//! `batch-jobs/<job id>/` (relative to the configured prefix, like `blobs/`), and may read
//! their input from any object of the configured bucket (S3) or directory (local disk)
//! given as a URL. Keys are checked here: a URL outside the store, or one with `..` or
//! empty segments, is refused.

use std::ops::Range;

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};

use super::{ArtifactError, ArtifactStore, BlobRead, Location};

/// Part size of a file upload (S3 needs at least 5 MiB).
const FILE_PART: usize = 8 * 1024 * 1024;
/// Part size of a [`BlockingObjectWriter`]: S3's least, with one part in flight, so that a
/// writer holds at most two parts.
const WRITER_PART: usize = 5 * 1024 * 1024;

fn local_file(error: std::io::Error) -> ArtifactError {
    ArtifactError::Store(object_store::Error::Generic {
        store: "local file",
        source: Box::new(error),
    })
}

/// An object's key: relative to the registry's prefix (what the registry writes), or a
/// whole key in the bucket (an input a job names by URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectKey {
    Named(String),
    External(Path),
}

impl ObjectKey {
    /// The key as text: relative to the registry's prefix, or the whole key in the bucket.
    pub fn name(&self) -> &str {
        match self {
            ObjectKey::Named(relative) => relative,
            ObjectKey::External(path) => path.as_ref(),
        }
    }
}

impl ArtifactStore {
    fn path_of(&self, key: &ObjectKey) -> Path {
        match key {
            ObjectKey::Named(relative) => self.key(relative),
            ObjectKey::External(path) => path.clone(),
        }
    }

    /// The key of `url` in this store: `s3://<this bucket>/<key>` on S3,
    /// `file://<this directory>/<path>` on local disk.
    pub fn resolve_url(&self, url: &str) -> Result<ObjectKey, ArtifactError> {
        Ok(ObjectKey::External(self.url_path(url)?))
    }

    fn url_path(&self, url: &str) -> Result<Path, ArtifactError> {
        let outside = |reason: &str| ArtifactError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let relative = match &self.location {
            Location::S3 { bucket } => url
                .strip_prefix("s3://")
                .and_then(|rest| rest.strip_prefix(bucket.as_str()))
                .and_then(|rest| rest.strip_prefix('/'))
                .ok_or_else(|| outside(&format!("the registry reads s3://{bucket}/… only")))?,
            Location::Local { root } => url
                .strip_prefix("file://")
                .and_then(|rest| rest.strip_prefix(root.as_str()))
                .and_then(|rest| rest.strip_prefix('/'))
                .ok_or_else(|| outside(&format!("the registry reads file://{root}/… only")))?,
        };
        if relative.is_empty()
            || relative
                .split('/')
                .any(|segment| segment.is_empty() || segment == "." || segment == "..")
        {
            return Err(outside(
                "the key must not be empty or hold empty, . or .. segments",
            ));
        }
        Path::parse(relative).map_err(|e| outside(&e.to_string()))
    }

    /// The files a job's input URL names, with their sizes, in key order: the object itself,
    /// or for a URL ending in `/` every object under it (recursively) except names starting
    /// with `_` or `.` (`_SUCCESS` markers, hidden files), the way Spark reads a directory
    /// of part files. Empty when there is nothing there.
    pub async fn input_files(&self, url: &str) -> Result<Vec<(ObjectKey, u64)>, ArtifactError> {
        let Some(directory) = url.strip_suffix('/') else {
            let key = self.resolve_url(url)?;
            return Ok(self
                .object_size(&key)
                .await?
                .map(|size| vec![(key, size)])
                .unwrap_or_default());
        };
        let prefix = self.url_path(directory)?;
        let mut files = Vec::new();
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            let hidden = meta
                .location
                .filename()
                .is_none_or(|name| name.starts_with('_') || name.starts_with('.'));
            if !hidden {
                files.push((ObjectKey::External(meta.location), meta.size));
            }
        }
        files.sort_by(|(a, _), (b, _)| a.name().cmp(b.name()));
        Ok(files)
    }

    pub async fn put_object(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), ArtifactError> {
        self.store
            .put(&self.path_of(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// Uploads a local file (streamed in parts, as large uploads are), returning its
    /// sha256 and size.
    pub async fn put_file(
        &self,
        key: &ObjectKey,
        path: &std::path::Path,
    ) -> Result<(capstan_client::Digest, u64), ArtifactError> {
        use sha2::{Digest as _, Sha256};
        use tokio::io::AsyncReadExt;
        let mut file = tokio::fs::File::open(path).await.map_err(local_file)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let upload = self.store.put_multipart(&self.path_of(key)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, FILE_PART);
        let mut buffer = vec![0u8; FILE_PART];
        let streamed = async {
            loop {
                let read = file.read(&mut buffer).await.map_err(local_file)?;
                if read == 0 {
                    break;
                }
                hasher.update(&buffer[..read]);
                size += read as u64;
                writer.wait_for_capacity(2).await?;
                writer.write(&buffer[..read]);
            }
            Ok::<_, ArtifactError>(())
        }
        .await;
        match streamed {
            Ok(()) => {
                writer.finish().await?;
                Ok((
                    capstan_client::Digest::from_bytes(hasher.finalize().into()),
                    size,
                ))
            }
            Err(error) => {
                let _ = writer.abort().await;
                Err(error)
            }
        }
    }

    /// The object's size; `None` when it does not exist.
    pub async fn object_size(&self, key: &ObjectKey) -> Result<Option<u64>, ArtifactError> {
        match self.store.head(&self.path_of(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the byte `range` of an object into memory.
    pub async fn read_object_range(
        &self,
        key: &ObjectKey,
        range: Range<u64>,
    ) -> Result<Bytes, ArtifactError> {
        Ok(self.store.get_range(&self.path_of(key), range).await?)
    }

    /// Reads the byte `range` of an object into `buffer` (cleared first; its memory is
    /// reused, which keeps a batch worker's memory flat from chunk to chunk). A local file
    /// is read straight into it.
    pub async fn read_object_range_into(
        &self,
        key: &ObjectKey,
        range: Range<u64>,
        mut buffer: Vec<u8>,
    ) -> Result<Vec<u8>, ArtifactError> {
        use object_store::{GetOptions, GetResultPayload};
        let wanted = (range.end - range.start) as usize;
        buffer.clear();
        buffer.reserve(wanted);
        let options = GetOptions {
            range: Some(range.into()),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&self.path_of(key), options).await?;
        let read = result.range.clone();
        let buffer = match result.payload {
            GetResultPayload::File(mut file, _) => tokio::task::spawn_blocking(move || {
                use std::io::{Read, Seek, SeekFrom};
                file.seek(SeekFrom::Start(read.start))?;
                file.take(read.end - read.start).read_to_end(&mut buffer)?;
                Ok::<_, std::io::Error>(buffer)
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|read| read)
            .map_err(local_file)?,
            GetResultPayload::Stream(mut stream) => {
                while let Some(bytes) = stream.next().await {
                    buffer.extend_from_slice(&bytes?);
                }
                buffer
            }
        };
        if buffer.len() != wanted {
            return Err(local_file(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("read {} bytes of a {wanted}-byte range", buffer.len()),
            )));
        }
        Ok(buffer)
    }

    /// Streams an object, or the byte `range` of it.
    pub async fn stream_object(
        &self,
        key: &ObjectKey,
        range: Option<Range<u64>>,
    ) -> Result<BlobRead, ArtifactError> {
        self.get_path(&self.path_of(key), range).await
    }

    /// Deletes every object under `prefix` (relative to the registry's prefix).
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, ArtifactError> {
        let prefix = self.key(prefix);
        let mut listing = self.store.list(Some(&prefix));
        let mut deleted = 0;
        while let Some(meta) = listing.next().await {
            match self.store.delete(&meta?.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(deleted)
    }

    pub async fn delete_object(&self, key: &ObjectKey) -> Result<(), ArtifactError> {
        match self.store.delete(&self.path_of(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Reads an object as a [`std::io::Read`] from a blocking thread, a window at a time
/// (one ranged read each), for engines that take readers: the key-sidecar merge reads
/// every chunk's sidecar at once this way, with no local copies.
pub struct BlockingObjectReader {
    store: ArtifactStore,
    key: ObjectKey,
    runtime: tokio::runtime::Handle,
    at: u64,
    size: u64,
    window: u64,
    buffer: Bytes,
}

impl ArtifactStore {
    /// A reader of the `size` bytes of `key`, fetching `window` bytes per read on
    /// `runtime`. Use it only from a blocking thread (`spawn_blocking`).
    pub fn blocking_reader(
        &self,
        key: ObjectKey,
        size: u64,
        window: u64,
        runtime: tokio::runtime::Handle,
    ) -> BlockingObjectReader {
        BlockingObjectReader {
            store: self.clone(),
            key,
            runtime,
            at: 0,
            size,
            window: window.max(1),
            buffer: Bytes::new(),
        }
    }
}

impl std::io::Read for BlockingObjectReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buffer.is_empty() {
            if self.at >= self.size || out.is_empty() {
                return Ok(0);
            }
            let end = (self.at + self.window).min(self.size);
            let read = self
                .runtime
                .block_on(self.store.read_object_range(&self.key, self.at..end));
            self.buffer = read.map_err(std::io::Error::other)?;
            if self.buffer.is_empty() {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.at += self.buffer.len() as u64;
        }
        let n = out.len().min(self.buffer.len());
        out[..n].copy_from_slice(&self.buffer[..n]);
        bytes::Buf::advance(&mut self.buffer, n);
        Ok(n)
    }
}

/// Writes an object as a [`std::io::Write`] from a blocking thread, uploading it in
/// parts as it goes (no local file), for engines that take writers: the key-sidecar merge
/// writes the key index this way. Call [`BlockingObjectWriter::finish`] to complete the
/// object; dropped unfinished, nothing is written.
pub struct BlockingObjectWriter {
    writer: WriteMultipart,
    runtime: tokio::runtime::Handle,
}

impl ArtifactStore {
    /// A writer of `key`; use it only from a blocking thread (`spawn_blocking`).
    pub async fn blocking_writer(
        &self,
        key: &ObjectKey,
        runtime: tokio::runtime::Handle,
    ) -> Result<BlockingObjectWriter, ArtifactError> {
        let upload = self.store.put_multipart(&self.path_of(key)).await?;
        Ok(BlockingObjectWriter {
            writer: WriteMultipart::new_with_chunk_size(upload, WRITER_PART),
            runtime,
        })
    }
}

impl BlockingObjectWriter {
    /// Uploads what is left and completes the object.
    pub fn finish(self) -> Result<(), ArtifactError> {
        self.runtime.block_on(self.writer.finish())?;
        Ok(())
    }

    /// Gives the upload up (its parts are deleted).
    pub fn abort(self) {
        let _ = self.runtime.block_on(self.writer.abort());
    }
}

impl std::io::Write for BlockingObjectWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.runtime
            .block_on(self.writer.wait_for_capacity(1))
            .map_err(std::io::Error::other)?;
        self.writer.write(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
