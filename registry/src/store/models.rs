//! Queries on `models` and `model_tags`.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::rows::{ModelRow, NewModelRow};
use super::schema::{
    batch_schedules, deployments, model_tags, models, promotion_requests, webhooks,
};
use super::{DbConn, StoreError, StoreResult};

pub fn find(conn: &mut DbConn, name: &str) -> StoreResult<Option<ModelRow>> {
    Ok(models::table
        .filter(models::name.eq(name))
        .select(ModelRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Takes the model's row lock for the rest of the transaction (PostgreSQL) by touching
/// `updated_at`, then reads it back: every writer of one model's state goes through here,
/// so concurrent promotions and version allocations queue instead of racing.
pub fn lock(conn: &mut DbConn, name: &str, now: NaiveDateTime) -> StoreResult<Option<ModelRow>> {
    let touched = diesel::update(models::table.filter(models::name.eq(name)))
        .set(models::updated_at.eq(now))
        .execute(conn)?;
    if touched == 0 {
        return Ok(None);
    }
    find(conn, name)
}

pub fn insert(conn: &mut DbConn, row: &NewModelRow<'_>) -> StoreResult<ModelRow> {
    diesel::insert_into(models::table)
        .values(row)
        .execute(conn)?;
    find(conn, row.name)?.ok_or(StoreError::NotFound)
}

pub fn set_description(conn: &mut DbConn, id: i64, description: Option<&str>) -> StoreResult<()> {
    diesel::update(models::table.find(id))
        .set(models::description.eq(description))
        .execute(conn)?;
    Ok(())
}

pub fn rename(conn: &mut DbConn, id: i64, name: &str) -> StoreResult<()> {
    diesel::update(models::table.find(id))
        .set(models::name.eq(name))
        .execute(conn)?;
    Ok(())
}

/// What else names the model `name` by its name (a deployment, a batch schedule, a
/// webhook, a pending promotion request), if anything: a rename would leave it behind.
pub fn named_elsewhere(conn: &mut DbConn, name: &str) -> StoreResult<Option<&'static str>> {
    let count = |n: i64, what: &'static str| (n > 0).then_some(what);
    let found = deployments::table
        .filter(deployments::model.eq(name))
        .count()
        .get_result::<i64>(conn)?;
    if let Some(what) = count(found, "a deployment") {
        return Ok(Some(what));
    }
    let found = batch_schedules::table
        .filter(batch_schedules::model.eq(name))
        .count()
        .get_result::<i64>(conn)?;
    if let Some(what) = count(found, "a batch schedule") {
        return Ok(Some(what));
    }
    let found = webhooks::table
        .filter(webhooks::model.eq(name))
        .count()
        .get_result::<i64>(conn)?;
    if let Some(what) = count(found, "a webhook") {
        return Ok(Some(what));
    }
    let found = promotion_requests::table
        .filter(promotion_requests::model.eq(name))
        .filter(promotion_requests::status.eq("pending"))
        .count()
        .get_result::<i64>(conn)?;
    Ok(count(found, "a pending promotion request"))
}

pub fn delete(conn: &mut DbConn, id: i64) -> StoreResult<()> {
    diesel::delete(models::table.find(id)).execute(conn)?;
    Ok(())
}

/// Allocates the model's next version number; the row lock (or SQLite's single writer)
/// makes this atomic, and a rolled-back transaction gives the number back.
pub fn allocate_version(conn: &mut DbConn, id: i64) -> StoreResult<i64> {
    diesel::update(models::table.find(id))
        .set(models::next_version.eq(models::next_version + 1))
        .execute(conn)?;
    let next: i64 = models::table
        .find(id)
        .select(models::next_version)
        .get_result(conn)?;
    Ok(next - 1)
}

/// Takes version `number` (at or above the model's next number) for a new version: the
/// next number becomes `number + 1`, and the numbers skipped are never used. `false` when
/// `number` is below the next number (taken, or skipped before).
pub fn claim_version(conn: &mut DbConn, id: i64, number: i64) -> StoreResult<bool> {
    let changed = diesel::update(
        models::table
            .find(id)
            .filter(models::next_version.le(number)),
    )
    .set(models::next_version.eq(number + 1))
    .execute(conn)?;
    Ok(changed == 1)
}

pub fn set_stage_pointer(
    conn: &mut DbConn,
    id: i64,
    stage: capstan_client::Stage,
    version: Option<i64>,
) -> StoreResult<()> {
    use capstan_client::Stage;
    let target = models::table.find(id);
    match stage {
        Stage::Staging => diesel::update(target)
            .set(models::staging_version.eq(version))
            .execute(conn)?,
        Stage::Production => diesel::update(target)
            .set(models::production_version.eq(version))
            .execute(conn)?,
    };
    Ok(())
}

/// The tags of each of `ids` (sorted), in one query; a model without tags is absent.
pub fn tags_of_many(conn: &mut DbConn, ids: &[i64]) -> StoreResult<HashMap<i64, Vec<String>>> {
    let rows: Vec<(i64, String)> = model_tags::table
        .filter(model_tags::model_id.eq_any(ids))
        .select((model_tags::model_id, model_tags::tag))
        .order((model_tags::model_id.asc(), model_tags::tag.asc()))
        .load(conn)?;
    let mut tags: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, tag) in rows {
        tags.entry(id).or_default().push(tag);
    }
    Ok(tags)
}

pub fn replace_tags(conn: &mut DbConn, id: i64, tags: &[String]) -> StoreResult<()> {
    diesel::delete(model_tags::table.filter(model_tags::model_id.eq(id))).execute(conn)?;
    // MultiConnection has no batch insert: one row at a time (tags are few).
    for tag in tags {
        diesel::insert_into(model_tags::table)
            .values((model_tags::model_id.eq(id), model_tags::tag.eq(tag)))
            .execute(conn)?;
    }
    Ok(())
}

/// Filters for listing models; `after` is the last name of the previous page.
pub struct ModelFilter<'a> {
    pub name_prefix: Option<&'a str>,
    pub tag: Option<&'a str>,
    /// Only names matching one of these `LIKE` patterns (a scoped token's).
    pub names_like: Option<&'a [String]>,
    pub after: Option<&'a str>,
    pub limit: i64,
}

pub fn list(conn: &mut DbConn, filter: &ModelFilter<'_>) -> StoreResult<Vec<ModelRow>> {
    let mut query = models::table
        .select(ModelRow::as_select())
        .order(models::name.asc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(prefix) = filter.name_prefix {
        // Names are `[a-z0-9._-]`, so `_` is the only LIKE metacharacter to escape.
        let pattern = format!("{}%", prefix.replace('_', "\\_"));
        query = query.filter(models::name.like(pattern).escape('\\'));
    }
    if let Some(tag) = filter.tag {
        let tagged = model_tags::table
            .filter(model_tags::tag.eq(tag.to_owned()))
            .select(model_tags::model_id);
        query = query.filter(models::id.eq_any(tagged));
    }
    if let Some(after) = filter.after {
        query = query.filter(models::name.gt(after.to_owned()));
    }
    if let Some(patterns) = filter.names_like {
        query = query.filter(super::like_any(models::name, patterns));
    }
    Ok(query.load(conn)?)
}
