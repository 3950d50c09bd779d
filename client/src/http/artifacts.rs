//! Artifact downloads: `GET /versions/{ref}/artifact` with `Range` (resume) and
//! `If-None-Match` (the caller's copy is current), streamed chunk by chunk; or read whole
//! into memory and verified, for a process that keeps models in memory only.

use bytes::{Bytes, BytesMut};
use reqwest::Method;
use sha2::{Digest as _, Sha256};

use super::api;
use super::{Client, Download};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::TreePath;
use crate::names::ModelName;
use crate::reference::VersionRef;

impl Client {
    /// Starts downloading the artifact `version` names, from byte `offset` (`Range`).
    /// With `if_none_match`, a current digest answers 304 and no bytes.
    pub async fn download(
        &self,
        name: &ModelName,
        version: &VersionRef,
        offset: u64,
        if_none_match: Option<&Digest>,
    ) -> Result<Download> {
        self.download_path(&api::artifact(name, version), offset, if_none_match)
            .await
    }

    /// A ranged, conditional GET of `path` (an artifact or a tree's file).
    async fn download_path(
        &self,
        path: &str,
        offset: u64,
        if_none_match: Option<&Digest>,
    ) -> Result<Download> {
        let response = self
            .send(true, || {
                let mut request = self.request(Method::GET, path);
                if offset > 0 {
                    request = request.header("range", format!("bytes={offset}-"));
                }
                if let Some(digest) = if_none_match {
                    request = request.header("if-none-match", format!("\"{digest}\""));
                }
                request
            })
            .await?;
        Download::from_response(response)
    }
}

impl Client {
    /// Streams one file of a tree version (see [`Client::download`]).
    pub async fn download_file(
        &self,
        name: &ModelName,
        version: &VersionRef,
        file: &TreePath,
        offset: u64,
        if_none_match: Option<&Digest>,
    ) -> Result<Download> {
        self.download_path(&api::tree_file(name, version, file), offset, if_none_match)
            .await
    }

    /// The whole artifact of version `number`, in memory, checked against `digest` as it
    /// arrives: [`Error::Digest`] when the bytes are not the ones `digest` names,
    /// [`Error::Invalid`] past `max_bytes`. No cache and no resumption: for a process that
    /// loads models into memory and keeps nothing on disk (the model server).
    /// With `file`, the file of that path in the version's tree instead.
    pub async fn download_verified(
        &self,
        name: &ModelName,
        number: i64,
        file: Option<&TreePath>,
        digest: &Digest,
        max_bytes: u64,
    ) -> Result<Bytes> {
        let reference = VersionRef::Number(number);
        let mut download = match file {
            None => self.download(name, &reference, 0, None).await?,
            Some(path) => self.download_file(name, &reference, path, 0, None).await?,
        };
        let subject = match file {
            None => format!("the artifact of {name} version {number}"),
            Some(path) => format!("{path} of {name} version {number}"),
        };
        let mut body = BytesMut::with_capacity(
            usize::try_from(download.total.unwrap_or(0).min(max_bytes)).unwrap_or(0),
        );
        let mut hasher = Sha256::new();
        while let Some(chunk) = download.chunk().await? {
            if body.len() as u64 + chunk.len() as u64 > max_bytes {
                return Err(Error::Invalid(format!(
                    "{subject} is larger than {max_bytes} bytes"
                )));
            }
            hasher.update(&chunk);
            body.extend_from_slice(&chunk);
        }
        let actual = Digest::from_bytes(hasher.finalize().into());
        if actual != *digest {
            return Err(Error::Digest {
                subject,
                expected: *digest,
                actual,
                hint: String::new(),
            });
        }
        Ok(body.freeze())
    }
}
