//! Request and response bodies of the registry's REST API (`/api/v1`). The server
//! serialises exactly these; the client deserialises them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::digest::Digest;
use crate::manifest::{Manifest, TreePath};
use crate::names::{AliasName, ModelName};
use crate::reference::Stage;
use crate::signature::Signature;

/// Largest number of tags on a model or version, and the longest tag.
pub const MAX_TAGS: usize = 64;
pub const MAX_TAG_LEN: usize = 128;
/// Longest description, reason or source text.
pub const MAX_TEXT_LEN: usize = 16 * 1024;

#[cfg(feature = "openapi")]
use crate::schema::Tag;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateModel {
    pub name: ModelName,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = r"^[^\x00]*$")
    )]
    pub description: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Tag>>, max_items = 64))]
    pub tags: Option<Vec<String>>,
}

/// A partial update: absent fields are left as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateModel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = r"^[^\x00]*$")
    )]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Tag>>, max_items = 64))]
    pub tags: Option<Vec<String>>,
}

/// Give a model another name: its versions, stages, aliases, policy and history go with
/// it; refused while a deployment, batch schedule, webhook or pending promotion request
/// names the model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RenameModel {
    /// The new name.
    pub name: ModelName,
}

/// A partial update of a version's description or tags (its artifact never changes):
/// absent fields are left as they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateVersion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = r"^[^\x00]*$")
    )]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Tag>>, max_items = 64))]
    pub tags: Option<Vec<String>>,
}

/// Which version holds each governed stage (`null` = none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StagePointers {
    pub staging: Option<i64>,
    pub production: Option<i64>,
}

impl StagePointers {
    pub fn get(&self, stage: Stage) -> Option<i64> {
        match stage {
            Stage::Staging => self.staging,
            Stage::Production => self.production,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Model {
    pub name: ModelName,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub stages: StagePointers,
    /// Alias name → version number.
    pub aliases: BTreeMap<String, i64>,
    /// The newest `ready`, non-archived version, if any.
    pub latest_version: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelPage {
    pub models: Vec<Model>,
    /// Pass as `page_token` to get the next page; absent on the last page.
    pub next_page_token: Option<String>,
}

/// Metadata of a new version: the `metadata` part of a multipart upload, or the whole
/// JSON body of a two-step upload.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// Artifact format: `linfa-logistic`, `onnx`, or any other (`pickle`, `joblib`, …),
    /// stored but not servable.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[a-z0-9][a-z0-9._+-]{0,63}$"))]
    pub format: String,
    /// The artifact's sha256 (64 lowercase hex digits, `sha256:` prefix optional). When
    /// given, the upload is rejected unless the bytes match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<BTreeMap<String, f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Tag>>, max_items = 64))]
    pub tags: Option<Vec<String>>,
    /// Where the model came from: a run id, a commit, a notebook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = r"^[^\x00]*$")
    )]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = r"^[^\x00]*$")
    )]
    pub description: Option<String>,
    /// Create exactly this version number (it must not be below the model's next number;
    /// numbers skipped are never used). For imports that keep another registry's numbers;
    /// omit it to take the next number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000000))]
    pub version: Option<i64>,
    /// `tree` for a version holding a tree of files. With `manifest` the files are then
    /// `PUT` one by one (only the ones the registry lacks); without it, the tree arrives
    /// as one tar stream on the `upload_url`. Default `blob`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<ArtifactLayout>,
    /// The files of a tree version (implies `layout: tree`); its digest becomes the
    /// version's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Manifest>,
}

/// What a version's artifact is: one blob, or a tree of files named by a manifest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ArtifactLayout {
    #[default]
    Blob,
    Tree,
}

impl ArtifactLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactLayout::Blob => "blob",
            ArtifactLayout::Tree => "tree",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "blob" => Some(ArtifactLayout::Blob),
            "tree" => Some(ArtifactLayout::Tree),
            _ => None,
        }
    }
}

/// The file of a tree that serving loads (the ONNX file of an MLflow `onnx` flavor, or a
/// tree's only `.onnx` file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServedFile {
    pub path: TreePath,
    pub digest: Digest,
    pub size: u64,
    /// The runtime format it is loaded as (`onnx`).
    pub format: String,
}

/// What serving loads for a version: its blob, or a file of its tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedArtifact {
    pub digest: Digest,
    pub size: u64,
    pub format: String,
    /// The file's path within the tree; `None` for a blob.
    pub path: Option<TreePath>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
    diesel(sql_type = diesel::sql_types::Text)
)]
#[serde(rename_all = "lowercase")]
pub enum VersionStatus {
    /// Created; waiting for its artifact bytes.
    Pending,
    /// Artifact stored and verified; immutable from now on.
    Ready,
    /// The upload failed; the number stays taken.
    Failed,
}

