//! Queries on `versions`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::rows::{NewVersionRow, VersionRow};
use super::schema::versions;
use super::{DbConn, StoreResult};

pub fn insert(conn: &mut DbConn, row: &NewVersionRow) -> StoreResult<VersionRow> {
    diesel::insert_into(versions::table)
        .values(row)
        .execute(conn)?;
    find(conn, row.model_id, row.version)?.ok_or(diesel::result::Error::NotFound.into())
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
        .filter(versions::status.eq("ready"))
        .filter(versions::archived_at.is_null())
        .select(versions::version)
        .order(versions::version.desc())
        .first(conn)
        .optional()?)
}

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
) -> StoreResult<bool> {
    let changed = diesel::update(
        versions::table
            .find(id)
            .filter(versions::status.eq("pending")),
    )
    .set((
        versions::status.eq("ready"),
        versions::digest.eq(digest),
        versions::size.eq(size),
        versions::signature.eq(signature),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// `pending` → `failed`, only if still pending.
pub fn mark_failed(conn: &mut DbConn, id: i64) -> StoreResult<bool> {
    let changed = diesel::update(
        versions::table
            .find(id)
            .filter(versions::status.eq("pending")),
    )
    .set(versions::status.eq("failed"))
    .execute(conn)?;
    Ok(changed == 1)
}

pub fn mark_archived(conn: &mut DbConn, id: i64, at: NaiveDateTime) -> StoreResult<()> {
    diesel::update(versions::table.find(id))
        .set(versions::archived_at.eq(at))
        .execute(conn)?;
    Ok(())
}
