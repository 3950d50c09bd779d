//! A registered model as read from MLflow, reduced to what an import compares and copies:
//! [`SourceModel`] and [`SourceVersion`], built from the wire shapes, and how MLflow's
//! key/value tags become Capstan's string tags. No I/O.

use serde::Serialize;

use super::wire;
use crate::types::{MAX_TAGS, MAX_TAG_LEN, MAX_TEXT_LEN};

/// A model version's `current_stage` in MLflow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum MlflowStage {
    None,
    Staging,
    Production,
    Archived,
    /// Anything else a server may answer.
    Other(String),
}

impl MlflowStage {
    pub fn parse(text: Option<&str>) -> Self {
        match text.unwrap_or("None") {
            "" | "None" => MlflowStage::None,
            "Staging" => MlflowStage::Staging,
            "Production" => MlflowStage::Production,
            "Archived" => MlflowStage::Archived,
            other => MlflowStage::Other(other.to_owned()),
        }
    }
}

/// A version as MLflow holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceVersion {
    pub number: i64,
    pub stage: MlflowStage,
    /// `READY`, `PENDING_REGISTRATION`, `FAILED_REGISTRATION`.
    pub status: String,
    pub description: Option<String>,
    pub tags: Vec<(String, String)>,
    /// Where the model came from (`models:/m-…`, `runs:/…/model`, a path).
    pub source: Option<String>,
    pub run_id: Option<String>,
}

impl SourceVersion {
    pub fn is_ready(&self) -> bool {
        self.status == "READY"
    }
}

/// A registered model as MLflow holds it, versions in ascending order.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceModel {
    pub name: String,
    pub description: Option<String>,
    pub tags: Vec<(String, String)>,
    /// Alias → version number.
    pub aliases: Vec<(String, i64)>,
    pub versions: Vec<SourceVersion>,
}

impl SourceModel {
    pub fn version(&self, number: i64) -> Option<&SourceVersion> {
        self.versions.iter().find(|v| v.number == number)
    }
}

/// What of a model's wire form could not be read (a version number that is not one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub item: String,
    pub reason: String,
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.is_empty())
}

fn pairs(tags: Vec<wire::KeyValue>) -> Vec<(String, String)> {
    tags.into_iter().map(|t| (t.key, t.value)).collect()
}

/// Builds the [`SourceModel`] of `model` and its `versions` (any order); what cannot be
/// read is returned beside it.
pub fn source_model(
    model: wire::RegisteredModel,
    versions: Vec<wire::ModelVersion>,
) -> (SourceModel, Vec<Unreadable>) {
    let mut unreadable = Vec::new();
    let mut numbers = Vec::new();
    for version in versions {
        match version.version.parse::<i64>() {
            Ok(number) if number > 0 => numbers.push(SourceVersion {
                number,
                stage: MlflowStage::parse(version.current_stage.as_deref()),
                status: version.status.unwrap_or_else(|| "READY".to_owned()),
                description: non_empty(version.description),
                tags: pairs(version.tags),
                source: non_empty(version.source),
                run_id: non_empty(version.run_id),
            }),
            _ => unreadable.push(Unreadable {
                item: format!("version {:?}", version.version),
                reason: "its number is not a positive integer".to_owned(),
            }),
        }
    }
    numbers.sort_by_key(|v| v.number);
    let mut aliases = Vec::new();
    for alias in model.aliases {
        match alias.version.parse::<i64>() {
            Ok(number) => aliases.push((alias.alias, number)),
            Err(_) => unreadable.push(Unreadable {
                item: format!("alias {}", alias.alias),
                reason: format!("it names version {:?}, not a number", alias.version),
            }),
        }
    }
    aliases.sort();
    let source = SourceModel {
        name: model.name,
        description: non_empty(model.description),
        tags: pairs(model.tags),
        aliases,
        versions: numbers,
    };
    (source, unreadable)
}

/// An MLflow tag as a Capstan tag: `key=value`, or `key` when the value is empty.
/// Refused (with the reason) when Capstan cannot hold it: longer than 128 characters,
/// blank, or with control characters.
pub fn capstan_tag(key: &str, value: &str) -> Result<String, String> {
    let tag = if value.is_empty() {
        key.to_owned()
    } else {
        format!("{key}={value}")
    };
    if tag.trim().is_empty() {
        return Err("a blank tag".to_owned());
    }
    if tag.chars().count() > MAX_TAG_LEN {
        return Err(format!(
            "`key=value` is {} characters; Capstan tags hold at most {MAX_TAG_LEN}",
            tag.chars().count()
        ));
    }
    if tag.chars().any(char::is_control) {
        return Err("it contains control characters (a newline, a tab)".to_owned());
    }
    Ok(tag)
}

