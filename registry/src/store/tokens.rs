//! Queries on `tokens`: API tokens by name and by the hash of their secret. Revoking
//! deletes the row.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::tokens;
use super::{DbConn, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tokens)]
pub struct TokenRow {
    pub name: String,
    pub role: String,
    /// A JSON array of model-name patterns; `None`: every model.
    pub models: Option<String>,
    pub secret_hash: String,
    pub created_at: NaiveDateTime,
    pub created_by: String,
    pub last_used_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, row: &TokenRow) -> StoreResult<()> {
    diesel::insert_into(tokens::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_by_hash(conn: &mut DbConn, secret_hash: &str) -> StoreResult<Option<TokenRow>> {
    Ok(tokens::table
        .filter(tokens::secret_hash.eq(secret_hash))
        .select(TokenRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// By name, after `after`.
pub fn list(conn: &mut DbConn, after: Option<&str>, limit: i64) -> StoreResult<Vec<TokenRow>> {
    let mut query = tokens::table
        .select(TokenRow::as_select())
        .order(tokens::name.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(tokens::name.gt(after.to_owned()));
    }
    Ok(query.load(conn)?)
}

pub fn count(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(tokens::table.count().get_result(conn)?)
}

/// False when there is no such token.
pub fn delete(conn: &mut DbConn, name: &str) -> StoreResult<bool> {
    let deleted = diesel::delete(tokens::table.filter(tokens::name.eq(name))).execute(conn)?;
    Ok(deleted == 1)
}

/// Records a use at `at`, unless one at or after `unless_since` is already recorded.
pub fn touch(
    conn: &mut DbConn,
    name: &str,
    at: NaiveDateTime,
    unless_since: NaiveDateTime,
) -> StoreResult<()> {
    diesel::update(
        tokens::table.filter(tokens::name.eq(name)).filter(
            tokens::last_used_at
                .is_null()
                .or(tokens::last_used_at.lt(unless_since)),
        ),
    )
    .set(tokens::last_used_at.eq(Some(at)))
    .execute(conn)?;
    Ok(())
}
