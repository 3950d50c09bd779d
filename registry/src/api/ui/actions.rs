//! The actions of a model's and a version's pages: the forms (each with a reason where
//! the event log keeps one, and a confirmation box), their handlers for moving a stage
//! (promote, roll back, empty it) and an alias, and what every action answers — a `303`
//! back to the model's page with a notice, or the page again with a refusal's detail.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use capstan_client::types::{Model, PromoteRequest, Version};
use capstan_client::{AliasName, ModelName, Stage};
use maud::{html, Markup};
use serde::Deserialize;

use super::models::{model_page, ModelPageQuery, Notice, NOTICE_COOKIE};
use super::session::UiContext;
use super::UiError;
use crate::error::RegistryError;
use crate::service::promotions::Promotion;
use crate::service::Registry;

#[derive(Deserialize)]
pub struct StageForm {
    csrf: String,
    /// `promote`, `rollback` or `remove`.
    action: String,
    stage: Stage,
    version: Option<i64>,
    reason: Option<String>,
    confirm: Option<String>,
}

/// What an action asks that the form did not give.
fn missing(what: &str) -> UiError {
    UiError(RegistryError::bad_request("invalid_form", what.to_owned()))
}

/// `POST /ui/models/{name}/stages`: promote, roll back or empty a stage.
pub async fn move_stage(
    request: HttpRequest,
    ctx: UiContext,
    registry: web::Data<Registry>,
    name: web::Path<ModelName>,
    form: web::Form<StageForm>,
) -> Result<HttpResponse, UiError> {
    ctx.check_form(&request, &form.csrf)?;
    let form = form.into_inner();
    let name = name.into_inner();
    if let Err(unconfirmed) = super::confirmed(form.confirm.as_deref()) {
        return after_action(&ctx, &registry, name, Err(unconfirmed)).await;
    }
    let reason = super::given_reason(form.reason);
    let stage = form.stage;
    let actor = ctx.caller.name.clone();
    let outcome = match form.action.as_str() {
        "promote" => {
            let version = form
                .version
                .ok_or_else(|| missing("choose the version to promote"))?;
            let request = PromoteRequest {
                version,
                reason,
                expected_version: None,
            };
            registry
                .promote(name.clone(), stage, request, &actor)
                .await
                .map(|p| promoted(p, stage))
        }
        "rollback" => registry
            .rollback(name.clone(), stage, reason, &actor)
            .await
            .map(|p| promoted(p, stage)),
        "remove" => registry
            .remove_from_stage(name.clone(), stage, reason, &actor)
            .await
            .map(|v| format!("Version {v} left {}.", stage.as_str())),
        other => return Err(missing(&format!("unknown stage action {other:?}"))),
    };
    after_action(&ctx, &registry, name, outcome).await
}

fn promoted(promotion: Promotion<Version>, stage: Stage) -> String {
    match promotion {
        Promotion::Done(version) => {
            format!("{} now holds version {}.", stage.as_str(), version.version)
        }
        Promotion::Requested(request) => format!(
            "The promotion policy needs approvals: request {} is pending.",
            request.id
        ),
    }
}

#[derive(Deserialize)]
pub struct AliasForm {
    csrf: String,
    /// `set` or `remove`.
    action: String,
    alias: String,
    version: Option<i64>,
    reason: Option<String>,
    confirm: Option<String>,
}

/// `POST /ui/models/{name}/aliases`: point an alias at a version, or remove it.
pub async fn move_alias(
    request: HttpRequest,
    ctx: UiContext,
    registry: web::Data<Registry>,
    name: web::Path<ModelName>,
    form: web::Form<AliasForm>,
) -> Result<HttpResponse, UiError> {
    ctx.check_form(&request, &form.csrf)?;
    let form = form.into_inner();
    let name = name.into_inner();
    if let Err(unconfirmed) = super::confirmed(form.confirm.as_deref()) {
        return after_action(&ctx, &registry, name, Err(unconfirmed)).await;
    }
    let alias = AliasName::parse(form.alias.trim())
        .map_err(|e| UiError(RegistryError::bad_request("invalid_alias", e.to_string())))?;
    let actor = ctx.caller.name.clone();
    let reason = super::given_reason(form.reason);
    let outcome = match form.action.as_str() {
        "set" => {
            let version = form
                .version
                .ok_or_else(|| missing("choose the version the alias points at"))?;
            registry
                .set_alias(name.clone(), alias.clone(), version, reason, &actor)
                .await
                .map(|p| match p {
                    Promotion::Done(set) => {
                        format!("@{} now points at version {}.", set.alias, set.version)
                    }
                    Promotion::Requested(request) => format!(
                        "The promotion policy needs approvals: request {} is pending.",
                        request.id
                    ),
                })
        }
        "remove" => registry
            .delete_alias(name.clone(), alias.clone(), reason, &actor)
            .await
            .map(|()| format!("@{alias} removed.")),
        other => return Err(missing(&format!("unknown alias action {other:?}"))),
    };
    after_action(&ctx, &registry, name, outcome).await
}

