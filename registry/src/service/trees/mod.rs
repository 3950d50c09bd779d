//! Versions that hold a tree of files: created pending with their manifest (stored as a
//! blob at once), then each file the store lacks `PUT` by digest, then committed — or
//! created pending with `layout: tree` and filled by one tar stream ([`tar_in`]). On
//! commit every file must be in the store; the tree's servable file is chosen and loaded
//! exactly as serving will (`crate::domain::trees`), and the version becomes `ready` with
//! the manifest's digest. Downloads of files, manifests and tar streams: [`files`].

mod cache;
mod files;
mod tar_in;

use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};

use capstan_client::manifest::{Manifest, MANIFEST_MEDIA_TYPE};
use capstan_client::types::{
    ArtifactLayout, EventKind, MissingBlob, MissingFiles, NewVersion, Version, VersionStatus,
};
use capstan_client::{Digest, ModelName, Signature, VersionRef};

use super::models::lock_model;
use super::resolve::resolve_row;
use super::upload::{insert_version, inspect_model};
use super::views::{load_version_view, to_json};
use super::{event, Registry};
use crate::artifacts::ArtifactStore;
use crate::domain::trees::{mlmodel_entry, served_entry, MAX_MLMODEL_BYTES};
use crate::error::{RegistryError, RegistryResult};
use crate::store::rows::TreeFields;
use crate::store::{events, versions};

pub(crate) use cache::ManifestCache;
pub use files::TreeFile;

/// HEAD requests in flight when checking which files the store holds.
const CHECKS_IN_FLIGHT: usize = 32;
/// The format a tree's served file is loaded as.
const SERVED_FORMAT: &str = "onnx";
/// Served files up to this size are loaded at commit to check them.
const MAX_INSPECTED_FILE: u64 = 512 * 1024 * 1024;

fn not_pending(version: &Version) -> RegistryError {
    RegistryError::conflict(
        "version_not_pending",
        format!(
            "version {} is {}; only a pending file tree accepts files",
            version.version,
            version.status.as_str()
        ),
    )
}

