//! Promotion requests, the promotions a policy that needs approvals turns moves into
//! (see `service::policies`): open (from the stage and alias use cases, inside their
//! transaction), approve, reject, list, show.
//!
//! Approving locks the model's row, then records the approval and, when it is the last
//! one needed, decides the request (`… WHERE status = 'pending'`) and moves the pointer in
//! the same transaction: two approvers racing move it once. A move refused at that point
//! (the stage no longer holds `expected_version`, the version was archived) marks the
//! request `failed` and answers the refusal (409).
//!
//! Requests are reached by id, not under `/models/{name}`, so the scope of the caller's
//! token is checked here: a request of a model the caller may not see does not exist.

use std::time::Duration;

use capstan_client::http::api::PromotionRequestQuery;
use capstan_client::types::{
    EventKind, PromotionRequest, PromotionRequestPage, PromotionStatus, PromotionTarget,
    ReviewPromotion,
};
use capstan_client::{ModelName, VersionRef};
use chrono::TimeDelta;

use super::aliases::assign_alias;
use super::models::lock_model;
use super::promotion_views::{
    decode_page_token, page_token, request_view, request_views, status_filter,
};
use super::resolve::resolve_row;
use super::stages::{move_stage, no_previous_version, promote_row, state_of};
use super::views::stage_pointers;
use super::{event, now, Registry};
use crate::domain::access::Caller;
use crate::domain::metadata::check_text;
use crate::domain::paging::page_limit;
use crate::domain::policy::{check_assignable, check_expected_holder};
use crate::domain::promotion::{check_approver, check_decidable, effective_status};
use crate::error::{RegistryError, RegistryResult};
use crate::store::promotions::{self, ApprovalRow, RequestFilter, RequestRow};
use crate::store::rows::ModelRow;
use crate::store::{events, stages, DbConn, StoreError};

/// Default life of a promotion request: 7 days.
pub const DEFAULT_REQUEST_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a promotion did: moved the pointer, or opened a request for approvals.
#[derive(Debug)]
pub enum Promotion<T> {
    Done(T),
    Requested(Box<PromotionRequest>),
}

/// A request to open (see [`open_request`]).
pub(super) struct NewRequest {
    pub target: PromotionTarget,
    pub rollback: bool,
    pub version: i64,
    pub expected_version: Option<Option<i64>>,
    pub approvals: u32,
    pub reason: Option<String>,
}

fn request_not_found(id: &str) -> RegistryError {
    let shown: String = id.chars().take(64).collect();
    RegistryError::not_found(
        "promotion_request_not_found",
        format!("no promotion request {shown:?}"),
    )
}

/// Opens a pending request by `actor` and records `promotion_requested`.
pub(super) fn open_request(
    conn: &mut DbConn,
    model: &ModelRow,
    new: NewRequest,
    actor: &str,
    ttl: Duration,
) -> RegistryResult<PromotionRequest> {
    let created_at = now();
    let ttl = TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX);
    let row = RequestRow {
        id: uuid::Uuid::new_v4().to_string(),
        model_id: model.id,
        model: model.name.clone(),
        target: new.target.to_string(),
        rollback: new.rollback,
        version: new.version,
        expects_holder: new.expected_version.is_some(),
        expected_version: new.expected_version.flatten(),
        approvals_required: i64::from(new.approvals),
        status: PromotionStatus::Pending,
        requested_by: actor.to_owned(),
        reason: new.reason,
        created_at,
        expires_at: created_at.checked_add_signed(ttl).unwrap_or(created_at),
        decided_at: None,
        decided_by: None,
        rejection_reason: None,
        failure_reason: None,
    };
    promotions::insert_request(conn, &row)?;
    let mut requested = event(
        EventKind::PromotionRequested,
        &model.name,
        Some(row.version),
        actor,
    );
    describe_goal(&mut requested, &new.target);
    requested.reason = row.reason.clone();
    requested.request = Some(row.id.clone());
    events::append(conn, requested)?;
    Ok(request_view(&row, &[], created_at)?)
}

/// Sets the stage or alias a promotion event is about.
fn describe_goal(event: &mut crate::store::rows::EventRow, goal: &PromotionTarget) {
    match goal {
        PromotionTarget::Stage(stage) => event.stage = Some(stage.as_str().to_owned()),
        PromotionTarget::Alias(alias) => event.alias = Some(alias.as_str().to_owned()),
    }
}

fn stored_target(row: &RequestRow) -> RegistryResult<PromotionTarget> {
    PromotionTarget::parse(&row.target).ok_or_else(|| {
        StoreError::Invalid(format!("request {} target {:?}", row.id, row.target)).into()
    })
}

