//! The event log's wire types: the kinds of event, one entry, a page of them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::DeploymentState;
use crate::digest::Digest;
use crate::names::ModelName;
use crate::reference::Stage;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
    diesel(sql_type = diesel::sql_types::Text)
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ModelCreated,
    ModelUpdated,
    ModelDeleted,
    VersionCreated,
    VersionReady,
    VersionFailed,
    VersionArchived,
    StageChanged,
    AliasSet,
    AliasRemoved,
    BatchJobCreated,
    BatchJobStarted,
    BatchJobSucceeded,
    BatchJobFailed,
    BatchJobCancelled,
    BatchJobApproved,
    BatchJobRejected,
    DeploymentCreated,
    DeploymentUpdated,
    DeploymentDeleted,
    DeploymentStateChanged,
    PolicySet,
    PolicyDeleted,
    PromotionRequested,
    PromotionApproved,
    PromotionRejected,
    ModelRenamed,
    VersionUpdated,
    VersionDeleted,
}

impl EventKind {
    pub const ALL: [EventKind; 29] = [
        EventKind::ModelCreated,
        EventKind::ModelUpdated,
        EventKind::ModelDeleted,
        EventKind::VersionCreated,
        EventKind::VersionReady,
        EventKind::VersionFailed,
        EventKind::VersionArchived,
        EventKind::StageChanged,
        EventKind::AliasSet,
        EventKind::AliasRemoved,
        EventKind::BatchJobCreated,
        EventKind::BatchJobStarted,
        EventKind::BatchJobSucceeded,
        EventKind::BatchJobFailed,
        EventKind::BatchJobCancelled,
        EventKind::BatchJobApproved,
        EventKind::BatchJobRejected,
        EventKind::DeploymentCreated,
        EventKind::DeploymentUpdated,
        EventKind::DeploymentDeleted,
        EventKind::DeploymentStateChanged,
        EventKind::PolicySet,
        EventKind::PolicyDeleted,
        EventKind::PromotionRequested,
        EventKind::PromotionApproved,
        EventKind::PromotionRejected,
        EventKind::ModelRenamed,
        EventKind::VersionUpdated,
        EventKind::VersionDeleted,
    ];

    /// The kinds that can change what a model's refs name (`latest`, stages, aliases):
    /// what a ref follower reacts to and what replaying a model's refs reads. The others
    /// (`model_updated`, `version_created`, `version_updated`, `version_failed`) never do.
    /// A `model_renamed` event is recorded under the new name with `previous_name`: the
    /// model's refs now answer under the new name, and the old name's are gone.
    pub const MOVES_REFS: [EventKind; 9] = [
        EventKind::ModelCreated,
        EventKind::ModelDeleted,
        EventKind::ModelRenamed,
        EventKind::VersionReady,
        EventKind::VersionArchived,
        EventKind::VersionDeleted,
        EventKind::StageChanged,
        EventKind::AliasSet,
        EventKind::AliasRemoved,
    ];

    /// Whether an event of this kind can change what a ref of its model names.
    pub fn moves_refs(self) -> bool {
        Self::MOVES_REFS.contains(&self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ModelCreated => "model_created",
            EventKind::ModelUpdated => "model_updated",
            EventKind::ModelDeleted => "model_deleted",
            EventKind::VersionCreated => "version_created",
            EventKind::VersionReady => "version_ready",
            EventKind::VersionFailed => "version_failed",
            EventKind::VersionArchived => "version_archived",
            EventKind::StageChanged => "stage_changed",
            EventKind::AliasSet => "alias_set",
            EventKind::AliasRemoved => "alias_removed",
            EventKind::BatchJobCreated => "batch_job_created",
            EventKind::BatchJobStarted => "batch_job_started",
            EventKind::BatchJobSucceeded => "batch_job_succeeded",
            EventKind::BatchJobFailed => "batch_job_failed",
            EventKind::BatchJobCancelled => "batch_job_cancelled",
            EventKind::BatchJobApproved => "batch_job_approved",
            EventKind::BatchJobRejected => "batch_job_rejected",
            EventKind::DeploymentCreated => "deployment_created",
            EventKind::DeploymentUpdated => "deployment_updated",
            EventKind::DeploymentDeleted => "deployment_deleted",
            EventKind::DeploymentStateChanged => "deployment_state_changed",
            EventKind::PolicySet => "policy_set",
            EventKind::PolicyDeleted => "policy_deleted",
            EventKind::PromotionRequested => "promotion_requested",
            EventKind::PromotionApproved => "promotion_approved",
            EventKind::PromotionRejected => "promotion_rejected",
            EventKind::ModelRenamed => "model_renamed",
            EventKind::VersionUpdated => "version_updated",
            EventKind::VersionDeleted => "version_deleted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One entry of the append-only event log (the audit trail and the outbox).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Global, gap-free sequence number.
    pub seq: i64,
    pub kind: EventKind,
    pub model: ModelName,
    pub version: Option<i64>,
    /// For `stage_changed`: the stage that moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// For `stage_changed`: the version the stage held before (`null` = none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<i64>,
    /// For `stage_changed`: the version the stage holds now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `alias_set` / `alias_removed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// For `version_ready`: the artifact's digest; for batch job events, the digest of
    /// the artifact the job ran (once it started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// For batch job events: the job's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// For deployment events: the deployment's name (`model` is its ref's model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// For `deployment_state_changed`: the state before and after (`reason` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_state: Option<DeploymentState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_state: Option<DeploymentState>,
    /// For `promotion_requested`, `promotion_approved`, `promotion_rejected` and the
    /// `stage_changed` or `alias_set` an approval caused: the promotion request's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// For `model_renamed` (recorded under the new name): the name the model had before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_name: Option<ModelName>,
    /// Who caused the event, when the registry knows (`worker` for a batch worker's
    /// transitions, `schedule:<name>` for a firing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Pass as `after` to continue from here.
    pub last_seq: Option<i64>,
}
