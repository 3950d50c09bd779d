//! Queries on `mlflow_artifacts`: files uploaded through the MLflow artifact proxy, by path.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::mlflow_artifacts;
use super::{DbConn, StoreResult};

/// One uploaded file.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mlflow_artifacts)]
pub struct ProxyFileRow {
    pub path: String,
    pub digest: String,
    pub size: i64,
    pub uploaded_by: String,
    pub uploaded_at: NaiveDateTime,
}

/// Records `row.path`, replacing what was there. The caller runs this in a write
/// transaction, so the read-then-write cannot race.
pub fn upsert(conn: &mut DbConn, row: &ProxyFileRow) -> StoreResult<()> {
    let replaced = diesel::update(mlflow_artifacts::table.find(&row.path))
        .set((
            mlflow_artifacts::digest.eq(&row.digest),
            mlflow_artifacts::size.eq(row.size),
            mlflow_artifacts::uploaded_by.eq(&row.uploaded_by),
            mlflow_artifacts::uploaded_at.eq(row.uploaded_at),
        ))
        .execute(conn)?;
    if replaced == 0 {
        diesel::insert_into(mlflow_artifacts::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

pub fn find(conn: &mut DbConn, path: &str) -> StoreResult<Option<ProxyFileRow>> {
    Ok(mlflow_artifacts::table
        .find(path)
        .select(ProxyFileRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// `LIKE` matches case-insensitively on SQLite and `_`/`%` are wildcards: escape them,
/// and let callers keep only the rows that really start with the prefix.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Every file whose path starts with `prefix` (`""`: all), sorted by path, at most `limit`.
pub fn under(conn: &mut DbConn, prefix: &str, limit: i64) -> StoreResult<Vec<ProxyFileRow>> {
    let rows: Vec<ProxyFileRow> = mlflow_artifacts::table
        .filter(
            mlflow_artifacts::path
                .like(like_prefix(prefix))
                .escape('\\'),
        )
        .select(ProxyFileRow::as_select())
        .order(mlflow_artifacts::path.asc())
        .limit(limit)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|row| row.path.starts_with(prefix))
        .collect())
}

/// The first path holding `{infix}` (the files of an MLflow logged model live under
/// `…/models/{model_id}/artifacts/`).
pub fn first_containing(conn: &mut DbConn, infix: &str) -> StoreResult<Option<String>> {
    let pattern = format!("%{}", like_prefix(infix));
    let paths: Vec<String> = mlflow_artifacts::table
        .filter(mlflow_artifacts::path.like(pattern).escape('\\'))
        .select(mlflow_artifacts::path)
        .order(mlflow_artifacts::path.asc())
        .limit(64)
        .load(conn)?;
    Ok(paths.into_iter().find(|path| path.contains(infix)))
}

/// Deletes `path` and everything under `path/`; returns how many files went.
pub fn delete_under(conn: &mut DbConn, path: &str) -> StoreResult<usize> {
    let exact = diesel::delete(mlflow_artifacts::table.find(path)).execute(conn)?;
    let below: Vec<String> = under(conn, &format!("{path}/"), i64::MAX)?
        .into_iter()
        .map(|row| row.path)
        .collect();
    let mut removed = exact;
    for chunk in below.chunks(500) {
        removed +=
            diesel::delete(mlflow_artifacts::table.filter(mlflow_artifacts::path.eq_any(chunk)))
                .execute(conn)?;
    }
    Ok(removed)
}
