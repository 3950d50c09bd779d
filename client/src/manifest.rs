//! A file tree's manifest: what a version holds when its artifact is a directory (an
//! MLflow model: `MLmodel`, `model.onnx`, `requirements.txt`, …) rather than one blob.
//!
//! Each file is a content-addressed blob; the manifest lists them (sorted paths, each with
//! its digest, size and executable bit) and is itself stored as a blob, so the manifest's
//! digest names every byte of the tree. Its JSON is canonical — one encoding per tree —
//! so the same files always give the same digest. [`TreePath`] parses a path inside a
//! tree: relative, `/`-separated, no `.`/`..`/empty segments, no backslash or control
//! characters; it is the one check every way in (a manifest, a tar stream, a URL) passes.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::digest::Digest;

/// The media type a manifest is served with.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.capstan.manifest.v1+json";
/// Most files in one tree.
pub const MAX_TREE_FILES: usize = 100_000;
/// Longest path inside a tree, in bytes, and longest segment.
pub const MAX_TREE_PATH: usize = 1024;
pub const MAX_TREE_SEGMENT: usize = 255;

/// Why a path or a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("invalid path {path:?} in a file tree: {reason}")]
    Path { path: String, reason: &'static str },
    #[error("the file tree lists {0:?} twice")]
    Duplicate(String),
    #[error("the file tree lists {file:?} as a file and as a directory of {inside:?}")]
    FileAndDirectory { file: String, inside: String },
    #[error("the file tree has {0} files; at most {MAX_TREE_FILES} are allowed")]
    TooManyFiles(usize),
    #[error("the file tree is empty")]
    Empty,
    #[error("the manifest's paths are not in sorted order at {0:?}")]
    Unsorted(String),
    #[error("the manifest is not valid JSON of the expected shape: {0}")]
    Json(String),
}

/// A path inside a file tree, checked (see the module header).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "MLmodel"))]
#[serde(transparent)]
pub struct TreePath(String);

impl TreePath {
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let refuse = |reason| {
            Err(ManifestError::Path {
                path: text.chars().take(200).collect(),
                reason,
            })
        };
        if text.is_empty() {
            return refuse("empty");
        }
        if text.len() > MAX_TREE_PATH {
            return refuse("longer than 1024 bytes");
        }
        if text.starts_with('/') {
            return refuse("absolute; paths are relative to the tree's root");
        }
        if text.contains('\\') {
            return refuse("contains a backslash");
        }
        if text.chars().any(char::is_control) {
            return refuse("contains a control character");
        }
        for segment in text.split('/') {
            match segment {
                "" => return refuse("has an empty segment (`//` or a trailing `/`)"),
                "." | ".." => return refuse("has a `.` or `..` segment"),
                s if s.len() > MAX_TREE_SEGMENT => return refuse("has a segment over 255 bytes"),
                _ => {}
            }
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file name: the last segment.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The path of `relative` (as written in a file of this tree, `./` and `../` allowed)
    /// seen from this file's directory, if it stays inside the tree.
    pub fn sibling(&self, relative: &str) -> Option<TreePath> {
        let mut segments: Vec<&str> = self.0.split('/').collect();
        segments.pop();
        for segment in relative.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop()?;
                }
                other => segments.push(other),
            }
        }
        TreePath::parse(&segments.join("/")).ok()
    }
}

impl fmt::Display for TreePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TreePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TreePath({:?})", self.0)
    }
}

impl std::str::FromStr for TreePath {
    type Err = ManifestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for TreePath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        TreePath::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One file of a tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    pub path: TreePath,
    pub digest: Digest,
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub size: u64,
    /// The file's executable bit (a script in the tree).
    #[serde(default)]
    pub executable: bool,
}

/// The files of a tree, sorted by path (byte order), each once; no file is also a
/// directory of another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Manifest {
    #[cfg_attr(feature = "openapi", schema(max_items = 100000))]
    files: Vec<ManifestEntry>,
}

impl Manifest {
    /// A manifest of `files` in any order: sorted and checked.
    pub fn new(mut files: Vec<ManifestEntry>) -> Result<Self, ManifestError> {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Self::checked(files)
    }

    /// Checks files already sorted (as a stored manifest must be).
    fn checked(files: Vec<ManifestEntry>) -> Result<Self, ManifestError> {
        if files.is_empty() {
            return Err(ManifestError::Empty);
        }
        if files.len() > MAX_TREE_FILES {
            return Err(ManifestError::TooManyFiles(files.len()));
        }
        for pair in files.windows(2) {
            let (a, b) = (pair[0].path.as_str(), pair[1].path.as_str());
            match a.cmp(b) {
                std::cmp::Ordering::Equal => return Err(ManifestError::Duplicate(a.to_owned())),
                std::cmp::Ordering::Greater => return Err(ManifestError::Unsorted(b.to_owned())),
                std::cmp::Ordering::Less => {}
            }
        }
        // A file `a` and a file `a/b`: `a/…` sorts right after `a` only when no sibling
        // such as `a.txt` sits between, so check every file's parent directories.
        let paths: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        for file in &files {
            let path = file.path.as_str();
            for (at, _) in path.match_indices('/') {
                if paths.contains(&path[..at]) {
                    return Err(ManifestError::FileAndDirectory {
                        file: path[..at].to_owned(),
                        inside: path.to_owned(),
                    });
                }
            }
        }
        Ok(Self { files })
    }

