//! Deployments as operators and instances drive them: create or replace, read (the state
//! computed when asked), list, delete, instance reports, and recording state transitions
//! as `deployment_state_changed` events, each once.
//!
//! A report is a heartbeat most of the time: it updates one row and wakes nobody. Only a
//! report that changes what an instance runs (or its status) re-judges the deployment at
//! once; the rest (a grace period running out, an instance going silent, a promotion)
//! is found by the periodic [`Registry::record_deployment_states`].

use chrono::Utc;

use capstan_client::http::DeploymentQuery;
use capstan_client::types::{
    Deployment, DeploymentInstance, DeploymentPage, DeploymentState, EventKind, InstanceReport,
    PutDeployment, MAX_DETAIL_LEN,
};
use capstan_client::ModelName;

pub use super::deployment_views::DeploymentSettings;
use super::deployment_views::{deployment_view, deployment_views};
use super::views::{to_json, utc};
use super::{event, now, Registry, SYSTEM};
use crate::domain::access::{Caller, ModelScope};
use crate::domain::deployments::{
    check_deployment, check_job_deployment as check_job_deployment_rule, is_stale,
};
use crate::domain::metadata::check_text;
use crate::domain::paging::{decode_token, encode_token, page_limit};
use crate::error::{RegistryError, RegistryResult};
use crate::store::deployments::{
    self as store, DeploymentFilter, DeploymentRow, DeploymentSpec, InstanceRow,
};
use crate::store::{events, DbConn};

/// Instances silent this long are forgotten (an instance that restarts reports under a
/// new id, so the old one would otherwise stay forever).
const FORGET_INSTANCES_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(1);

fn deployment_not_found(name: &str) -> RegistryError {
    RegistryError::not_found("deployment_not_found", format!("no deployment {name:?}"))
}

fn find_deployment(conn: &mut DbConn, name: &str) -> RegistryResult<DeploymentRow> {
    store::find(conn, name)?.ok_or_else(|| deployment_not_found(name))
}

/// The deployment, if `scope` reaches its model (otherwise it does not exist for the
/// caller).
fn find_visible(
    conn: &mut DbConn,
    name: &str,
    scope: &ModelScope,
) -> RegistryResult<DeploymentRow> {
    store::find(conn, name)?
        .filter(|row| scope.allows(&row.model))
        .ok_or_else(|| deployment_not_found(name))
}

fn deployment_event(
    kind: EventKind,
    row: &DeploymentRow,
    actor: &str,
) -> crate::store::rows::EventRow {
    let mut event = event(kind, &row.model, None, actor);
    event.deployment = Some(row.name.clone());
    event
}

/// Judges `row` now and, when the state differs from the recorded one, records the
/// transition and its event — unless another writer recorded it first. True when this
/// call wrote an event.
fn record_transition(
    conn: &mut DbConn,
    row: &DeploymentRow,
    view: &Deployment,
) -> RegistryResult<bool> {
    if view.state == row.state {
        return Ok(false);
    }
    if !store::record_state(conn, &row.name, row.state, view.state, &view.reason)? {
        return Ok(false);
    }
    let mut event = deployment_event(EventKind::DeploymentStateChanged, row, SYSTEM);
    event.version = view.desired.as_ref().map(|d| d.version);
    event.from_state = Some(row.state.as_str().to_owned());
    event.to_state = Some(view.state.as_str().to_owned());
    event.reason = Some(view.reason.clone());
    events::append(conn, event)?;
    tracing::info!(
        deployment = row.name,
        from = row.state.as_str(),
        to = view.state.as_str(),
        reason = view.reason,
        "deployment state changed"
    );
    Ok(true)
}

/// Checks that a batch job (or a schedule's jobs) of `job_model` may run for deployment
/// `name`: it exists, and it is a batch deployment of that model.
pub(crate) fn check_job_deployment(
    conn: &mut DbConn,
    name: &str,
    job_model: &str,
) -> RegistryResult<()> {
    let row = find_deployment(conn, name)?;
    check_job_deployment_rule(&row.name, row.pattern, &row.model, job_model)?;
    Ok(())
}

