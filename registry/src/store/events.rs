//! The append-only event log. `append` must run inside the transaction whose change it
//! records; the `counters` row it increments serialises appenders, so `seq` is gap-free.

use diesel::prelude::*;

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
        .first(conn)?;
    diesel::insert_into(events::table)
        .values(&event)
        .execute(conn)?;
    Ok(event)
}

pub struct EventFilter<'a> {
    pub model: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub after: i64,
    pub limit: i64,
}

pub fn list(conn: &mut DbConn, filter: &EventFilter<'_>) -> StoreResult<Vec<EventRow>> {
    let mut query = events::table
        .filter(events::seq.gt(filter.after))
        .select(EventRow::as_select())
        .order(events::seq.asc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(model) = filter.model {
        query = query.filter(events::model.eq(model.to_owned()));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(events::kind.eq(kind.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// The newest `seq`, or 0.
pub fn last_seq(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(counters::table
        .find("event_seq")
        .select(counters::value)
        .first(conn)?)
}
