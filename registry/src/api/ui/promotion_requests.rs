//! Promotion requests on a model's page: the pending ones (what, who asked, why, the
//! approvals so far and how many the policy needs), with approve and reject forms for a
//! promoter; the policy's rules (no self-approval, one approval per person) are the
//! service's, so a refusal reads as it would on the API.

use actix_web::{web, HttpRequest, HttpResponse};
use capstan_client::http::PromotionRequestQuery;
use capstan_client::types::{PromotionRequest, PromotionStatus, ReviewPromotion, Role};
use capstan_client::ModelName;
use maud::{html, Markup};

use super::actions::after_action;
use super::models::when;
use super::session::UiContext;
use super::{Decision, ReviewForm, UiError};
use crate::error::RegistryResult;
use crate::service::Registry;

/// The pending requests of `model`, newest first.
pub async fn pending(
    registry: &Registry,
    ctx: &UiContext,
    model: &ModelName,
) -> RegistryResult<Vec<PromotionRequest>> {
    let page = registry
        .list_promotion_requests(
            &ctx.caller,
            PromotionRequestQuery {
                model: Some(model.clone()),
                status: Some(PromotionStatus::Pending),
                limit: Some(50),
                page_token: None,
            },
        )
        .await?;
    Ok(page.requests)
}

/// The pending requests as a table, each with its review form when the caller may review.
pub fn pending_markup(ctx: &UiContext, requests: &[PromotionRequest]) -> Markup {
    html! {
        @for request in requests {
            div.panel.request {
                p {
                    strong { "v" (request.version) " → " (request.target.replace(':', " ")) }
                    @if request.rollback { " (rollback)" }
                    ", asked by " (request.requested_by) " at " (when(&request.created_at))
                    @if let Some(reason) = &request.reason { ": " em { (reason) } }
                }
                p {
                    (request.approvals.len()) " of " (request.approvals_required) " approvals"
                    @for approval in &request.approvals { " " span.badge { (approval.by) } }
                    span.muted { " · expires " (when(&request.expires_at)) }
                }
                @if ctx.may(Role::Promoter) {
                    form.inline method="post" action={ "/ui/promotion-requests/" (request.id) "/review" } {
                        (ctx.csrf_field())
                        div {
                            label for={ "reason-" (request.id) } { "Reason" }
                            input id={ "reason-" (request.id) } type="text" name="reason" maxlength="16384";
                        }
                        label.check for={ "confirm-" (request.id) } {
                            input id={ "confirm-" (request.id) } type="checkbox" name="confirm" value="yes" required;
                            "I have reviewed it"
                        }
                        button type="submit" name="decision" value="approve" { "Approve" }
                        button.danger type="submit" name="decision" value="reject" { "Reject" }
                    }
                }
            }
        }
    }
}

/// `POST /ui/promotion-requests/{id}/review`: approve or reject, back to the model's page.
pub async fn review(
    request: HttpRequest,
    ctx: UiContext,
    registry: web::Data<Registry>,
    id: web::Path<String>,
    form: web::Form<ReviewForm>,
) -> Result<HttpResponse, UiError> {
    ctx.check_form(&request, &form.csrf)?;
    let id = id.into_inner();
    let found = registry
        .get_promotion_request(&ctx.caller, id.clone())
        .await?;
    let review = ReviewPromotion {
        reason: form.reason(),
    };
    let outcome = match form.decision() {
        Err(refused) => Err(refused),
        Ok(Decision::Approve) => registry
            .approve_promotion(&ctx.caller, id, review)
            .await
            .map(|r| match r.status {
                PromotionStatus::Approved => format!(
                    "Approved: v{} is now in {}.",
                    r.version,
                    r.target.replace(':', " ")
                ),
                _ => format!(
                    "Approval recorded: {} of {}.",
                    r.approvals.len(),
                    r.approvals_required
                ),
            }),
        Ok(Decision::Reject) => registry
            .reject_promotion(&ctx.caller, id, review)
            .await
            .map(|r| format!("Request for v{} rejected.", r.version)),
    };
    after_action(&ctx, &registry, found.model, outcome).await
}
