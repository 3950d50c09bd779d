//! Wire types of batch schedules: jobs created on a cron.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::batch::{BatchInput, DataFormat};
use crate::names::ModelName;
use crate::reference::ModelRef;

/// Longest schedule name.
pub const MAX_SCHEDULE_NAME_LEN: usize = 128;

/// `POST /api/v1/batch-schedules`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateBatchSchedule {
    /// Letters, digits, `.`, `_` and `-`, starting with a letter or digit.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    )]
    pub name: String,
    /// Five fields (`minute hour day-of-month month day-of-week`, `0 3 * * *`) or six with
    /// seconds first (`*/10 * * * * *`), as `croner` reads them.
    #[cfg_attr(feature = "openapi", schema(min_length = 9, max_length = 256))]
    pub cron: String,
    /// The ref each firing scores with, resolved when its job starts.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::ModelRefText))]
    pub model: ModelRef,
    pub input: BatchInput,
    /// The output's format (default `csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<DataFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub id_column: Option<String>,
    /// How many bad rows each job tolerates (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub max_bad_rows: Option<u64>,
    /// The IANA time zone the cron is read in (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub timezone: Option<String>,
    /// Approve each job as soon as it succeeds (default false: a person reviews it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve: Option<bool>,
    /// The batch deployment (pattern `batch`, of the same model) each job runs for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<ModelName>,
}

/// `PATCH /api/v1/batch-schedules/{name}`: absent fields are left as they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateBatchSchedule {
    /// `true` pauses; `false` resumes from now (firings missed while paused are skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 9, max_length = 256))]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve: Option<bool>,
}

/// A schedule, as `GET /api/v1/batch-schedules/{name}` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchSchedule {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    /// The ref as given (`bc@production`).
    pub model: String,
    pub input: BatchInput,
    pub output_format: DataFormat,
    pub id_column: Option<String>,
    pub max_bad_rows: i64,
    pub auto_approve: bool,
    pub paused: bool,
    /// The batch deployment each job runs for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<ModelName>,
    /// When it fires next (absent while paused).
    pub next_fire_at: Option<DateTime<Utc>>,
    /// The fire time of its latest job (absent before the first).
    pub last_fire_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchSchedulePage {
    pub schedules: Vec<BatchSchedule>,
    /// Pass as `page_token` to get the next page; absent on the last page.
    pub next_page_token: Option<String>,
}
