//! Reading the event log: pages for the API, published messages (with the refs each event
//! moved and the artifact they now name) for subscribers, and the relays' bookkeeping.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use capstan_client::http::{api, EventQuery};
use capstan_client::types::{
    ArtifactPointer, Event, EventKind, EventMessage, EventPage, VersionStatus,
};
use capstan_client::{Digest, ModelName, VersionRef};

use super::views::event_view;
use super::{now, Registry};
use crate::domain::access::ModelScope;
use crate::domain::paging::page_limit;
use crate::domain::refs::RefReplay;
use crate::error::{RegistryError, RegistryResult};
use crate::store::events::{self, EventFilter};
use crate::store::relay::{self, RelayPosition};
use crate::store::rows::VersionRow;
use crate::store::{versions, DbConn, StoreResult};

/// Which events to read as published messages: `after < seq <= until`, oldest first.
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    pub model: Option<ModelName>,
    /// Only models matching these `LIKE` patterns (a scoped token's stream).
    pub models_like: Option<Vec<String>>,
    pub kind: Option<EventKind>,
    pub after: i64,
    pub until: Option<i64>,
    pub limit: i64,
}

impl Registry {
    /// The newest event's `seq` (0 when the log is empty).
    pub async fn last_event_seq(&self) -> RegistryResult<i64> {
        self.db.read(|conn| Ok(events::last_seq(conn)?)).await
    }

    /// Up to `limit` events after `after`, oldest first.
    pub async fn events_after(&self, after: i64, limit: i64) -> RegistryResult<Vec<Event>> {
        Ok(self
            .list_events(
                EventQuery {
                    after: Some(after),
                    limit: Some(limit.clamp(1, 1000)),
                    ..EventQuery::default()
                },
                &ModelScope::All,
            )
            .await?
            .events)
    }

    /// The newest `limit` (1–1000) events of model `name`, newest first: its history as
    /// the UI shows it.
    pub async fn model_history(&self, name: ModelName, limit: i64) -> RegistryResult<Vec<Event>> {
        let limit = page_limit(Some(limit))?;
        self.db
            .read(move |conn| {
                events::newest_of_model(conn, name.as_str(), limit)?
                    .into_iter()
                    .map(event_view)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(Into::into)
            })
            .await
    }

    /// Events with `seq > after`, oldest first, of the models `scope` reaches.
    pub async fn list_events(
        &self,
        query: EventQuery,
        scope: &ModelScope,
    ) -> RegistryResult<EventPage> {
        let models_like = scope.like_patterns();
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
                        models_like: models_like.as_deref(),
                        actor: query.actor.as_deref(),
                        kind: query.kind,
                        after,
                        until: None,
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

    /// The events `query` selects as the messages subscribers receive. Artifact URLs are
    /// absolute under `public_url` when given, else paths.
    pub async fn event_messages(
        &self,
        query: MessageQuery,
        public_url: Option<Arc<str>>,
    ) -> RegistryResult<Vec<EventMessage>> {
        self.db
            .read(move |conn| {
                let rows = events::list(
                    conn,
                    &EventFilter {
                        model: query.model.as_ref().map(ModelName::as_str),
                        models_like: query.models_like.as_deref(),
                        actor: None,
                        kind: query.kind,
                        after: query.after,
                        until: query.until,
                        limit: query.limit.clamp(1, 1000),
                    },
                )?;
                let until = rows.last().map_or(0, |row| row.seq);
                let mut replays: HashMap<String, ModelReplay> = HashMap::new();
                let mut messages = Vec::with_capacity(rows.len());
                let mut targets = Vec::with_capacity(rows.len());
                for row in rows {
                    let event = event_view(row)?;
                    let replay = match replays.entry(event.model.to_string()) {
                        Entry::Occupied(entry) => entry.into_mut(),
                        Entry::Vacant(entry) => entry.insert(ModelReplay::load(
                            conn,
                            event.model.as_str(),
                            event.seq,
                            until,
                        )?),
                    };
                    let (message, target) = message_of(event, replay);
                    messages.push(message);
                    targets.push(target);
                }
                let artifacts = Artifacts::load(conn, &messages, &targets)?;
                for (message, target) in messages.iter_mut().zip(targets) {
                    message.artifact = target.and_then(|version| {
                        artifacts.pointer(&message.event, version, public_url.as_deref())
                    });
                }
                Ok(messages)
            })
            .await
    }
}

/// `latest` before and after an event that may have moved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LatestMove {
    before: Option<i64>,
    after: Option<i64>,
}

