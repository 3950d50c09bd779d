//! The append-only event log. `append` must run inside the transaction whose change it
//! records; the `counters` row it increments serialises appenders, so `seq` is gap-free.

use std::collections::HashMap;

use diesel::prelude::*;

use capstan_client::types::EventKind;

use super::rows::EventRow;
use super::schema::{counters, events};
use super::{DbConn, StoreResult};

/// Appends `event`, assigning the next `seq` (whatever `event.seq` holds is ignored).
pub fn append(conn: &mut DbConn, mut event: EventRow) -> StoreResult<EventRow> {
    diesel::update(counters::table.find("event_seq"))
        .set(counters::value.eq(counters::value + 1))
        .execute(conn)?;
    event.seq = counters::table
        .find("event_seq")
        .select(counters::value)
        .get_result(conn)?;
    diesel::insert_into(events::table)
        .values(&event)
        .execute(conn)?;
    Ok(event)
}

pub struct EventFilter<'a> {
    pub model: Option<&'a str>,
    /// Only events of models matching one of these `LIKE` patterns (a scoped token's).
    pub models_like: Option<&'a [String]>,
    pub actor: Option<&'a str>,
    pub kind: Option<EventKind>,
    pub after: i64,
    /// Only events with `seq <= until`.
    pub until: Option<i64>,
    pub limit: i64,
}

pub fn list(conn: &mut DbConn, filter: &EventFilter<'_>) -> StoreResult<Vec<EventRow>> {
    let mut query = events::table
        .filter(events::seq.gt(filter.after))
        .select(EventRow::as_select())
        .order(events::seq.asc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(until) = filter.until {
        query = query.filter(events::seq.le(until));
    }
    if let Some(model) = filter.model {
        query = query.filter(events::model.eq(model.to_owned()));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(events::kind.eq(kind));
    }
    if let Some(actor) = filter.actor {
        query = query.filter(events::actor.eq(actor.to_owned()));
    }
    if let Some(patterns) = filter.models_like {
        query = query.filter(super::like_any(events::model, patterns));
    }
    Ok(query.load(conn)?)
}

/// The newest `limit` events of `model`, newest first.
pub fn newest_of_model(conn: &mut DbConn, model: &str, limit: i64) -> StoreResult<Vec<EventRow>> {
    Ok(events::table
        .filter(events::model.eq(model.to_owned()))
        .select(EventRow::as_select())
        .order(events::seq.desc())
        .limit(limit)
        .load(conn)?)
}

/// The newest `seq`, or 0.
pub fn last_seq(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(counters::table
        .find("event_seq")
        .select(counters::value)
        .get_result(conn)?)
}

/// The events of `model` that move its refs (creation, deletion, readiness, stages,
/// aliases) up to `until`, oldest first, starting at the model's last creation (or
/// rename to this name) at or before `from`: enough to replay where its refs pointed at
/// every event in between, once a rename's earlier history is read under the old name.
pub fn ref_history(
    conn: &mut DbConn,
    model: &str,
    from: i64,
    until: i64,
) -> StoreResult<Vec<EventRow>> {
    let created: Option<i64> = events::table
        .filter(events::model.eq(model))
        .filter(events::kind.eq_any([EventKind::ModelCreated, EventKind::ModelRenamed]))
        .filter(events::seq.le(from))
        .select(diesel::dsl::max(events::seq))
        .get_result(conn)?;
    Ok(events::table
        .filter(events::model.eq(model))
        .filter(events::seq.ge(created.unwrap_or(0)))
        .filter(events::seq.le(until))
        .filter(events::kind.eq_any(EventKind::MOVES_REFS))
        .select(EventRow::as_select())
        .order(events::seq.asc())
        .load(conn)?)
}

/// The `seq` of each of `models`' last deletion, in one query; a model never deleted is
/// absent.
pub fn last_deletions(conn: &mut DbConn, models: &[&str]) -> StoreResult<HashMap<String, i64>> {
    let rows: Vec<(String, Option<i64>)> = events::table
        .filter(events::model.eq_any(models))
        .filter(events::kind.eq(EventKind::ModelDeleted))
        .group_by(events::model)
        .select((events::model, diesel::dsl::max(events::seq)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(model, seq)| Some((model, seq?)))
        .collect())
}
