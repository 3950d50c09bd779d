//! Wire types of deployments: named consumers of a ref under one delivery pattern, the
//! instances that report what they run, and the state the registry computes from both.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::names::ModelName;
use crate::reference::ModelRef;

/// Most labels on a deployment; longest label key and value.
pub const MAX_LABELS: usize = 64;
pub const MAX_LABEL_KEY_LEN: usize = 63;
pub const MAX_LABEL_VALUE_LEN: usize = 256;
/// Longest instance `detail`.
pub const MAX_DETAIL_LEN: usize = 4096;

/// How a deployment gets its model (the four delivery patterns).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
    diesel(sql_type = diesel::sql_types::Text)
)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentPattern {
    /// Pattern 1: compiled into the application at build time.
    Embedded,
    /// Pattern 2: a model server answering predictions.
    Api,
    /// Pattern 3: applications that swap the model when a promotion is streamed.
    Stream,
    /// Pattern 4: batch jobs whose approved predictions are served by key.
    Batch,
}

impl DeploymentPattern {
    pub const ALL: [DeploymentPattern; 4] = [
        DeploymentPattern::Embedded,
        DeploymentPattern::Api,
        DeploymentPattern::Stream,
        DeploymentPattern::Batch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentPattern::Embedded => "embedded",
            DeploymentPattern::Api => "api",
            DeploymentPattern::Stream => "stream",
            DeploymentPattern::Batch => "batch",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// Whether a deployment runs what its ref names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
    diesel(sql_type = diesel::sql_types::Text)
)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// Every live instance serves the desired version (and the canary's, if any).
    InSync,
    /// Some instance still differs, and the desired version changed less than a grace
    /// period ago.
    RollingOut,
    /// An instance serves another version after the grace period, or failed to load the
    /// desired one; `reason` names it.
    Drifted,
    /// No live instance reports.
    NoInstances,
}

impl DeploymentState {
    pub const ALL: [DeploymentState; 4] = [
        DeploymentState::InSync,
        DeploymentState::RollingOut,
        DeploymentState::Drifted,
        DeploymentState::NoInstances,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentState::InSync => "in_sync",
            DeploymentState::RollingOut => "rolling_out",
            DeploymentState::Drifted => "drifted",
            DeploymentState::NoInstances => "no_instances",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What an instance is doing with its model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
    diesel(sql_type = diesel::sql_types::Text)
)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// Answering with the version it reports.
    Serving,
    /// Fetching or loading a version; still answering with the one it reports, if any.
    Loading,
    /// Could not load the version it was told to; `detail` says why. It keeps answering
    /// with the version it reports.
    Failed,
}

impl InstanceStatus {
    pub const ALL: [InstanceStatus; 3] = [
        InstanceStatus::Serving,
        InstanceStatus::Loading,
        InstanceStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Serving => "serving",
            InstanceStatus::Loading => "loading",
            InstanceStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The canary of a create or replace: a second ref that gets `percent` of the traffic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CanarySpec {
    /// A ref of the same model (`bc@canary`, `bc@staging`, `bc@7`).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::ModelRefText))]
    pub model: ModelRef,
    /// Share of prediction requests sent to the canary, 0–100.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub percent: u8,
}

/// `PUT /api/v1/deployments/{name}`: creates the deployment or replaces it whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutDeployment {
    /// The ref the deployment consumes (`bc@production`).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::ModelRefText))]
    pub model: ModelRef,
    pub pattern: DeploymentPattern,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = r"^[^\x00]*$")
    )]
    pub description: Option<String>,
    /// Free key/value labels (`team: fraud`, `region: eu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BTreeMap<String, String>>))]
    pub labels: Option<BTreeMap<String, String>>,
    /// Only for pattern `api`: a second ref of the same model taking part of the traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanarySpec>,
}

/// A version and the digest of its artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionDigest {
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub version: i64,
    pub digest: Digest,
}

/// The canary as the deployment document shows it: the spec and what its ref names now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Canary {
    pub model: String,
    pub percent: u8,
    /// `null` when the canary ref names no ready version.
    pub version: Option<i64>,
    pub digest: Option<Digest>,
}

/// `PUT /api/v1/deployments/{name}/instances/{instance}`: what an instance runs now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InstanceReport {
    /// The version it answers with (`null` while it has none yet).
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub version: Option<i64>,
    pub digest: Option<Digest>,
    /// The canary version it also answers with, if it splits traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<VersionDigest>,
    pub status: InstanceStatus,
    /// Why it failed, what it is loading, anything an operator should read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 4096, pattern = r"^[^\x00]*$")
    )]
    pub detail: Option<String>,
}

/// One instance of a deployment, as last reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentInstance {
    pub id: String,
    pub version: Option<i64>,
    pub digest: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<VersionDigest>,
    pub status: InstanceStatus,
    pub detail: Option<String>,
    /// Its first report since it started.
    pub started_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// No report for three heartbeat intervals: shown, not counted.
    pub stale: bool,
}

/// A deployment, with its desired and observed versions computed when asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deployment {
    pub name: ModelName,
    /// The ref as given (`bc@production`).
    pub model: String,
    pub pattern: DeploymentPattern,
    pub description: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// What the ref resolves to now; `null` when it names no ready version.
    pub desired: Option<VersionDigest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    pub instances: Vec<DeploymentInstance>,
    pub state: DeploymentState,
    /// Why the deployment is in its state, naming the instances at fault.
    pub reason: String,
    /// When the desired version (or canary) last changed: the grace period runs from here.
    pub desired_since: DateTime<Utc>,
    /// How often instances should report, in milliseconds.
    pub heartbeat_ms: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentPage {
    pub deployments: Vec<Deployment>,
    /// Pass as `page_token` to get the next page; absent on the last page.
    pub next_page_token: Option<String>,
}
