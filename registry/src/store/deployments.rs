//! Queries on `deployments`, `deployment_instances` and `batch_job_deployments`. A state
//! transition is recorded by a conditional `UPDATE … WHERE state = <from>`: of several
//! replicas noticing the same transition, one changes the row (and writes the event in
//! the same transaction) and the others change nothing.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use capstan_client::types::{
    BatchJobStatus, DeploymentPattern, DeploymentState, EventKind, InstanceStatus,
};

use super::schema::{batch_job_deployments, batch_jobs, deployment_instances, deployments, events};
use super::{DbConn, StoreError, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deployments)]
pub struct DeploymentRow {
    pub name: String,
    pub model: String,
    pub model_ref: String,
    pub pattern: DeploymentPattern,
    pub description: Option<String>,
    pub labels: String,
    pub canary_ref: Option<String>,
    pub canary_percent: Option<i64>,
    pub state: DeploymentState,
    pub state_reason: String,
    pub spec_changed_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What a create-or-replace sets; the state and creation time stay.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = deployments, treat_none_as_null = true)]
pub struct DeploymentSpec {
    pub model: String,
    pub model_ref: String,
    pub pattern: DeploymentPattern,
    pub description: Option<String>,
    pub labels: String,
    pub canary_ref: Option<String>,
    pub canary_percent: Option<i64>,
    pub spec_changed_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deployment_instances)]
pub struct InstanceRow {
    pub deployment: String,
    pub instance: String,
    pub version: Option<i64>,
    pub digest: Option<String>,
    pub canary_version: Option<i64>,
    pub canary_digest: Option<String>,
    pub status: InstanceStatus,
    pub detail: Option<String>,
    pub started_at: NaiveDateTime,
    pub last_seen: NaiveDateTime,
}

/// A report's changes to an instance row; `started_at` stays.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = deployment_instances, treat_none_as_null = true)]
struct InstanceChanges<'a> {
    version: Option<i64>,
    digest: Option<&'a str>,
    canary_version: Option<i64>,
    canary_digest: Option<&'a str>,
    status: InstanceStatus,
    detail: Option<&'a str>,
    last_seen: NaiveDateTime,
}

/// The filters of a listing.
#[derive(Debug, Default)]
pub struct DeploymentFilter<'a> {
    pub model: Option<&'a str>,
    /// Only deployments of models matching one of these `LIKE` patterns.
    pub models_like: Option<&'a [String]>,
    pub pattern: Option<DeploymentPattern>,
    /// Names after this one.
    pub after: Option<&'a str>,
    pub limit: i64,
}

