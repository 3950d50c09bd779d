//! One version's files from MLflow into Capstan: find them (the download URI, through a
//! logged model or a run when it names one), list them, then copy them (download to a
//! temporary directory, push it as a tree version with the number kept: only files the
//! registry lacks are sent), verify them (hash MLflow's files against Capstan's manifest,
//! writing nothing) or finish a pending version with them.

use std::collections::BTreeMap;
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
use crate::reference::VersionRef;
use crate::types::{ArtifactLayout, NewVersion};

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
    fn permanent(reason: impl Into<String>) -> Self {
        StepFailure {
            reason: reason.into(),
            blocks: false,
        }
    }

    fn retry(reason: impl Into<String>) -> Self {
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
    base: Url,
    path: String,
    files: Vec<RemoteFile>,
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
    async fn download(
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

    /// Compares MLflow's files of version `number` with Capstan's version of that number.
    pub async fn verify(
        &self,
        model: &str,
        target: &ModelName,
        number: i64,
    ) -> Result<String, StepFailure> {
        let version = self
            .capstan
            .get_version(target, &VersionRef::Number(number))
            .await
            .map_err(|e| StepFailure::retry(format!("reading it from Capstan failed: {e}")))?;
        if version.layout != ArtifactLayout::Tree {
            return Err(StepFailure::permanent(
                "Capstan's version of this number holds one file, not MLflow's tree; it is left as it is",
            ));
        }
        let manifest = self
            .capstan
            .tree_manifest(target, &version)
            .await
            .map_err(|e| {
                StepFailure::retry(format!("reading its manifest from Capstan failed: {e}"))
            })?;
        let files = self.source_files(model, number).await?;
        let listed: Vec<(&str, Option<u64>)> = files
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.size))
            .collect();
        let stored: Vec<(&str, Option<u64>)> = manifest
            .files()
            .iter()
            .map(|f| (f.path.as_str(), Some(f.size)))
            .collect();
        let sizes_known = listed.iter().all(|(_, size)| size.is_some());
        if sizes_known && listed != stored {
            return Err(mismatch(number, &manifest, None, &files.files));
        }
        let entries = self
            .download(&format!("{target}@{number} (verify)"), &files, None)
            .await?;
        if same_files(&manifest, &entries) {
            Ok(format!(
                "in Capstan with the same {} files ({})",
                entries.len(),
                version.digest.map(|d| d.to_string()).unwrap_or_default()
            ))
        } else {
            Err(mismatch(
                number,
                &manifest,
                Some(entries.as_slice()),
                &files.files,
            ))
        }
    }

    /// Finishes Capstan's pending version `number` (an import cut off) with MLflow's
    /// files, if they are the ones it was created with.
    pub async fn resume(
        &self,
        model: &str,
        target: &ModelName,
        number: i64,
        pending: Option<Digest>,
    ) -> Result<String, StepFailure> {
        let files = self.source_files(model, number).await?;
        let dir = WorkDir::new()?;
        let entries = self
            .download(&format!("{target}@{number}"), &files, Some(&dir.0))
            .await?;
        let manifest = Manifest::new(entries).map_err(|e| {
            StepFailure::permanent(format!("MLflow's files do not form a tree: {e}"))
        })?;
        if Some(manifest.digest()) != pending {
            return Err(StepFailure::permanent(format!(
                "Capstan's pending version {number} was created from other files (its digest is {}, MLflow's files give {}); it is left as it is",
                pending.map(|d| d.to_string()).unwrap_or_else(|| "unknown".into()),
                manifest.digest()
            )));
        }
        let pushed = self
            .capstan
            .resume_push(target, number, &dir.0, &|_: u64| {})
            .await
            .map_err(|e| StepFailure::retry(format!("finishing it in Capstan failed: {e}")))?;
        Ok(format!(
            "finished the pending version: {} files ({} sent)",
            pushed.files, pushed.files_sent
        ))
    }
}

/// Whether `entries` (hashed from MLflow) are the files of `manifest` (the executable bit
/// aside: MLflow does not keep it).
fn same_files(manifest: &Manifest, entries: &[ManifestEntry]) -> bool {
    let mut ours: Vec<(&str, Digest, u64)> = entries
        .iter()
        .map(|e| (e.path.as_str(), e.digest, e.size))
        .collect();
    ours.sort();
    let theirs: Vec<(&str, Digest, u64)> = manifest
        .files()
        .iter()
        .map(|e| (e.path.as_str(), e.digest, e.size))
        .collect();
    ours == theirs
}

/// The failure of a verification, naming the first files that differ.
fn mismatch(
    number: i64,
    manifest: &Manifest,
    hashed: Option<&[ManifestEntry]>,
    listed: &[RemoteFile],
) -> StepFailure {
    let mut differences = Vec::new();
    for file in listed {
        match manifest.get(file.path.as_str()) {
            None => differences.push(format!("{} only in MLflow", file.path)),
            Some(stored) => {
                let entry = hashed.and_then(|h| h.iter().find(|e| e.path == file.path));
                let differs = match entry {
                    Some(entry) => entry.digest != stored.digest || entry.size != stored.size,
                    None => file.size != Some(stored.size),
                };
                if differs {
                    differences.push(format!("{} differs", file.path));
                }
            }
        }
    }
    for stored in manifest.files() {
        if !listed.iter().any(|f| f.path == stored.path) {
            differences.push(format!("{} only in Capstan", stored.path));
        }
    }
    let shown: Vec<&str> = differences.iter().take(5).map(String::as_str).collect();
    StepFailure::permanent(format!(
        "Capstan's version {number} ({}) holds other files than MLflow's: {}{}; it is left as it is",
        manifest.digest(),
        shown.join(", "),
        if differences.len() > 5 { ", …" } else { "" }
    ))
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
    use crate::manifest::TreePath;
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

    #[test]
    fn verification_ignores_the_executable_bit_only() {
        let entry = |path: &str, byte: u8, executable: bool| ManifestEntry {
            path: TreePath::parse(path).unwrap(),
            digest: Digest::from_bytes([byte; 32]),
            size: 3,
            executable,
        };
        let manifest =
            Manifest::new(vec![entry("MLmodel", 1, true), entry("m.onnx", 2, false)]).unwrap();
        assert!(same_files(
            &manifest,
            &[entry("m.onnx", 2, false), entry("MLmodel", 1, false)]
        ));
        assert!(!same_files(
            &manifest,
            &[entry("MLmodel", 1, false), entry("m.onnx", 3, false)]
        ));
        assert!(!same_files(&manifest, &[entry("MLmodel", 1, false)]));
    }
}
