//! Queries on `batch_schedules`. A firing is claimed by moving `last_fired_at` forward
//! with a conditional `UPDATE`: of several replicas racing to fire the same time, one
//! changes the row and the others change nothing (and the unique key on the jobs'
//! schedule + fire time backs that up).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::batch_rows::{NewScheduleRow, ScheduleChanges, ScheduleRow};
use super::schema::{batch_jobs, batch_schedules};
use super::{DbConn, StoreError, StoreResult};

pub fn insert(conn: &mut DbConn, row: &NewScheduleRow) -> StoreResult<ScheduleRow> {
    diesel::insert_into(batch_schedules::table)
        .values(row)
        .execute(conn)?;
    find(conn, &row.name)?.ok_or(StoreError::NotFound)
}

pub fn find(conn: &mut DbConn, name: &str) -> StoreResult<Option<ScheduleRow>> {
    Ok(batch_schedules::table
        .filter(batch_schedules::name.eq(name))
        .select(ScheduleRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// By name, after `after`.
/// By name, after `after`; only of models matching `models_like` (`LIKE` patterns) if given.
pub fn list(
    conn: &mut DbConn,
    after: Option<&str>,
    models_like: Option<&[String]>,
    limit: i64,
) -> StoreResult<Vec<ScheduleRow>> {
    let mut query = batch_schedules::table
        .select(ScheduleRow::as_select())
        .order(batch_schedules::name.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(batch_schedules::name.gt(after.to_owned()));
    }
    if let Some(patterns) = models_like {
        query = query.filter(super::like_any(batch_schedules::model, patterns));
    }
    Ok(query.load(conn)?)
}

/// The schedules that are not paused.
pub fn active(conn: &mut DbConn) -> StoreResult<Vec<ScheduleRow>> {
    Ok(batch_schedules::table
        .filter(batch_schedules::paused.eq(false))
        .select(ScheduleRow::as_select())
        .load(conn)?)
}

/// Applies `changes`; false when there is no such schedule.
pub fn update(conn: &mut DbConn, name: &str, changes: &ScheduleChanges) -> StoreResult<bool> {
    let updated = diesel::update(batch_schedules::table.filter(batch_schedules::name.eq(name)))
        .set(changes)
        .execute(conn)?;
    Ok(updated == 1)
}

pub fn delete(conn: &mut DbConn, name: &str) -> StoreResult<bool> {
    let deleted = diesel::delete(batch_schedules::table.filter(batch_schedules::name.eq(name)))
        .execute(conn)?;
    Ok(deleted == 1)
}

/// Claims the firing at `fire` for the caller: true when this call moved `last_fired_at`
/// to it, false when another replica fired it (or a later time) first or the schedule was
/// paused or deleted meanwhile.
pub fn claim_firing(conn: &mut DbConn, name: &str, fire: NaiveDateTime) -> StoreResult<bool> {
    let updated = diesel::update(
        batch_schedules::table
            .filter(batch_schedules::name.eq(name))
            .filter(batch_schedules::paused.eq(false))
            .filter(batch_schedules::last_fired_at.lt(fire)),
    )
    .set(batch_schedules::last_fired_at.eq(fire))
    .execute(conn)?;
    Ok(updated == 1)
}

/// The fire time of the schedule's latest job.
pub fn last_fire_time(conn: &mut DbConn, name: &str) -> StoreResult<Option<NaiveDateTime>> {
    Ok(batch_jobs::table
        .filter(batch_jobs::schedule.eq(name))
        .select(diesel::dsl::max(batch_jobs::fire_time))
        .get_result(conn)?)
}

/// A schedule whose input is exactly `input` (a dataset's input document), if any.
pub fn reading(conn: &mut DbConn, input: &str) -> StoreResult<Option<String>> {
    Ok(batch_schedules::table
        .filter(batch_schedules::input.eq(input))
        .select(batch_schedules::name)
        .first(conn)
        .optional()?)
}
