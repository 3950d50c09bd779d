//! The MLflow artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/…`): files MLflow
//! clients upload, stored as content-addressed blobs and named by path, and a read-only
//! view of every version's files under `models/{name}/versions/{n}/` — the URI
//! `get-download-uri` answers, so `mlflow.pyfunc.load_model("models:/bc@production")`
//! downloads from here. Paths and listings follow `crate::domain::mlflow_artifacts`.

use bytes::Bytes;
use futures::Stream;

use capstan_client::manifest::{Manifest, ManifestEntry, TreePath, MAX_TREE_FILES};
use capstan_client::types::ArtifactLayout;
use capstan_client::{Digest, ModelName, VersionRef};

use super::models::model_not_found;
use super::{now, ArtifactContent, ArtifactRequest, Registry};
use crate::domain::access::Caller;
use crate::domain::mlflow_artifacts::{children, Listed, ProxyLocation};
use crate::error::{RegistryError, RegistryResult};
use crate::store::mlflow_artifacts::{self as proxy, ProxyFileRow};
use crate::store::StoreError;

/// A file of the proxy, opened for download.
pub struct ProxyFile {
    pub name: String,
    pub digest: Digest,
    pub content: ArtifactContent,
}

/// The file name a version holding one blob shows in the proxy.
pub fn blob_file_name(format: &str) -> String {
    match format {
        "onnx" => "model.onnx".to_owned(),
        other => format!("model.{other}"),
    }
}

fn invalid_stored(what: String) -> RegistryError {
    RegistryError::Store(StoreError::Invalid(what))
}

fn path_conflict(path: &str, why: &str) -> RegistryError {
    RegistryError::conflict("path_conflict", format!("artifact path {path:?}: {why}"))
}

/// A token limited to other models sees none of this one's files.
fn check_sees(caller: &Caller, model: &ModelName) -> RegistryResult<()> {
    if caller.sees(model.as_str()) {
        Ok(())
    } else {
        Err(model_not_found(model.as_str()))
    }
}

fn no_file(path: &str) -> RegistryError {
    RegistryError::not_found(
        "artifact_not_found",
        format!("no artifact file at {path:?}"),
    )
}

