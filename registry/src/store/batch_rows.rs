//! Row types of pattern 4's tables: datasets, batch jobs and their chunks, schedules.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use capstan_client::types::{BatchJobStatus, DataFormat};

use super::schema::{batch_chunks, batch_jobs, batch_schedules, datasets};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = datasets)]
pub struct DatasetRow {
    pub number: i64,
    pub id: String,
    pub name: String,
    pub digest: String,
    pub format: DataFormat,
    pub size: i64,
    pub rows: Option<i64>,
    pub row_index: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = datasets)]
pub struct NewDatasetRow {
    pub id: String,
    pub name: String,
    pub digest: String,
    pub format: DataFormat,
    pub size: i64,
    pub rows: Option<i64>,
    pub row_index: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = batch_jobs)]
pub struct BatchJobRow {
    pub number: i64,
    pub id: String,
    pub status: BatchJobStatus,
    pub model: String,
    pub model_ref: String,
    pub version: Option<i64>,
    pub digest: Option<String>,
    pub input: String,
    pub dataset_id: Option<String>,
    pub output_format: DataFormat,
    pub id_column: Option<String>,
    pub max_bad_rows: i64,
    pub plan: Option<String>,
    pub rows_total: Option<i64>,
    pub rows_done: i64,
    pub bad_rows: i64,
    pub errors: String,
    pub failure: Option<String>,
    pub output_digest: Option<String>,
    pub output_size: Option<i64>,
    pub output_rows: Option<i64>,
    pub holder: Option<String>,
    pub lease_expires_at: Option<NaiveDateTime>,
    pub review_by: Option<String>,
    pub review_reason: Option<String>,
    pub reviewed_at: Option<NaiveDateTime>,
    pub schedule: Option<String>,
    pub fire_time: Option<NaiveDateTime>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = batch_jobs)]
pub struct NewBatchJobRow {
    pub id: String,
    pub status: BatchJobStatus,
    pub model: String,
    pub model_ref: String,
    pub input: String,
    pub dataset_id: Option<String>,
    pub output_format: DataFormat,
    pub id_column: Option<String>,
    pub max_bad_rows: i64,
    /// Known at submission for a dataset (its upload counted the rows); else at start.
    pub rows_total: Option<i64>,
    pub rows_done: i64,
    pub bad_rows: i64,
    pub errors: String,
    pub schedule: Option<String>,
    pub fire_time: Option<NaiveDateTime>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
}

/// A chunk's life: `pending` → `running` (leased by one worker) → `done`; a `running`
/// chunk whose lease expired is claimed again.
pub mod chunk_status {
    pub const PENDING: &str = "pending";
    pub const RUNNING: &str = "running";
    pub const DONE: &str = "done";
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = batch_chunks)]
pub struct ChunkRow {
    pub job_id: String,
    pub chunk: i64,
    pub start_offset: i64,
    pub end_offset: i64,
    pub first_row: i64,
    pub status: String,
    pub holder: Option<String>,
    pub lease_expires_at: Option<NaiveDateTime>,
    pub attempts: i64,
    pub rows: Option<i64>,
    pub written: Option<i64>,
    pub bad_rows: Option<i64>,
    pub errors: Option<String>,
    pub part: Option<String>,
    pub part_size: Option<i64>,
    pub keys: Option<String>,
    /// The file a chunk reads, when the job reads several (else the job's input).
    pub input_key: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = batch_schedules)]
pub struct ScheduleRow {
    pub number: i64,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub model: String,
    pub model_ref: String,
    pub input: String,
    pub output_format: DataFormat,
    pub id_column: Option<String>,
    pub max_bad_rows: i64,
    pub auto_approve: bool,
    pub paused: bool,
    pub last_fired_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The batch deployment each firing's job runs for.
    pub deployment: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = batch_schedules)]
pub struct NewScheduleRow {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub model: String,
    pub model_ref: String,
    pub input: String,
    pub output_format: DataFormat,
    pub id_column: Option<String>,
    pub max_bad_rows: i64,
    pub auto_approve: bool,
    pub paused: bool,
    pub last_fired_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The batch deployment each firing's job runs for.
    pub deployment: Option<String>,
}

/// A schedule's changeable fields; `None` leaves a field as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = batch_schedules)]
pub struct ScheduleChanges {
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub auto_approve: Option<bool>,
    pub paused: Option<bool>,
    pub last_fired_at: Option<NaiveDateTime>,
    pub updated_at: Option<NaiveDateTime>,
}
