//! Use cases on API tokens: create (the secret shown once), list, revoke, the first admin
//! token, and authenticating a request's bearer secret.
//!
//! Verified tokens are cached by the hash of their secret for `auth_cache` (1 s by
//! default) so a request costs a hash and a map lookup, not a database round trip.
//! Revoking drops the token from this replica's cache at once; another replica stops
//! accepting it when its cached entry expires (set the cache to 0 to look every request
//! up). See docs/security.md.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use capstan_client::http::api::PageQuery;
use capstan_client::types::{CreateToken, CreatedToken, Role, Token, TokenPage};
use chrono::TimeDelta;
use subtle::ConstantTimeEq;

use super::views::utc;
use super::{now, Registry};
use crate::domain::access::{
    check_model_patterns, check_token_name, looks_like_secret, secret_from, secret_hash, Caller,
    ModelScope,
};
use crate::domain::paging::{decode_token, encode_token, page_limit};
use crate::error::{RegistryError, RegistryResult};
use crate::store::tokens::{self, TokenRow};
use crate::store::{StoreError, StoreResult};

/// The first admin token's name.
pub const BOOTSTRAP_TOKEN: &str = "admin";
/// Entries the cache holds before it is emptied.
const CACHE_CAPACITY: usize = 10_000;
/// How stale `last_used_at` may be.
const LAST_USED_RESOLUTION: TimeDelta = TimeDelta::minutes(1);

/// Verified tokens by the hash of their secret, each until its expiry.
pub struct TokenCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Caller, Instant)>>,
}

impl TokenCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::default(),
        }
    }

    fn get(&self, hash: &str) -> Option<Caller> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (caller, expires) = entries.get(hash)?;
        (Instant::now() < *expires).then(|| caller.clone())
    }

    fn put(&self, hash: String, caller: Caller) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(hash, (caller, Instant::now() + self.ttl));
    }

    fn forget(&self, name: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (caller, _)| caller.name != name);
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

fn stored_models(row: &TokenRow) -> StoreResult<Option<Vec<String>>> {
    row.models
        .as_deref()
        .map(|json| {
            serde_json::from_str(json)
                .map_err(|e| StoreError::Invalid(format!("token {} models: {e}", row.name)))
        })
        .transpose()
}

fn stored_role(row: &TokenRow) -> StoreResult<Role> {
    Role::parse(&row.role)
        .ok_or_else(|| StoreError::Invalid(format!("token {} role {:?}", row.name, row.role)))
}

fn caller_of(row: &TokenRow) -> StoreResult<Caller> {
    Ok(Caller {
        name: row.name.clone(),
        role: stored_role(row)?,
        scope: match stored_models(row)? {
            Some(patterns) => ModelScope::Patterns(patterns),
            None => ModelScope::All,
        },
    })
}

fn token_view(row: &TokenRow) -> StoreResult<Token> {
    Ok(Token {
        name: row.name.clone(),
        role: stored_role(row)?,
        models: stored_models(row)?,
        created_at: utc(row.created_at),
        created_by: row.created_by.clone(),
        last_used_at: row.last_used_at.map(utc),
    })
}

fn new_secret() -> RegistryResult<String> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random)
        .map_err(|e| StoreError::Invalid(format!("no randomness for a token: {e}")))?;
    Ok(secret_from(&random))
}

fn token_not_found(name: &str) -> RegistryError {
    RegistryError::not_found("token_not_found", format!("no token named {name:?}"))
}

impl Registry {
    /// Caches verified tokens for `ttl` (0: look every request up).
    pub fn with_auth_cache(mut self, ttl: Duration) -> Self {
        self.tokens = std::sync::Arc::new(TokenCache::new(ttl));
        self
    }

    /// Creates a token for `request`, by `caller`, and returns its secret: the only time
    /// it is shown. (Only admins limited to no model get here: see `api::auth`.)
    pub async fn create_token(
        &self,
        caller: &Caller,
        request: CreateToken,
    ) -> RegistryResult<CreatedToken> {
        check_token_name(&request.name)?;
        if let Some(patterns) = &request.models {
            check_model_patterns(patterns)?;
        }
        let secret = new_secret()?;
        let row = TokenRow {
            name: request.name.clone(),
            role: request.role.as_str().to_owned(),
            models: request
                .models
                .as_ref()
                .map(|patterns| serde_json::Value::from(patterns.clone()).to_string()),
            secret_hash: secret_hash(&secret),
            created_at: now(),
            created_by: caller.name.clone(),
            last_used_at: None,
        };
        let name = request.name.clone();
        self.db
            .write(move |conn| Ok(tokens::insert(conn, &row)?))
            .await
            .map_err(|e| match e {
                RegistryError::Store(StoreError::UniqueViolation { .. }) => {
                    RegistryError::conflict(
                        "token_exists",
                        format!(
                            "a token named {name:?} exists; revoke it first or pick another name"
                        ),
                    )
                }
                other => other,
            })?;
        Ok(CreatedToken {
            name: request.name,
            role: request.role,
            models: request.models,
            token: secret,
        })
    }

