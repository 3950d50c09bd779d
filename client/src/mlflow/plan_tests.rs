use chrono::Utc;

use super::*;
use crate::mlflow::names::choose_names;
use crate::mlflow::source::{MlflowStage, SourceVersion};
use crate::types::{ArtifactLayout, StagePointers};

fn digest(byte: u8) -> Digest {
    Digest::from_bytes([byte; 32])
}

fn mlflow_version(number: i64, stage: MlflowStage) -> SourceVersion {
    SourceVersion {
        number,
        stage,
        status: "READY".into(),
        description: Some(format!("v{number}")),
        tags: vec![("k".into(), format!("{number}"))],
        source: Some(format!("models:/m-{number}")),
        run_id: Some(format!("run{number}")),
    }
}

/// `bc` in MLflow: 1 archived, 2 and 4 in Production, (3 deleted), 5 in Staging;
/// aliases champion → 4, old → 1.
fn mlflow_bc() -> SourceModel {
    SourceModel {
        name: "bc".into(),
        description: Some("breast cancer".into()),
        tags: vec![("team".into(), "ml".into())],
        aliases: vec![("champion".into(), 4), ("old".into(), 1)],
        versions: vec![
            mlflow_version(1, MlflowStage::Archived),
            mlflow_version(2, MlflowStage::Production),
            mlflow_version(4, MlflowStage::Production),
            mlflow_version(5, MlflowStage::Staging),
        ],
    }
}

fn capstan_version(number: i64, status: VersionStatus, archived: bool) -> Version {
    Version {
        model: ModelName::parse("bc").unwrap(),
        version: number,
        status,
        digest: Some(digest(number as u8)),
        size: Some(10),
        format: "mlflow".into(),
        stages: Vec::new(),
        aliases: Vec::new(),
        archived_at: archived.then(Utc::now),
        signature: None,
        metrics: BTreeMap::new(),
        params: BTreeMap::new(),
        tags: Vec::new(),
        source: None,
        description: None,
        created_at: Utc::now(),
        created_by: None,
        upload_url: None,
        layout: ArtifactLayout::Tree,
        files: Some(1),
        served_file: None,
        servable: false,
        unservable_reason: None,
    }
}

