//! Reading the event log.

use capstan_client::types::{EventKind, EventPage};
use capstan_client::ModelName;

use super::convert::event_view;
use super::Registry;
use crate::domain::paging::page_limit;
use crate::error::{RegistryError, RegistryResult};
use crate::store::events::{self, EventFilter};

#[derive(Debug, Default)]
pub struct EventQuery {
    pub model: Option<ModelName>,
    pub kind: Option<EventKind>,
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

impl Registry {
    /// The newest event's `seq` (0 when the log is empty).
    pub async fn last_event_seq(&self) -> RegistryResult<i64> {
        self.db.read(|conn| Ok(events::last_seq(conn)?)).await
    }

    /// Up to `limit` events after `after`, oldest first.
    pub async fn events_after(
        &self,
        after: i64,
        limit: i64,
    ) -> RegistryResult<Vec<capstan_client::types::Event>> {
        Ok(self
            .list_events(EventQuery {
                after: Some(after),
                limit: Some(limit.clamp(1, 1000)),
                ..EventQuery::default()
            })
            .await?
            .events)
    }

    /// Events with `seq > after`, oldest first.
    pub async fn list_events(&self, query: EventQuery) -> RegistryResult<EventPage> {
        let limit = page_limit(query.limit)?;
        let after = query.after.unwrap_or(0);
        if after < 0 {
            return Err(RegistryError::bad_request(
                "invalid_after",
                "after must be a sequence number ≥ 0",
            ));
        }
        self.db
            .read(move |conn| {
                let rows = events::list(
                    conn,
                    &EventFilter {
                        model: query.model.as_ref().map(ModelName::as_str),
                        kind: query.kind.map(EventKind::as_str),
                        after,
                        limit,
                    },
                )?;
                let events = rows
                    .into_iter()
                    .map(event_view)
                    .collect::<Result<Vec<_>, _>>()?;
                let last_seq = events.last().map(|e| e.seq);
                Ok(EventPage { events, last_seq })
            })
            .await
    }
}
