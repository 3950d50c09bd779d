//! Queries on `stage_history`: the stack of a stage's previous holders.

use diesel::prelude::*;

use capstan_client::Stage;

use super::schema::stage_history;
use super::{DbConn, StoreResult};

pub fn push_previous(
    conn: &mut DbConn,
    model_id: i64,
    stage: Stage,
    version: i64,
) -> StoreResult<()> {
    diesel::insert_into(stage_history::table)
        .values((
            stage_history::model_id.eq(model_id),
            stage_history::stage.eq(stage.as_str()),
            stage_history::version.eq(version),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes and returns the most recent previous holder, if any.
pub fn pop_previous(conn: &mut DbConn, model_id: i64, stage: Stage) -> StoreResult<Option<i64>> {
    let top: Option<(i64, i64)> = stage_history::table
        .filter(stage_history::model_id.eq(model_id))
        .filter(stage_history::stage.eq(stage.as_str()))
        .select((stage_history::id, stage_history::version))
        .order(stage_history::id.desc())
        .first(conn)
        .optional()?;
    let Some((id, version)) = top else {
        return Ok(None);
    };
    diesel::delete(stage_history::table.find(id)).execute(conn)?;
    Ok(Some(version))
}

/// The most recent previous holder, left in place.
pub fn peek_previous(conn: &mut DbConn, model_id: i64, stage: Stage) -> StoreResult<Option<i64>> {
    Ok(stage_history::table
        .filter(stage_history::model_id.eq(model_id))
        .filter(stage_history::stage.eq(stage.as_str()))
        .select(stage_history::version)
        .order(stage_history::id.desc())
        .first(conn)
        .optional()?)
}

/// Removes `version` from the previous holders of every stage of the model (a deleted
/// version cannot be rolled back to).
pub fn forget(conn: &mut DbConn, model_id: i64, version: i64) -> StoreResult<()> {
    diesel::delete(
        stage_history::table
            .filter(stage_history::model_id.eq(model_id))
            .filter(stage_history::version.eq(version)),
    )
    .execute(conn)?;
    Ok(())
}
