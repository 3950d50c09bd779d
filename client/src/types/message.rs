//! What subscribers receive: an event as the registry publishes it, with the refs it moved,
//! where the model's refs point after it, and a pointer to the artifact they name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

use super::Event;

/// An event as the registry publishes it to subscribers (server-sent events, NATS,
/// Kafka): the event itself, the refs it moved, a pointer to the artifact they now name —
/// never the artifact's bytes — and where all of the model's refs point after it. `seq` is
/// the idempotency key: a subscriber may see an event twice, always with the same `seq`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventMessage {
    #[serde(flatten)]
    pub event: Event,
    /// Refs of `event.model` whose target this event changed (`production` for a
    /// promotion, the alias for `alias_set` / `alias_removed`, `latest` when a version
    /// became ready or was archived and that moved `latest`), followed by the number of
    /// the version they now name (`"7"`). Empty for events that move no ref.
    pub refs: Vec<String>,
    /// The artifact the refs now name; `null` when they name none (an alias removed, no
    /// version left for `latest`) or the event moves no ref.
    pub artifact: Option<ArtifactPointer>,
    /// Where every ref of `event.model` points after this event (empty after
    /// `model_deleted`). Absent from messages of registries older than this field.
    #[serde(default)]
    pub state: RefState,
}

/// Where a model's refs point just after an event: its stages, its aliases and `latest`.
/// Every message carries it, so a model's newest message — all a compacted Kafka topic
/// keeps per key — tells a new subscriber the model's whole state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefState {
    /// Stage (`staging`, `production`) → the version it holds; absent stages hold none.
    pub stages: BTreeMap<String, i64>,
    /// Alias → the version it names.
    pub aliases: BTreeMap<String, i64>,
    /// The newest ready, non-archived version, if any.
    pub latest: Option<i64>,
}

impl RefState {
    /// The version `reference` names in this state, if any.
    pub fn resolve(&self, reference: &crate::reference::VersionRef) -> Option<i64> {
        use crate::reference::VersionRef;
        match reference {
            VersionRef::Number(n) => Some(*n),
            VersionRef::Stage(stage) => self.stages.get(stage.as_str()).copied(),
            VersionRef::Alias(alias) => self.aliases.get(alias.as_str()).copied(),
            VersionRef::Latest => self.latest,
        }
    }
}

/// Where to fetch a version's artifact, and how to check it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArtifactPointer {
    pub version: i64,
    pub digest: Digest,
    pub size: i64,
    pub format: String,
    /// The download URL: absolute when the registry knows its public URL
    /// (`--public-url`), else the path `/api/v1/models/{name}/versions/{n}/artifact`.
    pub url: String,
}
