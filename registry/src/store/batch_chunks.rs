//! Queries on `batch_chunks`: claiming, renewing and committing a chunk under its lease
//! (see `store::batch` for how leases work), and reading a job's chunks.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use capstan_client::types::BatchJobStatus;

use super::batch_rows::{chunk_status, ChunkRow};
use super::schema::{batch_chunks, batch_jobs};
use super::{DbConn, StoreResult};

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

/// A job's chunks, in order.
pub fn chunks(conn: &mut DbConn, job: &str) -> StoreResult<Vec<ChunkRow>> {
    Ok(batch_chunks::table
        .filter(batch_chunks::job_id.eq(job))
        .order(batch_chunks::chunk.asc())
        .select(ChunkRow::as_select())
        .load(conn)?)
}
