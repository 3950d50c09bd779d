//! Queries on `aliases`.

use diesel::prelude::*;

use super::rows::AliasRow;
use super::schema::aliases;
use super::{DbConn, StoreResult};

pub fn of_model(conn: &mut DbConn, model_id: i64) -> StoreResult<Vec<AliasRow>> {
    Ok(aliases::table
        .filter(aliases::model_id.eq(model_id))
        .select(AliasRow::as_select())
        .order(aliases::alias.asc())
        .load(conn)?)
}

/// The aliases of each of `model_ids`, in one query.
pub fn of_models(conn: &mut DbConn, model_ids: &[i64]) -> StoreResult<Vec<AliasRow>> {
    Ok(aliases::table
        .filter(aliases::model_id.eq_any(model_ids))
        .select(AliasRow::as_select())
        .order((aliases::model_id.asc(), aliases::alias.asc()))
        .load(conn)?)
}

pub fn find(conn: &mut DbConn, model_id: i64, alias: &str) -> StoreResult<Option<i64>> {
    Ok(aliases::table
        .find((model_id, alias))
        .select(aliases::version)
        .get_result(conn)
        .optional()?)
}

/// Points `alias` at a version, creating or moving it. Returns the previous version.
pub fn upsert(conn: &mut DbConn, row: &AliasRow) -> StoreResult<Option<i64>> {
    // MultiConnection has no `on_conflict`; the caller holds the model's lock, so
    // read-then-write cannot race.
    let previous = find(conn, row.model_id, &row.alias)?;
    if previous.is_some() {
        diesel::update(aliases::table.find((row.model_id, &row.alias)))
            .set((
                aliases::version.eq(row.version),
                aliases::updated_at.eq(row.updated_at),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(aliases::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(previous)
}

pub fn delete(conn: &mut DbConn, model_id: i64, alias: &str) -> StoreResult<bool> {
    let removed = diesel::delete(aliases::table.find((model_id, alias))).execute(conn)?;
    Ok(removed == 1)
}
