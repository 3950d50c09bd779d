//! Where a model's refs point at a given point of its event log: replaying its events
//! from its creation. The tables only know the present; a relay may be publishing the
//! past, so a published message's state comes from the log, not the tables.

use std::collections::BTreeSet;

use capstan_client::types::{Event, EventKind, RefState};

/// A model's refs, advanced one event at a time.
#[derive(Debug, Default)]
pub struct RefReplay {
    state: RefState,
    /// Versions that are ready and not archived: `latest` is the greatest.
    ready: BTreeSet<i64>,
}

impl RefReplay {
    pub fn state(&self) -> &RefState {
        &self.state
    }

    /// Moves the refs as `event` (of this model, in `seq` order) did. Kinds outside
    /// [`EventKind::MOVES_REFS`] leave them where they are.
    pub fn apply(&mut self, event: &Event) {
        if !event.kind.moves_refs() {
            return;
        }
        match (event.kind, event.version) {
            (EventKind::ModelCreated | EventKind::ModelDeleted, _) => *self = Self::default(),
            // Recorded under the new name, after the old name's history was replayed
            // (see `service::events`): the refs carry over unchanged.
            (EventKind::ModelRenamed, _) => {}
            (EventKind::VersionReady, Some(version)) => {
                self.ready.insert(version);
            }
            (EventKind::VersionArchived | EventKind::VersionDeleted, Some(version)) => {
                self.ready.remove(&version);
            }
            (EventKind::StageChanged, _) => {
                if let Some(stage) = event.stage {
                    match event.to_version {
                        Some(version) => {
                            self.state.stages.insert(stage.as_str().to_owned(), version)
                        }
                        None => self.state.stages.remove(stage.as_str()),
                    };
                }
            }
            (EventKind::AliasSet, _) => {
                if let (Some(alias), Some(version)) =
                    (&event.alias, event.to_version.or(event.version))
                {
                    self.state.aliases.insert(alias.clone(), version);
                }
            }
            (EventKind::AliasRemoved, _) => {
                if let Some(alias) = &event.alias {
                    self.state.aliases.remove(alias);
                }
            }
            _ => {}
        }
        self.state.latest = self.ready.last().copied();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use capstan_client::Stage;

    fn event(seq: i64, kind: EventKind, version: Option<i64>) -> Event {
        Event {
            seq,
            kind,
            model: "bc".parse().unwrap(),
            version,
            stage: None,
            from_version: None,
            to_version: None,
            reason: None,
            alias: None,
            digest: None,
            job: None,
            deployment: None,
            from_state: None,
            to_state: None,
            request: None,
            previous_name: None,
            actor: None,
            created_at: chrono::Utc::now(),
        }
    }

    fn staged(seq: i64, to: Option<i64>) -> Event {
        Event {
            stage: Some(Stage::Production),
            to_version: to,
            ..event(seq, EventKind::StageChanged, to)
        }
    }

    fn aliased(seq: i64, kind: EventKind, version: i64) -> Event {
        Event {
            alias: Some("champion".into()),
            to_version: Some(version),
            ..event(seq, kind, Some(version))
        }
    }

    #[test]
    fn stages_aliases_and_latest_follow_the_log() {
        let mut replay = RefReplay::default();
        for e in [
            event(1, EventKind::ModelCreated, None),
            event(2, EventKind::VersionReady, Some(1)),
            event(3, EventKind::VersionReady, Some(2)),
            staged(4, Some(1)),
            aliased(5, EventKind::AliasSet, 2),
        ] {
            replay.apply(&e);
        }
        let state = replay.state();
        assert_eq!(state.stages.get("production"), Some(&1));
        assert_eq!(state.aliases.get("champion"), Some(&2));
        assert_eq!(state.latest, Some(2));

        replay.apply(&aliased(6, EventKind::AliasRemoved, 2));
        replay.apply(&event(7, EventKind::VersionArchived, Some(2)));
        replay.apply(&staged(8, None));
        let state = replay.state();
        assert!(
            state.aliases.is_empty() && state.stages.is_empty(),
            "{state:?}"
        );
        assert_eq!(state.latest, Some(1));
    }

    #[test]
    fn deletion_forgets_everything() {
        let mut replay = RefReplay::default();
        replay.apply(&event(1, EventKind::VersionReady, Some(1)));
        replay.apply(&staged(2, Some(1)));
        replay.apply(&event(3, EventKind::ModelDeleted, None));
        assert_eq!(replay.state(), &RefState::default());
    }
}