/// How many renames back a model's history is followed.
const MAX_RENAMES: usize = 32;

/// One model's refs replayed from its log: loaded once per batch of messages (its
/// history up to the batch's last event), then advanced event by event, so a batch costs
/// one history read per model rather than one per event.
struct ModelReplay {
    replay: RefReplay,
    /// History events not applied yet, oldest first.
    pending: VecDeque<Event>,
}

impl ModelReplay {
    fn load(conn: &mut DbConn, model: &str, from: i64, until: i64) -> StoreResult<Self> {
        let history = |conn: &mut DbConn, model: &str, from: i64, until: i64| {
            events::ref_history(conn, model, from, until)?
                .into_iter()
                .map(event_view)
                .collect::<StoreResult<VecDeque<Event>>>()
        };
        let mut pending = history(conn, model, from, until)?;
        // A renamed model's history starts under its previous name(s).
        for _ in 0..MAX_RENAMES {
            let Some(renamed) = pending
                .front()
                .filter(|e| e.kind == EventKind::ModelRenamed)
            else {
                break;
            };
            let Some(previous) = renamed.previous_name.clone() else {
                break;
            };
            let before = renamed.seq - 1;
            for earlier in history(conn, previous.as_str(), before, before)?
                .into_iter()
                .rev()
            {
                pending.push_front(earlier);
            }
        }
        Ok(ModelReplay {
            replay: RefReplay::default(),
            pending,
        })
    }

    /// Applies the history before `event`, then `event` itself; returns `latest` as it was
    /// just before `event`. Events must come in `seq` order.
    fn advance(&mut self, event: &Event) -> Option<i64> {
        while self.pending.front().is_some_and(|e| e.seq < event.seq) {
            if let Some(earlier) = self.pending.pop_front() {
                self.replay.apply(&earlier);
            }
        }
        // The event itself may be part of the history read; it is applied below.
        if self.pending.front().is_some_and(|e| e.seq == event.seq) {
            self.pending.pop_front();
        }
        let before = self.replay.state().latest;
        self.replay.apply(event);
        before
    }
}

/// The message of `event` without its artifact, and the version whose artifact it names.
fn message_of(event: Event, replay: &mut ModelReplay) -> (EventMessage, Option<i64>) {
    let latest_before = replay.advance(&event);
    let latest = matches!(
        event.kind,
        EventKind::VersionReady | EventKind::VersionArchived | EventKind::VersionDeleted
    )
    .then(|| LatestMove {
        before: latest_before,
        after: replay.replay.state().latest,
    });
    let (refs, target) = moved_refs(&event, latest);
    let message = EventMessage {
        event,
        refs,
        artifact: None,
        state: replay.replay.state().clone(),
    };
    (message, target)
}

/// The refs `event` moved, then the number of the version they now name; and that
/// version.
fn moved_refs(event: &Event, latest: Option<LatestMove>) -> (Vec<String>, Option<i64>) {
    let moved_latest = latest.filter(|l| l.before != l.after);
    let (mut refs, target) = match event.kind {
        EventKind::VersionReady => (
            moved_latest
                .map(|_| "latest".to_owned())
                .into_iter()
                .collect(),
            event.version,
        ),
        EventKind::VersionArchived | EventKind::VersionDeleted => match moved_latest {
            Some(latest) => (vec!["latest".to_owned()], latest.after),
            None => (Vec::new(), None),
        },
        EventKind::StageChanged => (
            event
                .stage
                .map(|s| s.as_str().to_owned())
                .into_iter()
                .collect(),
            event.to_version.or(event.version),
        ),
        EventKind::AliasSet => (
            event.alias.clone().into_iter().collect(),
            event.to_version.or(event.version),
        ),
        EventKind::AliasRemoved => (event.alias.clone().into_iter().collect(), None),
        _ => (Vec::new(), None),
    };
    if let Some(version) = target {
        refs.push(version.to_string());
    }
    (refs, target)
}

/// The versions a batch of messages names, read for the whole batch at once (two queries,
/// whatever its length): the models' last deletions and the named versions.
struct Artifacts {
    last_deletion: HashMap<String, i64>,
    versions: HashMap<(String, i64), VersionRow>,
}

