//! Ref resolution: a version number, a stage, an alias or `latest` → one version row.

use capstan_client::types::{Version, VersionStatus};
use capstan_client::{Digest, ModelName, VersionRef};

use super::models::model_not_found;
use super::views::load_version_view;
use super::Registry;
use crate::error::{RegistryError, RegistryResult};
use crate::store::rows::{ModelRow, VersionRow};
use crate::store::{aliases, models, versions, DbConn, StoreResult};

/// The version number `reference` names on `model`, if any.
pub(crate) fn find_number(
    conn: &mut DbConn,
    model: &ModelRow,
    reference: &VersionRef,
) -> StoreResult<Option<i64>> {
    Ok(match reference {
        VersionRef::Number(n) => Some(*n),
        VersionRef::Stage(stage) => super::views::stage_pointers(model).get(*stage),
        VersionRef::Alias(alias) => aliases::find(conn, model.id, alias.as_str())?,
        VersionRef::Latest => versions::latest_ready(conn, model.id)?,
    })
}

/// The version number `reference` names on `model`, or a 404 that says why.
pub(crate) fn resolve_number(
    conn: &mut DbConn,
    model: &ModelRow,
    reference: &VersionRef,
) -> RegistryResult<i64> {
    find_number(conn, model, reference)?.ok_or_else(|| {
        let what = match reference {
            VersionRef::Stage(stage) => format!("no version in {stage}"),
            VersionRef::Alias(alias) => format!("no alias {:?}", alias.as_str()),
            VersionRef::Latest => "no ready version".to_owned(),
            VersionRef::Number(n) => format!("no version {n}"),
        };
        RegistryError::not_found(
            "version_not_found",
            format!("model {:?} has {what}", model.name),
        )
    })
}

/// The version row `reference` names.
pub(crate) fn resolve_row(
    conn: &mut DbConn,
    model: &ModelRow,
    reference: &VersionRef,
) -> RegistryResult<VersionRow> {
    let number = resolve_number(conn, model, reference)?;
    versions::find(conn, model.id, number)?.ok_or_else(|| {
        RegistryError::not_found(
            "version_not_found",
            format!("model {:?} has no version {number}", model.name),
        )
    })
}

/// What a download needs: the version and the blob that holds its bytes.
pub(super) struct ResolvedArtifact {
    pub version: Version,
    pub digest: Digest,
    pub size: u64,
}

impl Registry {
    pub async fn get_version(
        &self,
        name: ModelName,
        reference: VersionRef,
    ) -> RegistryResult<Version> {
        self.db
            .read(move |conn| {
                let model = models::find(conn, name.as_str())?
                    .ok_or_else(|| model_not_found(name.as_str()))?;
                let row = resolve_row(conn, &model, &reference)?;
                Ok(load_version_view(conn, &model, &row)?)
            })
            .await
    }

    /// Resolves `reference` to a ready version with its blob, for a download.
    pub(super) async fn resolve_artifact(
        &self,
        name: ModelName,
        reference: VersionRef,
    ) -> RegistryResult<ResolvedArtifact> {
        let version = self.get_version(name, reference).await?;
        match (version.status, version.digest, version.size) {
            (VersionStatus::Ready, Some(digest), Some(size)) => Ok(ResolvedArtifact {
                digest,
                size: u64::try_from(size).unwrap_or(0),
                version,
            }),
            (status, ..) => Err(RegistryError::conflict(
                "version_not_ready",
                format!(
                    "version {} of {:?} is {}; it has no artifact to download",
                    version.version,
                    version.model.as_str(),
                    status.as_str()
                ),
            )),
        }
    }
}
