//! Which events may have moved a ref. A relevant event only says *that* something may
//! have changed: the follower then asks the registry what the ref names now, so a
//! generous answer here costs one request, a stingy one a missed promotion.

use crate::reference::{ModelRef, VersionRef};
use crate::types::{EventKind, EventMessage};

/// Whether `message` may have changed what `reference` names. An undecodable event
/// (`None`) may have.
pub fn concerns(reference: &ModelRef, message: Option<&EventMessage>) -> bool {
    let Some(message) = message else {
        return true;
    };
    let event = &message.event;
    if event.kind == EventKind::ModelRenamed
        && event.previous_name.as_ref() == Some(&reference.model)
    {
        // The model this ref named has another name now: the ref names nothing.
        return true;
    }
    if event.model != reference.model {
        return false;
    }
    let target = reference.version.to_string();
    if message.refs.contains(&target) {
        return true;
    }
    if !event.kind.moves_refs() {
        return false;
    }
    match event.kind {
        EventKind::ModelCreated
        | EventKind::ModelDeleted
        | EventKind::ModelRenamed
        | EventKind::VersionArchived
        | EventKind::VersionDeleted => true,
        EventKind::VersionReady => reference.version == VersionRef::Latest,
        EventKind::StageChanged => match &reference.version {
            VersionRef::Stage(stage) => event.stage.is_none_or(|s| s == *stage),
            _ => false,
        },
        EventKind::AliasSet | EventKind::AliasRemoved => match &reference.version {
            VersionRef::Alias(alias) => event.alias.as_deref().is_none_or(|a| a == alias.as_str()),
            _ => false,
        },
        // The kinds that move no ref were answered above.
        EventKind::ModelUpdated
        | EventKind::VersionCreated
        | EventKind::VersionUpdated
        | EventKind::VersionFailed
        | EventKind::BatchJobCreated
        | EventKind::BatchJobStarted
        | EventKind::BatchJobSucceeded
        | EventKind::BatchJobFailed
        | EventKind::BatchJobCancelled
        | EventKind::BatchJobApproved
        | EventKind::BatchJobRejected
        | EventKind::DeploymentCreated
        | EventKind::DeploymentUpdated
        | EventKind::DeploymentDeleted
        | EventKind::DeploymentStateChanged
        | EventKind::PolicySet
        | EventKind::PolicyDeleted
        | EventKind::PromotionRequested
        | EventKind::PromotionApproved
        | EventKind::PromotionRejected => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::reference::Stage;
    use crate::types::Event;

    fn message(kind: EventKind, model: &str, refs: &[&str]) -> EventMessage {
        EventMessage {
            event: Event {
                seq: 1,
                kind,
                model: model.parse().unwrap(),
                version: Some(2),
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
            },
            refs: refs.iter().map(|r| r.to_string()).collect(),
            artifact: None,
            state: Default::default(),
        }
    }

    #[test]
    fn promotions_concern_their_stage_only() {
        let production: ModelRef = "bc@production".parse().unwrap();
        let staging: ModelRef = "bc@staging".parse().unwrap();
        let mut promoted = message(EventKind::StageChanged, "bc", &["production", "2"]);
        promoted.event.stage = Some(Stage::Production);
        assert!(concerns(&production, Some(&promoted)));
        assert!(!concerns(&staging, Some(&promoted)));
        assert!(!concerns(
            &"other@production".parse().unwrap(),
            Some(&promoted)
        ));
        assert!(concerns(&"bc@2".parse().unwrap(), Some(&promoted)));
    }

    #[test]
    fn kinds_stand_in_for_missing_refs() {
        let latest: ModelRef = "bc".parse().unwrap();
        let alias: ModelRef = "bc@champion".parse().unwrap();
        assert!(concerns(
            &latest,
            Some(&message(EventKind::VersionReady, "bc", &[]))
        ));
        assert!(!concerns(
            &latest,
            Some(&message(EventKind::VersionCreated, "bc", &[]))
        ));
        let mut set = message(EventKind::AliasSet, "bc", &[]);
        set.event.alias = Some("champion".into());
        assert!(concerns(&alias, Some(&set)));
        set.event.alias = Some("canary".into());
        assert!(!concerns(&alias, Some(&set)));
        assert!(concerns(
            &alias,
            Some(&message(EventKind::ModelDeleted, "bc", &[]))
        ));
        assert!(concerns(&alias, None));
        assert!(!EventKind::VersionCreated.moves_refs());
        assert!(EventKind::StageChanged.moves_refs());
    }
}
