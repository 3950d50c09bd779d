//! `/api/v1/promotion-requests`: promotions waiting for approvals (opened by the stage,
//! rollback and alias routes under a policy that needs approvals), approved or rejected by
//! promoters. A request of a model the caller's token may not see answers 404.

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;

use capstan_client::http::api::PromotionRequestQuery;
use capstan_client::types::{PromotionRequest, PromotionRequestPage, ReviewPromotion};
use capstan_client::Problem;

use super::extract::JsonObject;
use crate::domain::access::Caller;
use crate::error::RegistryResult;
use crate::service::Registry;

/// `/promotion-requests/{id}`.
#[derive(Debug, Deserialize)]
pub struct RequestPath {
    pub id: String,
}

/// List promotion requests, newest first (of the models the token may see).
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "promotion-requests",
    params(PromotionRequestQuery),
    responses(
        (status = 200, description = "A page of requests", body = PromotionRequestPage),
        (status = 400, description = "Invalid filter, limit or page token", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/promotion-requests")]
pub async fn list_requests(
    registry: web::Data<Registry>,
    caller: Caller,
    query: web::Query<PromotionRequestQuery>,
) -> RegistryResult<HttpResponse> {
    let page = registry
        .list_promotion_requests(&caller, query.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Show a promotion request with its approvals (`expired` once past `expires_at`).
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "promotion-requests",
    params(("id" = String, Path, description = "Request id")),
    responses(
        (status = 200, description = "The request", body = PromotionRequest),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/promotion-requests/{id}")]
pub async fn get_request(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<RequestPath>,
) -> RegistryResult<HttpResponse> {
    let request = registry
        .get_promotion_request(&caller, path.into_inner().id)
        .await?;
    Ok(HttpResponse::Ok().json(request))
}

/// Approve a promotion request. The requester cannot (`403 self_approval`), nor can anyone
/// twice (`409 already_approved`). The last approval needed moves the stage or alias in
/// the same transaction; if the stage no longer holds the request's `expected_version`
/// (or the version was archived) the request is marked `failed` and the answer is `409`.
#[utoipa::path(
    security(("bearer" = ["promoter"])),
    tag = "promotion-requests",
    params(("id" = String, Path, description = "Request id")),
    request_body(content = Option<ReviewPromotion>, description = "Optional reason"),
    responses(
        (status = 200, description = "The request (`approved` once the pointer moved)", body = PromotionRequest),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The requester cannot approve (`self_approval`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already approved by this caller, not pending, expired, or the move was refused (request `failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/promotion-requests/{id}/approve")]
pub async fn approve_request(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<RequestPath>,
    body: Option<JsonObject<ReviewPromotion>>,
) -> RegistryResult<HttpResponse> {
    let review = body.map(|b| b.0).unwrap_or_default();
    let request = registry
        .approve_promotion(&caller, path.into_inner().id, review)
        .await?;
    Ok(HttpResponse::Ok().json(request))
}

/// Reject a promotion request (the requester may withdraw their own), with an optional
/// reason.
#[utoipa::path(
    security(("bearer" = ["promoter"])),
    tag = "promotion-requests",
    params(("id" = String, Path, description = "Request id")),
    request_body(content = Option<ReviewPromotion>, description = "Optional reason"),
    responses(
        (status = 200, description = "The rejected request", body = PromotionRequest),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not pending, or expired", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/promotion-requests/{id}/reject")]
pub async fn reject_request(
    registry: web::Data<Registry>,
    caller: Caller,
    path: web::Path<RequestPath>,
    body: Option<JsonObject<ReviewPromotion>>,
) -> RegistryResult<HttpResponse> {
    let review = body.map(|b| b.0).unwrap_or_default();
    let request = registry
        .reject_promotion(&caller, path.into_inner().id, review)
        .await?;
    Ok(HttpResponse::Ok().json(request))
}