/// Judges the deployment batch job `job_id` runs for (if any) now and records its
/// transition: an approval changes what a batch deployment observes, so its state is
/// recorded in the approval's transaction rather than by the recorder later. True when
/// an event was written.
pub(crate) fn record_job_deployment(
    conn: &mut DbConn,
    job_id: &str,
    settings: DeploymentSettings,
) -> RegistryResult<bool> {
    let Some(name) = store::job_deployment(conn, job_id)? else {
        return Ok(false);
    };
    if !store::lock(conn, &name)? {
        return Ok(false);
    }
    let Some(row) = store::find(conn, &name)? else {
        return Ok(false);
    };
    let instances = store::instances(conn, &[name.as_str()])?;
    let view = deployment_view(conn, &row, &instances, settings, Utc::now())?;
    record_transition(conn, &row, &view)
}

fn check_report(report: &InstanceReport) -> RegistryResult<()> {
    if report.version.is_some() != report.digest.is_some() {
        return Err(RegistryError::bad_request(
            "invalid_report",
            "version and digest are given together, or neither (an instance with no model yet)",
        ));
    }
    if report.version.is_some_and(|v| v < 1)
        || report.canary.as_ref().is_some_and(|c| c.version < 1)
    {
        return Err(RegistryError::bad_request(
            "invalid_report",
            "versions are numbers from 1",
        ));
    }
    if let Some(detail) = &report.detail {
        if detail.len() > MAX_DETAIL_LEN {
            return Err(RegistryError::bad_request(
                "invalid_text",
                format!("detail must be at most {MAX_DETAIL_LEN} bytes"),
            ));
        }
        check_text("detail", Some(detail))?;
    }
    Ok(())
}

impl Registry {
    /// Creates the deployment (true) or replaces it whole (false), recording the state it
    /// is in now.
    pub async fn put_deployment(
        &self,
        name: ModelName,
        spec: PutDeployment,
        caller: &Caller,
    ) -> RegistryResult<(bool, Deployment)> {
        let actor = caller.name.clone();
        let scope = caller.scope.clone();
        check_deployment(&spec)?;
        caller.scope.check_creates(spec.model.model.as_str())?;
        let settings = *self.deployment_settings;
        let labels = to_json(&spec.labels.clone().unwrap_or_default())?;
        self.write(move |conn| {
            let at = now();
            let existing = store::find(conn, name.as_str())?;
            if existing
                .as_ref()
                .is_some_and(|row| !scope.allows(&row.model))
            {
                return Err(deployment_not_found(name.as_str()));
            }
            let canary_ref = spec.canary.as_ref().map(|c| c.model.to_string());
            let canary_percent = spec.canary.as_ref().map(|c| i64::from(c.percent));
            let model_ref = spec.model.to_string();
            let spec_changed_at = match &existing {
                Some(old) if old.model_ref == model_ref && old.canary_ref == canary_ref => {
                    old.spec_changed_at
                }
                _ => at,
            };
            let row = DeploymentRow {
                name: name.to_string(),
                model: spec.model.model.to_string(),
                model_ref,
                pattern: spec.pattern,
                description: spec.description,
                labels,
                canary_ref,
                canary_percent,
                state: existing
                    .as_ref()
                    .map_or(DeploymentState::NoInstances, |old| old.state),
                state_reason: existing
                    .as_ref()
                    .map_or_else(String::new, |old| old.state_reason.clone()),
                spec_changed_at,
                created_at: existing.as_ref().map_or(at, |old| old.created_at),
                updated_at: at,
            };
            let created = match &existing {
                None => {
                    store::insert(conn, &row)?;
                    events::append(
                        conn,
                        deployment_event(EventKind::DeploymentCreated, &row, &actor),
                    )?;
                    true
                }
                Some(old) => {
                    let unchanged = old.model_ref == row.model_ref
                        && old.pattern == row.pattern
                        && old.description == row.description
                        && old.labels == row.labels
                        && old.canary_ref == row.canary_ref
                        && old.canary_percent == row.canary_percent;
                    if !unchanged {
                        store::replace(conn, &row.name, &spec_of(&row))?;
                        events::append(
                            conn,
                            deployment_event(EventKind::DeploymentUpdated, &row, &actor),
                        )?;
                    }
                    false
                }
            };
            let instances = store::instances(conn, &[row.name.as_str()])?;
            let view = deployment_view(conn, &row, &instances, settings, utc(at))?;
            if created {
                store::record_state(conn, &row.name, row.state, view.state, &view.reason)?;
            } else {
                record_transition(conn, &row, &view)?;
            }
            Ok((created, view))
        })
        .await
    }