/// After an action: back to the model's page (a `303`, so reloading does not repeat it)
/// saying what happened; a refusal (policy, conflict, bad input) shows the model's page
/// with the problem's detail, answered with the problem's status.
pub async fn after_action(
    ctx: &UiContext,
    registry: &Registry,
    name: ModelName,
    outcome: Result<String, RegistryError>,
) -> Result<HttpResponse, UiError> {
    match outcome {
        Ok(done) => {
            let value: String = url::form_urlencoded::byte_serialize(done.as_bytes()).collect();
            let notice = Cookie::build(NOTICE_COOKIE, value)
                .path("/ui/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .max_age(actix_web::cookie::time::Duration::seconds(60))
                .finish();
            Ok(HttpResponse::SeeOther()
                .cookie(notice)
                .insert_header((header::LOCATION, format!("/ui/models/{}", name.as_str())))
                .finish())
        }
        Err(error) => {
            let Some((status, detail)) = super::refusal(&error) else {
                return Err(UiError(error));
            };
            let query = ModelPageQuery::default();
            let notice = Some(Notice::Refused(detail));
            model_page(ctx, registry, name, &query, notice, status).await
        }
    }
}

/// The action forms of a model's page (`versions`: the versions offered), each with a
/// reason where the event log keeps one, and a confirmation box.
pub fn action_forms(ctx: &UiContext, model: &Model, versions: &[Version]) -> Markup {
    let n = model.name.as_str();
    let ready: Vec<i64> = versions
        .iter()
        .filter(|v| v.archived_at.is_none() && v.status.as_str() == "ready")
        .map(|v| v.version)
        .collect();
    let one = versions.len() == 1;
    let version_choice = |id: &str| {
        html! {
            label for=(id) { "Version" }
            select id=(id) name="version" required {
                @for v in &ready { option value=(v) { "v" (v) } }
            }
        }
    };
    let confirm = |id: &str, text: &str| {
        html! {
            label.check for=(id) { input id=(id) type="checkbox" name="confirm" value="yes" required; (text) }
        }
    };
    html! {
        div.actions {
            @if !ready.is_empty() {
                form method="post" action={ "/ui/models/" (n) "/stages" } {
                    h3 { "Promote" }
                    (ctx.csrf_field())
                    input type="hidden" name="action" value="promote";
                    (version_choice("promote-version"))
                    label for="promote-stage" { "Stage" }
                    select #promote-stage name="stage" {
                        option value="staging" { "staging" }
                        option value="production" { "production" }
                    }
                    label for="promote-reason" { "Reason" }
                    textarea #promote-reason name="reason" maxlength="16384" {}
                    (confirm("promote-confirm", "I want to move this stage"))
                    button type="submit" { "Promote" }
                }
                form method="post" action={ "/ui/models/" (n) "/aliases" } {
                    h3 { "Set an alias" }
                    (ctx.csrf_field())
                    input type="hidden" name="action" value="set";
                    label for="alias-name" { "Alias" }
                    input #alias-name type="text" name="alias" required pattern="[a-z0-9][a-z0-9._-]*" placeholder="champion";
                    (version_choice("alias-version"))
                    label for="alias-reason" { "Reason" }
                    textarea #alias-reason name="reason" maxlength="16384" {}
                    (confirm("alias-confirm", "I want to point this alias here"))
                    button type="submit" { "Set alias" }
                }
            }
            @if !one {
                form method="post" action={ "/ui/models/" (n) "/stages" } {
                    h3 { "Roll back" }
                    (ctx.csrf_field())
                    input type="hidden" name="action" value="rollback";
                    label for="rollback-stage" { "Stage" }
                    select #rollback-stage name="stage" {
                        option value="production" { "production" }
                        option value="staging" { "staging" }
                    }
                    label for="rollback-reason" { "Reason" }
                    textarea #rollback-reason name="reason" maxlength="16384" {}
                    (confirm("rollback-confirm", "I want the previous version back"))
                    button.danger type="submit" { "Roll back" }
                }
                @if !model.aliases.is_empty() {
                    form method="post" action={ "/ui/models/" (n) "/aliases" } {
                        h3 { "Remove an alias" }
                        (ctx.csrf_field())
                        input type="hidden" name="action" value="remove";
                        label for="unalias-name" { "Alias" }
                        select #unalias-name name="alias" {
                            @for alias in model.aliases.keys() { option value=(alias) { (alias) } }
                        }
                        label for="unalias-reason" { "Reason" }
                        textarea #unalias-reason name="reason" maxlength="16384" {}
                        (confirm("unalias-confirm", "I want to remove this alias"))
                        button.danger type="submit" { "Remove alias" }
                    }
                }
            }
            @if one {
                @for version in versions.iter().filter(|v| v.archived_at.is_none()) {
                    form method="post" action={ "/ui/models/" (n) "/versions/" (version.version) "/archive" } {
                        h3 { "Archive version " (version.version) }
                        (ctx.csrf_field())
                        p.muted { "An archived version leaves its aliases and cannot be promoted." }
                        label for="archive-reason" { "Reason" }
                        textarea #archive-reason name="reason" maxlength="16384" {}
                        (confirm("archive-confirm", "I want to retire this version"))
                        button.danger type="submit" { "Archive" }
                    }
                }
            }
        }
    }
}
