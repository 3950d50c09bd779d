//! The import plan: a pure function of what MLflow holds ([`SourceModel`]) and what
//! Capstan holds ([`TargetState`]) that returns the steps making Capstan match, and what
//! cannot be copied and why. No I/O: the executor (`execute.rs`) carries the steps out,
//! and `--dry-run` prints them.
//!
//! The rules, in the order the steps run:
//! - the model is created, or its description and tags updated (Capstan tags whose key
//!   MLflow does not use are kept);
//! - versions in ascending order, keeping their numbers: absent ones are copied, ready
//!   ones verified (their digest against the source's files), pending ones (an import cut
//!   off) finished. A number below one Capstan already has can no longer be created;
//!   versions MLflow does not hold as `READY` are not copied;
//! - stages: Capstan holds one version per stage, so of several MLflow versions in a
//!   stage the highest-numbered takes it and the others are reported;
//! - `Archived` versions are archived (after the promotions, which may move a stage off
//!   them); Capstan cannot unarchive;
//! - aliases last (archiving removes the aliases of a version); Capstan aliases never
//!   point at archived versions.
//!
//! Stages and aliases Capstan has and MLflow does not are left alone. The pointer rules
//! are in `pointers.rs`; which Capstan name a model gets is `names.rs`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::pointers;
use super::source::{capstan_tags, capstan_text, tag_key, SourceModel};
use crate::digest::Digest;
use crate::names::{AliasName, ModelName};
use crate::reference::Stage;
use crate::types::{Model, UpdateModel, Version, VersionStatus};

/// Capstan's side of one model: the model and all its versions.
#[derive(Clone, Debug)]
pub struct TargetState {
    pub model: Model,
    pub versions: Vec<Version>,
}

/// Something the plan reports about an item: why it is not copied, or that it is in
/// place already.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Note {
    /// `model`, `version 3`, `stage production`, `alias champion`, `version 3 tag k`…
    pub item: String,
    pub detail: String,
}

pub(super) fn note(item: impl Into<String>, detail: impl Into<String>) -> Note {
    Note {
        item: item.into(),
        detail: detail.into(),
    }
}

/// What happens to the model itself.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelStep {
    Create {
        description: Option<String>,
        tags: Vec<String>,
    },
    Update(UpdateModel),
    Unchanged,
}

/// What happens to one version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionAction {
    /// Create the version with this number and copy its files.
    Copy,
    /// Capstan holds it `ready`: compare its digest with the source's files.
    Verify { digest: Option<Digest> },
    /// Capstan holds it `pending` (an import cut off): finish it if the files match.
    Resume,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VersionStep {
    pub number: i64,
    pub action: VersionAction,
    /// The metadata a copied version gets.
    pub description: Option<String>,
    pub tags: Vec<String>,
}

/// A move of a pointer, run after the versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PointerStep {
    Promote { stage: Stage, version: i64 },
    Archive { version: i64 },
    SetAlias { alias: AliasName, version: i64 },
}

impl PointerStep {
    /// The version the step needs in Capstan.
    pub fn version(&self) -> i64 {
        match self {
            PointerStep::Promote { version, .. }
            | PointerStep::Archive { version }
            | PointerStep::SetAlias { version, .. } => *version,
        }
    }

    pub fn item(&self) -> String {
        match self {
            PointerStep::Promote { stage, .. } => format!("stage {stage}"),
            PointerStep::Archive { version } => format!("archive version {version}"),
            PointerStep::SetAlias { alias, .. } => format!("alias {alias}"),
        }
    }
}

/// Every step for one model, and what will not be copied.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelPlan {
    /// The MLflow name.
    pub source: String,
    pub target: ModelName,
    pub model: ModelStep,
    pub versions: Vec<VersionStep>,
    pub pointers: Vec<PointerStep>,
    /// Items already as MLflow has them.
    pub unchanged: Vec<Note>,
    /// Items that cannot be copied, and why.
    pub refused: Vec<Note>,
}