    pub async fn get_deployment(
        &self,
        name: ModelName,
        scope: &ModelScope,
    ) -> RegistryResult<Deployment> {
        let settings = *self.deployment_settings;
        let scope = scope.clone();
        self.db
            .read(move |conn| {
                let row = find_visible(conn, name.as_str(), &scope)?;
                let instances = store::instances(conn, &[row.name.as_str()])?;
                Ok(deployment_view(
                    conn,
                    &row,
                    &instances,
                    settings,
                    Utc::now(),
                )?)
            })
            .await
    }

    /// A page of deployments by name; a `state` filter is applied to the states computed
    /// now, so a page may take several reads.
    pub async fn list_deployments(
        &self,
        query: DeploymentQuery,
        scope: &ModelScope,
    ) -> RegistryResult<DeploymentPage> {
        let limit = page_limit(query.limit)?;
        let models_like = scope.like_patterns();
        let after = query
            .page_token
            .as_deref()
            .map(|token| decode_token("deployments", token))
            .transpose()?;
        let settings = *self.deployment_settings;
        self.db
            .read(move |conn| {
                let at = Utc::now();
                let mut cursor = after;
                let mut found: Vec<Deployment> = Vec::new();
                loop {
                    let rows = store::list(
                        conn,
                        &DeploymentFilter {
                            model: query.model.as_ref().map(ModelName::as_str),
                            models_like: models_like.as_deref(),
                            pattern: query.pattern,
                            after: cursor.as_deref(),
                            limit: limit + 1,
                        },
                    )?;
                    let exhausted = rows.len() as i64 <= limit;
                    cursor = rows.last().map(|r| r.name.clone());
                    let views = deployment_views(conn, &rows, settings, at)?;
                    found.extend(
                        views
                            .into_iter()
                            .filter(|d| query.state.is_none_or(|s| d.state == s)),
                    );
                    if exhausted || found.len() as i64 > limit {
                        break;
                    }
                }
                let has_more = found.len() as i64 > limit;
                found.truncate(limit as usize);
                let next_page_token = has_more
                    .then(|| {
                        found
                            .last()
                            .map(|d| encode_token("deployments", d.name.as_str()))
                    })
                    .flatten();
                Ok(DeploymentPage {
                    deployments: found,
                    next_page_token,
                })
            })
            .await
    }

    pub async fn delete_deployment(&self, name: ModelName, caller: &Caller) -> RegistryResult<()> {
        let actor = caller.name.clone();
        let scope = caller.scope.clone();
        self.write(move |conn| {
            let row = find_visible(conn, name.as_str(), &scope)?;
            store::delete(conn, &row.name)?;
            events::append(
                conn,
                deployment_event(EventKind::DeploymentDeleted, &row, &actor),
            )?;
            Ok(())
        })
        .await
    }

