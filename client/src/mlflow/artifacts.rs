//! A version's files through the tracking server's `mlflow-artifacts` proxy: where a
//! download URI points ([`locate`], pure), the listing of a directory tree
//! (`GET /api/2.0/mlflow-artifacts/artifacts?path=…`, recursively) and each file's bytes
//! (`GET /api/2.0/mlflow-artifacts/artifacts/<path>`), streamed, hashed on the way and
//! optionally written to disk. Only the proxy is read: an artifact store the tracking
//! server does not serve (`s3://`, a local path) is refused with the reason.

use std::path::Path;

use reqwest::{Response, Url};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use super::reader::MlflowReader;
use super::{wire, MlflowError};
use crate::digest::Digest;
use crate::manifest::TreePath;

const PROXY: &str = "/api/2.0/mlflow-artifacts/artifacts";
/// The most files one version may hold (as Capstan's manifests).
const MAX_FILES: usize = 100_000;

/// Where a download URI points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A directory behind the `mlflow-artifacts` proxy of the server at `base`.
    Proxy { base: Url, path: String },
    /// An MLflow 3 logged model (`models:/m-…`): its artifact location says where.
    LoggedModel(String),
    /// A path in a run's artifacts (`runs:/<run>/<path>`).
    Run { run_id: String, path: String },
}

/// Where `uri` (a version's download URI) points, for the tracking server at `tracking`;
/// `Err` with the reason when it is not something the proxy serves.
pub fn locate(uri: &str, tracking: &Url) -> Result<Location, String> {
    let unreadable = |why: &str| {
        Err(format!(
            "its files are at {uri}, {why}; Capstan reads them only through the tracking server's mlflow-artifacts proxy (`mlflow server` with --serve-artifacts, the default)"
        ))
    };
    if let Some(rest) = uri.strip_prefix("mlflow-artifacts:") {
        let (host, path) = match rest.strip_prefix("//") {
            Some(authority_and_path) => match authority_and_path.split_once('/') {
                Some((host, path)) => (Some(host), path),
                None => (Some(authority_and_path), ""),
            },
            None => (None, rest),
        };
        let mut base = tracking.clone();
        if let Some(host) = host.filter(|h| !h.is_empty()) {
            let (name, port) = match host.rsplit_once(':') {
                Some((name, port)) => (name, port.parse::<u16>().ok()),
                None => (host, None),
            };
            if base.set_host(Some(name)).is_err() || base.set_port(port).is_err() {
                return unreadable("whose host Capstan cannot use");
            }
        }
        return Ok(Location::Proxy {
            base,
            path: path.trim_matches('/').to_owned(),
        });
    }
    if let Some(rest) = uri.strip_prefix("models:/") {
        let id = rest.trim_matches('/');
        if id.starts_with("m-") && !id.contains('/') {
            return Ok(Location::LoggedModel(id.to_owned()));
        }
        return unreadable("a registered model reference rather than a logged model");
    }
    if let Some(rest) = uri.strip_prefix("runs:/") {
        let rest = rest.trim_start_matches('/');
        let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
        if run_id.is_empty() {
            return unreadable("which names no run");
        }
        return Ok(Location::Run {
            run_id: run_id.to_owned(),
            path: path.trim_matches('/').to_owned(),
        });
    }
    if uri.starts_with("http://") || uri.starts_with("https://") {
        if let Ok(url) = Url::parse(uri) {
            if let Some((prefix, path)) = url.path().split_once(PROXY) {
                let mut base = url.clone();
                base.set_path(prefix);
                base.set_query(None);
                return Ok(Location::Proxy {
                    base,
                    path: path.trim_matches('/').to_owned(),
                });
            }
        }
        return unreadable("an HTTP location that is not an mlflow-artifacts proxy");
    }
    let scheme = uri.split_once(':').map_or("a local path", |(s, _)| s);
    unreadable(&format!(
        "in {scheme} storage the tracking server does not proxy"
    ))
}

/// One file of a version, as the listing shows it.
#[derive(Clone, Debug)]
pub struct RemoteFile {
    /// Relative to the version's directory.
    pub path: TreePath,
    pub size: Option<u64>,
}

fn joined(root: &str, relative: &str) -> String {
    match (root.is_empty(), relative.is_empty()) {
        (true, _) => relative.to_owned(),
        (_, true) => root.to_owned(),
        _ => format!("{root}/{relative}"),
    }
}

