//! One version's files from MLflow into Capstan: find them (the download URI, through a
//! logged model or a run when it names one), list them, then copy them (download to a
//! temporary directory, push it as a tree version with the number kept: only files the
//! registry lacks are sent) or finish a pending version with them. Verifying a version
//! Capstan holds already is `verify.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use futures::{StreamExt, TryStreamExt};
use reqwest::Url;

use super::artifacts::{fetch_file, list_tree, locate, Location, RemoteFile};
use super::reader::MlflowReader;
use super::source::SourceVersion;
use super::MlflowError;
use crate::cache::Progress;
use crate::digest::Digest;
use crate::http::{tree_format, Client, TRANSFERS_IN_FLIGHT};
use crate::manifest::{Manifest, ManifestEntry};
use crate::names::ModelName;
use crate::types::NewVersion;

/// How many links (logged model, run) a download URI may go through.
const MAX_HOPS: usize = 4;

/// Why a version step failed; `blocks` when later versions of the model must wait for
/// it (Capstan's numbers only go up, so creating them would shut this one out for good).
#[derive(Debug)]
pub(super) struct StepFailure {
    pub reason: String,
    pub blocks: bool,
}

impl StepFailure {
    pub fn permanent(reason: impl Into<String>) -> Self {
        StepFailure {
            reason: reason.into(),
            blocks: false,
        }
    }

    pub fn retry(reason: impl Into<String>) -> Self {
        StepFailure {
            reason: reason.into(),
            blocks: true,
        }
    }
}

impl From<MlflowError> for StepFailure {
    fn from(error: MlflowError) -> Self {
        StepFailure::retry(format!("reading MLflow failed: {error}"))
    }
}

/// A version's files in MLflow: the directory behind the proxy, and its listing.
pub(super) struct SourceFiles {
    pub base: Url,
    pub path: String,
    pub files: Vec<RemoteFile>,
}

