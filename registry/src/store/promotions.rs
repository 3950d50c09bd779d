//! Queries on `promotion_policies`, `promotion_requests` and `promotion_approvals`: a
//! model's promotion policy (JSON), promotion requests and their approvals. Deciding a
//! request is a conditional update (`… WHERE status = 'pending'`), so it happens once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use capstan_client::types::PromotionStatus;

use super::schema::{promotion_approvals, promotion_policies, promotion_requests};
use super::{DbConn, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = promotion_policies)]
pub struct PolicyRow {
    pub model_id: i64,
    /// The `PromotionPolicy` as JSON.
    pub policy: String,
    pub updated_at: NaiveDateTime,
    pub updated_by: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = promotion_requests)]
pub struct RequestRow {
    pub id: String,
    pub model_id: i64,
    pub model: String,
    pub target: String,
    pub rollback: bool,
    pub version: i64,
    pub expects_holder: bool,
    pub expected_version: Option<i64>,
    pub approvals_required: i64,
    /// Never `expired` (computed on reading).
    pub status: PromotionStatus,
    pub requested_by: String,
    pub reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
    pub decided_by: Option<String>,
    pub rejection_reason: Option<String>,
    pub failure_reason: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = promotion_approvals)]
pub struct ApprovalRow {
    pub request_id: String,
    pub approved_by: String,
    pub approved_at: NaiveDateTime,
    pub reason: Option<String>,
}

pub fn find_policy(conn: &mut DbConn, model_id: i64) -> StoreResult<Option<PolicyRow>> {
    Ok(promotion_policies::table
        .find(model_id)
        .select(PolicyRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Sets the model's policy (the caller holds the model's lock, so delete + insert is
/// enough on both backends).
pub fn put_policy(conn: &mut DbConn, row: &PolicyRow) -> StoreResult<()> {
    diesel::delete(promotion_policies::table.find(row.model_id)).execute(conn)?;
    diesel::insert_into(promotion_policies::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// False when the model had no policy.
pub fn delete_policy(conn: &mut DbConn, model_id: i64) -> StoreResult<bool> {
    Ok(diesel::delete(promotion_policies::table.find(model_id)).execute(conn)? == 1)
}

pub fn insert_request(conn: &mut DbConn, row: &RequestRow) -> StoreResult<()> {
    diesel::insert_into(promotion_requests::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_request(conn: &mut DbConn, id: &str) -> StoreResult<Option<RequestRow>> {
    Ok(promotion_requests::table
        .find(id)
        .select(RequestRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// What a listing selects, newest first.
pub struct RequestFilter<'a> {
    pub model: Option<&'a str>,
    /// A stored status (`pending` with `pending_until`, for pending or expired).
    pub status: Option<PromotionStatus>,
    /// With `status = pending`: `Some((now, true))` keeps those not expired at `now`,
    /// `Some((now, false))` those expired.
    pub live_at: Option<(NaiveDateTime, bool)>,
    /// SQL `LIKE` patterns (escape `\`) the model must match one of; `None`: any model.
    pub model_like: Option<&'a [String]>,
    /// Resume before this `(created_at, id)`.
    pub before: Option<(NaiveDateTime, String)>,
    pub limit: i64,
}

pub fn list_requests(
    conn: &mut DbConn,
    filter: &RequestFilter<'_>,
) -> StoreResult<Vec<RequestRow>> {
    let mut query = promotion_requests::table
        .select(RequestRow::as_select())
        .order((
            promotion_requests::created_at.desc(),
            promotion_requests::id.desc(),
        ))
        .limit(filter.limit)
        .into_boxed();
    if let Some(model) = filter.model {
        query = query.filter(promotion_requests::model.eq(model.to_owned()));
    }
    if let Some(status) = filter.status {
        query = query.filter(promotion_requests::status.eq(status));
    }
    match filter.live_at {
        Some((now, true)) => query = query.filter(promotion_requests::expires_at.gt(now)),
        Some((now, false)) => query = query.filter(promotion_requests::expires_at.le(now)),
        None => {}
    }
    if let Some((created_at, id)) = &filter.before {
        query = query.filter(
            promotion_requests::created_at
                .lt(*created_at)
                .or(promotion_requests::created_at
                    .eq(*created_at)
                    .and(promotion_requests::id.lt(id.clone()))),
        );
    }
    if let Some(patterns) = filter.model_like {
        query = query.filter(super::like_any(promotion_requests::model, patterns));
    }
    Ok(query.load(conn)?)
}

/// Marks a pending request decided; false when it was no longer pending (someone else
/// decided it first).
pub fn decide(
    conn: &mut DbConn,
    id: &str,
    status: PromotionStatus,
    at: NaiveDateTime,
    by: &str,
    rejection_reason: Option<&str>,
    failure_reason: Option<&str>,
) -> StoreResult<bool> {
    let updated = diesel::update(
        promotion_requests::table
            .filter(promotion_requests::id.eq(id))
            .filter(promotion_requests::status.eq(PromotionStatus::Pending)),
    )
    .set((
        promotion_requests::status.eq(status),
        promotion_requests::decided_at.eq(Some(at)),
        promotion_requests::decided_by.eq(Some(by)),
        promotion_requests::rejection_reason.eq(rejection_reason),
        promotion_requests::failure_reason.eq(failure_reason),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Records an approval; a second one by the same approver is a `UniqueViolation`.
pub fn insert_approval(conn: &mut DbConn, row: &ApprovalRow) -> StoreResult<()> {
    diesel::insert_into(promotion_approvals::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The approvals of `ids`, oldest first.
pub fn approvals_of(conn: &mut DbConn, ids: &[String]) -> StoreResult<Vec<ApprovalRow>> {
    Ok(promotion_approvals::table
        .filter(promotion_approvals::request_id.eq_any(ids))
        .order((
            promotion_approvals::approved_at.asc(),
            promotion_approvals::approved_by.asc(),
        ))
        .select(ApprovalRow::as_select())
        .load(conn)?)
}
