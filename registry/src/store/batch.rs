//! Queries on `batch_jobs` and `batch_chunks`: the job queue.
//!
//! Workers share jobs through leases held in the rows themselves: a queued job is started,
//! a chunk scored and a finished job's output written by the one worker whose `holder`
//! token is on the row until `lease_expires_at`. Every claim and every commit is one
//! conditional `UPDATE`, so two workers can never both win. On PostgreSQL the candidate
//! row is picked with `FOR UPDATE SKIP LOCKED`, so workers on many machines do not queue
//! behind each other's picks; SQLite has one writer, which serialises claims anyway.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use capstan_client::types::BatchJobStatus;

use super::batch_rows::{chunk_status, BatchJobRow, ChunkRow, NewBatchJobRow};
use super::schema::{batch_chunks, batch_jobs};
use super::{DbConn, StoreError, StoreResult};

pub fn insert(conn: &mut DbConn, row: &NewBatchJobRow) -> StoreResult<BatchJobRow> {
    diesel::insert_into(batch_jobs::table)
        .values(row)
        .execute(conn)?;
    find(conn, &row.id)?.ok_or(StoreError::NotFound)
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<BatchJobRow>> {
    Ok(batch_jobs::table
        .filter(batch_jobs::id.eq(id))
        .select(BatchJobRow::as_select())
        .get_result(conn)
        .optional()?)
}

pub struct JobFilter<'a> {
    pub status: Option<BatchJobStatus>,
    pub model: Option<&'a str>,
    /// Only jobs of models matching one of these `LIKE` patterns (a scoped token's).
    pub models_like: Option<&'a [String]>,
    pub schedule: Option<&'a str>,
    /// Resume after the job with this `number` (newest first).
    pub before: Option<i64>,
    pub limit: i64,
}

