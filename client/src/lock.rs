//! `capstan.lock`: for each model a crate fetches, the ref it asked for and what it was
//! pinned to — version, digest, size and format — so every build embeds the same bytes
//! until someone runs `capstan lock update`. TOML, sorted by ref, written atomically and
//! only when something changed (cargo watches the file, so a needless write would
//! rebuild). The fetch logic that reads and writes it is in [`pin`].

pub mod pin;

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cache::sibling_temp;
use crate::config::{env, non_empty_var};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::ModelRef;
use crate::types::{ArtifactLayout, Version};

/// The lockfile's name, beside `Cargo.toml`.
pub const LOCKFILE_NAME: &str = "capstan.lock";
/// The format version written in the file.
const FORMAT_VERSION: u32 = 1;

const HEADER: &str = "\
# capstan.lock: the model versions this crate embeds, pinned by digest.
# Written by capstan-client on the first build; commit it. Builds fetch exactly these
# bytes until `capstan lock update` (or CAPSTAN_UPDATE=1) re-resolves the refs.
";

/// One pinned model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// The ref the crate asked for, e.g. `bc@production`.
    #[serde(rename = "ref")]
    pub reference: ModelRef,
    /// The version it resolved to.
    pub version: i64,
    /// The artifact's sha256: the bytes every build must get.
    pub digest: Digest,
    /// The bytes of the artifact (a tree: of all its files).
    pub size: u64,
    pub format: String,
    /// `tree` for a version holding a tree of files (`digest` is its manifest's); absent
    /// for one blob.
    #[serde(default, skip_serializing_if = "is_blob")]
    pub layout: ArtifactLayout,
}

fn is_blob(layout: &ArtifactLayout) -> bool {
    *layout == ArtifactLayout::Blob
}

impl LockEntry {
    /// The entry for `reference` resolved to `version`; the version must be ready.
    pub fn resolved(reference: &ModelRef, version: &Version) -> Result<Self> {
        let (Some(digest), Some(size)) = (version.digest, version.size) else {
            return Err(Error::Api {
                status: 409,
                code: "version_not_ready".into(),
                detail: format!(
                    "{reference} resolves to version {}, which is {} and has no artifact yet",
                    version.version,
                    version.status.as_str()
                ),
            });
        };
        Ok(LockEntry {
            reference: reference.clone(),
            version: version.version,
            digest,
            size: u64::try_from(size).unwrap_or_default(),
            format: version.format.clone(),
            layout: version.layout,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockDocument {
    version: u32,
    #[serde(default, rename = "model")]
    models: Vec<LockEntry>,
}

/// A lockfile: its path and entries. A missing file is an empty lockfile.
#[derive(Clone, Debug)]
pub struct Lockfile {
    path: PathBuf,
    entries: Vec<LockEntry>,
    changed: bool,
}

impl Lockfile {
    /// Reads `path`; a file that does not exist yet gives an empty lockfile.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let entries = if text.trim().is_empty() {
            Vec::new()
        } else {
            let document: LockDocument = toml::from_str(&text).map_err(|e| Error::Lockfile {
                path: path.clone(),
                message: e.to_string(),
            })?;
            if document.version != FORMAT_VERSION {
                return Err(Error::Lockfile {
                    path,
                    message: format!(
                        "lockfile format version {} is not supported (this client writes {FORMAT_VERSION})",
                        document.version
                    ),
                });
            }
            document.models
        };
        Ok(Lockfile {
            path,
            entries,
            changed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[LockEntry] {
        &self.entries
    }

    pub fn get(&self, reference: &ModelRef) -> Option<&LockEntry> {
        self.entries.iter().find(|e| e.reference == *reference)
    }

    /// Adds or replaces the entry for `entry.reference`; returns whether anything changed.
    pub fn set(&mut self, entry: LockEntry) -> bool {
        match self
            .entries
            .iter_mut()
            .find(|e| e.reference == entry.reference)
        {
            Some(existing) if *existing == entry => return false,
            Some(existing) => *existing = entry,
            None => self.entries.push(entry),
        }
        self.entries.sort_by_key(|e| e.reference.to_string());
        self.changed = true;
        true
    }

    /// Whether entries changed since the file was read or last saved.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// The file's contents.
    pub fn to_toml(&self) -> Result<String> {
        let document = LockDocument {
            version: FORMAT_VERSION,
            models: self.entries.clone(),
        };
        let body = toml::to_string(&document).map_err(|e| Error::Lockfile {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        Ok(format!("{HEADER}\n{body}"))
    }

    /// Writes the file (temp file, then rename) if entries changed; returns whether it
    /// wrote.
    pub fn save(&mut self) -> Result<bool> {
        if !self.changed {
            return Ok(false);
        }
        let text = self.to_toml()?;
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let temp = sibling_temp(&self.path);
        fs::write(&temp, text).map_err(|e| Error::io(&temp, e))?;
        fs::rename(&temp, &self.path).map_err(|e| {
            let _ = fs::remove_file(&temp);
            Error::io(&self.path, e)
        })?;
        self.changed = false;
        Ok(true)
    }
}

/// The lockfile of the crate in `dir`: `$CAPSTAN_LOCKFILE` (relative to `dir`) when set,
/// else `dir/capstan.lock`.
pub fn lockfile_path(dir: &Path) -> PathBuf {
    match non_empty_var(env::LOCKFILE) {
        Some(path) => dir.join(path),
        None => dir.join(LOCKFILE_NAME),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn entry(reference: &str, version: i64, bytes: &[u8]) -> LockEntry {
        LockEntry {
            reference: ModelRef::parse(reference).unwrap(),
            version,
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            format: "linfa-logistic".into(),
            layout: ArtifactLayout::Blob,
        }
    }

    #[test]
    fn round_trips_sorted_and_writes_only_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capstan.lock");
        let mut lock = Lockfile::load(&path).unwrap();
        assert!(lock.entries().is_empty());
        assert!(lock.set(entry("zz@production", 1, b"a")));
        assert!(lock.set(entry("bc@production", 3, b"b")));
        assert!(lock.save().unwrap());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# capstan.lock"), "{text}");
        assert!(
            text.find("bc@production").unwrap() < text.find("zz@production").unwrap(),
            "{text}"
        );

        let mut again = Lockfile::load(&path).unwrap();
        assert_eq!(again.entries(), lock.entries());
        assert!(!again.set(entry("bc@production", 3, b"b")));
        assert!(!again.save().unwrap());
        assert!(again.set(entry("bc@production", 4, b"c")));
        assert_eq!(
            again
                .get(&ModelRef::parse("bc@production").unwrap())
                .unwrap()
                .version,
            4
        );
    }

    #[test]
    fn rejects_a_broken_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capstan.lock");
        fs::write(&path, "version = 1\n[[model]]\nref = \"BAD NAME\"\n").unwrap();
        assert!(matches!(Lockfile::load(&path), Err(Error::Lockfile { .. })));
        fs::write(&path, "version = 9\n").unwrap();
        assert!(Lockfile::load(&path).is_err());
    }
}
