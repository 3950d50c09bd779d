//! The registry's REST API as both clients (async and blocking) address it: endpoint
//! paths, query types and their query strings, and the artifact headers (`ETag`,
//! `Content-Range`). Pure functions; no HTTP library here.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::manifest::TreePath;
use crate::names::{AliasName, ModelName};
use crate::reference::{Stage, VersionRef};
use crate::types::{
    BatchJobStatus, DeploymentPattern, DeploymentState, EventKind, PromotionStatus,
};

pub const MODELS: &str = "/api/v1/models";
pub const EVENTS: &str = "/api/v1/events";
pub const DATASETS: &str = "/api/v1/datasets";
pub const BATCH_JOBS: &str = "/api/v1/batch-jobs";
pub const BATCH_SCHEDULES: &str = "/api/v1/batch-schedules";
pub const DEPLOYMENTS: &str = "/api/v1/deployments";
pub const WEBHOOKS: &str = "/api/v1/webhooks";
pub const TOKENS: &str = "/api/v1/tokens";
pub const WHOAMI: &str = "/api/v1/whoami";
pub const PROMOTION_REQUESTS: &str = "/api/v1/promotion-requests";
pub const HEALTH: &str = "/healthz";
/// The response header that says which version an artifact download is.
pub const VERSION_HEADER: &str = "x-capstan-model-version";

pub fn model(name: &ModelName) -> String {
    format!("{MODELS}/{name}")
}

/// `POST`: give a model another name.
pub fn model_rename(name: &ModelName) -> String {
    format!("{}/rename", model(name))
}

pub fn versions(name: &ModelName) -> String {
    format!("{MODELS}/{name}/versions")
}

pub fn version(name: &ModelName, version: &VersionRef) -> String {
    format!("{MODELS}/{name}/versions/{version}")
}

pub fn archive(name: &ModelName, version: &VersionRef) -> String {
    format!("{MODELS}/{name}/versions/{version}/archive")
}

pub fn artifact(name: &ModelName, version: &VersionRef) -> String {
    format!("{MODELS}/{name}/versions/{version}/artifact")
}

/// One file of a tree version; each path segment percent-encoded.
pub fn tree_file(name: &ModelName, version: &VersionRef, file: &TreePath) -> String {
    let encoded: Vec<String> = file.as_str().split('/').map(encode_segment).collect();
    format!(
        "{MODELS}/{name}/versions/{version}/files/{}",
        encoded.join("/")
    )
}

/// A tree version's manifest, its missing files, one of its blobs, its commit, its tar.
pub fn tree_manifest(name: &ModelName, version: &VersionRef) -> String {
    format!("{MODELS}/{name}/versions/{version}/manifest")
}

pub fn tree_missing(name: &ModelName, number: i64) -> String {
    format!("{MODELS}/{name}/versions/{number}/missing")
}

pub fn tree_blob(name: &ModelName, number: i64, digest: &Digest) -> String {
    format!("{MODELS}/{name}/versions/{number}/blobs/{digest}")
}

pub fn tree_commit(name: &ModelName, number: i64) -> String {
    format!("{MODELS}/{name}/versions/{number}/commit")
}

pub fn tree_archive(name: &ModelName, version: &VersionRef) -> String {
    format!("{MODELS}/{name}/versions/{version}/archive")
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub fn stage(name: &ModelName, stage: Stage) -> String {
    format!("{MODELS}/{name}/stages/{stage}")
}

pub fn rollback(name: &ModelName, stage: Stage) -> String {
    format!("{MODELS}/{name}/stages/{stage}/rollback")
}

pub fn alias(name: &ModelName, alias: &AliasName) -> String {
    format!("{MODELS}/{name}/aliases/{alias}")
}

/// Filters and paging of `GET /api/v1/models`. The client writes it into the URL; the
/// server reads it back with the same type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ModelQuery {
    /// Page size, 1–1000 (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
    /// Only models whose name starts with this.
    pub name_prefix: Option<String>,
    /// Only models with this tag.
    pub tag: Option<String>,
}

impl ModelQuery {
    pub fn path(&self) -> String {
        with_query(
            MODELS,
            &[
                ("name_prefix", self.name_prefix.clone()),
                ("tag", self.tag.clone()),
                ("limit", self.limit.map(|n| n.to_string())),
                ("page_token", self.page_token.clone()),
            ],
        )
    }
}

/// Paging of `GET /api/v1/models/{name}/versions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct VersionQuery {
    /// Page size, 1–1000 (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

impl VersionQuery {
    pub fn path(&self, name: &ModelName) -> String {
        with_query(
            &versions(name),
            &[
                ("limit", self.limit.map(|n| n.to_string())),
                ("page_token", self.page_token.clone()),
            ],
        )
    }
}

