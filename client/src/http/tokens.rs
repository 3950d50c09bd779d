//! API tokens: `/api/v1/tokens[/{name}]` (admins limited to no model) and
//! `/api/v1/whoami` (any token). A created token's secret is in the answer once; nothing
//! here logs or keeps it.

use reqwest::Method;

use super::api::{self, PageQuery};
use super::Client;
use crate::error::Result;
use crate::types::{CreateToken, CreatedToken, Token, TokenPage, Whoami};

impl Client {
    /// Creates a token; the answer holds its secret, shown this once.
    pub async fn create_token(&self, request: &CreateToken) -> Result<CreatedToken> {
        self.send_json(Method::POST, api::TOKENS, request).await
    }

    /// One page of tokens, by name (never their secrets).
    pub async fn list_tokens(&self, query: &PageQuery) -> Result<TokenPage> {
        self.get_json(&query.path(api::TOKENS)).await
    }

    /// Every token (following page tokens), at most `max`.
    pub async fn list_all_tokens(&self, max: usize) -> Result<Vec<Token>> {
        let mut query = PageQuery::default();
        let mut tokens = Vec::new();
        loop {
            let page = self.list_tokens(&query).await?;
            tokens.extend(page.tokens);
            match page.next_page_token {
                Some(next) if tokens.len() < max => query.page_token = Some(next),
                _ => break,
            }
        }
        tokens.truncate(max);
        Ok(tokens)
    }

    /// Revokes the token named `name`: from the next request on it is refused (401).
    pub async fn revoke_token(&self, name: &str) -> Result<()> {
        self.delete(&api::token(name)).await
    }

    /// The token this client presents: its name, role and models (`anonymous`, admin,
    /// when the registry runs without authentication).
    pub async fn whoami(&self) -> Result<Whoami> {
        self.get_json(api::WHOAMI).await
    }
}
