//! `create_model_version` of the MLflow API: a version holding the files its `source`
//! names, when Capstan can read them (`crate::domain::mlflow_artifacts::parse_source`):
//! files uploaded through the artifact proxy (a directory, or an MLflow 3 logged model's
//! `…/models/m-…/artifacts/`), another version's files, or objects in the registry's own
//! bucket. The files become a tree version exactly as a pushed tree does (checked,
//! inspected for serving), so nothing is copied that the store already holds.
//!
//! Files behind another MLflow server's artifact proxy are read too when the operator
//! named that server's origin ([`MlflowSources`], `--mlflow-source-hosts`): listed,
//! downloaded a few at a time into the store, and made a tree the same way.

use futures::{StreamExt, TryStreamExt};

use capstan_client::manifest::{Manifest, ManifestEntry, TreePath, MAX_TREE_FILES};
use capstan_client::mlflow::{self, MlflowAuth, MlflowError, MlflowReader};
use capstan_client::types::{ArtifactLayout, NewVersion, Version};
use capstan_client::ModelName;

use super::models::model_not_found;
use super::Registry;
use crate::domain::access::Caller;
use crate::domain::mlflow::RUN_ID_PARAM;
use crate::domain::mlflow_artifacts::{http_origin, parse_source, ProxyLocation, Source};
use crate::domain::trees::detected_format;
use crate::error::{RegistryError, RegistryResult};
use crate::store::mlflow_artifacts as proxy;

/// Other MLflow servers whose artifact proxies `register_model` may name.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MlflowSources {
    /// Their origins, as [`http_origin`] writes them.
    pub origins: Vec<String>,
    /// Sent to them as `Authorization: Bearer …`, when set.
    pub token: Option<String>,
}

