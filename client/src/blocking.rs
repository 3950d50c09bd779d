//! `blocking::Client`: the registry's REST API over a small blocking HTTP client (ureq),
//! for `build.rs` and other code without an async runtime (feature `build`).
//!
//! Same wire types, errors and retry policy as the async [`crate::http::Client`]:
//! idempotent calls (GET, PUT, DELETE) are retried with backoff on connection errors and
//! 5xx answers; every error answer becomes [`Error::Api`] with the problem's `code`.

use std::io::Read;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use ureq::http::Response;
use ureq::{Body, RequestBuilder};

use crate::cache::{BlobSource, BlobStream};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::api::{self, EventQuery, ModelQuery, VersionQuery};
use crate::lock::pin::RegistryReader;
use crate::manifest::TreePath;
use crate::names::{AliasName, ModelName};
use crate::reference::{ModelRef, Stage, VersionRef};
use crate::types::{
    Alias, CreateModel, Deployment, DeploymentInstance, EventPage, InstanceReport, Model,
    ModelPage, NewVersion, PromoteRequest, RollbackRequest, SetAlias, UpdateModel, Version,
    VersionPage, Whoami,
};

/// Largest error or JSON answer read into memory.
const MAX_JSON: u64 = 16 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Put,
    Delete,
}

/// A blocking client of one registry. Cheap to clone (connections are pooled and shared).
#[derive(Clone, Debug)]
pub struct Client {
    agent: ureq::Agent,
    config: Config,
}