impl VersionStatus {
    pub const ALL: [VersionStatus; 3] = [
        VersionStatus::Pending,
        VersionStatus::Ready,
        VersionStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Pending => "pending",
            VersionStatus::Ready => "ready",
            VersionStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Version {
    pub model: ModelName,
    pub version: i64,
    pub status: VersionStatus,
    pub digest: Option<Digest>,
    pub size: Option<i64>,
    pub format: String,
    /// Stages this version holds.
    pub stages: Vec<Stage>,
    /// Aliases pointing at this version.
    pub aliases: Vec<String>,
    /// Set when the version was archived (retired).
    pub archived_at: Option<DateTime<Utc>>,
    pub signature: Option<Signature>,
    pub metrics: BTreeMap<String, f64>,
    pub params: BTreeMap<String, serde_json::Value>,
    pub tags: Vec<String>,
    pub source: Option<String>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Who registered it: a token's name, or `anonymous` with authentication off (absent
    /// for versions registered before Capstan recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Where to `PUT` the artifact bytes while the version is `pending` (a tree without a
    /// manifest: its tar stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_url: Option<String>,
    /// `blob` (one file) or `tree` (files named by a manifest: `digest` is the manifest's,
    /// `size` the bytes of all files).
    #[serde(default)]
    pub layout: ArtifactLayout,
    /// How many files a tree holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<i64>,
    /// The file of a tree that serving loads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_file: Option<ServedFile>,
    /// Whether the predict routes can serve this version (known once it is `ready`).
    #[serde(default)]
    pub servable: bool,
    /// Why it cannot be served: a format Capstan does not run, a tree with no ONNX model,
    /// a graph the runtime refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unservable_reason: Option<String>,
}

impl Version {
    /// What serving loads for this version: its blob, or its tree's served file; `None`
    /// while it has no artifact, or for a tree with nothing to serve.
    pub fn served_artifact(&self) -> Option<ServedArtifact> {
        match self.layout {
            ArtifactLayout::Blob => Some(ServedArtifact {
                digest: self.digest?,
                size: u64::try_from(self.size.unwrap_or(0)).unwrap_or(0),
                format: self.format.clone(),
                path: None,
            }),
            ArtifactLayout::Tree => self.served_file.as_ref().map(|file| ServedArtifact {
                digest: file.digest,
                size: file.size,
                format: file.format.clone(),
                path: Some(file.path.clone()),
            }),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionPage {
    pub versions: Vec<Version>,
    pub next_page_token: Option<String>,
}

/// Move a stage pointer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// The version to put in the stage.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub version: i64,
    /// Why (kept in the audit trail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = r"^[^\x00]*$")
    )]
    pub reason: Option<String>,
    /// Optimistic concurrency: the version the stage must hold right now (`null` = the
    /// stage must be unassigned). Omit to promote unconditionally.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub expected_version: Option<Option<i64>>,
}

/// Distinguishes an explicit `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(deserializer).map(Some)
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = r"^[^\x00]*$")
    )]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetAlias {
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub version: i64,
    /// Why, kept in the event log (and in the promotion request when one is opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = r"^[^\x00]*$")
    )]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alias {
    pub model: ModelName,
    pub alias: AliasName,
    pub version: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    pub status: String,
    pub database: String,
    pub object_store: String,
    /// Where each configured event relay (NATS, Kafka) stands; absent when none is
    /// configured. A lagging relay does not make the registry unready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relays: Option<Vec<RelayStatus>>,
}

/// How far a relay has published the event log to its broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RelayStatus {
    /// `nats/<stream>` or `kafka/<topic>`.
    pub publisher: String,
    /// Every event with `seq <= cursor` has been acknowledged by the broker.
    pub cursor: i64,
    /// The newest event's `seq` minus `cursor`: events waiting to be published.
    pub lag: i64,
    /// Whether this replica holds the lease and publishes (exactly one replica does).
    pub publishing: bool,
    /// The last publish or connection error of this replica's relay, until it succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

pub use tree::{MissingBlob, MissingFiles};

pub mod batch;
pub mod batch_schedule;
pub mod deployment;
mod event;
mod message;
pub mod promotion;
pub mod token;
mod tree;
pub mod webhook;
pub use batch::{
    BatchFailure, BatchInput, BatchJob, BatchJobPage, BatchJobStatus, BatchModel, BatchOutput,
    BatchProgress, BatchReview, DataFormat, Dataset, DatasetPage, KeyedPrediction, Matching,
    PredictedValue, ReviewBatchJob, RowError, SubmitBatchJob,
};
pub use batch_schedule::{
    BatchSchedule, BatchSchedulePage, CreateBatchSchedule, UpdateBatchSchedule,
    MAX_SCHEDULE_NAME_LEN,
};
pub use deployment::{
    Canary, CanarySpec, Deployment, DeploymentInstance, DeploymentPage, DeploymentPattern,
    DeploymentState, InstanceReport, InstanceStatus, PutDeployment, VersionDigest, MAX_DETAIL_LEN,
    MAX_LABELS, MAX_LABEL_KEY_LEN, MAX_LABEL_VALUE_LEN,
};
pub use event::{Event, EventKind, EventPage};
pub use message::{ArtifactPointer, EventMessage, RefState};
pub use promotion::{
    Approval, MetricBound, ModelPolicy, PromotionPolicy, PromotionRequest, PromotionRequestPage,
    PromotionRule, PromotionStatus, PromotionTarget, ReviewPromotion, MAX_APPROVALS,
};
pub use token::{
    CreateToken, CreatedToken, Role, Token, TokenPage, Whoami, MAX_TOKEN_MODELS, MAX_TOKEN_NAME_LEN,
};
pub use webhook::{
    CreateWebhook, UpdateWebhook, Webhook, WebhookDelivery, WebhookDeliveryPage, WebhookPage,
    WebhookStatus,
};