/// Moves the pointer a request names, as `actor`; a `Conflict` when the registry's state
/// no longer allows it (nothing written then).
fn carry_out(
    conn: &mut DbConn,
    model: &ModelRow,
    row: &RequestRow,
    actor: &str,
) -> RegistryResult<()> {
    let request = Some(row.id.as_str());
    let target = resolve_row(conn, model, &VersionRef::Number(row.version))?;
    match stored_target(row)? {
        PromotionTarget::Stage(stage) => {
            let current = stage_pointers(model).get(stage);
            if row.expects_holder {
                check_expected_holder(stage, current, Some(row.expected_version))?;
            }
            check_assignable(&state_of(&target), stage.as_str())?;
            if row.rollback {
                if stages::peek_previous(conn, model.id, stage)? != Some(row.version) {
                    return Err(no_previous_version(model, stage));
                }
                stages::pop_previous(conn, model.id, stage)?;
                let reason = row.reason.clone().or_else(|| Some("rollback".to_owned()));
                move_stage(conn, model, stage, row.version, reason, actor, request)
            } else {
                promote_row(
                    conn,
                    model,
                    stage,
                    &target,
                    row.reason.clone(),
                    actor,
                    request,
                )
            }
        }
        PromotionTarget::Alias(alias) => assign_alias(
            conn,
            model,
            &alias,
            &target,
            row.reason.clone(),
            actor,
            request,
        ),
    }
}

/// The request `id` under the model's lock, if the caller may see its model.
fn lock_request(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
) -> RegistryResult<(ModelRow, RequestRow)> {
    let unlocked = promotions::find_request(conn, id)?
        .filter(|row| caller.sees(&row.model))
        .ok_or_else(|| request_not_found(id))?;
    let model = lock_model(conn, &unlocked.model)?;
    // Read again under the lock: another approver may have decided it meanwhile.
    let row = promotions::find_request(conn, id)?.ok_or_else(|| request_not_found(id))?;
    Ok((model, row))
}

/// What an approval ended in (a refused move is committed as `failed`, then answered).
enum Approved {
    Request(Box<PromotionRequest>),
    Failed(RegistryError),
}

impl Registry {
    /// Promotion requests live this long before they read as `expired`.
    pub fn with_promotion_request_ttl(mut self, ttl: Duration) -> Self {
        self.promotion_request_ttl = std::sync::Arc::new(ttl);
        self
    }

    /// Approves request `id` as `caller`; the last approval needed moves the pointer in
    /// the same transaction.
    pub async fn approve_promotion(
        &self,
        caller: &Caller,
        id: String,
        review: ReviewPromotion,
    ) -> RegistryResult<PromotionRequest> {
        check_text("reason", review.reason.as_deref())?;
        let caller = caller.clone();
        let approved = self
            .write(move |conn| {
                let (model, row) = lock_request(conn, &caller, &id)?;
                let at = now();
                check_decidable(&row.id, effective_status(row.status, row.expires_at, at))?;
                let mut approvals = promotions::approvals_of(conn, std::slice::from_ref(&row.id))?;
                let by: Vec<&str> = approvals.iter().map(|a| a.approved_by.as_str()).collect();
                check_approver(&row.requested_by, &caller.name, &by)?;
                let approval = ApprovalRow {
                    request_id: row.id.clone(),
                    approved_by: caller.name.clone(),
                    approved_at: at,
                    reason: review.reason,
                };
                promotions::insert_approval(conn, &approval)?;
                let mut approved = event(
                    EventKind::PromotionApproved,
                    &model.name,
                    Some(row.version),
                    &caller.name,
                );
                describe_goal(&mut approved, &stored_target(&row)?);
                approved.reason = approval.reason.clone();
                approved.request = Some(row.id.clone());
                events::append(conn, approved)?;
                approvals.push(approval);
                let mut outcome = None;
                if approvals.len() as i64 >= row.approvals_required {
                    let (status, failure) = match carry_out(conn, &model, &row, &caller.name) {
                        Ok(()) => (PromotionStatus::Approved, None),
                        Err(error @ RegistryError::Conflict { .. }) => {
                            (PromotionStatus::Failed, Some(error))
                        }
                        Err(other) => return Err(other),
                    };
                    let failure_reason = failure.as_ref().map(ToString::to_string);
                    let decided = promotions::decide(
                        conn,
                        &row.id,
                        status,
                        at,
                        &caller.name,
                        None,
                        failure_reason.as_deref(),
                    )?;
                    if !decided {
                        // Someone decided it first: undo this approval and its move.
                        return Err(RegistryError::conflict(
                            "request_not_pending",
                            format!("promotion request {} was decided meanwhile", row.id),
                        ));
                    }
                    outcome = failure;
                }
                if let Some(error) = outcome {
                    return Ok(Approved::Failed(error));
                }
                let row = promotions::find_request(conn, &row.id)?.ok_or(StoreError::NotFound)?;
                let refs: Vec<&ApprovalRow> = approvals.iter().collect();
                Ok(Approved::Request(Box::new(request_view(&row, &refs, at)?)))
            })
            .await?;
        match approved {
            Approved::Request(request) => Ok(*request),
            Approved::Failed(error) => Err(error),
        }
    }

