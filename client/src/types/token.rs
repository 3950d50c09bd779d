//! Wire types of API tokens: who may do what (see docs/security.md). A token has a name,
//! a role and, optionally, the model-name patterns it is limited to; its secret is shown
//! once, when it is created.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest token name (the same rules as a model name).
pub const MAX_TOKEN_NAME_LEN: usize = 128;
/// Most model-name patterns on one token.
pub const MAX_TOKEN_MODELS: usize = 64;

/// What a token may do; each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
    diesel(sql_type = diesel::sql_types::Text)
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read what it is granted (models, versions, artifacts, events, predictions,
    /// deployments) and report deployment instances.
    Reader,
    /// Also create models, upload versions, datasets and batch jobs, set tags and
    /// descriptions.
    Editor,
    /// Also move stages and aliases, roll back, archive versions, approve and reject batch
    /// jobs and promotion requests.
    Promoter,
    /// Also tokens, policies, webhooks, deployments and deleting models.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Reader, Role::Editor, Role::Promoter, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Editor => "editor",
            Role::Promoter => "promoter",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /api/v1/tokens`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Unique; the actor name events record for this token's requests.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^(?!.*\.\.)[a-z0-9][a-z0-9._-]{0,127}$",
            example = "ci-deployer"
        )
    )]
    pub name: String,
    pub role: Role,
    /// Model-name patterns (`fraud-*`, `bc`; `*` matches any run of characters) the token
    /// is limited to; absent: every model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 64))]
    pub models: Option<Vec<String>>,
}

/// A token as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Token {
    pub name: String,
    pub role: Role,
    /// The model-name patterns it is limited to; absent: every model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    /// The actor that created it (`bootstrap` for the first admin token, `cli` for tokens
    /// made with `capstan-registry token create`).
    pub created_by: String,
    /// The last request made with it, to the minute; absent if never used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
}

/// `201` from `POST /api/v1/tokens`: the only time the secret is shown.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// The secret (`capstan_` + 64 hex digits): send it as `Authorization: Bearer <token>`.
    /// Only its hash is stored; it cannot be shown again.
    pub token: String,
}

impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("models", &self.models)
            .field("token", &"<redacted>")
            .finish()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenPage {
    pub tokens: Vec<Token>,
    /// Pass as `page_token` to get the next page; absent on the last page.
    pub next_page_token: Option<String>,
}

/// `GET /api/v1/whoami`: the token a request is made with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Whoami {
    /// The token's name (`anonymous` when the registry runs without authentication).
    pub name: String,
    pub role: Role,
    /// The model-name patterns it is limited to; absent: every model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
}
