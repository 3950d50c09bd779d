//! Versions: list, show, archive, and the two ways to upload — one multipart request
//! (metadata + artifact, `ready` or nothing) or two steps (a `pending` version, then its
//! bytes). Files are streamed, never read into memory, and hashed first so the server
//! verifies what it receives.

use std::path::PathBuf;

use reqwest::multipart::{Form, Part};
use reqwest::{Body, Method};
use tokio::io::AsyncReadExt;

use super::api::{self, VersionQuery};
use super::client::{checked, decode, transport_error};
use super::Client;
use crate::cache::{hash_reader, Progress};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::names::ModelName;
use crate::reference::VersionRef;
use crate::types::{NewVersion, RollbackRequest, Version, VersionPage};

const CHUNK: usize = 64 * 1024;

/// The artifact bytes of an upload.
#[derive(Clone, Debug)]
pub enum Upload {
    /// Bytes in memory (a model just trained).
    Bytes(Vec<u8>),
    /// A file, streamed.
    File(PathBuf),
}

impl Upload {
    /// The sha256 and size of the bytes (reads a file once).
    pub async fn digest(&self) -> Result<(Digest, u64)> {
        match self {
            Upload::Bytes(bytes) => Ok((Digest::of(bytes), bytes.len() as u64)),
            Upload::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
                    let size = file.metadata().map_err(|e| Error::io(&path, e))?.len();
                    let digest = hash_reader(file).map_err(|e| Error::io(&path, e))?;
                    Ok((digest, size))
                })
                .await
                .map_err(|e| Error::Invalid(format!("hashing the artifact failed: {e}")))?
            }
        }
    }

    fn file_name(&self) -> String {
        match self {
            Upload::File(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "artifact".into()),
            Upload::Bytes(_) => "artifact".into(),
        }
    }

    /// The bytes as a request body of `size` bytes, reporting to `progress` as they go.
    pub(super) async fn into_body(
        self,
        size: u64,
        mut progress: Box<dyn Progress>,
    ) -> Result<Body> {
        let label = self.file_name();
        match self {
            Upload::Bytes(bytes) => Ok(Body::from(bytes)),
            Upload::File(path) => {
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| Error::io(&path, e))?;
                progress.start(&label, Some(size), 0);
                // The bar is finished at the last byte, not at end of file: with a known
                // length the HTTP client stops polling once `size` bytes are sent.
                let chunks = futures::stream::try_unfold(
                    (file, progress, 0u64),
                    move |(mut file, mut progress, mut sent)| async move {
                        let mut buffer = vec![0; CHUNK];
                        let n = file.read(&mut buffer).await?;
                        if n == 0 {
                            progress.finish();
                            return Ok::<_, std::io::Error>(None);
                        }
                        buffer.truncate(n);
                        sent += n as u64;
                        progress.advance(n as u64);
                        if sent >= size {
                            progress.finish();
                        }
                        Ok(Some((buffer, (file, progress, sent))))
                    },
                );
                Ok(Body::wrap_stream(chunks))
            }
        }
    }
}

impl Client {
    /// One page of a model's versions, newest first.
    pub async fn list_versions(
        &self,
        name: &ModelName,
        query: &VersionQuery,
    ) -> Result<VersionPage> {
        self.get_json(&query.path(name)).await
    }

    /// A model's versions, newest first (following page tokens), at most `max`.
    pub async fn list_all_versions(&self, name: &ModelName, max: usize) -> Result<Vec<Version>> {
        let mut query = VersionQuery::default();
        let mut versions = Vec::new();
        loop {
            let page = self.list_versions(name, &query).await?;
            versions.extend(page.versions);
            match page.next_page_token {
                Some(token) if versions.len() < max => query.page_token = Some(token),
                _ => break,
            }
        }
        versions.truncate(max);
        Ok(versions)
    }

    /// The version a ref names now.
    pub async fn get_version(&self, name: &ModelName, version: &VersionRef) -> Result<Version> {
        self.get_json(&api::version(name, version)).await
    }

    /// Uploads a new version in one multipart request; it comes back `ready`. The
    /// artifact's sha256 is computed first and declared in the metadata (unless `meta`
    /// declares one), so the server refuses bytes that changed on the way.
    pub async fn upload_version(
        &self,
        name: &ModelName,
        mut meta: NewVersion,
        upload: Upload,
        progress: Box<dyn Progress>,
    ) -> Result<Version> {
        let (digest, size) = upload.digest().await?;
        meta.sha256.get_or_insert(digest);
        let metadata = serde_json::to_string(&meta)
            .map_err(|e| Error::Invalid(format!("cannot encode the metadata: {e}")))?;
        let file_name = upload.file_name();
        let body = upload.into_body(size, progress).await?;
        let metadata = Part::text(metadata)
            .mime_str("application/json")
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let artifact = Part::stream_with_length(body, size)
            .file_name(file_name)
            .mime_str("application/octet-stream")
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let form = Form::new()
            .part("metadata", metadata)
            .part("artifact", artifact);
        let path = api::versions(name);
        let response = self
            .request(Method::POST, &path)
            .multipart(form)
            .send()
            .await
            .map_err(|e| transport_error(&self.config().endpoint(&path), &e))?;
        decode(checked(response).await?).await
    }

    /// Step one of a two-step upload: a `pending` version with an `upload_url`.
    pub async fn create_pending_version(
        &self,
        name: &ModelName,
        meta: &NewVersion,
    ) -> Result<Version> {
        self.send_json(Method::POST, &api::versions(name), meta)
            .await
    }

    /// Step two: the artifact bytes of a pending version; it comes back `ready`.
    pub async fn upload_artifact(
        &self,
        name: &ModelName,
        version: i64,
        upload: Upload,
        progress: Box<dyn Progress>,
    ) -> Result<Version> {
        let (_, size) = upload.digest().await?;
        let body = upload.into_body(size, progress).await?;
        let path = api::artifact(name, &VersionRef::Number(version));
        let response = self
            .request(Method::PUT, &path)
            .header("content-type", "application/octet-stream")
            .header("content-length", size)
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(&self.config().endpoint(&path), &e))?;
        decode(checked(response).await?).await
    }

    /// Archives (retires) a version.
    pub async fn archive_version(&self, name: &ModelName, version: &VersionRef) -> Result<Version> {
        self.archive_version_because(name, version, None).await
    }

    /// Archives (retires) a version, saying why (kept in the event log).
    pub async fn archive_version_because(
        &self,
        name: &ModelName,
        version: &VersionRef,
        reason: Option<&str>,
    ) -> Result<Version> {
        let request = RollbackRequest {
            reason: reason.map(str::to_owned),
        };
        self.send_json(Method::POST, &api::archive(name, version), &request)
            .await
    }
}