impl Client {
    pub fn new(config: Config) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_response(Some(config.timeout))
            .timeout_per_read(Some(config.timeout))
            .user_agent(concat!("capstan-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client { agent, config }
    }

    /// A client configured from `CAPSTAN_URL` and friends ([`Config::from_env`]).
    pub fn from_env() -> Result<Self> {
        Ok(Client::new(Config::from_env()?))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn list_models(&self, query: &ModelQuery) -> Result<ModelPage> {
        self.get_json(&query.path())
    }

    pub fn get_model(&self, name: &ModelName) -> Result<Model> {
        self.get_json(&api::model(name))
    }

    pub fn create_model(&self, model: &CreateModel) -> Result<Model> {
        self.send_json(Method::Post, api::MODELS, model)
    }

    pub fn update_model(&self, name: &ModelName, update: &UpdateModel) -> Result<Model> {
        self.patch_json(&api::model(name), &to_json(update)?)
    }

    pub fn delete_model(&self, name: &ModelName) -> Result<()> {
        self.call(Method::Delete, &api::model(name), None, true)
            .map(drop)
    }

    pub fn list_versions(&self, name: &ModelName, query: &VersionQuery) -> Result<VersionPage> {
        self.get_json(&query.path(name))
    }

    pub fn get_version(&self, name: &ModelName, version: &VersionRef) -> Result<Version> {
        self.get_json(&api::version(name, version))
    }

    /// Step one of a two-step upload: a `pending` version with an `upload_url`.
    pub fn create_pending_version(&self, name: &ModelName, meta: &NewVersion) -> Result<Version> {
        self.send_json(Method::Post, &api::versions(name), meta)
    }

    /// Step two: streams the artifact bytes of a pending version; it comes back `ready`.
    pub fn upload_artifact(
        &self,
        name: &ModelName,
        version: i64,
        bytes: &mut dyn Read,
    ) -> Result<Version> {
        let path = api::artifact(name, &VersionRef::Number(version));
        let url = self.config.endpoint(&path);
        let request = self
            .authorize(self.agent.put(&url))
            .header("content-type", "application/octet-stream");
        let response = request
            .send(ureq::SendBody::from_reader(bytes))
            .map_err(|e| transport_error(&url, e))?;
        self.json(&url, checked(&url, response)?)
    }

    /// Uploads a version in two steps (JSON, then the bytes); it comes back `ready`.
    pub fn create_version(
        &self,
        name: &ModelName,
        meta: &NewVersion,
        bytes: &mut dyn Read,
    ) -> Result<Version> {
        let pending = self.create_pending_version(name, meta)?;
        self.upload_artifact(name, pending.version, bytes)
    }

    pub fn archive_version(&self, name: &ModelName, version: &VersionRef) -> Result<Version> {
        self.call(
            Method::Post,
            &api::archive(name, version),
            Some(b"{}"),
            false,
        )
        .and_then(|(url, response)| self.json(&url, response))
    }

    pub fn promote(
        &self,
        name: &ModelName,
        stage: Stage,
        request: &PromoteRequest,
    ) -> Result<Version> {
        self.send_json(Method::Post, &api::stage(name, stage), request)
    }

    pub fn rollback(
        &self,
        name: &ModelName,
        stage: Stage,
        request: &RollbackRequest,
    ) -> Result<Version> {
        self.send_json(Method::Post, &api::rollback(name, stage), request)
    }

    pub fn set_alias(&self, name: &ModelName, alias: &AliasName, version: i64) -> Result<Alias> {
        self.send_json(
            Method::Put,
            &api::alias(name, alias),
            &SetAlias {
                version,
                reason: None,
            },
        )
    }

    pub fn delete_alias(&self, name: &ModelName, alias: &AliasName) -> Result<()> {
        self.call(Method::Delete, &api::alias(name, alias), None, true)
            .map(drop)
    }

    /// The token this client presents (`anonymous` without authentication).
    pub fn whoami(&self) -> Result<Whoami> {
        self.get_json(api::WHOAMI)
    }

    pub fn list_events(&self, query: &EventQuery) -> Result<EventPage> {
        self.get_json(&query.path())
    }

    pub fn get_deployment(&self, name: &ModelName) -> Result<Deployment> {
        self.get_json(&api::deployment(name))
    }

    /// Reports what instance `instance` of deployment `name` runs.
    pub fn report_instance(
        &self,
        name: &ModelName,
        instance: &ModelName,
        report: &InstanceReport,
    ) -> Result<DeploymentInstance> {
        self.send_json(
            Method::Put,
            &api::deployment_instance(name, instance),
            report,
        )
    }

    /// Opens a version's artifact from byte `offset` (`Range`) for streaming.
    pub fn open_artifact(
        &self,
        name: &ModelName,
        version: &VersionRef,
        offset: u64,
    ) -> Result<BlobStream> {
        self.open_download(&api::artifact(name, version), offset)
    }

    /// Like [`Client::open_artifact`], for one file of a tree version.
    pub fn open_file(
        &self,
        name: &ModelName,
        version: &VersionRef,
        file: &TreePath,
        offset: u64,
    ) -> Result<BlobStream> {
        self.open_download(&api::tree_file(name, version, file), offset)
    }

    fn open_download(&self, path: &str, offset: u64) -> Result<BlobStream> {
        let url = self.config.endpoint(path);
        let mut request = self.authorize(self.agent.get(&url));
        if offset > 0 {
            request = request.header("range", format!("bytes={offset}-"));
        }
        let response = request.call().map_err(|e| transport_error(&url, e))?;
        let response = checked(&url, response)?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header("etag").as_deref().and_then(api::etag_digest);
        let length: Option<u64> = header("content-length").and_then(|v| v.parse().ok());
        let (start, total) = if response.status().as_u16() == 206 {
            header("content-range")
                .as_deref()
                .and_then(api::content_range)
                .ok_or_else(|| Error::Protocol {
                    url: url.clone(),
                    message: "a 206 answer without a valid Content-Range".into(),
                })?
        } else {
            (0, length)
        };
        Ok(BlobStream {
            start,
            total,
            etag,
            body: Box::new(response.into_body().into_reader()),
        })
    }

    fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let (url, response) = self.call(Method::Get, path, None, true)?;
        self.json(&url, response)
    }

    fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        let bytes = to_json(body)?;
        let idempotent = method != Method::Post;
        let (url, response) = self.call(method, path, Some(&bytes), idempotent)?;
        self.json(&url, response)
    }

    fn patch_json<T: DeserializeOwned>(&self, path: &str, bytes: &[u8]) -> Result<T> {
        let url = self.config.endpoint(path);
        let request = ureq::http::Request::builder()
            .method("PATCH")
            .uri(&url)
            .header("content-type", "application/json")
            .body(bytes.to_vec())
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let request = match &self.config.token {
            Some(token) => {
                let (mut parts, body) = request.into_parts();
                if let Ok(value) = format!("Bearer {token}").parse() {
                    parts.headers.insert("authorization", value);
                }
                ureq::http::Request::from_parts(parts, body)
            }
            None => request,
        };
        let response = self
            .agent
            .run(request)
            .map_err(|e| transport_error(&url, e))?;
        self.json(&url, checked(&url, response)?)
    }