    /// The first admin token, when the database holds no token at all; `None` otherwise
    /// (another replica may have made it a moment ago).
    pub async fn bootstrap_admin_token(&self) -> RegistryResult<Option<CreatedToken>> {
        let secret = new_secret()?;
        let row = TokenRow {
            name: BOOTSTRAP_TOKEN.to_owned(),
            role: Role::Admin.as_str().to_owned(),
            models: None,
            secret_hash: secret_hash(&secret),
            created_at: now(),
            created_by: "bootstrap".to_owned(),
            last_used_at: None,
        };
        let created = self
            .db
            .write(move |conn| {
                if tokens::count(conn)? > 0 {
                    return Ok(false);
                }
                match tokens::insert(conn, &row) {
                    Ok(()) => Ok(true),
                    Err(StoreError::UniqueViolation { .. }) => Ok(false),
                    Err(e) => Err(RegistryError::from(e)),
                }
            })
            .await?;
        Ok(created.then(|| CreatedToken {
            name: BOOTSTRAP_TOKEN.to_owned(),
            role: Role::Admin,
            models: None,
            token: secret,
        }))
    }

    /// Tokens by name; never their secrets.
    pub async fn list_tokens(&self, query: PageQuery) -> RegistryResult<TokenPage> {
        let limit = page_limit(query.limit)?;
        let after = query
            .page_token
            .as_deref()
            .map(|token| decode_token("tokens", token))
            .transpose()?;
        self.db
            .read(move |conn| {
                let rows = tokens::list(conn, after.as_deref(), limit + 1)?;
                let has_more = rows.len() as i64 > limit;
                let page = &rows[..rows.len().min(limit as usize)];
                let next_page_token = has_more
                    .then(|| page.last().map(|row| encode_token("tokens", &row.name)))
                    .flatten();
                Ok(TokenPage {
                    tokens: page.iter().map(token_view).collect::<Result<_, _>>()?,
                    next_page_token,
                })
            })
            .await
    }

    /// Revokes the token named `name`: it is answered like an unknown token from now on.
    pub async fn revoke_token(&self, name: String) -> RegistryResult<()> {
        let revoked = name.clone();
        let deleted = self
            .db
            .write(move |conn| -> RegistryResult<bool> { Ok(tokens::delete(conn, &revoked)?) })
            .await?;
        self.tokens.forget(&name);
        if deleted {
            Ok(())
        } else {
            Err(token_not_found(&name))
        }
    }

    /// Who presents `secret`, if it is a live token's.
    pub async fn authenticate(&self, secret: &str) -> RegistryResult<Option<Caller>> {
        if !looks_like_secret(secret) {
            return Ok(None);
        }
        let hash = secret_hash(secret);
        if let Some(caller) = self.tokens.get(&hash) {
            return Ok(Some(caller));
        }
        let presented = hash.clone();
        let row = self
            .db
            .read(move |conn| tokens::find_by_hash(conn, &presented))
            .await?;
        // The lookup is by hash; compare the stored one in constant time all the same.
        let Some(row) =
            row.filter(|row| bool::from(row.secret_hash.as_bytes().ct_eq(hash.as_bytes())))
        else {
            return Ok(None);
        };
        let caller = caller_of(&row)?;
        self.tokens.put(hash, caller.clone());
        if row
            .last_used_at
            .is_none_or(|at| now() - at >= LAST_USED_RESOLUTION)
        {
            self.record_token_use(row.name);
        }
        Ok(Some(caller))
    }

    /// Refreshes `last_used_at` in the background: a request never waits on this write.
    fn record_token_use(&self, name: String) {
        let db = self.db.clone();
        tokio::spawn(async move {
            let at = now();
            let result: RegistryResult<()> = db
                .write(move |conn| Ok(tokens::touch(conn, &name, at, at - LAST_USED_RESOLUTION)?))
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not record a token's last use");
            }
        });
    }
}