/// The plan for one model (see the module header).
pub fn plan_model(
    source: &SourceModel,
    target_name: ModelName,
    target: Option<&TargetState>,
) -> ModelPlan {
    let mut plan = ModelPlan {
        source: source.name.clone(),
        target: target_name,
        model: ModelStep::Unchanged,
        versions: Vec::new(),
        pointers: Vec::new(),
        unchanged: Vec::new(),
        refused: Vec::new(),
    };
    plan.model = plan_model_step(source, target, &mut plan.refused);
    plan_versions(source, target, &mut plan);
    let copied: BTreeSet<i64> = plan.versions.iter().map(|v| v.number).collect();
    let holders = pointers::plan_stages(source, target, &copied, &mut plan);
    pointers::plan_archives(source, target, &copied, &holders, &mut plan);
    pointers::plan_aliases(source, target, &copied, &mut plan);
    plan
}

fn plan_model_step(
    source: &SourceModel,
    target: Option<&TargetState>,
    refused: &mut Vec<Note>,
) -> ModelStep {
    let (tags, bad_tags) = capstan_tags(&source.tags);
    for (key, reason) in bad_tags {
        refused.push(note(format!("model tag {key}"), reason));
    }
    let description = source
        .description
        .clone()
        .filter(|text| match capstan_text(text) {
            Ok(()) => true,
            Err(reason) => {
                refused.push(note("model description", reason));
                false
            }
        });
    let Some(target) = target else {
        return ModelStep::Create { description, tags };
    };
    let keys: BTreeSet<&str> = tags.iter().map(|t| tag_key(t)).collect();
    let mut wanted: Vec<String> = target
        .model
        .tags
        .iter()
        .filter(|t| !keys.contains(tag_key(t)))
        .cloned()
        .chain(tags.iter().cloned())
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut current = target.model.tags.clone();
    current.sort();
    let update = UpdateModel {
        description: description.filter(|d| target.model.description.as_ref() != Some(d)),
        tags: (wanted != current).then_some(wanted),
    };
    if update.description.is_none() && update.tags.is_none() {
        ModelStep::Unchanged
    } else {
        ModelStep::Update(update)
    }
}

fn plan_versions(source: &SourceModel, target: Option<&TargetState>, plan: &mut ModelPlan) {
    let existing: BTreeMap<i64, &Version> = target
        .map(|t| t.versions.iter().map(|v| (v.version, v)).collect())
        .unwrap_or_default();
    let highest = existing.keys().next_back().copied();
    for version in &source.versions {
        let item = format!("version {}", version.number);
        if !version.is_ready() {
            plan.refused.push(note(
                item,
                format!(
                    "MLflow holds it as {}: there are no files to copy",
                    version.status
                ),
            ));
            continue;
        }
        let action = match existing.get(&version.number) {
            Some(v) if v.status == VersionStatus::Ready => {
                VersionAction::Verify { digest: v.digest }
            }
            Some(v) if v.status == VersionStatus::Pending => VersionAction::Resume,
            Some(_) => {
                plan.refused.push(note(
                    item,
                    "Capstan holds this number as a failed version, and a number is never reused",
                ));
                continue;
            }
            None => match highest {
                Some(highest) if highest > version.number => {
                    plan.refused.push(note(
                        item,
                        format!(
                            "Capstan already has version {highest} of {}, and new version numbers only go up",
                            plan.target
                        ),
                    ));
                    continue;
                }
                _ => VersionAction::Copy,
            },
        };
        let (tags, bad_tags) = capstan_tags(&version.tags);
        for (key, reason) in bad_tags {
            plan.refused.push(note(format!("{item} tag {key}"), reason));
        }
        let description = version
            .description
            .clone()
            .filter(|text| match capstan_text(text) {
                Ok(()) => true,
                Err(reason) => {
                    plan.refused
                        .push(note(format!("{item} description"), reason));
                    false
                }
            });
        plan.versions.push(VersionStep {
            number: version.number,
            action,
            description,
            tags,
        });
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
