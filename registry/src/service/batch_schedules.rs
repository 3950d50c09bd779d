//! Batch schedules: create, read, pause or change, delete, and fire. Each firing queues an
//! ordinary job with `schedule` and its fire time set; its ref is resolved when the job
//! starts, like any other job's.

use chrono::{DateTime, Utc};

use capstan_client::http::api::PageQuery;
use capstan_client::types::{
    BatchJobStatus, BatchSchedule, BatchSchedulePage, CreateBatchSchedule, DataFormat, EventKind,
    UpdateBatchSchedule,
};
use capstan_client::ModelName;

use super::batch::{job_event, queue_job};
use super::deployments::{check_job_deployment, record_job_deployment, DeploymentSettings};
use super::models::model_not_found;
use super::views::utc;
use super::{now, Registry};
use crate::domain::access::ModelScope;
use crate::domain::batch::check_label;
use crate::domain::paging::{decode_token, encode_token, page_limit};
use crate::domain::schedule::{check_schedule_name, Timetable};
use crate::error::{RegistryError, RegistryResult};
use crate::store::batch_rows::{
    BatchJobRow, NewBatchJobRow, NewScheduleRow, ScheduleChanges, ScheduleRow,
};
use crate::store::{batch, batch_schedules, deployments, events, DbConn, StoreError};

const DEFAULT_TIMEZONE: &str = "UTC";

/// Who a schedule's jobs are created (and auto-approved) by, in the event log.
pub(crate) fn schedule_actor(name: &str) -> String {
    format!("schedule:{name}")
}

fn schedule_not_found(name: &str) -> RegistryError {
    RegistryError::not_found(
        "schedule_not_found",
        format!(
            "no batch schedule {:?}",
            name.chars().take(64).collect::<String>()
        ),
    )
}

fn find_schedule(conn: &mut DbConn, name: &str) -> RegistryResult<ScheduleRow> {
    batch_schedules::find(conn, name)?.ok_or_else(|| schedule_not_found(name))
}

/// The schedule, if `scope` reaches its model (otherwise it does not exist for the caller).
fn find_visible_schedule(
    conn: &mut DbConn,
    name: &str,
    scope: &ModelScope,
) -> RegistryResult<ScheduleRow> {
    batch_schedules::find(conn, name)?
        .filter(|row| scope.allows(&row.model))
        .ok_or_else(|| schedule_not_found(name))
}

fn timetable(row: &ScheduleRow) -> Result<Timetable, StoreError> {
    Timetable::parse(&row.cron, &row.timezone)
        .map_err(|e| StoreError::Invalid(format!("stored schedule {:?}: {e}", row.name)))
}

fn schedule_view(
    conn: &mut DbConn,
    row: &ScheduleRow,
    at: DateTime<Utc>,
) -> RegistryResult<BatchSchedule> {
    let next_fire_at = if row.paused {
        None
    } else {
        timetable(row)?.next(utc(row.last_fired_at), at)
    };
    Ok(BatchSchedule {
        name: row.name.clone(),
        cron: row.cron.clone(),
        timezone: row.timezone.clone(),
        model: row.model_ref.clone(),
        input: serde_json::from_str(&row.input).map_err(StoreError::from)?,
        output_format: row.output_format,
        id_column: row.id_column.clone(),
        max_bad_rows: row.max_bad_rows,
        auto_approve: row.auto_approve,
        paused: row.paused,
        deployment: row
            .deployment
            .as_deref()
            .map(ModelName::parse)
            .transpose()
            .map_err(|e| StoreError::Invalid(format!("stored deployment name: {e}")))?,
        next_fire_at,
        last_fire_at: batch_schedules::last_fire_time(conn, &row.name)?.map(utc),
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    })
}

