//! [`MlflowReader`]: the read side of an MLflow tracking server's REST API (`/api/2.0/
//! mlflow/…` and the `mlflow-artifacts` proxy) over reqwest, with the credentials the
//! `mlflow` client takes from the environment. Reads only; it never writes to MLflow.

use std::time::Duration;

use reqwest::{Response, Url};
use serde::de::DeserializeOwned;

use super::wire;
use super::MlflowError;

/// Page size of the search calls.
const PAGE: &str = "1000";
/// Attempts of a GET that failed on the way or with a 5xx.
const ATTEMPTS: u32 = 3;

/// How to authenticate to MLflow, as the `mlflow` client does.
#[derive(Clone, Default)]
pub enum MlflowAuth {
    #[default]
    None,
    /// `MLFLOW_TRACKING_TOKEN`: `Authorization: Bearer …`.
    Bearer(String),
    /// `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD`: basic auth.
    Basic { user: String, password: String },
}

impl std::fmt::Debug for MlflowAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MlflowAuth::None => "None",
            MlflowAuth::Bearer(_) => "Bearer(<redacted>)",
            MlflowAuth::Basic { .. } => "Basic(<redacted>)",
        })
    }
}

impl MlflowAuth {
    /// From `MLFLOW_TRACKING_TOKEN`, else `MLFLOW_TRACKING_USERNAME`/`PASSWORD`.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(token) = var("MLFLOW_TRACKING_TOKEN") {
            return MlflowAuth::Bearer(token);
        }
        match (
            var("MLFLOW_TRACKING_USERNAME"),
            var("MLFLOW_TRACKING_PASSWORD"),
        ) {
            (Some(user), password) => MlflowAuth::Basic {
                user,
                password: password.unwrap_or_default(),
            },
            _ => MlflowAuth::None,
        }
    }
}

/// A client of one MLflow tracking server.
#[derive(Clone, Debug)]
pub struct MlflowReader {
    http: reqwest::Client,
    base: Url,
    auth: MlflowAuth,
}

impl MlflowReader {
    /// A reader of the server at `tracking_uri` (`http(s)://host[:port][/prefix]`).
    pub fn new(tracking_uri: &str, auth: MlflowAuth) -> Result<Self, MlflowError> {
        Self::build(tracking_uri, auth, reqwest::redirect::Policy::default())
    }

    /// A reader that follows redirects only within the server's own origin: what a
    /// server reading a URL someone else gave it uses, so that an allowed host cannot
    /// redirect it to an internal address.
    pub fn confined(tracking_uri: &str, auth: MlflowAuth) -> Result<Self, MlflowError> {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if same_origin && attempt.previous().len() < 5 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        Self::build(tracking_uri, auth, policy)
    }

