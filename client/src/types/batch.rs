//! Wire types of pattern 4, offline predictions: datasets and batch jobs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::names::ModelName;
use crate::reference::ModelRef;
use crate::signature::ClassLabel;

/// The layout of a dataset or a batch job's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
    diesel(sql_type = diesel::sql_types::Text)
)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// Comma-separated values with a header row (`text/csv`).
    Csv,
    /// One JSON object per line (`application/x-ndjson`).
    Jsonl,
    /// Apache Parquet (`application/vnd.apache.parquet`).
    Parquet,
}

impl DataFormat {
    pub const ALL: [DataFormat; 3] = [DataFormat::Csv, DataFormat::Jsonl, DataFormat::Parquet];

    pub fn as_str(self) -> &'static str {
        match self {
            DataFormat::Csv => "csv",
            DataFormat::Jsonl => "jsonl",
            DataFormat::Parquet => "parquet",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| format.as_str() == text)
    }

    /// The media type a body of this format is sent and served with.
    pub fn content_type(self) -> &'static str {
        match self {
            DataFormat::Csv => "text/csv",
            DataFormat::Jsonl => "application/x-ndjson",
            DataFormat::Parquet => "application/vnd.apache.parquet",
        }
    }

    /// The format a media type names (parameters such as `; charset=utf-8` ignored).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        Self::ALL
            .into_iter()
            .find(|format| essence.eq_ignore_ascii_case(format.content_type()))
    }

    /// The file extension of this format, without the dot.
    pub fn extension(self) -> &'static str {
        self.as_str()
    }
}

/// An uploaded input file, stored content-addressed like an artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dataset {
    /// The dataset's identifier (a UUID), what jobs name as `{"dataset": id}`.
    pub id: String,
    pub name: String,
    pub digest: Digest,
    pub format: DataFormat,
    /// Size in bytes.
    pub size: i64,
    /// Data rows (the CSV header is not a row), when known: counted while uploading CSV
    /// and JSONL, read from the footer of Parquet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatasetPage {
    pub datasets: Vec<Dataset>,
    /// Pass as `page_token` to get the next page; absent on the last page.
    pub next_page_token: Option<String>,
}

/// Where a batch job reads its rows: an uploaded dataset, or an object in the object
/// store the registry is configured for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged, deny_unknown_fields)]
pub enum BatchInput {
    /// A dataset's `id`.
    Dataset { dataset: String },
    /// `s3://bucket/path/file.parquet` (or `file:///…` for a local-disk store), inside the
    /// registry's object store; the format comes from the extension (`.csv`, `.jsonl`,
    /// `.ndjson`, `.parquet`). A URL ending in `/` names every file under it (except names
    /// starting with `_` or `.`), read in key order as one input.
    Url { url: String },
}

/// `POST /api/v1/batch-jobs`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SubmitBatchJob {
    /// The model ref to score with (`bc@production`, `bc@3`, `bc`): checked now, resolved
    /// again when the job starts.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::ModelRefText))]
    pub model: ModelRef,
    pub input: BatchInput,
    /// The input column (CSV header, JSONL member, Parquet column) that identifies a row;
    /// without one, rows are identified by their 1-based number (`row`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub id_column: Option<String>,
    /// The output's format (default `csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<DataFormat>,
    /// How many bad rows the job tolerates before it fails (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub max_bad_rows: Option<u64>,
    /// The batch deployment (pattern `batch`, of the same model) this job runs for: once
    /// approved, it is what the deployment observes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<ModelName>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
    diesel(sql_type = diesel::sql_types::Text)
)]
#[serde(rename_all = "lowercase")]
pub enum BatchJobStatus {
    /// Waiting for a worker.
    Queued,
    /// Being scored.
    Running,
    /// Scored; waiting for review.
    Succeeded,
    /// Stopped by an error (see `failure`).
    Failed,
    /// Cancelled before it finished.
    Cancelled,
    /// Reviewed and released: its predictions are served by key.
    Approved,
    /// Reviewed and refused: never served.
    Rejected,
}

