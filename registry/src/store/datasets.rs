//! Queries on `datasets`.

use diesel::prelude::*;

use capstan_client::types::BatchJobStatus;

use super::batch_rows::{DatasetRow, NewDatasetRow};
use super::schema::{batch_jobs, datasets};
use super::{DbConn, StoreError, StoreResult};

pub fn insert(conn: &mut DbConn, row: &NewDatasetRow) -> StoreResult<DatasetRow> {
    diesel::insert_into(datasets::table)
        .values(row)
        .execute(conn)?;
    find(conn, &row.id)?.ok_or(StoreError::NotFound)
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<DatasetRow>> {
    Ok(datasets::table
        .filter(datasets::id.eq(id))
        .select(DatasetRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Newest first; `before` resumes after the dataset with that `number`.
pub fn list(conn: &mut DbConn, before: Option<i64>, limit: i64) -> StoreResult<Vec<DatasetRow>> {
    let mut query = datasets::table
        .select(DatasetRow::as_select())
        .order(datasets::number.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(datasets::number.lt(before));
    }
    Ok(query.load(conn)?)
}

/// Whether a job that is not finished reads the dataset.
pub fn in_use(conn: &mut DbConn, id: &str) -> StoreResult<bool> {
    let unfinished = [BatchJobStatus::Queued, BatchJobStatus::Running];
    let jobs: i64 = batch_jobs::table
        .filter(batch_jobs::dataset_id.eq(id))
        .filter(batch_jobs::status.eq_any(unfinished))
        .count()
        .get_result(conn)?;
    Ok(jobs > 0)
}

pub fn delete(conn: &mut DbConn, id: &str) -> StoreResult<()> {
    diesel::delete(datasets::table.filter(datasets::id.eq(id))).execute(conn)?;
    Ok(())
}