    /// Rejects request `id` as `caller` (the requester may withdraw their own).
    pub async fn reject_promotion(
        &self,
        caller: &Caller,
        id: String,
        review: ReviewPromotion,
    ) -> RegistryResult<PromotionRequest> {
        check_text("reason", review.reason.as_deref())?;
        let caller = caller.clone();
        self.write(move |conn| {
            let (model, row) = lock_request(conn, &caller, &id)?;
            let at = now();
            check_decidable(&row.id, effective_status(row.status, row.expires_at, at))?;
            let reason = review.reason;
            let decided = promotions::decide(
                conn,
                &row.id,
                PromotionStatus::Rejected,
                at,
                &caller.name,
                reason.as_deref(),
                None,
            )?;
            if !decided {
                return Err(RegistryError::conflict(
                    "request_not_pending",
                    format!("promotion request {} was decided meanwhile", row.id),
                ));
            }
            let mut rejected = event(
                EventKind::PromotionRejected,
                &model.name,
                Some(row.version),
                &caller.name,
            );
            describe_goal(&mut rejected, &stored_target(&row)?);
            rejected.reason = reason;
            rejected.request = Some(row.id.clone());
            events::append(conn, rejected)?;
            let row = promotions::find_request(conn, &row.id)?.ok_or(StoreError::NotFound)?;
            let approvals = promotions::approvals_of(conn, std::slice::from_ref(&row.id))?;
            Ok(request_views(std::slice::from_ref(&row), &approvals, at)?
                .pop()
                .ok_or(StoreError::NotFound)?)
        })
        .await
    }

    /// Request `id`, if the caller may see its model.
    pub async fn get_promotion_request(
        &self,
        caller: &Caller,
        id: String,
    ) -> RegistryResult<PromotionRequest> {
        let caller = caller.clone();
        self.db
            .read(move |conn| {
                let row = promotions::find_request(conn, &id)?
                    .filter(|row| caller.sees(&row.model))
                    .ok_or_else(|| request_not_found(&id))?;
                let approvals = promotions::approvals_of(conn, std::slice::from_ref(&row.id))?;
                Ok(
                    request_views(std::slice::from_ref(&row), &approvals, now())?
                        .pop()
                        .ok_or(StoreError::NotFound)?,
                )
            })
            .await
    }

    /// Requests newest first, of the models the caller may see.
    pub async fn list_promotion_requests(
        &self,
        caller: &Caller,
        query: PromotionRequestQuery,
    ) -> RegistryResult<PromotionRequestPage> {
        let limit = page_limit(query.limit)?;
        let before = query
            .page_token
            .as_deref()
            .map(decode_page_token)
            .transpose()?;
        let model_like = caller.scope.like_patterns();
        let empty = PromotionRequestPage {
            requests: Vec::new(),
            next_page_token: None,
        };
        let hidden = query
            .model
            .as_ref()
            .is_some_and(|m| !caller.sees(m.as_str()));
        if hidden || model_like.as_ref().is_some_and(Vec::is_empty) {
            return Ok(empty);
        }
        self.db
            .read(move |conn| {
                let at = now();
                let (status, live_at) = status_filter(query.status, at);
                let filter = RequestFilter {
                    model: query.model.as_ref().map(ModelName::as_str),
                    status,
                    live_at,
                    model_like: model_like.as_deref(),
                    before,
                    limit: limit + 1,
                };
                let mut rows = promotions::list_requests(conn, &filter)?;
                let has_more = rows.len() as i64 > limit;
                rows.truncate(limit as usize);
                let next_page_token = has_more.then(|| rows.last().map(page_token)).flatten();
                let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
                let approvals = promotions::approvals_of(conn, &ids)?;
                Ok(PromotionRequestPage {
                    requests: request_views(&rows, &approvals, at)?,
                    next_page_token,
                })
            })
            .await
    }
}
