//! Queries and lifecycle of existing versions: list a model's versions, archive one.
//! (Showing one is ref resolution, in `resolve.rs`; creating one is `upload/`.)

use capstan_client::types::{EventKind, Version, VersionPage};
use capstan_client::{ModelName, VersionRef};

use capstan_client::http::VersionQuery;

use super::models::{lock_model, model_not_found};
use super::resolve::resolve_row;
use super::version_edits::remove_aliases_of;
use super::views::{load_version_view, version_view};
use super::{event, now, Registry};
use crate::domain::metadata::check_text;
use crate::domain::paging::{decode_token, encode_token, page_limit};
use crate::domain::policy::check_archivable;
use crate::error::{RegistryError, RegistryResult};
use crate::store::rows::{ModelRow, VersionRow};
use crate::store::{aliases, events, models, versions, DbConn};

impl Registry {
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

    /// Retires a version (`reason` goes into the event log). Refused while it holds a
    /// stage; aliases pointing at it are removed (each with its own event).
    pub async fn archive_version(
        &self,
        name: ModelName,
        reference: VersionRef,
        reason: Option<String>,
        actor: &str,
    ) -> RegistryResult<Version> {
        let actor = actor.to_owned();
        check_text("reason", reason.as_deref())?;
        self.write(move |conn| {
            let model = lock_model(conn, name.as_str())?;
            let row = resolve_row(conn, &model, &reference)?;
            archive_row(conn, &model, &row, reason.as_deref(), &actor)?;
            let row = resolve_row(conn, &model, &VersionRef::Number(row.version))?;
            Ok(load_version_view(conn, &model, &row)?)
        })
        .await
    }
}

/// Archives `row` (nothing when it already is), saying `reason`: refused while it holds
/// a stage; its aliases are removed first.
pub(super) fn archive_row(
    conn: &mut DbConn,
    model: &ModelRow,
    row: &VersionRow,
    reason: Option<&str>,
    actor: &str,
) -> RegistryResult<()> {
    let view = load_version_view(conn, model, row)?;
    check_archivable(row.version, &view.stages)?;
    if row.archived_at.is_some() {
        return Ok(());
    }
    remove_aliases_of(conn, model, row, Some("version archived"), actor)?;
    versions::mark_archived(conn, row.id, now())?;
    let mut archived = event(
        EventKind::VersionArchived,
        &model.name,
        Some(row.version),
        actor,
    );
    archived.reason = reason.map(str::to_owned);
    events::append(conn, archived)?;
    Ok(())
}
