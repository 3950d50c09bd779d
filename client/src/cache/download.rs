//! Downloading one blob into the cache: claiming (or resuming) a partial file under
//! `<root>/tmp`, the transfer with `Range` resumption after transient failures, and the
//! rename into place once verified.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use super::{hash_reader, unique_suffix, BlobCache, BlobSource, Progress, ABANDONED_AFTER, BUFFER};
use crate::digest::Digest;
use crate::error::{Error, Result};

impl BlobCache {
    pub(super) fn temp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Takes over an interrupted download of `digest` (a released `<hex>.partial`, or a
    /// `<hex>.*.part` abandoned by a process that is gone) by renaming it to a name of our
    /// own, or starts an empty one. The rename is atomic, so two processes never write to
    /// the same file.
    pub(super) fn claim_partial(&self, digest: &Digest) -> Result<Partial> {
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
    pub(super) fn release_partial(&self, part: Partial, digest: &Digest) {
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
    pub(super) fn commit(&self, part: Partial, digest: &Digest) -> Result<()> {
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
pub(super) struct Partial {
    pub(super) path: PathBuf,
    file: File,
    pub(super) len: u64,
}

impl Partial {
    pub(super) fn truncate(&mut self) -> Result<()> {
        self.file.set_len(0).map_err(|e| Error::io(&self.path, e))?;
        self.len = 0;
        Ok(())
    }

    pub(super) fn hash(&mut self) -> Result<Digest> {
        self.file.flush().map_err(|e| Error::io(&self.path, e))?;
        let file = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        hash_reader(file).map_err(|e| Error::io(&self.path, e))
    }
}

/// One download of one blob into a [`Partial`], resumed after transient failures.
pub(super) struct Transfer<'a> {
    pub(super) digest: &'a Digest,
    pub(super) size: Option<u64>,
    pub(super) subject: &'a str,
}

impl Transfer<'_> {
    /// Downloads the rest of the blob; returns the bytes received.
    pub(super) fn run(
        &self,
        part: &mut Partial,
        source: &mut dyn BlobSource,
        progress: &mut dyn Progress,
    ) -> Result<u64> {
        let mut received = 0;
        let mut attempt = 0;
        loop {
            let outcome = self.attempt_download(part, source, progress, &mut received);
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

    /// One attempt: asks `source` for the bytes after those `part` holds and appends them.
    fn attempt_download(
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
