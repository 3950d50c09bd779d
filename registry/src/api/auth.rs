//! Who may call what, checked in one place for every route: the middleware [`authorize`]
//! runs before routing and before any extractor, so a request without a valid token is
//! refused (`401`, `WWW-Authenticate: Bearer`) before its path, query or body is looked
//! at, and an upload is refused before a byte of its body is read.
//!
//! The role each operation needs is declared beside its handler, as the operation's
//! `security` in `#[utoipa::path]` (`security(("bearer" = ["editor"]))`, or `security(())`
//! for an open route; a second scope `unscoped` keeps out tokens limited to some models); [`AccessTable`] reads the declarations back from the process's own
//! OpenAPI document, so the document and the check cannot disagree. An operation that
//! declares nothing needs `admin`.
//!
//! A token limited to some models sees nothing outside them: a route naming a model it
//! may not see answers `404` as if the model did not exist. Resources reached by other
//! keys (deployments, batch jobs, schedules) and lists are filtered by the service with
//! the [`Caller`] this middleware puts in the request's extensions.
//!
//! The registry checks secrets against its own tokens; a model server against a token
//! file and/or the registry's `whoami` ([`crate::serving::callers`]), through the same
//! middleware, so its model-scope checks are the registry's.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ResourceDef, ServiceRequest, ServiceResponse, Url};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

use capstan_client::types::{Role, Whoami};

use crate::domain::access::{Caller, ModelScope};
use crate::domain::DomainError;
use crate::error::RegistryError;
use crate::service::Registry;
use crate::serving::callers::Callers;

/// The security scheme every protected operation names.
pub const BEARER: &str = "bearer";

/// The scope an operation lists beside its role when tokens limited to some models may
/// not call it (tokens, policies, webhooks).
pub const UNSCOPED: &str = "unscoped";

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, token or not.
    Open,
    /// A token with at least `role`; with `unscoped`, one limited to no model.
    Token { role: Role, unscoped: bool },
}

const ADMIN_ONLY: Access = Access::Token {
    role: Role::Admin,
    unscoped: true,
};

/// How requests are let in: built once per process.
pub struct Gate {
    /// Off: every request is the anonymous caller (the embedded default).
    pub enabled: bool,
    /// The OpenAPI document and Swagger UI without a token.
    pub open_docs: bool,
    /// `/metrics` without a token.
    pub open_metrics: bool,
    pub table: AccessTable,
    /// Who checks a bearer secret.
    pub verifier: Verifier,
}

/// Who checks a bearer secret.
#[derive(Clone)]
pub enum Verifier {
    /// The registry's own tokens.
    Registry(Box<Registry>),
    /// A model server's: a token file and/or the registry's `whoami`.
    ModelServer(Arc<Callers>),
    /// No one: every secret is refused (a process with authentication off never asks).
    Nobody,
}

impl Verifier {
    /// Who presents `secret`, if anyone this process accepts.
    pub(super) async fn caller(&self, secret: &str) -> Result<Option<Caller>, RegistryError> {
        match self {
            Verifier::Registry(registry) => registry.authenticate(secret).await,
            Verifier::ModelServer(callers) => Ok(callers
                .whoami(secret)
                .await
                .map_err(|e| RegistryError::Serving(Box::new(e)))?
                .map(caller_of)),
            Verifier::Nobody => Ok(None),
        }
    }
}

/// The caller the registry's `whoami` (or a token file) describes.
fn caller_of(who: Whoami) -> Caller {
    Caller {
        name: who.name,
        role: who.role,
        scope: match who.models {
            Some(patterns) => ModelScope::Patterns(patterns),
            None => ModelScope::All,
        },
    }
}

/// The operations of a process with the access each declares.
pub struct AccessTable {
    routes: Vec<Route>,
}

struct Route {
    method: Method,
    def: ResourceDef,
    access: Access,
    /// Whether `{name}` in this path is a model name (`/api/v1/models/{name}…`,
    /// `/v2/models/{name}…`), which a scoped token must be allowed to see.
    names_model: bool,
}

