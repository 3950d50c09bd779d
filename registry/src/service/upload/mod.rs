//! Creating versions: the one-step upload (metadata and bytes together, see [`parts`]),
//! and the two-step upload (a `pending` version, then its bytes). Uploaded bytes are
//! staged, verified, then moved into place before the version row says `ready`; a
//! [`StagedUpload`] makes sure a staged upload that is not committed is deleted.

mod parts;
mod staged;

use bytes::Bytes;
use futures::Stream;

use capstan_client::runtime;
use capstan_client::types::{ArtifactLayout, EventKind, NewVersion, Version, VersionStatus};
use capstan_client::{Digest, ModelName, Signature, VersionRef};

use super::models::{lock_model, model_not_found};
use super::resolve::resolve_row;
use super::views::{load_version_view, to_json};
use super::{event, now, Registry};
use crate::artifacts::{ArtifactStore, StagedBlob};
use crate::domain::metadata::{check_format, check_text, normalize_tags};
use crate::error::{RegistryError, RegistryResult};
use crate::store::rows::{ModelRow, NewVersionRow, TreeFields, VersionRow};
use crate::store::{events, models, versions, DbConn};

pub use parts::{parse_new_version, UploadPart};
pub(crate) use staged::StagedUpload;

/// The largest version number a creation may ask for (the next number must still fit).
const MAX_VERSION_NUMBER: i64 = 1_000_000_000;

/// Checks a new version's metadata; returns it with its tags normalised.
fn checked_metadata(mut meta: NewVersion) -> RegistryResult<NewVersion> {
    check_format(&meta.format)?;
    check_text("description", meta.description.as_deref())?;
    check_text("source", meta.source.as_deref())?;
    meta.tags = Some(normalize_tags(meta.tags.take())?);
    if let Some(signature) = &meta.signature {
        signature
            .validate()
            .map_err(|e| RegistryError::bad_request("invalid_signature", e.to_string()))?;
    }
    if let Some(manifest) = &meta.manifest {
        if meta.layout == Some(ArtifactLayout::Blob) {
            return Err(RegistryError::bad_request(
                "invalid_metadata",
                "a version with a `manifest` holds a file tree: omit `layout` or set it to `tree`",
            ));
        }
        meta.layout = Some(ArtifactLayout::Tree);
        let digest = manifest.digest();
        if let Some(declared) = meta.sha256.filter(|d| *d != digest) {
            return Err(RegistryError::bad_request(
                "digest_mismatch",
                format!("the manifest has digest {digest}, but sha256 {declared} was declared"),
            ));
        }
        meta.sha256 = Some(digest);
    }
    if meta
        .version
        .is_some_and(|n| !(1..=MAX_VERSION_NUMBER).contains(&n))
    {
        return Err(RegistryError::bad_request(
            "invalid_metadata",
            format!("`version` must be a number from 1 to {MAX_VERSION_NUMBER}"),
        ));
    }
    if let Some((name, value)) = meta.metrics.iter().flatten().find(|(_, v)| !v.is_finite()) {
        return Err(RegistryError::bad_request(
            "invalid_metrics",
            format!("metric {name:?} is {value}, metrics must be finite numbers"),
        ));
    }
    Ok(meta)
}

fn digest_mismatch(declared: &Digest, actual: &Digest) -> RegistryError {
    RegistryError::unprocessable(
        "digest_mismatch",
        format!("the uploaded bytes have digest {actual}, but {declared} was declared"),
    )
}

/// The number of a new version: the one `meta` asks for (an import keeping another
/// registry's numbers), else the next.
fn allocate_number(conn: &mut DbConn, model: &ModelRow, meta: &NewVersion) -> RegistryResult<i64> {
    let Some(number) = meta.version else {
        return Ok(models::allocate_version(conn, model.id)?);
    };
    if !models::claim_version(conn, model.id, number)? {
        return Err(RegistryError::conflict(
            "version_exists",
            format!(
                "model {:?} already used version number {number}; new versions start at {}",
                model.name, model.next_version
            ),
        ));
    }
    Ok(number)
}

