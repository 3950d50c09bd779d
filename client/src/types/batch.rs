//! Wire types of pattern 4, offline predictions: datasets and batch jobs.

use serde::{Deserialize, Serialize};

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
