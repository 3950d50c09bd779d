//! The rules of the MLflow model-registry API over Capstan's resources, with no I/O:
//! MLflow tags as Capstan tags (`key=value`), MLflow stages, names Capstan can hold, and
//! the artifact URI of a version (the searches' `filter`, `order_by` and paging are in
//! `mlflow_search`). What they apply to is read and written by `service::mlflow`.

use capstan_client::types::{Version, VersionStatus};
use capstan_client::{AliasName, ModelName, Stage};

use super::error::{DomainError, DomainResult};

pub(super) fn invalid(detail: impl Into<String>) -> DomainError {
    DomainError::InvalidMlflowRequest {
        detail: detail.into(),
    }
}

/// An MLflow registered-model name as a Capstan model name; the error names the rule.
pub fn model_name(name: &str) -> DomainResult<ModelName> {
    ModelName::parse(name).map_err(|e| {
        invalid(format!(
            "Capstan cannot hold the model name {name:?}: {e} (names are 1–128 characters of \
             `a-z`, `0-9`, `.`, `_`, `-`, starting with a letter or digit, without `..`)"
        ))
    })
}

/// What an MLflow alias names: one of Capstan's stages (`production`, `staging`, which
/// Capstan aliases cannot be, and which MLflow clients name as aliases:
/// `models:/bc@production`), or a Capstan alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MlflowAlias {
    Stage(Stage),
    Alias(AliasName),
}

/// An MLflow alias as a stage or a Capstan alias.
pub fn mlflow_alias(alias: &str) -> DomainResult<MlflowAlias> {
    match alias.parse::<Stage>() {
        Ok(stage) => Ok(MlflowAlias::Stage(stage)),
        Err(_) => alias_name(alias).map(MlflowAlias::Alias),
    }
}

/// The aliases MLflow shows for a holder of `stages` with Capstan `aliases`: the stages'
/// names first.
pub fn aliases_with_stages(stages: &[Stage], aliases: &[String]) -> Vec<String> {
    stages
        .iter()
        .map(|stage| stage.as_str().to_owned())
        .chain(aliases.iter().cloned())
        .collect()
}

/// An MLflow alias as a Capstan alias.
pub fn alias_name(alias: &str) -> DomainResult<AliasName> {
    AliasName::parse(alias)
        .map_err(|e| invalid(format!("Capstan cannot hold the alias {alias:?}: {e}")))
}

/// An MLflow version (a string of digits) as a version number.
pub fn version_number(version: &str) -> DomainResult<i64> {
    version
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            invalid(format!(
                "version must be a positive integer, got {version:?}"
            ))
        })
}

/// The Capstan tag holding MLflow's `{key, value}`: `key=value`, or `key` alone for an
/// empty value. Keys must not contain `=` (it separates the key from the value).
pub fn tag_of(key: &str, value: &str) -> DomainResult<String> {
    if key.trim().is_empty() {
        return Err(invalid("a tag key must not be empty"));
    }
    if key.contains('=') {
        return Err(invalid(format!(
            "tag key {key:?} contains `=`: Capstan stores an MLflow tag as `key=value`, so keys \
             cannot contain `=`"
        )));
    }
    Ok(if value.is_empty() {
        key.to_owned()
    } else {
        format!("{key}={value}")
    })
}

/// MLflow's `{key, value}` of a Capstan tag (split at the first `=`).
pub fn key_value(tag: &str) -> (&str, &str) {
    tag.split_once('=').unwrap_or((tag, ""))
}

/// `tags` with the tag of `key` set to `value` (replacing the key's tags).
pub fn with_tag(tags: &[String], key: &str, value: &str) -> DomainResult<Vec<String>> {
    let tag = tag_of(key, value)?;
    let mut tags: Vec<String> = tags
        .iter()
        .filter(|t| key_value(t).0 != key)
        .cloned()
        .collect();
    tags.push(tag);
    Ok(tags)
}

/// `tags` without the tags of `key`, or `None` when no tag has that key.
pub fn without_tag(tags: &[String], key: &str) -> Option<Vec<String>> {
    let kept: Vec<String> = tags
        .iter()
        .filter(|t| key_value(t).0 != key)
        .cloned()
        .collect();
    (kept.len() != tags.len()).then_some(kept)
}

