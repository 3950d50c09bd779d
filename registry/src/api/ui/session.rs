//! Who is using the UI, and protecting what they change.
//!
//! With `--auth`, signing in takes an API token and keeps it in the `capstan_session`
//! cookie: `HttpOnly` (no script reads it), `SameSite=Strict`, `Secure` when the request
//! came over TLS (directly or as `X-Forwarded-Proto`/`Forwarded` say), never in a URL or
//! in local storage. The gate (`api::auth`) reads it for `/ui/` and for the API's `GET`s
//! (the event stream, downloads), so every page and action has exactly the token's role.
//!
//! Every form that changes something carries a CSRF token: a digest of the session's
//! secret (an attacker's page cannot know it, and it is the same on every replica), and
//! the request must come from this origin (`Sec-Fetch-Site`, `Origin`). Without
//! authentication there is no secret; the origin check still applies.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::layout::{Live, Page, Section};
use super::UiError;
use crate::api::auth::Gate;
use crate::domain::access::Caller;
use crate::error::RegistryError;
use crate::service::Registry;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "capstan_session";

/// The signed-in caller and what pages need to render for them.
pub struct UiContext {
    pub caller: Caller,
    pub auth_enabled: bool,
    /// The last event's `seq` when the page was made: the live script follows from there.
    pub last_seq: i64,
    secret: Option<String>,
}

impl UiContext {
    fn csrf_token(&self) -> String {
        match &self.secret {
            Some(secret) => {
                let mut hasher = Sha256::new();
                hasher.update(b"capstan-ui-csrf\0");
                hasher.update(secret.as_bytes());
                hex::encode(hasher.finalize())
            }
            None => "no-session".to_owned(),
        }
    }

    /// The hidden field every state-changing form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf_token()); }
    }

    /// Refuses a state-changing request from another origin or without this session's
    /// CSRF token.
    pub fn check_form(&self, request: &HttpRequest, given: &str) -> Result<(), UiError> {
        let refused = |why: &str| {
            Err(UiError(RegistryError::forbidden(
                "csrf_refused",
                format!("{why}; reload the page and try again"),
            )))
        };
        let site = request
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok());
        if site.is_some_and(|site| site != "same-origin" && site != "none") {
            return refused("the form was sent from another site");
        }
        if let Some(origin) = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
        {
            let info = request.connection_info();
            let ours = format!("{}://{}", info.scheme(), info.host());
            if origin != ours {
                return refused("the form was sent from another origin");
            }
        }
        let expected = self.csrf_token();
        if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return refused("the form's security token does not match this session");
        }
        Ok(())
    }

    /// Whether the caller's role allows `role`'s actions (buttons are shown by this; the
    /// gate refuses the request anyway).
    pub fn may(&self, role: capstan_client::types::Role) -> bool {
        self.caller.has(role)
    }
}

/// The session secret a request presents in its cookie (the gate reads a bearer header
/// first; see `api::auth::credential`).
pub fn session_secret(request: &HttpRequest) -> Option<String> {
    request
        .cookie(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

impl FromRequest for UiContext {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = request
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(Caller::anonymous);
        let auth_enabled = request
            .app_data::<web::Data<Gate>>()
            .is_some_and(|gate| gate.enabled);
        let secret = session_secret(request);
        let registry = request.app_data::<web::Data<Registry>>().cloned();
        Box::pin(async move {
            let last_seq = match registry {
                Some(registry) => registry.last_event_seq().await.map_err(UiError)?,
                None => 0,
            };
            Ok(UiContext {
                caller,
                auth_enabled,
                last_seq,
                secret,
            })
        })
    }
}

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
}

/// Where to go after signing in: a UI path only (never another site).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(next)
            if next.starts_with("/ui/") && !next.starts_with("//") && !next.contains('\\') =>
        {
            next
        }
        _ => "/ui/",
    }
}

fn sign_in_page(next: &str, problem: Option<&str>, status: StatusCode) -> HttpResponse {
    let ctx = UiContext {
        caller: Caller::anonymous(),
        auth_enabled: false,
        last_seq: 0,
        secret: None,
    };
    let body = html! {
        h1 { "Sign in" }
        @if let Some(problem) = problem {
            div.notice.refused role="alert" { p { (problem) } }
        }
        form.panel method="post" action="/ui/sign-in" {
            input type="hidden" name="next" value=(next);
            p {
                label for="token" { "API token" }
                input #token type="password" name="token" autocomplete="current-password"
                    required size="60" aria-describedby="token-help";
            }
            p #token-help .muted {
                "A token from " code { "capstan tokens create" } " (or the admin token the registry \
                 wrote at its first start). It is kept in a cookie this site's scripts cannot read."
            }
            button type="submit" { "Sign in" }
        }
    };
    Page {
        title: "Sign in".into(),
        section: Section::None,
        live: Live::Off,
        body,
    }
    .render_with(&ctx, status)
}

/// `GET /ui/sign-in`.
pub async fn sign_in_form(query: web::Query<SignInQuery>) -> HttpResponse {
    sign_in_page(safe_next(query.next.as_deref()), None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct SignInForm {
    token: String,
    next: Option<String>,
}

/// `POST /ui/sign-in`: checks the token, sets the session cookie, goes on to `next`.
pub async fn sign_in(
    request: HttpRequest,
    registry: web::Data<Registry>,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, UiError> {
    let next = safe_next(form.next.as_deref()).to_owned();
    let token = form.token.trim();
    let caller = if token.is_empty() {
        None
    } else {
        registry.authenticate(token).await.map_err(UiError)?
    };
    if caller.is_none() {
        return Ok(sign_in_page(
            &next,
            Some("That token is unknown or revoked."),
            StatusCode::UNAUTHORIZED,
        ));
    }
    let secure = request.connection_info().scheme() == "https";
    let cookie = Cookie::build(SESSION_COOKIE, token.to_owned())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish();
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, next))
        .finish())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// `POST /ui/sign-out`: forgets the session cookie.
pub async fn sign_out(
    request: HttpRequest,
    ctx: UiContext,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, UiError> {
    ctx.check_form(&request, &form.csrf)?;
    let mut gone = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .cookie(gone)
        .insert_header((header::LOCATION, "/ui/sign-in"))
        .finish())
}
