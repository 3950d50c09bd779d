//! Use cases on versions: upload (one step or two), list, archive.

use bytes::Bytes;
use futures::Stream;

use capstan_client::http::VersionQuery;
use capstan_client::runtime;
use capstan_client::types::{EventKind, NewVersion, Version, VersionPage};
use capstan_client::{Digest, ModelName, Signature, VersionRef};

use super::convert::{load_version_view, to_json, version_view};
use super::models::{lock_model, model_not_found};
use super::resolve::resolve_row;
use super::{event, now, Registry};
use crate::artifacts::StagedBlob;
use crate::domain::paging::{decode_token, encode_token, page_limit};
use crate::domain::policy::check_archivable;
use crate::domain::text::{check_format, check_text, normalize_tags};
use crate::error::{RegistryError, RegistryResult};
use crate::store::rows::{ModelRow, NewVersionRow, VersionRow};
use crate::store::{aliases, events, models, versions, DbConn};

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

/// Inserts a version row for `meta` with the next number; `ready` when `blob` is given.
fn insert_version(
    conn: &mut DbConn,
    model: &ModelRow,
    meta: &NewVersion,
    blob: Option<(&Digest, u64)>,
) -> RegistryResult<VersionRow> {
    let number = models::allocate_version(conn, model.id)?;
    let row = versions::insert(
        conn,
        &NewVersionRow {
            model_id: model.id,
            version: number,
            status: if blob.is_some() { "ready" } else { "pending" }.to_owned(),
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
        },
    )?;
    events::append(
        conn,
        event(EventKind::VersionCreated, &model.name, Some(number)),
    )?;
    if let Some((digest, _)) = blob {
        let mut ready = event(EventKind::VersionReady, &model.name, Some(number));
        ready.digest = Some(digest.to_string());
        events::append(conn, ready)?;
    }
    Ok(row)
}

/// Artifacts of servable formats up to this size are loaded at upload time: to check they
/// are valid models and to derive or check their signature.
const MAX_INSPECTED_ARTIFACT: u64 = 512 * 1024 * 1024;

impl Registry {
    /// For servable formats: loads the staged artifact with the runtime, rejecting (422) an
    /// artifact that is not a valid model or contradicts the declared signature, and
    /// returns the signature to store (the declared one, or one derived from the artifact).
    async fn inspect_artifact(
        &self,
        format: &str,
        declared: Option<Signature>,
        staged: &StagedBlob,
    ) -> RegistryResult<Option<Signature>> {
        if !runtime::servable_formats().contains(&format) || staged.size > MAX_INSPECTED_ARTIFACT {
            return Ok(declared);
        }
        let bytes = self.artifacts.read_staged(staged).await?;
        let format = format.to_owned();
        let inspected = tokio::task::spawn_blocking(move || match declared {
            Some(signature) => {
                runtime::load(&format, &bytes, Some(&signature)).map(|p| p.signature().clone())
            }
            None => runtime::derive_signature(&format, &bytes),
        })
        .await
        .map_err(|_| RegistryError::Store(crate::store::StoreError::TaskJoin))?;
        inspected
            .map(Some)
            .map_err(|e| RegistryError::unprocessable("invalid_artifact", e.to_string()))
    }

    /// Validates a new version's metadata and that its model exists, before any bytes
    /// are read.
    pub async fn check_new_version(
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
    pub async fn stage_artifact<S, E>(&self, body: S) -> RegistryResult<StagedBlob>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        Ok(self
            .artifacts
            .stage(body, self.limits.max_artifact_bytes)
            .await?)
    }

    pub async fn discard_staged(&self, staged: StagedBlob) {
        self.artifacts.discard(staged).await;
    }

