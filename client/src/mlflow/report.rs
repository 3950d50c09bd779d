//! What an import did, item by item: [`ImportReport`], a flat list of [`Outcome`]s
//! (copied, unchanged, not copied and why, or — under `--dry-run` — planned), which the
//! CLI prints as a table or as JSON.

use serde::Serialize;

use super::plan::{ModelPlan, ModelStep, Note, PointerStep, VersionAction};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// Done by this run.
    Copied,
    /// Already in Capstan as MLflow has it.
    Unchanged,
    /// Could not be copied; `detail` says why.
    NotCopied,
    /// `--dry-run`: what a run would do.
    Planned,
}

impl OutcomeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Copied => "copied",
            OutcomeStatus::Unchanged => "unchanged",
            OutcomeStatus::NotCopied => "not copied",
            OutcomeStatus::Planned => "planned",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The MLflow model's name.
    pub model: String,
    /// Its name in Capstan, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capstan_model: Option<String>,
    /// `model`, `version 3`, `stage production`, `archive version 1`, `alias champion`,
    /// `version 3 tag k`, `version 3 metrics`…
    pub item: String,
    pub status: OutcomeStatus,
    pub detail: String,
}

/// How many outcomes of each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub copied: usize,
    pub unchanged: usize,
    pub not_copied: usize,
    pub planned: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    pub tracking_uri: String,
    pub dry_run: bool,
    pub summary: Summary,
    pub outcomes: Vec<Outcome>,
}

impl ImportReport {
    pub fn new(tracking_uri: &str, dry_run: bool) -> Self {
        ImportReport {
            tracking_uri: tracking_uri.to_owned(),
            dry_run,
            ..ImportReport::default()
        }
    }

    pub fn add(
        &mut self,
        model: &str,
        capstan_model: Option<&str>,
        item: impl Into<String>,
        status: OutcomeStatus,
        detail: impl Into<String>,
    ) {
        let summary = &mut self.summary;
        match status {
            OutcomeStatus::Copied => summary.copied += 1,
            OutcomeStatus::Unchanged => summary.unchanged += 1,
            OutcomeStatus::NotCopied => summary.not_copied += 1,
            OutcomeStatus::Planned => summary.planned += 1,
        }
        self.outcomes.push(Outcome {
            model: model.to_owned(),
            capstan_model: capstan_model.map(str::to_owned),
            item: item.into(),
            status,
            detail: detail.into(),
        });
    }

    /// Records `notes` of `plan` with `status`.
    pub fn add_notes(&mut self, plan: &ModelPlan, notes: &[Note], status: OutcomeStatus) {
        for note in notes {
            self.add(
                &plan.source,
                Some(plan.target.as_str()),
                note.item.clone(),
                status,
                note.detail.clone(),
            );
        }
    }

    /// Everything `plan` would do, as `planned` outcomes, then what is in place and
    /// what cannot be copied (for `--dry-run`).
    pub fn add_plan(&mut self, plan: &ModelPlan) {
        let (source, target) = (plan.source.as_str(), Some(plan.target.as_str()));
        match &plan.model {
            ModelStep::Create { tags, .. } => self.add(
                source,
                target,
                "model",
                OutcomeStatus::Planned,
                format!("create {} ({} tags)", plan.target, tags.len()),
            ),
            ModelStep::Update(update) => {
                let mut what = Vec::new();
                if update.description.is_some() {
                    what.push("description");
                }
                if update.tags.is_some() {
                    what.push("tags");
                }
                self.add(
                    source,
                    target,
                    "model",
                    OutcomeStatus::Planned,
                    format!("update {}", what.join(" and ")),
                );
            }
            ModelStep::Unchanged => self.add(
                source,
                target,
                "model",
                OutcomeStatus::Unchanged,
                "description and tags as in MLflow",
            ),
        }
        for step in &plan.versions {
            let detail = match &step.action {
                VersionAction::Copy => "create it with this number and copy its files".to_owned(),
                VersionAction::Verify { .. } => {
                    "in Capstan already: compare its files with MLflow's".to_owned()
                }
                VersionAction::Resume => {
                    "pending in Capstan (an import cut off): finish it if the files match"
                        .to_owned()
                }
            };
            self.add(
                source,
                target,
                format!("version {}", step.number),
                OutcomeStatus::Planned,
                detail,
            );
        }
        for step in &plan.pointers {
            self.add(
                source,
                target,
                step.item(),
                OutcomeStatus::Planned,
                pointer_detail(step),
            );
        }
        self.add_notes(plan, &plan.unchanged, OutcomeStatus::Unchanged);
        self.add_notes(plan, &plan.refused, OutcomeStatus::NotCopied);
    }

    /// The outcomes of one status.
    pub fn with_status(&self, status: OutcomeStatus) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(move |o| o.status == status)
    }
}

/// What a pointer step does, in words.
pub fn pointer_detail(step: &PointerStep) -> String {
    match step {
        PointerStep::Promote { version, .. } => format!("promote version {version}"),
        PointerStep::Archive { .. } => "archive".to_owned(),
        PointerStep::SetAlias { version, .. } => format!("point at version {version}"),
    }
}
