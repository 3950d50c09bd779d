//! A version's page (`/ui/models/{name}/versions/{n}`): its metadata, a tree's files,
//! signature, metrics and params, the artifact's digest with a download link, the try-it
//! form (`try_it.rs`) and the actions on it; archiving; the comparison of versions side
//! by side.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use capstan_client::http::api;
use capstan_client::manifest::Manifest;
use capstan_client::types::{ArtifactLayout, Role, Version};
use capstan_client::{ModelName, VersionRef};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::actions::{action_forms, after_action};
use super::layout::{short_digest, Live, Page, Section};
use super::models::{encode_query, metric_value, size, when};
use super::session::UiContext;
use super::try_it::{tried_markup, try_form, Tried};
use super::UiError;
use crate::error::RegistryError;
use crate::service::Registry;

#[derive(Deserialize)]
pub struct VersionPath {
    pub name: ModelName,
    pub version: i64,
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

pub(super) async fn version_page(
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
    let manifest = if version.layout == ArtifactLayout::Tree && version.digest.is_some() {
        Some(
            registry
                .open_tree(name.clone(), VersionRef::Number(number))
                .await?
                .1,
        )
    } else {
        None
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
        @if let Some(manifest) = &manifest {
            h2 #files { "Files" }
            (files(&name, number, manifest))
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

/// How many of a tree's files the page lists; the manifest has them all.
const FILES_LISTED: usize = 500;

/// A tree version's files, each linked to its download.
fn files(name: &ModelName, number: i64, manifest: &Manifest) -> Markup {
    let all = manifest.files();
    let reference = VersionRef::Number(number);
    html! {
        div.table-wrap {
            table {
                thead { tr {
                    th scope="col" { "Path" } th scope="col" .num { "Size" } th scope="col" { "Digest" }
                } }
                tbody {
                    @for entry in all.iter().take(FILES_LISTED) {
                        tr {
                            th scope="row" {
                                a href=(api::tree_file(name, &reference, &entry.path)) { code { (entry.path.as_str()) } }
                                @if entry.executable { " " span.badge { "executable" } }
                            }
                            td.num { (size(i64::try_from(entry.size).ok())) }
                            td { (short_digest(&entry.digest.to_string())) }
                        }
                    }
                }
            }
        }
        @if all.len() > FILES_LISTED {
            p.muted { "The first " (FILES_LISTED) " of " (all.len()) " files; the manifest lists them all." }
        }
    }
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

#[derive(Deserialize)]
pub struct ArchiveForm {
    csrf: String,
    reason: Option<String>,
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
    let form = form.into_inner();
    let reason = super::given_reason(form.reason);
    let outcome = match super::confirmed(form.confirm.as_deref()) {
        Ok(()) => registry
            .archive_version(
                name.clone(),
                VersionRef::Number(version),
                reason,
                &ctx.caller.name,
            )
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
