//! A version's page (`/ui/models/{name}/versions/{n}`): its metadata, signature, metrics
//! and params, the artifact's digest with a download link, a **try it** form generated
//! from the signature (answered through the same serving path as the predict API), and
//! the actions on it; the comparison of versions side by side; the action forms shared
//! with the model's page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use capstan_client::inference::{PredictRequest, PredictResponse, Predictions};
use capstan_client::types::{ArtifactLayout, Model, Role, Version};
use capstan_client::{ModelName, VersionRef};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::actions::after_action;
use super::layout::{Live, Page, Section};
use super::models::{encode_query, metric_value, size, when};
use super::session::UiContext;
use super::UiError;
use crate::error::RegistryError;
use crate::service::Registry;
use crate::serving::Serving;

#[derive(Deserialize)]
pub struct VersionPath {
    name: ModelName,
    version: i64,
}

/// `GET /ui/models/{name}/versions/{version}`.
pub async fn show(
    ctx: UiContext,
    registry: web::Data<Registry>,
    path: web::Path<VersionPath>,
) -> Result<HttpResponse, UiError> {
    let VersionPath { name, version } = path.into_inner();
    version_page(&ctx, &registry, name, version, None, StatusCode::OK).await
}

/// What the try-it form answered, or why not.
enum Tried {
    Answer {
        rows: Vec<String>,
        response: Box<PredictResponse>,
    },
    Refused(String),
}

async fn version_page(
    ctx: &UiContext,
    registry: &Registry,
    name: ModelName,
    number: i64,
    tried: Option<(Tried, Vec<String>)>,
    status: StatusCode,
) -> Result<HttpResponse, UiError> {
    let model = registry.get_model(name.clone()).await?;
    let version = registry
        .get_version(name.clone(), VersionRef::Number(number))
        .await?;
    let n = name.as_str();
    let base = format!("/ui/models/{n}/versions/{number}");
    let api = format!("/api/v1/models/{n}/versions/{number}");
    let compare_with = model.stages.production.filter(|p| *p != number).map(|p| {
        format!(
            "/ui/models/{n}/compare?{}",
            encode_query(&[("v", &p.to_string()), ("v", &number.to_string())])
        )
    });
    let (tried, given) = match tried {
        Some((tried, given)) => (Some(tried), given),
        None => (None, Vec::new()),
    };
    let body = html! {
        p.crumbs { a href="/ui/" { "Models" } " / " a href={ "/ui/models/" (n) } { (n) } " / v" (number) }
        h1 { (n) " version " (number) }
        p {
            @if version.archived_at.is_some() { span.badge.archived { "archived" } }
            @else { span.badge.(version.status.as_str()) { (version.status.as_str()) } }
            @for stage in &version.stages { span.badge.(stage.as_str()) { (stage.as_str()) } }
            @for alias in &version.aliases { span.badge { "@" (alias) } }
        }
        @if let Some(description) = &version.description { p { (description) } }
        dl.facts {
            dt { "Created" } dd { (when(&version.created_at)) " by " (version.created_by.as_deref().unwrap_or("—")) }
            dt { "Format" } dd { code { (version.format) } }
            dt { "Size" } dd {
                (size(version.size))
                @if let Some(files) = version.files { " in " (files) " files" }
            }
            dt { "Digest" } dd {
                @if let Some(digest) = &version.digest {
                    code.digest { (digest.to_string()) }
                    " "
                    @if version.layout == ArtifactLayout::Tree {
                        a href={ (api) "/archive" } download { "Download (tar)" }
                        " · " a href={ (api) "/manifest" } { "Manifest" }
                    } @else {
                        a href={ (api) "/artifact" } download { "Download" }
                    }
                } @else { span.muted { "no artifact yet" } }
            }
            @if let Some(source) = &version.source { dt { "Source" } dd { code { (source) } } }
            dt { "Served" } dd {
                @if version.servable { "yes" }
                @else { "no" @if let Some(why) = &version.unservable_reason { ": " (why) } }
            }
            @if !version.tags.is_empty() {
                dt { "Tags" } dd { @for tag in &version.tags { span.badge { (tag) } } }
            }
        }
        @if let Some(link) = &compare_with {
            p { a href=(link) { "Compare with the production version" } }
        }
        h2 { "Signature" }
        (signature(&version))
        h2 { "Metrics" }
        (key_values(version.metrics.iter().map(|(k, v)| (k.clone(), metric_value(*v)))))
        h2 { "Parameters" }
        (key_values(version.params.iter().map(|(k, v)| (k.clone(), param_value(v)))))
        @if version.servable && version.signature.is_some() {
            h2 #try { "Try it" }
            (try_form(ctx, &base, &version, &given))
            @if let Some(tried) = &tried { (tried_markup(tried)) }
        }
        @if ctx.may(Role::Promoter) {
            h2 #actions { "Actions" }
            (action_forms(ctx, &model, std::slice::from_ref(&version)))
        }
    };
    Ok(Page {
        title: format!("{n} v{number}"),
        section: Section::Models,
        live: Live::Model(n),
        body,
    }
    .render_with(ctx, status))
}

