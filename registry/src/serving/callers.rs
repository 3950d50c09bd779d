//! Who may call a model server that requires tokens: secrets whose sha256 is listed in a
//! file (`--auth-token-file`), and/or tokens the registry vouches for when asked
//! `GET /api/v1/whoami` with them (`--auth-from-registry`), remembered for a short while.
//! It answers with the registry's [`Whoami`]; `api::auth` turns that into the caller it
//! checks routes and model scopes against. Secrets are never logged or kept: the file
//! holds hashes and the cache is keyed by hash.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use capstan_client::http::Client;
use capstan_client::types::{Role, Whoami};
use capstan_client::ErrorKind;
use sha2::{Digest as _, Sha256};

use super::ServeError;

/// The name of a caller let in by a hash in the token file with no label after it.
pub const TOKEN_FILE_CALLER: &str = "token-file";
/// Entries the registry cache holds before it is emptied.
const CACHE_CAPACITY: usize = 10_000;

/// How a model server checks the bearer secrets it is presented.
pub struct Callers {
    pub file: Option<AcceptedHashes>,
    pub registry: Option<RegistryCallers>,
}

impl Callers {
    /// Who presents `secret`: the token file first (no I/O), then the registry.
    pub async fn whoami(&self, secret: &str) -> Result<Option<Whoami>, ServeError> {
        let hash = hex::encode(Sha256::digest(secret.as_bytes()));
        if let Some(who) = self.file.as_ref().and_then(|file| file.find(&hash)) {
            return Ok(Some(who));
        }
        match &self.registry {
            Some(registry) => registry.whoami(secret, hash).await,
            None => Ok(None),
        }
    }
}

/// The sha256 (hex) of every accepted secret, each with the name its caller goes by.
#[derive(Debug)]
pub struct AcceptedHashes {
    names: HashMap<String, String>,
}

impl AcceptedHashes {
    /// Reads a token file: one hex sha256 per line, optionally followed by a name; blank
    /// lines and `#` comments are skipped. A file that accepts nothing is refused.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut names = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let mut fields = line.split_whitespace();
            let Some(hash) = fields.next() else { continue };
            let hash = hash.to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                // Never echo the line: someone may have pasted a secret instead of its hash.
                return Err(format!(
                    "line {}: expected the hex sha256 of a token (64 hex digits; make it \
                     with `printf %s \"$TOKEN\" | sha256sum`)",
                    number + 1
                ));
            }
            let name = fields.next().unwrap_or(TOKEN_FILE_CALLER).to_owned();
            names.insert(hash, name);
        }
        if names.is_empty() {
            return Err("lists no token hash: every request would be refused".to_owned());
        }
        Ok(Self { names })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// A listed secret may predict with every model the server serves.
    fn find(&self, hash: &str) -> Option<Whoami> {
        self.names.get(hash).map(|name| Whoami {
            name: name.clone(),
            role: Role::Reader,
            models: None,
        })
    }
}

/// Tokens checked against the registry's `whoami`, each answer remembered for `ttl`.
pub struct RegistryCallers {
    client: Client,
    ttl: Duration,
    /// By the hash of the secret: who it is (`None`: refused) and until when.
    answers: RwLock<HashMap<String, (Option<Whoami>, Instant)>>,
}

impl RegistryCallers {
    /// `client` reaches the registry; the token it presents is replaced per check.
    pub fn new(client: &Client, ttl: Duration) -> Self {
        Self {
            client: client.with_token(None),
            ttl,
            answers: RwLock::default(),
        }
    }

    async fn whoami(&self, secret: &str, hash: String) -> Result<Option<Whoami>, ServeError> {
        if let Some(answer) = self.cached(&hash) {
            return Ok(answer);
        }
        let answer = match self
            .client
            .with_token(Some(secret.to_owned()))
            .whoami()
            .await
        {
            Ok(who) => Some(who),
            Err(e) if e.kind() == ErrorKind::Unauthorized => None,
            Err(e) => {
                return Err(ServeError::Upstream(format!(
                    "cannot check the token with the registry: {e}"
                )))
            }
        };
        self.remember(hash, answer.clone());
        Ok(answer)
    }

    fn cached(&self, hash: &str) -> Option<Option<Whoami>> {
        let answers = self.answers.read().unwrap_or_else(|e| e.into_inner());
        let (answer, expires) = answers.get(hash)?;
        (Instant::now() < *expires).then(|| answer.clone())
    }

    fn remember(&self, hash: String, answer: Option<Whoami>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut answers = self.answers.write().unwrap_or_else(|e| e.into_inner());
        if answers.len() >= CACHE_CAPACITY {
            answers.clear();
        }
        answers.insert(hash, (answer, Instant::now() + self.ttl));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn token_files_list_hashes_with_optional_names() {
        let file = AcceptedHashes::parse(&format!(
            "# accepted\n\n{HASH} team-a  # the scorer\n{}\n",
            HASH.replace('9', "8")
        ))
        .unwrap();
        assert_eq!(file.len(), 2);
        assert_eq!(file.find(HASH).unwrap().name, "team-a");
        assert_eq!(
            file.find(&HASH.replace('9', "8")).unwrap().name,
            TOKEN_FILE_CALLER
        );
        assert!(file.find(&HASH.replace('9', "7")).is_none());
    }

    #[test]
    fn token_files_refuse_secrets_and_emptiness_without_echoing() {
        let error = AcceptedHashes::parse("capstan_0123456789secret\n").unwrap_err();
        assert!(
            error.contains("line 1") && !error.contains("secret\n"),
            "{error}"
        );
        assert!(!error.contains("0123456789"), "{error}");
        assert!(AcceptedHashes::parse("# nothing\n").is_err());
    }
}
