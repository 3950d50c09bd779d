//! The content-addressed blob cache shared by every build and every `capstan pull` on a
//! machine: `<root>/blobs/sha256/<hex>`, where the name is the sha256 of the bytes.
//!
//! Every use verifies the bytes again; a blob that does not match its name is an error,
//! never silently used. Downloads go to a temporary file under `<root>/tmp`, are
//! verified, then renamed into place, so concurrent builds never see a half-written blob.
//! A download that breaks off is resumed with `Range` from where it stopped, in the same
//! process (after a backoff) or by the next one (the partial file is kept). This module
//! knows nothing of HTTP: bytes come from a [`BlobSource`].

mod download;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

use crate::config::{env, non_empty_var};
use crate::digest::Digest;
use crate::error::{Error, Result};

use download::Transfer;

/// A partial download untouched for this long belongs to a process that is gone.
const ABANDONED_AFTER: Duration = Duration::from_secs(120);
const BUFFER: usize = 64 * 1024;

/// Bytes of an artifact, from some offset on.
pub struct BlobStream {
    /// The offset the body starts at: the requested one, or 0 when the server ignored
    /// the range.
    pub start: u64,
    /// The artifact's full size, when the server said.
    pub total: Option<u64>,
    /// The digest the server claims for the bytes (its `ETag`), when it said.
    pub etag: Option<Digest>,
    pub body: Box<dyn Read + Send>,
}

/// Where a blob's bytes come from: one artifact of one registry.
pub trait BlobSource {
    /// Opens the bytes from `offset` on (a `Range` request when `offset > 0`).
    fn open(&mut self, offset: u64) -> Result<BlobStream>;
    /// How long to wait before resuming after transient failure number `attempt`
    /// (0-based), or `None` to give up.
    fn retry_after(&self, attempt: u32) -> Option<Duration>;
}

/// Told how a transfer advances; the CLI draws a progress bar with it.
pub trait Progress: Send {
    /// A transfer of `label` starts (again), `done` of `total` bytes already there.
    fn start(&mut self, _label: &str, _total: Option<u64>, _done: u64) {}
    fn advance(&mut self, _bytes: u64) {}
    fn finish(&mut self) {}
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}

/// A blob in the cache, and how it got there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedBlob {
    pub path: PathBuf,
    /// It was already in the cache: nothing was downloaded.
    pub cached: bool,
    /// Bytes received from the registry by this call.
    pub downloaded: u64,
    /// Bytes of an earlier, interrupted download that this call resumed from.
    pub resumed_from: u64,
}

/// The cache rooted at one directory. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobCache {
    root: PathBuf,
}

impl BlobCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        BlobCache { root: root.into() }
    }

    /// `$CAPSTAN_CACHE_DIR`, else the user's cache directory + `capstan`.
    pub fn from_env() -> Result<Self> {
        if let Some(dir) = non_empty_var(env::CACHE_DIR) {
            return Ok(BlobCache::new(dir));
        }
        default_dir().map(BlobCache::new).ok_or_else(|| {
            Error::Invalid(format!(
                "no cache directory: set {} (HOME is not set)",
                env::CACHE_DIR
            ))
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob named `digest` lives (whether or not it is there).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    /// The blob named `digest`, verified: `None` when it is not cached, an error when its
    /// bytes do not match.
    pub fn get(&self, digest: &Digest) -> Result<Option<PathBuf>> {
        let path = self.blob_path(digest);
        let actual = match File::open(&path) {
            Ok(file) => hash_reader(file).map_err(|e| Error::io(&path, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        if actual != *digest {
            return Err(tampered(&path, digest, actual));
        }
        Ok(Some(path))
    }

    /// Copies the blob named `digest` to `dest` (temp file, then rename), verifying the
    /// bytes on the way; returns the size.
    pub fn copy_to(&self, digest: &Digest, dest: &Path) -> Result<u64> {
        let source = self.blob_path(digest);
        let mut input = File::open(&source).map_err(|e| Error::io(&source, e))?;
        let temp = sibling_temp(dest);
        let mut output = File::create(&temp).map_err(|e| Error::io(&temp, e))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; BUFFER];
        let mut size = 0u64;
        loop {
            let n = input.read(&mut buffer).map_err(|e| Error::io(&source, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            output
                .write_all(&buffer[..n])
                .map_err(|e| Error::io(&temp, e))?;
            size += n as u64;
        }
        drop(output);
        let actual = Digest::from_bytes(hasher.finalize().into());
        if actual != *digest {
            let _ = fs::remove_file(&temp);
            return Err(tampered(&source, digest, actual));
        }
        fs::rename(&temp, dest).map_err(|e| Error::io(dest, e))?;
        Ok(size)
    }

    /// Makes sure the blob named `digest` is cached, downloading it from `source` when it
    /// is not (resuming an interrupted download), and returns its verified path.
    /// `subject` names the artifact in messages (`bc@production (version 3)`).
    pub fn fetch(
        &self,
        digest: &Digest,
        size: Option<u64>,
        subject: &str,
        source: &mut dyn BlobSource,
        progress: &mut dyn Progress,
    ) -> Result<CachedBlob> {
        if let Some(path) = self.get(digest)? {
            return Ok(CachedBlob {
                path,
                cached: true,
                downloaded: 0,
                resumed_from: 0,
            });
        }
        let mut part = self.claim_partial(digest)?;
        let resumed_from = part.len;
        let mut downloaded = 0;
        let mut restarted = false;
        loop {
            let transfer = Transfer {
                digest,
                size,
                subject,
            };
            match transfer.run(&mut part, source, progress) {
                Ok(received) => downloaded += received,
                Err(error) => {
                    self.release_partial(part, digest);
                    return Err(error);
                }
            }
            let actual = part.hash()?;
            if actual == *digest {
                break;
            }
            if resumed_from > 0 && !restarted {
                // The bytes kept from an earlier attempt may be what is wrong: start over.
                part.truncate()?;
                restarted = true;
                continue;
            }
            let _ = fs::remove_file(&part.path);
            return Err(Error::Digest {
                subject: format!("the artifact the registry sent for {subject}"),
                expected: *digest,
                actual,
                hint: "; refusing to use it".into(),
            });
        }
        self.commit(part, digest)?;
        Ok(CachedBlob {
            path: self.blob_path(digest),
            cached: false,
            downloaded,
            resumed_from: if restarted { 0 } else { resumed_from },
        })
    }
}

fn tampered(path: &Path, expected: &Digest, actual: Digest) -> Error {
    Error::Digest {
        subject: format!("cached blob {}", path.display()),
        expected: *expected,
        actual,
        hint: "; the cache was corrupted or tampered with: delete the file to download it again"
            .into(),
    }
}

/// The sha256 of everything `reader` yields.
pub fn hash_reader(mut reader: impl Read) -> std::io::Result<Digest> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; BUFFER];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Digest::from_bytes(hasher.finalize().into()))
}

/// A name for a temporary file beside `path`, unique to this process and moment.
pub(crate) fn sibling_temp(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", unique_suffix()))
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos}-{count}", std::process::id())
}

/// The user's cache directory + `capstan`: `$XDG_CACHE_HOME` or `~/.cache` on Linux,
/// `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows.
pub fn default_dir() -> Option<PathBuf> {
    let var = |name: &str| non_empty_var(name).map(PathBuf::from);
    let base = if cfg!(windows) {
        var("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        var("HOME").map(|home| home.join("Library").join("Caches"))
    } else {
        var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|home| home.join(".cache")))
    };
    base.map(|dir| dir.join("capstan"))
}

#[cfg(test)]
mod tests;
