//! The relay's bookkeeping: per-publisher cursors (how far the event log has been
//! published) and leases (which replica may publish). Plain `UPDATE … WHERE` statements
//! make acquiring a lease and advancing a cursor atomic on both backends.
//!
//! Nothing here publishes anything or knows about brokers.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::{DbConn, StoreResult};

diesel::table! {
    relay_cursors (publisher) {
        publisher -> Text,
        seq -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    relay_leases (publisher) {
        publisher -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

/// A publisher's cursor and lease, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayPosition {
    pub publisher: String,
    pub cursor: i64,
    pub holder: Option<String>,
    pub lease_expires_at: Option<NaiveDateTime>,
}

/// Inserts a row unless one with the same key exists. MultiConnection has no
/// `on_conflict`: a unique violation from a concurrent replica is the same outcome.
fn insert_if_missing(result: Result<usize, DieselError>) -> StoreResult<()> {
    match result {
        Ok(_) | Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Creates the cursor (at `start`) and an expired lease for `publisher` if they do not
/// exist. Run outside a transaction: on PostgreSQL a unique violation would abort it.
pub fn register(
    conn: &mut DbConn,
    publisher: &str,
    start: i64,
    now: NaiveDateTime,
) -> StoreResult<()> {
    let exists = relay_cursors::table
        .find(publisher)
        .select(relay_cursors::seq)
        .first::<i64>(conn)
        .optional()?
        .is_some();
    if !exists {
        insert_if_missing(
            diesel::insert_into(relay_cursors::table)
                .values((
                    relay_cursors::publisher.eq(publisher),
                    relay_cursors::seq.eq(start),
                    relay_cursors::updated_at.eq(now),
                ))
                .execute(conn),
        )?;
    }
    let leased = relay_leases::table
        .find(publisher)
        .select(relay_leases::holder)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if !leased {
        insert_if_missing(
            diesel::insert_into(relay_leases::table)
                .values((
                    relay_leases::publisher.eq(publisher),
                    relay_leases::holder.eq(""),
                    relay_leases::expires_at.eq(now),
                ))
                .execute(conn),
        )?;
    }
    Ok(())
}

/// Takes or renews the lease: succeeds when `holder` already holds it or it has expired.
/// One statement, so two replicas can never both succeed.
pub fn acquire_lease(
    conn: &mut DbConn,
    publisher: &str,
    holder: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> StoreResult<bool> {
    let updated = diesel::update(
        relay_leases::table
            .filter(relay_leases::publisher.eq(publisher))
            .filter(
                relay_leases::holder
                    .eq(holder)
                    .or(relay_leases::expires_at.lt(now)),
            ),
    )
    .set((
        relay_leases::holder.eq(holder),
        relay_leases::expires_at.eq(until),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Gives the lease up (expires it now) if `holder` holds it, so another replica can take
/// over at once.
pub fn release_lease(
    conn: &mut DbConn,
    publisher: &str,
    holder: &str,
    now: NaiveDateTime,
) -> StoreResult<()> {
    diesel::update(
        relay_leases::table
            .filter(relay_leases::publisher.eq(publisher))
            .filter(relay_leases::holder.eq(holder)),
    )
    .set(relay_leases::expires_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Whether `holder` holds an unexpired lease on `publisher`.
pub fn holds_lease(
    conn: &mut DbConn,
    publisher: &str,
    holder: &str,
    now: NaiveDateTime,
) -> StoreResult<bool> {
    let held: i64 = relay_leases::table
        .filter(relay_leases::publisher.eq(publisher))
        .filter(relay_leases::holder.eq(holder))
        .filter(relay_leases::expires_at.ge(now))
        .count()
        .get_result(conn)?;
    Ok(held == 1)
}

pub fn cursor(conn: &mut DbConn, publisher: &str) -> StoreResult<Option<i64>> {
    Ok(relay_cursors::table
        .find(publisher)
        .select(relay_cursors::seq)
        .get_result(conn)
        .optional()?)
}

/// Moves the cursor forward to `seq` (never back).
pub fn advance_cursor(
    conn: &mut DbConn,
    publisher: &str,
    seq: i64,
    now: NaiveDateTime,
) -> StoreResult<()> {
    diesel::update(
        relay_cursors::table
            .filter(relay_cursors::publisher.eq(publisher))
            .filter(relay_cursors::seq.lt(seq)),
    )
    .set((
        relay_cursors::seq.eq(seq),
        relay_cursors::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(())
}

/// The stored cursor and lease of each of `publishers` that has a cursor.
pub fn positions(conn: &mut DbConn, publishers: &[String]) -> StoreResult<Vec<RelayPosition>> {
    let cursors: Vec<(String, i64)> = relay_cursors::table
        .filter(relay_cursors::publisher.eq_any(publishers))
        .select((relay_cursors::publisher, relay_cursors::seq))
        .order(relay_cursors::publisher.asc())
        .load(conn)?;
    let leases: Vec<(String, String, NaiveDateTime)> = relay_leases::table
        .filter(relay_leases::publisher.eq_any(publishers))
        .select((
            relay_leases::publisher,
            relay_leases::holder,
            relay_leases::expires_at,
        ))
        .load(conn)?;
    Ok(cursors
        .into_iter()
        .map(|(publisher, cursor)| {
            let lease = leases.iter().find(|(p, ..)| *p == publisher);
            RelayPosition {
                holder: lease
                    .map(|(_, holder, _)| holder.clone())
                    .filter(|h| !h.is_empty()),
                lease_expires_at: lease.map(|(.., at)| *at),
                publisher,
                cursor,
            }
        })
        .collect())
}
