//! `/api/v1/tokens`: API tokens (admins limited to no model), and `/api/v1/whoami`: the
//! token a request is made with.

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpResponse};
use serde::Deserialize;

use capstan_client::http::api::{self, PageQuery};
use capstan_client::types::{CreateToken, CreatedToken, TokenPage, Whoami};
use capstan_client::Problem;

use super::extract::JsonObject;
use crate::domain::access::{Caller, ModelScope};
use crate::error::RegistryResult;
use crate::service::Registry;

/// `/tokens/{name}`.
#[derive(Debug, Deserialize)]
pub struct TokenPath {
    pub name: String,
}

/// Create a token. The answer carries its secret (`capstan_…`), shown this once; only a
/// hash of it is stored.
#[utoipa::path(
    security(("bearer" = ["admin", "unscoped"])),
    tag = "tokens",
    request_body = CreateToken,
    responses(
        (status = 201, description = "Created; the only answer with the secret", body = CreatedToken),
        (status = 400, description = "Invalid name, role or model patterns", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A token with this name exists", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/tokens")]
pub async fn create_token(
    registry: web::Data<Registry>,
    caller: Caller,
    body: JsonObject<CreateToken>,
) -> RegistryResult<HttpResponse> {
    let created = registry.create_token(&caller, body.0).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, api::token(&created.name)))
        .json(created))
}

/// List tokens by name, with when each was last used (never their secrets).
#[utoipa::path(
    security(("bearer" = ["admin", "unscoped"])),
    tag = "tokens",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of tokens", body = TokenPage),
        (status = 400, description = "Invalid limit or page token", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/tokens")]
pub async fn list_tokens(
    registry: web::Data<Registry>,
    query: web::Query<PageQuery>,
) -> RegistryResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(registry.list_tokens(query.into_inner()).await?))
}

/// Revoke a token: from the next request on it is answered like an unknown one (401).
#[utoipa::path(
    security(("bearer" = ["admin", "unscoped"])),
    tag = "tokens",
    params(("name" = String, Path, description = "Token name")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/tokens/{name}")]
pub async fn revoke_token(
    registry: web::Data<Registry>,
    path: web::Path<TokenPath>,
) -> RegistryResult<HttpResponse> {
    registry.revoke_token(path.into_inner().name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The token this request is made with: its name, role and the models it is limited to
/// (`anonymous`, admin, with authentication off).
#[utoipa::path(
    security(("bearer" = ["reader"])),
    tag = "tokens",
    responses((status = 200, description = "Who is calling", body = Whoami))
)]
#[get("/whoami")]
pub async fn whoami(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(Whoami {
        name: caller.name,
        role: caller.role,
        models: match caller.scope {
            ModelScope::All => None,
            ModelScope::Patterns(patterns) => Some(patterns),
        },
    })
}