    fn json<T: DeserializeOwned>(&self, url: &str, response: Response<Body>) -> Result<T> {
        let bytes = response
            .into_body()
            .with_config()
            .limit(MAX_JSON)
            .read_to_vec()
            .map_err(|e| transport_error(url, e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Protocol {
            url: url.to_owned(),
            message: format!("the answer is not the expected JSON: {e}"),
        })
    }

    /// Sends a request, retrying an idempotent one after a connection error or a 5xx
    /// answer; returns the URL and the successful response.
    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        idempotent: bool,
    ) -> Result<(String, Response<Body>)> {
        let url = self.config.endpoint(path);
        let mut attempt = 0;
        loop {
            let outcome = self
                .send_once(method, &url, body)
                .map_err(|e| transport_error(&url, e))
                .and_then(|response| checked(&url, response));
            match outcome {
                Ok(response) => return Ok((url, response)),
                Err(error)
                    if idempotent && error.is_transient() && attempt < self.config.retries =>
                {
                    std::thread::sleep(self.config.backoff_delay(attempt));
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn send_once(
        &self,
        method: Method,
        url: &str,
        body: Option<&[u8]>,
    ) -> std::result::Result<Response<Body>, ureq::Error> {
        let json = |request: RequestBuilder<ureq::typestate::WithBody>| {
            self.authorize(request)
                .header("content-type", "application/json")
                .send(body.unwrap_or(b"{}"))
        };
        match method {
            Method::Get => self.authorize(self.agent.get(url)).call(),
            Method::Delete => self.authorize(self.agent.delete(url)).call(),
            Method::Post => json(self.agent.post(url)),
            Method::Put => json(self.agent.put(url)),
        }
    }

    fn authorize<B>(&self, request: RequestBuilder<B>) -> RequestBuilder<B> {
        match &self.config.token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        }
    }
}

/// The response if it is a success, else its problem document as [`Error::Api`].
fn checked(url: &str, response: Response<Body>) -> Result<Response<Body>> {
    let status = response.status().as_u16();
    if status < 400 {
        return Ok(response);
    }
    let body = response
        .into_body()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec()
        .map_err(|e| transport_error(url, e))?;
    Err(Error::from_response(status, &body))
}

fn transport_error(url: &str, error: ureq::Error) -> Error {
    match error {
        ureq::Error::BadUri(message) => Error::Invalid(format!("bad URL {url:?}: {message}")),
        other => Error::Transport {
            url: url.to_owned(),
            message: other.to_string(),
        },
    }
}

fn to_json(body: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| Error::Invalid(format!("cannot encode the request: {e}")))
}

/// One version's artifact, as a resumable [`BlobSource`].
struct Artifact<'a> {
    client: &'a Client,
    model: ModelName,
    version: VersionRef,
    /// One file of a tree instead of the artifact.
    file: Option<TreePath>,
}

impl BlobSource for Artifact<'_> {
    fn open(&mut self, offset: u64) -> Result<BlobStream> {
        match &self.file {
            None => self
                .client
                .open_artifact(&self.model, &self.version, offset),
            Some(file) => self
                .client
                .open_file(&self.model, &self.version, file, offset),
        }
    }

    fn retry_after(&self, attempt: u32) -> Option<Duration> {
        (attempt < self.client.config.retries).then(|| self.client.config.backoff_delay(attempt))
    }
}

impl RegistryReader for Client {
    fn resolve(&mut self, reference: &ModelRef) -> Result<Version> {
        self.get_version(&reference.model, &reference.version)
    }

    fn artifact(&mut self, model: &ModelName, version: i64) -> Box<dyn BlobSource + '_> {
        Box::new(Artifact {
            client: self,
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
            client: self,
            model: model.clone(),
            version: VersionRef::Number(version),
            file: Some(file.clone()),
        })
    }
}
