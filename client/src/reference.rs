//! Refs: how every path names a version. `bc@7` (number), `bc@production` (stage),
//! `bc@champion` (alias), `bc@latest` or plain `bc` (newest ready version).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::names::{AliasName, ModelName, NameError};

/// A governed stage: at most one version per model holds each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Staging,
    Production,
}

impl Stage {
    pub const ALL: [Stage; 2] = [Stage::Staging, Stage::Production];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Staging => "staging",
            Stage::Production => "production",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefError {
    #[error("unknown stage {0:?}: expected `staging` or `production`")]
    Stage(String),
    #[error("version {0:?} is not a positive integer")]
    Version(String),
    #[error("ref {shown:?} is neither a version number, a stage, an alias nor `latest`: {source}")]
    Alias { shown: String, source: NameError },
    #[error("invalid model in ref: {0}")]
    Model(NameError),
}

impl FromStr for Stage {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "staging" => Ok(Stage::Staging),
            "production" => Ok(Stage::Production),
            other => Err(RefError::Stage(other.chars().take(64).collect())),
        }
    }
}

/// The part of a ref after `@`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VersionRef {
    Number(i64),
    Stage(Stage),
    Alias(AliasName),
    Latest,
}

impl VersionRef {
    pub fn parse(text: &str) -> Result<Self, RefError> {
        if text == "latest" {
            return Ok(VersionRef::Latest);
        }
        if let Ok(stage) = text.parse::<Stage>() {
            return Ok(VersionRef::Stage(stage));
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return match text.parse::<i64>() {
                Ok(n) if n > 0 => Ok(VersionRef::Number(n)),
                _ => Err(RefError::Version(text.chars().take(64).collect())),
            };
        }
        AliasName::parse(text)
            .map(VersionRef::Alias)
            .map_err(|source| RefError::Alias {
                shown: text.chars().take(140).collect(),
                source,
            })
    }
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRef::Number(n) => write!(f, "{n}"),
            VersionRef::Stage(stage) => write!(f, "{stage}"),
            VersionRef::Alias(alias) => write!(f, "{alias}"),
            VersionRef::Latest => f.write_str("latest"),
        }
    }
}

impl FromStr for VersionRef {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// `name@ref`; a bare `name` means `name@latest`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelRef {
    pub model: ModelName,
    pub version: VersionRef,
}

impl ModelRef {
    pub fn parse(text: &str) -> Result<Self, RefError> {
        let (model, version) = match text.split_once('@') {
            Some((model, version)) => (model, VersionRef::parse(version)?),
            None => (text, VersionRef::Latest),
        };
        let model = ModelName::parse(model).map_err(RefError::Model)?;
        Ok(Self { model, version })
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.model, self.version)
    }
}

impl FromStr for ModelRef {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

macro_rules! serde_via_display {
    ($ty:ident) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_via_display!(VersionRef);
serde_via_display!(ModelRef);

/// A ref in a path: a version number, a stage, an alias or `latest`, all of which have
/// the shape of an alias.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for VersionRef {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            // A version number that fits an i64, or a stage, `latest` or an alias.
            .pattern(Some(
                r"^(?:[1-9][0-9]{0,17}|(?![0-9]+$)(?!.*\.\.)[a-z0-9][a-z0-9._-]{0,63})$",
            ))
            .examples([serde_json::json!("production")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for VersionRef {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_ref() {
        assert_eq!(VersionRef::parse("7").unwrap(), VersionRef::Number(7));
        assert_eq!(
            VersionRef::parse("production").unwrap(),
            VersionRef::Stage(Stage::Production)
        );
        assert_eq!(VersionRef::parse("latest").unwrap(), VersionRef::Latest);
        assert!(matches!(
            VersionRef::parse("champion").unwrap(),
            VersionRef::Alias(_)
        ));
        let r = ModelRef::parse("bc@production").unwrap();
        assert_eq!(r.model.as_str(), "bc");
        assert_eq!(r.to_string(), "bc@production");
        assert_eq!(ModelRef::parse("bc").unwrap().version, VersionRef::Latest);
    }

    #[test]
    fn rejects_bad_refs() {
        for bad in ["0", "-1", "99999999999999999999", "", "..", "Prod", "a/b"] {
            assert!(VersionRef::parse(bad).is_err(), "{bad:?} parsed");
        }
        assert!(ModelRef::parse("../x@1").is_err());
        assert!(ModelRef::parse("bc@").is_err());
    }
}
