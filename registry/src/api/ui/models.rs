//! The models list (`/ui/`) and a model's page (`/ui/models/{name}`): its versions with
//! their key metrics (sortable, selectable for comparison), a chart of one metric across
//! versions, what its stages and aliases hold, the actions the caller's role allows, and
//! its history from the event log. The page's forms are handled in `actions`.

use std::collections::BTreeSet;

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use capstan_client::http::{ModelQuery, VersionQuery};
use capstan_client::types::{Event, Model, Role, Version};
use capstan_client::ModelName;
use capstan_client::Stage;
use maud::{html, Markup};
use serde::Deserialize;

use super::chart::metric_chart;
use super::layout::{short_digest, Live, Page, Section};
use super::session::UiContext;
use super::UiError;
use crate::error::RegistryError;
use crate::service::Registry;

/// Models a page of the list shows.
const MODELS_PER_PAGE: i64 = 50;
/// Metric columns the versions table shows at most.
const METRIC_COLUMNS: usize = 6;
/// Events the history shows.
const HISTORY: i64 = 50;

#[derive(Deserialize)]
pub struct ListQuery {
    /// Name prefix.
    q: Option<String>,
    tag: Option<String>,
    page: Option<String>,
}

/// `GET /ui/`: the models the caller may see, searchable by name prefix and tag, paged.
pub async fn list(
    ctx: UiContext,
    registry: web::Data<Registry>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, UiError> {
    let q = query.q.clone().filter(|q| !q.trim().is_empty());
    let tag = query.tag.clone().filter(|t| !t.trim().is_empty());
    let page = registry
        .list_models(
            ModelQuery {
                limit: Some(MODELS_PER_PAGE),
                page_token: query.page.clone(),
                name_prefix: q.clone(),
                tag: tag.clone(),
            },
            &ctx.caller.scope,
        )
        .await?;
    let next = page.next_page_token.as_ref().map(|token| {
        let mut link: Vec<(&str, &str)> = vec![("page", token)];
        if let Some(q) = &q {
            link.push(("q", q));
        }
        if let Some(tag) = &tag {
            link.push(("tag", tag));
        }
        format!("/ui/?{}", encode_query(&link))
    });
    let body = html! {
        h1 { "Models" }
        form.inline role="search" method="get" action="/ui/" {
            div {
                label for="q" { "Name starts with" }
                input #q type="search" name="q" value=[q.as_deref()];
            }
            div {
                label for="tag" { "Tag" }
                input #tag type="text" name="tag" value=[tag.as_deref()] placeholder="key=value";
            }
            button type="submit" { "Search" }
        }
        @if page.models.is_empty() {
            p.notice.info { "No models match." }
        } @else {
            div.table-wrap {
                table {
                    caption.muted { (page.models.len()) " models" }
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Description" }
                        th scope="col" { "Tags" } th scope="col" { "Production" }
                        th scope="col" { "Staging" } th scope="col" { "Latest" }
                        th scope="col" { "Last change" }
                    } }
                    tbody {
                        @for model in &page.models { (model_row(model)) }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if query.page.is_some() { a href="/ui/" { "First page" } }
            @if let Some(next) = next { a href=(next) rel="next" { "Next page" } }
        }
    };
    Ok(Page {
        title: "Models".into(),
        section: Section::Models,
        live: Live::All,
        body,
    }
    .render(&ctx))
}

fn model_row(model: &Model) -> Markup {
    let name = model.name.as_str();
    let version_link = |n: Option<i64>| {
        html! {
            @if let Some(n) = n {
                a href={ "/ui/models/" (name) "/versions/" (n) } { "v" (n) }
            } @else { span.muted { "—" } }
        }
    };
    html! {
        tr {
            th scope="row" { a href={ "/ui/models/" (name) } { (name) } }
            td { (model.description.as_deref().unwrap_or("")) }
            td { @for tag in &model.tags { span.badge { (tag) } } }
            td { (version_link(model.stages.production)) }
            td { (version_link(model.stages.staging)) }
            td { (version_link(model.latest_version)) }
            td { time datetime=(model.updated_at.to_rfc3339()) { (when(&model.updated_at)) } }
        }
    }
}

/// A time as pages show it (UTC, to the minute; the element carries the exact instant).
pub fn when(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `a=b&c=d`, form-encoded.
pub fn encode_query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[derive(Deserialize, Default)]
pub struct ModelPageQuery {
    /// Sort the versions by `version`, `created` or a metric's name.
    sort: Option<String>,
    /// `asc` or `desc`.
    dir: Option<String>,
    /// The metric charted.
    metric: Option<String>,
    /// The version page to show (the versions API's page token).
    page: Option<String>,
}

/// The cookie that carries what an action did to the page the browser is sent to next
/// (not the URL: a link cannot make a page say something it did not do).
pub(super) const NOTICE_COOKIE: &str = "capstan_notice";

/// A message above the page: what an action did, or why it was refused.
pub enum Notice {
    Done(String),
    Refused(String),
}

impl Notice {
    fn markup(&self) -> Markup {
        match self {
            Notice::Done(text) => html! { div.notice.ok role="status" { p { (text) } } },
            Notice::Refused(text) => {
                html! { div.notice.refused role="alert" { p { strong { "Refused: " } (text) } } }
            }
        }
    }
}

/// `GET /ui/models/{name}`.
pub async fn show(
    request: HttpRequest,
    ctx: UiContext,
    registry: web::Data<Registry>,
    name: web::Path<ModelName>,
    query: web::Query<ModelPageQuery>,
) -> Result<HttpResponse, UiError> {
    let query = query.into_inner();
    let notice = request.cookie(NOTICE_COOKIE).and_then(|cookie| {
        let decoded = url::form_urlencoded::parse(format!("n={}", cookie.value()).as_bytes())
            .next()
            .map(|(_, text)| text.into_owned())?;
        Some(Notice::Done(decoded.chars().take(500).collect()))
    });
    let had_notice = notice.is_some();
    let mut response = model_page(
        &ctx,
        &registry,
        name.into_inner(),
        &query,
        notice,
        StatusCode::OK,
    )
    .await?;
    if had_notice {
        let mut gone = Cookie::build(NOTICE_COOKIE, "").path("/ui/").finish();
        gone.make_removal();
        response
            .add_cookie(&gone)
            .map_err(|e| UiError(RegistryError::bad_request("invalid_cookie", e.to_string())))?;
    }
    Ok(response)
}

/// A model's page, with `notice` on top, answered with `status`.
pub(super) async fn model_page(
    ctx: &UiContext,
    registry: &Registry,
    name: ModelName,
    query: &ModelPageQuery,
    notice: Option<Notice>,
    status: StatusCode,
) -> Result<HttpResponse, UiError> {
    let model = registry.get_model(name.clone()).await?;
    let page = registry
        .list_versions(
            name.clone(),
            VersionQuery {
                limit: Some(100),
                page_token: query.page.clone(),
            },
        )
        .await?;
    let history = registry.model_history(name.clone(), HISTORY).await?;
    let requests = super::promotion_requests::pending(registry, ctx, &name).await?;
    let mut versions = page.versions;
    let metrics: Vec<String> = versions
        .iter()
        .flat_map(|v| v.metrics.keys().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let sort = query.sort.as_deref().unwrap_or("version");
    let descending = query.dir.as_deref() != Some("asc");
    sort_versions(&mut versions, sort, descending);
    let charted = query
        .metric
        .clone()
        .filter(|m| metrics.contains(m))
        .or_else(|| metrics.first().cloned());
    let shown_metrics = &metrics[..metrics.len().min(METRIC_COLUMNS)];
    let n = name.as_str();
    let body = html! {
        p.crumbs { a href="/ui/" { "Models" } " / " (n) }
        h1 { (n) }
        @if let Some(notice) = &notice { (notice.markup()) }
        @if let Some(description) = &model.description { p { (description) } }
        @if !model.tags.is_empty() {
            p { @for tag in &model.tags { span.badge { (tag) } } }
        }
        (pointers(&model))
        @if !requests.is_empty() {
            h2 #requests { "Promotion requests waiting" }
            (super::promotion_requests::pending_markup(ctx, &requests))
        }
        h2 #versions { "Versions" }
        @if versions.is_empty() {
            p.notice.info { "No versions yet. Upload one with " code { "capstan push" } " or the API." }
        } @else {
            form method="get" action={ "/ui/models/" (n) "/compare" } {
                div.table-wrap {
                    table {
                        thead { tr {
                            th scope="col" { span.muted { "Compare" } }
                            (sort_header(n, "version", "Version", sort, descending))
                            th scope="col" { "Status" }
                            (sort_header(n, "created", "Created", sort, descending))
                            th scope="col" { "Format" }
                            th scope="col" .num { "Size" }
                            th scope="col" { "Digest" }
                            th scope="col" { "Stages and aliases" }
                            @for metric in shown_metrics {
                                (sort_header(n, metric, metric, sort, descending))
                            }
                        } }
                        tbody {
                            @for version in &versions { (version_row(version, shown_metrics)) }
                        }
                    }
                }
                p { button.secondary type="submit" { "Compare selected versions" } }
            }
            @if let Some(token) = &page.next_page_token {
                p { a href={ "/ui/models/" (n) "?" (encode_query(&[("page", token)])) } { "Older versions" } }
            }
        }
        @if let Some(metric) = &charted {
            h2 #chart { "Metric across versions" }
            form.inline method="get" action={ "/ui/models/" (n) } {
                div {
                    label for="metric" { "Metric" }
                    select #metric name="metric" {
                        @for m in &metrics {
                            option value=(m) selected[m == metric] { (m) }
                        }
                    }
                }
                button.secondary type="submit" { "Show" }
            }
            (metric_chart(metric, &versions))
        }
        @if ctx.may(Role::Promoter) {
            h2 #actions { "Actions" }
            (super::actions::action_forms(ctx, &model, &versions))
        }
        h2 #history { "History" }
        (history_table(&history))
    };
    Ok(Page {
        title: n.to_owned(),
        section: Section::Models,
        live: Live::Model(n),
        body,
    }
    .render_with(ctx, status))
}

fn pointers(model: &Model) -> Markup {
    let n = model.name.as_str();
    let link = |v: Option<i64>| {
        html! {
            @if let Some(v) = v { a href={ "/ui/models/" (n) "/versions/" (v) } { "version " (v) } }
            @else { span.muted { "none" } }
        }
    };
    html! {
        dl.facts {
            dt { "Production" } dd { (link(model.stages.production)) }
            dt { "Staging" } dd { (link(model.stages.staging)) }
            dt { "Aliases" }
            dd {
                @if model.aliases.is_empty() { span.muted { "none" } }
                @for (alias, version) in &model.aliases {
                    span.badge { (alias) " → " a href={ "/ui/models/" (n) "/versions/" (version) } { "v" (version) } }
                }
            }
            dt { "Latest ready" } dd { (link(model.latest_version)) }
            dt { "Created" } dd { (when(&model.created_at)) }
        }
    }
}

/// A sortable column's heading: a link that sorts by it (descending first, then the other
/// way), the heading carrying `aria-sort`.
fn sort_header(model: &str, key: &str, label: &str, sort: &str, descending: bool) -> Markup {
    let active = sort == key;
    let dir = if active && descending { "asc" } else { "desc" };
    let href = format!(
        "/ui/models/{model}?{}#versions",
        encode_query(&[("sort", key), ("dir", dir)])
    );
    let state = match (active, descending) {
        (true, true) => "descending",
        (true, false) => "ascending",
        _ => "none",
    };
    let numeric = !matches!(key, "version" | "created");
    html! {
        th scope="col" aria-sort=(state) class=[numeric.then_some("num")] {
            a href=(href) {
                (label)
                @if active { @if descending { " ↓" } @else { " ↑" } }
            }
        }
    }
}

fn sort_versions(versions: &mut [Version], key: &str, descending: bool) {
    versions.sort_by(|a, b| {
        let order = match key {
            "version" => a.version.cmp(&b.version),
            "created" => a.created_at.cmp(&b.created_at),
            metric => {
                let (x, y) = (a.metrics.get(metric), b.metrics.get(metric));
                match (x, y) {
                    (Some(x), Some(y)) => x.total_cmp(y),
                    // Versions without the metric last, either way.
                    (Some(_), None) => return std::cmp::Ordering::Less,
                    (None, Some(_)) => return std::cmp::Ordering::Greater,
                    (None, None) => a.version.cmp(&b.version),
                }
            }
        };
        if descending {
            order.reverse()
        } else {
            order
        }
    });
}

/// Bytes as people read them.
pub fn size(bytes: Option<i64>) -> String {
    let Some(bytes) = bytes else {
        return "—".into();
    };
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// A metric's value as tables show it.
pub fn metric_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}

fn version_row(version: &Version, metrics: &[String]) -> Markup {
    let n = version.model.as_str();
    let v = version.version;
    html! {
        tr {
            td {
                input type="checkbox" name="v" value=(v) id={ "cmp-" (v) }
                    aria-label={ "Compare version " (v) };
            }
            th scope="row" { a href={ "/ui/models/" (n) "/versions/" (v) } { "v" (v) } }
            td {
                @if version.archived_at.is_some() { span.badge.archived { "archived" } }
                @else { span.badge.(version.status.as_str()) { (version.status.as_str()) } }
            }
            td {
                (version.created_by.as_deref().unwrap_or("—")) br;
                span.muted { (when(&version.created_at)) }
            }
            td { code { (version.format) } }
            td.num { (size(version.size)) }
            td { @if let Some(d) = &version.digest { (short_digest(&d.to_string())) } @else { "—" } }
            td {
                @for stage in &version.stages { span.badge.(stage.as_str()) { (stage.as_str()) } }
                @for alias in &version.aliases { span.badge { "@" (alias) } }
            }
            @for metric in metrics {
                td.num {
                    @if let Some(value) = version.metrics.get(metric) { (metric_value(*value)) }
                    @else { span.muted { "—" } }
                }
            }
        }
    }
}

fn history_table(events: &[Event]) -> Markup {
    html! {
        @if events.is_empty() { p.muted { "Nothing recorded yet." } }
        @else {
            div.table-wrap {
                table {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Who" }
                        th scope="col" { "What" } th scope="col" { "Why" }
                    } }
                    tbody {
                        @for event in events {
                            tr {
                                td { time datetime=(event.created_at.to_rfc3339()) { (when(&event.created_at)) } }
                                td { (event.actor.as_deref().unwrap_or("—")) }
                                td { (describe(event)) }
                                td { (event.reason.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One event in words.
fn describe(event: &Event) -> String {
    let version = |v: Option<i64>| v.map_or_else(|| "none".to_owned(), |v| format!("v{v}"));
    match event.kind.as_str() {
        "stage_changed" => format!(
            "{} {} → {}",
            event.stage.map_or("stage", Stage::as_str),
            version(event.from_version),
            version(event.to_version)
        ),
        "alias_set" => format!(
            "alias {} → {}",
            event.alias.as_deref().unwrap_or("?"),
            version(event.version)
        ),
        "alias_removed" => format!("alias {} removed", event.alias.as_deref().unwrap_or("?")),
        kind => match event.version {
            Some(v) => format!("{} (v{v})", kind.replace('_', " ")),
            None => kind.replace('_', " "),
        },
    }
}