impl Registry {
    /// Two-step tree upload, step one: stores the manifest, creates the pending version.
    pub(super) async fn create_pending_tree(
        &self,
        name: ModelName,
        meta: NewVersion,
        actor: &str,
    ) -> RegistryResult<Version> {
        let manifest = meta.manifest.as_ref().ok_or_else(|| {
            RegistryError::bad_request("invalid_metadata", "a file tree needs its manifest")
        })?;
        self.store_manifest(manifest).await?;
        let actor = actor.to_owned();
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = insert_version(conn, &model, &meta, None, &actor)?;
            Ok(load_version_view(conn, &model, &row)?)
        })
        .await
    }

    /// Stores a manifest's canonical bytes as a blob (its digest is the version's).
    async fn store_manifest(&self, manifest: &Manifest) -> RegistryResult<Digest> {
        let bytes = Bytes::from(manifest.to_bytes());
        let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes)]);
        let staged = self.stage_artifact(body).await?;
        Ok(staged.commit().await?)
    }

    /// The manifest of a pending or ready tree version.
    async fn tree_manifest(&self, version: &Version) -> RegistryResult<Arc<Manifest>> {
        let digest = match version.digest {
            Some(digest) => digest,
            None => self
                .expected_digest(&version.model, version.version)
                .await?
                .0
                .ok_or_else(|| {
                    RegistryError::conflict(
                        "version_not_ready",
                        format!(
                            "version {} has no manifest yet (its tar stream has not arrived)",
                            version.version
                        ),
                    )
                })?,
        };
        self.stored_manifest(&digest).await
    }

    /// A stored manifest, read and checked once (see [`ManifestCache`]).
    pub(crate) async fn stored_manifest(&self, digest: &Digest) -> RegistryResult<Arc<Manifest>> {
        if let Some(manifest) = self.manifests.get(digest) {
            return Ok(manifest);
        }
        let manifest = Arc::new(read_manifest(&self.artifacts, digest).await?);
        self.manifests.insert(*digest, manifest.clone());
        Ok(manifest)
    }

    /// A pending tree (created with a manifest), checked.
    async fn pending_tree(&self, name: &ModelName, number: i64) -> RegistryResult<Version> {
        let version = self
            .get_version(name.clone(), VersionRef::Number(number))
            .await?;
        if version.layout != ArtifactLayout::Tree {
            return Err(RegistryError::conflict(
                "not_a_tree",
                format!("version {number} holds one blob, not a file tree"),
            ));
        }
        if version.status != VersionStatus::Pending {
            return Err(not_pending(&version));
        }
        Ok(version)
    }

    /// Which files of a pending tree the store still lacks (each content once).
    pub async fn missing_files(
        &self,
        name: ModelName,
        number: i64,
    ) -> RegistryResult<MissingFiles> {
        let version = self.pending_tree(&name, number).await?;
        let manifest = self.tree_manifest(&version).await?;
        let missing = self.absent_blobs(&manifest).await?;
        Ok(MissingFiles {
            files: manifest.files().len(),
            missing_bytes: missing.iter().map(|b| b.size).sum(),
            missing,
        })
    }

    async fn absent_blobs(&self, manifest: &Manifest) -> RegistryResult<Vec<MissingBlob>> {
        let artifacts = &self.artifacts;
        let checked: Vec<(Digest, u64, bool)> = futures::stream::iter(manifest.blobs())
            .map(|(digest, size)| async move {
                Ok::<_, RegistryError>((digest, size, artifacts.exists(&digest).await?))
            })
            .buffered(CHECKS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(checked
            .into_iter()
            .filter(|(_, _, present)| !present)
            .map(|(digest, size, _)| MissingBlob { digest, size })
            .collect())
    }

    /// Stores one file of a pending tree, by digest: only digests its manifest lists are
    /// accepted, and the bytes must hash to it and have the listed size.
    pub async fn upload_tree_file<S, E>(
        &self,
        name: ModelName,
        number: i64,
        digest: Digest,
        body: S,
    ) -> RegistryResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let version = self.pending_tree(&name, number).await?;
        let manifest = self.tree_manifest(&version).await?;
        let listed = manifest.files().iter().find(|f| f.digest == digest);
        let Some(size) = listed.map(|f| f.size) else {
            return Err(RegistryError::bad_request(
                "not_in_manifest",
                format!("the manifest of version {number} lists no file with digest {digest}"),
            ));
        };
        let staged = self.stage_artifact(body).await?;
        let (staged, ()) = staged
            .check(async |_, blob| {
                if blob.digest != digest {
                    return Err(RegistryError::unprocessable(
                        "digest_mismatch",
                        format!(
                            "the uploaded bytes have digest {}, not {digest}",
                            blob.digest
                        ),
                    ));
                }
                if blob.size != size {
                    return Err(RegistryError::unprocessable(
                        "size_mismatch",
                        format!(
                            "the manifest lists {size} bytes for {digest}, {} arrived",
                            blob.size
                        ),
                    ));
                }
                Ok(())
            })
            .await?;
        staged.commit().await?;
        Ok(())
    }

    /// Completes a pending tree: every file must be in the store; the served file is
    /// chosen and checked; the version becomes `ready` with the manifest's digest.
    pub async fn commit_tree(
        &self,
        name: ModelName,
        number: i64,
        actor: &str,
    ) -> RegistryResult<Version> {
        let version = self.pending_tree(&name, number).await?;
        let manifest = self.tree_manifest(&version).await?;
        let missing = self.absent_blobs(&manifest).await?;
        if let Some(first) = missing.first() {
            return Err(RegistryError::conflict(
                "files_missing",
                format!(
                    "{} of the tree's files are not uploaded yet (first: {}); GET …/versions/{number}/missing lists them",
                    missing.len(),
                    first.digest
                ),
            ));
        }
        self.finish_tree(&version, &manifest, actor).await
    }

    /// Inspects a complete tree and marks its version ready.
    async fn finish_tree(
        &self,
        version: &Version,
        manifest: &Manifest,
        actor: &str,
    ) -> RegistryResult<Version> {
        let (served, signature) = self
            .inspect_tree(manifest, version.signature.clone())
            .await?;
        let signature = signature.as_ref().map(to_json).transpose()?;
        let digest = manifest.digest().to_string();
        let size = i64::try_from(manifest.total_size()).unwrap_or(i64::MAX);
        let tree = TreeFields {
            file_count: Some(manifest.files().len() as i64),
            ..served
        };
        let (name, number, actor) = (version.model.clone(), version.version, actor.to_owned());
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = resolve_row(conn, &model, &VersionRef::Number(number))?;
            if !versions::mark_ready(conn, row.id, &digest, size, signature.as_deref(), &tree)? {
                return Err(RegistryError::conflict(
                    "version_not_pending",
                    format!(
                        "version {number} is no longer pending (another upload finished first)"
                    ),
                ));
            }
            let mut ready = event(EventKind::VersionReady, &model.name, Some(number), &actor);
            ready.digest = Some(digest);
            events::append(conn, ready)?;
            let row = resolve_row(conn, &model, &VersionRef::Number(number))?;
            Ok(load_version_view(conn, &model, &row)?)
        })
        .await
    }

    /// Chooses the file serving loads and loads it as serving will. A tree that cannot be
    /// served is still stored: the reason is recorded instead. Only an unreadable store
    /// fails the upload.
    async fn inspect_tree(
        &self,
        manifest: &Manifest,
        declared: Option<Signature>,
    ) -> RegistryResult<(TreeFields, Option<Signature>)> {
        let unservable = |reason: String| TreeFields {
            unservable_reason: Some(reason),
            ..TreeFields::default()
        };
        let mlmodel = match mlmodel_entry(manifest) {
            Some(entry) if entry.size > MAX_MLMODEL_BYTES => {
                return Ok((
                    unservable(format!("{} is larger than 1 MiB", entry.path)),
                    declared,
                ))
            }
            Some(entry) => {
                let bytes = self
                    .artifacts
                    .read_blob_range(&entry.digest, 0..entry.size)
                    .await?;
                Some((
                    entry.path.clone(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ))
            }
            None => None,
        };
        let chosen = served_entry(manifest, mlmodel.as_ref().map(|(p, t)| (p, t.as_str())));
        let entry = match chosen {
            Ok(entry) => entry,
            Err(reason) => return Ok((unservable(reason), declared)),
        };
        if entry.size > MAX_INSPECTED_FILE {
            return Ok((
                unservable(format!(
                    "{} is larger than the 512 MiB served models may be",
                    entry.path
                )),
                declared,
            ));
        }
        let bytes = self
            .artifacts
            .read_blob_range(&entry.digest, 0..entry.size)
            .await?;
        match inspect_model(SERVED_FORMAT, declared.clone(), bytes).await {
            Ok(signature) => Ok((
                TreeFields {
                    served_path: Some(entry.path.to_string()),
                    served_digest: Some(entry.digest.to_string()),
                    served_size: Some(i64::try_from(entry.size).unwrap_or(i64::MAX)),
                    ..TreeFields::default()
                },
                Some(signature),
            )),
            Err(RegistryError::Unprocessable { detail, .. }) => Ok((
                unservable(format!("{} cannot be served: {detail}", entry.path)),
                declared,
            )),
            Err(other) => Err(other),
        }
    }
}

/// Reads and parses a stored manifest.
pub(crate) async fn read_manifest(
    artifacts: &ArtifactStore,
    digest: &Digest,
) -> RegistryResult<Manifest> {
    let read = artifacts.get(digest, None).await?;
    let chunks: Vec<Bytes> = read.stream.try_collect().await?;
    Manifest::parse(&chunks.concat()).map_err(|e| {
        RegistryError::unprocessable(
            "invalid_manifest",
            format!("the stored manifest {digest} ({MANIFEST_MEDIA_TYPE}) is unreadable: {e}"),
        )
    })
}
