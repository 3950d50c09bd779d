//! `Download`: a streamed `GET` of bytes the registry names by digest (artifacts, dataset
//! contents, batch outputs), read chunk by chunk, or copied into a writer or a file while
//! being hashed, so what arrives is checked against the `ETag` without ever holding the
//! whole body in memory. It knows nothing of which endpoint it came from.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use reqwest::{Method, Response};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::api;
use super::client::transport_error;
use super::Client;
use crate::cache::Progress;
use crate::digest::Digest;
use crate::error::{Error, Result};

/// A download in progress.
#[derive(Debug)]
pub struct Download {
    /// 200 (whole), 206 (from `start`) or 304 (the `If-None-Match` digest is current).
    pub status: u16,
    /// The version the ref resolved to (`X-Capstan-Model-Version`), for artifacts.
    pub version: Option<i64>,
    /// The digest of the whole body (the `ETag`).
    pub etag: Option<Digest>,
    /// The offset of the first byte of the body.
    pub start: u64,
    /// The full size, when the server said.
    pub total: Option<u64>,
    url: String,
    response: Response,
}

/// What [`Download::copy_to`] and [`Download::save_to`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copied {
    pub bytes: u64,
    /// The sha256 of the bytes written.
    pub digest: Digest,
}

impl Download {
    /// Reads the headers of a successful answer; the body is left to read.
    pub(crate) fn from_response(response: Response) -> Result<Self> {
        let url = response.url().to_string();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = response.status().as_u16();
        let etag = header("etag").as_deref().and_then(api::etag_digest);
        let version = header(api::VERSION_HEADER).and_then(|v| v.parse().ok());
        let (start, total) = match status {
            206 => header("content-range")
                .as_deref()
                .and_then(api::content_range)
                .ok_or_else(|| Error::Protocol {
                    url: url.clone(),
                    message: "a 206 answer without a valid Content-Range".into(),
                })?,
            _ => (0, response.content_length()),
        };
        Ok(Download {
            status,
            version,
            etag,
            start,
            total,
            url,
            response,
        })
    }

    /// The next bytes of the body; `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        self.response
            .chunk()
            .await
            .map_err(|e| transport_error(&self.url, &e))
    }

    /// Whether the server answered 304: the digest given as `if_none_match` is current.
    pub fn not_modified(&self) -> bool {
        self.status == 304
    }

    /// Streams the rest of the body into `sink`, reporting to `progress` under `label`.
    /// A whole body (status 200) whose server named its digest is checked against it at
    /// the end: [`Error::Digest`] when the bytes differ, so a caller that wrote them to a
    /// file knows to throw it away. `sink_name` names the sink in write errors.
    pub async fn copy_to<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        sink: &mut W,
        sink_name: &Path,
        label: &str,
        progress: &mut dyn Progress,
    ) -> Result<Copied> {
        let write_error = |e| Error::Io {
            path: sink_name.to_owned(),
            source: e,
        };
        progress.start(label, self.total, 0);
        let mut hasher = Sha256::new();
        let mut bytes = 0;
        while let Some(chunk) = self.chunk().await? {
            hasher.update(&chunk);
            sink.write_all(&chunk).await.map_err(write_error)?;
            bytes += chunk.len() as u64;
            progress.advance(chunk.len() as u64);
        }
        sink.flush().await.map_err(write_error)?;
        progress.finish();
        let digest = Digest::from_bytes(hasher.finalize().into());
        match self.etag {
            Some(expected) if self.status == 200 && expected != digest => Err(Error::Digest {
                subject: format!("the body of {}", self.url),
                expected,
                actual: digest,
                hint: "; the download was incomplete or altered on the way, try again".into(),
            }),
            _ => Ok(Copied { bytes, digest }),
        }
    }

    /// Writes the body to `path`: into a temporary file beside it first, renamed into
    /// place only once all bytes arrived and matched the `ETag`, so `path` never holds a
    /// partial or wrong file.
    pub async fn save_to(mut self, path: &Path, mut progress: Box<dyn Progress>) -> Result<Copied> {
        let partial = partial_path(path);
        let label = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| Error::io(&partial, e))?;
        let copied = self
            .copy_to(&mut file, &partial, &label, progress.as_mut())
            .await;
        drop(file);
        let renamed = match copied {
            Ok(copied) => tokio::fs::rename(&partial, path)
                .await
                .map(|()| copied)
                .map_err(|e| Error::io(path, e)),
            Err(error) => Err(error),
        };
        if renamed.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        renamed
    }
}

/// `dir/.name.part`: hidden, beside the target so the rename stays on one file system.
fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "download".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.part"))
}

impl Client {
    /// `GET path` as a [`Download`]; sent again after a connection error or a 5xx answer
    /// (no byte of the body has been read by then).
    pub(crate) async fn get_download(&self, path: &str) -> Result<Download> {
        let response = self.send(true, || self.request(Method::GET, path)).await?;
        Download::from_response(response)
    }
}