fn param_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn key_values(pairs: impl Iterator<Item = (String, String)>) -> Markup {
    let pairs: Vec<_> = pairs.collect();
    html! {
        @if pairs.is_empty() { p.muted { "None recorded." } }
        @else {
            dl.facts { @for (key, value) in &pairs { dt { (key) } dd { code { (value) } } } }
        }
    }
}

fn signature(version: &Version) -> Markup {
    let Some(signature) = &version.signature else {
        return html! { p.muted { "No signature: the version's inputs are not described." } };
    };
    html! {
        div.table-wrap {
            table {
                thead { tr { th scope="col" { "#" } th scope="col" { "Feature" } th scope="col" { "Type" } th scope="col" { "Nullable" } } }
                tbody {
                    @for (i, feature) in signature.inputs.iter().enumerate() {
                        tr {
                            td.num { (i) }
                            th scope="row" { (feature.name) }
                            td { code { (serde_json::to_value(feature.dtype).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()) } }
                            td { @if feature.nullable { "yes" } @else { "no" } }
                        }
                    }
                }
            }
        }
        @if let Some(classes) = &signature.classes {
            p { "Classes: " @for class in classes { span.badge { (class.to_string()) } } }
        }
        @if let Some(targets) = signature.targets { p { "Predicts " (targets) " number(s) per row." } }
    }
}

fn try_form(ctx: &UiContext, base: &str, version: &Version, given: &[String]) -> Markup {
    let Some(signature) = &version.signature else {
        return html! {};
    };
    html! {
        form.panel method="post" action={ (base) "/try#try" } {
            (ctx.csrf_field())
            div.actions {
                @for (i, feature) in signature.inputs.iter().enumerate() {
                    div {
                        label for={ "f" (i) } { (feature.name) }
                        @if feature.dtype.is_numeric() {
                            input id={ "f" (i) } name={ "f" (i) } type="text" inputmode="decimal"
                                required[!feature.nullable] value=[given.get(i)];
                        } @else {
                            input id={ "f" (i) } name={ "f" (i) } type="text"
                                required value=[given.get(i)];
                        }
                    }
                }
            }
            p { button type="submit" { "Predict" } }
        }
    }
}

fn tried_markup(tried: &Tried) -> Markup {
    match tried {
        Tried::Refused(detail) => html! {
            div.notice.refused role="alert" #answer { p { strong { "Refused: " } (detail) } }
        },
        Tried::Answer { rows, response } => html! {
            div.notice.ok role="status" #answer {
                p {
                    "Version " (response.model.version) " predicts "
                    strong #prediction { (rows.first().map(String::as_str).unwrap_or("")) }
                }
                @if let Some(probabilities) = response.probabilities.first() {
                    table {
                        thead { tr { th scope="col" { "Class" } th scope="col" .num { "Probability" } } }
                        tbody {
                            @for (class, p) in response.classes.iter().zip(probabilities) {
                                tr { td { (class.to_string()) } td.num { (format!("{p:.4}")) } }
                            }
                        }
                    }
                }
            }
        },
    }
}