impl Registry {
    /// Stores an uploaded file at `raw_path` (replacing a file there). Paths under
    /// `models/` are versions' and read-only; a path may not be both a file and a directory.
    pub async fn put_proxy_file<S, E>(
        &self,
        raw_path: &str,
        body: S,
        actor: &str,
    ) -> RegistryResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = ProxyLocation::upload_path(raw_path)?;
        let staged = self.stage_artifact(body).await?;
        let size = i64::try_from(staged.size()).unwrap_or(i64::MAX);
        let digest = staged.commit().await?;
        let row = ProxyFileRow {
            path,
            digest: digest.to_string(),
            size,
            uploaded_by: actor.to_owned(),
            uploaded_at: now(),
        };
        self.write(move |conn| {
            let path = row.path.as_str();
            if !proxy::under(conn, &format!("{path}/"), 1)?.is_empty() {
                return Err(path_conflict(path, "a directory of that name holds files"));
            }
            let mut ancestor = path;
            while let Some((parent, _)) = ancestor.rsplit_once('/') {
                if proxy::find(conn, parent)?.is_some() {
                    return Err(path_conflict(path, &format!("{parent:?} is a file")));
                }
                ancestor = parent;
            }
            proxy::upsert(conn, &row)?;
            Ok(())
        })
        .await
    }

    /// The entries directly inside `raw_path` (a file lists as itself); empty when
    /// nothing is there, as MLflow answers.
    pub async fn list_proxy(
        &self,
        raw_path: Option<&str>,
        caller: &Caller,
    ) -> RegistryResult<Vec<Listed>> {
        match ProxyLocation::parse(raw_path.unwrap_or(""))? {
            ProxyLocation::Root => {
                let rows = self.uploaded_files("").await?;
                Ok(children("", rows.iter().map(|(p, s)| (p.as_str(), *s))))
            }
            ProxyLocation::Uploaded(path) => {
                let rows = self.uploaded_files(&path).await?;
                Ok(children(&path, rows.iter().map(|(p, s)| (p.as_str(), *s))))
            }
            ProxyLocation::Version {
                model,
                version,
                path,
            } => {
                check_sees(caller, &model)?;
                let files = self.version_files(model, version).await?;
                let dir = path.unwrap_or_default();
                Ok(children(
                    &dir,
                    files.iter().map(|f| (f.path.as_str(), f.size)),
                ))
            }
        }
    }

    /// One file, as `request` asks (range, entity tag).
    pub async fn open_proxy_file(
        &self,
        raw_path: &str,
        request: ArtifactRequest,
        caller: &Caller,
    ) -> RegistryResult<ProxyFile> {
        let (path, digest, size) = match ProxyLocation::parse(raw_path)? {
            ProxyLocation::Root => return Err(no_file(raw_path)),
            ProxyLocation::Uploaded(path) => {
                let lookup = path.clone();
                let row = self
                    .db
                    .read(move |conn| Ok::<_, RegistryError>(proxy::find(conn, &lookup)?))
                    .await?
                    .ok_or_else(|| no_file(&path))?;
                let digest = row
                    .digest
                    .parse::<Digest>()
                    .map_err(|e| invalid_stored(format!("stored digest of {path:?}: {e}")))?;
                (path, digest, u64::try_from(row.size).unwrap_or(0))
            }
            ProxyLocation::Version {
                model,
                version,
                path,
            } => {
                check_sees(caller, &model)?;
                let path = path.ok_or_else(|| no_file(raw_path))?;
                let files = self.version_files(model, version).await?;
                let entry = files
                    .into_iter()
                    .find(|f| f.path.as_str() == path)
                    .ok_or_else(|| no_file(raw_path))?;
                (path, entry.digest, entry.size)
            }
        };
        let content = self.open_blob(&digest, size, &request).await?;
        let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
        Ok(ProxyFile {
            name,
            digest,
            content,
        })
    }

    /// Deletes an uploaded file, or every file under an uploaded directory. The blobs
    /// stay (they may be a version's files too).
    pub async fn delete_proxy(&self, raw_path: &str) -> RegistryResult<usize> {
        let path = ProxyLocation::upload_path(raw_path)?;
        self.write(move |conn| Ok(proxy::delete_under(conn, &path)?))
            .await
    }

    /// Uploaded files at `path` or under `path/` (all with `""`), with sizes, sorted.
    pub(super) async fn uploaded_files(&self, path: &str) -> RegistryResult<Vec<(String, u64)>> {
        let path = path.to_owned();
        let limit = MAX_TREE_FILES as i64 + 1;
        let rows = self
            .db
            .read(move |conn| {
                if path.is_empty() {
                    return Ok::<_, RegistryError>(proxy::under(conn, "", limit)?);
                }
                let mut rows: Vec<ProxyFileRow> = proxy::find(conn, &path)?.into_iter().collect();
                rows.extend(proxy::under(conn, &format!("{path}/"), limit)?);
                Ok(rows)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.path, u64::try_from(row.size).unwrap_or(0)))
            .collect())
    }

    /// The manifest of the files uploaded under directory `path` (paths relative to it).
    pub(super) async fn uploaded_manifest(&self, path: &str) -> RegistryResult<Manifest> {
        let prefix = format!("{path}/");
        let lookup = prefix.clone();
        let limit = MAX_TREE_FILES as i64 + 1;
        let rows = self
            .db
            .read(move |conn| Ok::<_, RegistryError>(proxy::under(conn, &lookup, limit)?))
            .await?;
        if rows.is_empty() {
            return Err(RegistryError::bad_request(
                "unreadable_source",
                format!(
                    "no files were uploaded under {path:?} through the artifact proxy \
                     (mlflow-artifacts:/{path}/…)"
                ),
            ));
        }
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let relative = &row.path[prefix.len()..];
            entries.push(ManifestEntry {
                path: TreePath::parse(relative)
                    .map_err(|e| invalid_stored(format!("stored path {:?}: {e}", row.path)))?,
                digest: row
                    .digest
                    .parse()
                    .map_err(|e| invalid_stored(format!("stored digest of {:?}: {e}", row.path)))?,
                size: u64::try_from(row.size).unwrap_or(0),
                executable: false,
            });
        }
        Manifest::new(entries)
            .map_err(|e| RegistryError::bad_request("invalid_manifest", e.to_string()))
    }

    /// The files of a ready version: its tree's, or its one blob under a format's name.
    pub(super) async fn version_files(
        &self,
        model: ModelName,
        version: i64,
    ) -> RegistryResult<Vec<ManifestEntry>> {
        let resolved = self
            .resolve_artifact(model.clone(), VersionRef::Number(version))
            .await?;
        if resolved.version.layout == ArtifactLayout::Tree {
            let (_, manifest) = self.open_tree(model, VersionRef::Number(version)).await?;
            return Ok(manifest.files().to_vec());
        }
        let name = blob_file_name(&resolved.version.format);
        Ok(vec![ManifestEntry {
            path: TreePath::parse(&name)
                .map_err(|e| invalid_stored(format!("blob file name {name:?}: {e}")))?,
            digest: resolved.digest,
            size: resolved.size,
            executable: false,
        }])
    }
}