/// The access an operation's `security` declares: an empty requirement means open; the
/// bearer scheme's scopes are the role and, optionally, `unscoped`. Anything else, or
/// nothing declared, means an unscoped admin: a route nobody classified is closed.
pub fn declared_access(operation: &Operation) -> Access {
    let Some(requirements) = &operation.security else {
        return ADMIN_ONLY;
    };
    let Ok(serde_json::Value::Array(requirements)) = serde_json::to_value(requirements) else {
        return ADMIN_ONLY;
    };
    if requirements
        .iter()
        .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
    {
        return Access::Open;
    }
    let scopes: Vec<&str> = requirements
        .iter()
        .filter_map(|r| r.get(BEARER)?.as_array())
        .flatten()
        .filter_map(|scope| scope.as_str())
        .collect();
    match scopes.first().and_then(|s| Role::parse(s)) {
        Some(role) => Access::Token {
            role,
            unscoped: scopes.contains(&UNSCOPED),
        },
        None => ADMIN_ONLY,
    }
}

fn operations(document: &OpenApi) -> impl Iterator<Item = (&str, Method, &Operation)> {
    document.paths.paths.iter().flat_map(|(path, item)| {
        [
            (Method::GET, &item.get),
            (Method::POST, &item.post),
            (Method::PUT, &item.put),
            (Method::PATCH, &item.patch),
            (Method::DELETE, &item.delete),
            (Method::HEAD, &item.head),
        ]
        .into_iter()
        .filter_map(move |(method, operation)| Some((path.as_str(), method, operation.as_ref()?)))
    })
}

impl AccessTable {
    /// Adds routes declared outside the document (the MLflow API's and the UI's), each
    /// needing `role`; a `{name}` segment after `/models/` is checked against a scoped
    /// token's models as on the API (the MLflow API's names are checked by its handlers).
    pub fn with_routes(mut self, routes: Vec<(Method, String, Role)>) -> Self {
        self.routes
            .extend(routes.into_iter().map(|(method, path, role)| Route {
                method,
                names_model: path.contains("/models/{name}"),
                def: ResourceDef::new(path),
                access: Access::Token {
                    role,
                    unscoped: false,
                },
            }));
        self
    }

    pub fn of(document: &OpenApi) -> Self {
        let routes = operations(document)
            .map(|(path, method, operation)| Route {
                method,
                def: ResourceDef::new(path),
                access: declared_access(operation),
                names_model: path.starts_with("/api/v1/models/{name}")
                    || path.starts_with("/v2/models/{name}"),
            })
            .collect();
        Self { routes }
    }

    /// The route `method` and the request's path match, if one does (`HEAD` as `GET`).
    fn find(&self, method: &Method, path: &str) -> Option<&Route> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.routes
            .iter()
            .find(|route| route.method == method && route.def.is_match(path))
    }
}

/// The document a process serves: without authentication no operation declares a
/// security requirement (the committed `openapi/openapi.json`); with it, the bearer
/// scheme is declared and each operation keeps the role it needs.
pub fn document_for(mut document: OpenApi, auth: bool) -> OpenApi {
    if auth {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An API token (`capstan_…`). The scope listed on each operation is the \
                 least role it needs: reader < editor < promoter < admin.",
            ))
            .build();
        document
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
        for operation in operations_mut(&mut document).filter(|o| o.security.is_some()) {
            let responses = &mut operation.responses.responses;
            for (status, why) in [
                ("401", "No valid token (`unauthorized`)"),
                ("403", "The token's role or model scope does not allow this"),
            ] {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::T(problem_response(why)));
            }
        }
    } else {
        for operation in operations_mut(&mut document) {
            operation.security = None;
        }
    }
    document
}

/// Every operation of `document`, to change.
fn operations_mut(document: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    document.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
            &mut item.head,
        ]
        .into_iter()
        .flatten()
    })
}

/// A response carrying a problem document.
fn problem_response(description: &str) -> Response {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", content)
        .build()
}

/// The secret a request presents: a bearer header, or the UI's session cookie on a UI
/// page and on the API's reads (the pages' event stream and download links). The cookie
/// is `SameSite=Strict` and never authenticates an API write.
fn credential(request: &ServiceRequest) -> Option<String> {
    if let Some(secret) = bearer(request) {
        return Some(secret.to_owned());
    }
    let path = request.path();
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    if super::ui::is_ui_path(path) || (read && path.starts_with("/api/v1/")) {
        return super::ui::session_secret(request.request());
    }
    None
}

/// The bearer secret of a request, if it presents one.
fn bearer(request: &ServiceRequest) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    bearer_secret(value)
}

