//! Queries on `versions`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use capstan_client::types::VersionStatus;

use super::rows::{NewVersionRow, TreeFields, VersionRow};
use super::schema::{models, versions};
use super::{DbConn, StoreError, StoreResult};

pub fn insert(conn: &mut DbConn, row: &NewVersionRow) -> StoreResult<VersionRow> {
    diesel::insert_into(versions::table)
        .values(row)
        .execute(conn)?;
    find(conn, row.model_id, row.version)?.ok_or(StoreError::NotFound)
}

pub fn find(conn: &mut DbConn, model_id: i64, version: i64) -> StoreResult<Option<VersionRow>> {
    Ok(versions::table
        .filter(versions::model_id.eq(model_id))
        .filter(versions::version.eq(version))
        .select(VersionRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// The newest `ready`, non-archived version: what `latest` means.
pub fn latest_ready(conn: &mut DbConn, model_id: i64) -> StoreResult<Option<i64>> {
    Ok(versions::table
        .filter(versions::model_id.eq(model_id))
        .filter(versions::status.eq(VersionStatus::Ready))
        .filter(versions::archived_at.is_null())
        .select(versions::version)
        .order(versions::version.desc())
        .first(conn)
        .optional()?)
}

/// [`latest_ready`] of each of `model_ids`, in one query; a model without a ready,
/// non-archived version is absent.
pub fn latest_ready_of_many(
    conn: &mut DbConn,
    model_ids: &[i64],
) -> StoreResult<HashMap<i64, i64>> {
    let rows: Vec<(i64, Option<i64>)> = versions::table
        .filter(versions::model_id.eq_any(model_ids))
        .filter(versions::status.eq(VersionStatus::Ready))
        .filter(versions::archived_at.is_null())
        .group_by(versions::model_id)
        .select((versions::model_id, diesel::dsl::max(versions::version)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, latest)| Some((id, latest?)))
        .collect())
}

/// The versions named by `wanted` (model name → version numbers), each with its model's
/// name: one query for a whole page of events, whatever models they concern. Models are
/// matched by their current row, so a model deleted and created again answers with the
/// new one's versions.
pub fn find_named(
    conn: &mut DbConn,
    wanted: &BTreeMap<String, BTreeSet<i64>>,
) -> StoreResult<Vec<(String, VersionRow)>> {
    let mut found = Vec::new();
    let wanted: Vec<_> = wanted.iter().collect();
    // One `(name = ? AND version IN (…))` term per model, OR-ed: a few models per query
    // keeps the expression shallow (SQLite limits its depth).
    for chunk in wanted.chunks(MODELS_PER_QUERY) {
        let mut query = versions::table
            .inner_join(models::table)
            .select((models::name, VersionRow::as_select()))
            .into_boxed();
        for (i, (name, numbers)) in chunk.iter().enumerate() {
            let term = models::name
                .eq((*name).clone())
                .and(versions::version.eq_any(numbers.iter().copied().collect::<Vec<_>>()));
            query = if i == 0 {
                query.filter(term)
            } else {
                query.or_filter(term)
            };
        }
        found.extend(query.load::<(String, VersionRow)>(conn)?);
    }
    Ok(found)
}

/// How many models [`find_named`] asks for in one query.
const MODELS_PER_QUERY: usize = 100;

/// A page of versions, newest first; `before` is the last version of the previous page.
pub fn list(
    conn: &mut DbConn,
    model_id: i64,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<VersionRow>> {
    let mut query = versions::table
        .filter(versions::model_id.eq(model_id))
        .select(VersionRow::as_select())
        .order(versions::version.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(versions::version.lt(before));
    }
    Ok(query.load(conn)?)
}

/// `pending` → `ready`, only if still pending. Returns whether this call made the change.
pub fn mark_ready(
    conn: &mut DbConn,
    id: i64,
    digest: &str,
    size: i64,
    signature: Option<&str>,
    tree: &TreeFields,
) -> StoreResult<bool> {
    let changed = diesel::update(
        versions::table
            .find(id)
            .filter(versions::status.eq(VersionStatus::Pending)),
    )
    .set((
        versions::status.eq(VersionStatus::Ready),
        versions::digest.eq(digest),
        versions::size.eq(size),
        versions::signature.eq(signature),
        tree,
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// `pending` → `failed`, only if still pending.
pub fn mark_failed(conn: &mut DbConn, id: i64) -> StoreResult<bool> {
    let changed = diesel::update(
        versions::table
            .find(id)
            .filter(versions::status.eq(VersionStatus::Pending)),
    )
    .set(versions::status.eq(VersionStatus::Failed))
    .execute(conn)?;
    Ok(changed == 1)
}

pub fn mark_archived(conn: &mut DbConn, id: i64, at: NaiveDateTime) -> StoreResult<()> {
    diesel::update(versions::table.find(id))
        .set(versions::archived_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// A version's description and tags (JSON), as edited after creation.
pub fn set_metadata(
    conn: &mut DbConn,
    id: i64,
    description: Option<&str>,
    tags: &str,
) -> StoreResult<()> {
    diesel::update(versions::table.find(id))
        .set((
            versions::description.eq(description),
            versions::tags.eq(tags),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConn, id: i64) -> StoreResult<()> {
    diesel::delete(versions::table.find(id)).execute(conn)?;
    Ok(())
}

/// Every version of a model, newest first.
pub fn all_of(conn: &mut DbConn, model_id: i64) -> StoreResult<Vec<VersionRow>> {
    Ok(versions::table
        .filter(versions::model_id.eq(model_id))
        .select(VersionRow::as_select())
        .order(versions::version.desc())
        .load(conn)?)
}