/// Inserts a version row for `meta` with the next number; `ready` when `blob` is given.
pub(super) fn insert_version(
    conn: &mut DbConn,
    model: &ModelRow,
    meta: &NewVersion,
    blob: Option<(&Digest, u64)>,
    actor: &str,
) -> RegistryResult<VersionRow> {
    let number = allocate_number(conn, model, meta)?;
    let row = versions::insert(
        conn,
        &NewVersionRow {
            model_id: model.id,
            version: number,
            status: if blob.is_some() {
                VersionStatus::Ready
            } else {
                VersionStatus::Pending
            },
            digest: blob.map(|(d, _)| d.to_string()),
            size: blob.map(|(_, size)| i64::try_from(size).unwrap_or(i64::MAX)),
            format: meta.format.clone(),
            expected_digest: meta.sha256.map(|d| d.to_string()),
            signature: meta.signature.as_ref().map(to_json).transpose()?,
            metrics: to_json(&meta.metrics.clone().unwrap_or_default())?,
            params: to_json(&meta.params.clone().unwrap_or_default())?,
            tags: to_json(&meta.tags.clone().unwrap_or_default())?,
            source: meta.source.clone(),
            description: meta.description.clone(),
            created_at: now(),
            created_by: Some(actor.to_owned()),
            layout: meta.layout.unwrap_or_default().as_str().to_owned(),
        },
    )?;
    events::append(
        conn,
        event(EventKind::VersionCreated, &model.name, Some(number), actor),
    )?;
    if let Some((digest, _)) = blob {
        let mut ready = event(EventKind::VersionReady, &model.name, Some(number), actor);
        ready.digest = Some(digest.to_string());
        events::append(conn, ready)?;
    }
    Ok(row)
}

/// Artifacts of servable formats up to this size are loaded at upload time: to check they
/// are valid models and to derive or check their signature.
const MAX_INSPECTED_ARTIFACT: u64 = 512 * 1024 * 1024;

/// For servable formats: loads the staged artifact with the runtime exactly as serving
/// will, rejecting (422) an artifact that is not a valid model, uses an operator the
/// runtime cannot run, or contradicts the declared signature; returns the signature to
/// store (the served one: declared names, the artifact's types, classes or targets).
pub(super) async fn inspect_artifact(
    artifacts: &ArtifactStore,
    format: &str,
    declared: Option<Signature>,
    staged: &StagedBlob,
) -> RegistryResult<Option<Signature>> {
    if !runtime::servable_formats().contains(&format) || staged.size > MAX_INSPECTED_ARTIFACT {
        return Ok(declared);
    }
    let bytes = artifacts.read_staged(staged).await?;
    inspect_model(format, declared, bytes).await.map(Some)
}

/// Loads a model of a servable `format` with the runtime, exactly as serving will; returns
/// the served signature, or the 422 that says why it cannot be served.
pub(super) async fn inspect_model(
    format: &str,
    declared: Option<Signature>,
    bytes: Bytes,
) -> RegistryResult<Signature> {
    let format = format.to_owned();
    let inspected = tokio::task::spawn_blocking(move || {
        runtime::load(&format, &bytes, declared.as_ref()).map(|p| p.signature().clone())
    })
    .await
    .map_err(|_| RegistryError::Store(crate::store::StoreError::TaskJoin))?;
    inspected.map_err(|e| {
        let code = match e {
            runtime::RuntimeError::UnsupportedOperator { .. } => "unsupported_operator",
            _ => "invalid_artifact",
        };
        RegistryError::unprocessable(code, e.to_string())
    })
}

/// Checks the staged bytes against the declared digest, then inspects them (see
/// [`inspect_artifact`]); returns the signature to store.
async fn verify_staged(
    artifacts: &ArtifactStore,
    staged: &StagedBlob,
    declared_digest: Option<Digest>,
    format: &str,
    declared_signature: Option<Signature>,
) -> RegistryResult<Option<Signature>> {
    if let Some(declared) = declared_digest {
        if declared != staged.digest {
            return Err(digest_mismatch(&declared, &staged.digest));
        }
    }
    inspect_artifact(artifacts, format, declared_signature, staged).await
}

impl Registry {
    /// Validates a new version's metadata and that its model exists, before any bytes
    /// are read.
    async fn check_new_version(
        &self,
        name: &ModelName,
        meta: NewVersion,
    ) -> RegistryResult<NewVersion> {
        let meta = checked_metadata(meta)?;
        let key = name.clone();
        let exists = self
            .db
            .read(move |conn| Ok::<_, RegistryError>(models::find(conn, key.as_str())?.is_some()))
            .await?;
        if !exists {
            return Err(model_not_found(name.as_str()));
        }
        Ok(meta)
    }

