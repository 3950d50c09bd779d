//! The content-addressed blob cache shared by every build and every `capstan pull` on a
//! machine: `<root>/blobs/sha256/<hex>`, where the name is the sha256 of the bytes.
//!
//! Every use verifies the bytes again; a blob that does not match its name is an error,
//! never silently used. Downloads go to a temporary file under `<root>/tmp`, are
//! verified, then renamed into place, so concurrent builds never see a half-written blob.
//! A download that breaks off is resumed with `Range` from where it stopped, in the same
//! process (after a backoff) or by the next one (the partial file is kept). This module
//! knows nothing of HTTP: bytes come from a [`BlobSource`].

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

use crate::config::{env, non_empty_var};
use crate::digest::Digest;
use crate::error::{Error, Result};

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

    fn temp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Takes over an interrupted download of `digest` (a released `<hex>.partial`, or a
    /// `<hex>.*.part` abandoned by a process that is gone) by renaming it to a name of our
    /// own, or starts an empty one. The rename is atomic, so two processes never write to
    /// the same file.
    fn claim_partial(&self, digest: &Digest) -> Result<Partial> {
        let temp_dir = self.temp_dir();
        fs::create_dir_all(&temp_dir).map_err(|e| Error::io(&temp_dir, e))?;
        let hex = digest.hex();
        let own = temp_dir.join(format!("{hex}.{}.part", unique_suffix()));
        let mut candidates = vec![temp_dir.join(format!("{hex}.partial"))];
        if let Ok(entries) = fs::read_dir(&temp_dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let abandoned = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|modified| SystemTime::now().duration_since(modified).ok())
                    .is_some_and(|age| age > ABANDONED_AFTER);
                if name.starts_with(&format!("{hex}.")) && name.ends_with(".part") && abandoned {
                    candidates.push(entry.path());
                }
            }
        }
        for candidate in candidates {
            if fs::rename(&candidate, &own).is_ok() {
                break;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&own)
            .map_err(|e| Error::io(&own, e))?;
        let len = file.metadata().map_err(|e| Error::io(&own, e))?.len();
        Ok(Partial {
            path: own,
            file,
            len,
        })
    }

    /// Leaves an unfinished download where the next attempt will resume it.
    fn release_partial(&self, part: Partial, digest: &Digest) {
        let Partial { path, file, len } = part;
        drop(file);
        if len == 0 {
            let _ = fs::remove_file(&path);
        } else {
            let _ = fs::rename(
                &path,
                self.temp_dir().join(format!("{}.partial", digest.hex())),
            );
        }
    }

    /// Moves a verified download into place. Another process may have put the same blob
    /// there first; that is fine, the bytes are the same.
    fn commit(&self, part: Partial, digest: &Digest) -> Result<()> {
        part.file.sync_all().map_err(|e| Error::io(&part.path, e))?;
        drop(part.file);
        let dest = self.blob_path(digest);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        match fs::rename(&part.path, &dest) {
            Ok(()) => Ok(()),
            Err(_) if self.get(digest)?.is_some() => {
                let _ = fs::remove_file(&part.path);
                Ok(())
            }
            Err(e) => Err(Error::io(&dest, e)),
        }
    }
}

/// A download in progress: our own temporary file, opened for appending.
struct Partial {
    path: PathBuf,
    file: File,
    len: u64,
}

impl Partial {
    fn truncate(&mut self) -> Result<()> {
        self.file.set_len(0).map_err(|e| Error::io(&self.path, e))?;
        self.len = 0;
        Ok(())
    }

    fn hash(&mut self) -> Result<Digest> {
        self.file.flush().map_err(|e| Error::io(&self.path, e))?;
        let file = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        hash_reader(file).map_err(|e| Error::io(&self.path, e))
    }
}

/// One download of one blob into a [`Partial`], resumed after transient failures.
struct Transfer<'a> {
    digest: &'a Digest,
    size: Option<u64>,
    subject: &'a str,
}

impl Transfer<'_> {
    /// Downloads the rest of the blob; returns the bytes received.
    fn run(
        &self,
        part: &mut Partial,
        source: &mut dyn BlobSource,
        progress: &mut dyn Progress,
    ) -> Result<u64> {
        let mut received = 0;
        let mut attempt = 0;
        loop {
            let outcome = self.once(part, source, progress, &mut received);
            progress.finish();
            match outcome {
                Ok(()) => return Ok(received),
                Err(error) if error.is_transient() => match source.retry_after(attempt) {
                    Some(delay) => {
                        attempt += 1;
                        std::thread::sleep(delay);
                    }
                    None => return Err(error),
                },
                Err(error) => return Err(error),
            }
        }
    }

    fn once(
        &self,
        part: &mut Partial,
        source: &mut dyn BlobSource,
        progress: &mut dyn Progress,
        received: &mut u64,
    ) -> Result<()> {
        if let Some(size) = self.size {
            if part.len > size {
                part.truncate()?;
            }
            if part.len == size && size > 0 {
                return Ok(());
            }
        }
        let stream = source.open(part.len)?;
        if let Some(etag) = stream.etag {
            if etag != *self.digest {
                return Err(Error::Digest {
                    subject: format!("the registry's artifact for {}", self.subject),
                    expected: *self.digest,
                    actual: etag,
                    hint: "; the registry now serves different bytes than the pinned digest".into(),
                });
            }
        }
        if stream.start != part.len {
            if stream.start != 0 {
                return Err(Error::Protocol {
                    url: self.subject.to_owned(),
                    message: format!(
                        "asked for bytes from {}, got bytes from {}",
                        part.len, stream.start
                    ),
                });
            }
            part.truncate()?;
        }
        let total = stream.total.or(self.size);
        progress.start(self.subject, total, part.len);
        let mut body = stream.body;
        let mut buffer = vec![0; BUFFER];
        loop {
            let n = match body.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Transport {
                        url: self.subject.to_owned(),
                        message: format!("the download broke off after {} bytes: {e}", part.len),
                    })
                }
            };
            part.file
                .write_all(&buffer[..n])
                .map_err(|e| Error::io(&part.path, e))?;
            part.len += n as u64;
            *received += n as u64;
            progress.advance(n as u64);
        }
        match total {
            Some(total) if part.len < total => Err(Error::Transport {
                url: self.subject.to_owned(),
                message: format!("the connection closed after {} of {total} bytes", part.len),
            }),
            _ => Ok(()),
        }
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
#[path = "cache_tests.rs"]
mod tests;