    /// Parses stored or uploaded manifest JSON; the paths must be sorted already.
    pub fn parse(json: &[u8]) -> Result<Self, ManifestError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            files: Vec<ManifestEntry>,
        }
        let wire: Wire =
            serde_json::from_slice(json).map_err(|e| ManifestError::Json(e.to_string()))?;
        Self::checked(wire.files)
    }

    pub fn files(&self) -> &[ManifestEntry] {
        &self.files
    }

    /// The canonical JSON: what is stored and what the digest is of.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The manifest's digest: the version's digest.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.to_bytes())
    }

    /// The bytes of all files together.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub fn get(&self, path: &str) -> Option<&ManifestEntry> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    /// The distinct file contents: what the object store must hold.
    pub fn blobs(&self) -> Vec<(Digest, u64)> {
        let mut seen = BTreeSet::new();
        self.files
            .iter()
            .filter(|f| seen.insert(f.digest))
            .map(|f| (f.digest, f.size))
            .collect()
    }
}

impl<'de> Deserialize<'de> for Manifest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            files: Vec<ManifestEntry>,
        }
        let wire = Wire::deserialize(deserializer)?;
        Manifest::new(wire.files).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, content: &[u8]) -> ManifestEntry {
        ManifestEntry {
            path: TreePath::parse(path).unwrap(),
            digest: Digest::of(content),
            size: content.len() as u64,
            executable: false,
        }
    }

    #[test]
    fn paths_are_relative_and_stay_inside() {
        for good in ["MLmodel", "data/model.onnx", "a b/ü.txt", ".hidden", "x..y"] {
            assert!(TreePath::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/",
            "./a",
            "a\\b",
            "a\0b",
            "a\nb",
        ] {
            assert!(TreePath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TreePath::parse(&"a".repeat(1025)).is_err());
        assert!(TreePath::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn siblings_resolve_inside_the_tree_only() {
        let file = TreePath::parse("model/MLmodel").unwrap();
        assert_eq!(
            file.sibling("model.onnx").unwrap().as_str(),
            "model/model.onnx"
        );
        assert_eq!(
            file.sibling("./a/b.onnx").unwrap().as_str(),
            "model/a/b.onnx"
        );
        assert_eq!(file.sibling("../top.txt").unwrap().as_str(), "top.txt");
        assert!(file.sibling("../../etc/passwd").is_none());
    }

    #[test]
    fn canonical_json_gives_one_digest_per_tree() {
        let a = Manifest::new(vec![entry("b.txt", b"b"), entry("MLmodel", b"m")]).unwrap();
        let b = Manifest::new(vec![entry("MLmodel", b"m"), entry("b.txt", b"b")]).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
        assert_eq!(a.digest(), b.digest());
        let parsed = Manifest::parse(&a.to_bytes()).unwrap();
        assert_eq!(parsed, a);
        assert_eq!(a.get("b.txt").unwrap().size, 1);
        assert!(a.get("c").is_none());
        let changed = Manifest::new(vec![entry("MLmodel", b"m"), entry("b.txt", b"c")]).unwrap();
        assert_ne!(changed.digest(), a.digest());
    }

    #[test]
    fn refuses_duplicates_files_as_directories_and_disorder() {
        assert!(matches!(
            Manifest::new(vec![entry("a", b"1"), entry("a", b"2")]),
            Err(ManifestError::Duplicate(_))
        ));
        assert!(matches!(
            Manifest::new(vec![
                entry("a", b"1"),
                entry("a.txt", b"2"),
                entry("a/b", b"3")
            ]),
            Err(ManifestError::FileAndDirectory { .. })
        ));
        assert!(matches!(Manifest::new(vec![]), Err(ManifestError::Empty)));
        let unsorted = br#"{"files":[
            {"path":"b","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1},
            {"path":"a","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1}]}"#;
        assert!(matches!(
            Manifest::parse(unsorted),
            Err(ManifestError::Unsorted(_))
        ));
        let traversal = br#"{"files":[{"path":"../x","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1}]}"#;
        assert!(Manifest::parse(traversal).is_err());
    }

    #[test]
    fn equal_contents_are_one_blob() {
        let m = Manifest::new(vec![
            entry("a", b"same"),
            entry("b", b"same"),
            entry("c", b"x"),
        ])
        .unwrap();
        assert_eq!(m.blobs().len(), 2);
        assert_eq!(m.total_size(), 9);
    }
}
