//! The page shell every UI page shares: head (stylesheet, script, no inline code, so a
//! strict Content-Security-Policy holds), the top navigation with who is signed in, and
//! `<main>` carrying what the live-update script follows. Also the HTML error page.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use capstan_client::types::EventKind;
use maud::{html, Markup, DOCTYPE};

use super::assets::{SCRIPT, STYLESHEET};
use super::session::UiContext;

/// The top-level sections, for `aria-current` in the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Models,
    Deployments,
    BatchJobs,
    None,
}

/// What a page's `<main>` follows live: events of one model, or all (`*`); `Polled` also
/// re-reads the page every so many milliseconds (progress no event announces).
pub enum Live<'a> {
    Model(&'a str),
    All,
    Polled(u32),
    Off,
}

/// Headers every HTML answer carries: no framing, no inline script, no sniffing, not
/// cached (pages show live state).
fn html_response(status: StatusCode, body: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body.into_string())
}

/// A whole page.
pub struct Page<'a> {
    pub title: String,
    pub section: Section,
    pub live: Live<'a>,
    pub body: Markup,
}

impl Page<'_> {
    pub fn render(self, ctx: &UiContext) -> HttpResponse {
        self.render_with(ctx, StatusCode::OK)
    }

    pub fn render_with(self, ctx: &UiContext, status: StatusCode) -> HttpResponse {
        let (live, poll) = match self.live {
            Live::Model(name) => (Some(name), None),
            Live::All => (Some("*"), None),
            Live::Polled(ms) => (Some("*"), Some(ms)),
            Live::Off => (None, None),
        };
        let kinds = EventKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let markup = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) " · Capstan" }
                    link rel="stylesheet" href=(STYLESHEET.path);
                    script src=(SCRIPT.path) defer {}
                }
                body {
                    a.skip href="#content" { "Skip to content" }
                    (navigation(ctx, self.section))
                    @if let Some(live) = live {
                        main #content data-live=(live) data-seq=(ctx.last_seq) data-kinds=(kinds) data-poll=[poll] {
                            (self.body)
                        }
                    } @else {
                        main #content { (self.body) }
                    }
                }
            }
        };
        html_response(status, markup)
    }
}

fn navigation(ctx: &UiContext, section: Section) -> Markup {
    let item = |href: &str, label: &str, this: Section| {
        html! {
            @if section == this {
                a href=(href) aria-current="page" { (label) }
            } @else {
                a href=(href) { (label) }
            }
        }
    };
    html! {
        header.top {
            nav aria-label="Main" {
                a.brand href="/ui/" { "Capstan" }
                (item("/ui/", "Models", Section::Models))
                (item("/ui/deployments", "Deployments", Section::Deployments))
                (item("/ui/batch-jobs", "Batch jobs", Section::BatchJobs))
                a href="/docs/" { "API" }
                span #live-status .live role="status" {}
                @if ctx.auth_enabled {
                    span.who { (ctx.caller.name) " (" (ctx.caller.role.as_str()) ")" }
                    form method="post" action="/ui/sign-out" {
                        (ctx.csrf_field())
                        button.secondary type="submit" { "Sign out" }
                    }
                } @else {
                    span.who { "authentication off" }
                }
            }
        }
    }
}

/// The page of an error: its status, title and the problem's detail (a policy's reason,
/// what was not found), with a way back.
pub fn error_page(status: StatusCode, title: &str, detail: &str) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Capstan" }
                link rel="stylesheet" href=(STYLESHEET.path);
            }
            body {
                main #content {
                    p.crumbs { a href="/ui/" { "Models" } }
                    h1 { (status.as_u16()) " " (title) }
                    div.notice.refused role="alert" { p { (detail) } }
                }
            }
        }
    };
    html_response(status, markup)
}

/// A digest as tables show it: the first 12 hex digits, the whole in a tooltip.
pub fn short_digest(digest: &str) -> Markup {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    html! { code.digest title=(digest) { (hex.get(..12).unwrap_or(hex)) } }
}