/// Filters and resume point of `GET /api/v1/events/stream` (server-sent events).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct EventStreamQuery {
    /// Only events of this model.
    pub model: Option<ModelName>,
    /// Only events of this kind (`stage_changed`, `version_ready`, …).
    pub kind: Option<EventKind>,
    /// Replay events with a greater `seq` from the log first (`Last-Event-ID` wins when
    /// both are given). Without either, only new events are sent.
    #[cfg_attr(feature = "openapi", param(minimum = 0))]
    pub after: Option<i64>,
}

impl EventStreamQuery {
    pub fn path(&self) -> String {
        with_query(
            &format!("{EVENTS}/stream"),
            &[
                ("model", self.model.as_ref().map(|m| m.to_string())),
                ("kind", self.kind.map(|k| k.as_str().to_owned())),
                ("after", self.after.map(|n| n.to_string())),
            ],
        )
    }
}

/// Filters and paging of `GET /api/v1/events`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct EventQuery {
    /// Only events of this model.
    pub model: Option<ModelName>,
    /// Only events of this kind (`stage_changed`, `version_ready`, …).
    pub kind: Option<EventKind>,
    /// Only events by this actor: a token's name, `anonymous` (authentication off),
    /// `worker`, `schedule:<name>` or `system`.
    pub actor: Option<String>,
    /// Only events with a greater `seq` (default 0: from the start).
    #[cfg_attr(feature = "openapi", param(minimum = 0))]
    pub after: Option<i64>,
    /// Page size, 1–1000 (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
}

impl EventQuery {
    pub fn path(&self) -> String {
        with_query(
            EVENTS,
            &[
                ("model", self.model.as_ref().map(|m| m.to_string())),
                ("kind", self.kind.map(|k| k.as_str().to_owned())),
                ("actor", self.actor.clone()),
                ("after", self.after.map(|n| n.to_string())),
                ("limit", self.limit.map(|n| n.to_string())),
            ],
        )
    }
}

pub fn dataset(id: &str) -> String {
    format!("{DATASETS}/{}", encode(id))
}

pub fn dataset_content(id: &str) -> String {
    format!("{DATASETS}/{}/content", encode(id))
}

/// `POST /api/v1/datasets?name=…`.
pub fn dataset_upload(name: &str) -> String {
    with_query(DATASETS, &[("name", Some(name.to_owned()))])
}

pub fn batch_job(id: &str) -> String {
    format!("{BATCH_JOBS}/{}", encode(id))
}

/// `…/cancel`, `…/approve`, `…/reject`, `…/output`.
pub fn batch_job_action(id: &str, action: &str) -> String {
    format!("{BATCH_JOBS}/{}/{action}", encode(id))
}

/// One job's prediction for `key`, approved or not.
pub fn batch_job_prediction(id: &str, key: &str) -> String {
    format!("{BATCH_JOBS}/{}/predictions/{}", encode(id), encode(key))
}

/// The prediction for `key` from the model's most recently approved job.
pub fn model_prediction(name: &ModelName, key: &str) -> String {
    format!("{MODELS}/{name}/predictions/{}", encode(key))
}

pub fn batch_schedule(name: &str) -> String {
    format!("{BATCH_SCHEDULES}/{}", encode(name))
}

pub fn deployment(name: &ModelName) -> String {
    format!("{DEPLOYMENTS}/{name}")
}

/// Where an instance of deployment `name` reports.
pub fn deployment_instance(name: &ModelName, instance: &ModelName) -> String {
    format!("{DEPLOYMENTS}/{name}/instances/{instance}")
}

/// Filters and paging of `GET /api/v1/deployments` (by name).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct DeploymentQuery {
    /// Only deployments of this model.
    pub model: Option<ModelName>,
    /// Only deployments of this pattern.
    pub pattern: Option<DeploymentPattern>,
    /// Only deployments in this state, as computed now.
    pub state: Option<DeploymentState>,
    /// Page size, 1–1000 (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

impl DeploymentQuery {
    pub fn path(&self) -> String {
        with_query(
            DEPLOYMENTS,
            &[
                ("model", self.model.as_ref().map(|m| m.to_string())),
                ("pattern", self.pattern.map(|p| p.as_str().to_owned())),
                ("state", self.state.map(|s| s.as_str().to_owned())),
                ("limit", self.limit.map(|n| n.to_string())),
                ("page_token", self.page_token.clone()),
            ],
        )
    }
}

pub fn webhook(id: &str) -> String {
    format!("{WEBHOOKS}/{}", encode(id))
}

