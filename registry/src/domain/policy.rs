//! Which versions may take which pointers.

use capstan_client::types::VersionStatus;
use capstan_client::Stage;

use super::error::{DomainError, DomainResult};

/// What the rules need to know of a version.
pub struct VersionState {
    pub version: i64,
    pub status: VersionStatus,
    pub archived: bool,
}

/// A stage or an alias may only point at a ready, non-archived version.
pub fn check_assignable(target: &VersionState, pointer: &str) -> DomainResult<()> {
    if target.status != VersionStatus::Ready {
        return Err(DomainError::VersionNotReady {
            version: target.version,
            status: target.status,
            pointer: pointer.to_owned(),
        });
    }
    if target.archived {
        return Err(DomainError::VersionArchived {
            version: target.version,
            pointer: pointer.to_owned(),
        });
    }
    Ok(())
}

/// Optimistic concurrency for promotions: `expected` (when given) must equal the holder.
pub fn check_expected_holder(
    stage: Stage,
    current: Option<i64>,
    expected: Option<Option<i64>>,
) -> DomainResult<()> {
    match expected {
        Some(expected) if expected != current => Err(DomainError::StageConflict {
            stage,
            current,
            expected,
        }),
        _ => Ok(()),
    }
}

/// A version holding a stage cannot be archived: move the stage first.
pub fn check_archivable(version: i64, held_stages: &[Stage]) -> DomainResult<()> {
    if let Some(stage) = held_stages.first() {
        return Err(DomainError::VersionInStage {
            version,
            stage: *stage,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_holder() {
        assert!(check_expected_holder(Stage::Production, Some(1), None).is_ok());
        assert!(check_expected_holder(Stage::Production, Some(1), Some(Some(1))).is_ok());
        assert!(check_expected_holder(Stage::Production, None, Some(None)).is_ok());
        assert!(check_expected_holder(Stage::Production, Some(1), Some(None)).is_err());
        assert!(check_expected_holder(Stage::Production, None, Some(Some(1))).is_err());
    }
}
