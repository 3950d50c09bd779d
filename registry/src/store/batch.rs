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

/// Picks the id of the first row a query selects, locking it with `FOR UPDATE SKIP LOCKED`
/// on PostgreSQL (see the module header).
macro_rules! pick_skip_locked {
    ($conn:expr, $query:expr) => {
        match $conn {
            DbConn::Postgres(pg) => $query.for_update().skip_locked().first(pg).optional(),
            DbConn::Sqlite(sqlite) => $query.first(sqlite).optional(),
        }
    };
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

/// Leases the first claimable chunk of a running job to `holder`: a pending one, or one
/// whose worker's lease expired (that worker died or stalled).
pub fn claim_chunk(
    conn: &mut DbConn,
    holder: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> StoreResult<Option<ChunkRow>> {
    let running_jobs = batch_jobs::table
        .filter(batch_jobs::status.eq(BatchJobStatus::Running))
        .select(batch_jobs::id);
    let picked: Option<(String, i64)> = pick_skip_locked!(
        conn,
        batch_chunks::table
            .filter(
                batch_chunks::status
                    .eq(chunk_status::PENDING)
                    .or(batch_chunks::status
                        .eq(chunk_status::RUNNING)
                        .and(batch_chunks::lease_expires_at.lt(now))),
            )
            .filter(batch_chunks::job_id.eq_any(running_jobs))
            .order((batch_chunks::job_id.asc(), batch_chunks::chunk.asc()))
            .select((batch_chunks::job_id, batch_chunks::chunk))
    )?;
    let Some((job, chunk)) = picked else {
        return Ok(None);
    };
    diesel::update(batch_chunks::table.find((&job, chunk)))
        .set((
            batch_chunks::status.eq(chunk_status::RUNNING),
            batch_chunks::holder.eq(holder),
            batch_chunks::lease_expires_at.eq(until),
            batch_chunks::attempts.eq(batch_chunks::attempts + 1),
        ))
        .execute(conn)?;
    Ok(Some(
        batch_chunks::table
            .find((&job, chunk))
            .select(ChunkRow::as_select())
            .get_result(conn)?,
    ))
}

/// Extends `holder`'s lease on a chunk; false when it lost the lease or the job is no
/// longer running (cancelled, failed): the worker should stop scoring it.
pub fn renew_chunk(
    conn: &mut DbConn,
    job: &str,
    chunk: i64,
    holder: &str,
    until: NaiveDateTime,
) -> StoreResult<bool> {
    let running: i64 = batch_jobs::table
        .filter(batch_jobs::id.eq(job))
        .filter(batch_jobs::status.eq(BatchJobStatus::Running))
        .count()
        .get_result(conn)?;
    if running == 0 {
        return Ok(false);
    }
    let updated = diesel::update(
        batch_chunks::table
            .filter(batch_chunks::job_id.eq(job))
            .filter(batch_chunks::chunk.eq(chunk))
            .filter(batch_chunks::status.eq(chunk_status::RUNNING))
            .filter(batch_chunks::holder.eq(holder)),
    )
    .set(batch_chunks::lease_expires_at.eq(until))
    .execute(conn)?;
    Ok(updated == 1)
}

/// What scoring a chunk produced.
pub struct ChunkDone<'a> {
    pub rows: i64,
    pub written: i64,
    pub bad_rows: i64,
    pub errors: &'a str,
    pub part: &'a str,
    pub part_size: i64,
    pub keys: &'a str,
}

/// Marks `holder`'s chunk done with its part; false when `holder` no longer holds it (its
/// part must then be thrown away: another worker's will count).
pub fn commit_chunk(
    conn: &mut DbConn,
    job: &str,
    chunk: i64,
    holder: &str,
    done: &ChunkDone<'_>,
) -> StoreResult<bool> {
    let updated = diesel::update(
        batch_chunks::table
            .filter(batch_chunks::job_id.eq(job))
            .filter(batch_chunks::chunk.eq(chunk))
            .filter(batch_chunks::status.eq(chunk_status::RUNNING))
            .filter(batch_chunks::holder.eq(holder)),
    )
    .set((
        // `holder` stays: it records which worker's part counts.
        batch_chunks::status.eq(chunk_status::DONE),
        batch_chunks::lease_expires_at.eq(None::<NaiveDateTime>),
        batch_chunks::rows.eq(done.rows),
        batch_chunks::written.eq(done.written),
        batch_chunks::bad_rows.eq(done.bad_rows),
        batch_chunks::errors.eq(done.errors),
        batch_chunks::part.eq(done.part),
        batch_chunks::part_size.eq(done.part_size),
        batch_chunks::keys.eq(done.keys),
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

/// A job's chunks, in order.
pub fn chunks(conn: &mut DbConn, job: &str) -> StoreResult<Vec<ChunkRow>> {
    Ok(batch_chunks::table
        .filter(batch_chunks::job_id.eq(job))
        .order(batch_chunks::chunk.asc())
        .select(ChunkRow::as_select())
        .load(conn)?)
}