    fn build(
        tracking_uri: &str,
        auth: MlflowAuth,
        redirects: reqwest::redirect::Policy,
    ) -> Result<Self, MlflowError> {
        let base = Url::parse(tracking_uri.trim_end_matches('/')).map_err(|e| {
            MlflowError::Invalid(format!(
                "the tracking URI {tracking_uri:?} is not a URL: {e}"
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(MlflowError::Invalid(format!(
                "the tracking URI {tracking_uri:?} must be the http(s) URL of an MLflow tracking server"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .redirect(redirects)
            .user_agent(concat!("capstan-import/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MlflowError::Invalid(format!("cannot set up the HTTP client: {e}")))?;
        Ok(MlflowReader { http, base, auth })
    }

    /// The tracking server's URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `path` (starting with `/api/…`) on `base`, after any path prefix of it.
    pub(super) fn url_on(base: &Url, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = base.clone();
        let prefix = base.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{path}"));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        Self::url_on(&self.base, path, query)
    }

    /// A GET of `url` answered with a success status, retried after transport errors
    /// and 5xx answers.
    pub(super) async fn open(&self, url: &Url) -> Result<Response, MlflowError> {
        let mut attempt = 0;
        loop {
            let mut request = self.http.get(url.clone());
            request = match &self.auth {
                MlflowAuth::None => request,
                MlflowAuth::Bearer(token) => request.bearer_auth(token),
                MlflowAuth::Basic { user, password } => request.basic_auth(user, Some(password)),
            };
            let outcome = match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => Err(api_error(url, response).await),
                Err(error) => Err(MlflowError::transport(url, &error)),
            };
            match outcome {
                Err(error) if error.is_transient() && attempt + 1 < ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                }
                outcome => return outcome,
            }
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, MlflowError> {
        let url = self.url(path, query);
        let response = self.open(&url).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| MlflowError::transport(&url, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| MlflowError::Protocol {
            url: url.to_string(),
            message: format!("the answer is not the expected JSON: {e}"),
        })
    }

    /// Every registered model.
    pub async fn registered_models(&self) -> Result<Vec<wire::RegisteredModel>, MlflowError> {
        let mut models = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![("max_results", PAGE)];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let page: wire::SearchRegisteredModels = self
                .get("/api/2.0/mlflow/registered-models/search", &query)
                .await?;
            models.extend(page.registered_models);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => token = next,
                None => return Ok(models),
            }
        }
    }

    /// One registered model; `None` when MLflow has none of that name.
    pub async fn registered_model(
        &self,
        name: &str,
    ) -> Result<Option<wire::RegisteredModel>, MlflowError> {
        match self
            .get::<wire::GetRegisteredModel>(
                "/api/2.0/mlflow/registered-models/get",
                &[("name", name)],
            )
            .await
        {
            Ok(found) => Ok(Some(found.registered_model)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Every version of registered model `name` (deleted ones are not listed).
    pub async fn model_versions(&self, name: &str) -> Result<Vec<wire::ModelVersion>, MlflowError> {
        let filter = if name.contains('\'') {
            if name.contains('"') {
                return Err(MlflowError::Invalid(format!(
                    "cannot search the versions of {name:?}: MLflow's filter syntax cannot quote a name with both quote characters"
                )));
            }
            format!("name=\"{name}\"")
        } else {
            format!("name='{name}'")
        };
        let mut versions = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![("filter", filter.as_str()), ("max_results", PAGE)];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let page: wire::SearchModelVersions = self
                .get("/api/2.0/mlflow/model-versions/search", &query)
                .await?;
            // The filter is a pattern language; keep exactly this model's versions.
            versions.extend(page.model_versions.into_iter().filter(|v| v.name == name));
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => token = next,
                None => return Ok(versions),
            }
        }
    }

    /// Where version `version` of `name` can be downloaded from.
    pub async fn download_uri(&self, name: &str, version: i64) -> Result<String, MlflowError> {
        let number = version.to_string();
        let answer: wire::DownloadUri = self
            .get(
                "/api/2.0/mlflow/model-versions/get-download-uri",
                &[("name", name), ("version", &number)],
            )
            .await?;
        Ok(answer.artifact_uri)
    }

    /// A run: its artifact location, metrics (latest values) and params.
    pub async fn run(&self, run_id: &str) -> Result<wire::Run, MlflowError> {
        let answer: wire::GetRun = self
            .get("/api/2.0/mlflow/runs/get", &[("run_id", run_id)])
            .await?;
        Ok(answer.run)
    }

    /// A logged model (MLflow 3): its artifact location.
    pub async fn logged_model(&self, model_id: &str) -> Result<wire::LoggedModel, MlflowError> {
        let mut url = self.url("/api/2.0/mlflow/logged-models", &[]);
        url.path_segments_mut()
            .map_err(|()| MlflowError::Invalid("the tracking URI cannot take a path".into()))?
            .push(model_id);
        let response = self.open(&url).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| MlflowError::transport(&url, &e))?;
        let answer: wire::GetLoggedModel =
            serde_json::from_slice(&bytes).map_err(|e| MlflowError::Protocol {
                url: url.to_string(),
                message: format!("the answer is not the expected JSON: {e}"),
            })?;
        Ok(answer.model)
    }
}

/// An error answer as [`MlflowError::Api`], with MLflow's `error_code` when the body
/// has one.
async fn api_error(url: &Url, response: Response) -> MlflowError {
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    let parsed: wire::ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
    let message = if parsed.message.is_empty() {
        String::from_utf8_lossy(&body).chars().take(300).collect()
    } else {
        parsed.message
    };
    MlflowError::Api {
        url: url.to_string(),
        status,
        code: parsed.error_code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_the_tracking_uris_prefix() {
        let base = Url::parse("http://mlflow.example:5000/mlflow").unwrap();
        let url = MlflowReader::url_on(
            &base,
            "/api/2.0/mlflow/registered-models/get",
            &[("name", "Breast Cancer")],
        );
        assert_eq!(
            url.as_str(),
            "http://mlflow.example:5000/mlflow/api/2.0/mlflow/registered-models/get?name=Breast+Cancer"
        );
        let root = Url::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(
            MlflowReader::url_on(&root, "/health", &[]).as_str(),
            "http://127.0.0.1:5000/health"
        );
    }

    #[test]
    fn tracking_uris_must_be_http() {
        assert!(MlflowReader::new("http://127.0.0.1:5000/", MlflowAuth::None).is_ok());
        assert!(MlflowReader::new("file:///tmp/mlruns", MlflowAuth::None).is_err());
        assert!(MlflowReader::new("databricks", MlflowAuth::None).is_err());
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let auth = MlflowAuth::Basic {
            user: "u".into(),
            password: "secret".into(),
        };
        assert!(!format!("{auth:?}").contains("secret"));
    }
}
