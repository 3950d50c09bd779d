//! [`import`]: reads the chosen MLflow models, reads Capstan's side of each, plans
//! (`plan.rs`) and — unless it is a dry run — carries the plan out: the model, then the
//! versions in ascending order (`copy.rs`), then stages, archives and aliases. Every step's
//! outcome lands in the [`ImportReport`]; one model failing does not stop the others.
//!
//! A version that could not be copied for a reason that may pass (MLflow or Capstan
//! unreachable) holds back the later versions of its model: Capstan creates numbers only
//! upwards, so creating them first would shut it out for good. A second run picks up
//! where this one stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::copy::VersionCopier;
use super::names::choose_names;
use super::plan::{plan_model, ModelPlan, ModelStep, PointerStep, TargetState};
use super::plan::{VersionAction, VersionStep};
use super::reader::MlflowReader;
use super::report::{pointer_detail, ImportReport, OutcomeStatus};
use super::source::{source_model, SourceModel};
use super::{wire, MlflowError};
use crate::cache::Progress;
use crate::error::ErrorKind;
use crate::http::{Client, Promotion};
use crate::names::ModelName;
use crate::types::{CreateModel, NewVersion, PromoteRequest, SetAlias};

/// What to import.
#[derive(Clone, Debug, Default)]
pub struct ImportRequest {
    /// MLflow model names; empty: every registered model.
    pub models: Vec<String>,
    /// MLflow name → Capstan name, for names Capstan cannot hold (or to choose another).
    pub renames: BTreeMap<String, ModelName>,
    /// Plan only: read both sides, change nothing.
    pub dry_run: bool,
}

/// Imports `request`'s models from `reader`'s MLflow into `capstan` (see the module
/// header). `Err` only when MLflow cannot be read at all; everything else is in the
/// report.
pub async fn import(
    reader: &MlflowReader,
    capstan: &Client,
    request: &ImportRequest,
    progress: Box<dyn Progress>,
) -> Result<ImportReport, MlflowError> {
    let mut report = ImportReport::new(reader.base().as_str(), request.dry_run);
    let models = read_models(reader, request, &mut report).await?;
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    if request.models.is_empty() {
        for old in request.renames.keys().filter(|old| !names.contains(old)) {
            report.add(
                old,
                None,
                "rename",
                OutcomeStatus::NotCopied,
                "--rename names a model MLflow does not have",
            );
        }
    }
    let copier = VersionCopier {
        reader,
        capstan,
        progress: &Mutex::new(progress),
        origin: format!("imported from MLflow at {}", reader.base()),
    };
    for (model, (source, name)) in models
        .into_iter()
        .zip(choose_names(&names, &request.renames))
    {
        let target = match name {
            Ok(target) => target,
            Err(reason) => {
                report.add(&source, None, "model", OutcomeStatus::NotCopied, reason);
                continue;
            }
        };
        if let Err(reason) =
            import_model(&copier, model, &target, request.dry_run, &mut report).await
        {
            report.add(
                &source,
                Some(target.as_str()),
                "model",
                OutcomeStatus::NotCopied,
                reason,
            );
        }
    }
    Ok(report)
}

/// The registered models `request` names (those MLflow lacks reported), or all of them.
async fn read_models(
    reader: &MlflowReader,
    request: &ImportRequest,
    report: &mut ImportReport,
) -> Result<Vec<wire::RegisteredModel>, MlflowError> {
    if request.models.is_empty() {
        let mut models = reader.registered_models().await?;
        models.sort_by(|a, b| a.name.cmp(&b.name));
        return Ok(models);
    }
    let mut models = Vec::new();
    for name in &request.models {
        match reader.registered_model(name).await? {
            Some(model) => models.push(model),
            None => report.add(
                name,
                None,
                "model",
                OutcomeStatus::NotCopied,
                "MLflow has no registered model of this name",
            ),
        }
    }
    Ok(models)
}

