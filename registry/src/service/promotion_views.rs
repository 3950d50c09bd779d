//! Governed promotion's rows → wire types: policies and promotion requests (with their
//! approvals and the status they read as now), and the page tokens of the request list.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime};

use capstan_client::types::{
    Approval, ModelPolicy, PromotionPolicy, PromotionRequest, PromotionStatus,
};
use capstan_client::ModelName;

use super::views::utc;
use crate::domain::paging::{decode_token, encode_token};
use crate::domain::promotion::effective_status;
use crate::domain::{DomainError, DomainResult};
use crate::store::promotions::{ApprovalRow, PolicyRow, RequestRow};
use crate::store::{StoreError, StoreResult};

const PAGE_KIND: &str = "promotion-requests";

pub(super) fn stored_policy(row: &PolicyRow) -> StoreResult<PromotionPolicy> {
    Ok(serde_json::from_str(&row.policy)?)
}

pub(super) fn policy_view(model: &str, row: &PolicyRow) -> StoreResult<ModelPolicy> {
    Ok(ModelPolicy {
        model: stored_model(model)?,
        policy: stored_policy(row)?,
        updated_at: utc(row.updated_at),
        updated_by: row.updated_by.clone(),
    })
}

fn stored_model(name: &str) -> StoreResult<ModelName> {
    ModelName::parse(name).map_err(|e| StoreError::Invalid(format!("model name {name:?}: {e}")))
}

/// The request as the API shows it at `now` (a pending one past its expiry reads as
/// `expired`).
pub(super) fn request_view(
    row: &RequestRow,
    approvals: &[&ApprovalRow],
    now: NaiveDateTime,
) -> StoreResult<PromotionRequest> {
    Ok(PromotionRequest {
        id: row.id.clone(),
        status: effective_status(row.status, row.expires_at, now),
        model: stored_model(&row.model)?,
        target: row.target.clone(),
        rollback: row.rollback,
        version: row.version,
        expected_version: row.expects_holder.then_some(row.expected_version),
        approvals_required: u32::try_from(row.approvals_required)
            .map_err(|_| StoreError::Invalid(format!("request {} approvals_required", row.id)))?,
        approvals: approvals
            .iter()
            .map(|a| Approval {
                by: a.approved_by.clone(),
                at: utc(a.approved_at),
                reason: a.reason.clone(),
            })
            .collect(),
        requested_by: row.requested_by.clone(),
        reason: row.reason.clone(),
        created_at: utc(row.created_at),
        expires_at: utc(row.expires_at),
        decided_at: row.decided_at.map(utc),
        decided_by: row.decided_by.clone(),
        rejection_reason: row.rejection_reason.clone(),
        failure_reason: row.failure_reason.clone(),
    })
}

/// Views of `rows` with their approvals (`approvals` may hold those of any request).
pub(super) fn request_views(
    rows: &[RequestRow],
    approvals: &[ApprovalRow],
    now: NaiveDateTime,
) -> StoreResult<Vec<PromotionRequest>> {
    let mut by_request: HashMap<&str, Vec<&ApprovalRow>> = HashMap::new();
    for approval in approvals {
        by_request
            .entry(approval.request_id.as_str())
            .or_default()
            .push(approval);
    }
    rows.iter()
        .map(|row| {
            let of_row = by_request
                .get(row.id.as_str())
                .map_or(&[][..], Vec::as_slice);
            request_view(row, of_row, now)
        })
        .collect()
}

/// A token resuming the newest-first list after `row`.
pub(super) fn page_token(row: &RequestRow) -> String {
    let micros = row.created_at.and_utc().timestamp_micros();
    encode_token(PAGE_KIND, &format!("{micros}:{}", row.id))
}

pub(super) fn decode_page_token(token: &str) -> DomainResult<(NaiveDateTime, String)> {
    let key = decode_token(PAGE_KIND, token)?;
    let (micros, id) = key.split_once(':').ok_or(DomainError::InvalidPageToken)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or(DomainError::InvalidPageToken)?;
    Ok((at.naive_utc(), id.to_owned()))
}

/// The stored status and expiry condition a listing's `status` filter means.
pub(super) fn status_filter(
    status: Option<PromotionStatus>,
    now: NaiveDateTime,
) -> (Option<PromotionStatus>, Option<(NaiveDateTime, bool)>) {
    match status {
        Some(PromotionStatus::Pending) => (Some(PromotionStatus::Pending), Some((now, true))),
        Some(PromotionStatus::Expired) => (Some(PromotionStatus::Pending), Some((now, false))),
        other => (other, None),
    }
}