/// `POST /ui/models/{name}/versions/{version}/try`: one row from the form, predicted by
/// this version through the serving path the predict API uses.
pub async fn try_it(
    request: HttpRequest,
    ctx: UiContext,
    registry: web::Data<Registry>,
    serving: web::Data<Serving>,
    path: web::Path<VersionPath>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, UiError> {
    let VersionPath { name, version } = path.into_inner();
    let form = form.into_inner();
    let csrf = form
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    ctx.check_form(&request, csrf)?;
    let described = registry
        .get_version(name.clone(), VersionRef::Number(version))
        .await?;
    let features = described
        .signature
        .as_ref()
        .map(|s| s.inputs.clone())
        .unwrap_or_default();
    let given: Vec<String> = (0..features.len())
        .map(|i| {
            let key = format!("f{i}");
            form.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        })
        .collect();
    let row: Result<Vec<Value>, String> = features
        .iter()
        .zip(&given)
        .map(|(feature, text)| {
            if text.is_empty() {
                return Ok(Value::Null);
            }
            if !feature.dtype.is_numeric() {
                return Ok(Value::String(text.clone()));
            }
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("{}: {text:?} is not a number", feature.name))
        })
        .collect();
    let tried = match row {
        Err(why) => Tried::Refused(why),
        Ok(row) => {
            let request = PredictRequest {
                instances: Some(vec![Value::Array(row)]),
                inputs: None,
            };
            match serving
                .predict(&name, &VersionRef::Number(version), request)
                .await
            {
                Ok((_, response)) => Tried::Answer {
                    rows: prediction_texts(&response.predictions),
                    response: Box::new(response),
                },
                Err(error) => Tried::Refused(RegistryError::from(error).problem().detail),
            }
        }
    };
    let status = match tried {
        Tried::Answer { .. } => StatusCode::OK,
        Tried::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    version_page(&ctx, &registry, name, version, Some((tried, given)), status).await
}

fn prediction_texts(predictions: &Predictions) -> Vec<String> {
    match serde_json::to_value(predictions) {
        Ok(Value::Array(rows)) => rows
            .iter()
            .map(|row| match row {
                Value::String(text) => text.clone(),
                Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), metric_value),
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[derive(Deserialize)]
pub struct ArchiveForm {
    csrf: String,
    confirm: Option<String>,
}

/// `POST /ui/models/{name}/versions/{version}/archive`.
pub async fn archive(
    request: HttpRequest,
    ctx: UiContext,
    registry: web::Data<Registry>,
    path: web::Path<VersionPath>,
    form: web::Form<ArchiveForm>,
) -> Result<HttpResponse, UiError> {
    ctx.check_form(&request, &form.csrf)?;
    let VersionPath { name, version } = path.into_inner();
    let outcome = match super::confirmed(form.confirm.as_deref()) {
        Ok(()) => registry
            .archive_version(name.clone(), VersionRef::Number(version), &ctx.caller.name)
            .await
            .map(|v| format!("Version {} archived.", v.version)),
        Err(unconfirmed) => Err(unconfirmed),
    };
    after_action(&ctx, &registry, name, outcome).await
}

/// `GET /ui/models/{name}/compare?v=1&v=3…`: versions side by side.
pub async fn compare(
    request: HttpRequest,
    ctx: UiContext,
    registry: web::Data<Registry>,
    name: web::Path<ModelName>,
) -> Result<HttpResponse, UiError> {
    let name = name.into_inner();
    let mut numbers: Vec<i64> = url::form_urlencoded::parse(request.query_string().as_bytes())
        .filter(|(k, _)| k == "v")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    if numbers.len() < 2 || numbers.len() > 10 {
        return Err(UiError(RegistryError::bad_request(
            "invalid_comparison",
            "choose two to ten versions to compare",
        )));
    }
    let mut versions = Vec::with_capacity(numbers.len());
    for number in &numbers {
        versions.push(
            registry
                .get_version(name.clone(), VersionRef::Number(*number))
                .await?,
        );
    }
    let body = super::compare::comparison(&name, &versions);
    Ok(Page {
        title: format!("{} compared", name.as_str()),
        section: Section::Models,
        live: Live::Model(name.as_str()),
        body,
    }
    .render(&ctx))
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
                        (confirm("archive-confirm", "I want to retire this version"))
                        button.danger type="submit" { "Archive" }
                    }
                }
            }
        }
    }
}
