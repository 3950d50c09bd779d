//! Row types: what diesel reads and writes, one struct per table shape.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use capstan_client::types::{EventKind, VersionStatus};

use super::schema::{aliases, events, models, versions};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = models)]
pub struct ModelRow {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub next_version: i64,
    pub staging_version: Option<i64>,
    pub production_version: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = models)]
pub struct NewModelRow<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub next_version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = versions)]
pub struct VersionRow {
    pub id: i64,
    pub model_id: i64,
    pub version: i64,
    pub status: VersionStatus,
    pub digest: Option<String>,
    pub size: Option<i64>,
    pub format: String,
    pub expected_digest: Option<String>,
    pub signature: Option<String>,
    pub metrics: String,
    pub params: String,
    pub tags: String,
    pub source: Option<String>,
    pub description: Option<String>,
    pub created_at: NaiveDateTime,
    pub archived_at: Option<NaiveDateTime>,
    pub created_by: Option<String>,
    /// `blob` or `tree` (see [`TreeFields`]).
    pub layout: String,
    #[diesel(embed)]
    pub tree: TreeFields,
}

/// What a version holding a file tree records beyond a blob's columns: how many files,
/// the file serving loads, or why none is served.
#[derive(Debug, Clone, Default, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = versions, treat_none_as_null = true)]
pub struct TreeFields {
    pub file_count: Option<i64>,
    pub served_path: Option<String>,
    pub served_digest: Option<String>,
    pub served_size: Option<i64>,
    pub unservable_reason: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = versions)]
pub struct NewVersionRow {
    pub model_id: i64,
    pub version: i64,
    pub status: VersionStatus,
    pub digest: Option<String>,
    pub size: Option<i64>,
    pub format: String,
    pub expected_digest: Option<String>,
    pub signature: Option<String>,
    pub metrics: String,
    pub params: String,
    pub tags: String,
    pub source: Option<String>,
    pub description: Option<String>,
    pub created_at: NaiveDateTime,
    pub created_by: Option<String>,
    pub layout: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = aliases)]
pub struct AliasRow {
    pub model_id: i64,
    pub alias: String,
    pub version: i64,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub seq: i64,
    pub kind: EventKind,
    pub model: String,
    pub version: Option<i64>,
    pub stage: Option<String>,
    pub from_version: Option<i64>,
    pub to_version: Option<i64>,
    pub reason: Option<String>,
    pub alias: Option<String>,
    pub digest: Option<String>,
    pub created_at: NaiveDateTime,
    pub actor: Option<String>,
    pub job: Option<String>,
    pub deployment: Option<String>,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub request: Option<String>,
    /// For `model_renamed`: the model's name before.
    pub previous_name: Option<String>,
}