pub fn find(conn: &mut DbConn, name: &str) -> StoreResult<Option<DeploymentRow>> {
    Ok(deployments::table
        .find(name)
        .select(DeploymentRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Locks the deployment's row until the transaction ends (on PostgreSQL; SQLite runs one
/// writer at a time): two reports judging the same deployment at once then judge one
/// after the other, the second seeing the first's instance row. False when it is gone.
pub fn lock(conn: &mut DbConn, name: &str) -> StoreResult<bool> {
    let locked = diesel::update(deployments::table.find(name))
        .set(deployments::state.eq(deployments::state))
        .execute(conn)?;
    Ok(locked == 1)
}

/// Whether the deployment exists: the cheap check of an instance's heartbeat.
pub fn exists(conn: &mut DbConn, name: &str) -> StoreResult<bool> {
    let count: i64 = deployments::table
        .filter(deployments::name.eq(name))
        .count()
        .get_result(conn)?;
    Ok(count == 1)
}

pub fn insert(conn: &mut DbConn, row: &DeploymentRow) -> StoreResult<()> {
    diesel::insert_into(deployments::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn replace(conn: &mut DbConn, name: &str, spec: &DeploymentSpec) -> StoreResult<()> {
    diesel::update(deployments::table.find(name))
        .set(spec)
        .execute(conn)?;
    Ok(())
}

/// Deletes the deployment with its instances and job links; false when there was none.
pub fn delete(conn: &mut DbConn, name: &str) -> StoreResult<bool> {
    diesel::delete(deployment_instances::table.filter(deployment_instances::deployment.eq(name)))
        .execute(conn)?;
    diesel::delete(batch_job_deployments::table.filter(batch_job_deployments::deployment.eq(name)))
        .execute(conn)?;
    let deleted = diesel::delete(deployments::table.find(name)).execute(conn)?;
    Ok(deleted == 1)
}

/// By name, after `filter.after`.
pub fn list(conn: &mut DbConn, filter: &DeploymentFilter<'_>) -> StoreResult<Vec<DeploymentRow>> {
    let mut query = deployments::table
        .select(DeploymentRow::as_select())
        .order(deployments::name.asc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(model) = filter.model {
        query = query.filter(deployments::model.eq(model.to_owned()));
    }
    if let Some(pattern) = filter.pattern {
        query = query.filter(deployments::pattern.eq(pattern));
    }
    if let Some(patterns) = filter.models_like {
        query = query.filter(super::like_any(deployments::model, patterns));
    }
    if let Some(after) = filter.after {
        query = query.filter(deployments::name.gt(after.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// The instances of the named deployments, by deployment and instance id.
pub fn instances(conn: &mut DbConn, names: &[&str]) -> StoreResult<Vec<InstanceRow>> {
    Ok(deployment_instances::table
        .filter(deployment_instances::deployment.eq_any(names))
        .select(InstanceRow::as_select())
        .order((
            deployment_instances::deployment.asc(),
            deployment_instances::instance.asc(),
        ))
        .load(conn)?)
}

pub fn find_instance(
    conn: &mut DbConn,
    deployment: &str,
    instance: &str,
) -> StoreResult<Option<InstanceRow>> {
    Ok(deployment_instances::table
        .find((deployment, instance))
        .select(InstanceRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Records a report: updates the instance's row, or inserts it on its first report. Two
/// first reports of one instance racing is the same outcome as one after the other.
pub fn upsert_instance(conn: &mut DbConn, row: &InstanceRow) -> StoreResult<()> {
    let changes = InstanceChanges {
        version: row.version,
        digest: row.digest.as_deref(),
        canary_version: row.canary_version,
        canary_digest: row.canary_digest.as_deref(),
        status: row.status,
        detail: row.detail.as_deref(),
        last_seen: row.last_seen,
    };
    let target = deployment_instances::table.find((&row.deployment, &row.instance));
    if diesel::update(target).set(&changes).execute(conn)? == 1 {
        return Ok(());
    }
    match diesel::insert_into(deployment_instances::table)
        .values(row)
        .execute(conn)
    {
        Ok(_) => Ok(()),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            diesel::update(target).set(&changes).execute(conn)?;
            Ok(())
        }
        Err(error) => Err(StoreError::from(error)),
    }
}

/// Forgets instances not seen since `before` (long gone: restarted under another id).
pub fn forget_instances(conn: &mut DbConn, before: NaiveDateTime) -> StoreResult<usize> {
    Ok(diesel::delete(
        deployment_instances::table.filter(deployment_instances::last_seen.lt(before)),
    )
    .execute(conn)?)
}

/// Moves the recorded state from `from` to `to`; false when another writer moved it
/// first (or the deployment is gone).
pub fn record_state(
    conn: &mut DbConn,
    name: &str,
    from: DeploymentState,
    to: DeploymentState,
    reason: &str,
) -> StoreResult<bool> {
    let updated = diesel::update(
        deployments::table
            .filter(deployments::name.eq(name))
            .filter(deployments::state.eq(from)),
    )
    .set((
        deployments::state.eq(to),
        deployments::state_reason.eq(reason),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Which events move a ref, for [`last_ref_move`].
#[derive(Debug, Clone, Copy)]
pub enum RefMoves<'a> {
    Stage(&'a str),
    Alias(&'a str),
    Latest,
    /// A version number never moves.
    Never,
}

/// When an event last moved the ref of `model` that `moves` describes.
pub fn last_ref_move(
    conn: &mut DbConn,
    model: &str,
    moves: RefMoves<'_>,
) -> StoreResult<Option<NaiveDateTime>> {
    let query = events::table
        .filter(events::model.eq(model.to_owned()))
        .select(diesel::dsl::max(events::created_at))
        .into_boxed();
    let query = match moves {
        RefMoves::Never => return Ok(None),
        RefMoves::Stage(stage) => query
            .filter(events::kind.eq(EventKind::StageChanged))
            .filter(events::stage.eq(stage.to_owned())),
        RefMoves::Alias(alias) => query
            .filter(events::kind.eq_any([EventKind::AliasSet, EventKind::AliasRemoved]))
            .filter(events::alias.eq(alias.to_owned())),
        RefMoves::Latest => query.filter(events::kind.eq_any([
            EventKind::VersionReady,
            EventKind::VersionArchived,
            EventKind::ModelCreated,
        ])),
    };
    Ok(query.get_result(conn)?)
}

/// Links a batch job to the deployment it runs for.
pub fn link_job(conn: &mut DbConn, job_id: &str, deployment: &str) -> StoreResult<()> {
    diesel::insert_into(batch_job_deployments::table)
        .values((
            batch_job_deployments::job_id.eq(job_id),
            batch_job_deployments::deployment.eq(deployment),
        ))
        .execute(conn)?;
    Ok(())
}

/// The deployment a batch job runs for, if any.
pub fn job_deployment(conn: &mut DbConn, job_id: &str) -> StoreResult<Option<String>> {
    Ok(batch_job_deployments::table
        .find(job_id)
        .select(batch_job_deployments::deployment)
        .get_result(conn)
        .optional()?)
}

/// The deployments of the given jobs, as (job id, deployment), for those linked to one.
pub fn job_deployments(conn: &mut DbConn, job_ids: &[&str]) -> StoreResult<Vec<(String, String)>> {
    Ok(batch_job_deployments::table
        .filter(batch_job_deployments::job_id.eq_any(job_ids))
        .select((
            batch_job_deployments::job_id,
            batch_job_deployments::deployment,
        ))
        .load(conn)?)
}

/// A batch deployment's latest approved job: what it observes.
#[derive(Debug, Clone, Queryable)]
pub struct ApprovedJob {
    pub id: String,
    pub version: Option<i64>,
    pub digest: Option<String>,
    pub finished_at: Option<NaiveDateTime>,
    pub reviewed_at: Option<NaiveDateTime>,
}

pub fn latest_approved_job(
    conn: &mut DbConn,
    deployment: &str,
) -> StoreResult<Option<ApprovedJob>> {
    Ok(batch_job_deployments::table
        .inner_join(batch_jobs::table.on(batch_jobs::id.eq(batch_job_deployments::job_id)))
        .filter(batch_job_deployments::deployment.eq(deployment))
        .filter(batch_jobs::status.eq(BatchJobStatus::Approved))
        .order((batch_jobs::reviewed_at.desc(), batch_jobs::number.desc()))
        .select((
            batch_jobs::id,
            batch_jobs::version,
            batch_jobs::digest,
            batch_jobs::finished_at,
            batch_jobs::reviewed_at,
        ))
        .first(conn)
        .optional()?)
}