/// Newest first.
pub fn list(conn: &mut DbConn, filter: &JobFilter<'_>) -> StoreResult<Vec<BatchJobRow>> {
    let mut query = batch_jobs::table
        .select(BatchJobRow::as_select())
        .order(batch_jobs::number.desc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(before) = filter.before {
        query = query.filter(batch_jobs::number.lt(before));
    }
    if let Some(status) = filter.status {
        query = query.filter(batch_jobs::status.eq(status));
    }
    if let Some(model) = filter.model {
        query = query.filter(batch_jobs::model.eq(model.to_owned()));
    }
    if let Some(schedule) = filter.schedule {
        query = query.filter(batch_jobs::schedule.eq(schedule.to_owned()));
    }
    if let Some(patterns) = filter.models_like {
        query = query.filter(super::like_any(batch_jobs::model, patterns));
    }
    Ok(query.load(conn)?)
}

/// The model's most recently approved job.
pub fn latest_approved(conn: &mut DbConn, model: &str) -> StoreResult<Option<BatchJobRow>> {
    Ok(batch_jobs::table
        .filter(batch_jobs::model.eq(model))
        .filter(batch_jobs::status.eq(BatchJobStatus::Approved))
        .order((batch_jobs::reviewed_at.desc(), batch_jobs::number.desc()))
        .select(BatchJobRow::as_select())
        .first(conn)
        .optional()?)
}

/// Leases the oldest queued job (or one whose starter's lease expired) to `holder`, to be
/// started: its chunks planned and created.
pub fn claim_queued(
    conn: &mut DbConn,
    holder: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> StoreResult<Option<BatchJobRow>> {
    let picked: Option<String> = pick_skip_locked!(
        conn,
        batch_jobs::table
            .filter(batch_jobs::status.eq(BatchJobStatus::Queued))
            .filter(
                batch_jobs::holder
                    .is_null()
                    .or(batch_jobs::lease_expires_at.lt(now)),
            )
            .order(batch_jobs::number.asc())
            .select(batch_jobs::id)
    )?;
    let Some(picked) = picked else {
        return Ok(None);
    };
    lease_job(conn, &picked, BatchJobStatus::Queued, holder, until)?;
    find(conn, &picked)
}

/// Leases a running job whose chunks are all done (and that no live worker is finishing)
/// to `holder`, to write its output.
pub fn claim_finishable(
    conn: &mut DbConn,
    holder: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> StoreResult<Option<BatchJobRow>> {
    let unfinished_chunks = batch_chunks::table
        .filter(batch_chunks::job_id.eq(batch_jobs::id))
        .filter(batch_chunks::status.ne(chunk_status::DONE));
    let picked: Option<String> = pick_skip_locked!(
        conn,
        batch_jobs::table
            .filter(batch_jobs::status.eq(BatchJobStatus::Running))
            .filter(
                batch_jobs::holder
                    .is_null()
                    .or(batch_jobs::lease_expires_at.lt(now)),
            )
            .filter(diesel::dsl::not(diesel::dsl::exists(unfinished_chunks)))
            .order(batch_jobs::number.asc())
            .select(batch_jobs::id)
    )?;
    let Some(picked) = picked else {
        return Ok(None);
    };
    lease_job(conn, &picked, BatchJobStatus::Running, holder, until)?;
    find(conn, &picked)
}

fn lease_job(
    conn: &mut DbConn,
    id: &str,
    status: BatchJobStatus,
    holder: &str,
    until: NaiveDateTime,
) -> StoreResult<()> {
    diesel::update(
        batch_jobs::table
            .filter(batch_jobs::id.eq(id))
            .filter(batch_jobs::status.eq(status)),
    )
    .set((
        batch_jobs::holder.eq(holder),
        batch_jobs::lease_expires_at.eq(until),
    ))
    .execute(conn)?;
    Ok(())
}

/// What starting a job records.
pub struct JobStart<'a> {
    pub version: i64,
    pub digest: &'a str,
    pub plan: &'a str,
    pub rows_total: Option<i64>,
    pub started_at: NaiveDateTime,
}

/// Moves a queued job leased to `holder` to `running` and creates its chunks; false when
/// the lease was lost or the job cancelled meanwhile.
pub fn start(
    conn: &mut DbConn,
    id: &str,
    holder: &str,
    start: &JobStart<'_>,
    chunks: &[ChunkRow],
) -> StoreResult<bool> {
    let updated = diesel::update(
        batch_jobs::table
            .filter(batch_jobs::id.eq(id))
            .filter(batch_jobs::status.eq(BatchJobStatus::Queued))
            .filter(batch_jobs::holder.eq(holder)),
    )
    .set((
        batch_jobs::status.eq(BatchJobStatus::Running),
        batch_jobs::version.eq(start.version),
        batch_jobs::digest.eq(start.digest),
        batch_jobs::plan.eq(start.plan),
        batch_jobs::rows_total.eq(start.rows_total),
        batch_jobs::started_at.eq(start.started_at),
        batch_jobs::holder.eq(None::<String>),
        batch_jobs::lease_expires_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Ok(false);
    }
    // One statement per chunk: MultiConnection has no multi-row insert.
    for chunk in chunks {
        diesel::insert_into(batch_chunks::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(true)
}

/// Records the version a queued job leased to `holder` was started with, when it fails
/// before it runs (its input does not fit the model).
pub fn record_run(
    conn: &mut DbConn,
    id: &str,
    holder: &str,
    version: i64,
    digest: &str,
    started_at: NaiveDateTime,
) -> StoreResult<()> {
    diesel::update(
        batch_jobs::table
            .filter(batch_jobs::id.eq(id))
            .filter(batch_jobs::status.eq(BatchJobStatus::Queued))
            .filter(batch_jobs::holder.eq(holder)),
    )
    .set((
        batch_jobs::version.eq(version),
        batch_jobs::digest.eq(digest),
        batch_jobs::started_at.eq(started_at),
    ))
    .execute(conn)?;
    Ok(())
}

/// Moves a job from one of `from` to a final or reviewed `to`; false when it was in none
/// of them. `holder` (when given) must still hold the job's lease.
pub struct Transition<'a> {
    pub from: &'a [BatchJobStatus],
    pub to: BatchJobStatus,
    pub holder: Option<&'a str>,
    pub at: NaiveDateTime,
    pub failure: Option<&'a str>,
}

pub fn transition(conn: &mut DbConn, id: &str, change: &Transition<'_>) -> StoreResult<bool> {
    let mut query = diesel::update(batch_jobs::table)
        .filter(batch_jobs::id.eq(id))
        .filter(batch_jobs::status.eq_any(change.from))
        .into_boxed();
    if let Some(holder) = change.holder {
        query = query.filter(batch_jobs::holder.eq(holder));
    }
    let updated = query
        .set((
            batch_jobs::status.eq(change.to),
            batch_jobs::failure.eq(change.failure),
            batch_jobs::finished_at.eq(change.at),
            batch_jobs::holder.eq(None::<String>),
            batch_jobs::lease_expires_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Records a review (approve or reject) of a succeeded job; false when it is not one.
pub fn review(
    conn: &mut DbConn,
    id: &str,
    to: BatchJobStatus,
    by: &str,
    reason: Option<&str>,
    at: NaiveDateTime,
) -> StoreResult<bool> {
    let updated = diesel::update(
        batch_jobs::table
            .filter(batch_jobs::id.eq(id))
            .filter(batch_jobs::status.eq(BatchJobStatus::Succeeded)),
    )
    .set((
        batch_jobs::status.eq(to),
        batch_jobs::review_by.eq(by),
        batch_jobs::review_reason.eq(reason),
        batch_jobs::reviewed_at.eq(at),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// What a finished job's output is.
pub struct JobOutput<'a> {
    pub digest: &'a str,
    pub size: i64,
    pub rows: i64,
}

/// Moves a running job leased to `holder` to `succeeded` with its output.
pub fn succeed(
    conn: &mut DbConn,
    id: &str,
    holder: &str,
    output: &JobOutput<'_>,
    at: NaiveDateTime,
) -> StoreResult<bool> {
    let updated = diesel::update(
        batch_jobs::table
            .filter(batch_jobs::id.eq(id))
            .filter(batch_jobs::status.eq(BatchJobStatus::Running))
            .filter(batch_jobs::holder.eq(holder)),
    )
    .set((
        batch_jobs::status.eq(BatchJobStatus::Succeeded),
        batch_jobs::output_digest.eq(output.digest),
        batch_jobs::output_size.eq(output.size),
        batch_jobs::output_rows.eq(output.rows),
        batch_jobs::finished_at.eq(at),
        batch_jobs::holder.eq(None::<String>),
        batch_jobs::lease_expires_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Adds a committed chunk's counts to its job. On PostgreSQL this takes the job's row
/// lock until the transaction ends, so what the transaction reads of the job next (its
/// listed errors) is not overwritten by a concurrent commit.
pub fn add_progress(conn: &mut DbConn, job: &str, rows: i64, bad_rows: i64) -> StoreResult<()> {
    diesel::update(batch_jobs::table.filter(batch_jobs::id.eq(job)))
        .set((
            batch_jobs::rows_done.eq(batch_jobs::rows_done + rows),
            batch_jobs::bad_rows.eq(batch_jobs::bad_rows + bad_rows),
        ))
        .execute(conn)?;
    Ok(())
}

/// Stores the job's first bad rows (see `domain::batch::merge_errors`).
pub fn set_errors(conn: &mut DbConn, job: &str, errors: &str) -> StoreResult<()> {
    diesel::update(batch_jobs::table.filter(batch_jobs::id.eq(job)))
        .set(batch_jobs::errors.eq(errors))
        .execute(conn)?;
    Ok(())
}

/// Whether any batch work may be waiting: a queued job, a claimable chunk, or a running
/// job with every chunk done. A cheap read that spares idle workers the write lock.
pub fn has_work(conn: &mut DbConn, now: NaiveDateTime) -> StoreResult<bool> {
    let queued: i64 = batch_jobs::table
        .filter(batch_jobs::status.eq_any([BatchJobStatus::Queued, BatchJobStatus::Running]))
        .filter(
            batch_jobs::holder
                .is_null()
                .or(batch_jobs::lease_expires_at.lt(now)),
        )
        .count()
        .get_result(conn)?;
    Ok(queued > 0)
}