/// The secret of an `Authorization` value `Bearer <secret>`.
pub(super) fn bearer_secret(value: &str) -> Option<&str> {
    let (scheme, secret) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| secret.trim())
        .filter(|s| !s.is_empty())
}

/// Whether a path outside the route table is open anyway (the documents, health).
fn open_outside_table(gate: &Gate, path: &str) -> bool {
    (gate.open_docs && (path.starts_with("/docs") || path == "/api-docs/openapi.json"))
        || super::ui::is_open_path(path)
}

/// An error as the route would answer it (V2 routes add V2's `error` member; the MLflow
/// API's errors are MLflow's).
fn answer(path: &str, error: RegistryError) -> actix_web::Error {
    if super::ui::is_ui_path(path) {
        super::ui::UiError(error).into()
    } else if super::mlflow::is_mlflow_path(path) {
        super::mlflow::answer(error)
    } else if path.starts_with("/v2/") {
        RegistryError::open_inference(error).into()
    } else {
        error.into()
    }
}

/// A refusal of the gate itself: problem+json on every route (V2's included), but in
/// MLflow's shape on the MLflow API's.
fn refuse(path: &str, error: RegistryError) -> actix_web::Error {
    if super::ui::is_ui_path(path) {
        super::ui::UiError(error).into()
    } else if super::mlflow::is_mlflow_path(path) {
        super::mlflow::answer(error)
    } else {
        error.into()
    }
}

/// A UI request without a (valid) session: to the sign-in page, which comes back here.
fn sign_in_first(request: &ServiceRequest) -> actix_web::Error {
    let response = super::ui::sign_in_redirect(request.path(), request.query_string());
    actix_web::error::InternalError::from_response("sign in first", response).into()
}

/// The middleware of both apps (see the module documentation).
pub async fn authorize(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(gate) = request.app_data::<web::Data<Gate>>().cloned() else {
        return next.call(request).await;
    };
    if !gate.enabled {
        request.extensions_mut().insert(Caller::anonymous());
        return next.call(request).await;
    }
    let path = request.path().to_owned();
    let route = gate.table.find(request.method(), &path);
    let open = match route {
        Some(route) if route.access == Access::Open => path != "/metrics" || gate.open_metrics,
        Some(_) => false,
        None => open_outside_table(&gate, &path),
    };
    if open {
        return next.call(request).await;
    }
    let Some(secret) = credential(&request) else {
        if super::ui::is_ui_path(&path) {
            return Err(sign_in_first(&request));
        }
        return Err(refuse(
            &path,
            RegistryError::unauthorized(
                "this request needs a token: send `Authorization: Bearer <token>`",
            ),
        ));
    };
    let caller = match gate.verifier.caller(&secret).await {
        Ok(caller) => caller,
        Err(error) => return Err(answer(&path, error)),
    };
    let Some(caller) = caller else {
        if super::ui::is_ui_path(&path) {
            return Err(sign_in_first(&request));
        }
        return Err(refuse(
            &path,
            RegistryError::unauthorized("the token is unknown or revoked"),
        ));
    };
    if let Some(route) = route {
        if route.names_model && !caller.scope.is_all() {
            let mut segments = actix_web::dev::Path::new(Url::new(request.uri().clone()));
            route.def.capture_match_info(&mut segments);
            let name = segments.get("name").unwrap_or_default();
            if !caller.sees(name) {
                return Err(answer(
                    &path,
                    RegistryError::not_found(
                        "model_not_found",
                        format!("model {name:?} does not exist"),
                    ),
                ));
            }
        }
        if let Access::Token { role, unscoped } = route.access {
            if unscoped && !caller.scope.is_all() {
                return Err(refuse(
                    &path,
                    RegistryError::from(DomainError::NeedsUnscopedAdmin),
                ));
            }
            if !caller.has(role) {
                return Err(answer(
                    &path,
                    RegistryError::forbidden(
                        "insufficient_role",
                        format!(
                            "{} {} needs the {role} role; token {:?} is {}",
                            request.method(),
                            path,
                            caller.name,
                            caller.role
                        ),
                    ),
                ));
            }
        }
    }
    request.extensions_mut().insert(caller);
    next.call(request).await
}

impl FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    /// The caller [`authorize`] let in; anonymous where no gate runs.
    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = request.extensions().get::<Caller>().cloned();
        std::future::ready(Ok(caller.unwrap_or_else(Caller::anonymous)))
    }
}
