//! Deployments (`/ui/deployments`, `/ui/deployments/{name}`): each one's desired version,
//! its instances with the versions they run and when they last reported, and its state —
//! drift in a colour that stands out — kept current by the event stream (the registry
//! records every state transition as an event).

use actix_web::{web, HttpResponse};
use capstan_client::http::DeploymentQuery;
use capstan_client::types::{Deployment, DeploymentInstance};
use capstan_client::ModelName;
use maud::{html, Markup};

use super::layout::{short_digest, Live, Page, Section};
use super::models::{encode_query, when};
use super::session::UiContext;
use super::{PageQuery, UiError};
use crate::service::Registry;

/// `GET /ui/deployments`.
pub async fn list(
    ctx: UiContext,
    registry: web::Data<Registry>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, UiError> {
    let page = registry
        .list_deployments(
            DeploymentQuery {
                model: None,
                pattern: None,
                state: None,
                limit: Some(100),
                page_token: query.page.clone(),
            },
            &ctx.caller.scope,
        )
        .await?;
    let body = html! {
        h1 { "Deployments" }
        @if page.deployments.is_empty() {
            p.notice.info { "No deployments. Declare one with " code { "capstan deployments put" } "." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Model" } th scope="col" { "Pattern" }
                    th scope="col" { "Desired" } th scope="col" { "Instances" } th scope="col" { "State" }
                } }
                tbody {
                    @for deployment in &page.deployments {
                        tr {
                            th scope="row" { a href={ "/ui/deployments/" (deployment.name.as_str()) } { (deployment.name.as_str()) } }
                            td { code { (deployment.model) } }
                            td { (deployment.pattern.as_str()) }
                            td { (desired(deployment)) }
                            td.num { (deployment.instances.iter().filter(|i| !i.stale).count()) }
                            td { (state(deployment)) }
                        }
                    }
                }
            } }
        }
        @if let Some(token) = &page.next_page_token {
            p { a href={ "/ui/deployments?" (encode_query(&[("page", token)])) } rel="next" { "Next page" } }
        }
    };
    Ok(Page {
        title: "Deployments".into(),
        section: Section::Deployments,
        live: Live::All,
        body,
    }
    .render(&ctx))
}

fn desired(deployment: &Deployment) -> Markup {
    html! {
        @if let Some(desired) = &deployment.desired {
            @let model = deployment.model.split('@').next().unwrap_or_default();
            a href={ "/ui/models/" (model) "/versions/" (desired.version) } { "v" (desired.version) }
            " " (short_digest(&desired.digest.to_string()))
        } @else { span.muted { "no ready version" } }
        @if let Some(canary) = &deployment.canary {
            br; span.muted { "canary " (canary.percent) "% → " code { (canary.model) } }
        }
    }
}

fn state(deployment: &Deployment) -> Markup {
    let state = deployment.state.as_str();
    html! { span.badge.(state) data-state=(state) { (state.replace('_', " ")) } }
}

/// `GET /ui/deployments/{name}`.
pub async fn show(
    ctx: UiContext,
    registry: web::Data<Registry>,
    name: web::Path<ModelName>,
) -> Result<HttpResponse, UiError> {
    let deployment = registry
        .get_deployment(name.into_inner(), &ctx.caller.scope)
        .await?;
    let n = deployment.name.as_str().to_owned();
    let body = html! {
        p.crumbs { a href="/ui/deployments" { "Deployments" } " / " (n) }
        h1 { (n) " " (state(&deployment)) }
        p #state-reason { (deployment.reason) }
        @if let Some(description) = &deployment.description { p { (description) } }
        dl.facts {
            dt { "Model" } dd { code { (deployment.model) } }
            dt { "Pattern" } dd { (deployment.pattern.as_str()) }
            dt { "Desired" } dd { (desired(&deployment)) }
            dt { "Desired since" } dd { (when(&deployment.desired_since)) }
            dt { "Heartbeat" } dd { (deployment.heartbeat_ms / 1000) " s" }
            @if !deployment.labels.is_empty() {
                dt { "Labels" } dd { @for (k, v) in &deployment.labels { span.badge { (k) "=" (v) } } }
            }
        }
        h2 { "Instances" }
        @if deployment.instances.is_empty() {
            p.muted { "No instance has reported yet." }
        } @else {
            div.table-wrap { table #instances {
                thead { tr {
                    th scope="col" { "Instance" } th scope="col" { "Runs" } th scope="col" { "Status" }
                    th scope="col" { "Last seen" } th scope="col" { "Started" } th scope="col" { "Detail" }
                } }
                tbody { @for instance in &deployment.instances { (instance_row(&deployment, instance)) } }
            } }
        }
    };
    Ok(Page {
        title: n.clone(),
        section: Section::Deployments,
        live: Live::All,
        body,
    }
    .render(&ctx))
}

fn instance_row(deployment: &Deployment, instance: &DeploymentInstance) -> Markup {
    let behind = match (&deployment.desired, instance.version) {
        (Some(desired), Some(runs)) => desired.version != runs,
        (Some(_), None) => true,
        _ => false,
    };
    html! {
        tr {
            th scope="row" { code { (instance.id) } }
            td {
                @if let Some(v) = instance.version {
                    @if behind { span.badge.drifted { "v" (v) } } @else { "v" (v) }
                    @if let Some(d) = &instance.digest { " " (short_digest(&d.to_string())) }
                } @else { span.muted { "nothing" } }
            }
            td {
                span.badge.(instance.status.as_str()) { (instance.status.as_str()) }
                @if instance.stale { " " span.badge.stale { "stale" } }
            }
            td { time datetime=(instance.last_seen.to_rfc3339()) { (instance.last_seen.format("%Y-%m-%d %H:%M:%S UTC")) } }
            td { (when(&instance.started_at)) }
            td { (instance.detail.as_deref().unwrap_or("")) }
        }
    }
}