    /// Records what an instance runs: true on its first report. A report that changes
    /// the instance's version, canary or status re-judges the deployment at once.
    pub async fn report_instance(
        &self,
        name: ModelName,
        instance: ModelName,
        report: InstanceReport,
        scope: &ModelScope,
    ) -> RegistryResult<(bool, DeploymentInstance)> {
        check_report(&report)?;
        let settings = *self.deployment_settings;
        let scope = scope.clone();
        let (created, view, evented) = self
            .db
            .write(move |conn| {
                let at = now();
                find_visible(conn, name.as_str(), &scope)?;
                let before = store::find_instance(conn, name.as_str(), instance.as_str())?;
                let row = InstanceRow {
                    deployment: name.to_string(),
                    instance: instance.to_string(),
                    version: report.version,
                    digest: report.digest.as_ref().map(ToString::to_string),
                    canary_version: report.canary.as_ref().map(|c| c.version),
                    canary_digest: report.canary.as_ref().map(|c| c.digest.to_string()),
                    status: report.status,
                    detail: report.detail,
                    started_at: before.as_ref().map_or(at, |b| b.started_at),
                    last_seen: at,
                };
                store::upsert_instance(conn, &row)?;
                let changed = before.as_ref().is_none_or(|b| {
                    b.digest != row.digest
                        || b.canary_digest != row.canary_digest
                        || b.status != row.status
                        || is_stale(utc(b.last_seen), utc(at), settings.heartbeat)
                });
                let mut evented = false;
                if changed {
                    store::lock(conn, name.as_str())?;
                    let deployment = find_deployment(conn, name.as_str())?;
                    let instances = store::instances(conn, &[name.as_str()])?;
                    let view = deployment_view(conn, &deployment, &instances, settings, utc(at))?;
                    evented = record_transition(conn, &deployment, &view)?;
                }
                let view =
                    super::deployment_views::instance_view(&row, utc(at), settings.heartbeat);
                Ok::<_, RegistryError>((before.is_none(), view, evented))
            })
            .await?;
        if evented {
            self.notify_changes();
        }
        Ok((created, view))
    }

    /// Judges every deployment now and records each state that changed since it was last
    /// recorded (at most one event per transition, whichever replica notices first); also
    /// forgets instances silent for an hour. Returns how many transitions it recorded.
    pub async fn record_deployment_states(&self) -> RegistryResult<usize> {
        const PAGE: i64 = 200;
        let settings = *self.deployment_settings;
        let mut after: Option<String> = None;
        let mut recorded = 0;
        loop {
            let cursor = after.take();
            let (changed, last): (Vec<String>, Option<String>) = self
                .db
                .read(move |conn| {
                    let rows = store::list(
                        conn,
                        &DeploymentFilter {
                            after: cursor.as_deref(),
                            limit: PAGE,
                            ..DeploymentFilter::default()
                        },
                    )?;
                    let views = deployment_views(conn, &rows, settings, Utc::now())?;
                    let last = rows.last().map(|r| r.name.clone());
                    let changed = rows
                        .into_iter()
                        .zip(views)
                        .filter(|(row, view)| row.state != view.state)
                        .map(|(row, _)| row.name)
                        .collect();
                    RegistryResult::Ok((changed, last))
                })
                .await?;
            // Judged again inside the write, so a read that raced a report records
            // nothing wrong.
            for name in changed {
                if self.record_state_of(name).await? {
                    recorded += 1;
                }
            }
            match last {
                Some(name) => after = Some(name),
                None => break,
            }
        }
        let before = now() - FORGET_INSTANCES_AFTER;
        self.db
            .write(move |conn| RegistryResult::Ok(store::forget_instances(conn, before)?))
            .await?;
        Ok(recorded)
    }

    async fn record_state_of(&self, name: String) -> RegistryResult<bool> {
        let settings = *self.deployment_settings;
        self.write(move |conn| {
            if !store::lock(conn, &name)? {
                return Ok(false);
            }
            let Some(row) = store::find(conn, &name)? else {
                return Ok(false);
            };
            let instances = store::instances(conn, &[name.as_str()])?;
            let view = deployment_view(conn, &row, &instances, settings, Utc::now())?;
            record_transition(conn, &row, &view)
        })
        .await
    }

    pub fn deployment_settings(&self) -> DeploymentSettings {
        *self.deployment_settings
    }
}

fn spec_of(row: &DeploymentRow) -> DeploymentSpec {
    DeploymentSpec {
        model: row.model.clone(),
        model_ref: row.model_ref.clone(),
        pattern: row.pattern,
        description: row.description.clone(),
        labels: row.labels.clone(),
        canary_ref: row.canary_ref.clone(),
        canary_percent: row.canary_percent,
        spec_changed_at: row.spec_changed_at,
        updated_at: row.updated_at,
    }
}