/// Capstan's side of `name`: `None` when it has no such model.
async fn read_target(
    capstan: &Client,
    name: &ModelName,
) -> crate::error::Result<Option<TargetState>> {
    let model = match capstan.get_model(name).await {
        Ok(model) => model,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let versions = capstan.list_all_versions(name, usize::MAX).await?;
    Ok(Some(TargetState { model, versions }))
}

async fn import_model(
    copier: &VersionCopier<'_>,
    model: wire::RegisteredModel,
    target: &ModelName,
    dry_run: bool,
    report: &mut ImportReport,
) -> Result<(), String> {
    let versions = copier
        .reader
        .model_versions(&model.name)
        .await
        .map_err(|e| format!("reading its versions from MLflow failed: {e}"))?;
    let (source, unreadable) = source_model(model, versions);
    for item in unreadable {
        let name = Some(target.as_str());
        report.add(
            &source.name,
            name,
            item.item,
            OutcomeStatus::NotCopied,
            item.reason,
        );
    }
    let state = read_target(copier.capstan, target)
        .await
        .map_err(|e| format!("reading {target} from Capstan failed: {e}"))?;
    let plan = plan_model(&source, target.clone(), state.as_ref());
    if dry_run {
        report.add_plan(&plan);
        return Ok(());
    }
    run_model_step(copier, &plan, report).await?;
    let available = run_versions(copier, &source, &plan, report).await;
    run_pointers(copier, &plan, &available, report).await;
    report.add_notes(&plan, &plan.unchanged, OutcomeStatus::Unchanged);
    report.add_notes(&plan, &plan.refused, OutcomeStatus::NotCopied);
    Ok(())
}

/// Creates or updates the model; `Err` when it could not be created (nothing else can be
/// copied then).
async fn run_model_step(
    copier: &VersionCopier<'_>,
    plan: &ModelPlan,
    report: &mut ImportReport,
) -> Result<(), String> {
    let (source, target) = (plan.source.as_str(), Some(plan.target.as_str()));
    match &plan.model {
        ModelStep::Create { description, tags } => {
            let create = CreateModel {
                name: plan.target.clone(),
                description: description.clone(),
                tags: Some(tags.clone()),
            };
            copier
                .capstan
                .create_model(&create)
                .await
                .map_err(|e| format!("creating it in Capstan failed: {e}"))?;
            report.add(source, target, "model", OutcomeStatus::Copied, "created");
        }
        ModelStep::Update(update) => {
            match copier.capstan.update_model(&plan.target, update).await {
                Ok(_) => report.add(
                    source,
                    target,
                    "model",
                    OutcomeStatus::Copied,
                    "description and tags updated",
                ),
                Err(error) => report.add(
                    source,
                    target,
                    "model",
                    OutcomeStatus::NotCopied,
                    format!("updating its description and tags failed: {error}"),
                ),
            }
        }
        ModelStep::Unchanged => report.add(
            source,
            target,
            "model",
            OutcomeStatus::Unchanged,
            "description and tags as in MLflow",
        ),
    }
    Ok(())
}

/// Runs the version steps; returns the numbers Capstan holds as MLflow has them.
async fn run_versions(
    copier: &VersionCopier<'_>,
    source: &SourceModel,
    plan: &ModelPlan,
    report: &mut ImportReport,
) -> BTreeSet<i64> {
    let (name, target) = (plan.source.as_str(), &plan.target);
    let mut available = BTreeSet::new();
    let mut held_back_by: Option<i64> = None;
    for step in &plan.versions {
        let item = format!("version {}", step.number);
        let Some(version) = source.version(step.number) else {
            continue;
        };
        if let (Some(first), VersionAction::Copy) = (held_back_by, &step.action) {
            report.add(
                name,
                Some(target.as_str()),
                item,
                OutcomeStatus::NotCopied,
                format!(
                    "waits for version {first}, which could not be copied (Capstan creates numbers only upwards): run the import again"
                ),
            );
            continue;
        }
        let outcome = match &step.action {
            VersionAction::Copy => copier
                .copy(name, target, version, new_version(step, version))
                .await
                .map(|(detail, omissions)| (OutcomeStatus::Copied, detail, omissions)),
            VersionAction::Verify { .. } => copier
                .verify(name, target, step.number)
                .await
                .map(|detail| (OutcomeStatus::Unchanged, detail, Vec::new())),
            VersionAction::Resume => copier
                .resume(name, target, step.number)
                .await
                .map(|detail| (OutcomeStatus::Copied, detail, Vec::new())),
        };
        match outcome {
            Ok((status, detail, omissions)) => {
                available.insert(step.number);
                report.add(name, Some(target.as_str()), item.clone(), status, detail);
                for (what, reason) in omissions {
                    let what = format!("{item} {what}");
                    report.add(
                        name,
                        Some(target.as_str()),
                        what,
                        OutcomeStatus::NotCopied,
                        reason,
                    );
                }
            }
            Err(failure) => {
                if failure.blocks && step.action == VersionAction::Copy {
                    held_back_by = held_back_by.or(Some(step.number));
                }
                let status = OutcomeStatus::NotCopied;
                report.add(name, Some(target.as_str()), item, status, failure.reason);
            }
        }
    }
    available
}

/// The metadata of a copied version (files, format, metrics and params are added by the
/// copy).
fn new_version(step: &VersionStep, version: &super::source::SourceVersion) -> NewVersion {
    let mut tags = step.tags.clone();
    if let Some(run_id) = &version.run_id {
        tags.push(format!("mlflow.run_id={run_id}"));
    }
    NewVersion {
        description: step.description.clone(),
        tags: Some(tags),
        source: version.source.clone(),
        ..NewVersion::default()
    }
}

async fn run_pointers(
    copier: &VersionCopier<'_>,
    plan: &ModelPlan,
    available: &BTreeSet<i64>,
    report: &mut ImportReport,
) {
    let (source, target) = (plan.source.as_str(), &plan.target);
    for step in &plan.pointers {
        let version = step.version();
        let (status, detail) = if !available.contains(&version) {
            (
                OutcomeStatus::NotCopied,
                format!("version {version} is not in Capstan as MLflow has it"),
            )
        } else {
            match run_pointer(copier, target, step).await {
                Ok(None) => (OutcomeStatus::Copied, pointer_detail(step)),
                Ok(Some(waiting)) => (OutcomeStatus::NotCopied, waiting),
                Err(error) => (
                    OutcomeStatus::NotCopied,
                    format!("Capstan refused: {error}"),
                ),
            }
        };
        report.add(source, Some(target.as_str()), step.item(), status, detail);
    }
}

/// Moves one pointer; `Some(why)` when a promotion policy made it a request instead.
async fn run_pointer(
    copier: &VersionCopier<'_>,
    target: &ModelName,
    step: &PointerStep,
) -> crate::error::Result<Option<String>> {
    let waiting = |id: &str| {
        Some(format!(
            "the model's promotion policy opened promotion request {id}, which waits for approval"
        ))
    };
    match step {
        PointerStep::Promote { stage, version } => {
            let request = PromoteRequest {
                version: *version,
                reason: Some(copier.origin.clone()),
                expected_version: None,
            };
            match copier
                .capstan
                .promote_governed(target, *stage, &request)
                .await?
            {
                Promotion::Done(_) => Ok(None),
                Promotion::Requested(request) => Ok(waiting(&request.id)),
            }
        }
        PointerStep::Archive { version } => {
            let number = crate::reference::VersionRef::Number(*version);
            copier
                .capstan
                .archive_version_because(target, &number, Some(&copier.origin))
                .await?;
            Ok(None)
        }
        PointerStep::SetAlias { alias, version } => {
            match copier
                .capstan
                .set_alias_governed(
                    target,
                    alias,
                    &SetAlias {
                        version: *version,
                        reason: Some(copier.origin.clone()),
                    },
                )
                .await?
            {
                Promotion::Done(_) => Ok(None),
                Promotion::Requested(request) => Ok(waiting(&request.id)),
            }
        }
    }
}
