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
        let path = api::artifact(name, version);
        let response = self
            .send(true, || {
                let mut request = self.request(Method::GET, &path);
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
    /// The whole artifact of version `number`, in memory, checked against `digest` as it
    /// arrives: [`Error::Digest`] when the bytes are not the ones `digest` names,
    /// [`Error::Invalid`] past `max_bytes`. No cache and no resumption: for a process that
    /// loads models into memory and keeps nothing on disk (the model server).
    pub async fn download_verified(
        &self,
        name: &ModelName,
        number: i64,
        digest: &Digest,
        max_bytes: u64,
    ) -> Result<Bytes> {
        let mut download = self
            .download(name, &VersionRef::Number(number), 0, None)
            .await?;
        let subject = format!("the artifact of {name} version {number}");
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