impl std::fmt::Debug for MlflowSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlflowSources")
            .field("origins", &self.origins)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl MlflowSources {
    /// Checks and normalizes the origins (`http(s)://host[:port]`, nothing after it).
    pub fn new(origins: &[String], token: Option<String>) -> Result<Self, String> {
        let origins = origins
            .iter()
            .map(|given| {
                let after_scheme = given.split_once("://").map_or("", |(_, rest)| rest);
                let rest = after_scheme
                    .find(['/', '?', '#'])
                    .map_or("", |at| &after_scheme[at..]);
                let origin = http_origin(given).filter(|_| rest.is_empty() || rest == "/");
                origin.ok_or_else(|| {
                    format!(
                        "{given:?} is not the origin of an MLflow server (http(s)://host[:port])"
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(MlflowSources {
            origins,
            token: token.filter(|t| !t.is_empty()),
        })
    }
}

/// Downloads from another MLflow server in flight at once.
const REMOTE_DOWNLOADS: usize = 4;

/// What an MLflow client says of a version beside its source.
#[derive(Debug, Clone, Default)]
pub struct SourceVersion {
    pub description: Option<String>,
    /// Capstan tags (`key=value`).
    pub tags: Vec<String>,
    /// The MLflow run it came from, kept as the version's `mlflow.run_id` param.
    pub run_id: Option<String>,
}

fn unreadable(source: &str, why: String) -> RegistryError {
    RegistryError::bad_request(
        "unreadable_source",
        format!("Capstan cannot read source {source:?}: {why}"),
    )
}

impl Registry {
    /// Creates version (next number) of `model` holding the files `source` names.
    pub async fn create_version_from_source(
        &self,
        model: ModelName,
        source: &str,
        meta: SourceVersion,
        caller: &Caller,
    ) -> RegistryResult<Version> {
        caller.scope.check_creates(model.as_str())?;
        let manifest = self.source_manifest(source, caller).await?;
        let params = meta.run_id.map(|run| {
            [(RUN_ID_PARAM.to_owned(), serde_json::Value::String(run))]
                .into_iter()
                .collect()
        });
        let new = NewVersion {
            format: detected_format(&manifest).to_owned(),
            sha256: None,
            signature: None,
            metrics: None,
            params,
            tags: (!meta.tags.is_empty()).then_some(meta.tags),
            source: Some(source.to_owned()),
            description: meta.description,
            version: None,
            layout: Some(ArtifactLayout::Tree),
            manifest: Some(manifest),
        };
        let actor = caller.name.as_str();
        let pending = self
            .create_pending_version(model.clone(), new, actor)
            .await?;
        match self
            .commit_tree(model.clone(), pending.version, actor)
            .await
        {
            Ok(version) => Ok(version),
            Err(error) => {
                if let Err(failing) = self.fail_version(&model, pending.version, actor).await {
                    tracing::warn!(%failing, "could not mark a version failed");
                }
                Err(error)
            }
        }
    }

    /// The files `source` names, as a manifest whose every file is in the store.
    async fn source_manifest(&self, source: &str, caller: &Caller) -> RegistryResult<Manifest> {
        let source_model = |model: &ModelName| {
            if caller.sees(model.as_str()) {
                Ok(())
            } else {
                Err(model_not_found(model.as_str()))
            }
        };
        match parse_source(source, &self.mlflow_sources.origins)? {
            Source::Proxy(ProxyLocation::Uploaded(path)) => {
                let uploaded = self.uploaded_manifest(&path).await;
                if uploaded.is_err() && source.starts_with("http") {
                    return Err(unreadable(
                        source,
                        format!(
                            "no files were uploaded under {path:?} through Capstan's artifact \
                             proxy; if the URL is another MLflow server's, start the registry \
                             with --mlflow-source-hosts naming its origin"
                        ),
                    ));
                }
                uploaded
            }
            Source::Proxy(ProxyLocation::Version {
                model,
                version,
                path,
            }) => {
                source_model(&model)?;
                let files = self.version_files(model, version).await?;
                subtree(source, files, path.as_deref())
            }
            Source::Proxy(ProxyLocation::Root) => Err(unreadable(
                source,
                "it names the whole artifact store".into(),
            )),
            Source::Version { model, version } => {
                source_model(&model)?;
                let files = self.version_files(model, version).await?;
                subtree(source, files, None)
            }
            Source::LoggedModel(id) => {
                let infix = format!("models/{id}/artifacts/");
                let lookup = infix.clone();
                let found = self
                    .db
                    .read(move |conn| {
                        Ok::<_, RegistryError>(proxy::first_containing(conn, &lookup)?)
                    })
                    .await?;
                let path = found.ok_or_else(|| {
                    unreadable(
                        source,
                        format!(
                            "no files of logged model {id} were uploaded through Capstan's \
                             artifact proxy; log the model to an experiment whose artifact \
                             location is Capstan's proxy, or register its artifact URI"
                        ),
                    )
                })?;
                // `…/models/m-…/artifacts/` at the start of the path or after a `/`.
                let start = path
                    .match_indices(&infix)
                    .map(|(at, _)| at)
                    .find(|&at| at == 0 || path.as_bytes()[at - 1] == b'/');
                let Some(start) = start else {
                    return Err(unreadable(source, format!("no files of logged model {id}")));
                };
                let end = start + infix.len() - 1;
                self.uploaded_manifest(&path[..end]).await
            }
            Source::ObjectStore(url) => self.object_store_manifest(source, &url).await,
            Source::Remote { base, path } => self.remote_manifest(source, &base, &path).await,
        }
    }

    /// Copies the files under `path` behind the artifact proxy of the MLflow server at
    /// `base` into the content-addressed store, a few at a time, and lists them.
    async fn remote_manifest(
        &self,
        source: &str,
        base: &str,
        path: &TreePath,
    ) -> RegistryResult<Manifest> {
        let auth = match &self.mlflow_sources.token {
            Some(token) => MlflowAuth::Bearer(token.clone()),
            None => MlflowAuth::None,
        };
        let failed = |e: MlflowError| unreadable(source, e.to_string());
        let reader = MlflowReader::confined(base, auth).map_err(failed)?;
        let base = reader.base().clone();
        let files = mlflow::list_tree(&reader, &base, path.as_str())
            .await
            .map_err(failed)?;
        if files.is_empty() {
            return Err(unreadable(source, "no files there".into()));
        }
        if files.len() > MAX_TREE_FILES {
            return Err(unreadable(
                source,
                format!("more than {MAX_TREE_FILES} files under it"),
            ));
        }
        let (reader, base) = (&reader, &base);
        let entries: Vec<ManifestEntry> = futures::stream::iter(files)
            .map(|file| async move {
                let response = mlflow::open_file(reader, base, path.as_str(), &file.path)
                    .await
                    .map_err(failed)?;
                let body = response
                    .bytes_stream()
                    .map_err(std::io::Error::other)
                    .boxed();
                let staged = self.stage_artifact(body).await?;
                let size = staged.size();
                let digest = staged.commit().await?;
                Ok::<_, RegistryError>(ManifestEntry {
                    path: file.path,
                    digest,
                    size,
                    executable: false,
                })
            })
            .buffer_unordered(REMOTE_DOWNLOADS)
            .try_collect()
            .await?;
        Manifest::new(entries).map_err(|e| unreadable(source, e.to_string()))
    }

    /// Copies the objects under `url` (in the registry's own bucket or directory) into
    /// the content-addressed store, one at a time, and lists them.
    async fn object_store_manifest(&self, source: &str, url: &str) -> RegistryResult<Manifest> {
        let directory = format!("{}/", url.trim_end_matches('/'));
        let objects = self
            .artifacts
            .input_files(&directory)
            .await
            .map_err(|e| unreadable(source, e.to_string()))?;
        if objects.is_empty() {
            return Err(unreadable(source, "no objects under it".into()));
        }
        if objects.len() > MAX_TREE_FILES {
            return Err(unreadable(
                source,
                format!("more than {MAX_TREE_FILES} objects under it"),
            ));
        }
        let root = self
            .artifacts
            .resolve_url(directory.trim_end_matches('/'))
            .map_err(|e| unreadable(source, e.to_string()))?;
        let root = format!("{}/", root.name());
        let mut entries = Vec::with_capacity(objects.len());
        for (key, _) in objects {
            let relative = key.name().strip_prefix(&root).unwrap_or(key.name());
            let path = TreePath::parse(relative)
                .map_err(|e| unreadable(source, format!("object {relative:?}: {e}")))?;
            let read = self.artifacts.stream_object(&key, None).await?;
            let body = read.stream.map_err(std::io::Error::other).boxed();
            let staged = self.stage_artifact(body).await?;
            let size = staged.size();
            let digest = staged.commit().await?;
            entries.push(ManifestEntry {
                path,
                digest,
                size,
                executable: false,
            });
        }
        Manifest::new(entries).map_err(|e| unreadable(source, e.to_string()))
    }
}

/// The files of a version under `dir` (all with `None`), relative to it.
fn subtree(source: &str, files: Vec<ManifestEntry>, dir: Option<&str>) -> RegistryResult<Manifest> {
    let prefix = dir.map(|d| format!("{d}/")).unwrap_or_default();
    let mut entries = Vec::new();
    for file in files {
        if let Some(relative) = file.path.as_str().strip_prefix(&prefix) {
            let path = TreePath::parse(relative)
                .map_err(|e| unreadable(source, format!("{relative:?}: {e}")))?;
            entries.push(ManifestEntry { path, ..file });
        }
    }
    if entries.is_empty() {
        return Err(unreadable(source, "no files there".into()));
    }
    Manifest::new(entries).map_err(|e| unreadable(source, e.to_string()))
}