    /// Streams an upload body to the staging area (see [`crate::artifacts`]).
    pub(super) async fn stage_artifact<S, E>(&self, body: S) -> RegistryResult<StagedUpload>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let blob = self
            .artifacts
            .stage(body, self.limits.max_artifact_bytes)
            .await?;
        Ok(StagedUpload::new(self.artifacts.clone(), blob))
    }

    /// One-step upload, last step: the staged bytes are verified and moved into place,
    /// and only then is the version created, `ready`, in one transaction.
    async fn create_ready_version(
        &self,
        name: ModelName,
        mut meta: NewVersion,
        staged: StagedUpload,
        actor: &str,
    ) -> RegistryResult<Version> {
        if meta.layout == Some(ArtifactLayout::Tree) {
            staged.discard().await;
            return Err(RegistryError::bad_request(
                "invalid_metadata",
                "a file tree is uploaded in two steps: create the version (with its `manifest`, \
                 or `layout: tree` and then a tar stream on its `upload_url`)",
            ));
        }
        let actor = actor.to_owned();
        let declared_signature = meta.signature.take();
        let (staged, signature) = staged
            .check(async |artifacts, blob| {
                verify_staged(
                    artifacts,
                    blob,
                    meta.sha256,
                    &meta.format,
                    declared_signature,
                )
                .await
            })
            .await?;
        meta.signature = signature;
        let size = staged.size();
        let digest = staged.commit().await?;
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = insert_version(conn, &model, &meta, Some((&digest, size)), &actor)?;
            Ok(load_version_view(conn, &model, &row)?)
        })
        .await
    }

    /// Two-step upload, step one: a `pending` version with an `upload_url` — or, with a
    /// manifest, a pending file tree whose files are sent next (see `super::trees`).
    pub async fn create_pending_version(
        &self,
        name: ModelName,
        meta: NewVersion,
        actor: &str,
    ) -> RegistryResult<Version> {
        let meta = checked_metadata(meta)?;
        if meta.manifest.is_some() {
            return self.create_pending_tree(name, meta, actor).await;
        }
        let actor = actor.to_owned();
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = insert_version(conn, &model, &meta, None, &actor)?;
            Ok(load_version_view(conn, &model, &row)?)
        })
        .await
    }

    /// Two-step upload, step two: the bytes of a pending version. Any failure marks the
    /// version `failed` (its number stays taken).
    pub async fn upload_pending_artifact<S, E>(
        &self,
        name: ModelName,
        number: i64,
        body: S,
        actor: &str,
    ) -> RegistryResult<Version>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let pending = self
            .get_version(name.clone(), VersionRef::Number(number))
            .await?;
        if pending.upload_url.is_none() {
            return Err(RegistryError::conflict(
                "version_not_pending",
                format!(
                    "version {number} is {}; only pending versions accept an upload",
                    pending.status.as_str()
                ),
            ));
        }
        if pending.layout == ArtifactLayout::Tree {
            return self.upload_tree_tar(name, number, body, actor).await;
        }
        let (expected, declared_signature) = self.expected_digest(&name, number).await?;
        let verified = async {
            self.stage_artifact(body)
                .await?
                .check(async |artifacts, blob| {
                    verify_staged(
                        artifacts,
                        blob,
                        expected,
                        &pending.format,
                        declared_signature,
                    )
                    .await
                })
                .await
        };
        let (staged, signature) = match verified.await {
            Ok(verified) => verified,
            Err(error) => {
                self.fail_version(&name, number, actor).await?;
                return Err(error);
            }
        };
        let signature = signature.as_ref().map(to_json).transpose()?;
        let size = staged.size();
        let digest = staged.commit().await?;
        let actor = actor.to_owned();
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = resolve_row(conn, &model, &VersionRef::Number(number))?;
            let size = i64::try_from(size).unwrap_or(i64::MAX);
            if !versions::mark_ready(
                conn,
                row.id,
                &digest.to_string(),
                size,
                signature.as_deref(),
                &TreeFields::default(),
            )? {
                return Err(RegistryError::conflict(
                    "version_not_pending",
                    format!(
                        "version {number} is no longer pending (another upload finished first)"
                    ),
                ));
            }
            let mut ready = event(EventKind::VersionReady, &model.name, Some(number), &actor);
            ready.digest = Some(digest.to_string());
            events::append(conn, ready)?;
            let row = resolve_row(conn, &model, &VersionRef::Number(number))?;
            Ok(load_version_view(conn, &model, &row)?)
        })
        .await
    }

    /// The digest and signature declared when a pending version was created.
    pub(super) async fn expected_digest(
        &self,
        name: &ModelName,
        number: i64,
    ) -> RegistryResult<(Option<Digest>, Option<Signature>)> {
        let name = name.clone();
        self.db
            .read(move |conn| {
                let model = models::find(conn, name.as_str())?
                    .ok_or_else(|| model_not_found(name.as_str()))?;
                let row = resolve_row(conn, &model, &VersionRef::Number(number))?;
                let digest = row
                    .expected_digest
                    .as_deref()
                    .and_then(|d| Digest::parse(d).ok());
                let signature = row
                    .signature
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(crate::store::StoreError::from)?;
                Ok((digest, signature))
            })
            .await
    }

    pub(super) async fn fail_version(
        &self,
        name: &ModelName,
        number: i64,
        actor: &str,
    ) -> RegistryResult<()> {
        let name = name.clone();
        let actor = actor.to_owned();
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = resolve_row(conn, &model, &VersionRef::Number(number))?;
            if versions::mark_failed(conn, row.id)? {
                events::append(
                    conn,
                    event(EventKind::VersionFailed, &model.name, Some(number), &actor),
                )?;
            }
            Ok(())
        })
        .await
    }
}