/// MLflow's stages. `Staging` and `Production` are Capstan's stage pointers (one version
/// each), `Archived` an archived version, `None` neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlflowStage {
    None,
    Staging,
    Production,
    Archived,
}

impl MlflowStage {
    pub const ALL: [MlflowStage; 4] = [
        MlflowStage::None,
        MlflowStage::Staging,
        MlflowStage::Production,
        MlflowStage::Archived,
    ];

    /// As MLflow spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MlflowStage::None => "None",
            MlflowStage::Staging => "Staging",
            MlflowStage::Production => "Production",
            MlflowStage::Archived => "Archived",
        }
    }

    /// Case-insensitively, as MLflow accepts it.
    pub fn parse(text: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|stage| stage.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                invalid(format!(
                    "invalid model version stage {text:?}: expected one of None, Staging, \
                     Production, Archived"
                ))
            })
    }
}

/// The MLflow stage of a version: the stage pointer it holds (Production first, as a
/// Capstan version may hold both), else `Archived` when archived, else `None`.
pub fn stage_of(version: &Version) -> MlflowStage {
    if version.stages.contains(&Stage::Production) {
        MlflowStage::Production
    } else if version.stages.contains(&Stage::Staging) {
        MlflowStage::Staging
    } else if version.archived_at.is_some() {
        MlflowStage::Archived
    } else {
        MlflowStage::None
    }
}

/// MLflow's status of a version.
pub fn status_of(version: &Version) -> &'static str {
    match version.status {
        VersionStatus::Pending => "PENDING_REGISTRATION",
        VersionStatus::Ready => "READY",
        VersionStatus::Failed => "FAILED_REGISTRATION",
    }
}

/// The param a version's MLflow `run_id` is kept in.
pub const RUN_ID_PARAM: &str = "mlflow.run_id";

/// A version's MLflow `run_id`: its `mlflow.run_id` param, if it has one.
pub fn run_id_of(version: &Version) -> Option<&str> {
    version.params.get(RUN_ID_PARAM)?.as_str()
}

/// Where the MLflow client downloads a version's files: the registry's MLflow artifact
/// proxy, under the base URL the request came to.
pub fn version_artifact_uri(base: &str, model: &str, version: i64) -> String {
    let base = base.trim_end_matches('/');
    format!("{base}/api/2.0/mlflow-artifacts/artifacts/models/{model}/versions/{version}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tags_are_key_equals_value() {
        assert_eq!(tag_of("team", "risk").unwrap(), "team=risk");
        assert_eq!(tag_of("flag", "").unwrap(), "flag");
        assert!(tag_of("a=b", "c").is_err());
        assert!(tag_of("", "c").is_err());
        assert_eq!(key_value("team=risk=high"), ("team", "risk=high"));
        assert_eq!(key_value("flag"), ("flag", ""));
        let tags = with_tag(&["team=a".into(), "x".into()], "team", "b").unwrap();
        assert_eq!(tags, ["x", "team=b"]);
        assert_eq!(without_tag(&tags, "team").unwrap(), ["x"]);
        assert!(without_tag(&tags, "nope").is_none());
    }

    #[test]
    fn stages_parse_case_insensitively() {
        assert_eq!(
            MlflowStage::parse("production").unwrap(),
            MlflowStage::Production
        );
        assert_eq!(MlflowStage::parse("None").unwrap(), MlflowStage::None);
        assert!(MlflowStage::parse("prod").is_err());
    }

    #[test]
    fn names_capstan_cannot_hold_are_refused_with_the_rule() {
        let error = model_name("My Model").unwrap_err().to_string();
        assert!(error.contains("a-z"), "{error}");
        assert!(model_name("my-model").is_ok());
    }

    #[test]
    fn artifact_uri() {
        assert_eq!(
            version_artifact_uri("http://h:1/", "bc", 3),
            "http://h:1/api/2.0/mlflow-artifacts/artifacts/models/bc/versions/3"
        );
    }
}