impl Registry {
    /// Checks a schedule like a job (its ref and input) and creates it; its first firing
    /// is the first cron time after now.
    pub async fn create_batch_schedule(
        &self,
        request: CreateBatchSchedule,
        scope: &ModelScope,
    ) -> RegistryResult<BatchSchedule> {
        check_schedule_name(&request.name)?;
        if !scope.allows(request.model.model.as_str()) {
            return Err(model_not_found(request.model.model.as_str()));
        }
        let timezone = request
            .timezone
            .unwrap_or_else(|| DEFAULT_TIMEZONE.to_owned());
        Timetable::parse(&request.cron, &timezone)?;
        if let Some(column) = &request.id_column {
            check_label("id_column", column)?;
        }
        self.check_job_source(&request.model, &request.input)
            .await?;
        let at = now();
        let row = NewScheduleRow {
            name: request.name,
            cron: request.cron,
            timezone,
            model: request.model.model.to_string(),
            model_ref: request.model.to_string(),
            input: serde_json::to_string(&request.input).map_err(StoreError::from)?,
            output_format: request.output_format.unwrap_or(DataFormat::Csv),
            id_column: request.id_column,
            max_bad_rows: i64::try_from(request.max_bad_rows.unwrap_or(0)).unwrap_or(i64::MAX),
            auto_approve: request.auto_approve.unwrap_or(false),
            paused: false,
            last_fired_at: at,
            created_at: at,
            updated_at: at,
            deployment: request.deployment.map(|d| d.to_string()),
        };
        self.write(move |conn| {
            if let Some(deployment) = &row.deployment {
                check_job_deployment(conn, deployment, &row.model)?;
            }
            let row = batch_schedules::insert(conn, &row)?;
            schedule_view(conn, &row, utc(at))
        })
        .await
        .map_err(|e| match e {
            RegistryError::Store(StoreError::UniqueViolation { .. }) => {
                RegistryError::conflict("schedule_exists", "a schedule with this name exists")
            }
            other => other,
        })
    }

    pub async fn get_batch_schedule(
        &self,
        name: String,
        scope: &ModelScope,
    ) -> RegistryResult<BatchSchedule> {
        let scope = scope.clone();
        self.db
            .read(move |conn| {
                let row = find_visible_schedule(conn, &name, &scope)?;
                schedule_view(conn, &row, Utc::now())
            })
            .await
    }

    pub async fn list_batch_schedules(
        &self,
        query: PageQuery,
        scope: &ModelScope,
    ) -> RegistryResult<BatchSchedulePage> {
        let limit = page_limit(query.limit)?;
        let models_like = scope.like_patterns();
        let after = query
            .page_token
            .as_deref()
            .map(|token| decode_token("batch-schedules", token))
            .transpose()?;
        self.db
            .read(move |conn| {
                let rows = batch_schedules::list(
                    conn,
                    after.as_deref(),
                    models_like.as_deref(),
                    limit + 1,
                )?;
                let has_more = rows.len() as i64 > limit;
                let page = &rows[..rows.len().min(limit as usize)];
                let next_page_token = has_more
                    .then(|| {
                        page.last()
                            .map(|row| encode_token("batch-schedules", &row.name))
                    })
                    .flatten();
                let at = Utc::now();
                Ok(BatchSchedulePage {
                    schedules: page
                        .iter()
                        .map(|row| schedule_view(conn, row, at))
                        .collect::<Result<_, _>>()?,
                    next_page_token,
                })
            })
            .await
    }

    /// Pauses, resumes or re-times a schedule. Resuming, or a new cron or time zone,
    /// counts from now: fire times that passed meanwhile are skipped, not caught up.
    pub async fn update_batch_schedule(
        &self,
        name: String,
        update: UpdateBatchSchedule,
        scope: &ModelScope,
    ) -> RegistryResult<BatchSchedule> {
        let scope = scope.clone();
        self.write(move |conn| {
            let row = find_visible_schedule(conn, &name, &scope)?;
            let cron = update.cron.clone().unwrap_or_else(|| row.cron.clone());
            let timezone = update
                .timezone
                .clone()
                .unwrap_or_else(|| row.timezone.clone());
            Timetable::parse(&cron, &timezone)?;
            let at = now();
            let resumed = row.paused && update.paused == Some(false);
            let retimed = cron != row.cron || timezone != row.timezone;
            let changes = ScheduleChanges {
                cron: update.cron,
                timezone: update.timezone,
                auto_approve: update.auto_approve,
                paused: update.paused,
                last_fired_at: (resumed || retimed).then_some(at.max(row.last_fired_at)),
                updated_at: Some(at),
            };
            batch_schedules::update(conn, &name, &changes)?;
            let row = find_schedule(conn, &name)?;
            schedule_view(conn, &row, utc(at))
        })
        .await
    }

    /// Deletes a schedule; the jobs it created stay.
    pub async fn delete_batch_schedule(
        &self,
        name: String,
        scope: &ModelScope,
    ) -> RegistryResult<()> {
        let scope = scope.clone();
        self.write(move |conn| {
            find_visible_schedule(conn, &name, &scope)?;
            if !batch_schedules::delete(conn, &name)? {
                return Err(schedule_not_found(&name));
            }
            Ok(())
        })
        .await
    }