/// A temporary directory, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<Self, StepFailure> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("capstan-import-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .map_err(|e| StepFailure::retry(format!("cannot create {}: {e}", path.display())))?;
        Ok(WorkDir(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What copying a version's metadata left out (a run that cannot be read, a metric that
/// is not a finite number): `(item, reason)`.
pub(super) type Omissions = Vec<(String, String)>;

pub(super) struct VersionCopier<'a> {
    pub reader: &'a MlflowReader,
    pub capstan: &'a Client,
    pub progress: &'a Mutex<Box<dyn Progress>>,
    /// Recorded as the reason of promotions.
    pub origin: String,
}

impl VersionCopier<'_> {
    /// Finds and lists the files of MLflow's version `number` of `model`.
    pub async fn source_files(&self, model: &str, number: i64) -> Result<SourceFiles, StepFailure> {
        let mut uri = self.reader.download_uri(model, number).await?;
        for _ in 0..MAX_HOPS {
            match locate(&uri, self.reader.base()).map_err(StepFailure::permanent)? {
                Location::Proxy { base, path } => {
                    let files = list_tree(self.reader, &base, &path).await?;
                    if files.is_empty() {
                        return Err(StepFailure::permanent(format!(
                            "MLflow lists no files at {uri}"
                        )));
                    }
                    return Ok(SourceFiles { base, path, files });
                }
                Location::LoggedModel(id) => {
                    let logged = self.reader.logged_model(&id).await?;
                    uri = logged.info.artifact_uri.ok_or_else(|| {
                        StepFailure::permanent(format!(
                            "logged model {id} has no artifact location"
                        ))
                    })?;
                }
                Location::Run { run_id, path } => {
                    let run = self.reader.run(&run_id).await?;
                    let root = run.info.artifact_uri.ok_or_else(|| {
                        StepFailure::permanent(format!("run {run_id} has no artifact location"))
                    })?;
                    uri = format!("{}/{path}", root.trim_end_matches('/'));
                }
            }
        }
        Err(StepFailure::permanent(format!(
            "its download URI leads through more than {MAX_HOPS} links"
        )))
    }

    /// Downloads every file (eight at once), into `dir` when given, hashing each.
    pub(super) async fn download(
        &self,
        label: &str,
        source: &SourceFiles,
        dir: Option<&Path>,
    ) -> Result<Vec<ManifestEntry>, StepFailure> {
        let total: u64 = source.files.iter().filter_map(|f| f.size).sum();
        self.bar().start(label, Some(total), 0);
        let on_bytes = |n: u64| self.bar().advance(n);
        let fetched: Result<Vec<ManifestEntry>, MlflowError> =
            futures::stream::iter(source.files.iter().map(|file| {
                let target = dir.map(|d| d.join(file.path.as_str()));
                let on_bytes = &on_bytes;
                async move {
                    let (digest, size) = fetch_file(
                        self.reader,
                        &source.base,
                        &source.path,
                        &file.path,
                        target.as_deref(),
                        on_bytes,
                    )
                    .await?;
                    Ok(ManifestEntry {
                        path: file.path.clone(),
                        digest,
                        size,
                        executable: false,
                    })
                }
            }))
            .buffer_unordered(TRANSFERS_IN_FLIGHT)
            .try_collect()
            .await;
        self.bar().finish();
        Ok(fetched?)
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, Box<dyn Progress>> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates version `source.number` of `target` holding MLflow's files, with its
    /// metadata and its run's metrics and params. Returns what it did and what it left out.
    pub async fn copy(
        &self,
        model: &str,
        target: &ModelName,
        source: &SourceVersion,
        mut meta: NewVersion,
    ) -> Result<(String, Omissions), StepFailure> {
        let files = self.source_files(model, source.number).await?;
        let dir = WorkDir::new()?;
        self.download(&format!("{target}@{}", source.number), &files, Some(&dir.0))
            .await?;
        let mut omissions = Omissions::new();
        if let Some(run_id) = &source.run_id {
            match self.reader.run(run_id).await {
                Ok(run) => {
                    let (metrics, params, left_out) = run_values(run.data);
                    meta.metrics = Some(metrics);
                    meta.params = Some(params);
                    omissions.extend(left_out);
                }
                Err(error) => omissions.push((
                    "metrics".into(),
                    format!("reading run {run_id} from MLflow failed: {error}"),
                )),
            }
        }
        meta.format = tree_format(&dir.0);
        meta.version = Some(source.number);
        let (metrics, params) = (
            meta.metrics.as_ref().map_or(0, BTreeMap::len),
            meta.params.as_ref().map_or(0, BTreeMap::len),
        );
        let on_sent = |_: u64| {};
        let pushed = self
            .capstan
            .push_tree_with(target, &dir.0, meta, &on_sent)
            .await
            .map_err(|e| StepFailure::retry(format!("copying it into Capstan failed: {e}")))?;
        let version = &pushed.version;
        Ok((
            format!(
                "{} files, {} bytes ({} sent, the others' contents were in Capstan already); format {}; metrics: {metrics}, params: {params}; {}",
                pushed.files,
                version.size.unwrap_or(0),
                pushed.files_sent,
                version.format,
                match (&version.served_file, &version.unservable_reason) {
                    (Some(file), _) => format!("served from {}", file.path),
                    (None, Some(reason)) => format!("not served: {reason}"),
                    (None, None) => "not served".to_owned(),
                },
            ),
            omissions,
        ))
    }

    /// Finishes Capstan's pending version `number` (an import cut off) with MLflow's
    /// files, if they are the ones it was created with. The registry does not show a
    /// pending version's manifest, only the contents it still lacks: those must all be
    /// among MLflow's files (and the file count equal), and the digest the committed
    /// version gets must be MLflow's, else it is reported.
    pub async fn resume(
        &self,
        model: &str,
        target: &ModelName,
        number: i64,
    ) -> Result<String, StepFailure> {
        let files = self.source_files(model, number).await?;
        let dir = WorkDir::new()?;
        let entries = self
            .download(&format!("{target}@{number}"), &files, Some(&dir.0))
            .await?;
        let manifest = Manifest::new(entries).map_err(|e| {
            StepFailure::permanent(format!("MLflow's files do not form a tree: {e}"))
        })?;
        let lacking = self
            .capstan
            .missing_files(target, number)
            .await
            .map_err(|e| StepFailure::retry(format!("reading it from Capstan failed: {e}")))?;
        let ours: BTreeSet<Digest> = manifest.files().iter().map(|f| f.digest).collect();
        if lacking.files != manifest.files().len()
            || lacking.missing.iter().any(|m| !ours.contains(&m.digest))
        {
            return Err(StepFailure::permanent(format!(
                "Capstan's pending version {number} was created from other files ({} of them; MLflow has {}); it is left as it is",
                lacking.files,
                manifest.files().len()
            )));
        }
        let pushed = self
            .capstan
            .resume_push(target, number, &dir.0, &|_: u64| {})
            .await
            .map_err(|e| StepFailure::retry(format!("finishing it in Capstan failed: {e}")))?;
        let digest = pushed.version.digest;
        if digest != Some(manifest.digest()) {
            return Err(StepFailure::permanent(format!(
                "finished Capstan's pending version {number}, but it holds other files than MLflow's (its digest is {}, MLflow's files give {})",
                digest.map(|d| d.to_string()).unwrap_or_default(),
                manifest.digest()
            )));
        }
        Ok(format!(
            "finished the pending version: {} files ({} sent)",
            pushed.files, pushed.files_sent
        ))
    }
}

/// A run's metrics (finite ones) and params for a Capstan version, and what was left out.
fn run_values(
    data: super::wire::RunData,
) -> (
    BTreeMap<String, f64>,
    BTreeMap<String, serde_json::Value>,
    Omissions,
) {
    let mut metrics = BTreeMap::new();
    let mut left_out = Omissions::new();
    for metric in data.metrics {
        match metric.value.as_f64().filter(|v| v.is_finite()) {
            Some(value) => {
                metrics.insert(metric.key, value);
            }
            None => left_out.push((
                format!("metric {}", metric.key),
                format!("its value {} is not a finite number", metric.value),
            )),
        }
    }
    let params = data
        .params
        .into_iter()
        .map(|p| (p.key, serde_json::Value::String(p.value)))
        .collect();
    (metrics, params, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlflow::wire::{KeyValue, Metric, RunData};

    #[test]
    fn run_values_keep_finite_metrics_and_every_param() {
        let data = RunData {
            metrics: vec![
                Metric {
                    key: "accuracy".into(),
                    value: serde_json::json!(0.97),
                },
                Metric {
                    key: "loss".into(),
                    value: serde_json::json!("NaN"),
                },
            ],
            params: vec![KeyValue {
                key: "C".into(),
                value: "0.1".into(),
            }],
        };
        let (metrics, params, left_out) = run_values(data);
        assert_eq!(metrics, BTreeMap::from([("accuracy".to_owned(), 0.97)]));
        assert_eq!(params["C"], "0.1");
        assert_eq!(left_out.len(), 1);
        assert_eq!(left_out[0].0, "metric loss");
    }
}
