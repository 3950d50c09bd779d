//! Names users choose: `ModelName` and `AliasName`. Parsing is the only way to make one,
//! so a name that reached a handler, a store key or a subject token is known to be safe.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MAX_MODEL_NAME: usize = 128;
const MAX_ALIAS_NAME: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} {shown:?} is longer than {max} characters")]
    TooLong {
        kind: &'static str,
        shown: String,
        max: usize,
    },
    #[error("{kind} {shown:?} must start with a lowercase letter or digit and contain only `a-z`, `0-9`, `.`, `_` and `-`")]
    Charset { kind: &'static str, shown: String },
    #[error("{kind} {shown:?} must not contain `..`")]
    DotDot { kind: &'static str, shown: String },
    #[error("alias {shown:?} is reserved: aliases cannot be numbers, stage names or `latest`")]
    Reserved { shown: String },
}

fn shown(text: &str) -> String {
    text.chars().take(140).collect()
}

/// `[a-z0-9][a-z0-9._-]{0,max-1}` and no `..`: the shape shared by model and alias names.
fn check_slug(kind: &'static str, text: &str, max: usize) -> Result<(), NameError> {
    let mut bytes = text.bytes();
    let Some(first) = bytes.next() else {
        return Err(NameError::Empty { kind });
    };
    let lower_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !lower_alnum(first) || !bytes.all(|b| lower_alnum(b) || matches!(b, b'.' | b'_' | b'-')) {
        return Err(NameError::Charset {
            kind,
            shown: shown(text),
        });
    }
    if text.len() > max {
        return Err(NameError::TooLong {
            kind,
            shown: shown(text),
            max,
        });
    }
    if text.contains("..") {
        return Err(NameError::DotDot {
            kind,
            shown: shown(text),
        });
    }
    Ok(())
}

macro_rules! string_newtype {
    ($ty:ident, $pattern:literal, $example:literal) => {
        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some($pattern))
                    .examples([serde_json::json!($example)])
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $ty {}
    };
}

/// A model's name: `[a-z0-9][a-z0-9._-]{0,127}`, never containing `..`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelName(String);

impl ModelName {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        check_slug("model name", text, MAX_MODEL_NAME)?;
        Ok(Self(text.to_owned()))
    }
}

string_newtype!(ModelName, r"^(?!.*\.\.)[a-z0-9][a-z0-9._-]{0,127}$", "bc");

/// An alias: a free, user-managed pointer to a version (`champion`, `canary`). Same shape
/// as a model name (at most 64 characters), but never all digits, a stage name or `latest`,
/// so a ref is never ambiguous.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AliasName(String);

impl AliasName {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        check_slug("alias", text, MAX_ALIAS_NAME)?;
        let numeric = text.bytes().all(|b| b.is_ascii_digit());
        let reserved = matches!(text, "latest" | "staging" | "production" | "archived");
        if numeric || reserved {
            return Err(NameError::Reserved { shown: shown(text) });
        }
        Ok(Self(text.to_owned()))
    }
}

string_newtype!(
    AliasName,
    r"^(?![0-9]+$)(?!(?:staging|production|latest)$)(?!.*\.\.)[a-z0-9][a-z0-9._-]{0,63}$",
    "champion"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_model_names() {
        for good in ["bc", "0", "fraud-v2", "a.b_c-d", &"a".repeat(128)] {
            assert!(ModelName::parse(good).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn rejects_bad_model_names() {
        for bad in [
            "",
            "..",
            "a..b",
            "../etc",
            "%2e%2e",
            "a/b",
            "a\\b",
            "/abs",
            "Upper",
            "-lead",
            ".lead",
            "_lead",
            "a b",
            "a#b",
            "a;b",
            "a@b",
            "ｂｃ",
            "bс", // Cyrillic es
            "a\u{0}b",
            &"a".repeat(129),
        ] {
            assert!(ModelName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn aliases_cannot_shadow_other_refs() {
        for bad in [
            "7",
            "007",
            "latest",
            "staging",
            "production",
            "archived",
            "",
        ] {
            assert!(AliasName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(AliasName::parse("champion").is_ok());
        assert!(AliasName::parse("v7").is_ok());
    }
}
