//! Verifying a version Capstan already holds (a second run): MLflow's files are listed
//! and, when the paths and sizes agree with Capstan's manifest, downloaded and hashed
//! without being written; equal files make it unchanged, anything else is reported and
//! Capstan's version left as it is.

use super::artifacts::RemoteFile;
use super::copy::{StepFailure, VersionCopier};
use crate::digest::Digest;
use crate::manifest::{Manifest, ManifestEntry};
use crate::names::ModelName;
use crate::reference::VersionRef;
use crate::types::ArtifactLayout;

impl VersionCopier<'_> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::TreePath;

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