impl Artifacts {
    fn load(
        conn: &mut DbConn,
        messages: &[EventMessage],
        targets: &[Option<i64>],
    ) -> StoreResult<Self> {
        let mut wanted: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
        for (message, target) in messages.iter().zip(targets) {
            if let Some(version) = target {
                wanted
                    .entry(message.event.model.to_string())
                    .or_default()
                    .insert(*version);
            }
        }
        if wanted.is_empty() {
            return Ok(Artifacts {
                last_deletion: HashMap::new(),
                versions: HashMap::new(),
            });
        }
        let names: Vec<&str> = wanted.keys().map(String::as_str).collect();
        let last_deletion = events::last_deletions(conn, &names)?;
        let versions = versions::find_named(conn, &wanted)?
            .into_iter()
            .map(|(name, row)| ((name, row.version), row))
            .collect();
        Ok(Artifacts {
            last_deletion,
            versions,
        })
    }

    /// The stored artifact of `version`, if the model that `event` belongs to still
    /// exists (not deleted and created again since) and the version is ready.
    fn pointer(
        &self,
        event: &Event,
        version: i64,
        public_url: Option<&str>,
    ) -> Option<ArtifactPointer> {
        let name = event.model.as_str();
        if self
            .last_deletion
            .get(name)
            .is_some_and(|deleted| *deleted > event.seq)
        {
            return None;
        }
        let row = self.versions.get(&(name.to_owned(), version))?;
        let digest = row.digest.as_deref().and_then(|d| Digest::parse(d).ok());
        match (row.status, digest, row.size) {
            (VersionStatus::Ready, Some(digest), Some(size)) => Some(ArtifactPointer {
                version,
                digest,
                size,
                format: row.format.clone(),
                url: format!(
                    "{}{}",
                    public_url.unwrap_or("").trim_end_matches('/'),
                    api::artifact(&event.model, &VersionRef::Number(version))
                ),
            }),
            _ => None,
        }
    }
}

/// The relays' cursors and leases (see [`crate::store::relay`]). These bypass
/// [`Registry::write`]: they record no event and must not wake the log's watchers.
impl Registry {
    /// Creates `publisher`'s cursor at `start` and its lease if they do not exist.
    pub async fn register_relay(&self, publisher: &str, start: i64) -> RegistryResult<()> {
        let publisher = publisher.to_owned();
        // Single autocommit statements, not a transaction (see `relay::register`).
        self.db
            .read(move |conn| Ok(relay::register(conn, &publisher, start, now())?))
            .await
    }

    /// Takes or renews `publisher`'s lease for `holder` until `ttl` from now.
    pub async fn acquire_relay_lease(
        &self,
        publisher: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> RegistryResult<bool> {
        let (publisher, holder) = (publisher.to_owned(), holder.to_owned());
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(10));
        self.db
            .write(move |conn| {
                let now = now();
                Ok(relay::acquire_lease(
                    conn,
                    &publisher,
                    &holder,
                    now,
                    now + ttl,
                )?)
            })
            .await
    }

    pub async fn release_relay_lease(&self, publisher: &str, holder: &str) -> RegistryResult<()> {
        let (publisher, holder) = (publisher.to_owned(), holder.to_owned());
        self.db
            .write(move |conn| Ok(relay::release_lease(conn, &publisher, &holder, now())?))
            .await
    }

    /// The cursor of `publisher` (0 if it has none).
    pub async fn relay_cursor(&self, publisher: &str) -> RegistryResult<i64> {
        let publisher = publisher.to_owned();
        self.db
            .read(move |conn| Ok(relay::cursor(conn, &publisher)?.unwrap_or(0)))
            .await
    }

    /// Moves `publisher`'s cursor to `seq` if `holder` still holds the lease; `false`
    /// (and no change) when the lease was lost to another replica.
    pub async fn advance_relay_cursor(
        &self,
        publisher: &str,
        holder: &str,
        seq: i64,
    ) -> RegistryResult<bool> {
        let (publisher, holder) = (publisher.to_owned(), holder.to_owned());
        self.db
            .write(move |conn| {
                let now = now();
                if !relay::holds_lease(conn, &publisher, &holder, now)? {
                    return Ok(false);
                }
                relay::advance_cursor(conn, &publisher, seq, now)?;
                Ok(true)
            })
            .await
    }

    /// The stored cursors and leases of `publishers`, with the newest `seq`.
    pub async fn relay_positions(
        &self,
        publishers: Vec<String>,
    ) -> RegistryResult<(Vec<RelayPosition>, i64)> {
        self.db
            .read(move |conn| {
                let positions = relay::positions(conn, &publishers)?;
                Ok((positions, events::last_seq(conn)?))
            })
            .await
    }
}