    /// Queues a job for every schedule whose fire time has come (the latest one only, after
    /// a gap) and says when the next fire time is, to sleep until then.
    pub async fn fire_due_schedules(&self) -> RegistryResult<Option<DateTime<Utc>>> {
        let schedules = self
            .db
            .read(|conn| Ok::<_, RegistryError>(batch_schedules::active(conn)?))
            .await?;
        let mut next: Option<DateTime<Utc>> = None;
        for row in schedules {
            let timetable = match timetable(&row) {
                Ok(timetable) => timetable,
                Err(error) => {
                    tracing::warn!(schedule = row.name, %error, "skipping a schedule");
                    continue;
                }
            };
            let at = Utc::now();
            let mut last_fired = utc(row.last_fired_at);
            if let Some(fire) = timetable.due(last_fired, at) {
                self.fire(&row, fire).await?;
                last_fired = fire;
            }
            if let Some(upcoming) = timetable.next(last_fired, Utc::now()) {
                next = Some(next.map_or(upcoming, |n| n.min(upcoming)));
            }
        }
        Ok(next)
    }

    /// Queues the job of one firing, unless another replica already did.
    async fn fire(&self, schedule: &ScheduleRow, fire: DateTime<Utc>) -> RegistryResult<()> {
        let actor = schedule_actor(&schedule.name);
        let input: capstan_client::types::BatchInput =
            serde_json::from_str(&schedule.input).map_err(StoreError::from)?;
        let dataset_id = match &input {
            capstan_client::types::BatchInput::Dataset { dataset } => Some(dataset.clone()),
            capstan_client::types::BatchInput::Url { .. } => None,
        };
        let row = NewBatchJobRow {
            id: uuid::Uuid::new_v4().to_string(),
            status: BatchJobStatus::Queued,
            model: schedule.model.clone(),
            model_ref: schedule.model_ref.clone(),
            input: schedule.input.clone(),
            dataset_id,
            output_format: schedule.output_format,
            id_column: schedule.id_column.clone(),
            max_bad_rows: schedule.max_bad_rows,
            rows_total: None,
            rows_done: 0,
            bad_rows: 0,
            errors: "[]".into(),
            schedule: Some(schedule.name.clone()),
            fire_time: Some(fire.naive_utc()),
            created_by: Some(actor.clone()),
            created_at: now(),
        };
        let name = schedule.name.clone();
        let deployment = schedule.deployment.clone();
        let fired = self
            .write(move |conn| {
                if !batch_schedules::claim_firing(conn, &name, fire.naive_utc())? {
                    return Ok(None);
                }
                let job = queue_job(conn, row, &actor)?;
                if let Some(deployment) = &deployment {
                    link_schedule_job(conn, &name, &job, deployment)?;
                }
                Ok(Some(job.id))
            })
            .await;
        match fired {
            Ok(Some(job)) => {
                tracing::info!(schedule = schedule.name, job, %fire, "schedule fired");
                Ok(())
            }
            Ok(None) | Err(RegistryError::Store(StoreError::UniqueViolation { .. })) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Approves a succeeded job at once when the schedule that made it says so, and
    /// records the state of the deployment it runs for.
    pub(crate) fn auto_approve(
        conn: &mut DbConn,
        job: &str,
        settings: DeploymentSettings,
    ) -> RegistryResult<()> {
        let job = super::batch::find_job(conn, job)?;
        let Some(name) = &job.schedule else {
            return Ok(());
        };
        let Some(schedule) = batch_schedules::find(conn, name)? else {
            return Ok(());
        };
        if !schedule.auto_approve {
            return Ok(());
        }
        let actor = schedule_actor(name);
        let reason = "the schedule approves its jobs (auto_approve)";
        if batch::review(
            conn,
            &job.id,
            BatchJobStatus::Approved,
            &actor,
            Some(reason),
            now(),
        )? {
            let mut row = job_event(EventKind::BatchJobApproved, &job, &actor);
            row.reason = Some(reason.to_owned());
            events::append(conn, row)?;
            record_job_deployment(conn, &job.id, settings)?;
        }
        Ok(())
    }
}

/// Links a firing's job to the schedule's deployment when it still is a batch deployment
/// of the schedule's model; when it was deleted or changed since, the job runs unlinked
/// (a warning says so) rather than not at all.
fn link_schedule_job(
    conn: &mut DbConn,
    schedule: &str,
    job: &BatchJobRow,
    deployment: &str,
) -> RegistryResult<()> {
    match check_job_deployment(conn, deployment, &job.model) {
        Ok(()) => Ok(deployments::link_job(conn, &job.id, deployment)?),
        Err(error @ (RegistryError::NotFound { .. } | RegistryError::Unprocessable { .. })) => {
            tracing::warn!(schedule, job = job.id, deployment, %error, "job not linked to its deployment");
            Ok(())
        }
        Err(error) => Err(error),
    }
}
