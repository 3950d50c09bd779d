//! The pointer part of the import plan (see `plan.rs`): which version takes each stage
//! (of several MLflow versions in one, the highest-numbered), which versions are archived
//! (after the promotions), which aliases move (never onto an archived version). Pure.

use std::collections::{BTreeMap, BTreeSet};

use super::plan::{note, ModelPlan, PointerStep, TargetState};
use super::source::{MlflowStage, SourceModel};
use crate::names::AliasName;
use crate::reference::Stage;
use crate::types::Version;

fn target_version(target: Option<&TargetState>, number: i64) -> Option<&Version> {
    target.and_then(|t| t.versions.iter().find(|v| v.version == number))
}

fn archived_in_capstan(target: Option<&TargetState>, number: i64) -> bool {
    target_version(target, number).is_some_and(|v| v.archived_at.is_some())
}

fn mlflow_stage(stage: Stage) -> (MlflowStage, &'static str) {
    match stage {
        Stage::Staging => (MlflowStage::Staging, "Staging"),
        Stage::Production => (MlflowStage::Production, "Production"),
    }
}

/// Plans the promotions; returns which version each stage will hold afterwards.
pub(super) fn plan_stages(
    source: &SourceModel,
    target: Option<&TargetState>,
    copied: &BTreeSet<i64>,
    plan: &mut ModelPlan,
) -> BTreeMap<Stage, i64> {
    let mut holders = BTreeMap::new();
    for stage in Stage::ALL {
        let (mlflow, label) = mlflow_stage(stage);
        let item = format!("stage {stage}");
        let current = target.and_then(|t| t.model.stages.get(stage));
        if let Some(current) = current {
            holders.insert(stage, current);
        }
        let in_stage: Vec<i64> = source
            .versions
            .iter()
            .filter(|v| v.is_ready() && v.stage == mlflow)
            .map(|v| v.number)
            .collect();
        let Some(&winner) = in_stage.last() else {
            if let Some(current) = current {
                plan.refused.push(note(
                    item,
                    format!(
                        "MLflow has no version in {label}; Capstan keeps version {current} there (a Capstan stage cannot be emptied)"
                    ),
                ));
            }
            continue;
        };
        for other in &in_stage[..in_stage.len() - 1] {
            plan.refused.push(note(
                format!("version {other} in {label}"),
                format!(
                    "MLflow has versions {} in {label}; Capstan holds one version per stage: the highest, {winner}, takes it",
                    list(&in_stage)
                ),
            ));
        }
        if !copied.contains(&winner) {
            plan.refused.push(note(
                item,
                format!("version {winner}, in {label} in MLflow, is not copied"),
            ));
        } else if archived_in_capstan(target, winner) {
            plan.refused.push(note(
                item,
                format!(
                    "version {winner} is archived in Capstan, and archived versions take no stage"
                ),
            ));
        } else if current == Some(winner) {
            plan.unchanged.push(note(item, format!("version {winner}")));
        } else {
            plan.pointers.push(PointerStep::Promote {
                stage,
                version: winner,
            });
            holders.insert(stage, winner);
        }
    }
    holders
}

pub(super) fn plan_archives(
    source: &SourceModel,
    target: Option<&TargetState>,
    copied: &BTreeSet<i64>,
    holders: &BTreeMap<Stage, i64>,
    plan: &mut ModelPlan,
) {
    for version in source.versions.iter().filter(|v| v.is_ready()) {
        let number = version.number;
        let item = format!("archive version {number}");
        let archived = archived_in_capstan(target, number);
        if version.stage != MlflowStage::Archived {
            if archived {
                plan.refused.push(note(
                    item,
                    "archived in Capstan but not in MLflow, and Capstan cannot unarchive a version",
                ));
            }
            continue;
        }
        if !copied.contains(&number) {
            continue;
        }
        if archived {
            plan.unchanged.push(note(item, "archived"));
        } else if let Some((stage, _)) = holders.iter().find(|(_, held)| **held == number) {
            plan.refused.push(note(
                item,
                format!(
                    "it holds Capstan's {stage} stage, which MLflow gives no version: a version holding a stage cannot be archived"
                ),
            ));
        } else {
            plan.pointers.push(PointerStep::Archive { version: number });
        }
    }
}

pub(super) fn plan_aliases(
    source: &SourceModel,
    target: Option<&TargetState>,
    copied: &BTreeSet<i64>,
    plan: &mut ModelPlan,
) {
    for (name, number) in &source.aliases {
        let item = format!("alias {name}");
        let alias = match AliasName::parse(name) {
            Ok(alias) => alias,
            Err(error) => {
                plan.refused.push(note(
                    item,
                    format!("Capstan cannot hold this alias: {error}"),
                ));
                continue;
            }
        };
        let archived = archived_in_capstan(target, *number)
            || source
                .version(*number)
                .is_some_and(|v| v.stage == MlflowStage::Archived);
        if !copied.contains(number) {
            plan.refused
                .push(note(item, format!("version {number} is not copied")));
        } else if archived {
            plan.refused.push(note(
                item,
                format!("version {number} is archived, and Capstan aliases never point at archived versions"),
            ));
        } else if target.and_then(|t| t.model.aliases.get(name)) == Some(number) {
            plan.unchanged.push(note(item, format!("version {number}")));
        } else {
            plan.pointers.push(PointerStep::SetAlias {
                alias,
                version: *number,
            });
        }
    }
}

fn list(numbers: &[i64]) -> String {
    let texts: Vec<String> = numbers.iter().map(i64::to_string).collect();
    texts.join(", ")
}