/// The key of a Capstan tag made by [`capstan_tag`].
pub fn tag_key(tag: &str) -> &str {
    tag.split_once('=').map_or(tag, |(key, _)| key)
}

/// MLflow tags as Capstan tags: the ones Capstan can hold (at most 64), and the refused
/// ones as `(key, reason)`.
pub fn capstan_tags(tags: &[(String, String)]) -> (Vec<String>, Vec<(String, String)>) {
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for (key, value) in tags {
        match capstan_tag(key, value) {
            Ok(_) if kept.len() == MAX_TAGS => refused.push((
                key.clone(),
                format!("Capstan holds at most {MAX_TAGS} tags"),
            )),
            Ok(tag) => kept.push(tag),
            Err(reason) => refused.push((key.clone(), reason)),
        }
    }
    kept.sort();
    kept.dedup();
    (kept, refused)
}

/// A description Capstan can hold (at most 16 KiB, no NUL), or why not.
pub fn capstan_text(text: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT_LEN {
        return Err(format!(
            "it is {} bytes; Capstan holds at most {MAX_TEXT_LEN}",
            text.len()
        ));
    }
    if text.contains('\0') {
        return Err("it contains a NUL character".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(number: &str, stage: &str) -> wire::ModelVersion {
        wire::ModelVersion {
            name: "bc".into(),
            version: number.into(),
            current_stage: Some(stage.into()),
            status: Some("READY".into()),
            description: Some(String::new()),
            run_id: Some(String::new()),
            ..Default::default()
        }
    }

    #[test]
    fn versions_come_sorted_and_empty_texts_are_none() {
        let model = wire::RegisteredModel {
            name: "bc".into(),
            description: Some(String::new()),
            aliases: vec![
                wire::RegisteredModelAlias {
                    alias: "champion".into(),
                    version: "4".into(),
                },
                wire::RegisteredModelAlias {
                    alias: "odd".into(),
                    version: "four".into(),
                },
            ],
            ..Default::default()
        };
        let (source, unreadable) = source_model(
            model,
            vec![
                version("4", "Production"),
                version("1", "Archived"),
                version("x", "None"),
            ],
        );
        let numbers: Vec<i64> = source.versions.iter().map(|v| v.number).collect();
        assert_eq!(numbers, [1, 4]);
        assert_eq!(source.versions[0].stage, MlflowStage::Archived);
        assert_eq!(source.versions[0].description, None);
        assert_eq!(source.versions[0].run_id, None);
        assert_eq!(source.description, None);
        assert_eq!(source.aliases, [("champion".to_owned(), 4)]);
        assert_eq!(unreadable.len(), 2, "{unreadable:?}");
    }

    #[test]
    fn tags_become_key_value_strings_or_are_refused() {
        assert_eq!(capstan_tag("team", "ml").unwrap(), "team=ml");
        assert_eq!(capstan_tag("reviewed", "").unwrap(), "reviewed");
        assert!(capstan_tag("k", &"v".repeat(200)).is_err());
        assert!(capstan_tag("k", "two\nlines").is_err());
        assert!(capstan_tag(" ", "").is_err());
        assert_eq!(tag_key("team=ml=x"), "team");
        assert_eq!(tag_key("reviewed"), "reviewed");
        let many: Vec<(String, String)> =
            (0..70).map(|i| (format!("k{i:02}"), "v".into())).collect();
        let (kept, refused) = capstan_tags(&many);
        assert_eq!(kept.len(), 64);
        assert_eq!(refused.len(), 6);
    }

    #[test]
    fn stages() {
        assert_eq!(MlflowStage::parse(None), MlflowStage::None);
        assert_eq!(MlflowStage::parse(Some("None")), MlflowStage::None);
        assert_eq!(
            MlflowStage::parse(Some("Production")),
            MlflowStage::Production
        );
        assert_eq!(
            MlflowStage::parse(Some("Deleted_Internal")),
            MlflowStage::Other("Deleted_Internal".into())
        );
    }
}
