//! Wire types of governed promotion (see docs/security.md, "Governed promotion"): a
//! model's promotion policy (rules per stage and per alias) and the promotion requests a
//! policy that needs approvals turns promotions into.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::names::{AliasName, ModelName};
use crate::reference::Stage;

/// Most approvals a rule may ask for.
pub const MAX_APPROVALS: u32 = 10;
/// Most metric thresholds in one rule.
pub const MAX_METRIC_RULES: usize = 64;
/// Most aliases one policy may name.
pub const MAX_ALIAS_RULES: usize = 64;

/// Bounds on one metric of the version: a missing metric breaks the rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MetricBound {
    /// The metric must be at least this (finite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The metric must be at most this (finite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// What a version needs to take one stage or alias.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PromotionRule {
    /// The version must hold this stage when the promotion is asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Stage>,
    /// Thresholds on the version's metrics.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, MetricBound>,
    /// Approvals by promoters other than the requester before the pointer moves (0: the
    /// promotion happens at once).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10))]
    pub approvals: u32,
}

/// `PUT /api/v1/models/{name}/policy`: rules per stage and per alias. A stage or alias the
/// policy does not name is moved as without a policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PromotionPolicy {
    /// Rules by stage (`staging`, `production`).
    #[serde(default)]
    pub stages: BTreeMap<Stage, PromotionRule>,
    /// Rules by alias name (`champion`).
    #[serde(default)]
    pub aliases: BTreeMap<String, PromotionRule>,
}

/// A model's policy as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelPolicy {
    pub model: ModelName,
    pub policy: PromotionPolicy,
    pub updated_at: DateTime<Utc>,
    /// Who set it.
    pub updated_by: String,
}

/// Where a promotion request is at. `expired` is read, never stored: a pending request
/// past its `expires_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
    diesel(sql_type = diesel::sql_types::Text)
)]
#[serde(rename_all = "snake_case")]
pub enum PromotionStatus {
    /// Waiting for approvals.
    Pending,
    /// Enough approvals came in and the pointer moved.
    Approved,
    /// A promoter rejected it.
    Rejected,
    /// Nobody decided before `expires_at`.
    Expired,
    /// The last approval came in but the move was refused (the stage no longer held
    /// `expected_version`, the version was archived…): see `failure_reason`.
    Failed,
}

impl PromotionStatus {
    pub const ALL: [PromotionStatus; 5] = [
        PromotionStatus::Pending,
        PromotionStatus::Approved,
        PromotionStatus::Rejected,
        PromotionStatus::Expired,
        PromotionStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PromotionStatus::Pending => "pending",
            PromotionStatus::Approved => "approved",
            PromotionStatus::Rejected => "rejected",
            PromotionStatus::Expired => "expired",
            PromotionStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for PromotionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a promotion moves: a stage or an alias. On the wire `stage:production` or
/// `alias:champion`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PromotionTarget {
    Stage(Stage),
    Alias(AliasName),
}

impl PromotionTarget {
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, name) = text.split_once(':')?;
        match kind {
            "stage" => name.parse().ok().map(PromotionTarget::Stage),
            "alias" => AliasName::parse(name).ok().map(PromotionTarget::Alias),
            _ => None,
        }
    }
}

impl fmt::Display for PromotionTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromotionTarget::Stage(stage) => write!(f, "stage:{stage}"),
            PromotionTarget::Alias(alias) => write!(f, "alias:{alias}"),
        }
    }
}

/// One approval of a promotion request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Approval {
    /// The approving token's name.
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A promotion waiting for (or decided by) approvals: what `POST …/stages/{stage}`,
/// `POST …/stages/{stage}/rollback` and `PUT …/aliases/{alias}` answer with `202` when
/// the model's policy asks for approvals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromotionRequest {
    pub id: String,
    pub status: PromotionStatus,
    pub model: ModelName,
    /// What moves: `stage:staging`, `stage:production` or `alias:<name>`.
    #[cfg_attr(feature = "openapi", schema(example = "stage:production"))]
    pub target: String,
    /// Whether this is a rollback (the stage returns to its previous holder, `version`).
    #[serde(default)]
    pub rollback: bool,
    /// The version the target will name.
    pub version: i64,
    /// The version the stage must still hold when the last approval comes in (`null`:
    /// none); absent: no condition. A rollback always expects the holder it saw.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub expected_version: Option<Option<i64>>,
    /// Approvals needed (the policy's, when the request was made).
    pub approvals_required: u32,
    pub approvals: Vec<Approval>,
    pub requested_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    /// Who gave the last approval, or rejected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    /// Why the move was refused when the last approval came in (status `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(deserializer).map(Some)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromotionRequestPage {
    pub requests: Vec<PromotionRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// `POST /api/v1/promotion-requests/{id}/approve` and `…/reject`: an optional reason.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReviewPromotion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = r"^[^\x00]*$")
    )]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip() {
        for text in ["stage:production", "stage:staging", "alias:champion"] {
            assert_eq!(PromotionTarget::parse(text).unwrap().to_string(), text);
        }
        for bad in ["production", "stage:prod", "alias:", "alias:latest", "x:y"] {
            assert!(PromotionTarget::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn policies_read_the_documented_shape() {
        let policy: PromotionPolicy = serde_json::from_value(serde_json::json!({
            "stages": {"production": {"from": "staging", "metrics": {"accuracy": {"min": 0.95}, "latency_ms": {"max": 20}}, "approvals": 1}},
            "aliases": {"champion": {"approvals": 2}}
        }))
        .unwrap();
        let production = &policy.stages[&Stage::Production];
        assert_eq!(production.from, Some(Stage::Staging));
        assert_eq!(production.metrics["latency_ms"].max, Some(20.0));
        assert_eq!(policy.aliases["champion"].approvals, 2);
        assert!(serde_json::from_str::<PromotionPolicy>(r#"{"stages":{"prod":{}}}"#).is_err());
    }
}
