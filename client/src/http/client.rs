//! `Client`: the async client's connection settings, request sending with retries, and
//! the mapping of answers to wire types or [`Error`]. The endpoint methods live beside
//! this file, one file per resource.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};

/// Largest error body read into memory.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// An async client of one registry. Cheap to clone (connections are pooled and shared).
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    config: Config,
}

impl Client {
    pub fn new(config: Config) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.timeout)
            // Below the registry's 75 s keep-alive, so the pool never reuses a connection
            // the server is just closing.
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("capstan-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Invalid(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client { http, config })
    }

    /// A client configured from `CAPSTAN_URL` and friends ([`Config::from_env`]).
    pub fn from_env() -> Result<Self> {
        Client::new(Config::from_env()?)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The same client (connection pool included) presenting `token` instead: e.g. a
    /// server checking a token it was handed against the registry's `whoami`.
    pub fn with_token(&self, token: Option<String>) -> Client {
        Client {
            http: self.http.clone(),
            config: self.config.clone().with_token(token),
        }
    }

    /// A request to an API path, with the token when there is one.
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, self.config.endpoint(path));
        match &self.config.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends the request `build` makes; an idempotent one is sent again after a
    /// connection error or a 5xx answer, with backoff. Error answers become
    /// [`Error::Api`].
    pub(crate) async fn send(
        &self,
        idempotent: bool,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response> {
        let mut attempt = 0;
        loop {
            let request = build();
            let url = request
                .try_clone()
                .and_then(|r| r.build().ok())
                .map(|r| r.url().to_string())
                .unwrap_or_else(|| self.config.url.clone());
            let outcome = match request.send().await {
                Ok(response) => checked(response).await,
                Err(error) => Err(transport_error(&url, &error)),
            };
            match outcome {
                Err(error)
                    if idempotent && error.is_transient() && attempt < self.config.retries =>
                {
                    tokio::time::sleep(self.config.backoff_delay(attempt)).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    pub(crate) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self
            .send(true, || {
                self.request(Method::GET, path).timeout(self.config.timeout)
            })
            .await?;
        decode(response).await
    }

    /// Sends a JSON body; POST is not retried, PUT and DELETE are.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        let idempotent = method != Method::POST && method != Method::PATCH;
        let response = self
            .send(idempotent, || {
                self.request(method.clone(), path)
                    .timeout(self.config.timeout)
                    .json(body)
            })
            .await?;
        decode(response).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<()> {
        self.send(true, || {
            self.request(Method::DELETE, path)
                .timeout(self.config.timeout)
        })
        .await
        .map(drop)
    }

    /// A DELETE carrying a JSON body (a reason for the event log).
    pub(crate) async fn delete_with(&self, path: &str, body: &impl Serialize) -> Result<()> {
        self.send(true, || {
            self.request(Method::DELETE, path)
                .timeout(self.config.timeout)
                .json(body)
        })
        .await
        .map(drop)
    }
}

/// The response if it is a success, else its problem document as [`Error::Api`].
pub(crate) async fn checked(response: Response) -> Result<Response> {
    let status = response.status().as_u16();
    if status < 400 {
        return Ok(response);
    }
    let url = response.url().to_string();
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(&url, &e))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ERROR_BODY {
            break;
        }
    }
    Err(Error::from_response(status, &body))
}

/// The body of a successful answer as `T`.
pub(crate) async fn decode<T: DeserializeOwned>(response: Response) -> Result<T> {
    let url = response.url().to_string();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| transport_error(&url, &e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Protocol {
        url,
        message: format!("the answer is not the expected JSON: {e}"),
    })
}

pub(crate) fn transport_error(url: &str, error: &reqwest::Error) -> Error {
    if error.is_builder() {
        return Error::Invalid(format!("cannot build a request to {url}: {error}"));
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    Error::Transport {
        url: url.to_owned(),
        message,
    }
}
