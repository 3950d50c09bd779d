//! Batch schedules: `/api/v1/batch-schedules[/{name}]`, jobs the registry submits on a
//! cron. Pausing and resuming are updates (`{"paused": true|false}`).

use reqwest::Method;

use super::api::{self, PageQuery};
use super::Client;
use crate::error::Result;
use crate::types::{BatchSchedule, BatchSchedulePage, CreateBatchSchedule, UpdateBatchSchedule};

impl Client {
    pub async fn create_batch_schedule(
        &self,
        schedule: &CreateBatchSchedule,
    ) -> Result<BatchSchedule> {
        self.send_json(Method::POST, api::BATCH_SCHEDULES, schedule)
            .await
    }

    /// One page of schedules, by name.
    pub async fn list_batch_schedules(&self, query: &PageQuery) -> Result<BatchSchedulePage> {
        self.get_json(&query.path(api::BATCH_SCHEDULES)).await
    }

    /// Schedules by name (following page tokens), at most `max`.
    pub async fn list_all_batch_schedules(&self, max: usize) -> Result<Vec<BatchSchedule>> {
        let mut query = PageQuery::default();
        let mut schedules = Vec::new();
        loop {
            let page = self.list_batch_schedules(&query).await?;
            schedules.extend(page.schedules);
            match page.next_page_token {
                Some(token) if schedules.len() < max => query.page_token = Some(token),
                _ => break,
            }
        }
        schedules.truncate(max);
        Ok(schedules)
    }

    pub async fn get_batch_schedule(&self, name: &str) -> Result<BatchSchedule> {
        self.get_json(&api::batch_schedule(name)).await
    }

    /// Changes the fields `update` names, leaving the others as they are.
    pub async fn update_batch_schedule(
        &self,
        name: &str,
        update: &UpdateBatchSchedule,
    ) -> Result<BatchSchedule> {
        self.send_json(Method::PATCH, &api::batch_schedule(name), update)
            .await
    }

    /// Deletes a schedule; the jobs it created stay.
    pub async fn delete_batch_schedule(&self, name: &str) -> Result<()> {
        self.delete(&api::batch_schedule(name)).await
    }
}
