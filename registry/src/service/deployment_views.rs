//! A deployment's document, computed when asked: what its ref (and canary) name now,
//! what its instances report (for a batch deployment, what its latest approved job ran),
//! and the state `domain::deployments` derives from both.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};

use capstan_client::types::{
    Canary, Deployment, DeploymentInstance, DeploymentPattern, InstanceStatus, VersionDigest,
    VersionStatus,
};
use capstan_client::{Digest, ModelName, ModelRef, VersionRef};

use super::resolve::find_number;
use super::views::utc;
use crate::domain::deployments::{evaluate, is_stale, Desired, Observed, Verdict};
use crate::store::deployments::{self as store, DeploymentRow, InstanceRow, RefMoves};
use crate::store::{models, versions, DbConn, StoreError, StoreResult};

/// How the registry judges deployments (see `docs/control-plane.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploymentSettings {
    /// How long after the desired version changes an instance may still differ before
    /// the deployment counts as drifted.
    pub grace: Duration,
    /// How often instances report; one silent for three intervals is stale.
    pub heartbeat: Duration,
}

impl Default for DeploymentSettings {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(60),
            heartbeat: Duration::from_secs(10),
        }
    }
}

fn stored_ref(text: &str) -> StoreResult<ModelRef> {
    ModelRef::parse(text).map_err(|e| StoreError::Invalid(format!("stored ref {text:?}: {e}")))
}

fn stored_digest(text: Option<&str>) -> Option<Digest> {
    text.and_then(|d| Digest::parse(d).ok())
}

/// The ready version `reference` names now, with its digest.
pub(crate) fn resolve_target(
    conn: &mut DbConn,
    reference: &ModelRef,
) -> StoreResult<Option<VersionDigest>> {
    let Some(model) = models::find(conn, reference.model.as_str())? else {
        return Ok(None);
    };
    let Some(number) = find_number(conn, &model, &reference.version)? else {
        return Ok(None);
    };
    let Some(row) = versions::find(conn, model.id, number)? else {
        return Ok(None);
    };
    Ok(match (row.status, stored_digest(row.digest.as_deref())) {
        (VersionStatus::Ready, Some(digest)) => Some(VersionDigest {
            version: row.version,
            digest,
        }),
        _ => None,
    })
}

fn ref_moves(reference: &ModelRef) -> RefMoves<'_> {
    match &reference.version {
        VersionRef::Stage(stage) => RefMoves::Stage(stage.as_str()),
        VersionRef::Alias(alias) => RefMoves::Alias(alias.as_str()),
        VersionRef::Latest => RefMoves::Latest,
        VersionRef::Number(_) => RefMoves::Never,
    }
}

pub(crate) fn instance_view(
    row: &InstanceRow,
    now: DateTime<Utc>,
    heartbeat: Duration,
) -> DeploymentInstance {
    DeploymentInstance {
        id: row.instance.clone(),
        version: row.version,
        digest: stored_digest(row.digest.as_deref()),
        canary: match (
            row.canary_version,
            stored_digest(row.canary_digest.as_deref()),
        ) {
            (Some(version), Some(digest)) => Some(VersionDigest { version, digest }),
            _ => None,
        },
        status: row.status,
        detail: row.detail.clone(),
        started_at: utc(row.started_at),
        last_seen: utc(row.last_seen),
        stale: is_stale(utc(row.last_seen), now, heartbeat),
    }
}

/// A batch deployment's one instance: its latest approved job, which never goes stale.
fn job_instance(conn: &mut DbConn, deployment: &str) -> StoreResult<Vec<DeploymentInstance>> {
    let Some(job) = store::latest_approved_job(conn, deployment)? else {
        return Ok(Vec::new());
    };
    let reviewed = job.reviewed_at.map(utc).unwrap_or_else(Utc::now);
    Ok(vec![DeploymentInstance {
        id: job.id.clone(),
        version: job.version,
        digest: stored_digest(job.digest.as_deref()),
        canary: None,
        status: InstanceStatus::Serving,
        detail: Some(format!("latest approved batch job {}", job.id)),
        started_at: job.finished_at.map(utc).unwrap_or(reviewed),
        last_seen: reviewed,
        stale: false,
    }])
}

/// The document of `row`, whose instance rows are `instances`, at `now`.
pub(crate) fn deployment_view(
    conn: &mut DbConn,
    row: &DeploymentRow,
    instances: &[InstanceRow],
    settings: DeploymentSettings,
    now: DateTime<Utc>,
) -> StoreResult<Deployment> {
    let main_ref = stored_ref(&row.model_ref)?;
    let canary_ref = row.canary_ref.as_deref().map(stored_ref).transpose()?;
    let desired = resolve_target(conn, &main_ref)?;
    let canary_target = match &canary_ref {
        Some(reference) => Some(resolve_target(conn, reference)?),
        None => None,
    };
    let mut since = row.spec_changed_at;
    for reference in std::iter::once(&main_ref).chain(canary_ref.as_ref()) {
        if let Some(moved) =
            store::last_ref_move(conn, reference.model.as_str(), ref_moves(reference))?
        {
            since = since.max(moved);
        }
    }
    let instances = match row.pattern {
        DeploymentPattern::Batch => job_instance(conn, &row.name)?,
        _ => instances
            .iter()
            .map(|i| instance_view(i, now, settings.heartbeat))
            .collect(),
    };
    let Verdict { state, reason } = evaluate(
        &Desired {
            main: desired.as_ref(),
            canary: canary_target.as_ref().map(Option::as_ref),
            since: utc(since),
        },
        &instances.iter().map(observed).collect::<Vec<_>>(),
        now,
        settings.grace,
    );
    let labels: BTreeMap<String, String> = serde_json::from_str(&row.labels)?;
    Ok(Deployment {
        name: ModelName::parse(&row.name)
            .map_err(|e| StoreError::Invalid(format!("stored deployment name: {e}")))?,
        model: row.model_ref.clone(),
        pattern: row.pattern,
        description: row.description.clone(),
        labels,
        desired,
        canary: row.canary_ref.as_ref().map(|model| {
            let target = canary_target.clone().flatten();
            Canary {
                model: model.clone(),
                percent: u8::try_from(row.canary_percent.unwrap_or(0)).unwrap_or(0),
                version: target.as_ref().map(|t| t.version),
                digest: target.map(|t| t.digest),
            }
        }),
        instances,
        state,
        reason,
        desired_since: utc(since),
        heartbeat_ms: u64::try_from(settings.heartbeat.as_millis()).unwrap_or(u64::MAX),
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    })
}

fn observed(instance: &DeploymentInstance) -> Observed<'_> {
    Observed {
        id: &instance.id,
        version: instance.version,
        digest: instance.digest.as_ref(),
        canary: instance.canary.as_ref(),
        status: instance.status,
        detail: instance.detail.as_deref(),
        stale: instance.stale,
    }
}

/// The documents of `rows`, their instances loaded in one query.
pub(crate) fn deployment_views(
    conn: &mut DbConn,
    rows: &[DeploymentRow],
    settings: DeploymentSettings,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Deployment>> {
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    // Grouped here, not by the database's order: its collation need not sort like bytes.
    let mut by_deployment: HashMap<String, Vec<InstanceRow>> = HashMap::new();
    for instance in store::instances(conn, &names)? {
        by_deployment
            .entry(instance.deployment.clone())
            .or_default()
            .push(instance);
    }
    rows.iter()
        .map(|row| {
            let instances = by_deployment.remove(&row.name).unwrap_or_default();
            deployment_view(conn, row, &instances, settings, now)
        })
        .collect()
}