    /// One-step upload: the bytes are staged and verified; the blob is moved into place,
    /// and only then is the version created, `ready`, in one transaction.
    pub async fn create_ready_version(
        &self,
        name: ModelName,
        meta: NewVersion,
        staged: StagedBlob,
    ) -> RegistryResult<Version> {
        if let Some(declared) = meta.sha256 {
            if declared != staged.digest {
                let error = digest_mismatch(&declared, &staged.digest);
                self.artifacts.discard(staged).await;
                return Err(error);
            }
        }
        let mut meta = meta;
        meta.signature = match self
            .inspect_artifact(&meta.format, meta.signature.take(), &staged)
            .await
        {
            Ok(signature) => signature,
            Err(error) => {
                self.artifacts.discard(staged).await;
                return Err(error);
            }
        };
        let size = staged.size;
        let digest = self.artifacts.commit(staged).await?;
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = insert_version(conn, &model, &meta, Some((&digest, size)))?;
            Ok(load_version_view(conn, &model, &row)?)
        })
        .await
    }

    /// Two-step upload, step one: a `pending` version with an `upload_url`.
    pub async fn create_pending_version(
        &self,
        name: ModelName,
        meta: NewVersion,
    ) -> RegistryResult<Version> {
        let meta = checked_metadata(meta)?;
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = insert_version(conn, &model, &meta, None)?;
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
        let (expected, declared_signature) = self.expected_digest(&name, number).await?;
        let staged = match self.stage_artifact(body).await {
            Ok(staged) => staged,
            Err(error) => {
                self.fail_version(&name, number).await?;
                return Err(error);
            }
        };
        if let Some(declared) = expected {
            if declared != staged.digest {
                let error = digest_mismatch(&declared, &staged.digest);
                self.artifacts.discard(staged).await;
                self.fail_version(&name, number).await?;
                return Err(error);
            }
        }
        let signature = match self
            .inspect_artifact(&pending.format, declared_signature, &staged)
            .await
        {
            Ok(signature) => signature.as_ref().map(to_json).transpose()?,
            Err(error) => {
                self.artifacts.discard(staged).await;
                self.fail_version(&name, number).await?;
                return Err(error);
            }
        };
        let size = staged.size;
        let digest = self.artifacts.commit(staged).await?;
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
            )? {
                return Err(RegistryError::conflict(
                    "version_not_pending",
                    format!(
                        "version {number} is no longer pending (another upload finished first)"
                    ),
                ));
            }
            let mut ready = event(EventKind::VersionReady, &model.name, Some(number));
            ready.digest = Some(digest.to_string());
            events::append(conn, ready)?;
            let row = resolve_row(conn, &model, &VersionRef::Number(number))?;
            Ok(load_version_view(conn, &model, &row)?)
        })
        .await
    }

    /// The digest and signature declared when a pending version was created.
    async fn expected_digest(
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

    async fn fail_version(&self, name: &ModelName, number: i64) -> RegistryResult<()> {
        let name = name.clone();
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = resolve_row(conn, &model, &VersionRef::Number(number))?;
            if versions::mark_failed(conn, row.id)? {
                events::append(
                    conn,
                    event(EventKind::VersionFailed, &model.name, Some(number)),
                )?;
            }
            Ok(())
        })
        .await
    }

    pub async fn list_versions(
        &self,
        name: ModelName,
        query: VersionQuery,
    ) -> RegistryResult<VersionPage> {
        let limit = page_limit(query.limit)?;
        let before = query
            .page_token
            .as_deref()
            .map(|token| {
                decode_token("versions", token)?
                    .parse::<i64>()
                    .map_err(|_| {
                        RegistryError::bad_request("invalid_page_token", "page_token is malformed")
                    })
            })
            .transpose()?;
        self.db
            .read(move |conn| {
                let model = models::find(conn, name.as_str())?
                    .ok_or_else(|| model_not_found(name.as_str()))?;
                let rows = versions::list(conn, model.id, before, limit + 1)?;
                let model_aliases = aliases::of_model(conn, model.id)?;
                let has_more = rows.len() as i64 > limit;
                let page = rows
                    .iter()
                    .take(limit as usize)
                    .map(|row| version_view(&model, &model_aliases, row))
                    .collect::<Result<Vec<_>, _>>()?;
                let next_page_token = has_more
                    .then(|| {
                        page.last()
                            .map(|v| encode_token("versions", &v.version.to_string()))
                    })
                    .flatten();
                Ok(VersionPage {
                    versions: page,
                    next_page_token,
                })
            })
            .await
    }

    /// Retires a version. Refused while it holds a stage; aliases pointing at it are
    /// removed (each with its own event).
    pub async fn archive_version(
        &self,
        name: ModelName,
        reference: VersionRef,
    ) -> RegistryResult<Version> {
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = resolve_row(conn, &model, &reference)?;
            let view = load_version_view(conn, &model, &row)?;
            check_archivable(row.version, &view.stages)?;
            if row.archived_at.is_some() {
                return Ok(view);
            }
            for alias in &view.aliases {
                aliases::delete(conn, model.id, alias)?;
                let mut removed = event(EventKind::AliasRemoved, &model.name, Some(row.version));
                removed.alias = Some(alias.clone());
                events::append(conn, removed)?;
            }
            versions::mark_archived(conn, row.id, now())?;
            events::append(
                conn,
                event(EventKind::VersionArchived, &model.name, Some(row.version)),
            )?;
            let row = resolve_row(conn, &model, &VersionRef::Number(row.version))?;
            Ok(load_version_view(conn, &model, &row)?)
        })
        .await
    }
}