impl BatchJobStatus {
    pub const ALL: [BatchJobStatus; 7] = [
        BatchJobStatus::Queued,
        BatchJobStatus::Running,
        BatchJobStatus::Succeeded,
        BatchJobStatus::Failed,
        BatchJobStatus::Cancelled,
        BatchJobStatus::Approved,
        BatchJobStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BatchJobStatus::Queued => "queued",
            BatchJobStatus::Running => "running",
            BatchJobStatus::Succeeded => "succeeded",
            BatchJobStatus::Failed => "failed",
            BatchJobStatus::Cancelled => "cancelled",
            BatchJobStatus::Approved => "approved",
            BatchJobStatus::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Whether the job still has work to do (a dataset it reads cannot be deleted).
    pub fn is_unfinished(self) -> bool {
        matches!(self, BatchJobStatus::Queued | BatchJobStatus::Running)
    }
}

/// How a job's input columns were matched to the model's features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Matching {
    /// By column name (the signature names its features).
    ByName,
    /// By position (the signature's features are the placeholders `f0…fN`).
    ByPosition,
}

/// The model a job scores with: the ref as submitted and, once started, the exact
/// version and artifact digest it ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchModel {
    #[serde(rename = "ref")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::ModelRefText))]
    pub reference: ModelRef,
    pub name: ModelName,
    pub version: Option<i64>,
    pub digest: Option<Digest>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchProgress {
    pub rows_done: i64,
    /// The input's data rows, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_total: Option<i64>,
    /// Rows scored per second since the job started (0 before it starts).
    pub rows_per_second: f64,
}

/// A bad input row: left out of the output, listed in the job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowError {
    /// The 1-based data row (the CSV header is not a row).
    pub row: i64,
    /// The row's id value, when the job has an id column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The column concerned, when the problem is with one value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub reason: String,
}

/// Why a job as a whole failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchFailure {
    /// `missing_columns`, `column_count`, `too_many_bad_rows`, `model_unavailable`,
    /// `input_unreadable`, …
    pub code: String,
    pub detail: String,
}

/// A finished job's output file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchOutput {
    /// sha256 of the output exactly as `…/output` serves it.
    pub digest: Digest,
    pub size: i64,
    pub rows: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchReview {
    pub by: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// A batch job, as `GET /api/v1/batch-jobs/{id}` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchJob {
    pub id: String,
    pub status: BatchJobStatus,
    pub model: BatchModel,
    pub input: BatchInput,
    pub output_format: DataFormat,
    pub id_column: Option<String>,
    pub max_bad_rows: i64,
    /// How input columns were matched to features; set when the job starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching: Option<Matching>,
    pub progress: BatchProgress,
    pub bad_rows: i64,
    /// The first 20 bad rows, in row order.
    pub errors: Vec<RowError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<BatchFailure>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<BatchOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<BatchReview>,
    /// The schedule whose firing created this job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The batch deployment this job runs for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<ModelName>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchJobPage {
    pub jobs: Vec<BatchJob>,
    /// Pass as `page_token` to get the next page; absent on the last page.
    pub next_page_token: Option<String>,
}

/// `POST /api/v1/batch-jobs/{id}/approve` and `…/reject`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReviewBatchJob {
    /// Why (required to reject).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = r"^[^\x00]*$")
    )]
    pub reason: Option<String>,
}

/// One key's prediction from a batch job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyedPrediction {
    /// The id value (or the 1-based row number when the job had no id column).
    pub key: String,
    /// A classifier's label, or a regressor's value (an array of one value per target
    /// for a model of several targets).
    pub prediction: PredictedValue,
    /// Class label → probability (classifiers only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub probabilities: BTreeMap<String, f64>,
    /// The job that predicted it.
    pub job: String,
    pub version: i64,
    pub digest: Digest,
    /// When the job was approved; absent for a job read before approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<DateTime<Utc>>,
}

/// What a batch job predicted for one key: the shape of one row of the JSON predict
/// endpoint's `predictions` (see `inference::Predictions`). A regressor's values are
/// always written with a fraction or an exponent (`5.0`), so they never read back as an
/// integer label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum PredictedValue {
    /// A classifier's label.
    Label(ClassLabel),
    /// A single-target regressor's value.
    Value(f64),
    /// A multi-target regressor's values, one per target.
    Targets(Vec<f64>),
}