/// Every file under `path` on the proxy at `base`, sorted by path.
pub async fn list_tree(
    reader: &MlflowReader,
    base: &Url,
    path: &str,
) -> Result<Vec<RemoteFile>, MlflowError> {
    let mut files = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(relative) = pending.pop() {
        let listed = joined(path, &relative);
        let url = MlflowReader::url_on(base, PROXY, &[("path", &listed)]);
        let response = reader.open(&url).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| MlflowError::transport(&url, &e))?;
        let listing: wire::ListArtifacts =
            serde_json::from_slice(&bytes).map_err(|e| MlflowError::Protocol {
                url: url.to_string(),
                message: format!("the listing is not the expected JSON: {e}"),
            })?;
        for entry in listing.files {
            let name = entry.path.rsplit('/').next().unwrap_or_default();
            let child = joined(&relative, name);
            if entry.is_dir {
                pending.push(child);
                continue;
            }
            let tree_path = TreePath::parse(&child).map_err(|e| MlflowError::Protocol {
                url: url.to_string(),
                message: format!("the listing names a file Capstan cannot hold ({child:?}): {e}"),
            })?;
            files.push(RemoteFile {
                path: tree_path,
                size: entry.file_size,
            });
            if files.len() > MAX_FILES {
                return Err(MlflowError::Invalid(format!(
                    "{listed} holds more than {MAX_FILES} files"
                )));
            }
        }
    }
    files.sort_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
    Ok(files)
}

/// The answer to a GET of `file` of the directory `path` on the proxy at `base`, its body
/// not yet read.
pub async fn open_file(
    reader: &MlflowReader,
    base: &Url,
    path: &str,
    file: &TreePath,
) -> Result<Response, MlflowError> {
    let mut url = MlflowReader::url_on(base, PROXY, &[]);
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|()| MlflowError::Invalid(format!("{base} cannot take a path")))?;
        segments.pop_if_empty();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            segments.push(segment);
        }
        for segment in file.as_str().split('/') {
            segments.push(segment);
        }
    }
    reader.open(&url).await
}

/// Downloads `file` of the directory `path` on the proxy at `base`: hashed as it arrives,
/// written to `target` when given; `on_bytes` hears of each chunk. Returns its digest
/// and size.
pub async fn fetch_file(
    reader: &MlflowReader,
    base: &Url,
    path: &str,
    file: &TreePath,
    target: Option<&Path>,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<(Digest, u64), MlflowError> {
    let mut response = open_file(reader, base, path, file).await?;
    let url = response.url().clone();
    let mut out = match target {
        Some(target) => {
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| MlflowError::Io {
                        path: parent.to_owned(),
                        source: e,
                    })?;
            }
            let created = tokio::fs::File::create(target).await;
            Some(created.map_err(|e| MlflowError::Io {
                path: target.to_owned(),
                source: e,
            })?)
        }
        None => None,
    };
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| MlflowError::transport(&url, &e))?
    {
        hasher.update(&chunk);
        size += chunk.len() as u64;
        if let (Some(out), Some(target)) = (out.as_mut(), target) {
            out.write_all(&chunk).await.map_err(|e| MlflowError::Io {
                path: target.to_owned(),
                source: e,
            })?;
        }
        on_bytes(chunk.len() as u64);
    }
    if let (Some(mut out), Some(target)) = (out, target) {
        out.flush().await.map_err(|e| MlflowError::Io {
            path: target.to_owned(),
            source: e,
        })?;
    }
    Ok((Digest::from_bytes(hasher.finalize().into()), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracking() -> Url {
        Url::parse("http://127.0.0.1:5000").unwrap()
    }

    #[test]
    fn proxy_uris_resolve_against_the_tracking_server() {
        assert_eq!(
            locate("mlflow-artifacts:/1/models/m-abc/artifacts", &tracking()),
            Ok(Location::Proxy {
                base: tracking(),
                path: "1/models/m-abc/artifacts".into()
            })
        );
        let Ok(Location::Proxy { base, path }) = locate(
            "mlflow-artifacts://other:6000/0/run/artifacts/model",
            &tracking(),
        ) else {
            panic!("not a proxy location")
        };
        assert_eq!(base.as_str(), "http://other:6000/");
        assert_eq!(path, "0/run/artifacts/model");
        let Ok(Location::Proxy { base, path }) = locate(
            "https://mlflow.example/prefix/api/2.0/mlflow-artifacts/artifacts/1/x",
            &tracking(),
        ) else {
            panic!("not a proxy location")
        };
        assert_eq!(base.as_str(), "https://mlflow.example/prefix");
        assert_eq!(path, "1/x");
    }

    #[test]
    fn logged_models_and_runs_are_looked_up() {
        assert_eq!(
            locate("models:/m-0123", &tracking()),
            Ok(Location::LoggedModel("m-0123".into()))
        );
        assert_eq!(
            locate("runs:/abc/model", &tracking()),
            Ok(Location::Run {
                run_id: "abc".into(),
                path: "model".into()
            })
        );
    }

    #[test]
    fn storage_the_proxy_does_not_serve_is_refused_with_the_reason() {
        for uri in [
            "s3://bucket/1/abc/artifacts/model",
            "/home/me/mlruns/1/abc/artifacts/model",
            "file:///tmp/mlruns/1/abc",
            "models:/bc/3",
            "https://example.com/model.tar",
        ] {
            let reason = locate(uri, &tracking()).unwrap_err();
            assert!(reason.contains("mlflow-artifacts proxy"), "{uri}: {reason}");
            assert!(reason.contains(uri), "{uri}: {reason}");
        }
    }
}
