//! Which versions may take which pointers.

use capstan_client::types::VersionStatus;
use capstan_client::Stage;

use crate::error::{RegistryError, RegistryResult};

/// What the rules need to know of a version.
pub struct VersionState {
    pub version: i64,
    pub status: VersionStatus,
    pub archived: bool,
}

/// A stage or an alias may only point at a ready, non-archived version.
pub fn check_assignable(target: &VersionState, pointer: &str) -> RegistryResult<()> {
    if target.status != VersionStatus::Ready {
        return Err(RegistryError::conflict(
            "version_not_ready",
            format!(
                "version {} is {}, only ready versions can be assigned to {pointer}",
                target.version,
                target.status.as_str()
            ),
        ));
    }
    if target.archived {
        return Err(RegistryError::conflict(
            "version_archived",
            format!(
                "version {} is archived and cannot be assigned to {pointer}",
                target.version
            ),
        ));
    }
    Ok(())
}

/// Optimistic concurrency for promotions: `expected` (when given) must equal the holder.
pub fn check_expected_holder(
    stage: Stage,
    current: Option<i64>,
    expected: Option<Option<i64>>,
) -> RegistryResult<()> {
    match expected {
        Some(expected) if expected != current => Err(RegistryError::conflict(
            "stage_conflict",
            format!(
                "{stage} holds {} but the request expected {}; reload and retry",
                describe(current),
                describe(expected)
            ),
        )),
        _ => Ok(()),
    }
}

/// A version holding a stage cannot be archived: move the stage first.
pub fn check_archivable(version: i64, held_stages: &[Stage]) -> RegistryResult<()> {
    if let Some(stage) = held_stages.first() {
        return Err(RegistryError::conflict(
            "version_in_stage",
            format!("version {version} holds {stage}; promote another version or roll back first"),
        ));
    }
    Ok(())
}

fn describe(version: Option<i64>) -> String {
    version.map_or_else(|| "no version".to_owned(), |v| format!("version {v}"))
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
