//! The web UI, served by the registry at `/ui/` (docs/ui.md): server-rendered HTML built
//! with maud over the same service layer as the API (never SQL of its own), plus one
//! stylesheet and one small script (`assets`) that only enhance pages that work without
//! it. Every page is a plain URL reached by real links; every change is a plain form
//! `POST` with a CSRF token and a confirmation, refused by the gate (`api::auth`) when the
//! session's token lacks the role, exactly as the API would refuse it.
//!
//! Handlers live in one file per page family (`models`, `versions`, `compare`,
//! `promotion_requests`, `deployments`, `batch_jobs`); markup shared
//! between pages in `layout`; who is signed in and form protection in `session`.

mod actions;
mod assets;
mod batch_jobs;
mod chart;
mod compare;
mod deployments;
mod layout;
mod models;
mod promotion_requests;
mod session;
mod try_it;
mod versions;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpResponse, ResponseError};
use capstan_client::types::Role;
use serde::Deserialize;

pub use session::{session_secret, SESSION_COOKIE};

/// A service error, answered as an HTML page with the problem's detail (a policy's
/// refusal reads as the policy wrote it, not as a generic error).
#[derive(Debug)]
pub struct UiError(pub crate::error::RegistryError);

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<crate::error::RegistryError> for UiError {
    fn from(error: crate::error::RegistryError) -> Self {
        UiError(error)
    }
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let problem = self.0.problem();
        if problem.status >= 500 {
            tracing::error!(error = %self.0, code = %problem.code, "UI request failed");
        }
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        layout::error_page(status, &problem.title, &problem.detail)
    }
}

/// A refusal the page that asked should show in place (a policy, a conflict, bad input):
/// its status and the problem's detail; `None` for what the user cannot fix there (not
/// found, a failure), which gets the error page.
pub fn refusal(error: &crate::error::RegistryError) -> Option<(StatusCode, String)> {
    let problem = error.problem();
    let status = StatusCode::from_u16(problem.status).ok()?;
    (status.is_client_error() && status != StatusCode::NOT_FOUND)
        .then_some((status, problem.detail))
}

/// Every action's form has a confirmation box; a request without it ticked changes nothing.
pub fn confirmed(confirm: Option<&str>) -> Result<(), crate::error::RegistryError> {
    if confirm == Some("yes") {
        Ok(())
    } else {
        Err(crate::error::RegistryError::bad_request(
            "invalid_form",
            "tick the confirmation box to go ahead",
        ))
    }
}

/// `?page=`: the page token of a paged list.
#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<String>,
}

/// What a reviewer decided on a review form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// The review form of a batch job or a promotion request: approve or reject, a reason,
/// the confirmation box.
#[derive(Deserialize)]
pub struct ReviewForm {
    pub csrf: String,
    decision: String,
    reason: Option<String>,
    confirm: Option<String>,
}

impl ReviewForm {
    /// The decision, once the confirmation box is ticked; a refusal the page shows in
    /// place otherwise.
    pub fn decision(&self) -> Result<Decision, crate::error::RegistryError> {
        confirmed(self.confirm.as_deref())?;
        match self.decision.as_str() {
            "approve" => Ok(Decision::Approve),
            "reject" => Ok(Decision::Reject),
            other => Err(crate::error::RegistryError::bad_request(
                "invalid_form",
                format!("unknown decision {other:?}"),
            )),
        }
    }

    /// The reason, unless left blank.
    pub fn reason(&self) -> Option<String> {
        given_reason(self.reason.clone())
    }
}

/// A form's reason field: `None` when it was left blank.
pub fn given_reason(reason: Option<String>) -> Option<String> {
    reason.filter(|r| !r.trim().is_empty())
}

/// Whether a path belongs to the UI.
pub fn is_ui_path(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// UI paths anyone may open: signing in and the assets (and the redirects to `/ui/`).
pub fn is_open_path(path: &str) -> bool {
    matches!(path, "/" | "/ui" | "/ui/sign-in") || path.starts_with("/ui/assets/")
}

/// Where the gate sends a request for a UI page that comes without a session.
pub fn sign_in_redirect(path: &str, query: &str) -> HttpResponse {
    let mut next = path.to_owned();
    if !query.is_empty() {
        next = format!("{next}?{query}");
    }
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/ui/sign-in?next={next}")))
        .finish()
}

/// The UI's routes and the least role each needs (the gate's table).
pub const ACCESS: [(&str, &str, Role); 15] = [
    ("GET", "/ui/", Role::Reader),
    ("POST", "/ui/sign-out", Role::Reader),
    ("GET", "/ui/models/{name}", Role::Reader),
    ("GET", "/ui/models/{name}/versions/{version}", Role::Reader),
    (
        "POST",
        "/ui/models/{name}/versions/{version}/try",
        Role::Reader,
    ),
    ("GET", "/ui/models/{name}/compare", Role::Reader),
    ("POST", "/ui/models/{name}/stages", Role::Promoter),
    ("POST", "/ui/models/{name}/aliases", Role::Promoter),
    (
        "POST",
        "/ui/models/{name}/versions/{version}/archive",
        Role::Promoter,
    ),
    ("POST", "/ui/promotion-requests/{id}/review", Role::Promoter),
    ("GET", "/ui/deployments", Role::Reader),
    ("GET", "/ui/deployments/{name}", Role::Reader),
    ("GET", "/ui/batch-jobs", Role::Reader),
    ("GET", "/ui/batch-jobs/{id}", Role::Reader),
    ("POST", "/ui/batch-jobs/{id}/review", Role::Promoter),
];

/// [`ACCESS`] as the gate takes it.
pub fn access_routes() -> Vec<(Method, String, Role)> {
    ACCESS
        .iter()
        .filter_map(|(method, path, role)| {
            Some((
                Method::from_bytes(method.as_bytes()).ok()?,
                (*path).to_owned(),
                *role,
            ))
        })
        .collect()
}

async fn to_ui() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/ui/"))
        .finish()
}

/// Registers the UI (the registry only).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(to_ui))
        .route("/ui", web::get().to(to_ui))
        .route("/ui/assets/{file}", web::get().to(assets::asset))
        .route("/ui/sign-in", web::get().to(session::sign_in_form))
        .route("/ui/sign-in", web::post().to(session::sign_in))
        .route("/ui/sign-out", web::post().to(session::sign_out))
        .route("/ui/", web::get().to(models::list))
        .route("/ui/models/{name}", web::get().to(models::show))
        .route(
            "/ui/models/{name}/compare",
            web::get().to(versions::compare),
        )
        .route(
            "/ui/models/{name}/stages",
            web::post().to(actions::move_stage),
        )
        .route(
            "/ui/models/{name}/aliases",
            web::post().to(actions::move_alias),
        )
        .route(
            "/ui/models/{name}/versions/{version}",
            web::get().to(versions::show),
        )
        .route(
            "/ui/models/{name}/versions/{version}/try",
            web::post().to(try_it::try_it),
        )
        .route(
            "/ui/models/{name}/versions/{version}/archive",
            web::post().to(versions::archive),
        )
        .route(
            "/ui/promotion-requests/{id}/review",
            web::post().to(promotion_requests::review),
        )
        .route("/ui/deployments", web::get().to(deployments::list))
        .route("/ui/deployments/{name}", web::get().to(deployments::show))
        .route("/ui/batch-jobs", web::get().to(batch_jobs::list))
        .route("/ui/batch-jobs/{id}", web::get().to(batch_jobs::show))
        .route(
            "/ui/batch-jobs/{id}/review",
            web::post().to(batch_jobs::review),
        );
}