/// `/api/v1/tokens/{name}`.
pub fn token(name: &str) -> String {
    format!("{TOKENS}/{}", encode(name))
}

/// `…/rotate-secret`, `…/deliveries`.
pub fn webhook_action(id: &str, action: &str) -> String {
    format!("{WEBHOOKS}/{}/{action}", encode(id))
}

/// Paging of a plain list: `GET /api/v1/datasets` (newest first),
/// `GET /api/v1/batch-schedules` (by name).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct PageQuery {
    /// Page size, 1–1000 (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

impl PageQuery {
    /// `list` with this page's query (`DATASETS`, `BATCH_SCHEDULES`).
    pub fn path(&self, list: &str) -> String {
        with_query(
            list,
            &[
                ("limit", self.limit.map(|n| n.to_string())),
                ("page_token", self.page_token.clone()),
            ],
        )
    }
}

/// Filters and paging of `GET /api/v1/batch-jobs` (newest first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct BatchJobQuery {
    /// Only jobs in this status.
    pub status: Option<BatchJobStatus>,
    /// Only jobs of this model.
    pub model: Option<ModelName>,
    /// Only jobs this schedule created.
    #[cfg_attr(feature = "openapi", param(max_length = 128))]
    pub schedule: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

impl BatchJobQuery {
    pub fn path(&self) -> String {
        with_query(
            BATCH_JOBS,
            &[
                ("status", self.status.map(|s| s.as_str().to_owned())),
                ("model", self.model.as_ref().map(|m| m.to_string())),
                ("schedule", self.schedule.clone()),
                ("limit", self.limit.map(|n| n.to_string())),
                ("page_token", self.page_token.clone()),
            ],
        )
    }
}

/// A model's promotion policy.
pub fn policy(name: &ModelName) -> String {
    format!("{MODELS}/{name}/policy")
}

pub fn promotion_request(id: &str) -> String {
    format!("{PROMOTION_REQUESTS}/{}", encode(id))
}

/// `approve` or `reject`.
pub fn promotion_request_action(id: &str, action: &str) -> String {
    format!("{PROMOTION_REQUESTS}/{}/{action}", encode(id))
}

/// Filters and paging of `GET /api/v1/promotion-requests` (newest first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct PromotionRequestQuery {
    /// Only requests of this model.
    pub model: Option<ModelName>,
    /// Only requests in this status (`expired`: pending ones past their expiry).
    pub status: Option<PromotionStatus>,
    /// Page size, 1–1000 (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

impl PromotionRequestQuery {
    pub fn path(&self) -> String {
        with_query(
            PROMOTION_REQUESTS,
            &[
                ("model", self.model.as_ref().map(|m| m.to_string())),
                ("status", self.status.map(|s| s.as_str().to_owned())),
                ("limit", self.limit.map(|n| n.to_string())),
                ("page_token", self.page_token.clone()),
            ],
        )
    }
}

fn with_query(path: &str, pairs: &[(&str, Option<String>)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={}", encode(v))))
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The digest an `ETag` header names (`"sha256:<hex>"`, weak or strong).
pub fn etag_digest(value: &str) -> Option<Digest> {
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    Digest::parse(value.trim_matches('"')).ok()
}

/// The start and total size of a `Content-Range: bytes <start>-<end>/<total>` header.
pub fn content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let spec = value.trim().strip_prefix("bytes ")?;
    let (range, total) = spec.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn query_strings_are_encoded() {
        let query = ModelQuery {
            name_prefix: Some("fraud v2&x".into()),
            limit: Some(10),
            ..ModelQuery::default()
        };
        assert_eq!(
            query.path(),
            "/api/v1/models?name_prefix=fraud%20v2%26x&limit=10"
        );
        assert_eq!(EventQuery::default().path(), "/api/v1/events");
        let events = EventQuery {
            model: Some(ModelName::parse("bc").unwrap()),
            kind: Some(EventKind::StageChanged),
            actor: None,
            after: Some(7),
            limit: None,
        };
        assert_eq!(
            events.path(),
            "/api/v1/events?model=bc&kind=stage_changed&after=7"
        );
    }

    #[test]
    fn artifact_headers() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(
            etag_digest(&format!("\"sha256:{hex}\"")),
            Some(Digest::parse(hex).unwrap())
        );
        assert_eq!(etag_digest("\"abc\""), None);
        assert_eq!(content_range("bytes 10-99/100"), Some((10, Some(100))));
        assert_eq!(content_range("bytes 10-99/*"), Some((10, None)));
        assert_eq!(content_range("items 1-2/3"), None);
    }
}