fn capstan_model(tags: &[&str], stages: StagePointers, aliases: &[(&str, i64)]) -> Model {
    Model {
        name: ModelName::parse("bc").unwrap(),
        description: Some("breast cancer".into()),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        stages,
        aliases: aliases.iter().map(|(a, v)| (a.to_string(), *v)).collect(),
        latest_version: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

/// Capstan after a complete import of [`mlflow_bc`].
fn imported_bc() -> TargetState {
    TargetState {
        model: capstan_model(
            &["team=ml"],
            StagePointers {
                staging: Some(5),
                production: Some(4),
            },
            &[("champion", 4)],
        ),
        versions: vec![
            capstan_version(1, VersionStatus::Ready, true),
            capstan_version(2, VersionStatus::Ready, false),
            capstan_version(4, VersionStatus::Ready, false),
            capstan_version(5, VersionStatus::Ready, false),
        ],
    }
}

fn name() -> ModelName {
    ModelName::parse("bc").unwrap()
}

fn refused_items(plan: &ModelPlan) -> Vec<&str> {
    plan.refused.iter().map(|n| n.item.as_str()).collect()
}

fn alias(name: &str) -> AliasName {
    AliasName::parse(name).unwrap()
}

#[test]
fn a_first_import_creates_everything_in_order() {
    let plan = plan_model(&mlflow_bc(), name(), None);
    assert_eq!(
        plan.model,
        ModelStep::Create {
            description: Some("breast cancer".into()),
            tags: vec!["team=ml".into()],
        }
    );
    let numbers: Vec<(i64, &VersionAction)> = plan
        .versions
        .iter()
        .map(|v| (v.number, &v.action))
        .collect();
    assert_eq!(
        numbers,
        [
            (1, &VersionAction::Copy),
            (2, &VersionAction::Copy),
            (4, &VersionAction::Copy),
            (5, &VersionAction::Copy)
        ],
        "numbers kept, the gap left"
    );
    assert_eq!(plan.versions[0].description.as_deref(), Some("v1"));
    assert_eq!(plan.versions[0].tags, ["k=1"]);
    assert_eq!(
        plan.pointers,
        [
            PointerStep::Promote {
                stage: Stage::Staging,
                version: 5
            },
            PointerStep::Promote {
                stage: Stage::Production,
                version: 4
            },
            PointerStep::Archive { version: 1 },
            PointerStep::SetAlias {
                alias: alias("champion"),
                version: 4
            },
        ]
    );
    assert_eq!(
        refused_items(&plan),
        ["version 2 in Production", "alias old"],
        "{:#?}",
        plan.refused
    );
    assert!(plan.refused[0].detail.contains("the highest, 4"));
    assert!(plan.refused[1].detail.contains("archived"));
    assert!(plan.unchanged.is_empty());
}

#[test]
fn a_second_import_only_verifies() {
    let target = imported_bc();
    let plan = plan_model(&mlflow_bc(), name(), Some(&target));
    assert_eq!(plan.model, ModelStep::Unchanged);
    assert!(plan.pointers.is_empty(), "{:#?}", plan.pointers);
    for step in &plan.versions {
        assert_eq!(
            step.action,
            VersionAction::Verify {
                digest: Some(digest(step.number as u8))
            }
        );
    }
    let unchanged: Vec<&str> = plan.unchanged.iter().map(|n| n.item.as_str()).collect();
    assert_eq!(
        unchanged,
        [
            "stage staging",
            "stage production",
            "archive version 1",
            "alias champion"
        ]
    );
    assert_eq!(
        refused_items(&plan),
        ["version 2 in Production", "alias old"]
    );
}

#[test]
fn stages_and_aliases_are_reconciled() {
    let mut target = imported_bc();
    target.model.stages.production = Some(2);
    target.model.aliases = [("champion".to_owned(), 5), ("mine".to_owned(), 2)].into();
    let plan = plan_model(&mlflow_bc(), name(), Some(&target));
    assert_eq!(
        plan.pointers,
        [
            PointerStep::Promote {
                stage: Stage::Production,
                version: 4
            },
            PointerStep::SetAlias {
                alias: alias("champion"),
                version: 4
            },
        ],
        "Capstan's own alias `mine` is left alone"
    );
}

#[test]
fn a_cut_off_import_is_resumed_and_continued() {
    let mut target = imported_bc();
    target.versions.truncate(2);
    target.versions[1].status = VersionStatus::Pending;
    target.model.stages = StagePointers::default();
    target.model.aliases.clear();
    let plan = plan_model(&mlflow_bc(), name(), Some(&target));
    let actions: Vec<&VersionAction> = plan.versions.iter().map(|v| &v.action).collect();
    assert_eq!(
        actions,
        [
            &VersionAction::Verify {
                digest: Some(digest(1))
            },
            &VersionAction::Resume,
            &VersionAction::Copy,
            &VersionAction::Copy,
        ]
    );
    assert_eq!(plan.pointers.len(), 3, "{:#?}", plan.pointers);
    assert!(!plan.pointers.contains(&PointerStep::Archive { version: 1 }));
    assert!(plan.unchanged.iter().any(|n| n.item == "archive version 1"));
}

#[test]
fn numbers_below_capstans_highest_cannot_be_created() {
    let mut target = imported_bc();
    target.versions.retain(|v| v.version != 2);
    let plan = plan_model(&mlflow_bc(), name(), Some(&target));
    assert!(plan.versions.iter().all(|v| v.number != 2));
    let refusal = plan.refused.iter().find(|n| n.item == "version 2").unwrap();
    assert!(refusal.detail.contains("only go up"), "{refusal:?}");
}

#[test]
fn failed_and_unready_versions_are_refused() {
    let mut source = mlflow_bc();
    source.versions[3].status = "PENDING_REGISTRATION".into();
    let mut target = imported_bc();
    target.versions[0].status = VersionStatus::Failed;
    target.versions.pop();
    target.model.stages.staging = None;
    let plan = plan_model(&source, name(), Some(&target));
    let numbers: Vec<i64> = plan.versions.iter().map(|v| v.number).collect();
    assert_eq!(numbers, [2, 4]);
    let items = refused_items(&plan);
    assert!(items.contains(&"version 1"), "{items:?}");
    assert!(items.contains(&"version 5"), "{items:?}");
    assert!(
        !plan
            .pointers
            .iter()
            .any(|p| p.version() == 5 || p.version() == 1),
        "no pointer moves to a version that is not copied: {:#?}",
        plan.pointers
    );
}

#[test]
fn what_capstan_cannot_undo_is_reported() {
    let mut source = mlflow_bc();
    // MLflow took version 1 out of the archive and put it in Staging; Production is empty.
    source.versions[0].stage = MlflowStage::Staging;
    source.versions[1].stage = MlflowStage::None;
    source.versions[2].stage = MlflowStage::None;
    source.versions[3].stage = MlflowStage::Archived;
    let target = imported_bc();
    let plan = plan_model(&source, name(), Some(&target));
    let items = refused_items(&plan);
    assert!(
        items.contains(&"stage staging"),
        "archived 1 cannot take it: {items:?}"
    );
    assert!(
        items.contains(&"stage production"),
        "cannot be emptied: {items:?}"
    );
    assert!(
        items.contains(&"archive version 1"),
        "no unarchiving: {items:?}"
    );
    assert!(
        items.contains(&"archive version 5"),
        "5 holds staging: {items:?}"
    );
    assert!(plan.pointers.is_empty(), "{:#?}", plan.pointers);
}

#[test]
fn a_version_moved_out_of_a_stage_is_archived_after_the_promotion() {
    let mut source = mlflow_bc();
    source.versions[2].stage = MlflowStage::Archived; // 4 archived, 2 alone in Production
    source.aliases.retain(|(a, _)| a != "champion");
    let target = imported_bc();
    let plan = plan_model(&source, name(), Some(&target));
    assert_eq!(
        plan.pointers,
        [
            PointerStep::Promote {
                stage: Stage::Production,
                version: 2
            },
            PointerStep::Archive { version: 4 },
        ]
    );
}

#[test]
fn model_metadata_is_updated_keeping_capstans_own_tags() {
    let mut source = mlflow_bc();
    source.tags = vec![
        ("team".into(), "platform".into()),
        ("x".into(), "y".repeat(200)),
    ];
    source.description = Some("new".into());
    let mut target = imported_bc();
    target.model.tags = vec!["team=ml".into(), "owner=me".into()];
    let plan = plan_model(&source, name(), Some(&target));
    assert_eq!(
        plan.model,
        ModelStep::Update(UpdateModel {
            description: Some("new".into()),
            tags: Some(vec!["owner=me".into(), "team=platform".into()]),
        })
    );
    assert_eq!(refused_items(&plan)[0], "model tag x");
    source.description = None;
    target.model.tags = vec!["owner=me".into(), "team=platform".into()];
    let plan = plan_model(&source, name(), Some(&target));
    assert_eq!(
        plan.model,
        ModelStep::Unchanged,
        "no description is not a change"
    );
}

#[test]
fn version_metadata_capstan_cannot_hold_is_reported() {
    let mut source = mlflow_bc();
    source.versions[1].tags.push(("note".into(), "a\nb".into()));
    source.versions[1].description = Some("x".repeat(20_000));
    let plan = plan_model(&source, name(), None);
    let items = refused_items(&plan);
    assert!(items.contains(&"version 2 tag note"), "{items:?}");
    assert!(items.contains(&"version 2 description"), "{items:?}");
    let step = plan.versions.iter().find(|v| v.number == 2).unwrap();
    assert_eq!(step.description, None);
    assert_eq!(step.tags, ["k=2"], "the good tags are kept");
}

#[test]
fn aliases_capstan_cannot_hold_are_refused() {
    let mut source = mlflow_bc();
    source.aliases = vec![("Champion".into(), 4), ("production".into(), 4)];
    let plan = plan_model(&source, name(), None);
    let items = refused_items(&plan);
    assert!(items.contains(&"alias Champion"), "{items:?}");
    assert!(items.contains(&"alias production"), "{items:?}");
    assert!(!plan
        .pointers
        .iter()
        .any(|p| matches!(p, PointerStep::SetAlias { .. })));
}

#[test]
fn names_are_kept_renamed_or_refused_never_mangled() {
    let renames: BTreeMap<String, ModelName> =
        [("Fraud Model".to_owned(), ModelName::parse("fraud").unwrap())].into();
    let chosen = choose_names(
        &["bc".into(), "Breast Cancer".into(), "Fraud Model".into()],
        &renames,
    );
    assert_eq!(chosen[0].1.as_ref().unwrap().as_str(), "bc");
    let refused = chosen[1].1.as_ref().unwrap_err();
    assert!(
        refused.contains("--rename 'Breast Cancer=NEW'"),
        "{refused}"
    );
    assert_eq!(chosen[2].1.as_ref().unwrap().as_str(), "fraud");
}

#[test]
fn two_models_never_share_a_name() {
    let renames: BTreeMap<String, ModelName> =
        [("Breast Cancer".to_owned(), ModelName::parse("bc").unwrap())].into();
    let chosen = choose_names(&["Breast Cancer".into(), "bc".into(), "x".into()], &renames);
    assert!(chosen[0]
        .1
        .as_ref()
        .unwrap_err()
        .contains("MLflow model bc"));
    assert!(chosen[1].1.as_ref().unwrap_err().contains("Breast Cancer"));
    assert!(chosen[2].1.is_ok());
}
