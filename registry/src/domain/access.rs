//! Who may do what: the caller a request is made by (a token's name, role and model
//! scope), the rules a token's name and model patterns follow, and what a secret is
//! stored as. No I/O: the service stores tokens and the API checks each request against
//! the role its route declares.

use capstan_client::types::{Role, MAX_TOKEN_MODELS};
use capstan_client::ModelName;
use sha2::{Digest as _, Sha256};

use super::{DomainError, DomainResult};

/// The prefix of every secret (so scanners and people can tell what leaked).
pub const SECRET_PREFIX: &str = "capstan_";
/// The actor events record when authentication is off.
pub const ANONYMOUS: &str = "anonymous";
/// Longest model-name pattern (a model name plus wildcards).
const MAX_PATTERN_LEN: usize = 128;

/// The models a token may see: every one, or those matching one of its patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ModelScope {
    /// The default: what every caller has with authentication off.
    #[default]
    All,
    /// Patterns where `*` matches any run of characters (`fraud-*`, `bc`).
    Patterns(Vec<String>),
}

impl ModelScope {
    pub fn allows(&self, model: &str) -> bool {
        match self {
            ModelScope::All => true,
            ModelScope::Patterns(patterns) => patterns.iter().any(|p| glob_matches(p, model)),
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self, ModelScope::All)
    }

    /// A model created by a token must lie inside its scope (403, not 404: the name is
    /// the caller's own, nothing leaks).
    pub fn check_creates(&self, model: &str) -> DomainResult<()> {
        if self.allows(model) {
            Ok(())
        } else {
            Err(DomainError::ModelOutOfScope {
                model: model.to_owned(),
            })
        }
    }

    /// The patterns as SQL `LIKE` patterns with `\` as the escape character (`None`: no
    /// filter). Model names hold `_`, which `LIKE` reads as a wildcard, so it is escaped.
    pub fn like_patterns(&self) -> Option<Vec<String>> {
        let ModelScope::Patterns(patterns) = self else {
            return None;
        };
        Some(
            patterns
                .iter()
                .map(|pattern| {
                    let mut like = String::with_capacity(pattern.len() + 4);
                    for c in pattern.chars() {
                        match c {
                            '*' => like.push('%'),
                            '_' | '%' | '\\' => {
                                like.push('\\');
                                like.push(c);
                            }
                            c => like.push(c),
                        }
                    }
                    like
                })
                .collect(),
        )
    }
}

/// Who a request is made by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name: the actor events record.
    pub name: String,
    pub role: Role,
    pub scope: ModelScope,
}

impl Caller {
    /// Every request when authentication is off: may do anything, recorded as `anonymous`.
    pub fn anonymous() -> Self {
        Caller {
            name: ANONYMOUS.to_owned(),
            role: Role::Admin,
            scope: ModelScope::All,
        }
    }

    /// Whether the caller's role includes `role`.
    pub fn has(&self, role: Role) -> bool {
        self.role >= role
    }

    /// Whether the caller may see `model` at all (outside its scope a model does not exist
    /// for it).
    pub fn sees(&self, model: &str) -> bool {
        self.scope.allows(model)
    }
}

/// `*` matches any run of characters (none included); every other character itself.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Actors the registry records for itself; no token may be named like them.
pub const RESERVED_ACTORS: [&str; 3] = [ANONYMOUS, "worker", "system"];

/// A token's name follows the model-name rules (it is also the actor events record) and
/// is not one of the registry's own actors.
pub fn check_token_name(name: &str) -> DomainResult<()> {
    if RESERVED_ACTORS.contains(&name) {
        return Err(DomainError::ReservedTokenName {
            name: name.to_owned(),
        });
    }
    ModelName::parse(name)
        .map(|_| ())
        .map_err(|_| DomainError::InvalidTokenName {
            name: name.chars().take(64).collect(),
        })
}

/// The model patterns of a new token: 1–64 patterns, each model-name characters and `*`.
pub fn check_model_patterns(patterns: &[String]) -> DomainResult<()> {
    if patterns.is_empty() || patterns.len() > MAX_TOKEN_MODELS {
        return Err(DomainError::InvalidModelPatterns {
            reason: format!(
                "give 1–{MAX_TOKEN_MODELS} patterns, or leave `models` out for every model"
            ),
        });
    }
    for pattern in patterns {
        let well_formed = !pattern.is_empty()
            && pattern.len() <= MAX_PATTERN_LEN
            && !pattern.contains("..")
            && pattern
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'*'));
        if !well_formed {
            let shown: String = pattern.chars().take(64).collect();
            return Err(DomainError::InvalidModelPatterns {
                reason: format!(
                    "{shown:?} must be 1–{MAX_PATTERN_LEN} characters of `a-z`, `0-9`, `.`, `_`, `-` and `*` (any run of characters)"
                ),
            });
        }
    }
    Ok(())
}

/// What a secret is stored and looked up as: the hex sha256 of its text. A secret holds
/// 256 random bits, so a plain hash is as hard to reverse as the secret is to guess.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A secret from 32 random bytes.
pub fn secret_from(random: &[u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", hex::encode(random))
}

/// Whether a presented bearer value could be a secret at all (cheap refusal of anything
/// else before a lookup).
pub fn looks_like_secret(text: &str) -> bool {
    text.len() == SECRET_PREFIX.len() + 64
        && text.starts_with(SECRET_PREFIX)
        && text[SECRET_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_of_characters() {
        for (pattern, text, expected) in [
            ("bc", "bc", true),
            ("bc", "bcd", false),
            ("fraud-*", "fraud-v2", true),
            ("fraud-*", "fraud-", true),
            ("fraud-*", "fraud", false),
            ("*-prod", "team-a-prod", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*", "anything", true),
            ("a.b", "axb", false),
        ] {
            assert_eq!(glob_matches(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn like_patterns_escape_what_like_reads_as_wildcards() {
        let scope = ModelScope::Patterns(vec!["a_b*".into(), "c".into()]);
        assert_eq!(
            scope.like_patterns(),
            Some(vec![r"a\_b%".to_owned(), "c".to_owned()])
        );
        assert_eq!(ModelScope::All.like_patterns(), None);
    }

    #[test]
    fn roles_include_the_ones_before_them() {
        let promoter = Caller {
            name: "p".into(),
            role: Role::Promoter,
            scope: ModelScope::All,
        };
        assert!(promoter.has(Role::Reader) && promoter.has(Role::Editor));
        assert!(promoter.has(Role::Promoter) && !promoter.has(Role::Admin));
    }

    #[test]
    fn model_patterns_are_checked() {
        assert!(check_model_patterns(&["fraud-*".into(), "bc".into()]).is_ok());
        for bad in [
            vec![],
            vec!["".to_owned()],
            vec!["../x".into()],
            vec!["A*".into()],
        ] {
            assert!(check_model_patterns(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secrets_have_a_recognisable_shape() {
        let secret = secret_from(&[7; 32]);
        assert!(looks_like_secret(&secret));
        assert!(!looks_like_secret("capstan_xyz"));
        assert_eq!(secret_hash(&secret).len(), 64);
        assert_ne!(secret_hash(&secret), secret_hash("other"));
    }
}
