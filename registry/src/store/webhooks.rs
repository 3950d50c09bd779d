//! Queries on `webhooks` and `webhook_deliveries`. Moving a webhook's cursor and recording
//! an attempt are plain statements; the service runs them in one transaction after
//! checking that this replica holds the delivery lease (see `store::relay`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{webhook_deliveries, webhooks};
use super::webhook_rows::{DeliveryRow, NewDeliveryRow, WebhookChanges, WebhookRow};
use super::{DbConn, StoreError, StoreResult};

/// Delivery attempts kept per webhook; older ones are deleted as new ones are recorded.
pub const DELIVERIES_KEPT: i64 = 1000;

pub fn insert(conn: &mut DbConn, row: &WebhookRow) -> StoreResult<WebhookRow> {
    diesel::insert_into(webhooks::table)
        .values(row)
        .execute(conn)?;
    find(conn, &row.id)?.ok_or(StoreError::NotFound)
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<WebhookRow>> {
    Ok(webhooks::table
        .filter(webhooks::id.eq(id))
        .select(WebhookRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// By id, after `after`.
pub fn list(conn: &mut DbConn, after: Option<&str>, limit: i64) -> StoreResult<Vec<WebhookRow>> {
    let mut query = webhooks::table
        .select(WebhookRow::as_select())
        .order(webhooks::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(webhooks::id.gt(after.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// The ids of the webhooks whose status is `status`.
pub fn ids_with_status(conn: &mut DbConn, status: &str) -> StoreResult<Vec<String>> {
    Ok(webhooks::table
        .filter(webhooks::status.eq(status))
        .select(webhooks::id)
        .order(webhooks::id.asc())
        .load(conn)?)
}

/// Applies `changes`; false when there is no such webhook.
pub fn update(conn: &mut DbConn, id: &str, changes: &WebhookChanges) -> StoreResult<bool> {
    let updated = diesel::update(webhooks::table.filter(webhooks::id.eq(id)))
        .set(changes)
        .execute(conn)?;
    Ok(updated == 1)
}

/// Moves the cursor forward to `seq` (never back) and clears the head event's failures.
pub fn advance_cursor(
    conn: &mut DbConn,
    id: &str,
    seq: i64,
    now: NaiveDateTime,
) -> StoreResult<()> {
    diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::cursor_seq.lt(seq)),
    )
    .set((
        webhooks::cursor_seq.eq(seq),
        webhooks::attempts.eq(0),
        webhooks::failing_since.eq(None::<NaiveDateTime>),
        webhooks::next_attempt_at.eq(None::<NaiveDateTime>),
        webhooks::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConn, id: &str) -> StoreResult<bool> {
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(id)))
        .execute(conn)?;
    let deleted = diesel::delete(webhooks::table.filter(webhooks::id.eq(id))).execute(conn)?;
    Ok(deleted == 1)
}

/// Records an attempt and deletes the webhook's attempts beyond the newest
/// [`DELIVERIES_KEPT`].
pub fn record_delivery(conn: &mut DbConn, row: &NewDeliveryRow) -> StoreResult<()> {
    diesel::insert_into(webhook_deliveries::table)
        .values(row)
        .execute(conn)?;
    let oldest_kept: Option<i64> = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(&row.webhook_id))
        .select(webhook_deliveries::id)
        .order(webhook_deliveries::id.desc())
        .offset(DELIVERIES_KEPT - 1)
        .limit(1)
        .get_result(conn)
        .optional()?;
    if let Some(oldest_kept) = oldest_kept {
        diesel::delete(
            webhook_deliveries::table
                .filter(webhook_deliveries::webhook_id.eq(&row.webhook_id))
                .filter(webhook_deliveries::id.lt(oldest_kept)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// A webhook's attempts, newest first, before the attempt `before` (an id).
pub fn deliveries(
    conn: &mut DbConn,
    webhook: &str,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<DeliveryRow>> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook.to_owned()))
        .select(DeliveryRow::as_select())
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(webhook_deliveries::id.lt(before));
    }
    Ok(query.load(conn)?)
}
